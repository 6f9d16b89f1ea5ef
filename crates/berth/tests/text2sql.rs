//! The text2sql app through the gateway and `berth sql`, with a stand-in model (the
//! project's own scripted OpenAI-compatible server) writing the SQL: a repair after a
//! database error, refusals of writes before they reach the database, and the answer as
//! a model (`app/NAME`).

mod common;

use berth_serve::standin::{Behavior, Standin};
use common::{Server, berth_ok};
use serde_json::Value;
use std::path::Path;

fn database(path: &Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT);
         CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id), total REAL);
         INSERT INTO customers VALUES (1, 'Ada', 'London'), (2, 'Grace', 'New York'), (3, 'Linus', 'Helsinki');
         INSERT INTO orders VALUES (1, 1, 10.5), (2, 1, 20.0), (3, 2, 7.25);",
    )
    .unwrap();
}

fn stack(upstream: &Standin) -> String {
    format!(
        "stack: sales\nmodels:\n  chat:\n    - {{ provider: openai, base_url: \"{}\", model: sql-writer }}\n\
         apps:\n  sales: {{ kind: text2sql, database: \"${{secret:SALES_DB}}\", model: chat, max_rows: 2 }}\n",
        upstream.base_url()
    )
}

fn fenced(sql: &str) -> Behavior {
    Behavior::default().tokens([format!("Here you go:\n```sql\n{sql}\n```")])
}

