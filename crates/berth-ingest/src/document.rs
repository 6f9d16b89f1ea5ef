//! The parsed form of a document that every parser produces and every chunker consumes.
//!
//! A [`ParsedDocument`] is one canonical text plus the structure found in it: blocks
//! (headings, paragraphs, list items, code, tables, records) with the byte range each
//! covers, the heading path above each, and the page each sits on. Chunks are byte ranges
//! of the same text, so "a chunk never splits a character" and "chunks cover the
//! document" are properties of ranges that can be checked.

use serde::{Deserialize, Serialize};
use std::ops::Range;

/// What a block of text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    /// A heading of the given level (1 = top).
    Heading(u8),
    /// Running text.
    Paragraph,
    /// One item of a list.
    ListItem,
    /// Preformatted code.
    Code,
    /// A table, as text (one row a line, cells separated by ` | `).
    Table,
    /// One record of a CSV file or a JSON array / JSONL line.
    Record,
}

/// One block of a parsed document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// What it is.
    pub kind: BlockKind,
    /// The bytes of [`ParsedDocument::text`] it covers.
    pub range: Range<usize>,
    /// The headings above it, outermost first (a heading's own path includes itself).
    pub heading_path: Vec<String>,
    /// The 1-based page it starts on, for paged formats.
    pub page: Option<u32>,
}

/// A document after parsing: its text and its structure.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedDocument {
    /// The whole text: blocks separated by blank lines.
    pub text: String,
    /// The blocks, in order, non-overlapping, each a range of `text`.
    pub blocks: Vec<Block>,
    /// The title, when the format has one.
    pub title: Option<String>,
    /// Principals from the document itself (front matter), added to the source's.
    pub acl: Option<berth_stack::stack::Acl>,
    /// Pages the parser saw, for paged formats (to detect truncated extraction).
    pub pages: Option<u32>,
}

/// Builds a [`ParsedDocument`] block by block, keeping ranges and heading paths right.
#[derive(Debug, Default)]
pub struct DocumentBuilder {
    doc: ParsedDocument,
    headings: Vec<(u8, String)>,
    page: Option<u32>,
}

impl DocumentBuilder {
    /// An empty document.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the page the next blocks are on.
    pub fn page(&mut self, page: u32) -> &mut Self {
        self.page = Some(page);
        self
    }

    /// Sets the title.
    pub fn title(&mut self, title: impl Into<String>) -> &mut Self {
        let t = title.into();
        if !t.trim().is_empty() {
            self.doc.title = Some(t.trim().to_string());
        }
        self
    }

    /// Sets the document's own principals.
    pub fn acl(&mut self, acl: berth_stack::stack::Acl) -> &mut Self {
        self.doc.acl = Some(acl);
        self
    }

    /// Records how many pages the source has.
    pub fn pages(&mut self, pages: u32) -> &mut Self {
        self.doc.pages = Some(pages);
        self
    }

    /// Appends a block. Leading and trailing whitespace is trimmed; an empty block is
    /// dropped. A heading updates the heading path of what follows.
    pub fn push(&mut self, kind: BlockKind, text: &str) -> &mut Self {
        let text = text.trim();
        if text.is_empty() {
            return self;
        }
        if let BlockKind::Heading(level) = kind {
            while self.headings.last().is_some_and(|(l, _)| *l >= level) {
                self.headings.pop();
            }
            self.headings.push((level, one_line(text)));
        }
        if !self.doc.text.is_empty() {
            self.doc.text.push_str("\n\n");
        }
        let start = self.doc.text.len();
        self.doc.text.push_str(text);
        let end = self.doc.text.len();
        self.doc.blocks.push(Block {
            kind,
            range: start..end,
            heading_path: self.headings.iter().map(|(_, h)| h.clone()).collect(),
            page: self.page,
        });
        self
    }

    /// The document.
    pub fn finish(self) -> ParsedDocument {
        self.doc
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl ParsedDocument {
    /// The text of a block.
    pub fn block_text(&self, block: &Block) -> &str {
        &self.text[block.range.clone()]
    }

    /// Whether the document has any text.
    pub fn is_empty(&self) -> bool {
        self.text.trim().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heading_paths_follow_levels() {
        let mut b = DocumentBuilder::new();
        b.push(BlockKind::Heading(1), "Guide")
            .push(BlockKind::Paragraph, "intro")
            .push(BlockKind::Heading(2), "Install")
            .push(BlockKind::Paragraph, "  steps  ")
            .push(BlockKind::Heading(2), "Use")
            .push(BlockKind::Paragraph, "")
            .push(BlockKind::Paragraph, "run it");
        let d = b.finish();
        assert_eq!(
            d.text,
            "Guide\n\nintro\n\nInstall\n\nsteps\n\nUse\n\nrun it"
        );
        let last = d.blocks.last().unwrap();
        assert_eq!(last.heading_path, ["Guide", "Use"]);
        assert_eq!(d.block_text(&d.blocks[3]), "steps");
        assert_eq!(d.blocks.len(), 6);
    }
}
