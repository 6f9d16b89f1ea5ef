//! A BERT encoder: weights from `model.safetensors`, shape from `config.json`, and a
//! forward pass over packed sequences.
//!
//! Sequences of a batch are packed end to end (no padding): every linear layer runs once
//! over all tokens of the batch, and attention runs per sequence. The result equals a
//! padded forward pass with an attention mask, without computing the padding.

use super::kernels::{self, Activation, Strided, Threads};
use crate::EmbedError;
use rayon::prelude::*;
use safetensors::{Dtype, SafeTensors};
use serde::Deserialize;
use std::path::Path;

/// The parts of `config.json` the encoder needs.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct BertConfig {
    #[serde(default)]
    pub model_type: Option<String>,
    pub hidden_size: usize,
    pub num_attention_heads: usize,
    pub num_hidden_layers: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default)]
    pub position_embedding_type: Option<String>,
}

fn default_eps() -> f64 {
    1e-12
}

fn default_act() -> String {
    "gelu".into()
}

struct Linear {
    /// `[out, in]`, row-major, as PyTorch stores it.
    weight: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
    outputs: usize,
}

struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

struct Layer {
    /// Query, key and value projections fused into one `[3h, h]` matrix.
    qkv: Linear,
    attention_out: Linear,
    attention_norm: Norm,
    intermediate: Linear,
    output: Linear,
    output_norm: Norm,
}

/// How token vectors become one sentence vector (before L2 normalisation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pooling {
    /// The mean over every token, special tokens included (sentence-transformers' mean).
    Mean,
    /// The first token (`[CLS]`).
    Cls,
}

/// A loaded BERT encoder.
pub(crate) struct Bert {
    pub config: BertConfig,
    activation: Activation,
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    embed_norm: Norm,
    layers: Vec<Layer>,
    vocab: usize,
}

/// Reusable buffers, so a batch does not allocate (and fault in) tens of megabytes.
#[derive(Default)]
pub(crate) struct Scratch {
    hidden: Vec<f32>,
    qkv: Vec<f32>,
    context: Vec<f32>,
    projected: Vec<f32>,
    intermediate: Vec<f32>,
}

fn resize(buffer: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buffer.len() < len {
        buffer.resize(len, 0.0);
    }
    &mut buffer[..len]
}

struct Tensors<'a> {
    inner: SafeTensors<'a>,
    prefix: &'static str,
    path: &'a Path,
}

impl Tensors<'_> {
    fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, EmbedError> {
        let full = format!("{}{name}", self.prefix);
        let bad = |reason: String| EmbedError::Model {
            path: self.path.to_path_buf(),
            reason,
        };
        let view = self
            .inner
            .tensor(&full)
            .map_err(|_| bad(format!("tensor `{full}` is missing")))?;
        if view.shape() != shape {
            return Err(bad(format!(
                "tensor `{full}` has shape {:?}, the configuration implies {shape:?}",
                view.shape()
            )));
        }
        let data = view.data();
        let values = match view.dtype() {
            Dtype::F32 => data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => data
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => data
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            other => {
                return Err(bad(format!(
                    "tensor `{full}` has type {other:?}; F32, F16 and BF16 are supported"
                )));
            }
        };
        Ok(values)
    }

    fn linear(&self, name: &str, outputs: usize, inputs: usize) -> Result<Linear, EmbedError> {
        Ok(Linear {
            weight: self.get(&format!("{name}.weight"), &[outputs, inputs])?,
            bias: self.get(&format!("{name}.bias"), &[outputs])?,
            inputs,
            outputs,
        })
    }

    fn norm(&self, name: &str, width: usize) -> Result<Norm, EmbedError> {
        // Old checkpoints call the parameters gamma/beta.
        let gamma = self
            .get(&format!("{name}.weight"), &[width])
            .or_else(|_| self.get(&format!("{name}.gamma"), &[width]))?;
        let beta = self
            .get(&format!("{name}.bias"), &[width])
            .or_else(|_| self.get(&format!("{name}.beta"), &[width]))?;
        Ok(Norm { gamma, beta })
    }
}

