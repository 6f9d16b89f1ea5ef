//! The apps over HTTP: `GET /v1/apps`, `POST /v1/apps/{name}/query`, the apps as models
//! on `/v1/chat/completions` (`model: "app/NAME"`, streaming included) and
//! `GET /v1/chunks/{id}` for citations.

use super::App;
use super::assistant::{self, Answer, Event, Query};
use crate::auth::Tokens;
use crate::error::ApiError;
use crate::keys::KeyRecord;
use crate::proxy::{Shared, authenticate, event_stream};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use berth_index::Principal;
use berth_ingest::state::Turn;
use bytes::Bytes;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The prefix that names an app as a model.
pub(crate) const APP_MODEL_PREFIX: &str = "app/";

/// Generation options a client may set for an app's model.
const PASSED_OPTIONS: &[&str] = &[
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
];

fn principal(key: Option<&KeyRecord>) -> (Principal, String) {
    match key {
        Some(k) => (
            Principal {
                user: Some(k.user.clone()),
                groups: k.groups.clone(),
            },
            k.user.clone(),
        ),
        None => (Principal::default(), "anonymous".into()),
    }
}

/// Authenticates, finds the app and checks the key may use it and is within its limits.
async fn admit(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    name: &str,
) -> Result<(Arc<App>, Option<KeyRecord>), ApiError> {
    let key = authenticate(shared, headers).await?;
    let model = format!("{APP_MODEL_PREFIX}{name}");
    if let Some(k) = &key
        && !k.allows(&model)
    {
        return Err(ApiError::ModelNotAllowed(model));
    }
    let app = shared.apps.load().get(name)?;
    if let (Some(auth), Some(k)) = (&shared.auth, &key) {
        auth.admit(k)?;
    }
    Ok((app, key))
}

/// Records an app request in the metrics and, with a key, its usage.
fn account(
    shared: &Shared,
    key: Option<&KeyRecord>,
    name: &str,
    prompt: &str,
    answer: Option<&str>,
    status: u16,
    start: Instant,
) {
    let model = format!("{APP_MODEL_PREFIX}{name}");
    shared
        .metrics
        .request(&model, "app", status, start.elapsed());
    if let (Some(auth), Some(k)) = (&shared.auth, key) {
        let tokens = Tokens {
            prompt: (prompt.len() as u64).div_ceil(4),
            completion: answer.map_or(0, |a| (a.len() as u64).div_ceil(4)),
        };
        auth.record(k.id, &model, tokens, status >= 400);
    }
}

/// `GET /v1/apps`: the apps the caller may use.
pub(crate) async fn list(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let key = match authenticate(&shared, &headers).await {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    let apps = shared.apps.load();
    let data: Vec<Value> = apps
        .apps
        .values()
        .filter(|a| {
            key.as_ref()
                .is_none_or(|k| k.allows(&format!("{APP_MODEL_PREFIX}{}", a.name)))
        })
        .map(|a| {
            json!({
                "name": a.name,
                "kind": a.kind,
                "model": a.model,
                "pipeline": a.pipeline,
                "mode": match (a.kind, &a.model) {
                    (berth_stack::stack::AppKind::Text2sql, _) => "sql",
                    (_, Some(_)) => "generated",
                    (_, None) => "extractive",
                },
            })
        })
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

fn session_header(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-berth-session")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.len() <= 200)
        .map(str::to_owned)
}

/// Collects the events of one answer into the whole answer.
async fn collect(
    mut events: tokio::sync::mpsc::Receiver<Result<Event, ApiError>>,
) -> Result<Answer, ApiError> {
    while let Some(event) = events.recv().await {
        match event? {
            Event::Delta(_) => {}
            Event::Done(answer) => return Ok(*answer),
        }
    }
    Err(ApiError::AppFailed(
        "the app stopped without an answer".into(),
    ))
}

/// `POST /v1/apps/{name}/query` with `{"question", "history"?, "session"?}`: the whole
/// answer with citations, retrieved chunks and timings.
pub(crate) async fn query(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let start = Instant::now();
    let (app, key) = match admit(&shared, &headers, &name).await {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let result = async {
        let body: Map<String, Value> = match serde_json::from_slice(&body) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err(invalid("The request body must be a JSON object.", None)),
            Err(e) => return Err(invalid(format!("Malformed JSON body: {e}"), None)),
        };
        let question = match body.get("question") {
            Some(Value::String(q)) if !q.trim().is_empty() => q.trim().to_string(),
            _ => {
                return Err(invalid(
                    "`question` must be a non-empty string.",
                    Some("question"),
                ));
            }
        };
        let history = match body.get("history") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => turns(v).ok_or_else(|| {
                invalid(
                    "`history` must be a list of {\"role\": \"user\"|\"assistant\", \"content\": string}.",
                    Some("history"),
                )
            })?,
        };
        let session = match body.get("session") {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => session_header(&headers),
        };
        let (principal, owner) = principal(key.as_ref());
        let events = assistant::start(
            shared.clone(),
            app.clone(),
            Query {
                question,
                history,
                session,
                principal,
                owner,
                options: Map::new(),
            },
        );
        collect(events).await
    }
    .await;
    match result {
        Ok(answer) => {
            account(
                &shared,
                key.as_ref(),
                &name,
                &answer.question,
                Some(&answer.answer),
                200,
                start,
            );
            match &answer.sql {
                // A text2sql answer: the query, its columns, rows and attempts at the top.
                Some(sql) => {
                    let mut v = serde_json::to_value(sql).unwrap_or_default();
                    v["app"] = json!(answer.app);
                    v["answer"] = json!(answer.answer);
                    v["model"] = json!(answer.model);
                    v["mode"] = json!(answer.mode);
                    axum::Json(v).into_response()
                }
                None => axum::Json(answer).into_response(),
            }
        }
        Err(e) => {
            account(
                &shared,
                key.as_ref(),
                &name,
                "",
                None,
                e.status().as_u16(),
                start,
            );
            e.into_response()
        }
    }
}

fn invalid(message: impl Into<String>, param: Option<&'static str>) -> ApiError {
    ApiError::InvalidRequest {
        message: message.into(),
        param,
    }
}

/// The text of a message `content`: a string, or the text parts of a list.
fn content_text(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        _ => None,
    }
}

