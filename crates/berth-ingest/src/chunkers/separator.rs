//! The `separator` strategy: the recursive strategy with the user's separators.
//!
//! The whole text (blocks are not consulted) is cut at the first separator, pieces still
//! over `max_tokens` at the second, and so on, then at white space, then into token
//! windows; pieces are merged greedily up to `max_tokens`, ending at the strongest
//! separator available once half full. A separator stays in the text and starts the
//! piece after it (LangChain's `keep_separator="start"`), so `"\n## "` keeps headings
//! with their sections. Chunks cut at the first separator do not overlap; chunks cut at
//! any other boundary share up to `overlap` tokens. Empty separators are ignored; with
//! none left the separators are blank lines, then line breaks.

use super::split::{BLOCK, Level, Span, Splitter};
use super::{ChunkDraft, ChunkSettings, Chunker, drafts};
use crate::document::ParsedDocument;

/// Splitting on custom separators; see the module docs.
pub struct SeparatorChunker {
    settings: ChunkSettings,
    levels: Vec<Level>,
}

impl SeparatorChunker {
    pub(super) fn new(settings: ChunkSettings, separators: Vec<String>) -> Self {
        let mut levels: Vec<Level> = separators
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(Level::Literal)
            .collect();
        if levels.is_empty() {
            levels = vec![Level::Paragraph, Level::Line];
        }
        levels.push(Level::Word);
        SeparatorChunker { settings, levels }
    }
}

impl Chunker for SeparatorChunker {
    fn chunk(&self, doc: &ParsedDocument) -> Vec<ChunkDraft> {
        let s = &self.settings;
        let text = doc.text.as_str();
        // The first separator's pieces are the spans (like blocks for `recursive`), so
        // each is tokenized on its own and cuts between them get no overlap.
        let (first, rest) = self
            .levels
            .split_first()
            .expect("`new` always leaves at least `Word`");
        let spans: Vec<Span> = first
            .pieces(text, 0..text.len())
            .into_iter()
            .map(|range| Span {
                range,
                strength: BLOCK,
                heading: false,
            })
            .collect();
        let ranges =
            Splitter::new(text, s.tokenizer.as_ref(), rest, s.max_tokens, s.overlap).chunks(&spans);
        drafts(doc, ranges.into_iter().map(|r| (r, None)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::{BlockKind, DocumentBuilder};
    use crate::tokenize::WordTokenizer;
    use std::sync::Arc;

    fn chunker(max: usize, overlap: usize, seps: &[&str]) -> SeparatorChunker {
        SeparatorChunker::new(
            ChunkSettings {
                max_tokens: max,
                overlap,
                tokenizer: Arc::new(WordTokenizer),
            },
            seps.iter().map(|s| s.to_string()).collect(),
        )
    }

    #[test]
    fn records_split_on_the_separator_and_merge_up_to_the_size() {
        let mut b = DocumentBuilder::new();
        b.push(
            BlockKind::Code,
            "a 1\n---\nb 2\n---\nc 3 and some more words here\n---\nd 4",
        );
        let doc = b.finish();
        // `---` is three tokens: "---\nc 3 and some more words here" is exactly 10.
        let got: Vec<String> = chunker(10, 2, &["---"])
            .chunk(&doc)
            .iter()
            .map(|c| doc.text[c.range.clone()].to_string())
            .collect();
        assert_eq!(
            got,
            [
                "a 1\n---\nb 2",
                "---\nc 3 and some more words here",
                "---\nd 4"
            ]
        );
    }

    #[test]
    fn lower_separators_and_words_take_over_with_overlap() {
        let mut b = DocumentBuilder::new();
        b.push(
            BlockKind::Paragraph,
            "one two; three four; five six seven eight nine",
        );
        let doc = b.finish();
        let got: Vec<String> = chunker(5, 1, &["\n\n", ";"])
            .chunk(&doc)
            .iter()
            .map(|c| doc.text[c.range.clone()].to_string())
            .collect();
        assert_eq!(
            got,
            [
                "one two; three four",
                "four; five six seven",
                "seven eight nine"
            ]
        );
    }
}
