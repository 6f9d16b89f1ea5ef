//! `berth search` and `berth index rebuild` as a user runs them: keyword search on a
//! keyword-only pipeline, hybrid search with the real built-in embedding model, access
//! control, deletions reaching the index, and rebuilding a damaged index.

mod common;

use common::{berth, berth_ok as ok, model_dir, write_file as write};
use serde_json::Value;
use std::path::Path;

fn hits(dir: &Path, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["search", "--json"];
    all.extend_from_slice(args);
    let v: Value = serde_json::from_str(&ok(dir, &all)).unwrap();
    v["hits"].as_array().unwrap().clone()
}

fn documents(hits: &[Value]) -> Vec<String> {
    hits.iter()
        .map(|h| h["document_id"].as_str().unwrap().to_string())
        .collect()
}

fn corpus(dir: &Path) {
    write(
        dir,
        "public/harbour.md",
        "# Harbour\n\nThe harbour master assigns each ship a berth near the lighthouse.\n",
    );
    write(
        dir,
        "public/kitchen.md",
        "# Kitchen\n\nSourdough bread needs flour, water, salt and a patient baker.\n",
    );
    write(
        dir,
        "finance/salaries.md",
        "# Salaries\n\nThe salary bands for engineers are reviewed every spring.\n",
    );
}

const KEYWORD_STACK: &str = "stack: s\nsources:\n  pub: { path: ./public }\n  fin: { path: ./finance, acl: { groups: [finance] } }\npipelines:\n  idx: { source: pub, chunk: { strategy: markdown, max_tokens: 100, overlap: 0 } }\n  money: { source: fin, chunk: { strategy: markdown, max_tokens: 100, overlap: 0 } }\n";

#[test]
fn keyword_search_finds_ranks_and_respects_access() {
    let dir = tempfile::tempdir().unwrap();
    corpus(dir.path());
    write(dir.path(), "berth.yaml", KEYWORD_STACK);
    ok(dir.path(), &["ingest"]);

    let found = hits(dir.path(), &["ship berth lighthouse", "--pipeline", "idx"]);
    assert_eq!(documents(&found)[0], "pub/harbour.md");
    assert_eq!(found[0]["heading_path"][0], "Harbour");
    assert!(found[0]["score"].as_f64().unwrap() > 0.0);

    // The finance pipeline's chunks are granted to the finance group only.
    assert!(hits(dir.path(), &["salary", "--pipeline", "money"]).is_empty());
    assert!(
        hits(
            dir.path(),
            &[
                "salary",
                "--pipeline",
                "money",
                "--as",
                "eve",
                "--groups",
                "sales"
            ]
        )
        .is_empty()
    );
    let granted = hits(
        dir.path(),
        &[
            "salary",
            "--pipeline",
            "money",
            "--as",
            "ann",
            "--groups",
            "sales,finance",
        ],
    );
    assert_eq!(documents(&granted), vec!["fin/salaries.md"]);

    // Several pipelines and none named: the user is asked to choose.
    let out = berth(dir.path(), &["search", "salary"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--pipeline"));
    // Dense search without vectors is explained, not attempted.
    let out = berth(
        dir.path(),
        &["search", "salary", "--pipeline", "idx", "--mode", "dense"],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no `embed` model"));
}

#[test]
fn deleting_a_document_removes_it_from_search_and_a_broken_index_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    corpus(dir.path());
    write(dir.path(), "berth.yaml", KEYWORD_STACK);
    ok(dir.path(), &["ingest", "idx"]);
    assert_eq!(
        documents(&hits(dir.path(), &["sourdough", "--pipeline", "idx"])),
        vec!["pub/kitchen.md"]
    );

    std::fs::remove_file(dir.path().join("public/kitchen.md")).unwrap();
    ok(dir.path(), &["ingest", "idx"]);
    assert!(hits(dir.path(), &["sourdough", "--pipeline", "idx"]).is_empty());

    // Damage the index: search notices and rebuilds it from the state store.
    let index = dir.path().join(".berth/index/idx");
    std::fs::write(index.join("meta.json"), "{ not json").unwrap();
    let out = ok(dir.path(), &["search", "harbour", "--pipeline", "idx"]);
    assert!(out.contains("index rebuilt"), "{out}");
    assert!(out.contains("pub/harbour.md"), "{out}");

    let out = ok(dir.path(), &["index", "rebuild"]);
    assert!(
        out.contains("idx: index rebuilt: 1 documents, 1 chunks"),
        "{out}"
    );
    assert!(out.contains("money: index rebuilt: 0 documents"), "{out}");
}

#[test]
fn hybrid_search_with_the_builtin_model_finds_meaning_without_shared_words() {
    let Some(model) = model_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    corpus(dir.path());
    let stack = format!(
        "stack: s\ncomponents:\n  embedder: {{ uses: berth-embedder, with: {{ model_dir: {} }} }}\nmodels:\n  embed:\n    - component: embedder\nsources:\n  pub: {{ path: ./public }}\npipelines:\n  idx: {{ source: pub, chunk: {{ strategy: markdown, max_tokens: 100, overlap: 0 }}, embed: embed }}\n",
        model.display()
    );
    write(dir.path(), "berth.yaml", &stack);
    ok(dir.path(), &["ingest"]);

    // No word in common with the passage: only the vectors can find it.
    let query = "where do vessels dock at the port";
    assert!(hits(dir.path(), &[query, "--mode", "bm25"]).is_empty());
    let dense = hits(dir.path(), &[query, "--mode", "dense", "-k", "1"]);
    assert_eq!(documents(&dense), vec!["pub/harbour.md"]);
    let hybrid = hits(dir.path(), &[query, "-k", "2"]);
    assert_eq!(documents(&hybrid)[0], "pub/harbour.md");
    assert!(hybrid[0]["dense_rank"].as_u64() == Some(1));

    // A rebuild reuses the stored vectors: same answers, no re-embedding needed.
    let out = ok(dir.path(), &["index", "rebuild"]);
    assert!(out.contains("with vectors"), "{out}");
    assert_eq!(
        documents(&hits(dir.path(), &[query, "--mode", "dense", "-k", "1"])),
        vec!["pub/harbour.md"]
    );
}

/// A `store:` berth does not write (Qdrant here) is said plainly, and the pipeline's
/// chunks go to the built-in index, which search then reads.
#[test]
fn a_store_berth_does_not_write_falls_back_to_the_builtin_index_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    corpus(dir.path());
    write(
        dir.path(),
        "berth.yaml",
        "stack: s\ncomponents:\n  vectors: { uses: qdrant, url: \"http://127.0.0.1:9\" }\nsources:\n  pub: { path: ./public }\npipelines:\n  idx: { source: pub, chunk: { strategy: markdown, max_tokens: 100, overlap: 0 }, store: vectors }\n",
    );
    let out = berth(dir.path(), &["ingest"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "pipeline `idx` names `store: vectors` (qdrant), which this berth does not write"
        ),
        "{stderr}"
    );
    let found = hits(dir.path(), &["ship berth lighthouse", "--pipeline", "idx"]);
    assert_eq!(documents(&found)[0], "pub/harbour.md");
}
