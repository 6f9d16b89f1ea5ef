//! The built-in catalog as a registry: every entry the project promises is there, is
//! complete, is internally consistent, and its templates render in strict mode against the
//! context the resolver gives them.

use berth_stack::catalog::{
    Catalog, Category, LoadedEntry, Role, SettingType, VolumePurpose, Workload,
};
use berth_stack::units::ContractId;
use berth_stack::yaml::{Node, NodeKind};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

/// Every entry the built-in catalog must have.
const REQUIRED: &[&str] = &[
    "vllm",
    "tgi",
    "ollama",
    "llama-cpp",
    "text-embeddings-inference",
    "text-embeddings-rerank",
    "qdrant",
    "milvus",
    "postgres",
    "chroma",
    "opensearch",
    "docling-serve",
    "unstructured-api",
    "open-webui",
    "ray-head",
    "ray-worker",
    "llama-factory",
    "berth-gateway",
    "berth-worker",
    "berth-embedder",
];

/// The contract vocabulary; an entry providing anything else is a typo.
const CONTRACTS: &[&str] = &[
    "openai-chat",
    "openai-completions",
    "openai-embeddings",
    "tei-embeddings",
    "tei-rerank",
    "vector-store/qdrant",
    "vector-store/milvus",
    "vector-store/pgvector",
    "vector-store/chroma",
    "vector-store/opensearch",
    "sql/postgres",
    "state-store",
    "doc-parser/docling",
    "doc-parser/unstructured",
    "ray-cluster",
];

fn catalog() -> Catalog {
    match Catalog::builtin() {
        Ok(c) => c,
        Err(d) => panic!("built-in catalog has problems:\n{d}"),
    }
}

#[test]
fn builtin_catalog_loads_with_no_diagnostics() {
    let c = catalog();
    assert!(c.len() >= REQUIRED.len());
}

#[test]
fn every_required_entry_exists() {
    let c = catalog();
    let missing: Vec<_> = REQUIRED.iter().filter(|n| c.get(n).is_none()).collect();
    assert!(missing.is_empty(), "missing catalog entries: {missing:?}");
}

#[test]
fn names_are_unique_and_equal_their_file_stems() {
    let c = catalog();
    let mut seen = BTreeSet::new();
    for e in c.iter() {
        let name = e.entry.name.value.as_str();
        assert!(seen.insert(name), "entry `{name}` appears twice");
        assert_eq!(
            e.file,
            format!("<builtin>/{name}.yaml"),
            "entry `{name}` is not in `{name}.yaml`"
        );
        assert_eq!(c.get(name).map(|l| l.entry.name.value.as_str()), Some(name));
    }
    assert_eq!(seen.len(), c.len());
}

#[test]
fn every_entry_is_described_and_documented() {
    for e in catalog().iter() {
        let name = e.entry.name.value.as_str();
        let description = e.entry.description.trim();
        assert!(!description.is_empty(), "{name}: empty description");
        assert!(
            !description.contains('\n'),
            "{name}: the description must be one line"
        );
        let docs = e.entry.docs.as_deref().unwrap_or("").trim();
        assert!(
            docs.starts_with("https://"),
            "{name}: `docs` must be an https URL, found `{docs}`"
        );
        assert!(
            e.source.trim_start().starts_with('#'),
            "{name}: the file should open with a comment saying what the component is"
        );
        for (key, setting) in &e.entry.settings {
            assert!(
                !setting.description.trim().is_empty(),
                "{name}: setting `{}` has no description",
                key.value
            );
        }
    }
}

#[test]
fn no_image_is_unpinned() {
    for e in catalog().iter() {
        let image = &e.entry.image.value;
        let name = e.entry.name.value.as_str();
        assert!(
            !image.repository.trim().is_empty(),
            "{name}: empty repository"
        );
        let tag = image.tag.trim();
        assert!(
            !tag.is_empty() && tag != "latest" && !tag.ends_with("-latest"),
            "{name}: image tag `{tag}` is not pinned"
        );
        assert!(
            !image.repository.contains(':') || image.repository.contains('/'),
            "{name}: the tag belongs in `tag`, not in `repository`"
        );
    }
}

#[test]
fn provided_contracts_are_in_the_vocabulary() {
    for e in catalog().iter() {
        let name = e.entry.name.value.as_str();
        for p in &e.entry.provides {
            let c = p.contract.value.as_str();
            assert!(
                CONTRACTS.contains(&c),
                "{name}: provides `{c}`, which is not a known contract"
            );
            assert!(
                p.path.is_empty() || p.path.starts_with('/'),
                "{name}: path of `{c}` must be empty or start with `/`"
            );
            assert!(!p.scheme.is_empty(), "{name}: `{c}` has no scheme");
        }
    }
}

