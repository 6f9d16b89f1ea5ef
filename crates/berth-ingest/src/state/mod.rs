//! The state store: the system of record for documents, chunks, runs and tasks.
//!
//! SQLite, in WAL mode, with versioned migrations. Every write that marks documents done
//! runs in one transaction together with their chunks, so a crash at any instant leaves
//! either the old state or the new one — never a document marked done without its
//! chunks. Chunk writes are upserts by id, so doing one twice changes nothing.

mod backend;
mod conversations;
pub mod postgres;
mod schema;
mod views;

pub use conversations::Turn;
pub use views::{ChunkView, DocumentCounts};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Errors of the state store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The database could not be opened or used.
    #[error("state store {}: {source}", path.display())]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The PostgreSQL state store could not be reached or used.
    #[error("state store {url}: {source}")]
    Postgres {
        /// The connection URL, password hidden.
        url: String,
        /// What PostgreSQL said.
        #[source]
        source: ::postgres::Error,
    },
    /// The heartbeat that keeps a worker's leases alive could not start.
    #[error("cannot start the state store heartbeat: {0}")]
    Heartbeat(#[source] std::io::Error),
    /// The database is newer than this berth.
    #[error("state store {} has schema version {found}; this berth knows up to {known}", path.display())]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Its version.
        found: i64,
        /// Ours.
        known: i64,
    },
}

/// Result type of the state store.
pub type Result<T, E = StateError> = std::result::Result<T, E>;

pub use backend::{AppState, Claim, Conversations, IngestState, ReadState};

/// Exclusive use of a state directory: one ingest at a time per state store. Released
/// when dropped (or when the process dies).
#[derive(Debug)]
pub struct StateLock {
    _file: std::fs::File,
}

impl StateLock {
    /// Takes the lock of `dir`, failing at once if another process holds it.
    pub fn acquire(dir: &Path) -> std::io::Result<StateLock> {
        std::fs::create_dir_all(dir)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("state.lock"))?;
        match file.try_lock() {
            Ok(()) => Ok(StateLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                format!("another berth process is ingesting into {}", dir.display()),
            )),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Where a document stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocStatus {
    /// Seen, not (yet) indexed.
    Pending,
    /// Indexed with the current fingerprint.
    Done,
    /// Dead-lettered: its error is recorded.
    Failed,
}

impl DocStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DocStatus::Pending => "pending",
            DocStatus::Done => "done",
            DocStatus::Failed => "failed",
        }
    }
    pub(crate) fn parse(s: &str) -> DocStatus {
        match s {
            "done" => DocStatus::Done,
            "failed" => DocStatus::Failed,
            _ => DocStatus::Pending,
        }
    }
}

/// A document as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentRow {
    /// Pipeline.
    pub pipeline: String,
    /// `source/path`.
    pub id: String,
    /// Source name.
    pub source: String,
    /// Path within the source (or URL).
    pub path: String,
    /// Size and modification time (files) or ETag (URLs) when last seen.
    pub revision: Option<String>,
    /// Hash of the content last indexed.
    pub content_hash: Option<String>,
    /// Incremented each time new content is indexed.
    pub version: i64,
    /// Pipeline fingerprint it was indexed with.
    pub fingerprint: Option<String>,
    /// Users allowed.
    pub acl_users: Vec<String>,
    /// Groups allowed.
    pub acl_groups: Vec<String>,
    /// Where it stands.
    pub status: DocStatus,
    /// Kind of the last error.
    pub error_kind: Option<String>,
    /// The last error, for dead-lettered documents.
    pub last_error: Option<String>,
    /// Title, when the format has one.
    pub title: Option<String>,
    /// Pages, for paged formats.
    pub pages: Option<i64>,
    /// Chunks written.
    pub chunks: i64,
    /// Last change.
    pub updated_ms: i64,
}

/// The part of a document's row that decides whether it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    /// Revision when last seen.
    pub revision: Option<String>,
    /// Status.
    pub status: DocStatus,
    /// Fingerprint it was indexed with.
    pub fingerprint: Option<String>,
}

