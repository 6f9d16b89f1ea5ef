//! The safety gate: one read-only query, checked on the parse tree, with a row limit.
//!
//! [`validate`] parses the model's SQL with `sqlparser` in the database's dialect and
//! accepts exactly one query (`SELECT`, `WITH … SELECT`, set operations, `VALUES`,
//! subqueries) that reads only the tables it is allowed to read, calls no dangerous function
//! and takes no locks. It then injects or clamps the row limit and re-renders the SQL, so
//! what runs is exactly what was checked. Comments are harmless: the parser drops them, and
//! text the parser cannot read is refused rather than guessed at.
//!
//! The executor adds its own read-only layers (a read-only SQLite connection with an
//! authorizer; a `READ ONLY` PostgreSQL transaction with a statement timeout, always rolled
//! back), so a mistake here is not enough to write.

mod functions;
mod statements;
mod walk;

use std::collections::BTreeSet;

use serde::Serialize;
use sqlparser::ast::{
    Expr, Fetch, LimitClause, Query, Statement, UnaryOperator, Value as SqlValue,
};
use sqlparser::dialect::{PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;

use crate::error::{RejectClass, Rejection};
use crate::schema::TableName;
use crate::url::Dialect;

/// The longest SQL text accepted (bytes): a model answer longer than this is not a query.
pub const MAX_SQL_BYTES: usize = 100_000;

/// What a query may do.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The dialect: decides the parser.
    pub dialect: Dialect,
    /// The most rows a query may return (the injected or clamped `LIMIT`).
    pub max_rows: u64,
    /// The tables the query may read; `None` accepts any table that is not a system
    /// catalog (for tools and tests: apps always pass their linked schema).
    pub tables: Option<Vec<TableName>>,
    /// Whether system catalogs (`pg_catalog`, `information_schema`, `pg_*`,
    /// `sqlite_master`, `sqlite_*`, `pragma_*`) may be read. Off by default.
    pub allow_system_catalogs: bool,
    /// Functions to accept even though a rule refuses them (lower case, unqualified), e.g.
    /// `pg_typeof`.
    pub allowed_functions: Vec<String>,
}

impl Policy {
    /// A policy for `dialect` with `max_rows`, the given tables, and everything else off.
    pub fn new(dialect: Dialect, max_rows: u64, tables: Option<Vec<TableName>>) -> Policy {
        Policy {
            dialect,
            max_rows,
            tables,
            allow_system_catalogs: false,
            allowed_functions: Vec::new(),
        }
    }
}

/// How the row limit was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action", content = "rows")]
pub enum LimitAction {
    /// The query's own literal limit was within bounds and kept.
    Kept(u64),
    /// The query had no limit; `LIMIT max_rows` was added.
    Injected(u64),
    /// The query's literal limit was larger (or negative: unlimited in SQLite) and was
    /// lowered to `max_rows`.
    Clamped(u64),
    /// The limit was not a literal (or used `FETCH … PERCENT / WITH TIES`); the query was
    /// wrapped as `SELECT * FROM (…) AS berth_limited LIMIT max_rows`.
    Wrapped(u64),
}

impl LimitAction {
    /// The limit now in force.
    pub fn rows(self) -> u64 {
        match self {
            LimitAction::Kept(n)
            | LimitAction::Injected(n)
            | LimitAction::Clamped(n)
            | LimitAction::Wrapped(n) => n,
        }
    }

    /// Whether berth imposed the limit (so reaching it means more rows may exist).
    pub fn imposed(self) -> bool {
        !matches!(self, LimitAction::Kept(_))
    }
}

/// A query that passed every check, re-rendered with its row limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidatedQuery {
    /// The SQL to execute (re-rendered by the parser: comments gone, limit in place).
    pub sql: String,
    /// The tables it reads (as they are named in the schema, or as written when the policy
    /// names no tables), sorted.
    pub tables: Vec<String>,
    /// How the row limit was applied.
    pub limit: LimitAction,
    /// The dialect it was checked in.
    pub dialect: Dialect,
}

