//! The runner's embedding step: vectors stored with their chunks, failures isolated to
//! the documents that caused them, a down model server dead-letters (never silently
//! skips) and the next run recovers.
//!
//! The embedders here are test doubles of the `Embedder` trait with scripted failures;
//! the real built-in model is exercised by the CLI tests.

use berth_ingest::pipeline::Pipeline;
use berth_ingest::runner::{self, RunOptions};
use berth_ingest::state::{DocStatus, StateStore};
use berth_models::{EmbedError, Embedder};
use berth_stack::catalog::Catalog;
use berth_stack::stack::StackFile;
use berth_stack::{Environment, resolve};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Embeds a text as (length, count of 'a', 1); refuses texts holding "poison"; fails
/// everything as a transient outage while `down` is set.
struct Scripted {
    down: AtomicBool,
    calls: AtomicUsize,
}

impl Embedder for Scripted {
    fn model(&self) -> &str {
        "scripted"
    }
    fn dimension(&self) -> Result<usize, EmbedError> {
        Ok(3)
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(EmbedError::Transport {
                url: "http://embedder".into(),
                reason: "connection refused".into(),
            });
        }
        if texts.iter().any(|t| t.contains("poison")) {
            return Err(EmbedError::Status {
                url: "http://embedder".into(),
                status: 400,
                body: "input rejected".into(),
                retry_after: None,
            });
        }
        Ok(texts
            .iter()
            .map(|t| vec![t.len() as f32, t.matches('a').count() as f32, 1.0])
            .collect())
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    store: StateStore,
    embedder: Arc<Scripted>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("docs")).unwrap();
        let store = StateStore::open(&dir.path().join(".berth/state.db")).unwrap();
        let embedder = Arc::new(Scripted {
            down: AtomicBool::new(false),
            calls: AtomicUsize::new(0),
        });
        Fixture {
            dir,
            store,
            embedder,
        }
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.path().join("docs").join(name), text).unwrap();
    }

    fn run(&mut self) -> runner::RunReport {
        let text = "stack: t\nsources:\n  docs: { path: ./docs }\npipelines:\n  idx: { source: docs, chunk: { strategy: recursive, max_tokens: 20, overlap: 0 } }\n";
        let (file, _) = StackFile::parse("berth.yaml", text);
        let plan = resolve(
            &file.unwrap(),
            &Catalog::builtin().unwrap(),
            &Environment::default(),
        )
        .unwrap()
        .plan;
        let mut pipeline = Pipeline::from_plan(&plan, "idx", self.dir.path()).unwrap();
        pipeline.embedder = Some(self.embedder.clone());
        runner::run(
            &mut self.store,
            &pipeline,
            &RunOptions::default(),
            &mut |_| {},
        )
        .unwrap()
    }
}

fn paragraph(word: &str, n: usize) -> String {
    (0..n)
        .map(|i| format!("{word} sentence number {i} about a topic."))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn every_chunk_is_stored_with_its_vector() {
    let mut f = Fixture::new();
    f.write("a.txt", &paragraph("alpha", 12));
    f.write("b.txt", &paragraph("beta", 3));
    let report = f.run();
    assert_eq!((report.counts.added, report.counts.failed), (2, 0));
    let mut total = 0;
    for id in f.store.documents("idx").unwrap().keys() {
        for chunk in f.store.chunks_of("idx", id).unwrap() {
            let v = chunk.embedding.expect("a chunk without its vector");
            assert_eq!(
                v,
                vec![
                    chunk.text.len() as f32,
                    chunk.text.matches('a').count() as f32,
                    1.0
                ]
            );
            total += 1;
        }
    }
    assert!(total > 2, "the documents should make several chunks");
    // Both documents went to the embedder together, not one call each.
    assert_eq!(f.embedder.calls.load(Ordering::SeqCst), 1);
}

#[test]
fn a_document_the_model_rejects_is_dead_lettered_and_the_others_are_indexed() {
    let mut f = Fixture::new();
    f.write("good.txt", &paragraph("fine", 4));
    f.write("bad.txt", &format!("{} poison pill", paragraph("meh", 2)));
    let report = f.run();
    assert_eq!((report.counts.added, report.counts.failed), (1, 1));
    let docs = f.store.documents("idx").unwrap();
    let bad = &docs["docs/bad.txt"];
    assert_eq!(bad.status, DocStatus::Failed);
    assert_eq!(bad.error_kind.as_deref(), Some("embed"));
    assert!(
        bad.last_error
            .as_deref()
            .unwrap()
            .contains("input rejected")
    );
    assert!(f.store.chunks_of("idx", "docs/bad.txt").unwrap().is_empty());
    assert_eq!(docs["docs/good.txt"].status, DocStatus::Done);
}

#[test]
fn a_down_model_server_dead_letters_the_batch_and_the_next_run_recovers() {
    let mut f = Fixture::new();
    for i in 0..5 {
        f.write(&format!("{i}.txt"), &paragraph("gamma", 3 + i));
    }
    f.embedder.down.store(true, Ordering::SeqCst);
    let report = f.run();
    assert_eq!((report.counts.added, report.counts.failed), (0, 5));
    // One attempt for the batch: an outage is not retried document by document.
    assert_eq!(f.embedder.calls.load(Ordering::SeqCst), 1);
    assert!(f.store.chunk_ids("idx").unwrap().is_empty());

    f.embedder.down.store(false, Ordering::SeqCst);
    let report = f.run();
    assert_eq!(
        (
            report.counts.added + report.counts.changed,
            report.counts.failed
        ),
        (5, 0)
    );
    let docs = f.store.documents("idx").unwrap();
    assert!(docs.values().all(|d| d.status == DocStatus::Done));
    let third = f.run();
    assert_eq!(
        third.counts.unchanged, 5,
        "a recovered collection is settled"
    );
}
