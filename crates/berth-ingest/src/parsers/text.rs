//! Plain text, in any encoding.
//!
//! Also home of [`decode`], the byte → text step every text-based parser (Markdown, HTML,
//! CSV, JSON) shares: it finds the encoding (byte-order mark, valid UTF-8, mostly-valid
//! UTF-8, a charset the document declares, else a guess by `chardetng`), decodes with
//! replacement characters rather than failing, and refuses binary data.

use super::{ParseError, ParseErrorKind};
use crate::document::{BlockKind, DocumentBuilder, ParsedDocument};
use encoding_rs::{Encoding, UTF_16BE, UTF_16LE};

/// How far into the document a NUL byte marks it as binary (git's rule).
const NUL_WINDOW: usize = 8000;
/// How many bytes the encoding guesser reads.
const GUESS_WINDOW: usize = 1 << 20;

/// Parses plain text: one `Paragraph` block per blank-line separated paragraph.
pub(super) fn parse(bytes: &[u8]) -> Result<ParsedDocument, ParseError> {
    let text = decode(bytes, None)?;
    let mut b = DocumentBuilder::new();
    for para in paragraphs(&text) {
        b.push(BlockKind::Paragraph, para);
    }
    Ok(b.finish())
}

/// The paragraphs of a text: runs of lines separated by blank (whitespace-only) lines.
pub(super) fn paragraphs(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        // Skip blank lines.
        loop {
            if rest.is_empty() {
                return None;
            }
            let (line, tail) = split_line(rest);
            if !line.trim().is_empty() {
                break;
            }
            rest = tail;
        }
        let start = rest;
        let mut len = 0;
        while !rest.is_empty() {
            let (line, tail) = split_line(rest);
            if line.trim().is_empty() {
                break;
            }
            len += rest.len() - tail.len();
            rest = tail;
        }
        Some(&start[..len])
    })
}

/// The first line of `s` (without its `\n`) and the rest after it.
fn split_line(s: &str) -> (&str, &str) {
    match s.find('\n') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    }
}

/// The error for binary data handed to a text parser.
pub(super) fn binary_error() -> ParseError {
    ParseError::new(
        ParseErrorKind::Corrupt,
        "this looks like binary data, not text",
    )
}

/// Decodes a text document to UTF-8, normalising line ends to `\n`.
///
/// `declared` is an encoding the document itself names (an HTML `<meta charset>`), used
/// when the bytes are neither marked by a BOM nor valid UTF-8. Invalid sequences become
/// U+FFFD. Binary data (a NUL byte near the start, or many control characters) is a
/// `Corrupt` error.
pub(super) fn decode(
    bytes: &[u8],
    declared: Option<&'static Encoding>,
) -> Result<String, ParseError> {
    let text = if let Some((enc, bom)) = Encoding::for_bom(bytes) {
        enc.decode_without_bom_handling(&bytes[bom..])
            .0
            .into_owned()
    } else if let Some(enc) = utf16_without_bom(bytes) {
        enc.decode_without_bom_handling(bytes).0.into_owned()
    } else {
        if bytes[..bytes.len().min(NUL_WINDOW)].contains(&0) {
            return Err(binary_error());
        }
        match std::str::from_utf8(bytes) {
            Ok(s) => s.to_string(),
            Err(_) if mostly_utf8(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            Err(_) => {
                let enc = declared.unwrap_or_else(|| guess(bytes));
                enc.decode_without_bom_handling(bytes).0.into_owned()
            }
        }
    };
    if looks_binary(&text) {
        return Err(binary_error());
    }
    Ok(normalize_newlines(text))
}

/// UTF-16 text without a BOM: in ASCII-heavy text every other byte is zero.
fn utf16_without_bom(bytes: &[u8]) -> Option<&'static Encoding> {
    let sample = &bytes[..bytes.len().min(NUL_WINDOW) & !1];
    if sample.len() < 16 {
        return None;
    }
    let pairs = sample.len() / 2;
    let (mut even_zero, mut odd_zero) = (0, 0);
    for pair in sample.chunks_exact(2) {
        even_zero += usize::from(pair[0] == 0);
        odd_zero += usize::from(pair[1] == 0);
    }
    // 90% of one side zero and (almost) none of the other.
    if odd_zero * 10 >= pairs * 9 && even_zero * 20 <= pairs {
        Some(UTF_16LE)
    } else if even_zero * 10 >= pairs * 9 && odd_zero * 20 <= pairs {
        Some(UTF_16BE)
    } else {
        None
    }
}

