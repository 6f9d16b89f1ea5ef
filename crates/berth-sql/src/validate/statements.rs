//! Naming and classifying statements that are not queries.
//!
//! The class is decided from the statement's kind as the parser names it, so that a new
//! kind in a later `sqlparser` still lands in a conservative class (`not_a_query`) rather
//! than being accepted.

use sqlparser::ast::Statement;

use crate::error::RejectClass;

/// The parser's name of the statement kind (`CreateTable`, `Insert`, …).
fn variant(st: &Statement) -> String {
    let debug = format!("{st:?}");
    debug
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// The statement kind in SQL words: `DROP`, `CREATE TABLE`, `INSERT`, `SELECT query`.
pub(crate) fn kind_name(st: &Statement) -> String {
    if matches!(st, Statement::Query(_)) {
        return "a SELECT query".into();
    }
    let v = variant(st);
    let mut out = String::new();
    let mut prev: Option<char> = None;
    for c in v.chars() {
        if c.is_ascii_uppercase()
            && prev.is_some_and(|p| !p.is_ascii_uppercase())
            && !out.ends_with(' ')
        {
            out.push(' ');
        }
        out.push(c.to_ascii_uppercase());
        prev = Some(c);
    }
    out
}

/// The family and the reason for a statement that is not a query.
pub(crate) fn classify(st: &Statement) -> (RejectClass, &'static str) {
    let v = variant(st);
    let v = v.as_str();
    const WRITE: &str = "it changes data";
    const DDL: &str = "it changes the schema";
    const PRIV: &str = "it changes privileges or identities";
    const SESSION: &str = "it changes session, connection or database state";
    const PROC: &str = "it runs stored or dynamic code";
    match v {
        "Insert"
        | "Update"
        | "Delete"
        | "Merge"
        | "Truncate"
        | "LoadData"
        | "Load"
        | "Unload"
        | "Put"
        | "Remove"
        | "ExportData"
        | "Directory"
        | "RefreshMaterializedView" => (RejectClass::Write, WRITE),
        "Copy" | "CopyIntoSnowflake" => (
            RejectClass::Copy,
            "COPY reads or writes files and programs on the server",
        ),
        "Grant"
        | "GrantRole"
        | "Revoke"
        | "RevokeRole"
        | "Deny"
        | "CreateRole"
        | "AlterRole"
        | "CreateUser"
        | "AlterUser"
        | "AlterDefaultPrivileges"
        | "CreatePolicy"
        | "AlterPolicy"
        | "DropPolicy"
        | "CreateSecret"
        | "DropSecret"
        | "CreateUserMapping" => (RejectClass::Privilege, PRIV),
        "Set"
        | "Reset"
        | "Pragma"
        | "AttachDatabase"
        | "AttachDuckDBDatabase"
        | "DetachDuckDBDatabase"
        | "Vacuum"
        | "Analyze"
        | "LISTEN"
        | "UNLISTEN"
        | "NOTIFY"
        | "Lock"
        | "LockTables"
        | "UnlockTables"
        | "StartTransaction"
        | "Commit"
        | "Rollback"
        | "Savepoint"
        | "ReleaseSavepoint"
        | "Discard"
        | "Use"
        | "Kill"
        | "AlterSession"
        | "Install"
        | "Flush"
        | "Cache"
        | "UNCache"
        | "OptimizeTable"
        | "Msck" => (RejectClass::Session, SESSION),
        "Call" | "Execute" | "Prepare" | "Deallocate" | "Declare" | "Fetch" | "Open" | "Close"
        | "Case" | "If" | "While" | "Raise" | "RaisError" | "Throw" | "Print" | "Return"
        | "Assert" | "WaitFor" => (RejectClass::Procedure, PROC),
        _ if v.starts_with("Create")
            || v.starts_with("Drop")
            || v.starts_with("Alter")
            || v == "Comment"
            || v == "RenameTable" =>
        {
            (RejectClass::Ddl, DDL)
        }
        _ if v.starts_with("Show") || v.starts_with("Explain") => (
            RejectClass::NotAQuery,
            "it is not a query (EXPLAIN ANALYZE would even run its statement)",
        ),
        _ => (RejectClass::NotAQuery, "it is not a query"),
    }
}
