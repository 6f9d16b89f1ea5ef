//! The runner against real files: incremental behaviour, deletions, fingerprint changes,
//! and a model-based test of random edit sequences.

use berth_ingest::pipeline::Pipeline;
use berth_ingest::runner::{self, RunOptions, RunReport};
use berth_ingest::state::{DocStatus, StateStore};
use berth_stack::catalog::Catalog;
use berth_stack::plan::Plan;
use berth_stack::stack::StackFile;
use berth_stack::{Environment, resolve};
use std::collections::BTreeMap;

fn plan(stack_text: &str) -> Plan {
    let (file, diags) = StackFile::parse("berth.yaml", stack_text);
    assert!(!diags.has_errors(), "{diags}");
    let catalog = Catalog::builtin().unwrap();
    resolve(&file.unwrap(), &catalog, &Environment::default())
        .unwrap_or_else(|d| panic!("{d}"))
        .plan
}

fn stack(chunk: &str) -> String {
    format!(
        "stack: t\nsources:\n  docs: {{ path: ./docs }}\npipelines:\n  idx: {{ source: docs, chunk: {chunk} }}\n"
    )
}

struct Fixture {
    dir: tempfile::TempDir,
    store: StateStore,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("docs")).unwrap();
        let store = StateStore::open(&dir.path().join(".berth/state.db")).unwrap();
        Fixture { dir, store }
    }

    fn write(&self, name: &str, text: &str) {
        let p = self.dir.path().join("docs").join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn run_with(&mut self, chunk: &str) -> RunReport {
        let plan = plan(&stack(chunk));
        let pipeline = Pipeline::from_plan(&plan, "idx", self.dir.path()).unwrap();
        let options = RunOptions {
            concurrency: 2,
            ..RunOptions::default()
        };
        runner::run(&mut self.store, &pipeline, &options, &mut |_| {}).unwrap()
    }

    fn run(&mut self) -> RunReport {
        self.run_with("{ strategy: recursive, max_tokens: 40, overlap: 5 }")
    }

    fn chunks_by_doc(&mut self) -> BTreeMap<String, Vec<String>> {
        let docs = self.store.documents("idx").unwrap();
        docs.keys()
            .map(|id| {
                let ids = self
                    .store
                    .chunks_of("idx", id)
                    .unwrap()
                    .into_iter()
                    .map(|c| c.id)
                    .collect();
                (id.clone(), ids)
            })
            .collect()
    }
}

