//! Legitimate analytic queries are accepted, with the row limit injected or clamped, and
//! the accepted SQL is stable: validating it again changes nothing (property test).

mod common;

use berth_sql::{
    Database, DatabaseUrl, Dialect, ExecOptions, LimitAction, Policy, TableName, validate,
};
use proptest::prelude::*;

const MAX: u64 = 50;

fn policy(d: Dialect) -> Policy {
    Policy::new(d, MAX, Some(vec![TableName::new("t"), TableName::new("u")]))
}

/// Queries valid in both dialects over the fixture (t: id, a, b; u: id, t_id, name).
const SAFE: &[&str] = &[
    "SELECT * FROM t",
    "select a, count(*) as n from t group by a having count(*) > 0 order by n desc",
    "SELECT t.a, u.name FROM t JOIN u ON u.t_id = t.id WHERE t.b > 10",
    "select t.id from t left join u on u.t_id = t.id where u.id is null",
    "WITH big AS (SELECT id, b FROM t WHERE b > 50) SELECT count(*) FROM big",
    "with recursive n(x) as (select 1 union all select x + 1 from n where x < 10) select x from n",
    "select id, b, sum(b) over (order by id) as running, rank() over (partition by a order by b desc) as r from t",
    "select a from t union select name from u",
    "select id from t intersect select t_id from u",
    "select id from t except select t_id from u",
    "select * from (select id, b * 2 as bb from t) x where x.bb > 3",
    "select id from t where id in (select t_id from u where name like 'name 1%')",
    "select id, case when b > 100 then 'high' else 'low' end as level from t",
    "select exists(select 1 from u where u.t_id = t.id) as has_u, id from t",
    "select coalesce(max(b), 0), min(b), avg(b), lower(max(a)) from t",
    "select * from (values (1, 'x'), (2, 'y')) as v",
    "select id from t order by b desc limit 5",
    "select id from t order by b desc limit 5000",
    "select id from t limit 10 offset 5",
    "select count(distinct a) from t",
    "SELECT /* a comment */ id -- and another\nFROM t",
    "select \"a\" from \"t\"",
    "select cast(b as integer) from t",
    "select t.id, (select count(*) from u where u.t_id = t.id) as n from t",
    "select id from t where b between 10 and 100 and a is not null",
];

