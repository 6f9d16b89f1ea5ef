//! The OpenAI-compatible and TEI embedders against a stand-in embeddings server (a
//! scripted HTTP server speaking both wire formats, with injected faults), since real
//! model servers cannot run here.

use berth_models::{EmbedError, Embedder, HttpOptions, OpenAiEmbedder, TeiEmbedder};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the stand-in does with the next request.
#[derive(Clone, Debug)]
enum Fault {
    /// 429 with `retry-after-ms`.
    TooMany(u64),
    /// A 500.
    ServerError,
    /// Accept, then say nothing for this long.
    Stall(Duration),
    /// Vectors of another length.
    WrongDimension,
    /// A 400 with an OpenAI error body.
    BadRequest,
}

#[derive(Default)]
struct Script {
    faults: Vec<Fault>,
    /// Inputs of every request that was answered, in order.
    batches: Vec<Vec<String>>,
    /// Authorization headers seen.
    auth: Vec<Option<String>>,
    requests: usize,
}

/// A deterministic 4-dimensional vector for a text.
fn vector_of(text: &str) -> Vec<f32> {
    let h = text
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
    vec![text.len() as f32, (h % 97) as f32, 1.0, -((h % 13) as f32)]
}

struct StandIn {
    url: String,
    script: Arc<Mutex<Script>>,
}

impl StandIn {
    fn start(faults: Vec<Fault>) -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let script = Arc::new(Mutex::new(Script {
            faults,
            ..Script::default()
        }));
        let shared = script.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                let shared = shared.clone();
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        StandIn { url, script }
    }
}

fn serve(mut stream: TcpStream, script: &Mutex<Script>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_string();
    let mut length = 0;
    let mut auth = None;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().unwrap(),
            "authorization" => auth = Some(value.trim().to_string()),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    let fault = {
        let mut s = script.lock().unwrap();
        s.requests += 1;
        s.auth.push(auth);
        if s.faults.is_empty() {
            None
        } else {
            Some(s.faults.remove(0))
        }
    };
    let inputs: Vec<String> = body
        .get(if path.ends_with("/embed") {
            "inputs"
        } else {
            "input"
        })
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    let reply = |stream: &mut TcpStream, status: &str, headers: &str, body: &str| {
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{headers}connection: close\r\n\r\n{body}",
            body.len()
        );
    };
    match fault {
        Some(Fault::TooMany(ms)) => {
            return reply(
                &mut stream,
                "429 Too Many Requests",
                &format!("retry-after-ms: {ms}\r\n"),
                r#"{"error":{"message":"slow down"}}"#,
            );
        }
        Some(Fault::ServerError) => {
            return reply(
                &mut stream,
                "500 Internal Server Error",
                "",
                r#"{"error":"boom"}"#,
            );
        }
        Some(Fault::BadRequest) => {
            return reply(
                &mut stream,
                "400 Bad Request",
                "",
                r#"{"error":{"message":"input is too long","type":"invalid_request_error"}}"#,
            );
        }
        Some(Fault::Stall(d)) => {
            std::thread::sleep(d);
            return;
        }
        _ => {}
    }
    let wrong = matches!(fault, Some(Fault::WrongDimension));
    let vectors: Vec<Vec<f32>> = inputs
        .iter()
        .map(|t| {
            let mut v = vector_of(t);
            if wrong {
                v.push(0.0);
            }
            v
        })
        .collect();
    script.lock().unwrap().batches.push(inputs.clone());
    let answer = if path.ends_with("/embed") {
        json!(vectors)
    } else {
        // Real servers may answer out of order: the index field decides.
        let mut data: Vec<Value> = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| json!({"object": "embedding", "index": i, "embedding": v}))
            .collect();
        data.reverse();
        json!({"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": 1, "total_tokens": 1}})
    };
    reply(&mut stream, "200 OK", "", &answer.to_string());
}

fn options(batch_size: usize) -> HttpOptions {
    HttpOptions {
        batch_size,
        max_attempts: 3,
        backoff: Duration::from_millis(5),
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(2),
    }
}

fn texts(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("text number {i} {}", "x".repeat(i % 5)))
        .collect()
}

