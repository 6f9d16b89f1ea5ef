//! What the model is told about the database: tables, columns, keys, descriptions, sample
//! values, rendered as compact DDL.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::url::Dialect;

/// A table's name, with its schema when it is not the default one (PostgreSQL `public`,
/// SQLite `main`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TableName {
    /// The schema, when not the default.
    pub schema: Option<String>,
    /// The table's name as stored in the catalog.
    pub name: String,
}

impl TableName {
    /// A name in the default schema.
    pub fn new(name: impl Into<String>) -> TableName {
        TableName {
            schema: None,
            name: name.into(),
        }
    }

    /// `schema.name` or `name`; `public.` and `main.` are dropped.
    pub fn parse(text: &str) -> TableName {
        match text.rsplit_once('.') {
            Some((s, n))
                if !s.eq_ignore_ascii_case("public") && !s.eq_ignore_ascii_case("main") =>
            {
                TableName {
                    schema: Some(s.to_string()),
                    name: n.to_string(),
                }
            }
            Some((_, n)) => TableName::new(n),
            None => TableName::new(text),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{s}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// One column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    /// Name as stored.
    pub name: String,
    /// Declared type as the database prints it (`bigint`, `character varying(20)`, `TEXT`).
    pub data_type: String,
    /// Whether NULL is allowed.
    pub nullable: bool,
    /// The database's own comment (`COMMENT ON COLUMN`), if any.
    pub comment: Option<String>,
    /// The description from the descriptions file, if any.
    pub description: Option<String>,
    /// A few distinct values seen in the table (text truncated), shown in the prompt.
    pub samples: Vec<String>,
    /// More distinct short text values (up to [`SampleOptions::link_values`]), used only to
    /// match the question's words during linking; never rendered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub link_values: Vec<String>,
}

/// A foreign key: `columns` of this table reference `referenced_columns` of `references`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKey {
    /// The referencing columns.
    pub columns: Vec<String>,
    /// The referenced table.
    pub references: TableName,
    /// The referenced columns (empty: the referenced table's primary key).
    pub referenced_columns: Vec<String>,
}

/// One table (or view).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// Its name.
    pub name: TableName,
    /// The database's comment (`COMMENT ON TABLE`), if any.
    pub comment: Option<String>,
    /// Columns in declaration order.
    pub columns: Vec<Column>,
    /// Primary-key columns, in key order.
    pub primary_key: Vec<String>,
    /// Declared foreign keys.
    pub foreign_keys: Vec<ForeignKey>,
}

/// Everything known about a database's tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    /// The dialect (decides quoting in the rendering).
    pub dialect: Dialect,
    /// The tables, sorted by name.
    pub tables: Vec<Table>,
    /// Free-text notes for the model (the descriptions file's `glossary`).
    pub notes: Option<String>,
}

/// How many sample values per column introspection keeps, and how long each may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleOptions {
    /// Distinct values per column (0: none).
    pub values: usize,
    /// Characters per value (longer text is cut and ends in `…`).
    pub max_chars: usize,
    /// Rows read per table to find them (bounds the cost on large tables).
    pub scan_rows: usize,
    /// Distinct text values per column kept for linking only (values of at most
    /// `max_chars` characters, so names and categories rather than free text).
    pub link_values: usize,
}

impl Default for SampleOptions {
    fn default() -> SampleOptions {
        SampleOptions {
            values: 3,
            max_chars: 40,
            scan_rows: 200,
            link_values: 50,
        }
    }
}

/// The token estimate used for prompts and for every "share of schema tokens" figure:
/// one token per four characters, rounded up (a documented approximation of BPE
/// tokenizers on English and SQL; the same function is used on both sides of a ratio).
pub fn estimate_tokens(text: &str) -> usize {
    text.chars().count().div_ceil(4)
}

impl Schema {
    /// The tables' names.
    pub fn table_names(&self) -> Vec<TableName> {
        self.tables.iter().map(|t| t.name.clone()).collect()
    }

