//! `berth plan`.

use super::{Planned, load_and_plan};
use crate::Outcome;
use crate::cli::PlanArgs;
use crate::report;
use anyhow::Context as _;
use std::io::Write;
use std::path::PathBuf;

pub(crate) fn run(args: &PlanArgs, catalogs: &[PathBuf]) -> anyhow::Result<Outcome> {
    let Planned::Ok {
        plan,
        state,
        warnings,
        sources,
        ..
    } = load_and_plan(&args.stack.stack, catalogs, args.target, true)?
    else {
        return Ok(Outcome::Invalid);
    };
    state
        .record_ports(&plan)
        .with_context(|| format!("recording host ports under {}", state.path().display()))?;
    // The human view lists findings itself; JSON readers get positions on stderr.
    if args.json {
        report::diagnostics(&warnings, &sources)?;
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        let json = serde_json::to_string_pretty(&*plan).context("serialising the plan")?;
        writeln!(out, "{json}")?;
    } else {
        write!(out, "{}", report::plan_text(&plan))?;
    }
    Ok(Outcome::Ok)
}
