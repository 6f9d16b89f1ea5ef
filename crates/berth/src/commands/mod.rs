//! One module per command; `run` dispatches.

mod apps;
mod catalog;
mod containers;
mod docs;
mod ingest;
mod init;
mod keys;
mod kubernetes;
mod plan;
mod search;
mod serve;
mod store;
mod worker;

use crate::Outcome;
use crate::cli::{Cli, Command, TargetArg};
use crate::report::{self, Sources, UserError};
use anyhow::Context as _;
use berth_deploy::{host, load, state::StateDir};
use berth_stack::catalog::Catalog;
use berth_stack::diagnostic::Diagnostics;
use berth_stack::plan::Plan;
use berth_stack::stack::{StackFile, Target};
use std::path::{Path, PathBuf};

pub(crate) fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Init(args) => init::run(&args),
        Command::Validate(args) => {
            let loaded = load_and_plan(&args.stack, &cli.catalogs, None, true)?;
            match loaded {
                Planned::Ok {
                    plan,
                    stack,
                    warnings,
                    sources,
                    ..
                } => {
                    report::diagnostics(&warnings, &sources)?;
                    let warnings = warnings.len();
                    println!(
                        "{}: stack `{}` is valid: {} components, {} models, {} pipelines, {} apps{}",
                        stack.file,
                        plan.stack,
                        plan.components.len(),
                        plan.models.len(),
                        plan.pipelines.len(),
                        plan.apps.len(),
                        if warnings > 0 {
                            format!(" ({warnings} warnings)")
                        } else {
                            String::new()
                        }
                    );
                    Ok(Outcome::Ok)
                }
                Planned::Invalid => Ok(Outcome::Invalid),
            }
        }
        Command::Plan(args) => plan::run(&args, &cli.catalogs),
        Command::Catalog(cmd) => catalog::run(&cmd, &cli.catalogs),
        Command::Ingest(args) => ingest::run(&args, &cli.catalogs),
        Command::Runs(args) => ingest::runs(&args, &cli.catalogs),
        Command::Docs(args) => docs::run(&args, &cli.catalogs),
        Command::Search(args) => search::run(&args, &cli.catalogs),
        Command::Index(cmd) => search::index(&cmd, &cli.catalogs),
        Command::Serve(args) => serve::run(&args, &cli.catalogs),
        Command::Keys(cmd) => keys::run(&cmd, &cli.catalogs),
        Command::Up(args) => apps::up(&args, &cli.catalogs),
        Command::Ask(args) => apps::ask(&args, &cli.catalogs),
        Command::Chat(args) => apps::chat(&args, &cli.catalogs),
        Command::Sql(args) => apps::sql(&args, &cli.catalogs),
        Command::Worker(args) => worker::run(&args, &cli.catalogs),
        Command::Probe(args) => worker::probe(&args),
        Command::Image(cmd) => containers::image(&cmd),
        Command::Render(args) => containers::render(&args, &cli.catalogs),
        Command::Apply(args) => kubernetes::apply(&args, &cli.catalogs),
        Command::Diff(args) => kubernetes::diff(&args, &cli.catalogs),
        Command::Down(args) => containers::down(&args, &cli.catalogs),
        Command::Status(args) => containers::status(&args, &cli.catalogs),
    }
}

/// The result of reading and resolving a stack.
pub(crate) enum Planned {
    /// A plan.
    Ok {
        plan: Box<Plan>,
        /// Warnings with positions, not yet printed.
        warnings: Diagnostics,
        sources: Sources,
        stack: Box<StackFile>,
        state: StateDir,
    },
    /// Diagnostics were printed.
    Invalid,
}

