//! The `parent_child` strategy: small chunks indexed, their parent passage returned.
//!
//! The text is cut once, as for the recursive strategy, into pieces of at most
//! `max_tokens` tokens. Parents merge those pieces up to `parent_max_tokens` (at least
//! `max_tokens`), ending at the strongest boundary available once half full, without
//! overlap; children merge the pieces inside each parent up to `max_tokens`, with
//! `overlap` inside blocks, and never cross their parent's edges. The children are the
//! chunks; each one's `context` is its parent's range (`None` when the child is the
//! whole parent).

use super::split::{self, Level, Splitter};
use super::{ChunkDraft, ChunkSettings, Chunker, drafts};
use crate::document::ParsedDocument;

/// Children indexed, parents returned; see the module docs.
pub struct ParentChildChunker {
    settings: ChunkSettings,
    parent_max_tokens: usize,
    levels: Vec<Level>,
}

impl ParentChildChunker {
    pub(super) fn new(settings: ChunkSettings, parent_max_tokens: usize) -> Self {
        ParentChildChunker {
            parent_max_tokens: parent_max_tokens.max(settings.max_tokens),
            settings,
            levels: split::recursive_levels(),
        }
    }
}

impl Chunker for ParentChildChunker {
    fn chunk(&self, doc: &ParsedDocument) -> Vec<ChunkDraft> {
        let s = &self.settings;
        let text = doc.text.as_str();
        let tokenizer = s.tokenizer.as_ref();
        let children = Splitter::new(text, tokenizer, &self.levels, s.max_tokens, s.overlap);
        let parents = Splitter::new(text, tokenizer, &self.levels, self.parent_max_tokens, 0);
        // Cut the text once into children-sized pieces; parents merge them up to their
        // size, children merge those inside each parent up to theirs.
        let pieces = children.segment(&split::spans(doc, 0..text.len()));
        let mut out = Vec::new();
        for parent in parents.chunks_of(&pieces, 0..text.len()) {
            for child in children.chunks_of(&pieces, parent.clone()) {
                let context = (child != parent).then(|| parent.clone());
                out.push((child, context));
            }
        }
        drafts(doc, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::{BlockKind, DocumentBuilder};
    use crate::tokenize::WordTokenizer;
    use std::sync::Arc;

    #[test]
    fn children_point_to_their_parent() {
        let mut b = DocumentBuilder::new();
        b.push(BlockKind::Paragraph, "a b c d. e f g h.")
            .push(BlockKind::Paragraph, "i j k l. m n o p.")
            .push(BlockKind::Paragraph, "q r.");
        let doc = b.finish();
        let c = ParentChildChunker::new(
            ChunkSettings {
                max_tokens: 5,
                overlap: 0,
                tokenizer: Arc::new(WordTokenizer),
            },
            20,
        );
        let got: Vec<(&str, Option<&str>)> = c
            .chunk(&doc)
            .iter()
            .map(|c| {
                (
                    &doc.text[c.range.clone()],
                    c.context.clone().map(|p| &doc.text[p]),
                )
            })
            .collect();
        let p1 = "a b c d. e f g h.\n\ni j k l. m n o p.";
        assert_eq!(
            got,
            [
                ("a b c d.", Some(p1)),
                ("e f g h.", Some(p1)),
                ("i j k l.", Some(p1)),
                ("m n o p.", Some(p1)),
                ("q r.", None),
            ]
        );
    }
}
