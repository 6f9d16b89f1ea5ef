//! Sources: where documents come from. One module per kind; [`build`] picks one from a
//! planned source.
//!
//! A source first lists every document it holds (cheaply: path and a revision such as
//! size and modification time), then reads the ones the runner asks for. Deletions are
//! only acted on after a listing that completed: a source that fails half-way deletes
//! nothing.

mod dir;
mod urls;

pub use dir::DirSource;
pub use urls::{UrlLimits, UrlSource};

use berth_stack::plan::PlannedSource;
use berth_stack::stack::Acl;
use std::path::Path;

/// One document a source holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path within the source (`/`-separated), or the URL.
    pub path: String,
    /// Cheap change marker: `size:mtime` for files; empty when the source has none.
    pub revision: String,
}

/// A document's content as read.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Content type reported by the source (HTTP).
    pub content_type: Option<String>,
    /// Revision at read time.
    pub revision: String,
    /// Principals from a sidecar file, added to the source's.
    pub acl: Option<Acl>,
}

/// Why a source could not be listed or a document read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    /// What went wrong, for people.
    pub message: String,
    /// Whether trying again may help (network errors, 5xx).
    pub transient: bool,
    /// Whether the document is over the size limit.
    pub too_large: bool,
}

impl SourceError {
    /// A permanent error.
    pub fn permanent(message: impl Into<String>) -> Self {
        SourceError {
            message: message.into(),
            transient: false,
            too_large: false,
        }
    }

    /// An error that may go away.
    pub fn transient(message: impl Into<String>) -> Self {
        SourceError {
            message: message.into(),
            transient: true,
            too_large: false,
        }
    }
}

/// Where documents come from.
pub trait Source: Send + Sync {
    /// Every document the source holds now, sorted by path.
    fn list(&self) -> Result<Vec<Entry>, SourceError>;

    /// Reads one document, refusing more than `max_bytes`.
    fn read(&self, entry: &Entry, max_bytes: usize) -> Result<Fetched, SourceError>;
}

/// Builds the source a pipeline reads. Relative paths are relative to `base` (the stack
/// file's directory).
pub fn build(
    source: &PlannedSource,
    base: &Path,
    limits: UrlLimits,
) -> Result<Box<dyn Source>, SourceError> {
    if let Some(path) = &source.path {
        let root = base.join(path);
        return Ok(Box::new(DirSource::new(
            &root,
            &source.include,
            &source.exclude,
        )?));
    }
    Ok(Box::new(UrlSource::new(source.urls.clone(), limits)?))
}

/// Reads a sidecar ACL (`<file>.acl.yaml`: `{users: [...], groups: [...]}`).
pub(crate) fn parse_acl(text: &str) -> Result<Acl, String> {
    serde_saphyr::from_str::<Acl>(text).map_err(|e| e.to_string())
}
