//! Pipelines that name an external document parser, against stand-ins that speak the
//! real wire formats of Docling Serve and the Unstructured API (neither runs here).

use berth_ingest::pipeline::Pipeline;
use berth_ingest::runner::{self, RunOptions};
use berth_ingest::state::StateStore;
use berth_stack::catalog::Catalog;
use berth_stack::stack::StackFile;
use berth_stack::{Environment, resolve};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// Requests a stand-in received: path and body.
type Seen = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// Serves one JSON answer per request on `path`; records each request's path and body.
fn stand_in(path: &'static str, answer: String, seen: Seen) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let req_path = line
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_string();
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h == "\r\n" {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let ok = req_path == path;
            seen.lock().unwrap().push((req_path, body));
            let (status, text) = if ok {
                ("200 OK", answer.clone())
            } else {
                ("404 Not Found", "{}".into())
            };
            let reply = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                text.len()
            );
            let mut s = stream;
            s.write_all(reply.as_bytes()).unwrap();
        }
    });
    format!("http://{addr}")
}

fn run_with_parser(entry: &str, url: &str) -> (StateStore, tempfile::TempDir, runner::RunReport) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("docs")).unwrap();
    std::fs::write(dir.path().join("docs/report.pdf"), b"%PDF-1.7 pretend").unwrap();
    let stack = format!(
        "stack: t\ncomponents:\n  parser: {{ uses: {entry}, url: \"{url}\" }}\nsources:\n  docs: {{ path: ./docs }}\npipelines:\n  idx: {{ source: docs, parser: parser }}\n"
    );
    let (file, diags) = StackFile::parse("berth.yaml", &stack);
    assert!(!diags.has_errors(), "{diags}");
    let plan = resolve(
        &file.unwrap(),
        &Catalog::builtin().unwrap(),
        &Environment::default(),
    )
    .unwrap_or_else(|d| panic!("{d}"))
    .plan;
    let pipeline = Pipeline::from_plan(&plan, "idx", dir.path()).unwrap();
    let mut store = StateStore::open(&dir.path().join("state.db")).unwrap();
    let report = runner::run(&mut store, &pipeline, &RunOptions::default(), &mut |_| {}).unwrap();
    (store, dir, report)
}

#[test]
fn docling_stand_in_converts_documents_to_markdown() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let answer = serde_json::json!({
        "status": "success",
        "errors": [],
        "document": { "md_content": "# Quarterly report\n\n## Revenue\n\nRevenue grew by a tenth." }
    })
    .to_string();
    let url = stand_in("/v1/convert/file", answer, seen.clone());
    let (mut store, _dir, report) = run_with_parser("docling-serve", &url);
    assert_eq!(
        (report.counts.added, report.counts.failed),
        (1, 0),
        "{:?}",
        report.failures
    );
    let chunks = store.chunks_of("idx", "docs/report.pdf").unwrap();
    assert!(chunks.iter().any(|c| c.text.contains("Revenue grew")));
    assert_eq!(chunks[0].heading_path, ["Quarterly report"]);
    let requests = seen.lock().unwrap();
    let body = String::from_utf8_lossy(&requests[0].1);
    assert!(
        body.contains("name=\"files\"; filename=\"report.pdf\""),
        "{body}"
    );
    assert!(body.contains("%PDF-1.7 pretend"));
    assert!(body.contains("name=\"to_formats\"\r\n\r\nmd"));
}

#[test]
fn unstructured_stand_in_returns_elements_with_pages() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let answer = serde_json::json!([
        {"type": "Title", "text": "Safety manual", "metadata": {"page_number": 1}},
        {"type": "NarrativeText", "text": "Wear a helmet on site.", "metadata": {"page_number": 2}}
    ])
    .to_string();
    let url = stand_in("/general/v0/general", answer, seen.clone());
    let (mut store, _dir, report) = run_with_parser("unstructured-api", &url);
    assert_eq!(report.counts.added, 1, "{:?}", report.failures);
    let chunks = store.chunks_of("idx", "docs/report.pdf").unwrap();
    assert!(chunks[0].text.contains("Wear a helmet"));
    assert_eq!(chunks.last().unwrap().page_end, Some(2));
}

#[test]
fn a_parser_that_refuses_dead_letters_the_document() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let url = stand_in("/nowhere", "{}".into(), seen);
    let (mut store, _dir, report) = run_with_parser("docling-serve", &url);
    assert_eq!(report.counts.failed, 1);
    let doc = store.document("idx", "docs/report.pdf").unwrap().unwrap();
    assert!(
        doc.last_error
            .unwrap()
            .contains("refused this document (404)")
    );
}
