//! Forwarding one client request along a logical model's routes: retries with backoff,
//! fallback, timeouts, circuit breaking, model-name rewriting and stream relaying.
//! Knows nothing of axum routing; the handlers only call [`dispatch`].

use crate::auth::{Auth, Meter, estimate_prompt};
use crate::breaker::{Admission, Breakers};
use crate::config::{GatewayConfig, RouteTarget};
use crate::error::ApiError;
use crate::keys::KeyRecord;
use crate::metrics::Metrics;
use arc_swap::ArcSwap;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt};
use serde_json::{Map, Value};
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{Instant, timeout_at};

/// An OpenAI endpoint the gateway routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `/v1/chat/completions`.
    ChatCompletions,
    /// `/v1/embeddings`.
    Embeddings,
    /// `/rerank` (Text Embeddings Inference's reranking API).
    Rerank,
}

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "chat/completions",
            Endpoint::Embeddings => "embeddings",
            Endpoint::Rerank => "rerank",
        }
    }
}

/// A configuration together with the HTTP client built for it.
pub(crate) struct Live {
    pub(crate) config: GatewayConfig,
    pub(crate) client: reqwest::Client,
}

impl Live {
    pub(crate) fn new(config: GatewayConfig) -> Live {
        let client = reqwest::Client::builder()
            .connect_timeout(config.timeouts.connect)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Live { config, client }
    }
}

/// State shared by every request.
pub(crate) struct Shared {
    pub(crate) live: ArcSwap<Live>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) breakers: Breakers,
    /// API keys, scopes, limits and usage; `None`: open to anyone.
    pub(crate) auth: Option<Arc<Auth>>,
    pub(crate) apps: ArcSwap<crate::apps::AppSet>,
    /// Permits for requests in flight (see [`crate::Gateway::max_in_flight`]).
    pub(crate) in_flight: Arc<tokio::sync::Semaphore>,
}

/// Why one attempt on one route failed in a way that allows trying again.
enum Failure {
    /// No connection or the transport broke before a response.
    Connect,
    /// No response (or first event) in time.
    Timeout,
    /// The upstream answered 408, 429 or 5xx.
    Status {
        status: StatusCode,
        body: Bytes,
        retry_after_header: Option<HeaderValue>,
        retry_after: Option<Duration>,
    },
    /// The response body broke before anything was sent on.
    Body,
}

impl Failure {
    fn kind(&self) -> &'static str {
        match self {
            Failure::Connect => "connect",
            Failure::Timeout => "timeout",
            Failure::Status { .. } => "status",
            Failure::Body => "body",
        }
    }
}

/// A usable upstream answer.
enum Success {
    Whole {
        status: StatusCode,
        body: Bytes,
    },
    Stream {
        first: Bytes,
        rest: BoxStream<'static, reqwest::Result<Bytes>>,
    },
}

enum AttemptError {
    Retryable(Failure),
    Final(ApiError),
}

/// The order in which one request tries a model's routes. Adjacent routes that serve the
/// same upstream model are replicas of one route: they share the traffic by weight (the
/// first one tried is drawn with probability weight / total weight, and so on for the
/// rest of the group), and the others of the group are the first fallbacks. Routes serving
/// different models are fallback tiers, tried in the order written. `seed` is a random
/// number.
fn request_order(routes: &[RouteTarget], mut seed: u64) -> Vec<usize> {
    let mut order = Vec::with_capacity(routes.len());
    let mut start = 0;
    while start < routes.len() {
        let model = &routes[start].model;
        let mut end = start + 1;
        while end < routes.len() && model.is_some() && routes[end].model == *model {
            end += 1;
        }
        let mut group: Vec<usize> = (start..end).collect();
        while !group.is_empty() {
            let total: u64 = group
                .iter()
                .map(|&i| u64::from(routes[i].weight.max(1)))
                .sum();
            // A step of a 64-bit LCG per draw (Knuth's constants): enough to spread load.
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let mut ticket = (seed >> 33) % total;
            let pick = group
                .iter()
                .position(|&i| {
                    let w = u64::from(routes[i].weight.max(1));
                    if ticket < w {
                        true
                    } else {
                        ticket -= w;
                        false
                    }
                })
                .unwrap_or(0);
            order.push(group.remove(pick));
        }
        start = end;
    }
    order
}

/// Exponential backoff for retry `attempt` (0-based), capped, with jitter in [d/2, d].
fn backoff(base: Duration, max: Duration, attempt: u32) -> Duration {
    let d = base.saturating_mul(1u32 << attempt.min(16)).min(max);
    let r = RandomState::new().hash_one(Instant::now()) % 1024;
    d / 2 + d / 2 * r as u32 / 1023
}

