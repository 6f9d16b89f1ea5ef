//! The Text2SQL app: link, prompt, generate, validate, execute, repair.

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use berth_models::Embedder;
use berth_stack::plan::PlannedApp;
use serde::Serialize;

use crate::answer::{Answer, Attempt, Timings};
use crate::error::{Error, RejectClass};
use crate::exec::{Database, ExecOptions};
use crate::link::{LinkOptions, Linked, SchemaIndex};
use crate::schema::{Descriptions, SampleOptions, Schema};
use crate::url::DatabaseUrl;
use crate::validate::{Policy, validate};

/// A boxed future, so that [`SqlModel`] can be used as `dyn SqlModel`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The app's model, as this crate needs it: a prompt in, the completion text out.
///
/// The gateway implements it over its routed chat model (one user message, temperature 0
/// recommended); tests implement it with a scripted queue of answers. It is object-safe
/// (`&dyn SqlModel`), hence the boxed future.
pub trait SqlModel: Send + Sync {
    /// Completes `prompt`. An error here is not repaired: it ends the request.
    fn complete(&self, prompt: String) -> BoxFuture<'_, Result<String, ModelError>>;
}

/// The model could not answer (transport, HTTP status, empty choice).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ModelError {
    /// Why.
    pub message: String,
}

/// A question and, optionally, extra instructions for the model (business rules,
/// conventions). Both are used for linking and both go into the prompt.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Question {
    /// The question.
    pub text: String,
    /// Extra instructions.
    pub instructions: Option<String>,
}

impl From<&str> for Question {
    fn from(text: &str) -> Question {
        Question {
            text: text.to_string(),
            instructions: None,
        }
    }
}

/// The app's settings. [`Text2SqlConfig::from_plan`] reads those a stack file sets.
#[derive(Debug, Clone)]
pub struct Text2SqlConfig {
    /// Rows returned at most (the injected limit). Stack key `max_rows`; default 100.
    pub max_rows: u64,
    /// Repairs after the first attempt (so at most `1 + max_repairs` model calls).
    /// Default 2.
    pub max_repairs: usize,
    /// Execution limits and identity (`max_rows` is overwritten by the field above).
    pub exec: ExecOptions,
    /// Sample values per column read at introspection.
    pub samples: SampleOptions,
    /// Schema linking.
    pub link: LinkOptions,
    /// A minijinja template replacing the built-in prompt (see [`DEFAULT_PROMPT`] for the
    /// variables). Stack key `prompt` names a file holding it.
    pub prompt_template: Option<String>,
    /// Functions to accept although a rule refuses them.
    pub allowed_functions: Vec<String>,
}

impl Default for Text2SqlConfig {
    fn default() -> Text2SqlConfig {
        Text2SqlConfig {
            max_rows: 100,
            max_repairs: 2,
            exec: ExecOptions::default(),
            samples: SampleOptions::default(),
            link: LinkOptions::default(),
            prompt_template: None,
            allowed_functions: Vec::new(),
        }
    }
}

impl Text2SqlConfig {
    /// The settings a planned `text2sql` app states: `max_rows`; and the prompt template
    /// read from the `prompt` file, if set. (The database URL and the descriptions file are
    /// the caller's: the URL needs its secret resolved.)
    pub fn from_plan(app: &PlannedApp) -> Result<Text2SqlConfig, Error> {
        let mut c = Text2SqlConfig::default();
        if let Some(m) = app.max_rows {
            c.max_rows = u64::from(m.max(1));
        }
        if let Some(p) = &app.prompt {
            let path = std::path::Path::new(p);
            c.prompt_template =
                Some(std::fs::read_to_string(path).map_err(|source| Error::Io {
                    path: path.to_path_buf(),
                    source,
                })?);
        }
        Ok(c)
    }
}

