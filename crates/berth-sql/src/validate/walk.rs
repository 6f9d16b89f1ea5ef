//! The walk over a parsed query: tables (with CTE scope), functions, clauses.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, ObjectName, ObjectNamePart,
    Query, Select, SetExpr, Statement, TableFactor, Visit, Visitor,
};

use super::Policy;
use super::functions::{self, MAX_SERIES, MAX_SIZE, SIZE, SIZED, STALL};
use super::literal_int;
use super::statements;
use crate::error::{RejectClass, Rejection};
use crate::url::Dialect;

/// Checks the whole statement; returns the tables read.
pub(super) fn check(st: &Statement, policy: &Policy) -> Result<BTreeSet<String>, Rejection> {
    let mut w = Walker::new(policy, true);
    match st.visit(&mut w) {
        ControlFlow::Break(r) => Err(r),
        ControlFlow::Continue(()) => Ok(w.tables),
    }
}

/// The tables a statement reads, ignoring every rule.
pub(super) fn collect_tables(st: &Statement, policy: &Policy) -> BTreeSet<String> {
    let mut w = Walker::new(policy, false);
    let _ = st.visit(&mut w);
    w.tables
}

/// One `WITH` in scope.
struct Frame {
    /// The query that owns the WITH.
    owner: *const Query,
    /// CTE names, in order.
    names: Vec<Ident>,
    /// The bodies, in order (to know which CTE is being walked).
    bodies: Vec<*const Query>,
    /// How many names are visible right now.
    visible: usize,
    recursive: bool,
}

struct Walker<'p> {
    policy: &'p Policy,
    enforce: bool,
    frames: Vec<Frame>,
    tables: BTreeSet<String>,
    statements: usize,
    /// A relation name that is really a table-function name (already checked).
    skip_relation: Option<*const ObjectName>,
}

impl<'p> Walker<'p> {
    fn new(policy: &'p Policy, enforce: bool) -> Walker<'p> {
        Walker {
            policy,
            enforce,
            frames: Vec::new(),
            tables: BTreeSet::new(),
            statements: 0,
            skip_relation: None,
        }
    }

    fn refuse(&self, class: RejectClass, message: String) -> ControlFlow<Rejection> {
        if self.enforce {
            ControlFlow::Break(Rejection::new(class, message))
        } else {
            ControlFlow::Continue(())
        }
    }

    fn is_cte(&self, ident: &Ident) -> bool {
        self.frames.iter().any(|f| {
            f.names[..f.visible]
                .iter()
                .any(|n| normal(self.policy.dialect, ident) == normal(self.policy.dialect, n))
        })
    }

    fn check_relation(&mut self, name: &ObjectName) -> ControlFlow<Rejection> {
        let mut parts = Vec::with_capacity(name.0.len());
        for p in &name.0 {
            match p {
                ObjectNamePart::Identifier(i) => parts.push(i),
                ObjectNamePart::Function(_) => {
                    return self.refuse(
                        RejectClass::Unsupported,
                        format!("table name {name} is computed by a function"),
                    );
                }
            }
        }
        let Some(last) = parts.last().copied() else {
            return ControlFlow::Continue(());
        };
        if parts.len() == 1 && self.is_cte(last) {
            return ControlFlow::Continue(());
        }
        let written = parts
            .iter()
            .map(|i| normal(self.policy.dialect, i))
            .collect::<Vec<_>>()
            .join(".");
        if let Some(why) = system_catalog(self.policy.dialect, &parts) {
            if !self.policy.allow_system_catalogs {
                return self.refuse(
                    RejectClass::SystemCatalog,
                    format!("table {written} is a system catalog ({why}); only the app's tables may be read"),
                );
            }
            self.tables.insert(written);
            return ControlFlow::Continue(());
        }
        match &self.policy.tables {
            None => {
                self.tables.insert(written);
                ControlFlow::Continue(())
            }
            Some(allowed) => {
                let schema = if parts.len() >= 2 {
                    Some(parts[parts.len() - 2])
                } else {
                    None
                };
                if parts.len() > 3 || (parts.len() == 3 && self.policy.dialect == Dialect::Sqlite) {
                    return self.refuse(
                        RejectClass::Table,
                        format!("table {written} is not in this app's schema"),
                    );
                }
                let found = allowed.iter().find(|t| {
                    ident_eq(self.policy.dialect, last, &t.name)
                        && match (schema, &t.schema) {
                            (None, _) => true,
                            (Some(s), Some(ts)) => ident_eq(self.policy.dialect, s, ts),
                            (Some(s), None) => {
                                // SQLite's main schema, PostgreSQL's public schema.
                                let v = s.value.to_ascii_lowercase();
                                match self.policy.dialect {
                                    Dialect::Sqlite => v == "main",
                                    Dialect::Postgres => v == "public",
                                }
                            }
                        }
                });
                match found {
                    Some(t) => {
                        self.tables.insert(t.to_string());
                        ControlFlow::Continue(())
                    }
                    None => self.refuse(
                        RejectClass::Table,
                        format!("table {written} is not in this app's schema"),
                    ),
                }
            }
        }
    }

    fn check_function(&mut self, name: &ObjectName, args: &[&Expr]) -> ControlFlow<Rejection> {
        let Some(last) = last_ident(name) else {
            return self.refuse(
                RejectClass::Unsupported,
                format!("function name {name} is computed by a function"),
            );
        };
        let lower = last.value.to_lowercase();
        if let Some(why) = functions::denied(&lower, &self.policy.allowed_functions) {
            return self.refuse(
                RejectClass::Function,
                format!("function {lower} is not allowed ({why})"),
            );
        }
        if let Some((_, idx)) = SIZED.iter().find(|(n, _)| *n == lower)
            && let Some(n) = args.get(*idx).and_then(|e| literal_int(e))
            && n > MAX_SIZE
        {
            return self.refuse(
                RejectClass::Function,
                format!("function {lower} is not allowed here ({SIZE})"),
            );
        }
        if lower == "generate_series"
            && args.len() >= 2
            && let (Some(a), Some(b)) = (literal_int(args[0]), literal_int(args[1]))
        {
            let step = args.get(2).and_then(|e| literal_int(e)).unwrap_or(1);
            let count = if step == 0 { i128::MAX } else { (b - a) / step };
            if count > MAX_SERIES {
                return self.refuse(
                        RejectClass::Function,
                        format!(
                            "function generate_series is not allowed here (over {MAX_SERIES} values: {STALL})"
                        ),
                    );
            }
        }
        ControlFlow::Continue(())
    }

    fn check_table_function(
        &mut self,
        name: &ObjectName,
        args: &[FunctionArg],
    ) -> ControlFlow<Rejection> {
        let exprs = arg_exprs(args);
        self.check_function(name, &exprs)?;
        let Some(last) = last_ident(name) else {
            return ControlFlow::Continue(());
        };
        let lower = last.value.to_lowercase();
        if lower.starts_with("pragma_") {
            return self.refuse(
                RejectClass::SystemCatalog,
                format!("table function {lower} reads the SQLite catalog; only the app's tables may be read"),
            );
        }
        if !functions::table_function_allowed(&lower, &self.policy.allowed_functions) {
            return self.refuse(
                RejectClass::Function,
                format!(
                    "table function {lower} is not allowed in FROM (accepted: generate_series, \
                     unnest and the JSON set-returning functions)"
                ),
            );
        }
        ControlFlow::Continue(())
    }
}

impl Visitor for Walker<'_> {
    type Break = Rejection;

