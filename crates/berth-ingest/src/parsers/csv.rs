//! CSV: one `Record` block per row, rendered as `header: value` lines.
//!
//! The first row is the header. The delimiter is the one of `,` `;` tab `|` that the
//! header line uses most (`,` when it uses none). Rows may be ragged: cells past the
//! header are named `column N`, missing cells are simply absent, empty cells are left
//! out. A file that decodes as text is always read; binary data is `Corrupt`.

use super::{ParseError, ParseErrorKind, rendered_limit, rendered_too_large};
use crate::document::{BlockKind, DocumentBuilder, ParsedDocument};

/// Parses a CSV document.
pub(super) fn parse(bytes: &[u8]) -> Result<ParsedDocument, ParseError> {
    let text = super::text::decode(bytes, None)?;
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(sniff_delimiter(&text))
        .from_reader(text.as_bytes());
    let limit = rendered_limit(bytes.len());
    let mut rendered = 0usize;
    let mut header: Option<Vec<String>> = None;
    let mut b = DocumentBuilder::new();
    let mut record = String::new();
    for (i, row) in reader.records().enumerate() {
        let row = row.map_err(|e| {
            ParseError::new(
                ParseErrorKind::Corrupt,
                format!("row {} cannot be read: {e}", i + 1),
            )
        })?;
        let Some(names) = &header else {
            header = Some(
                row.iter()
                    .enumerate()
                    .map(|(n, h)| match h.trim() {
                        "" => format!("column {}", n + 1),
                        h => h.to_string(),
                    })
                    .collect(),
            );
            continue;
        };
        record.clear();
        for (n, value) in row.iter().enumerate() {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            if !record.is_empty() {
                record.push('\n');
            }
            match names.get(n) {
                Some(name) => record.push_str(name),
                None => record.push_str(&format!("column {}", n + 1)),
            }
            record.push_str(": ");
            record.push_str(value);
        }
        rendered += record.len() + 2;
        if rendered > limit {
            return Err(rendered_too_large(
                "rendering this CSV as records",
                bytes.len(),
            ));
        }
        b.push(BlockKind::Record, &record);
    }
    Ok(b.finish())
}

/// The delimiter the first non-empty line uses most, outside quotes.
fn sniff_delimiter(text: &str) -> u8 {
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let mut counts = [0usize; 4];
    let candidates = [b',', b';', b'\t', b'|'];
    let mut quoted = false;
    for c in line.bytes() {
        if c == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(k) = candidates.iter().position(|&d| d == c) {
            counts[k] += 1;
        }
    }
    let (best, n) = counts
        .iter()
        .enumerate()
        .max_by_key(|&(k, n)| (*n, std::cmp::Reverse(k)))
        .unwrap_or((0, &0));
    if *n == 0 { b',' } else { candidates[best] }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(d: &ParsedDocument) -> Vec<&str> {
        d.blocks
            .iter()
            .inspect(|b| assert_eq!(b.kind, BlockKind::Record))
            .map(|b| d.block_text(b))
            .collect()
    }

    #[test]
    fn rows_become_header_value_records() {
        let d = parse(b"name,city,age\nAnn,Paris,31\n\"Smith, Bob\",\"New\nYork\",\n").unwrap();
        assert_eq!(
            records(&d),
            [
                "name: Ann\ncity: Paris\nage: 31",
                "name: Smith, Bob\ncity: New\nYork"
            ]
        );
    }

    #[test]
    fn ragged_rows_are_kept() {
        let d = parse(b"a,b\n1\n2,3,4,5\n\n6,7\n").unwrap();
        assert_eq!(
            records(&d),
            ["a: 1", "a: 2\nb: 3\ncolumn 3: 4\ncolumn 4: 5", "a: 6\nb: 7"]
        );
    }

    #[test]
    fn semicolons_and_tabs_are_sniffed() {
        let d = parse("nom;ville\nAnné;Lyon\n".as_bytes()).unwrap();
        assert_eq!(records(&d), ["nom: Anné\nville: Lyon"]);
        let d = parse(b"x\ty\n1\t2\n").unwrap();
        assert_eq!(records(&d), ["x: 1\ny: 2"]);
    }

    #[test]
    fn a_header_alone_or_nothing_is_empty() {
        assert!(parse(b"").unwrap().is_empty());
        assert!(parse(b"a,b,c\n").unwrap().is_empty());
    }

    #[test]
    fn binary_is_corrupt() {
        let err = parse(b"PK\x03\x04\x14\0\0\0\x08\0").unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::Corrupt);
    }

    #[test]
    fn header_amplification_is_refused() {
        let header: Vec<String> = (0..200)
            .map(|i| format!("{}{i}", "h".repeat(200)))
            .collect();
        let mut csv = header.join(",");
        csv.push('\n');
        for _ in 0..200 {
            csv.push_str(&"1,".repeat(200));
            csv.push('\n');
        }
        let err = parse(csv.as_bytes()).unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::TooLarge);
    }
}
