//! `berth docs` and `berth docs show ID`.

use super::store::open_reader;
use crate::Outcome;
use crate::cli::{DocsArgs, DocsCommand};
use crate::report::UserError;
use std::io::Write;
use std::path::PathBuf;

pub(crate) fn run(args: &DocsArgs, catalogs: &[PathBuf]) -> anyhow::Result<Outcome> {
    let Some(mut store) = open_reader(&args.stack.stack, catalogs)? else {
        println!("nothing has been ingested yet (run `berth ingest`)");
        return Ok(Outcome::Ok);
    };
    let mut out = std::io::stdout().lock();
    match &args.show {
        None => {
            let docs = store.list_documents(args.pipeline.as_deref(), args.failed)?;
            if args.json {
                writeln!(out, "{}", serde_json::to_string_pretty(&docs)?)?;
                return Ok(Outcome::Ok);
            }
            if docs.is_empty() {
                writeln!(
                    out,
                    "{}",
                    if args.failed {
                        "no failed documents"
                    } else {
                        "no documents"
                    }
                )?;
                return Ok(Outcome::Ok);
            }
            for d in &docs {
                let status = serde_json::to_value(d.status)?
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                match &d.last_error {
                    Some(e) if d.status == berth_ingest::state::DocStatus::Failed => writeln!(
                        out,
                        "{:<8} {:<14} {}\n         {e}",
                        status, d.pipeline, d.id
                    )?,
                    _ => writeln!(
                        out,
                        "{:<8} {:<14} {}  ({} chunks, v{})",
                        status, d.pipeline, d.id, d.chunks, d.version
                    )?,
                }
            }
            Ok(Outcome::Ok)
        }
        Some(DocsCommand::Show { id, json }) => {
            let mut found = Vec::new();
            for d in store.list_documents(args.pipeline.as_deref(), false)? {
                if &d.id == id {
                    let chunks = store.chunks_of(&d.pipeline, &d.id)?;
                    found.push((d, chunks));
                }
            }
            if found.is_empty() {
                return Err(
                    UserError(format!("no document `{id}` (`berth docs` lists them)")).into(),
                );
            }
            if *json {
                let v: Vec<_> = found
                    .iter()
                    .map(|(d, c)| serde_json::json!({ "document": d, "chunks": c, "written_to": ["state store (built-in index)"] }))
                    .collect();
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
                return Ok(Outcome::Ok);
            }
            for (d, chunks) in found {
                writeln!(out, "{} (pipeline {})", d.id, d.pipeline)?;
                writeln!(
                    out,
                    "  status:   {:?}, version {}, {} chunks",
                    d.status, d.version, d.chunks
                )?;
                if let Some(t) = &d.title {
                    writeln!(out, "  title:    {t}")?;
                }
                if let Some(p) = d.pages {
                    writeln!(out, "  pages:    {p}")?;
                }
                writeln!(
                    out,
                    "  access:   users {:?}, groups {:?}",
                    d.acl_users, d.acl_groups
                )?;
                if let Some(e) = &d.last_error {
                    writeln!(
                        out,
                        "  error:    {} ({})",
                        e,
                        d.error_kind.as_deref().unwrap_or("error")
                    )?;
                }
                writeln!(out, "  written to: state store (built-in index)")?;
                for c in chunks {
                    let mut preview: String = c
                        .text
                        .chars()
                        .take(90)
                        .collect::<String>()
                        .replace('\n', " ");
                    if c.text.chars().count() > 90 {
                        preview.push('…');
                    }
                    let place = match (c.page_start, c.heading_path.is_empty()) {
                        (Some(p), _) => format!("p. {p}"),
                        (None, false) => c.heading_path.join(" › "),
                        (None, true) => String::new(),
                    };
                    writeln!(
                        out,
                        "  #{:<3} {}  {place}\n        {preview}",
                        c.ordinal,
                        &c.id[..12]
                    )?;
                }
            }
            Ok(Outcome::Ok)
        }
    }
}
