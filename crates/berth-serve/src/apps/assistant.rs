//! One answer of a rag or chat app, as a stream of events: text deltas as they are
//! generated, then the whole answer with its citations.

use super::text::{
    best_sentences, cited_numbers, estimate_tokens, language_of, snippet, truncate_to_tokens,
};
use super::{App, CONTEXT_TOKENS, HISTORY_TOKENS};
use crate::error::ApiError;
use crate::proxy::{Endpoint, Shared, call_model};
use berth_index::Principal;
use berth_ingest::state::{ChunkView, Turn};
use berth_stack::stack::AppKind;
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;

/// The built-in prompt: the system message of every generated answer.
pub(crate) const DEFAULT_TEMPLATE: &str = r#"{% if system_prompt %}{{ system_prompt }}

{% endif %}{% if passages %}Answer the question using only the numbered passages below. After each statement, cite the passage it comes from as [n], for example [1] or [2][3]. If the passages do not contain the answer, say so plainly instead of guessing.
{% elif not system_prompt %}You are a helpful assistant.
{% endif %}{% if language %}Answer in {{ language }}.{% else %}Answer in the language the question is written in.{% endif %}
{% if passages %}
Passages:
{% for p in passages %}
[{{ p.n }}] {{ p.source }}
{{ p.text }}
{% endfor %}{% endif %}"#;

/// The prompt that turns a follow-up into a question that stands on its own, for retrieval.
const REWRITE_TEMPLATE: &str = "Rewrite the last question of this conversation so that it can be understood without the conversation. Keep its language. Answer with the rewritten question only.\n\n{% for t in history %}{{ t.role }}: {{ t.content }}\n{% endfor %}user: {{ question }}";

/// Label of extractive answers.
pub(crate) const EXTRACTS_LABEL: &str =
    "Extracts from the documents (no chat model is configured for this app):";

/// What is asked of an app.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    pub(crate) question: String,
    /// Earlier turns sent with the request (OpenAI `messages`); when empty and a session
    /// is named, the stored history of the session is used.
    pub(crate) history: Vec<Turn>,
    pub(crate) session: Option<String>,
    pub(crate) principal: Principal,
    /// Who the conversation belongs to (the key's user, else `anonymous`).
    pub(crate) owner: String,
    /// Generation options passed to the model (`temperature`, `max_tokens`, …).
    pub(crate) options: Map<String, Value>,
}

/// A passage an answer may cite.
#[derive(Debug, Clone, Serialize)]
pub struct Citation {
    /// Its number in the answer, `[n]`.
    pub n: usize,
    /// The chunk retrieved.
    pub chunk_id: String,
    /// Document id (`source/path`).
    pub document: String,
    /// Path of the document within its source.
    pub path: String,
    /// Document title, when it has one.
    pub title: Option<String>,
    /// Headings above the passage.
    pub heading: Vec<String>,
    /// First and last page, for paged documents.
    pub pages: Option<(i64, i64)>,
    /// The opening of the passage.
    pub snippet: String,
}

/// A retrieved chunk, as scored.
#[derive(Debug, Clone, Serialize)]
pub struct RetrievedChunk {
    /// Chunk id.
    pub chunk_id: String,
    /// Document id.
    pub document: String,
    /// Score in the ranking used.
    pub score: f32,
    /// Rank among keyword matches.
    pub bm25_rank: Option<usize>,
    /// Rank among vector matches.
    pub dense_rank: Option<usize>,
    /// Whether it made it into the prompt (budget and duplicates decide).
    pub used: bool,
    /// Its text.
    pub text: String,
}

/// Milliseconds spent.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    /// Rewriting the question and retrieving.
    pub retrieve_ms: u64,
    /// Until the first generated text.
    pub first_token_ms: Option<u64>,
    /// Generating.
    pub generate_ms: u64,
    /// Altogether.
    pub total_ms: u64,
}

