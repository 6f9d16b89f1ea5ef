//! Rendering: catalog templates → command, args and environment of each component; the
//! stack's sources, pipelines and apps → their planned form.

use super::{Cx, Instance};
use crate::catalog::{HttpProbe, Probe, StartupProbe, template};
use crate::diagnostic::Diagnostic;
use crate::plan::{
    Connection, PlannedApp, PlannedChunk, PlannedComponent, PlannedHealth, PlannedPipeline,
    PlannedPort, PlannedProbe, PlannedSource, PlannedVolume,
};
use crate::stack::StackFile;
use crate::units::Name;
use crate::yaml::Spanned;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The template context of a component, without its needs.
pub(super) fn base_context(cx: &Cx<'_>, inst: &Instance<'_>) -> Value {
    let ports: serde_json::Map<String, Value> = inst
        .entry()
        .ports
        .iter()
        .map(|p| (p.name.value.to_string(), json!(p.port)))
        .collect();
    json!({
        "component": inst.name,
        "stack": cx.stack.stack.value.as_str(),
        "settings": inst.settings,
        "ports": ports,
        "resources": {
            "cpu": inst.resources.cpu,
            "memory": inst.resources.memory.map(|m| m.to_string()),
            "gpu": inst.resources.gpu,
        },
        "needs": {},
    })
}

/// A connection record as a template value: every field present (`model` may be none,
/// `secrets` may be empty), so templates can test them without strict-mode errors.
fn connection_context(conn: &Connection) -> Value {
    json!({
        "component": conn.component,
        "contract": conn.contract,
        "scheme": conn.scheme,
        "host": conn.host,
        "port": conn.port,
        "path": conn.path,
        "url": conn.url,
        "model": conn.model,
        "secrets": conn.secrets,
    })
}

/// Renders one catalog template, reporting failures against the catalog file.
pub(super) fn template(
    cx: &mut Cx<'_>,
    inst: &Instance<'_>,
    t: &Spanned<String>,
    ctx: &Value,
) -> Option<String> {
    match template::render(&t.value, ctx) {
        Ok(s) => Some(s),
        Err(msg) => {
            cx.diags.push(
                Diagnostic::error(
                    &inst.loaded.file,
                    t.span,
                    format!(
                        "component `{}`: cannot render template `{}`: {msg}",
                        inst.name, t.value
                    ),
                )
                .with_help(
                    "check the component's settings; if they are right, the catalog entry is wrong",
                ),
            );
            None
        }
    }
}

