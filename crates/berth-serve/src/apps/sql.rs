//! `text2sql` apps: a question → validated read-only SQL written by the app's model
//! (through the gateway's routing) → rows, then a short answer that summarises them and
//! shows the SQL.

use super::App;
use super::assistant::{Answer, Event, Query, Timings, complete_once, deltas};
use crate::error::ApiError;
use crate::proxy::{Endpoint, Shared, call_model};
use berth_sql::{
    BoxFuture, DatabaseUrl, Descriptions, ModelError, Question, SqlModel, Text2Sql, Text2SqlConfig,
};
use futures_util::StreamExt;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{OnceCell, mpsc};

/// Rows shown in an answer's table (all rows are in the API's `rows`).
const SHOWN_ROWS: usize = 20;

/// A `text2sql` app's settings; the database is opened (introspected) at its first
/// question, so that a database that is down does not stop the gateway.
pub(crate) struct SqlApp {
    /// Where the database is.
    database: Source,
    /// Where relative SQLite paths start.
    base: PathBuf,
    config: Text2SqlConfig,
    descriptions: Option<Descriptions>,
    opened: OnceCell<Arc<Text2Sql>>,
}

impl std::fmt::Debug for SqlApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlApp")
            .field("max_rows", &self.config.max_rows)
            .finish_non_exhaustive()
    }
}

/// Where a text2sql app's database is: a URL as written in the stack (usually a secret
/// reference), or a component's connection record with its credentials as secret
/// references.
#[derive(Debug, Clone)]
enum Source {
    Url(String),
    Connection {
        /// `postgres://host:port/path`, without credentials.
        url: String,
        user: String,
        /// Secret reference of the password.
        password: Option<String>,
    },
}

impl Source {
    /// `database:` as written: a component of the stack providing `sql/postgres` (its
    /// connection record), else a URL.
    fn of(plan: &berth_stack::plan::Plan, written: &str) -> Source {
        let record = plan
            .connections
            .values()
            .find(|c| c.component == written && c.contract == "sql/postgres");
        match record {
            Some(c) => Source::Connection {
                url: c.url.clone(),
                user: c
                    .secrets
                    .get("user")
                    .cloned()
                    .unwrap_or_else(|| "postgres".into()),
                password: c.secrets.get("password").cloned(),
            },
            None => Source::Url(written.trim().to_string()),
        }
    }
}

/// The value of a secret reference (`${secret:NAME}`, from the environment), or the text
/// itself when it is not one.
fn resolve(text: &str, what: &str) -> Result<String, String> {
    match text
        .strip_prefix("${secret:")
        .and_then(|r| r.strip_suffix('}'))
    {
        Some(name) => {
            std::env::var(name).map_err(|_| format!("secret `{name}` ({what}) is not set"))
        }
        None => Ok(text.to_string()),
    }
}

