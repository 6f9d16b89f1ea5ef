//! text-embeddings-inference's native API: `POST {base}/embed`.

use super::http::{HttpOptions, JsonClient, vector};
use crate::{EmbedError, Embedder, check_vectors};
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
        if let Some(d) = self.dimension.get() {
            return Ok(*d);
        }
        let probe = self.embed(&["dimension probe"])?;
        Ok(probe[0].len())
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.client.options().batch_size.max(1)) {
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
            let vectors = rows
                .iter()
                .map(|r: &Value| vector(&self.url, r))
                .collect::<Result<Vec<_>, _>>()?;
            let first = vectors.first().map_or(0, Vec::len);
            let expected = *self.dimension.get_or_init(|| first);
            check_vectors(&self.model, expected, &vectors)?;
            out.extend(vectors);
        }
        Ok(out)
    }
}
