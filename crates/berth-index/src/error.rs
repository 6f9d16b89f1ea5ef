//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong while reading or writing an index.
///
/// [`IndexError::Corrupt`] and [`IndexError::Stale`] are the two answers of
/// [`crate::EmbeddedIndex::open`] that mean "this derived index cannot be used; rebuild it
/// from the system of record" — see [`IndexError::needs_rebuild`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// Reading or writing a file failed.
    #[error("cannot access {path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The files in the index directory are missing, unreadable or inconsistent with each
    /// other (for example after a crash in the middle of a commit).
    #[error("the index in {dir} is corrupt and must be rebuilt: {reason}")]
    Corrupt {
        /// The index directory.
        dir: PathBuf,
        /// What is wrong, in words.
        reason: String,
    },
    /// The index is intact but was built for another embedding model, vector dimension or
    /// on-disk format.
    #[error("the index in {dir} is out of date and must be rebuilt: {reason}")]
    Stale {
        /// The index directory.
        dir: PathBuf,
        /// What differs, in words.
        reason: String,
    },
    /// A vector has the wrong number of components.
    #[error(
        "{item} has a vector of dimension {found}, but the index stores vectors of dimension {expected}"
    )]
    Dimension {
        /// The dimension of the index (its embedding model).
        expected: usize,
        /// The dimension that was given.
        found: usize,
        /// `chunk <id>` or `the query`.
        item: String,
    },
    /// A vector was needed but not given, or vectors were asked of a keyword-only index.
    #[error("{item} has no vector: {reason}")]
    MissingVector {
        /// `chunk <id>`, `the query` or `the index in <dir>`.
        item: String,
        /// Why a vector is needed here and what to do instead.
        reason: &'static str,
    },
    /// A chunk carries a vector, but the index is keyword only (its pipeline has no
    /// embedding model).
    #[error(
        "chunk {chunk_id} has a vector, but the index is keyword only (created without a dimension)"
    )]
    UnexpectedVector {
        /// The chunk.
        chunk_id: String,
    },
    /// A vector contains NaN or infinity, or is all zeros (cosine similarity is undefined).
    #[error("{item} has an invalid vector: {reason}")]
    InvalidVector {
        /// `chunk <id>` or `the query`.
        item: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A chunk given to [`crate::VectorStore::replace_document`] names another document.
    #[error(
        "chunk {chunk_id} belongs to document {found}, but was given to replace document {expected}"
    )]
    WrongDocument {
        /// The chunk.
        chunk_id: String,
        /// The document being replaced.
        expected: String,
        /// The chunk's own `document_id`.
        found: String,
    },
    /// The same chunk id was given twice, or already belongs to another document.
    #[error(
        "chunk {chunk_id} is already indexed for document {document_id}; chunk ids must be unique"
    )]
    DuplicateChunk {
        /// The chunk.
        chunk_id: String,
        /// The document that already holds it.
        document_id: String,
    },
    /// Two different chunk ids map to the same 64-bit vector key (astronomically unlikely
    /// with ids derived from content; reported rather than silently overwriting).
    #[error("chunk ids {chunk_id} and {other} have the same 64-bit index key")]
    KeyCollision {
        /// The chunk being added.
        chunk_id: String,
        /// The chunk already holding the key.
        other: String,
    },
    /// The BM25 index (tantivy) failed.
    #[error("the BM25 index (tantivy) failed")]
    Tantivy(#[from] tantivy::TantivyError),
    /// The vector index (usearch) failed.
    #[error("the vector index (usearch) failed: {0}")]
    Vectors(String),
    /// The settings of a store are unusable: a connection URL that does not parse, a
    /// table name that is not a plain identifier, a vector dimension the store cannot
    /// index. Nothing was connected to or written.
    #[error("invalid {setting}: {reason}")]
    Settings {
        /// Which setting (`connection URL`, `table name`, `vector dimension`).
        setting: &'static str,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// Connecting to PostgreSQL failed (refused, unreachable, authentication).
    #[cfg(feature = "pgvector")]
    #[error("cannot connect to PostgreSQL at {server}")]
    Connect {
        /// The server as `user@host:port/database` (never with the password).
        server: String,
        /// What the client said.
        #[source]
        source: postgres::Error,
    },
    /// The pgvector extension is not installed on the server, cannot be created in the
    /// database by this user, or is too old.
    #[error("the pgvector extension is not usable on {server}: {reason}")]
    Extension {
        /// The server as `user@host:port/database` (never with the password).
        server: String,
        /// What is missing and how to fix it.
        reason: String,
    },
    /// A PostgreSQL statement failed.
    #[cfg(feature = "pgvector")]
    #[error("PostgreSQL failed to {action} in schema {schema}")]
    Postgres {
        /// The store's schema.
        schema: String,
        /// What the store was doing (`search`, `replace document doc-1`, …).
        action: String,
        /// What the server or the client said.
        #[source]
        source: postgres::Error,
    },
    /// The store's tables exist but were made for another vector dimension, text search
    /// configuration or table layout.
    #[error("the tables in schema {schema} are out of date and must be rebuilt: {reason}")]
    StaleTables {
        /// The store's schema.
        schema: String,
        /// What differs, in words.
        reason: String,
    },
    /// Changes staged since the last commit were lost (the connection or the transaction
    /// failed half way); the store refuses further writes until it is opened again, so
    /// that a caller cannot commit a partial batch believing it whole.
    #[error(
        "changes to schema {schema} since the last commit were lost ({reason}); open the store again and repeat them"
    )]
    Aborted {
        /// The store's schema.
        schema: String,
        /// What failed.
        reason: String,
    },
}

impl IndexError {
    /// Whether the index cannot be used and should be recreated (with
    /// [`crate::EmbeddedIndex::create`], or `PgVectorStore::create` for the pgvector
    /// store) and refilled from the system of record.
    pub fn needs_rebuild(&self) -> bool {
        matches!(
            self,
            Self::Corrupt { .. } | Self::Stale { .. } | Self::StaleTables { .. }
        )
    }
}

/// The crate's result type.
pub type Result<T, E = IndexError> = std::result::Result<T, E>;
