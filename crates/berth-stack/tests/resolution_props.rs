//! Property tests of resolution over randomly generated catalogs and stacks.
//!
//! An independent oracle in this file decides, from the generated entries alone, whether
//! a stack must fail (a need nothing provides, a need several components provide, a
//! dependency cycle) and why. The resolver must agree: either a plan whose start order
//! respects every binding and whose host ports are unique and free, or errors naming
//! exactly those causes. Resolution must also be deterministic and independent of the
//! order components are written in.

use berth_stack::catalog::{Catalog, Origin};
use berth_stack::diagnostic::Severity;
use berth_stack::stack::StackFile;
use berth_stack::{Environment, resolve};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const CONTRACTS: usize = 5;
const PORTS: [u16; 5] = [8000, 8080, 6333, 20000, 20001];

#[derive(Debug, Clone)]
struct GenEntry {
    ports: Vec<u16>,
    provides: Vec<usize>,
    needs: Vec<(usize, bool)>,
}

fn entry_yaml(i: usize, e: &GenEntry) -> String {
    let mut s = format!(
        "name: gen-e{i}\ndescription: generated\ncategory: compute\nimage: {{ repository: test/gen, tag: \"1\" }}\nports:\n"
    );
    for (k, p) in e.ports.iter().enumerate() {
        s.push_str(&format!("  - {{ name: p{k}, port: {p} }}\n"));
    }
    s.push_str("provides:\n");
    for c in &e.provides {
        s.push_str(&format!("  - {{ contract: gen-c{c}, port: p0 }}\n"));
    }
    s.push_str("needs:\n");
    for (c, optional) in &e.needs {
        s.push_str(&format!(
            "  - {{ contract: gen-c{c}, optional: {optional} }}\n"
        ));
    }
    s
}

fn gen_entry() -> impl Strategy<Value = GenEntry> {
    (
        proptest::sample::subsequence(PORTS.to_vec(), 1..=2),
        proptest::sample::subsequence((0..CONTRACTS).collect::<Vec<_>>(), 0..=2),
        proptest::collection::btree_map(0..CONTRACTS, any::<bool>(), 0..=2),
    )
        .prop_map(|(ports, provides, needs)| GenEntry {
            ports,
            needs: needs
                .into_iter()
                .filter(|(c, _)| !provides.contains(c))
                .collect(),
            provides,
        })
}

#[derive(Debug, Clone)]
struct Case {
    entries: Vec<GenEntry>,
    /// Entry index of each component `c0`, `c1`, …
    components: Vec<usize>,
    listening: BTreeSet<u16>,
    compose: bool,
}

fn gen_case() -> impl Strategy<Value = Case> {
    proptest::collection::vec(gen_entry(), 1..6).prop_flat_map(|entries| {
        let n = entries.len();
        (
            Just(entries),
            proptest::collection::vec(0..n, 1..10),
            proptest::collection::btree_set(
                prop_oneof![proptest::sample::select(PORTS.to_vec()), 20002u16..20010],
                0..6,
            ),
            any::<bool>(),
        )
            .prop_map(|(entries, components, listening, compose)| Case {
                entries,
                components,
                listening,
                compose,
            })
    })
}

fn stack_yaml(case: &Case, reversed: bool) -> String {
    let mut s = format!(
        "stack: gen\ntarget: {}\ncomponents:\n",
        if case.compose { "compose" } else { "local" }
    );
    let mut order: Vec<usize> = (0..case.components.len()).collect();
    if reversed {
        order.reverse();
    }
    for i in order {
        s.push_str(&format!(
            "  c{i}: {{ uses: gen-e{}, expose: true }}\n",
            case.components[i]
        ));
    }
    s
}

/// What the oracle expects: error messages that must appear, or the edges of a valid plan.
enum Verdict {
    Fail(Vec<String>),
    Ok(BTreeMap<String, BTreeSet<String>>),
}

fn oracle(case: &Case) -> Verdict {
    let mut errors = Vec::new();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (i, &e) in case.components.iter().enumerate() {
        for &(need, optional) in &case.entries[e].needs {
            let providers: Vec<usize> = case
                .components
                .iter()
                .enumerate()
                .filter(|&(j, &f)| j != i && case.entries[f].provides.contains(&need))
                .map(|(j, _)| j)
                .collect();
            match providers.len() {
                0 if optional => {}
                0 => errors.push(format!(
                    "component `c{i}` (gen-e{e}) needs `gen-c{need}`, and no component of the stack provides it"
                )),
                1 => {
                    edges.entry(format!("c{i}")).or_default().insert(format!("c{}", providers[0]));
                }
                _ => errors.push(format!("component `c{i}` needs `gen-c{need}`, which several components provide")),
            }
        }
    }
    // Cycle check (also when other errors were found: all are reported at once) by repeated removal of nodes without dependencies.
    let mut remaining: BTreeMap<String, BTreeSet<String>> = (0..case.components.len())
        .map(|i| {
            (
                format!("c{i}"),
                edges.get(&format!("c{i}")).cloned().unwrap_or_default(),
            )
        })
        .collect();
    while let Some(free) = remaining
        .iter()
        .find(|(_, d)| d.is_empty())
        .map(|(n, _)| n.clone())
    {
        remaining.remove(&free);
        remaining.values_mut().for_each(|d| {
            d.remove(&free);
        });
    }
    if !remaining.is_empty() {
        errors.push("dependency cycle: ".to_string());
    }
    if errors.is_empty() {
        Verdict::Ok(edges)
    } else {
        Verdict::Fail(errors)
    }
}

