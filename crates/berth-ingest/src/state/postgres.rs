//! The PostgreSQL state store: the same documents, chunks and runs as the SQLite store,
//! shared by any number of workers on any number of machines.
//!
//! Workers split a run's documents by **leases**: before processing a document a worker
//! claims it (`leases` row: owner, expiry); a heartbeat thread on its own connection
//! renews the worker's leases and its runs every third of the lease time; a commit
//! writes the document's chunks and drops its lease in one transaction. A worker that
//! dies stops renewing: its leases expire and the next claim takes them over, and its
//! running runs are marked interrupted. Writes are upserts by deterministic chunk id, so
//! a document committed twice (a slow worker whose lease was taken over) ends the same
//! as once: the exactly-once effect of the ingestion holds across workers.

use super::{
    ChunkRecord, ChunkView, Claim, CommitStats, Conversations, DocStatus, DocumentCounts,
    DocumentRow, IngestState, Known, Outcome, ReadState, Result, RunCounts, RunRow, StateError,
    Turn, now_ms,
};
use ::postgres::{Client, NoTls};
use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc;
use std::time::Duration;

/// The schema, as ordered migrations (each runs once, under an advisory lock so that
/// workers starting together do not race).
const MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE pipelines (
        name        TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        updated_ms  BIGINT NOT NULL
    );
    CREATE TABLE documents (
        pipeline     TEXT NOT NULL,
        id           TEXT NOT NULL,
        source       TEXT NOT NULL,
        path         TEXT NOT NULL,
        revision     TEXT,
        content_hash TEXT,
        version      BIGINT NOT NULL DEFAULT 0,
        fingerprint  TEXT,
        acl_users    TEXT NOT NULL DEFAULT '[]',
        acl_groups   TEXT NOT NULL DEFAULT '[]',
        status       TEXT NOT NULL,
        error_kind   TEXT,
        last_error   TEXT,
        title        TEXT,
        pages        BIGINT,
        chunks       BIGINT NOT NULL DEFAULT 0,
        updated_ms   BIGINT NOT NULL,
        PRIMARY KEY (pipeline, id)
    );
    CREATE INDEX documents_status ON documents (pipeline, status);
    CREATE TABLE chunks (
        id           TEXT PRIMARY KEY,
        pipeline     TEXT NOT NULL,
        document_id  TEXT NOT NULL,
        ordinal      BIGINT NOT NULL,
        text         TEXT NOT NULL,
        context      TEXT,
        heading_path TEXT NOT NULL DEFAULT '[]',
        page_start   BIGINT,
        page_end     BIGINT,
        byte_start   BIGINT NOT NULL,
        byte_end     BIGINT NOT NULL,
        acl_users    TEXT NOT NULL DEFAULT '[]',
        acl_groups   TEXT NOT NULL DEFAULT '[]',
        embedding    BYTEA,
        FOREIGN KEY (pipeline, document_id) REFERENCES documents (pipeline, id) ON DELETE CASCADE
    );
    CREATE INDEX chunks_document ON chunks (pipeline, document_id);
    CREATE TABLE runs (
        id             BIGSERIAL PRIMARY KEY,
        pipeline       TEXT NOT NULL,
        status         TEXT NOT NULL,
        worker         TEXT NOT NULL,
        heartbeat_ms   BIGINT NOT NULL,
        started_ms     BIGINT NOT NULL,
        finished_ms    BIGINT,
        seen           BIGINT NOT NULL DEFAULT 0,
        added          BIGINT NOT NULL DEFAULT 0,
        changed        BIGINT NOT NULL DEFAULT 0,
        unchanged      BIGINT NOT NULL DEFAULT 0,
        deleted        BIGINT NOT NULL DEFAULT 0,
        failed         BIGINT NOT NULL DEFAULT 0,
        chunks_written BIGINT NOT NULL DEFAULT 0,
        chunks_deleted BIGINT NOT NULL DEFAULT 0,
        error          TEXT
    );
    CREATE INDEX runs_running ON runs (status, heartbeat_ms);
    CREATE TABLE leases (
        pipeline    TEXT NOT NULL,
        document_id TEXT NOT NULL,
        owner       TEXT NOT NULL,
        expires_ms  BIGINT NOT NULL,
        PRIMARY KEY (pipeline, document_id)
    );
    CREATE INDEX leases_owner ON leases (owner);
"#,
    r#"
    -- Bumped inside every transaction that changes what an index derives from, so a
    -- reader that saw the same sum has nothing new to read.
    CREATE TABLE changes (
        pipeline TEXT PRIMARY KEY,
        n        BIGINT NOT NULL
    );