/// User and assistant turns of a message list (other roles are left out); `None` when
/// the list is malformed.
fn turns(v: &Value) -> Option<Vec<Turn>> {
    let mut out = Vec::new();
    for m in v.as_array()? {
        let role = m.get("role")?.as_str()?;
        let content = content_text(m.get("content").unwrap_or(&Value::Null)).unwrap_or_default();
        if role == "user" || role == "assistant" {
            out.push(Turn {
                role: role.to_string(),
                content,
            });
        }
    }
    Some(out)
}

/// Whether a chat completions body names an app; cheap enough for every request.
pub(crate) fn names_app(raw: &[u8]) -> bool {
    raw.windows(5).any(|w| w == b"\"app/")
}

/// `POST /v1/chat/completions` for `model: "app/NAME"`: the last user message is the
/// question, earlier turns the conversation (or the stored session's, when the request
/// carries only the question and names a session with `X-Berth-Session`).
pub(crate) async fn chat_completions(
    shared: Arc<Shared>,
    headers: HeaderMap,
    body: Map<String, Value>,
    app_name: String,
) -> Response {
    let start = Instant::now();
    let (app, key) = match admit(&shared, &headers, &app_name).await {
        Ok(x) => x,
        Err(e) => {
            account(
                &shared,
                None,
                &app_name,
                "",
                None,
                e.status().as_u16(),
                start,
            );
            return e.into_response();
        }
    };
    let Some(mut history) = body.get("messages").and_then(turns) else {
        let e = invalid("`messages` must be a list of messages.", Some("messages"));
        return e.into_response();
    };
    let question = match history.pop() {
        Some(t) if t.role == "user" && !t.content.trim().is_empty() => t.content,
        _ => {
            return invalid(
                "The last message must be a non-empty user message (the question).",
                Some("messages"),
            )
            .into_response();
        }
    };
    let options: Map<String, Value> = body
        .iter()
        .filter(|(k, _)| PASSED_OPTIONS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let stream = body.get("stream") == Some(&Value::Bool(true));
    let include_usage = body
        .get("stream_options")
        .is_some_and(|o| o["include_usage"] == Value::Bool(true));
    let (principal, owner) = principal(key.as_ref());
    let model_name = format!("{APP_MODEL_PREFIX}{app_name}");
    let events = assistant::start(
        shared.clone(),
        app,
        Query {
            question: question.clone(),
            history,
            session: session_header(&headers),
            principal,
            owner,
            options,
        },
    );
    let id = format!(
        "chatcmpl-berth-{:x}",
        start.elapsed().as_nanos() ^ now_secs() as u128
    );
    if !stream {
        return match collect(events).await {
            Ok(answer) => {
                account(
                    &shared,
                    key.as_ref(),
                    &app_name,
                    &question,
                    Some(&answer.answer),
                    200,
                    start,
                );
                let usage = usage(&question, &answer.answer);
                axum::Json(json!({
                    "id": id,
                    "object": "chat.completion",
                    "created": now_secs(),
                    "model": model_name,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.answer}, "finish_reason": "stop"}],
                    "usage": usage,
                    "berth": extras(&answer),
                }))
                .into_response()
            }
            Err(e) => {
                account(
                    &shared,
                    key.as_ref(),
                    &app_name,
                    &question,
                    None,
                    e.status().as_u16(),
                    start,
                );
                e.into_response()
            }
        };
    }
    // Streaming: the first event decides the status (an app that fails before writing
    // anything answers with an error status, as an upstream would).
    let mut events = events;
    let first = events.recv().await;
    let first = match first {
        Some(Err(e)) => {
            account(
                &shared,
                key.as_ref(),
                &app_name,
                &question,
                None,
                e.status().as_u16(),
                start,
            );
            return e.into_response();
        }
        None => {
            return ApiError::AppFailed("the app stopped without an answer".into()).into_response();
        }
        Some(Ok(event)) => event,
    };
    let chunk = {
        let id = id.clone();
        let model = model_name.clone();
        move |delta: Value, finish: Value| {
            json!({"id": id, "object": "chat.completion.chunk", "created": now_secs(), "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        }
    };
    let sse = |v: &Value| Bytes::from(format!("data: {v}\n\n"));
    let opening = sse(&chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    ));
    let state = (
        Some(first),
        events,
        false,
        shared.clone(),
        key,
        app_name.clone(),
        question,
        start,
    );
    let stream = futures_util::stream::unfold((Some(opening), state), move |(opening, mut st)| {
        let chunk = chunk.clone();
        async move {
            if let Some(o) = opening {
                return Some((Ok::<_, std::convert::Infallible>(o), (None, st)));
            }
            let (pending, events, finished, shared, key, app_name, question, start) = &mut st;
            if *finished {
                return None;
            }
            let event = match pending.take() {
                Some(e) => Some(Ok(e)),
                None => events.recv().await,
            };
            let bytes = match event {
                Some(Ok(Event::Delta(text))) => sse(&chunk(json!({"content": text}), Value::Null)),
                Some(Ok(Event::Done(answer))) => {
                    *finished = true;
                    account(
                        shared,
                        key.as_ref(),
                        app_name,
                        question,
                        Some(&answer.answer),
                        200,
                        *start,
                    );
                    let mut last = chunk(json!({}), json!("stop"));
                    last["berth"] = extras(&answer);
                    let mut out = format!("data: {last}\n\n");
                    if include_usage {
                        let mut u = chunk(json!({}), Value::Null);
                        u["choices"] = json!([]);
                        u["usage"] = usage(question, &answer.answer);
                        out.push_str(&format!("data: {u}\n\n"));
                    }
                    out.push_str("data: [DONE]\n\n");
                    Bytes::from(out)
                }
                Some(Err(e)) => {
                    *finished = true;
                    account(
                        shared,
                        key.as_ref(),
                        app_name,
                        question,
                        None,
                        e.status().as_u16(),
                        *start,
                    );
                    Bytes::from(format!(
                        "data: {}\n\ndata: [DONE]\n\n",
                        json!({"error": e.object()})
                    ))
                }
                None => {
                    *finished = true;
                    let e = ApiError::AppFailed("the app stopped without an answer".into());
                    Bytes::from(format!(
                        "data: {}\n\ndata: [DONE]\n\n",
                        json!({"error": e.object()})
                    ))
                }
            };
            Some((Ok(bytes), (None, st)))
        }
    });
    event_stream(stream)
}

/// berth's additions to a completion: citations and how the answer was made.
fn extras(answer: &Answer) -> Value {
    let mut v = json!({
        "app": answer.app,
        "mode": answer.mode,
        "citations": answer.citations,
        "retrieval": answer.retrieval,
        "timings": answer.timings,
        "warning": answer.warning,
    });
    if let Some(sql) = &answer.sql {
        v["sql"] = json!(sql.sql);
        v["columns"] = json!(sql.columns);
        v["rows"] = json!(sql.rows);
        v["truncated"] = json!(sql.truncated);
        v["attempts"] = json!(sql.attempts);
    }
    v
}

fn usage(question: &str, answer: &str) -> Value {
    let prompt = super::text::estimate_tokens(question);
    let completion = super::text::estimate_tokens(answer);
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `GET /v1/chunks/{id}`: a passage, for a citation, if the caller may read it.
pub(crate) async fn chunk(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let key = match authenticate(&shared, &headers).await {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    let (principal, _) = principal(key.as_ref());
    let apps = shared.apps.load_full();
    let found = tokio::task::spawn_blocking(move || apps.with_store(|s| s.chunk(&id))).await;
    let not_found = || ApiError::NotFound("No such passage".into()).into_response();
    match found {
        Ok(Some(Ok(Some(view)))) => {
            let acl = berth_index::Acl {
                users: view.acl_users.clone(),
                groups: view.acl_groups.clone(),
            };
            // Passages the caller may not read do not exist for it.
            if !principal.can_see(&acl) {
                return not_found();
            }
            axum::Json(json!({
                "chunk_id": view.chunk_id,
                "pipeline": view.pipeline,
                "document": view.document,
                "path": view.path,
                "title": view.title,
                "heading": view.heading,
                "pages": view.pages,
                "text": view.passage(),
            }))
            .into_response()
        }
        Ok(Some(Ok(None))) | Ok(None) => not_found(),
        Ok(Some(Err(e))) => ApiError::AppFailed(e.to_string()).into_response(),
        Err(e) => ApiError::AppFailed(e.to_string()).into_response(),
    }
}
