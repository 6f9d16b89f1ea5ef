//! Authentication, scopes, rate limits and usage accounting of requests, over a
//! [`KeyStore`]. Key lookups are cached; usage leaves the request path through a bounded
//! channel to a task that writes it in batches.

use crate::error::ApiError;
use crate::keys::{KeyRecord, KeyStore, UsageRecord, hash_key, utc_day};
use crate::metrics::Metrics;
use axum::http::{HeaderMap, header};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, oneshot};

/// The rate-limit window.
const MINUTE: Duration = Duration::from_secs(60);
/// Cached key lookups kept at most (unknown keys included); beyond it the cache restarts.
const CACHE_LIMIT: usize = 10_000;
/// Usage events written in one transaction at most.
const BATCH_LIMIT: usize = 1024;

/// How the gateway uses its key store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyOptions {
    /// Demand a key even when the store holds none (otherwise an empty store means the
    /// gateway is open, for local development).
    pub require_keys: bool,
    /// How long a looked-up key (and whether any key exists) is trusted before the store
    /// is asked again: the longest a revocation takes to bite. Zero: ask every time.
    pub refresh: Duration,
    /// Usage events queued for the writer at most; beyond it they are dropped (and
    /// counted in `berth_gateway_usage_dropped_total`) rather than slowing requests.
    pub usage_queue: usize,
}

impl Default for KeyOptions {
    fn default() -> Self {
        KeyOptions {
            require_keys: false,
            refresh: Duration::from_secs(2),
            usage_queue: 4096,
        }
    }
}

enum UsageMessage {
    Event(UsageRecord),
    Flush(oneshot::Sender<()>),
}

#[derive(Default)]
struct Window {
    requests: VecDeque<Instant>,
    tokens: VecDeque<(Instant, u64)>,
    token_sum: u64,
}

impl Window {
    fn prune(&mut self, now: Instant) {
        while self
            .requests
            .front()
            .is_some_and(|t| now.duration_since(*t) >= MINUTE)
        {
            self.requests.pop_front();
        }
        while let Some((t, n)) = self.tokens.front().copied() {
            if now.duration_since(t) < MINUTE {
                break;
            }
            self.token_sum -= n;
            self.tokens.pop_front();
        }
    }
}

/// Whole seconds until `since + MINUTE`, at least 1.
fn seconds_until_expiry(since: Instant, now: Instant) -> u64 {
    let left = (since + MINUTE).saturating_duration_since(now);
    (left.as_secs() + u64::from(left.subsec_nanos() > 0)).max(1)
}

type Cached<T> = Option<(Instant, T)>;

pub(crate) struct Auth {
    store: Arc<dyn KeyStore>,
    options: KeyOptions,
    keys: Mutex<HashMap<String, (Instant, Option<KeyRecord>)>>,
    any_keys: Mutex<Cached<bool>>,
    windows: Mutex<HashMap<i64, Window>>,
    usage: mpsc::Sender<UsageMessage>,
    metrics: Arc<Metrics>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn fresh(at: Instant, refresh: Duration) -> bool {
    at.elapsed() < refresh
}

impl Auth {
    /// Starts the usage writer; needs a Tokio runtime.
    pub(crate) fn start(
        store: Arc<dyn KeyStore>,
        options: KeyOptions,
        metrics: Arc<Metrics>,
    ) -> Auth {
        let (tx, rx) = mpsc::channel(options.usage_queue.max(1));
        tokio::spawn(write_usage(store.clone(), rx, metrics.clone()));
        Auth {
            store,
            options,
            keys: Mutex::new(HashMap::new()),
            any_keys: Mutex::new(None),
            windows: Mutex::new(HashMap::new()),
            usage: tx,
            metrics,
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn KeyStore) -> Result<T, crate::keys::KeyStoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || f(&*store)).await {
            Ok(Ok(v)) => Ok(v),
            _ => Err(ApiError::AuthUnavailable),
        }
    }

    /// Whether requests need a key now.
    async fn enforcing(&self) -> Result<bool, ApiError> {
        if self.options.require_keys {
            return Ok(true);
        }
        if let Some((at, any)) = *lock(&self.any_keys)
            && fresh(at, self.options.refresh)
        {
            return Ok(any);
        }
        let any = self.blocking(|s| s.has_keys()).await?;
        *lock(&self.any_keys) = Some((Instant::now(), any));
        Ok(any)
    }

