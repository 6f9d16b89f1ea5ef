//! The web UI: static assets embedded in the binary (`/ui/`), and the two read-only views
//! behind its pages (`/api/stack`, `/api/ingest`).

use crate::proxy::{Shared, authenticate};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use berth_stack::catalog::Role;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const INDEX: &str = include_str!("../ui/index.html");
const SCRIPT: &str = include_str!("../ui/app.js");
const STYLE: &str = include_str!("../ui/style.css");

/// How long a component's port may take to accept a connection before it counts as down.
const PROBE_TIMEOUT: Duration = Duration::from_millis(300);
/// Runs and failed documents listed at most.
const LISTED: usize = 50;

/// `GET /`: the UI.
pub(crate) async fn root() -> Redirect {
    Redirect::temporary("/ui/")
}

/// `GET /ui/` and `/ui/{asset}`.
pub(crate) async fn index() -> Response {
    asset_response("index.html")
}

pub(crate) async fn asset(Path(name): Path<String>) -> Response {
    asset_response(&name)
}

/// Environment variable naming a directory to serve the UI's files from instead of the
/// copies built in (for working on the UI without rebuilding).
pub(crate) const UI_DIR_ENV: &str = "BERTH_UI_DIR";

fn asset_response(name: &str) -> Response {
    let (file, builtin, kind) = match name {
        "" | "index.html" => ("index.html", INDEX, "text/html; charset=utf-8"),
        "app.js" => ("app.js", SCRIPT, "text/javascript; charset=utf-8"),
        "style.css" => ("style.css", STYLE, "text/css; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "not found").into_response(),
    };
    let body = match std::env::var_os(UI_DIR_ENV) {
        Some(dir) => match std::fs::read_to_string(std::path::Path::new(&dir).join(file)) {
            Ok(text) => std::borrow::Cow::Owned(text),
            Err(_) => std::borrow::Cow::Borrowed(builtin),
        },
        None => std::borrow::Cow::Borrowed(builtin),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body.into_owned(),
    )
        .into_response()
}

/// `GET /api/stack`: components (with a reachability probe), models with their routes'
/// circuit states, apps and pipelines with document counts.
pub(crate) async fn stack(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(e) = authenticate(&shared, &headers).await {
        return e.into_response();
    }
    let apps = shared.apps.load_full();
    let live = shared.live.load_full();
    let now = std::time::Instant::now();
    let mut components = Vec::new();
    for c in &apps.view.components {
        let local = apps.view.target == "local";
        let (health, detail) = match (&c.probe, c.role) {
            (_, Some(Role::Gateway)) if local => ("up", Some("this process".to_string())),
            (_, Some(_)) if local => (
                "unknown",
                Some("runs in berth's own processes (berth ingest, berth serve)".to_string()),
            ),
            (None, _) => (
                "unknown",
                Some("not reachable from the gateway".to_string()),
            ),
            (Some(addr), _) => {
                match tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(addr))
                    .await
                {
                    Ok(Ok(_)) => ("up", None),
                    Ok(Err(e)) => ("down", Some(format!("{addr}: {e}"))),
                    Err(_) => ("down", Some(format!("{addr}: no answer"))),
                }
            }
        };
        components.push(
            json!({"name": c.name, "uses": c.uses, "bindings": c.bindings,
                               "health": health, "detail": detail}),
        );
    }
    let models: Vec<Value> = live
        .config
        .models
        .iter()
        .map(|(name, routes)| {
            let routes: Vec<Value> = routes
                .iter()
                .map(|r| {
                    json!({"name": r.name, "target": r.base_url, "upstream_model": r.model,
                           "weight": r.weight,
                           "breaker": shared.breakers.state(&r.breaker_key(), now)})
                })
                .collect();
            json!({"name": name, "routes": routes})
        })
        .collect();
    let app_list: Vec<Value> = apps
        .apps
        .values()
        .map(|a| json!({"name": a.name, "kind": a.kind, "model": a.model, "pipeline": a.pipeline}))
        .collect();
    let pipelines = apps.view.pipelines.clone();
    let counts = {
        let apps = apps.clone();
        tokio::task::spawn_blocking(move || {
            pipelines
                .iter()
                .map(|p| {
                    let counts = apps
                        .with_store(|s| s.document_counts(&p.name))
                        .and_then(Result::ok)
                        .unwrap_or_default();
                    json!({"name": p.name, "source": p.source, "embed": p.embed, "documents": counts})
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default()
    };
    axum::Json(json!({
        "stack": apps.view.stack,
        "target": apps.view.target,
        "components": components,
        "models": models,
        "apps": app_list,
        "pipelines": counts,
    }))
    .into_response()
}

/// `GET /api/ingest`: running ingests with their progress, recent runs, failed documents.
pub(crate) async fn ingest(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(e) = authenticate(&shared, &headers).await {
        return e.into_response();
    }
    let apps = shared.apps.load_full();
    let result = tokio::task::spawn_blocking(move || {
        apps.with_store(|s| {
            let runs = s.runs(LISTED)?;
            let failed = s.list_documents(None, true)?;
            Ok((runs, failed))
        })
    })
    .await;
    let (runs, failed) = match result {
        Ok(Some(Ok(x))) => x,
        Ok(None) => (Vec::new(), Vec::new()),
        Ok(Some(Err(e))) => {
            return crate::ApiError::AppFailed(e.to_string()).into_response();
        }
        Err(e) => return crate::ApiError::AppFailed(e.to_string()).into_response(),
    };
    let running: Vec<Value> = runs
        .iter()
        .filter(|r| r.status == "running")
        .map(|r| {
            let c = &r.counts;
            let done = c.added + c.changed + c.unchanged + c.deleted;
            json!({"pipeline": r.pipeline, "run_id": r.id, "started_at": r.started_ms,
                   "seen": c.seen, "done": done, "failed": c.failed,
                   "total": (c.seen > 0).then_some(c.seen)})
        })
        .collect();
    let runs: Vec<Value> = runs
        .iter()
        .map(|r| {
            let c = &r.counts;
            json!({"id": r.id, "pipeline": r.pipeline, "status": r.status,
                   "started_at": r.started_ms, "finished_at": r.finished_ms,
                   "seen": c.seen, "added": c.added, "changed": c.changed,
                   "deleted": c.deleted, "failed": c.failed, "chunks": c.chunks_written,
                   "duration_ms": r.finished_ms.map(|f| f - r.started_ms), "error": r.error})
        })
        .collect();
    let failed: Vec<Value> = failed
        .iter()
        .take(LISTED)
        .map(|d| {
            json!({"pipeline": d.pipeline, "document": d.id, "kind": d.error_kind,
                   "error": d.last_error, "updated_at": d.updated_ms})
        })
        .collect();
    axum::Json(json!({"running": running, "runs": runs, "failed": failed})).into_response()
}
