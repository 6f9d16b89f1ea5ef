//! Host ports: which ports get one, and which number.
//!
//! Containers keep their catalog ports and find each other by name; a host port is given
//! to every port on the `local` target, and to edge ports (gateway, UI) or exposed
//! components on `compose`. Numbers are chosen in a fixed order so the result depends only
//! on the inputs: pinned ports first, then ports recorded by earlier runs (kept even when
//! something listens on them, since that is usually our own running service), then new
//! ones, which avoid every claimed and every listening port.

use super::{Cx, Instance};
use crate::diagnostic::Severity;
use crate::environment::Environment;
use crate::stack::Target;
use crate::yaml::Span;
use std::collections::{BTreeMap, BTreeSet};

/// Where the search for a free port starts when the preferred one is taken.
pub const ALLOCATION_START: u16 = 20000;

/// One port that needs a host port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRequest {
    /// `component/port`.
    pub key: String,
    /// The number to try first (the container port).
    pub preferred: u16,
    /// A host port the stack pinned, with where.
    pub pinned: Option<(u16, Span)>,
}

/// A pinned port that cannot be honoured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortProblem {
    /// Two requests pin the same port.
    PinnedTwice {
        /// The port.
        port: u16,
        /// The request that lost.
        key: String,
        /// The request that pinned it first.
        other: String,
        /// Where the second pin is.
        span: Span,
    },
    /// A pinned port is in use on this machine.
    PinnedInUse {
        /// The port.
        port: u16,
        /// The request.
        key: String,
        /// Where the pin is.
        span: Span,
    },
    /// No port is left.
    Exhausted {
        /// The request.
        key: String,
    },
}

/// Chooses host ports for `requests` (any order), deterministically.
pub fn choose(
    requests: &[PortRequest],
    env: &Environment,
) -> (BTreeMap<String, u16>, Vec<PortProblem>) {
    let mut sorted: Vec<&PortRequest> = requests.iter().collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    let mut claimed: BTreeMap<u16, String> = BTreeMap::new();
    let mut out = BTreeMap::new();
    let mut problems = Vec::new();
    // Pins in file order, so a clash is reported at the later one.
    let mut pins: Vec<&PortRequest> = sorted
        .iter()
        .copied()
        .filter(|r| r.pinned.is_some())
        .collect();
    pins.sort_by_key(|r| (r.pinned.map(|(_, s)| (s.line, s.column)), r.key.clone()));
    for r in &pins {
        let Some((port, span)) = r.pinned else {
            continue;
        };
        if let Some(other) = claimed.get(&port) {
            problems.push(PortProblem::PinnedTwice {
                port,
                key: r.key.clone(),
                other: other.clone(),
                span,
            });
            continue;
        }
        if env.listening_ports.contains(&port) && env.recorded_ports.get(&r.key) != Some(&port) {
            problems.push(PortProblem::PinnedInUse {
                port,
                key: r.key.clone(),
                span,
            });
        }
        claimed.insert(port, r.key.clone());
        out.insert(r.key.clone(), port);
    }
    for r in &sorted {
        if out.contains_key(&r.key) || r.pinned.is_some() {
            continue;
        }
        if let Some(&port) = env.recorded_ports.get(&r.key)
            && port != 0
            && !claimed.contains_key(&port)
        {
            claimed.insert(port, r.key.clone());
            out.insert(r.key.clone(), port);
        }
    }
    let listening: &BTreeSet<u16> = &env.listening_ports;
    let free = |p: u16, claimed: &BTreeMap<u16, String>| {
        p >= 1024 && !claimed.contains_key(&p) && !listening.contains(&p)
    };
    for r in &sorted {
        if out.contains_key(&r.key) || r.pinned.is_some() {
            continue;
        }
        let port = if free(r.preferred, &claimed) {
            Some(r.preferred)
        } else {
            (ALLOCATION_START..=u16::MAX)
                .chain(1024..ALLOCATION_START)
                .find(|&p| free(p, &claimed))
        };
        match port {
            Some(p) => {
                claimed.insert(p, r.key.clone());
                out.insert(r.key.clone(), p);
            }
            None => problems.push(PortProblem::Exhausted { key: r.key.clone() }),
        }
    }
    (out, problems)
}

