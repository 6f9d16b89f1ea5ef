//! Loading PostgreSQL dumps: translated into a SQLite file, or run on a PostgreSQL server.
//!
//! The SQLite translation parses the dump with `sqlparser` (PostgreSQL dialect) and
//! rewrites each statement:
//!
//! - `CREATE TABLE`: schema prefixes dropped (`public.x`, `consumer_div.x` → `x`); types
//!   mapped to SQLite affinities while keeping their meaning readable (integers and
//!   `serial` → `INTEGER`, `numeric`/`decimal`/floating → `REAL`, character types → `TEXT`,
//!   `boolean`, `date`, `timestamp`, `time` kept by name); `PRIMARY KEY`, `NOT NULL`,
//!   `UNIQUE`, `REFERENCES` kept (targets without schema); defaults translated like values.
//! - `INSERT … VALUES`: every value translated. Literals pass through; date arithmetic is
//!   rewritten to SQLite's date functions: `CURRENT_DATE`, `CURRENT_TIMESTAMP`, `NOW()`,
//!   `± INTERVAL 'n unit'`, `DATE_TRUNC('day'|'week'|'month'|'year', …)`,
//!   `EXTRACT(field FROM …)` (epoch with fractions), `TO_CHAR(…, pattern)` (the common
//!   patterns: YYYY, MM, DD, HH24, MI, SS, Month, Mon, Day, Dy), casts (`::type`). A
//!   computed value stored in a `DATE` column becomes `date(…)`, in a `TIMESTAMP` column
//!   `datetime(…)`, as PostgreSQL's assignment cast would.
//! - `COPY … FROM stdin` blocks: rows read (tab-separated, `\N` null, backslash escapes).
//! - Skipped, and counted in the report: `CREATE SCHEMA`, `SET`, `SELECT
//!   pg_catalog.set_config(…)`, `ALTER … OWNER`, sequences, `COMMENT ON`, `CREATE
//!   INDEX`, `ALTER TABLE`, `CREATE EXTENSION`, `GRANT`/`REVOKE`.
//!
//! Dates computed from "now" differ between the two loads by the time between them (both
//! use UTC days in SQLite; PostgreSQL uses the server's time zone).
//!
//! This module writes; it is a tool for tests, benchmarks and demos, never used by the app.

use std::path::Path;

use sqlparser::ast::{
    BinaryOperator, CastKind, ColumnOption, CreateTable, DataType, Expr, FunctionArg,
    FunctionArgExpr, FunctionArguments, Insert, ObjectName, ObjectNamePart, SetExpr, Statement,
    TableConstraint, TableObject, UnaryOperator, Value as SqlValue,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use crate::error::Error;
use crate::exec::quote_ident;

/// What a load did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Tables created.
    pub tables: usize,
    /// Rows inserted.
    pub rows: u64,
    /// Statements skipped, by kind (`SET`, `CREATE SCHEMA`, …).
    pub skipped: Vec<String>,
}

