//! SQLite: a read-only connection, `query_only`, an authorizer that permits reads only, a
//! length limit, no attached databases, and a progress handler that stops a statement at
//! its time limit.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;
use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::error::Error;
use crate::exec::{QueryResult, quote_ident};
use crate::schema::{
    Column, ForeignKey, SampleOptions, Schema, Table, TableName, pick_link_values, pick_samples,
};
use crate::url::Dialect;
use crate::value::Value;

/// Largest string or blob a query may build (bytes): `randomblob(1e9)` fails instead of
/// allocating a gigabyte.
const MAX_LENGTH: i32 = 10_000_000;

/// Functions the authorizer refuses even if the validator was bypassed.
const DENIED_FUNCTIONS: &[&str] = &[
    "load_extension",
    "readfile",
    "writefile",
    "edit",
    "fts3_tokenizer",
];

/// Opens `path` read-only. With `guarded`, installs the authorizer (reads, selects and
/// ordinary functions only): that is how every query runs. Introspection runs unguarded
/// (it needs `pragma_table_info`) but still read-only and `query_only`.
pub(crate) fn open(path: &Path, guarded: bool) -> Result<Connection, Error> {
    let target = format!("sqlite:{}", path.display());
    if !path.is_file() {
        return Err(Error::Connect {
            target,
            reason: "no such file (berth opens SQLite databases read-only and never creates one)"
                .into(),
        });
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connect = |e: rusqlite::Error| Error::Connect {
        target: target.clone(),
        reason: e.to_string(),
    };
    let mut conn = Connection::open_with_flags(path, flags).map_err(connect)?;
    conn.pragma_update(None, "query_only", true)
        .map_err(connect)?;
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)
        .map_err(connect)?;
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA,
        false,
    )
    .map_err(connect)?;
    conn.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0)
        .map_err(connect)?;
    conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, MAX_LENGTH)
        .map_err(connect)?;
    if guarded {
        conn.authorizer(Some(authorize)).map_err(connect)?;
    }
    Ok(conn)
}

fn authorize(ctx: AuthContext<'_>) -> Authorization {
    match ctx.action {
        AuthAction::Select | AuthAction::Recursive => Authorization::Allow,
        AuthAction::Read { table_name, .. } => {
            if table_name.to_ascii_lowercase().starts_with("sqlite_") {
                Authorization::Deny
            } else {
                Authorization::Allow
            }
        }
        AuthAction::Function { function_name } => {
            let f = function_name.to_ascii_lowercase();
            if DENIED_FUNCTIONS.contains(&f.as_str()) {
                Authorization::Deny
            } else {
                Authorization::Allow
            }
        }
        _ => Authorization::Deny,
    }
}

fn db_error(e: rusqlite::Error, limit: Duration) -> Error {
    if let rusqlite::Error::SqliteFailure(f, _) = &e
        && f.code == ErrorCode::OperationInterrupted
    {
        return Error::Timeout { limit };
    }
    Error::Database {
        message: e.to_string(),
    }
}

/// Runs one statement on a guarded connection: refuses statements SQLite itself does not
/// call read-only, stops at the deadline, reads at most `max_rows + 1` rows.
pub(crate) fn run(
    conn: &mut Connection,
    sql: &str,
    max_rows: u64,
    timeout: Duration,
) -> Result<QueryResult, Error> {
    let deadline = Instant::now() + timeout;
    conn.progress_handler(1000, Some(move || Instant::now() >= deadline))
        .map_err(|e| db_error(e, timeout))?;
    let result = run_inner(conn, sql, max_rows, timeout);
    let _ = conn.progress_handler(0, None::<fn() -> bool>);
    result
}

fn run_inner(
    conn: &Connection,
    sql: &str,
    max_rows: u64,
    timeout: Duration,
) -> Result<QueryResult, Error> {
    let mut stmt = conn.prepare(sql).map_err(|e| db_error(e, timeout))?;
    if !stmt.readonly() {
        return Err(Error::Database {
            message: "SQLite reports that this statement is not read-only; refused".into(),
        });
    }
    let columns: Vec<String> = stmt.column_names().map(|c| c.to_string()).collect();
    let n = columns.len();
    let mut rows_out = Vec::new();
    let mut truncated = false;
    let mut rows = stmt.query([]).map_err(|e| db_error(e, timeout))?;
    while let Some(row) = rows.next().map_err(|e| db_error(e, timeout))? {
        if rows_out.len() as u64 >= max_rows {
            truncated = true;
            break;
        }
        let mut values = Vec::with_capacity(n);
        for i in 0..n {
            let v = row.get_ref(i).map_err(|e| db_error(e, timeout))?;
            values.push(match v {
                rusqlite::types::ValueRef::Null => Value::Null,
                rusqlite::types::ValueRef::Integer(i) => Value::Int(i),
                rusqlite::types::ValueRef::Real(f) => Value::Float(f),
                rusqlite::types::ValueRef::Text(t) => {
                    Value::Text(String::from_utf8_lossy(t).into_owned())
                }
                rusqlite::types::ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
            });
        }
        rows_out.push(values);
    }
    Ok(QueryResult {
        columns,
        rows: rows_out,
        truncated,
    })
}

