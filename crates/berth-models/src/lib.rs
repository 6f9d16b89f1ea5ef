//! Model clients for berth: the [`Embedder`] seam and its providers.
//!
//! - [`BuiltinEmbedder`] runs a BERT-family sentence-embedding model (all-MiniLM-L6-v2,
//!   bge-small, e5-small, …) in process from a local directory or the Hugging Face cache:
//!   pure Rust, all cores, vectors equal to sentence-transformers' (mean pooling, L2).
//!   It never downloads anything.
//! - [`OpenAiEmbedder`] speaks the OpenAI-compatible `POST /v1/embeddings` (vLLM, Ollama,
//!   the berth gateway, public APIs); [`TeiEmbedder`] speaks text-embeddings-inference's
//!   `POST /embed`. Both batch, retry transient failures with backoff and time out.
//! - [`embedder_for`] picks the provider for a logical model of a [`Plan`](berth_stack::plan::Plan).
//!
//! This crate knows nothing of documents or indexes; `berth-ingest` feeds it chunks and
//! `berth-index` stores what it returns.

mod error;
mod providers;
mod select;

pub use error::EmbedError;
pub use providers::builtin::{BuiltinEmbedder, BuiltinOptions, locate_model};
pub use providers::http::{HttpOptions, retry_after};
pub use providers::openai::OpenAiEmbedder;
pub use providers::tei::TeiEmbedder;
pub use select::{EmbedderChoice, SelectError, embedder_for};

/// Turns texts into vectors. Implementations are shared between threads.
pub trait Embedder: Send + Sync {
    /// The model's name as recorded beside every vector (a changed name re-indexes).
    fn model(&self) -> &str;

    /// The length of the vectors. A remote embedder that has not answered yet asks the
    /// server once.
    fn dimension(&self) -> Result<usize, EmbedError>;

    /// One vector per text, in the order given. An empty input gives an empty output.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// Checks that every vector has the expected length and finite values, so a model that
/// changed behind a URL is noticed before anything is stored.
pub fn check_vectors(model: &str, expected: usize, vectors: &[Vec<f32>]) -> Result<(), EmbedError> {
    for v in vectors {
        if v.len() != expected {
            return Err(EmbedError::Dimension {
                model: model.to_string(),
                expected,
                found: v.len(),
            });
        }
        if v.iter().any(|x| !x.is_finite()) {
            return Err(EmbedError::Response {
                url: model.to_string(),
                reason: "a vector holds a NaN or infinite value".into(),
            });
        }
    }
    Ok(())
}
