//! Shared test fixtures: a small SQLite database, a PostgreSQL twin, and the rule for
//! tests that need PostgreSQL.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use berth_sql::{DatabaseUrl, load_postgres, replace_dbname};

/// The PostgreSQL URL for tests, from `BERTH_TEST_PG_URL`. Unset: prints a loud skip
/// notice and returns `None` — except under `CI=true`, where the test fails.
pub fn pg_url(test: &str) -> Option<String> {
    match std::env::var("BERTH_TEST_PG_URL") {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "{test}: BERTH_TEST_PG_URL is not set and CI=true; start PostgreSQL with \
                     bench/pg/start.sh and export the URL it prints"
                );
            }
            loud(&format!(
                "*** SKIPPED {test}: needs PostgreSQL. Run bench/pg/start.sh and set \
                 BERTH_TEST_PG_URL=postgres://postgres@127.0.0.1:55432/postgres ***"
            ));
            None
        }
    }
}

/// Writes straight to the process's stderr, which the test harness does not capture, so
/// a skip is visible even when the test passes.
fn loud(message: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "\n{message}\n");
}

/// The fixture's tables: `t` and `u` are the app's; `secrets` is not.
pub const FIXTURE_SQL: &str = "
CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b REAL);
CREATE TABLE u (id INTEGER PRIMARY KEY, t_id INTEGER REFERENCES t(id), name TEXT);
CREATE TABLE secrets (id INTEGER PRIMARY KEY, password TEXT);
";

/// Rows for the fixture (20 in t, 20 in u, 2 secrets), as INSERT statements valid in both
/// dialects.
pub fn fixture_rows() -> String {
    let mut s = String::new();
    for i in 1..=20 {
        s.push_str(&format!(
            "INSERT INTO t (id, a, b) VALUES ({i}, 'a{i}', {}.5);\n",
            i * 10
        ));
    }
    for i in 1..=20 {
        s.push_str(&format!(
            "INSERT INTO u (id, t_id, name) VALUES ({i}, {}, 'name {i}');\n",
            (i % 5) + 1
        ));
    }
    s.push_str("INSERT INTO secrets (id, password) VALUES (1, 'hunter2'), (2, 'swordfish');\n");
    s
}

/// Creates the fixture as a SQLite file in `dir`.
pub fn sqlite_fixture(dir: &Path) -> PathBuf {
    let path = dir.join("fixture.db");
    let conn = rusqlite::Connection::open(&path).expect("create fixture");
    conn.execute_batch(FIXTURE_SQL).expect("fixture schema");
    conn.execute_batch(&fixture_rows()).expect("fixture rows");
    path
}

/// A digest of the fixture's data (every row of every table), to prove nothing changed.
pub fn sqlite_digest(path: &Path) -> String {
    let conn = rusqlite::Connection::open(path).expect("open");
    let mut out = String::new();
    for sql in [
        "SELECT group_concat(id || ':' || a || ':' || b, ',') FROM (SELECT * FROM t ORDER BY id)",
        "SELECT group_concat(id || ':' || t_id || ':' || name, ',') FROM (SELECT * FROM u ORDER BY id)",
        "SELECT group_concat(id || ':' || password, ',') FROM (SELECT * FROM secrets ORDER BY id)",
        "SELECT group_concat(type || ':' || name, ',') FROM (SELECT * FROM sqlite_master ORDER BY name)",
    ] {
        let v: Option<String> = conn.query_row(sql, [], |r| r.get(0)).expect("digest");
        out.push_str(&v.unwrap_or_default());
        out.push('|');
    }
    out
}

/// Creates the fixture afresh as database `name` on the server, with a sequence `t_seq`
/// and the read-only role `berth_reader` (SELECT on t and u only). Returns its URL.
pub async fn pg_fixture(admin: &str, name: &str) -> String {
    let sql = format!(
        "{FIXTURE_SQL}\n{}\nCREATE SEQUENCE t_seq;\n\
         DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'berth_reader') \
         THEN CREATE ROLE berth_reader NOLOGIN; END IF; END $$;\n\
         GRANT USAGE ON SCHEMA public TO berth_reader;\n\
         GRANT SELECT ON t, u TO berth_reader;\n",
        fixture_rows()
    );
    load_postgres(admin, name, &sql)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL fixture {name}: {e}"))
}

/// The same digest on PostgreSQL (as the superuser).
pub async fn pg_digest(url: &str) -> String {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let mut out = String::new();
    for sql in [
        "SELECT string_agg(id || ':' || a || ':' || b, ',' ORDER BY id) FROM t",
        "SELECT string_agg(id || ':' || t_id || ':' || name, ',' ORDER BY id) FROM u",
        "SELECT string_agg(id || ':' || password, ',' ORDER BY id) FROM secrets",
        "SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class WHERE relnamespace = 'public'::regnamespace",
        "SELECT last_value::text FROM t_seq",
        "SELECT (SELECT rolsuper::text FROM pg_roles WHERE rolname = 'berth_reader')",
    ] {
        let row = client.query_one(sql, &[]).await.expect(sql);
        let v: Option<String> = row.get(0);
        out.push_str(&v.unwrap_or_default());
        out.push('|');
    }
    out
}

/// The eval data set (`../shared/eval/text2sql` from the repository root), if present.
pub fn eval_data(test: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/eval/text2sql");
    if dir.join("databases").is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: the eval data set is missing at {}", dir.display());
    }
    loud(&format!(
        "*** SKIPPED {test}: eval data not found at {} ***",
        dir.display()
    ));
    None
}

/// A URL for database `name` on the test server.
pub fn db_url(admin: &str, name: &str) -> DatabaseUrl {
    DatabaseUrl::parse(&replace_dbname(admin, name)).expect("url")
}
