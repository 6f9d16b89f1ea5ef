//! The splitting engine the strategies share.
//!
//! A [`Splitter`] takes spans of a document's text (its blocks, or a section's, or the
//! whole text) and turns them into chunks of at most `max_tokens` tokens in three steps:
//!
//! 1. **segment**: each span is counted; one that fits is one piece, one that does not
//!    is tokenized (at once, without counting, when it is clearly too long) and cut at
//!    the strongest boundaries it has (the splitter's [`Level`]s in order: paragraphs,
//!    lines, sentences, words, or a caller's separators), recursively, down to windows of
//!    `max_tokens` tokens for what no boundary can cut. Every piece remembers how strong
//!    the boundary before it is. Sizes of sub-pieces come from the span's token offsets
//!    (binary search), never from tokenizing them again.
//! 2. **merge**: pieces are added greedily while their summed sizes fit. When the next
//!    piece does not fit, the chunk is cut at the strongest boundary seen once it is at
//!    least half full (latest on ties), so chunks end at paragraph ends rather than
//!    mid-paragraph when there is a choice. A cut inside a span (between pieces of one
//!    block, say) starts the next chunk with a tail of the previous one of
//!    at most `overlap` tokens, starting at a word when it can, and never so long that
//!    the next piece would not fit beside it.
//! 3. **verify**: the sum of pieces' sizes is exact for the built-in tokenizer but only
//!    an estimate for subword tokenizers, so every chunk is counted once more and one
//!    that is over is cut again (token windows, then halves), which keeps the size
//!    promise for any tokenizer. A single character that alone exceeds `max_tokens` is
//!    the one thing that cannot be cut; it is emitted as it is.

use crate::document::{BlockKind, ParsedDocument};
use crate::tokenize::{Tokenizer, ceil_char_boundary, floor_char_boundary};
use std::ops::Range;

/// Boundary strength of a cut between two token windows.
pub(super) const TOKEN: u32 = 0;
/// Boundary strengths from here up are between spans (blocks); levels are below.
pub(super) const BLOCK_BASE: u32 = 1 << 30;
/// Between a heading and the block after it: the weakest block boundary.
pub(super) const AFTER_HEADING: u32 = BLOCK_BASE;
/// Between two blocks.
pub(super) const BLOCK: u32 = BLOCK_BASE + 1;
/// Before a heading: the best place to end a chunk.
pub(super) const HEADING: u32 = BLOCK_BASE + 2;

/// Bytes per token of `max` beyond which a span is taken to be over `max` tokens (prose
/// runs at four to six bytes a token). Only a matter of speed.
const LIKELY_OVER: usize = 12;

/// A kind of boundary a span may be cut at, inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Level {
    /// A blank line (two line breaks with only spaces between).
    Paragraph,
    /// A line break.
    Line,
    /// After `.`, `!` or `?` followed by white space or the end (closing quotes and
    /// brackets stay with the sentence), and after `。`, `！`, `？` always.
    Sentence,
    /// White space.
    Word,
    /// A separator string, which starts the piece after it.
    Literal(String),
}

/// The levels of the recursive strategy.
pub(super) fn recursive_levels() -> Vec<Level> {
    vec![Level::Paragraph, Level::Line, Level::Sentence, Level::Word]
}

/// A stretch of text to split, with the strength of the boundary before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Span {
    /// Bytes of the text.
    pub range: Range<usize>,
    /// Strength of the boundary before it ([`BLOCK`], [`HEADING`]…).
    pub strength: u32,
    /// Whether it is a heading block.
    pub heading: bool,
}

/// Splits spans into chunks; see the module docs.
pub(super) struct Splitter<'a> {
    text: &'a str,
    tokenizer: &'a dyn Tokenizer,
    levels: &'a [Level],
    max: usize,
    overlap: usize,
}

/// The pieces of some spans, each at most `max` tokens, with the token offsets of the
/// spans that had to be cut.
pub(super) struct Segments {
    atoms: Vec<Atom>,
    toks: Vec<Option<Toks>>,
}

/// One piece after segmentation.
#[derive(Debug, Clone, Copy)]
struct Atom {
    start: usize,
    end: usize,
    tokens: usize,
    /// Strength of the boundary before it.
    strength: u32,
    /// Index of the span it comes from.
    span: usize,
}

