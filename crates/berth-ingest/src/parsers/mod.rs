//! Parsers: raw bytes of one document → [`ParsedDocument`].
//!
//! One module per format; [`Format`] is the closed registry. [`parse_contained`] is what
//! the runner calls: it enforces the size limit, runs the parser on a worker thread under
//! `catch_unwind` and a timeout, so a parser that panics or hangs fails that one document
//! and nothing else.

mod csv;
mod docx;
mod external;
mod html;
mod json;
mod markdown;
mod pdf;
mod text;

use crate::document::ParsedDocument;

pub use external::{ExternalKind, ExternalParser};
use std::sync::mpsc;
use std::time::Duration;

/// A document as read from its source.
#[derive(Debug, Clone)]
pub struct RawDocument {
    /// Path within the source (or URL), for format detection and messages.
    pub path: String,
    /// The content.
    pub bytes: Vec<u8>,
    /// The content type the source reported (HTTP), if any.
    pub content_type: Option<String>,
}

/// The formats berth parses itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    /// Plain text, any encoding.
    Text,
    /// Markdown (front matter, headings kept).
    Markdown,
    /// HTML (main content, headings, tables).
    Html,
    /// PDF (page numbers kept).
    Pdf,
    /// Word documents (.docx).
    Docx,
    /// Comma-separated values, one record a row.
    Csv,
    /// A JSON document (an array is one record per element).
    Json,
    /// JSON Lines, one record a line.
    Jsonl,
}

impl Format {
    /// Every format, for registry tests.
    pub const ALL: [Format; 8] = [
        Format::Text,
        Format::Markdown,
        Format::Html,
        Format::Pdf,
        Format::Docx,
        Format::Csv,
        Format::Json,
        Format::Jsonl,
    ];

    /// The format's name, part of the pipeline fingerprint.
    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Markdown => "markdown",
            Format::Html => "html",
            Format::Pdf => "pdf",
            Format::Docx => "docx",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Jsonl => "jsonl",
        }
    }

    /// The format of a document, from its content type (when the source has one) or its
    /// file extension. `None`: berth does not parse it.
    pub fn detect(path: &str, content_type: Option<&str>) -> Option<Format> {
        if let Some(ct) = content_type {
            let ct = ct
                .split(';')
                .next()
                .unwrap_or(ct)
                .trim()
                .to_ascii_lowercase();
            let by_type = match ct.as_str() {
                "text/plain" => Some(Format::Text),
                "text/markdown" | "text/x-markdown" => Some(Format::Markdown),
                "text/html" | "application/xhtml+xml" => Some(Format::Html),
                "application/pdf" => Some(Format::Pdf),
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => {
                    Some(Format::Docx)
                }
                "text/csv" => Some(Format::Csv),
                "application/json" => Some(Format::Json),
                "application/x-ndjson" | "application/jsonl" => Some(Format::Jsonl),
                _ => None,
            };
            if by_type.is_some() {
                return by_type;
            }
        }
        let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
        let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
        Some(match ext.as_str() {
            "txt" | "text" | "log" | "rst" => Format::Text,
            "md" | "markdown" | "mdx" => Format::Markdown,
            "html" | "htm" | "xhtml" => Format::Html,
            "pdf" => Format::Pdf,
            "docx" => Format::Docx,
            "csv" => Format::Csv,
            "json" => Format::Json,
            "jsonl" | "ndjson" => Format::Jsonl,
            _ => return None,
        })
    }
}

/// Options that change what parsers produce (part of the pipeline fingerprint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseOptions {
    /// JSON arrays and JSONL: one record per element / line (otherwise one block of text).
    pub record_per_row: bool,
    /// Documents larger than this are refused.
    pub max_bytes: usize,
    /// A parser running longer than this fails the document.
    pub timeout: Duration,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            record_per_row: true,
            max_bytes: 50 * 1024 * 1024,
            timeout: Duration::from_secs(60),
        }
    }
}

/// Why a document could not be parsed. The message is for people: it says what is wrong
/// with the document, not where in berth.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// What kind of failure.
    pub kind: ParseErrorKind,
    /// What is wrong.
    pub message: String,
}

/// Kinds of parse failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// Not a format berth parses.
    Unsupported,
    /// Larger than the limit.
    TooLarge,
    /// Damaged, truncated, or not what its name says.
    Corrupt,
    /// Encrypted or password-protected.
    Encrypted,
    /// No text could be extracted.
    Empty,
    /// The parser ran out of time.
    Timeout,
    /// The parser crashed on it.
    Crashed,
}

impl ParseError {
    /// A new error.
    pub fn new(kind: ParseErrorKind, message: impl Into<String>) -> Self {
        ParseError {
            kind,
            message: message.into(),
        }
    }

    /// Whether trying again could help (only a timeout, on a busy machine).
    pub fn is_transient(&self) -> bool {
        self.kind == ParseErrorKind::Timeout
    }
}

/// Parses a document in the calling thread. Prefer [`parse_contained`].
pub fn parse(
    format: Format,
    raw: &RawDocument,
    options: &ParseOptions,
) -> Result<ParsedDocument, ParseError> {
    let doc = match format {
        Format::Text => text::parse(&raw.bytes),
        Format::Markdown => markdown::parse(&raw.bytes),
        Format::Html => html::parse(&raw.bytes),
        Format::Pdf => pdf::parse(&raw.bytes),
        Format::Docx => docx::parse(&raw.bytes, options),
        Format::Csv => csv::parse(&raw.bytes),
        Format::Json => json::parse(&raw.bytes, options.record_per_row),
        Format::Jsonl => json::parse_lines(&raw.bytes, options.record_per_row),
    }?;
    if doc.is_empty() {
        return Err(ParseError::new(
            ParseErrorKind::Empty,
            format!("no text found in this {} document", format.name()),
        ));
    }
    Ok(doc)
}

