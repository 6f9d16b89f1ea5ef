//! The embedder role: berth's built-in embedding model served over the OpenAI embeddings
//! API, for stacks that want it as its own container (the `berth-embedder` catalog entry)
//! rather than inside each worker and gateway.

use crate::ApiError;
use axum::extract::{State, rejection::JsonRejection};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use berth_models::Embedder;
use serde_json::{Value, json};
use std::sync::Arc;

/// Inputs per request, at most (OpenAI's own limit).
pub const MAX_INPUTS: usize = 2048;

struct Served {
    embedder: Arc<dyn Embedder>,
    name: String,
}

/// Serves `embedder` as the model `name` on `listener`: `POST /v1/embeddings`,
/// `GET /v1/models`, `GET /healthz` and `GET /readyz`.
pub async fn serve_embedder(
    listener: tokio::net::TcpListener,
    embedder: Arc<dyn Embedder>,
    name: String,
) -> std::io::Result<()> {
    let state = Arc::new(Served { embedder, name });
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(|| async { "ok\n" }))
        .route("/v1/models", get(models))
        .route("/v1/embeddings", post(embeddings))
        .with_state(state);
    axum::serve(listener, app).await
}

async fn models(State(s): State<Arc<Served>>) -> Json<Value> {
    Json(json!({
        "object": "list",
        "data": [{"id": s.name, "object": "model", "created": 0, "owned_by": "berth"}]
    }))
}

fn invalid(message: impl Into<String>, param: &'static str) -> ApiError {
    ApiError::InvalidRequest {
        message: message.into(),
        param: Some(param),
    }
}

/// The texts of an `input`: a string or an array of strings (token arrays are not
/// accepted: the tokenizer is the server's).
fn inputs(input: &Value) -> Result<Vec<String>, ApiError> {
    match input {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(invalid(
                    "`input` must be a string or an array of strings (token arrays are not supported)",
                    "input",
                )),
            })
            .collect(),
        Value::Array(_) => Err(invalid("`input` is empty", "input")),
        _ => Err(invalid("`input` must be a string or an array of strings", "input")),
    }
}

async fn embeddings(
    State(s): State<Arc<Served>>,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    match embed(s, body).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn embed(
    s: Arc<Served>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Value, ApiError> {
    let Json(body) = body.map_err(|e| invalid(format!("the body is not JSON: {e}"), "body"))?;
    let model = body["model"].as_str().unwrap_or_default();
    if model != s.name {
        return Err(ApiError::ModelNotFound(model.to_owned()));
    }
    let texts = inputs(&body["input"])?;
    if texts.len() > MAX_INPUTS {
        return Err(invalid(
            format!("{} inputs; at most {MAX_INPUTS} per request", texts.len()),
            "input",
        ));
    }
    let base64 = match body.get("encoding_format").and_then(Value::as_str) {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(invalid(
                format!("`encoding_format` `{other}` is not float or base64"),
                "encoding_format",
            ));
        }
    };
    if body.get("dimensions").is_some_and(|d| !d.is_null()) {
        return Err(invalid(
            "`dimensions` is not supported: the model's vectors have a fixed length",
            "dimensions",
        ));
    }
    let tokens: usize = texts
        .iter()
        .map(|t| crate::apps::text::estimate_tokens(t))
        .sum();
    let embedder = s.embedder.clone();
    let vectors = tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        embedder.embed(&refs)
    })
    .await
    .map_err(|_| ApiError::AppFailed("the embedding model failed".into()))?
    .map_err(|e| ApiError::AppFailed(format!("the embedding model failed: {e}")))?;
    let data: Vec<Value> = vectors
        .into_iter()
        .enumerate()
        .map(|(index, v)| {
            let embedding = if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    Ok(json!({
        "object": "list",
        "data": data,
        "model": s.name,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens}
    }))
}
