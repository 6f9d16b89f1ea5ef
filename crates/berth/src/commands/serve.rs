//! `berth serve`: the gateway role.

use super::{Planned, load_and_plan};
use crate::Outcome;
use crate::cli::ServeArgs;
use crate::report::UserError;
use anyhow::Context as _;
use berth_deploy::load;
use berth_serve::apps::{CHAT_URL_ENV, apply_chat_env};
use berth_serve::{AppSet, Gateway, GatewayConfig, KeyOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How often the stack file is checked for edits.
const RELOAD_POLL: Duration = Duration::from_secs(1);

/// What the gateway serves for a stack: its models and its apps.
pub(crate) struct Served {
    pub(crate) config: GatewayConfig,
    pub(crate) apps: AppSet,
    /// The chat endpoint taken from the environment, if one was.
    pub(crate) chat_endpoint: Option<String>,
}

/// What the gateway serves for the stack at `stack`, or `None` when the stack file has
/// errors (they are printed).
pub(crate) fn prepare(stack: &Path, catalogs: &[PathBuf]) -> anyhow::Result<Option<Served>> {
    let Planned::Ok {
        mut plan, state, ..
    } = load_and_plan(stack, catalogs, None, false)?
    else {
        return Ok(None);
    };
    let chat_endpoint = apply_chat_env(&mut plan);
    let config = GatewayConfig::from_plan(&plan).map_err(|e| UserError(e.to_string()))?;
    let stack_path = load::stack_path(stack);
    let base = stack_path.parent().unwrap_or(Path::new("."));
    let apps =
        AppSet::from_plan(&plan, state.path(), base).map_err(|e| UserError(e.to_string()))?;
    Ok(Some(Served {
        config,
        apps,
        chat_endpoint,
    }))
}

fn names(served: &Served) -> String {
    let list = |names: Vec<String>| {
        if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        }
    };
    format!(
        "models: {}; apps: {}",
        list(served.config.models.keys().cloned().collect()),
        list(served.apps.names())
    )
}

/// When the stack file last changed, and its size.
fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

pub(crate) fn run(args: &ServeArgs, catalogs: &[PathBuf]) -> anyhow::Result<Outcome> {
    match args.role {
        crate::cli::RoleArg::Gateway => serve(args, catalogs, |_, _| {}),
        crate::cli::RoleArg::Embedder => embedder(args),
    }
}

/// The embedder role: the built-in model over the OpenAI embeddings API. It needs no
/// stack: the model directory is all it serves.
fn embedder(args: &ServeArgs) -> anyhow::Result<Outcome> {
    let dir = args
        .model_dir
        .as_ref()
        .ok_or_else(|| UserError("--model-dir is required for the embedder role".into()))?;
    let name = args.model_name.clone().unwrap_or_else(|| {
        dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "embedder".into())
    });
    let spec = dir.display().to_string();
    let model = berth_models::BuiltinEmbedder::load(&spec, &Default::default())
        .map_err(|e| UserError(format!("loading the model in {spec}: {e}")))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
            .await
            .map_err(|e| UserError(format!("cannot listen on {}:{}: {e}", args.host, args.port)))?;
        let address = listener.local_addr()?;
        println!("berth embedder listening on http://{address}/v1 (model: {name})");
        berth_serve::embedder::serve_embedder(listener, Arc::new(model), name).await?;
        Ok::<_, anyhow::Error>(Outcome::Ok)
    })
}

/// Serves the stack of `args` until interrupted; `banner` prints what to tell the user
/// once the gateway listens.
pub(crate) fn serve(
    args: &ServeArgs,
    catalogs: &[PathBuf],
    banner: impl FnOnce(std::net::SocketAddr, &Served),
) -> anyhow::Result<Outcome> {
    let Some(initial) = prepare(&args.stack.stack, catalogs)? else {
        return Ok(Outcome::Invalid);
    };
    if let Some(url) = &initial.chat_endpoint {
        println!("chat model `chat` from {CHAT_URL_ENV}: {url}");
    }
    let stack_file = load::stack_path(&args.stack.stack);
    let keys: Arc<dyn berth_serve::keys::KeyAdmin> =
        Arc::from(super::keys::store(&args.stack.stack, catalogs)?);
    if !args.require_keys && !keys.has_keys().context("reading the API keys")? {
        eprintln!(
            "berth: no API keys in {}: the gateway is unauthenticated, open to anyone who can reach it (create keys with `berth keys create`, or pass --require-keys)",
            keys.location()
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
            "berth gateway listening on http://{address}/v1 ({})",
            names(&initial)
        );
        banner(address, &initial);
        let options = KeyOptions {
            require_keys: args.require_keys,
            ..KeyOptions::default()
        };
        let Served { config, apps, .. } = initial;
        let gateway = Gateway::with_keys(config, keys, options).max_in_flight(args.max_in_flight);
        gateway.set_apps(apps);

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
                match tokio::task::spawn_blocking(move || prepare(&stack, &catalogs)).await {
                    Ok(Ok(Some(served))) => {
                        // Announced once in effect, so whoever reads the line can rely on it.
                        let what = names(&served);
                        watched.reload(served.config);
                        watched.set_apps(served.apps);
                        println!("reloaded {} ({what})", stack_file.display());
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
