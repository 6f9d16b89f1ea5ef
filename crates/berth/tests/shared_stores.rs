//! The read side of a stack whose state lives in PostgreSQL: `berth search`, `berth docs`
//! and the apps answer from the shared state store, with nothing in a local SQLite file;
//! a pipeline whose `store:` is the PostgreSQL component keeps its chunks in pgvector,
//! which every run brings in step (additions and deletions). Needs a real PostgreSQL
//! with pgvector (`BERTH_TEST_PG_URL`).

mod common;

use common::{Database, model_dir, pg_url};
use serde_json::Value;
use std::path::Path;

fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn corpus(dir: &Path) {
    write(
        dir,
        "docs/harbour.md",
        "# Harbour\n\nShips berth at the lighthouse pier when the tide is high.\n",
    );
    write(
        dir,
        "docs/kitchen.md",
        "# Kitchen\n\nThe bakery opens at dawn and sells rye bread with caraway.\n",
    );
    write(
        dir,
        "docs/garden.md",
        "# Garden\n\nTomatoes ripen in August; water them in the evening.\n",
    );
    write(
        dir,
        "secret/payroll.md",
        "# Payroll\n\nSalary bands for engineers are reviewed every spring.\n",
    );
}

fn stack(dir: &Path, url: &str, model: &Path) {
    write(
        dir,
        "berth.yaml",
        &format!(
            "stack: shared\n\
             components:\n  \
               db: {{ uses: postgres, url: {url}, with: {{ password: \"${{secret:PG_PASSWORD}}\" }} }}\n  \
               embedder: {{ uses: berth-embedder, with: {{ model_dir: {model} }} }}\n\
             models:\n  embed:\n    - component: embedder\n\
             sources:\n  \
               docs: {{ path: ./docs }}\n  \
               secret: {{ path: ./secret, acl: {{ groups: [finance] }} }}\n\
             pipelines:\n  \
               words: {{ source: docs, chunk: {{ strategy: markdown, max_tokens: 100, overlap: 0 }} }}\n  \
               vectors: {{ source: docs, chunk: {{ strategy: markdown, max_tokens: 100, overlap: 0 }}, embed: embed, store: db }}\n  \
               payroll: {{ source: secret, chunk: {{ strategy: markdown, max_tokens: 100, overlap: 0 }}, embed: embed, store: db }}\n\
             apps:\n  \
               ask: {{ kind: rag, pipeline: vectors, top_k: 2 }}\n",
            model = model.display()
        ),
    );
}

/// Runs berth with the stack's secret set (the test server does not check it).
fn berth(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .current_dir(dir)
        .env("PG_PASSWORD", "unused-by-the-test-server")
        .output()
        .unwrap()
}

fn run(dir: &Path, args: &[&str]) -> String {
    let out = berth(dir, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "berth {args:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn hits(dir: &Path, args: &[&str]) -> Vec<String> {
    let mut all = vec!["search", "--json"];
    all.extend_from_slice(args);
    let v: Value = serde_json::from_str(&run(dir, &all)).unwrap();
    v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["document_id"].as_str().unwrap().to_string())
        .collect()
}

fn count(client: &mut postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).unwrap().get(0)
}