/// Whether an open route's upstream answers again, asked without spending tokens: its
/// model list (`GET …/models`). Any answer but a 5xx or 429 counts as healthy (a server
/// without that path answers 404, which is an answer); the breaker closes or stays open.
async fn probe(shared: Arc<Shared>, live: Arc<Live>, route: RouteTarget) {
    let timeouts = live.config.timeouts;
    let mut request = live.client.get(route.endpoint("models"));
    if let Some(key) = &route.api_key {
        request = request.bearer_auth(key);
    }
    let healthy = match tokio::time::timeout(timeouts.first_byte, request.send()).await {
        Ok(Ok(response)) => {
            let status = response.status();
            !(status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS)
        }
        _ => false,
    };
    shared.breakers.probed(
        &route.breaker_key(),
        &live.config.breaker,
        healthy,
        std::time::Instant::now(),
    );
    shared.metrics.breaker_probe(&route.name, healthy);
}

async fn attempt(
    live: &Live,
    route: &RouteTarget,
    endpoint: Endpoint,
    payload: Bytes,
    deadline: Instant,
) -> Result<Success, AttemptError> {
    let first_byte = (Instant::now() + live.config.timeouts.first_byte).min(deadline);
    let mut request = live
        .client
        .post(route.endpoint(endpoint.path()))
        .header(header::CONTENT_TYPE, "application/json")
        .body(payload);
    if let Some(key) = &route.api_key {
        request = request.bearer_auth(key);
    }
    let response = match timeout_at(first_byte, request.send()).await {
        Err(_) => return Err(AttemptError::Retryable(Failure::Timeout)),
        Ok(Err(e)) if e.is_timeout() => return Err(AttemptError::Retryable(Failure::Timeout)),
        Ok(Err(_)) => return Err(AttemptError::Retryable(Failure::Connect)),
        Ok(Ok(r)) => r,
    };
    let status = response.status();
    if !status.is_success() {
        let retry_after_header = response.headers().get(header::RETRY_AFTER).cloned();
        let delay = berth_models::retry_after(response.headers());
        let body = match timeout_at(deadline, response.bytes()).await {
            Ok(Ok(b)) => b,
            _ => Bytes::new(),
        };
        let retryable = status == StatusCode::REQUEST_TIMEOUT
            || status == StatusCode::TOO_MANY_REQUESTS
            || status.is_server_error();
        return Err(if retryable {
            AttemptError::Retryable(Failure::Status {
                status,
                body,
                retry_after_header,
                retry_after: delay,
            })
        } else {
            AttemptError::Final(ApiError::Upstream {
                status,
                body,
                retry_after: retry_after_header,
            })
        });
    }
    let is_sse = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if is_sse {
        let mut stream = response.bytes_stream().boxed();
        loop {
            match timeout_at(first_byte, stream.next()).await {
                Err(_) => return Err(AttemptError::Retryable(Failure::Timeout)),
                Ok(None | Some(Err(_))) => return Err(AttemptError::Retryable(Failure::Body)),
                Ok(Some(Ok(b))) if b.is_empty() => continue,
                Ok(Some(Ok(first))) => {
                    return Ok(Success::Stream {
                        first,
                        rest: stream,
                    });
                }
            }
        }
    }
    match timeout_at(deadline, response.bytes()).await {
        Err(_) => Err(AttemptError::Retryable(Failure::Timeout)),
        Ok(Err(_)) => Err(AttemptError::Retryable(Failure::Body)),
        Ok(Ok(body)) => Ok(Success::Whole { status, body }),
    }
}

/// Calls a logical model for one of the gateway's own apps: routed, retried and failed
/// over like a client's request, counted in the metrics, but neither authenticated nor
/// metered (the app's request was).
pub(crate) async fn call_model(
    shared: &Arc<Shared>,
    endpoint: Endpoint,
    body: Map<String, Value>,
) -> Result<Response, ApiError> {
    let start = Instant::now();
    let raw = Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
    let (model, route, result) = route_request(shared, endpoint, raw, start, None).await;
    let status = match &result {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.status().as_u16(),
    };
    shared
        .metrics
        .request(&model, &route, status, start.elapsed());
    result
}