pub(super) fn components(
    cx: &mut Cx<'_>,
    instances: &BTreeMap<String, Instance<'_>>,
    connections: &BTreeMap<String, Connection>,
) -> BTreeMap<String, PlannedComponent> {
    let registry = cx.stack.registry.as_ref().map(|r| r.value.clone());
    let mut out = BTreeMap::new();
    for (name, inst) in instances {
        let entry = inst.entry();
        let mut ctx = base_context(cx, inst);
        let mut needs = serde_json::Map::new();
        for need in &entry.needs {
            let record = inst
                .bindings
                .iter()
                .find(|b| b.contract == need.contract.value.as_str())
                .and_then(|b| connections.get(&b.connection))
                .map(connection_context)
                .unwrap_or(Value::Null);
            needs.insert(need.contract.value.to_string(), record);
        }
        ctx["needs"] = Value::Object(needs);

        let skip = cx.unbound.contains(name);
        let render_list = |cx: &mut Cx<'_>, list: &[Spanned<String>]| -> Vec<String> {
            list.iter()
                .filter(|_| !skip)
                .filter_map(|t| template(cx, inst, t, &ctx))
                .filter(|s| !s.is_empty())
                .collect()
        };
        let command = render_list(cx, &entry.command);
        let args = render_list(cx, &entry.args);
        for arg in command.iter().chain(&args) {
            if arg.contains("${secret:") {
                cx.error(
                    inst.span,
                    format!(
                        "component `{name}`: a secret would appear on the command line of `{}`",
                        entry.name.value
                    ),
                )
                .help = Some("the catalog entry must pass secrets through `env`".to_string());
            }
        }
        let mut env = BTreeMap::new();
        for (key, t) in entry.env.iter().filter(|_| !skip) {
            if let Some(v) = template(cx, inst, t, &ctx).filter(|v| !v.is_empty()) {
                env.insert(key.clone(), v);
            }
        }
        for binding in &inst.bindings {
            let Some(conn) = connections.get(&binding.connection) else {
                continue;
            };
            let fragment = crate::units::ContractId::new(binding.contract.clone())
                .map(|c| c.env_fragment())
                .unwrap_or_default();
            env.insert(format!("BERTH_{fragment}_URL"), conn.url.clone());
            let Some(need) = entry
                .needs
                .iter()
                .find(|n| n.contract.value.as_str() == binding.contract)
            else {
                continue;
            };
            let mut need_ctx = connection_context(conn);
            need_ctx["settings"] = ctx["settings"].clone();
            need_ctx["component"] = json!(name);
            for (key, t) in &need.env {
                if let Some(v) = template(cx, inst, t, &need_ctx).filter(|v| !v.is_empty()) {
                    env.insert(key.clone(), v);
                }
            }
        }
        if let Some(spec) = inst.spec {
            for (key, value) in &spec.env {
                if let Some(v) = cx.expand(&value.value, value.span) {
                    env.insert(key.value.clone(), v);
                }
            }
        }

        let port_number = |pname: &Name| {
            entry
                .ports
                .iter()
                .find(|p| p.name.value == *pname)
                .map(|p| p.port)
                .unwrap_or_default()
        };
        let health = entry.health.as_ref().map(|h| {
            let readiness = probe(&h.readiness, &port_number);
            let startup = h.startup.as_ref().map(|s| startup_probe(s, &port_number));
            PlannedHealth {
                readiness,
                startup,
                startup_budget_s: h.startup.as_ref().map(|s| s.budget.0).unwrap_or(0),
            }
        });
        let ports = entry
            .ports
            .iter()
            .map(|p| PlannedPort {
                name: p.name.value.to_string(),
                container: p.port,
                host: inst.host_ports.get(p.name.value.as_str()).copied(),
                protocol: p.protocol,
                edge: p.edge,
            })
            .collect();
        let volumes = entry
            .volumes
            .iter()
            .map(|v| PlannedVolume {
                name: format!("{name}-{}", v.name.value),
                mount: v.mount.clone(),
                size: v.size.map(|s| s.to_string()),
                purpose: v.purpose,
            })
            .collect();
        let provides = entry
            .provides
            .iter()
            .map(|p| super::bind::connection_id(name, p.contract.value.as_str()))
            .collect();
        out.insert(
            name.clone(),
            PlannedComponent {
                uses: entry.name.value.to_string(),
                category: entry.category,
                role: entry.role,
                implicit: inst.implicit,
                external_url: inst
                    .external
                    .as_ref()
                    .map(|u| format!("{}://{}:{}{}", u.scheme, u.host, u.port, u.path)),
                image: entry.image.value.reference(registry.as_deref()),
                workload: entry.workload,
                replicas: inst
                    .spec
                    .and_then(|s| s.replicas.as_ref())
                    .map(|r| r.value)
                    .unwrap_or(1),
                ports,
                resources: inst.resources.clone(),
                health,
                volumes,
                settings: inst.settings.clone(),
                command,
                args,
                env,
                provides,
                bindings: inst.bindings.clone(),
                depends_on: inst.depends_on.clone(),
            },
        );
    }
    out
}

fn probe(p: &Probe, port: &dyn Fn(&Name) -> u16) -> PlannedProbe {
    let (period_s, timeout_s, failure_threshold) = (p.period.0, p.timeout.0, p.failure_threshold);
    if let Some(HttpProbe { path, port: name }) = &p.http {
        PlannedProbe::Http {
            path: path.clone(),
            port: port(&name.value),
            period_s,
            timeout_s,
            failure_threshold,
        }
    } else if let Some(name) = &p.tcp {
        PlannedProbe::Tcp {
            port: port(&name.value),
            period_s,
            timeout_s,
            failure_threshold,
        }
    } else {
        PlannedProbe::Exec {
            command: p.exec.clone().unwrap_or_default(),
            period_s,
            timeout_s,
            failure_threshold,
        }
    }
}

