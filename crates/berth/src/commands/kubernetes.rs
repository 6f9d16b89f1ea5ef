//! The Kubernetes target's commands: `berth render kubernetes`, `berth apply` and
//! `berth diff`.

use super::containers::{plan_for, stack_dir};
use crate::Outcome;
use crate::cli::{ApplyArgs, DiffArgs, TargetArg};
use crate::report::UserError;
use anyhow::Context as _;
use berth_deploy::kubernetes::apply::{self, ApplyOptions, Change, Prune, WaitOutcome};
use berth_deploy::kubernetes::{self, Manifest, RenderOptions};
use berth_stack::plan::Plan;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The manifests of a plan; the stack file travels in a ConfigMap for berth's roles.
fn manifests(plan: &Plan, stack_file: &Path, backfill: u32) -> anyhow::Result<Vec<Manifest>> {
    let contents = std::fs::read_to_string(stack_file)
        .with_context(|| format!("reading {}", stack_file.display()))?;
    let mut options = RenderOptions::new("berth.yaml", contents);
    options.backfill_parallelism = backfill;
    kubernetes::render(plan, &options).map_err(|e| UserError(e.to_string()).into())
}

pub(crate) fn render(
    plan: &Plan,
    stack_file: &Path,
    out: &Path,
    backfill: u32,
) -> anyhow::Result<Outcome> {
    let manifests = manifests(plan, stack_file, backfill)?;
    let files = kubernetes::write_dir(&manifests, out).map_err(|e| UserError(e.to_string()))?;
    println!("wrote {} manifests to {}", files.len(), out.display());
    if !plan.secrets.is_empty() {
        println!(
            "they reference the Secret `{}`; create it with:\n  kubectl -n {} create secret generic {} {}",
            kubernetes::secret_name(plan),
            plan.namespace,
            kubernetes::secret_name(plan),
            plan.secrets
                .iter()
                .map(|s| format!("--from-literal={s}=…"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    Ok(Outcome::Ok)
}

fn planned(stack: &Path, catalogs: &[PathBuf]) -> anyhow::Result<Option<(Box<Plan>, PathBuf)>> {
    let (file, _) = stack_dir(stack)?;
    Ok(plan_for(stack, catalogs, TargetArg::Kubernetes, false)?.map(|(plan, _)| (plan, file)))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

pub(crate) fn apply(args: &ApplyArgs, catalogs: &[PathBuf]) -> anyhow::Result<Outcome> {
    let Some((plan, file)) = planned(&args.stack, catalogs)? else {
        return Ok(Outcome::Invalid);
    };
    let manifests = manifests(&plan, &file, args.backfill_parallelism)?;
    let mut options = ApplyOptions::new(plan.stack.clone(), plan.namespace.clone());
    options.prune = if args.prune {
        Prune::Delete
    } else {
        Prune::DryRun
    };
    options.wait = (!args.no_wait).then(|| Duration::from_secs(args.timeout));
    let report = runtime()?.block_on(async {
        let client = kubernetes::connect()
            .await
            .map_err(|e| UserError(e.to_string()))?;
        println!(
            "applying stack `{}` to namespace {} ({} objects, server-side apply)",
            plan.stack,
            plan.namespace,
            manifests.len()
        );
        apply::apply(client, &manifests, &plan.order, &options, &mut |p| {
            println!("  {p}")
        })
        .await
        .map_err(|e| anyhow::Error::from(UserError(e.to_string())))
    })?;
    if !report.would_prune.is_empty() {
        println!(
            "{} object(s) are no longer in the stack; `berth apply --prune` deletes them",
            report.would_prune.len()
        );
    }
    match &report.wait {
        WaitOutcome::TimedOut {
            component,
            not_ready,
        } => {
            eprintln!("berth: `{component}` is not ready after {}s:", args.timeout);
            for n in not_ready {
                eprintln!("  {n}");
            }
            Ok(Outcome::Invalid)
        }
        WaitOutcome::Ready => {
            println!("stack `{}` is applied and ready", plan.stack);
            Ok(Outcome::Ok)
        }
        WaitOutcome::Skipped => {
            println!("stack `{}` is applied (not waited for)", plan.stack);
            Ok(Outcome::Ok)
        }
    }
}

pub(crate) fn diff(args: &DiffArgs, catalogs: &[PathBuf]) -> anyhow::Result<Outcome> {
    let Some((plan, file)) = planned(&args.stack, catalogs)? else {
        return Ok(Outcome::Invalid);
    };
    let manifests = manifests(&plan, &file, args.backfill_parallelism)?;
    let options = ApplyOptions::new(plan.stack.clone(), plan.namespace.clone());
    let changes = runtime()?.block_on(async {
        let client = kubernetes::connect()
            .await
            .map_err(|e| UserError(e.to_string()))?;
        apply::diff(client, &manifests, &options)
            .await
            .map_err(|e| anyhow::Error::from(UserError(e.to_string())))
    })?;
    let mut changed = 0;
    for change in &changes {
        if !matches!(change, Change::Unchanged { .. }) {
            changed += 1;
            println!("{change}");
        }
    }
    println!("{changed} of {} objects would change", changes.len());
    Ok(Outcome::Ok)
}
