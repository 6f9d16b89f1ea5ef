//! text-embeddings-inference's native API: `POST {base}/embed`.

use super::http::{HttpOptions, JsonClient, in_batches, probed_dimension, vector};
use crate::{EmbedError, Embedder};
use serde_json::{Value, json};
use std::sync::OnceLock;

/// A client for a text-embeddings-inference server.
pub struct TeiEmbedder {
    url: String,
    model: String,
    api_key: Option<String>,
    client: JsonClient,
    dimension: OnceLock<usize>,
}

impl std::fmt::Debug for TeiEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeiEmbedder")
            .field("url", &self.url)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl TeiEmbedder {
    /// A client for the server at `base_url`; `model` is the name recorded with vectors
    /// (TEI serves one model and does not take a name).
    pub fn new(base_url: &str, model: &str, api_key: Option<String>, options: HttpOptions) -> Self {
        TeiEmbedder {
            url: format!("{}/embed", base_url.trim_end_matches('/')),
            model: model.to_string(),
            api_key,
            client: JsonClient::new(options),
            dimension: OnceLock::new(),
        }
    }
}

impl Embedder for TeiEmbedder {
    fn model(&self) -> &str {
        &self.model
    }

    fn dimension(&self) -> Result<usize, EmbedError> {
        probed_dimension(&self.dimension, self)
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let batch_size = self.client.options().batch_size;
        in_batches(&self.model, batch_size, &self.dimension, texts, |batch| {
            let body = json!({ "inputs": batch, "normalize": true, "truncate": true });
            let answer = self
                .client
                .post(&self.url, self.api_key.as_deref(), &body)?;
            let rows = answer.as_array().ok_or_else(|| EmbedError::Response {
                url: self.url.clone(),
                reason: "the answer is not an array of embeddings".into(),
            })?;
            if rows.len() != batch.len() {
                return Err(EmbedError::Response {
                    url: self.url.clone(),
                    reason: format!("{} embeddings for {} inputs", rows.len(), batch.len()),
                });
            }
            rows.iter().map(|r: &Value| vector(&self.url, r)).collect()
        })
    }
}
