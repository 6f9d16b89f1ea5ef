//! API keys against the gateway: authentication, revocation, scopes, rate limits, usage
//! accounting and open mode, with stand-in upstreams over real sockets.

use berth_serve::keys::{KeyStore, NewKey, SqliteKeyStore, UsageRecord};
use berth_serve::standin::Standin;
use berth_serve::{Gateway, GatewayConfig, KeyOptions, RouteTarget, serve};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// The `api_keys` and `usage` tables as the state store's migration creates them (the
/// state store owns the schema; this copy only sets up a database for these tests).
const SCHEMA: &str = r#"
    CREATE TABLE api_keys (
        id INTEGER PRIMARY KEY, name TEXT, hash TEXT NOT NULL UNIQUE, user TEXT NOT NULL,
        groups TEXT NOT NULL DEFAULT '[]', models TEXT NOT NULL DEFAULT '[]',
        rpm INTEGER, tpm INTEGER, created_ms INTEGER NOT NULL, revoked_ms INTEGER
    );
    CREATE TABLE usage (
        key_id INTEGER NOT NULL, model TEXT NOT NULL, day TEXT NOT NULL,
        requests INTEGER NOT NULL DEFAULT 0, prompt_tokens INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (key_id, model, day)
    );
"#;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<SqliteKeyStore>,
    upstream: Standin,
}

impl Fixture {
    async fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch(SCHEMA)
            .unwrap();
        Fixture {
            store: Arc::new(SqliteKeyStore::open(&path).unwrap()),
            _dir: dir,
            upstream: Standin::start("a").await.unwrap(),
        }
    }

    fn key(&self, models: &[&str], rpm: Option<u64>, tpm: Option<u64>) -> (i64, String) {
        self.store
            .create(&NewKey {
                name: Some("test".into()),
                user: "alice".into(),
                groups: vec!["eng".into()],
                models: models.iter().map(|m| m.to_string()).collect(),
                rpm,
                tpm,
            })
            .unwrap()
    }

    async fn gateway(&self, require_keys: bool) -> Running {
        let mut config = GatewayConfig::default();
        for model in ["chat", "embed"] {
            config.models.insert(
                model.to_owned(),
                vec![RouteTarget::new("a", self.upstream.base_url())],
            );
        }
        let options = KeyOptions {
            require_keys,
            refresh: Duration::ZERO,
            ..KeyOptions::default()
        };
        let gateway = Gateway::with_keys(config, self.store.clone(), options);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
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
}

struct Running {
    url: String,
    gateway: Gateway,
    client: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: Value,
    text: String,
}

impl Running {
    async fn send(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let url = format!("{}{path}", self.url);
        let mut request = match method {
            "GET" => self.client.get(url),
            _ => self.client.post(url),
        };
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = tokio::time::timeout(Duration::from_secs(10), response.text())
            .await
            .expect("the answer ends")
            .unwrap();
        Answer {
            status,
            retry_after,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }

    async fn chat(&self, key: Option<&str>, model: &str) -> Answer {
        let body = json!({"model": model, "messages": [{"role": "user", "content": "hi there"}]});
        self.send("POST", "/v1/chat/completions", key, Some(body))
            .await
    }
}

fn code(a: &Answer) -> &str {
    a.body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn missing_unknown_and_revoked_keys_are_refused() {
    let f = Fixture::new().await;
    let (id, key) = f.key(&[], None, None);
    let gw = f.gateway(false).await;

    let none = gw.chat(None, "chat").await;
    assert_eq!(none.status, 401, "{}", none.text);
    assert_eq!(code(&none), "invalid_api_key");
    assert_eq!(none.body["error"]["type"], "invalid_request_error");
    let bad = gw.chat(Some("bk-not-a-real-key"), "chat").await;
    assert_eq!(bad.status, 401);
    assert_eq!(code(&bad), "invalid_api_key");
    assert_eq!(gw.send("GET", "/v1/models", None, None).await.status, 401);

    let ok = gw.chat(Some(&key), "chat").await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(f.upstream.request_count(), 1);
    // The client's key never reaches the upstream.
    assert_eq!(f.upstream.requests()[0].authorization, None);

    assert!(f.store.revoke(id).unwrap());
    let revoked = gw.chat(Some(&key), "chat").await;
    assert_eq!(revoked.status, 401);
    assert_eq!(code(&revoked), "invalid_api_key");
    assert_eq!(f.upstream.request_count(), 1);

    // Health and metrics need no key.
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(gw.send("GET", path, None, None).await.status, 200, "{path}");
    }
    let metrics = gw.send("GET", "/metrics", None, None).await.text;
    assert!(metrics.contains("berth_gateway_auth_rejected_total{reason=\"revoked_key\"} 1"));
}

#[tokio::test]
async fn scope_limits_models_and_the_model_list() {
    let f = Fixture::new().await;
    let (_, key) = f.key(&["chat"], None, None);
    let (_, all) = f.key(&[], None, None);
    let gw = f.gateway(false).await;

    assert_eq!(gw.chat(Some(&key), "chat").await.status, 200);
    let embed = gw
        .send(
            "POST",
            "/v1/embeddings",
            Some(&key),
            Some(json!({"model": "embed", "input": "x"})),
        )
        .await;
    assert_eq!(embed.status, 403, "{}", embed.text);
    assert_eq!(code(&embed), "model_not_allowed");
    // Outside the scope, existing or not: 403 either way.
    let missing = gw.chat(Some(&key), "no-such-model").await;
    assert_eq!(missing.status, 403);
    assert_eq!(f.upstream.request_count(), 1);

    let ids = |a: Answer| -> Vec<String> {
        a.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let listed = gw.send("GET", "/v1/models", Some(&key), None).await;
    assert_eq!(ids(listed), ["chat"]);
    let listed = gw.send("GET", "/v1/models", Some(&all), None).await;
    assert_eq!(ids(listed), ["chat", "embed"]);
    // A key without a scope may use anything served; unknown models are still 404.
    assert_eq!(gw.chat(Some(&all), "no-such-model").await.status, 404);
}

#[tokio::test]
async fn request_rate_limit_answers_429_with_retry_after() {
    let f = Fixture::new().await;
    let (_, key) = f.key(&[], Some(2), None);
    let (_, other) = f.key(&[], Some(2), None);
    let gw = f.gateway(false).await;

    assert_eq!(gw.chat(Some(&key), "chat").await.status, 200);
    assert_eq!(gw.chat(Some(&key), "chat").await.status, 200);
    let limited = gw.chat(Some(&key), "chat").await;
    assert_eq!(limited.status, 429, "{}", limited.text);
    assert_eq!(code(&limited), "rate_limit_exceeded");
    let secs: u64 = limited.retry_after.as_deref().unwrap().parse().unwrap();
    assert!((1..=60).contains(&secs), "{secs}");
    assert_eq!(f.upstream.request_count(), 2, "refused before forwarding");
    // Limits are per key.
    assert_eq!(gw.chat(Some(&other), "chat").await.status, 200);
}

#[tokio::test]
async fn token_rate_limit_counts_upstream_usage() {
    let f = Fixture::new().await;
    // The stand-in reports 5 prompt + 3 completion tokens per chat.
    let (_, key) = f.key(&[], None, Some(10));
    let gw = f.gateway(false).await;

    assert_eq!(gw.chat(Some(&key), "chat").await.status, 200); // 8 of 10
    assert_eq!(gw.chat(Some(&key), "chat").await.status, 200); // 16 of 10
    let limited = gw.chat(Some(&key), "chat").await;
    assert_eq!(limited.status, 429, "{}", limited.text);
    assert!(limited.retry_after.is_some());
    assert!(limited.text.contains("tokens per minute"));
    assert_eq!(f.upstream.request_count(), 2);
}

fn row<'a>(rows: &'a [UsageRecord], model: &str) -> &'a UsageRecord {
    rows.iter()
        .find(|r| r.model == model)
        .unwrap_or_else(|| panic!("no usage row for {model}: {rows:?}"))
}

