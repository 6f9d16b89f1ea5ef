//! End-to-end behaviour of the gateway against stand-in upstreams over real sockets.

use berth_serve::standin::{Behavior, Standin};
use berth_serve::{
    BreakerPolicy, Gateway, GatewayConfig, RetryPolicy, RouteTarget, Timeouts, serve,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

const WAIT: Duration = Duration::from_secs(5);

struct Running {
    url: String,
    gateway: Gateway,
    client: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

impl Running {
    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn chat(&self, body: Value) -> (u16, Value) {
        let r = self.post("/v1/chat/completions", body).await;
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    async fn stream(&self, body: Value) -> (u16, String) {
        let r = self.post("/v1/chat/completions", body).await;
        let status = r.status().as_u16();
        let text = tokio::time::timeout(WAIT, r.text())
            .await
            .expect("stream ends")
            .unwrap();
        (status, text)
    }

    async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

fn config(models: Vec<(&str, Vec<RouteTarget>)>) -> GatewayConfig {
    GatewayConfig {
        models: models
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect::<BTreeMap<_, _>>(),
        timeouts: Timeouts {
            connect: Duration::from_secs(1),
            first_byte: Duration::from_millis(500),
            total: Duration::from_secs(10),
            idle: Duration::from_millis(500),
        },
        retry: RetryPolicy {
            max_attempts_per_route: 2,
            base_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_secs(1),
        },
        breaker: BreakerPolicy {
            error_rate_percent: 0,
            ..BreakerPolicy::default()
        },
    }
}

fn route(s: &Standin, name: &str) -> RouteTarget {
    RouteTarget::new(name, s.base_url()).with_model(format!("{name}-upstream"))
}

async fn start(config: GatewayConfig) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let gateway = Gateway::new(config);
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, gateway.clone(), async move {
        let _ = stopped.await;
    }));
    Running {
        url,
        gateway,
        client: reqwest::Client::new(),
        _stop: stop,
    }
}

async fn two() -> (Standin, Standin, Running) {
    let a = Standin::start("a").await.unwrap();
    let b = Standin::start("b").await.unwrap();
    let gw = start(config(vec![("chat", vec![route(&a, "a"), route(&b, "b")])])).await;
    (a, b, gw)
}

fn content(v: &Value) -> &str {
    v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
}

/// The JSON payloads of a stream's `data:` lines (`[DONE]` as a string).
fn events(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap_or(Value::String(d.to_owned())))
        .collect()
}

#[tokio::test]
async fn rewrites_model_and_passes_other_fields_through() {
    let (a, _b, gw) = two().await;
    let request = json!({
        "model": "chat",
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
        "response_format": {"type": "json_object"},
        "x_vendor_extension": {"keep": [1, 2]},
    });
    let (status, body) = gw.chat(request.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(body["model"], "chat");
    assert_eq!(content(&body), "Hello from a");
    let sent = &a.requests()[0].body;
    assert_eq!(sent["model"], "a-upstream");
    for field in ["messages", "tools", "response_format", "x_vendor_extension"] {
        assert_eq!(sent[field], request[field], "{field}");
    }
}

#[tokio::test]
async fn streams_chunks_with_usage_and_done() {
    let (a, _b, gw) = two().await;
    let (status, text) = gw
        .stream(json!({"model": "chat", "messages": [], "stream": true,
                       "stream_options": {"include_usage": true}}))
        .await;
    assert_eq!(status, 200);
    let evs = events(&text);
    assert_eq!(evs.last().unwrap(), "[DONE]");
    let pieces: String = evs
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(pieces, "Hello from a");
    assert!(evs.iter().any(|e| e["usage"]["total_tokens"].is_number()));
    assert!(
        evs.iter()
            .filter(|e| e.is_object())
            .all(|e| e["model"] == "chat")
    );
    assert_eq!(
        a.requests()[0].body["stream_options"]["include_usage"],
        true
    );
}

#[tokio::test]
async fn streaming_relays_events_before_the_upstream_finishes() {
    let a = Standin::start("a").await.unwrap();
    a.set_default(Behavior::default().chunk_interval(Duration::from_secs(2)));
    let gw = start(config(vec![("chat", vec![route(&a, "a")])])).await;
    let mut r = gw
        .post(
            "/v1/chat/completions",
            json!({"model": "chat", "stream": true}),
        )
        .await;
    let started = Instant::now();
    let first = tokio::time::timeout(WAIT, r.chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&first).contains("Hello"));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "first event was held back"
    );
}

