//! API keys: what a key grants (a principal, a scope of models, rate limits) and where
//! keys and their usage are kept ([`KeyStore`] for the gateway, [`KeyAdmin`] for `berth
//! keys`): [`SqliteKeyStore`] on the stack's local state database, or [`PgKeyStore`] on a
//! shared PostgreSQL state store, which every gateway replica then reads.
//!
//! Only a hash of each key is stored. Keys are 32 random base62 characters from the OS
//! (about 190 bits), so a fast hash is appropriate: there is nothing to brute-force, and
//! a slow password hash would only slow every request down.

use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Prefix of every key.
pub const KEY_PREFIX: &str = "bk-";

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A new random key: `bk-` and 32 base62 characters from the OS random number generator.
pub fn generate_key() -> Result<String, KeyStoreError> {
    let mut key = String::from(KEY_PREFIX);
    while key.len() < KEY_PREFIX.len() + 32 {
        let mut bytes = [0u8; 64];
        getrandom::fill(&mut bytes).map_err(|e| KeyStoreError::Random(e.to_string()))?;
        // Rejection sampling keeps the characters uniform: 248 = 4 * 62.
        for b in bytes {
            if b < 248 && key.len() < KEY_PREFIX.len() + 32 {
                key.push(BASE62[usize::from(b % 62)] as char);
            }
        }
    }
    Ok(key)
}

/// The stored form of a key: its BLAKE3 hash, in hex.
pub fn hash_key(key: &str) -> String {
    blake3::hash(key.as_bytes()).to_hex().to_string()
}

/// What a key grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// The key's id.
    pub id: i64,
    /// A label.
    pub name: Option<String>,
    /// The user the key acts for.
    pub user: String,
    /// The user's groups.
    pub groups: Vec<String>,
    /// The logical models the key may use; empty: every model.
    pub models: Vec<String>,
    /// Requests per minute, if limited.
    pub rpm: Option<u64>,
    /// Tokens (prompt and completion) per minute, if limited.
    pub tpm: Option<u64>,
    /// When the key was created (milliseconds since the Unix epoch).
    pub created_ms: i64,
    /// When the key was revoked, if it was.
    pub revoked_ms: Option<i64>,
}

impl KeyRecord {
    /// Whether the key may use the logical model `model`.
    pub fn allows(&self, model: &str) -> bool {
        self.models.is_empty() || self.models.iter().any(|m| m == model)
    }
}

/// Usage counted for one key, model and UTC day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRecord {
    /// The key's id.
    pub key_id: i64,
    /// The logical model (`-` when the request named none).
    pub model: String,
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// Requests.
    pub requests: u64,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Requests answered with an error.
    pub errors: u64,
}

/// A failure of the key store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyStoreError {
    /// A database error.
    #[error("{path}: {source}")]
    Sqlite {
        /// The database.
        path: PathBuf,
        /// The error.
        #[source]
        source: rusqlite::Error,
    },
    /// A PostgreSQL error.
    #[error("{url}: {source}")]
    Postgres {
        /// The server, password hidden.
        url: String,
        /// The error.
        #[source]
        source: postgres::Error,
    },
    /// The shared state store could not be opened (its schema brought up to date).
    #[error(transparent)]
    State(#[from] berth_ingest::state::StateError),
    /// The OS random number generator failed.
    #[error("no randomness from the OS: {0}")]
    Random(String),
}

/// Where the gateway finds keys and records usage. Calls block; the gateway makes them
/// off its request tasks.
pub trait KeyStore: Send + Sync + 'static {
    /// The key whose hash ([`hash_key`]) is `hash`, revoked or not.
    fn lookup(&self, hash: &str) -> Result<Option<KeyRecord>, KeyStoreError>;
    /// Whether any key, revoked or not, exists (none: the gateway may run open).
    fn has_keys(&self) -> Result<bool, KeyStoreError>;
    /// Adds `batch` to the stored usage counters.
    fn record_usage(&self, batch: &[UsageRecord]) -> Result<(), KeyStoreError>;
}

