//! The worker role's small HTTP face: `GET /healthz` for probes and `GET /metrics` with
//! the ingestion counters in the Prometheus text format.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use berth_ingest::state::StateStore;
use std::path::PathBuf;
use std::sync::Arc;

/// Serves the worker's endpoints on `listener` until the task is dropped. `database` is
/// the state store the worker writes; each scrape reads it afresh.
pub async fn serve_worker(
    listener: tokio::net::TcpListener,
    database: PathBuf,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .with_state(Arc::new(database));
    axum::serve(listener, app).await
}

async fn metrics(State(db): State<Arc<PathBuf>>) -> impl IntoResponse {
    let rendered = tokio::task::spawn_blocking(move || -> Result<String, String> {
        if !db.exists() {
            return Ok(String::new());
        }
        let mut store = StateStore::open(&db).map_err(|e| e.to_string())?;
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