/// Handles one request to a routed endpoint; always answers, errors included, and
/// counts the answer in the metrics.
pub(crate) async fn dispatch(
    shared: Arc<Shared>,
    endpoint: Endpoint,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let start = Instant::now();
    let key = match authenticate(&shared, &headers).await {
        Ok(key) => key,
        Err(error) => {
            let response = error.into_response();
            shared
                .metrics
                .request("-", "none", response.status().as_u16(), start.elapsed());
            return response;
        }
    };
    let (model, route, result) = route_request(&shared, endpoint, raw, start, key.as_ref()).await;
    if let (Some(auth), Some(key), Err(_)) = (&shared.auth, &key, &result) {
        auth.record(key.id, &model, Default::default(), true);
    }
    let response = result.unwrap_or_else(IntoResponse::into_response);
    shared
        .metrics
        .request(&model, &route, response.status().as_u16(), start.elapsed());
    response
}

/// The key a request presents (`None` when the gateway is open), or why it is refused.
pub(crate) async fn authenticate(
    shared: &Shared,
    headers: &HeaderMap,
) -> Result<Option<KeyRecord>, ApiError> {
    match &shared.auth {
        None => Ok(None),
        Some(auth) => auth.authenticate(headers).await,
    }
}

fn invalid(message: impl Into<String>, param: Option<&'static str>) -> ApiError {
    ApiError::InvalidRequest {
        message: message.into(),
        param,
    }
}

/// Returns the metric labels (model, answering route) and the answer.
async fn route_request(
    shared: &Arc<Shared>,
    endpoint: Endpoint,
    raw: Bytes,
    start: Instant,
    key: Option<&KeyRecord>,
) -> (String, String, Result<Response, ApiError>) {
    let unknown = || ("-".to_owned(), "none".to_owned());
    let mut body: Map<String, Value> = match serde_json::from_slice(&raw) {
        Ok(Value::Object(m)) => m,
        Ok(_) => {
            let (m, r) = unknown();
            return (
                m,
                r,
                Err(invalid("The request body must be a JSON object.", None)),
            );
        }
        Err(e) => {
            let (m, r) = unknown();
            return (
                m,
                r,
                Err(invalid(format!("Malformed JSON body: {e}"), None)),
            );
        }
    };
    let logical = match body.get("model") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            let (m, r) = unknown();
            return (
                m,
                r,
                Err(invalid("`model` must be a string.", Some("model"))),
            );
        }
        None => {
            let (m, r) = unknown();
            return (
                m,
                r,
                Err(invalid(
                    "Missing required parameter: `model`.",
                    Some("model"),
                )),
            );
        }
    };
    if let Some(key) = key
        && !key.allows(&logical)
    {
        let (m, r) = unknown();
        return (m, r, Err(ApiError::ModelNotAllowed(logical)));
    }
    let live = shared.live.load_full();
    let Some(routes) = live.config.models.get(&logical) else {
        let (m, r) = unknown();
        return (m, r, Err(ApiError::ModelNotFound(logical)));
    };
    let mut meter = None;
    if let (Some(auth), Some(key)) = (&shared.auth, key) {
        if let Err(error) = auth.admit(key) {
            return (logical, "none".to_owned(), Err(error));
        }
        meter = Some(Meter {
            auth: auth.clone(),
            key_id: key.id,
            model: logical.clone(),
            prompt_estimate: estimate_prompt(&body),
            generated: 0,
            reported: None,
        });
    }
    let config = &live.config;
    let deadline = start + config.timeouts.total;
    let mut last: Option<Failure> = None;
    let order = request_order(routes, RandomState::new().hash_one(Instant::now()));
    let routes: Vec<&RouteTarget> = order.iter().map(|&i| &routes[i]).collect();
    'routes: for (i, route) in routes.iter().copied().enumerate() {
        let key = route.breaker_key();
        let has_next = i + 1 < routes.len();
        match shared
            .breakers
            .admit(&key, &config.breaker, std::time::Instant::now())
        {
            Admission::Allow => {}
            admission => {
                if admission == Admission::Probe {
                    tokio::spawn(probe(shared.clone(), live.clone(), (*route).clone()));
                }
                if has_next {
                    shared.metrics.fallback(&logical, &route.name);
                }
                continue;
            }
        }
        if let Some(upstream) = &route.model {
            body.insert("model".to_owned(), Value::String(upstream.clone()));
        } else {
            body.insert("model".to_owned(), Value::String(logical.clone()));
        }
        let payload = Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
        let attempts = config.retry.max_attempts_per_route.max(1);
        for n in 0..attempts {
            if Instant::now() >= deadline {
                last = Some(Failure::Timeout);
                break 'routes;
            }
            match attempt(&live, route, endpoint, payload.clone(), deadline).await {
                Ok(success) => {
                    shared.breakers.success(&key, &config.breaker);
                    let response = respond(
                        shared.clone(),
                        success,
                        &logical,
                        route,
                        deadline,
                        config,
                        meter.take(),
                    );
                    return (logical, route.name.clone(), Ok(response));
                }
                Err(AttemptError::Final(error)) => {
                    shared.breakers.success(&key, &config.breaker);
                    return (logical, route.name.clone(), Err(error));
                }
                Err(AttemptError::Retryable(failure)) => {
                    shared
                        .metrics
                        .upstream_error(&logical, &route.name, failure.kind());
                    shared
                        .breakers
                        .failure(&key, &config.breaker, std::time::Instant::now());
                    let wait = match &failure {
                        // A slow route is not retried: the next one gets the time left.
                        Failure::Timeout => None,
                        Failure::Status {
                            retry_after: Some(d),
                            ..
                        } => (*d <= config.retry.max_backoff).then_some(*d),
                        _ => Some(backoff(
                            config.retry.base_backoff,
                            config.retry.max_backoff,
                            n,
                        )),
                    };
                    last = Some(failure);
                    match wait {
                        Some(w) if n + 1 < attempts && Instant::now() + w < deadline => {
                            tokio::time::sleep(w).await;
                        }
                        _ => break,
                    }
                }
            }
        }
        if has_next {
            shared.metrics.fallback(&logical, &route.name);
        }
    }
    let error = match last {
        None => ApiError::NoRouteAvailable,
        Some(Failure::Timeout) => ApiError::UpstreamTimeout,
        Some(Failure::Status {
            status,
            body,
            retry_after_header,
            ..
        }) if status.is_client_error() => ApiError::Upstream {
            status,
            body,
            retry_after: retry_after_header,
        },
        Some(_) => ApiError::AllRoutesFailed,
    };
    let route = routes.last().map_or("none".to_owned(), |r| r.name.clone());
    (logical, route, Err(error))
}

