//! Per-route circuit breakers: open after consecutive failures, half-open after a
//! cool-down with a single trial request.

use crate::config::BreakerPolicy;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

#[derive(Default)]
struct State {
    failures: u32,
    open_until: Option<Instant>,
    trial_since: Option<Instant>,
}

/// Breakers by route key; they survive configuration reloads.
#[derive(Default)]
pub(crate) struct Breakers {
    states: Mutex<HashMap<String, State>>,
}

impl Breakers {
    fn with<R>(&self, key: &str, f: impl FnOnce(&mut State) -> R) -> R {
        let mut map = self.states.lock().unwrap_or_else(|e| e.into_inner());
        f(map.entry(key.to_owned()).or_default())
    }

    /// Whether a request may go to the route now (marks a half-open trial).
    pub(crate) fn allow(&self, key: &str, policy: &BreakerPolicy, now: Instant) -> bool {
        if policy.failure_threshold == 0 {
            return true;
        }
        self.with(key, |s| match s.open_until {
            None => true,
            Some(until) if now < until => false,
            Some(_) => match s.trial_since {
                // One trial at a time; a trial that never reported is replaced after a cool-down.
                Some(since) if now.duration_since(since) < policy.cool_down => false,
                _ => {
                    s.trial_since = Some(now);
                    true
                }
            },
        })
    }

    /// The circuit's state for display: `closed`, `open` or `half-open`.
    pub(crate) fn state(&self, key: &str, now: Instant) -> &'static str {
        let map = self.states.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(key).and_then(|s| s.open_until) {
            None => "closed",
            Some(until) if now < until => "open",
            Some(_) => "half-open",
        }
    }

    /// Records a success: closes the circuit.
    pub(crate) fn success(&self, key: &str) {
        self.with(key, |s| *s = State::default());
    }

    /// Records a failure: opens the circuit at the threshold or when a trial failed.
    pub(crate) fn failure(&self, key: &str, policy: &BreakerPolicy, now: Instant) {
        if policy.failure_threshold == 0 {
            return;
        }
        self.with(key, |s| {
            s.failures = s.failures.saturating_add(1);
            if s.trial_since.is_some() || s.failures >= policy.failure_threshold {
                s.open_until = Some(now + policy.cool_down);
                s.trial_since = None;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn opens_half_opens_and_closes() {
        let p = BreakerPolicy {
            failure_threshold: 2,
            cool_down: Duration::from_secs(10),
        };
        let b = Breakers::default();
        let t0 = Instant::now();
        assert!(b.allow("r", &p, t0));
        b.failure("r", &p, t0);
        assert!(b.allow("r", &p, t0));
        b.failure("r", &p, t0);
        assert!(!b.allow("r", &p, t0 + Duration::from_secs(5)));
        let t1 = t0 + Duration::from_secs(11);
        assert!(b.allow("r", &p, t1), "half-open trial");
        assert!(!b.allow("r", &p, t1), "only one trial");
        b.failure("r", &p, t1);
        assert!(
            !b.allow("r", &p, t1 + Duration::from_secs(1)),
            "failed trial reopens"
        );
        let t2 = t1 + Duration::from_secs(11);
        assert!(b.allow("r", &p, t2));
        b.success("r");
        assert!(b.allow("r", &p, t2) && b.allow("r", &p, t2));
    }
}
