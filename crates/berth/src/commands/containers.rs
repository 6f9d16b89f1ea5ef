//! The container targets: `berth image build`, `berth render`, `berth up --target
//! compose`, `berth down` and `berth status`.

use super::{Planned, load_and_plan};
use crate::Outcome;
use crate::cli::{
    DownArgs, ImageBuildArgs, ImageCommand, RenderArgs, RenderTarget, StatusArgs, TargetArg, UpArgs,
};
use crate::report::UserError;
use anyhow::Context as _;
use berth_deploy::compose::{self, Compose, ComposeFile};
use berth_deploy::state::StateDir;
use berth_deploy::{image, load};
use berth_stack::diagnostic::Severity;
use berth_stack::plan::Plan;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(crate) fn image(cmd: &ImageCommand) -> anyhow::Result<Outcome> {
    match cmd {
        ImageCommand::Build(args) => image_build(args),
    }
}

fn image_build(args: &ImageBuildArgs) -> anyhow::Result<Outcome> {
    let binary = match &args.binary {
        Some(b) => b.clone(),
        None => std::env::current_exe().context("finding this berth binary")?,
    };
    let version = env!("CARGO_PKG_VERSION");
    let tag = image::tag(args.registry.as_deref(), version);
    let scratch;
    let dir = match &args.context_only {
        Some(dir) => {
            if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
                return Err(UserError(format!(
                    "{} is not empty; the build context needs an empty directory",
                    dir.display()
                ))
                .into());
            }
            dir.clone()
        }
        None => {
            scratch = tempfile::tempdir().context("creating a build directory")?;
            scratch.path().join("context")
        }
    };
    let context = image::prepare(&binary, &dir, version, !args.no_strip)
        .map_err(|e| UserError(e.to_string()))?;
    if args.context_only.is_some() {
        println!(
            "build context for {tag} written to {} ({} files); build it with:\n  docker build -t {tag} {}",
            dir.display(),
            context.files.len(),
            dir.display()
        );
        return Ok(Outcome::Ok);
    }
    let id = image::build(&context, &tag).map_err(|e| UserError(e.to_string()))?;
    println!("built {tag} ({id}) from {}", binary.display());
    println!(
        "  {} files: the binary, its shared libraries, CA certificates",
        context.files.len()
    );
    Ok(Outcome::Ok)
}

/// The stack file and its directory as absolute paths.
pub(super) fn stack_dir(stack: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let file = load::stack_path(stack);
    let file =
        std::path::absolute(&file).with_context(|| format!("resolving {}", file.display()))?;
    let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok((file, dir))
}

/// Plans a stack for a container target; errors among the findings stop here.
pub(super) fn plan_for(
    stack: &Path,
    catalogs: &[PathBuf],
    target: TargetArg,
    ports: bool,
) -> anyhow::Result<Option<(Box<Plan>, StateDir)>> {
    let Planned::Ok { plan, state, .. } = load_and_plan(stack, catalogs, Some(target), ports)?
    else {
        return Ok(None);
    };
    let errors: Vec<String> = plan
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| match &f.component {
            Some(c) => format!("  error [{c}]: {} ({})", f.message, f.code),
            None => format!("  error: {} ({})", f.message, f.code),
        })
        .collect();
    if !errors.is_empty() {
        eprintln!("the plan has errors:\n{}", errors.join("\n"));
        return Ok(None);
    }
    Ok(Some((plan, state)))
}

fn render_compose(plan: &Plan, stack_dir: &Path, out: &Path) -> anyhow::Result<ComposeFile> {
    let out = std::path::absolute(out)?;
    let options = compose::RenderOptions {
        stack_dir: stack_dir.to_path_buf(),
        out_dir: out.clone(),
    };
    let file = compose::render(plan, &options).map_err(|e| UserError(e.to_string()))?;
    let yaml = compose::to_yaml(plan, &file).map_err(|e| UserError(e.to_string()))?;
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let path = out.join(compose::FILE_NAME);
    std::fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?;
    Ok(file)
}

pub(crate) fn render(args: &RenderArgs, catalogs: &[PathBuf]) -> anyhow::Result<Outcome> {
    let (stack_file, dir) = stack_dir(&args.stack)?;
    match args.target {
        RenderTarget::Compose => {
            let Some((plan, state)) = plan_for(&args.stack, catalogs, TargetArg::Compose, true)?
            else {
                return Ok(Outcome::Invalid);
            };
            state.record_ports(&plan).with_context(|| {
                format!("recording host ports under {}", state.path().display())
            })?;
            let file = render_compose(&plan, &dir, &args.out)?;
            println!(
                "wrote {} ({} services)",
                args.out.join(compose::FILE_NAME).display(),
                file.services.len()
            );
            let vars = compose::variables(&file);
            if !vars.is_empty() {
                println!(
                    "secrets it expects from the environment or an --env-file: {}",
                    vars.into_iter().collect::<Vec<_>>().join(", ")
                );
            }
            Ok(Outcome::Ok)
        }
        RenderTarget::Kubernetes => {
            let Some((plan, _)) = plan_for(&args.stack, catalogs, TargetArg::Kubernetes, false)?
            else {
                return Ok(Outcome::Invalid);
            };
            super::kubernetes::render(&plan, &stack_file, &args.out, args.backfill_parallelism)
        }
    }
}

/// Where `up --target compose` keeps the compose file and the secrets' env file.
fn compose_dir(state: &StateDir) -> anyhow::Result<PathBuf> {
    Ok(std::path::absolute(state.path().join("compose"))?)
}

/// The components that run as containers, in start order.
fn deployed(plan: &Plan) -> Vec<String> {
    plan.order
        .iter()
        .filter(|n| {
            plan.components
                .get(*n)
                .is_some_and(|c| c.external_url.is_none())
        })
        .cloned()
        .collect()
}

