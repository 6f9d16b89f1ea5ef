//! The `sentence_window` strategy: one sentence indexed, its neighbours returned.
//!
//! Sentences end after `.`, `!` or `?` followed by white space or the end of the block
//! (closing quotes and brackets stay with their sentence), after `。`, `！` or `？`
//! whatever follows (Chinese and Japanese put no space after them), at blank lines and at
//! block boundaries. Each sentence is a chunk (`range`); its `context` runs from the
//! sentence `window` places before it to the one `window` places after it (across
//! blocks; `None` when the window is empty). A sentence over `max_tokens` is cut at line
//! breaks, then white space, then token windows, and each piece counts as a sentence.

use super::split::{self, BLOCK, Level, Span, Splitter};
use super::{ChunkDraft, ChunkSettings, Chunker, drafts};
use crate::document::ParsedDocument;
use std::ops::Range;

/// Sentences with a window of neighbours; see the module docs.
pub struct SentenceWindowChunker {
    settings: ChunkSettings,
    window: usize,
    /// How an overlong sentence is cut.
    levels: Vec<Level>,
}

impl SentenceWindowChunker {
    pub(super) fn new(settings: ChunkSettings, window: usize) -> Self {
        SentenceWindowChunker {
            settings,
            window,
            levels: vec![Level::Line, Level::Word],
        }
    }

    /// The sentences of `doc`, each at most `max_tokens` tokens.
    fn sentences(&self, doc: &ParsedDocument) -> Vec<Range<usize>> {
        let s = &self.settings;
        let text = doc.text.as_str();
        let tokenizer = s.tokenizer.as_ref();
        let splitter = Splitter::new(text, tokenizer, &self.levels, s.max_tokens, 0);
        let mut out = Vec::new();
        for span in split::spans(doc, 0..text.len()) {
            for para in Level::Paragraph.pieces(text, span.range) {
                for sentence in Level::Sentence.pieces(text, para) {
                    if tokenizer.count(&text[sentence.clone()]) <= s.max_tokens {
                        out.push(sentence);
                    } else {
                        out.extend(splitter.chunks(&[Span {
                            range: sentence,
                            strength: BLOCK,
                            heading: false,
                        }]));
                    }
                }
            }
        }
        out
    }
}

impl Chunker for SentenceWindowChunker {
    fn chunk(&self, doc: &ParsedDocument) -> Vec<ChunkDraft> {
        let sentences = self.sentences(doc);
        let last = sentences.len().saturating_sub(1);
        let w = self.window;
        drafts(
            doc,
            sentences.iter().enumerate().map(|(i, r)| {
                let context =
                    sentences[i.saturating_sub(w)].start..sentences[(i + w).min(last)].end;
                let context = (context != *r).then_some(context);
                (r.clone(), context)
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::{BlockKind, DocumentBuilder};
    use crate::tokenize::WordTokenizer;
    use std::sync::Arc;

    fn chunker(max: usize, window: usize) -> SentenceWindowChunker {
        SentenceWindowChunker::new(
            ChunkSettings {
                max_tokens: max,
                overlap: 0,
                tokenizer: Arc::new(WordTokenizer),
            },
            window,
        )
    }

    #[test]
    fn each_sentence_with_its_neighbours() {
        let mut b = DocumentBuilder::new();
        b.push(BlockKind::Heading(1), "Title")
            .push(
                BlockKind::Paragraph,
                "One is here. Two? Three! 3.5 is a number.",
            )
            .push(BlockKind::Paragraph, "日本語です。次の文");
        let doc = b.finish();
        let chunks = chunker(50, 1).chunk(&doc);
        let got: Vec<(&str, &str)> = chunks
            .iter()
            .map(|c| {
                let ctx = c.context.clone().unwrap_or(c.range.clone());
                (&doc.text[c.range.clone()], &doc.text[ctx])
            })
            .collect();
        assert_eq!(
            got,
            [
                ("Title", "Title\n\nOne is here."),
                ("One is here.", "Title\n\nOne is here. Two?"),
                ("Two?", "One is here. Two? Three!"),
                ("Three!", "Two? Three! 3.5 is a number."),
                (
                    "3.5 is a number.",
                    "Three! 3.5 is a number.\n\n日本語です。"
                ),
                ("日本語です。", "3.5 is a number.\n\n日本語です。次の文"),
                ("次の文", "日本語です。次の文"),
            ]
        );
    }

    #[test]
    fn a_long_sentence_is_cut_and_a_zero_window_has_no_context() {
        let mut b = DocumentBuilder::new();
        b.push(BlockKind::Paragraph, "a b c d e f g h i j k l.");
        let doc = b.finish();
        let chunks = chunker(5, 0).chunk(&doc);
        let got: Vec<&str> = chunks.iter().map(|c| &doc.text[c.range.clone()]).collect();
        assert_eq!(got, ["a b c d e", "f g h i j", "k l."]);
        assert!(chunks.iter().all(|c| c.context.is_none()));
    }
}
