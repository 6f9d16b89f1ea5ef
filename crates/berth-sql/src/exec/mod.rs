//! Running SQL with every read-only layer the database offers.
//!
//! [`Database`] is cheap to clone and opens a fresh connection for each call (SQLite: a
//! read-only file handle on a blocking thread; PostgreSQL: a session whose transaction is
//! rolled back), so no state survives from one question to the next. All methods are
//! `async` and never block the runtime.

mod pgvalue;
mod postgres;
mod sqlite;

use std::time::Duration;

use serde::Serialize;

use crate::error::Error;
use crate::schema::{SampleOptions, Schema};
use crate::url::{DatabaseUrl, Dialect};
use crate::validate::ValidatedQuery;
use crate::value::Value;

/// Limits and identity for execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOptions {
    /// Rows returned at most; the fetch stops at one more to detect truncation. Default 100.
    pub max_rows: u64,
    /// Statement time limit (PostgreSQL `statement_timeout`, SQLite progress handler).
    /// Default 5 s.
    pub timeout: Duration,
    /// Time allowed to connect (PostgreSQL). Default 10 s.
    pub connect_timeout: Duration,
    /// PostgreSQL role to `SET LOCAL ROLE` to before each statement (a dedicated read-only
    /// role; see `docs/text2sql.md`). The login user must be a member of it.
    pub role: Option<String>,
    /// PostgreSQL `search_path` for each statement (`SET LOCAL`), e.g. `["consumer_div",
    /// "public"]`; `None` keeps the server's.
    pub search_path: Option<Vec<String>>,
}

impl Default for ExecOptions {
    fn default() -> ExecOptions {
        ExecOptions {
            max_rows: 100,
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
            role: None,
            search_path: None,
        }
    }
}

/// Rows of a query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryResult {
    /// Column names in order.
    pub columns: Vec<String>,
    /// Rows, each with one value per column.
    pub rows: Vec<Vec<Value>>,
    /// Whether the row cap was reached: more rows may exist than were returned.
    pub truncated: bool,
}

/// A database to ask: where it is and how to run statements on it.
#[derive(Debug, Clone)]
pub struct Database {
    url: DatabaseUrl,
    options: ExecOptions,
}

impl Database {
    /// A database at `url` with these limits. Connects nothing yet; see [`Database::check`].
    pub fn new(url: DatabaseUrl, options: ExecOptions) -> Database {
        Database { url, options }
    }

    /// The dialect.
    pub fn dialect(&self) -> Dialect {
        self.url.dialect()
    }

    /// The URL (prints redacted).
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// The limits.
    pub fn options(&self) -> &ExecOptions {
        &self.options
    }

    /// Opens a connection once to report a wrong path, host or password early.
    pub async fn check(&self) -> Result<(), Error> {
        match &self.url {
            DatabaseUrl::Sqlite { path } => {
                let path = path.clone();
                blocking(move || sqlite::open(&path, true).map(|_| ())).await
            }
            DatabaseUrl::Postgres { url } => {
                postgres::connect(url, &self.options).await.map(|_| ())
            }
        }
    }

    /// Reads the schema: tables the connection may read, columns, keys, comments and a few
    /// sample values per column.
    pub async fn introspect(&self, samples: &SampleOptions) -> Result<Schema, Error> {
        match &self.url {
            DatabaseUrl::Sqlite { path } => {
                let path = path.clone();
                let samples = *samples;
                let timeout = self.options.timeout;
                blocking(move || sqlite::introspect(&path, &samples, timeout)).await
            }
            DatabaseUrl::Postgres { url } => {
                let client = postgres::connect(url, &self.options).await?;
                postgres::introspect(&client, &self.options, samples).await
            }
        }
    }

    /// Runs a validated query. `truncated` is true when the fetch found more rows than
    /// `max_rows`, or when the validator imposed the limit and the result reached it.
    pub async fn execute(&self, query: &ValidatedQuery) -> Result<QueryResult, Error> {
        let mut result = self.run_read_only(&query.sql).await?;
        if query.limit.imposed() && result.rows.len() as u64 >= query.limit.rows() {
            result.truncated = true;
        }
        Ok(result)
    }

    /// Runs any SQL text through the executor's read-only layers only, without the
    /// validator. This is the second line of defence on its own, exposed so that it can be
    /// tested alone; applications call [`Database::execute`] with a [`ValidatedQuery`].
    pub async fn run_read_only(&self, sql: &str) -> Result<QueryResult, Error> {
        match &self.url {
            DatabaseUrl::Sqlite { path } => {
                let path = path.clone();
                let sql = sql.to_string();
                let max = self.options.max_rows;
                let timeout = self.options.timeout;
                blocking(move || {
                    let mut conn = sqlite::open(&path, true)?;
                    sqlite::run(&mut conn, &sql, max, timeout)
                })
                .await
            }
            DatabaseUrl::Postgres { url } => {
                let client = postgres::connect(url, &self.options).await?;
                postgres::run(&client, sql, &self.options).await
            }
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal {
            reason: format!("a database task failed: {e}"),
        })?
}

/// An identifier in double quotes, inner quotes doubled (valid in both dialects).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
