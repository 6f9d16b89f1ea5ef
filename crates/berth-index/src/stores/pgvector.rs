//! The pgvector store: chunks in PostgreSQL, searched by PostgreSQL full-text search and by
//! pgvector's HNSW index, with permissions and filters inside the SQL.
//!
//! It keeps the embedded store's semantics behind the same traits ([`Retriever`],
//! [`VectorStore`]), for deployments that already run PostgreSQL or need several gateways
//! to share one index.
//!
//! # Tables
//!
//! Each pipeline gets its own schema, named when the store is opened, so several pipelines
//! share one database:
//!
//! | table             | what                                                               |
//! |-------------------|--------------------------------------------------------------------|
//! | `<schema>.chunks` | one row per chunk: id (primary key), document id, source, ordinal, text, heading path, pages, access tokens, metadata, `embedding vector(D)`, generated `tsv tsvector` |
//! | `<schema>.stamps` | document id → stamp                                                |
//! | `<schema>.meta`   | layout version, dimension and text search configuration            |
//!
//! Indexes on `chunks`: btree on `document_id`; HNSW on `embedding` with
//! `vector_cosine_ops` (the embedded store ranks by cosine similarity too; vectors are
//! stored normalized, as there); GIN on `tsv`; GIN on `acl`; GIN (`jsonb_path_ops`) on
//! `metadata`. [`PgVectorStore::open`] creates what is missing (`CREATE … IF NOT EXISTS`,
//! `CREATE EXTENSION IF NOT EXISTS vector`) under an advisory lock, and checks the `meta`
//! rows against the pipeline: another dimension or layout is
//! [`IndexError::StaleTables`], answered by [`PgVectorStore::create`] and re-indexing.
//!
//! # Keyword search
//!
//! `tsv` is `to_tsvector('english', text)`: the `english` configuration lowercases, drops
//! English stop words and applies the Snowball English stemmer, the same analysis as the
//! embedded store's tantivy field, so a query word matches the same chunks in both. The
//! query text goes through the same configuration and its terms are OR-ed (any shared term
//! matches, as in BM25), and hits are ranked by `ts_rank_cd(tsv, query, 1)` (cover density,
//! divided by `1 + log(length)`). That is not BM25: it has no inverse document frequency,
//! so rare terms do not outweigh common ones; hybrid search, which uses only ranks, is
//! affected less than keyword-only search.
//!
//! # Permissions and filters inside the SQL
//!
//! `acl` holds the chunk's access tokens (`u:<user>`, `g:<group>`, or `*` for public; see
//! [`crate::Principal`]), and both searches have `acl && <the principal's tokens>` in their
//! `WHERE` clause, beside the source filter (`source = ANY(…)`) and the metadata filter
//! (`metadata @> {…}`). Nothing is filtered afterwards in Rust, so `LIMIT k` returns `k`
//! permitted chunks whenever that many match.
//!
//! # HNSW settings
//!
//! The search connection sets `hnsw.iterative_scan = relaxed_order` (pgvector 0.8 or later,
//! checked when opening): when the filter rejects candidates, the index scan goes on until
//! `LIMIT` rows pass or `hnsw.max_scan_tuples` (20,000 by default) were visited, instead of
//! returning only the survivors of the first `hnsw.ef_search` candidates. Relaxed order may
//! return rows slightly out of distance order, so the query re-sorts them. If the scan still
//! returns fewer rows than asked, the same query runs again as an exact scan of the
//! permitted rows (the ACL's GIN index finds them), so a very selective filter never loses
//! hits. `hnsw.ef_search` is 100 by default (pgvector's default is 40): hybrid search asks
//! for 50 candidates, and a candidate list below that loses recall; change it with
//! [`PgVectorStore::set_ef_search`] (and the scan's bound with
//! [`PgVectorStore::set_max_scan_tuples`]). The index uses pgvector's build defaults
//! (m = 16, ef_construction = 64). Until the planner has statistics of a freshly loaded
//! table it may prefer the exact scan to the index, which is correct but slow at scale:
//! [`PgVectorStore::analyze`] after a bulk load.
//!
//! # Writes
//!
//! A dedicated connection holds one transaction from the first change after a commit until
//! [`VectorStore::commit`], so changes become visible and durable together, and searches
//! (on their own connection) see the last commit only. Each `replace_document` runs inside
//! a savepoint: when it fails (a chunk id held by another document, text PostgreSQL cannot
//! store), it is undone alone and the earlier changes stay staged. When the transaction
//! itself is lost (connection closed, `COMMIT` failed), the store answers
//! [`IndexError::Aborted`] to every later write until it is opened again, so a partial
//! batch can never be committed as if whole.
//!
//! [`VectorStore::stamps`] is read once when opening and then follows this store's own
//! changes: one writer per pipeline, as ingestion's leases ensure.
//!
//! # Connections
//!
//! Two connections (writing and searching) through the synchronous `postgres` client,
//! without TLS. Searches take turns on theirs, which is reopened when found closed. Error
//! messages name the server as `user@host:port/database`, never with the password.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use pgvector::Vector;
use postgres::config::Host;
use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, Config, NoTls, Row, Statement};
use serde_json::Value;

use crate::error::IndexError;
use crate::fusion::{Fusion, reciprocal_rank_fusion};
use crate::stores::embedded::vectors::normalized;
use crate::stores::{
    Filter, IndexChunk, Mode, Retriever, SearchHit, SearchRequest, VectorStore, hybrid_depth,
};

/// The table layout this build writes and reads, recorded in `<schema>.meta`.
const LAYOUT_VERSION: &str = "1";

/// The PostgreSQL text search configuration of the keyword search (see the module
/// documentation for why `english`).
pub const TEXT_SEARCH_CONFIG: &str = "english";

/// pgvector indexes `vector` columns of at most 2,000 dimensions with HNSW.
pub const MAX_DIMENSION: usize = 2000;

/// The default `hnsw.ef_search` of the search connection.
pub const DEFAULT_EF_SEARCH: u32 = 100;

/// The oldest pgvector with iterative index scans.
const MIN_PGVECTOR: (u32, u32) = (0, 8);

