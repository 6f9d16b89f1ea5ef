//! Values returned by a query, in a form every JSON client can read.

use serde::{Serialize, Serializer};

/// One cell of a result row.
///
/// Serialised as plain JSON: `null`, `true`, `42`, `1.5`, `"text"`. Bytes become a string
/// in PostgreSQL's hex notation (`"\\x0a1b"`); dates, times, timestamps, intervals, numerics
/// and UUIDs arrive as text, exactly as the database would print them, so no precision is
/// lost in a JSON number. Arrays become JSON arrays.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer (64 bits).
    Int(i64),
    /// A floating-point number; NaN and infinities serialise as strings.
    Float(f64),
    /// Text, and everything rendered as text (dates, numerics, UUIDs, JSON documents).
    Text(String),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// A PostgreSQL array.
    Array(Vec<Value>),
}

impl Value {
    /// The bytes in PostgreSQL's hex notation: `\x` followed by two hex digits a byte.
    pub fn hex(bytes: &[u8]) -> String {
        let mut s = String::with_capacity(2 + bytes.len() * 2);
        s.push_str("\\x");
        for b in bytes {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    /// The value as text, for prompts and sample values (`None` for NULL).
    pub fn to_text(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Text(t) => Some(t.clone()),
            Value::Bytes(b) => Some(Value::hex(b)),
            Value::Array(a) => Some(format!(
                "{{{}}}",
                a.iter()
                    .map(|v| v.to_text().unwrap_or_else(|| "NULL".into()))
                    .collect::<Vec<_>>()
                    .join(",")
            )),
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(f) if f.is_finite() => s.serialize_f64(*f),
            Value::Float(f) => s.serialize_str(&f.to_string()),
            Value::Text(t) => s.serialize_str(t),
            Value::Bytes(b) => s.serialize_str(&Value::hex(b)),
            Value::Array(a) => a.serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_plain_json() {
        let row = vec![
            Value::Null,
            Value::Bool(true),
            Value::Int(-3),
            Value::Float(1.5),
            Value::Float(f64::NAN),
            Value::Text("a".into()),
            Value::Bytes(vec![0, 255]),
            Value::Array(vec![Value::Int(1), Value::Null]),
        ];
        let json = serde_json::to_string(&row).unwrap();
        assert_eq!(json, r#"[null,true,-3,1.5,"NaN","a","\\x00ff",[1,null]]"#);
    }
}