#[tokio::test]
async fn falls_back_on_500_after_retries() {
    let (a, b, gw) = two().await;
    a.set_default(Behavior::default().status(500));
    let (status, body) = gw.chat(json!({"model": "chat"})).await;
    assert_eq!(status, 200);
    assert_eq!(content(&body), "Hello from b");
    assert_eq!(a.request_count(), 2, "retried once on the first route");
    assert_eq!(b.requests()[0].body["model"], "b-upstream");
    let m = gw.metrics().await;
    assert!(
        m.contains(r#"berth_gateway_fallbacks_total{model="chat",route="a"} 1"#),
        "{m}"
    );
    assert!(
        m.contains(
            r#"berth_gateway_upstream_errors_total{model="chat",route="a",kind="status"} 2"#
        ),
        "{m}"
    );
    assert!(
        m.contains(r#"berth_gateway_requests_total{model="chat",route="b",status="200"} 1"#),
        "{m}"
    );
    assert!(
        m.contains(r#"berth_gateway_request_duration_seconds_count{model="chat"} 1"#),
        "{m}"
    );
}

#[tokio::test]
async fn falls_back_on_429_with_a_long_retry_after() {
    let (a, b, gw) = two().await;
    a.enqueue(Behavior::default().status(429).retry_after_secs(30));
    let started = Instant::now();
    let (status, body) = gw.chat(json!({"model": "chat"})).await;
    assert_eq!(status, 200);
    assert_eq!(content(&body), "Hello from b");
    assert_eq!(
        a.request_count(),
        1,
        "a Retry-After above the cap skips the route"
    );
    assert_eq!(b.request_count(), 1);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn honours_retry_after_on_the_same_route() {
    let (a, b, gw) = two().await;
    a.enqueue(Behavior::default().status(429).retry_after_ms(300));
    let started = Instant::now();
    let (status, body) = gw.chat(json!({"model": "chat"})).await;
    assert_eq!(status, 200);
    assert_eq!(content(&body), "Hello from a");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(a.request_count(), 2);
    assert_eq!(b.request_count(), 0);
}

#[tokio::test]
async fn falls_back_when_connection_is_refused() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/v1", closed.local_addr().unwrap());
    drop(closed);
    let b = Standin::start("b").await.unwrap();
    let gw = start(config(vec![(
        "chat",
        vec![RouteTarget::new("dead", dead), route(&b, "b")],
    )]))
    .await;
    let (status, body) = gw.chat(json!({"model": "chat"})).await;
    assert_eq!(status, 200);
    assert_eq!(content(&body), "Hello from b");
    assert!(
        gw.metrics()
            .await
            .contains(r#"route="dead",kind="connect"} 2"#)
    );
}

#[tokio::test]
async fn falls_back_on_first_byte_timeout() {
    let (a, b, gw) = two().await;
    // Headers come at once, but no event within the first-byte limit.
    a.enqueue(Behavior::default().stall_first_chunk(Duration::from_secs(30)));
    // A non-streaming request whose headers come too late.
    a.enqueue(Behavior::default().latency(Duration::from_secs(30)));
    let started = Instant::now();
    let (status, text) = gw.stream(json!({"model": "chat", "stream": true})).await;
    assert_eq!(status, 200);
    assert!(text.contains("from") && text.contains("\"b\""), "{text}");
    let (status, body) = gw.chat(json!({"model": "chat"})).await;
    assert_eq!(status, 200);
    assert_eq!(content(&body), "Hello from b");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(a.request_count(), 2, "a timed-out route is not retried");
    assert_eq!(b.request_count(), 2);
}

#[tokio::test]
async fn only_timeouts_give_504() {
    let a = Standin::start("a").await.unwrap();
    a.set_default(Behavior::default().latency(Duration::from_secs(30)));
    let gw = start(config(vec![("chat", vec![route(&a, "a")])])).await;
    let (status, body) = gw.chat(json!({"model": "chat"})).await;
    assert_eq!(status, 504);
    assert_eq!(body["error"]["code"], "upstream_timeout");
}

#[tokio::test]
async fn no_fallback_once_bytes_were_sent() {
    let (a, b, gw) = two().await;
    a.enqueue(Behavior::default().disconnect_after(2));
    let (status, text) = gw.stream(json!({"model": "chat", "stream": true})).await;
    assert_eq!(status, 200);
    let evs = events(&text);
    // Like a real reset, the break may swallow the event written just before it.
    assert!((2..=3).contains(&evs.len()), "{text}");
    assert_eq!(evs[0]["choices"][0]["delta"]["content"], "Hello");
    assert_eq!(evs.last().unwrap()["error"]["code"], "stream_interrupted");
    assert!(!text.contains("[DONE]"));
    assert!(text.ends_with("\n\n"));
    assert_eq!(b.request_count(), 0);
    assert!(gw.metrics().await.contains(r#"route="a",kind="stream"} 1"#));
}

#[tokio::test]
async fn a_stalled_stream_ends_with_an_error_event() {
    let (a, b, gw) = two().await;
    a.enqueue(Behavior::default().stall_after(1));
    let started = Instant::now();
    let (status, text) = gw.stream(json!({"model": "chat", "stream": true})).await;
    assert_eq!(status, 200);
    let evs = events(&text);
    assert_eq!(evs.len(), 2, "{text}");
    assert_eq!(evs[1]["error"]["type"], "upstream_error");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(b.request_count(), 0);
}

#[tokio::test]
async fn client_errors_pass_through_without_fallback() {
    let (a, b, gw) = two().await;
    a.enqueue(Behavior::default().status(400));
    let (status, body) = gw.chat(json!({"model": "chat"})).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["message"], "stand-in scripted status 400");
    assert_eq!(a.request_count(), 1);
    assert_eq!(b.request_count(), 0);
}

#[tokio::test]
async fn final_answers_when_every_route_fails() {
    let (a, b, gw) = two().await;
    a.set_default(Behavior::default().status(503));
    b.set_default(Behavior::default().status(502));
    let (status, body) = gw.chat(json!({"model": "chat"})).await;
    assert_eq!(status, 502);
    assert_eq!(body["error"]["code"], "upstream_unavailable");
    assert!(body["error"]["type"].is_string() && body["error"].get("param").is_some());

    b.set_default(Behavior::default().status(429).retry_after_secs(60));
    let r = gw
        .post("/v1/chat/completions", json!({"model": "chat"}))
        .await;
    assert_eq!(
        r.status().as_u16(),
        429,
        "the last upstream's 429 is passed on"
    );
    assert_eq!(r.headers()["retry-after"], "60");
}

#[tokio::test]
async fn request_errors_have_openai_shape() {
    let (_a, _b, gw) = two().await;
    let (status, body) = gw.chat(json!({"model": "nope"})).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "model_not_found");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["param"], "model");
    assert!(body["error"]["message"].as_str().unwrap().contains("nope"));

    let (status, body) = gw.chat(json!({"messages": []})).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["param"], "model");

    let r = gw
        .client
        .post(format!("{}/v1/chat/completions", gw.url))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(body["error"].get("code").is_some());
}

#[tokio::test]
async fn embeddings_are_routed() {
    let a = Standin::start("a").await.unwrap();
    let e = Standin::start("e").await.unwrap();
    e.enqueue(Behavior::default().status(500));
    let gw = start(config(vec![
        ("chat", vec![route(&a, "a")]),
        ("embed", vec![route(&e, "e"), route(&a, "a")]),
    ]))
    .await;
    let r = gw
        .post(
            "/v1/embeddings",
            json!({"model": "embed", "input": ["x", "y"]}),
        )
        .await;
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["model"], "embed");
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    let sent = e.requests();
    assert_eq!(sent.len(), 2, "retried after one 500");
    assert_eq!(sent[1].path, "/v1/embeddings");
    assert_eq!(sent[1].body["model"], "e-upstream");
    assert_eq!(sent[1].body["input"], json!(["x", "y"]));
    assert_eq!(a.request_count(), 0);
}

#[tokio::test]
async fn lists_models_and_reports_health() {
    let a = Standin::start("a").await.unwrap();
    let gw = start(config(vec![
        ("chat", vec![route(&a, "a")]),
        ("embed", vec![route(&a, "a")]),
    ]))
    .await;
    let list: Value = gw
        .client
        .get(format!("{}/v1/models", gw.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["object"], "list");
    let ids: Vec<_> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["chat", "embed"]);
    assert_eq!(list["data"][0]["object"], "model");
    let get = |p: &str| gw.client.get(format!("{}{p}", gw.url)).send();
    assert_eq!(get("/healthz").await.unwrap().status().as_u16(), 200);
    assert_eq!(get("/readyz").await.unwrap().status().as_u16(), 200);
    gw.gateway.reload(config(vec![]));
    assert_eq!(get("/readyz").await.unwrap().status().as_u16(), 503);
    assert_eq!(get("/healthz").await.unwrap().status().as_u16(), 200);
}

#[tokio::test]
async fn reload_switches_new_requests_and_keeps_in_flight_ones() {
    let old = Standin::start("old").await.unwrap();
    let new = Standin::start("new").await.unwrap();
    old.enqueue(Behavior::default().latency(Duration::from_millis(400)));
    let mut cfg = config(vec![("chat", vec![route(&old, "old")])]);
    cfg.timeouts.first_byte = Duration::from_secs(5);
    let gw = start(cfg.clone()).await;
    let (url, client) = (gw.url.clone(), gw.client.clone());
    let in_flight = tokio::spawn(async move {
        let r = client
            .post(format!("{url}/v1/chat/completions"))
            .json(&json!({"model": "chat"}))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    });
    assert!(old.wait_for_requests(1, WAIT).await);
    cfg.models.insert("chat".into(), vec![route(&new, "new")]);
    gw.gateway.reload(cfg);
    let (status, body) = gw.chat(json!({"model": "chat"})).await;
    assert_eq!((status, content(&body)), (200, "Hello from new"));
    let (status, body) = tokio::time::timeout(WAIT, in_flight)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((status, content(&body)), (200, "Hello from old"));
    assert_eq!(old.request_count(), 1);
}

#[tokio::test]
async fn an_open_circuit_skips_the_route() {
    let a = Standin::start("a").await.unwrap();
    let b = Standin::start("b").await.unwrap();
    a.set_default(Behavior::default().status(500));
    let mut cfg = config(vec![("chat", vec![route(&a, "a"), route(&b, "b")])]);
    cfg.retry.max_attempts_per_route = 1;
    cfg.breaker = BreakerPolicy {
        error_rate_percent: 50,
        window: 4,
        min_requests: 2,
        cool_down: Duration::from_secs(60),
    };
    let gw = start(cfg).await;
    for _ in 0..3 {
        let (status, body) = gw.chat(json!({"model": "chat"})).await;
        assert_eq!((status, content(&body)), (200, "Hello from b"));
    }
    assert_eq!(
        a.request_count(),
        2,
        "the third request skipped the open circuit"
    );
    assert_eq!(b.request_count(), 3);
}

/// The circuit opens on the error rate of a window, not only on a streak: a route that
/// fails every other request opens although it never failed twice in a row. After the
/// cool-down the route is probed with its model list, which spends no tokens; no user
/// request is the trial, and once the probe finds it healthy the route serves again.
#[tokio::test]
async fn the_circuit_opens_on_the_error_rate_and_a_token_free_probe_closes_it() {
    let a = Standin::start("a").await.unwrap();
    let b = Standin::start("b").await.unwrap();
    for status in [200, 500, 200, 500] {
        a.enqueue(Behavior::default().status(status));
    }
    let mut cfg = config(vec![("chat", vec![route(&a, "a"), route(&b, "b")])]);
    cfg.retry.max_attempts_per_route = 1;
    cfg.breaker = BreakerPolicy {
        error_rate_percent: 50,
        window: 4,
        min_requests: 4,
        cool_down: Duration::from_millis(300),
    };
    let gw = start(cfg).await;
    for expected in ["a", "b", "a", "b"] {
        let (status, body) = gw.chat(json!({"model": "chat"})).await;
        assert_eq!(
            (status, content(&body)),
            (200, format!("Hello from {expected}").as_str())
        );
    }
    // Two of the last four failed: open. The next request goes straight to b.
    let (_, body) = gw.chat(json!({"model": "chat"})).await;
    assert_eq!(content(&body), "Hello from b");
    assert_eq!(a.request_count(), 4, "an open route gets no request");
    assert_eq!(a.model_listings(), 0, "no probe before the cool-down");

    // a is healthy again. After the cool-down the first request starts the probe and is
    // itself served by b; the probe asks a for its model list.
    let started = std::time::Instant::now();
    loop {
        let (_, body) = gw.chat(json!({"model": "chat"})).await;
        assert_eq!(
            content(&body),
            "Hello from b",
            "no user request is the trial"
        );
        if a.wait_for_model_listings(1, Duration::from_millis(50))
            .await
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no probe after the cool-down"
        );
    }
    assert_eq!(a.request_count(), 4, "the probe spent no completion");
    // The probe's outcome is counted once the breaker has taken it.
    let healthy = "berth_gateway_breaker_probes_total{route=\"a\",outcome=\"healthy\"} 1";
    loop {
        let metrics = gw.metrics().await;
        if metrics.contains(healthy) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{metrics}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Closed again: a serves.
    let (_, body) = gw.chat(json!({"model": "chat"})).await;
    assert_eq!(content(&body), "Hello from a");
}

#[tokio::test]
async fn router_works_without_a_socket() {
    use tower::ServiceExt;
    let gw = Gateway::new(GatewayConfig::default());
    let request = axum::http::Request::get("/readyz")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = gw.router().oneshot(request).await.unwrap();
    assert_eq!(response.status().as_u16(), 503);
    let request = axum::http::Request::post("/v1/chat/completions")
        .body(axum::body::Body::from(r#"{"model":"x"}"#))
        .unwrap();
    let response = gw.router().oneshot(request).await.unwrap();
    assert_eq!(response.status().as_u16(), 404);
}

#[tokio::test]
async fn past_the_in_flight_limit_requests_are_shed_until_a_stream_ends() {
    let up = Standin::start("up").await.unwrap();
    // The first request streams slowly and holds the only permit while it streams.
    up.enqueue(
        Behavior::default()
            .chunk_interval(Duration::from_millis(300))
            .tokens(["a", "b", "c"]),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let gateway = Gateway::new(config(vec![("chat", vec![route(&up, "up")])])).max_in_flight(1);
    let (_stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, gateway, async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let body = |stream: bool| json!({"model": "chat", "stream": stream, "messages": [{"role": "user", "content": "hi"}]});
    let streaming = client
        .post(format!("{url}/v1/chat/completions"))
        .json(&body(true))
        .send()
        .await
        .unwrap();
    assert_eq!(streaming.status(), 200);
    // Headers arrived; the stream is still running: a second request is shed.
    let shed = client
        .post(format!("{url}/v1/chat/completions"))
        .json(&body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(shed.status(), 503);
    assert_eq!(shed.headers()["retry-after"], "1");
    let error: Value = shed.json().await.unwrap();
    assert_eq!(error["error"]["code"], "overloaded");
    // Once the stream is read to its end, the permit is back.
    let text = streaming.text().await.unwrap();
    assert!(text.trim_end().ends_with("data: [DONE]"));
    let after = client
        .post(format!("{url}/v1/chat/completions"))
        .json(&body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 200);
    // Cheap endpoints are never shed.
    let models = client.get(format!("{url}/v1/models")).send().await.unwrap();
    assert_eq!(models.status(), 200);
}
