//! `berth ingest` as a user runs it, including being killed.

use berth_ingest::state::StateStore;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn berth(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("berth runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const STACK: &str = "stack: crash\nsources:\n  docs: { path: ./docs, acl: { groups: [staff] } }\npipelines:\n  idx: { source: docs, chunk: { strategy: recursive, max_tokens: 64, overlap: 8 } }\n";

/// A small deterministic generator, so corpora are reproducible.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const WORDS: &[&str] = &[
    "berth",
    "pipeline",
    "chunk",
    "index",
    "vector",
    "gateway",
    "model",
    "source",
    "document",
    "retrieval",
    "answer",
    "question",
    "cluster",
    "node",
    "memory",
    "latency",
    "token",
    "embed",
    "search",
    "policy",
    "access",
    "group",
    "staff",
    "report",
    "update",
    "delete",
    "change",
];

fn document(rng: &mut Rng) -> String {
    let paragraphs = 2 + rng.below(6);
    let mut out = String::new();
    for p in 0..paragraphs {
        if p > 0 {
            out.push_str("\n\n");
        }
        let words = 20 + rng.below(80);
        for w in 0..words {
            if w > 0 {
                out.push(' ');
            }
            out.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
        }
        out.push('.');
    }
    out
}

fn stack_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("berth.yaml"), STACK).unwrap();
    std::fs::create_dir_all(dir.path().join("docs")).unwrap();
    dir
}

