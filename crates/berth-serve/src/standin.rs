//! A stand-in for OpenAI-compatible model servers (vLLM, TGI, Ollama, a provider), for
//! tests and benchmarks where real ones cannot run.
//!
//! It speaks enough of the wire format: chat completions, whole and streamed as SSE
//! (with a usage chunk when `stream_options.include_usage` is set, ending in
//! `data: [DONE]`), embeddings, the model list, and TEI's `/rerank`. Each instance is scriptable: a default
//! [`Behavior`] plus a queue of one-shot behaviors for the next requests (latency, error
//! statuses with `Retry-After`, a stall before the first event, a disconnect or stall
//! mid-stream). It records every request it receives.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use berth_serve::standin::{Behavior, Standin};
//! let upstream = Standin::start("vllm").await?;
//! upstream.enqueue(Behavior::default().status(503)); // the next request fails once
//! let base_url = upstream.base_url(); // http://127.0.0.1:PORT/v1
//! # let _ = base_url; Ok(()) }
//! ```

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use bytes::Bytes;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// How the stand-in answers one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Behavior {
    /// Delay before the response headers.
    pub latency: Duration,
    /// Response status; anything but 200 answers an OpenAI error object.
    pub status: u16,
    /// `Retry-After` header value (seconds), sent with error statuses.
    pub retry_after: Option<String>,
    /// `retry-after-ms` header value, sent with error statuses.
    pub retry_after_ms: Option<u64>,
    /// When streaming: delay after the headers, before the first event.
    pub stall_first_chunk: Duration,
    /// When streaming: break the connection after this many events (as with a real
    /// reset, the last event or two may not reach the client).
    pub disconnect_after: Option<usize>,
    /// When streaming: go silent (without closing) after this many events.
    pub stall_after: Option<usize>,
    /// Delay between streamed events.
    pub chunk_interval: Duration,
    /// The reply's content pieces (one streamed event each). Empty: `["Hello", " from ", NAME]`.
    pub tokens: Vec<String>,
}

impl Default for Behavior {
    fn default() -> Self {
        Behavior {
            latency: Duration::ZERO,
            status: 200,
            retry_after: None,
            retry_after_ms: None,
            stall_first_chunk: Duration::ZERO,
            disconnect_after: None,
            stall_after: None,
            chunk_interval: Duration::ZERO,
            tokens: Vec::new(),
        }
    }
}

impl Behavior {
    /// Sets the status.
    pub fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
    /// Sets the latency before headers.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }
    /// Sets `Retry-After` in seconds.
    pub fn retry_after_secs(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.to_string());
        self
    }
    /// Sets `retry-after-ms`.
    pub fn retry_after_ms(mut self, ms: u64) -> Self {
        self.retry_after_ms = Some(ms);
        self
    }
    /// Sets the stall before the first streamed event.
    pub fn stall_first_chunk(mut self, stall: Duration) -> Self {
        self.stall_first_chunk = stall;
        self
    }
    /// Breaks the connection after `n` streamed events.
    pub fn disconnect_after(mut self, n: usize) -> Self {
        self.disconnect_after = Some(n);
        self
    }
    /// Goes silent after `n` streamed events.
    pub fn stall_after(mut self, n: usize) -> Self {
        self.stall_after = Some(n);
        self
    }
    /// Sets the delay between streamed events.
    pub fn chunk_interval(mut self, interval: Duration) -> Self {
        self.chunk_interval = interval;
        self
    }
    /// Sets the reply's content pieces.
    pub fn tokens<S: Into<String>>(mut self, tokens: impl IntoIterator<Item = S>) -> Self {
        self.tokens = tokens.into_iter().map(Into::into).collect();
        self
    }
}

/// A request the stand-in received.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// Path, e.g. `/v1/chat/completions`.
    pub path: String,
    /// The JSON body (`null` when none or not JSON).
    pub body: Value,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
}

struct Inner {
    name: String,
    default: Mutex<Behavior>,
    queue: Mutex<VecDeque<Behavior>>,
    requests: Mutex<Vec<RecordedRequest>>,
    keep_requests: AtomicBool,
    count: watch::Sender<usize>,
    /// `GET /v1/models` requests (model listings spend no tokens and are not counted
    /// among the requests).
    listings: watch::Sender<usize>,
}