/// Managing keys: what `berth keys` does, on either store.
pub trait KeyAdmin: KeyStore {
    /// Creates a key; returns its id and the key itself (which is not stored and cannot
    /// be shown again).
    fn create(&self, new: &NewKey) -> Result<(i64, String), KeyStoreError>;
    /// Revokes key `id`; `false` when there is no such key. Revoking twice keeps the
    /// first time.
    fn revoke(&self, id: i64) -> Result<bool, KeyStoreError>;
    /// Every key with its usage totals, by id.
    fn list(&self) -> Result<Vec<KeySummary>, KeyStoreError>;
    /// The usage rows of key `id`, by model and day.
    fn usage(&self, id: i64) -> Result<Vec<UsageRecord>, KeyStoreError>;
    /// Where the keys are kept, for messages (never with a password).
    fn location(&self) -> String;
}

/// A new key's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewKey {
    /// A label.
    pub name: Option<String>,
    /// The user.
    pub user: String,
    /// The user's groups.
    pub groups: Vec<String>,
    /// Allowed logical models; empty: every model.
    pub models: Vec<String>,
    /// Requests per minute.
    pub rpm: Option<u64>,
    /// Tokens per minute.
    pub tpm: Option<u64>,
}

/// A key with its usage totals, for listing (never the key or its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySummary {
    /// The key.
    pub key: KeyRecord,
    /// Requests, all models and days.
    pub requests: u64,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Errors.
    pub errors: u64,
}

/// Keys and usage in the stack's state database (`api_keys` and `usage` tables). The
/// schema belongs to the state store, which creates and migrates it; open that first.
pub struct SqliteKeyStore {
    path: PathBuf,
    conn: Mutex<Connection>,
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The UTC day of `time`, as `YYYY-MM-DD`.
pub fn utc_day(time: SystemTime) -> String {
    let days = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
        / 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn parse_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

fn to_json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".to_owned())
}

const COLUMNS: &str = "id, name, user, groups, models, rpm, tpm, created_ms, revoked_ms";

fn record_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<KeyRecord> {
    Ok(KeyRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        user: r.get(2)?,
        groups: parse_list(&r.get::<_, String>(3)?),
        models: parse_list(&r.get::<_, String>(4)?),
        rpm: r.get::<_, Option<i64>>(5)?.map(|v| v.max(0) as u64),
        tpm: r.get::<_, Option<i64>>(6)?.map(|v| v.max(0) as u64),
        created_ms: r.get(7)?,
        revoked_ms: r.get(8)?,
    })
}

impl SqliteKeyStore {
    /// Opens the state database at `path` (it must exist, with its schema migrated).
    pub fn open(path: &Path) -> Result<SqliteKeyStore, KeyStoreError> {
        let wrap = |source| KeyStoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(wrap)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(wrap)?;
        Ok(SqliteKeyStore {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    fn sql<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, KeyStoreError> {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut conn).map_err(|source| KeyStoreError::Sqlite {
            path: self.path.clone(),
            source,
        })
    }

    /// Creates a key; returns its id and the key itself (which is not stored and cannot
    /// be shown again).
    pub fn create(&self, new: &NewKey) -> Result<(i64, String), KeyStoreError> {
        let key = generate_key()?;
        let hash = hash_key(&key);
        let id = self.sql(|c| {
            c.execute(
                "INSERT INTO api_keys (name, hash, user, groups, models, rpm, tpm, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    new.name,
                    hash,
                    new.user,
                    to_json(&new.groups),
                    to_json(&new.models),
                    new.rpm.map(|v| v.min(i64::MAX as u64) as i64),
                    new.tpm.map(|v| v.min(i64::MAX as u64) as i64),
                    now_ms()
                ],
            )?;
            Ok(c.last_insert_rowid())
        })?;
        Ok((id, key))
    }

    /// Revokes key `id`; `false` when there is no such key. Revoking twice keeps the
    /// first time.
    pub fn revoke(&self, id: i64) -> Result<bool, KeyStoreError> {
        self.sql(|c| {
            let n = c.execute(
                "UPDATE api_keys SET revoked_ms = COALESCE(revoked_ms, ?2) WHERE id = ?1",
                params![id, now_ms()],
            )?;
            Ok(n > 0)
        })
    }

    /// Every key with its usage totals, by id.
    pub fn list(&self) -> Result<Vec<KeySummary>, KeyStoreError> {
        self.sql(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {COLUMNS},
                    COALESCE((SELECT SUM(requests) FROM usage u WHERE u.key_id = k.id), 0),
                    COALESCE((SELECT SUM(prompt_tokens) FROM usage u WHERE u.key_id = k.id), 0),
                    COALESCE((SELECT SUM(completion_tokens) FROM usage u WHERE u.key_id = k.id), 0),
                    COALESCE((SELECT SUM(errors) FROM usage u WHERE u.key_id = k.id), 0)
                 FROM api_keys k ORDER BY id"
            ))?;
            let rows = stmt.query_map([], |r| {
                Ok(KeySummary {
                    key: record_from_row(r)?,
                    requests: r.get::<_, i64>(9)?.max(0) as u64,
                    prompt_tokens: r.get::<_, i64>(10)?.max(0) as u64,
                    completion_tokens: r.get::<_, i64>(11)?.max(0) as u64,
                    errors: r.get::<_, i64>(12)?.max(0) as u64,
                })
            })?;
            rows.collect()
        })
    }

    /// The usage rows of key `id`, by model and day.
    pub fn usage(&self, id: i64) -> Result<Vec<UsageRecord>, KeyStoreError> {
        self.sql(|c| {
            let mut stmt = c.prepare(
                "SELECT key_id, model, day, requests, prompt_tokens, completion_tokens, errors
                 FROM usage WHERE key_id = ?1 ORDER BY model, day",
            )?;
            let rows = stmt.query_map([id], |r| {
                Ok(UsageRecord {
                    key_id: r.get(0)?,
                    model: r.get(1)?,
                    day: r.get(2)?,
                    requests: r.get::<_, i64>(3)?.max(0) as u64,
                    prompt_tokens: r.get::<_, i64>(4)?.max(0) as u64,
                    completion_tokens: r.get::<_, i64>(5)?.max(0) as u64,
                    errors: r.get::<_, i64>(6)?.max(0) as u64,
                })
            })?;
            rows.collect()
        })
    }
}

