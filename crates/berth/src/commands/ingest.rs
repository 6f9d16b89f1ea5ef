//! `berth ingest` and `berth runs`.

use super::store::Store;
use super::{Planned, load_and_plan};
use crate::Outcome;
use crate::cli::{IngestArgs, RunsArgs};
use crate::report::UserError;
use anyhow::Context as _;
use berth_deploy::{load, state::StateDir};
use berth_ingest::continuous::{TriggerSpec, Triggers};
use berth_ingest::pipeline::Pipeline;
use berth_ingest::runner::{self, Phase, Progress, RunOptions};
use berth_ingest::state::StateStore;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

pub(crate) fn run(args: &IngestArgs, catalogs: &[PathBuf]) -> anyhow::Result<Outcome> {
    let Planned::Ok { plan, state, .. } = load_and_plan(&args.stack.stack, catalogs, None, false)?
    else {
        return Ok(Outcome::Invalid);
    };
    let names: Vec<String> = match &args.pipeline {
        Some(p) if !plan.pipelines.contains_key(p) => {
            let known: Vec<&str> = plan.pipelines.keys().map(String::as_str).collect();
            return Err(UserError(format!(
                "the stack has no pipeline `{p}`; {}",
                berth_stack::diagnostic::hint(p, &known, "pipelines")
            ))
            .into());
        }
        Some(p) => vec![p.clone()],
        None => plan.pipelines.keys().cloned().collect(),
    };
    if names.is_empty() {
        println!("the stack has no pipelines; nothing to ingest");
        return Ok(Outcome::Ok);
    }
    let stack_path = load::stack_path(&args.stack.stack);
    let base = stack_path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut store = super::store::open(&plan, &state)?;
    let mut options = RunOptions::default();
    if let Some(c) = args.concurrency {
        options.concurrency = c.max(1);
    }
    let mut any_failed = false;
    for name in &names {
        any_failed |= run_one(&mut store, &plan, name, &base, state.path(), &options)?;
    }
    if args.watch || args.schedule {
        let spec = trigger_spec(&plan, &names, &base, args.watch, args.schedule);
        if spec.schedules.is_empty() && spec.watched.is_empty() {
            return Err(UserError(
                "nothing to wait for: no pipeline has a `schedule:` (for --schedule) or a directory source (for --watch)".into(),
            )
            .into());
        }
        let triggers = Triggers::start(spec).map_err(|e| UserError(e.to_string()))?;
        println!("waiting for changes and schedules (Ctrl-C to stop)");
        while let Some(name) = triggers.next() {
            run_one(&mut store, &plan, &name, &base, state.path(), &options)?;
        }
        return Ok(Outcome::Ok);
    }
    if let Some(peak) = berth_deploy::host::peak_memory() {
        println!("peak memory {} MB", peak / (1024 * 1024));
    }
    Ok(if any_failed {
        Outcome::Invalid
    } else {
        Outcome::Ok
    })
}

/// What makes `names` run again: their `schedule:` (with `schedule`) and changes under
/// their directory sources (with `watch`), debounced.
pub(super) fn trigger_spec(
    plan: &berth_stack::plan::Plan,
    names: &[String],
    base: &Path,
    watch: bool,
    schedule: bool,
) -> TriggerSpec {
    let mut spec = TriggerSpec {
        debounce: std::time::Duration::from_millis(500),
        ..TriggerSpec::default()
    };
    for name in names {
        let p = &plan.pipelines[name];
        if schedule && let Some(s) = &p.schedule {
            spec.schedules.insert(name.clone(), s.clone());
        }
        if watch && let Some(path) = plan.sources.get(&p.source).and_then(|s| s.path.as_ref()) {
            let dir = base.join(path);
            if dir.is_dir() {
                spec.watched.insert(name.clone(), dir);
            }
        }
    }
    spec
}

/// Runs one pipeline and prints its summary. Returns whether documents failed.
pub(super) fn run_one(
    store: &mut Store,
    plan: &berth_stack::plan::Plan,
    name: &str,
    base: &Path,
    state_dir: &Path,
    options: &RunOptions,
) -> anyhow::Result<bool> {
    let pipeline = Pipeline::from_plan(plan, name, base).map_err(|e| UserError(e.to_string()))?;
    if let Some(warning) = berth_ingest::stores::unwritten_store(plan, name) {
        eprintln!("berth: warning: {warning}");
    }
    let mut display = ProgressDisplay::new(name);
    let report = match runner::run(store.ingest(), &pipeline, options, &mut |p| {
        display.update(p)
    }) {
        Ok(r) => r,
        Err(runner::RunError::Source { message, .. }) => {
            display.finish();
            eprintln!("berth: {name}: {message}");
            return Ok(true);
        }
        Err(e) => return Err(e).context(format!("running pipeline `{name}`")),
    };
    display.finish();
    let c = report.counts;
    println!(
        "{name}: {} seen · {} added · {} changed · {} unchanged · {} deleted · {} failed · {} chunks written, {} removed · {:.2} s",
        c.seen,
        c.added,
        c.changed,
        c.unchanged,
        c.deleted,
        c.failed,
        c.chunks_written,
        c.chunks_deleted,
        report.elapsed.as_secs_f64()
    );
    for (id, error) in &report.failures {
        println!("  failed: {id}: {error}");
    }
    if !report.failures.is_empty() {
        println!("  (`berth docs --failed` lists them; `berth docs show ID` shows one)");
    }
    // pgvector tables are shared: every run brings them in step. The embedded index is
    // derived from a local state store; with a shared one each reader keeps its own.
    if let Some(url) = super::store::vectors_url(plan, name)? {
        super::search::sync_pgvector_after_run(store.ingest(), &url, name)?;
    } else if let Store::Local { store, .. } = store {
        let model = pipeline.embedder.as_ref().map(|e| e.model().to_string());
        super::search::sync_after_run(store, state_dir, name, model.as_deref())?;
    }
    Ok(!report.failures.is_empty())
}