/// Checks `sql` against `policy` and returns the SQL to execute.
///
/// Refuses (with a [`Rejection`] whose message says where and why): text the parser cannot
/// read, no statement, more than one statement, any statement other than a query,
/// data-modifying CTEs, `SELECT … INTO`, locking clauses, tables outside the policy, system
/// catalogs, and the refused functions (stalls, files, network, settings, dynamic SQL,
/// advisory locks, sequences, extension loading, literal sizes over a million).
pub fn validate(sql: &str, policy: &Policy) -> Result<ValidatedQuery, Rejection> {
    if sql.len() > MAX_SQL_BYTES {
        return Err(Rejection::new(
            RejectClass::Parse,
            format!(
                "the SQL is {} bytes long; at most {MAX_SQL_BYTES} are accepted",
                sql.len()
            ),
        ));
    }
    let mut statements = parse(sql, policy.dialect)?;
    match statements.len() {
        0 => {
            return Err(Rejection::new(
                RejectClass::Empty,
                "there is no SQL statement in the text",
            ));
        }
        1 => {}
        _ => {
            let second = statements::kind_name(&statements[1]);
            return Err(Rejection::new(
                RejectClass::MultipleStatements,
                format!(
                    "statement 2 ({second}): only one statement is allowed, and it must be a \
                     single SELECT query"
                ),
            ));
        }
    }
    let statement = statements.remove(0);
    let Statement::Query(mut query) = statement else {
        let (class, why) = statements::classify(&statement);
        return Err(Rejection::new(
            class,
            format!(
                "statement 1 is {} ({why}); only a read-only SELECT query is allowed",
                statements::kind_name(&statement)
            ),
        ));
    };
    let tables = walk::check(&Statement::Query(query.clone()), policy)?;
    let limit = apply_limit(&mut query, policy.max_rows);
    let sql = match limit {
        LimitAction::Wrapped(n) => {
            let wrapped = format!("SELECT * FROM ({query}) AS berth_limited LIMIT {n}");
            // Re-parse so that the rendering is the parser's own (idempotent on re-validation).
            let mut again = parse(&wrapped, policy.dialect)?;
            match again.pop() {
                Some(st) if again.is_empty() => st.to_string(),
                _ => {
                    return Err(Rejection::new(
                        RejectClass::Unsupported,
                        "the query could not be wrapped in a row limit",
                    ));
                }
            }
        }
        _ => query.to_string(),
    };
    Ok(ValidatedQuery {
        sql,
        tables: tables.into_iter().collect(),
        limit,
        dialect: policy.dialect,
    })
}

/// The tables a query reads, without any policy (for evaluation: the gold tables of a gold
/// query). System catalogs are included; CTE names are not.
pub fn tables_read(sql: &str, dialect: Dialect) -> Result<BTreeSet<String>, Rejection> {
    let mut policy = Policy::new(dialect, u64::MAX, None);
    policy.allow_system_catalogs = true;
    policy.allowed_functions = Vec::new();
    let statements = parse(sql, dialect)?;
    let mut all = BTreeSet::new();
    for st in &statements {
        all.extend(walk::collect_tables(st, &policy));
    }
    Ok(all)
}

/// The kind of a statement in SQL words (`CREATE TABLE`, `SET`, …), for reports.
pub(crate) fn statement_kind(st: &Statement) -> String {
    statements::kind_name(st)
}

pub(crate) fn parse(sql: &str, dialect: Dialect) -> Result<Vec<Statement>, Rejection> {
    let result = match dialect {
        Dialect::Sqlite => Parser::parse_sql(&SQLiteDialect {}, sql),
        Dialect::Postgres => Parser::parse_sql(&PostgreSqlDialect {}, sql),
    };
    result.map_err(|e| {
        Rejection::new(
            RejectClass::Parse,
            format!(
                "the {} parser cannot read the SQL: {e}",
                dialect.display_name()
            ),
        )
    })
}