/// A whole answer.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    /// The app.
    pub app: String,
    /// The question as asked.
    pub question: String,
    /// The question retrieval used (rewritten with the conversation), when it differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_query: Option<String>,
    /// The answer.
    pub answer: String,
    /// `generated` or `extractive`.
    pub mode: &'static str,
    /// The logical model that wrote it.
    pub model: Option<String>,
    /// The passages the answer cites (all passages given, when it cites none).
    pub citations: Vec<Citation>,
    /// Everything retrieved.
    pub chunks: Vec<RetrievedChunk>,
    /// The ranking used (`bm25`, `dense`, `hybrid`).
    pub retrieval: Option<&'static str>,
    /// Something to know about this answer (e.g. a fallback to keyword search).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// Where the time went.
    pub timings: Timings,
    /// The query, its rows and its attempts (text2sql apps).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql: Option<berth_sql::Answer>,
}

/// Events of one answer: deltas, then the whole answer (or an error).
pub(crate) enum Event {
    Delta(String),
    Done(Box<Answer>),
}

/// Starts answering `query` with `app`; the events arrive on the returned channel.
pub(crate) fn start(
    shared: Arc<Shared>,
    app: Arc<App>,
    query: Query,
) -> mpsc::Receiver<Result<Event, ApiError>> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let answered = if app.kind == AppKind::Text2sql {
            super::sql::run(&shared, &app, query, &tx).await
        } else {
            run(&shared, &app, query, &tx).await
        };
        if let Err(e) = answered {
            let _ = tx.send(Err(e)).await;
        }
    });
    rx
}

/// A passage placed in the prompt.
struct Passage {
    n: usize,
    view: ChunkView,
    text: String,
}

impl Passage {
    fn source(&self) -> String {
        let mut s = self.view.document.clone();
        if !self.view.heading.is_empty() {
            s.push_str(" › ");
            s.push_str(&self.view.heading.join(" › "));
        }
        if let Some((a, b)) = self.view.pages {
            s.push_str(&if a == b {
                format!(" (p. {a})")
            } else {
                format!(" (p. {a}–{b})")
            });
        }
        s
    }

    fn citation(&self) -> Citation {
        Citation {
            n: self.n,
            chunk_id: self.view.chunk_id.clone(),
            document: self.view.document.clone(),
            path: self.view.path.clone(),
            title: self.view.title.clone(),
            heading: self.view.heading.clone(),
            pages: self.view.pages,
            snippet: snippet(&self.view.text),
        }
    }
}

/// The newest turns that fit the history budget, oldest first.
fn trim_history(mut turns: Vec<Turn>) -> Vec<Turn> {
    let mut used = 0;
    let mut keep = 0;
    for turn in turns.iter().rev() {
        let cost = estimate_tokens(&turn.content) + 4;
        if used + cost > HISTORY_TOKENS {
            break;
        }
        used += cost;
        keep += 1;
    }
    turns.drain(..turns.len() - keep);
    turns
}

