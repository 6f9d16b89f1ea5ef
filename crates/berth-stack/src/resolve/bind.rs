//! Connection records, bindings of needs to providers, and the references of models,
//! pipelines and apps — the edges of the dependency graph.

use super::{Cx, Instance, render};
use crate::catalog::Role;
use crate::diagnostic::{hint, suggest};
use crate::plan::{Binding, BindingKind, Connection, PlannedRoute};
use crate::stack::{AppKind, Target};
use crate::units::ContractId;
use crate::yaml::Span;
use std::collections::{BTreeMap, BTreeSet};

/// Dependency edges: consumer → provider → where the dependency was stated.
pub(crate) type Edges = BTreeMap<String, BTreeMap<String, Span>>;

fn add_edge(edges: &mut Edges, from: &str, to: &str, span: Span) {
    if from != to {
        edges
            .entry(from.to_string())
            .or_default()
            .entry(to.to_string())
            .or_insert(span);
    }
}

/// Publishes one connection record per provided contract.
pub(super) fn connections(
    cx: &mut Cx<'_>,
    instances: &BTreeMap<String, Instance<'_>>,
) -> BTreeMap<String, Connection> {
    let mut out = BTreeMap::new();
    for inst in instances.values() {
        let ctx = render::base_context(cx, inst);
        for provide in &inst.entry().provides {
            let port_name = provide.port.value.as_str();
            let container = inst
                .entry()
                .ports
                .iter()
                .find(|p| p.name.value.as_str() == port_name)
                .map(|p| p.port)
                .unwrap_or_default();
            let path = render::template(cx, inst, &provide.path, &ctx).unwrap_or_default();
            let (scheme, host, port, path) = match &inst.external {
                Some(url) => {
                    // An HTTP base path is a prefix of the entry's path; a database URL's
                    // path names the database, which the entry's default must not follow.
                    let names_itself = !url.path.is_empty() && !url.scheme.starts_with("http");
                    let path = if path.is_empty() || names_itself || url.path.ends_with(&path) {
                        url.path.clone()
                    } else {
                        format!("{}{path}", url.path)
                    };
                    (url.scheme.clone(), url.host.clone(), url.port, path)
                }
                None => {
                    let (host, port) = match cx.target {
                        Target::Local => (
                            "127.0.0.1".to_string(),
                            inst.host_ports.get(port_name).copied().unwrap_or(container),
                        ),
                        Target::Compose | Target::Kubernetes => (inst.name.clone(), container),
                    };
                    (provide.scheme.clone(), host, port, path)
                }
            };
            let model = provide
                .model
                .as_ref()
                .and_then(|m| render::template(cx, inst, m, &ctx))
                .filter(|m| !m.is_empty());
            let secrets = provide
                .secrets
                .iter()
                .filter_map(|(k, t)| {
                    render::template(cx, inst, t, &ctx)
                        .filter(|v| !v.is_empty())
                        .map(|v| (k.clone(), v))
                })
                .collect();
            let id = connection_id(&inst.name, provide.contract.value.as_str());
            out.insert(
                id,
                Connection {
                    component: inst.name.clone(),
                    contract: provide.contract.value.to_string(),
                    url: format!("{scheme}://{host}:{port}{path}"),
                    scheme,
                    host,
                    port,
                    path,
                    model,
                    secrets,
                },
            );
        }
    }
    out
}

pub(crate) fn connection_id(component: &str, contract: &str) -> String {
    format!("{component}/{contract}")
}

/// The contract of `provider` that meets `need`, if any.
fn met_by<'e>(need: &ContractId, provider: &'e Instance<'_>) -> Option<&'e ContractId> {
    provider
        .entry()
        .provides
        .iter()
        .map(|p| &p.contract.value)
        .find(|c| need.is_met_by(c))
}

