//! The compose target end to end on the machine's Docker engine, with berth's own image
//! built here from the binary under test (nothing is pulled): `berth up --target
//! compose` → the worker container ingests a mounted collection → a question through the
//! gateway container comes back with citations → the worker is killed (SIGKILL) mid-ingest
//! and restarted → the index converges to exactly what one clean run produces → `berth
//! down --volumes` leaves no container, network or volume of the stack behind.

mod common;

use berth_ingest::state::StateStore;
use common::{Snapshot, berth, berth_ok, snapshot_of};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const QUESTION: &str = "How does the gateway probe a route whose circuit breaker is open?";
const EXPECTED: &str = "handbook/gateway.md";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Whether the Docker engine and a Compose CLI answer; skipped loudly, failed under CI.
fn docker_ready() -> bool {
    let works = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let engine = works("docker", &["info"]);
    let compose = works("docker", &["compose", "version"]) || works("docker-compose", &["version"]);
    if engine && compose {
        return true;
    }
    let message = format!(
        "the Docker engine (running: {engine}) and a Compose CLI (found: {compose}) are needed"
    );
    assert!(std::env::var_os("CI").is_none(), "{message}");
    eprintln!("SKIPPED: {message}");
    false
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The stack: one collection, one keyword pipeline, one rag app, on compose.
fn write_stack(dir: &Path, name: &str) {
    std::fs::write(
        dir.join("berth.yaml"),
        format!(
            "stack: {name}\ntarget: compose\n\
             sources:\n  handbook:\n    path: ./docs\n    include: [\"**/*.md\", \"**/*.pdf\"]\n\
             pipelines:\n  handbook-index:\n    source: handbook\n    chunk: {{ strategy: markdown, max_tokens: 300, overlap: 30 }}\n\
             apps:\n  ask: {{ kind: rag, pipeline: handbook-index, top_k: 4 }}\n"
        ),
    )
    .unwrap();
}

/// The collection: the ARAGOG papers five times over (so an ingest lasts long enough to
/// be interrupted) and berth's gateway documentation, which the question is about.
fn write_collection(docs: &Path) -> usize {
    std::fs::create_dir_all(docs).unwrap();
    let papers = repo().join("../shared/eval/aragog/papers");
    let mut n = 0;
    for copy in 0..5 {
        for entry in std::fs::read_dir(&papers).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            std::fs::copy(&path, docs.join(format!("{copy}-{name}"))).unwrap();
            n += 1;
        }
    }
    std::fs::copy(repo().join("docs/gateway.md"), docs.join("gateway.md")).unwrap();
    n + 1
}

/// The snapshot of a state store, and its integrity problems.
fn snapshot(db: &Path) -> (Snapshot, Vec<String>) {
    let mut store = StateStore::open(db).unwrap();
    let documents = store.documents("handbook-index").unwrap();
    let snap = snapshot_of(documents, |id| {
        store.chunks_of("handbook-index", id).unwrap()
    });
    (snap, store.check().unwrap())
}

/// Removes the stack's containers, network and volumes even when the test fails.
struct Down<'a>(&'a Path);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = berth(self.0, &["down", ".", "--volumes"]);
    }
}

fn post(port: u16, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let status = raw[9..12].parse().unwrap();
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    (status, body.to_owned())
}

