//! Resolution: stack file + catalog + environment → [`Plan`], or every reason why not.
//!
//! The steps, each in its own module: instantiate components from the catalog (this
//! file), allocate host ports (`ports`), publish connection records and bind every need
//! (`bind`), order the dependency graph (`graph`), render configuration (`render`) and
//! check compatibility with the declared inventory (`compat`). Every step runs even when
//! an earlier one found errors, so a user sees all of them at once.

mod bind;
mod compat;
mod graph;
mod ports;
mod render;

use crate::catalog::{Catalog, CatalogEntry, LoadedEntry, Resources, Role, SettingType, template};
use crate::diagnostic::{Diagnostic, Diagnostics, Severity, suggest};
use crate::environment::Environment;
use crate::plan::{Finding, PLAN_FORMAT, Plan};
use crate::stack::{ComponentSpec, StackFile, Target};
use crate::text::Text;
use crate::yaml::{Node, NodeKind, Span};
use std::collections::{BTreeMap, BTreeSet};

/// A resolved stack: the Plan, and the warnings found on the way, with their positions
/// (the Plan's `findings` hold the same facts without positions).
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The plan.
    pub plan: Plan,
    /// Warnings, pointing into the stack file.
    pub warnings: Diagnostics,
}

/// Resolves a stack into a Plan. Returns every error found (with warnings alongside)
/// when the stack cannot be planned.
pub fn resolve(
    stack: &StackFile,
    catalog: &Catalog,
    env: &Environment,
) -> Result<Resolved, Diagnostics> {
    let mut cx = Cx {
        stack,
        env,
        diags: Diagnostics::new(),
        findings: Vec::new(),
        target: env.target.unwrap_or(stack.target.value),
        unbound: BTreeSet::new(),
    };
    let mut broken = BTreeSet::new();
    let mut instances = instantiate(&mut cx, catalog, &mut broken);
    ports::allocate(&mut cx, &mut instances);
    let connections = bind::connections(&mut cx, &instances);
    let mut edges = bind::bindings(&mut cx, &mut instances, &connections, &broken);
    let models = bind::references(&mut cx, &instances, &connections, &broken, &mut edges);
    let order = graph::order(&mut cx, &mut instances, &edges);
    let components = render::components(&mut cx, &instances, &connections);
    compat::check(&mut cx, &instances);
    target_findings(&mut cx, &instances);

    let namespace = stack
        .namespace
        .as_ref()
        .map(|n| n.value.to_string())
        .unwrap_or_else(|| stack.stack.value.to_string());
    let mut plan = Plan {
        format: PLAN_FORMAT,
        stack: stack.stack.value.to_string(),
        target: cx.target,
        namespace,
        components,
        order,
        connections,
        models,
        sources: render::sources(&mut cx),
        pipelines: render::pipelines(stack),
        apps: render::apps(&mut cx),
        secrets: Vec::new(),
        findings: Vec::new(),
    };
    plan.secrets = secret_names(&plan);

    let mut findings = cx.findings;
    findings.sort_by(|a, b| {
        (b.0.severity, &a.0.component, &a.0.code, &a.0.message).cmp(&(
            a.0.severity,
            &b.0.component,
            &b.0.code,
            &b.0.message,
        ))
    });
    let as_diagnostic = |(finding, span): &(Finding, Span)| {
        Diagnostic::error(&stack.file, *span, finding.message.clone())
            .with_severity(finding.severity)
            .with_help_opt(finding.help.clone())
    };
    let mut diags = cx.diags;
    if diags.has_errors() || findings.iter().any(|f| f.0.severity == Severity::Error) {
        // Information is for plans; with errors to fix, it would only be noise.
        diags.0.extend(
            findings
                .iter()
                .filter(|f| f.0.severity >= Severity::Warning)
                .map(as_diagnostic),
        );
        return Err(diags.sorted());
    }
    let warnings = Diagnostics(
        findings
            .iter()
            .filter(|f| f.0.severity >= Severity::Warning)
            .map(as_diagnostic)
            .collect(),
    )
    .sorted();
    plan.findings = findings.into_iter().map(|(f, _)| f).collect();
    Ok(Resolved { plan, warnings })
}

/// Shared state of one resolution.
pub(crate) struct Cx<'a> {
    pub(crate) stack: &'a StackFile,
    pub(crate) env: &'a Environment,
    pub(crate) diags: Diagnostics,
    pub(crate) findings: Vec<(Finding, Span)>,
    pub(crate) target: Target,
    /// Components with a need left unbound by an error: their templates are not rendered,
    /// since they would fail for that reason alone.
    pub(crate) unbound: BTreeSet<String>,
}