impl KeyStore for SqliteKeyStore {
    fn lookup(&self, hash: &str) -> Result<Option<KeyRecord>, KeyStoreError> {
        self.sql(|c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM api_keys WHERE hash = ?1"),
                [hash],
                record_from_row,
            )
            .optional()
        })
    }

    fn has_keys(&self) -> Result<bool, KeyStoreError> {
        self.sql(|c| c.query_row("SELECT EXISTS (SELECT 1 FROM api_keys)", [], |r| r.get(0)))
    }

    fn record_usage(&self, batch: &[UsageRecord]) -> Result<(), KeyStoreError> {
        let clamp = |v: u64| v.min(i64::MAX as u64) as i64;
        self.sql(|c| {
            let tx = c.transaction()?;
            {
                let mut stmt = tx.prepare(
                    "INSERT INTO usage
                        (key_id, model, day, requests, prompt_tokens, completion_tokens, errors)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (key_id, model, day) DO UPDATE SET
                        requests = requests + excluded.requests,
                        prompt_tokens = prompt_tokens + excluded.prompt_tokens,
                        completion_tokens = completion_tokens + excluded.completion_tokens,
                        errors = errors + excluded.errors",
                )?;
                for u in batch {
                    stmt.execute(params![
                        u.key_id,
                        u.model,
                        u.day,
                        clamp(u.requests),
                        clamp(u.prompt_tokens),
                        clamp(u.completion_tokens),
                        clamp(u.errors)
                    ])?;
                }
            }
            tx.commit()
        })
    }
}

impl KeyAdmin for SqliteKeyStore {
    fn create(&self, new: &NewKey) -> Result<(i64, String), KeyStoreError> {
        SqliteKeyStore::create(self, new)
    }
    fn revoke(&self, id: i64) -> Result<bool, KeyStoreError> {
        SqliteKeyStore::revoke(self, id)
    }
    fn list(&self) -> Result<Vec<KeySummary>, KeyStoreError> {
        SqliteKeyStore::list(self)
    }
    fn usage(&self, id: i64) -> Result<Vec<UsageRecord>, KeyStoreError> {
        SqliteKeyStore::usage(self, id)
    }
    fn location(&self) -> String {
        self.path.display().to_string()
    }
}

/// Keys and usage in a shared PostgreSQL state store (schema `berth`: `api_keys` and
/// `usage`, created by the state store's migrations), so every gateway replica accepts
/// the same keys and counts usage in one place.
pub struct PgKeyStore {
    shown: String,
    /// Taken only when the store is dropped.
    client: Mutex<Option<postgres::Client>>,
}

