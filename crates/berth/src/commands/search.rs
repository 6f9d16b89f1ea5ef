//! `berth search` and `berth index rebuild`.

use super::{Planned, load_and_plan};
use crate::Outcome;
use crate::cli::{IndexCommand, ModeArg, SearchArgs};
use crate::report::UserError;
use anyhow::Context as _;
use berth_deploy::load;
use berth_index::{Mode, Principal};
use berth_ingest::index::{self as sync, SyncReport};
use berth_ingest::knowledge::{Knowledge, KnowledgeError};
use berth_ingest::state::{ReadState, StateLock, StateStore};
use berth_models::Embedder;
use berth_stack::plan::Plan;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The pipeline a command works on: the one named, or the stack's only one.
fn pipeline_of(plan: &Plan, named: Option<&str>) -> anyhow::Result<String> {
    let known: Vec<&str> = plan.pipelines.keys().map(String::as_str).collect();
    match named {
        Some(p) if plan.pipelines.contains_key(p) => Ok(p.to_string()),
        Some(p) => Err(UserError(format!(
            "the stack has no pipeline `{p}`; {}",
            berth_stack::diagnostic::hint(p, &known, "pipelines")
        ))
        .into()),
        None => match known.as_slice() {
            [only] => Ok(only.to_string()),
            [] => Err(UserError("the stack has no pipelines".into()).into()),
            many => Err(UserError(format!(
                "the stack has several pipelines ({}); name one with --pipeline",
                many.join(", ")
            ))
            .into()),
        },
    }
}

/// The embedder of a pipeline, if it embeds.
fn embedder(plan: &Plan, pipeline: &str, base: &Path) -> anyhow::Result<Option<Arc<dyn Embedder>>> {
    let built = berth_ingest::pipeline::embedder(plan, pipeline, base)
        .map_err(|e| UserError(e.to_string()))?;
    Ok(built.map(|(embedder, _)| embedder))
}

/// Prints what a sync did, when it did anything worth saying.
pub(crate) fn print_sync(pipeline: &str, report: &SyncReport) {
    if let Some(reason) = &report.rebuilt {
        println!("{pipeline}: index rebuilt from the state store ({reason})");
    }
    if report.updated > 0 || report.removed > 0 {
        println!(
            "{pipeline}: index updated: {} documents written ({} chunks), {} removed",
            report.updated, report.chunks, report.removed
        );
    }
}

/// Brings the pgvector tables of `pipeline` in step with the state store after an ingest
/// run (unless another process is doing so right now).
pub(crate) fn sync_pgvector_after_run(
    store: &mut dyn ReadState,
    url: &str,
    pipeline: &str,
) -> anyhow::Result<()> {
    let context = || format!("updating the pgvector tables of pipeline `{pipeline}`");
    let Some(dimension) = store.vector_dimension(pipeline)? else {
        return Ok(());
    };
    let (mut vectors, rebuilt) =
        sync::open_pgvector(url, pipeline, dimension).with_context(context)?;
    if let Some(mut report) =
        sync::sync_pgvector(store, pipeline, &mut vectors).with_context(context)?
    {
        report.rebuilt = rebuilt;
        print_sync(pipeline, &report);
    }
    Ok(())
}

/// Brings the index of `pipeline` in step with the state store after an ingest run.
pub(crate) fn sync_after_run(
    store: &mut StateStore,
    state_dir: &Path,
    pipeline: &str,
    model: Option<&str>,
) -> anyhow::Result<()> {
    let (_, report) = sync::open_synced(store, state_dir, pipeline, model)
        .with_context(|| format!("updating the index of pipeline `{pipeline}`"))?;
    print_sync(pipeline, &report);
    Ok(())
}

