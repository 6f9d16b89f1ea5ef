//! The dump loader: every eval dump translates into SQLite with as many rows as its INSERTs
//! hold; on PostgreSQL too, the row counts of every table are equal.

mod common;

use berth_sql::{
    Database, DatabaseUrl, ExecOptions, SampleOptions, Value, load_postgres, load_sqlite,
    quote_ident,
};

async fn count(db: &Database, table: &str) -> i64 {
    let r = db
        .run_read_only(&format!("SELECT COUNT(*) FROM {table}"))
        .await
        .unwrap();
    match r.rows[0][0] {
        Value::Int(n) => n,
        ref other => panic!("count: {other:?}"),
    }
}

#[test]
fn every_eval_dump_loads_into_sqlite() {
    let Some(data) = common::eval_data("every_eval_dump_loads_into_sqlite") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    for entry in std::fs::read_dir(data.join("databases")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("sql") {
            continue;
        }
        let dump = std::fs::read_to_string(&path).unwrap();
        let file = dir
            .path()
            .join(path.file_stem().unwrap())
            .with_extension("db");
        let report =
            load_sqlite(&dump, &file).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(report.tables > 0, "{}", path.display());
        let conn = rusqlite::Connection::open(&file).unwrap();
        let mut total = 0i64;
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(tables.len(), report.tables);
        for t in tables {
            total += conn
                .query_row(
                    &format!("SELECT COUNT(*) FROM {}", quote_ident(&t)),
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .unwrap();
        }
        assert_eq!(total as u64, report.rows, "{}", path.display());
        n += 1;
    }
    assert_eq!(n, 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_and_sqlite_loads_have_equal_row_counts() {
    let Some(admin) = common::pg_url("postgres_and_sqlite_loads_have_equal_row_counts") else {
        return;
    };
    let Some(data) = common::eval_data("postgres_and_sqlite_loads_have_equal_row_counts") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for name in ["academic", "ewallet", "broker"] {
        let dump =
            std::fs::read_to_string(data.join("databases").join(format!("{name}.sql"))).unwrap();
        let file = dir.path().join(format!("{name}.db"));
        load_sqlite(&dump, &file).unwrap();
        let url = load_postgres(&admin, &format!("berth_test_load_{name}"), &dump)
            .await
            .unwrap();
        let lite = Database::new(DatabaseUrl::Sqlite { path: file }, ExecOptions::default());
        let pg = Database::new(DatabaseUrl::parse(&url).unwrap(), ExecOptions::default());
        let lite_schema = lite.introspect(&SampleOptions::default()).await.unwrap();
        let pg_schema = pg.introspect(&SampleOptions::default()).await.unwrap();
        assert_eq!(lite_schema.tables.len(), pg_schema.tables.len(), "{name}");
        for t in &lite_schema.tables {
            let p = pg_schema
                .table(&t.name.name)
                .unwrap_or_else(|| panic!("{name}: {} missing", t.name));
            let qualified = match &p.name.schema {
                Some(s) => format!("{}.{}", quote_ident(s), quote_ident(&p.name.name)),
                None => quote_ident(&p.name.name),
            };
            let a = count(&lite, &quote_ident(&t.name.name)).await;
            let b = count(&pg, &qualified).await;
            assert_eq!(a, b, "{name}.{}", t.name);
            assert!(a > 0, "{name}.{} is empty", t.name);
            assert_eq!(t.columns.len(), p.columns.len(), "{name}.{}", t.name);
        }
    }
}
