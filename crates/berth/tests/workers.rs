//! Several workers sharing one PostgreSQL state store, split by leases, with one of them
//! killed (SIGKILL) at a random instant: the survivors finish its work once its leases
//! expire, and the result — documents and chunks — is exactly what one clean run over
//! the same collection produces. Needs a real PostgreSQL (`BERTH_TEST_PG_URL`).

mod common;

use berth_ingest::state::StateStore;
use berth_ingest::state::postgres::{PgOptions, PgStateStore, with_credentials};
use common::{Database, Snapshot, pg_url, snapshot_of};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

const PIPELINE: &str = "idx";

/// The workers' lease time.
const LEASE_MS: i64 = 2000;

fn write_stack(dir: &Path, state_url: Option<&str>) {
    let state = match state_url {
        Some(url) => format!(
            "components:\n  state:\n    uses: postgres\n    url: {url}\n    with: {{ password: \"${{secret:PG_PASSWORD}}\" }}\n"
        ),
        None => String::new(),
    };
    std::fs::write(
        dir.join("berth.yaml"),
        format!(
            "stack: workers\n{state}sources:\n  handbook: {{ path: ./docs, include: [\"**/*.md\", \"**/*.pdf\"] }}\n\
             pipelines:\n  {PIPELINE}: {{ source: handbook, chunk: {{ strategy: markdown, max_tokens: 300, overlap: 30 }} }}\n"
        ),
    )
    .unwrap();
}

