//! PostgreSQL: one connection per call, opened with `default_transaction_read_only=on`; the
//! statement runs inside `BEGIN READ ONLY` with a `statement_timeout`, optionally after
//! `SET LOCAL ROLE`, through the extended protocol (one statement only), and the
//! transaction is always rolled back.

use std::pin::pin;
use std::time::Duration;

use futures_util::TryStreamExt;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, NoTls};

use super::pgvalue::AnyValue;
use crate::error::Error;
use crate::exec::{ExecOptions, QueryResult, quote_ident};
use crate::schema::{
    Column, ForeignKey, SampleOptions, Schema, Table, TableName, pick_link_values, pick_samples,
};
use crate::url::{Dialect, redact};
use crate::value::Value;

fn pg_error(e: tokio_postgres::Error, limit: Duration) -> Error {
    if let Some(db) = e.as_db_error() {
        if *db.code() == SqlState::QUERY_CANCELED {
            return Error::Timeout { limit };
        }
        let mut message = format!("{} (SQLSTATE {})", db.message(), db.code().code());
        if let Some(h) = db.hint() {
            message.push_str(&format!("; hint: {h}"));
        }
        return Error::Database { message };
    }
    Error::Database {
        message: e.to_string(),
    }
}

/// Opens a session: read-only by default, with the time limits as session defaults too
/// (a second layer under the per-transaction settings).
pub(crate) async fn connect(url: &str, options: &ExecOptions) -> Result<Client, Error> {
    let target = redact(url);
    let mut config: Config = url.parse().map_err(|e: tokio_postgres::Error| Error::Url {
        url: target.clone(),
        reason: e.to_string(),
    })?;
    let ms = options.timeout.as_millis().max(1);
    let mut startup = config.get_options().map(str::to_string).unwrap_or_default();
    startup.push_str(&format!(
        " -c default_transaction_read_only=on -c statement_timeout={ms} -c lock_timeout={ms} \
         -c idle_in_transaction_session_timeout={}",
        ms * 4 + 1000
    ));
    config.options(startup.trim());
    config.application_name("berth-text2sql");
    config.connect_timeout(options.connect_timeout);
    let (client, connection) = config.connect(NoTls).await.map_err(|e| Error::Connect {
        target: target.clone(),
        reason: e.to_string(),
    })?;
    tokio::spawn(async move {
        // Ends when the client is dropped; its errors surface on the client's calls.
        let _ = connection.await;
    });
    Ok(client)
}

/// Starts the read-only transaction with its limits and role.
async fn begin(client: &Client, options: &ExecOptions) -> Result<(), Error> {
    let ms = options.timeout.as_millis().max(1);
    let mut sql = format!(
        "BEGIN TRANSACTION READ ONLY; SET LOCAL statement_timeout = {ms}; SET LOCAL lock_timeout = {ms};"
    );
    if let Some(role) = &options.role {
        sql.push_str(&format!(" SET LOCAL ROLE {};", quote_ident(role)));
    }
    if let Some(path) = &options.search_path {
        let list = path
            .iter()
            .map(|s| quote_ident(s))
            .collect::<Vec<_>>()
            .join(", ");
        sql.push_str(&format!(" SET LOCAL search_path = {list};"));
    }
    client
        .batch_execute(&sql)
        .await
        .map_err(|e| pg_error(e, options.timeout))
}

/// Runs one statement read-only and returns at most `max_rows` rows (reading one more to
/// know whether there were more).
pub(crate) async fn run(
    client: &Client,
    sql: &str,
    options: &ExecOptions,
) -> Result<QueryResult, Error> {
    begin(client, options).await?;
    let result = tokio::time::timeout(
        options.timeout + Duration::from_secs(2),
        fetch(client, sql, options.max_rows, options.timeout),
    )
    .await
    .unwrap_or(Err(Error::Timeout {
        limit: options.timeout,
    }));
    // Always roll back; after an error the transaction is aborted and this ends it.
    let _ = client.batch_execute("ROLLBACK").await;
    result
}

async fn fetch(
    client: &Client,
    sql: &str,
    max_rows: u64,
    limit: Duration,
) -> Result<QueryResult, Error> {
    let stmt = client.prepare(sql).await.map_err(|e| pg_error(e, limit))?;
    let columns: Vec<String> = stmt
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    let stream = client
        .query_raw(&stmt, std::iter::empty::<i32>())
        .await
        .map_err(|e| pg_error(e, limit))?;
    let mut stream = pin!(stream);
    let mut rows = Vec::new();
    let mut truncated = false;
    while let Some(row) = stream.try_next().await.map_err(|e| pg_error(e, limit))? {
        if rows.len() as u64 >= max_rows {
            truncated = true;
            break;
        }
        let mut values = Vec::with_capacity(columns.len());
        for (i, name) in columns.iter().enumerate() {
            let v: AnyValue = row.try_get(i).map_err(|e| Error::Database {
                message: format!("column {name}: {e}"),
            })?;
            values.push(v.0);
        }
        rows.push(values);
    }
    Ok(QueryResult {
        columns,
        rows,
        truncated,
    })
}

