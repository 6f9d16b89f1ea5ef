//! berth's retrieval index: keyword (BM25) and vector (HNSW) search over the chunks that
//! ingestion produced, fused by reciprocal rank fusion, filtered by who is asking.
//!
//! # Brief overview
//!
//! - [`IndexChunk`] is what ingestion writes: text, position, [`Acl`], metadata, vector.
//! - [`VectorStore`] is the writing side (`replace_document`, `delete_document`, `commit`,
//!   `stamps`), [`Retriever`] the reading side (`search`), which the RAG app holds as
//!   `Arc<dyn Retriever>`.
//! - A [`SearchRequest`] names the [`Principal`] who searches, the [`Mode`] (BM25, dense or
//!   hybrid) and a [`Filter`] (sources, metadata). Permissions and filters are applied
//!   *inside* both searches, so `k` hits come back whenever `k` permitted chunks match.
//! - [`EmbeddedIndex`] (module [`stores::embedded`]) is the default store: tantivy for BM25,
//!   usearch for vectors, one directory, no server. It is derived data: when its files are
//!   missing, inconsistent or built for another model, [`EmbeddedIndex::open`] returns an
//!   [`IndexError`] for which [`IndexError::needs_rebuild`] holds, and the caller rebuilds
//!   it from the state store.
//! - [`PgVectorStore`] (module [`stores::pgvector`], cargo feature `pgvector`, on by
//!   default) keeps the chunks in PostgreSQL with pgvector: full-text search (GIN) and
//!   HNSW, permissions and filters inside the SQL, same semantics behind the same traits.
//! - [`fusion`] holds reciprocal rank fusion, shared by every store.
//!
//! # Example
//!
//! ```
//! use std::collections::BTreeMap;
//! use berth_index::{
//!     Acl, EmbeddedIndex, Filter, IndexChunk, Mode, Principal, Retriever, SearchRequest,
//!     VectorStore,
//! };
//!
//! # fn main() -> Result<(), berth_index::IndexError> {
//! let dir = tempfile::tempdir().unwrap();
//! let mut index = EmbeddedIndex::create(dir.path(), Some(2), Some("toy-embedder"))?;
//! let chunk = |id: &str, text: &str, acl: Acl, vector: [f32; 2]| IndexChunk {
//!     id: id.into(),
//!     document_id: "handbook".into(),
//!     source: "docs".into(),
//!     ordinal: 0,
//!     text: text.into(),
//!     heading_path: vec![],
//!     page_start: None,
//!     page_end: None,
//!     acl,
//!     metadata: BTreeMap::new(),
//!     vector: Some(vector.to_vec()),
//! };
//! let staff = Acl { users: vec![], groups: vec!["staff".into()] };
//! index.replace_document("handbook", "v1", vec![
//!     chunk("c1", "Holidays are booked in the HR portal.", Acl::public(), [1.0, 0.0]),
//!     chunk("c2", "Salary bands for holidays and overtime.", staff, [0.9, 0.1]),
//! ])?;
//! index.commit()?;
//!
//! let anonymous = Principal::anonymous();
//! let hits = index.search(&SearchRequest {
//!     text: "how do I book a holiday",
//!     vector: Some(&[1.0, 0.05]),
//!     principal: &anonymous,
//!     k: 5,
//!     mode: Mode::Hybrid,
//!     filter: &Filter::default(),
//! })?;
//! assert_eq!(hits.len(), 1); // c2 is for staff only
//! assert_eq!(hits[0].chunk_id, "c1");
//! # Ok(()) }
//! ```
//!
//! # What it does not do
//!
//! It does not embed text (the caller passes vectors; see `berth-models`), chunk documents
//! or decide what to re-index (`berth-ingest`, which keeps the system of record and uses
//! [`VectorStore::stamps`]), nor authenticate callers (the gateway builds the
//! [`Principal`]). The embedded store performs no network I/O and starts no runtime; the
//! pgvector store talks to PostgreSQL through the synchronous `postgres` client (which
//! drives each connection on a small runtime of its own), and is left out by building
//! without the `pgvector` feature.

mod error;
pub mod fusion;
mod principal;
pub mod stores;

pub use error::{IndexError, Result};
pub use fusion::Fusion;
pub use principal::{Acl, Principal};
pub use stores::embedded::EmbeddedIndex;
pub use stores::embedded::bm25::bm25_terms;
#[cfg(feature = "pgvector")]
pub use stores::pgvector::PgVectorStore;
pub use stores::{
    Filter, IndexChunk, Mode, ParseModeError, Retriever, SearchHit, SearchRequest, VectorStore,
};