/// The built-in prompt. Variables: `dialect` (`SQLite` / `PostgreSQL`), `schema` (DDL
/// text), `notes`, `question`, `instructions`, `max_rows`, and for repairs `attempt` (2,
/// 3, …), `previous_sql` and `error`.
pub const DEFAULT_PROMPT: &str = r#"You translate a question into one {{ dialect }} SQL query.
Use only the tables and columns below. Write exactly one read-only SELECT statement (WITH … SELECT is fine); never modify data or the schema. At most {{ max_rows }} rows are returned.
{% if dialect == "PostgreSQL" %}PostgreSQL notes: compare text case-insensitively with ILIKE or LOWER(); use date_trunc, EXTRACT, INTERVAL and CURRENT_DATE for dates; cast with ::type; use NULLS LAST when ordering descending.
{% else %}SQLite notes: there is no ILIKE (use LOWER(x) LIKE LOWER(y)); dates are text, use date(), strftime() and julianday() with 'now'; CAST(x AS REAL) before dividing integers; concatenate with ||.
{% endif %}
Schema:
{{ schema }}
{% if notes %}Notes:
{{ notes }}

{% endif %}Question: {{ question }}
{% if instructions %}Instructions: {{ instructions }}
{% endif %}{% if error %}
Attempt {{ attempt - 1 }} failed. The query was:
```sql
{{ previous_sql }}
```
The error was: {{ error }}
Write a corrected query.
{% endif %}
Answer with the SQL in one ```sql block and nothing else."#;

/// A ready app: the database, its schema (with descriptions), the linking index and the
/// prompt template.
pub struct Text2Sql {
    db: Database,
    schema: Schema,
    index: SchemaIndex,
    config: Text2SqlConfig,
    env: minijinja::Environment<'static>,
}

impl std::fmt::Debug for Text2Sql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Text2Sql")
            .field("db", &self.db)
            .field("tables", &self.schema.tables.len())
            .finish_non_exhaustive()
    }
}

impl Text2Sql {
    /// Introspects the database at `url`, merges `descriptions`, and prepares linking (with
    /// the embedder, table texts are embedded once here: CPU work, call it from a blocking
    /// context or at start-up).
    pub async fn open(
        url: DatabaseUrl,
        config: Text2SqlConfig,
        descriptions: Option<&Descriptions>,
        embedder: Option<&dyn Embedder>,
    ) -> Result<Text2Sql, Error> {
        let mut exec = config.exec.clone();
        exec.max_rows = config.max_rows;
        let db = Database::new(url, exec);
        let mut schema = db.introspect(&config.samples).await?;
        if let Some(d) = descriptions {
            schema.apply_descriptions(d);
        }
        Text2Sql::from_schema(db, schema, config, embedder)
    }

    /// An app over an already-read schema.
    pub fn from_schema(
        db: Database,
        schema: Schema,
        config: Text2SqlConfig,
        embedder: Option<&dyn Embedder>,
    ) -> Result<Text2Sql, Error> {
        let index = SchemaIndex::build(&schema, embedder)?;
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
        let template = config
            .prompt_template
            .clone()
            .unwrap_or_else(|| DEFAULT_PROMPT.to_string());
        env.add_template_owned("prompt", template)
            .map_err(|e| Error::Template {
                reason: e.to_string(),
            })?;
        Ok(Text2Sql {
            db,
            schema,
            index,
            config,
            env,
        })
    }

    /// The whole schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The tables for a question.
    pub fn link(
        &self,
        question: &Question,
        embedder: Option<&dyn Embedder>,
    ) -> Result<Linked, Error> {
        self.index.link(
            &self.schema,
            &link_text(question),
            embedder,
            &self.config.link,
        )
    }

    /// The prompt for a question over the given tables, with an optional failed attempt.
    pub fn prompt(
        &self,
        question: &Question,
        tables: &[usize],
        failed: Option<(usize, &Attempt)>,
    ) -> Result<String, Error> {
        let linked = self.schema.subset(tables);
        let dialect = self.db.dialect().display_name();
        let (attempt, previous_sql, error) = match failed {
            Some((n, a)) => (n + 1, a.sql.clone(), a.error.clone()),
            None => (1, None, None),
        };
        let tpl = self
            .env
            .get_template("prompt")
            .map_err(|e| Error::Template {
                reason: e.to_string(),
            })?;
        tpl.render(minijinja::context! {
            dialect => dialect,
            schema => linked.render().trim_end(),
            notes => linked.notes,
            question => question.text,
            instructions => question.instructions,
            max_rows => self.config.max_rows,
            attempt => attempt,
            previous_sql => previous_sql.unwrap_or_else(|| "(no SQL found in the answer)".into()),
            error => error,
        })
        .map_err(|e| Error::Template {
            reason: e.to_string(),
        })
    }

    /// Answers a question: links the schema, asks the model, validates and runs its SQL,
    /// and on a refusal or database error asks again with the error (at most
    /// `max_repairs` times). Fails with [`Error::Exhausted`] listing every attempt, or at
    /// once on a model or connection failure.
    pub async fn answer(
        &self,
        question: &Question,
        model: &dyn SqlModel,
        embedder: Option<&dyn Embedder>,
    ) -> Result<Answer, Error> {
        let mut timings = Timings::default();
        let t = Instant::now();
        let linked = self.link(question, embedder)?;
        timings.link_ms = ms(t);
        let mut tables = linked.tables.clone();
        let mut attempts: Vec<Attempt> = Vec::new();
        for _ in 0..=self.config.max_repairs {
            let prompt = self.prompt(
                question,
                &tables,
                attempts.last().map(|a| (attempts.len(), a)),
            )?;
            let t = Instant::now();
            let text = model
                .complete(prompt)
                .await
                .map_err(|e| Error::Model { reason: e.message })?;
            timings.generate_ms += ms(t);
            let Some(sql) = extract_sql(&text) else {
                attempts.push(Attempt {
                    sql: None,
                    error: Some(
                        "the answer holds no SQL query; answer with one ```sql block".into(),
                    ),
                });
                continue;
            };
            let t = Instant::now();
            let policy = self.policy(&tables);
            let checked = validate(&sql, &policy);
            timings.validate_ms += ms(t);
            let checked = match checked {
                Ok(c) => c,
                Err(r) => {
                    let mut error = r.message.clone();
                    if r.class == RejectClass::Table
                        && let Some(extra) = self.missing_table(&sql, &tables)
                    {
                        tables.push(extra);
                        tables.sort_unstable();
                        error.push_str(&format!(
                            "; its definition ({}) is now included in the schema above",
                            self.schema.tables[extra].name
                        ));
                    }
                    attempts.push(Attempt {
                        sql: Some(sql),
                        error: Some(error),
                    });
                    continue;
                }
            };
            let t = Instant::now();
            let run = self.db.execute(&checked).await;
            timings.execute_ms += ms(t);
            match run {
                Ok(result) => {
                    attempts.push(Attempt {
                        sql: Some(checked.sql.clone()),
                        error: None,
                    });
                    return Ok(Answer {
                        question: question.text.clone(),
                        sql: checked.sql,
                        columns: result.columns,
                        rows: result.rows,
                        truncated: result.truncated,
                        linked_tables: tables
                            .iter()
                            .map(|i| self.schema.tables[*i].name.to_string())
                            .collect(),
                        attempts,
                        timings,
                    });
                }
                Err(e) if e.is_repairable() => attempts.push(Attempt {
                    sql: Some(checked.sql),
                    error: Some(match e {
                        Error::Database { message } => message,
                        other => other.to_string(),
                    }),
                }),
                Err(e) => return Err(e),
            }
        }
        Err(Error::Exhausted { attempts })
    }

    /// The validation policy over the given tables.
    pub fn policy(&self, tables: &[usize]) -> Policy {
        let mut p = Policy::new(
            self.db.dialect(),
            self.config.max_rows,
            Some(
                tables
                    .iter()
                    .map(|i| self.schema.tables[*i].name.clone())
                    .collect(),
            ),
        );
        p.allowed_functions = self.config.allowed_functions.clone();
        p
    }

    /// A table of the app's schema that `sql` reads but the linked set lacks.
    fn missing_table(&self, sql: &str, tables: &[usize]) -> Option<usize> {
        let read = crate::validate::tables_read(sql, self.db.dialect()).ok()?;
        read.iter().find_map(|name| {
            let t = self.schema.table(name)?;
            let i = self.schema.index_of(&t.name)?;
            (!tables.contains(&i)).then_some(i)
        })
    }
}