/// The built-in catalog plus the directories given with `--catalog`.
pub(crate) fn catalog(
    extra: &[PathBuf],
    sources: &mut Sources,
) -> anyhow::Result<(Catalog, Diagnostics)> {
    let mut catalog = match Catalog::builtin() {
        Ok(c) => c,
        Err(d) => anyhow::bail!("the built-in catalog is broken:\n{d}"),
    };
    let mut diags = Diagnostics::new();
    for dir in extra {
        let d = load::add_catalog_dir(&mut catalog, dir)
            .map_err(|e| anyhow::Error::new(UserError(format!("{e}: {}", source_text(&e)))))?;
        diags.extend(d);
    }
    for entry in catalog.iter() {
        sources.0.insert(entry.file.clone(), entry.source.clone());
    }
    Ok((catalog, diags))
}

/// Reads and resolves a stack. `ports`: whether host ports matter (they are chosen
/// against the ports in use on this machine, which costs a scan).
pub(crate) fn load_and_plan(
    path: &Path,
    catalogs: &[PathBuf],
    target: Option<TargetArg>,
    ports: bool,
) -> anyhow::Result<Planned> {
    let stack_path = load::stack_path(path);
    if !stack_path.exists() {
        return Err(UserError(format!(
            "no stack file at {} (create one with `berth init`)",
            stack_path.display()
        ))
        .into());
    }
    let (file, mut diags, text) = load::stack_file(&stack_path)
        .map_err(|e| UserError(format!("{e}: {}", source_text(&e))))?;
    let mut sources = Sources::default();
    sources.0.insert(stack_path.display().to_string(), text);
    let Some(stack) = file else {
        report::diagnostics(&diags.sorted(), &sources)?;
        return Ok(Planned::Invalid);
    };
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(dir) = &stack.catalog {
        let base = stack_path.parent().unwrap_or(Path::new("."));
        let dir = Path::new(&dir.value);
        let joined = if base.as_os_str().is_empty() || base == Path::new(".") || dir.is_absolute() {
            dir.to_path_buf()
        } else {
            base.join(dir)
        };
        dirs.push(joined);
    }
    dirs.extend(catalogs.iter().cloned());
    let (catalog, catalog_diags) = catalog(&dirs, &mut sources)?;
    diags.extend(catalog_diags);

    let target = match target {
        Some(t) => Some(match t {
            TargetArg::Local => Target::Local,
            TargetArg::Compose => Target::Compose,
            TargetArg::Kubernetes => Target::Kubernetes,
        }),
        None => target_from_env()?,
    };
    let state = StateDir::for_stack(&stack_path);
    let effective = target.unwrap_or(stack.target.value);
    let recorded = state
        .recorded_ports(effective)
        .with_context(|| format!("reading the state of stack `{}`", stack.stack.value))?;
    let env = host::environment(&stack, target, recorded, ports);
    match berth_stack::resolve(&stack, &catalog, &env) {
        Ok(resolved) if !diags.has_errors() => {
            diags.extend(resolved.warnings);
            Ok(Planned::Ok {
                plan: Box::new(resolved.plan),
                warnings: diags.sorted(),
                sources,
                stack: Box::new(stack),
                state,
            })
        }
        Ok(_) => {
            report::diagnostics(&diags.sorted(), &sources)?;
            Ok(Planned::Invalid)
        }
        Err(more) => {
            diags.extend(more);
            report::diagnostics(&diags.sorted(), &sources)?;
            Ok(Planned::Invalid)
        }
    }
}

/// The environment variable naming the target inside a container: berth's roles re-read
/// the stack there and must resolve it as the target that started them.
pub(crate) const TARGET_ENV: &str = "BERTH_TARGET";

fn target_from_env() -> anyhow::Result<Option<Target>> {
    match std::env::var(TARGET_ENV).as_deref() {
        Err(_) | Ok("") => Ok(None),
        Ok("local") => Ok(Some(Target::Local)),
        Ok("compose") => Ok(Some(Target::Compose)),
        Ok("kubernetes") => Ok(Some(Target::Kubernetes)),
        Ok(other) => Err(UserError(format!(
            "{TARGET_ENV}=`{other}` is not a target (local, compose or kubernetes)"
        ))
        .into()),
    }
}

fn source_text(e: &berth_deploy::Error) -> String {
    std::error::Error::source(e)
        .map(|s| s.to_string())
        .unwrap_or_default()
}
