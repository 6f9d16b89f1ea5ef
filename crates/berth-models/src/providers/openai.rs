//! OpenAI-compatible embeddings: `POST {base}/embeddings` (vLLM, Ollama, llama.cpp, the
//! berth gateway and embedder roles, public APIs).

use super::http::{HttpOptions, JsonClient, in_batches, probed_dimension, vector};
use crate::{EmbedError, Embedder};
use serde_json::{Value, json};
use std::sync::OnceLock;

/// A client for an OpenAI-compatible embeddings endpoint.
pub struct OpenAiEmbedder {
    url: String,
    model: String,
    api_key: Option<String>,
    client: JsonClient,
    dimension: OnceLock<usize>,
}

impl std::fmt::Debug for OpenAiEmbedder {
    // The key stays out of debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiEmbedder")
            .field("url", &self.url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .finish()
    }
}

impl OpenAiEmbedder {
    /// A client for `base_url` (the API root, usually ending in `/v1`) asking for `model`.
    pub fn new(base_url: &str, model: &str, api_key: Option<String>, options: HttpOptions) -> Self {
        OpenAiEmbedder {
            url: format!("{}/embeddings", base_url.trim_end_matches('/')),
            model: model.to_string(),
            api_key,
            client: JsonClient::new(options),
            dimension: OnceLock::new(),
        }
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let body = json!({ "model": self.model, "input": texts, "encoding_format": "float" });
        let answer = self
            .client
            .post(&self.url, self.api_key.as_deref(), &body)?;
        let bad = |reason: String| EmbedError::Response {
            url: self.url.clone(),
            reason,
        };
        let data = answer
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("no `data` array".into()))?;
        if data.len() != texts.len() {
            return Err(bad(format!(
                "{} embeddings for {} inputs",
                data.len(),
                texts.len()
            )));
        }
        let mut out: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        for (position, item) in data.iter().enumerate() {
            let index = item
                .get("index")
                .and_then(Value::as_u64)
                .map(|i| i as usize)
                .unwrap_or(position);
            let slot = out
                .get_mut(index)
                .ok_or_else(|| bad(format!("index {index} out of range")))?;
            if slot.is_some() {
                return Err(bad(format!("index {index} appears twice")));
            }
            let embedding = item
                .get("embedding")
                .ok_or_else(|| bad(format!("item {position} has no `embedding`")))?;
            *slot = Some(vector(&self.url, embedding)?);
        }
        Ok(out.into_iter().map(|v| v.unwrap_or_default()).collect())
    }
}

impl Embedder for OpenAiEmbedder {
    fn model(&self) -> &str {
        &self.model
    }

    fn dimension(&self) -> Result<usize, EmbedError> {
        probed_dimension(&self.dimension, self)
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let batch_size = self.client.options().batch_size;
        in_batches(&self.model, batch_size, &self.dimension, texts, |batch| {
            self.embed_batch(batch)
        })
    }
}