#[test]
fn compose_stack_ingests_answers_survives_a_killed_worker_and_goes_down_clean() {
    if !docker_ready() {
        return;
    }
    let exe = env!("CARGO_BIN_EXE_berth");
    let work = tempfile::tempdir().unwrap();

    // berth's image, from the binary under test.
    let built = berth_ok(work.path(), &["image", "build", "--binary", exe]);
    assert!(built.contains("berth/berth:"), "{built}");

    let stack = work.path().join("stack");
    std::fs::create_dir_all(&stack).unwrap();
    let project = format!("berth-e2e-{}", std::process::id());
    write_stack(&stack, &project);
    let documents = write_collection(&stack.join("docs"));
    let _down = Down(&stack);

    let up = berth_ok(
        &stack,
        &["up", ".", "--target", "compose", "--timeout", "300"],
    );
    assert!(up.contains("is up"), "{up}");
    let port: u16 = up
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("gateway")
                .and_then(|l| l.trim().strip_prefix("http://127.0.0.1:"))
        })
        .unwrap_or_else(|| panic!("no gateway address in:\n{up}"))
        .parse()
        .unwrap();
    let status = berth_ok(&stack, &["status", "."]);
    assert!(
        status.lines().filter(|l| l.contains("ready")).count() == 2,
        "{status}"
    );
    let container = |service: &str| {
        docker(&[
            "ps",
            "-a",
            "-q",
            "--filter",
            &format!("label=com.docker.compose.project={project}"),
            "--filter",
            &format!("label=com.docker.compose.service={service}"),
        ])
        .trim()
        .to_owned()
    };
    let worker = container("worker");
    assert!(!worker.is_empty(), "no worker container");
    let in_worker = |args: &[&str]| -> Option<Value> {
        let mut all = vec!["exec", worker.as_str(), "berth"];
        all.extend_from_slice(args);
        let out = Command::new("docker").args(&all).output().ok()?;
        serde_json::from_slice(&out.stdout).ok()
    };

    // Mid-ingest: the run is under way and some documents are done. Then SIGKILL.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "the worker never got under way");
        let runs = in_worker(&["runs", "--json"]).unwrap_or(Value::Null);
        let done = in_worker(&["docs", "--json"])
            .and_then(|d| d.as_array().cloned())
            .map(|d| d.iter().filter(|x| x["status"] == "done").count())
            .unwrap_or(0);
        let last = &runs[0]["status"];
        assert!(
            last != "ok",
            "the ingest finished before it could be interrupted ({done} documents)"
        );
        if last == "running" && done >= 1 && done < documents {
            docker(&["kill", "--signal", "KILL", &worker]);
            println!("killed the worker with {done} of {documents} documents done");
            break;
        }
    }
    // Restarted: `up` again brings the stopped worker back (the same container).
    let again = berth_ok(
        &stack,
        &["up", ".", "--target", "compose", "--timeout", "300"],
    );
    assert!(again.contains("is up"), "{again}");

    // Converged: the last run finished, the killed one is recorded as interrupted.
    let deadline = Instant::now() + Duration::from_secs(240);
    let runs = loop {
        assert!(Instant::now() < deadline, "the index did not converge");
        let runs = in_worker(&["runs", "--json"]).unwrap_or(Value::Null);
        if runs[0]["status"] == "ok" {
            break runs;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let statuses: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert!(statuses.contains(&"interrupted"), "{statuses:?}");

    // A question through the gateway container, answered from the worker's index (which
    // the worker commits just after its run is recorded: polled until it is there).
    let deadline = Instant::now() + Duration::from_secs(60);
    let answer = loop {
        let (code, body) = post(
            port,
            "/v1/apps/ask/query",
            &format!(r#"{{"question": "{QUESTION}"}}"#),
        );
        assert_eq!(code, 200, "{body}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        if !answer["citations"][0].is_null() || Instant::now() > deadline {
            break answer;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(answer["citations"][0]["document"], EXPECTED, "{answer:#}");
    assert!(
        answer["answer"]
            .as_str()
            .unwrap()
            .contains("spends no tokens"),
        "{answer:#}"
    );

    // Nothing lost, nothing duplicated: the same documents and chunks as one clean run.
    let copied = work.path().join("state-copy");
    docker(&["cp", &format!("{worker}:/state"), copied.to_str().unwrap()]);
    let clean = work.path().join("clean");
    std::fs::create_dir_all(&clean).unwrap();
    write_stack(&clean, &project);
    write_collection(&clean.join("docs"));
    berth_ok(&clean, &["ingest"]);
    let ((docs_a, chunks_a), problems_a) = snapshot(&copied.join("state.db"));
    let ((docs_b, chunks_b), problems_b) = snapshot(&clean.join(".berth/state.db"));
    assert!(problems_a.is_empty(), "{problems_a:?}");
    assert!(problems_b.is_empty(), "{problems_b:?}");
    assert_eq!(docs_a.len(), documents);
    assert_eq!(docs_a, docs_b);
    assert_eq!(chunks_a.len(), chunks_b.len());
    assert_eq!(chunks_a, chunks_b);

    // Down: no container, network or volume of the stack is left.
    let down = berth_ok(&stack, &["down", ".", "--volumes"]);
    assert!(down.contains("is down"), "{down}");
    let label = format!("label=com.docker.compose.project={project}");
    assert_eq!(docker(&["ps", "-a", "-q", "--filter", &label]).trim(), "");
    assert_eq!(
        docker(&["network", "ls", "-q", "--filter", &label]).trim(),
        ""
    );
    assert_eq!(
        docker(&["volume", "ls", "-q", "--filter", &label]).trim(),
        ""
    );
}