fn prose(seed: usize, paragraphs: usize) -> String {
    (0..paragraphs)
        .map(|p| {
            (0..30)
                .map(|w| format!("word{}", (seed * 31 + p * 7 + w) % 97))
                .collect::<Vec<_>>()
                .join(" ")
                + "."
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[test]
fn a_second_run_over_an_unchanged_collection_processes_nothing() {
    let mut f = Fixture::new();
    for i in 0..12 {
        f.write(&format!("d{i}.txt"), &prose(i, 4));
    }
    let first = f.run();
    assert_eq!(first.counts.added, 12);
    assert!(first.counts.chunks_written > 12);
    let before = f.chunks_by_doc();
    let second = f.run();
    assert_eq!(second.counts.unchanged, 12);
    assert_eq!(
        (
            second.counts.added,
            second.counts.changed,
            second.counts.chunks_written
        ),
        (0, 0, 0)
    );
    assert_eq!(f.chunks_by_doc(), before);
    assert!(f.store.check().unwrap().is_empty());
}

#[test]
fn two_pipelines_over_the_same_source_keep_chunks_of_their_own() {
    let mut f = Fixture::new();
    f.write("a.md", &prose(1, 6));
    let text = "stack: t\nsources:\n  docs: { path: ./docs }\npipelines:\n  \
                one: { source: docs }\n  two: { source: docs }\n";
    let plan = plan(text);
    let options = RunOptions::default();
    for name in ["one", "two"] {
        let pipeline = Pipeline::from_plan(&plan, name, f.dir.path()).unwrap();
        let report = runner::run(&mut f.store, &pipeline, &options, &mut |_| {}).unwrap();
        assert_eq!(report.counts.added, 1, "{name}");
    }
    let one = f.store.chunk_ids("one").unwrap();
    let two = f.store.chunk_ids("two").unwrap();
    assert!(!one.is_empty());
    assert_eq!(one.len(), two.len());
    assert!(
        one.iter().all(|id| !two.contains(id)),
        "chunk ids are per pipeline"
    );
    assert!(f.store.check().unwrap().is_empty());
}

#[test]
fn touching_a_file_without_changing_it_processes_nothing() {
    let mut f = Fixture::new();
    f.write("a.txt", &prose(1, 3));
    f.write("b.txt", &prose(2, 3));
    f.run();
    // Same content, new modification time.
    let path = f.dir.path().join("docs/a.txt");
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(120);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let r = f.run();
    assert_eq!(
        (
            r.counts.changed,
            r.counts.unchanged,
            r.counts.chunks_written
        ),
        (0, 2, 0)
    );
    // The new revision was recorded: the next run does not even read the file.
    let r = f.run();
    assert_eq!(r.counts.unchanged, 2);
}

#[test]
fn changing_one_file_reprocesses_exactly_that_file() {
    let mut f = Fixture::new();
    for i in 0..5 {
        f.write(&format!("d{i}.txt"), &prose(i, 3));
    }
    f.run();
    let before = f.chunks_by_doc();
    f.write("d2.txt", &prose(99, 6));
    let r = f.run();
    assert_eq!(
        (r.counts.changed, r.counts.unchanged, r.counts.added),
        (1, 4, 0)
    );
    let after = f.chunks_by_doc();
    for (id, chunks) in &before {
        if id != "docs/d2.txt" {
            assert_eq!(&after[id], chunks, "{id} changed");
        }
    }
    assert!(after["docs/d2.txt"].len() > before["docs/d2.txt"].len());
    let doc = f.store.document("idx", "docs/d2.txt").unwrap().unwrap();
    assert_eq!(doc.version, 2);
    assert!(f.store.check().unwrap().is_empty());
}

#[test]
fn deleting_one_file_removes_exactly_its_chunks() {
    let mut f = Fixture::new();
    for i in 0..4 {
        f.write(&format!("d{i}.txt"), &prose(i, 3));
    }
    f.run();
    let before = f.chunks_by_doc();
    std::fs::remove_file(f.dir.path().join("docs/d1.txt")).unwrap();
    let r = f.run();
    assert_eq!(r.counts.deleted, 1);
    assert_eq!(
        r.counts.chunks_deleted as usize,
        before["docs/d1.txt"].len()
    );
    let mut expected = before.clone();
    expected.remove("docs/d1.txt");
    assert_eq!(f.chunks_by_doc(), expected);
    assert!(
        f.store
            .search("idx", "word1", 100)
            .unwrap()
            .iter()
            .all(|h| h.document_id != "docs/d1.txt")
    );
}

#[test]
fn changing_the_chunker_reindexes_everything_in_the_pipeline() {
    let mut f = Fixture::new();
    for i in 0..3 {
        f.write(&format!("d{i}.txt"), &prose(i, 3));
    }
    f.run();
    let before = f.chunks_by_doc();
    let r = f.run_with("{ strategy: recursive, max_tokens: 60, overlap: 5 }");
    assert_eq!((r.counts.changed, r.counts.unchanged), (3, 0));
    let after = f.chunks_by_doc();
    for (id, chunks) in &after {
        assert!(
            chunks.iter().all(|c| !before[id].contains(c)),
            "{id} kept old chunk ids"
        );
    }
    assert!(f.store.check().unwrap().is_empty());
    // And then it is stable again.
    let r = f.run_with("{ strategy: recursive, max_tokens: 60, overlap: 5 }");
    assert_eq!(r.counts.unchanged, 3);
}

#[test]
fn failures_are_dead_lettered_and_the_rest_is_indexed() {
    let mut f = Fixture::new();
    f.write("good.txt", &prose(1, 2));
    f.write("bad.pdf", "this is not a pdf");
    f.write("empty.md", "");
    let r = f.run();
    assert_eq!((r.counts.added, r.counts.failed), (1, 2));
    assert_eq!(r.status, "failures");
    let failed = f.store.list_documents(Some("idx"), true).unwrap();
    assert_eq!(failed.len(), 2);
    for d in &failed {
        assert_eq!(d.status, DocStatus::Failed);
        assert!(!d.last_error.as_deref().unwrap_or_default().is_empty());
    }
    // Unchanged failures are not retried on every run.
    let r = f.run();
    assert_eq!((r.counts.unchanged, r.counts.failed), (3, 0));
    // A fixed document is picked up.
    f.write("empty.md", "# Now\n\nit has text");
    let r = f.run();
    assert_eq!((r.counts.changed, r.counts.failed), (1, 0));
}

#[test]
fn a_missing_source_fails_the_run_and_deletes_nothing() {
    let mut f = Fixture::new();
    f.write("a.txt", &prose(1, 2));
    f.run();
    let before = f.chunks_by_doc();
    std::fs::rename(f.dir.path().join("docs"), f.dir.path().join("moved")).unwrap();
    let plan = plan(&stack("{ strategy: recursive }"));
    let err = Pipeline::from_plan(&plan, "idx", f.dir.path()).unwrap_err();
    assert!(err.to_string().contains("cannot open source path"), "{err}");
    assert_eq!(f.chunks_by_doc(), before);
}

mod model {
    //! Random sequences of add / change / delete / run, against the real runner and a
    //! model: after every run, the state store holds exactly the model's documents, each
    //! with chunks of its current content.
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Write(usize, usize),
        Delete(usize),
        Touch(usize),
        Run,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0usize..6, 0usize..50).prop_map(|(f, s)| Op::Write(f, s)),
            1 => (0usize..6).prop_map(Op::Delete),
            1 => (0usize..6).prop_map(Op::Touch),
            2 => Just(Op::Run),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        #[test]
        fn the_index_follows_the_collection(ops in proptest::collection::vec(op(), 1..25)) {
            let mut f = Fixture::new();
            let mut model: BTreeMap<usize, String> = BTreeMap::new();
            let check = |f: &mut Fixture, model: &BTreeMap<usize, String>| -> Result<(), TestCaseError> {
                let docs = f.store.documents("idx").unwrap();
                let ids: Vec<String> = model.keys().map(|k| format!("docs/f{k}.txt")).collect();
                prop_assert_eq!(docs.keys().cloned().collect::<Vec<_>>(), ids);
                for (k, text) in model {
                    let id = format!("docs/f{k}.txt");
                    let hash = blake3::hash(text.as_bytes()).to_hex().to_string();
                    prop_assert_eq!(docs[&id].content_hash.as_deref(), Some(hash.as_str()));
                    let chunks = f.store.chunks_of("idx", &id).unwrap();
                    let joined: String = chunks.iter().map(|c| c.text.as_str()).collect::<Vec<_>>().join(" ");
                    for word in text.split_whitespace().take(3) {
                        prop_assert!(joined.contains(word.trim_end_matches('.')));
                    }
                }
                prop_assert!(f.store.check().unwrap().is_empty());
                Ok(())
            };
            for op in ops.iter().cloned().chain([Op::Run]) {
                match op {
                    Op::Write(k, seed) => {
                        let text = prose(seed, 1 + seed % 4);
                        f.write(&format!("f{k}.txt"), &text);
                        model.insert(k, text);
                    }
                    Op::Delete(k) => {
                        let _ = std::fs::remove_file(f.dir.path().join(format!("docs/f{k}.txt")));
                        model.remove(&k);
                    }
                    Op::Touch(k) => {
                        let p = f.dir.path().join(format!("docs/f{k}.txt"));
                        if let Ok(file) = std::fs::File::options().write(true).open(&p) {
                            let t = std::time::SystemTime::now() + std::time::Duration::from_secs(k as u64 + 60);
                            file.set_modified(t).unwrap();
                        }
                    }
                    Op::Run => {
                        f.run();
                        check(&mut f, &model)?;
                    }
                }
            }
        }
    }
}

/// A long-running reader (the gateway) beside a worker that holds the state directory:
/// the reader sees "not ingested" while no index is committed, then every index the
/// worker commits, even when the state store did not change in between.
#[test]
fn a_reader_follows_the_index_a_worker_commits() {
    use berth_index::Principal;
    use berth_ingest::knowledge::{Knowledge, KnowledgeError};
    use berth_ingest::state::StateLock;

    let mut f = Fixture::new();
    let state_dir = f.dir.path().join(".berth");
    let reader = Knowledge::with_embedder("idx", &state_dir, None);
    // The worker holds the directory for its whole life.
    let _worker = StateLock::acquire(&state_dir).unwrap();
    f.write(
        "a.md",
        "The harbour pilot boards every vessel at the outer buoy.",
    );
    f.run();
    let anyone = Principal::default();
    // Chunks are in the store, but no index was committed yet.
    match reader.search("harbour pilot", &anyone, 3, None) {
        Err(KnowledgeError::NotIngested(p)) => assert_eq!(p, "idx"),
        other => panic!("expected not ingested, got {other:?}"),
    }
    // The worker syncs the index after its run; the store's data does not change.
    let sync = |store: &mut StateStore| {
        berth_ingest::index::open_synced(store, &state_dir, "idx", None).unwrap();
    };
    sync(&mut f.store);
    let hits = reader.search("harbour pilot", &anyone, 3, None).unwrap();
    assert_eq!(hits.hits.len(), 1, "{hits:?}");
    // A second document: ingested, then indexed; the reader follows both steps.
    f.write(
        "b.md",
        "Cargo cranes unload the container ship at the quay.",
    );
    f.run();
    let before = reader
        .search("cargo cranes quay", &anyone, 3, None)
        .unwrap();
    assert!(before.hits.is_empty(), "not indexed yet: {before:?}");
    sync(&mut f.store);
    let after = reader
        .search("cargo cranes quay", &anyone, 3, None)
        .unwrap();
    assert_eq!(after.hits.len(), 1, "{after:?}");
}

/// A long-running reader (the gateway) over a shared PostgreSQL state store follows what
/// workers commit — additions and deletions — through the store's change counter, with
/// its own built-in index. Needs a real PostgreSQL (`BERTH_TEST_PG_URL`).
#[test]
fn a_reader_follows_a_shared_state_store() {
    use berth_index::Principal;
    use berth_ingest::knowledge::{Knowledge, StateSource};
    use berth_ingest::state::ReadState;
    use berth_ingest::state::postgres::{PgOptions, PgStateStore};

    let Some(url) = std::env::var("BERTH_TEST_PG_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        let message = "BERTH_TEST_PG_URL is not set (bench/pg/start.sh starts PostgreSQL)";
        assert!(std::env::var_os("CI").is_none(), "{message}");
        eprintln!("SKIPPED: {message}");
        return;
    };
    // A database of its own, dropped at the end.
    let name = format!("berth_reader_{}", std::process::id());
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    let url = format!("{}/{name}", url.rsplit_once('/').unwrap().0);
    let mut worker = PgStateStore::connect(&url, PgOptions::default()).unwrap();
    let f = Fixture::new();
    let state_dir = f.dir.path().join(".berth");
    let reader = Knowledge::with_embedder("idx", &state_dir, None)
        .with_stores(StateSource::Postgres(url.clone()), None);
    let plan = plan(&stack(
        "{ strategy: recursive, max_tokens: 40, overlap: 5 }",
    ));
    let run = |worker: &mut PgStateStore| {
        let pipeline = Pipeline::from_plan(&plan, "idx", f.dir.path()).unwrap();
        runner::run(worker, &pipeline, &RunOptions::default(), &mut |_| {}).unwrap()
    };
    let anyone = Principal::default();
    let found = |q: &str| -> Vec<String> {
        let hits = reader.search(q, &anyone, 3, None).unwrap().hits;
        hits.into_iter().map(|h| h.document_id).collect()
    };

    f.write(
        "a.md",
        "The harbour pilot boards every vessel at the outer buoy.",
    );
    let before = worker.data_version().unwrap();
    run(&mut worker);
    assert!(worker.data_version().unwrap() > before);
    assert_eq!(found("harbour pilot"), ["docs/a.md"]);
    f.write(
        "b.md",
        "Cargo cranes unload the container ship at the quay.",
    );
    run(&mut worker);
    assert_eq!(found("cargo cranes quay"), ["docs/b.md"]);
    std::fs::remove_file(f.dir.path().join("docs/a.md")).unwrap();
    run(&mut worker);
    assert!(found("harbour pilot").is_empty());

    drop((reader, worker));
    admin
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .unwrap();
}
