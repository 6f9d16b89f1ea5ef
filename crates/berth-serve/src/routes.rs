//! The HTTP surface: thin handlers over [`crate::proxy`].

use crate::apps::http as apps;
use crate::proxy::{Endpoint, Shared, authenticate, dispatch};
use crate::ui;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::json;
use std::sync::Arc;

/// Largest accepted request body (images in chat requests can be large).
const BODY_LIMIT: usize = 32 * 1024 * 1024;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    // The work that holds upstream connections and memory is bounded: past the limit, new
    // requests are shed with 503 instead of queueing without end.
    let bounded = Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/apps/{name}/query", post(apps::query))
        .layer(axum::middleware::from_fn_with_state(shared.clone(), admit));
    Router::new()
        .merge(bounded)
        .route("/v1/models", get(models))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/apps", get(apps::list))
        .route("/v1/chunks/{id}", get(apps::chunk))
        .route("/", get(ui::root))
        .route("/ui/", get(ui::index))
        .route("/ui/{asset}", get(ui::asset))
        .route("/api/stack", get(ui::stack))
        .route("/api/ingest", get(ui::ingest))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .with_state(shared)
}

/// Takes one of the gateway's in-flight permits for the request, holding it until the
/// answer is complete (for a stream, until its last event or the client leaving).
async fn admit(
    State(shared): State<Arc<Shared>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Ok(permit) = shared.in_flight.clone().try_acquire_owned() else {
        shared
            .metrics
            .request("-", "none", 503, std::time::Duration::ZERO);
        return crate::ApiError::Overloaded.into_response();
    };
    let response = next.run(request).await;
    let streaming = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if !streaming {
        return response;
    }
    let (parts, body) = response.into_parts();
    let events = futures_util::stream::unfold(
        (body.into_data_stream(), permit),
        |(mut events, permit)| async move {
            use futures_util::StreamExt as _;
            events.next().await.map(|item| (item, (events, permit)))
        },
    );
    Response::from_parts(parts, axum::body::Body::from_stream(events))
}

async fn chat_completions(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Apps are models too: `model: "app/NAME"`. The byte check keeps routed requests from
    // being parsed twice.
    if apps::names_app(&body)
        && let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(&body)
        && let Some(name) = map
            .get("model")
            .and_then(|m| m.as_str())
            .and_then(|m| m.strip_prefix(apps::APP_MODEL_PREFIX))
    {
        let name = name.to_owned();
        return apps::chat_completions(shared, headers, map, name).await;
    }
    dispatch(shared, Endpoint::ChatCompletions, headers, body).await
}

async fn embeddings(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    dispatch(shared, Endpoint::Embeddings, headers, body).await
}

/// The models the caller's key may use (all when the gateway is open).
async fn models(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let key = match authenticate(&shared, &headers).await {
        Ok(key) => key,
        Err(error) => return error.into_response(),
    };
    let live = shared.live.load();
    let data: Vec<_> = live
        .config
        .models
        .keys()
        .filter(|id| key.as_ref().is_none_or(|k| k.allows(id)))
        .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "berth"}))
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

async fn healthz() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

/// Ready when there is something to serve: a model or an app (an app without a model
/// answers with extracts).
async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    if shared.live.load().config.models.is_empty() && shared.apps.load().names().is_empty() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "no models or apps configured"})),
        )
            .into_response()
    } else {
        axum::Json(json!({"status": "ready"})).into_response()
    }
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        shared.metrics.render(),
    )
        .into_response()
}

/// A handler that panicked answers a 500 in the OpenAI shape instead of dropping the
/// connection; the panic message stays in the server's log.
fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    crate::ApiError::AppFailed("berth failed while answering this request".into()).into_response()
}
