//! The `markdown` strategy: chunks follow the document's sections.
//!
//! A section is a heading of level 1 or 2 (a [`BlockKind::Heading`] block) and every
//! block up to the next such heading; text before the first heading is a section of its
//! own. Each section is chunked on its own with the recursive strategy (blocks merged up
//! to `max_tokens`, large blocks cut at paragraphs, lines, sentences, words, tokens;
//! overlap inside blocks), so no chunk crosses a level-1 or level-2 heading, and deeper
//! headings are where chunks prefer to end.
//!
//! The one exception: a section that holds nothing but headings (`# Guide` directly
//! followed by `## Install`) is joined to the section after it, so a title never becomes
//! a chunk of its own. Such a chunk takes the heading path of the section it was joined
//! to; every other chunk takes the heading path of the block it starts in, which lies in
//! its section.

use super::split::{self, Level, Splitter};
use super::{ChunkDraft, ChunkSettings, Chunker, locate};
use crate::document::{BlockKind, ParsedDocument};
use std::ops::Range;

/// Section-by-section chunking; see the module docs.
pub struct MarkdownChunker {
    settings: ChunkSettings,
    levels: Vec<Level>,
}

impl MarkdownChunker {
    pub(super) fn new(settings: ChunkSettings) -> Self {
        MarkdownChunker {
            settings,
            levels: split::recursive_levels(),
        }
    }
}

/// Whether a block starts a section.
fn starts_section(kind: BlockKind) -> bool {
    matches!(kind, BlockKind::Heading(level) if level <= 2)
}

impl Chunker for MarkdownChunker {
    fn chunk(&self, doc: &ParsedDocument) -> Vec<ChunkDraft> {
        let s = &self.settings;
        let text = doc.text.as_str();
        let splitter = Splitter::new(
            text,
            s.tokenizer.as_ref(),
            &self.levels,
            s.max_tokens,
            s.overlap,
        );
        // Section starts: the text's start and every level-1/2 heading after it.
        let mut starts = vec![0];
        starts.extend(
            doc.blocks
                .iter()
                .filter(|b| starts_section(b.kind) && b.range.start > 0)
                .map(|b| b.range.start.min(text.len())),
        );
        starts.dedup();
        let mut out = Vec::new();
        // Start of the heading-only sections waiting to be joined to the next one.
        let mut pending: Option<usize> = None;
        for (k, &start) in starts.iter().enumerate() {
            let end = starts.get(k + 1).copied().unwrap_or(text.len()).max(start);
            let own = split::spans(doc, start..end);
            if own.is_empty() {
                continue;
            }
            if own.iter().all(|sp| sp.heading) {
                pending.get_or_insert(start);
                continue;
            }
            let from = pending.take().unwrap_or(start);
            let spans = if from < start {
                split::spans(doc, from..end)
            } else {
                own
            };
            self.section(doc, &splitter, &spans, start..end, &mut out);
        }
        // Headings with nothing after them: a section of their own.
        if let Some(from) = pending {
            let spans = split::spans(doc, from..text.len());
            self.section(doc, &splitter, &spans, from..text.len(), &mut out);
        }
        out
    }
}

impl MarkdownChunker {
    /// Chunks one section, `spans` being its blocks (and any joined headings before it).
    fn section(
        &self,
        doc: &ParsedDocument,
        splitter: &Splitter<'_>,
        spans: &[split::Span],
        own: Range<usize>,
        out: &mut Vec<ChunkDraft>,
    ) {
        // The section's own heading path, for chunks starting in joined headings.
        let own_path = doc
            .blocks
            .get(doc.blocks.partition_point(|b| b.range.start < own.start))
            .filter(|b| b.range.start < own.end)
            .map(|b| &b.heading_path);
        for r in splitter.chunks(spans) {
            // Starts in joined headings and reaches the section itself.
            let joined = r.start < own.start && r.end > own.start;
            let mut draft = locate(doc, r, None);
            if let (true, Some(path)) = (joined, own_path) {
                draft.heading_path = path.clone();
            }
            out.push(draft);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::DocumentBuilder;
    use crate::tokenize::WordTokenizer;
    use std::sync::Arc;

    fn chunker(max: usize) -> MarkdownChunker {
        MarkdownChunker::new(ChunkSettings {
            max_tokens: max,
            overlap: 0,
            tokenizer: Arc::new(WordTokenizer),
        })
    }

    fn handbook() -> ParsedDocument {
        let mut b = DocumentBuilder::new();
        b.push(BlockKind::Heading(1), "Handbook")
            .push(BlockKind::Heading(2), "Install")
            .push(BlockKind::Paragraph, "Download the binary.")
            .push(BlockKind::Heading(3), "Linux")
            .push(BlockKind::Paragraph, "Unpack it.")
            .push(BlockKind::Heading(2), "Use")
            .push(BlockKind::Paragraph, "Run berth up.")
            .push(BlockKind::Heading(2), "Support")
            .push(
                BlockKind::Paragraph,
                "Write to us. We answer in a day. We fix bugs fast. We ship weekly.",
            );
        b.finish()
    }

    #[test]
    fn a_handbook_is_chunked_by_sections() {
        let doc = handbook();
        let chunks = chunker(40).chunk(&doc);
        let got: Vec<(&str, Vec<String>)> = chunks
            .iter()
            .map(|c| (&doc.text[c.range.clone()], c.heading_path.clone()))
            .collect();
        let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            got,
            [
                (
                    "Handbook\n\nInstall\n\nDownload the binary.\n\nLinux\n\nUnpack it.",
                    path(&["Handbook", "Install"])
                ),
                ("Use\n\nRun berth up.", path(&["Handbook", "Use"])),
                (
                    "Support\n\nWrite to us. We answer in a day. We fix bugs fast. We ship weekly.",
                    path(&["Handbook", "Support"])
                ),
            ]
        );
    }

    #[test]
    fn large_sections_are_split_and_keep_their_path() {
        let doc = handbook();
        let chunks = chunker(8).chunk(&doc);
        let support: Vec<&str> = chunks
            .iter()
            .filter(|c| c.heading_path.last().map(String::as_str) == Some("Support"))
            .map(|c| &doc.text[c.range.clone()])
            .collect();
        assert_eq!(
            support,
            [
                "Support\n\nWrite to us.",
                "We answer in a day.",
                "We fix bugs fast.",
                "We ship weekly."
            ]
        );
        // Deeper headings stay inside their section's chunks.
        let linux = chunks
            .iter()
            .find(|c| doc.text[c.range.clone()].contains("Unpack"))
            .unwrap();
        assert_eq!(linux.heading_path[..2], ["Handbook", "Install"]);
    }

    #[test]
    fn text_before_the_first_heading_is_a_section() {
        let mut b = DocumentBuilder::new();
        b.push(BlockKind::Paragraph, "Preface.")
            .push(BlockKind::Heading(2), "Body")
            .push(BlockKind::Paragraph, "Text.");
        let doc = b.finish();
        let got: Vec<&str> = chunker(100)
            .chunk(&doc)
            .iter()
            .map(|c| &doc.text[c.range.clone()])
            .collect();
        assert_eq!(got, ["Preface.", "Body\n\nText."]);
    }
}