const TABLES_SQL: &str = "\
SELECT c.oid, n.nspname::text, c.relname::text, obj_description(c.oid, 'pg_class')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_%'
  AND has_table_privilege(c.oid, 'SELECT')
ORDER BY n.nspname, c.relname";

const COLUMNS_SQL: &str = "\
SELECT a.attrelid, a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       col_description(a.attrelid, a.attnum)
FROM pg_attribute a
WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum";

const KEYS_SQL: &str = "\
SELECT con.conrelid, con.contype::text, con.confrelid,
  ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, o)
        JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.o),
  ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, o)
        JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.o)
FROM pg_constraint con
WHERE con.conrelid = ANY($1) AND con.contype IN ('p', 'f')
ORDER BY con.conrelid, con.conname";

/// Reads tables (those the session may SELECT), columns, comments, keys and samples.
pub(crate) async fn introspect(
    client: &Client,
    options: &ExecOptions,
    samples: &SampleOptions,
) -> Result<Schema, Error> {
    begin(client, options).await?;
    let result = introspect_inner(client, options, samples).await;
    let _ = client.batch_execute("ROLLBACK").await;
    result
}

async fn introspect_inner(
    client: &Client,
    options: &ExecOptions,
    samples: &SampleOptions,
) -> Result<Schema, Error> {
    let e = |err| pg_error(err, options.timeout);
    let mut tables: Vec<(u32, Table)> = Vec::new();
    for r in client.query(TABLES_SQL, &[]).await.map_err(e)? {
        let oid: u32 = r.get(0);
        let schema: String = r.get(1);
        let name: String = r.get(2);
        tables.push((
            oid,
            Table {
                name: TableName {
                    schema: (schema != "public").then_some(schema),
                    name,
                },
                comment: r.get(3),
                columns: Vec::new(),
                primary_key: Vec::new(),
                foreign_keys: Vec::new(),
            },
        ));
    }
    let oids: Vec<u32> = tables.iter().map(|(o, _)| *o).collect();
    for r in client.query(COLUMNS_SQL, &[&oids]).await.map_err(e)? {
        let oid: u32 = r.get(0);
        if let Some((_, t)) = tables.iter_mut().find(|(o, _)| *o == oid) {
            let notnull: bool = r.get(3);
            t.columns.push(Column {
                name: r.get(1),
                data_type: r.get(2),
                nullable: !notnull,
                comment: r.get(4),
                description: None,
                samples: Vec::new(),
                link_values: Vec::new(),
            });
        }
    }
    let names: Vec<(u32, TableName)> = tables.iter().map(|(o, t)| (*o, t.name.clone())).collect();
    for r in client.query(KEYS_SQL, &[&oids]).await.map_err(e)? {
        let oid: u32 = r.get(0);
        let kind: String = r.get(1);
        let foid: u32 = r.get(2);
        let cols: Vec<String> = r.get(3);
        let fcols: Vec<String> = r.get(4);
        let Some((_, t)) = tables.iter_mut().find(|(o, _)| *o == oid) else {
            continue;
        };
        if kind == "p" {
            t.primary_key = cols;
        } else if let Some((_, target)) = names.iter().find(|(o, _)| *o == foid) {
            t.foreign_keys.push(ForeignKey {
                columns: cols,
                references: target.clone(),
                referenced_columns: fcols,
            });
        }
    }
    if samples.values > 0 {
        for (_, t) in tables.iter_mut() {
            if t.columns.is_empty() {
                continue;
            }
            let qualified = match &t.name.schema {
                Some(s) => format!("{}.{}", quote_ident(s), quote_ident(&t.name.name)),
                None => quote_ident(&t.name.name),
            };
            let sql = format!("SELECT * FROM {qualified} LIMIT {}", samples.scan_rows);
            let res = fetch(client, &sql, samples.scan_rows as u64, options.timeout).await?;
            for (i, c) in t.columns.iter_mut().enumerate() {
                let mut seen: Vec<String> = Vec::new();
                for row in &res.rows {
                    if let Some(text) = row.get(i).and_then(sample_text)
                        && !seen.contains(&text)
                    {
                        seen.push(text);
                    }
                }
                c.link_values = pick_link_values(&seen, samples);
                c.samples = pick_samples(seen, samples);
            }
        }
    }
    Ok(Schema {
        dialect: Dialect::Postgres,
        tables: tables.into_iter().map(|(_, t)| t).collect(),
        notes: None,
    })
}

fn sample_text(v: &Value) -> Option<String> {
    match v {
        Value::Bytes(_) | Value::Null => None,
        other => other.to_text(),
    }
}
