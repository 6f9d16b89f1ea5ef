//! A small Prometheus registry: counters and one latency histogram, text exposition.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    fallbacks: BTreeMap<(String, String), u64>,
    breaker_probes: BTreeMap<(String, &'static str), u64>,
    upstream_errors: BTreeMap<(String, String, &'static str), u64>,
    latency: BTreeMap<String, Histogram>,
    auth_rejected: BTreeMap<&'static str, u64>,
    rate_limited: BTreeMap<&'static str, u64>,
    usage_dropped: BTreeMap<&'static str, u64>,
}

/// The gateway's metrics.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

/// Escapes a label value.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a request answered with `status` by `route` (`none` when no upstream answered).
    pub fn request(&self, model: &str, route: &str, status: u16, elapsed: Duration) {
        let mut m = self.lock();
        *m.requests
            .entry((model.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        let h = m.latency.entry(model.to_owned()).or_default();
        let secs = elapsed.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// Counts a fallback away from `from_route`.
    pub fn fallback(&self, model: &str, from_route: &str) {
        *self
            .lock()
            .fallbacks
            .entry((model.to_owned(), from_route.to_owned()))
            .or_default() += 1;
    }

    /// Counts a circuit breaker's probe of `route` and its outcome.
    pub fn breaker_probe(&self, route: &str, healthy: bool) {
        let outcome = if healthy { "healthy" } else { "failed" };
        *self
            .lock()
            .breaker_probes
            .entry((route.to_owned(), outcome))
            .or_default() += 1;
    }

    /// Counts an upstream failure of `kind` (`connect`, `timeout`, `status`, `stream`, `body`).
    pub fn upstream_error(&self, model: &str, route: &str, kind: &'static str) {
        *self
            .lock()
            .upstream_errors
            .entry((model.to_owned(), route.to_owned(), kind))
            .or_default() += 1;
    }

    /// Counts a request refused for its key (`missing_key`, `unknown_key`, `revoked_key`).
    pub fn auth_rejected(&self, reason: &'static str) {
        *self.lock().auth_rejected.entry(reason).or_default() += 1;
    }

    /// Counts a request refused by a key's rate limit (`requests` or `tokens`).
    pub fn rate_limited(&self, limit: &'static str) {
        *self.lock().rate_limited.entry(limit).or_default() += 1;
    }

    /// Counts a usage event lost (`queue_full`, `write_failed`).
    pub fn usage_dropped(&self, reason: &'static str) {
        *self.lock().usage_dropped.entry(reason).or_default() += 1;
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let m = self.lock();
        let mut out = String::new();
        out.push_str("# HELP berth_gateway_requests_total Client requests by model, answering route and status.\n# TYPE berth_gateway_requests_total counter\n");
        for ((model, route, status), v) in &m.requests {
            let _ = writeln!(
                out,
                "berth_gateway_requests_total{{model=\"{}\",route=\"{}\",status=\"{status}\"}} {v}",
                esc(model),
                esc(route)
            );
        }
        out.push_str("# HELP berth_gateway_fallbacks_total Fallbacks from a route to the next.\n# TYPE berth_gateway_fallbacks_total counter\n");
        for ((model, route), v) in &m.fallbacks {
            let _ = writeln!(
                out,
                "berth_gateway_fallbacks_total{{model=\"{}\",route=\"{}\"}} {v}",
                esc(model),
                esc(route)
            );
        }
        out.push_str("# HELP berth_gateway_breaker_probes_total Probes of open routes (model list, no tokens) by outcome.\n# TYPE berth_gateway_breaker_probes_total counter\n");
        for ((route, outcome), v) in &m.breaker_probes {
            let _ = writeln!(
                out,
                "berth_gateway_breaker_probes_total{{route=\"{}\",outcome=\"{outcome}\"}} {v}",
                esc(route)
            );
        }
        out.push_str("# HELP berth_gateway_upstream_errors_total Failed upstream attempts by kind.\n# TYPE berth_gateway_upstream_errors_total counter\n");
        for ((model, route, kind), v) in &m.upstream_errors {
            let _ = writeln!(
                out,
                "berth_gateway_upstream_errors_total{{model=\"{}\",route=\"{}\",kind=\"{kind}\"}} {v}",
                esc(model),
                esc(route)
            );
        }
        out.push_str("# HELP berth_gateway_auth_rejected_total Requests refused for their API key.\n# TYPE berth_gateway_auth_rejected_total counter\n");
        for (reason, v) in &m.auth_rejected {
            let _ = writeln!(
                out,
                "berth_gateway_auth_rejected_total{{reason=\"{reason}\"}} {v}"
            );
        }
        out.push_str("# HELP berth_gateway_rate_limited_total Requests refused by a key's rate limit.\n# TYPE berth_gateway_rate_limited_total counter\n");
        for (limit, v) in &m.rate_limited {
            let _ = writeln!(
                out,
                "berth_gateway_rate_limited_total{{limit=\"{limit}\"}} {v}"
            );
        }
        out.push_str("# HELP berth_gateway_usage_dropped_total Usage events not recorded.\n# TYPE berth_gateway_usage_dropped_total counter\n");
        for (reason, v) in &m.usage_dropped {
            let _ = writeln!(
                out,
                "berth_gateway_usage_dropped_total{{reason=\"{reason}\"}} {v}"
            );
        }
        out.push_str("# HELP berth_gateway_request_duration_seconds Time to the response headers of a client request.\n# TYPE berth_gateway_request_duration_seconds histogram\n");
        for (model, h) in &m.latency {
            let model = esc(model);
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "berth_gateway_request_duration_seconds_bucket{{model=\"{model}\",le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "berth_gateway_request_duration_seconds_bucket{{model=\"{model}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "berth_gateway_request_duration_seconds_sum{{model=\"{model}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "berth_gateway_request_duration_seconds_count{{model=\"{model}\"}} {}",
                h.count
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histogram() {
        let m = Metrics::default();
        m.request("chat", "llm", 200, Duration::from_millis(20));
        m.fallback("chat", "llm");
        m.upstream_error("chat", "llm", "connect");
        let text = m.render();
        assert!(text.contains(
            "berth_gateway_requests_total{model=\"chat\",route=\"llm\",status=\"200\"} 1"
        ));
        assert!(text.contains("berth_gateway_fallbacks_total{model=\"chat\",route=\"llm\"} 1"));
        assert!(text.contains("kind=\"connect\"} 1"));
        assert!(text.contains("le=\"0.025\"} 1"));
        assert!(text.contains("le=\"0.01\"} 0"));
    }
}