#[test]
fn openai_embeddings_are_batched_and_returned_in_input_order() {
    let server = StandIn::start(vec![]);
    let e = OpenAiEmbedder::new(
        &format!("{}/v1", server.url),
        "minilm",
        Some("sk-test".into()),
        options(4),
    );
    let texts = texts(10);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let vectors = e.embed(&refs).unwrap();
    assert_eq!(
        vectors,
        texts.iter().map(|t| vector_of(t)).collect::<Vec<_>>()
    );
    let s = server.script.lock().unwrap();
    assert_eq!(
        s.batches.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![4, 4, 2]
    );
    assert!(
        s.auth
            .iter()
            .all(|a| a.as_deref() == Some("Bearer sk-test"))
    );
    drop(s);
    assert_eq!(e.dimension().unwrap(), 4);
}

#[test]
fn tei_embeddings_are_batched_and_keyless_without_a_key() {
    let server = StandIn::start(vec![]);
    let e = TeiEmbedder::new(&server.url, "bge-small", None, options(3));
    let texts = texts(7);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    assert_eq!(
        e.embed(&refs).unwrap(),
        texts.iter().map(|t| vector_of(t)).collect::<Vec<_>>()
    );
    let s = server.script.lock().unwrap();
    assert_eq!(
        s.batches.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![3, 3, 1]
    );
    assert!(s.auth.iter().all(Option::is_none));
}

#[test]
fn transient_failures_are_retried_honouring_retry_after() {
    let server = StandIn::start(vec![Fault::TooMany(30), Fault::ServerError]);
    let e = OpenAiEmbedder::new(&format!("{}/v1", server.url), "m", None, options(8));
    let started = std::time::Instant::now();
    assert_eq!(e.embed(&["a"]).unwrap(), vec![vector_of("a")]);
    assert!(
        started.elapsed() >= Duration::from_millis(30),
        "retry-after-ms was not honoured"
    );
    assert_eq!(server.script.lock().unwrap().requests, 3);
}

#[test]
fn retries_stop_after_the_attempt_limit_with_the_last_error() {
    let server = StandIn::start(vec![Fault::ServerError; 5]);
    let e = TeiEmbedder::new(&server.url, "m", None, options(8));
    let err = e.embed(&["a"]).unwrap_err();
    assert!(
        matches!(err, EmbedError::Status { status: 500, .. }),
        "{err}"
    );
    assert_eq!(server.script.lock().unwrap().requests, 3);
}

#[test]
fn a_client_error_is_not_retried_and_shows_the_server_message() {
    let server = StandIn::start(vec![Fault::BadRequest]);
    let e = OpenAiEmbedder::new(&format!("{}/v1", server.url), "m", None, options(8));
    let err = e.embed(&["a"]).unwrap_err().to_string();
    assert!(
        err.contains("HTTP 400") && err.contains("input is too long"),
        "{err}"
    );
    assert_eq!(server.script.lock().unwrap().requests, 1);
}

#[test]
fn a_silent_server_times_out() {
    let server = StandIn::start(vec![Fault::Stall(Duration::from_secs(5)); 3]);
    let mut o = options(8);
    o.timeout = Duration::from_millis(300);
    o.max_attempts = 1;
    let e = OpenAiEmbedder::new(&format!("{}/v1", server.url), "m", None, o);
    let err = e.embed(&["a"]).unwrap_err();
    assert!(matches!(err, EmbedError::Timeout { .. }), "{err}");
}

#[test]
fn a_model_whose_dimension_changes_is_refused() {
    let server = StandIn::start(vec![]);
    let e = OpenAiEmbedder::new(&format!("{}/v1", server.url), "m", None, options(8));
    e.embed(&["a"]).unwrap();
    server
        .script
        .lock()
        .unwrap()
        .faults
        .push(Fault::WrongDimension);
    let err = e.embed(&["b"]).unwrap_err();
    assert!(
        matches!(
            err,
            EmbedError::Dimension {
                expected: 4,
                found: 5,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn an_unreachable_server_is_a_transport_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut o = options(8);
    o.max_attempts = 1;
    let e = TeiEmbedder::new(&format!("http://127.0.0.1:{port}"), "m", None, o);
    let err = e.embed(&["a"]).unwrap_err();
    assert!(err.is_transient(), "{err}");
}