/// Binds every need of every component to a provider; returns the graph's edges.
pub(super) fn bindings(
    cx: &mut Cx<'_>,
    instances: &mut BTreeMap<String, Instance<'_>>,
    connections: &BTreeMap<String, Connection>,
    broken: &BTreeSet<String>,
) -> Edges {
    let mut edges = Edges::new();
    let names: Vec<String> = instances.keys().cloned().collect();
    let mut all = BTreeMap::new();
    for name in &names {
        let inst = &instances[name];
        let mut found = Vec::new();
        let explicit = inst.spec.map(|s| &s.bind);
        for need in &inst.entry().needs {
            let contract = &need.contract.value;
            let chosen = explicit.and_then(|b| b.get_key_value(contract.as_str()));
            if let Some((key, provider)) = chosen {
                let target = provider.value.as_str();
                if broken.contains(target) || cx.stack.is_unreadable("components", target) {
                    continue;
                }
                let Some(p) = instances.get(target) else {
                    cx.error(
                        provider.span,
                        format!(
                            "component `{name}` binds `{}` to `{target}`, which is not a component",
                            key.value
                        ),
                    )
                    .help = Some(hint(target, &names, "components"));
                    continue;
                };
                if target == name {
                    cx.error(
                        provider.span,
                        format!("component `{name}` cannot bind `{contract}` to itself"),
                    );
                    continue;
                }
                match met_by(contract, p) {
                    Some(c) => found.push((
                        Binding {
                            contract: contract.to_string(),
                            provider: target.to_string(),
                            connection: connection_id(target, c.as_str()),
                            how: BindingKind::Explicit,
                        },
                        provider.span,
                    )),
                    None => {
                        let provides: Vec<String> = p
                            .entry()
                            .provides
                            .iter()
                            .map(|c| c.contract.value.to_string())
                            .collect();
                        cx.error(
                            provider.span,
                            format!(
                                "component `{name}` binds `{contract}` to `{target}`, which does not provide it"
                            ),
                        )
                        .help = Some(if provides.is_empty() {
                            format!("`{target}` provides no contracts")
                        } else {
                            format!("`{target}` provides: {}", provides.join(", "))
                        });
                    }
                }
                continue;
            }
            let candidates: Vec<(&String, &ContractId)> = instances
                .iter()
                .filter(|(other, _)| *other != name)
                .filter_map(|(other, inst)| met_by(contract, inst).map(|c| (other, c)))
                .collect();
            match candidates.as_slice() {
                [(provider, c)] => found.push((
                    Binding {
                        contract: contract.to_string(),
                        provider: provider.to_string(),
                        connection: connection_id(provider, c.as_str()),
                        how: BindingKind::Automatic,
                    },
                    inst.span,
                )),
                [] if need.optional => {}
                [] => {
                    cx.error(
                        inst.span,
                        format!(
                            "component `{name}` ({}) needs `{contract}`, and no component of the stack provides it",
                            inst.entry().name.value
                        ),
                    )
                    .help = Some("add a component that provides it, or bind it with `bind:`".to_string());
                    cx.unbound.insert(name.clone());
                }
                many => {
                    let list: Vec<String> = many.iter().map(|(n, _)| format!("`{n}`")).collect();
                    // A component berth added has no place in the file: point at a
                    // candidate instead, and say how to declare the component.
                    let (span, help) = if inst.implicit {
                        (
                            instances
                                .get(many[0].0)
                                .map(|i| i.span)
                                .unwrap_or(Span::NONE),
                            format!(
                                "declare the {name} to choose one: `{name}: {{ uses: {}, bind: {{ {contract}: {} }} }}`",
                                inst.entry().name.value,
                                many[0].0
                            ),
                        )
                    } else {
                        (
                            inst.span,
                            format!("choose one: `bind: {{ {contract}: {} }}`", many[0].0),
                        )
                    };
                    cx.error(
                        span,
                        format!(
                            "component `{name}` needs `{contract}`, which several components provide: {}",
                            list.join(", ")
                        ),
                    )
                    .help = Some(help);
                    cx.unbound.insert(name.clone());
                }
            }
        }
        if let Some(bind) = explicit {
            for key in bind.keys() {
                let needed = inst
                    .entry()
                    .needs
                    .iter()
                    .any(|n| n.contract.value.as_str() == key.value);
                if !needed {
                    let needs: Vec<String> = inst
                        .entry()
                        .needs
                        .iter()
                        .map(|n| n.contract.value.to_string())
                        .collect();
                    cx.error(
                        key.span,
                        format!(
                            "component `{name}` binds `{}`, but `{}` does not need it",
                            key.value,
                            inst.entry().name.value
                        ),
                    )
                    .help = Some(if needs.is_empty() {
                        format!("`{}` needs nothing", inst.entry().name.value)
                    } else {
                        format!("`{}` needs: {}", inst.entry().name.value, needs.join(", "))
                    });
                }
            }
        }
        all.insert(name.clone(), found);
    }
    for (name, found) in all {
        for (binding, span) in found {
            debug_assert!(connections.contains_key(&binding.connection));
            add_edge(&mut edges, &name, &binding.provider, span);
            if let Some(inst) = instances.get_mut(&name) {
                inst.bindings.push(binding);
            }
        }
    }
    edges
}

/// What a logical model is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Use {
    Chat,
    Embeddings,
    Rerank,
}

impl Use {
    fn contracts(self) -> &'static [&'static str] {
        match self {
            Use::Chat => &["openai-chat"],
            Use::Embeddings => &["openai-embeddings", "tei-embeddings"],
            Use::Rerank => &["tei-rerank"],
        }
    }
    fn noun(self) -> &'static str {
        match self {
            Use::Chat => "chat",
            Use::Embeddings => "embeddings",
            Use::Rerank => "reranking",
        }
    }
}