/// A chunk to write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkRecord {
    /// Deterministic id.
    pub id: String,
    /// Position in the document.
    pub ordinal: i64,
    /// Indexed text.
    pub text: String,
    /// Passage returned to readers, when it differs from `text`.
    pub context: Option<String>,
    /// Headings above it.
    pub heading_path: Vec<String>,
    /// First page.
    pub page_start: Option<i64>,
    /// Last page.
    pub page_end: Option<i64>,
    /// Byte range in the parsed text.
    pub byte_start: i64,
    /// End of the byte range.
    pub byte_end: i64,
    /// Its vector, when the pipeline embeds.
    #[serde(skip)]
    pub embedding: Option<Vec<f32>>,
}

/// The new state of one indexed document.
#[derive(Debug, Clone)]
pub struct IndexedDocument {
    /// The document's row, status `Done`.
    pub row: DocumentRow,
    /// All its chunks (replacing whatever it had).
    pub chunks: Vec<ChunkRecord>,
}

/// What happened to one processed document.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Indexed.
    Indexed(IndexedDocument),
    /// Dead-lettered (its chunks are removed: the index holds what the source holds).
    Failed(DocumentRow),
}

/// Counts from one commit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Chunks inserted or updated.
    pub chunks_written: u64,
    /// Chunks removed.
    pub chunks_deleted: u64,
}

/// One run of a pipeline, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRow {
    /// Run id.
    pub id: i64,
    /// Pipeline.
    pub pipeline: String,
    /// `running`, `ok`, `failures` (some documents failed), `failed` or `interrupted`.
    pub status: String,
    /// Start.
    pub started_ms: i64,
    /// End.
    pub finished_ms: Option<i64>,
    /// The counts.
    pub counts: RunCounts,
    /// Why the run failed, if it did.
    pub error: Option<String>,
}

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounts {
    /// Documents listed by the source.
    pub seen: u64,
    /// New documents indexed.
    pub added: u64,
    /// Changed documents re-indexed.
    pub changed: u64,
    /// Documents left as they were.
    pub unchanged: u64,
    /// Documents gone from the source and removed.
    pub deleted: u64,
    /// Documents dead-lettered.
    pub failed: u64,
    /// Chunks written.
    pub chunks_written: u64,
    /// Chunks removed.
    pub chunks_deleted: u64,
}

/// A keyword search hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// Chunk id.
    pub chunk_id: String,
    /// Document id.
    pub document_id: String,
    /// BM25 score (higher is better).
    pub score: f64,
    /// The chunk's text.
    pub text: String,
}

/// The state store.
pub struct StateStore {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateStore")
            .field("path", &self.path)
            .finish()
    }
}