impl Cx<'_> {
    pub(crate) fn error(&mut self, span: Span, message: impl Into<String>) -> &mut Diagnostic {
        self.diags
            .push(Diagnostic::error(&self.stack.file, span, message));
        self.diags.0.last_mut().expect("just pushed")
    }

    pub(crate) fn finding(
        &mut self,
        severity: Severity,
        code: &str,
        component: Option<&str>,
        span: Span,
        message: String,
        help: Option<String>,
    ) {
        self.findings.push((
            Finding {
                severity,
                code: code.to_string(),
                component: component.map(str::to_string),
                message,
                help,
            },
            span,
        ));
    }

    /// Expands `${env:…}` references, reporting unset variables at `span` (and returning
    /// `None` then, so nothing is built from a half-expanded value).
    pub(crate) fn expand(&mut self, text: &str, span: Span) -> Option<String> {
        let parsed = Text::parse(text).ok()?; // syntax errors were reported while reading
        let (out, missing) = parsed.expand(&self.env.vars);
        for name in &missing {
            self.error(
                span,
                format!("environment variable `{name}` is not set and has no default"),
            )
            .help = Some(format!("set {name}, or write `${{env:{name}:-default}}`"));
        }
        missing.is_empty().then_some(out)
    }
}

/// One component being planned.
pub(crate) struct Instance<'a> {
    pub(crate) name: String,
    /// The component's name in the stack file (unknown for implicit roles).
    pub(crate) span: Span,
    pub(crate) spec: Option<&'a ComponentSpec>,
    pub(crate) loaded: &'a LoadedEntry,
    pub(crate) implicit: bool,
    pub(crate) settings: BTreeMap<String, serde_json::Value>,
    pub(crate) resources: Resources,
    pub(crate) external: Option<ExternalUrl>,
    /// Host ports by port name.
    pub(crate) host_ports: BTreeMap<String, u16>,
    pub(crate) bindings: Vec<crate::plan::Binding>,
    pub(crate) depends_on: Vec<String>,
}

impl Instance<'_> {
    pub(crate) fn entry(&self) -> &CatalogEntry {
        &self.loaded.entry
    }
}

/// The parts of a component's `url:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExternalUrl {
    pub(crate) scheme: String,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) path: String,
}

impl ExternalUrl {
    pub(crate) fn parse(url: &str) -> Result<ExternalUrl, String> {
        // Never echo credentials: show the URL with its user part masked.
        let shown = match (url.find("://"), url.find('@')) {
            (Some(s), Some(at)) if at > s => format!("{}***{}", &url[..s + 3], &url[at..]),
            _ => url.to_string(),
        };
        let bad = |why: &str| format!("`{shown}` is not a usable URL: {why}");
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("it has no `scheme://`"))?;
        if scheme.is_empty()
            || !scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+')
        {
            return Err(bad("the scheme is not valid"));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(bad(
                "credentials do not belong in a URL; give them as secret references",
            ));
        }
        let has_port = match authority.rfind(']') {
            Some(close) => authority[close..].contains(':'),
            None => authority.contains(':'),
        };
        let (host, port) = match authority.rsplit_once(':').filter(|_| has_port) {
            Some((h, p)) => {
                let port = p
                    .parse::<u16>()
                    .map_err(|_| bad("the port is not a number"))?;
                (h, port)
            }
            _ => (
                authority,
                match scheme {
                    "http" => 80,
                    "https" => 443,
                    "postgres" | "postgresql" => 5432,
                    "grpc" => 443,
                    _ => return Err(bad("it has no port and the scheme has no default port")),
                },
            ),
        };
        if host.is_empty() {
            return Err(bad("it has no host"));
        }
        Ok(ExternalUrl {
            scheme: scheme.to_string(),
            host: host.to_string(),
            port,
            path: path.to_string(),
        })
    }
}

