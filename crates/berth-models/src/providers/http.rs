//! What the remote embedders share: a JSON-over-HTTP call with timeouts, and retries with
//! jittered exponential backoff that honour `Retry-After` / `retry-after-ms`.

use crate::{EmbedError, Embedder, check_vectors};
use serde_json::Value;
use std::io::Read;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Batching, retries and timeouts of a remote embedder.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Texts per request.
    pub batch_size: usize,
    /// Attempts per request, the first included; only transient failures are retried.
    pub max_attempts: u32,
    /// Wait before the first retry; doubled for each further one, with ±50 % jitter.
    pub backoff: Duration,
    /// Limit for establishing a connection.
    pub connect_timeout: Duration,
    /// Limit for a whole request, answer included.
    pub timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            batch_size: 64,
            max_attempts: 4,
            backoff: Duration::from_millis(250),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(60),
        }
    }
}

/// The longest server-requested wait berth honours before giving up on a retry.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The most of an answer berth reads.
const MAX_BODY: u64 = 512 * 1024 * 1024;

/// A JSON client for one endpoint.
pub(crate) struct JsonClient {
    agent: ureq::Agent,
    options: HttpOptions,
}

impl JsonClient {
    pub fn new(options: HttpOptions) -> JsonClient {
        let agent = ureq::Agent::config_builder()
            .timeout_connect(Some(options.connect_timeout))
            .timeout_global(Some(options.timeout))
            .http_status_as_error(false)
            .build()
            .new_agent();
        JsonClient { agent, options }
    }

    pub fn options(&self) -> &HttpOptions {
        &self.options
    }

    /// POSTs `body` and returns the JSON answer, retrying transient failures.
    pub fn post(
        &self,
        url: &str,
        api_key: Option<&str>,
        body: &Value,
    ) -> Result<Value, EmbedError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.post_once(url, api_key, body) {
                Ok(v) => return Ok(v),
                Err(e) if e.is_transient() && attempt < self.options.max_attempts => {
                    let asked = match &e {
                        EmbedError::Status { retry_after, .. } => *retry_after,
                        _ => None,
                    };
                    if asked.is_some_and(|d| d > MAX_RETRY_AFTER) {
                        return Err(e);
                    }
                    std::thread::sleep(asked.unwrap_or_else(|| self.backoff(attempt)));
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self
            .options
            .backoff
            .saturating_mul(1 << (attempt - 1).min(10));
        // Jitter from the clock's low bits: spreads clients without a random generator.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let factor = 0.5 + (nanos % 1000) as f64 / 1000.0;
        base.mul_f64(factor)
    }

    fn post_once(
        &self,
        url: &str,
        api_key: Option<&str>,
        body: &Value,
    ) -> Result<Value, EmbedError> {
        let mut request = self
            .agent
            .post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json");
        if let Some(key) = api_key {
            request = request.header("authorization", &format!("Bearer {key}"));
        }
        let payload = serde_json::to_vec(body).map_err(|e| EmbedError::Response {
            url: url.to_string(),
            reason: format!("cannot encode the request: {e}"),
        })?;
        let response = request.send(&payload[..]).map_err(|e| match e {
            ureq::Error::Timeout(_) => EmbedError::Timeout {
                url: url.to_string(),
                after: self.options.timeout,
            },
            other => EmbedError::Transport {
                url: url.to_string(),
                reason: other.to_string(),
            },
        })?;
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers());
        let mut text = String::new();
        response
            .into_body()
            .into_reader()
            .take(MAX_BODY)
            .read_to_string(&mut text)
            .map_err(|e| EmbedError::Transport {
                url: url.to_string(),
                reason: format!("reading the answer: {e}"),
            })?;
        if !(200..300).contains(&status) {
            return Err(EmbedError::Status {
                url: url.to_string(),
                status,
                body: excerpt(&text),
                retry_after,
            });
        }
        serde_json::from_str(&text).map_err(|e| EmbedError::Response {
            url: url.to_string(),
            reason: format!("not JSON ({e}): {}", excerpt(&text)),
        })
    }
}

/// The wait a 429/503 answer asks for: `retry-after-ms` (OpenAI's, fractional
/// milliseconds) first, else `retry-after` in seconds (fractions accepted). The HTTP-date
/// form of `retry-after` is not read. Shared by every client of an OpenAI-compatible
/// server, the gateway's included (the header map is the `http` crate's).
pub fn retry_after(headers: &ureq::http::HeaderMap) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    get("retry-after")
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// The start of an error body, on one line, for messages.
fn excerpt(text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}

/// A vector from a JSON array of numbers.
pub(crate) fn vector(url: &str, value: &Value) -> Result<Vec<f32>, EmbedError> {
    let bad = |reason: &str| EmbedError::Response {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    value
        .as_array()
        .ok_or_else(|| bad("an embedding is not an array of numbers"))?
        .iter()
        .map(|x| {
            x.as_f64()
                .map(|f| f as f32)
                .ok_or_else(|| bad("an embedding holds a non-number"))
        })
        .collect()
}

/// Embeds `texts` in batches of `batch_size` through `call`, checking every answer against
/// the dimension the first one set.
pub(crate) fn in_batches(
    model: &str,
    batch_size: usize,
    dimension: &OnceLock<usize>,
    texts: &[&str],
    mut call: impl FnMut(&[&str]) -> Result<Vec<Vec<f32>>, EmbedError>,
) -> Result<Vec<Vec<f32>>, EmbedError> {
    let mut out = Vec::with_capacity(texts.len());
    for batch in texts.chunks(batch_size.max(1)) {
        let vectors = call(batch)?;
        let first = vectors.first().map_or(0, Vec::len);
        let expected = *dimension.get_or_init(|| first);
        check_vectors(model, expected, &vectors)?;
        out.extend(vectors);
    }
    Ok(out)
}

/// The dimension a remote embedder's answers have, asking the server once if needed.
pub(crate) fn probed_dimension(
    dimension: &OnceLock<usize>,
    embedder: &dyn Embedder,
) -> Result<usize, EmbedError> {
    if let Some(d) = dimension.get() {
        return Ok(*d);
    }
    let probe = embedder.embed(&["dimension probe"])?;
    Ok(probe.first().map_or(0, Vec::len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ureq::http::{HeaderMap, HeaderValue};

    #[test]
    fn retry_after_reads_milliseconds_then_seconds() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("1.5"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
        h.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
        h.insert("retry-after-ms", HeaderValue::from_static("-1"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }
}