fn catalog(case: &Case) -> Catalog {
    static BUILTIN: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
    let mut catalog = BUILTIN
        .get_or_init(|| Catalog::builtin().expect("built-in catalog"))
        .clone();
    for (i, e) in case.entries.iter().enumerate() {
        let d = catalog.add(
            &format!("gen-e{i}.yaml"),
            &format!("gen-e{i}"),
            &entry_yaml(i, e),
            Origin::User,
        );
        assert!(d.is_empty(), "generated entry is invalid:\n{d}");
    }
    catalog
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn resolution_agrees_with_the_oracle(case in gen_case()) {
        let catalog = catalog(&case);
        let env = Environment { listening_ports: case.listening.clone(), ..Environment::default() };
        let (file, diags) = StackFile::parse("berth.yaml", &stack_yaml(&case, false));
        prop_assert!(diags.is_empty(), "{}", diags);
        let result = resolve(&file.unwrap(), &catalog, &env);
        match (oracle(&case), result) {
            (Verdict::Fail(expected), Err(diags)) => {
                let errors: Vec<&str> = diags.iter().filter(|d| d.severity == Severity::Error).map(|d| d.message.as_str()).collect();
                for e in &expected {
                    prop_assert!(errors.iter().any(|m| m.starts_with(e.as_str())), "missing error `{}` in {:?}", e, errors);
                }
                for m in &errors {
                    prop_assert!(expected.iter().any(|e| m.starts_with(e.as_str())), "unexpected error `{}`; expected {:?}", m, expected);
                }
            }
            (Verdict::Ok(edges), Ok(resolved)) => {
                let plan = resolved.plan;
                // The order holds every component once, each after its providers.
                let position: BTreeMap<&str, usize> = plan.order.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
                prop_assert_eq!(position.len(), plan.components.len());
                for (name, c) in &plan.components {
                    for b in &c.bindings {
                        prop_assert!(position[b.provider.as_str()] < position[name.as_str()], "{} starts before its provider {}", name, b.provider);
                    }
                    for d in &c.depends_on {
                        prop_assert!(position[d.as_str()] < position[name.as_str()]);
                    }
                }
                for (from, tos) in &edges {
                    let bound: BTreeSet<String> = plan.components[from].bindings.iter().map(|b| b.provider.clone()).collect();
                    prop_assert_eq!(&bound, tos);
                }
                // Host ports: unique, and none of them in use on the machine.
                let hosts: Vec<u16> = plan.components.values().flat_map(|c| c.ports.iter().filter_map(|p| p.host)).collect();
                let unique: BTreeSet<u16> = hosts.iter().copied().collect();
                prop_assert_eq!(unique.len(), hosts.len(), "host ports clash: {:?}", hosts);
                for h in &hosts {
                    prop_assert!(!case.listening.contains(h), "port {} is in use", h);
                }
                // Every port that should have a host port has one.
                for (name, c) in &plan.components {
                    if name.starts_with('c') {
                        prop_assert!(c.ports.iter().all(|p| p.host.is_some()));
                    }
                }
            }
            (Verdict::Fail(expected), Ok(_)) => prop_assert!(false, "resolved, but expected {:?}", expected),
            (Verdict::Ok(_), Err(diags)) => prop_assert!(false, "expected a plan, got:\n{}", diags),
        }
    }

    #[test]
    fn resolution_is_deterministic_and_order_independent(case in gen_case()) {
        let catalog = catalog(&case);
        let env = Environment { listening_ports: case.listening.clone(), ..Environment::default() };
        let run = |reversed: bool| {
            let (file, _) = StackFile::parse("berth.yaml", &stack_yaml(&case, reversed));
            match resolve(&file.unwrap(), &catalog, &env) {
                Ok(r) => serde_json::to_string_pretty(&r.plan).unwrap(),
                // Positions move with the order; the messages must not.
                Err(d) => {
                    let mut m: Vec<String> = d.iter().map(|d| format!("{}: {}", d.severity, d.message)).collect();
                    m.sort();
                    m.join("\n")
                }
            }
        };
        let first = run(false);
        prop_assert_eq!(&first, &run(false));
        prop_assert_eq!(&first, &run(true));
    }
}