/// Percent-encodes the characters a URL's user-info part cannot hold as they are.
fn userinfo(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl SqlApp {
    /// The app of a plan's `text2sql` entry; reads its prompt template and descriptions
    /// file (relative to `base`).
    pub(crate) fn new(
        plan: &berth_stack::plan::Plan,
        planned: &berth_stack::plan::PlannedApp,
        base: &Path,
    ) -> Result<SqlApp, String> {
        let mut resolved = planned.clone();
        resolved.prompt = planned
            .prompt
            .as_ref()
            .map(|p| base.join(p).display().to_string());
        let config = Text2SqlConfig::from_plan(&resolved).map_err(|e| e.to_string())?;
        let descriptions = match &planned.descriptions {
            Some(p) => Some(Descriptions::load(&base.join(p)).map_err(|e| e.to_string())?),
            None => None,
        };
        Ok(SqlApp {
            database: Source::of(plan, planned.database.as_deref().unwrap_or_default()),
            base: base.to_path_buf(),
            config,
            descriptions,
            opened: OnceCell::new(),
        })
    }

    /// The database URL with its secrets resolved from the environment, at the last
    /// moment.
    fn url(&self) -> Result<DatabaseUrl, String> {
        let text = match &self.database {
            Source::Url(written) => resolve(written, "the database URL")?,
            Source::Connection {
                url,
                user,
                password,
            } => {
                let user = userinfo(&resolve(user, "the database user")?);
                let credentials = match password {
                    Some(p) => {
                        format!("{user}:{}", userinfo(&resolve(p, "the database password")?))
                    }
                    None => user,
                };
                match url.split_once("://") {
                    Some((scheme, rest)) => format!("{scheme}://{credentials}@{rest}"),
                    None => url.clone(),
                }
            }
        };
        match DatabaseUrl::parse(&text).map_err(|e| e.to_string())? {
            DatabaseUrl::Sqlite { path } if path.is_relative() => Ok(DatabaseUrl::Sqlite {
                path: self.base.join(path),
            }),
            url => Ok(url),
        }
    }

    async fn open(&self) -> Result<Arc<Text2Sql>, ApiError> {
        self.opened
            .get_or_try_init(|| async {
                let url = self.url()?;
                Text2Sql::open(url, self.config.clone(), self.descriptions.as_ref(), None)
                    .await
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .await
            .cloned()
            .map_err(|e| ApiError::AppFailed(format!("the app's database: {e}")))
    }
}

/// The app's logical model as the SQL writer: one user message, temperature 0, through
/// the gateway's routing.
struct RoutedModel {
    shared: Arc<Shared>,
    model: String,
}

impl SqlModel for RoutedModel {
    fn complete(&self, prompt: String) -> BoxFuture<'_, Result<String, ModelError>> {
        Box::pin(async move {
            complete_once(&self.shared, &self.model, prompt, None)
                .await
                .map_err(|e| ModelError {
                    message: e.to_string(),
                })
        })
    }
}

/// Answers `query` with the text2sql `app`, sending its events on `tx`.
pub(crate) async fn run(
    shared: &Arc<Shared>,
    app: &App,
    query: Query,
    tx: &mpsc::Sender<Result<Event, ApiError>>,
) -> Result<(), ApiError> {
    let start = Instant::now();
    let sql_app = app
        .sql
        .as_ref()
        .ok_or_else(|| ApiError::AppFailed(format!("app `{}` is not a text2sql app", app.name)))?;
    let Some(model) = app.model.clone() else {
        return Err(ApiError::AppFailed(format!(
            "app `{}` has no model to write SQL with; set `model:` in the stack",
            app.name
        )));
    };
    let t2s = sql_app.open().await?;
    let writer = RoutedModel {
        shared: shared.clone(),
        model: model.clone(),
    };
    let question = Question {
        text: query.question.clone(),
        instructions: None,
    };
    let result = t2s.answer(&question, &writer, None).await.map_err(|e| {
        if matches!(e, berth_sql::Error::Exhausted { .. }) {
            ApiError::Unanswered(e.to_string())
        } else {
            ApiError::AppFailed(e.to_string())
        }
    })?;
    let retrieve_ms = start.elapsed().as_millis() as u64;

    // A sentence or two from the model about the rows, then the SQL and the table.
    let generate_start = Instant::now();
    let mut text = String::new();
    let mut first_token_ms = None;
    if result.rows.is_empty() {
        text.push_str("The query returned no rows.");
        let _ = tx.send(Ok(Event::Delta(text.clone()))).await;
    } else {
        let prompt = format!(
            "Question: {}\n\nThe SQL query\n{}\nreturned{}:\n{}\nAnswer the question in one or two sentences from these rows only, in the language of the question.",
            query.question,
            result.sql,
            if result.truncated {
                " (the first rows only)"
            } else {
                ""
            },
            table(&result.columns, &result.rows)
        );
        let mut body = Map::new();
        body.insert("model".into(), json!(model));
        body.insert(
            "messages".into(),
            json!([{"role": "user", "content": prompt}]),
        );
        body.insert("stream".into(), json!(true));
        // The rows are the answer; a failed summary only loses the sentence.
        if let Ok(response) = call_model(shared, Endpoint::ChatCompletions, body).await {
            let mut pieces = Box::pin(deltas(response));
            while let Some(Ok(piece)) = pieces.next().await {
                first_token_ms.get_or_insert(start.elapsed().as_millis() as u64);
                text.push_str(&piece);
                if tx.send(Ok(Event::Delta(piece))).await.is_err() {
                    return Ok(());
                }
            }
        }
    }
    let tail = format!(
        "\n\n```sql\n{}\n```\n\n{}{}",
        result.sql,
        table(&result.columns, &result.rows),
        if result.rows.len() > SHOWN_ROWS || result.truncated {
            format!(
                "\n({} rows{})",
                result.rows.len(),
                if result.truncated {
                    ", limit reached"
                } else {
                    ""
                }
            )
        } else {
            String::new()
        }
    );
    text.push_str(&tail);
    let _ = tx.send(Ok(Event::Delta(tail))).await;
    let answer = Answer {
        app: app.name.clone(),
        question: query.question.clone(),
        search_query: None,
        answer: text,
        mode: "sql",
        model: Some(model),
        citations: Vec::new(),
        chunks: Vec::new(),
        retrieval: None,
        warning: None,
        timings: Timings {
            retrieve_ms,
            first_token_ms,
            generate_ms: generate_start.elapsed().as_millis() as u64,
            total_ms: start.elapsed().as_millis() as u64,
        },
        sql: Some(result),
    };
    let _ = tx.send(Ok(Event::Done(Box::new(answer)))).await;
    Ok(())
}

/// The first rows as a Markdown table.
fn table(columns: &[String], rows: &[Vec<berth_sql::Value>]) -> String {
    let cell = |v: &berth_sql::Value| -> String {
        let text = match serde_json::to_value(v).unwrap_or(Value::Null) {
            Value::Null => "NULL".to_string(),
            Value::String(s) => s,
            other => other.to_string(),
        };
        text.replace('|', "\\|").replace('\n', " ")
    };
    let mut out = format!("| {} |\n", columns.join(" | "));
    out.push_str(&format!("|{}\n", "---|".repeat(columns.len().max(1))));
    for row in rows.iter().take(SHOWN_ROWS) {
        let cells: Vec<String> = row.iter().map(cell).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}
