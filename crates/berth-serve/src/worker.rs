//! The worker role's small HTTP face: `GET /healthz` for probes and `GET /metrics` with
//! the ingestion counters in the Prometheus text format.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use berth_ingest::stores::StateSource;
use std::path::PathBuf;
use std::sync::Arc;

/// Serves the worker's endpoints on `listener` until the task is dropped. `state` (with
/// the local state directory `state_dir`) is the state store the worker writes; each
/// scrape reads it afresh (a shared store: every worker's runs).
pub async fn serve_worker(
    listener: tokio::net::TcpListener,
    state: StateSource,
    state_dir: PathBuf,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .with_state(Arc::new((state, state_dir)));
    axum::serve(listener, app).await
}

async fn metrics(State(state): State<Arc<(StateSource, PathBuf)>>) -> impl IntoResponse {
    let rendered = tokio::task::spawn_blocking(move || -> Result<String, String> {
        let (source, dir) = state.as_ref();
        let Some(mut store) = source.open(dir).map_err(|e| e.to_string())? else {
            return Ok(String::new());
        };
        let runs = store.runs(usize::MAX >> 1).map_err(|e| e.to_string())?;
        Ok(berth_ingest::metrics::render(&runs))
    })
    .await;
    match rendered {
        Ok(Ok(text)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            text,
        )
            .into_response(),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("state store: {e}\n"),
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
