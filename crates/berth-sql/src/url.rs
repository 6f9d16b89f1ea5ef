//! Database URLs: which engine, where, and how to print them without the password.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// The SQL dialect of a database: decides the parser, the prompt wording and the executor.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    /// SQLite 3 (a file, opened read-only).
    Sqlite,
    /// PostgreSQL (a server).
    Postgres,
}

impl Dialect {
    /// The name used in prompts and reports (`SQLite`, `PostgreSQL`).
    pub fn display_name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "SQLite",
            Dialect::Postgres => "PostgreSQL",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        })
    }
}

/// Where a database is. Holds a secret for PostgreSQL (the password in the URL), so its
/// `Debug` and `Display` print the URL with the password replaced by `***`.
///
/// Accepted forms:
/// - `sqlite:///abs/path.db`, `sqlite:relative.db`, `sqlite://relative.db`, or a plain path
///   ending in `.db`, `.sqlite` or `.sqlite3`;
/// - `postgres://user:password@host:port/dbname?options` and `postgresql://…`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite file.
    Sqlite {
        /// The file (never created: it must exist).
        path: PathBuf,
    },
    /// A PostgreSQL server.
    Postgres {
        /// The URL as given, password included: pass it to the driver, never print it.
        url: String,
    },
}

impl DatabaseUrl {
    /// Parses a URL as written in the stack file once its secret was resolved.
    pub fn parse(text: &str) -> Result<DatabaseUrl, Error> {
        let t = text.trim();
        let lower = t.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            let rest = &t[t.find("://").map(|i| i + 3).unwrap_or(0)..];
            if rest.is_empty() {
                return Err(Error::Url {
                    url: redact(t),
                    reason: "the URL names no host".into(),
                });
            }
            return Ok(DatabaseUrl::Postgres { url: t.to_string() });
        }
        if let Some(rest) = t.strip_prefix("sqlite:") {
            // sqlite:///abs → /abs ; sqlite://rel → rel ; sqlite:rel → rel
            let path = if let Some(abs) = rest.strip_prefix("//") {
                abs
            } else {
                rest
            };
            let path = path.split('?').next().unwrap_or("");
            if path.is_empty() {
                return Err(Error::Url {
                    url: redact(t),
                    reason: "the URL names no file".into(),
                });
            }
            return Ok(DatabaseUrl::Sqlite {
                path: PathBuf::from(path),
            });
        }
        let ext = Path::new(t)
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase());
        if matches!(ext.as_deref(), Some("db" | "sqlite" | "sqlite3")) && !t.contains("://") {
            return Ok(DatabaseUrl::Sqlite {
                path: PathBuf::from(t),
            });
        }
        Err(Error::Url {
            url: redact(t),
            reason: "expected postgres://…, postgresql://…, sqlite:PATH or a file ending in .db, \
                     .sqlite or .sqlite3"
                .into(),
        })
    }

    /// The dialect of the database this URL names.
    pub fn dialect(&self) -> Dialect {
        match self {
            DatabaseUrl::Sqlite { .. } => Dialect::Sqlite,
            DatabaseUrl::Postgres { .. } => Dialect::Postgres,
        }
    }

    /// The URL safe to print: the password (in the user-info part or a `password=` option)
    /// replaced by `***`.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite { path } => format!("sqlite:{}", path.display()),
            DatabaseUrl::Postgres { url } => redact(url),
        }
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

pub use berth_stack::text::redact_url as redact;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_form() {
        let cases = [
            ("sqlite:///abs/x.db", Dialect::Sqlite, "sqlite:/abs/x.db"),
            ("sqlite:rel.db", Dialect::Sqlite, "sqlite:rel.db"),
            (
                "data/shop.sqlite",
                Dialect::Sqlite,
                "sqlite:data/shop.sqlite",
            ),
            ("/tmp/a.db", Dialect::Sqlite, "sqlite:/tmp/a.db"),
            (
                "postgres://u:hunter2@h:5432/db",
                Dialect::Postgres,
                "postgres://u:***@h:5432/db",
            ),
            (
                "postgresql://u@h/db?password=hunter2&sslmode=disable",
                Dialect::Postgres,
                "postgresql://u@h/db?password=***&sslmode=disable",
            ),
        ];
        for (text, dialect, shown) in cases {
            let url = DatabaseUrl::parse(text).unwrap();
            assert_eq!(url.dialect(), dialect, "{text}");
            assert_eq!(url.to_string(), shown, "{text}");
            assert!(!format!("{url:?}").contains("hunter2"));
        }
    }

    #[test]
    fn refuses_unknown_schemes_without_printing_the_password() {
        let err = DatabaseUrl::parse("mysql://root:hunter2@h/db").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("mysql://root:***@h/db"), "{msg}");
        assert!(!msg.contains("hunter2"));
        assert!(DatabaseUrl::parse("sqlite:").is_err());
        assert!(DatabaseUrl::parse("notes.txt").is_err());
    }
}