async fn run(
    shared: &Arc<Shared>,
    app: &App,
    query: Query,
    tx: &mpsc::Sender<Result<Event, ApiError>>,
) -> Result<(), ApiError> {
    let start = Instant::now();
    let history = if query.history.is_empty() {
        match &query.session {
            Some(session) => {
                // The store may be PostgreSQL's synchronous client: off the runtime.
                let apps = shared.apps.load_full();
                let (name, owner, session) =
                    (app.name.clone(), query.owner.clone(), session.clone());
                tokio::task::spawn_blocking(move || apps.history(&name, &owner, &session))
                    .await
                    .unwrap_or_default()
            }
            None => Vec::new(),
        }
    } else {
        query.history.clone()
    };
    let history = trim_history(history);

    // Retrieval, with the question made to stand on its own when there is a conversation.
    let mut search_query = None;
    let mut passages = Vec::new();
    let mut chunks = Vec::new();
    let mut retrieval = None;
    let mut warning = None;
    if let Some(knowledge) = &app.knowledge {
        let text = if history.is_empty() {
            query.question.clone()
        } else {
            let rewritten = match &app.model {
                Some(model) => rewrite(shared, model, &history, &query.question).await,
                None => None,
            };
            let text = rewritten.unwrap_or_else(|| {
                // Without a model: the previous question lends its terms.
                let last = history.iter().rev().find(|t| t.role == "user");
                last.map_or(query.question.clone(), |t| {
                    format!("{} {}", t.content, query.question)
                })
            });
            search_query = Some(text.clone());
            text
        };
        // A reranker sees more candidates than the app keeps.
        let k = if app.rerank.is_some() {
            (app.top_k * 3).clamp(app.top_k, RERANK_CANDIDATES)
        } else {
            app.top_k
        };
        let (knowledge, principal) = (knowledge.clone(), query.principal.clone());
        let found = tokio::task::spawn_blocking(move || {
            let retrieved = knowledge.search(&text, &principal, k, None)?;
            let ids: Vec<&str> = retrieved.hits.iter().map(|h| h.chunk_id.as_str()).collect();
            let views = knowledge.chunks(&ids)?;
            Ok::<_, berth_ingest::knowledge::KnowledgeError>((retrieved, views))
        })
        .await
        .map_err(|e| ApiError::AppFailed(format!("retrieval stopped: {e}")))?
        .map_err(|e| ApiError::AppFailed(e.to_string()))?;
        let (mut retrieved, views) = found;
        retrieval = Some(retrieved.mode.as_str());
        warning = retrieved.warning.take();
        if let Some(reranker) = &app.rerank {
            let texts: Vec<&str> = retrieved
                .hits
                .iter()
                .map(|h| {
                    views
                        .iter()
                        .find(|v| v.chunk_id == h.chunk_id)
                        .map_or(h.text.as_str(), |v| v.passage())
                })
                .collect();
            match rerank(
                shared,
                reranker,
                &text_for_rerank(&query, &search_query),
                &texts,
            )
            .await
            {
                Ok(order) => {
                    let mut slots: Vec<_> = std::mem::take(&mut retrieved.hits)
                        .into_iter()
                        .map(Some)
                        .collect();
                    retrieved.hits = order
                        .into_iter()
                        .filter_map(|(i, score)| {
                            let mut hit = slots.get_mut(i)?.take()?;
                            hit.score = score;
                            Some(hit)
                        })
                        .collect();
                    retrieval = Some("reranked");
                }
                Err(e) => {
                    warning = Some(format!("reranking failed ({e}); kept the retrieval order"));
                }
            }
            retrieved.hits.truncate(app.top_k);
        }
        // Parent passages shared by several hits, and repeated texts, go in once; the
        // budget takes passages in rank order, cutting the last one that does not fit.
        let mut seen = HashSet::new();
        let mut budget = CONTEXT_TOKENS;
        for hit in &retrieved.hits {
            let mut used = false;
            if let Some(view) = views.iter().find(|v| v.chunk_id == hit.chunk_id)
                && budget > 40
                && seen.insert(view.passage().trim().to_string())
            {
                let text = truncate_to_tokens(view.passage().trim(), budget - 20).to_string();
                budget = budget.saturating_sub(estimate_tokens(&text) + 20);
                passages.push(Passage {
                    n: passages.len() + 1,
                    view: view.clone(),
                    text,
                });
                used = true;
            }
            chunks.push(RetrievedChunk {
                chunk_id: hit.chunk_id.clone(),
                document: hit.document_id.clone(),
                score: hit.score,
                bm25_rank: hit.bm25_rank,
                dense_rank: hit.dense_rank,
                used,
                text: hit.text.clone(),
            });
        }
    }
    let retrieve_ms = start.elapsed().as_millis() as u64;

    let Some(model) = app.model.clone() else {
        if app.kind != AppKind::Rag {
            return Err(ApiError::AppFailed(format!(
                "app `{}` has no model to answer with; set `model:` in the stack",
                app.name
            )));
        }
        let answer = extractive(&query.question, &passages);
        let _ = tx.send(Ok(Event::Delta(answer.clone()))).await;
        let total = start.elapsed().as_millis() as u64;
        finish(
            shared,
            app,
            &query,
            tx,
            Answer {
                app: app.name.clone(),
                question: query.question.clone(),
                search_query,
                citations: passages.iter().map(Passage::citation).collect(),
                answer,
                mode: "extractive",
                model: None,
                chunks,
                retrieval,
                warning,
                timings: Timings {
                    retrieve_ms,
                    first_token_ms: Some(total),
                    generate_ms: 0,
                    total_ms: total,
                },
                sql: None,
            },
        )
        .await;
        return Ok(());
    };

    let system = render(app, &query.question, &passages)?;
    let mut messages = vec![json!({"role": "system", "content": system})];
    for turn in &history {
        messages.push(json!({"role": turn.role, "content": turn.content}));
    }
    messages.push(json!({"role": "user", "content": query.question}));
    let mut body = query.options.clone();
    body.insert("model".into(), json!(model));
    body.insert("messages".into(), Value::Array(messages));
    body.insert("stream".into(), json!(true));
    body.insert("stream_options".into(), json!({"include_usage": true}));

    let generate_start = Instant::now();
    let mut first_token_ms = None;
    let mut answer = String::new();
    let response = call_model(shared, Endpoint::ChatCompletions, body).await?;
    let mut deltas = Box::pin(deltas(response));
    while let Some(delta) = deltas.next().await {
        let delta = delta?;
        if delta.is_empty() {
            continue;
        }
        first_token_ms.get_or_insert(start.elapsed().as_millis() as u64);
        answer.push_str(&delta);
        if tx.send(Ok(Event::Delta(delta))).await.is_err() {
            return Ok(()); // the client left
        }
    }
    let cited = cited_numbers(&answer);
    let citations: Vec<Citation> = if cited.is_empty() {
        passages.iter().map(Passage::citation).collect()
    } else {
        passages
            .iter()
            .filter(|p| cited.contains(&p.n))
            .map(Passage::citation)
            .collect()
    };
    finish(
        shared,
        app,
        &query,
        tx,
        Answer {
            app: app.name.clone(),
            question: query.question.clone(),
            search_query,
            answer,
            mode: "generated",
            model: Some(model),
            citations,
            chunks,
            retrieval,
            warning,
            timings: Timings {
                retrieve_ms,
                first_token_ms,
                generate_ms: generate_start.elapsed().as_millis() as u64,
                total_ms: start.elapsed().as_millis() as u64,
            },
            sql: None,
        },
    )
    .await;
    Ok(())
}

