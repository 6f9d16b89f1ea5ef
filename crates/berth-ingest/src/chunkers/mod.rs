//! Chunkers: a [`ParsedDocument`] → chunks, each a byte range of the document's text.
//!
//! Every chunker keeps three promises, checked by property tests: a chunk never splits a
//! character (ranges fall on character boundaries), never exceeds `max_tokens` tokens of
//! the pipeline's tokenizer, and the chunks together cover every non-whitespace
//! character of the document, in order. (The one exception to the size promise is a
//! single character that alone is more than `max_tokens` tokens, which cannot be cut.)
//!
//! One module per strategy; [`build`] is the one place that maps a planned strategy to
//! its implementation:
//!
//! - `token`: windows of `max_tokens` tokens of the whole text, `overlap` tokens shared
//!   by neighbours, blind to structure.
//! - `recursive` (the default): blocks merged up to the size; a block too large is cut at
//!   blank lines, then lines, sentences, words, and token windows last; chunks end at the
//!   strongest boundary available once half full, and a chunk cut inside a block starts
//!   with up to `overlap` tokens of the previous one.
//! - `markdown`: the recursive strategy run section by section, a section being a
//!   heading of level 1 or 2 and what follows it, so no chunk crosses such a heading
//!   (a section holding only headings is joined to the next one).
//! - `sentence_window`: one chunk per sentence, its context the sentence with `window`
//!   sentences on each side.
//! - `parent_child`: recursive parents of `parent_max_tokens`, each cut recursively into
//!   children of `max_tokens`; the children are the chunks, their parent the context.
//! - `separator`: the recursive strategy over the whole text with the user's separators
//!   in place of paragraphs, lines and sentences.
//!
//! The shared machinery (segmentation, merging, overlap, the final size check) is in
//! `split`.

mod markdown;
mod parent_child;
mod recursive;
mod sentence_window;
mod separator;
mod split;
mod token;

use crate::document::ParsedDocument;
use crate::tokenize::Tokenizer;
use berth_stack::plan::PlannedChunk;
use berth_stack::stack::ChunkStrategy;
use std::ops::Range;
use std::sync::Arc;

/// One chunk of a document, before it gets its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkDraft {
    /// The bytes of the document's text it covers (what is indexed).
    pub range: Range<usize>,
    /// The passage returned to readers when it differs from `range` (parent–child,
    /// sentence window).
    pub context: Option<Range<usize>>,
    /// Headings above the chunk's start, outermost first.
    pub heading_path: Vec<String>,
    /// First page it covers (paged formats).
    pub page_start: Option<u32>,
    /// Last page it covers.
    pub page_end: Option<u32>,
}

/// Cuts documents into chunks.
pub trait Chunker: Send + Sync {
    /// The chunks of `doc`, in document order.
    fn chunk(&self, doc: &ParsedDocument) -> Vec<ChunkDraft>;
}

/// Settings shared by every strategy.
#[derive(Clone)]
pub struct ChunkSettings {
    /// Maximum tokens in a chunk.
    pub max_tokens: usize,
    /// Tokens shared by neighbouring chunks.
    pub overlap: usize,
    /// Counts tokens.
    pub tokenizer: Arc<dyn Tokenizer>,
}

impl std::fmt::Debug for ChunkSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkSettings")
            .field("max_tokens", &self.max_tokens)
            .field("overlap", &self.overlap)
            .field("tokenizer", &self.tokenizer.name())
            .finish()
    }
}

/// Builds the chunker a pipeline plans.
pub fn build(plan: &PlannedChunk, tokenizer: Arc<dyn Tokenizer>) -> Box<dyn Chunker> {
    let settings = ChunkSettings {
        max_tokens: plan.max_tokens.max(1) as usize,
        overlap: (plan.overlap as usize).min(plan.max_tokens.saturating_sub(1) as usize),
        tokenizer,
    };
    match plan.strategy {
        ChunkStrategy::Token => Box::new(token::TokenChunker::new(settings)),
        ChunkStrategy::Recursive => Box::new(recursive::RecursiveChunker::new(settings)),
        ChunkStrategy::Markdown => Box::new(markdown::MarkdownChunker::new(settings)),
        ChunkStrategy::SentenceWindow => Box::new(sentence_window::SentenceWindowChunker::new(
            settings,
            plan.window.unwrap_or(2) as usize,
        )),
        ChunkStrategy::ParentChild => Box::new(parent_child::ParentChildChunker::new(
            settings,
            plan.parent_max_tokens
                .map(|p| p as usize)
                .unwrap_or((plan.max_tokens as usize) * 4),
        )),
        ChunkStrategy::Separator => Box::new(separator::SeparatorChunker::new(
            settings,
            plan.separators.clone(),
        )),
    }
}

/// Fills in the heading path and pages of a chunk from the blocks around it: the block
/// the chunk starts in (or the last one before it) gives the heading path and first page;
/// the last block it reaches gives the last page. Blocks are in order, so both are found
/// by binary search.
pub(crate) fn locate(
    doc: &ParsedDocument,
    range: Range<usize>,
    context: Option<Range<usize>>,
) -> ChunkDraft {
    let blocks = &doc.blocks;
    let before = blocks.partition_point(|b| b.range.start <= range.start);
    let first = match before {
        0 => blocks.first(),
        n => blocks.get(n - 1),
    };
    let reached = blocks.partition_point(|b| b.range.start < range.end);
    let last = reached.checked_sub(1).and_then(|n| blocks.get(n)).or(first);
    let page_start = first.and_then(|b| b.page);
    ChunkDraft {
        range,
        context,
        heading_path: first.map(|b| b.heading_path.clone()).unwrap_or_default(),
        page_start,
        page_end: last.and_then(|b| b.page).or(page_start),
    }
}

/// Drafts for `(range, context)` pairs, located in `doc`.
fn drafts(
    doc: &ParsedDocument,
    chunks: impl IntoIterator<Item = (Range<usize>, Option<Range<usize>>)>,
) -> Vec<ChunkDraft> {
    chunks
        .into_iter()
        .map(|(range, context)| locate(doc, range, context))
        .collect()
}
