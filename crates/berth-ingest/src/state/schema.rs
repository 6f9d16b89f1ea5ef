//! The state store's schema, as ordered migrations. Each runs once, in a transaction;
//! `meta.schema_version` records how far a database has come.

/// The migrations, oldest first. Never edit one that has shipped; add a new one.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: documents, chunks (with a BM25 full-text index), runs, tasks.
    r#"
    CREATE TABLE pipelines (
        name        TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        updated_ms  INTEGER NOT NULL
    );

    CREATE TABLE documents (
        pipeline     TEXT NOT NULL,
        id           TEXT NOT NULL,          -- source/path: stable across runs
        source       TEXT NOT NULL,
        path         TEXT NOT NULL,
        revision     TEXT,                   -- size:mtime of a file, ETag of a URL
        content_hash TEXT,
        version      INTEGER NOT NULL DEFAULT 0,
        fingerprint  TEXT,                   -- pipeline fingerprint it was indexed with
        acl_users    TEXT NOT NULL DEFAULT '[]',
        acl_groups   TEXT NOT NULL DEFAULT '[]',
        status       TEXT NOT NULL,          -- pending | done | failed
        error_kind   TEXT,
        last_error   TEXT,
        title        TEXT,
        pages        INTEGER,
        chunks       INTEGER NOT NULL DEFAULT 0,
        updated_ms   INTEGER NOT NULL,
        PRIMARY KEY (pipeline, id)
    );
    CREATE INDEX documents_status ON documents (pipeline, status);

    CREATE TABLE chunks (
        rowid        INTEGER PRIMARY KEY,
        id           TEXT NOT NULL UNIQUE,   -- hash of document id, ordinal, fingerprint
        pipeline     TEXT NOT NULL,
        document_id  TEXT NOT NULL,
        ordinal      INTEGER NOT NULL,
        text         TEXT NOT NULL,
        context      TEXT,
        heading_path TEXT NOT NULL DEFAULT '[]',
        page_start   INTEGER,
        page_end     INTEGER,
        byte_start   INTEGER NOT NULL,
        byte_end     INTEGER NOT NULL,
        acl_users    TEXT NOT NULL DEFAULT '[]',
        acl_groups   TEXT NOT NULL DEFAULT '[]',
        FOREIGN KEY (pipeline, document_id) REFERENCES documents (pipeline, id) ON DELETE CASCADE
    );
    CREATE INDEX chunks_document ON chunks (pipeline, document_id);

    CREATE VIRTUAL TABLE chunks_fts USING fts5 (text, content = 'chunks', content_rowid = 'rowid');
    CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN
        INSERT INTO chunks_fts (rowid, text) VALUES (new.rowid, new.text);
    END;
    CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
        INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
    END;
    CREATE TRIGGER chunks_fts_update AFTER UPDATE OF text ON chunks BEGIN
        INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
        INSERT INTO chunks_fts (rowid, text) VALUES (new.rowid, new.text);
    END;

    CREATE TABLE runs (
        id             INTEGER PRIMARY KEY,
        pipeline       TEXT NOT NULL,
        status         TEXT NOT NULL,        -- running | ok | failures | failed | interrupted
        started_ms     INTEGER NOT NULL,
        finished_ms    INTEGER,
        seen           INTEGER NOT NULL DEFAULT 0,
        added          INTEGER NOT NULL DEFAULT 0,
        changed        INTEGER NOT NULL DEFAULT 0,
        unchanged      INTEGER NOT NULL DEFAULT 0,
        deleted        INTEGER NOT NULL DEFAULT 0,
        failed         INTEGER NOT NULL DEFAULT 0,
        chunks_written INTEGER NOT NULL DEFAULT 0,
        chunks_deleted INTEGER NOT NULL DEFAULT 0,
        error          TEXT
    );

    CREATE TABLE tasks (
        pipeline       TEXT NOT NULL,
        document_id    TEXT NOT NULL,
        run_id         INTEGER NOT NULL,
        status         TEXT NOT NULL,        -- running | done | retrying | dead
        attempts       INTEGER NOT NULL DEFAULT 0,
        lease_until_ms INTEGER,
        last_error     TEXT,
        updated_ms     INTEGER NOT NULL,
        PRIMARY KEY (pipeline, document_id)
    );
    "#,
    // 2: chunk vectors (little-endian f32), kept so derived indexes rebuild without
    // embedding again.
    r#"
    ALTER TABLE chunks ADD COLUMN embedding BLOB;
    "#,
    // 3: the gateway's API keys (only a hash of each key is stored) and their usage per
    // model and UTC day (`YYYY-MM-DD`).
    r#"
    CREATE TABLE api_keys (
        id         INTEGER PRIMARY KEY,
        name       TEXT,
        hash       TEXT NOT NULL UNIQUE,
        user       TEXT NOT NULL,
        groups     TEXT NOT NULL DEFAULT '[]',   -- JSON array
        models     TEXT NOT NULL DEFAULT '[]',   -- JSON array; empty: every model
        rpm        INTEGER,
        tpm        INTEGER,
        created_ms INTEGER NOT NULL,
        revoked_ms INTEGER
    );

    CREATE TABLE usage (
        key_id            INTEGER NOT NULL,
        model             TEXT NOT NULL,
        day               TEXT NOT NULL,
        requests          INTEGER NOT NULL DEFAULT 0,
        prompt_tokens     INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        errors            INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (key_id, model, day)
    );
    "#,
    // 4: conversation history of the gateway's chat and rag apps, per app, user and
    // session, in order.
    r#"
    CREATE TABLE conversation_turns (
        app        TEXT NOT NULL,
        user       TEXT NOT NULL,
        session    TEXT NOT NULL,
        seq        INTEGER NOT NULL,
        role       TEXT NOT NULL,
        content    TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        PRIMARY KEY (app, user, session, seq)
    );
    "#,
];