/// A literal integer (possibly negative, possibly parenthesised).
fn literal_int(expr: &Expr) -> Option<i128> {
    match expr {
        Expr::Value(v) => match &v.value {
            SqlValue::Number(n, _) => n.parse::<i128>().ok(),
            _ => None,
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => literal_int(expr).map(|n| -n),
        Expr::UnaryOp {
            op: UnaryOperator::Plus,
            expr,
        } => literal_int(expr),
        Expr::Nested(e) => literal_int(e),
        _ => None,
    }
}

fn number(n: u64) -> Expr {
    Expr::value(SqlValue::Number(n.to_string(), false))
}

/// Sets the top-level row limit; returns what was done (`Wrapped` leaves `query` as is).
fn apply_limit(query: &mut Query, max: u64) -> LimitAction {
    let max_i = i128::from(max);
    if let Some(fetch) = &mut query.fetch {
        if query.limit_clause.is_some() {
            return LimitAction::Wrapped(max);
        }
        return clamp_fetch(fetch, max);
    }
    match &mut query.limit_clause {
        None => {
            query.limit_clause = Some(LimitClause::LimitOffset {
                limit: Some(number(max)),
                offset: None,
                limit_by: Vec::new(),
            });
            LimitAction::Injected(max)
        }
        Some(LimitClause::LimitOffset {
            limit, limit_by, ..
        }) => {
            if !limit_by.is_empty() {
                return LimitAction::Wrapped(max);
            }
            match limit {
                None => {
                    *limit = Some(number(max));
                    LimitAction::Injected(max)
                }
                Some(e) => match literal_int(e) {
                    Some(n) if (0..=max_i).contains(&n) => LimitAction::Kept(n as u64),
                    Some(_) => {
                        *e = number(max);
                        LimitAction::Clamped(max)
                    }
                    None => LimitAction::Wrapped(max),
                },
            }
        }
        Some(LimitClause::OffsetCommaLimit { limit, .. }) => match literal_int(limit) {
            Some(n) if (0..=max_i).contains(&n) => LimitAction::Kept(n as u64),
            Some(_) => {
                *limit = number(max);
                LimitAction::Clamped(max)
            }
            None => LimitAction::Wrapped(max),
        },
    }
}

fn clamp_fetch(fetch: &mut Fetch, max: u64) -> LimitAction {
    if fetch.percent || fetch.with_ties {
        return LimitAction::Wrapped(max);
    }
    match &mut fetch.quantity {
        // FETCH FIRST ROW ONLY: one row.
        None => LimitAction::Kept(1.min(max)),
        Some(e) => match literal_int(e) {
            Some(n) if (0..=i128::from(max)).contains(&n) => LimitAction::Kept(n as u64),
            Some(_) => {
                *e = number(max);
                LimitAction::Clamped(max)
            }
            None => LimitAction::Wrapped(max),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(names: &[&str]) -> Option<Vec<TableName>> {
        Some(names.iter().map(|n| TableName::parse(n)).collect())
    }

    fn ok(sql: &str, dialect: Dialect) -> ValidatedQuery {
        let p = Policy::new(dialect, 100, tables(&["t", "u", "shop.orders"]));
        validate(sql, &p).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    fn refused(sql: &str, dialect: Dialect) -> Rejection {
        let p = Policy::new(dialect, 100, tables(&["t", "u", "shop.orders"]));
        validate(sql, &p).expect_err(sql)
    }

    #[test]
    fn injects_clamps_keeps_and_wraps_limits() {
        for d in [Dialect::Sqlite, Dialect::Postgres] {
            let q = ok("select a from t", d);
            assert_eq!(q.sql, "SELECT a FROM t LIMIT 100");
            assert_eq!(q.limit, LimitAction::Injected(100));
            assert_eq!(ok("select a from t limit 5", d).limit, LimitAction::Kept(5));
            let q = ok("select a from t limit 5000 offset 3", d);
            assert_eq!(q.sql, "SELECT a FROM t LIMIT 100 OFFSET 3");
            assert_eq!(q.limit, LimitAction::Clamped(100));
            let q = ok("select a from t limit -1", d);
            assert_eq!(q.limit, LimitAction::Clamped(100));
            let q = ok("select a from t limit (select 5)", d);
            assert_eq!(
                q.sql,
                "SELECT * FROM (SELECT a FROM t LIMIT (SELECT 5)) AS berth_limited LIMIT 100"
            );
        }
        let q = ok(
            "select a from t fetch first 500 rows only",
            Dialect::Postgres,
        );
        assert_eq!(q.limit, LimitAction::Clamped(100));
        let q = ok("select a from t limit 2, 500", Dialect::Sqlite);
        assert_eq!(q.limit, LimitAction::Clamped(100));
    }

    #[test]
    fn names_the_second_statement() {
        let r = refused("SeLeCt 1; DrOp TaBlE t", Dialect::Postgres);
        assert_eq!(r.class, RejectClass::MultipleStatements);
        assert!(r.message.starts_with("statement 2 (DROP)"), "{}", r.message);
    }

    #[test]
    fn reports_tables_and_respects_cte_scope() {
        let q = ok(
            "with x as (select * from t) select * from x join u using (id)",
            Dialect::Postgres,
        );
        assert_eq!(q.tables, vec!["t".to_string(), "u".to_string()]);
        // A non-recursive CTE body cannot see its own name: `secrets` there is the table.
        let r = refused(
            "with secrets as (select * from secrets) select * from secrets",
            Dialect::Postgres,
        );
        assert_eq!(r.class, RejectClass::Table);
        // Qualified names must match the schema.
        ok("select * from shop.orders", Dialect::Postgres);
        assert_eq!(
            refused("select * from other.orders", Dialect::Postgres).class,
            RejectClass::Table
        );
    }

    #[test]
    fn quoted_and_qualified_functions_are_refused() {
        for sql in [
            "select \"pg_sleep\"(10)",
            "select PG_CATALOG.PG_SLEEP(1)",
            "select * from t order by pg_sleep(1)",
            "select * from t join u on pg_sleep(1) is null",
        ] {
            let r = refused(sql, Dialect::Postgres);
            assert_eq!(r.class, RejectClass::Function, "{sql}");
            assert!(r.message.contains("pg_sleep"), "{}", r.message);
            assert!(r.message.contains("stall"), "{}", r.message);
        }
    }

    #[test]
    fn gold_tables_are_extracted() {
        let t = tables_read(
            "WITH a AS (SELECT * FROM x) SELECT * FROM a JOIN public.y ON true WHERE z IN (SELECT 1 FROM w)",
            Dialect::Postgres,
        )
        .unwrap();
        assert_eq!(
            t.into_iter().collect::<Vec<_>>(),
            vec!["public.y", "w", "x"]
        );
    }
}