impl Bert {
    /// Loads the encoder from a model directory's `config.json` and `model.safetensors`.
    pub fn load(config_path: &Path, weights_path: &Path) -> Result<Bert, EmbedError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| EmbedError::Io { path, source }
        };
        let text = std::fs::read_to_string(config_path).map_err(io(config_path))?;
        let config: BertConfig = serde_json::from_str(&text).map_err(|e| EmbedError::Model {
            path: config_path.to_path_buf(),
            reason: format!("not a BERT configuration: {e}"),
        })?;
        let model_error = |reason: String| EmbedError::Model {
            path: config_path.to_path_buf(),
            reason,
        };
        if let Some(kind) = &config.model_type
            && kind != "bert"
        {
            return Err(model_error(format!(
                "model type `{kind}` is not supported by the built-in embedder (BERT-family \
                 encoders with `model_type: bert` are); serve it with text-embeddings-inference"
            )));
        }
        if let Some(kind) = &config.position_embedding_type
            && kind != "absolute"
        {
            return Err(model_error(format!(
                "position embeddings `{kind}` are not supported (only `absolute`)"
            )));
        }
        let activation = match config.hidden_act.as_str() {
            "gelu" => Activation::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" => Activation::GeluTanh,
            "relu" => Activation::Relu,
            other => {
                return Err(model_error(format!(
                    "activation `{other}` is not supported"
                )));
            }
        };
        let h = config.hidden_size;
        if config.num_attention_heads == 0 || !h.is_multiple_of(config.num_attention_heads) {
            return Err(model_error(format!(
                "hidden size {h} is not a multiple of {} attention heads",
                config.num_attention_heads
            )));
        }
        let bytes = std::fs::read(weights_path).map_err(io(weights_path))?;
        let inner = SafeTensors::deserialize(&bytes).map_err(|e| EmbedError::Model {
            path: weights_path.to_path_buf(),
            reason: format!("not a safetensors file: {e}"),
        })?;
        let prefix = if inner
            .tensor("bert.embeddings.word_embeddings.weight")
            .is_ok()
        {
            "bert."
        } else {
            ""
        };
        let tensors = Tensors {
            inner,
            prefix,
            path: weights_path,
        };
        let vocab = tensors
            .inner
            .tensor(&format!("{prefix}embeddings.word_embeddings.weight"))
            .map(|t| t.shape().first().copied().unwrap_or(0))
            .map_err(|_| EmbedError::Model {
                path: weights_path.to_path_buf(),
                reason: "tensor `embeddings.word_embeddings.weight` is missing: not a BERT model"
                    .into(),
            })?;
        let word = tensors.get("embeddings.word_embeddings.weight", &[vocab, h])?;
        let position = tensors.get(
            "embeddings.position_embeddings.weight",
            &[config.max_position_embeddings, h],
        )?;
        let token_type = tensors
            .inner
            .tensor(&format!("{prefix}embeddings.token_type_embeddings.weight"))
            .ok()
            .map(|t| t.shape().to_vec());
        let token_type = match token_type {
            Some(shape) => tensors.get("embeddings.token_type_embeddings.weight", &shape)?,
            None => vec![0.0; h],
        };
        let embed_norm = tensors.norm("embeddings.LayerNorm", h)?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            let q = tensors.linear(&format!("{p}.attention.self.query"), h, h)?;
            let k = tensors.linear(&format!("{p}.attention.self.key"), h, h)?;
            let v = tensors.linear(&format!("{p}.attention.self.value"), h, h)?;
            let qkv = Linear {
                weight: [q.weight, k.weight, v.weight].concat(),
                bias: [q.bias, k.bias, v.bias].concat(),
                inputs: h,
                outputs: 3 * h,
            };
            layers.push(Layer {
                qkv,
                attention_out: tensors.linear(&format!("{p}.attention.output.dense"), h, h)?,
                attention_norm: tensors.norm(&format!("{p}.attention.output.LayerNorm"), h)?,
                intermediate: tensors.linear(
                    &format!("{p}.intermediate.dense"),
                    config.intermediate_size,
                    h,
                )?,
                output: tensors.linear(
                    &format!("{p}.output.dense"),
                    h,
                    config.intermediate_size,
                )?,
                output_norm: tensors.norm(&format!("{p}.output.LayerNorm"), h)?,
            });
        }
        Ok(Bert {
            config,
            activation,
            word,
            position,
            token_type,
            embed_norm,
            layers,
            vocab,
        })
    }

    /// Pooled, L2-normalised embeddings of token sequences (special tokens included;
    /// ids past `max_position_embeddings` are dropped).
    pub fn embed(
        &self,
        sequences: &[&[u32]],
        pooling: Pooling,
        scratch: &mut Scratch,
    ) -> Vec<Vec<f32>> {
        let h = self.config.hidden_size;
        let limit = self.config.max_position_embeddings;
        let sequences: Vec<&[u32]> = sequences.iter().map(|s| &s[..s.len().min(limit)]).collect();
        let total: usize = sequences.iter().map(|s| s.len()).sum();
        let mut starts = Vec::with_capacity(sequences.len() + 1);
        let mut at = 0;
        for s in &sequences {
            starts.push(at);
            at += s.len();
        }
        starts.push(at);
        let eps = self.config.layer_norm_eps as f32;

        let hidden = resize(&mut scratch.hidden, total * h);
        // Embeddings: word + position + token type 0, then layer norm.
        for (s, ids) in sequences.iter().enumerate() {
            for (p, &id) in ids.iter().enumerate() {
                let row = &mut hidden[(starts[s] + p) * h..(starts[s] + p + 1) * h];
                let id = (id as usize).min(self.vocab.saturating_sub(1));
                let word = &self.word[id * h..(id + 1) * h];
                let pos = &self.position[p * h..(p + 1) * h];
                for (((x, w), q), t) in row.iter_mut().zip(word).zip(pos).zip(&self.token_type) {
                    *x = w + q + t;
                }
            }
        }
        par_add_norm(hidden, &[], &self.embed_norm, h, eps);

        for layer in &self.layers {
            self.layer(layer, total, &starts, scratch, eps);
        }

        // Pooling over every token (all are real: nothing is padded), then L2.
        let hidden = &scratch.hidden[..total * h];
        (0..sequences.len())
            .map(|s| {
                let (a, b) = (starts[s], starts[s + 1]);
                let mut pooled = vec![0.0f32; h];
                let rows = match pooling {
                    Pooling::Mean => &hidden[a * h..b * h],
                    Pooling::Cls => &hidden[a * h..(a + 1).min(b) * h],
                };
                for row in rows.chunks_exact(h) {
                    pooled.iter_mut().zip(row).for_each(|(p, x)| *p += x);
                }
                let n = (rows.len() / h).max(1) as f32;
                pooled.iter_mut().for_each(|p| *p /= n);
                let norm = pooled.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                pooled.iter_mut().for_each(|p| *p /= norm);
                pooled
            })
            .collect()
    }

    fn layer(&self, layer: &Layer, total: usize, starts: &[usize], s: &mut Scratch, eps: f32) {
        let h = self.config.hidden_size;
        let heads = self.config.num_attention_heads;
        let d = h / heads;
        let inter = self.config.intermediate_size;
        let Scratch {
            hidden,
            qkv,
            context,
            projected,
            intermediate,
        } = s;
        let hidden = &mut hidden[..total * h];
        let qkv = resize(qkv, total * 3 * h);
        linear(&layer.qkv, hidden, qkv, total);

        // Attention, one sequence per task: each owns its rows of the context.
        let context = resize(context, total * h);
        let mut pieces = Vec::with_capacity(starts.len() - 1);
        let mut rest: &mut [f32] = context;
        for w in starts.windows(2) {
            let (piece, tail) = rest.split_at_mut((w[1] - w[0]) * h);
            pieces.push((w[0], w[1] - w[0], piece));
            rest = tail;
        }
        let qkv: &[f32] = qkv;
        let scale = 1.0 / (d as f32).sqrt();
        pieces.into_par_iter().for_each(|(start, len, out)| {
            let mut scores = vec![0.0f32; len * len];
            for head in 0..heads {
                let q = Strided {
                    offset: start * 3 * h + head * d,
                    row_stride: 3 * h,
                    col_stride: 1,
                };
                let k_t = Strided {
                    offset: start * 3 * h + h + head * d,
                    row_stride: 1,
                    col_stride: 3 * h,
                };
                kernels::matmul(
                    &mut scores,
                    Strided::rows(0, len),
                    qkv,
                    q,
                    qkv,
                    k_t,
                    (len, len, d),
                    false,
                    scale,
                    Threads::One,
                );
                scores.chunks_exact_mut(len).for_each(kernels::softmax);
                let v = Strided {
                    offset: start * 3 * h + 2 * h + head * d,
                    row_stride: 3 * h,
                    col_stride: 1,
                };
                kernels::matmul(
                    out,
                    Strided {
                        offset: head * d,
                        row_stride: h,
                        col_stride: 1,
                    },
                    &scores,
                    Strided::rows(0, len),
                    qkv,
                    v,
                    (len, d, len),
                    false,
                    1.0,
                    Threads::One,
                );
            }
        });

        let projected = resize(projected, total * h);
        linear(&layer.attention_out, context, projected, total);
        // hidden = LayerNorm(projected + hidden)
        par_add_norm(projected, hidden, &layer.attention_norm, h, eps);
        hidden.copy_from_slice(projected);

        let intermediate = resize(intermediate, total * inter);
        linear(&layer.intermediate, hidden, intermediate, total);
        intermediate
            .par_chunks_mut(64 * inter)
            .for_each(|c| kernels::activate(c, self.activation));
        linear(&layer.output, intermediate, projected, total);
        par_add_norm(projected, hidden, &layer.output_norm, h, eps);
        hidden.copy_from_slice(projected);
    }
}

