//! The `token` strategy: fixed windows of tokens, blind to structure.
//!
//! The whole text is tokenized once; chunk `k` holds tokens `k·(max − overlap)` to
//! `k·(max − overlap) + max − 1`, so neighbours share exactly `overlap` tokens. A window
//! runs from its first token's start to the start of the token after its last (trimmed),
//! so text the tokenizer skips still lands in a chunk. A window the tokenizer counts as
//! more than `max_tokens` once cut out on its own (possible with subword tokenizers) is
//! cut again.

use super::split::{self, Level, Splitter};
use super::{ChunkDraft, ChunkSettings, Chunker, drafts};
use crate::document::ParsedDocument;

/// Fixed token windows with overlap; see the module docs.
pub struct TokenChunker {
    settings: ChunkSettings,
}

impl TokenChunker {
    pub(super) fn new(settings: ChunkSettings) -> Self {
        TokenChunker { settings }
    }
}

impl Chunker for TokenChunker {
    fn chunk(&self, doc: &ParsedDocument) -> Vec<ChunkDraft> {
        let s = &self.settings;
        let text = doc.text.as_str();
        let max = s.max_tokens.max(1);
        let stride = max - s.overlap.min(max - 1);
        let mut windows = Vec::new();
        split::windows_of(
            text,
            s.tokenizer.tokens(text),
            0..text.len(),
            max,
            stride,
            |r| windows.push(r),
        );
        // Re-count each window; cut one that is over without merging anything.
        let no_levels: [Level; 0] = [];
        let splitter = Splitter::new(text, s.tokenizer.as_ref(), &no_levels, max, 0);
        let mut out = Vec::with_capacity(windows.len());
        for w in windows {
            if s.tokenizer.count(&text[w.clone()]) <= max {
                out.push(w);
            } else {
                out.extend(splitter.chunks(&[split::Span {
                    range: w,
                    strength: split::BLOCK,
                    heading: false,
                }]));
            }
        }
        drafts(
            doc,
            split::in_order(text, out).into_iter().map(|r| (r, None)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::{BlockKind, DocumentBuilder};
    use crate::tokenize::WordTokenizer;
    use std::sync::Arc;

    #[test]
    fn windows_share_exactly_the_overlap() {
        let mut b = DocumentBuilder::new();
        b.push(BlockKind::Heading(1), "One")
            .push(BlockKind::Paragraph, "two three, four five six");
        let doc = b.finish();
        let c = TokenChunker::new(ChunkSettings {
            max_tokens: 4,
            overlap: 1,
            tokenizer: Arc::new(WordTokenizer),
        });
        let got: Vec<&str> = c
            .chunk(&doc)
            .iter()
            .map(|c| &doc.text[c.range.clone()])
            .collect();
        assert_eq!(got, ["One\n\ntwo three,", ", four five six"]);
    }

    #[test]
    fn empty_text_has_no_chunks() {
        let c = TokenChunker::new(ChunkSettings {
            max_tokens: 4,
            overlap: 0,
            tokenizer: Arc::new(WordTokenizer),
        });
        assert!(c.chunk(&ParsedDocument::default()).is_empty());
    }
}