pub(crate) fn up_compose(args: &UpArgs, catalogs: &[PathBuf]) -> anyhow::Result<Outcome> {
    let (_, dir) = stack_dir(&args.stack)?;
    let Some((plan, state)) = plan_for(&args.stack, catalogs, TargetArg::Compose, true)? else {
        return Ok(Outcome::Invalid);
    };
    state
        .record_ports(&plan)
        .with_context(|| format!("recording host ports under {}", state.path().display()))?;
    let out = compose_dir(&state)?;
    let file = render_compose(&plan, &dir, &out)?;

    // berth's own image must exist: nothing is pulled for it.
    for (name, c) in &plan.components {
        if c.role.is_some() && c.external_url.is_none() && !image_exists(&c.image) {
            return Err(UserError(format!(
                "component `{name}` runs berth's image {}, which is not built here; run `berth image build` first",
                c.image
            ))
            .into());
        }
    }

    let mut values = BTreeMap::new();
    let mut missing = Vec::new();
    for var in compose::variables(&file) {
        match std::env::var(&var) {
            Ok(v) => {
                values.insert(var, v);
            }
            Err(_) => missing.push(var),
        }
    }
    if !missing.is_empty() {
        return Err(UserError(format!(
            "the stack needs these secrets, set them in the environment: {}",
            missing.join(", ")
        ))
        .into());
    }
    let env_file = out.join("secrets.env");
    compose::write_env_file(&env_file, &values).map_err(|e| UserError(e.to_string()))?;
    let engine = Compose::new(
        &plan.namespace,
        &out.join(compose::FILE_NAME),
        Some(&env_file),
    )
    .map_err(|e| UserError(e.to_string()))?;
    engine.check().map_err(|e| UserError(e.to_string()))?;
    println!(
        "starting stack `{}` on Docker Compose (project {})",
        plan.stack,
        engine.project()
    );
    engine.up().map_err(|e| UserError(e.to_string()))?;
    let order = deployed(&plan);
    let mut stdout = std::io::stdout();
    engine
        .wait_ready(&order, Duration::from_secs(args.timeout), &mut |s| {
            let what = match (&s.status[..], &s.health) {
                ("running", Some(h)) if h == "healthy" => "ready".to_owned(),
                ("running", None) => "running".to_owned(),
                ("running", Some(h)) => format!("waiting ({h})"),
                (other, _) => other.to_owned(),
            };
            let _ = writeln!(stdout, "  {:<14} {what}", s.service);
        })
        .map_err(|e| UserError(e.to_string()))?;
    println!("stack `{}` is up:", plan.stack);
    for name in &order {
        for p in &plan.components[name].ports {
            if let (true, Some(host)) = (p.edge, p.host) {
                println!("  {name:<14} http://127.0.0.1:{host}");
            }
        }
    }
    println!("`berth status` shows it, `berth down` stops it.");
    Ok(Outcome::Ok)
}

fn image_exists(reference: &str) -> bool {
    std::process::Command::new("docker")
        .args(["image", "inspect", reference])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The engine for a stack already started with `up --target compose`, rendering the
/// compose file again when it is gone.
fn existing_engine(
    stack: &Path,
    catalogs: &[PathBuf],
) -> anyhow::Result<Option<(Box<Plan>, Compose)>> {
    let (_, dir) = stack_dir(stack)?;
    let Some((plan, state)) = plan_for(stack, catalogs, TargetArg::Compose, false)? else {
        return Ok(None);
    };
    let out = compose_dir(&state)?;
    let file = out.join(compose::FILE_NAME);
    if !file.exists() {
        render_compose(&plan, &dir, &out)?;
    }
    let env_file = out.join("secrets.env");
    let engine = Compose::new(
        &plan.namespace,
        &file,
        env_file.exists().then_some(env_file.as_path()),
    )
    .map_err(|e| UserError(e.to_string()))?;
    Ok(Some((plan, engine)))
}

pub(crate) fn down(args: &DownArgs, catalogs: &[PathBuf]) -> anyhow::Result<Outcome> {
    let Some((plan, engine)) = existing_engine(&args.stack, catalogs)? else {
        return Ok(Outcome::Invalid);
    };
    engine
        .down(args.volumes)
        .map_err(|e| UserError(e.to_string()))?;
    println!(
        "stack `{}` is down: containers and network removed{}",
        plan.stack,
        if args.volumes {
            ", volumes too"
        } else {
            "; volumes kept (`--volumes` removes them)"
        }
    );
    Ok(Outcome::Ok)
}

pub(crate) fn status(args: &StatusArgs, catalogs: &[PathBuf]) -> anyhow::Result<Outcome> {
    let Some((plan, engine)) = existing_engine(&args.stack, catalogs)? else {
        return Ok(Outcome::Invalid);
    };
    let mut states = Vec::new();
    for name in deployed(&plan) {
        states.push(engine.state(&name).map_err(|e| UserError(e.to_string()))?);
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&states)?)?;
        return Ok(Outcome::Ok);
    }
    writeln!(
        out,
        "stack `{}` on Docker Compose (project {})",
        plan.stack,
        engine.project()
    )?;
    for s in &states {
        let ports: Vec<String> = plan.components[&s.service]
            .ports
            .iter()
            .filter_map(|p| p.host.filter(|_| p.edge).map(|h| format!("127.0.0.1:{h}")))
            .collect();
        let state = if s.ready() {
            "ready".to_owned()
        } else {
            s.why()
        };
        writeln!(
            out,
            "  {:<14} {:<40} {}",
            s.service,
            state,
            ports.join(", ")
        )?;
    }
    Ok(Outcome::Ok)
}