    /// The table with this name (`schema.name` or `name`, compared without case).
    pub fn table(&self, name: &str) -> Option<&Table> {
        let want = TableName::parse(name);
        self.tables.iter().find(|t| {
            t.name.name.eq_ignore_ascii_case(&want.name)
                && match (&want.schema, &t.name.schema) {
                    (None, _) => true,
                    (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                    (Some(_), None) => false,
                }
        })
    }

    /// The index of the table with this name.
    pub fn index_of(&self, name: &TableName) -> Option<usize> {
        self.tables.iter().position(|t| &t.name == name)
    }

    /// A schema with only the tables whose indexes are given (in schema order).
    pub fn subset(&self, indexes: &[usize]) -> Schema {
        let mut keep: Vec<usize> = indexes.to_vec();
        keep.sort_unstable();
        keep.dedup();
        Schema {
            dialect: self.dialect,
            tables: keep
                .into_iter()
                .filter_map(|i| self.tables.get(i).cloned())
                .collect(),
            notes: self.notes.clone(),
        }
    }

    /// Merges a descriptions file: column descriptions by table and column name (without
    /// case; a `schema.` prefix in the file is matched against the table's schema when both
    /// have one), and the glossary as notes. Returns the file's tables that matched none.
    pub fn apply_descriptions(&mut self, d: &Descriptions) -> Vec<String> {
        let mut unmatched = Vec::new();
        for (key, cols) in &d.tables {
            let want = TableName::parse(key);
            let table = self.tables.iter_mut().find(|t| {
                t.name.name.eq_ignore_ascii_case(&want.name)
                    && match (&want.schema, &t.name.schema) {
                        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                        _ => true,
                    }
            });
            let Some(table) = table else {
                unmatched.push(key.clone());
                continue;
            };
            for c in cols {
                let desc = c.column_description.trim();
                if desc.is_empty() {
                    continue;
                }
                if let Some(col) = table
                    .columns
                    .iter_mut()
                    .find(|col| col.name.eq_ignore_ascii_case(&c.column_name))
                {
                    col.description = Some(desc.to_string());
                }
            }
        }
        if let Some(g) = &d.glossary
            && !g.trim().is_empty()
        {
            self.notes = Some(g.trim().to_string());
        }
        unmatched
    }

    /// The whole schema as DDL-like text for a prompt.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for t in &self.tables {
            out.push_str(&render_table(t));
            out.push('\n');
        }
        out
    }

    /// The estimated prompt tokens of [`Schema::render`].
    pub fn tokens(&self) -> usize {
        estimate_tokens(&self.render())
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One table as `CREATE TABLE … ( col type, -- description; e.g. 'a', 'b' … );`
pub fn render_table(t: &Table) -> String {
    let mut out = format!("CREATE TABLE {} (", t.name);
    if let Some(c) = &t.comment {
        out.push_str(&format!(" -- {}", one_line(c)));
    }
    out.push('\n');
    let single_pk = t.primary_key.len() == 1;
    let mut lines: Vec<(String, Option<String>)> = Vec::new();
    for c in &t.columns {
        let mut def = format!("  {} {}", c.name, c.data_type);
        if single_pk && t.primary_key[0] == c.name {
            def.push_str(" PRIMARY KEY");
        } else if !c.nullable {
            def.push_str(" NOT NULL");
        }
        let mut notes = Vec::new();
        if let Some(d) = c.description.as_ref().or(c.comment.as_ref()) {
            notes.push(one_line(d));
        }
        if !c.samples.is_empty() && !is_numeric_type(&c.data_type) {
            notes.push(format!(
                "e.g. {}",
                c.samples
                    .iter()
                    .map(|s| format!("'{}'", s.replace('\'', "''")))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        lines.push((def, (!notes.is_empty()).then(|| notes.join("; "))));
    }
    if t.primary_key.len() > 1 {
        lines.push((
            format!("  PRIMARY KEY ({})", t.primary_key.join(", ")),
            None,
        ));
    }
    for fk in &t.foreign_keys {
        let refcols = if fk.referenced_columns.is_empty() {
            String::new()
        } else {
            format!("({})", fk.referenced_columns.join(", "))
        };
        lines.push((
            format!(
                "  FOREIGN KEY ({}) REFERENCES {}{}",
                fk.columns.join(", "),
                fk.references,
                refcols
            ),
            None,
        ));
    }
    let n = lines.len();
    for (i, (def, note)) in lines.into_iter().enumerate() {
        out.push_str(&def);
        if i + 1 < n {
            out.push(',');
        }
        if let Some(note) = note {
            out.push_str(" -- ");
            out.push_str(&note);
        }
        out.push('\n');
    }
    out.push_str(");\n");
    out
}

/// Whether a declared type is numeric or boolean (samples of such columns tell the model
/// little and are left out of the prompt).
pub fn is_numeric_type(t: &str) -> bool {
    let t = t.to_ascii_lowercase();
    [
        "int", "numeric", "decimal", "real", "double", "float", "serial", "bool", "money",
    ]
    .iter()
    .any(|k| t.contains(k))
}

/// A descriptions file: per table, per column, a description; plus a glossary.
///
/// The format is defog's (`/work/shared/eval/text2sql/databases/<db>.json`):
///
/// ```json
/// { "table_metadata": { "schema.table": [
///     { "data_type": "BIGINT", "column_name": "uid", "column_description": "user id" } ] },
///   "glossary": "free text" }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Descriptions {
    /// Columns per table, keyed as written in the file.
    #[serde(rename = "table_metadata", default)]
    pub tables: BTreeMap<String, Vec<ColumnDescription>>,
    /// Notes for the model.
    #[serde(default)]
    pub glossary: Option<String>,
}

/// One column's entry in a descriptions file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ColumnDescription {
    /// The column.
    pub column_name: String,
    /// Its type as the file states it (informational).
    #[serde(default)]
    pub data_type: String,
    /// The description.
    #[serde(default)]
    pub column_description: String,
}

impl Descriptions {
    /// Reads and parses a descriptions file.
    pub fn load(path: &Path) -> Result<Descriptions, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Descriptions::parse(&text, path)
    }

    /// Parses a descriptions file's text (`path` is for the error message).
    pub fn parse(text: &str, path: &Path) -> Result<Descriptions, Error> {
        serde_json::from_str(text).map_err(|e| Error::Descriptions {
            path: PathBuf::from(path),
            reason: e.to_string(),
        })
    }
}

/// Short text values (with a letter, at most `max_chars` characters) for linking.
pub(crate) fn pick_link_values(values: &[String], options: &SampleOptions) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in values {
        if out.len() >= options.link_values {
            break;
        }
        let v = one_line(v);
        if v.chars().count() <= options.max_chars
            && v.chars().any(char::is_alphabetic)
            && !out.contains(&v)
        {
            out.push(v);
        }
    }
    out
}

