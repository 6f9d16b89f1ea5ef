//! Per-route circuit breakers: a route opens when the failed share of its recent requests
//! reaches the policy's error rate; after a cool-down a probe that spends no tokens (the
//! upstream's model list) decides whether it closes or stays open for another cool-down.
//! User requests never serve as the trial.

use crate::config::BreakerPolicy;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

#[derive(Default)]
struct State {
    /// Outcomes of the latest requests, newest last (`true`: failed).
    recent: VecDeque<bool>,
    open_until: Option<Instant>,
    /// When the probe in flight started.
    probing_since: Option<Instant>,
}

/// What a request may do with a route now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// The circuit is closed: use the route.
    Allow,
    /// The circuit is open (or a probe is in flight): skip the route.
    Skip,
    /// The cool-down is over: skip the route, and probe it (this caller starts the probe).
    Probe,
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

    /// Whether a request may go to the route now.
    pub(crate) fn admit(&self, key: &str, policy: &BreakerPolicy, now: Instant) -> Admission {
        if policy.error_rate_percent == 0 {
            return Admission::Allow;
        }
        self.with(key, |s| match s.open_until {
            None => Admission::Allow,
            Some(until) if now < until => Admission::Skip,
            Some(_) => match s.probing_since {
                // One probe at a time; one that never reported is replaced after a cool-down.
                Some(since) if now.duration_since(since) < policy.cool_down => Admission::Skip,
                _ => {
                    s.probing_since = Some(now);
                    Admission::Probe
                }
            },
        })
    }

    /// The circuit's state for display: `closed`, `open` or `half-open` (probing).
    pub(crate) fn state(&self, key: &str, now: Instant) -> &'static str {
        let map = self.states.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(key).and_then(|s| s.open_until) {
            None => "closed",
            Some(until) if now < until => "open",
            Some(_) => "half-open",
        }
    }

    /// Records a request that succeeded.
    pub(crate) fn success(&self, key: &str, policy: &BreakerPolicy) {
        self.record(key, policy, false, Instant::now());
    }

    /// Records a request that failed: opens the circuit when the failed share of the
    /// window reaches the error rate.
    pub(crate) fn failure(&self, key: &str, policy: &BreakerPolicy, now: Instant) {
        self.record(key, policy, true, now);
    }

    fn record(&self, key: &str, policy: &BreakerPolicy, failed: bool, now: Instant) {
        if policy.error_rate_percent == 0 {
            return;
        }
        self.with(key, |s| {
            if s.open_until.is_some() {
                // A request that started before the circuit opened: the probe decides.
                return;
            }
            s.recent.push_back(failed);
            while s.recent.len() > policy.window.max(1) as usize {
                s.recent.pop_front();
            }
            let failures = s.recent.iter().filter(|f| **f).count();
            let enough = s.recent.len() >= policy.min_requests.max(1) as usize;
            if enough && failures * 100 >= s.recent.len() * policy.error_rate_percent as usize {
                s.open_until = Some(now + policy.cool_down);
                s.probing_since = None;
                s.recent.clear();
            }
        });
    }

    /// Records a probe's outcome: a healthy upstream closes the circuit, any other answer
    /// keeps it open for another cool-down.
    pub(crate) fn probed(&self, key: &str, policy: &BreakerPolicy, healthy: bool, now: Instant) {
        self.with(key, |s| {
            s.probing_since = None;
            if healthy {
                *s = State::default();
            } else {
                s.open_until = Some(now + policy.cool_down);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn policy() -> BreakerPolicy {
        BreakerPolicy {
            error_rate_percent: 50,
            window: 4,
            min_requests: 4,
            cool_down: Duration::from_secs(10),
        }
    }

    #[test]
    fn opens_on_the_error_rate_of_the_window_not_on_a_streak() {
        let (p, b, t0) = (policy(), Breakers::default(), Instant::now());
        // Never two failures in a row, yet the share of failures reaches the rate.
        for failed in [false, true, false] {
            assert_eq!(b.admit("r", &p, t0), Admission::Allow);
            b.record("r", &p, failed, t0);
        }
        assert_eq!(b.admit("r", &p, t0), Admission::Allow, "3 < min_requests");
        b.record("r", &p, false, t0);
        assert_eq!(b.admit("r", &p, t0), Admission::Allow, "1 of 4 failed");
        b.record("r", &p, true, t0);
        // The window is now [true, false, false, true]: 50 %.
        assert_eq!(b.admit("r", &p, t0), Admission::Skip);
        assert_eq!(b.state("r", t0), "open");
    }

    #[test]
    fn a_probe_closes_or_reopens_and_requests_are_never_the_trial() {
        let (p, b, t0) = (policy(), Breakers::default(), Instant::now());
        for _ in 0..4 {
            b.failure("r", &p, t0);
        }
        assert_eq!(
            b.admit("r", &p, t0 + Duration::from_secs(5)),
            Admission::Skip
        );
        let t1 = t0 + Duration::from_secs(11);
        assert_eq!(b.admit("r", &p, t1), Admission::Probe);
        assert_eq!(b.admit("r", &p, t1), Admission::Skip, "one probe at a time");
        assert_eq!(b.state("r", t1), "half-open");
        b.probed("r", &p, false, t1);
        assert_eq!(
            b.admit("r", &p, t1 + Duration::from_secs(1)),
            Admission::Skip
        );
        let t2 = t1 + Duration::from_secs(11);
        assert_eq!(b.admit("r", &p, t2), Admission::Probe);
        b.probed("r", &p, true, t2);
        assert_eq!(b.admit("r", &p, t2), Admission::Allow);
        assert_eq!(b.state("r", t2), "closed");
        // A probe that never reports is replaced after a cool-down.
        for _ in 0..4 {
            b.failure("r", &p, t2);
        }
        let t3 = t2 + Duration::from_secs(11);
        assert_eq!(b.admit("r", &p, t3), Admission::Probe);
        assert_eq!(
            b.admit("r", &p, t3 + Duration::from_secs(5)),
            Admission::Skip
        );
        assert_eq!(
            b.admit("r", &p, t3 + Duration::from_secs(11)),
            Admission::Probe
        );
    }

    #[test]
    fn a_zero_rate_disables_breaking() {
        let p = BreakerPolicy {
            error_rate_percent: 0,
            ..policy()
        };
        let (b, t0) = (Breakers::default(), Instant::now());
        for _ in 0..10 {
            b.failure("r", &p, t0);
        }
        assert_eq!(b.admit("r", &p, t0), Admission::Allow);
    }
}