/// Invalid UTF-8 that is mostly valid UTF-8 (a few broken bytes in a UTF-8 file) is
/// better decoded as UTF-8 with replacements than re-read as a legacy encoding, which
/// would garble every correct multi-byte character.
fn mostly_utf8(bytes: &[u8]) -> bool {
    let (mut good, mut bad) = (0usize, 0usize);
    for chunk in bytes.utf8_chunks() {
        good += chunk.valid().chars().filter(|c| !c.is_ascii()).count();
        bad += usize::from(!chunk.invalid().is_empty());
    }
    good > 0 && good >= bad * 4
}

/// The legacy encoding `chardetng` finds most likely.
fn guess(bytes: &[u8]) -> &'static Encoding {
    let mut det = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    let sample = &bytes[..bytes.len().min(GUESS_WINDOW)];
    det.feed(sample, sample.len() == bytes.len());
    // Only reached for invalid UTF-8; if the guess is still UTF-8, decoding replaces the
    // bad sequences.
    det.guess(None, chardetng::Utf8Detection::Allow)
}

/// More than 5% control characters (other than whitespace, form feed and the escape of
/// terminal colours) or replacement characters: not text.
fn looks_binary(text: &str) -> bool {
    let (mut total, mut bad) = (0usize, 0usize);
    for c in text.chars() {
        total += 1;
        let control = c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\x0c' | '\x1b');
        bad += usize::from(control || c == '\u{fffd}');
    }
    bad > 0 && bad * 20 > total
}

/// `\r\n` and lone `\r` become `\n`; NUL characters (past the window checked) are dropped.
fn normalize_newlines(text: String) -> String {
    if !text.contains(['\r', '\0']) {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push('\n');
            }
            '\0' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &[u8]) -> ParsedDocument {
        parse(s).unwrap()
    }

    #[test]
    fn paragraphs_become_blocks() {
        let d = parse_str(b"first line\nsecond line\n\n  \n\nnext para\r\n\r\nlast");
        assert_eq!(d.blocks.len(), 3);
        assert_eq!(d.block_text(&d.blocks[0]), "first line\nsecond line");
        assert_eq!(d.block_text(&d.blocks[1]), "next para");
        assert_eq!(d.block_text(&d.blocks[2]), "last");
        assert!(d.blocks.iter().all(|b| b.kind == BlockKind::Paragraph));
    }

    #[test]
    fn boms_select_the_encoding() {
        let utf8 = [&[0xEF, 0xBB, 0xBF][..], "héllo".as_bytes()].concat();
        assert_eq!(parse_str(&utf8).text, "héllo");
        let mut le = vec![0xFF, 0xFE];
        le.extend("héllo wörld".encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(parse_str(&le).text, "héllo wörld");
        let mut be = vec![0xFE, 0xFF];
        be.extend("ünïcode".encode_utf16().flat_map(u16::to_be_bytes));
        assert_eq!(parse_str(&be).text, "ünïcode");
    }

    #[test]
    fn utf16_without_bom_is_recognised() {
        let le: Vec<u8> = "plain old ascii text in utf-16"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(parse_str(&le).text, "plain old ascii text in utf-16");
    }

    #[test]
    fn legacy_encodings_are_guessed() {
        // "Le café est très chaud à midi." in windows-1252 / latin-1.
        let latin1 = b"Le caf\xe9 est tr\xe8s chaud \xe0 midi. D\xe9j\xe0 vu, na\xefve.";
        assert_eq!(
            parse_str(latin1).text,
            "Le café est très chaud à midi. Déjà vu, naïve."
        );
    }

    #[test]
    fn broken_utf8_is_replaced_not_refused() {
        let bytes = "naïve résumé — ok "
            .as_bytes()
            .iter()
            .copied()
            .chain([0xFF, b'!']);
        let d = parse_str(&bytes.collect::<Vec<_>>());
        assert_eq!(d.text, "naïve résumé — ok \u{fffd}!");
    }

    #[test]
    fn binary_data_is_corrupt() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10";
        let err = parse(png).unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::Corrupt);
        assert_eq!(err.message, "this looks like binary data, not text");
        // No NUL, but mostly control characters.
        let controls: Vec<u8> = (1u8..32).cycle().take(400).collect();
        assert_eq!(parse(&controls).unwrap_err().kind, ParseErrorKind::Corrupt);
    }

    #[test]
    fn terminal_colours_are_text() {
        let d = parse_str(b"\x1b[31merror\x1b[0m: it broke\n\x0cnext page");
        assert!(d.text.contains("error"));
    }

    #[test]
    fn empty_input_gives_an_empty_document() {
        assert!(parse_str(b"").is_empty());
        assert!(parse_str(b"  \n\n\t ").is_empty());
    }

    #[test]
    fn declared_encoding_is_used_for_non_utf8() {
        let s = decode(b"\xe4\xf6\xfc", Some(encoding_rs::WINDOWS_1252)).unwrap();
        assert_eq!(s, "äöü");
    }
}