/// Token offsets of a span, absolute, with starts and ends made non-decreasing.
struct Toks(Vec<Range<usize>>);

impl Toks {
    fn new(mut v: Vec<Range<usize>>, base: usize) -> Toks {
        let (mut s, mut e) = (0, 0);
        for r in &mut v {
            s = s.max(r.start + base);
            e = e.max(r.end + base).max(s);
            *r = s..e;
        }
        Toks(v)
    }

    /// Index of the first token that ends after `at`.
    fn ending_after(&self, at: usize) -> usize {
        self.0.partition_point(|t| t.end <= at)
    }

    /// Number of tokens that start before `at`.
    fn starting_before(&self, at: usize) -> usize {
        self.0.partition_point(|t| t.start < at)
    }

    /// Tokens that intersect `r`.
    fn count(&self, r: &Range<usize>) -> usize {
        self.starting_before(r.end)
            .saturating_sub(self.ending_after(r.start))
    }
}

impl<'a> Splitter<'a> {
    /// A splitter for chunks of at most `max` tokens, `overlap` tokens shared at cuts
    /// inside blocks.
    pub(super) fn new(
        text: &'a str,
        tokenizer: &'a dyn Tokenizer,
        levels: &'a [Level],
        max: usize,
        overlap: usize,
    ) -> Self {
        Splitter {
            text,
            tokenizer,
            levels,
            max: max.max(1),
            overlap: overlap.min(max.saturating_sub(1)),
        }
    }

    /// The strength of a boundary of `levels[i]`.
    fn level_strength(levels: &[Level], i: usize) -> u32 {
        (levels.len() - i) as u32
    }

    /// The chunks of `spans`, in order: trimmed, non-empty ranges of the text.
    pub(super) fn chunks(&self, spans: &[Span]) -> Vec<Range<usize>> {
        let seg = self.segment(spans);
        let merged = self.merge(&seg.atoms, &seg.toks);
        self.verify(merged)
    }

    /// The chunks of the part of `seg` inside `within`, merged and checked with this
    /// splitter's sizes: `seg` may come from a splitter with a smaller `max` (parents
    /// built from children's pieces).
    pub(super) fn chunks_of(&self, seg: &Segments, within: Range<usize>) -> Vec<Range<usize>> {
        let lo = seg.atoms.partition_point(|a| a.end <= within.start);
        let hi = seg.atoms.partition_point(|a| a.start < within.end);
        let atoms: Vec<Atom> = seg.atoms[lo..hi.max(lo)]
            .iter()
            .filter_map(|a| {
                // Pieces straddling the edge (when `within` was cut again) are clipped;
                // their sizes become estimates, which `verify` makes good.
                let r = trim(self.text, a.start.max(within.start)..a.end.min(within.end));
                (!r.is_empty()).then_some(Atom {
                    start: r.start,
                    end: r.end,
                    ..*a
                })
            })
            .collect();
        let merged = self.merge(&atoms, &seg.toks);
        self.verify(merged)
    }

    /// Cuts `spans` into pieces of at most `max` tokens (the first step of
    /// [`Splitter::chunks`]).
    pub(super) fn segment(&self, spans: &[Span]) -> Segments {
        let mut atoms = Vec::with_capacity(spans.len());
        let mut toks: Vec<Option<Toks>> = Vec::new();
        toks.resize_with(spans.len(), || None);
        for (si, span) in spans.iter().enumerate() {
            let r = trim(self.text, clip(self.text, span.range.clone()));
            if r.is_empty() {
                continue;
            }
            // A span far longer than `max` bytes is almost surely over: take its tokens
            // at once rather than counting it first (tokenizing twice).
            let (n, t) = if r.len() > self.max.saturating_mul(LIKELY_OVER) {
                let t = Toks::new(self.tokenizer.tokens(&self.text[r.clone()]), r.start);
                (t.0.len(), Some(t))
            } else {
                (self.tokenizer.count(&self.text[r.clone()]), None)
            };
            if n <= self.max {
                atoms.push(Atom {
                    start: r.start,
                    end: r.end,
                    tokens: n,
                    strength: span.strength,
                    span: si,
                });
                continue;
            }
            let t = t.unwrap_or_else(|| {
                Toks::new(self.tokenizer.tokens(&self.text[r.clone()]), r.start)
            });
            self.split(r, 0, span.strength, si, &t, &mut atoms);
            toks[si] = Some(t);
        }
        Segments { atoms, toks }
    }