/// `output[rows × out] = input[rows × in] · weightᵀ + bias`.
fn linear(layer: &Linear, input: &[f32], output: &mut [f32], rows: usize) {
    let output = &mut output[..rows * layer.outputs];
    for row in output.chunks_exact_mut(layer.outputs) {
        row.copy_from_slice(&layer.bias);
    }
    kernels::matmul(
        output,
        Strided::rows(0, layer.outputs),
        input,
        Strided::rows(0, layer.inputs),
        &layer.weight,
        Strided::transposed(0, layer.inputs),
        (rows, layer.outputs, layer.inputs),
        true,
        1.0,
        Threads::All,
    );
}

/// `rows = LayerNorm(rows + residual)` over blocks of rows in parallel; an empty
/// `residual` adds nothing.
fn par_add_norm(rows: &mut [f32], residual: &[f32], norm: &Norm, width: usize, eps: f32) {
    const BLOCK: usize = 64;
    rows.par_chunks_mut(BLOCK * width)
        .enumerate()
        .for_each(|(i, r)| {
            let res = if residual.is_empty() {
                &[][..]
            } else {
                &residual[i * BLOCK * width..i * BLOCK * width + r.len()]
            };
            kernels::add_norm(r, res, &norm.gamma, &norm.beta, eps)
        });
}
