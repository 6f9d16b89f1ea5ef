//! The built-in embedder: a BERT-family sentence-embedding model run in process.

mod bert;
mod kernels;
mod locate;

pub use locate::locate_model;

use crate::{EmbedError, Embedder};
use bert::{Bert, Pooling, Scratch};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tokenizers::{Tokenizer, TruncationParams};

/// How the built-in embedder batches and truncates.
#[derive(Debug, Clone)]
pub struct BuiltinOptions {
    /// Texts per forward pass (sentence-transformers' `batch_size`).
    pub batch_size: usize,
    /// Tokens per text, special tokens included; longer texts are cut, as
    /// sentence-transformers does. `None`: the model's `max_seq_length`.
    pub max_tokens: Option<usize>,
    /// The name recorded beside vectors; `None`: the model directory's name.
    pub name: Option<String>,
}

impl Default for BuiltinOptions {
    fn default() -> Self {
        BuiltinOptions {
            batch_size: 32,
            max_tokens: None,
            name: None,
        }
    }
}

/// A sentence-embedding model run in process. Loading reads the whole model into memory;
/// [`Embedder::embed`] uses every core of the rayon pool.
pub struct BuiltinEmbedder {
    name: String,
    dir: PathBuf,
    tokenizer: Tokenizer,
    bert: Bert,
    pooling: Pooling,
    max_tokens: usize,
    batch_size: usize,
    scratch: Mutex<Scratch>,
}

impl std::fmt::Debug for BuiltinEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltinEmbedder")
            .field("name", &self.name)
            .field("dir", &self.dir)
            .field("dimension", &self.bert.config.hidden_size)
            .field("max_tokens", &self.max_tokens)
            .finish()
    }
}

#[derive(serde::Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

#[derive(serde::Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default = "yes")]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

fn yes() -> bool {
    true
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, EmbedError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| EmbedError::Model {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(EmbedError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

impl BuiltinEmbedder {
    /// Loads a model from a directory, or by name from the Hugging Face cache
    /// (see [`locate_model`]).
    pub fn load(spec: &str, options: &BuiltinOptions) -> Result<BuiltinEmbedder, EmbedError> {
        let dir = locate_model(spec)?;
        // sentence-transformers keeps the encoder either at the top or in 0_Transformer/.
        let encoder_dir = if dir.join("config.json").is_file() {
            dir.clone()
        } else {
            dir.join("0_Transformer")
        };
        let bert = Bert::load(
            &encoder_dir.join("config.json"),
            &encoder_dir.join("model.safetensors"),
        )?;
        let tokenizer_path = [
            dir.join("tokenizer.json"),
            encoder_dir.join("tokenizer.json"),
        ]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| dir.join("tokenizer.json"));
        let mut tokenizer =
            Tokenizer::from_file(&tokenizer_path).map_err(|e| EmbedError::Model {
                path: tokenizer_path.clone(),
                reason: format!("not a tokenizer: {e}"),
            })?;

        let st: Option<SentenceBertConfig> =
            match read_json(&dir.join("sentence_bert_config.json"))? {
                Some(c) => Some(c),
                None => read_json(&encoder_dir.join("sentence_bert_config.json"))?,
            };
        let model_max = bert.config.max_position_embeddings;
        let max_tokens = options
            .max_tokens
            .or(st.and_then(|c| c.max_seq_length))
            .unwrap_or(512)
            .min(model_max)
            .max(2);
        // The tokenizer file may pad and truncate on its own (at 128 for MiniLM): replace
        // both, so nothing is cut short of the model's real limit and nothing is padded.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                ..TruncationParams::default()
            }))
            .map_err(|e| EmbedError::Model {
                path: tokenizer_path.clone(),
                reason: format!("cannot set truncation: {e}"),
            })?;

        let pooling_path = dir.join("1_Pooling/config.json");
        let pooling = match read_json::<PoolingConfig>(&pooling_path)? {
            None => Pooling::Mean,
            Some(p) if p.pooling_mode_max_tokens || p.pooling_mode_mean_sqrt_len_tokens => {
                return Err(EmbedError::Model {
                    path: pooling_path,
                    reason: "max and mean-sqrt-length pooling are not supported (mean and CLS are)"
                        .into(),
                });
            }
            Some(p) if p.pooling_mode_cls_token && !p.pooling_mode_mean_tokens => Pooling::Cls,
            Some(_) => Pooling::Mean,
        };
        let name = options.name.clone().unwrap_or_else(|| {
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| spec.to_string())
        });
        Ok(BuiltinEmbedder {
            name,
            dir,
            tokenizer,
            bert,
            pooling,
            max_tokens,
            batch_size: options.batch_size.max(1),
            scratch: Mutex::new(Scratch::default()),
        })
    }

    /// The directory the model was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Tokens per text, special tokens included.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Token ids of each text, truncated as the model sees them.
    fn tokenize(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>, EmbedError> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EmbedError::Model {
                path: self.dir.join("tokenizer.json"),
                reason: format!("tokenizing failed: {e}"),
            })?;
        Ok(encodings
            .into_iter()
            .map(|e| {
                let mut ids = e.get_ids().to_vec();
                ids.truncate(self.max_tokens);
                ids
            })
            .collect())
    }
}

impl Embedder for BuiltinEmbedder {
    fn model(&self) -> &str {
        &self.name
    }

    fn dimension(&self) -> Result<usize, EmbedError> {
        Ok(self.bert.config.hidden_size)
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let ids = self.tokenize(texts)?;
        // Similar lengths together: less work per batch, as sentence-transformers does.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
        let mut out = vec![Vec::new(); texts.len()];
        // A poisoned lock only means another call panicked mid-batch; the buffers are
        // overwritten before use, so they are still good.
        let mut scratch = self.scratch.lock().unwrap_or_else(|p| p.into_inner());
        for batch in order.chunks(self.batch_size) {
            let sequences: Vec<&[u32]> = batch.iter().map(|&i| ids[i].as_slice()).collect();
            let vectors = self.bert.embed(&sequences, self.pooling, &mut scratch);
            for (&i, v) in batch.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }
}
