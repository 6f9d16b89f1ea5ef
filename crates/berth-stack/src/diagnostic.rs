//! Diagnostics: every problem found in a stack file or catalog, with where and why.

use crate::yaml::{DeError, DeErrorKind, Span, SyntaxError};
use serde::{Deserialize, Serialize};
use std::fmt;

/// How serious a diagnostic or finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing; nothing to fix.
    Info,
    /// Will probably hurt; berth goes on.
    Warning,
    /// Must be fixed before anything starts.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One problem in one file, at one place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// How serious it is.
    pub severity: Severity,
    /// The file, as the user named it (or `<builtin>/…` for embedded catalog entries).
    pub file: String,
    /// 1-based line; 0 when the problem concerns the file as a whole.
    pub line: u32,
    /// 1-based column; 0 when unknown.
    pub column: u32,
    /// Byte range in the file, for snippets.
    #[serde(skip)]
    pub span: Span,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when berth can tell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at a span of a file.
    pub fn error(file: &str, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            file: file.to_string(),
            line: span.line,
            column: span.column,
            span,
            message: message.into(),
            help: None,
        }
    }

    /// Adds a hint.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a hint if there is one.
    pub fn with_help_opt(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    /// Changes the severity.
    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// A diagnostic for a value that could not be read, with a "did you mean" hint for
    /// misspelt keys and values.
    pub fn from_de(file: &str, err: &DeError, context: &str) -> Self {
        let message = if context.is_empty() {
            err.to_string()
        } else {
            format!("{context}: {err}")
        };
        let help = match &err.kind {
            DeErrorKind::UnknownField { field, expected } => Some(match suggest(field, expected) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("expected one of: {}", expected.join(", ")),
            }),
            DeErrorKind::UnknownVariant {
                variant, expected, ..
            } => suggest(variant, expected).map(|s| format!("did you mean `{s}`?")),
            _ => None,
        };
        Diagnostic::error(file, err.span, message).with_help_opt(help)
    }

    /// A diagnostic for a YAML syntax error.
    pub fn from_syntax(file: &str, err: &SyntaxError) -> Self {
        Diagnostic::error(file, err.span, format!("invalid YAML: {}", err.message))
    }

    /// Renders the diagnostic compiler-style, with the offending line when `source` is
    /// the text of the file.
    pub fn render(&self, source: Option<&str>) -> String {
        let mut out = String::new();
        if self.line > 0 {
            out.push_str(&format!(
                "{}:{}:{}: {}: {}\n",
                self.file, self.line, self.column, self.severity, self.message
            ));
        } else {
            out.push_str(&format!(
                "{}: {}: {}\n",
                self.file, self.severity, self.message
            ));
        }
        if let Some(text) = source.filter(|_| self.line > 0)
            && let Some(line) = text.lines().nth(self.line as usize - 1)
        {
            let number = self.line.to_string();
            let pad = " ".repeat(number.len());
            let col = (self.column.max(1) - 1) as usize;
            let width = caret_width(line, col, self.span.len);
            out.push_str(&format!("{pad} |\n{number} | {line}\n"));
            out.push_str(&format!(
                "{pad} | {}{}\n",
                " ".repeat(col.min(line.chars().count())),
                "^".repeat(width)
            ));
        }
        if let Some(help) = &self.help {
            out.push_str(&format!("  help: {help}\n"));
        }
        out
    }
}

fn caret_width(line: &str, col: usize, len: usize) -> usize {
    let rest: String = line.chars().skip(col).collect();
    let len = if len == 0 { 1 } else { len };
    len.min(rest.chars().count().max(1))
}

/// Every diagnostic found, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// No diagnostics yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one.
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    /// Adds all of another set.
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    /// Whether any of them is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }

    /// Whether there are none at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The diagnostics, sorted by file and position (stable for equal positions).
    pub fn sorted(mut self) -> Self {
        self.0
            .sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        self.0.dedup();
        self
    }

    /// Iterates over them.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            f.write_str(&d.render(None))?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// The closest candidate to a misspelt name, if one is close enough to be a likely typo.
pub fn suggest<S: AsRef<str>>(typo: &str, candidates: &[S]) -> Option<String> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(typo, c.as_ref()), c.as_ref()))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.to_string())
}

/// A hint for a name that matches nothing: the likely typo, or else the names there are.
pub fn hint<S: AsRef<str>>(typo: &str, candidates: &[S], what: &str) -> String {
    match suggest(typo, candidates) {
        Some(s) => format!("did you mean `{s}`?"),
        None if candidates.is_empty() => format!("no {what} is defined"),
        None => {
            let names: Vec<&str> = candidates.iter().map(AsRef::as_ref).collect();
            format!("{what}: {}", names.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_find_close_names_only() {
        let names = ["vllm", "qdrant", "ollama"];
        assert_eq!(suggest("vlm", &names).as_deref(), Some("vllm"));
        assert_eq!(suggest("qdrnt", &names).as_deref(), Some("qdrant"));
        assert_eq!(suggest("postgres", &names), None);
    }

    #[test]
    fn render_shows_position_line_and_help() {
        let d = Diagnostic::error(
            "berth.yaml",
            Span {
                line: 2,
                column: 9,
                offset: 0,
                len: 3,
            },
            "bad",
        )
        .with_help("fix it");
        let text = d.render(Some("a: 1\nuses:   vlm\n"));
        assert_eq!(
            text,
            "berth.yaml:2:9: error: bad\n  |\n2 | uses:   vlm\n  |         ^^^\n  help: fix it\n"
        );
    }
}
