//! `berth worker`, the ingestion role of a deployed stack, and `berth probe`, the health
//! check of berth's image.

use super::{Planned, load_and_plan};
use crate::Outcome;
use crate::cli::{ProbeArgs, WorkerArgs};
use crate::report::UserError;
use anyhow::Context as _;
use berth_deploy::load;
use berth_ingest::continuous::Triggers;
use berth_ingest::runner::RunOptions;
use std::path::Path;
use std::time::Duration;

/// Documents committed together by the worker, at most.
const WORKER_BATCH_DOCUMENTS: usize = 8;

pub(crate) fn run(args: &WorkerArgs, catalogs: &[std::path::PathBuf]) -> anyhow::Result<Outcome> {
    let Planned::Ok { plan, state, .. } = load_and_plan(&args.stack.stack, catalogs, None, false)?
    else {
        return Ok(Outcome::Invalid);
    };
    let stack_path = load::stack_path(&args.stack.stack);
    let base = stack_path.parent().unwrap_or(Path::new(".")).to_path_buf();

    // Health first: the probe answers while the first runs are under way.
    let listener = std::net::TcpListener::bind((args.host.as_str(), args.metrics_port))
        .with_context(|| format!("listening on {}:{}", args.host, args.metrics_port))?;
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?;
    let source = berth_ingest::stores::StateSource::for_plan(&plan)
        .map_err(|e| crate::report::UserError(e.to_string()))?;
    let state_dir = state.path().to_path_buf();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the health endpoint");
        runtime.block_on(async move {
            match tokio::net::TcpListener::from_std(listener) {
                Ok(l) => {
                    if let Err(e) = berth_serve::worker::serve_worker(l, source, state_dir).await {
                        eprintln!("berth: worker endpoint stopped: {e}");
                    }
                }
                Err(e) => eprintln!("berth: worker endpoint: {e}"),
            }
        });
    });
    println!("worker: health on http://{address}/healthz, metrics on http://{address}/metrics");

    let mut store = super::store::open(&plan, &state)?;
    // A long-running worker commits often: each commit is progress that a restart keeps
    // and that the gateway and `berth docs` see at once.
    let mut options = RunOptions {
        batch_documents: WORKER_BATCH_DOCUMENTS,
        ..RunOptions::default()
    };
    if let Some(c) = args.concurrency {
        options.concurrency = c.max(1);
    }
    let names: Vec<String> = plan.pipelines.keys().cloned().collect();
    for name in &names {
        super::ingest::run_one(&mut store, &plan, name, &base, state.path(), &options)?;
    }
    let spec = super::ingest::trigger_spec(&plan, &names, &base, true, true);
    if spec.schedules.is_empty() && spec.watched.is_empty() {
        println!("worker: every pipeline ran; nothing to watch or schedule, staying up for probes");
        loop {
            std::thread::park();
        }
    }
    let triggers = Triggers::start(spec).map_err(|e| UserError(e.to_string()))?;
    println!("worker: waiting for changes and schedules");
    while let Some(name) = triggers.next() {
        super::ingest::run_one(&mut store, &plan, &name, &base, state.path(), &options)?;
    }
    Ok(Outcome::Ok)
}

pub(crate) fn probe(args: &ProbeArgs) -> anyhow::Result<Outcome> {
    let timeout = Duration::from_secs(args.timeout.max(1));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        tokio::time::timeout(timeout, probe_once(&args.url))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {}s", timeout.as_secs())))
    });
    match result {
        Ok(status) => {
            println!("{}: {status}", args.url);
            Ok(Outcome::Ok)
        }
        Err(why) => Err(anyhow::anyhow!("{}: {why}", args.url)),
    }
}

async fn probe_once(url: &str) -> Result<String, String> {
    if let Some(address) = url.strip_prefix("tcp://") {
        tokio::net::TcpStream::connect(address.trim_end_matches('/'))
            .await
            .map_err(|e| e.to_string())?;
        return Ok("accepting connections".into());
    }
    if !url.starts_with("http://") && !url.starts_with("https://") {
        return Err("not an http://, https:// or tcp:// URL".into());
    }
    let response = reqwest::Client::new()
        .get(url)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    if status.is_success() {
        Ok(status.to_string())
    } else {
        Err(format!("answered {status}"))
    }
}