#[test]
fn every_need_is_provided_by_some_entry() {
    let c = catalog();
    let provided: Vec<ContractId> = c
        .iter()
        .flat_map(|e| e.entry.provides.iter().map(|p| p.contract.value.clone()))
        .collect();
    for e in c.iter() {
        for n in &e.entry.needs {
            assert!(
                provided.iter().any(|p| n.contract.value.is_met_by(p)),
                "{}: needs `{}`, which no catalog entry provides",
                e.entry.name.value,
                n.contract.value
            );
        }
    }
}

#[test]
fn gpu_entries_declare_their_accelerator_and_memory() {
    for e in catalog().iter() {
        let entry = &e.entry;
        let name = entry.name.value.as_str();
        if entry.resources.gpu > 0 {
            let acc = entry
                .accelerator
                .as_ref()
                .unwrap_or_else(|| panic!("{name}: requests GPUs but has no accelerator"));
            assert!(
                !acc.vendors.is_empty(),
                "{name}: accelerator names no vendor"
            );
            if entry.category == Category::ModelServing {
                assert!(
                    entry.gpu_memory.is_some(),
                    "{name}: a model server with GPUs needs a gpu_memory rule"
                );
            }
        }
        if let Some(rule) = &entry.gpu_memory {
            assert!(
                entry.accelerator.is_some(),
                "{name}: gpu_memory without accelerator"
            );
            if let Some(p) = &rule.precision_setting {
                assert!(
                    entry.settings.contains_key(p.as_str()),
                    "{name}: gpu_memory.precision_setting `{p}` is not a setting"
                );
            }
            assert!(
                rule.bytes_per_param > 0.0 && rule.bytes_per_param <= 4.0,
                "{name}: implausible bytes_per_param {}",
                rule.bytes_per_param
            );
        }
    }
}

#[test]
fn model_servers_have_a_startup_budget_and_a_cache() {
    for e in catalog().iter() {
        let entry = &e.entry;
        if !matches!(entry.category, Category::ModelServing | Category::Embedding) {
            continue;
        }
        let name = entry.name.value.as_str();
        let startup = entry
            .health
            .as_ref()
            .and_then(|h| h.startup.as_ref())
            .unwrap_or_else(|| panic!("{name}: a model server needs a startup probe"));
        assert!(
            startup.budget.0 >= 300,
            "{name}: a startup budget of {} is too short for a model download",
            startup.budget
        );
        assert!(
            entry
                .volumes
                .iter()
                .any(|v| v.purpose == VolumePurpose::Cache),
            "{name}: a model server needs a cache volume for its weights"
        );
    }
}

#[test]
fn services_have_probes_and_stateful_ones_keep_data() {
    for e in catalog().iter() {
        let entry = &e.entry;
        let name = entry.name.value.as_str();
        if entry.workload != Workload::Job {
            assert!(
                entry.health.is_some(),
                "{name}: a service needs health probes"
            );
        }
        if entry.workload == Workload::Stateful {
            assert!(
                entry
                    .volumes
                    .iter()
                    .any(|v| v.purpose == VolumePurpose::Data),
                "{name}: a stateful workload needs a data volume"
            );
        }
        for v in &entry.volumes {
            assert!(
                v.mount.starts_with('/'),
                "{name}: mount `{}` is not absolute",
                v.mount
            );
        }
        for p in &entry.ports {
            // Kubernetes port names are at most 15 characters.
            assert!(
                p.name.value.as_str().len() <= 15,
                "{name}: port name `{}` is longer than 15 characters",
                p.name.value
            );
        }
        if let Some(h) = &entry.health {
            let paths = h
                .readiness
                .http
                .iter()
                .chain(h.startup.iter().flat_map(|s| s.http.iter()));
            for http in paths {
                assert!(
                    http.path.starts_with('/'),
                    "{name}: probe path `{}`",
                    http.path
                );
            }
        }
        if entry.resources.cpu.is_none() || entry.resources.memory.is_none() {
            panic!("{name}: default resources must give cpu and memory");
        }
    }
}