/// Reads tables, columns, keys and sample values.
pub(crate) fn introspect(
    path: &Path,
    samples: &SampleOptions,
    timeout: Duration,
) -> Result<Schema, Error> {
    let conn = open(path, false)?;
    let map = |e: rusqlite::Error| db_error(e, timeout);
    let mut names: Vec<String> = {
        let mut st = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') \
                 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
            )
            .map_err(map)?;
        st.query_map([], |r| r.get::<_, String>(0))
            .map_err(map)?
            .collect::<Result<_, _>>()
            .map_err(map)?
    };
    names.sort();
    let mut tables = Vec::new();
    for name in names {
        let mut columns = Vec::new();
        let mut pk: Vec<(i64, String)> = Vec::new();
        {
            let mut st = conn
                .prepare(
                    "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1) ORDER BY cid",
                )
                .map_err(map)?;
            let mut rows = st.query([&name]).map_err(map)?;
            while let Some(r) = rows.next().map_err(map)? {
                let cname: String = r.get(0).map_err(map)?;
                let ty: String = r.get(1).map_err(map)?;
                let notnull: i64 = r.get(2).map_err(map)?;
                let pkpos: i64 = r.get(3).map_err(map)?;
                if pkpos > 0 {
                    pk.push((pkpos, cname.clone()));
                }
                columns.push(Column {
                    name: cname,
                    data_type: if ty.is_empty() { "ANY".into() } else { ty },
                    nullable: notnull == 0 && pkpos == 0,
                    comment: None,
                    description: None,
                    samples: Vec::new(),
                    link_values: Vec::new(),
                });
            }
        }
        pk.sort();
        let mut fks: Vec<(i64, ForeignKey)> = Vec::new();
        {
            let mut st = conn
                .prepare("SELECT id, \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(?1) ORDER BY id, seq")
                .map_err(map)?;
            let mut rows = st.query([&name]).map_err(map)?;
            while let Some(r) = rows.next().map_err(map)? {
                let id: i64 = r.get(0).map_err(map)?;
                let table: String = r.get(1).map_err(map)?;
                let from: String = r.get(2).map_err(map)?;
                let to: Option<String> = r.get(3).map_err(map)?;
                match fks.iter_mut().find(|(i, _)| *i == id) {
                    Some((_, fk)) => {
                        fk.columns.push(from);
                        fk.referenced_columns.extend(to);
                    }
                    None => fks.push((
                        id,
                        ForeignKey {
                            columns: vec![from],
                            references: TableName::new(table),
                            referenced_columns: to.into_iter().collect(),
                        },
                    )),
                }
            }
        }
        if samples.values > 0 && !columns.is_empty() {
            let sql = format!(
                "SELECT * FROM {} LIMIT {}",
                quote_ident(&name),
                samples.scan_rows
            );
            let mut st = conn.prepare(&sql).map_err(map)?;
            let n = columns.len();
            let mut seen: Vec<Vec<String>> = vec![Vec::new(); n];
            let mut rows = st.query([]).map_err(map)?;
            while let Some(r) = rows.next().map_err(map)? {
                for (i, s) in seen.iter_mut().enumerate() {
                    let text = match r.get_ref(i).map_err(map)? {
                        rusqlite::types::ValueRef::Null => None,
                        rusqlite::types::ValueRef::Integer(v) => Some(v.to_string()),
                        rusqlite::types::ValueRef::Real(v) => Some(v.to_string()),
                        rusqlite::types::ValueRef::Text(t) => {
                            Some(String::from_utf8_lossy(t).into_owned())
                        }
                        rusqlite::types::ValueRef::Blob(_) => None,
                    };
                    if let Some(t) = text
                        && !s.contains(&t)
                    {
                        s.push(t);
                    }
                }
            }
            for (c, s) in columns.iter_mut().zip(seen) {
                c.link_values = pick_link_values(&s, samples);
                c.samples = pick_samples(s, samples);
            }
        }
        tables.push(Table {
            name: TableName::new(name),
            comment: None,
            columns,
            primary_key: pk.into_iter().map(|(_, c)| c).collect(),
            foreign_keys: fks.into_iter().map(|(_, f)| f).collect(),
        });
    }
    Ok(Schema {
        dialect: Dialect::Sqlite,
        tables,
        notes: None,
    })
}