pub(super) fn allocate(cx: &mut Cx<'_>, instances: &mut BTreeMap<String, Instance<'_>>) {
    let mut requests = Vec::new();
    for inst in instances.values() {
        let expose = inst.spec.is_some_and(|s| s.expose);
        for port in &inst.entry().ports {
            let pname = port.name.value.as_str();
            let pinned = inst
                .spec
                .and_then(|s| s.ports.get(pname))
                .map(|p| (p.value, p.span));
            let wanted = match cx.target {
                Target::Local => inst.external.is_none(),
                Target::Compose => port.edge || expose || pinned.is_some(),
                Target::Kubernetes => false,
            };
            // A pin nothing will honour: say why, once.
            let ignored = if inst.external.is_some() {
                Some((
                    ": the component runs elsewhere (`url:`)",
                    "remove the pin, or the `url:` if berth should run it",
                ))
            } else if cx.target == Target::Kubernetes {
                Some((
                    " on the kubernetes target",
                    "reach it through its Service, an Ingress or `kubectl port-forward`",
                ))
            } else {
                None
            };
            if let (Some((_, span)), Some((why, help))) = (pinned, ignored) {
                cx.finding(
                    Severity::Warning,
                    "host-port-ignored",
                    Some(&inst.name),
                    span,
                    format!("host port of `{}/{pname}` is ignored{why}", inst.name),
                    Some(help.to_string()),
                );
            }
            if wanted {
                requests.push(PortRequest {
                    key: Environment::port_key(&inst.name, pname),
                    preferred: port.port,
                    pinned,
                });
            }
        }
        // A pin for a port the entry does not have.
        if let Some(spec) = inst.spec {
            for key in spec.ports.keys() {
                if !inst
                    .entry()
                    .ports
                    .iter()
                    .any(|p| p.name.value.as_str() == key.value)
                {
                    let names: Vec<&str> = inst
                        .entry()
                        .ports
                        .iter()
                        .map(|p| p.name.value.as_str())
                        .collect();
                    cx.error(
                        key.span,
                        format!(
                            "component `{}`: `{}` has no port named `{}`",
                            inst.name,
                            inst.entry().name.value,
                            key.value
                        ),
                    )
                    .help = Some(if names.is_empty() {
                        "it has no ports".to_string()
                    } else {
                        format!("its ports are: {}", names.join(", "))
                    });
                }
            }
        }
    }
    let (chosen, problems) = choose(&requests, cx.env);
    for problem in problems {
        match problem {
            PortProblem::PinnedTwice {
                port,
                key,
                other,
                span,
            } => {
                cx.error(
                    span,
                    format!("host port {port} of `{key}` is already pinned by `{other}`"),
                )
                .help =
                    Some("pin another port, or remove the pin and let berth choose".to_string());
            }
            PortProblem::PinnedInUse { port, key, span } => {
                let component = key.split('/').next().unwrap_or_default().to_string();
                cx.finding(
                    Severity::Warning,
                    "port-in-use",
                    Some(&component),
                    span,
                    format!("host port {port} pinned for `{key}` is in use on this machine"),
                    Some(
                        "stop what listens there, or remove the pin and let berth choose"
                            .to_string(),
                    ),
                );
            }
            PortProblem::Exhausted { key } => {
                cx.error(Span::NONE, format!("no free host port is left for `{key}`"));
            }
        }
    }
    for (key, port) in chosen {
        if let Some((component, pname)) = key.split_once('/')
            && let Some(inst) = instances.get_mut(component)
        {
            inst.host_ports.insert(pname.to_string(), port);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(key: &str, preferred: u16) -> PortRequest {
        PortRequest {
            key: key.to_string(),
            preferred,
            pinned: None,
        }
    }

    #[test]
    fn preferred_ports_are_used_when_free() {
        let env = Environment::default();
        let (out, problems) = choose(&[req("a/http", 8080), req("b/http", 8080)], &env);
        assert!(problems.is_empty());
        assert_eq!(out["a/http"], 8080);
        assert_eq!(out["b/http"], ALLOCATION_START);
    }

    #[test]
    fn listening_ports_are_avoided_and_recorded_ports_kept() {
        let mut env = Environment::default();
        env.listening_ports.extend([8080, ALLOCATION_START]);
        env.recorded_ports.insert("b/http".into(), 31000);
        let (out, _) = choose(&[req("a/http", 8080), req("b/http", 8080)], &env);
        assert_eq!(out["a/http"], ALLOCATION_START + 1);
        assert_eq!(out["b/http"], 31000);
    }

    proptest::proptest! {
        #[test]
        fn chosen_ports_never_clash_and_avoid_listening_ones(
            prefs in proptest::collection::vec(1000u16..1100, 1..40),
            pins in proptest::collection::vec(proptest::option::of(1000u16..1100), 40),
            recorded in proptest::collection::btree_map(0usize..40, 1000u16..1100, 0..10),
            listening in proptest::collection::btree_set(1000u16..1100, 0..50),
        ) {
            let requests: Vec<PortRequest> = prefs.iter().enumerate().map(|(i, &p)| PortRequest {
                key: format!("c{i}/http"),
                preferred: p,
                pinned: pins[i].map(|p| (p, Span::NONE)),
            }).collect();
            let env = Environment {
                listening_ports: listening.clone(),
                recorded_ports: recorded.iter().map(|(i, p)| (format!("c{i}/http"), *p)).collect(),
                ..Environment::default()
            };
            let (out, problems) = choose(&requests, &env);
            let mut seen = BTreeSet::new();
            for (key, port) in &out {
                proptest::prop_assert!(seen.insert(*port), "{} given twice", port);
                let r = requests.iter().find(|r| &r.key == key).unwrap();
                let pinned = r.pinned.map(|(p, _)| p) == Some(*port);
                let kept = env.recorded_ports.get(key) == Some(port);
                proptest::prop_assert!(pinned || kept || !listening.contains(port), "{} is listening", port);
            }
            // Every request got a port, except pins that lost to an earlier pin.
            let lost = problems.iter().filter(|p| matches!(p, PortProblem::PinnedTwice { .. })).count();
            proptest::prop_assert_eq!(out.len() + lost, requests.len());
            // Same input, same answer.
            proptest::prop_assert_eq!(choose(&requests, &env).0, out);
        }
    }

    #[test]
    fn double_pins_are_problems() {
        let span = Span::NONE;
        let mut a = req("a/http", 1);
        a.pinned = Some((9000, span));
        let mut b = req("b/http", 1);
        b.pinned = Some((9000, span));
        let (out, problems) = choose(&[a, b], &Environment::default());
        assert_eq!(out.len(), 1);
        assert!(matches!(
            problems[0],
            PortProblem::PinnedTwice { port: 9000, .. }
        ));
    }
}