thread_local! {
    /// Set while a parser runs under [`contained`] on this thread.
    static CONTAINED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, catching a panic. A contained panic is an expected outcome of a hostile
/// document (it is recorded as that document's error), so the process-wide panic hook is
/// told to stay quiet about it: no message and no backtrace on stderr (symbolising one
/// would also cost hundreds of megabytes in a binary with debug information).
fn contained<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    static QUIET_HOOK: std::sync::Once = std::sync::Once::new();
    QUIET_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !CONTAINED.with(|c| c.get()) {
                previous(info);
            }
        }));
    });
    let was = CONTAINED.with(|c| c.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    CONTAINED.with(|c| c.set(was));
    result
}

/// Parses a document on a worker thread, so that a panic or a hang inside a parser fails
/// this document only. Enforces the size limit first.
pub fn parse_contained(
    format: Format,
    raw: RawDocument,
    options: &ParseOptions,
) -> Result<ParsedDocument, ParseError> {
    if raw.bytes.len() > options.max_bytes {
        return Err(ParseError::new(
            ParseErrorKind::TooLarge,
            format!(
                "document is {}, over the {} limit",
                human_bytes(raw.bytes.len()),
                human_bytes(options.max_bytes)
            ),
        ));
    }
    // berth's own text parsers run in linear time over at most `max_bytes`, so they run
    // here under `catch_unwind`; the formats handled by third-party extractors (PDF, DOCX),
    // which can loop, run on their own thread under a timeout.
    if !matches!(format, Format::Pdf | Format::Docx) {
        return contained(|| parse(format, &raw, options))
            .unwrap_or_else(|panic| Err(crashed(format, panic)));
    }
    let (tx, rx) = mpsc::channel();
    let opts = options.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("parse-{}", format.name()))
        .stack_size(16 * 1024 * 1024)
        .spawn(move || {
            let result = contained(|| parse(format, &raw, &opts));
            let _ = tx.send(result);
        });
    if let Err(e) = spawned {
        return Err(ParseError::new(
            ParseErrorKind::Crashed,
            format!("cannot start a parser thread: {e}"),
        ));
    }
    match rx.recv_timeout(options.timeout) {
        Ok(Ok(result)) => result,
        Ok(Err(panic)) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(ParseError::new(
                ParseErrorKind::Crashed,
                format!(
                    "the {} parser crashed on this document: {why}",
                    format.name()
                ),
            ))
        }
        // The thread keeps running until the parser returns; its result is dropped.
        Err(mpsc::RecvTimeoutError::Timeout) => Err(ParseError::new(
            ParseErrorKind::Timeout,
            format!(
                "the {} parser did not finish within {} s",
                format.name(),
                options.timeout.as_secs()
            ),
        )),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(ParseError::new(
            ParseErrorKind::Crashed,
            format!("the {} parser stopped without a result", format.name()),
        )),
    }
}

/// How much text a parser may render from `input` bytes before it refuses the document
/// as `TooLarge`: formats that repeat names for every value (CSV headers, JSON key paths)
/// can otherwise turn a small file into gigabytes of text.
pub(crate) fn rendered_limit(input: usize) -> usize {
    input.saturating_mul(32).saturating_add(1024 * 1024)
}

/// The error for a rendering over [`rendered_limit`].
pub(crate) fn rendered_too_large(what: &str, input: usize) -> ParseError {
    ParseError::new(
        ParseErrorKind::TooLarge,
        format!(
            "{what} would produce more than {} of text from a {} document",
            human_bytes(rendered_limit(input)),
            human_bytes(input)
        ),
    )
}

fn crashed(format: Format, panic: Box<dyn std::any::Any + Send>) -> ParseError {
    let why = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    ParseError::new(
        ParseErrorKind::Crashed,
        format!(
            "the {} parser crashed on this document: {why}",
            format.name()
        ),
    )
}

/// `12.3 MB`, for messages.
pub fn human_bytes(n: usize) -> String {
    const MB: f64 = 1024.0 * 1024.0;
    if n as f64 >= MB {
        format!("{:.1} MB", n as f64 / MB)
    } else if n >= 1024 {
        format!("{:.1} KB", n as f64 / 1024.0)
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_detected_by_type_then_extension() {
        assert_eq!(
            Format::detect("a/b/README.md", None),
            Some(Format::Markdown)
        );
        assert_eq!(Format::detect("x.PDF", None), Some(Format::Pdf));
        assert_eq!(
            Format::detect("page", Some("text/html; charset=utf-8")),
            Some(Format::Html)
        );
        assert_eq!(Format::detect("data.bin", None), None);
        assert_eq!(Format::detect("noext", None), None);
    }

    #[test]
    fn oversized_documents_are_refused_before_parsing() {
        let raw = RawDocument {
            path: "big.txt".into(),
            bytes: vec![b'a'; 2048],
            content_type: None,
        };
        let opts = ParseOptions {
            max_bytes: 1024,
            ..ParseOptions::default()
        };
        let err = parse_contained(Format::Text, raw, &opts).unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::TooLarge);
        assert_eq!(err.message, "document is 2.0 KB, over the 1.0 KB limit");
    }
}
