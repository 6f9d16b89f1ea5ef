//! Introspection on a real SQLite file and a real PostgreSQL database: tables, columns,
//! keys, comments, sample values; descriptions merged; rendering for prompts.

mod common;

use berth_sql::{Database, DatabaseUrl, Descriptions, ExecOptions, SampleOptions, TableName};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_schema_has_columns_keys_and_samples() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::sqlite_fixture(dir.path());
    let db = Database::new(DatabaseUrl::Sqlite { path }, ExecOptions::default());
    let mut schema = db.introspect(&SampleOptions::default()).await.unwrap();
    let names: Vec<String> = schema.tables.iter().map(|t| t.name.to_string()).collect();
    assert_eq!(names, vec!["secrets", "t", "u"]);
    let u = schema.table("u").unwrap();
    assert_eq!(u.primary_key, vec!["id".to_string()]);
    assert_eq!(u.foreign_keys.len(), 1);
    assert_eq!(u.foreign_keys[0].columns, vec!["t_id".to_string()]);
    assert_eq!(u.foreign_keys[0].references, TableName::new("t"));
    assert_eq!(u.foreign_keys[0].referenced_columns, vec!["id".to_string()]);
    let name = u.columns.iter().find(|c| c.name == "name").unwrap();
    assert_eq!(name.samples, vec!["name 1", "name 2", "name 3"]);
    let d = Descriptions::parse(
        r#"{"table_metadata": {"u": [{"column_name": "name", "data_type": "text", "column_description": "the user's name"}]}}"#,
        std::path::Path::new("d.json"),
    )
    .unwrap();
    schema.apply_descriptions(&d);
    let text = schema.render();
    assert!(text.contains("CREATE TABLE u ("), "{text}");
    assert!(
        text.contains("  name TEXT, -- the user's name; e.g. 'name 1', 'name 2', 'name 3'"),
        "{text}"
    );
    assert!(
        text.contains("FOREIGN KEY (t_id) REFERENCES t(id)"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_sqlite_file_is_a_clear_error_and_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.db");
    let db = Database::new(
        DatabaseUrl::Sqlite { path: path.clone() },
        ExecOptions::default(),
    );
    let e = db.check().await.unwrap_err();
    assert!(e.to_string().contains("no such file"), "{e}");
    assert!(!path.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_schema_has_keys_comments_and_respects_privileges() {
    let Some(admin) = common::pg_url("postgres_schema_has_keys_comments_and_respects_privileges")
    else {
        return;
    };
    let url = common::pg_fixture(&admin, "berth_test_introspect").await;
    {
        let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        c.batch_execute(
            "COMMENT ON TABLE u IS 'people'; COMMENT ON COLUMN u.name IS 'full name';
             CREATE SCHEMA shop; CREATE TABLE shop.orders (id bigint PRIMARY KEY, u_id int REFERENCES u(id), total numeric(10,2));
             GRANT USAGE ON SCHEMA shop TO berth_reader; GRANT SELECT ON shop.orders TO berth_reader;",
        )
        .await
        .unwrap();
    }
    // As the read-only role: secrets is not visible.
    let db = Database::new(
        DatabaseUrl::parse(&url).unwrap(),
        ExecOptions {
            role: Some("berth_reader".into()),
            ..ExecOptions::default()
        },
    );
    let schema = db.introspect(&SampleOptions::default()).await.unwrap();
    let names: Vec<String> = schema.tables.iter().map(|t| t.name.to_string()).collect();
    assert_eq!(names, vec!["t", "u", "shop.orders"]);
    let u = schema.table("u").unwrap();
    assert_eq!(u.comment.as_deref(), Some("people"));
    let name = u.columns.iter().find(|c| c.name == "name").unwrap();
    assert_eq!(name.comment.as_deref(), Some("full name"));
    assert_eq!(name.data_type, "text");
    assert_eq!(u.primary_key, vec!["id".to_string()]);
    assert_eq!(u.foreign_keys[0].references, TableName::new("t"));
    let orders = schema.table("shop.orders").unwrap();
    assert_eq!(orders.foreign_keys[0].columns, vec!["u_id".to_string()]);
    assert_eq!(orders.columns[2].data_type, "numeric(10,2)");
    let text = schema.render();
    assert!(text.contains("CREATE TABLE u ( -- people"), "{text}");
    assert!(
        text.contains("name text, -- full name; e.g. 'name 1'"),
        "{text}"
    );
    // As the superuser, secrets is visible too.
    let admin_db = Database::new(DatabaseUrl::parse(&url).unwrap(), ExecOptions::default());
    let all = admin_db
        .introspect(&SampleOptions::default())
        .await
        .unwrap();
    assert!(all.table("secrets").is_some());
}
