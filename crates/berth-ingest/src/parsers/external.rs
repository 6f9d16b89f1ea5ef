//! Parsing through an external document-processing component over its HTTP API:
//! Docling Serve (`doc-parser/docling`) or the Unstructured API
//! (`doc-parser/unstructured`), named by a pipeline's `parser:`.

use super::{ParseError, ParseErrorKind, RawDocument, markdown};
use crate::document::{BlockKind, DocumentBuilder, ParsedDocument};
use std::io::Read;
use std::time::Duration;

/// Which API the component speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExternalKind {
    /// Docling Serve: `POST /v1/convert/file`, Markdown back.
    Docling,
    /// Unstructured API: `POST /general/v0/general`, typed elements back.
    Unstructured,
}

impl ExternalKind {
    /// The kind for a provided contract (`doc-parser/docling`, `doc-parser/unstructured`).
    pub fn for_contract(contract: &str) -> Option<ExternalKind> {
        match contract {
            "doc-parser/docling" => Some(ExternalKind::Docling),
            "doc-parser/unstructured" => Some(ExternalKind::Unstructured),
            _ => None,
        }
    }
}

/// A client of an external parser.
pub struct ExternalParser {
    kind: ExternalKind,
    base_url: String,
    api_key: Option<String>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for ExternalParser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalParser")
            .field("kind", &self.kind)
            .field("base_url", &self.base_url)
            .finish()
    }
}

impl ExternalParser {
    /// A client for the component at `base_url`; `api_key` is sent when set (Unstructured's
    /// `unstructured-api-key` header, Docling's `X-Api-Key`).
    pub fn new(
        kind: ExternalKind,
        base_url: &str,
        api_key: Option<String>,
        timeout: Duration,
    ) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .new_agent();
        ExternalParser {
            kind,
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key,
            agent,
        }
    }

    /// Sends one document and reads back its text and structure.
    pub fn parse(&self, raw: &RawDocument) -> Result<ParsedDocument, ParseError> {
        // The catalog's Docling connection already ends in `/v1`.
        let docling_path = if self.base_url.ends_with("/v1") {
            "/convert/file"
        } else {
            "/v1/convert/file"
        };
        let (path, extra): (&str, &[(&str, &str)]) = match self.kind {
            ExternalKind::Docling => (docling_path, &[("to_formats", "md")]),
            ExternalKind::Unstructured => ("/general/v0/general", &[]),
        };
        let name = raw.path.rsplit('/').next().unwrap_or("document");
        let boundary = format!("berth-{}", blake3::hash(&raw.bytes).to_hex());
        let body = multipart(&boundary, "files", name, &raw.bytes, extra);
        let url = format!("{}{path}", self.base_url);
        let mut request = self
            .agent
            .post(&url)
            .header(
                "content-type",
                &format!("multipart/form-data; boundary={boundary}"),
            )
            .header("accept", "application/json");
        if let Some(key) = &self.api_key {
            request = match self.kind {
                ExternalKind::Docling => request.header("x-api-key", key),
                ExternalKind::Unstructured => request.header("unstructured-api-key", key),
            };
        }
        let response = request.send(&body[..]).map_err(|e| {
            ParseError::new(
                ParseErrorKind::Timeout,
                format!("the document parser at {url} did not answer: {e}"),
            )
        })?;
        let status = response.status().as_u16();
        let mut text = String::new();
        response
            .into_body()
            .into_reader()
            .take(256 * 1024 * 1024)
            .read_to_string(&mut text)
            .map_err(|e| {
                ParseError::new(
                    ParseErrorKind::Corrupt,
                    format!("reading the parser's answer: {e}"),
                )
            })?;
        if status >= 500 || status == 429 {
            return Err(ParseError::new(
                ParseErrorKind::Timeout,
                format!("the document parser answered {status}: {}", snippet(&text)),
            ));
        }
        if status >= 400 {
            return Err(ParseError::new(
                ParseErrorKind::Corrupt,
                format!(
                    "the document parser refused this document ({status}): {}",
                    snippet(&text)
                ),
            ));
        }
        let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            ParseError::new(
                ParseErrorKind::Corrupt,
                format!("the document parser's answer is not JSON: {e}"),
            )
        })?;
        match self.kind {
            ExternalKind::Docling => docling(&json),
            ExternalKind::Unstructured => unstructured(&json),
        }
    }
}