impl Drop for PgKeyStore {
    fn drop(&mut self) {
        let client = self.client.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = client.take() {
            berth_ingest::state::postgres::drop_off_runtime(client);
        }
    }
}

impl std::fmt::Debug for PgKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgKeyStore")
            .field("url", &self.shown)
            .finish()
    }
}

fn pg_record(r: &postgres::Row) -> KeyRecord {
    KeyRecord {
        id: r.get(0),
        name: r.get(1),
        user: r.get(2),
        groups: parse_list(&r.get::<_, String>(3)),
        models: parse_list(&r.get::<_, String>(4)),
        rpm: r.get::<_, Option<i64>>(5).map(|v| v.max(0) as u64),
        tpm: r.get::<_, Option<i64>>(6).map(|v| v.max(0) as u64),
        created_ms: r.get(7),
        revoked_ms: r.get(8),
    }
}

const PG_COLUMNS: &str = r#"id, name, "user", groups, models, rpm, tpm, created_ms, revoked_ms"#;

impl PgKeyStore {
    /// Connects to the shared state store at `url` (credentials in), bringing its schema
    /// up to date first.
    pub fn connect(url: &str) -> Result<PgKeyStore, KeyStoreError> {
        use berth_ingest::state::postgres::{PgOptions, PgStateStore, redact};
        let options = PgOptions::default();
        drop(PgStateStore::connect_reader(url, options.clone())?);
        let shown = redact(url);
        let wrap = |source| KeyStoreError::Postgres {
            url: shown.clone(),
            source,
        };
        let mut client = postgres::Client::connect(url, postgres::NoTls).map_err(wrap)?;
        client
            .batch_execute(&format!(
                "SET search_path TO \"{}\"",
                options.schema.replace('"', "\"\"")
            ))
            .map_err(wrap)?;
        Ok(PgKeyStore {
            shown: shown.clone(),
            client: Mutex::new(Some(client)),
        })
    }

    fn pg<T>(
        &self,
        f: impl FnOnce(&mut postgres::Client) -> Result<T, postgres::Error>,
    ) -> Result<T, KeyStoreError> {
        let mut client = self.client.lock().unwrap_or_else(|e| e.into_inner());
        let client = client.as_mut().expect("taken only on drop");
        f(client).map_err(|source| KeyStoreError::Postgres {
            url: self.shown.clone(),
            source,
        })
    }
}

impl KeyStore for PgKeyStore {
    fn lookup(&self, hash: &str) -> Result<Option<KeyRecord>, KeyStoreError> {
        self.pg(|c| {
            c.query_opt(
                &format!("SELECT {PG_COLUMNS} FROM api_keys WHERE hash = $1"),
                &[&hash],
            )
        })
        .map(|row| row.as_ref().map(pg_record))
    }

    fn has_keys(&self) -> Result<bool, KeyStoreError> {
        self.pg(|c| c.query_one("SELECT EXISTS (SELECT 1 FROM api_keys)", &[]))
            .map(|r| r.get(0))
    }

    fn record_usage(&self, batch: &[UsageRecord]) -> Result<(), KeyStoreError> {
        let clamp = |v: u64| v.min(i64::MAX as u64) as i64;
        self.pg(|c| {
            let mut tx = c.transaction()?;
            let stmt = tx.prepare(
                "INSERT INTO usage
                    (key_id, model, day, requests, prompt_tokens, completion_tokens, errors)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (key_id, model, day) DO UPDATE SET
                    requests = usage.requests + excluded.requests,
                    prompt_tokens = usage.prompt_tokens + excluded.prompt_tokens,
                    completion_tokens = usage.completion_tokens + excluded.completion_tokens,
                    errors = usage.errors + excluded.errors",
            )?;
            for u in batch {
                tx.execute(
                    &stmt,
                    &[
                        &u.key_id,
                        &u.model,
                        &u.day,
                        &clamp(u.requests),
                        &clamp(u.prompt_tokens),
                        &clamp(u.completion_tokens),
                        &clamp(u.errors),
                    ],
                )?;
            }
            tx.commit()
        })
    }
}