/// Translates a PostgreSQL dump into SQLite statements (one string each).
pub fn translate_dump(dump: &str) -> Result<(Vec<String>, LoadReport), Error> {
    let statements = Parser::parse_sql(&PostgreSqlDialect {}, dump).map_err(|e| Error::Dump {
        statement: 0,
        reason: format!("the PostgreSQL parser cannot read the dump: {e}"),
    })?;
    let mut out = Vec::new();
    let mut report = LoadReport::default();
    let mut tables: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for (i, st) in statements.iter().enumerate() {
        let n = i + 1;
        match st {
            Statement::CreateTable(ct) => {
                let (sql, cols) = create_table(ct).map_err(|reason| Error::Dump {
                    statement: n,
                    reason,
                })?;
                tables.push((last(&ct.name), cols));
                report.tables += 1;
                out.push(sql);
            }
            Statement::Insert(ins) => {
                let (sql, rows) = insert(ins, &tables).map_err(|reason| Error::Dump {
                    statement: n,
                    reason,
                })?;
                report.rows += rows;
                out.push(sql);
            }
            Statement::Copy {
                source:
                    sqlparser::ast::CopySource::Table {
                        table_name,
                        columns,
                    },
                to: false,
                payload: Some(payload),
                ..
            } => {
                let table = last(table_name);
                let cols: Vec<String> = if columns.is_empty() {
                    tables
                        .iter()
                        .find(|(t, _)| t.eq_ignore_ascii_case(&table))
                        .map(|(_, c)| c.iter().map(|(n, _)| n.clone()).collect())
                        .unwrap_or_default()
                } else {
                    columns.iter().map(|c| c.value.clone()).collect()
                };
                for line in payload.data.lines() {
                    if line == "\\." || line.is_empty() {
                        continue;
                    }
                    let values: Vec<String> = line
                        .split('\t')
                        .map(|f| {
                            if f == "\\N" {
                                "NULL".to_string()
                            } else {
                                literal(&unescape_copy(f))
                            }
                        })
                        .collect();
                    out.push(format!(
                        "INSERT INTO {} ({}) VALUES ({})",
                        quote_ident(&table),
                        cols.iter()
                            .map(|c| quote_ident(c))
                            .collect::<Vec<_>>()
                            .join(", "),
                        values.join(", ")
                    ));
                    report.rows += 1;
                }
            }
            other => report.skipped.push(crate::validate::statement_kind(other)),
        }
    }
    Ok((out, report))
}

/// Creates (or replaces) the SQLite file at `path` from a PostgreSQL dump.
pub fn load_sqlite(dump: &str, path: &Path) -> Result<LoadReport, Error> {
    let (statements, report) = translate_dump(dump)?;
    if path.exists() {
        std::fs::remove_file(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
    }
    let mut conn = rusqlite::Connection::open(path).map_err(|e| Error::Connect {
        target: format!("sqlite:{}", path.display()),
        reason: e.to_string(),
    })?;
    let tx = conn.transaction().map_err(|e| Error::Database {
        message: e.to_string(),
    })?;
    for (i, sql) in statements.iter().enumerate() {
        tx.execute_batch(sql).map_err(|e| Error::Dump {
            statement: i + 1,
            reason: format!("{e} in: {}", cut(sql, 200)),
        })?;
    }
    tx.commit().map_err(|e| Error::Database {
        message: e.to_string(),
    })?;
    Ok(report)
}

/// Creates database `name` afresh on the server at `admin_url` (dropping one of that name)
/// and runs the dump in it. Returns the new database's URL.
pub async fn load_postgres(admin_url: &str, name: &str, dump: &str) -> Result<String, Error> {
    let target = crate::url::redact(admin_url);
    let config: tokio_postgres::Config =
        admin_url
            .parse()
            .map_err(|e: tokio_postgres::Error| Error::Url {
                url: target.clone(),
                reason: e.to_string(),
            })?;
    let connect = |config: tokio_postgres::Config| {
        let target = target.clone();
        async move {
            let (client, conn) =
                config
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(|e| Error::Connect {
                        target,
                        reason: e.to_string(),
                    })?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok::<_, Error>(client)
        }
    };
    let db_err = |e: tokio_postgres::Error| Error::Database {
        message: e
            .as_db_error()
            .map(|d| d.message().to_string())
            .unwrap_or_else(|| e.to_string()),
    };
    let admin = connect(config.clone()).await?;
    // Two calls: each runs alone (neither may run inside a transaction block).
    admin
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(name)
        ))
        .await
        .map_err(db_err)?;
    admin
        .batch_execute(&format!("CREATE DATABASE {}", quote_ident(name)))
        .await
        .map_err(db_err)?;
    let mut db_config = config.clone();
    db_config.dbname(name);
    let client = connect(db_config).await?;
    client.batch_execute(dump).await.map_err(|e| Error::Dump {
        statement: 0,
        reason: e
            .as_db_error()
            .map(|d| d.message().to_string())
            .unwrap_or_else(|| e.to_string()),
    })?;
    // The same URL with the database replaced.
    Ok(replace_dbname(admin_url, name))
}