#[test]
fn legitimate_queries_are_accepted_with_a_limit() {
    for d in [Dialect::Sqlite, Dialect::Postgres] {
        for sql in SAFE {
            let v = validate(sql, &policy(d)).unwrap_or_else(|e| panic!("[{d}] {sql}: {e}"));
            assert!(v.limit.rows() <= MAX, "[{d}] {sql}: {:?}", v.limit);
            assert!(
                v.sql.to_uppercase().contains(" LIMIT "),
                "[{d}] {sql} → {}",
                v.sql
            );
            let again = validate(&v.sql, &policy(d)).unwrap();
            assert_eq!(again.sql, v.sql, "[{d}] not idempotent: {sql}");
        }
    }
    let v = validate(
        "select id from t order by b desc limit 5000",
        &policy(Dialect::Postgres),
    )
    .unwrap();
    assert_eq!(v.limit, LimitAction::Clamped(MAX));
    assert_eq!(v.sql, "SELECT id FROM t ORDER BY b DESC LIMIT 50");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legitimate_queries_run_on_sqlite_and_respect_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::sqlite_fixture(dir.path());
    let db = Database::new(
        DatabaseUrl::Sqlite { path },
        ExecOptions {
            max_rows: MAX,
            ..ExecOptions::default()
        },
    );
    for sql in SAFE {
        let v = validate(sql, &policy(Dialect::Sqlite)).unwrap();
        let r = db
            .execute(&v)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert!(r.rows.len() as u64 <= MAX, "{sql}");
        assert!(r.rows.iter().all(|row| row.len() == r.columns.len()));
    }
    // 20 rows × 20 rows = 400 > 50: capped and reported as truncated.
    let v = validate("select t.id, u.id from t, u", &policy(Dialect::Sqlite)).unwrap();
    let r = db.execute(&v).await.unwrap();
    assert_eq!(r.rows.len() as u64, MAX);
    assert!(r.truncated);
    let v = validate("select id from t limit 3", &policy(Dialect::Sqlite)).unwrap();
    let r = db.execute(&v).await.unwrap();
    assert_eq!(r.rows.len(), 3);
    assert!(!r.truncated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legitimate_queries_run_on_postgres() {
    let Some(admin) = common::pg_url("legitimate_queries_run_on_postgres") else {
        return;
    };
    let url = common::pg_fixture(&admin, "berth_test_safe").await;
    let db = Database::new(
        DatabaseUrl::parse(&url).unwrap(),
        ExecOptions {
            max_rows: MAX,
            role: Some("berth_reader".into()),
            ..ExecOptions::default()
        },
    );
    for sql in SAFE {
        let v = validate(sql, &policy(Dialect::Postgres)).unwrap();
        let r = db
            .execute(&v)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert!(r.rows.len() as u64 <= MAX, "{sql}");
    }
}

/// Random queries built from safe pieces.
fn query() -> impl Strategy<Value = String> {
    let column = prop_oneof![
        Just("id"),
        Just("a"),
        Just("b"),
        Just("count(*)"),
        Just("max(b)")
    ];
    let table = prop_oneof![Just("t"), Just("u")];
    let cond = prop_oneof![
        Just(String::new()),
        Just(" WHERE id > 3".to_string()),
        Just(" WHERE id IN (SELECT t_id FROM u)".to_string()),
        Just(" WHERE b BETWEEN 1 AND 100".to_string()),
    ];
    let limit = prop_oneof![
        Just(String::new()),
        (0u64..200).prop_map(|n| format!(" LIMIT {n}")),
        (-5i64..0).prop_map(|n| format!(" LIMIT {n}")),
        (0u64..200, 0u64..20).prop_map(|(n, o)| format!(" LIMIT {n} OFFSET {o}")),
        Just(" LIMIT (SELECT 7)".to_string()),
        Just(" LIMIT 2 + 3".to_string()),
    ];
    let order = prop_oneof![Just(""), Just(" ORDER BY 1"), Just(" ORDER BY 1 DESC")];
    let wrap = prop_oneof![Just(0u8), Just(1), Just(2), Just(3)];
    (column, table, cond, order, limit, wrap).prop_map(|(c, t, w, o, l, wrap)| {
        let base = format!("SELECT {c} FROM {t}{w}");
        match wrap {
            0 => format!("{base}{o}{l}"),
            1 => format!("WITH x AS ({base}) SELECT * FROM x{o}{l}"),
            2 => format!("SELECT * FROM ({base}) AS s{o}{l}"),
            _ => format!("{base} UNION ALL SELECT {c} FROM {t}{o}{l}"),
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn accepted_queries_revalidate_identically_with_a_limit_within_max(
        q in query(),
        postgres in any::<bool>(),
    ) {
        let d = if postgres { Dialect::Postgres } else { Dialect::Sqlite };
        let v = validate(&q, &policy(d));
        // Every generated query is safe, so it must be accepted.
        prop_assert!(v.is_ok(), "[{}] {}: {:?}", d, q, v);
        let v = v.unwrap();
        prop_assert!(v.limit.rows() <= MAX);
        let again = validate(&v.sql, &policy(d));
        prop_assert!(again.is_ok(), "re-validation of {} failed: {:?}", v.sql, again);
        let again = again.unwrap();
        prop_assert_eq!(&again.sql, &v.sql);
        prop_assert!(matches!(again.limit, LimitAction::Kept(n) if n <= MAX), "{:?}", again.limit);
        prop_assert_eq!(again.tables, v.tables);
    }
}