/// Keeps at most `options.values` distinct non-empty values, each cut to
/// `options.max_chars` characters.
pub(crate) fn pick_samples<I: IntoIterator<Item = String>>(
    values: I,
    options: &SampleOptions,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in values {
        if out.len() >= options.values {
            break;
        }
        let v = one_line(&v);
        if v.is_empty() {
            continue;
        }
        let cut = if v.chars().count() > options.max_chars {
            format!("{}…", v.chars().take(options.max_chars).collect::<String>())
        } else {
            v
        };
        if !out.contains(&cut) {
            out.push(cut);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, ty: &str) -> Column {
        Column {
            name: name.into(),
            data_type: ty.into(),
            nullable: true,
            comment: None,
            description: None,
            samples: vec![],
            link_values: vec![],
        }
    }

    #[test]
    fn renders_ddl_with_descriptions_samples_and_keys() {
        let mut s = Schema {
            dialect: Dialect::Postgres,
            tables: vec![Table {
                name: TableName::parse("shop.orders"),
                comment: Some("one row per order".into()),
                columns: vec![
                    Column {
                        nullable: false,
                        ..col("id", "bigint")
                    },
                    Column {
                        samples: vec!["open".into(), "it's shipped".into()],
                        ..col("status", "text")
                    },
                    col("customer_id", "bigint"),
                ],
                primary_key: vec!["id".into()],
                foreign_keys: vec![ForeignKey {
                    columns: vec!["customer_id".into()],
                    references: TableName::new("customers"),
                    referenced_columns: vec!["id".into()],
                }],
            }],
            notes: None,
        };
        let d = Descriptions::parse(
            r#"{"table_metadata": {"shop.orders": [{"column_name": "STATUS", "data_type": "text", "column_description": "order state"}], "nope": []}, "glossary": "be nice"}"#,
            Path::new("d.json"),
        )
        .unwrap();
        assert_eq!(s.apply_descriptions(&d), vec!["nope".to_string()]);
        let text = s.render();
        assert_eq!(
            text,
            "CREATE TABLE shop.orders ( -- one row per order\n  id bigint PRIMARY KEY,\n  status text, -- order state; e.g. 'open', 'it''s shipped'\n  customer_id bigint,\n  FOREIGN KEY (customer_id) REFERENCES customers(id)\n);\n\n"
        );
        assert_eq!(s.notes.as_deref(), Some("be nice"));
        assert_eq!(s.tokens(), estimate_tokens(&text));
        assert_eq!(estimate_tokens("abcde"), 2);
    }

    #[test]
    fn samples_are_distinct_bounded_and_cut() {
        let o = SampleOptions {
            values: 2,
            max_chars: 3,
            scan_rows: 10,
            link_values: 0,
        };
        let got = pick_samples(["abcdef", "abcdxx", "", "z", "y"].map(String::from), &o);
        assert_eq!(got, vec!["abc…".to_string(), "z".to_string()]);
    }

    #[test]
    fn bad_descriptions_name_the_file() {
        let e = Descriptions::parse("{", Path::new("x.json")).unwrap_err();
        assert!(
            e.to_string().starts_with("descriptions file x.json:"),
            "{e}"
        );
    }
}