impl KeyAdmin for PgKeyStore {
    fn create(&self, new: &NewKey) -> Result<(i64, String), KeyStoreError> {
        let key = generate_key()?;
        let hash = hash_key(&key);
        let id = self.pg(|c| {
            c.query_one(
                r#"INSERT INTO api_keys (name, hash, "user", groups, models, rpm, tpm, created_ms)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id"#,
                &[
                    &new.name,
                    &hash,
                    &new.user,
                    &to_json(&new.groups),
                    &to_json(&new.models),
                    &new.rpm.map(|v| v.min(i64::MAX as u64) as i64),
                    &new.tpm.map(|v| v.min(i64::MAX as u64) as i64),
                    &now_ms(),
                ],
            )
        })?;
        Ok((id.get(0), key))
    }

    fn revoke(&self, id: i64) -> Result<bool, KeyStoreError> {
        self.pg(|c| {
            c.execute(
                "UPDATE api_keys SET revoked_ms = COALESCE(revoked_ms, $2) WHERE id = $1",
                &[&id, &now_ms()],
            )
        })
        .map(|n| n > 0)
    }

    fn list(&self) -> Result<Vec<KeySummary>, KeyStoreError> {
        let rows = self.pg(|c| {
            c.query(
                &format!(
                    "SELECT {PG_COLUMNS},
                        COALESCE((SELECT SUM(requests) FROM usage u WHERE u.key_id = k.id), 0)::BIGINT,
                        COALESCE((SELECT SUM(prompt_tokens) FROM usage u WHERE u.key_id = k.id), 0)::BIGINT,
                        COALESCE((SELECT SUM(completion_tokens) FROM usage u WHERE u.key_id = k.id), 0)::BIGINT,
                        COALESCE((SELECT SUM(errors) FROM usage u WHERE u.key_id = k.id), 0)::BIGINT
                     FROM api_keys k ORDER BY id"
                ),
                &[],
            )
        })?;
        Ok(rows
            .iter()
            .map(|r| KeySummary {
                key: pg_record(r),
                requests: r.get::<_, i64>(9).max(0) as u64,
                prompt_tokens: r.get::<_, i64>(10).max(0) as u64,
                completion_tokens: r.get::<_, i64>(11).max(0) as u64,
                errors: r.get::<_, i64>(12).max(0) as u64,
            })
            .collect())
    }

    fn usage(&self, id: i64) -> Result<Vec<UsageRecord>, KeyStoreError> {
        let rows = self.pg(|c| {
            c.query(
                "SELECT key_id, model, day, requests, prompt_tokens, completion_tokens, errors
                 FROM usage WHERE key_id = $1 ORDER BY model COLLATE \"C\", day",
                &[&id],
            )
        })?;
        Ok(rows
            .iter()
            .map(|r| UsageRecord {
                key_id: r.get(0),
                model: r.get(1),
                day: r.get(2),
                requests: r.get::<_, i64>(3).max(0) as u64,
                prompt_tokens: r.get::<_, i64>(4).max(0) as u64,
                completion_tokens: r.get::<_, i64>(5).max(0) as u64,
                errors: r.get::<_, i64>(6).max(0) as u64,
            })
            .collect())
    }

    fn location(&self) -> String {
        format!("the shared state store at {}", self.shown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_base62_and_distinct() {
        let a = generate_key().unwrap();
        let b = generate_key().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 35);
        assert!(a.starts_with("bk-"));
        assert!(a[3..].bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(hash_key(&a), hash_key(&a));
        assert_ne!(hash_key(&a), hash_key(&b));
        assert!(!hash_key(&a).contains(&a[3..]));
    }

    #[test]
    fn utc_days() {
        assert_eq!(utc_day(UNIX_EPOCH), "1970-01-01");
        let t = UNIX_EPOCH + Duration::from_secs(1_709_208_000); // 2024-02-29T12:00Z
        assert_eq!(utc_day(t), "2024-02-29");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29T00:00Z
        assert_eq!(utc_day(t), "2000-02-29");
    }

    #[test]
    fn scope() {
        let mut k = KeyRecord {
            id: 1,
            name: None,
            user: "u".into(),
            groups: vec![],
            models: vec![],
            rpm: None,
            tpm: None,
            created_ms: 0,
            revoked_ms: None,
        };
        assert!(k.allows("anything"));
        k.models = vec!["chat".into()];
        assert!(k.allows("chat"));
        assert!(!k.allows("embed"));
    }
}