"#,
    r#"
    -- Conversation history of the gateway's apps, shared by every gateway replica.
    CREATE TABLE conversation_turns (
        app        TEXT NOT NULL,
        "user"     TEXT NOT NULL,
        session    TEXT NOT NULL,
        seq        BIGINT NOT NULL,
        role       TEXT NOT NULL,
        content    TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        PRIMARY KEY (app, "user", session, seq)
    );
"#,
    r#"
    -- The gateway's API keys (only a hash of each key) and their usage per model and UTC
    -- day, shared by every gateway replica; the same columns as the SQLite store's.
    CREATE TABLE api_keys (
        id         BIGSERIAL PRIMARY KEY,
        name       TEXT,
        hash       TEXT NOT NULL UNIQUE,
        "user"     TEXT NOT NULL,
        groups     TEXT NOT NULL DEFAULT '[]',
        models     TEXT NOT NULL DEFAULT '[]',
        rpm        BIGINT,
        tpm        BIGINT,
        created_ms BIGINT NOT NULL,
        revoked_ms BIGINT
    );
    CREATE TABLE usage (
        key_id            BIGINT NOT NULL,
        model             TEXT NOT NULL,
        day               TEXT NOT NULL,
        requests          BIGINT NOT NULL DEFAULT 0,
        prompt_tokens     BIGINT NOT NULL DEFAULT 0,
        completion_tokens BIGINT NOT NULL DEFAULT 0,
        errors            BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (key_id, model, day)
    );
"#,
];

/// Counts a change of `pipeline`'s indexed content; runs inside the writing transaction.
const BUMP_CHANGES: &str = "INSERT INTO changes (pipeline, n) VALUES ($1, 1)
     ON CONFLICT (pipeline) DO UPDATE SET n = changes.n + 1";

/// How a worker uses a shared store.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// The PostgreSQL schema holding berth's tables (created if missing).
    pub schema: String,
    /// How long a lease lasts without renewal; the heartbeat renews every third of it.
    pub lease: Duration,
    /// This worker's name in leases and runs (default: host, process id and start time).
    pub worker: String,
}

impl Default for PgOptions {
    fn default() -> Self {
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "host".into());
        PgOptions {
            schema: "berth".into(),
            lease: Duration::from_secs(15),
            worker: format!("{host}-{}-{:x}", std::process::id(), now_ms()),
        }
    }
}

/// Drops `value` on a thread of its own. PostgreSQL's synchronous client closes by
/// blocking on a runtime of its own, which panics on a thread that drives another async
/// runtime (a gateway may drop the last reference to a store there): whatever holds such
/// clients is closed this way.
pub fn drop_off_runtime<T: Send + 'static>(value: T) {
    let _ = std::thread::Builder::new()
        .name("berth-close".into())
        .spawn(move || drop(value));
}

/// A connection URL with its password hidden, for messages.
pub use berth_stack::text::redact_url as redact;

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The PostgreSQL state store of one worker.
pub struct PgStateStore {
    client: Client,
    shown: String,
    options: PgOptions,
    /// Dropping it stops the heartbeat thread (readers have none).
    _heartbeat: Option<mpsc::Sender<()>>,
}

impl std::fmt::Debug for PgStateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStateStore")
            .field("url", &self.shown)
            .field("schema", &self.options.schema)
            .field("worker", &self.options.worker)
            .finish()
    }
}

fn open_client(url: &str, schema: &str, shown: &str) -> Result<Client> {
    let mut client = Client::connect(url, NoTls).map_err(|e| pg_error(shown, e))?;
    client
        .batch_execute(&format!("SET search_path TO {}", quote_ident(schema)))
        .map_err(|e| pg_error(shown, e))?;
    Ok(client)
}

fn pg_error(shown: &str, source: ::postgres::Error) -> StateError {
    StateError::Postgres {
        url: shown.to_owned(),
        source,
    }
}

impl PgStateStore {
    /// Connects to `url`, creates the schema and brings it up to date, and starts the
    /// heartbeat that keeps this worker's leases and runs alive.
    pub fn connect(url: &str, options: PgOptions) -> Result<PgStateStore> {
        let mut store = Self::connect_reader(url, options)?;
        let shown = store.shown.clone();
        let options = &store.options;
        let (stop, stopped) = mpsc::channel::<()>();
        let mut beat = open_client(url, &options.schema, &shown)?;
        let worker = options.worker.clone();
        let lease = options.lease;
        std::thread::Builder::new()
            .name("state-heartbeat".into())
            .spawn(move || {
                // Ends when the store is dropped (the sender goes away).
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(lease / 3)
                {
                    let now = now_ms();
                    let until = now + lease.as_millis() as i64;
                    let _ = beat.execute(
                        "UPDATE leases SET expires_ms = $2 WHERE owner = $1",
                        &[&worker, &until],
                    );
                    let _ = beat.execute(
                        "UPDATE runs SET heartbeat_ms = $2 WHERE worker = $1 AND status = 'running'",
                        &[&worker, &now],
                    );
                }
            })
            .map_err(StateError::Heartbeat)?;
        store._heartbeat = Some(stop);
        Ok(store)
    }