fn snippet(s: &str) -> String {
    s.chars().take(200).collect()
}

fn multipart(
    boundary: &str,
    field: &str,
    filename: &str,
    bytes: &[u8],
    extra: &[(&str, &str)],
) -> Vec<u8> {
    let mut body = Vec::with_capacity(bytes.len() + 512);
    for (k, v) in extra {
        body.extend_from_slice(
            format!("--{boundary}\r\ncontent-disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    let safe_name: String = filename
        .chars()
        .filter(|c| *c != '"' && *c != '\r' && *c != '\n')
        .collect();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\ncontent-disposition: form-data; name=\"{field}\"; filename=\"{safe_name}\"\r\ncontent-type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

/// Docling answers `{"document": {"md_content": "…"}, "status": "success", "errors": [...]}`.
fn docling(json: &serde_json::Value) -> Result<ParsedDocument, ParseError> {
    let status = json["status"].as_str().unwrap_or("success");
    if status != "success" && status != "partial_success" {
        let errors = json["errors"].to_string();
        return Err(ParseError::new(
            ParseErrorKind::Corrupt,
            format!(
                "Docling could not convert this document ({status}): {}",
                snippet(&errors)
            ),
        ));
    }
    let md = json["document"]["md_content"].as_str().ok_or_else(|| {
        ParseError::new(
            ParseErrorKind::Corrupt,
            "Docling's answer has no `document.md_content`",
        )
    })?;
    markdown::parse(md.as_bytes())
}

/// Unstructured answers a list of elements `{type, text, metadata: {page_number, category_depth}}`.
fn unstructured(json: &serde_json::Value) -> Result<ParsedDocument, ParseError> {
    let elements = json.as_array().ok_or_else(|| {
        ParseError::new(
            ParseErrorKind::Corrupt,
            "the Unstructured API's answer is not a list of elements",
        )
    })?;
    let mut b = DocumentBuilder::new();
    for e in elements {
        let text = e["text"].as_str().unwrap_or_default();
        if let Some(page) = e["metadata"]["page_number"].as_u64() {
            b.page(page as u32);
        }
        let kind = match e["type"].as_str().unwrap_or_default() {
            "Title" => {
                let depth = e["metadata"]["category_depth"].as_u64().unwrap_or(0);
                BlockKind::Heading((depth + 1).min(6) as u8)
            }
            "ListItem" => BlockKind::ListItem,
            "Table" => BlockKind::Table,
            "CodeSnippet" => BlockKind::Code,
            "PageBreak" | "Header" | "Footer" | "PageNumber" => continue,
            _ => BlockKind::Paragraph,
        };
        b.push(kind, text);
    }
    Ok(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unstructured_elements_keep_pages_and_headings() {
        let json = serde_json::json!([
            {"type": "Title", "text": "Guide", "metadata": {"page_number": 1}},
            {"type": "NarrativeText", "text": "Intro text.", "metadata": {"page_number": 1}},
            {"type": "Footer", "text": "page 1", "metadata": {"page_number": 1}},
            {"type": "Title", "text": "Install", "metadata": {"page_number": 2, "category_depth": 1}},
            {"type": "ListItem", "text": "Run it.", "metadata": {"page_number": 2}}
        ]);
        let d = unstructured(&json).unwrap();
        assert_eq!(d.text, "Guide\n\nIntro text.\n\nInstall\n\nRun it.");
        let last = d.blocks.last().unwrap();
        assert_eq!(last.page, Some(2));
        assert_eq!(last.heading_path, ["Guide", "Install"]);
    }

    #[test]
    fn docling_failures_are_reported() {
        let json = serde_json::json!({"status": "failure", "errors": [{"message": "bad pdf"}]});
        let e = docling(&json).unwrap_err();
        assert!(e.message.contains("bad pdf"), "{}", e.message);
        let ok =
            serde_json::json!({"status": "success", "document": {"md_content": "# T\n\nbody"}});
        assert_eq!(docling(&ok).unwrap().blocks.len(), 2);
    }
}