#[tokio::test]
async fn usage_is_recorded_per_key_and_model() {
    let f = Fixture::new().await;
    let (id, key) = f.key(&["chat"], None, None);
    let gw = f.gateway(false).await;

    assert_eq!(gw.chat(Some(&key), "chat").await.status, 200);
    assert_eq!(gw.chat(Some(&key), "chat").await.status, 200);
    let messages = json!([{"role": "user", "content": "hi there"}]);
    // A stream with the upstream's usage chunk: its counts are taken.
    let counted = gw
        .send(
            "POST",
            "/v1/chat/completions",
            Some(&key),
            Some(
                json!({"model": "chat", "messages": messages, "stream": true,
                        "stream_options": {"include_usage": true}}),
            ),
        )
        .await;
    assert_eq!(counted.status, 200);
    assert!(counted.text.contains("[DONE]"));
    // A stream without one: estimated, content length / 4 ("hi there" and
    // "Hello from a": 2 and 3 tokens).
    let estimated = gw
        .send(
            "POST",
            "/v1/chat/completions",
            Some(&key),
            Some(json!({"model": "chat", "messages": messages, "stream": true})),
        )
        .await;
    assert_eq!(estimated.status, 200);
    assert!(estimated.text.contains("[DONE]"));
    assert_eq!(gw.chat(Some(&key), "embed").await.status, 403);

    tokio::time::timeout(Duration::from_secs(10), gw.gateway.flush_usage())
        .await
        .expect("usage is written");
    let rows = f.store.usage(id).unwrap();
    let chat = row(&rows, "chat");
    assert_eq!(chat.requests, 4);
    assert_eq!(chat.prompt_tokens, 5 * 3 + 2);
    assert_eq!(chat.completion_tokens, 3 * 3 + 3);
    assert_eq!(chat.errors, 0);
    assert_eq!(chat.day.len(), 10);
    let refused = row(&rows, "-");
    assert_eq!((refused.requests, refused.errors), (1, 1));

    let listed = f.store.list().unwrap();
    assert_eq!(listed[0].requests, 5);
    assert_eq!(listed[0].prompt_tokens, 17);

    // More usage adds to the same row.
    assert_eq!(gw.chat(Some(&key), "chat").await.status, 200);
    gw.gateway.flush_usage().await;
    assert_eq!(row(&f.store.usage(id).unwrap(), "chat").requests, 5);
}

#[tokio::test]
async fn an_empty_store_leaves_the_gateway_open_unless_keys_are_required() {
    let f = Fixture::new().await;
    assert!(!f.store.has_keys().unwrap());
    let open = f.gateway(false).await;
    assert_eq!(open.chat(None, "chat").await.status, 200);
    assert_eq!(
        open.send("GET", "/v1/models", None, None).await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let strict = f.gateway(true).await;
    let refused = strict.chat(None, "chat").await;
    assert_eq!(refused.status, 401);
    assert_eq!(code(&refused), "invalid_api_key");

    // The first key closes the open gateway (refresh is zero here).
    let (_, key) = f.key(&[], None, None);
    assert_eq!(open.chat(None, "chat").await.status, 401);
    assert_eq!(open.chat(Some(&key), "chat").await.status, 200);
}