#[test]
fn the_three_berth_roles_exist() {
    let c = catalog();
    for (role, name) in [
        (Role::Gateway, "berth-gateway"),
        (Role::Worker, "berth-worker"),
        (Role::Embedder, "berth-embedder"),
    ] {
        let e = c
            .role(role)
            .unwrap_or_else(|| panic!("no entry runs the {role:?} role"));
        assert_eq!(e.entry.name.value.as_str(), name);
        assert_eq!(e.entry.category, Category::Berth);
        assert_eq!(e.entry.image.value.repository, "berth/berth");
        assert!(!e.entry.command.is_empty(), "{name}: needs a command");
    }
    let gateway = &c.role(Role::Gateway).unwrap().entry;
    assert!(
        gateway.ports.iter().any(|p| p.edge),
        "the gateway is an edge"
    );
    for e in c.iter() {
        let has_role = e.entry.role.is_some();
        assert_eq!(
            has_role,
            e.entry.category == Category::Berth,
            "{}: `role` and category `berth` go together",
            e.entry.name.value
        );
    }
}

#[test]
fn every_setting_is_used() {
    for e in catalog().iter() {
        let entry = &e.entry;
        let name = entry.name.value.as_str();
        let templates: Vec<&str> = template_fields(e).into_iter().map(|(_, t)| t).collect();
        for key in entry.settings.keys() {
            let k = key.value.as_str();
            let used = templates
                .iter()
                .any(|t| t.contains(&format!("settings.{k}")))
                || entry.gpu_memory.as_ref().is_some_and(|r| {
                    r.model_setting == k || r.precision_setting.as_deref() == Some(k)
                });
            assert!(used, "{name}: setting `{k}` is declared but never used");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Templates, rendered the way the resolver renders them: minijinja, strict undefined.

fn environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(false);
    env
}

fn render(template: &str, ctx: &Value) -> Result<String, String> {
    environment()
        .render_str(template, ctx)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("{e:#}"))
}

fn node_to_json(kind: SettingType, node: &Node) -> Value {
    match &node.kind {
        NodeKind::Null => Value::Null,
        NodeKind::Bool(b) => json!(b),
        NodeKind::Int(_, raw) | NodeKind::Float(_, raw) if kind == SettingType::String => {
            json!(raw)
        }
        NodeKind::Int(i, _) => json!(*i as i64),
        NodeKind::Float(f, _) => json!(f),
        NodeKind::Str(s) => json!(s),
        NodeKind::Seq(items) => Value::Array(
            items
                .iter()
                .map(|i| node_to_json(SettingType::String, i))
                .collect(),
        ),
        NodeKind::Map(_) => panic!("settings are never maps"),
    }
}

#[derive(Clone, Copy, Debug)]
enum Given {
    /// Only required settings given; the rest take their default or none.
    Defaults,
    /// Every setting given, booleans true.
    AllTrue,
    /// Every setting given, booleans false and numbers zero.
    AllFalse,
}

fn sample(
    name: &str,
    kind: SettingType,
    enumerated: Option<&[String]>,
    secret: bool,
    given: Given,
) -> Value {
    if secret {
        return json!(format!("${{secret:{}}}", name.to_ascii_uppercase()));
    }
    let on = !matches!(given, Given::AllFalse);
    match kind {
        SettingType::String => match enumerated {
            Some(values) => json!(if on {
                &values[0]
            } else {
                values.last().unwrap()
            }),
            None => json!("org/Sample-Model-7B"),
        },
        SettingType::Integer => json!(if on { 2 } else { 0 }),
        SettingType::Number => json!(if on { 0.5 } else { 0.0 }),
        SettingType::Boolean => json!(on),
        SettingType::List => json!(["a", "b"]),
    }
}

fn settings_context(e: &LoadedEntry, given: Given) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, s) in &e.entry.settings {
        let k = key.value.as_str();
        let value = match given {
            Given::Defaults => match &s.default {
                Some(d) => node_to_json(s.kind, d),
                None if s.required => sample(k, s.kind, s.one_of.as_deref(), s.secret, given),
                None => Value::Null,
            },
            _ => sample(k, s.kind, s.one_of.as_deref(), s.secret, given),
        };
        out.insert(k.to_string(), value);
    }
    out
}

fn record(full: bool) -> Value {
    if full {
        json!({
            "url": "http://provider:8000/v1", "scheme": "http", "host": "provider",
            "port": 8000, "path": "/v1", "model": "org/Sample-Model-7B",
            "secrets": { "password": "${secret:PROVIDER_PASSWORD}", "api_key": "${secret:PROVIDER_KEY}" }
        })
    } else {
        json!({
            "url": "http://provider:8000", "scheme": "http", "host": "provider",
            "port": 8000, "path": "", "model": null, "secrets": {}
        })
    }
}

