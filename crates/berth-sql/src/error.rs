//! Why a Text2SQL step failed: typed, with the context as data.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

/// The family a refused query belongs to. Stable snake_case names (`write`, `function`, …)
/// are used in reports and in the adversarial test corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RejectClass {
    /// The parser could not read the text (berth never guesses around a parse failure).
    Parse,
    /// There is no statement at all.
    Empty,
    /// More than one statement.
    MultipleStatements,
    /// A statement or clause that changes data: INSERT, UPDATE, DELETE, MERGE, TRUNCATE,
    /// data-modifying CTEs, `SELECT … INTO`.
    Write,
    /// A statement that changes the schema: CREATE, DROP, ALTER, COMMENT, …
    Ddl,
    /// Privileges and identities: GRANT, REVOKE, SET ROLE, CREATE/ALTER ROLE or USER.
    Privilege,
    /// Session, connection and maintenance state: SET, RESET, PRAGMA, ATTACH, DETACH,
    /// VACUUM, ANALYZE, LISTEN, NOTIFY, LOCK, transaction control, DISCARD.
    Session,
    /// Running code: CALL, DO, EXECUTE, PREPARE, DEALLOCATE.
    Procedure,
    /// COPY in any direction (files and programs on the server).
    Copy,
    /// Any other statement that is not a query (EXPLAIN, SHOW, …).
    NotAQuery,
    /// Row locks: FOR UPDATE / SHARE / NO KEY UPDATE / KEY SHARE.
    Locking,
    /// A table outside the app's schema.
    Table,
    /// A system catalog (pg_catalog, information_schema, sqlite_master, …).
    SystemCatalog,
    /// A function that can stall, read files, reach the network, change settings, run
    /// dynamic SQL or take locks.
    Function,
    /// A construct berth does not accept in this dialect.
    Unsupported,
}

impl RejectClass {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectClass::Parse => "parse",
            RejectClass::Empty => "empty",
            RejectClass::MultipleStatements => "multiple_statements",
            RejectClass::Write => "write",
            RejectClass::Ddl => "ddl",
            RejectClass::Privilege => "privilege",
            RejectClass::Session => "session",
            RejectClass::Procedure => "procedure",
            RejectClass::Copy => "copy",
            RejectClass::NotAQuery => "not_a_query",
            RejectClass::Locking => "locking",
            RejectClass::Table => "table",
            RejectClass::SystemCatalog => "system_catalog",
            RejectClass::Function => "function",
            RejectClass::Unsupported => "unsupported",
        }
    }
}

impl fmt::Display for RejectClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A query refused before execution: the family and a message that says where and why
/// (the message is also what the model reads in a repair prompt).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Rejection {
    /// The family.
    pub class: RejectClass,
    /// Where and why, for people and for the model.
    pub message: String,
}

impl Rejection {
    pub(crate) fn new(class: RejectClass, message: impl Into<String>) -> Rejection {
        Rejection {
            class,
            message: message.into(),
        }
    }
}

/// Every failure of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A database URL that berth cannot use (printed with its password hidden).
    #[error("database URL {url}: {reason}")]
    Url {
        /// The URL, redacted.
        url: String,
        /// Why.
        reason: String,
    },
    /// The database could not be opened or reached.
    #[error("cannot connect to {target}: {reason}")]
    Connect {
        /// The database, redacted.
        target: String,
        /// Why.
        reason: String,
    },
    /// The validator refused the query.
    #[error("query refused ({}): {}", .0.class, .0.message)]
    Rejected(#[from] Rejection),
    /// The database refused or failed the statement (syntax, unknown column, read-only
    /// violation, permission). The message is the database's own.
    #[error("the database refused the query: {message}")]
    Database {
        /// The database's message (SQLSTATE included for PostgreSQL).
        message: String,
    },
    /// The statement ran past its time limit and was cancelled.
    #[error("the query ran longer than {}ms and was cancelled", limit.as_millis())]
    Timeout {
        /// The limit.
        limit: Duration,
    },
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The descriptions file is not in the expected format.
    #[error("descriptions file {}: {reason}", path.display())]
    Descriptions {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The prompt template does not compile or render.
    #[error("prompt template: {reason}")]
    Template {
        /// Why.
        reason: String,
    },
    /// A PostgreSQL dump could not be translated or loaded.
    #[error("dump, statement {statement}: {reason}")]
    Dump {
        /// The 1-based statement number in the dump.
        statement: usize,
        /// Why.
        reason: String,
    },
    /// The embedder failed while linking the schema.
    #[error("schema linking: {0}")]
    Embed(#[from] berth_models::EmbedError),
    /// The model could not be asked.
    #[error("the model failed: {reason}")]
    Model {
        /// Why.
        reason: String,
    },
    /// Every attempt (the first answer and each repair) failed.
    #[error("{}", Exhausted(.attempts))]
    Exhausted {
        /// Every attempt, in order.
        attempts: Vec<crate::answer::Attempt>,
    },
    /// A task could not finish (a blocking task panicked or was cancelled).
    #[error("internal error: {reason}")]
    Internal {
        /// Why.
        reason: String,
    },
}

impl Error {
    /// Whether the error is one the model can fix by rewriting its SQL (a refused query,
    /// a database error, a timeout) as opposed to an infrastructure failure.
    pub fn is_repairable(&self) -> bool {
        matches!(
            self,
            Error::Rejected(_) | Error::Database { .. } | Error::Timeout { .. }
        )
    }
}

struct Exhausted<'a>(&'a [crate::answer::Attempt]);

impl fmt::Display for Exhausted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no working SQL after {} attempts", self.0.len())?;
        for (i, a) in self.0.iter().enumerate() {
            write!(
                f,
                "\n  attempt {}: {}\n    error: {}",
                i + 1,
                a.sql.as_deref().unwrap_or("(no SQL found in the answer)"),
                a.error.as_deref().unwrap_or("none")
            )?;
        }
        Ok(())
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
