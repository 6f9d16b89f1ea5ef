//! What the user sees: diagnostics, plans, catalog listings.

use berth_stack::diagnostic::{Diagnostics, Severity};
use berth_stack::plan::{BindingKind, Plan, PlannedRoute};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;

/// An error caused by the user's input (a missing file, a bad argument): exit code 1.
#[derive(Debug)]
pub struct UserError(pub String);

impl std::fmt::Display for UserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UserError {}

/// Source texts by file label, for snippets.
#[derive(Debug, Default)]
pub struct Sources(pub BTreeMap<String, String>);

/// Prints diagnostics to stderr, compiler-style, with a summary line.
pub fn diagnostics(diags: &Diagnostics, sources: &Sources) -> std::io::Result<()> {
    let mut err = std::io::stderr().lock();
    for d in diags.iter() {
        let text = sources.0.get(&d.file).map(String::as_str);
        write!(err, "{}", d.render(text))?;
    }
    let errors = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diags
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .count();
    if errors > 0 {
        writeln!(
            err,
            "berth: {errors} error{}{} found",
            plural(errors),
            if warnings > 0 {
                format!(", {warnings} warning{}", plural(warnings))
            } else {
                String::new()
            }
        )?;
    }
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::from("  ");
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                line.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The human view of a plan.
pub fn plan_text(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "stack `{}` · target {} · namespace {}",
        plan.stack,
        plan.target.as_str(),
        plan.namespace
    );
    let _ = writeln!(out, "\ncomponents, in start order:");
    let mut rows = Vec::new();
    for (i, name) in plan.order.iter().enumerate() {
        let Some(c) = plan.components.get(name) else {
            continue;
        };
        let ports: Vec<String> = c
            .ports
            .iter()
            .map(|p| match p.host {
                Some(h) => format!("{} {}→{}", p.name, h, p.container),
                None => format!("{} {}", p.name, p.container),
            })
            .collect();
        let mut what = c.uses.clone();
        if c.implicit {
            what.push_str(" (added)");
        }
        if c.external_url.is_some() {
            what.push_str(" (external)");
        }
        let after = if c.depends_on.is_empty() {
            String::new()
        } else {
            format!("after {}", c.depends_on.join(", "))
        };
        let gpu = if c.resources.gpu > 0 {
            format!("gpu {}", c.resources.gpu)
        } else {
            String::new()
        };
        rows.push(vec![
            format!("{}.", i + 1),
            name.clone(),
            what,
            c.external_url.clone().unwrap_or_else(|| c.image.clone()),
            ports.join(", "),
            gpu,
            after,
        ]);
    }
    out.push_str(&table(&rows));

    let mut rows = Vec::new();
    for (name, c) in &plan.components {
        for b in &c.bindings {
            let how = match b.how {
                BindingKind::Automatic => "only provider",
                BindingKind::Explicit => "bind:",
                BindingKind::Reference => "reference",
            };
            let url = plan
                .connections
                .get(&b.connection)
                .map(|c| c.url.clone())
                .unwrap_or_default();
            rows.push(vec![
                name.clone(),
                b.contract.clone(),
                format!("→ {}", b.provider),
                url,
                format!("({how})"),
            ]);
        }
    }
    if !rows.is_empty() {
        let _ = writeln!(out, "\nbindings:");
        out.push_str(&table(&rows));
    }

    if !plan.models.is_empty() {
        let _ = writeln!(out, "\nmodels (first healthy route wins):");
        let mut rows = Vec::new();
        for (name, routes) in &plan.models {
            let parts: Vec<String> = routes
                .iter()
                .map(|r| match r {
                    PlannedRoute::Component {
                        component, model, ..
                    } => match model {
                        Some(m) => format!("{component} ({m})"),
                        None => component.clone(),
                    },
                    PlannedRoute::Provider {
                        provider,
                        model,
                        base_url,
                        ..
                    } => {
                        format!("{provider} {model} at {base_url}")
                    }
                })
                .collect();
            rows.push(vec![name.clone(), parts.join(" → ")]);
        }
        out.push_str(&table(&rows));
    }

    if !plan.pipelines.is_empty() || !plan.apps.is_empty() {
        let _ = writeln!(out, "\npipelines and apps:");
        let mut rows = Vec::new();
        for (name, p) in &plan.pipelines {
            rows.push(vec![
                name.clone(),
                "pipeline".to_string(),
                format!(
                    "{} → chunk {} {} tokens → {} → {}",
                    p.source,
                    serde_json::to_value(p.chunk.strategy)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    p.chunk.max_tokens,
                    p.embed.as_deref().unwrap_or("keyword only"),
                    p.store.as_deref().unwrap_or("built-in index")
                ),
            ]);
        }
        for (name, a) in &plan.apps {
            let detail = match (&a.pipeline, &a.model) {
                (Some(p), Some(m)) => format!("{p} + {m}"),
                (Some(p), None) => format!("{p} (extractive: no chat model)"),
                (None, Some(m)) => m.clone(),
                (None, None) => String::new(),
            };
            rows.push(vec![
                name.clone(),
                format!("{:?} app", a.kind).to_lowercase(),
                detail,
            ]);
        }
        out.push_str(&table(&rows));
    }

    if !plan.secrets.is_empty() {
        let _ = writeln!(
            out,
            "\nsecrets referenced (values are read at deploy time): {}",
            plan.secrets.join(", ")
        );
    }
    if !plan.findings.is_empty() {
        let _ = writeln!(out, "\nfindings:");
        for f in &plan.findings {
            let who = f
                .component
                .as_deref()
                .map(|c| format!(" [{c}]"))
                .unwrap_or_default();
            let _ = writeln!(out, "  {}{who}: {} ({})", f.severity, f.message, f.code);
            if let Some(help) = &f.help {
                let _ = writeln!(out, "    help: {help}");
            }
        }
    }
    out
}