    /// Cuts `r` (over `max` tokens) at `levels[level]`, recursing into pieces still over.
    fn split(
        &self,
        r: Range<usize>,
        level: usize,
        strength: u32,
        span: usize,
        t: &Toks,
        out: &mut Vec<Atom>,
    ) {
        let Some(lv) = self.levels.get(level) else {
            let mut first = true;
            windows(self.text, t, r, self.max, self.max, |p| {
                out.push(Atom {
                    start: p.start,
                    end: p.end,
                    tokens: t.count(&p),
                    strength: if first { strength } else { TOKEN },
                    span,
                });
                first = false;
            });
            return;
        };
        let pieces = lv.pieces(self.text, r.clone());
        if pieces.len() <= 1 {
            return self.split(r, level + 1, strength, span, t, out);
        }
        let s_level = Self::level_strength(self.levels, level);
        for (k, p) in pieces.into_iter().enumerate() {
            let s = if k == 0 { strength } else { s_level };
            let n = t.count(&p);
            if n <= self.max {
                out.push(Atom {
                    start: p.start,
                    end: p.end,
                    tokens: n,
                    strength: s,
                    span,
                });
            } else {
                self.split(p, level + 1, s, span, t, out);
            }
        }
    }

    fn merge(&self, atoms: &[Atom], toks: &[Option<Toks>]) -> Vec<Range<usize>> {
        let n = atoms.len();
        let mut out = Vec::new();
        let min_fill = self.max.div_ceil(2);
        let mut i = 0;
        let mut tail: Option<(usize, usize)> = None;
        while i < n {
            let (start, mut total) = tail.take().unwrap_or((atoms[i].start, 0));
            let mut j = i;
            // The strongest (latest on ties) cut seen once the chunk is half full.
            let mut best: Option<(u32, usize)> = None;
            loop {
                total += atoms[j].tokens;
                j += 1;
                if j == n || total + atoms[j].tokens > self.max {
                    break;
                }
                if total >= min_fill && best.is_none_or(|(s, _)| atoms[j].strength >= s) {
                    best = Some((atoms[j].strength, j));
                }
            }
            let cut = match best {
                Some((s, c)) if j < n && s > atoms[j].strength => c,
                _ => j,
            };
            out.push(start..atoms[cut - 1].end);
            if cut < n && self.overlap > 0 && atoms[cut].strength < BLOCK_BASE {
                let budget = self.overlap.min(self.max.saturating_sub(atoms[cut].tokens));
                if budget > 0 {
                    tail = self.tail(atoms, i..cut, start, budget, toks);
                }
            }
            i = cut;
        }
        out
    }

    /// The start and size of the overlap the chunk after `atoms[chunk]` (which starts
    /// at `chunk_start`) begins with: at most `budget` tokens, inside the block the cut
    /// is in, starting after the chunk's own start, at a word start when one is in
    /// reach, else at a token.
    fn tail(
        &self,
        atoms: &[Atom],
        chunk: Range<usize>,
        chunk_start: usize,
        budget: usize,
        toks: &[Option<Toks>],
    ) -> Option<(usize, usize)> {
        let last = atoms[chunk.end - 1];
        let unit_start = atoms[chunk]
            .iter()
            .rev()
            .find(|a| a.strength >= BLOCK_BASE)
            .map_or(chunk_start, |a| a.start);
        let owned;
        let t = match toks.get(last.span).and_then(Option::as_ref) {
            Some(t) => t,
            None => {
                owned = Toks::new(
                    self.tokenizer.tokens(&self.text[unit_start..last.end]),
                    unit_start,
                );
                &owned
            }
        };
        let first = t.starting_before(unit_start.max(chunk_start + 1));
        let end = t.starting_before(last.end);
        let k0 = first.max(end.saturating_sub(budget));
        if k0 >= end {
            return None;
        }
        let k = (k0..end)
            .find(|&k| {
                let p = t.0[k].start;
                p == unit_start
                    || self.text[..p]
                        .chars()
                        .next_back()
                        .is_some_and(char::is_whitespace)
            })
            .unwrap_or(k0);
        // A token may start with the white space before it (byte-level BPE).
        Some((trim(self.text, t.0[k].start..last.end).start, end - k))
    }

