//! The repair loop with a scripted model: a database error is sent back and fixed; a
//! refused query is sent back and fixed; a model that never gets it right fails with every
//! attempt listed; the model is asked at most 1 + max_repairs times.

mod common;

use std::collections::VecDeque;
use std::sync::Mutex;

use berth_sql::{
    BoxFuture, Database, DatabaseUrl, Error, ExecOptions, ModelError, Question, SampleOptions,
    SqlModel, Text2Sql, Text2SqlConfig,
};

/// Answers from a queue and records every prompt.
struct ScriptedModel {
    answers: Mutex<VecDeque<String>>,
    prompts: Mutex<Vec<String>>,
}

impl ScriptedModel {
    fn new(answers: &[&str]) -> ScriptedModel {
        ScriptedModel {
            answers: Mutex::new(answers.iter().map(|s| s.to_string()).collect()),
            prompts: Mutex::new(Vec::new()),
        }
    }

    fn prompts(&self) -> Vec<String> {
        self.prompts.lock().unwrap().clone()
    }
}

impl SqlModel for ScriptedModel {
    fn complete(&self, prompt: String) -> BoxFuture<'_, Result<String, ModelError>> {
        self.prompts.lock().unwrap().push(prompt);
        let next = self.answers.lock().unwrap().pop_front();
        Box::pin(async move {
            next.ok_or(ModelError {
                message: "the script ran out of answers".into(),
            })
        })
    }
}

async fn app(dir: &std::path::Path) -> Text2Sql {
    let path = common::sqlite_fixture(dir);
    let config = Text2SqlConfig {
        max_rows: 10,
        ..Text2SqlConfig::default()
    };
    let db = Database::new(DatabaseUrl::Sqlite { path }, ExecOptions::default());
    let mut schema = db.introspect(&SampleOptions::default()).await.unwrap();
    // The app's schema: t and u only.
    schema.tables.retain(|t| t.name.name != "secrets");
    Text2Sql::from_schema(db, schema, config, None).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_error_is_repaired_on_the_second_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let model = ScriptedModel::new(&[
        "```sql\nSELECT nme FROM u WHERE id = 1\n```",
        "Sorry, here it is:\n```sql\nSELECT name FROM u WHERE id = 1\n```",
    ]);
    let q = Question::from("What is the name of user 1?");
    let answer = app.answer(&q, &model, None).await.unwrap();
    assert_eq!(answer.attempts.len(), 2);
    assert_eq!(
        answer.attempts[0].sql.as_deref(),
        Some("SELECT nme FROM u WHERE id = 1 LIMIT 10")
    );
    assert!(
        answer.attempts[0].error.as_deref().unwrap().contains("nme"),
        "{:?}",
        answer.attempts[0]
    );
    assert!(answer.attempts[1].error.is_none());
    assert_eq!(answer.sql, "SELECT name FROM u WHERE id = 1 LIMIT 10");
    assert_eq!(answer.columns, vec!["name".to_string()]);
    assert_eq!(
        answer.rows,
        vec![vec![berth_sql::Value::Text("name 1".into())]]
    );
    assert!(!answer.truncated);
    let prompts = model.prompts();
    assert_eq!(prompts.len(), 2);
    assert!(prompts[0].contains("SQLite"));
    assert!(prompts[0].contains("CREATE TABLE u ("));
    assert!(!prompts[0].contains("secrets"));
    assert!(!prompts[0].contains("failed"));
    // The repair prompt carries the failed SQL and the database's message.
    assert!(
        prompts[1].contains("SELECT nme FROM u WHERE id = 1 LIMIT 10"),
        "{}",
        prompts[1]
    );
    assert!(prompts[1].contains("no such column: nme"), "{}", prompts[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_query_is_sent_back_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let model = ScriptedModel::new(&[
        "DELETE FROM t",
        "SELECT password FROM secrets",
        "select count(*) as n from t",
    ]);
    let answer = app
        .answer(&Question::from("How many rows are in t?"), &model, None)
        .await
        .unwrap();
    assert_eq!(answer.attempts.len(), 3);
    assert!(
        answer.attempts[0]
            .error
            .as_deref()
            .unwrap()
            .contains("DELETE")
    );
    assert!(
        answer.attempts[1]
            .error
            .as_deref()
            .unwrap()
            .contains("table secrets is not in this app's schema")
    );
    assert_eq!(answer.rows, vec![vec![berth_sql::Value::Int(20)]]);
    let prompts = model.prompts();
    assert!(
        prompts[1].contains("only a read-only SELECT query is allowed"),
        "{}",
        prompts[1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_bad_answers_fail_listing_every_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let model = ScriptedModel::new(&[
        "SELECT nope FROM t",
        "I cannot answer that.",
        "DROP TABLE t",
        "SELECT 1 -- never asked for",
    ]);
    let err = app
        .answer(&Question::from("?"), &model, None)
        .await
        .unwrap_err();
    let Error::Exhausted { attempts } = &err else {
        panic!("expected Exhausted, got {err}");
    };
    assert_eq!(attempts.len(), 3, "1 attempt + 2 repairs");
    assert_eq!(model.prompts().len(), 3);
    let text = err.to_string();
    assert!(
        text.starts_with("no working SQL after 3 attempts"),
        "{text}"
    );
    assert!(
        text.contains("attempt 1: SELECT nope FROM t LIMIT 10"),
        "{text}"
    );
    assert!(text.contains("no such column: nope"), "{text}");
    assert!(
        text.contains("attempt 2: (no SQL found in the answer)"),
        "{text}"
    );
    assert!(text.contains("attempt 3: DROP TABLE t"), "{text}");
    assert!(text.contains("error: statement 1 is DROP"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_failure_ends_the_request_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let model = ScriptedModel::new(&[]);
    let err = app
        .answer(&Question::from("?"), &model, None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Model { .. }), "{err}");
    assert_eq!(model.prompts().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_template_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::sqlite_fixture(dir.path());
    let db = Database::new(DatabaseUrl::Sqlite { path }, ExecOptions::default());
    let schema = db.introspect(&SampleOptions::default()).await.unwrap();
    let config = Text2SqlConfig {
        prompt_template: Some(
            "Q={{ question }} D={{ dialect }}{% if error %} E={{ error }}{% endif %}".into(),
        ),
        ..Text2SqlConfig::default()
    };
    let app = Text2Sql::from_schema(db, schema, config, None).unwrap();
    let model = ScriptedModel::new(&["select bad from t", "select id from t limit 1"]);
    app.answer(&Question::from("first id"), &model, None)
        .await
        .unwrap();
    let p = model.prompts();
    assert_eq!(p[0], "Q=first id D=SQLite");
    assert!(
        p[1].starts_with("Q=first id D=SQLite E=") && p[1].contains("bad"),
        "{}",
        p[1]
    );
    let bad = Text2SqlConfig {
        prompt_template: Some("{% if %}".into()),
        ..Text2SqlConfig::default()
    };
    let db = app.database().clone();
    let err = Text2Sql::from_schema(db, app.schema().clone(), bad, None).unwrap_err();
    assert!(matches!(err, Error::Template { .. }), "{err}");
}