/// `admin_url` with its database name replaced by `name`.
pub fn replace_dbname(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

fn cut(s: &str, n: usize) -> String {
    if s.len() <= n {
        s.to_string()
    } else {
        format!(
            "{}…",
            &s[..s.char_indices().nth(n).map(|(i, _)| i).unwrap_or(s.len())]
        )
    }
}

fn unescape_copy(f: &str) -> String {
    let mut out = String::with_capacity(f.len());
    let mut chars = f.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('t') => out.push('\t'),
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('\\') => out.push('\\'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn last(name: &ObjectName) -> String {
    match name.0.last() {
        Some(ObjectNamePart::Identifier(i)) => i.value.clone(),
        _ => name.to_string(),
    }
}

/// The SQLite type for a PostgreSQL type.
fn sqlite_type(dt: &DataType) -> String {
    let t = dt.to_string().to_lowercase();
    let base = t.split('(').next().unwrap_or("").trim().to_string();
    if base.contains("serial") || base.contains("int") {
        "INTEGER".into()
    } else if ["numeric", "decimal", "real", "double", "float", "money"]
        .iter()
        .any(|k| base.contains(k))
    {
        "REAL".into()
    } else if base.starts_with("bool") {
        "BOOLEAN".into()
    } else if base == "date" {
        "DATE".into()
    } else if base.starts_with("timestamp") {
        "TIMESTAMP".into()
    } else if base.starts_with("time") {
        "TIME".into()
    } else if base == "bytea" {
        "BLOB".into()
    } else {
        "TEXT".into()
    }
}

fn create_table(ct: &CreateTable) -> Result<(String, Vec<(String, String)>), String> {
    let name = last(&ct.name);
    let mut defs = Vec::new();
    let mut cols = Vec::new();
    for c in &ct.columns {
        let ty = sqlite_type(&c.data_type);
        let mut def = format!("{} {}", quote_ident(&c.name.value), ty);
        for o in &c.options {
            match &o.option {
                ColumnOption::NotNull => def.push_str(" NOT NULL"),
                ColumnOption::PrimaryKey(_) => def.push_str(" PRIMARY KEY"),
                ColumnOption::Unique(_) => def.push_str(" UNIQUE"),
                ColumnOption::Default(e) => {
                    def.push_str(&format!(" DEFAULT ({})", expr(e)?));
                }
                ColumnOption::ForeignKey(fk) => {
                    let cols = fk
                        .referred_columns
                        .iter()
                        .map(|i| quote_ident(&i.value))
                        .collect::<Vec<_>>()
                        .join(", ");
                    def.push_str(&format!(
                        " REFERENCES {}",
                        quote_ident(&last(&fk.foreign_table))
                    ));
                    if !cols.is_empty() {
                        def.push_str(&format!("({cols})"));
                    }
                }
                _ => {}
            }
        }
        defs.push(def);
        cols.push((c.name.value.clone(), ty));
    }
    for con in &ct.constraints {
        match con {
            TableConstraint::PrimaryKey(pk) => {
                let cols: Vec<String> = pk
                    .columns
                    .iter()
                    .map(|ic| match &ic.column.expr {
                        Expr::Identifier(i) => quote_ident(&i.value),
                        other => other.to_string(),
                    })
                    .collect();
                defs.push(format!("PRIMARY KEY ({})", cols.join(", ")));
            }
            TableConstraint::ForeignKey(fk) => {
                let from = fk
                    .columns
                    .iter()
                    .map(|i| quote_ident(&i.value))
                    .collect::<Vec<_>>()
                    .join(", ");
                let to = fk
                    .referred_columns
                    .iter()
                    .map(|i| quote_ident(&i.value))
                    .collect::<Vec<_>>()
                    .join(", ");
                let mut d = format!(
                    "FOREIGN KEY ({from}) REFERENCES {}",
                    quote_ident(&last(&fk.foreign_table))
                );
                if !to.is_empty() {
                    d.push_str(&format!("({to})"));
                }
                defs.push(d);
            }
            TableConstraint::Unique(u) => defs.push(u.to_string()),
            _ => {}
        }
    }
    Ok((
        format!(
            "CREATE TABLE {} (\n  {}\n)",
            quote_ident(&name),
            defs.join(",\n  ")
        ),
        cols,
    ))
}

fn insert(
    ins: &Insert,
    tables: &[(String, Vec<(String, String)>)],
) -> Result<(String, u64), String> {
    let TableObject::TableName(name) = &ins.table else {
        return Err("INSERT into a table function".into());
    };
    let table = last(name);
    let known = tables
        .iter()
        .find(|(t, _)| t.eq_ignore_ascii_case(&table))
        .map(|(_, c)| c);
    let columns: Vec<String> = if ins.columns.is_empty() {
        known
            .map(|c| c.iter().map(|(n, _)| n.clone()).collect())
            .unwrap_or_default()
    } else {
        ins.columns.iter().map(last).collect()
    };
    let types: Vec<String> = columns
        .iter()
        .map(|c| {
            known
                .and_then(|k| k.iter().find(|(n, _)| n.eq_ignore_ascii_case(c)))
                .map(|(_, t)| t.clone())
                .unwrap_or_default()
        })
        .collect();
    let Some(source) = &ins.source else {
        return Err("INSERT without VALUES".into());
    };
    let SetExpr::Values(values) = source.body.as_ref() else {
        return Err("INSERT … SELECT is not supported by the loader".into());
    };
    let mut rows = Vec::new();
    for row in &values.rows {
        let mut vals = Vec::new();
        for (i, e) in row.content.iter().enumerate() {
            let v = expr(e)?;
            let computed = !matches!(e, Expr::Value(_));
            let v = match types.get(i).map(String::as_str) {
                Some("DATE") if computed => format!("date({v})"),
                Some("TIMESTAMP") if computed => format!("datetime({v})"),
                _ => v,
            };
            vals.push(v);
        }
        rows.push(format!("({})", vals.join(", ")));
    }
    let n = rows.len() as u64;
    let cols = if ins.columns.is_empty() {
        String::new()
    } else {
        format!(
            " ({})",
            columns
                .iter()
                .map(|c| quote_ident(c))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Ok((
        format!(
            "INSERT INTO {}{cols} VALUES\n{}",
            quote_ident(&table),
            rows.join(",\n")
        ),
        n,
    ))
}

/// SQLite date modifiers for an interval text like `3 days` or `1 year 2 months`.
fn interval_modifiers(text: &str, negate: bool) -> Result<Vec<String>, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let n: f64 = words[i]
            .parse()
            .map_err(|_| format!("interval '{text}' is not understood"))?;
        let unit = words.get(i + 1).copied().unwrap_or("day").to_lowercase();
        let unit = unit.trim_end_matches('s');
        let (n, unit) = match unit {
            "year" | "yr" | "y" => (n, "years"),
            "mon" | "month" => (n, "months"),
            "week" | "w" => (n * 7.0, "days"),
            "day" | "d" => (n, "days"),
            "hour" | "h" | "hr" => (n, "hours"),
            "min" | "minute" | "m" => (n, "minutes"),
            "sec" | "second" => (n, "seconds"),
            other => return Err(format!("interval unit '{other}' is not understood")),
        };
        let n = if negate { -n } else { n };
        out.push(format!(
            "'{}{} {}'",
            if n >= 0.0 { "+" } else { "" },
            n,
            unit
        ));
        i += 2;
    }
    Ok(out)
}

fn interval_text(e: &Expr) -> Option<String> {
    match e {
        Expr::Interval(iv) => match iv.value.as_ref() {
            Expr::Value(v) => match &v.value {
                SqlValue::SingleQuotedString(s) => Some(match &iv.leading_field {
                    Some(f) => format!("{s} {f}"),
                    None => s.clone(),
                }),
                SqlValue::Number(n, _) => iv.leading_field.as_ref().map(|f| format!("{n} {f}")),
                _ => None,
            },
            _ => None,
        },
        Expr::Nested(inner) => interval_text(inner),
        _ => None,
    }
}

fn args(f: &sqlparser::ast::Function) -> Vec<&Expr> {
    match &f.args {
        FunctionArguments::List(l) => l
            .args
            .iter()
            .filter_map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                FunctionArg::Named {
                    arg: FunctionArgExpr::Expr(e),
                    ..
                } => Some(e),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn string_arg(e: &Expr) -> Option<String> {
    match e {
        Expr::Value(v) => match &v.value {
            SqlValue::SingleQuotedString(s) | SqlValue::EscapedStringLiteral(s) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// PostgreSQL `to_char` patterns → a SQLite expression concatenating the parts.
fn to_char(value: &str, pattern: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut lit = String::new();
    let flush = |lit: &mut String, parts: &mut Vec<String>| {
        if !lit.is_empty() {
            parts.push(literal(lit));
            lit.clear();
        }
    };
    let p: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let starts = |i: usize, s: &str| -> bool {
        let n = s.chars().count();
        i + n <= p.len() && p[i..i + n].iter().collect::<String>() == s
    };
    let case_names = |names: &[&str], fmt: &str, len: Option<usize>, upper: bool, pad: bool| {
        let width = names.iter().map(|n| n.len()).max().unwrap_or(0);
        let mut s = format!("CASE CAST(strftime('{fmt}', {value}) AS INTEGER)");
        for (k, n) in names.iter().enumerate() {
            let k = if fmt == "%m" { k + 1 } else { k };
            let mut name = match len {
                Some(l) => n[..l].to_string(),
                None => n.to_string(),
            };
            if upper {
                name = name.to_uppercase();
            }
            if pad && len.is_none() {
                name = format!("{name:<width$}");
            }
            s.push_str(&format!(" WHEN {k} THEN {}", literal(&name)));
        }
        s.push_str(" END");
        s
    };
    while i < p.len() {
        let (sql, n): (Option<String>, usize) = if starts(i, "YYYY") || starts(i, "yyyy") {
            (Some(format!("strftime('%Y', {value})")), 4)
        } else if starts(i, "HH24") || starts(i, "hh24") {
            (Some(format!("strftime('%H', {value})")), 4)
        } else if starts(i, "Month") {
            (Some(case_names(&MONTHS, "%m", None, false, true)), 5)
        } else if starts(i, "MONTH") {
            (Some(case_names(&MONTHS, "%m", None, true, true)), 5)
        } else if starts(i, "Mon") {
            (Some(case_names(&MONTHS, "%m", Some(3), false, false)), 3)
        } else if starts(i, "MON") {
            (Some(case_names(&MONTHS, "%m", Some(3), true, false)), 3)
        } else if starts(i, "Day") {
            (Some(case_names(&DAYS, "%w", None, false, true)), 3)
        } else if starts(i, "Dy") {
            (Some(case_names(&DAYS, "%w", Some(3), false, false)), 2)
        } else if starts(i, "MM") || starts(i, "mm") {
            (Some(format!("strftime('%m', {value})")), 2)
        } else if starts(i, "DD") || starts(i, "dd") {
            (Some(format!("strftime('%d', {value})")), 2)
        } else if starts(i, "MI") || starts(i, "mi") {
            (Some(format!("strftime('%M', {value})")), 2)
        } else if starts(i, "SS") || starts(i, "ss") {
            (Some(format!("strftime('%S', {value})")), 2)
        } else if starts(i, "HH") || starts(i, "hh") {
            (Some(format!("strftime('%I', {value})")), 2)
        } else {
            lit.push(p[i]);
            (None, 1)
        };
        if let Some(s) = sql {
            flush(&mut lit, &mut parts);
            parts.push(s);
        }
        i += n;
    }
    flush(&mut lit, &mut parts);
    if parts.is_empty() {
        "''".into()
    } else {
        format!("({})", parts.join(" || "))
    }
}

/// A PostgreSQL value expression → SQLite SQL.
fn expr(e: &Expr) -> Result<String, String> {
    Ok(match e {
        Expr::Value(v) => match &v.value {
            SqlValue::Boolean(b) => if *b { "1" } else { "0" }.to_string(),
            SqlValue::SingleQuotedString(s)
            | SqlValue::EscapedStringLiteral(s)
            | SqlValue::NationalStringLiteral(s) => literal(s),
            SqlValue::DollarQuotedString(d) => literal(&d.value),
            other => other.to_string(),
        },
        Expr::Nested(inner) => format!("({})", expr(inner)?),
        Expr::UnaryOp { op, expr: inner } => match op {
            UnaryOperator::Minus => format!("-{}", expr(inner)?),
            UnaryOperator::Plus => expr(inner)?,
            UnaryOperator::Not => format!("NOT {}", expr(inner)?),
            other => return Err(format!("operator {other} is not supported")),
        },
        Expr::BinaryOp { left, op, right } => {
            if matches!(op, BinaryOperator::Plus | BinaryOperator::Minus) {
                if let Some(iv) = interval_text(right) {
                    let mods = interval_modifiers(&iv, matches!(op, BinaryOperator::Minus))?;
                    return Ok(format!("datetime({}, {})", expr(left)?, mods.join(", ")));
                }
                if let (Some(iv), BinaryOperator::Plus) = (interval_text(left), op) {
                    let mods = interval_modifiers(&iv, false)?;
                    return Ok(format!("datetime({}, {})", expr(right)?, mods.join(", ")));
                }
            }
            let o = match op {
                BinaryOperator::StringConcat => "||".to_string(),
                other => other.to_string(),
            };
            format!("{} {o} {}", expr(left)?, expr(right)?)
        }
        Expr::Cast {
            kind: CastKind::DoubleColon | CastKind::Cast,
            expr: inner,
            data_type,
            ..
        } => {
            let inner = expr(inner)?;
            match sqlite_type(data_type).as_str() {
                "DATE" => format!("date({inner})"),
                "TIMESTAMP" => format!("datetime({inner})"),
                "INTEGER" => format!("CAST({inner} AS INTEGER)"),
                "REAL" => format!("CAST({inner} AS REAL)"),
                "BOOLEAN" => inner,
                _ => format!("CAST({inner} AS TEXT)"),
            }
        }
        Expr::Extract {
            field, expr: inner, ..
        } => {
            let v = expr(inner)?;
            let f = field.to_string().to_uppercase();
            match f.as_str() {
                "EPOCH" => format!("((julianday({v}) - 2440587.5) * 86400.0)"),
                "YEAR" => format!("CAST(strftime('%Y', {v}) AS INTEGER)"),
                "MONTH" => format!("CAST(strftime('%m', {v}) AS INTEGER)"),
                "DAY" => format!("CAST(strftime('%d', {v}) AS INTEGER)"),
                "HOUR" => format!("CAST(strftime('%H', {v}) AS INTEGER)"),
                "MINUTE" => format!("CAST(strftime('%M', {v}) AS INTEGER)"),
                "SECOND" => format!("CAST(strftime('%S', {v}) AS REAL)"),
                "DOW" => format!("CAST(strftime('%w', {v}) AS INTEGER)"),
                "DOY" => format!("CAST(strftime('%j', {v}) AS INTEGER)"),
                other => return Err(format!("EXTRACT({other}) is not supported")),
            }
        }
        Expr::Function(f) => {
            let name = last(&f.name).to_lowercase();
            let a = args(f);
            match name.as_str() {
                "current_date" => "date('now')".into(),
                "current_timestamp"
                | "now"
                | "localtimestamp"
                | "transaction_timestamp"
                | "statement_timestamp"
                | "clock_timestamp" => "datetime('now')".into(),
                "current_time" | "localtime" => "time('now')".into(),
                "date_trunc" => {
                    let unit = a
                        .first()
                        .and_then(|e| string_arg(e))
                        .unwrap_or_default()
                        .to_lowercase();
                    let v = expr(a.get(1).ok_or("date_trunc needs two arguments")?)?;
                    match unit.as_str() {
                        "day" => format!("datetime({v}, 'start of day')"),
                        "month" => format!("datetime({v}, 'start of month')"),
                        "year" => format!("datetime({v}, 'start of year')"),
                        "week" => format!("datetime({v}, '-6 days', 'weekday 1', 'start of day')"),
                        "hour" => format!("strftime('%Y-%m-%d %H:00:00', {v})"),
                        "minute" => format!("strftime('%Y-%m-%d %H:%M:00', {v})"),
                        other => return Err(format!("date_trunc('{other}') is not supported")),
                    }
                }
                "to_char" => {
                    let v = expr(a.first().ok_or("to_char needs a value")?)?;
                    let pat = a.get(1).and_then(|e| string_arg(e)).unwrap_or_default();
                    to_char(&v, &pat)
                }
                _ => {
                    let parts: Result<Vec<String>, String> = a.iter().map(|e| expr(e)).collect();
                    format!("{}({})", last(&f.name), parts?.join(", "))
                }
            }
        }
        Expr::Identifier(i) => match i.value.to_lowercase().as_str() {
            "current_date" => "date('now')".into(),
            "current_timestamp" | "localtimestamp" => "datetime('now')".into(),
            _ => quote_ident(&i.value),
        },
        Expr::TypedString(ts) => {
            // DATE '2020-01-01', TIMESTAMP '…': keep the text.
            match &ts.value.value {
                SqlValue::SingleQuotedString(s) => literal(s),
                other => other.to_string(),
            }
        }
        Expr::Interval(_) => return Err("a bare INTERVAL value cannot be stored in SQLite".into()),
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates_tables_values_and_date_arithmetic() {
        let dump = "
            CREATE SCHEMA IF NOT EXISTS shop;
            SET statement_timeout = 0;
            CREATE TABLE shop.users (uid BIGINT PRIMARY KEY, name VARCHAR(20) NOT NULL, bal DECIMAL(10,2) DEFAULT '0'::numeric, joined DATE, seen TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
            CREATE TABLE shop.orders (id SERIAL PRIMARY KEY, uid INT REFERENCES shop.users(uid), at TIMESTAMP);
            INSERT INTO shop.users (uid, name, bal, joined) VALUES
              (1, 'a''b', 1.50, CURRENT_DATE - INTERVAL '2 days'),
              (2, 'c', NULL, DATE_TRUNC('month', CURRENT_DATE) - INTERVAL '1 month');
            INSERT INTO shop.orders (uid, at) VALUES (1, NOW() - INTERVAL '15 min'), (2, '2024-01-01 10:00:00');
        ";
        let (sql, report) = translate_dump(dump).unwrap();
        assert_eq!(report.tables, 2);
        assert_eq!(report.rows, 4);
        assert_eq!(
            report.skipped,
            vec!["CREATE SCHEMA".to_string(), "SET".to_string()]
        );
        assert!(
            sql[0].contains("\"bal\" REAL DEFAULT (CAST('0' AS REAL))"),
            "{}",
            sql[0]
        );
        assert!(
            sql[1].contains("\"uid\" INTEGER REFERENCES \"users\"(\"uid\")"),
            "{}",
            sql[1]
        );
        assert!(
            sql[2].contains("date(datetime(date('now'), '-2 days'))"),
            "{}",
            sql[2]
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        load_sqlite(dump, &path).unwrap();
        let c = rusqlite::Connection::open(&path).unwrap();
        let (joined, expect): (String, String) = c
            .query_row(
                "SELECT joined, date('now', '-2 days') FROM users WHERE uid = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(joined, expect);
        let name: String = c
            .query_row("SELECT name FROM users WHERE uid = 1", [], |r| r.get(0))
            .unwrap();
        assert_eq!(name, "a'b");
        let seen: Option<String> = c
            .query_row("SELECT seen FROM users WHERE uid = 2", [], |r| r.get(0))
            .unwrap();
        assert!(seen.is_some(), "the default applies");
        let ids: i64 = c
            .query_row("SELECT max(id) FROM orders", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ids, 2, "serial primary keys are assigned");
    }

    #[test]
    fn to_char_month_names_are_padded_like_postgres() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        let sql = format!("SELECT {}", to_char("'2024-05-03'", "Month YYYY-MM-DD"));
        let s: String = c.query_row(&sql, [], |r| r.get(0)).unwrap();
        assert_eq!(s, "May       2024-05-03");
    }

    #[test]
    fn database_names_are_replaced_in_urls() {
        assert_eq!(
            replace_dbname("postgres://u:p@h:5432/postgres?sslmode=disable", "yelp"),
            "postgres://u:p@h:5432/yelp?sslmode=disable"
        );
        assert_eq!(replace_dbname("postgres://h", "x"), "postgres://h/x");
    }
}