fn link_text(q: &Question) -> String {
    match &q.instructions {
        Some(i) if !i.trim().is_empty() => format!("{}\n{}", q.text, i),
        _ => q.text.clone(),
    }
}

fn ms(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The SQL in a model's answer: the first ```sql block, else the first ``` block, else the
/// text from the first `SELECT` or `WITH` on, else the whole answer when it parses as SQL.
/// `None` when there is none.
pub fn extract_sql(answer: &str) -> Option<String> {
    let lower = answer.to_ascii_lowercase();
    let fenced = |start: usize, skip_tag: bool| -> Option<String> {
        let mut body = &answer[start..];
        if skip_tag {
            // Skip an info string (```sql, ```postgresql …) up to the end of the line.
            let line_end = body.find('\n').unwrap_or(body.len());
            let tag = &body[..line_end];
            if tag
                .trim()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                body = &body[line_end..];
            }
        }
        let end = body.find("```").unwrap_or(body.len());
        let sql = body[..end].trim();
        (!sql.is_empty()).then(|| sql.to_string())
    };
    if let Some(i) = lower.find("```sql")
        && let Some(s) = fenced(i + 6, true)
    {
        return Some(s);
    }
    if let Some(i) = lower.find("```")
        && let Some(s) = fenced(i + 3, true)
    {
        return Some(s);
    }
    // First SELECT or WITH as a word.
    let bytes = lower.as_bytes();
    let is_word = |i: usize, len: usize| {
        (i == 0 || !bytes[i - 1].is_ascii_alphanumeric() && bytes[i - 1] != b'_')
            && bytes
                .get(i + len)
                .is_none_or(|b| !b.is_ascii_alphanumeric() && *b != b'_')
    };
    let mut start = None;
    for kw in ["select", "with"] {
        let mut from = 0;
        while let Some(pos) = lower[from..].find(kw) {
            let i = from + pos;
            if is_word(i, kw.len()) {
                start = Some(start.map_or(i, |s: usize| s.min(i)));
                break;
            }
            from = i + kw.len();
        }
    }
    if let Some(start) = start {
        let s = answer[start..].trim().trim_end_matches("```").trim();
        return (!s.is_empty()).then(|| s.to_string());
    }
    // No query keyword: the whole answer if it is SQL at all (so that a bare `DELETE …`
    // reaches the validator and the model learns why it was refused).
    let whole = answer.trim();
    let parses = !whole.is_empty()
        && sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::GenericDialect {}, whole)
            .is_ok_and(|v| !v.is_empty());
    parses.then(|| whole.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_sql_from_fences_or_text() {
        assert_eq!(
            extract_sql("Here:\n```sql\nSELECT 1\n```\nmore ```sql\nSELECT 2\n```").as_deref(),
            Some("SELECT 1")
        );
        assert_eq!(
            extract_sql("```\nselect 2;\n```").as_deref(),
            Some("select 2;")
        );
        assert_eq!(
            extract_sql("```postgresql\nselect 3\n```").as_deref(),
            Some("select 3")
        );
        assert_eq!(
            extract_sql("The query is: WITH a AS (SELECT 1) SELECT * FROM a").as_deref(),
            Some("WITH a AS (SELECT 1) SELECT * FROM a")
        );
        assert_eq!(extract_sql("I selected nothing, sorry."), None);
        assert_eq!(
            extract_sql(" DROP TABLE t ").as_deref(),
            Some("DROP TABLE t")
        );
        assert_eq!(extract_sql("```sql\n```"), None);
    }
}