/// Progress bars on a terminal, a few plain lines otherwise.
struct ProgressDisplay {
    name: String,
    bar: Option<indicatif::ProgressBar>,
    last_phase: Option<Phase>,
}

impl ProgressDisplay {
    fn new(name: &str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(name.to_string());
            bar
        });
        ProgressDisplay {
            name: name.to_string(),
            bar,
            last_phase: None,
        }
    }

    fn update(&mut self, p: &Progress) {
        match &self.bar {
            Some(bar) => {
                bar.set_length(p.to_process);
                bar.set_position(p.processed);
                bar.set_message(
                    format!(
                        "{:?} · {} added · {} changed · {} failed",
                        p.phase, p.counts.added, p.counts.changed, p.counts.failed
                    )
                    .to_lowercase(),
                );
            }
            None => {
                if self.last_phase != Some(p.phase) {
                    let mut err = std::io::stderr().lock();
                    let _ = match p.phase {
                        Phase::Listing => writeln!(err, "{}: listing the source", self.name),
                        Phase::Processing => writeln!(
                            err,
                            "{}: {} of {} documents to process",
                            self.name, p.to_process, p.counts.seen
                        ),
                        Phase::Deleting => writeln!(
                            err,
                            "{}: removing documents gone from the source",
                            self.name
                        ),
                        Phase::Finished => Ok(()),
                    };
                }
            }
        }
        self.last_phase = Some(p.phase);
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

pub(crate) fn runs(args: &RunsArgs, catalogs: &[PathBuf]) -> anyhow::Result<Outcome> {
    // A stack whose state store is shared lists every worker's runs from there.
    let shared = match load::stack_path(&args.stack.stack).exists() {
        true => match load_and_plan(&args.stack.stack, catalogs, None, false)? {
            Planned::Ok { plan, .. } => super::store::shared_url(&plan)?,
            Planned::Invalid => return Ok(Outcome::Invalid),
        },
        false => None,
    };
    if let Some(url) = shared {
        let mut store = berth_ingest::state::postgres::PgStateStore::connect_reader(
            &url,
            super::store::pg_options(),
        )
        .with_context(|| {
            format!(
                "opening the state store at {}",
                berth_ingest::state::postgres::redact(&url)
            )
        })?;
        let all = store.runs(usize::MAX >> 1)?;
        let runs: Vec<_> = all.iter().take(args.limit).cloned().collect();
        return print_runs(args, &runs, &all);
    }
    let Some(mut store) = open_existing(&args.stack.stack)? else {
        // Machine-readable forms stay machine-readable: no runs is an empty list.
        if args.json {
            println!("[]");
        } else if !args.metrics {
            println!("nothing has been ingested yet (run `berth ingest`)");
        }
        return Ok(Outcome::Ok);
    };
    let runs = store.runs(args.limit)?;
    let all = if args.metrics {
        store.runs(usize::MAX >> 1)?
    } else {
        Vec::new()
    };
    print_runs(args, &runs, &all)
}

/// Prints runs as a table, JSON, or (over `all`) Prometheus counters.
fn print_runs(
    args: &RunsArgs,
    runs: &[berth_ingest::state::RunRow],
    all: &[berth_ingest::state::RunRow],
) -> anyhow::Result<Outcome> {
    let mut out = std::io::stdout().lock();
    if args.metrics {
        write!(out, "{}", berth_ingest::metrics::render(all))?;
    } else if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&runs)?)?;
    } else {
        writeln!(
            out,
            "{:>5}  {:<20} {:<12} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>8}  SECONDS",
            "RUN",
            "PIPELINE",
            "STATUS",
            "SEEN",
            "ADDED",
            "CHANGED",
            "DELETED",
            "FAILED",
            "SAME",
            "CHUNKS"
        )?;
        for r in runs {
            let c = r.counts;
            let secs = r
                .finished_ms
                .map(|f| format!("{:.2}", (f - r.started_ms) as f64 / 1000.0))
                .unwrap_or_else(|| "-".into());
            writeln!(
                out,
                "{:>5}  {:<20} {:<12} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>8}  {secs}",
                r.id,
                r.pipeline,
                r.status,
                c.seen,
                c.added,
                c.changed,
                c.deleted,
                c.failed,
                c.unchanged,
                c.chunks_written
            )?;
            if let Some(e) = &r.error {
                writeln!(out, "       {e}")?;
            }
        }
    }
    Ok(Outcome::Ok)
}

/// Opens the state store of a stack if anything was ever ingested.
pub(crate) fn open_existing(stack: &Path) -> anyhow::Result<Option<StateStore>> {
    let stack_path = load::stack_path(stack);
    if !stack_path.exists() {
        return Err(UserError(format!(
            "no stack file at {} (create one with `berth init`)",
            stack_path.display()
        ))
        .into());
    }
    let state = StateDir::for_stack(&stack_path);
    let db = state.database();
    if !db.exists() {
        return Ok(None);
    }
    Ok(Some(
        StateStore::open(&db).with_context(|| format!("opening {}", db.display()))?,
    ))
}