impl Inner {
    fn record(&self, path: &str, headers: &HeaderMap, body: &[u8]) -> Behavior {
        if self.keep_requests.load(Ordering::Relaxed) {
            let request = RecordedRequest {
                path: path.to_owned(),
                body: serde_json::from_slice(body).unwrap_or(Value::Null),
                authorization: headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
            };
            lock(&self.requests).push(request);
        }
        let behavior = lock(&self.queue)
            .pop_front()
            .unwrap_or_else(|| lock(&self.default).clone());
        self.count.send_modify(|c| *c += 1);
        behavior
    }

    fn tokens(&self, behavior: &Behavior) -> Vec<String> {
        if behavior.tokens.is_empty() {
            vec!["Hello".into(), " from ".into(), self.name.clone()]
        } else {
            behavior.tokens.clone()
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running stand-in server on 127.0.0.1; stops when dropped.
pub struct Standin {
    addr: SocketAddr,
    inner: Arc<Inner>,
    stop: Option<oneshot::Sender<()>>,
}

impl Standin {
    /// Starts a stand-in named `name` (it appears in replies) on a free local port.
    pub async fn start(name: &str) -> std::io::Result<Standin> {
        Standin::start_at(SocketAddr::from(([127, 0, 0, 1], 0)), name).await
    }

    /// Starts a stand-in named `name` listening on `addr` (port 0: a free one).
    pub async fn start_at(addr: SocketAddr, name: &str) -> std::io::Result<Standin> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner {
            name: name.to_owned(),
            default: Mutex::new(Behavior::default()),
            queue: Mutex::new(VecDeque::new()),
            requests: Mutex::new(Vec::new()),
            keep_requests: AtomicBool::new(true),
            count: watch::Sender::new(0),
            listings: watch::Sender::new(0),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/v1/embeddings", post(embeddings))
            .route("/v1/models", get(models))
            .route("/v1/{*rest}", post(unknown))
            .route("/rerank", post(rerank))
            .with_state(inner.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            // As real model servers do: without TCP_NODELAY, Nagle's algorithm and delayed
            // ACKs hold streamed events back by tens of milliseconds.
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Standin {
            addr,
            inner,
            stop: Some(stop),
        })
    }

    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The OpenAI base URL, `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Sets how requests are answered once the queue is empty.
    pub fn set_default(&self, behavior: Behavior) {
        *lock(&self.inner.default) = behavior;
    }

    /// Queues a behavior for one upcoming request (first in, first used).
    pub fn enqueue(&self, behavior: Behavior) {
        lock(&self.inner.queue).push_back(behavior);
    }

    /// Whether requests are kept for [`Standin::requests`] (the default). Benchmarks turn
    /// it off so that a long run neither grows nor contends on the record; they are
    /// still counted.
    pub fn keep_requests(&self, keep: bool) {
        self.inner.keep_requests.store(keep, Ordering::Relaxed);
    }

    /// Every request received so far (while kept).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.inner.requests).clone()
    }

    /// How many requests were received so far.
    pub fn request_count(&self) -> usize {
        *self.inner.count.borrow()
    }

    /// How many times the model list was asked for (`GET /v1/models`).
    pub fn model_listings(&self) -> usize {
        *self.inner.listings.borrow()
    }

    /// Waits until the model list was asked for at least `n` times; `false` if `limit`
    /// passed first.
    pub async fn wait_for_model_listings(&self, n: usize, limit: Duration) -> bool {
        let mut rx = self.inner.listings.subscribe();
        tokio::time::timeout(limit, rx.wait_for(|c| *c >= n))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Waits until at least `n` requests were received; `false` if `limit` passed first.
    pub async fn wait_for_requests(&self, n: usize, limit: Duration) -> bool {
        let mut rx = self.inner.count.subscribe();
        tokio::time::timeout(limit, rx.wait_for(|c| *c >= n))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn error_response(behavior: &Behavior) -> Response {
    let status = StatusCode::from_u16(behavior.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (
        status,
        axum::Json(json!({"error": {
            "message": format!("stand-in scripted status {}", behavior.status),
            "type": "standin_error",
            "param": null,
            "code": null,
        }})),
    )
        .into_response();
    let headers = response.headers_mut();
    if let Some(v) = behavior.retry_after.as_deref().and_then(|v| v.parse().ok()) {
        headers.insert(header::RETRY_AFTER, v);
    }
    if let Some(ms) = behavior.retry_after_ms
        && let Ok(v) = ms.to_string().parse()
    {
        headers.insert("retry-after-ms", v);
    }
    response
}

async fn unknown(
    State(inner): State<Arc<Inner>>,
    Path(rest): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    inner.record(&format!("/v1/{rest}"), &headers, &body);
    StatusCode::NOT_FOUND.into_response()
}

async fn models(State(inner): State<Arc<Inner>>) -> Response {
    inner.listings.send_modify(|c| *c += 1);
    axum::Json(json!({"object": "list", "data": [
        {"id": inner.name, "object": "model", "created": 0, "owned_by": "standin"}
    ]}))
    .into_response()
}

async fn embeddings(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let behavior = inner.record("/v1/embeddings", &headers, &body);
    tokio::time::sleep(behavior.latency).await;
    if behavior.status != 200 {
        return error_response(&behavior);
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let inputs: Vec<String> = match &request["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect(),
        _ => vec![],
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let seed = text
                .bytes()
                .fold(17u32, |h, b| h.wrapping_mul(31).wrapping_add(b.into()));
            let vector: Vec<f32> = (0..8u32)
                .map(|k| ((seed.rotate_left(k * 4) % 1000) as f32) / 1000.0)
                .collect();
            json!({"object": "embedding", "index": i, "embedding": vector})
        })
        .collect();
    let tokens: usize = inputs.iter().map(|t| t.split_whitespace().count()).sum();
    axum::Json(json!({
        "object": "list",
        "data": data,
        "model": request["model"],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }))
    .into_response()
}

/// Text Embeddings Inference's `POST /rerank`: scores each text by its position, the last
/// one highest, so that tests see a reranker's order replace the retrieval order.
async fn rerank(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let behavior = inner.record("/rerank", &headers, &body);
    tokio::time::sleep(behavior.latency).await;
    if behavior.status != 200 {
        return error_response(&behavior);
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let n = request["texts"].as_array().map_or(0, Vec::len);
    let scores: Vec<Value> = (0..n)
        .rev()
        .map(|i| json!({"index": i, "score": (i + 1) as f64 / n as f64}))
        .collect();
    axum::Json(Value::Array(scores)).into_response()
}

async fn chat(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let behavior = inner.record("/v1/chat/completions", &headers, &body);
    tokio::time::sleep(behavior.latency).await;
    if behavior.status != 200 {
        return error_response(&behavior);
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let model = request["model"].clone();
    let tokens = inner.tokens(&behavior);
    let usage = json!({"prompt_tokens": 5, "completion_tokens": tokens.len(), "total_tokens": 5 + tokens.len()});
    if request["stream"] != Value::Bool(true) {
        return axum::Json(json!({
            "id": "chatcmpl-standin",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": tokens.concat()}, "finish_reason": "stop"}],
            "usage": usage,
        }))
        .into_response();
    }
    let include_usage = request["stream_options"]["include_usage"] == Value::Bool(true);
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-standin", "object": "chat.completion.chunk", "created": 0, "model": model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut events: Vec<Value> = tokens
        .iter()
        .map(|t| chunk(json!({"content": t}), Value::Null))
        .collect();
    events.push(chunk(json!({}), json!("stop")));
    if include_usage {
        events.push(
            json!({"id": "chatcmpl-standin", "object": "chat.completion.chunk", "created": 0,
                           "model": model, "choices": [], "usage": usage}),
        );
    }
    let (tx, mut rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        tokio::time::sleep(behavior.stall_first_chunk).await;
        for (i, event) in events.iter().enumerate() {
            if behavior.disconnect_after == Some(i) {
                let _ = tx
                    .send(Err(std::io::Error::other("scripted disconnect")))
                    .await;
                return;
            }
            if behavior.stall_after == Some(i) {
                tx.closed().await;
                return;
            }
            if i > 0 {
                tokio::time::sleep(behavior.chunk_interval).await;
            }
            if tx
                .send(Ok(Bytes::from(format!("data: {event}\n\n"))))
                .await
                .is_err()
            {
                return;
            }
        }
        let _ = tx.send(Ok(Bytes::from_static(b"data: [DONE]\n\n"))).await;
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