/// Sets a JSON object's `model` to `logical`; `None` when `raw` is no such object.
fn rewrite_model(raw: &[u8], logical: &str) -> Option<Vec<u8>> {
    match serde_json::from_slice::<Value>(raw).ok()? {
        Value::Object(mut m) if m.contains_key("model") => {
            m.insert("model".to_owned(), Value::String(logical.to_owned()));
            serde_json::to_vec(&m).ok()
        }
        _ => None,
    }
}

fn respond(
    shared: Arc<Shared>,
    success: Success,
    logical: &str,
    route: &RouteTarget,
    deadline: Instant,
    config: &GatewayConfig,
    meter: Option<Meter>,
) -> Response {
    match success {
        Success::Whole { status, body } => {
            if let Some(mut meter) = meter {
                if let Ok(answer) = serde_json::from_slice::<Value>(&body) {
                    meter.observe(&answer);
                }
                meter.finish(false);
            }
            let body = rewrite_model(&body, logical).map_or(body, Bytes::from);
            (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Success::Stream { first, rest } => {
            let mut relay = Relay {
                upstream: rest,
                first: None,
                buf: Vec::new(),
                logical: logical.to_owned(),
                route: route.name.clone(),
                idle: config.timeouts.idle,
                deadline,
                saw_done: false,
                at_boundary: true,
                finished: false,
                shared,
                meter,
            };
            relay.first = Some(first);
            let stream = futures_util::stream::unfold(relay, |mut relay| async move {
                relay
                    .next()
                    .await
                    .map(|b| (Ok::<_, std::convert::Infallible>(b), relay))
            });
            event_stream(stream)
        }
    }
}

/// A `200` answer streaming Server-Sent Events, unbuffered by proxies on the way.
pub(crate) fn event_stream<S>(events: S) -> Response
where
    S: futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send + 'static,
{
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .header("x-accel-buffering", "no")
        .body(Body::from_stream(events))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Relays an upstream SSE stream line by line: every complete line goes on as soon as it
/// arrives, `data:` events with their `model` rewritten; a broken or stalled upstream ends
/// the stream with an error event.
struct Relay {
    upstream: BoxStream<'static, reqwest::Result<Bytes>>,
    first: Option<Bytes>,
    buf: Vec<u8>,
    logical: String,
    route: String,
    idle: Duration,
    deadline: Instant,
    saw_done: bool,
    at_boundary: bool,
    finished: bool,
    shared: Arc<Shared>,
    /// Usage accounting, finished when the stream ends (or the client leaves).
    meter: Option<Meter>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.finish_meter(true);
    }
}

impl Relay {
    fn finish_meter(&mut self, error: bool) {
        if let Some(meter) = self.meter.take() {
            meter.finish(error);
        }
    }

    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if self.finished {
                return None;
            }
            let chunk = match self.first.take() {
                Some(first) => Ok(Some(Ok(first))),
                None => {
                    let until = (Instant::now() + self.idle).min(self.deadline);
                    timeout_at(until, self.upstream.next()).await
                }
            };
            match chunk {
                Ok(Some(Ok(bytes))) => {
                    let out = self.process(&bytes);
                    if !out.is_empty() {
                        return Some(out);
                    }
                }
                Ok(None) => {
                    self.finished = true;
                    self.finish_meter(!self.saw_done);
                    if self.saw_done {
                        let rest = std::mem::take(&mut self.buf);
                        return (!rest.is_empty()).then(|| Bytes::from(rest));
                    }
                    return Some(self.error_event("the upstream ended the stream early"));
                }
                Ok(Some(Err(_))) => {
                    self.finished = true;
                    self.finish_meter(true);
                    return Some(self.error_event("the upstream connection broke mid-stream"));
                }
                Err(_) => {
                    self.finished = true;
                    self.finish_meter(true);
                    return Some(self.error_event("the upstream stream stalled"));
                }
            }
        }
    }

    fn process(&mut self, chunk: &[u8]) -> Bytes {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::with_capacity(self.buf.len() + 16);
        let mut consumed = 0;
        while let Some(pos) = self.buf[consumed..].iter().position(|&b| b == b'\n') {
            let end = consumed + pos + 1;
            let line = self.buf[consumed..end].to_vec();
            consumed = end;
            self.emit_line(&line, &mut out);
        }
        self.buf.drain(..consumed);
        Bytes::from(out)
    }

    fn emit_line(&mut self, line: &[u8], out: &mut Vec<u8>) {
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        self.at_boundary = content.is_empty();
        if let Some(data) = content.strip_prefix(b"data:") {
            let data = data.strip_prefix(b" ").unwrap_or(data);
            if data == b"[DONE]" {
                self.saw_done = true;
            } else {
                if let Some(meter) = &mut self.meter
                    && let Ok(event) = serde_json::from_slice::<Value>(data)
                {
                    meter.observe(&event);
                }
                if data.windows(7).any(|w| w == b"\"model\"")
                    && let Some(rewritten) = rewrite_model(data, &self.logical)
                {
                    out.extend_from_slice(b"data: ");
                    out.extend_from_slice(&rewritten);
                    out.push(b'\n');
                    return;
                }
            }
        }
        out.extend_from_slice(line);
    }

    fn error_event(&mut self, message: &str) -> Bytes {
        self.shared
            .metrics
            .upstream_error(&self.logical, &self.route, "stream");
        let mut out = Vec::new();
        if !self.at_boundary {
            out.push(b'\n');
        }
        let event = serde_json::json!({"error": {
            "message": message,
            "type": "upstream_error",
            "param": null,
            "code": "stream_interrupted",
        }});
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(event.to_string().as_bytes());
        out.extend_from_slice(b"\n\n");
        Bytes::from(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_share_traffic_by_weight_and_tiers_keep_their_order() {
        let route = |name: &str, model: &str, weight: u32| RouteTarget {
            weight,
            ..RouteTarget::new(name, "http://x/v1").with_model(model)
        };
        let routes = [
            route("a", "qwen", 3),
            route("b", "qwen", 1),
            route("public", "deepseek-chat", 1),
        ];
        let mut first_a = 0;
        let draws = 20_000u64;
        for seed in 0..draws {
            let order = request_order(&routes, seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            assert_eq!(order.len(), 3);
            assert_eq!(
                order[2], 2,
                "the other model is a fallback tier, always last"
            );
            if order[0] == 0 {
                first_a += 1;
            }
        }
        let share = first_a as f64 / draws as f64;
        assert!(
            (share - 0.75).abs() < 0.02,
            "replica a served {share:.3}, not 0.75"
        );
        // Different models: the written order, whatever the weights.
        let tiers = [route("x", "m1", 1), route("y", "m2", 100)];
        assert_eq!(request_order(&tiers, 7), vec![0, 1]);
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let base = Duration::from_millis(100);
        let max = Duration::from_millis(1000);
        for n in 0..8 {
            let d = backoff(base, max, n);
            let full = (base * (1 << n)).min(max);
            assert!(d >= full / 2 && d <= full, "{n}: {d:?}");
        }
    }

    #[test]
    fn rewrites_model_of_objects_only() {
        let out = rewrite_model(br#"{"id":"x","model":"up","n":1}"#, "chat").unwrap();
        assert_eq!(out, br#"{"id":"x","model":"chat","n":1}"#);
        assert!(rewrite_model(b"[1]", "chat").is_none());
    }
}