/// Candidates retrieved for a reranker at most.
const RERANK_CANDIDATES: usize = 50;

fn text_for_rerank(query: &Query, search_query: &Option<String>) -> String {
    search_query
        .clone()
        .unwrap_or_else(|| query.question.clone())
}

/// Scores `texts` against `query` with a reranking model (the TEI `/rerank` API):
/// indexes into `texts` with their scores, best first.
async fn rerank(
    shared: &Arc<Shared>,
    model: &str,
    query: &str,
    texts: &[&str],
) -> Result<Vec<(usize, f32)>, String> {
    if texts.is_empty() {
        return Ok(Vec::new());
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert("query".into(), json!(query));
    body.insert("texts".into(), json!(texts));
    body.insert("truncate".into(), json!(true));
    let response = call_model(shared, Endpoint::Rerank, body)
        .await
        .map_err(|e| e.to_string())?;
    let bytes = axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024)
        .await
        .map_err(|e| e.to_string())?;
    let scores: Vec<Value> =
        serde_json::from_slice(&bytes).map_err(|e| format!("not a rerank answer: {e}"))?;
    let mut order = Vec::with_capacity(scores.len());
    for s in scores {
        let index = s["index"].as_u64().ok_or("a rerank result has no index")? as usize;
        let score = s["score"].as_f64().ok_or("a rerank result has no score")? as f32;
        if index >= texts.len() {
            return Err(format!("rerank index {index} out of range"));
        }
        order.push((index, score));
    }
    order.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(order)
}

/// Stores the turn when the conversation has a session, then sends the whole answer.
async fn finish(
    shared: &Arc<Shared>,
    app: &App,
    query: &Query,
    tx: &mpsc::Sender<Result<Event, ApiError>>,
    answer: Answer,
) {
    if let Some(session) = &query.session {
        let turns = [
            Turn {
                role: "user".into(),
                content: query.question.clone(),
            },
            Turn {
                role: "assistant".into(),
                content: answer.answer.clone(),
            },
        ];
        let apps = shared.apps.load_full();
        let (name, owner, session) = (app.name.clone(), query.owner.clone(), session.clone());
        let _ = tokio::task::spawn_blocking(move || apps.remember(&name, &owner, &session, &turns))
            .await;
    }
    let _ = tx.send(Ok(Event::Done(Box::new(answer)))).await;
}