pub(crate) fn run(args: &SearchArgs, catalogs: &[PathBuf]) -> anyhow::Result<Outcome> {
    let Planned::Ok { plan, state, .. } = load_and_plan(&args.stack.stack, catalogs, None, false)?
    else {
        return Ok(Outcome::Invalid);
    };
    let pipeline = pipeline_of(&plan, args.pipeline.as_deref())?;
    let stack_path = load::stack_path(&args.stack.stack);
    let base = stack_path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let embeds = plan.pipelines[&pipeline].embed.is_some();
    let mode = match args.mode {
        Some(ModeArg::Bm25) => Mode::Bm25,
        Some(ModeArg::Dense) => Mode::Dense,
        Some(ModeArg::Hybrid) => Mode::Hybrid,
        None if embeds => Mode::Hybrid,
        None => Mode::Bm25,
    };
    if mode == Mode::Dense && !embeds {
        return Err(UserError(format!(
            "pipeline `{pipeline}` has no `embed` model, so it has no vectors to search; \
             use --mode bm25 or add `embed:` to the pipeline"
        ))
        .into());
    }
    let knowledge = if mode == Mode::Bm25 {
        Knowledge::for_plan(&plan, &pipeline, state.path())
    } else {
        Knowledge::open(&plan, &pipeline, state.path(), &base)
    }
    .map_err(|e| UserError(e.to_string()))?;
    let user_error = |e: KnowledgeError| -> anyhow::Error {
        match e {
            KnowledgeError::NotIngested(_)
            | KnowledgeError::NoVectors(_)
            | KnowledgeError::Embed(_)
            | KnowledgeError::Pipeline(_) => UserError(e.to_string()).into(),
            other => other.into(),
        }
    };
    // With the state to ourselves the index is checked and repaired first; while an
    // ingest runs, it keeps the index in step and we only read what it committed.
    if let Some(report) = knowledge.refresh().map_err(user_error)?
        && !args.json
    {
        print_sync(&pipeline, &report);
    }
    let principal = Principal {
        user: args.user.clone(),
        groups: args.groups.clone(),
    };
    // Without the query's vector, hybrid search still answers by keywords (and says so);
    // dense search cannot.
    let retrieved = knowledge
        .search(&args.query, &principal, args.k, Some(mode))
        .map_err(user_error)?;
    if let Some(warning) = &retrieved.warning {
        eprintln!("berth: warning: {warning}");
    }
    let hits = retrieved.hits;

    let mut out = std::io::stdout().lock();
    if args.json {
        let value = serde_json::json!({
            "query": args.query,
            "pipeline": pipeline,
            "mode": retrieved.mode.as_str(),
            "principal": { "user": principal.user, "groups": principal.groups },
            "hits": hits,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(Outcome::Ok);
    }
    if hits.is_empty() {
        writeln!(
            out,
            "no results{}",
            if principal.user.is_none() && principal.groups.is_empty() {
                " visible to an anonymous user (search as someone with --as USER --groups G)"
            } else {
                ""
            }
        )?;
        return Ok(Outcome::Ok);
    }
    for (i, hit) in hits.iter().enumerate() {
        let mut place = hit.document_id.clone();
        if !hit.heading_path.is_empty() {
            place.push_str(" › ");
            place.push_str(&hit.heading_path.join(" › "));
        }
        match (hit.page_start, hit.page_end) {
            (Some(a), Some(b)) if a != b => place.push_str(&format!(" (pages {a}–{b})")),
            (Some(a), _) => place.push_str(&format!(" (page {a})")),
            _ => {}
        }
        let ranks: Vec<String> = [("bm25", hit.bm25_rank), ("dense", hit.dense_rank)]
            .iter()
            .filter_map(|(name, r)| r.map(|r| format!("{name} #{r}")))
            .collect();
        writeln!(
            out,
            "{:>2}. {:.4}  {place}  [{}]",
            i + 1,
            hit.score,
            ranks.join(" · ")
        )?;
        writeln!(out, "    {}", snippet(&hit.text, 240))?;
    }
    Ok(Outcome::Ok)
}

/// The text on one line, cut at a character boundary.
fn snippet(text: &str, max: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line,
    }
}

pub(crate) fn index(cmd: &IndexCommand, catalogs: &[PathBuf]) -> anyhow::Result<Outcome> {
    let IndexCommand::Rebuild { pipeline, stack } = cmd;
    let Planned::Ok { plan, state, .. } = load_and_plan(&stack.stack, catalogs, None, false)?
    else {
        return Ok(Outcome::Invalid);
    };
    let names = match pipeline {
        Some(p) => vec![pipeline_of(&plan, Some(p))?],
        None => plan.pipelines.keys().cloned().collect(),
    };
    let stack_path = load::stack_path(&stack.stack);
    let base = stack_path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let _lock = StateLock::acquire(state.path()).map_err(|e| UserError(e.to_string()))?;
    let mut store: Box<dyn ReadState> = match super::store::shared_url(&plan)? {
        Some(url) => Box::new(
            berth_ingest::state::postgres::PgStateStore::connect_reader(&url, Default::default())
                .with_context(|| {
                format!(
                    "opening the state store at {}",
                    berth_ingest::state::postgres::redact(&url)
                )
            })?,
        ),
        None => Box::new(StateStore::open(&state.database()).with_context(|| {
            format!("opening the state store under {}", state.path().display())
        })?),
    };
    for name in &names {
        let started = std::time::Instant::now();
        if let Some(url) = super::store::vectors_url(&plan, name)? {
            let context = || format!("rebuilding the pgvector tables of pipeline `{name}`");
            let Some(dimension) = store.vector_dimension(name)? else {
                println!("{name}: nothing ingested yet, so no vectors to store");
                continue;
            };
            let schema = berth_ingest::stores::vector_schema(name);
            let mut vectors = berth_index::PgVectorStore::create(&url, &schema, dimension)
                .with_context(context)?;
            let Some(report) =
                sync::sync_pgvector(store.as_mut(), name, &mut vectors).with_context(context)?
            else {
                return Err(UserError(format!(
                    "{name}: another process is writing the pgvector tables; try again when it is done"
                ))
                .into());
            };
            println!(
                "{name}: pgvector tables rebuilt: {} documents, {} chunks in {:.2} s",
                report.updated,
                report.chunks,
                started.elapsed().as_secs_f64()
            );
            continue;
        }
        let embedder = embedder(&plan, name, &base)?;
        let (index, report) = sync::rebuild(
            store.as_mut(),
            state.path(),
            name,
            embedder.as_ref().map(|e| e.model()),
        )
        .with_context(|| format!("rebuilding the index of pipeline `{name}`"))?;
        println!(
            "{name}: index rebuilt: {} documents, {} chunks{} in {:.2} s, {:.1} MB on disk",
            report.updated,
            index.len(),
            if index.dimension().is_some() {
                " with vectors"
            } else {
                ""
            },
            started.elapsed().as_secs_f64(),
            index.size_on_disk().unwrap_or(0) as f64 / 1e6
        );
    }
    Ok(Outcome::Ok)
}
