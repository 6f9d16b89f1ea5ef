//! The README's first command, end to end: `berth up` on the quickstart stack ingests
//! berth's own documentation and serves the gateway, the `ask` app and the web UI; a
//! question asked over HTTP, through the official `openai` client (streaming) and in a
//! headless Chromium comes back with citations pointing at the right document.

mod browser;

use browser::Browser;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const QUESTION: &str = "How does the gateway probe a route whose circuit breaker is open?";
const EXPECTED: &str = "berth-docs/gateway.md";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The quickstart stack, copied so that its state lands in a temporary directory; its
/// source still points at the repository's `docs/`.
fn quickstart_copy(dir: &Path) {
    let text = std::fs::read_to_string(repo().join("examples/quickstart/berth.yaml")).unwrap();
    let docs = repo().join("docs");
    let text = text.replace("path: ../../docs", &format!("path: {}", docs.display()));
    assert!(
        text.contains(&docs.display().to_string()),
        "quickstart source moved"
    );
    std::fs::write(dir.join("berth.yaml"), text).unwrap();
}

struct Up {
    child: Child,
    lines: mpsc::Receiver<String>,
    address: String,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Up {
    fn start(dir: &Path) -> Up {
        let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["up", ".", "--port", "0"])
            .current_dir(dir)
            .env_remove("BERTH_CHAT_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let streams: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stdout.take().unwrap()),
            Box::new(child.stderr.take().unwrap()),
        ];
        for stream in streams {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let mut up = Up {
            child,
            lines,
            address: String::new(),
        };
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        // The banner names the UI once the gateway listens.
        while up.address.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match up.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(url) = line.trim().strip_prefix("web UI:") {
                        up.address = url
                            .trim()
                            .trim_start_matches("http://")
                            .trim_end_matches("/ui/")
                            .to_string();
                    }
                    seen.push(line);
                }
                Err(_) => panic!("berth up printed no UI address: {seen:#?}"),
            }
        }
        let banner = seen.join("\n");
        assert!(
            banner.contains("docs-index: "),
            "it ingested first: {banner}"
        );
        // The ready-to-paste lines follow the UI's.
        for _ in 0..3 {
            if let Ok(line) = up.lines.recv_timeout(Duration::from_secs(5)) {
                seen.push(line);
            }
        }
        let banner = seen.join("\n");
        assert!(banner.contains("curl -s http://"), "{banner}");
        assert!(
            banner.contains("ask \"How does berth choose host ports?\""),
            "{banner}"
        );
        up
    }

    fn post(&self, path: &str, body: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.address,
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let status = answer.split_whitespace().nth(1).unwrap().parse().unwrap();
        (status, answer.split_once("\r\n\r\n").unwrap().1.to_string())
    }
}

/// A program from `PATH` or a fixed place, or a loud skip (a failure under CI).
fn required(what: &str, candidates: &[PathBuf]) -> Option<PathBuf> {
    let found = candidates.iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        let message = format!("{what} not found (tried {candidates:?})");
        if std::env::var_os("CI").is_some() {
            panic!("{message}");
        }
        eprintln!("SKIPPED: {message}");
    }
    found.cloned()
}

#[test]
fn quickstart_answers_with_citations_over_http_openai_and_the_browser() {
    let dir = tempfile::tempdir().unwrap();
    quickstart_copy(dir.path());
    let up = Up::start(dir.path());

    // Over HTTP: an extractive answer (no chat model) citing the right document.
    let (status, body) = up.post(
        "/v1/apps/ask/query",
        &format!(r#"{{"question": "{QUESTION}"}}"#),
    );
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["mode"], "extractive");
    assert_eq!(answer["citations"][0]["document"], EXPECTED, "{answer:#}");
    assert!(
        answer["answer"]
            .as_str()
            .unwrap()
            .contains("spends no tokens"),
        "{answer:#}"
    );

    // The official openai client, streaming.
    let python = repo().join(".venv-test/bin/python");
    if let Some(python) = required("a Python with openai (.venv-test)", &[python]) {
        let out = Command::new(python)
            .arg(repo().join("crates/berth/tests/clients/app_client.py"))
            .args([
                &format!("http://{}/v1", up.address),
                "ask",
                QUESTION,
                EXPECTED,
            ])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("all checks passed"),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // A browser: the UI asks (a link with ?q= submits through the same composer a
    // person types into), the answer and its citations appear; a screenshot is kept.
    let Some(chromium) = required(
        "chromium (apt-get install chromium)",
        &[
            PathBuf::from("chromium"),
            PathBuf::from("/usr/bin/chromium"),
        ],
    ) else {
        return;
    };
    let url = format!(
        "http://{}/ui/?app=ask&q={}",
        up.address,
        QUESTION.replace(' ', "+").replace('?', "%3F")
    );
    let mut browser = Browser::launch(&chromium, 1280, 900);
    let tab = browser.open(&url);
    browser.wait_for(
        &tab,
        "article.message.assistant[data-done=\"true\"]",
        Duration::from_secs(60),
    );
    let dom = browser.html(&tab);
    let done = dom
        .split("<article")
        .find(|m| m.contains("message assistant") && m.contains("data-done=\"true\""))
        .unwrap_or_else(|| panic!("no finished answer in the page:\n{dom}"));
    assert!(
        done.contains("class=\"citation\""),
        "no citation link: {done}"
    );
    assert!(done.contains(EXPECTED), "citation names {EXPECTED}: {done}");
    assert!(done.contains("spends no tokens"), "{done}");
    assert!(!dom.contains("msg-error"), "the UI showed an error: {done}");
    let artifacts = repo().join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let png = browser.screenshot(&tab);
    std::fs::write(artifacts.join("quickstart-ui.png"), &png).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "screenshot of {} bytes",
        png.len()
    );
}