    /// The key a request presents: `None` when the gateway is open.
    pub(crate) async fn authenticate(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<KeyRecord>, ApiError> {
        if !self.enforcing().await? {
            return Ok(None);
        }
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| token.trim().to_owned())
            })
            .filter(|t| !t.is_empty());
        let Some(key) = presented else {
            self.metrics.auth_rejected("missing_key");
            return Err(ApiError::InvalidApiKey(
                "You didn't provide an API key: send it as `Authorization: Bearer KEY`.".into(),
            ));
        };
        let hash = hash_key(&key);
        let cached = lock(&self.keys)
            .get(&hash)
            .filter(|(at, _)| fresh(*at, self.options.refresh))
            .map(|(_, r)| r.clone());
        let record = match cached {
            Some(r) => r,
            None => {
                let h = hash.clone();
                let r = self.blocking(move |s| s.lookup(&h)).await?;
                let mut keys = lock(&self.keys);
                if keys.len() >= CACHE_LIMIT {
                    keys.clear();
                }
                keys.insert(hash, (Instant::now(), r.clone()));
                r
            }
        };
        match record {
            Some(r) if r.revoked_ms.is_none() => Ok(Some(r)),
            Some(_) => {
                self.metrics.auth_rejected("revoked_key");
                Err(ApiError::InvalidApiKey(
                    "This API key has been revoked.".into(),
                ))
            }
            None => {
                self.metrics.auth_rejected("unknown_key");
                Err(ApiError::InvalidApiKey(
                    "Incorrect API key provided.".into(),
                ))
            }
        }
    }

    /// Admits one request of `key` under its rate limits, or says when to come back.
    pub(crate) fn admit(&self, key: &KeyRecord) -> Result<(), ApiError> {
        if key.rpm.is_none() && key.tpm.is_none() {
            return Ok(());
        }
        let now = Instant::now();
        let mut windows = lock(&self.windows);
        let w = windows.entry(key.id).or_default();
        w.prune(now);
        if let Some(rpm) = key.rpm
            && w.requests.len() as u64 >= rpm
        {
            let retry = w
                .requests
                .front()
                .map_or(60, |t| seconds_until_expiry(*t, now));
            self.metrics.rate_limited("requests");
            return Err(ApiError::RateLimited {
                message: format!("Rate limit reached: {rpm} requests per minute for this key."),
                retry_after: retry,
            });
        }
        if let Some(tpm) = key.tpm
            && w.token_sum >= tpm
        {
            // When enough of the window has expired to fall below the limit.
            let mut sum = w.token_sum;
            let mut retry = 60;
            for (t, n) in &w.tokens {
                sum -= n;
                if sum < tpm {
                    retry = seconds_until_expiry(*t, now);
                    break;
                }
            }
            self.metrics.rate_limited("tokens");
            return Err(ApiError::RateLimited {
                message: format!("Rate limit reached: {tpm} tokens per minute for this key."),
                retry_after: retry,
            });
        }
        w.requests.push_back(now);
        Ok(())
    }

    /// Counts a finished request of key `key_id`: its tokens against the key's limit, and
    /// a usage event for the writer (dropped, and counted, when the queue is full).
    pub(crate) fn record(&self, key_id: i64, model: &str, tokens: Tokens, error: bool) {
        let total = tokens.prompt + tokens.completion;
        if total > 0 {
            let now = Instant::now();
            let mut windows = lock(&self.windows);
            let w = windows.entry(key_id).or_default();
            w.prune(now);
            w.tokens.push_back((now, total));
            w.token_sum += total;
        }
        let event = UsageRecord {
            key_id,
            model: model.to_owned(),
            day: utc_day(SystemTime::now()),
            requests: 1,
            prompt_tokens: tokens.prompt,
            completion_tokens: tokens.completion,
            errors: u64::from(error),
        };
        if self.usage.try_send(UsageMessage::Event(event)).is_err() {
            self.metrics.usage_dropped("queue_full");
        }
    }

    /// Waits until every usage event queued so far is written.
    pub(crate) async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.usage.send(UsageMessage::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// Writes usage events in batches: whatever queued up while the last batch was written.
async fn write_usage(
    store: Arc<dyn KeyStore>,
    mut rx: mpsc::Receiver<UsageMessage>,
    metrics: Arc<Metrics>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch: BTreeMap<(i64, String, String), UsageRecord> = BTreeMap::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(message) = next.take() {
            taken += 1;
            match message {
                UsageMessage::Event(e) => {
                    let slot = batch
                        .entry((e.key_id, e.model.clone(), e.day.clone()))
                        .or_insert_with(|| UsageRecord {
                            requests: 0,
                            prompt_tokens: 0,
                            completion_tokens: 0,
                            errors: 0,
                            ..e.clone()
                        });
                    slot.requests += e.requests;
                    slot.prompt_tokens += e.prompt_tokens;
                    slot.completion_tokens += e.completion_tokens;
                    slot.errors += e.errors;
                }
                UsageMessage::Flush(done) => flushes.push(done),
            }
            if taken < BATCH_LIMIT {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            let rows: Vec<UsageRecord> = batch.into_values().collect();
            let count = rows.len();
            let store = store.clone();
            let written = tokio::task::spawn_blocking(move || store.record_usage(&rows)).await;
            if !matches!(written, Ok(Ok(()))) {
                for _ in 0..count {
                    metrics.usage_dropped("write_failed");
                }
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// Tokens of one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tokens {
    pub(crate) prompt: u64,
    pub(crate) completion: u64,
}

/// Characters / 4, rounded up: the usual rough token estimate.
fn estimate(chars: u64) -> u64 {
    chars.div_ceil(4)
}

/// Characters of text in a message `content` (a string or an array of parts) or an
/// embeddings `input` (a string or an array of strings).
fn text_chars(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.chars().count() as u64,
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::Object(o) => o.get("text").map_or(0, text_chars),
                other => text_chars(other),
            })
            .sum(),
        _ => 0,
    }
}

/// An estimate of a request's prompt tokens, for answers without `usage`.
pub(crate) fn estimate_prompt(body: &serde_json::Map<String, Value>) -> u64 {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .map_or(0, |m| {
            m.iter()
                .map(|m| m.get("content").map_or(0, text_chars))
                .sum()
        });
    let input = body.get("input").map_or(0, text_chars);
    estimate(messages + input)
}

/// The `usage` of an answer or stream chunk, if it has one.
pub(crate) fn reported_usage(v: &Value) -> Option<Tokens> {
    let usage = v.get("usage")?.as_object()?;
    let get = |k: &str| usage.get(k).and_then(Value::as_u64);
    let prompt = get("prompt_tokens")?;
    let completion = get("completion_tokens")
        .or_else(|| get("total_tokens").map(|t| t.saturating_sub(prompt)))
        .unwrap_or(0);
    Some(Tokens { prompt, completion })
}

/// Characters of generated text in an answer (`message`) or stream chunk (`delta`).
pub(crate) fn generated_chars(v: &Value) -> u64 {
    v.get("choices")
        .and_then(Value::as_array)
        .map_or(0, |choices| {
            choices
                .iter()
                .map(|c| {
                    let part = c.get("message").or_else(|| c.get("delta"));
                    part.and_then(|p| p.get("content")).map_or(0, text_chars)
                        + c.get("text").map_or(0, text_chars)
                })
                .sum()
        })
}

/// Usage accounting of one admitted request of a key.
pub(crate) struct Meter {
    pub(crate) auth: Arc<Auth>,
    pub(crate) key_id: i64,
    pub(crate) model: String,
    pub(crate) prompt_estimate: u64,
    /// Generated characters seen so far (streams).
    pub(crate) generated: u64,
    /// The upstream's own count, when it sent one.
    pub(crate) reported: Option<Tokens>,
}

impl Meter {
    /// Looks at one answer or stream chunk.
    pub(crate) fn observe(&mut self, v: &Value) {
        if let Some(t) = reported_usage(v) {
            self.reported = Some(t);
        }
        self.generated += generated_chars(v);
    }

    /// Records the request: the upstream's count if it sent one, else the estimate.
    pub(crate) fn finish(self, error: bool) {
        let tokens = self.reported.unwrap_or(Tokens {
            prompt: self.prompt_estimate,
            completion: estimate(self.generated),
        });
        self.auth.record(self.key_id, &self.model, tokens, error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_usage_and_estimates() {
        let v = json!({"usage": {"prompt_tokens": 5, "completion_tokens": 3}});
        assert_eq!(
            reported_usage(&v),
            Some(Tokens {
                prompt: 5,
                completion: 3
            })
        );
        let v = json!({"usage": {"prompt_tokens": 4, "total_tokens": 4}});
        assert_eq!(reported_usage(&v).unwrap().completion, 0);
        let chunk = json!({"choices": [{"delta": {"content": "Hello"}}]});
        assert_eq!(generated_chars(&chunk), 5);
        let body = json!({"messages": [{"role": "user", "content": "12345678"},
                                       {"role": "user", "content": [{"type": "text", "text": "1"}]}]});
        assert_eq!(estimate_prompt(body.as_object().unwrap()), 3);
    }

    #[test]
    fn retry_after_is_at_least_one_second() {
        let now = Instant::now();
        assert_eq!(seconds_until_expiry(now, now), 60);
        assert_eq!(
            seconds_until_expiry(now - Duration::from_millis(59_500), now),
            1
        );
        assert_eq!(seconds_until_expiry(now - MINUTE, now), 1);
    }
}