fn instantiate<'a>(
    cx: &mut Cx<'a>,
    catalog: &'a Catalog,
    broken: &mut BTreeSet<String>,
) -> BTreeMap<String, Instance<'a>> {
    let mut instances = BTreeMap::new();
    let names = catalog.names();
    for (name, spec) in &cx.stack.components {
        let Some(loaded) = catalog.get(&spec.uses.value) else {
            let help = match suggest(&spec.uses.value, &names) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "`berth catalog list` shows the entries; add your own with `--catalog DIR`"
                    .to_string(),
            };
            cx.error(
                spec.uses.span,
                format!(
                    "component `{name}` uses `{}`, which is not in the catalog",
                    spec.uses.value
                ),
            )
            .help = Some(help);
            broken.insert(name.value.to_string());
            continue;
        };
        let settings = settings(cx, name.value.as_str(), name.span, spec, loaded);
        let resources = match &spec.resources {
            Some(r) => r.value.apply(&loaded.entry.resources),
            None => loaded.entry.resources.clone(),
        };
        let external = spec.url.as_ref().and_then(|url| {
            let expanded = cx.expand(&url.value, url.span)?;
            match ExternalUrl::parse(&expanded) {
                Ok(u) => Some(u),
                Err(msg) => {
                    cx.error(url.span, format!("component `{name}`: {msg}"));
                    None
                }
            }
        });
        if spec.url.is_some() && loaded.entry.role.is_some() {
            cx.error(
                spec.url.as_ref().map(|u| u.span).unwrap_or(name.span),
                format!("component `{name}` is one of berth's own roles; berth runs it, so it takes no `url`"),
            );
        }
        instances.insert(
            name.value.to_string(),
            Instance {
                name: name.value.to_string(),
                span: name.span,
                spec: Some(spec),
                loaded,
                implicit: false,
                settings,
                resources,
                external,
                host_ports: BTreeMap::new(),
                bindings: Vec::new(),
                depends_on: Vec::new(),
            },
        );
    }
    let mut add_role = |cx: &mut Cx<'a>, role: Role, name: &str| {
        let has = instances
            .values()
            .any(|i: &Instance| i.entry().role == Some(role))
            || cx.stack.components.values().any(|c| {
                catalog
                    .get(&c.uses.value)
                    .is_some_and(|e| e.entry.role == Some(role))
            });
        if has {
            return;
        }
        let Some(loaded) = catalog.role(role) else {
            cx.error(
                Span::NONE,
                format!("the catalog has no entry for berth's {name} role"),
            );
            return;
        };
        if let Some((taken, _)) = cx.stack.components.get_key_value(name) {
            let span = taken.span;
            cx.error(
                span,
                format!("the name `{name}` is reserved for berth's {name}"),
            )
            .help = Some(format!(
                "rename this component, or declare the {name} yourself with `uses: {}`",
                loaded.entry.name.value
            ));
            return;
        }
        let settings = loaded
            .entry
            .settings
            .iter()
            .map(|(k, s)| {
                let v = s
                    .default
                    .as_ref()
                    .and_then(|d| template::check_setting_value(s, d).ok())
                    .unwrap_or(serde_json::Value::Null);
                (k.value.clone(), v)
            })
            .collect();
        instances.insert(
            name.to_string(),
            Instance {
                name: name.to_string(),
                span: Span::NONE,
                spec: None,
                loaded,
                implicit: true,
                settings,
                resources: loaded.entry.resources.clone(),
                external: None,
                host_ports: BTreeMap::new(),
                bindings: Vec::new(),
                depends_on: Vec::new(),
            },
        );
    };
    add_role(cx, Role::Gateway, "gateway");
    if !cx.stack.pipelines.is_empty() {
        add_role(cx, Role::Worker, "worker");
    }
    instances
}

/// A component's settings: what the stack gave, checked against the entry's declared
/// settings, plus defaults; every declared setting is present (null when unset).
fn settings(
    cx: &mut Cx<'_>,
    name: &str,
    name_span: Span,
    spec: &ComponentSpec,
    loaded: &LoadedEntry,
) -> BTreeMap<String, serde_json::Value> {
    let entry = &loaded.entry;
    let declared: Vec<&str> = entry.settings.keys().map(|k| k.value.as_str()).collect();
    let mut out = BTreeMap::new();
    for (key, node) in &spec.with {
        let Some(setting) = entry.settings.get(key.value.as_str()) else {
            let help = match suggest(&key.value, &declared) {
                Some(s) => format!("did you mean `{s}`?"),
                None if declared.is_empty() => format!("`{}` takes no settings", entry.name.value),
                None => format!(
                    "settings of `{}`: {}",
                    entry.name.value,
                    declared.join(", ")
                ),
            };
            cx.error(
                key.span,
                format!(
                    "component `{name}`: `{}` is not a setting of `{}`",
                    key.value, entry.name.value
                ),
            )
            .help = Some(help);
            continue;
        };
        let syntax_ok = match &node.kind {
            NodeKind::Str(s) => Text::parse(s).is_ok(),
            _ => true,
        };
        if !syntax_ok {
            continue; // reported while reading the file
        }
        if setting.secret {
            let is_ref = matches!(&node.kind, NodeKind::Str(s)
                if Text::parse(s).ok().is_some_and(|t| t.as_single_secret().is_some()));
            if !is_ref {
                // Never echo the value: it may be a real credential.
                cx.error(
                    node.span,
                    format!(
                        "component `{name}`: setting `{}` must be a secret reference, not a value",
                        key.value
                    ),
                )
                .help = Some(format!(
                    "write `{}: ${{secret:NAME}}` and provide NAME as an environment variable or secret",
                    key.value
                ));
                continue;
            }
        }
        if setting.required && matches!(node.kind, NodeKind::Null) {
            cx.error(
                node.span,
                format!(
                    "component `{name}`: setting `{}` is required and cannot be empty",
                    key.value
                ),
            )
            .help = Some(format!(
                "give `{}` a value ({})",
                key.value, setting.description
            ));
            continue;
        }
        let node = match &node.kind {
            NodeKind::Str(s) if s.contains("${env:") => {
                let Some(expanded) = cx.expand(s, node.span) else {
                    continue;
                };
                typed_scalar(expanded, node.span, setting.kind)
            }
            NodeKind::Seq(items) => {
                let mut expanded = Vec::with_capacity(items.len());
                for item in items {
                    match &item.kind {
                        NodeKind::Str(s) if s.contains("${env:") => {
                            if let Some(e) = cx.expand(s, item.span) {
                                expanded.push(Node {
                                    kind: NodeKind::Str(e),
                                    span: item.span,
                                });
                            }
                        }
                        _ => expanded.push(item.clone()),
                    }
                }
                Node {
                    kind: NodeKind::Seq(expanded),
                    span: node.span,
                }
            }
            _ => node.clone(),
        };
        match template::check_setting_value(setting, &node) {
            Ok(v) => {
                out.insert(key.value.clone(), v);
            }
            Err(msg) => {
                cx.error(
                    node.span,
                    format!("component `{name}`: setting `{}`: {msg}", key.value),
                );
            }
        }
    }
    for (key, setting) in &entry.settings {
        if out.contains_key(&key.value) {
            continue;
        }
        let given = spec.with.contains_key(key.value.as_str());
        if setting.required && !given {
            cx.error(
                name_span,
                format!(
                    "component `{name}` ({}) needs setting `{}`",
                    entry.name.value, key.value
                ),
            )
            .help = Some(format!(
                "add `with: {{ {}: … }}` ({})",
                key.value, setting.description
            ));
        }
        let value = setting
            .default
            .as_ref()
            .and_then(|d| template::check_setting_value(setting, d).ok())
            .unwrap_or(serde_json::Value::Null);
        out.insert(key.value.clone(), value);
    }
    out
}

