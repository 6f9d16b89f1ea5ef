//! Why embedding failed.

use std::path::PathBuf;
use std::time::Duration;

/// An embedding failure, with what was being read or called.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// A model file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// No model directory matches the name.
    #[error(
        "embedding model `{spec}` not found (looked in {}); berth never downloads models: \
         put the model directory (config.json, tokenizer.json, model.safetensors) there, \
         for example with `bench/fetch-model.sh` or `huggingface-cli download`",
        searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NotFound {
        /// What was asked for.
        spec: String,
        /// Where berth looked.
        searched: Vec<PathBuf>,
    },
    /// A model file is not what the built-in embedder can run.
    #[error("model {}: {reason}", path.display())]
    Model {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The server answered with an error status.
    #[error("{url}: HTTP {status}: {body}")]
    Status {
        /// The endpoint.
        url: String,
        /// The status code.
        status: u16,
        /// The start of the error body.
        body: String,
        /// The wait the server asked for (`Retry-After`).
        retry_after: Option<Duration>,
    },
    /// The server could not be reached or the connection broke.
    #[error("{url}: {reason}")]
    Transport {
        /// The endpoint.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server did not answer in time.
    #[error("{url}: no answer within {after:?}")]
    Timeout {
        /// The endpoint.
        url: String,
        /// The limit.
        after: Duration,
    },
    /// The answer is not a valid embeddings response.
    #[error("{url}: unexpected response: {reason}")]
    Response {
        /// The endpoint or model.
        url: String,
        /// Why.
        reason: String,
    },
    /// Vectors of another length than the index holds.
    #[error(
        "model `{model}` returns vectors of {found} dimensions, but {expected} are expected; \
         a different model needs a rebuilt index (`berth index rebuild`)"
    )]
    Dimension {
        /// The model.
        model: String,
        /// The expected length.
        expected: usize,
        /// The length received.
        found: usize,
    },
}

impl EmbedError {
    /// Whether trying again may succeed (network trouble, overload, timeouts).
    pub fn is_transient(&self) -> bool {
        match self {
            EmbedError::Status { status, .. } => *status == 429 || *status == 408 || *status >= 500,
            EmbedError::Transport { .. } | EmbedError::Timeout { .. } => true,
            _ => false,
        }
    }
}