    fn pre_visit_statement(&mut self, st: &Statement) -> ControlFlow<Rejection> {
        self.statements += 1;
        if self.statements > 1 {
            let (class, why) = match st {
                Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_) => (
                    RejectClass::Write,
                    "a data-modifying statement inside a query changes data",
                ),
                _ => statements::classify(st),
            };
            let class = if matches!(class, RejectClass::NotAQuery) {
                RejectClass::Write
            } else {
                class
            };
            return self.refuse(
                class,
                format!(
                    "the query contains {} ({why}); only read-only SELECT queries are allowed",
                    statements::kind_name(st)
                ),
            );
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<Rejection> {
        let ptr = q as *const Query;
        if let Some(top) = self.frames.last_mut()
            && let Some(k) = top.bodies.iter().position(|b| *b == ptr)
        {
            top.visible = if top.recursive { top.names.len() } else { k };
        }
        if let Some(with) = &q.with {
            self.frames.push(Frame {
                owner: ptr,
                names: with
                    .cte_tables
                    .iter()
                    .map(|c| c.alias.name.clone())
                    .collect(),
                bodies: with
                    .cte_tables
                    .iter()
                    .map(|c| &*c.query as *const Query)
                    .collect(),
                visible: 0,
                recursive: with.recursive,
            });
        }
        if let Some(lock) = q.locks.first() {
            return self.refuse(
                RejectClass::Locking,
                format!(
                    "FOR {} takes row locks; a read-only query must not lock rows",
                    lock.lock_type
                ),
            );
        }
        if q.for_clause.is_some() || q.settings.is_some() || q.format_clause.is_some() {
            return self.refuse(
                RejectClass::Unsupported,
                format!(
                    "this clause is not accepted in {}",
                    self.policy.dialect.display_name()
                ),
            );
        }
        if !q.pipe_operators.is_empty() {
            return self.refuse(
                RejectClass::Unsupported,
                "pipe operators are not accepted".into(),
            );
        }
        self.check_set_expr(&q.body)
    }

    fn post_visit_query(&mut self, q: &Query) -> ControlFlow<Rejection> {
        let ptr = q as *const Query;
        if self.frames.last().is_some_and(|f| f.owner == ptr) {
            self.frames.pop();
        }
        // Once a CTE body is done, the rest of its WITH (later bodies set their own
        // visibility on entry) and the main body see every CTE.
        if let Some(top) = self.frames.last_mut()
            && top.bodies.contains(&ptr)
        {
            top.visible = top.names.len();
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, s: &Select) -> ControlFlow<Rejection> {
        if s.into.is_some() {
            return self.refuse(
                RejectClass::Write,
                "SELECT … INTO creates a table; only plain SELECT queries are allowed".into(),
            );
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, tf: &TableFactor) -> ControlFlow<Rejection> {
        match tf {
            TableFactor::Table {
                name,
                args: Some(args),
                ..
            } => {
                self.skip_relation = Some(name as *const ObjectName);
                self.check_table_function(name, &args.args)
            }
            TableFactor::Function { name, args, .. } => self.check_table_function(name, args),
            TableFactor::Table { .. }
            | TableFactor::Derived { .. }
            | TableFactor::NestedJoin { .. }
            | TableFactor::UNNEST { .. }
            | TableFactor::TableFunction { .. } => ControlFlow::Continue(()),
            other => self.refuse(
                RejectClass::Unsupported,
                format!(
                    "the FROM item `{}` is not accepted",
                    truncate(&other.to_string(), 60)
                ),
            ),
        }
    }

    fn pre_visit_relation(&mut self, name: &ObjectName) -> ControlFlow<Rejection> {
        if self.skip_relation == Some(name as *const ObjectName) {
            self.skip_relation = None;
            return ControlFlow::Continue(());
        }
        self.check_relation(name)
    }

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<Rejection> {
        if let Expr::Function(f) = e {
            let args = match &f.args {
                FunctionArguments::List(l) => arg_exprs(&l.args),
                _ => Vec::new(),
            };
            return self.check_function(&f.name, &args);
        }
        ControlFlow::Continue(())
    }
}

impl Walker<'_> {
    /// `TABLE name` names a table outside any FROM: check it like one.
    fn check_set_expr(&mut self, body: &SetExpr) -> ControlFlow<Rejection> {
        match body {
            SetExpr::Table(t) => {
                let mut parts = Vec::new();
                if let Some(s) = &t.schema_name {
                    parts.push(ObjectNamePart::Identifier(s.clone()));
                }
                if let Some(n) = &t.table_name {
                    parts.push(ObjectNamePart::Identifier(n.clone()));
                }
                self.check_relation(&ObjectName(parts))
            }
            SetExpr::SetOperation { left, right, .. } => {
                self.check_set_expr(left)?;
                self.check_set_expr(right)
            }
            _ => ControlFlow::Continue(()),
        }
    }
}

fn arg_exprs(args: &[FunctionArg]) -> Vec<&Expr> {
    args.iter()
        .filter_map(|a| match a {
            FunctionArg::Named { arg, .. }
            | FunctionArg::ExprNamed { arg, .. }
            | FunctionArg::Unnamed(arg) => match arg {
                FunctionArgExpr::Expr(e) => Some(e),
                _ => None,
            },
        })
        .collect()
}

fn last_ident(name: &ObjectName) -> Option<&Ident> {
    match name.0.last()? {
        ObjectNamePart::Identifier(i) => Some(i),
        ObjectNamePart::Function(_) => None,
    }
}

/// An identifier as the database folds it: PostgreSQL lower-cases unquoted names, SQLite
/// compares without case.
fn normal(dialect: Dialect, i: &Ident) -> String {
    match (dialect, i.quote_style) {
        (Dialect::Postgres, Some(_)) => i.value.clone(),
        _ => i.value.to_lowercase(),
    }
}

/// Whether the identifier as written names `actual`, a name as stored in the catalog.
pub(crate) fn ident_eq(dialect: Dialect, i: &Ident, actual: &str) -> bool {
    match dialect {
        Dialect::Sqlite => i.value.eq_ignore_ascii_case(actual),
        Dialect::Postgres => normal(dialect, i) == actual,
    }
}

/// Why a relation is a system catalog, if it is one.
fn system_catalog(dialect: Dialect, parts: &[&Ident]) -> Option<&'static str> {
    let lower: Vec<String> = parts.iter().map(|i| i.value.to_lowercase()).collect();
    let name = lower.last()?;
    let schema = if lower.len() >= 2 {
        Some(lower[lower.len() - 2].as_str())
    } else {
        None
    };
    if let Some(s) = schema {
        if s == "information_schema" || s.starts_with("pg_") {
            return Some("a PostgreSQL catalog schema");
        }
        if dialect == Dialect::Sqlite && s == "temp" {
            return Some("SQLite's temporary schema");
        }
    }
    if name.starts_with("pg_") {
        return Some("PostgreSQL resolves pg_* names in pg_catalog first");
    }
    if name.starts_with("sqlite_") {
        return Some("SQLite's internal tables");
    }
    if name.starts_with("pragma_") {
        return Some("SQLite's pragma functions");
    }
    if name == "information_schema" || name == "dbstat" {
        return Some("a catalog view");
    }
    None
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}
