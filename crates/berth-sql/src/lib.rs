//! Text2SQL for berth: a question in, validated read-only SQL and rows out.
//!
//! The `text2sql` app of a stack (`kind: text2sql`, `database: ${secret:…}`) finds the part
//! of the schema a question needs, has the app's model write SQL, proves the SQL can only
//! read, runs it with a row limit and a time limit, and repairs the SQL when the database or
//! the validator rejects it.
//!
//! # Brief overview
//!
//! - [`DatabaseUrl`] names a database (`sqlite:…`, a `.db` file, `postgres://…`) and prints
//!   without its password; [`Database`] runs statements on it, each call on a fresh
//!   read-only connection (SQLite: read-only file, `query_only`, an authorizer, a progress
//!   handler for the time limit; PostgreSQL: `BEGIN READ ONLY`, `statement_timeout`,
//!   optional `SET ROLE`, always rolled back). Everything is `async` and never blocks the
//!   runtime.
//! - [`Database::introspect`] reads a [`Schema`] (tables, columns, keys, comments, sample
//!   values); [`Descriptions`] merges a descriptions file; [`Schema::render`] writes the
//!   DDL-like prompt text and [`estimate_tokens`] sizes it.
//! - [`SchemaIndex`] links a question to the tables it needs within a token budget
//!   ([`LinkOptions`]), lexically and optionally with an [`berth_models::Embedder`].
//! - [`validate`] is the safety gate: exactly one read-only query, allowed tables only, no
//!   dangerous functions, no locks; it injects or clamps the `LIMIT` and re-renders the SQL.
//! - [`Text2Sql`] ties it together: [`Text2Sql::answer`] links, prompts the [`SqlModel`],
//!   extracts ([`extract_sql`]), validates, executes and repairs, and returns an [`Answer`]
//!   with every [`Attempt`] and the [`Timings`].
//! - [`load_sqlite`] / [`load_postgres`] load PostgreSQL dumps (tests and benchmarks only);
//!   [`same_result`] tells whether an answer's rows hold a gold query's (execution
//!   accuracy in evaluations).
//!
//! ```
//! use berth_sql::{Dialect, Policy, RejectClass, TableName, validate};
//!
//! let policy = Policy::new(Dialect::Postgres, 100, Some(vec![TableName::new("orders")]));
//! let q = validate("select * from orders -- all of them", &policy)?;
//! assert_eq!(q.sql, "SELECT * FROM orders LIMIT 100");
//!
//! let refused = validate("select 1; delete from orders", &policy).unwrap_err();
//! assert_eq!(refused.class, RejectClass::MultipleStatements);
//! let refused = validate("select pg_sleep(10)", &policy).unwrap_err();
//! assert_eq!(refused.message, "function pg_sleep is not allowed (it can stall the database)");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! This crate does not call models (the gateway implements [`SqlModel`] over its routed chat
//! model), serve HTTP, or resolve secrets; and it never writes to an app's database.
mod answer;
mod app;
mod compare;
mod error;
mod exec;
mod link;
mod load;
mod schema;
mod url;
mod validate;
mod value;

pub use answer::{Answer, Attempt, Timings};
pub use app::{
    BoxFuture, DEFAULT_PROMPT, ModelError, Question, SqlModel, Text2Sql, Text2SqlConfig,
    extract_sql,
};
pub use compare::same_result;
pub use error::{Error, RejectClass, Rejection, Result};
pub use exec::{Database, ExecOptions, QueryResult, quote_ident};
pub use link::{LinkOptions, Linked, SchemaIndex, stem, terms};
pub use load::{LoadReport, load_postgres, load_sqlite, replace_dbname, translate_dump};
pub use schema::{
    Column, ColumnDescription, Descriptions, ForeignKey, SampleOptions, Schema, Table, TableName,
    estimate_tokens, is_numeric_type, render_table,
};
pub use url::{DatabaseUrl, Dialect, redact};
pub use validate::{LimitAction, MAX_SQL_BYTES, Policy, ValidatedQuery, tables_read, validate};
pub use value::Value;