/// Every template of an entry with a label, except those of `needs[].env`.
fn template_fields(e: &LoadedEntry) -> Vec<(String, &str)> {
    let entry = &e.entry;
    let mut out = Vec::new();
    for (i, t) in entry.command.iter().enumerate() {
        out.push((format!("command[{i}]"), t.value.as_str()));
    }
    for (i, t) in entry.args.iter().enumerate() {
        out.push((format!("args[{i}]"), t.value.as_str()));
    }
    for (k, t) in &entry.env {
        out.push((format!("env.{k}"), t.value.as_str()));
    }
    for p in &entry.provides {
        if let Some(m) = &p.model {
            out.push((
                format!("provides[{}].model", p.contract.value),
                m.value.as_str(),
            ));
        }
        for (k, t) in &p.secrets {
            out.push((
                format!("provides[{}].secrets.{k}", p.contract.value),
                t.value.as_str(),
            ));
        }
    }
    for n in &entry.needs {
        for (k, t) in &n.env {
            out.push((
                format!("needs[{}].env.{k}", n.contract.value),
                t.value.as_str(),
            ));
        }
    }
    out
}

#[test]
fn every_template_renders_in_strict_mode() {
    let mut failures = Vec::new();
    for e in catalog().iter() {
        let entry = &e.entry;
        let name = entry.name.value.as_str();
        let ports: Map<String, Value> = entry
            .ports
            .iter()
            .map(|p| (p.name.value.to_string(), json!(p.port)))
            .collect();
        let resources = json!({
            "cpu": entry.resources.cpu.clone().unwrap_or_else(|| "1".into()),
            "memory": entry.resources.memory.map(|m| m.to_string()),
            "gpu": entry.resources.gpu,
        });
        for given in [Given::Defaults, Given::AllTrue, Given::AllFalse] {
            for bound in [true, false] {
                let settings = Value::Object(settings_context(e, given));
                let needs: Map<String, Value> = entry
                    .needs
                    .iter()
                    .map(|n| {
                        let r = if n.optional && !bound {
                            Value::Null
                        } else {
                            record(bound)
                        };
                        (n.contract.value.to_string(), r)
                    })
                    .collect();
                let ctx = json!({
                    "component": name, "stack": "test-stack", "settings": settings,
                    "ports": ports, "resources": resources, "needs": needs,
                });
                let mut check =
                    |label: String, template: &str, ctx: &Value| match render(template, ctx) {
                        Err(err) => failures.push(format!("{name} {label} ({given:?}): {err}")),
                        Ok(out) => {
                            let leaks = label.starts_with("args")
                                || label.starts_with("command")
                                || label.ends_with(".model");
                            if leaks && out.contains("${secret:") {
                                failures.push(format!(
                                    "{name} {label} ({given:?}): a secret reaches `{out}`"
                                ));
                            }
                            // minijinja prints none as `None` and booleans as
                            // `True`/`False`: never what a program expects.
                            for word in ["None", "True", "False"] {
                                if out == word || out.contains(&format!("={word}")) {
                                    failures.push(format!(
                                        "{name} {label} ({given:?}): renders `{out}`; \
                                         write `x or ''` or `'true' if x else 'false'`"
                                    ));
                                }
                            }
                        }
                    };
                for (label, t) in template_fields(e) {
                    if label.starts_with("needs[") {
                        continue;
                    }
                    check(label, t, &ctx);
                }
                // A need's env sees the provider's connection record, `settings` and
                // `component`; it is rendered only when the need is bound.
                for n in &entry.needs {
                    let mut nctx = record(bound).as_object().unwrap().clone();
                    nctx.insert("settings".into(), settings.clone());
                    nctx.insert("component".into(), json!(name));
                    let nctx = Value::Object(nctx);
                    for (k, t) in &n.env {
                        check(
                            format!("needs[{}].env.{k}", n.contract.value),
                            &t.value,
                            &nctx,
                        );
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "template problems:\n{}",
        failures.join("\n")
    );
}

#[test]
fn secret_settings_only_flow_into_env_and_provided_secrets() {
    for e in catalog().iter() {
        let name = e.entry.name.value.as_str();
        for key in e
            .entry
            .settings
            .iter()
            .filter(|(_, s)| s.secret)
            .map(|(k, _)| k)
        {
            let needle = format!("settings.{}", key.value);
            for (label, t) in template_fields(e) {
                let allowed = label.starts_with("env.") || label.contains(".secrets.");
                assert!(
                    allowed || !t.contains(&needle),
                    "{name}: secret setting `{}` is used in {label}",
                    key.value
                );
            }
        }
    }
}
