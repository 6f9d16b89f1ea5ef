//! The dependency graph: start order, and cycles reported by name.

use super::bind::Edges;
use super::{Cx, Instance};
use std::collections::{BTreeMap, BTreeSet};

/// Orders the components so that each comes after everything it depends on (ties broken
/// by name, so the order is deterministic). Records each component's dependencies. A
/// cycle is an error that names it; the components on it are left out of the order.
pub(super) fn order(
    cx: &mut Cx<'_>,
    instances: &mut BTreeMap<String, Instance<'_>>,
    edges: &Edges,
) -> Vec<String> {
    for (name, inst) in instances.iter_mut() {
        inst.depends_on = edges
            .get(name)
            .map(|deps| deps.keys().filter(|d| *d != name).cloned().collect())
            .unwrap_or_default();
    }
    let names: BTreeSet<String> = instances.keys().cloned().collect();
    let deps = |n: &str| -> BTreeSet<String> {
        edges
            .get(n)
            .map(|d| d.keys().filter(|k| names.contains(*k)).cloned().collect())
            .unwrap_or_default()
    };
    let (sorted, left) = topological(&names, deps);
    if !left.is_empty() {
        let cycle = find_cycle(&left, |n| deps(n));
        let first = &cycle[0];
        let span = edges
            .get(first)
            .and_then(|d| d.get(&cycle[1 % cycle.len()]))
            .copied()
            .filter(|s| s.is_known())
            .or_else(|| instances.get(first).map(|i| i.span))
            .unwrap_or_default();
        let mut path = cycle.clone();
        path.push(cycle[0].clone());
        cx.error(span, format!("dependency cycle: {}", path.join(" → ")))
            .help = Some("break the cycle: remove one of these bindings or references".to_string());
    }
    sorted
}

/// Kahn's algorithm with a name-ordered ready set. Returns the order and the nodes that
/// could not be ordered (those on or behind a cycle).
pub fn topological<F>(nodes: &BTreeSet<String>, deps: F) -> (Vec<String>, BTreeSet<String>)
where
    F: Fn(&str) -> BTreeSet<String>,
{
    let mut remaining: BTreeMap<String, BTreeSet<String>> =
        nodes.iter().map(|n| (n.clone(), deps(n))).collect();
    let mut order = Vec::new();
    loop {
        let ready: Vec<String> = remaining
            .iter()
            .filter(|(_, d)| d.is_empty())
            .map(|(n, _)| n.clone())
            .collect();
        if ready.is_empty() {
            break;
        }
        // Take one at a time, smallest name first, so ties are broken by name.
        let next = ready[0].clone();
        remaining.remove(&next);
        for d in remaining.values_mut() {
            d.remove(&next);
        }
        order.push(next);
    }
    (order, remaining.into_keys().collect())
}

/// A cycle among `left` (every node there has a dependency there): follow the smallest
/// dependency from the smallest node until a node repeats.
fn find_cycle<F>(left: &BTreeSet<String>, deps: F) -> Vec<String>
where
    F: Fn(&str) -> BTreeSet<String>,
{
    let mut path: Vec<String> = Vec::new();
    let mut current = left.iter().next().cloned().unwrap_or_default();
    loop {
        if let Some(pos) = path.iter().position(|n| *n == current) {
            return path.split_off(pos);
        }
        path.push(current.clone());
        match deps(&current).into_iter().find(|d| left.contains(d)) {
            Some(next) => current = next,
            None => return path,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &str)]) -> (BTreeSet<String>, BTreeMap<String, BTreeSet<String>>) {
        let mut nodes = BTreeSet::new();
        let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            nodes.insert(a.to_string());
            nodes.insert(b.to_string());
            map.entry(a.to_string()).or_default().insert(b.to_string());
        }
        (nodes, map)
    }

    #[test]
    fn order_respects_dependencies_and_names() {
        let (nodes, map) = graph(&[("gateway", "llm"), ("gateway", "db"), ("worker", "db")]);
        let (order, left) = topological(&nodes, |n| map.get(n).cloned().unwrap_or_default());
        assert!(left.is_empty());
        assert_eq!(order, ["db", "llm", "gateway", "worker"]);
    }

    #[test]
    fn cycles_are_found() {
        let (nodes, map) = graph(&[("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")]);
        let deps = |n: &str| map.get(n).cloned().unwrap_or_default();
        let (order, left) = topological(&nodes, deps);
        assert!(order.is_empty());
        assert_eq!(find_cycle(&left, deps), ["a", "b", "c"]);
    }
}