fn startup_probe(s: &StartupProbe, port: &dyn Fn(&Name) -> u16) -> PlannedProbe {
    let period_s = s.period.0;
    let failure_threshold = u32::try_from(s.budget.0.div_ceil(period_s.max(1)))
        .unwrap_or(u32::MAX)
        .max(1);
    match &s.http {
        Some(h) => PlannedProbe::Http {
            path: h.path.clone(),
            port: port(&h.port.value),
            period_s,
            timeout_s: period_s.min(10),
            failure_threshold,
        },
        None => PlannedProbe::Tcp {
            port: s.tcp.as_ref().map(|t| port(&t.value)).unwrap_or_default(),
            period_s,
            timeout_s: period_s.min(10),
            failure_threshold,
        },
    }
}

pub(super) fn sources(cx: &mut Cx<'_>) -> BTreeMap<String, PlannedSource> {
    let stack = cx.stack;
    stack
        .sources
        .iter()
        .map(|(name, s)| {
            (
                name.value.to_string(),
                PlannedSource {
                    path: s.path.as_ref().and_then(|p| cx.expand(&p.value, p.span)),
                    urls: s
                        .urls
                        .iter()
                        .flat_map(|u| &u.value)
                        .filter_map(|x| cx.expand(&x.value, x.span))
                        .collect(),
                    include: s.include.iter().map(|g| g.value.clone()).collect(),
                    exclude: s.exclude.iter().map(|g| g.value.clone()).collect(),
                    acl: s.acl.clone().unwrap_or_default(),
                },
            )
        })
        .collect()
}

pub(super) fn pipelines(stack: &StackFile) -> BTreeMap<String, PlannedPipeline> {
    stack
        .pipelines
        .iter()
        .map(|(name, p)| {
            let c = p.chunk.clone().unwrap_or_default();
            let max_tokens = c.max_tokens.map(|m| m.value).unwrap_or(400);
            let chunk = PlannedChunk {
                strategy: c.strategy.value,
                max_tokens,
                overlap: c
                    .overlap
                    .map(|o| o.value)
                    .unwrap_or((max_tokens / 10).min(40)),
                tokenizer: c.tokenizer,
                separators: c.separators.map(|s| s.value).unwrap_or_default(),
                window: c.window.map(|w| w.value),
                parent_max_tokens: c.parent_max_tokens.map(|p| p.value),
            };
            (
                name.value.to_string(),
                PlannedPipeline {
                    source: p.source.value.clone(),
                    parser: p.parser.as_ref().map(|x| x.value.clone()),
                    chunk,
                    embed: p.embed.as_ref().map(|x| x.value.clone()),
                    store: p.store.as_ref().map(|x| x.value.clone()),
                    schedule: p.schedule.as_ref().map(|x| x.value.clone()),
                },
            )
        })
        .collect()
}

pub(super) fn apps(cx: &mut Cx<'_>) -> BTreeMap<String, PlannedApp> {
    let stack = cx.stack;
    let v = |x: &Option<Spanned<String>>| x.as_ref().map(|s| s.value.clone());
    stack
        .apps
        .iter()
        .map(|(name, a)| {
            (
                name.value.to_string(),
                PlannedApp {
                    kind: a.kind.value,
                    pipeline: v(&a.pipeline),
                    model: v(&a.model),
                    top_k: a.top_k.as_ref().map(|k| k.value).or(match a.kind.value {
                        crate::stack::AppKind::Rag => Some(6),
                        _ => None,
                    }),
                    rerank: v(&a.rerank),
                    database: a
                        .database
                        .as_ref()
                        .and_then(|d| cx.expand(&d.value, d.span)),
                    descriptions: v(&a.descriptions),
                    max_rows: a.max_rows.as_ref().map(|k| k.value).or(match a.kind.value {
                        crate::stack::AppKind::Text2sql => Some(1000),
                        _ => None,
                    }),
                    system_prompt: a.system_prompt.clone(),
                    knowledge: v(&a.knowledge),
                    prompt: v(&a.prompt),
                },
            )
        })
        .collect()
}
