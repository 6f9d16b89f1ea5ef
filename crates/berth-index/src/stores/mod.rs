//! What every store shares: the chunk it stores, the search request and hit, and the two
//! traits [`Retriever`] (reading) and [`VectorStore`] (writing).
//!
//! One module per store lives below: [`embedded`] (the default, no server) and, with the
//! `pgvector` feature (on by default), [`pgvector`] (PostgreSQL with the pgvector
//! extension). Both implement the same traits with the same semantics; other connectors
//! (Qdrant) will sit beside them.

pub mod embedded;
#[cfg(feature = "pgvector")]
pub mod pgvector;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::error::IndexError;
use crate::principal::{Acl, Principal};

/// One chunk as the index stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexChunk {
    /// Deterministic chunk id (a hex string), unique across the index.
    pub id: String,
    /// The document the chunk was cut from.
    pub document_id: String,
    /// The source (as named in the stack file) the document came from; filterable.
    pub source: String,
    /// The chunk's position in its document, from 0.
    pub ordinal: u32,
    /// The chunk's text: what BM25 indexes and what a hit returns.
    pub text: String,
    /// The headings above the chunk, outermost first.
    pub heading_path: Vec<String>,
    /// First page the chunk comes from, for paged formats (1-based).
    pub page_start: Option<u32>,
    /// Last page the chunk comes from, for paged formats (1-based).
    pub page_end: Option<u32>,
    /// Who may see the chunk.
    pub acl: Acl,
    /// Exact-match filter fields (see [`Filter::metadata`]).
    pub metadata: BTreeMap<String, String>,
    /// The chunk's embedding; `None` when the pipeline has no embedding model.
    pub vector: Option<Vec<f32>>,
}

/// Which ranking a search uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Keyword search (BM25 over the analyzed text).
    Bm25,
    /// Nearest neighbours of the query vector (cosine similarity).
    Dense,
    /// Both lists fused by reciprocal rank fusion (see [`crate::fusion`]).
    #[default]
    Hybrid,
}

impl Mode {
    /// The name used in configuration and APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Bm25 => "bm25",
            Mode::Dense => "dense",
            Mode::Hybrid => "hybrid",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`Mode`] from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown search mode `{0}`; expected bm25, dense or hybrid")]
pub struct ParseModeError(pub String);

impl FromStr for Mode {
    type Err = ParseModeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "bm25" => Ok(Mode::Bm25),
            "dense" => Ok(Mode::Dense),
            "hybrid" => Ok(Mode::Hybrid),
            other => Err(ParseModeError(other.to_owned())),
        }
    }
}

/// Restrictions a search applies on top of the principal's permissions.
///
/// Empty lists mean no restriction. A chunk passes when its source is one of `sources`
/// (if any are given) and it has every `metadata` pair (all must match exactly).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Allowed sources (OR).
    pub sources: Vec<String>,
    /// Required `(key, value)` metadata pairs (AND).
    pub metadata: Vec<(String, String)>,
}

/// One search.
#[derive(Debug, Clone, Copy)]
pub struct SearchRequest<'a> {
    /// The query text (used by BM25 and hybrid).
    pub text: &'a str,
    /// The embedded query (needed by dense and hybrid on an index with vectors).
    pub vector: Option<&'a [f32]>,
    /// Who is searching: hits are only chunks this principal may see.
    pub principal: &'a Principal,
    /// How many hits to return at most.
    pub k: usize,
    /// Which ranking to use.
    pub mode: Mode,
    /// Source and metadata restrictions.
    pub filter: &'a Filter,
}

/// One result of a search, best first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    /// The chunk's id.
    pub chunk_id: String,
    /// Its document.
    pub document_id: String,
    /// Its source.
    pub source: String,
    /// Its position in the document.
    pub ordinal: u32,
    /// BM25 score, cosine similarity or RRF score, according to the mode.
    pub score: f32,
    /// 1-based rank in the BM25 list, when the chunk is in it.
    pub bm25_rank: Option<usize>,
    /// 1-based rank in the dense list, when the chunk is in it.
    pub dense_rank: Option<usize>,
    /// The chunk's text.
    pub text: String,
    /// The headings above the chunk.
    pub heading_path: Vec<String>,
    /// First page, for paged formats.
    pub page_start: Option<u32>,
    /// Last page, for paged formats.
    pub page_end: Option<u32>,
}

/// How deep each list of a hybrid search goes, given `k`: four times `k`, at least 50, so
/// that the fused top `k` is rarely decided by truncation. Shared by every store, so that
/// they fuse the same lists. At 100,000 chunks in the embedded store, depth 50 instead of
/// 100 cuts hybrid latency by about a third (the graph walk's candidate list shrinks to
/// usearch's default of 64); RRF gives ranks beyond 50 little weight anyway. Depth is
/// never below `k`, so `min(k, |bm25 ∪ dense|)` hits always come back.
pub(crate) fn hybrid_depth(k: usize) -> usize {
    k.saturating_mul(4).max(50)
}

/// The reading side, shared by every store: the RAG app holds an `Arc<dyn Retriever>`.
///
/// Implementations filter by the principal and the filter *inside* their searches, so a
/// search for `k` hits returns `k` permitted hits whenever that many exist.
pub trait Retriever: Send + Sync {
    /// Runs one search.
    fn search(&self, request: &SearchRequest<'_>) -> Result<Vec<SearchHit>, IndexError>;
}

/// The writing side, used by ingestion.
///
/// Changes become visible to searches and durable together, at [`VectorStore::commit`].
pub trait VectorStore: Retriever {
    /// Replaces every chunk of the document with `chunks` (possibly empty), remembering
    /// `stamp` (an opaque string the caller uses to know which version it indexed).
    fn replace_document(
        &mut self,
        document_id: &str,
        stamp: &str,
        chunks: Vec<IndexChunk>,
    ) -> Result<(), IndexError>;
    /// Removes the document's chunks and its stamp.
    fn delete_document(&mut self, document_id: &str) -> Result<(), IndexError>;
    /// Makes everything since the last commit durable and visible to searches.
    fn commit(&mut self) -> Result<(), IndexError>;
    /// Document id → stamp, as of the last commit plus pending changes.
    fn stamps(&self) -> &BTreeMap<String, String>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_round_trips_through_text() {
        for mode in [Mode::Bm25, Mode::Dense, Mode::Hybrid] {
            assert_eq!(mode.to_string().parse::<Mode>(), Ok(mode));
        }
        assert_eq!(Mode::default(), Mode::Hybrid);
        let err = "vector".parse::<Mode>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown search mode `vector`; expected bm25, dense or hybrid"
        );
    }
}