/// A vector as stored: little-endian f32s.
fn encode_vector(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A stored vector; trailing bytes that do not make a whole f32 are ignored.
fn decode_vector(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".to_string())
}

fn parse_list(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}

const DOC_COLUMNS: &str = "pipeline, id, source, path, revision, content_hash, version, fingerprint, \
     acl_users, acl_groups, status, error_kind, last_error, title, pages, chunks, updated_ms";

fn doc_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DocumentRow> {
    Ok(DocumentRow {
        pipeline: r.get(0)?,
        id: r.get(1)?,
        source: r.get(2)?,
        path: r.get(3)?,
        revision: r.get(4)?,
        content_hash: r.get(5)?,
        version: r.get(6)?,
        fingerprint: r.get(7)?,
        acl_users: parse_list(&r.get::<_, String>(8)?),
        acl_groups: parse_list(&r.get::<_, String>(9)?),
        status: DocStatus::parse(&r.get::<_, String>(10)?),
        error_kind: r.get(11)?,
        last_error: r.get(12)?,
        title: r.get(13)?,
        pages: r.get(14)?,
        chunks: r.get(15)?,
        updated_ms: r.get(16)?,
    })
}

impl StateStore {
    /// Opens (creating if needed) the state store at `path` and brings its schema up to
    /// date.
    pub fn open(path: &Path) -> Result<StateStore> {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(path).map_err(|source| StateError::Sqlite {
            path: path.to_path_buf(),
            source,
        })?;
        Self::init(conn, path.to_path_buf())
    }

    /// A state store in memory, for tests.
    pub fn open_in_memory() -> Result<StateStore> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|source| StateError::Sqlite {
            path: path.clone(),
            source,
        })?;
        Self::init(conn, path)
    }

    fn init(conn: Connection, path: PathBuf) -> Result<StateStore> {
        let mut store = StateStore { conn, path };
        store.sql(|c| {
            c.pragma_update(None, "journal_mode", "WAL")?;
            c.pragma_update(None, "synchronous", "NORMAL")?;
            c.pragma_update(None, "foreign_keys", "ON")?;
            c.pragma_update(None, "cache_size", -64_000)?;
            c.busy_timeout(std::time::Duration::from_secs(10))?;
            c.execute_batch(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            )
        })?;
        store.migrate()?;
        Ok(store)
    }

    fn sql<T>(&mut self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T> {
        f(&mut self.conn).map_err(|source| StateError::Sqlite {
            path: self.path.clone(),
            source,
        })
    }

    /// The schema version of the database.
    pub fn schema_version(&mut self) -> Result<i64> {
        self.sql(|c| {
            c.query_row(
                "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map(|v| v.unwrap_or(0))
        })
    }

    fn migrate(&mut self) -> Result<()> {
        let current = self.schema_version()?;
        let known = schema::MIGRATIONS.len() as i64;
        if current > known {
            return Err(StateError::TooNew {
                path: self.path.clone(),
                found: current,
                known,
            });
        }
        for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(current as usize) {
            let version = i as i64 + 1;
            self.sql(|c| {
                let tx = c.transaction()?;
                tx.execute_batch(sql)?;
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    params![version.to_string()],
                )?;
                tx.commit()
            })?;
        }
        Ok(())
    }

    /// The fingerprint a pipeline was last indexed with.
    pub fn fingerprint(&mut self, pipeline: &str) -> Result<Option<String>> {
        self.sql(|c| {
            c.query_row(
                "SELECT fingerprint FROM pipelines WHERE name = ?1",
                params![pipeline],
                |r| r.get(0),
            )
            .optional()
        })
    }

    /// Records a pipeline's current fingerprint.
    pub fn set_fingerprint(&mut self, pipeline: &str, fingerprint: &str) -> Result<()> {
        self.sql(|c| {
            c.execute(
                "INSERT INTO pipelines (name, fingerprint, updated_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET fingerprint = excluded.fingerprint,
                                                  updated_ms = excluded.updated_ms",
                params![pipeline, fingerprint, now_ms()],
            )
            .map(|_| ())
        })
    }

    /// Every document of a pipeline, by id.
    pub fn documents(&mut self, pipeline: &str) -> Result<BTreeMap<String, DocumentRow>> {
        self.sql(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {DOC_COLUMNS} FROM documents WHERE pipeline = ?1"
            ))?;
            let rows = stmt.query_map(params![pipeline], doc_from_row)?;
            rows.map(|r| r.map(|d| (d.id.clone(), d))).collect()
        })
    }

    /// What a run needs to decide whether a document changed, for every document of a
    /// pipeline: revision, status and fingerprint, by id.
    pub fn revisions(
        &mut self,
        pipeline: &str,
    ) -> Result<std::collections::HashMap<String, Known>> {
        self.sql(|c| {
            let mut stmt = c.prepare_cached(
                // A document the embedding model failed is not at fault: it reads as
                // pending, so the next run tries it again.
                "SELECT id, revision,
                        CASE WHEN status = 'failed' AND error_kind = 'embed' THEN 'pending'
                             ELSE status END,
                        fingerprint
                 FROM documents WHERE pipeline = ?1",
            )?;
            let rows = stmt.query_map(params![pipeline], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    Known {
                        revision: r.get(1)?,
                        status: DocStatus::parse(&r.get::<_, String>(2)?),
                        fingerprint: r.get(3)?,
                    },
                ))
            })?;
            rows.collect()
        })
    }

    /// Documents of every pipeline (or one), optionally only dead-lettered ones, by
    /// pipeline and id.
    pub fn list_documents(
        &mut self,
        pipeline: Option<&str>,
        failed_only: bool,
    ) -> Result<Vec<DocumentRow>> {
        self.sql(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {DOC_COLUMNS} FROM documents
                 WHERE (?1 IS NULL OR pipeline = ?1) AND (?2 = 0 OR status = 'failed')
                 ORDER BY pipeline, id"
            ))?;
            let rows = stmt.query_map(params![pipeline, failed_only as i64], doc_from_row)?;
            rows.collect()
        })
    }

    /// One document.
    pub fn document(&mut self, pipeline: &str, id: &str) -> Result<Option<DocumentRow>> {
        self.sql(|c| {
            c.query_row(
                &format!("SELECT {DOC_COLUMNS} FROM documents WHERE pipeline = ?1 AND id = ?2"),
                params![pipeline, id],
                doc_from_row,
            )
            .optional()
        })
    }

    /// A document's chunks, in order.
    pub fn chunks_of(&mut self, pipeline: &str, document_id: &str) -> Result<Vec<ChunkRecord>> {
        self.sql(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, ordinal, text, context, heading_path, page_start, page_end, byte_start, byte_end,
                        embedding
                 FROM chunks WHERE pipeline = ?1 AND document_id = ?2 ORDER BY ordinal",
            )?;
            let rows = stmt.query_map(params![pipeline, document_id], |r| {
                Ok(ChunkRecord {
                    id: r.get(0)?,
                    ordinal: r.get(1)?,
                    text: r.get(2)?,
                    context: r.get(3)?,
                    heading_path: parse_list(&r.get::<_, String>(4)?),
                    page_start: r.get(5)?,
                    page_end: r.get(6)?,
                    byte_start: r.get(7)?,
                    byte_end: r.get(8)?,
                    embedding: r.get::<_, Option<Vec<u8>>>(9)?.map(|b| decode_vector(&b)),
                })
            })?;
            rows.collect()
        })
    }

    /// What a derived index must hold for each indexed (done) document of a pipeline: a
    /// stamp that changes whenever its chunks, vectors or principals may have changed.
    pub fn index_stamps(&mut self, pipeline: &str) -> Result<BTreeMap<String, String>> {
        self.sql(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, version || ':' || IFNULL(content_hash, '') || ':' ||
                        IFNULL(fingerprint, '') || ':' || chunks || ':' || acl_users || ':' ||
                        acl_groups
                 FROM documents WHERE pipeline = ?1 AND status = 'done'",
            )?;
            let rows = stmt.query_map(params![pipeline], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }

    /// The length of the pipeline's stored vectors (none stored: `None`).
    pub fn vector_dimension(&mut self, pipeline: &str) -> Result<Option<usize>> {
        self.sql(|c| {
            c.query_row(
                "SELECT length(embedding) / 4 FROM chunks
                 WHERE pipeline = ?1 AND embedding IS NOT NULL LIMIT 1",
                params![pipeline],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map(|d| d.map(|d| d as usize))
        })
    }

    /// Every chunk id of a pipeline, sorted (for comparisons and rebuilds).
    pub fn chunk_ids(&mut self, pipeline: &str) -> Result<Vec<String>> {
        self.sql(|c| {
            let mut stmt = c.prepare("SELECT id FROM chunks WHERE pipeline = ?1 ORDER BY id")?;
            let rows = stmt.query_map(params![pipeline], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// Writes the outcomes of a batch of documents in one transaction: chunks replaced,
    /// documents marked done or dead-lettered, tasks closed.
    pub fn commit(&mut self, run_id: i64, outcomes: &[Outcome]) -> Result<CommitStats> {
        self.sql(|c| {
            let tx = c.transaction()?;
            let mut stats = CommitStats::default();
            {
                let mut upsert_doc = tx.prepare_cached(
                    "INSERT INTO documents (pipeline, id, source, path, revision, content_hash, version,
                        fingerprint, acl_users, acl_groups, status, error_kind, last_error, title, pages,
                        chunks, updated_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
                     ON CONFLICT (pipeline, id) DO UPDATE SET
                        source = excluded.source, path = excluded.path, revision = excluded.revision,
                        content_hash = excluded.content_hash, version = excluded.version,
                        fingerprint = excluded.fingerprint, acl_users = excluded.acl_users,
                        acl_groups = excluded.acl_groups, status = excluded.status,
                        error_kind = excluded.error_kind, last_error = excluded.last_error,
                        title = excluded.title, pages = excluded.pages, chunks = excluded.chunks,
                        updated_ms = excluded.updated_ms",
                )?;
                let mut delete_stale = tx.prepare_cached(
                    "DELETE FROM chunks WHERE pipeline = ?1 AND document_id = ?2 AND ordinal >= ?3",
                )?;
                let mut upsert_chunk = tx.prepare_cached(
                    "INSERT INTO chunks (id, pipeline, document_id, ordinal, text, context, heading_path,
                        page_start, page_end, byte_start, byte_end, acl_users, acl_groups, embedding)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                     ON CONFLICT (id) DO UPDATE SET
                        text = excluded.text, context = excluded.context,
                        heading_path = excluded.heading_path, page_start = excluded.page_start,
                        page_end = excluded.page_end, byte_start = excluded.byte_start,
                        byte_end = excluded.byte_end, acl_users = excluded.acl_users,
                        acl_groups = excluded.acl_groups, embedding = excluded.embedding",
                )?;
                let mut delete_other_fingerprints = tx.prepare_cached(
                    "DELETE FROM chunks WHERE pipeline = ?1 AND document_id = ?2 AND id NOT IN
                        (SELECT value FROM json_each(?3))",
                )?;
                let mut has_chunks = tx.prepare_cached(
                    "SELECT 1 FROM chunks WHERE pipeline = ?1 AND document_id = ?2 LIMIT 1",
                )?;
                let mut close_task = tx.prepare_cached(
                    "INSERT INTO tasks (pipeline, document_id, run_id, status, attempts, lease_until_ms,
                        last_error, updated_ms)
                     VALUES (?1, ?2, ?3, ?4, 1, NULL, ?5, ?6)
                     ON CONFLICT (pipeline, document_id) DO UPDATE SET run_id = excluded.run_id,
                        status = excluded.status, lease_until_ms = NULL,
                        last_error = excluded.last_error, updated_ms = excluded.updated_ms",
                )?;
                for outcome in outcomes {
                    let (row, chunks) = match outcome {
                        Outcome::Indexed(d) => (&d.row, d.chunks.as_slice()),
                        Outcome::Failed(row) => (row, &[][..]),
                    };
                    upsert_doc.execute(params![
                        row.pipeline,
                        row.id,
                        row.source,
                        row.path,
                        row.revision,
                        row.content_hash,
                        row.version,
                        row.fingerprint,
                        json_list(&row.acl_users),
                        json_list(&row.acl_groups),
                        row.status.as_str(),
                        row.error_kind,
                        row.last_error,
                        row.title,
                        row.pages,
                        chunks.len() as i64,
                        now_ms(),
                    ])?;
                    // Chunks of another fingerprint, or past the new end, are stale. A
                    // document seen for the first time (version 1, no chunks yet) has none.
                    let first_time = matches!(outcome, Outcome::Indexed(_)) && row.version == 1
                        && !has_chunks.exists(params![row.pipeline, row.id])?;
                    if !first_time {
                        let keep: Vec<&str> = chunks.iter().map(|c| c.id.as_str()).collect();
                        stats.chunks_deleted += delete_other_fingerprints.execute(params![
                            row.pipeline,
                            row.id,
                            serde_json::to_string(&keep).unwrap_or_else(|_| "[]".into())
                        ])? as u64;
                        stats.chunks_deleted += delete_stale
                            .execute(params![row.pipeline, row.id, chunks.len() as i64])?
                            as u64;
                    }
                    for c in chunks {
                        upsert_chunk.execute(params![
                            c.id,
                            row.pipeline,
                            row.id,
                            c.ordinal,
                            c.text,
                            c.context,
                            json_list(&c.heading_path),
                            c.page_start,
                            c.page_end,
                            c.byte_start,
                            c.byte_end,
                            json_list(&row.acl_users),
                            json_list(&row.acl_groups),
                            c.embedding.as_deref().map(encode_vector),
                        ])?;
                        stats.chunks_written += 1;
                    }
                    let (status, error) = match outcome {
                        Outcome::Indexed(_) => ("done", None),
                        Outcome::Failed(r) => ("dead", r.last_error.clone()),
                    };
                    close_task.execute(params![row.pipeline, row.id, run_id, status, error, now_ms()])?;
                }
            }
            tx.commit()?;
            Ok(stats)
        })
    }

    /// Records a new revision for documents whose content did not change (a touched
    /// file), so the next run need not read them again.
    pub fn touch(&mut self, pipeline: &str, revisions: &[(String, String)]) -> Result<()> {
        self.sql(|c| {
            let tx = c.transaction()?;
            {
                let mut stmt = tx.prepare_cached(
                    "UPDATE documents SET revision = ?3 WHERE pipeline = ?1 AND id = ?2",
                )?;
                for (id, rev) in revisions {
                    stmt.execute(params![pipeline, id, rev])?;
                }
            }
            tx.commit()
        })
    }

    /// Removes documents (and their chunks and tasks). Returns the chunks removed.
    pub fn delete_documents(&mut self, pipeline: &str, ids: &[String]) -> Result<u64> {
        self.sql(|c| {
            let tx = c.transaction()?;
            let mut chunks = 0u64;
            {
                let mut del_chunks = tx.prepare_cached(
                    "DELETE FROM chunks WHERE pipeline = ?1 AND document_id = ?2",
                )?;
                let mut del_doc =
                    tx.prepare_cached("DELETE FROM documents WHERE pipeline = ?1 AND id = ?2")?;
                let mut del_task = tx
                    .prepare_cached("DELETE FROM tasks WHERE pipeline = ?1 AND document_id = ?2")?;
                for id in ids {
                    chunks += del_chunks.execute(params![pipeline, id])? as u64;
                    del_doc.execute(params![pipeline, id])?;
                    del_task.execute(params![pipeline, id])?;
                }
            }
            tx.commit()?;
            Ok(chunks)
        })
    }

    /// Marks runs still recorded as running as interrupted (their process is gone: the
    /// caller holds the state lock). Returns how many.
    pub fn interrupt_stale_runs(&mut self) -> Result<usize> {
        self.sql(|c| {
            c.execute(
                "UPDATE runs SET status = 'interrupted', finished_ms = ?1,
                    error = 'the run was stopped before it finished; the next run picks up its work'
                 WHERE status = 'running'",
                params![now_ms()],
            )
        })
    }

    /// Records the start of a run.
    pub fn start_run(&mut self, pipeline: &str) -> Result<i64> {
        self.sql(|c| {
            c.execute(
                "INSERT INTO runs (pipeline, status, started_ms) VALUES (?1, 'running', ?2)",
                params![pipeline, now_ms()],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    /// Records progress or the end of a run.
    pub fn update_run(
        &mut self,
        run_id: i64,
        counts: &RunCounts,
        status: &str,
        error: Option<&str>,
    ) -> Result<()> {
        let finished = (status != "running").then(now_ms);
        self.sql(|c| {
            c.execute(
                "UPDATE runs SET status = ?2, finished_ms = ?3, seen = ?4, added = ?5, changed = ?6,
                    unchanged = ?7, deleted = ?8, failed = ?9, chunks_written = ?10,
                    chunks_deleted = ?11, error = ?12
                 WHERE id = ?1",
                params![
                    run_id,
                    status,
                    finished,
                    counts.seen as i64,
                    counts.added as i64,
                    counts.changed as i64,
                    counts.unchanged as i64,
                    counts.deleted as i64,
                    counts.failed as i64,
                    counts.chunks_written as i64,
                    counts.chunks_deleted as i64,
                    error
                ],
            )
            .map(|_| ())
        })
    }

    /// The most recent runs, newest first.
    pub fn runs(&mut self, limit: usize) -> Result<Vec<RunRow>> {
        self.sql(|c| {
            let mut stmt = c.prepare(
                "SELECT id, pipeline, status, started_ms, finished_ms, seen, added, changed, unchanged,
                    deleted, failed, chunks_written, chunks_deleted, error
                 FROM runs ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = stmt.query_map(params![limit as i64], |r| {
                Ok(RunRow {
                    id: r.get(0)?,
                    pipeline: r.get(1)?,
                    status: r.get(2)?,
                    started_ms: r.get(3)?,
                    finished_ms: r.get(4)?,
                    counts: RunCounts {
                        seen: r.get::<_, i64>(5)? as u64,
                        added: r.get::<_, i64>(6)? as u64,
                        changed: r.get::<_, i64>(7)? as u64,
                        unchanged: r.get::<_, i64>(8)? as u64,
                        deleted: r.get::<_, i64>(9)? as u64,
                        failed: r.get::<_, i64>(10)? as u64,
                        chunks_written: r.get::<_, i64>(11)? as u64,
                        chunks_deleted: r.get::<_, i64>(12)? as u64,
                    },
                    error: r.get(13)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Keyword search (BM25) over a pipeline's chunks.
    pub fn search(&mut self, pipeline: &str, query: &str, k: usize) -> Result<Vec<Hit>> {
        // Quote every term: user text is never FTS5 syntax.
        let terms: Vec<String> = query
            .split(|c: char| !c.is_alphanumeric())
            .filter(|t| !t.is_empty())
            .map(|t| format!("\"{t}\""))
            .collect();
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let expr = terms.join(" OR ");
        self.sql(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT chunks.id, chunks.document_id, -bm25(chunks_fts) AS score, chunks.text
                 FROM chunks_fts JOIN chunks ON chunks.rowid = chunks_fts.rowid
                 WHERE chunks_fts MATCH ?1 AND chunks.pipeline = ?2
                 ORDER BY score DESC, chunks.id LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![expr, pipeline, k as i64], |r| {
                Ok(Hit {
                    chunk_id: r.get(0)?,
                    document_id: r.get(1)?,
                    score: r.get(2)?,
                    text: r.get(3)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Checks the store's own invariants: no chunk without its document, chunk counts
    /// recorded right, the full-text index in step. Returns the problems found.
    pub fn check(&mut self) -> Result<Vec<String>> {
        self.sql(|c| {
            let mut problems = Vec::new();
            let orphans: i64 = c.query_row(
                "SELECT COUNT(*) FROM chunks c LEFT JOIN documents d
                   ON d.pipeline = c.pipeline AND d.id = c.document_id WHERE d.id IS NULL",
                [],
                |r| r.get(0),
            )?;
            if orphans > 0 {
                problems.push(format!("{orphans} chunks have no document"));
            }
            let miscounted: i64 = c.query_row(
                "SELECT COUNT(*) FROM documents d WHERE d.chunks !=
                   (SELECT COUNT(*) FROM chunks c WHERE c.pipeline = d.pipeline AND c.document_id = d.id)",
                [],
                |r| r.get(0),
            )?;
            if miscounted > 0 {
                problems.push(format!("{miscounted} documents record a wrong chunk count"));
            }
            let integrity: rusqlite::Result<()> =
                c.execute_batch("INSERT INTO chunks_fts (chunks_fts) VALUES ('integrity-check')");
            if let Err(e) = integrity {
                problems.push(format!("full-text index out of step: {e}"));
            }
            Ok(problems)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str) -> DocumentRow {
        DocumentRow {
            pipeline: "p".into(),
            id: id.into(),
            source: "s".into(),
            path: id.into(),
            revision: Some("1:1".into()),
            content_hash: Some("h".into()),
            version: 1,
            fingerprint: Some("f".into()),
            acl_users: vec![],
            acl_groups: vec!["staff".into()],
            status: DocStatus::Done,
            error_kind: None,
            last_error: None,
            title: None,
            pages: None,
            chunks: 0,
            updated_ms: 0,
        }
    }

    fn chunk(id: &str, ordinal: i64, text: &str) -> ChunkRecord {
        ChunkRecord {
            id: id.into(),
            ordinal,
            text: text.into(),
            context: None,
            heading_path: vec![],
            page_start: None,
            page_end: None,
            byte_start: 0,
            byte_end: text.len() as i64,
            embedding: None,
        }
    }

    #[test]
    fn commits_replace_chunks_and_keep_the_index_in_step() {
        let mut s = StateStore::open_in_memory().unwrap();
        assert_eq!(s.schema_version().unwrap(), schema::MIGRATIONS.len() as i64);
        let run = s.start_run("p").unwrap();
        let doc = IndexedDocument {
            row: row("a"),
            chunks: vec![chunk("c1", 0, "alpha beta"), chunk("c2", 1, "gamma delta")],
        };
        let stats = s.commit(run, &[Outcome::Indexed(doc.clone())]).unwrap();
        assert_eq!(stats.chunks_written, 2);
        // The same commit again changes nothing.
        s.commit(run, &[Outcome::Indexed(doc)]).unwrap();
        assert_eq!(s.chunk_ids("p").unwrap(), ["c1", "c2"]);
        assert_eq!(s.search("p", "gamma", 5).unwrap()[0].chunk_id, "c2");
        // A shorter new version drops the tail.
        let doc = IndexedDocument {
            row: row("a"),
            chunks: vec![chunk("c1", 0, "alpha epsilon")],
        };
        let stats = s.commit(run, &[Outcome::Indexed(doc)]).unwrap();
        assert_eq!(stats.chunks_deleted, 1);
        assert!(s.search("p", "gamma", 5).unwrap().is_empty());
        assert_eq!(s.search("p", "epsilon", 5).unwrap().len(), 1);
        assert!(s.check().unwrap().is_empty());
        // A failure removes the document's chunks and records the error.
        let mut failed = row("a");
        failed.status = DocStatus::Failed;
        failed.last_error = Some("broken".into());
        s.commit(run, &[Outcome::Failed(failed)]).unwrap();
        assert!(s.chunk_ids("p").unwrap().is_empty());
        assert_eq!(s.list_documents(None, true).unwrap().len(), 1);
        assert_eq!(s.delete_documents("p", &["a".into()]).unwrap(), 0);
        assert!(s.documents("p").unwrap().is_empty());
        assert!(s.check().unwrap().is_empty());
    }

    #[test]
    fn search_treats_user_text_as_terms() {
        let mut s = StateStore::open_in_memory().unwrap();
        let run = s.start_run("p").unwrap();
        let doc = IndexedDocument {
            row: row("a"),
            chunks: vec![chunk("c1", 0, "NEAR AND OR quoted \"text\"")],
        };
        s.commit(run, &[Outcome::Indexed(doc)]).unwrap();
        assert_eq!(s.search("p", "\"quoted\" AND (", 5).unwrap().len(), 1);
        assert!(s.search("p", "*", 5).unwrap().is_empty());
    }

    #[test]
    fn stale_runs_are_marked_interrupted() {
        let mut s = StateStore::open_in_memory().unwrap();
        s.start_run("p").unwrap();
        assert_eq!(s.interrupt_stale_runs().unwrap(), 1);
        assert_eq!(s.runs(10).unwrap()[0].status, "interrupted");
    }
}