/// The system message: the app's template (or the built-in one) over the passages.
fn render(app: &App, question: &str, passages: &[Passage]) -> Result<String, ApiError> {
    let mut env = minijinja::Environment::new();
    env.set_trim_blocks(false);
    let source = app.template.as_deref().unwrap_or(DEFAULT_TEMPLATE);
    env.add_template("prompt", source)
        .map_err(|e| ApiError::AppFailed(format!("app `{}`: prompt template: {e}", app.name)))?;
    let passages: Vec<Value> = passages
        .iter()
        .map(|p| {
            json!({
                "n": p.n,
                "source": p.source(),
                "document": p.view.document,
                "title": p.view.title,
                "heading": p.view.heading.join(" › "),
                "pages": p.view.pages.map(|(a, b)| if a == b { a.to_string() } else { format!("{a}–{b}") }),
                "text": p.text,
            })
        })
        .collect();
    let template = env
        .get_template("prompt")
        .map_err(|e| ApiError::AppFailed(e.to_string()))?;
    template
        .render(minijinja::context! {
            app => app.name,
            question => question,
            language => language_of(question),
            system_prompt => app.system_prompt,
            passages => passages,
        })
        .map_err(|e| ApiError::AppFailed(format!("app `{}`: prompt template: {e}", app.name)))
}

/// The extractive answer: the best sentences of the best passages, each cited.
fn extractive(question: &str, passages: &[Passage]) -> String {
    if passages.is_empty() {
        return format!(
            "{EXTRACTS_LABEL}\n\nNothing in the documents you may read matches this question."
        );
    }
    let mut out = String::from(EXTRACTS_LABEL);
    for p in passages.iter().take(3) {
        out.push_str(&format!(
            "\n\n[{}] {}\n— {}",
            p.n,
            best_sentences(&p.text, question, &p.view.heading, 2),
            p.source()
        ));
    }
    out
}

/// Asks the model for a standalone version of a follow-up question; `None` on failure.
async fn rewrite(
    shared: &Arc<Shared>,
    model: &str,
    history: &[Turn],
    question: &str,
) -> Option<String> {
    let mut env = minijinja::Environment::new();
    env.add_template("rewrite", REWRITE_TEMPLATE).ok()?;
    let prompt = env
        .get_template("rewrite")
        .ok()?
        .render(minijinja::context! { history => history, question => question })
        .ok()?;
    let text = complete_once(shared, model, prompt, Some(128)).await.ok()?;
    let text = text.trim();
    (!text.is_empty() && text.len() < 2000).then(|| text.to_string())
}

/// One completion of `prompt` (a single user message, temperature 0) by the logical
/// `model`, through the gateway's routing, as one text.
pub(crate) async fn complete_once(
    shared: &Arc<Shared>,
    model: &str,
    prompt: String,
    max_tokens: Option<u32>,
) -> Result<String, ApiError> {
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert(
        "messages".into(),
        json!([{"role": "user", "content": prompt}]),
    );
    if let Some(n) = max_tokens {
        body.insert("max_tokens".into(), json!(n));
    }
    body.insert("temperature".into(), json!(0));
    let response = call_model(shared, Endpoint::ChatCompletions, body).await?;
    let mut text = String::new();
    let mut pieces = Box::pin(deltas(response));
    while let Some(piece) = pieces.next().await {
        text.push_str(&piece?);
    }
    Ok(text)
}

/// The generated text of a chat completion answer, whole (JSON) or streamed (SSE), as a
/// stream of pieces; an error event or a broken stream ends it with an error.
pub(crate) fn deltas(
    response: axum::response::Response,
) -> impl futures_util::Stream<Item = Result<String, ApiError>> {
    let is_sse = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let body = response.into_body().into_data_stream();
    async_stream(body, is_sse)
}

