//! JSON and JSON Lines.
//!
//! Values are rendered as `path: value` lines: object keys joined by `.`, array elements
//! as `[i]`, arrays of plain values on one line joined by `, `, strings unquoted, `null`
//! and empty containers left out (`tags: a, b`, `address.city: Paris`,
//! `items[0].name: tea`). A top-level array, with `record_per_row`, is one `Record` block
//! per element; JSON Lines is one `Record` per non-empty line. Otherwise the whole
//! rendering is one `Paragraph` block.
//!
//! An empty (or blank) file is an empty document (the `Empty` error). Nesting deeper than
//! serde_json's limit (128 levels) is `Corrupt` ("JSON nested too
//! deeply"); a JSON Lines line that is not JSON is `Corrupt`, naming the line.

use super::{ParseError, ParseErrorKind, rendered_limit, rendered_too_large};
use crate::document::{BlockKind, DocumentBuilder, ParsedDocument};
use serde_json::Value;

/// Parses a JSON document.
pub(super) fn parse(bytes: &[u8], records: bool) -> Result<ParsedDocument, ParseError> {
    let text = super::text::decode(bytes, None)?;
    if text.trim().is_empty() {
        return Ok(ParsedDocument::default());
    }
    let value: Value = serde_json::from_str(&text).map_err(|e| json_error(&e, None))?;
    let mut out = Output::new(bytes.len(), records && value.is_array());
    match value {
        Value::Array(items) if records => {
            for item in &items {
                out.record(item)?;
            }
        }
        value => out.record(&value)?,
    }
    Ok(out.finish())
}

/// Parses a JSON Lines document.
pub(super) fn parse_lines(bytes: &[u8], records: bool) -> Result<ParsedDocument, ParseError> {
    let text = super::text::decode(bytes, None)?;
    let mut out = Output::new(bytes.len(), records);
    for (i, line) in text.split('\n').enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line).map_err(|e| json_error(&e, Some(i + 1)))?;
        out.record(&value)?;
    }
    Ok(out.finish())
}

/// A clear error from a serde_json one.
fn json_error(e: &serde_json::Error, line: Option<usize>) -> ParseError {
    let message = e.to_string();
    let message = if message.starts_with("recursion limit exceeded") {
        match line {
            Some(n) => format!("line {n}: JSON nested too deeply (more than 128 levels)"),
            None => format!(
                "JSON nested too deeply (more than 128 levels, at line {} column {})",
                e.line(),
                e.column()
            ),
        }
    } else {
        match line {
            Some(n) => format!("line {n} is not valid JSON: {message}"),
            None => format!("not valid JSON: {message}"),
        }
    };
    ParseError::new(ParseErrorKind::Corrupt, message)
}

/// Collects rendered values into blocks, within the rendering limit.
struct Output {
    b: DocumentBuilder,
    records: bool,
    /// Everything, when not one record per value.
    all: String,
    rendered: usize,
    input: usize,
    limit: usize,
}

impl Output {
    fn new(input: usize, records: bool) -> Self {
        Output {
            b: DocumentBuilder::new(),
            records,
            all: String::new(),
            rendered: 0,
            input,
            limit: rendered_limit(input),
        }
    }

    fn record(&mut self, value: &Value) -> Result<(), ParseError> {
        let mut text = String::new();
        render(
            value,
            &mut String::new(),
            &mut text,
            self.limit - self.rendered.min(self.limit),
        )
        .ok_or_else(|| rendered_too_large("rendering this JSON as text", self.input))?;
        self.rendered += text.len() + 2;
        if self.rendered > self.limit {
            return Err(rendered_too_large(
                "rendering this JSON as text",
                self.input,
            ));
        }
        if self.records {
            self.b.push(BlockKind::Record, &text);
        } else if !text.trim().is_empty() {
            if !self.all.is_empty() {
                self.all.push('\n');
            }
            self.all.push_str(&text);
        }
        Ok(())
    }

    fn finish(mut self) -> ParsedDocument {
        if !self.records {
            self.b.push(BlockKind::Paragraph, &self.all);
        }
        self.b.finish()
    }
}