/// Reads an expanded `${env:…}` string as the scalar type a setting wants.
fn typed_scalar(text: String, span: Span, kind: SettingType) -> Node {
    let kind = match kind {
        SettingType::Integer => text
            .trim()
            .parse::<i128>()
            .map(|i| NodeKind::Int(i, text.clone()))
            .unwrap_or(NodeKind::Str(text)),
        SettingType::Number => text
            .trim()
            .parse::<f64>()
            .map(|f| NodeKind::Float(f, text.clone()))
            .unwrap_or(NodeKind::Str(text)),
        SettingType::Boolean => match text.trim() {
            "true" => NodeKind::Bool(true),
            "false" => NodeKind::Bool(false),
            _ => NodeKind::Str(text),
        },
        SettingType::String | SettingType::List => NodeKind::Str(text),
    };
    Node { kind, span }
}

fn target_findings(cx: &mut Cx<'_>, instances: &BTreeMap<String, Instance<'_>>) {
    if cx.target != Target::Local {
        return;
    }
    for inst in instances.values() {
        if inst.entry().role.is_some() || inst.external.is_some() {
            continue;
        }
        let address = inst
            .entry()
            .ports
            .first()
            .and_then(|p| inst.host_ports.get(p.name.value.as_str()))
            .map(|p| format!("127.0.0.1:{p}"))
            .unwrap_or_else(|| "a local address".to_string());
        cx.finding(
            Severity::Warning,
            "not-run-locally",
            Some(&inst.name),
            inst.span,
            format!(
                "the local target runs berth's own roles only; `{}` ({}) must already be running at {address}",
                inst.name,
                inst.entry().name.value
            ),
            Some("give its address with `url:`, or plan for `--target compose`".to_string()),
        );
    }
}

fn secret_names(plan: &Plan) -> Vec<String> {
    let json = serde_json::to_string(plan).unwrap_or_default();
    let mut names = BTreeSet::new();
    let mut rest = json.as_str();
    while let Some(i) = rest.find("${secret:") {
        let after = &rest[i + 9..];
        if let Some(end) = after.find('}') {
            names.insert(after[..end].to_string());
        }
        rest = after;
    }
    names.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::ExternalUrl;

    #[test]
    fn external_urls() {
        let u = ExternalUrl::parse("http://10.0.0.5:6333").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("10.0.0.5", 6333, "")
        );
        let u = ExternalUrl::parse("https://api.example.com/v1/").unwrap();
        assert_eq!((u.port, u.path.as_str()), (443, "/v1"));
        assert!(ExternalUrl::parse("localhost:80").is_err());
        assert!(ExternalUrl::parse("postgres://user:pw@db:5432/x").is_err());
        assert!(ExternalUrl::parse("http://h:notaport").is_err());
        let u = ExternalUrl::parse("http://[::1]").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("[::1]", 80));
        let u = ExternalUrl::parse("http://[::1]:8080/x").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("[::1]", 8080));
    }
}