/// Checks the references of models, pipelines and apps, adds their edges, and plans the
/// model routes.
pub(super) fn references(
    cx: &mut Cx<'_>,
    instances: &BTreeMap<String, Instance<'_>>,
    connections: &BTreeMap<String, Connection>,
    broken: &BTreeSet<String>,
    edges: &mut Edges,
) -> BTreeMap<String, Vec<PlannedRoute>> {
    let stack = cx.stack;
    let component_names: Vec<&str> = instances.keys().map(String::as_str).collect();
    let role_names = |role: Role| -> Vec<String> {
        instances
            .values()
            .filter(|i| i.entry().role == Some(role))
            .map(|i| i.name.clone())
            .collect()
    };
    let gateways = role_names(Role::Gateway);
    let workers = role_names(Role::Worker);
    let skip = |section: &str, name: &str| stack.is_unreadable(section, name);

    // Which uses each model is put to, and by whom (for messages).
    let mut uses: BTreeMap<String, BTreeMap<Use, String>> = BTreeMap::new();
    let model_names: Vec<&str> = stack.models.keys().map(|k| k.value.as_str()).collect();
    let mut check_model =
        |cx: &mut Cx<'_>, model: &crate::yaml::Spanned<String>, owner: String, what: Use| {
            if skip("models", &model.value) {
                return;
            }
            if !stack.models.contains_key(model.value.as_str()) {
                cx.error(
                    model.span,
                    format!(
                        "{owner} uses model `{}`, which is not defined under `models`",
                        model.value
                    ),
                )
                .help = Some(match suggest(&model.value, &model_names) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None if model_names.is_empty() => "define it under `models:`".to_string(),
                    None => format!("models: {}", model_names.join(", ")),
                });
                return;
            }
            uses.entry(model.value.clone())
                .or_default()
                .entry(what)
                .or_insert(owner);
        };

    let source_names: Vec<&str> = stack.sources.keys().map(|k| k.value.as_str()).collect();
    for (name, p) in &stack.pipelines {
        let owner = format!("pipeline `{name}`");
        if !stack.sources.contains_key(p.source.value.as_str()) && !skip("sources", &p.source.value)
        {
            cx.error(
                p.source.span,
                format!(
                    "{owner} reads source `{}`, which is not defined under `sources`",
                    p.source.value
                ),
            )
            .help = Some(match suggest(&p.source.value, &source_names) {
                Some(s) => format!("did you mean `{s}`?"),
                None if source_names.is_empty() => "define it under `sources:`".to_string(),
                None => format!("sources: {}", source_names.join(", ")),
            });
        }
        if let Some(embed) = &p.embed {
            check_model(cx, embed, owner.clone(), Use::Embeddings);
        }
        for (key, component, family) in [
            ("store", &p.store, "vector-store"),
            ("parser", &p.parser, "doc-parser"),
        ] {
            let Some(component) = component else { continue };
            let target = component.value.as_str();
            if broken.contains(target) || skip("components", target) {
                continue;
            }
            match instances.get(target) {
                None => {
                    cx.error(
                        component.span,
                        format!("{owner}: `{key}` names `{target}`, which is not a component"),
                    )
                    .help = Some(hint(target, &component_names, "components"));
                }
                Some(inst) => {
                    let family_id = ContractId::new(family).expect("valid contract");
                    if met_by(&family_id, inst).is_none() {
                        cx.error(
                            component.span,
                            format!(
                                "{owner}: `{key}` names `{target}` ({}), which provides no `{family}/…` contract",
                                inst.entry().name.value
                            ),
                        );
                        continue;
                    }
                    for w in &workers {
                        add_edge(edges, w, target, component.span);
                    }
                }
            }
        }
    }

    let pipeline_names: Vec<&str> = stack.pipelines.keys().map(|k| k.value.as_str()).collect();
    let app_names: Vec<&str> = stack.apps.keys().map(|k| k.value.as_str()).collect();
    for (name, app) in &stack.apps {
        let owner = format!("app `{name}`");
        if let Some(pipeline) = &app.pipeline {
            match stack.pipelines.get(pipeline.value.as_str()) {
                None if !skip("pipelines", &pipeline.value) => {
                    cx.error(pipeline.span, format!("{owner} searches pipeline `{}`, which is not defined under `pipelines`", pipeline.value))
                        .help = Some(hint(&pipeline.value, &pipeline_names, "pipelines"));
                }
                Some(p) => {
                    if let Some(store) = p
                        .store
                        .as_ref()
                        .filter(|s| instances.contains_key(s.value.as_str()))
                    {
                        for g in &gateways {
                            add_edge(edges, g, &store.value, pipeline.span);
                        }
                    }
                }
                None => {}
            }
        }
        if let Some(model) = &app.model {
            check_model(cx, model, owner.clone(), Use::Chat);
        }
        if let Some(model) = &app.rerank {
            check_model(cx, model, owner.clone(), Use::Rerank);
        }
        if let Some(k) = &app.knowledge {
            match stack.apps.get(k.value.as_str()) {
                None if !skip("apps", &k.value) => {
                    cx.error(
                        k.span,
                        format!(
                            "{owner} uses app `{}` as knowledge, which is not defined under `apps`",
                            k.value
                        ),
                    )
                    .help = Some(hint(&k.value, &app_names, "apps"));
                }
                Some(a) if a.kind.value != AppKind::Rag => {
                    cx.error(k.span, format!("{owner} uses app `{}` as knowledge, but only rag apps can be knowledge", k.value));
                }
                _ => {}
            }
        }
    }

    let mut planned = BTreeMap::new();
    for (model, routes) in &stack.models {
        let model_uses = uses.get(model.value.as_str()).cloned().unwrap_or_default();
        let mut out = Vec::new();
        for route in &routes.value {
            let weight = route.weight.as_ref().map(|w| w.value).unwrap_or(1);
            if let Some(component) = &route.component {
                let target = component.value.as_str();
                if broken.contains(target) || skip("components", target) {
                    continue;
                }
                let Some(inst) = instances.get(target) else {
                    cx.error(
                        component.span,
                        format!("model `{model}` routes to `{target}`, which is not a component"),
                    )
                    .help = Some(hint(target, &component_names, "components"));
                    continue;
                };
                let provided: Vec<&str> = inst
                    .entry()
                    .provides
                    .iter()
                    .map(|p| p.contract.value.as_str())
                    .collect();
                let serving = [
                    "openai-chat",
                    "openai-embeddings",
                    "tei-embeddings",
                    "tei-rerank",
                ];
                if !provided.iter().any(|p| serving.contains(p)) {
                    cx.error(
                        component.span,
                        format!(
                            "model `{model}` routes to `{target}` ({}), which serves no model",
                            inst.entry().name.value
                        ),
                    )
                    .help = Some("route to a model server (vllm, tgi, ollama, llama-cpp, text-embeddings-inference, …)".to_string());
                    continue;
                }
                for (what, owner) in &model_uses {
                    if !what.contracts().iter().any(|c| provided.contains(c)) {
                        cx.error(
                            component.span,
                            format!(
                                "model `{model}` is used for {} by {owner}, but `{target}` ({}) does not serve {}",
                                what.noun(),
                                inst.entry().name.value,
                                what.noun()
                            ),
                        )
                        .help = Some(format!(
                            "route `{model}` to a component that provides {}",
                            what.contracts().join(" or ")
                        ));
                    }
                }
                let primary = model_uses.keys().next().copied().unwrap_or(Use::Chat);
                let contract = primary
                    .contracts()
                    .iter()
                    .find(|c| provided.contains(c))
                    .or_else(|| provided.iter().find(|p| serving.contains(p)))
                    .copied()
                    .unwrap_or("openai-chat");
                let connection = connection_id(target, contract);
                let upstream = route
                    .model
                    .as_ref()
                    .map(|m| m.value.clone())
                    .or_else(|| connections.get(&connection).and_then(|c| c.model.clone()));
                for g in &gateways {
                    add_edge(edges, g, target, component.span);
                }
                if model_uses.contains_key(&Use::Embeddings) {
                    for w in &workers {
                        add_edge(edges, w, target, component.span);
                    }
                }
                out.push(PlannedRoute::Component {
                    component: target.to_string(),
                    connection,
                    model: upstream,
                    weight,
                });
            } else if let Some(provider) = &route.provider {
                let base_url = match &route.base_url {
                    Some(u) => cx.expand(&u.value, u.span).unwrap_or_default(),
                    None => provider.value.default_base_url().to_string(),
                };
                if let Err(msg) = super::ExternalUrl::parse(&base_url)
                    && let Some(u) = &route.base_url
                {
                    cx.error(u.span, format!("model `{model}`: {msg}"));
                }
                let provider_name = serde_json::to_value(provider.value)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                out.push(PlannedRoute::Provider {
                    provider: provider_name,
                    base_url: base_url.trim_end_matches('/').to_string(),
                    model: route
                        .model
                        .as_ref()
                        .map(|m| m.value.clone())
                        .unwrap_or_default(),
                    api_key: route.api_key.as_ref().map(|k| k.value.clone()),
                    weight,
                });
            }
        }
        planned.insert(model.value.to_string(), out);
    }
    planned
}