/// Documents, chunks (id → text hash) and integrity problems of a stack's state store.
fn snapshot(
    dir: &Path,
) -> (
    BTreeMap<String, String>,
    BTreeMap<String, String>,
    Vec<String>,
) {
    let mut store = StateStore::open(&dir.join(".berth/state.db")).unwrap();
    let docs = store
        .documents("idx")
        .unwrap()
        .into_iter()
        .map(|(id, d)| {
            (
                id,
                format!("{:?}:{}", d.status, d.content_hash.unwrap_or_default()),
            )
        })
        .collect::<BTreeMap<_, _>>();
    let mut chunks = BTreeMap::new();
    for id in docs.keys() {
        for c in store.chunks_of("idx", id).unwrap() {
            chunks.insert(c.id, blake3::hash(c.text.as_bytes()).to_hex().to_string());
        }
    }
    (docs, chunks, store.check().unwrap())
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn ingest_killed_at_random_instants_converges_to_the_same_index() {
    let crashed = stack_dir();
    let docs = crashed.path().join("docs");
    let mut rng = Rng(0x5eed_cafe);
    let mut names: Vec<String> = (0..400).map(|i| format!("doc{i:04}.md")).collect();
    for n in &names {
        std::fs::write(docs.join(n), document(&mut rng)).unwrap();
    }

    // How long an uninterrupted first run takes here, to spread kill instants over it.
    let probe = stack_dir();
    copy_dir(&docs, &probe.path().join("docs"));
    let t = Instant::now();
    let out = berth(probe.path(), &["ingest"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let full = t.elapsed();

    let mut kills = 0;
    let mut stale = std::collections::BTreeSet::new();
    let mut iterations = 0;
    while kills < 20 {
        iterations += 1;
        assert!(iterations < 200, "could not kill a running ingest 20 times");
        // Change the collection a little: edit, delete, add.
        for _ in 0..8 {
            let i = rng.below(names.len() as u64) as usize;
            std::fs::write(docs.join(&names[i]), document(&mut rng)).unwrap();
        }
        for _ in 0..2 {
            let i = rng.below(names.len() as u64) as usize;
            let gone = names.swap_remove(i);
            std::fs::remove_file(docs.join(gone)).unwrap();
        }
        for _ in 0..4 {
            let name = format!("new{iterations:03}-{}.md", rng.below(1_000_000));
            std::fs::write(docs.join(&name), document(&mut rng)).unwrap();
            names.push(name);
        }
        // Start an ingest and kill it (SIGKILL) at a random instant of a full run.
        let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("ingest")
            .current_dir(crashed.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let at = Duration::from_micros(rng.below(full.as_micros() as u64 + 1));
        std::thread::sleep(at);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
        // A kill inside a run (not before it started, nor in the index sync after it
        // ended) leaves it recorded as running; the next ingest must say it was interrupted.
        let out = berth(crashed.path(), &["runs", "--json", "--limit", "1"]);
        let last: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if last[0]["status"] == "running" {
            // (Killed again before the next ingest marked it, the same run shows twice.)
            stale.insert(last[0]["id"].as_i64().unwrap());
        }
    }
    // Finish, then compare with one uninterrupted run over the same final collection.
    let out = berth(crashed.path(), &["ingest"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let clean = stack_dir();
    copy_dir(&docs, &clean.path().join("docs"));
    let out = berth(clean.path(), &["ingest"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let (docs_a, chunks_a, problems_a) = snapshot(crashed.path());
    let (docs_b, chunks_b, problems_b) = snapshot(clean.path());
    assert!(problems_a.is_empty(), "{problems_a:?}");
    assert!(problems_b.is_empty(), "{problems_b:?}");
    assert_eq!(docs_a.len(), names.len());
    assert_eq!(docs_a, docs_b);
    assert_eq!(chunks_a.len(), chunks_b.len());
    assert_eq!(chunks_a, chunks_b);
    // The runs were recorded: interrupted ones as such.
    let out = berth(crashed.path(), &["runs", "--json", "--limit", "1000"]);
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let interrupted = runs
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "interrupted")
        .count();
    println!("{} of {kills} kills landed inside a run", stale.len());
    assert_eq!(
        interrupted,
        stale.len(),
        "every run killed while running is recorded as interrupted"
    );
}

#[test]
fn ingest_summary_runs_docs_and_failures() {
    let dir = stack_dir();
    let docs = dir.path().join("docs");
    std::fs::write(
        docs.join("guide.md"),
        "# Guide\n\n## Install\n\nRun the installer.\n",
    )
    .unwrap();
    std::fs::write(docs.join("broken.pdf"), "%PDF-1.7 truncated").unwrap();
    let out = berth(dir.path(), &["ingest"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a dead-lettered document makes the run fail"
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("idx: 2 seen · 1 added · 0 changed · 0 unchanged · 0 deleted · 1 failed"),
        "{stdout}"
    );
    assert!(stdout.contains("failed: docs/broken.pdf:"), "{stdout}");

    let again = berth(dir.path(), &["ingest"]);
    assert!(
        text(&again.stdout).contains("2 unchanged"),
        "{}",
        text(&again.stdout)
    );

    let failed = berth(dir.path(), &["docs", "--failed", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&failed.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["id"], "docs/broken.pdf");
    assert_eq!(v[0]["status"], "failed");

    let show = berth(dir.path(), &["docs", "show", "docs/guide.md"]);
    let s = text(&show.stdout);
    assert!(s.contains("written to: state store"), "{s}");
    assert!(s.contains("Run the installer."), "{s}");
    assert!(s.contains("groups [\"staff\"]"), "{s}");

    let missing = berth(dir.path(), &["docs", "show", "docs/nope.md"]);
    assert_eq!(missing.status.code(), Some(1));

    let metrics = berth(dir.path(), &["runs", "--metrics"]);
    let m = text(&metrics.stdout);
    assert!(
        m.contains("berth_ingest_documents_total{pipeline=\"idx\",outcome=\"added\"} 1"),
        "{m}"
    );

    let unknown = berth(dir.path(), &["ingest", "idz"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        text(&unknown.stderr).contains("did you mean `idx`?"),
        "{}",
        text(&unknown.stderr)
    );
}

#[test]
fn watch_mode_reindexes_when_files_change() {
    use std::io::BufRead;
    let dir = stack_dir();
    std::fs::write(dir.path().join("docs/a.md"), "# A\n\nfirst document").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["ingest", "--watch"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Each step waits for the line that proves the previous one happened (bounded, so a
    // broken watcher fails the test instead of hanging it).
    let wait_for = |needle: &str| -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => continue,
                Err(_) => panic!("no line containing `{needle}` within 60 s"),
            }
        }
    };
    wait_for("1 added");
    wait_for("waiting for changes");
    std::fs::write(dir.path().join("docs/b.md"), "# B\n\nsecond document").unwrap();
    let line = wait_for("idx: 2 seen");
    assert!(
        line.contains("2 seen · 1 added · 0 changed · 1 unchanged"),
        "{line}"
    );
    std::fs::remove_file(dir.path().join("docs/a.md")).unwrap();
    let line = wait_for("idx: 1 seen");
    assert!(line.contains("1 deleted"), "{line}");
    let line = wait_for("idx: index updated");
    assert!(line.contains("1 removed"), "{line}");
    child.kill().unwrap();
    child.wait().unwrap();
}
