//! The adversarial corpus (`tests/adversarial.json`): model outputs that try to write,
//! escalate, stall or escape. Every entry must be refused by the validator with its class,
//! in every dialect it lists; and the executor's read-only layers alone (no validator) must
//! stop the ones marked `fails` or `timeout`. Entries marked `allowed` are harmless at the
//! executor (noted per entry) and show what only the validator stops. Afterwards the data
//! must be exactly as before.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use berth_sql::{Database, DatabaseUrl, Dialect, Error, ExecOptions, Policy, TableName, validate};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Entry {
    sql: String,
    dialects: Vec<Dialect>,
    class: String,
    exec: Exec,
    #[serde(default)]
    #[allow(dead_code)]
    note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Exec {
    Same(String),
    Per(BTreeMap<Dialect, String>),
}

impl Entry {
    fn exec(&self, d: Dialect) -> &str {
        match &self.exec {
            Exec::Same(s) => s,
            Exec::Per(m) => m.get(&d).map(String::as_str).unwrap_or("fails"),
        }
    }
}

fn corpus() -> Vec<Entry> {
    let text = include_str!("adversarial.json");
    serde_json::from_str(text).expect("adversarial.json")
}

fn policy(d: Dialect) -> Policy {
    Policy::new(d, 100, Some(vec![TableName::new("t"), TableName::new("u")]))
}

#[test]
fn corpus_is_large_and_covers_every_class_in_both_dialects() {
    let c = corpus();
    assert!(c.len() >= 60, "{} entries", c.len());
    for d in [Dialect::Sqlite, Dialect::Postgres] {
        let n = c.iter().filter(|e| e.dialects.contains(&d)).count();
        assert!(n >= 40, "{d}: only {n} entries");
    }
    for class in [
        "multiple_statements",
        "write",
        "ddl",
        "privilege",
        "session",
        "procedure",
        "copy",
        "locking",
        "table",
        "system_catalog",
        "function",
        "parse",
        "empty",
        "not_a_query",
    ] {
        assert!(
            c.iter().any(|e| e.class == class),
            "no entry of class {class}"
        );
    }
}

#[test]
fn validator_refuses_every_entry_with_its_class() {
    let mut wrong = Vec::new();
    for e in corpus() {
        for &d in &e.dialects {
            match (validate(&e.sql, &policy(d)), e.class.as_str()) {
                (Ok(v), "none") => {
                    assert!(v.limit.rows() <= 100);
                }
                (Ok(v), expected) => wrong.push(format!(
                    "[{d}] {:?}: accepted as {:?}, expected {expected}",
                    e.sql, v.sql
                )),
                (Err(r), expected) => {
                    if r.class.as_str() != expected {
                        wrong.push(format!(
                            "[{d}] {:?}: refused as {} ({}), expected {expected}",
                            e.sql, r.class, r.message
                        ));
                    }
                    assert!(!r.message.is_empty());
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} mismatches:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

async fn run_layer(db: &Database, d: Dialect) -> Vec<String> {
    let mut wrong = Vec::new();
    for e in corpus() {
        if !e.dialects.contains(&d) {
            continue;
        }
        let expect = e.exec(d).to_string();
        let got = db.run_read_only(&e.sql).await;
        match (expect.as_str(), &got) {
            ("fails", Err(_)) | ("timeout", Err(Error::Timeout { .. })) | ("allowed", _) => {}
            _ => wrong.push(format!(
                "[{d}] {:?}: expected {expect}, got {}",
                e.sql,
                match &got {
                    Ok(r) => format!("success ({} rows)", r.rows.len()),
                    Err(err) => format!("error: {err}"),
                }
            )),
        }
    }
    wrong
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_read_only_layer_alone_stops_writes_and_stalls() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::sqlite_fixture(dir.path());
    let before = common::sqlite_digest(&path);
    let db = Database::new(
        DatabaseUrl::Sqlite { path: path.clone() },
        ExecOptions {
            timeout: Duration::from_millis(200),
            ..ExecOptions::default()
        },
    );
    let wrong = run_layer(&db, Dialect::Sqlite).await;
    assert!(
        wrong.is_empty(),
        "{} mismatches:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(common::sqlite_digest(&path), before, "the data changed");
    assert!(
        !std::path::Path::new("/tmp/berth_attack.db").exists(),
        "ATTACH created a file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_read_only_layer_alone_stops_writes_and_stalls() {
    let Some(admin) = common::pg_url("postgres_read_only_layer_alone_stops_writes_and_stalls")
    else {
        return;
    };
    let url = common::pg_fixture(&admin, "berth_test_adversarial").await;
    let before = common::pg_digest(&url).await;
    let db = Database::new(
        DatabaseUrl::parse(&url).unwrap(),
        ExecOptions {
            timeout: Duration::from_millis(200),
            role: Some("berth_reader".into()),
            ..ExecOptions::default()
        },
    );
    let wrong = run_layer(&db, Dialect::Postgres).await;
    assert!(
        wrong.is_empty(),
        "{} mismatches:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(common::pg_digest(&url).await, before, "the data changed");
}
