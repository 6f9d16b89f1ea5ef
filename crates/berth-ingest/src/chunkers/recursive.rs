//! The `recursive` strategy (the default): structure first, sizes second.
//!
//! The document's blocks are merged greedily up to `max_tokens`; a block too large is cut
//! at blank lines, then line breaks, then sentence ends, then white space, and a single
//! overlong word into windows of tokens (LangChain's recursive character splitter, in
//! tokens and on byte ranges). A chunk ends at the strongest boundary available once it
//! is half full — before a heading, between blocks, at a paragraph end — rather than
//! wherever the size runs out. A chunk cut inside a block starts with up to `overlap`
//! tokens of the previous one (from a word start when possible); chunks cut between
//! blocks do not overlap.

use super::split::{self, Level, Splitter};
use super::{ChunkDraft, ChunkSettings, Chunker, drafts};
use crate::document::ParsedDocument;

/// Structure-aware recursive splitting; see the module docs.
pub struct RecursiveChunker {
    settings: ChunkSettings,
    levels: Vec<Level>,
}

impl RecursiveChunker {
    pub(super) fn new(settings: ChunkSettings) -> Self {
        RecursiveChunker {
            settings,
            levels: split::recursive_levels(),
        }
    }
}

impl Chunker for RecursiveChunker {
    fn chunk(&self, doc: &ParsedDocument) -> Vec<ChunkDraft> {
        let s = &self.settings;
        let spans = split::spans(doc, 0..doc.text.len());
        let ranges = Splitter::new(
            &doc.text,
            s.tokenizer.as_ref(),
            &self.levels,
            s.max_tokens,
            s.overlap,
        )
        .chunks(&spans);
        drafts(doc, ranges.into_iter().map(|r| (r, None)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::{BlockKind, DocumentBuilder};
    use crate::tokenize::{Tokenizer, WordTokenizer};
    use std::sync::Arc;

    fn chunker(max: usize, overlap: usize) -> RecursiveChunker {
        RecursiveChunker::new(ChunkSettings {
            max_tokens: max,
            overlap,
            tokenizer: Arc::new(WordTokenizer),
        })
    }

    fn texts(doc: &ParsedDocument, chunks: &[ChunkDraft]) -> Vec<String> {
        chunks
            .iter()
            .map(|c| doc.text[c.range.clone()].to_string())
            .collect()
    }

    #[test]
    fn small_blocks_merge_and_large_ones_split_at_sentences() {
        let mut b = DocumentBuilder::new();
        b.push(BlockKind::Heading(1), "Guide")
            .push(BlockKind::Paragraph, "Short intro.")
            .push(
                BlockKind::Paragraph,
                "First sentence here. Second sentence here. Third sentence here.",
            );
        let doc = b.finish();
        // Heading 1 + intro 3 + three sentences of 4 = 16 tokens; 10 a chunk. The block
        // boundary after "intro." comes before the chunk is half full, so the first
        // chunk fills up to a sentence end instead.
        let chunks = chunker(10, 0).chunk(&doc);
        assert_eq!(
            texts(&doc, &chunks),
            [
                "Guide\n\nShort intro.\n\nFirst sentence here.",
                "Second sentence here. Third sentence here."
            ]
        );
        assert!(chunks.iter().all(|c| c.heading_path == ["Guide"]));
    }

    #[test]
    fn overlap_inside_a_block_only() {
        let mut b = DocumentBuilder::new();
        b.push(
            BlockKind::Paragraph,
            "one two three four five six seven eight",
        )
        .push(BlockKind::Paragraph, "nine ten");
        let doc = b.finish();
        let chunks = chunker(5, 2).chunk(&doc);
        assert_eq!(
            texts(&doc, &chunks),
            [
                "one two three four five",
                "four five six seven eight",
                "nine ten"
            ]
        );
    }

    #[test]
    fn cjk_without_spaces_splits_at_sentence_ends() {
        let sentence = "東京は日本の首都です。";
        let text = sentence.repeat(30);
        let mut b = DocumentBuilder::new();
        b.push(BlockKind::Paragraph, &text);
        let doc = b.finish();
        // Each sentence is two tokens (a run of letters and `。`).
        let chunks = chunker(8, 0).chunk(&doc);
        assert!(chunks.len() >= 8);
        for c in &chunks {
            let s = &doc.text[c.range.clone()];
            assert!(s.ends_with('。'), "{s}");
            assert!(WordTokenizer.count(s) <= 8);
        }
    }

    #[test]
    fn a_ten_thousand_character_word_becomes_token_windows() {
        let word = "ab-".repeat(3334);
        let mut b = DocumentBuilder::new();
        b.push(BlockKind::Paragraph, "before")
            .push(BlockKind::Paragraph, &word);
        let doc = b.finish();
        let chunks = chunker(50, 5).chunk(&doc);
        let total: usize = chunks.iter().map(|c| c.range.len()).sum();
        assert!(total >= word.len());
        for c in &chunks {
            assert!(WordTokenizer.count(&doc.text[c.range.clone()]) <= 50);
        }
        let last = chunks.last().unwrap();
        assert_eq!(last.range.end, doc.text.len());
    }
}
