//! What the tests of the berth binary share: running it, the server as a child process,
//! its output as lines, and plain HTTP requests to it.

#![allow(dead_code)] // each test binary uses part of it

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Runs the berth binary in `dir`.
pub fn berth(dir: &Path, args: &[&str]) -> Output {
    berth_env(dir, args, &[])
}

/// Runs the berth binary in `dir` with `env` added to its environment.
pub fn berth_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .output()
        .expect("berth runs")
}

/// Runs the berth binary in `dir`, which must succeed; returns its output.
pub fn berth_ok(dir: &Path, args: &[&str]) -> String {
    berth_ok_env(dir, args, &[])
}

/// Like [`berth_ok`] with `env` added to the environment.
pub fn berth_ok_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = berth_env(dir, args, env);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "berth {args:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Writes `text` to `dir/name`, creating directories on the way.
pub fn write_file(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// `berth serve --port 0` in `dir`, killed when dropped.
pub struct Server {
    child: Child,
    /// `host:port` it listens on.
    pub address: String,
    lines: mpsc::Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts the gateway with extra environment variables and waits until it listens.
    pub fn start(dir: &Path, env: &[(&str, &str)]) -> Server {
        Server::start_args(dir, &["serve", "--port", "0"], env)
    }

    /// Starts berth with `args` (a server that prints `listening on http://…`) and waits
    /// until it listens.
    pub fn start_args(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(args)
            .current_dir(dir)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Output and errors both feed one channel of lines.
        let (tx, lines) = mpsc::channel();
        let stdout: Box<dyn Read + Send> = Box::new(child.stdout.take().unwrap());
        let stderr: Box<dyn Read + Send> = Box::new(child.stderr.take().unwrap());
        for stream in [stdout, stderr] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let mut server = Server {
            child,
            address: String::new(),
            lines,
        };
        let line = server.wait_for("listening on");
        server.address = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("http://"))
            .and_then(|w| w.split('/').next())
            .unwrap()
            .to_owned();
        server
    }

    /// The API root clients use.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.address)
    }

    /// The next output line containing `needle` (a bounded wait).
    pub fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => seen.push(line),
                Err(_) => panic!(
                    "berth serve printed no line containing `{needle}` within 30 s: {seen:?}"
                ),
            }
        }
    }

    /// Sends one request; returns the status and the body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: &str,
    ) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let auth = key.map_or(String::new(), |k| format!("Authorization: Bearer {k}\r\n"));
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.address,
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let status = answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"));
        let body = answer
            .split_once("\r\n\r\n")
            .map_or(String::new(), |(_, b)| b.to_owned());
        (status, body)
    }
}

/// The all-MiniLM-L6-v2 weights (`BERTH_TEST_MODEL_DIR`, else `.models/`), or a loud
/// skip (a failure under CI, which fetches them).
pub fn model_dir() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("BERTH_TEST_MODEL_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../.models/all-MiniLM-L6-v2")
        });
    if dir.join("model.safetensors").is_file() {
        return Some(dir.canonicalize().unwrap());
    }
    let message = format!(
        "model weights not found at {}: run bench/fetch-model.sh",
        dir.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{message}");
    }
    eprintln!("SKIPPED: {message}");
    None
}

/// Documents (id → status and content hash) and chunks (id → hash of the text) of one
/// pipeline, whatever store they were read from: what two runs are compared by.
pub type Snapshot = (
    std::collections::BTreeMap<String, String>,
    std::collections::BTreeMap<String, String>,
);

/// A [`Snapshot`] of `documents`, their chunks read with `chunks_of`.
pub fn snapshot_of(
    documents: std::collections::BTreeMap<String, berth_ingest::state::DocumentRow>,
    mut chunks_of: impl FnMut(&str) -> Vec<berth_ingest::state::ChunkRecord>,
) -> Snapshot {
    let mut chunks = std::collections::BTreeMap::new();
    for id in documents.keys() {
        for c in chunks_of(id) {
            chunks.insert(c.id, blake3::hash(c.text.as_bytes()).to_hex().to_string());
        }
    }
    let docs = documents
        .into_iter()
        .map(|(id, d)| {
            (
                id,
                format!("{:?}:{}", d.status, d.content_hash.unwrap_or_default()),
            )
        })
        .collect();
    (docs, chunks)
}

/// The server's URL, or a loud skip (a failure under CI, which starts one).
pub fn pg_url() -> Option<String> {
    match std::env::var("BERTH_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            let message = "BERTH_TEST_PG_URL is not set (bench/pg/start.sh starts PostgreSQL)";
            assert!(std::env::var_os("CI").is_none(), "{message}");
            eprintln!("SKIPPED: {message}");
            None
        }
    }
}

/// A database of its own for this test, dropped at the end.
pub struct Database {
    admin: String,
    name: String,
}

impl Database {
    pub fn create(admin: &str, name: &str) -> Database {
        let mut c = postgres::Client::connect(admin, postgres::NoTls).unwrap();
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .unwrap();
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        Database {
            admin: admin.to_owned(),
            name: name.to_owned(),
        }
    }

    /// The URL of this database on the same server, without credentials.
    pub fn url(&self) -> String {
        let (base, _) = self.admin.rsplit_once('/').unwrap();
        let host = base
            .split_once('@')
            .map_or(base.to_owned(), |(scheme_user, host)| {
                format!("{}://{host}", scheme_user.split_once("://").unwrap().0)
            });
        format!("{host}/{}", self.name)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}
