//! `berth serve`: the gateway role.

use super::{Planned, load_and_plan};
use crate::Outcome;
use crate::cli::ServeArgs;
use crate::report::UserError;
use anyhow::Context as _;
use berth_deploy::load;
use berth_serve::keys::KeyStore as _;
use berth_serve::{Gateway, GatewayConfig, KeyOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How often the stack file is checked for edits.
const RELOAD_POLL: Duration = Duration::from_secs(1);

/// The gateway configuration of the stack at `stack`, or `None` when the stack file has
/// errors (they are printed).
fn config(stack: &Path, catalogs: &[PathBuf]) -> anyhow::Result<Option<GatewayConfig>> {
    let Planned::Ok { plan, .. } = load_and_plan(stack, catalogs, None, false)? else {
        return Ok(None);
    };
    let config = GatewayConfig::from_plan(&plan).map_err(|e| UserError(e.to_string()))?;
    Ok(Some(config))
}

fn names(config: &GatewayConfig) -> String {
    let names: Vec<&str> = config.models.keys().map(String::as_str).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// When the stack file last changed, and its size.
fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

pub(crate) fn run(args: &ServeArgs, catalogs: &[PathBuf]) -> anyhow::Result<Outcome> {
    let Some(initial) = config(&args.stack.stack, catalogs)? else {
        return Ok(Outcome::Invalid);
    };
    let stack_file = load::stack_path(&args.stack.stack);
    let (keys, database) = super::keys::store(&args.stack.stack)?;
    if !args.require_keys && !keys.has_keys().context("reading the API keys")? {
        eprintln!(
            "berth: no API keys in {}: the gateway is unauthenticated, open to anyone who can reach it (create keys with `berth keys create`, or pass --require-keys)",
            database.display()
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
            .await
            .map_err(|e| UserError(format!("cannot listen on {}:{}: {e}", args.host, args.port)))?;
        let address = listener.local_addr()?;
        println!(
            "berth gateway listening on http://{address}/v1 (models: {})",
            names(&initial)
        );
        let options = KeyOptions {
            require_keys: args.require_keys,
            ..KeyOptions::default()
        };
        let gateway = Gateway::with_keys(initial, Arc::new(keys), options);

        // Edits to the stack file take effect without a restart: requests in flight keep
        // the configuration they started with. A stack with errors keeps the old one.
        let watched = gateway.clone();
        let stack = args.stack.stack.clone();
        let catalogs = catalogs.to_vec();
        tokio::spawn(async move {
            let mut last = stamp(&stack_file);
            loop {
                tokio::time::sleep(RELOAD_POLL).await;
                let now = stamp(&stack_file);
                if now == last {
                    continue;
                }
                last = now;
                let (stack, catalogs) = (stack.clone(), catalogs.clone());
                match tokio::task::spawn_blocking(move || config(&stack, &catalogs)).await {
                    Ok(Ok(Some(config))) => {
                        // Announced once in effect, so whoever reads the line can rely on it.
                        let models = names(&config);
                        watched.reload(config);
                        println!("reloaded {} (models: {models})", stack_file.display());
                    }
                    Ok(Ok(None)) => eprintln!(
                        "berth: {} has errors; still serving the previous configuration",
                        stack_file.display()
                    ),
                    Ok(Err(e)) => eprintln!(
                        "berth: cannot reload {}: {e:#}; still serving the previous configuration",
                        stack_file.display()
                    ),
                    Err(e) => eprintln!("berth: reloading failed: {e}"),
                }
            }
        });

        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        berth_serve::serve(listener, gateway, shutdown)
            .await
            .context("serving")?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(Outcome::Ok)
}