    fn verify(&self, chunks: Vec<Range<usize>>) -> Vec<Range<usize>> {
        let mut out = Vec::with_capacity(chunks.len());
        for c in chunks {
            if self.tokenizer.count(&self.text[c.clone()]) <= self.max {
                out.push(c);
            } else {
                self.fit(c, &mut out);
            }
        }
        in_order(self.text, out)
    }

    /// Cuts `r`, over `max` by the tokenizer's own count, into pieces that are not.
    fn fit(&self, r: Range<usize>, out: &mut Vec<Range<usize>>) {
        let t = Toks::new(self.tokenizer.tokens(&self.text[r.clone()]), r.start);
        let mut pieces = Vec::new();
        windows(self.text, &t, r, self.max, self.max, |p| pieces.push(p));
        for p in pieces {
            self.halve(p, out);
        }
    }

    fn halve(&self, r: Range<usize>, out: &mut Vec<Range<usize>>) {
        let s = &self.text[r.clone()];
        if self.tokenizer.count(s) <= self.max {
            out.push(r);
            return;
        }
        let half = floor_char_boundary(s, s.len() / 2);
        // Prefer the last white space in the first half, unless it is near the start.
        let mut cut = match s[..half].rfind(char::is_whitespace) {
            Some(w) if w >= s.len() / 4 => w,
            _ => half,
        };
        if cut == 0 {
            cut = s.chars().next().map_or(s.len(), char::len_utf8);
        }
        if cut >= s.len() {
            // One character: nothing left to cut.
            out.push(r);
            return;
        }
        for p in [r.start..r.start + cut, r.start + cut..r.end] {
            let p = trim(self.text, p);
            if !p.is_empty() {
                self.halve(p, out);
            }
        }
    }
}

