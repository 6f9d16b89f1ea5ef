//! `berth catalog list|show`.

use crate::Outcome;
use crate::cli::CatalogCommand;
use crate::report::{self, Sources, UserError};
use berth_stack::diagnostic::suggest;
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;

pub(crate) fn run(cmd: &CatalogCommand, catalogs: &[PathBuf]) -> anyhow::Result<Outcome> {
    let mut sources = Sources::default();
    let (catalog, diags) = super::catalog(catalogs, &mut sources)?;
    if !diags.is_empty() {
        report::diagnostics(&diags.clone().sorted(), &sources)?;
        if diags.has_errors() {
            return Ok(Outcome::Invalid);
        }
    }
    let mut out = std::io::stdout().lock();
    match cmd {
        CatalogCommand::List { json } => {
            if *json {
                let entries: Vec<_> = catalog.iter().map(|e| summary(&e.entry)).collect();
                writeln!(out, "{}", serde_json::to_string_pretty(&entries)?)?;
            } else {
                let mut rows = vec![];
                for e in catalog.iter() {
                    let provides: Vec<&str> = e
                        .entry
                        .provides
                        .iter()
                        .map(|p| p.contract.value.as_str())
                        .collect();
                    rows.push(format!(
                        "{:<26} {:<20} {}",
                        e.entry.name.value,
                        e.entry.category.as_str(),
                        if provides.is_empty() {
                            "-".to_string()
                        } else {
                            provides.join(", ")
                        }
                    ));
                }
                writeln!(out, "{:<26} {:<20} PROVIDES", "NAME", "CATEGORY")?;
                for r in rows {
                    writeln!(out, "{r}")?;
                }
            }
            Ok(Outcome::Ok)
        }
        CatalogCommand::Show { name, json } => {
            let Some(e) = catalog.get(name) else {
                let hint = suggest(name, &catalog.names())
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_else(|| "; `berth catalog list` shows the entries".to_string());
                return Err(UserError(format!("no catalog entry named `{name}`{hint}")).into());
            };
            if *json {
                writeln!(out, "{}", serde_json::to_string_pretty(&summary(&e.entry))?)?;
            } else {
                writeln!(out, "# {}", e.file)?;
                write!(out, "{}", e.source)?;
            }
            Ok(Outcome::Ok)
        }
    }
}

fn summary(e: &berth_stack::catalog::CatalogEntry) -> serde_json::Value {
    json!({
        "name": e.name.value.as_str(),
        "description": e.description,
        "category": e.category,
        "image": e.image.value.reference(None),
        "role": e.role,
        "ports": e.ports.iter().map(|p| json!({"name": p.name.value.as_str(), "port": p.port, "protocol": p.protocol, "edge": p.edge})).collect::<Vec<_>>(),
        "provides": e.provides.iter().map(|p| p.contract.value.as_str()).collect::<Vec<_>>(),
        "needs": e.needs.iter().map(|n| json!({"contract": n.contract.value.as_str(), "optional": n.optional})).collect::<Vec<_>>(),
        "settings": e.settings.iter().map(|(k, s)| (k.value.clone(), json!({"type": s.kind, "required": s.required, "secret": s.secret, "description": s.description}))).collect::<serde_json::Map<_, _>>(),
        "resources": e.resources,
        "docs": e.docs,
    })
}