#[test]
fn search_docs_and_apps_read_a_shared_state_store_and_pgvector() {
    let Some(admin) = pg_url() else { return };
    let Some(model) = model_dir() else { return };
    let db = Database::create(&admin, &format!("berth_shared_{}", std::process::id()));
    let url = berth_ingest::state::postgres::with_credentials(&db.url(), "postgres", None);
    let dir = tempfile::tempdir().unwrap();
    corpus(dir.path());
    stack(dir.path(), &db.url(), &model);

    let out = run(dir.path(), &["ingest"]);
    assert!(out.contains("words: 3 seen · 3 added"), "{out}");
    assert!(out.contains("vectors: index updated: 3 documents"), "{out}");
    // Nothing of the state went to a local SQLite file.
    assert!(!dir.path().join(".berth/state.db").exists());

    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let state_chunks = count(
        &mut client,
        "SELECT count(*) FROM berth.chunks WHERE pipeline = 'vectors'",
    );
    assert!(state_chunks >= 3);
    assert_eq!(
        count(&mut client, "SELECT count(*) FROM berth_vectors.chunks"),
        state_chunks,
        "pgvector holds exactly the state store's chunks"
    );

    // Keyword search over the shared state (a private built-in index per reader), and
    // hybrid search answered by pgvector.
    assert_eq!(
        hits(dir.path(), &["lighthouse pier", "--pipeline", "words"])[0],
        "docs/harbour.md"
    );
    // No shared word with the query: only the vectors can find it.
    assert_eq!(
        hits(
            dir.path(),
            &[
                "where do boats dock",
                "--pipeline",
                "vectors",
                "--mode",
                "dense"
            ]
        )[0],
        "docs/harbour.md"
    );
    assert_eq!(
        hits(
            dir.path(),
            &["caraway rye", "--pipeline", "vectors", "--mode", "bm25"]
        )[0],
        "docs/kitchen.md"
    );
    // Permissions hold inside pgvector's SQL.
    assert!(hits(dir.path(), &["salary bands", "--pipeline", "payroll"]).is_empty());
    assert_eq!(
        hits(
            dir.path(),
            &[
                "salary bands",
                "--pipeline",
                "payroll",
                "--as",
                "fay",
                "--groups",
                "finance"
            ]
        ),
        ["secret/payroll.md"]
    );

    // Listings read the shared store.
    let docs: Value =
        serde_json::from_str(&run(dir.path(), &["docs", "--json", "--pipeline", "words"])).unwrap();
    let ids: Vec<&str> = docs
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["docs/garden.md", "docs/harbour.md", "docs/kitchen.md"]
    );

    // The app answers from pgvector (extracts: no chat model), citing the document.
    let answer = run(
        dir.path(),
        &["ask", "When does the bakery open?", "--app", "ask"],
    );
    assert!(answer.contains("docs/kitchen.md"), "{answer}");

    // A deleted document leaves the state store, the private index and pgvector.
    std::fs::remove_file(dir.path().join("docs/kitchen.md")).unwrap();
    let out = run(dir.path(), &["ingest"]);
    assert!(out.contains("1 deleted"), "{out}");
    assert_eq!(
        count(
            &mut client,
            "SELECT count(*) FROM berth_vectors.chunks WHERE document_id = 'docs/kitchen.md'"
        ),
        0
    );
    assert_eq!(
        count(&mut client, "SELECT count(*) FROM berth_vectors.chunks"),
        count(
            &mut client,
            "SELECT count(*) FROM berth.chunks WHERE pipeline = 'vectors'"
        )
    );
    for pipeline in ["words", "vectors"] {
        assert!(
            !hits(
                dir.path(),
                &[
                    "caraway rye bakery",
                    "--pipeline",
                    pipeline,
                    "--mode",
                    "bm25"
                ]
            )
            .contains(&"docs/kitchen.md".to_string()),
            "{pipeline} still finds the deleted document"
        );
    }

    // Rebuilding the pgvector tables from the state store gives the same rows.
    let out = run(dir.path(), &["index", "rebuild", "vectors"]);
    assert!(
        out.contains("vectors: pgvector tables rebuilt: 2 documents"),
        "{out}"
    );
    assert_eq!(
        count(&mut client, "SELECT count(*) FROM berth_vectors.chunks"),
        count(
            &mut client,
            "SELECT count(*) FROM berth.chunks WHERE pipeline = 'vectors'"
        )
    );
    drop(client);

    // A wrong binding is a clear error, not a panic.
    write(
        dir.path(),
        "berth.yaml",
        &std::fs::read_to_string(dir.path().join("berth.yaml"))
            .unwrap()
            .replace("embed: embed, store: db }", "store: db }"),
    );
    let out = berth(dir.path(), &["search", "x", "--pipeline", "vectors"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("pipeline `vectors` stores into pgvector (`db`) but has no `embed` model"),
        "{stderr}"
    );
}