fn customers(path: &Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("SELECT COUNT(*) FROM customers", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn questions_become_read_only_sql_with_repairs_and_refusals() {
    let upstream = Standin::start("model").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sales.db");
    database(&db);
    std::fs::write(dir.path().join("berth.yaml"), stack(&upstream)).unwrap();
    let db_url = db.display().to_string();
    let server = Server::start(dir.path(), &[("SALES_DB", db_url.as_str())]);

    // A wrong column first: the database's error goes back to the model, which repairs.
    upstream.enqueue(fenced("SELECT nme FROM customers"));
    upstream.enqueue(fenced("SELECT name, city FROM customers ORDER BY name"));
    upstream.enqueue(Behavior::default().tokens(["Ada and Grace are the first two."]));
    let (status, body) = server.request(
        "POST",
        "/v1/apps/sales/query",
        None,
        r#"{"question": "Which customers live where?"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        answer["sql"],
        "SELECT name, city FROM customers ORDER BY name LIMIT 2"
    );
    assert_eq!(answer["columns"], serde_json::json!(["name", "city"]));
    assert_eq!(
        answer["rows"],
        serde_json::json!([["Ada", "London"], ["Grace", "New York"]])
    );
    assert_eq!(answer["truncated"], true, "max_rows 2 of 3 customers");
    let attempts = answer["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert!(
        attempts[0]["error"].as_str().unwrap().contains("nme"),
        "{attempts:?}"
    );
    let text = answer["answer"].as_str().unwrap();
    assert!(
        text.starts_with("Ada and Grace are the first two."),
        "{text}"
    );
    assert!(text.contains("```sql\nSELECT name, city FROM customers ORDER BY name LIMIT 2\n```"));
    assert!(text.contains("| Grace | New York |"));
    // What the model saw: the schema, then the failed SQL with the database's error.
    let requests = upstream.requests();
    let first = requests[0].body["messages"][0]["content"].as_str().unwrap();
    assert!(
        first.contains("customers") && first.contains("Which customers live where?"),
        "{first}"
    );
    assert_eq!(requests[0].body["model"], "sql-writer");
    let repair = requests[1].body["messages"][0]["content"].as_str().unwrap();
    assert!(repair.contains("SELECT nme FROM customers"), "{repair}");

    // A model that only ever writes: refused each time before execution, then a clear
    // failure listing every attempt; the data is untouched.
    for sql in [
        "DELETE FROM customers",
        "SELECT 1; DROP TABLE customers",
        "WITH d AS (DELETE FROM customers RETURNING *) SELECT * FROM d",
    ] {
        upstream.enqueue(fenced(sql));
    }
    let (status, body) = server.request(
        "POST",
        "/v1/apps/sales/query",
        None,
        r#"{"question": "Remove all customers"}"#,
    );
    assert_eq!(status, 422, "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("attempt 1: DELETE FROM customers"),
        "{message}"
    );
    assert!(message.contains("attempt 3:"), "{message}");
    assert_eq!(error["error"]["code"], "no_answer");
    assert_eq!(customers(&db), 3, "nothing was deleted");

    // The app as a model, streamed: berth's last chunk carries the SQL and rows.
    upstream.enqueue(fenced("SELECT COUNT(*) AS n FROM orders"));
    upstream.enqueue(Behavior::default().tokens(["There are 3 orders."]));
    let (status, body) = server.request(
        "POST",
        "/v1/chat/completions",
        None,
        r#"{"model": "app/sales", "stream": true, "messages": [{"role": "user", "content": "How many orders?"}]}"#,
    );
    assert_eq!(status, 200, "{body}");
    let extras: Value = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .find_map(|e| e.get("berth").cloned())
        .expect("berth's extras");
    assert_eq!(extras["mode"], "sql");
    assert_eq!(extras["rows"], serde_json::json!([[3]]));
    assert!(body.contains("There are 3 orders."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn berth_sql_asks_in_process() {
    let upstream = Standin::start("model").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    database(&dir.path().join("sales.db"));
    // A relative SQLite path starts at the stack file.
    let text = stack(&upstream).replace("${secret:SALES_DB}", "sales.db");
    std::fs::write(dir.path().join("berth.yaml"), text).unwrap();
    upstream.enqueue(fenced("SELECT SUM(total) AS total FROM orders"));
    upstream.enqueue(Behavior::default().tokens(["37.75 in all."]));
    let out = berth_ok(
        dir.path(),
        &["sql", "What is the total of all orders?", "--json"],
    );
    let answer: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["rows"], serde_json::json!([[37.75]]));
    assert_eq!(
        answer["sql"],
        "SELECT SUM(total) AS total FROM orders LIMIT 2"
    );
}

/// The PostgreSQL server of the tests (`BERTH_TEST_PG_URL`, started by `bench/pg/start.sh`),
/// or a loud skip (a failure under CI).
fn pg_url() -> Option<String> {
    match std::env::var("BERTH_TEST_PG_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("BERTH_TEST_PG_URL is not set (bench/pg/start.sh starts PostgreSQL)")
        }
        Err(_) => {
            eprintln!(
                "SKIPPED: BERTH_TEST_PG_URL is not set (bench/pg/start.sh starts PostgreSQL)"
            );
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_component_s_connection_record_reaches_the_database() {
    let Some(admin) = pg_url() else { return };
    let url = berth_sql::load_postgres(
        &admin,
        "berth_t2s_gateway",
        "CREATE TABLE public.products (id integer PRIMARY KEY, name text NOT NULL, price numeric(8,2));
         INSERT INTO public.products VALUES (1, 'kettle', 25.50), (2, 'teapot', 12.00);",
    )
    .await
    .unwrap();
    // The database as a component the stack does not deploy (`url:`), named by the app;
    // its password comes from the component's secret.
    // Credentials do not belong in a stack's URLs: the user is the record's default.
    let external = match url.split_once('@') {
        Some((_, host)) => format!("postgres://{host}"),
        None => url.clone(),
    };
    let upstream = Standin::start("model").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("berth.yaml"),
        format!(
            "stack: shop\ncomponents:\n  db: {{ uses: postgres, url: \"{external}\", with: {{ password: \"${{secret:SHOP_PG_PASSWORD}}\" }} }}\n\
             models:\n  chat:\n    - {{ provider: openai, base_url: \"{}\", model: sql-writer }}\n\
             apps:\n  shop: {{ kind: text2sql, database: db, model: chat }}\n",
            upstream.base_url()
        ),
    )
    .unwrap();
    let server = Server::start(
        dir.path(),
        &[("SHOP_PG_PASSWORD", "unused-with-trust-auth")],
    );
    upstream.enqueue(fenced("SELECT name FROM products WHERE price > 20"));
    upstream.enqueue(Behavior::default().tokens(["The kettle."]));
    let (status, body) = server.request(
        "POST",
        "/v1/apps/shop/query",
        None,
        r#"{"question": "Which products cost more than 20?"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["rows"], serde_json::json!([["kettle"]]));
    assert!(
        !body.contains("unused-with-trust-auth"),
        "no secret in answers"
    );
    // A write is refused by the validator, and would fail in the read-only transaction.
    for _ in 0..3 {
        upstream.enqueue(fenced("UPDATE products SET price = 0"));
    }
    let (status, _) = server.request(
        "POST",
        "/v1/apps/shop/query",
        None,
        r#"{"question": "Make everything free"}"#,
    );
    assert_eq!(status, 422);
}