    /// Connects to `url` for reading (search, the apps, listings): the schema is created
    /// and brought up to date as by [`PgStateStore::connect`], but no heartbeat runs, so
    /// the connection must not be used to ingest.
    pub fn connect_reader(url: &str, options: PgOptions) -> Result<PgStateStore> {
        let shown = redact(url);
        let mut client = Client::connect(url, NoTls).map_err(|e| pg_error(&shown, e))?;
        let schema = quote_ident(&options.schema);
        {
            let mut tx = client.transaction().map_err(|e| pg_error(&shown, e))?;
            // One migrator at a time, whatever the schema.
            tx.execute("SELECT pg_advisory_xact_lock(7306179)", &[])
                .map_err(|e| pg_error(&shown, e))?;
            tx.batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {schema};
                 SET LOCAL search_path TO {schema};
                 CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            ))
            .map_err(|e| pg_error(&shown, e))?;
            let current: i64 = tx
                .query_opt("SELECT value FROM meta WHERE key = 'schema_version'", &[])
                .map_err(|e| pg_error(&shown, e))?
                .map(|r| r.get::<_, String>(0).parse().unwrap_or(0))
                .unwrap_or(0);
            let known = MIGRATIONS.len() as i64;
            if current > known {
                return Err(StateError::TooNew {
                    path: shown.clone().into(),
                    found: current,
                    known,
                });
            }
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
                tx.batch_execute(sql).map_err(|e| pg_error(&shown, e))?;
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', $1)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    &[&(i as i64 + 1).to_string()],
                )
                .map_err(|e| pg_error(&shown, e))?;
            }
            tx.commit().map_err(|e| pg_error(&shown, e))?;
        }
        client
            .batch_execute(&format!("SET search_path TO {schema}"))
            .map_err(|e| pg_error(&shown, e))?;

        Ok(PgStateStore {
            client,
            shown,
            options,
            _heartbeat: None,
        })
    }

    /// This worker's name.
    pub fn worker(&self) -> &str {
        &self.options.worker
    }

    fn err(&self, e: ::postgres::Error) -> StateError {
        pg_error(&self.shown, e)
    }

    /// Every document of a pipeline, by id.
    pub fn documents(&mut self, pipeline: &str) -> Result<BTreeMap<String, DocumentRow>> {
        let rows = self
            .client
            .query(
                &format!("SELECT {DOC_COLUMNS} FROM documents WHERE pipeline = $1"),
                &[&pipeline],
            )
            .map_err(|e| pg_error(&self.shown, e))?;
        Ok(rows
            .iter()
            .map(|r| {
                let d = doc_from_row(r);
                (d.id.clone(), d)
            })
            .collect())
    }

    /// A document's chunks, in order.
    pub fn chunks_of(&mut self, pipeline: &str, document_id: &str) -> Result<Vec<ChunkRecord>> {
        let rows = self
            .client
            .query(
                "SELECT id, ordinal, text, context, heading_path, page_start, page_end,
                        byte_start, byte_end, embedding
                 FROM chunks WHERE pipeline = $1 AND document_id = $2 ORDER BY ordinal",
                &[&pipeline, &document_id],
            )
            .map_err(|e| pg_error(&self.shown, e))?;
        Ok(rows
            .iter()
            .map(|r| ChunkRecord {
                id: r.get(0),
                ordinal: r.get(1),
                text: r.get(2),
                context: r.get(3),
                heading_path: super::parse_list(&r.get::<_, String>(4)),
                page_start: r.get(5),
                page_end: r.get(6),
                byte_start: r.get(7),
                byte_end: r.get(8),
                embedding: r
                    .get::<_, Option<Vec<u8>>>(9)
                    .map(|b| super::decode_vector(&b)),
            })
            .collect())
    }

    /// The most recent runs of every worker, newest first. A run still marked running
    /// whose worker has not renewed it for a lease is shown as interrupted, as the next
    /// run will record it.
    pub fn runs(&mut self, limit: usize) -> Result<Vec<RunRow>> {
        let stale = now_ms() - self.options.lease.as_millis() as i64;
        let rows = self
            .client
            .query(
                "SELECT id, pipeline,
                        CASE WHEN status = 'running' AND heartbeat_ms < $2 THEN 'interrupted'
                             ELSE status END,
                        started_ms, finished_ms, seen, added, changed,
                        unchanged, deleted, failed, chunks_written, chunks_deleted,
                        CASE WHEN status = 'running' AND heartbeat_ms < $2
                             THEN 'the worker stopped renewing this run; other runs pick up its work'
                             ELSE error END
                 FROM runs ORDER BY id DESC LIMIT $1",
                &[&(limit as i64), &stale],
            )
            .map_err(|e| pg_error(&self.shown, e))?;
        Ok(rows
            .iter()
            .map(|r| RunRow {
                id: r.get(0),
                pipeline: r.get(1),
                status: r.get(2),
                started_ms: r.get(3),
                finished_ms: r.get(4),
                counts: RunCounts {
                    seen: r.get::<_, i64>(5) as u64,
                    added: r.get::<_, i64>(6) as u64,
                    changed: r.get::<_, i64>(7) as u64,
                    unchanged: r.get::<_, i64>(8) as u64,
                    deleted: r.get::<_, i64>(9) as u64,
                    failed: r.get::<_, i64>(10) as u64,
                    chunks_written: r.get::<_, i64>(11) as u64,
                    chunks_deleted: r.get::<_, i64>(12) as u64,
                },
                error: r.get(13),
            })
            .collect())
    }

    /// Leases held now, as (document id, owner), for inspection.
    pub fn leases(&mut self, pipeline: &str) -> Result<Vec<(String, String)>> {
        let rows = self
            .client
            .query(
                "SELECT document_id, owner FROM leases WHERE pipeline = $1 ORDER BY document_id",
                &[&pipeline],
            )
            .map_err(|e| pg_error(&self.shown, e))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

const DOC_COLUMNS: &str = "pipeline, id, source, path, revision, content_hash, version, fingerprint, \
     acl_users, acl_groups, status, error_kind, last_error, title, pages, chunks, updated_ms";

fn doc_from_row(r: &::postgres::Row) -> DocumentRow {
    DocumentRow {
        pipeline: r.get(0),
        id: r.get(1),
        source: r.get(2),
        path: r.get(3),
        revision: r.get(4),
        content_hash: r.get(5),
        version: r.get(6),
        fingerprint: r.get(7),
        acl_users: super::parse_list(&r.get::<_, String>(8)),
        acl_groups: super::parse_list(&r.get::<_, String>(9)),
        status: DocStatus::parse(&r.get::<_, String>(10)),
        error_kind: r.get(11),
        last_error: r.get(12),
        title: r.get(13),
        pages: r.get(14),
        chunks: r.get(15),
        updated_ms: r.get(16),
    }
}

impl ReadState for PgStateStore {
    fn data_version(&mut self) -> Result<i64> {
        let row = self
            .client
            .query_one("SELECT COALESCE(SUM(n), 0)::BIGINT FROM changes", &[])
            .map_err(|e| self.err(e))?;
        Ok(row.get(0))
    }

    fn document(&mut self, pipeline: &str, id: &str) -> Result<Option<DocumentRow>> {
        let row = self
            .client
            .query_opt(
                &format!("SELECT {DOC_COLUMNS} FROM documents WHERE pipeline = $1 AND id = $2"),
                &[&pipeline, &id],
            )
            .map_err(|e| self.err(e))?;
        Ok(row.as_ref().map(doc_from_row))
    }

    fn list_documents(
        &mut self,
        pipeline: Option<&str>,
        failed_only: bool,
    ) -> Result<Vec<DocumentRow>> {
        let rows = self
            .client
            .query(
                &format!(
                    "SELECT {DOC_COLUMNS} FROM documents
                     WHERE ($1::TEXT IS NULL OR pipeline = $1) AND (NOT $2 OR status = 'failed')
                     ORDER BY pipeline COLLATE \"C\", id COLLATE \"C\""
                ),
                &[&pipeline, &failed_only],
            )
            .map_err(|e| self.err(e))?;
        Ok(rows.iter().map(doc_from_row).collect())
    }

    fn chunks_of(&mut self, pipeline: &str, document_id: &str) -> Result<Vec<ChunkRecord>> {
        PgStateStore::chunks_of(self, pipeline, document_id)
    }

    fn index_stamps(&mut self, pipeline: &str) -> Result<BTreeMap<String, String>> {
        // The same stamp text as the SQLite store's.
        let rows = self
            .client
            .query(
                "SELECT id, version::TEXT || ':' || COALESCE(content_hash, '') || ':' ||
                        COALESCE(fingerprint, '') || ':' || chunks::TEXT || ':' || acl_users ||
                        ':' || acl_groups
                 FROM documents WHERE pipeline = $1 AND status = 'done'",
                &[&pipeline],
            )
            .map_err(|e| self.err(e))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn vector_dimension(&mut self, pipeline: &str) -> Result<Option<usize>> {
        let row = self
            .client
            .query_opt(
                "SELECT (length(embedding) / 4)::BIGINT FROM chunks
                 WHERE pipeline = $1 AND embedding IS NOT NULL LIMIT 1",
                &[&pipeline],
            )
            .map_err(|e| self.err(e))?;
        Ok(row.map(|r| r.get::<_, i64>(0).max(0) as usize))
    }

    fn chunks_by_id(&mut self, ids: &[&str]) -> Result<Vec<ChunkView>> {
        let rows = self
            .client
            .query(
                "SELECT c.id, c.pipeline, c.document_id, d.path, d.title, c.heading_path,
                        c.page_start, c.page_end, c.ordinal, c.text, c.context,
                        d.acl_users, d.acl_groups
                 FROM chunks c JOIN documents d ON d.pipeline = c.pipeline AND d.id = c.document_id
                 WHERE c.id = ANY($1)",
                &[&ids],
            )
            .map_err(|e| self.err(e))?;
        let mut found: HashMap<String, ChunkView> = rows
            .iter()
            .map(|r| {
                let start: Option<i64> = r.get(6);
                let end: Option<i64> = r.get(7);
                let view = ChunkView {
                    chunk_id: r.get(0),
                    pipeline: r.get(1),
                    document: r.get(2),
                    path: r.get(3),
                    title: r.get(4),
                    heading: super::parse_list(&r.get::<_, String>(5)),
                    pages: start.map(|s| (s, end.unwrap_or(s))),
                    ordinal: r.get(8),
                    text: r.get(9),
                    context: r.get(10),
                    acl_users: super::parse_list(&r.get::<_, String>(11)),
                    acl_groups: super::parse_list(&r.get::<_, String>(12)),
                };
                (view.chunk_id.clone(), view)
            })
            .collect();
        Ok(ids.iter().filter_map(|id| found.remove(*id)).collect())
    }

    fn neighbours(
        &mut self,
        pipeline: &str,
        document_id: &str,
        ordinal: i64,
    ) -> Result<(Option<String>, Option<String>)> {
        let rows = self
            .client
            .query(
                "SELECT ordinal, text FROM chunks
                 WHERE pipeline = $1 AND document_id = $2 AND ordinal IN ($3, $4)",
                &[&pipeline, &document_id, &(ordinal - 1), &(ordinal + 1)],
            )
            .map_err(|e| self.err(e))?;
        let mut before = None;
        let mut after = None;
        for r in &rows {
            if r.get::<_, i64>(0) < ordinal {
                before = Some(r.get(1));
            } else {
                after = Some(r.get(1));
            }
        }
        Ok((before, after))
    }

    fn document_counts(&mut self, pipeline: &str) -> Result<DocumentCounts> {
        let rows = self
            .client
            .query(
                "SELECT status, COUNT(*) FROM documents WHERE pipeline = $1 GROUP BY status",
                &[&pipeline],
            )
            .map_err(|e| self.err(e))?;
        let mut counts = DocumentCounts::default();
        for r in &rows {
            let n = r.get::<_, i64>(1).max(0) as u64;
            match DocStatus::parse(&r.get::<_, String>(0)) {
                DocStatus::Done => counts.done += n,
                DocStatus::Failed => counts.failed += n,
                DocStatus::Pending => counts.pending += n,
            }
        }
        Ok(counts)
    }

    fn runs(&mut self, limit: usize) -> Result<Vec<RunRow>> {
        PgStateStore::runs(self, limit)
    }
}

impl Conversations for PgStateStore {
    fn conversation(
        &mut self,
        app: &str,
        user: &str,
        session: &str,
        limit: usize,
    ) -> Result<Vec<Turn>> {
        let rows = self
            .client
            .query(
                r#"SELECT role, content FROM conversation_turns
                   WHERE app = $1 AND "user" = $2 AND session = $3 ORDER BY seq DESC LIMIT $4"#,
                &[&app, &user, &session, &(limit as i64)],
            )
            .map_err(|e| self.err(e))?;
        let mut turns: Vec<Turn> = rows
            .iter()
            .map(|r| Turn {
                role: r.get(0),
                content: r.get(1),
            })
            .collect();
        turns.reverse();
        Ok(turns)
    }

    fn append_turns(&mut self, app: &str, user: &str, session: &str, turns: &[Turn]) -> Result<()> {
        let shown = self.shown.clone();
        let e = |source| pg_error(&shown, source);
        let mut tx = self.client.transaction().map_err(e)?;
        // Two replicas answering one session at once: the second waits for the first.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1 || '/' || $2 || '/' || $3))",
            &[&app, &user, &session],
        )
        .map_err(e)?;
        let next: i64 = tx
            .query_one(
                r#"SELECT COALESCE(MAX(seq), 0) + 1 FROM conversation_turns
                   WHERE app = $1 AND "user" = $2 AND session = $3"#,
                &[&app, &user, &session],
            )
            .map_err(e)?
            .get(0);
        for (i, turn) in turns.iter().enumerate() {
            tx.execute(
                r#"INSERT INTO conversation_turns (app, "user", session, seq, role, content, created_ms)
                   VALUES ($1, $2, $3, $4, $5, $6, $7)"#,
                &[
                    &app,
                    &user,
                    &session,
                    &(next + i as i64),
                    &turn.role,
                    &turn.content,
                    &now_ms(),
                ],
            )
            .map_err(e)?;
        }
        tx.commit().map_err(e)
    }
}

impl IngestState for PgStateStore {
    fn interrupt_stale_runs(&mut self) -> Result<usize> {
        let stale = now_ms() - self.options.lease.as_millis() as i64;
        let n = self
            .client
            .execute(
                "UPDATE runs SET status = 'interrupted', finished_ms = $1,
                    error = 'the worker stopped before the run finished; other runs pick up its work'
                 WHERE status = 'running' AND (heartbeat_ms < $2 OR worker = $3)",
                &[&now_ms(), &stale, &self.options.worker],
            )
            .map_err(|e| self.err(e))?;
        Ok(n as usize)
    }

    fn start_run(&mut self, pipeline: &str) -> Result<i64> {
        let now = now_ms();
        let row = self
            .client
            .query_one(
                "INSERT INTO runs (pipeline, status, worker, heartbeat_ms, started_ms)
                 VALUES ($1, 'running', $2, $3, $3) RETURNING id",
                &[&pipeline, &self.options.worker, &now],
            )
            .map_err(|e| self.err(e))?;
        Ok(row.get(0))
    }

    fn update_run(
        &mut self,
        run_id: i64,
        counts: &RunCounts,
        status: &str,
        error: Option<&str>,
    ) -> Result<()> {
        let now = now_ms();
        let finished = (status != "running").then_some(now);
        self.client
            .execute(
                "UPDATE runs SET status = $2, finished_ms = $3, seen = $4, added = $5, changed = $6,
                    unchanged = $7, deleted = $8, failed = $9, chunks_written = $10,
                    chunks_deleted = $11, error = $12, heartbeat_ms = $13
                 WHERE id = $1",
                &[
                    &run_id,
                    &status,
                    &finished,
                    &(counts.seen as i64),
                    &(counts.added as i64),
                    &(counts.changed as i64),
                    &(counts.unchanged as i64),
                    &(counts.deleted as i64),
                    &(counts.failed as i64),
                    &(counts.chunks_written as i64),
                    &(counts.chunks_deleted as i64),
                    &error,
                    &now,
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn revisions(&mut self, pipeline: &str) -> Result<HashMap<String, Known>> {
        let rows = self
            .client
            .query(
                "SELECT id, revision,
                        CASE WHEN status = 'failed' AND error_kind = 'embed' THEN 'pending'
                             ELSE status END,
                        fingerprint
                 FROM documents WHERE pipeline = $1",
                &[&pipeline],
            )
            .map_err(|e| self.err(e))?;
        Ok(rows
            .iter()
            .map(|r| {
                (
                    r.get(0),
                    Known {
                        revision: r.get(1),
                        status: DocStatus::parse(&r.get::<_, String>(2)),
                        fingerprint: r.get(3),
                    },
                )
            })
            .collect())
    }

    fn commit(&mut self, _run_id: i64, outcomes: &[Outcome]) -> Result<CommitStats> {
        let shown = self.shown.clone();
        let owner = self.options.worker.clone();
        let e = |source| pg_error(&shown, source);
        let mut tx = self.client.transaction().map_err(e)?;
        let upsert_doc = tx
            .prepare(
                "INSERT INTO documents (pipeline, id, source, path, revision, content_hash, version,
                    fingerprint, acl_users, acl_groups, status, error_kind, last_error, title, pages,
                    chunks, updated_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
                 ON CONFLICT (pipeline, id) DO UPDATE SET
                    source = excluded.source, path = excluded.path, revision = excluded.revision,
                    content_hash = excluded.content_hash, version = excluded.version,
                    fingerprint = excluded.fingerprint, acl_users = excluded.acl_users,
                    acl_groups = excluded.acl_groups, status = excluded.status,
                    error_kind = excluded.error_kind, last_error = excluded.last_error,
                    title = excluded.title, pages = excluded.pages, chunks = excluded.chunks,
                    updated_ms = excluded.updated_ms",
            )
            .map_err(e)?;
        let delete_others = tx
            .prepare(
                "DELETE FROM chunks WHERE pipeline = $1 AND document_id = $2
                    AND (ordinal >= $3 OR NOT (id = ANY($4)))",
            )
            .map_err(e)?;
        let upsert_chunk = tx
            .prepare(
                "INSERT INTO chunks (id, pipeline, document_id, ordinal, text, context, heading_path,
                    page_start, page_end, byte_start, byte_end, acl_users, acl_groups, embedding)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                 ON CONFLICT (id) DO UPDATE SET
                    text = excluded.text, context = excluded.context,
                    heading_path = excluded.heading_path, page_start = excluded.page_start,
                    page_end = excluded.page_end, byte_start = excluded.byte_start,
                    byte_end = excluded.byte_end, acl_users = excluded.acl_users,
                    acl_groups = excluded.acl_groups, embedding = excluded.embedding",
            )
            .map_err(e)?;
        let release = tx
            .prepare("DELETE FROM leases WHERE pipeline = $1 AND document_id = $2 AND owner = $3")
            .map_err(e)?;
        let mut stats = CommitStats::default();
        for outcome in outcomes {
            let (row, chunks) = match outcome {
                Outcome::Indexed(d) => (&d.row, d.chunks.as_slice()),
                Outcome::Failed(row) => (row, &[][..]),
            };
            let users = super::json_list(&row.acl_users);
            let groups = super::json_list(&row.acl_groups);
            tx.execute(
                &upsert_doc,
                &[
                    &row.pipeline,
                    &row.id,
                    &row.source,
                    &row.path,
                    &row.revision,
                    &row.content_hash,
                    &row.version,
                    &row.fingerprint,
                    &users,
                    &groups,
                    &row.status.as_str(),
                    &row.error_kind,
                    &row.last_error,
                    &row.title,
                    &row.pages,
                    &(chunks.len() as i64),
                    &now_ms(),
                ],
            )
            .map_err(e)?;
            let keep: Vec<&str> = chunks.iter().map(|c| c.id.as_str()).collect();
            stats.chunks_deleted += tx
                .execute(
                    &delete_others,
                    &[&row.pipeline, &row.id, &(chunks.len() as i64), &keep],
                )
                .map_err(e)?;
            for c in chunks {
                let heading = super::json_list(&c.heading_path);
                let vector = c.embedding.as_deref().map(super::encode_vector);
                tx.execute(
                    &upsert_chunk,
                    &[
                        &c.id,
                        &row.pipeline,
                        &row.id,
                        &c.ordinal,
                        &c.text,
                        &c.context,
                        &heading,
                        &c.page_start,
                        &c.page_end,
                        &c.byte_start,
                        &c.byte_end,
                        &users,
                        &groups,
                        &vector,
                    ],
                )
                .map_err(e)?;
                stats.chunks_written += 1;
            }
            tx.execute(&release, &[&row.pipeline, &row.id, &owner])
                .map_err(e)?;
        }
        let pipelines: std::collections::BTreeSet<&str> = outcomes
            .iter()
            .map(|o| match o {
                Outcome::Indexed(d) => d.row.pipeline.as_str(),
                Outcome::Failed(row) => row.pipeline.as_str(),
            })
            .collect();
        for pipeline in pipelines {
            tx.execute(BUMP_CHANGES, &[&pipeline]).map_err(e)?;
        }
        tx.commit().map_err(e)?;
        Ok(stats)
    }

    fn touch(&mut self, pipeline: &str, revisions: &[(String, String)]) -> Result<()> {
        let shown = self.shown.clone();
        let owner = self.options.worker.clone();
        let e = |source| pg_error(&shown, source);
        let mut tx = self.client.transaction().map_err(e)?;
        for (id, rev) in revisions {
            tx.execute(
                "UPDATE documents SET revision = $3 WHERE pipeline = $1 AND id = $2",
                &[&pipeline, id, rev],
            )
            .map_err(e)?;
            tx.execute(
                "DELETE FROM leases WHERE pipeline = $1 AND document_id = $2 AND owner = $3",
                &[&pipeline, id, &owner],
            )
            .map_err(e)?;
        }
        tx.commit().map_err(e)
    }

    fn delete_documents(&mut self, pipeline: &str, ids: &[String]) -> Result<u64> {
        let shown = self.shown.clone();
        let e = |source| pg_error(&shown, source);
        let mut tx = self.client.transaction().map_err(e)?;
        let chunks = tx
            .execute(
                "DELETE FROM chunks WHERE pipeline = $1 AND document_id = ANY($2)",
                &[&pipeline, &ids],
            )
            .map_err(e)?;
        tx.execute(
            "DELETE FROM documents WHERE pipeline = $1 AND id = ANY($2)",
            &[&pipeline, &ids],
        )
        .map_err(e)?;
        tx.execute(
            "DELETE FROM leases WHERE pipeline = $1 AND document_id = ANY($2)",
            &[&pipeline, &ids],
        )
        .map_err(e)?;
        tx.execute(BUMP_CHANGES, &[&pipeline]).map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(chunks)
    }

    fn set_fingerprint(&mut self, pipeline: &str, fingerprint: &str) -> Result<()> {
        self.client
            .execute(
                "INSERT INTO pipelines (name, fingerprint, updated_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET fingerprint = excluded.fingerprint,
                                                  updated_ms = excluded.updated_ms",
                &[&pipeline, &fingerprint, &now_ms()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn claim(
        &mut self,
        pipeline: &str,
        fingerprint: &str,
        documents: &[(String, String)],
    ) -> Result<Vec<Claim>> {
        let shown = self.shown.clone();
        let owner = self.options.worker.clone();
        let e = |source| pg_error(&shown, source);
        let now = now_ms();
        let until = now + self.options.lease.as_millis() as i64;
        let mut tx = self.client.transaction().map_err(e)?;
        let settled = tx
            .prepare(
                "SELECT 1 FROM documents WHERE pipeline = $1 AND id = $2 AND revision = $3
                    AND fingerprint = $4 AND status <> 'pending'",
            )
            .map_err(e)?;
        let take = tx
            .prepare(
                "INSERT INTO leases (pipeline, document_id, owner, expires_ms) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (pipeline, document_id) DO UPDATE
                    SET owner = excluded.owner, expires_ms = excluded.expires_ms
                    WHERE leases.expires_ms < $5 OR leases.owner = excluded.owner
                 RETURNING owner",
            )
            .map_err(e)?;
        let mut out = Vec::with_capacity(documents.len());
        for (id, revision) in documents {
            let done = !revision.is_empty()
                && tx
                    .query_opt(&settled, &[&pipeline, id, revision, &fingerprint])
                    .map_err(e)?
                    .is_some();
            if done {
                out.push(Claim::Settled);
                continue;
            }
            let got = tx
                .query_opt(&take, &[&pipeline, id, &owner, &until, &now])
                .map_err(e)?;
            out.push(if got.is_some() {
                Claim::Mine
            } else {
                Claim::Elsewhere
            });
        }
        tx.commit().map_err(e)?;
        Ok(out)
    }

    fn release(&mut self, pipeline: &str, ids: &[String]) -> Result<()> {
        self.client
            .execute(
                "DELETE FROM leases WHERE pipeline = $1 AND document_id = ANY($2) AND owner = $3",
                &[&pipeline, &ids, &self.options.worker],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn shared(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redact("postgres://berth:s3cret@db:5432/berth"),
            "postgres://berth:***@db:5432/berth"
        );
        assert_eq!(redact("postgres://berth@db/x"), "postgres://berth@db/x");
        assert_eq!(redact("not a url"), "not a url");
    }
}

/// `url` with `user` and `password` put in (percent-encoded), for a connection record
/// whose credentials are secrets kept apart from its URL.
pub fn with_credentials(url: &str, user: &str, password: Option<&str>) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let rest = rest.split_once('@').map_or(rest, |(_, host)| host);
    let encode = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    match password {
        Some(p) => format!("{scheme}://{}:{}@{rest}", encode(user), encode(p)),
        None => format!("{scheme}://{}@{rest}", encode(user)),
    }
}

#[cfg(test)]
mod url_tests {
    use super::*;

    #[test]
    fn credentials_are_encoded_and_redacted() {
        let url = with_credentials("postgres://db:5432/berth", "postgres", Some("p@ss:w/rd"));
        assert_eq!(url, "postgres://postgres:p%40ss%3Aw%2Frd@db:5432/berth");
        assert_eq!(redact(&url), "postgres://postgres:***@db:5432/berth");
        assert_eq!(
            with_credentials("postgres://old@db/x", "postgres", None),
            "postgres://postgres@db/x"
        );
    }
}