fn async_stream(
    body: axum::body::BodyDataStream,
    is_sse: bool,
) -> impl futures_util::Stream<Item = Result<String, ApiError>> {
    struct St {
        body: axum::body::BodyDataStream,
        buf: Vec<u8>,
        is_sse: bool,
        done: bool,
        pending: std::collections::VecDeque<Result<String, ApiError>>,
    }
    let st = St {
        body,
        buf: Vec::new(),
        is_sse,
        done: false,
        pending: Default::default(),
    };
    futures_util::stream::unfold(st, |mut st| async move {
        loop {
            if let Some(item) = st.pending.pop_front() {
                return Some((item, st));
            }
            if st.done {
                return None;
            }
            match st.body.next().await {
                Some(Ok(bytes)) => {
                    st.buf.extend_from_slice(&bytes);
                    if st.is_sse {
                        while let Some(end) = st.buf.iter().position(|&b| b == b'\n') {
                            let line: Vec<u8> = st.buf.drain(..=end).collect();
                            let line = String::from_utf8_lossy(&line);
                            let Some(data) = line.trim().strip_prefix("data:") else {
                                continue;
                            };
                            let data = data.trim();
                            if data == "[DONE]" {
                                st.done = true;
                                break;
                            }
                            let Ok(event) = serde_json::from_str::<Value>(data) else {
                                continue;
                            };
                            if let Some(error) = event.get("error") {
                                let message = error["message"]
                                    .as_str()
                                    .unwrap_or("the model's stream failed")
                                    .to_string();
                                st.pending.push_back(Err(ApiError::AppFailed(format!(
                                    "model: {message}"
                                ))));
                                st.done = true;
                                break;
                            }
                            if let Some(piece) = event["choices"][0]["delta"]["content"].as_str() {
                                st.pending.push_back(Ok(piece.to_string()));
                            }
                        }
                    }
                }
                Some(Err(e)) => {
                    st.pending.push_back(Err(ApiError::AppFailed(format!(
                        "model: the answer broke off: {e}"
                    ))));
                    st.done = true;
                }
                None => {
                    st.done = true;
                    if !st.is_sse {
                        let whole = serde_json::from_slice::<Value>(&st.buf).ok().and_then(|v| {
                            v["choices"][0]["message"]["content"]
                                .as_str()
                                .map(str::to_string)
                        });
                        st.pending.push_back(whole.ok_or_else(|| {
                            ApiError::AppFailed(
                                "model: the answer was not a chat completion".into(),
                            )
                        }));
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(role: &str, content: &str) -> Turn {
        Turn {
            role: role.into(),
            content: content.into(),
        }
    }

    #[test]
    fn history_keeps_the_newest_turns_within_budget() {
        let long = "word ".repeat(HISTORY_TOKENS / 2);
        let turns = vec![
            turn("user", &long),
            turn("assistant", &long),
            turn("user", "recent question"),
            turn("assistant", "recent answer"),
        ];
        let kept = trim_history(turns);
        assert_eq!(kept.len(), 3);
        assert_eq!(kept[2].content, "recent answer");
        let total: usize = kept.iter().map(|t| estimate_tokens(&t.content) + 4).sum();
        assert!(total <= HISTORY_TOKENS);
    }

    #[test]
    fn the_default_template_lists_passages_and_the_language() {
        let app = App {
            name: "ask".into(),
            kind: AppKind::Rag,
            model: Some("chat".into()),
            pipeline: None,
            knowledge: None,
            rerank: None,
            sql: None,
            top_k: 3,
            system_prompt: None,
            template: None,
        };
        let view = ChunkView {
            chunk_id: "c1".into(),
            pipeline: "p".into(),
            document: "docs/a.md".into(),
            path: "a.md".into(),
            title: None,
            heading: vec!["Ports".into()],
            pages: Some((3, 4)),
            ordinal: 0,
            text: "Ports are chosen freely.".into(),
            context: None,
            acl_users: vec![],
            acl_groups: vec![],
        };
        let passages = [Passage {
            n: 1,
            text: view.text.clone(),
            view,
        }];
        let prompt = render(&app, "端口怎么选？", &passages).unwrap();
        assert!(prompt.contains("[1] docs/a.md › Ports (p. 3–4)\nPorts are chosen freely."));
        assert!(prompt.contains("Answer in Chinese."));
        let none = render(&app, "How?", &[]).unwrap();
        assert!(none.contains("You are a helpful assistant."), "{none}");
        assert!(none.contains("language the question is written in"));
    }
}