/// Appends `path: value` lines for `value` to `out`. `None` when `out` would pass
/// `budget` bytes. Recursion is bounded by serde_json's nesting limit.
fn render(value: &Value, path: &mut String, out: &mut String, budget: usize) -> Option<()> {
    let line = |out: &mut String, path: &str, v: &str| {
        if !out.is_empty() {
            out.push('\n');
        }
        if !path.is_empty() {
            out.push_str(path);
            out.push_str(": ");
        }
        out.push_str(v);
    };
    match value {
        Value::Null => {}
        Value::Bool(b) => line(out, path, if *b { "true" } else { "false" }),
        Value::Number(n) => line(out, path, &n.to_string()),
        Value::String(s) => line(out, path, s),
        Value::Array(items) if items.iter().all(|v| !v.is_array() && !v.is_object()) => {
            let plain: Vec<String> = items
                .iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Null => None,
                    v => Some(v.to_string()),
                })
                .collect();
            if !plain.is_empty() {
                line(out, path, &plain.join(", "));
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                render(item, path, out, budget)?;
                path.truncate(len);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                render(item, path, out, budget)?;
                path.truncate(len);
            }
        }
    }
    (out.len() <= budget).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(d: &ParsedDocument) -> Vec<(BlockKind, &str)> {
        d.blocks.iter().map(|b| (b.kind, d.block_text(b))).collect()
    }

    #[test]
    fn arrays_are_one_record_per_element() {
        let d = parse(
            br#"[{"name":"Ann","tags":["a","b"],"address":{"city":"Paris","zip":null}},
                 {"name":"Bob","items":[{"sku":1},{"sku":2}],"ok":true}, "plain", 3.5]"#,
            true,
        )
        .unwrap();
        assert_eq!(
            texts(&d),
            [
                (
                    BlockKind::Record,
                    "name: Ann\ntags: a, b\naddress.city: Paris"
                ),
                (
                    BlockKind::Record,
                    "name: Bob\nitems[0].sku: 1\nitems[1].sku: 2\nok: true"
                ),
                (BlockKind::Record, "plain"),
                (BlockKind::Record, "3.5"),
            ]
        );
    }

    #[test]
    fn other_values_are_one_block() {
        let d = parse(br#"{"title":"T","body":{"text":"hello"}}"#, true).unwrap();
        assert_eq!(
            texts(&d),
            [(BlockKind::Paragraph, "title: T\nbody.text: hello")]
        );
        let d = parse(br#"[{"a":1},{"a":2}]"#, false).unwrap();
        assert_eq!(texts(&d), [(BlockKind::Paragraph, "[0].a: 1\n[1].a: 2")]);
    }

    #[test]
    fn nesting_bombs_are_corrupt() {
        let bomb = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let err = parse(bomb.as_bytes(), true).unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::Corrupt);
        assert!(
            err.message.starts_with("JSON nested too deeply"),
            "{}",
            err.message
        );
    }

    #[test]
    fn invalid_json_is_corrupt() {
        let err = parse(b"{\"a\": 1,", true).unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::Corrupt);
        assert!(
            err.message.starts_with("not valid JSON: "),
            "{}",
            err.message
        );
    }

    #[test]
    fn json_lines_are_records_and_bad_lines_are_named() {
        let d = parse_lines(b"{\"q\":\"one\"}\n\n{\"q\":\"two\"}\r\n", true).unwrap();
        assert_eq!(
            texts(&d),
            [(BlockKind::Record, "q: one"), (BlockKind::Record, "q: two")]
        );
        let err = parse_lines(b"{\"q\":1}\n{\"q\":2}\n{oops}\n", true).unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::Corrupt);
        assert!(
            err.message.starts_with("line 3 is not valid JSON"),
            "{}",
            err.message
        );
    }

    #[test]
    fn key_path_amplification_is_refused() {
        // A long key path repeated for many leaves.
        let key = "k".repeat(1000);
        let mut v = format!("[{}]", r#"{"a":0},"#.repeat(20_000).trim_end_matches(','));
        for _ in 0..50 {
            v = format!("{{\"{key}\":{v}}}");
        }
        let err = parse(v.as_bytes(), true).unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::TooLarge, "{}", err.message);
    }
}