/// How long a connection attempt may take when the URL does not say
/// (`connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Chunks per `INSERT` (a 384-dimensional batch is about 0.8 MB of vectors).
const INSERT_BATCH: usize = 512;

/// First key of the advisory lock that keeps one writer per schema (the second is the
/// schema's hash).
const WRITER_LOCK: i32 = 0x6265_7274; // "bert"

/// Key of the advisory lock that serializes migrations in one database.
const MIGRATION_LOCK: i64 = 0x6265_7274_685f_7067; // "berth_pg"

/// A chunk store in PostgreSQL with pgvector. See the module documentation.
pub struct PgVectorStore {
    config: Config,
    server: String,
    schema: String,
    dimension: usize,
    /// Only used through `&mut self` (`get_mut`, no locking); the mutex makes the store
    /// `Sync`, which a client alone is not.
    writer: Mutex<Writer>,
    reader: Mutex<Reader>,
    hnsw: HnswSettings,
    stamps: BTreeMap<String, String>,
    fusion: Fusion,
    /// Set when staged changes were lost: writes fail until the store is opened again.
    aborted: Option<String>,
}

impl fmt::Debug for PgVectorStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgVectorStore")
            .field("server", &self.server)
            .field("schema", &self.schema)
            .field("dimension", &self.dimension)
            .field("hnsw", &self.hnsw)
            .field("documents", &self.stamps.len())
            .field("aborted", &self.aborted)
            .finish_non_exhaustive()
    }
}

/// The HNSW settings of the search connection (reapplied when it reconnects).
#[derive(Debug, Clone, Copy)]
struct HnswSettings {
    ef_search: u32,
    /// `None`: pgvector's default.
    max_scan_tuples: Option<u32>,
}

impl Default for HnswSettings {
    fn default() -> Self {
        Self {
            ef_search: DEFAULT_EF_SEARCH,
            max_scan_tuples: None,
        }
    }
}

impl HnswSettings {
    /// The `SET` statements (numbers only, so nothing to quote).
    fn sql(&self) -> String {
        let mut sql = format!("SET hnsw.ef_search = {};", self.ef_search);
        if let Some(n) = self.max_scan_tuples {
            sql.push_str(&format!(" SET hnsw.max_scan_tuples = {n};"));
        }
        sql
    }
}

/// The writing connection and its statements.
struct Writer {
    client: Client,
    /// Whether a transaction with staged changes is open.
    in_transaction: bool,
    /// `$1` document, `$2` stamp: records the stamp and deletes the document's chunks.
    clear: Statement,
    /// Inserts a batch of chunks of one document (see [`insert_sql`]).
    insert: Statement,
    /// `$1` document: deletes its chunks and its stamp.
    delete: Statement,
    /// `$1` chunk ids, `$2` document: the first of those chunks held by another document.
    owner: Statement,
}

/// The searching connection and its statements; `$1` is the query text or vector, `$2` the
/// principal's tokens, `$3` the sources, `$4` the metadata object, `$5` the limit.
struct Reader {
    client: Client,
    bm25: Statement,
    dense: Statement,
    exact: Statement,
}