/// Keeps chunks starting in order after some were cut again: a chunk that now starts no
/// later than the one before it (it overlapped a chunk that was cut) starts where that
/// one ends instead, or goes when nothing is left of it.
pub(super) fn in_order(text: &str, chunks: Vec<Range<usize>>) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::with_capacity(chunks.len());
    for c in chunks {
        match out.last() {
            Some(prev) if c.start <= prev.start => {
                let rest = trim(text, prev.end.min(c.end)..c.end);
                if !rest.is_empty() {
                    out.push(rest);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// Calls `f` with windows of `size` tokens of `t` inside `r`, every `stride` tokens, each
/// from a token's start to the next window's first token (trimmed, non-empty); the first
/// starts at `r.start` and the last ends at `r.end`, so together they cover `r`.
pub(super) fn windows_of(
    text: &str,
    tokens: Vec<Range<usize>>,
    r: Range<usize>,
    size: usize,
    stride: usize,
    f: impl FnMut(Range<usize>),
) {
    let t = Toks::new(tokens, r.start);
    windows(text, &t, r, size, stride, f);
}

fn windows(
    text: &str,
    t: &Toks,
    r: Range<usize>,
    size: usize,
    stride: usize,
    mut f: impl FnMut(Range<usize>),
) {
    let (size, stride) = (size.max(1), stride.max(1));
    let lo = t.ending_after(r.start);
    let hi = t.starting_before(r.end);
    if hi <= lo {
        let p = trim(text, r);
        if !p.is_empty() {
            f(p);
        }
        return;
    }
    let mut w = lo;
    loop {
        let e = w + size;
        let ws = if w == lo {
            r.start
        } else {
            t.0[w].start.max(r.start)
        };
        let we = if e >= hi {
            r.end
        } else {
            t.0[e].start.min(r.end)
        };
        if ws < we {
            let p = trim(text, ws..we);
            if !p.is_empty() {
                f(p);
            }
        }
        if e >= hi {
            break;
        }
        w += stride;
    }
}

impl Level {
    /// The pieces of `r` between boundaries of this level: trimmed, non-empty, in order,
    /// together holding every non-white-space character of `r`.
    pub(super) fn pieces(&self, text: &str, r: Range<usize>) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        match self {
            Level::Paragraph => breaks(text, r, 2, &mut out),
            Level::Line => breaks(text, r, 1, &mut out),
            Level::Sentence => sentences(text, r, &mut out),
            Level::Word => {
                let s = &text[r.clone()];
                let mut start = None;
                for (i, c) in s.char_indices() {
                    if c.is_whitespace() {
                        if let Some(st) = start.take() {
                            out.push(r.start + st..r.start + i);
                        }
                    } else if start.is_none() {
                        start = Some(i);
                    }
                }
                if let Some(st) = start {
                    out.push(r.start + st..r.end);
                }
            }
            Level::Literal(sep) => {
                let s = &text[r.clone()];
                let mut prev = 0;
                if !sep.is_empty() {
                    for (i, _) in s.match_indices(sep.as_str()) {
                        if i > prev {
                            push_trimmed(text, r.start + prev..r.start + i, &mut out);
                            prev = i;
                        }
                    }
                }
                push_trimmed(text, r.start + prev..r.end, &mut out);
            }
        }
        out
    }
}

/// Cuts at runs of ASCII white space holding at least `need` line breaks.
fn breaks(text: &str, r: Range<usize>, need: usize, out: &mut Vec<Range<usize>>) {
    let b = text.as_bytes();
    let mut start = r.start;
    let mut i = r.start;
    while let Some(k) = text[i..r.end].find('\n') {
        let nl = i + k;
        let mut j = nl;
        let mut lines = 0;
        while j < r.end && matches!(b[j], b' ' | b'\t' | b'\r' | b'\n') {
            lines += usize::from(b[j] == b'\n');
            j += 1;
        }
        if lines >= need {
            push_trimmed(text, start..nl, out);
            start = j;
        }
        i = j;
    }
    push_trimmed(text, start..r.end, out);
}

fn sentences(text: &str, r: Range<usize>, out: &mut Vec<Range<usize>>) {
    let s = &text[r.clone()];
    let mut start = 0;
    let mut it = s.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        let mut full = matches!(c, '。' | '！' | '？');
        if !full && !matches!(c, '.' | '!' | '?') {
            continue;
        }
        let mut end = i + c.len_utf8();
        while let Some(&(j, d)) = it.peek() {
            let term = matches!(d, '.' | '!' | '?' | '。' | '！' | '？');
            if !term && !is_closer(d) {
                break;
            }
            full |= matches!(d, '。' | '！' | '？');
            end = j + d.len_utf8();
            it.next();
        }
        let next_ws = it.peek().is_none_or(|&(_, d)| d.is_whitespace());
        if full || next_ws {
            push_trimmed(text, r.start + start..r.start + end, out);
            start = end;
        }
    }
    push_trimmed(text, r.start + start..r.end, out);
}

fn is_closer(c: char) -> bool {
    matches!(
        c,
        '"' | '\'' | ')' | ']' | '}' | '”' | '’' | '»' | '」' | '』' | '）' | '】' | '》'
    )
}

fn push_trimmed(text: &str, r: Range<usize>, out: &mut Vec<Range<usize>>) {
    let p = trim(text, r);
    if !p.is_empty() {
        out.push(p);
    }
}

/// `r` without leading and trailing white space (empty at its end when all white).
pub(super) fn trim(text: &str, r: Range<usize>) -> Range<usize> {
    let s = &text[r.clone()];
    let t = s.trim_start();
    let start = r.start + (s.len() - t.len());
    start..start + t.trim_end().len()
}

/// `r` inside the text and on character boundaries.
fn clip(text: &str, r: Range<usize>) -> Range<usize> {
    let start = ceil_char_boundary(text, r.start.min(text.len()));
    let end = floor_char_boundary(text, r.end.min(text.len()));
    start..end.max(start)
}

/// The spans of `within`: the blocks in it (clipped to it) and any text between them,
/// trimmed, non-empty and in order. A heading starts with [`HEADING`] strength, the
/// block after a heading (a heading too: `# Guide` then `## Install`) with
/// [`AFTER_HEADING`], others with [`BLOCK`].
pub(super) fn spans(doc: &ParsedDocument, within: Range<usize>) -> Vec<Span> {
    let text = doc.text.as_str();
    let within = clip(text, within);
    let mut out = Vec::new();
    let mut cursor = within.start;
    let mut prev_heading = false;
    let gap = |r: Range<usize>, out: &mut Vec<Span>| {
        let r = trim(text, r);
        if !r.is_empty() {
            out.push(Span {
                range: r,
                strength: BLOCK,
                heading: false,
            });
        }
    };
    let first = doc.blocks.partition_point(|b| b.range.end <= within.start);
    for b in &doc.blocks[first..] {
        if b.range.start >= within.end {
            break;
        }
        let r = clip(text, b.range.start.max(cursor)..b.range.end.min(within.end));
        if r.is_empty() {
            continue;
        }
        if r.start > cursor {
            let before = out.len();
            gap(cursor..r.start, &mut out);
            if out.len() > before {
                prev_heading = false;
            }
        }
        let t = trim(text, r.clone());
        if !t.is_empty() {
            let heading = matches!(b.kind, BlockKind::Heading(_));
            let strength = match (prev_heading, heading) {
                (true, _) => AFTER_HEADING,
                (false, true) => HEADING,
                (false, false) => BLOCK,
            };
            out.push(Span {
                range: t,
                strength,
                heading,
            });
            prev_heading = heading;
        }
        cursor = r.end;
    }
    if cursor < within.end {
        gap(cursor..within.end, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize::WordTokenizer;

    fn texts<'t>(text: &'t str, rs: &[Range<usize>]) -> Vec<&'t str> {
        rs.iter().map(|r| &text[r.clone()]).collect()
    }

    #[test]
    fn levels_cut_where_they_should() {
        let t = "One. Two!  Three?\n\nFour\nfive 3.14 e.g. six。七！八";
        let all = 0..t.len();
        assert_eq!(
            texts(t, &Level::Paragraph.pieces(t, all.clone())),
            ["One. Two!  Three?", "Four\nfive 3.14 e.g. six。七！八"]
        );
        assert_eq!(
            texts(t, &Level::Line.pieces(t, all.clone())),
            ["One. Two!  Three?", "Four", "five 3.14 e.g. six。七！八"]
        );
        assert_eq!(
            texts(t, &Level::Sentence.pieces(t, all.clone())),
            [
                "One.",
                "Two!",
                "Three?",
                "Four\nfive 3.14 e.g.",
                "six。",
                "七！",
                "八"
            ]
        );
        assert_eq!(texts(t, &Level::Word.pieces(t, 0..9)), ["One.", "Two!"]);
        let l = Level::Literal("--".into());
        assert_eq!(
            texts("a--b----c--", &l.pieces("a--b----c--", 0..11)),
            ["a", "--b", "--", "--c", "--"]
        );
        assert_eq!(
            texts(
                "He said \"Go.\" Then",
                &Level::Sentence.pieces("He said \"Go.\" Then", 0..18)
            ),
            ["He said \"Go.\"", "Then"]
        );
    }

    #[test]
    fn cuts_prefer_strong_boundaries_once_half_full() {
        // A paragraph of 7 tokens, then one of five 4-token sentences: with 12 tokens a
        // chunk, greedy filling would end after the first sentence of the second
        // paragraph; the paragraph end is stronger and the chunk is half full there.
        let t = "a b c d e f g\n\nh i j. k l m. n o p. q r s. t u v.";
        let spans = [Span {
            range: 0..t.len(),
            strength: BLOCK,
            heading: false,
        }];
        let levels = recursive_levels();
        let s = Splitter::new(t, &WordTokenizer, &levels, 12, 0);
        assert_eq!(
            texts(t, &s.chunks(&spans)),
            ["a b c d e f g", "h i j. k l m. n o p.", "q r s. t u v."]
        );
    }

    #[test]
    fn overlap_starts_at_a_word_and_leaves_room() {
        let t = "aa bb cc dd ee ff gg hh";
        let spans = [Span {
            range: 0..t.len(),
            strength: BLOCK,
            heading: false,
        }];
        let levels = recursive_levels();
        let s = Splitter::new(t, &WordTokenizer, &levels, 4, 2);
        assert_eq!(
            texts(t, &s.chunks(&spans)),
            ["aa bb cc dd", "cc dd ee ff", "ee ff gg hh"]
        );
    }

    #[test]
    fn spans_keep_text_between_blocks() {
        let mut b = crate::document::DocumentBuilder::new();
        b.push(BlockKind::Heading(1), "T")
            .push(BlockKind::Paragraph, "p");
        let mut d = b.finish();
        d.text.push_str("\n\ntrailing");
        let s = spans(&d, 0..d.text.len());
        let got: Vec<(&str, u32)> = s
            .iter()
            .map(|s| (&d.text[s.range.clone()], s.strength))
            .collect();
        assert_eq!(
            got,
            [("T", HEADING), ("p", AFTER_HEADING), ("trailing", BLOCK)]
        );
    }
}
