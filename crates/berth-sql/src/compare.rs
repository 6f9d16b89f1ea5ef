//! Whether a generated query answered a question: its rows compared with a gold query's,
//! as multisets on the gold columns (execution accuracy, as text-to-SQL evaluations count
//! it).
//!
//! Each gold column is matched with a column of the answer holding the same multiset of
//! values — by name first, else any — and the rows of both, cut to the matched columns,
//! must then be equal as multisets. Extra columns in the answer, column order, names and
//! row order do not matter; numbers compare by value (an integer equals the same float,
//! floats to 6 significant digits), so the same answer from SQLite and PostgreSQL agrees.

use crate::value::Value;
use std::collections::BTreeMap;

/// A value in a form that compares across databases: numbers by value, rounded.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Null,
    Bool(bool),
    Number(String),
    Text(String),
    Bytes(Vec<u8>),
    Array(Vec<Key>),
}

fn key(v: &Value) -> Key {
    match v {
        Value::Null => Key::Null,
        Value::Bool(b) => Key::Bool(*b),
        Value::Int(i) => number(*i as f64),
        Value::Float(f) => number(*f),
        Value::Text(t) => Key::Text(t.clone()),
        Value::Bytes(b) => Key::Bytes(b.clone()),
        Value::Array(a) => Key::Array(a.iter().map(key).collect()),
    }
}

fn number(f: f64) -> Key {
    if f == 0.0 {
        return Key::Number("0".into());
    }
    Key::Number(format!("{f:.5e}"))
}

/// A column's values as a multiset.
fn column_multiset(rows: &[Vec<Value>], column: usize) -> BTreeMap<Key, usize> {
    let mut m = BTreeMap::new();
    for row in rows {
        *m.entry(row.get(column).map_or(Key::Null, key)).or_insert(0) += 1;
    }
    m
}

fn row_multiset(rows: &[Vec<Value>], columns: &[usize]) -> BTreeMap<Vec<Key>, usize> {
    let mut m = BTreeMap::new();
    for row in rows {
        let k: Vec<Key> = columns
            .iter()
            .map(|c| row.get(*c).map_or(Key::Null, key))
            .collect();
        *m.entry(k).or_insert(0) += 1;
    }
    m
}

/// Whether `answer` (columns, rows) holds the result of `gold` (columns, rows): see the
/// module documentation.
pub fn same_result(
    gold_columns: &[String],
    gold_rows: &[Vec<Value>],
    answer_columns: &[String],
    answer_rows: &[Vec<Value>],
) -> bool {
    if gold_rows.len() != answer_rows.len() {
        return false;
    }
    if gold_rows.is_empty() {
        return true;
    }
    let answer_sets: Vec<_> = (0..answer_columns.len())
        .map(|c| column_multiset(answer_rows, c))
        .collect();
    let mut used = vec![false; answer_columns.len()];
    let mut chosen = Vec::with_capacity(gold_columns.len());
    for (g, name) in gold_columns.iter().enumerate() {
        let wanted = column_multiset(gold_rows, g);
        let fits = |c: usize, used: &[bool]| !used[c] && answer_sets[c] == wanted;
        let by_name = (0..answer_columns.len())
            .find(|&c| fits(c, &used) && answer_columns[c].eq_ignore_ascii_case(name));
        let Some(c) = by_name.or_else(|| (0..answer_columns.len()).find(|&c| fits(c, &used)))
        else {
            return false;
        };
        used[c] = true;
        chosen.push(c);
    }
    let gold_all: Vec<usize> = (0..gold_columns.len()).collect();
    row_multiset(gold_rows, &gold_all) == row_multiset(answer_rows, &chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn t(s: &str) -> Value {
        Value::Text(s.into())
    }

    #[test]
    fn order_names_and_extra_columns_do_not_matter() {
        let gold = vec![vec![t("ann"), Value::Int(3)], vec![t("bob"), Value::Int(5)]];
        let answer = vec![
            vec![Value::Float(5.0), t("x"), t("bob")],
            vec![Value::Float(3.0), t("y"), t("ann")],
        ];
        assert!(same_result(
            &cols(&["name", "n"]),
            &gold,
            &cols(&["total", "other", "who"]),
            &answer
        ));
    }

    #[test]
    fn rows_must_pair_up_not_only_columns() {
        // Same column multisets, rows paired differently.
        let gold = vec![vec![t("ann"), Value::Int(3)], vec![t("bob"), Value::Int(5)]];
        let answer = vec![vec![t("ann"), Value::Int(5)], vec![t("bob"), Value::Int(3)]];
        assert!(!same_result(
            &cols(&["name", "n"]),
            &gold,
            &cols(&["name", "n"]),
            &answer
        ));
    }

    #[test]
    fn duplicates_count_and_missing_columns_fail() {
        let gold = vec![vec![Value::Int(1)], vec![Value::Int(1)]];
        let once = vec![vec![Value::Int(1)]];
        assert!(!same_result(&cols(&["a"]), &gold, &cols(&["a"]), &once));
        let gold = vec![vec![Value::Int(1), Value::Int(2)]];
        let answer = vec![vec![Value::Int(1)]];
        assert!(!same_result(
            &cols(&["a", "b"]),
            &gold,
            &cols(&["a"]),
            &answer
        ));
        // Two equal gold columns need two answer columns.
        let gold = vec![vec![Value::Int(1), Value::Int(1)]];
        assert!(!same_result(
            &cols(&["a", "b"]),
            &gold,
            &cols(&["a"]),
            &answer
        ));
    }

    #[test]
    fn numbers_compare_by_value_and_empty_results_agree() {
        let gold = vec![vec![Value::Float(1.0 / 3.0)]];
        let answer = vec![vec![Value::Float(0.333_333_3)]];
        assert!(same_result(&cols(&["r"]), &gold, &cols(&["r"]), &answer));
        let answer = vec![vec![Value::Float(0.34)]];
        assert!(!same_result(&cols(&["r"]), &gold, &cols(&["r"]), &answer));
        assert!(same_result(&cols(&["r"]), &[], &cols(&["x", "y"]), &[]));
        assert!(!same_result(&cols(&["r"]), &[], &cols(&["r"]), &answer));
    }
}