impl PgVectorStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`,
    /// or the key-value form), creates the tables of schema `name` if they are missing and
    /// opens them for vectors of `dimension` components.
    ///
    /// `name` is the pipeline's schema: lowercase ASCII letters, digits and `_`, starting
    /// with a letter or `_`, at most 63 bytes, not starting with `pg_`. `dimension` is the
    /// pipeline's embedding size, 1 to [`MAX_DIMENSION`]. Errors: [`IndexError::Settings`]
    /// for either, or a URL that does not parse; [`IndexError::Connect`];
    /// [`IndexError::Extension`] when pgvector (0.8 or later) is not installed or may not
    /// be created by this user; [`IndexError::StaleTables`] when the schema holds tables
    /// made for another dimension or layout.
    pub fn open(url: &str, name: &str, dimension: usize) -> Result<Self, IndexError> {
        Self::connect(url, name, dimension, false)
    }

    /// Like [`PgVectorStore::open`], but first drops the schema's three tables (`chunks`,
    /// `stamps`, `meta`; nothing else), so the store starts empty. This is the answer to
    /// [`IndexError::StaleTables`], followed by re-indexing from the system of record.
    pub fn create(url: &str, name: &str, dimension: usize) -> Result<Self, IndexError> {
        Self::connect(url, name, dimension, true)
    }

    fn connect(url: &str, name: &str, dimension: usize, reset: bool) -> Result<Self, IndexError> {
        let schema = check_name(name)?;
        if dimension == 0 || dimension > MAX_DIMENSION {
            return Err(IndexError::Settings {
                setting: "vector dimension",
                reason: format!(
                    "{dimension}; pgvector indexes 1 to {MAX_DIMENSION} dimensions with HNSW"
                ),
            });
        }
        let config = parse_url(url)?;
        let server = describe_server(&config);
        let mut client = connect(&config, &server)?;
        migrate(&mut client, &server, &schema, dimension, reset)?;
        let stamps = load_stamps(&mut client, &schema)?;
        let writer = Writer::prepare(client, &schema)?;
        let hnsw = HnswSettings::default();
        let reader = Reader::connect(&config, &server, &schema, &hnsw)?;
        Ok(Self {
            config,
            server,
            schema,
            dimension,
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            hnsw,
            stamps,
            fusion: Fusion::default(),
            aborted: None,
        })
    }

    /// The server as `user@host:port/database` (without the password).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The schema holding this pipeline's tables.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The vector dimension.
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// Changes how hybrid search weighs and fuses its two lists (default:
    /// [`Fusion::default`], as in the embedded store).
    pub fn set_fusion(&mut self, fusion: Fusion) {
        self.fusion = fusion;
    }

    /// Sets `hnsw.ef_search` (1 to 1,000; default [`DEFAULT_EF_SEARCH`]) for later
    /// searches: larger finds the true nearest neighbours more often, and costs time.
    pub fn set_ef_search(&mut self, ef_search: u32) -> Result<(), IndexError> {
        if !(1..=1000).contains(&ef_search) {
            return Err(IndexError::Settings {
                setting: "hnsw.ef_search",
                reason: format!("{ef_search}; pgvector accepts 1 to 1000"),
            });
        }
        self.hnsw.ef_search = ef_search;
        self.apply_hnsw()
    }

    /// Sets `hnsw.max_scan_tuples` (at least 1; pgvector's default is 20,000): how many
    /// index entries a filtered vector search visits before it stops. A search that stops
    /// short of `k` permitted rows is answered by an exact scan instead, so this bounds the
    /// work of the index scan, never the number of hits.
    pub fn set_max_scan_tuples(&mut self, max_scan_tuples: u32) -> Result<(), IndexError> {
        if max_scan_tuples == 0 || max_scan_tuples > i32::MAX as u32 {
            return Err(IndexError::Settings {
                setting: "hnsw.max_scan_tuples",
                reason: format!("{max_scan_tuples}; pgvector accepts 1 to {}", i32::MAX),
            });
        }
        self.hnsw.max_scan_tuples = Some(max_scan_tuples);
        self.apply_hnsw()
    }

    fn apply_hnsw(&self) -> Result<(), IndexError> {
        let mut reader = self.reader()?;
        reader
            .client
            .batch_execute(&self.hnsw.sql())
            .map_err(|e| postgres_error(&self.schema, "apply the HNSW settings", e))
    }

    /// Refreshes the planner's statistics of the chunks table (`ANALYZE`). Autovacuum does
    /// it on its own, some time after a large load; until then the planner may misjudge
    /// how many rows a filter keeps and choose an exact scan over the HNSW index, which
    /// is correct but slow on a large table. Call it after a bulk load.
    pub fn analyze(&mut self) -> Result<(), IndexError> {
        let sql = format!("ANALYZE {}", table(&self.schema, "chunks"));
        let mut reader = self.reader()?;
        reader
            .client
            .batch_execute(&sql)
            .map_err(|e| postgres_error(&self.schema, "analyze the chunks table", e))
    }

    /// Reads the stamps again from the database, for a store that other processes also
    /// write: [`VectorStore::stamps`] otherwise follows only this store's own writes.
    /// Staged, uncommitted changes are an error ([`IndexError::Settings`]).
    pub fn reload_stamps(&mut self) -> Result<(), IndexError> {
        self.check_usable()?;
        if self.writer().in_transaction {
            return Err(IndexError::Settings {
                setting: "stamps",
                reason: "cannot reload them with uncommitted changes staged".into(),
            });
        }
        let schema = self.schema.clone();
        self.stamps = load_stamps(&mut self.writer().client, &schema)?;
        Ok(())
    }

    /// Takes, without waiting, this schema's writer lock: processes that each bring the
    /// store in step with one system of record take it first, so they do not write the
    /// same documents at once. Returns whether it was taken; held until
    /// [`PgVectorStore::unlock_writes`] or until the store is dropped.
    pub fn try_lock_writes(&mut self) -> Result<bool, IndexError> {
        let schema = self.schema.clone();
        self.writer()
            .client
            .query_one(
                "SELECT pg_try_advisory_lock($1, hashtext($2))",
                &[&WRITER_LOCK, &schema],
            )
            .and_then(|row| row.try_get(0))
            .map_err(|e| postgres_error(&schema, "take the writer lock", e))
    }

    /// Lets go of the writer lock taken by [`PgVectorStore::try_lock_writes`].
    pub fn unlock_writes(&mut self) -> Result<(), IndexError> {
        let schema = self.schema.clone();
        self.writer()
            .client
            .execute(
                "SELECT pg_advisory_unlock($1, hashtext($2))",
                &[&WRITER_LOCK, &schema],
            )
            .map(drop)
            .map_err(|e| postgres_error(&schema, "release the writer lock", e))
    }

    /// Number of committed chunks (a `count(*)`, so it reads the whole table).
    pub fn count_chunks(&self) -> Result<usize, IndexError> {
        let mut reader = self.reader()?;
        let sql = format!("SELECT count(*) FROM {}", table(&self.schema, "chunks"));
        let count: i64 = reader
            .client
            .query_one(&sql, &[])
            .and_then(|row| row.try_get(0))
            .map_err(|e| postgres_error(&self.schema, "count chunks", e))?;
        Ok(usize::try_from(count).unwrap_or(usize::MAX))
    }

    /// The search connection, reopened if it was closed.
    fn reader(&self) -> Result<MutexGuard<'_, Reader>, IndexError> {
        // A panic while holding the lock leaves at worst a connection in an unknown
        // state, which the next query reports as an error; it is safe to go on.
        let mut reader = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        if reader.client.is_closed() {
            *reader = Reader::connect(&self.config, &self.server, &self.schema, &self.hnsw)?;
        }
        Ok(reader)
    }

    fn writer(&mut self) -> &mut Writer {
        // See `reader`: a poisoned lock is safe to use.
        self.writer
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn check_usable(&self) -> Result<(), IndexError> {
        match &self.aborted {
            Some(reason) => Err(self.aborted_error(reason.clone())),
            None => Ok(()),
        }
    }

    fn aborted_error(&self, reason: String) -> IndexError {
        IndexError::Aborted {
            schema: self.schema.clone(),
            reason,
        }
    }

    /// Marks the staged changes as lost (rolling back what may remain) and returns the
    /// error to report.
    fn abort(&mut self, error: IndexError) -> IndexError {
        let reason = error_chain(&error);
        // Best effort: the connection may be gone, and then the server rolls back itself.
        let writer = self.writer();
        let _ = writer.client.batch_execute("ROLLBACK");
        writer.in_transaction = false;
        self.aborted = Some(reason.clone());
        self.aborted_error(reason)
    }

    /// Opens the transaction that stages changes, unless it is open; a failure loses
    /// nothing staged (there is nothing), but the connection state is unknown.
    fn begin(&mut self) -> Result<(), IndexError> {
        let writer = self.writer();
        if writer.in_transaction {
            return Ok(());
        }
        match writer.client.batch_execute("BEGIN") {
            Ok(()) => {
                writer.in_transaction = true;
                Ok(())
            }
            Err(e) => {
                let error = postgres_error(&self.schema, "begin a transaction", e);
                Err(self.abort(error))
            }
        }
    }

    /// Checks a replacement before anything is sent: returns the chunks' unit vectors.
    fn validate(
        &self,
        document_id: &str,
        chunks: &[IndexChunk],
    ) -> Result<Vec<Vector>, IndexError> {
        let mut seen = HashSet::with_capacity(chunks.len());
        let mut vectors = Vec::with_capacity(chunks.len());
        for chunk in chunks {
            if chunk.document_id != document_id {
                return Err(IndexError::WrongDocument {
                    chunk_id: chunk.id.clone(),
                    expected: document_id.to_owned(),
                    found: chunk.document_id.clone(),
                });
            }
            if !seen.insert(chunk.id.as_str()) {
                return Err(IndexError::DuplicateChunk {
                    chunk_id: chunk.id.clone(),
                    document_id: document_id.to_owned(),
                });
            }
            let item = || format!("chunk {}", chunk.id);
            let vector = chunk
                .vector
                .as_deref()
                .ok_or_else(|| IndexError::MissingVector {
                    item: item(),
                    reason: "the index stores a vector for every chunk; embed it first",
                })?;
            vectors.push(Vector::from(normalized(vector, self.dimension, &item())?));
        }
        Ok(vectors)
    }

    /// Which other document holds one of `ids` (inside the open transaction).
    fn owner_elsewhere(&mut self, ids: &[String], document_id: &str) -> Option<(String, String)> {
        let writer = self.writer();
        let rows = writer
            .client
            .query(&writer.owner, &[&ids, &document_id])
            .ok()?;
        let row = rows.first()?;
        Some((row.try_get(0).ok()?, row.try_get(1).ok()?))
    }

    fn query_vector(&self, request: &SearchRequest<'_>) -> Result<Vector, IndexError> {
        match request.vector {
            Some(vector) => Ok(Vector::from(normalized(
                vector,
                self.dimension,
                "the query",
            )?)),
            None => Err(IndexError::MissingVector {
                item: "the query".to_owned(),
                reason: "dense and hybrid searches need the embedded query; embed the query text or use mode bm25",
            }),
        }
    }
}

impl VectorStore for PgVectorStore {
    fn replace_document(
        &mut self,
        document_id: &str,
        stamp: &str,
        chunks: Vec<IndexChunk>,
    ) -> Result<(), IndexError> {
        self.check_usable()?;
        let vectors = self.validate(document_id, &chunks)?;
        let ids: Vec<String> = chunks.iter().map(|c| c.id.clone()).collect();
        self.begin()?;
        let writer = self.writer();
        if let Err(e) = writer.client.batch_execute("SAVEPOINT replace_document") {
            let error = postgres_error(&self.schema, "set a savepoint", e);
            return Err(self.abort(error));
        }
        let step = match write_document(writer, document_id, stamp, chunks, vectors) {
            Ok(()) => writer
                .client
                .batch_execute("RELEASE SAVEPOINT replace_document")
                .map_err(|e| ("release a savepoint", e)),
            Err(e) => {
                if let Err(rollback) = writer
                    .client
                    .batch_execute("ROLLBACK TO SAVEPOINT replace_document")
                {
                    let error = postgres_error(&self.schema, "undo a failed replacement", rollback);
                    return Err(self.abort(error));
                }
                // Undone alone; the earlier staged changes are intact.
                if e.code() == Some(&SqlState::UNIQUE_VIOLATION)
                    && let Some((chunk_id, other)) = self.owner_elsewhere(&ids, document_id)
                {
                    return Err(IndexError::DuplicateChunk {
                        chunk_id,
                        document_id: other,
                    });
                }
                return Err(postgres_error(
                    &self.schema,
                    &format!("replace document {document_id}"),
                    e,
                ));
            }
        };
        if let Err((action, e)) = step {
            let error = postgres_error(&self.schema, action, e);
            return Err(self.abort(error));
        }
        self.stamps.insert(document_id.to_owned(), stamp.to_owned());
        Ok(())
    }

    fn delete_document(&mut self, document_id: &str) -> Result<(), IndexError> {
        self.check_usable()?;
        self.begin()?;
        let writer = self.writer();
        if let Err(e) = writer.client.execute(&writer.delete, &[&document_id]) {
            let error = postgres_error(&self.schema, &format!("delete document {document_id}"), e);
            return Err(self.abort(error));
        }
        self.stamps.remove(document_id);
        Ok(())
    }

    fn commit(&mut self) -> Result<(), IndexError> {
        self.check_usable()?;
        let writer = self.writer();
        if !writer.in_transaction {
            return Ok(());
        }
        if let Err(e) = writer.client.batch_execute("COMMIT") {
            let error = postgres_error(&self.schema, "commit", e);
            return Err(self.abort(error));
        }
        writer.in_transaction = false;
        Ok(())
    }

    fn stamps(&self) -> &BTreeMap<String, String> {
        &self.stamps
    }
}

impl Retriever for PgVectorStore {
    fn search(&self, request: &SearchRequest<'_>) -> Result<Vec<SearchHit>, IndexError> {
        let vector = match request.mode {
            Mode::Bm25 => None,
            Mode::Dense | Mode::Hybrid => Some(self.query_vector(request)?),
        };
        if request.k == 0 {
            return Ok(Vec::new());
        }
        // Two different values required for one key: no chunk can match.
        let Some(metadata) = metadata_filter(request.filter) else {
            return Ok(Vec::new());
        };
        let tokens = request.principal.tokens();
        let sources = &request.filter.sources;
        let failed = |e| postgres_error(&self.schema, "search", e);
        let mut reader = self.reader()?;
        let k = request.k;
        match (request.mode, vector) {
            (Mode::Dense, Some(vector)) => {
                let mut hits = reader
                    .dense(&vector, &tokens, sources, &metadata, k)
                    .map_err(failed)?;
                for (i, hit) in hits.iter_mut().enumerate() {
                    hit.dense_rank = Some(i + 1);
                }
                Ok(hits)
            }
            (Mode::Hybrid, Some(vector)) => {
                let depth = hybrid_depth(k);
                let bm25 = reader
                    .bm25(request.text, &tokens, sources, &metadata, depth)
                    .map_err(failed)?;
                let dense = reader
                    .dense(&vector, &tokens, sources, &metadata, depth)
                    .map_err(failed)?;
                drop(reader);
                Ok(fuse(bm25, dense, self.fusion, k))
            }
            _ => {
                let mut hits = reader
                    .bm25(request.text, &tokens, sources, &metadata, k)
                    .map_err(failed)?;
                for (i, hit) in hits.iter_mut().enumerate() {
                    hit.bm25_rank = Some(i + 1);
                }
                Ok(hits)
            }
        }
    }
}

/// Fuses the two lists (each best first) with [`reciprocal_rank_fusion`], exactly as the
/// embedded store does: ties go to the smaller chunk id.
fn fuse(bm25: Vec<SearchHit>, dense: Vec<SearchHit>, fusion: Fusion, k: usize) -> Vec<SearchHit> {
    let bm25_ids: Vec<&str> = bm25.iter().map(|h| h.chunk_id.as_str()).collect();
    let dense_ids: Vec<&str> = dense.iter().map(|h| h.chunk_id.as_str()).collect();
    let fused = reciprocal_rank_fusion(
        &[
            (&bm25_ids, fusion.keyword_weight),
            (&dense_ids, fusion.vector_weight),
        ],
        fusion.k,
        k,
    );
    let by_id: HashMap<&str, &SearchHit> = bm25
        .iter()
        .chain(&dense)
        .map(|h| (h.chunk_id.as_str(), h))
        .collect();
    fused
        .into_iter()
        .filter_map(|f| {
            // Every fused item comes from one of the two lists.
            let hit = by_id.get(f.item)?;
            Some(SearchHit {
                score: f.score as f32,
                bm25_rank: f.ranks[0],
                dense_rank: f.ranks[1],
                ..(*hit).clone()
            })
        })
        .collect()
}

impl Reader {
    fn connect(
        config: &Config,
        server: &str,
        schema: &str,
        hnsw: &HnswSettings,
    ) -> Result<Self, IndexError> {
        let mut client = connect(config, server)?;
        let failed = |e| postgres_error(schema, "prepare the search connection", e);
        // Session settings of this connection only. Custom plans: the filters' shapes
        // (empty or not) decide the best plan, so a generic plan would serve some badly.
        client
            .batch_execute(&format!(
                "{} SET hnsw.iterative_scan = relaxed_order; \
                 SET plan_cache_mode = force_custom_plan;",
                hnsw.sql()
            ))
            .map_err(failed)?;
        let bm25 = client.prepare(&bm25_sql(schema)).map_err(failed)?;
        let dense = client.prepare(&dense_sql(schema, false)).map_err(failed)?;
        let exact = client.prepare(&dense_sql(schema, true)).map_err(failed)?;
        Ok(Self {
            client,
            bm25,
            dense,
            exact,
        })
    }

    fn bm25(
        &mut self,
        text: &str,
        tokens: &[String],
        sources: &[String],
        metadata: &Value,
        limit: usize,
    ) -> Result<Vec<SearchHit>, postgres::Error> {
        let limit = sql_limit(limit);
        let rows = self
            .client
            .query(&self.bm25, &[&text, &tokens, &sources, metadata, &limit])?;
        rows.iter().map(hit).collect()
    }

    /// The dense list: the HNSW scan, then, if it found fewer than `limit` rows, the exact
    /// scan of the permitted rows (which never finds fewer).
    fn dense(
        &mut self,
        vector: &Vector,
        tokens: &[String],
        sources: &[String],
        metadata: &Value,
        limit: usize,
    ) -> Result<Vec<SearchHit>, postgres::Error> {
        let limit = sql_limit(limit);
        let params: [&(dyn ToSql + Sync); 5] = [vector, &tokens, &sources, metadata, &limit];
        let mut rows = self.client.query(&self.dense, &params)?;
        if (rows.len() as i64) < limit {
            let exact = self.client.query(&self.exact, &params)?;
            if exact.len() > rows.len() {
                rows = exact;
            }
        }
        rows.iter().map(hit).collect()
    }
}

impl Writer {
    fn prepare(mut client: Client, schema: &str) -> Result<Self, IndexError> {
        let chunks = table(schema, "chunks");
        let stamps = table(schema, "stamps");
        let failed = |e| postgres_error(schema, "prepare the writing connection", e);
        let clear = client
            .prepare(&format!(
                "WITH stamp AS (INSERT INTO {stamps} (document_id, stamp) VALUES ($1, $2) \
                 ON CONFLICT (document_id) DO UPDATE SET stamp = EXCLUDED.stamp) \
                 DELETE FROM {chunks} WHERE document_id = $1"
            ))
            .map_err(failed)?;
        let insert = client.prepare(&insert_sql(schema)).map_err(failed)?;
        let delete = client
            .prepare(&format!(
                "WITH stamp AS (DELETE FROM {stamps} WHERE document_id = $1) \
                 DELETE FROM {chunks} WHERE document_id = $1"
            ))
            .map_err(failed)?;
        let owner = client
            .prepare(&format!(
                "SELECT id, document_id FROM {chunks} \
                 WHERE id = ANY($1::text[]) AND document_id <> $2 ORDER BY id LIMIT 1"
            ))
            .map_err(failed)?;
        Ok(Self {
            client,
            in_transaction: false,
            clear,
            insert,
            delete,
            owner,
        })
    }
}

/// Records the stamp, removes the document's chunks and inserts the new ones, in batches.
fn write_document(
    writer: &mut Writer,
    document_id: &str,
    stamp: &str,
    chunks: Vec<IndexChunk>,
    vectors: Vec<Vector>,
) -> Result<(), postgres::Error> {
    writer
        .client
        .execute(&writer.clear, &[&document_id, &stamp])?;
    let mut chunks = chunks.into_iter().zip(vectors).peekable();
    while chunks.peek().is_some() {
        let mut batch = InsertBatch::default();
        for (chunk, vector) in chunks.by_ref().take(INSERT_BATCH) {
            batch.push(chunk, vector);
        }
        writer.client.execute(
            &writer.insert,
            &[
                &batch.ids,
                &document_id,
                &batch.sources,
                &batch.ordinals,
                &batch.texts,
                &batch.heading_paths,
                &batch.page_starts,
                &batch.page_ends,
                &batch.acls,
                &batch.metadata,
                &batch.vectors,
            ],
        )?;
    }
    Ok(())
}

/// The columns of one `INSERT … SELECT FROM unnest(…)`. Nested arrays (heading path,
/// access tokens) travel as JSON arrays, since PostgreSQL arrays cannot be ragged.
#[derive(Default)]
struct InsertBatch {
    ids: Vec<String>,
    sources: Vec<String>,
    ordinals: Vec<i64>,
    texts: Vec<String>,
    heading_paths: Vec<Value>,
    page_starts: Vec<Option<i64>>,
    page_ends: Vec<Option<i64>>,
    acls: Vec<Value>,
    metadata: Vec<Value>,
    vectors: Vec<Vector>,
}

impl InsertBatch {
    fn push(&mut self, chunk: IndexChunk, vector: Vector) {
        self.acls.push(Value::from(chunk.acl.tokens()));
        self.ids.push(chunk.id);
        self.sources.push(chunk.source);
        self.ordinals.push(i64::from(chunk.ordinal));
        self.texts.push(chunk.text);
        self.heading_paths.push(Value::from(chunk.heading_path));
        self.page_starts.push(chunk.page_start.map(i64::from));
        self.page_ends.push(chunk.page_end.map(i64::from));
        self.metadata.push(Value::Object(
            chunk
                .metadata
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        ));
        self.vectors.push(vector);
    }
}

/// A search row as a hit (ranks are set by the caller).
fn hit(row: &Row) -> Result<SearchHit, postgres::Error> {
    // Ordinals and pages are stored from `u32` and constrained to its range by the table.
    let to_u32 = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
    Ok(SearchHit {
        chunk_id: row.try_get("id")?,
        document_id: row.try_get("document_id")?,
        source: row.try_get("source")?,
        ordinal: to_u32(row.try_get("ordinal")?),
        score: row.try_get("score")?,
        bm25_rank: None,
        dense_rank: None,
        text: row.try_get("text")?,
        heading_path: row.try_get("heading_path")?,
        page_start: row.try_get::<_, Option<i64>>("page_start")?.map(to_u32),
        page_end: row.try_get::<_, Option<i64>>("page_end")?.map(to_u32),
    })
}

/// The metadata filter as one JSON object for `metadata @> $4`, or `None` when it asks for
/// two different values of one key (which no chunk has).
fn metadata_filter(filter: &Filter) -> Option<Value> {
    let mut object = serde_json::Map::new();
    for (key, value) in &filter.metadata {
        match object.get(key) {
            Some(Value::String(existing)) if existing != value => return None,
            Some(_) => {}
            None => {
                object.insert(key.clone(), Value::String(value.clone()));
            }
        }
    }
    Some(Value::Object(object))
}

/// A `LIMIT` for PostgreSQL (`bigint`); more rows than that never exist.
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// `"schema"."name"`; the schema is a checked identifier, so quoting cannot be escaped.
fn table(schema: &str, name: &str) -> String {
    format!("\"{schema}\".\"{name}\"")
}

/// The `WHERE` clause both searches share: permissions, sources, metadata.
const FILTER_SQL: &str = "acl && $2::text[] \
     AND (cardinality($3::text[]) = 0 OR source = ANY($3::text[])) \
     AND metadata @> $4::jsonb";

/// The hit columns every search returns, `score` aside.
const HIT_COLUMNS: &str =
    "id, document_id, source, ordinal, text, heading_path, page_start, page_end";

/// Keyword search. The query's lexemes (after the same text search configuration as the
/// column) are quoted and joined with `|`, so any shared term matches; an empty query
/// makes a NULL `tsquery`, which matches nothing.
fn bm25_sql(schema: &str) -> String {
    let chunks = table(schema, "chunks");
    format!(
        r"WITH q AS MATERIALIZED (
            SELECT (SELECT string_agg(
                        '''' || replace(replace(lexeme, E'\\', E'\\\\'), '''', '''''') || '''',
                        ' | ')
                    FROM unnest(to_tsvector('{TEXT_SEARCH_CONFIG}', $1::text)))::tsquery AS query)
        SELECT {HIT_COLUMNS}, ts_rank_cd(tsv, (SELECT query FROM q), 1)::real AS score
        FROM {chunks}
        WHERE tsv @@ (SELECT query FROM q) AND {FILTER_SQL}
        ORDER BY score DESC, id
        LIMIT $5"
    )
}

/// Vector search. With `exact`, the ordering expression is one the HNSW index cannot
/// serve, so PostgreSQL scans the permitted rows and sorts them: the fallback when the
/// index scan stops before `LIMIT` rows passed the filter.
fn dense_sql(schema: &str, exact: bool) -> String {
    let chunks = table(schema, "chunks");
    let order = if exact {
        "(embedding <=> $1::vector) + 0"
    } else {
        "distance"
    };
    format!(
        "WITH hits AS MATERIALIZED (
            SELECT {HIT_COLUMNS}, embedding <=> $1::vector AS distance
            FROM {chunks}
            WHERE {FILTER_SQL}
            ORDER BY {order}
            LIMIT $5)
        SELECT {HIT_COLUMNS}, (1 - distance)::real AS score
        FROM hits
        ORDER BY score DESC, id"
    )
}

/// Inserts one batch: `$2` is the document, the other parameters are parallel arrays.
fn insert_sql(schema: &str) -> String {
    let chunks = table(schema, "chunks");
    format!(
        "INSERT INTO {chunks} (id, document_id, source, ordinal, text, heading_path, \
             page_start, page_end, acl, metadata, embedding)
         SELECT c.id, $2, c.source, c.ordinal, c.text,
                ARRAY(SELECT jsonb_array_elements_text(c.heading_path)),
                c.page_start, c.page_end,
                ARRAY(SELECT jsonb_array_elements_text(c.acl)),
                c.metadata, c.embedding
         FROM unnest($1::text[], $3::text[], $4::bigint[], $5::text[], $6::jsonb[],
                     $7::bigint[], $8::bigint[], $9::jsonb[], $10::jsonb[], $11::vector[])
              AS c(id, source, ordinal, text, heading_path, page_start, page_end, acl,
                   metadata, embedding)"
    )
}

/// Creates what is missing and checks what exists, in one transaction under an advisory
/// lock (two processes opening a fresh database at once would otherwise race).
fn migrate(
    client: &mut Client,
    server: &str,
    schema: &str,
    dimension: usize,
    reset: bool,
) -> Result<(), IndexError> {
    let failed = |action: &str| {
        let action = action.to_owned();
        move |e| postgres_error(schema, &action, e)
    };
    let mut tx = client
        .transaction()
        .map_err(failed("begin the migration"))?;
    // A table held by another migration or a dropping `create` is an error after a while,
    // not an endless wait.
    tx.batch_execute("SET LOCAL lock_timeout = '30s'")
        .map_err(failed("set the lock timeout"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(failed("take the migration lock"))?;
    ensure_extension(&mut tx, server, schema)?;
    let chunks = table(schema, "chunks");
    let stamps = table(schema, "stamps");
    let meta = table(schema, "meta");
    if reset {
        tx.batch_execute(&format!("DROP TABLE IF EXISTS {chunks}, {stamps}, {meta}"))
            .map_err(failed("drop the old tables"))?;
    }
    let has_meta: bool = tx
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&meta])
        .and_then(|row| row.try_get(0))
        .map_err(failed("look for the tables"))?;
    if !has_meta {
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS \"{schema}\";
             CREATE TABLE IF NOT EXISTS {meta} (key text PRIMARY KEY, value text NOT NULL);"
        ))
        .map_err(failed("create the schema"))?;
    }
    let expected = [
        ("layout_version", LAYOUT_VERSION.to_owned()),
        ("dimension", dimension.to_string()),
        ("text_search_config", TEXT_SEARCH_CONFIG.to_owned()),
    ];
    for (key, value) in &expected {
        tx.execute(
            &format!(
                "INSERT INTO {meta} (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING"
            ),
            &[key, value],
        )
        .map_err(failed("record the table layout"))?;
    }
    let found: BTreeMap<String, String> = tx
        .query(&format!("SELECT key, value FROM {meta}"), &[])
        .map_err(failed("read the table layout"))?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<_, postgres::Error>>()
        .map_err(failed("read the table layout"))?;
    let stale = |reason: String| IndexError::StaleTables {
        schema: schema.to_owned(),
        reason,
    };
    for (key, value) in &expected {
        let theirs = found.get(*key).map(String::as_str).unwrap_or("nothing");
        if theirs != value {
            return Err(stale(match *key {
                "dimension" => format!(
                    "they store vectors of dimension {theirs}, the pipeline now has dimension {value}"
                ),
                "layout_version" => {
                    format!("they have table layout {theirs}, this build reads layout {value}")
                }
                _ => format!(
                    "their keyword index uses text search configuration {theirs}, this build uses {value}"
                ),
            }));
        }
    }
    // DDL only for what is missing: `CREATE INDEX IF NOT EXISTS` locks the table even when
    // the index exists, and would wait for a writer's open transaction.
    let relations = [
        "chunks",
        "chunks_document_id",
        "chunks_embedding",
        "chunks_tsv",
        "chunks_acl",
        "chunks_metadata",
        "stamps",
    ];
    let mut missing = false;
    for relation in relations {
        let exists: bool = tx
            .query_one(
                "SELECT to_regclass($1) IS NOT NULL",
                &[&table(schema, relation)],
            )
            .and_then(|row| row.try_get(0))
            .map_err(failed("look for the tables"))?;
        missing |= !exists;
    }
    if missing {
        tx.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {chunks} (
                id text PRIMARY KEY,
                document_id text NOT NULL,
                source text NOT NULL,
                ordinal bigint NOT NULL CHECK (ordinal BETWEEN 0 AND 4294967295),
                text text NOT NULL,
                heading_path text[] NOT NULL,
                page_start bigint CHECK (page_start BETWEEN 0 AND 4294967295),
                page_end bigint CHECK (page_end BETWEEN 0 AND 4294967295),
                acl text[] NOT NULL,
                metadata jsonb NOT NULL,
                embedding vector({dimension}) NOT NULL,
                tsv tsvector GENERATED ALWAYS AS (to_tsvector('{TEXT_SEARCH_CONFIG}', text)) STORED
             );
             CREATE INDEX IF NOT EXISTS chunks_document_id ON {chunks} (document_id);
             CREATE INDEX IF NOT EXISTS chunks_embedding ON {chunks}
                 USING hnsw (embedding vector_cosine_ops);
             CREATE INDEX IF NOT EXISTS chunks_tsv ON {chunks} USING gin (tsv);
             CREATE INDEX IF NOT EXISTS chunks_acl ON {chunks} USING gin (acl);
             CREATE INDEX IF NOT EXISTS chunks_metadata ON {chunks}
                 USING gin (metadata jsonb_path_ops);
             CREATE TABLE IF NOT EXISTS {stamps} (
                document_id text PRIMARY KEY,
                stamp text NOT NULL
             );"
        ))
        .map_err(failed("create the tables"))?;
    }
    // The column itself, in case the table outlived its `meta` rows.
    let typmod: i32 = tx
        .query_one(
            "SELECT atttypmod FROM pg_attribute \
             WHERE attrelid = $1::text::regclass AND attname = 'embedding'",
            &[&chunks],
        )
        .and_then(|row| row.try_get(0))
        .map_err(failed("check the vector column"))?;
    if usize::try_from(typmod).ok() != Some(dimension) {
        return Err(stale(format!(
            "their embedding column is vector({typmod}), the pipeline now has dimension {dimension}"
        )));
    }
    tx.commit().map_err(failed("commit the migration"))
}

/// Creates pgvector in the database if it is missing, and checks its version.
fn ensure_extension(
    tx: &mut postgres::Transaction<'_>,
    server: &str,
    schema: &str,
) -> Result<(), IndexError> {
    let failed = |e| postgres_error(schema, "check the pgvector extension", e);
    let installed = |tx: &mut postgres::Transaction<'_>| {
        tx.query_opt(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'",
            &[],
        )
        .and_then(|row| row.map(|row| row.try_get::<_, String>(0)).transpose())
    };
    let version = match installed(tx).map_err(failed)? {
        Some(version) => version,
        None => {
            if let Err(e) = tx.batch_execute("CREATE EXTENSION IF NOT EXISTS vector") {
                let Some(db) = e.as_db_error() else {
                    return Err(failed(e));
                };
                return Err(IndexError::Extension {
                    server: server.to_owned(),
                    reason: format!(
                        "`CREATE EXTENSION vector` failed: {} (install pgvector on the server, \
                         or have a superuser run `CREATE EXTENSION vector` in the database)",
                        db.message()
                    ),
                });
            }
            installed(tx).map_err(failed)?.unwrap_or_default()
        }
    };
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if (major, minor) < MIN_PGVECTOR {
        return Err(IndexError::Extension {
            server: server.to_owned(),
            reason: format!(
                "version {version} is installed; iterative index scans need {}.{} or later \
                 (`ALTER EXTENSION vector UPDATE` after upgrading the package)",
                MIN_PGVECTOR.0, MIN_PGVECTOR.1
            ),
        });
    }
    Ok(())
}

fn load_stamps(client: &mut Client, schema: &str) -> Result<BTreeMap<String, String>, IndexError> {
    let failed = |e| postgres_error(schema, "read the stamps", e);
    client
        .query(
            &format!("SELECT document_id, stamp FROM {}", table(schema, "stamps")),
            &[],
        )
        .map_err(failed)?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<_, postgres::Error>>()
        .map_err(failed)
}

/// Checks a schema name: a plain lowercase identifier PostgreSQL accepts unquoted.
fn check_name(name: &str) -> Result<String, IndexError> {
    let invalid = |why: &str| IndexError::Settings {
        setting: "table name",
        reason: format!(
            "`{name}` {why}; use lowercase ASCII letters, digits and `_`, starting with a \
             letter or `_`, at most 63 bytes, not starting with `pg_`"
        ),
    };
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    if !first_ok {
        return Err(invalid("does not start with a lowercase letter or `_`"));
    }
    if name.len() > 63 {
        return Err(invalid("is longer than 63 bytes"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(invalid("contains other characters"));
    }
    if name.starts_with("pg_") {
        return Err(invalid("starts with `pg_`, which PostgreSQL reserves"));
    }
    Ok(name.to_owned())
}

/// Parses a connection URL; the error never repeats the URL (it may hold a password).
fn parse_url(url: &str) -> Result<Config, IndexError> {
    let mut config = Config::from_str(url).map_err(|e| IndexError::Settings {
        setting: "connection URL",
        // The client's parse errors name the option, not its value.
        reason: format!("{e}; expected postgres://user:password@host:port/database"),
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    Ok(config)
}

/// `user@host:port/database`, from the parsed settings, so the password cannot appear.
fn describe_server(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = config
                .get_ports()
                .get(i)
                .or_else(|| config.get_ports().first())
                .copied()
                .unwrap_or(5432);
            match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                #[cfg(unix)]
                Host::Unix(path) => format!("{}:{port}", path.display()),
            }
        })
        .collect();
    let hosts = if hosts.is_empty() {
        "(no host)".to_owned()
    } else {
        hosts.join(",")
    };
    let user = config.get_user().unwrap_or("(default user)");
    let database = config.get_dbname().unwrap_or(user);
    format!("{user}@{hosts}/{database}")
}

fn connect(config: &Config, server: &str) -> Result<Client, IndexError> {
    config.connect(NoTls).map_err(|source| IndexError::Connect {
        server: server.to_owned(),
        source,
    })
}

fn postgres_error(schema: &str, action: &str, source: postgres::Error) -> IndexError {
    IndexError::Postgres {
        schema: schema.to_owned(),
        action: action.to_owned(),
        source,
    }
}

/// An error and its causes on one line.
fn error_chain(error: &IndexError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_plain_identifiers() {
        assert_eq!(check_name("rag_docs_2").unwrap(), "rag_docs_2");
        assert_eq!(check_name("_x").unwrap(), "_x");
        for bad in ["", "Rag", "2rag", "rag-docs", "rag\"; drop", "pg_rag", "ré"] {
            assert!(
                matches!(check_name(bad), Err(IndexError::Settings { .. })),
                "{bad:?}"
            );
        }
        assert!(check_name(&"a".repeat(64)).is_err());
        assert!(check_name(&"a".repeat(63)).is_ok());
    }

    #[test]
    fn server_description_never_holds_the_password() {
        let config = parse_url("postgres://ann:s3cr3t@db.example:6543/rag").unwrap();
        assert_eq!(describe_server(&config), "ann@db.example:6543/rag");
        let config = parse_url("host=db user=bob password=s3cr3t").unwrap();
        assert_eq!(describe_server(&config), "bob@db:5432/bob");
        for bad in [
            "postgres://ann:s3cr3t@db:notaport/rag",
            "postgres://ann:s3cr3t@db/rag?sslmode=s3cr3t",
            "host=db password=s3cr3t bogus=s3cr3t",
        ] {
            let err = parse_url(bad).unwrap_err();
            let text = error_chain(&err);
            assert!(!text.contains("s3cr3t"), "{text}");
            assert!(text.starts_with("invalid connection URL"), "{text}");
        }
    }

    #[test]
    fn metadata_filter_is_one_object_or_contradictory() {
        let filter = |pairs: &[(&str, &str)]| Filter {
            sources: vec![],
            metadata: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        assert_eq!(metadata_filter(&filter(&[])), Some(serde_json::json!({})));
        assert_eq!(
            metadata_filter(&filter(&[("lang", "en"), ("team", "x"), ("lang", "en")])),
            Some(serde_json::json!({"lang": "en", "team": "x"}))
        );
        assert_eq!(
            metadata_filter(&filter(&[("lang", "en"), ("lang", "de")])),
            None
        );
    }

    #[test]
    fn sql_limits_saturate() {
        assert_eq!(sql_limit(10), 10);
        assert_eq!(sql_limit(usize::MAX), i64::MAX);
    }
}