/// A small deterministic generator (xorshift), seeded per run and printed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn worker(dir: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["ingest", "--concurrency", "1"])
        .current_dir(dir)
        .env("PG_PASSWORD", "unused-with-trust-auth")
        .env("BERTH_LEASE_SECONDS", (LEASE_MS / 1000).to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for a worker, at most `within`; its exit must be a success.
fn finish(mut child: Child, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read as _;
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            assert!(status.success(), "a worker failed: {err}");
            return;
        }
        assert!(Instant::now() < deadline, "a worker did not finish in time");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Three workers at once; one of them, chosen at random, is killed at a random instant
/// within `window`. Returns the runs the killed worker left recorded as running.
fn round(dir: &Path, url: &str, rng: &mut Rng, window: Duration) -> Vec<i64> {
    let mut children: Vec<Child> = (0..3).map(|_| worker(dir)).collect();
    let victim = rng.below(3) as usize;
    let at = Duration::from_millis(rng.below(window.as_millis() as u64) + 100);
    std::thread::sleep(at);
    let mut killed = children.remove(victim);
    let pid = killed.id();
    killed.kill().unwrap();
    killed.wait().unwrap();
    // Worker names carry the process id.
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let left: Vec<i64> = c
        .query(
            "SELECT id FROM berth.runs WHERE status = 'running' AND worker LIKE $1",
            &[&format!("%-{pid}-%")],
        )
        .map(|rows| rows.iter().map(|r| r.get(0)).collect())
        .unwrap_or_default();
    println!("killed worker {victim} after {at:?}; runs it left running: {left:?}");
    for child in children {
        finish(child, Duration::from_secs(300));
    }
    left
}

fn pg_snapshot(url: &str) -> Snapshot {
    let mut store = PgStateStore::connect(url, PgOptions::default()).unwrap();
    let documents = store.documents(PIPELINE).unwrap();
    snapshot_of(documents, |id| store.chunks_of(PIPELINE, id).unwrap())
}

fn sqlite_snapshot(db: &Path) -> Snapshot {
    let mut store = StateStore::open(db).unwrap();
    let documents = store.documents(PIPELINE).unwrap();
    snapshot_of(documents, |id| store.chunks_of(PIPELINE, id).unwrap())
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn three_workers_with_random_kills_converge_to_one_clean_run() {
    let Some(admin) = pg_url() else { return };
    let db = Database::create(&admin, &format!("berth_workers_{}", std::process::id()));
    let url = with_credentials(&db.url(), "postgres", None);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("seed {seed}");
    let mut rng = Rng(seed);

    let work = tempfile::tempdir().unwrap();
    let shared = work.path().join("shared");
    let docs = shared.join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    write_stack(&shared, Some(&db.url()));
    let papers = repo().join("../shared/eval/aragog/papers");
    for copy in 0..2 {
        for e in std::fs::read_dir(&papers).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            std::fs::copy(&p, docs.join(format!("{copy}-{name}"))).unwrap();
        }
    }
    for name in ["gateway.md", "ingestion.md", "retrieval.md"] {
        std::fs::copy(repo().join("docs").join(name), docs.join(name)).unwrap();
    }

    // Round one: the whole collection, one worker killed.
    let mut killed_runs = round(&shared, &url, &mut rng, Duration::from_secs(8));
    // Round two: the collection changed (some gone, some new, one edited).
    let mut names: Vec<String> = std::fs::read_dir(&docs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".pdf"))
        .collect();
    names.sort();
    for _ in 0..3 {
        let gone = names.remove(rng.below(names.len() as u64) as usize);
        std::fs::remove_file(docs.join(&gone)).unwrap();
    }
    for i in 0..4 {
        let from = &names[rng.below(names.len() as u64) as usize];
        std::fs::copy(docs.join(from), docs.join(format!("new-{i}-{from}"))).unwrap();
    }
    let edited = docs.join("gateway.md");
    let text = std::fs::read_to_string(&edited).unwrap();
    std::fs::write(
        &edited,
        format!("{text}\n\nAn added paragraph about quays.\n"),
    )
    .unwrap();
    killed_runs.extend(round(&shared, &url, &mut rng, Duration::from_secs(3)));

    // One more run finds nothing left to do: the survivors finished the killed worker's
    // share, and marks the killed runs as interrupted.
    // A dead worker is known dead once its heartbeat is older than the lease: the next
    // run may start only then to be sure to see it (polled on the store, bounded).
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let lease_ago = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
            - LEASE_MS;
        let fresh: i64 = c
            .query_one(
                "SELECT count(*) FROM berth.runs WHERE id = ANY($1) AND heartbeat_ms >= $2",
                &[&killed_runs, &lease_ago],
            )
            .unwrap()
            .get(0);
        if fresh == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a killed worker's heartbeat kept going"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let last = worker(&shared).wait_with_output().unwrap();
    assert!(
        last.status.success(),
        "{}",
        String::from_utf8_lossy(&last.stderr)
    );
    let mut store = PgStateStore::connect(&url, PgOptions::default()).unwrap();
    let runs = store.runs(100).unwrap();
    let final_run = &runs[0];
    assert_eq!(final_run.status, "ok", "{runs:#?}");
    assert_eq!(
        (final_run.counts.added, final_run.counts.changed),
        (0, 0),
        "work was left for the last run: {runs:#?}"
    );
    let mut interrupted: Vec<i64> = runs
        .iter()
        .filter(|r| r.status == "interrupted")
        .map(|r| r.id)
        .collect();
    interrupted.sort();
    killed_runs.sort();
    assert_eq!(
        interrupted, killed_runs,
        "exactly the killed workers' runs are interrupted"
    );
    assert!(runs.iter().all(|r| r.status != "running"), "{runs:#?}");
    // The work was split: in the first round every surviving worker indexed documents.
    let first_round: Vec<_> = runs.iter().filter(|r| r.id <= 3).collect();
    let busy = first_round.iter().filter(|r| r.counts.added > 0).count();
    assert!(
        busy >= 2,
        "the leases did not split the work: {first_round:#?}"
    );
    assert!(
        store.leases(PIPELINE).unwrap().is_empty(),
        "leases left behind"
    );
    drop(store);

    // The same documents and chunks as one clean run over the final collection.
    let clean = work.path().join("clean");
    std::fs::create_dir_all(&clean).unwrap();
    write_stack(&clean, None);
    copy_dir(&docs, &clean.join("docs"));
    let out = common::berth(&clean, &["ingest"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (docs_a, chunks_a) = pg_snapshot(&url);
    let (docs_b, chunks_b) = sqlite_snapshot(&clean.join(".berth/state.db"));
    assert_eq!(docs_a.len(), std::fs::read_dir(&docs).unwrap().count());
    assert_eq!(docs_a, docs_b);
    assert_eq!(chunks_a.len(), chunks_b.len());
    assert_eq!(chunks_a, chunks_b);
}
