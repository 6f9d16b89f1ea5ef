//! The promises every chunker keeps, checked on random documents.
//!
//! For every strategy, on documents of random headings, paragraphs with multi-byte text
//! (CJK, emoji, combining marks), long words, white-space-only blocks, loose text outside
//! blocks and page breaks, with random `max_tokens` (8..200) and `overlap` (< max):
//!
//! 1. ranges and contexts are non-empty, inside the text, on character boundaries and
//!    trimmed;
//! 2. every chunk has at most `max_tokens` tokens;
//! 3. every non-white-space byte is in some chunk, and chunks start in document order,
//!    each after the previous one's start;
//! 4. chunking twice gives the same chunks;
//! 5. neighbours share at most `overlap` tokens (none when `overlap` is 0); the `token`
//!    strategy shares exactly `overlap` and fills every window but the last; the
//!    `recursive` and `markdown` strategies leave a cut inside a block without overlap
//!    only when the next chunk had no room for even the previous chunk's last token;
//! 6. heading paths and pages are those of the blocks the chunk starts in and reaches,
//!    and are right on a hand-built example.
//!
//! Plus the strategies' own shapes (sentence windows, parents, sections), and the size,
//! coverage and boundary promises with two subword tokenizers (a WordPiece and a
//! byte-level BPE one, built here from a few dozen vocabulary entries).

use berth_ingest::chunkers::{ChunkDraft, build};
use berth_ingest::document::{BlockKind, DocumentBuilder, ParsedDocument};
use berth_ingest::tokenize::{HfTokenizer, Tokenizer, WordTokenizer};
use berth_stack::plan::PlannedChunk;
use berth_stack::stack::ChunkStrategy;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::ops::Range;
use std::sync::Arc;

// ---------------------------------------------------------------------------------------
// Random documents

#[derive(Debug, Clone)]
struct BlockSpec {
    kind: BlockKind,
    text: String,
    new_page: bool,
}

#[derive(Debug, Clone)]
struct DocSpec {
    blocks: Vec<BlockSpec>,
    paged: bool,
    /// 0: as built; 1: blocks dropped (plain text); 2: loose text appended after blocks.
    shape: u8,
}

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[a-z]{1,8}",
        2 => "[A-Z][a-z]{0,6}",
        1 => "[0-9]{1,4}(\\.[0-9]{1,2})?",
        3 => prop::sample::select(vec![
            "日本語のテキスト", "東京は首都です。", "这是中文句子。", "你好！", "真的？",
            "😀", "👩‍👩‍👧", "e\u{301}", "ñandú", "Ωmega", "—", "«quoted»", "(paren)",
            "\"Quote.\"", ",", ";", "...", "!?", "中文", "한국어", "x\u{200b}y", "ﬁne",
        ])
        .prop_map(String::from),
        1 => (1usize..400).prop_map(|n| "a".repeat(n)),
        1 => (1usize..150).prop_map(|n| "ab-".repeat(n)),
        1 => (1usize..80).prop_map(|n| "😀".repeat(n)),
        1 => (1usize..60).prop_map(|n| "字。".repeat(n)),
    ]
}

fn separator() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        " ", " ", " ", " ", ". ", "! ", "? ", ", ", "\n", "\n\n", "\n \n", "\t", "\u{3000}",
        "\u{a0}", "。", "",
    ])
}

fn block_text(pieces: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        10 => prop::collection::vec((piece(), separator()), 0..pieces).prop_map(|parts| {
            parts.into_iter().map(|(p, s)| p + s).collect::<String>()
        }),
        1 => prop::sample::select(vec!["", "   ", "\n\n", " x ", "."]).prop_map(String::from),
    ]
}

fn block_kind() -> impl Strategy<Value = BlockKind> {
    prop_oneof![
        2 => (1u8..=4).prop_map(BlockKind::Heading),
        5 => Just(BlockKind::Paragraph),
        1 => Just(BlockKind::ListItem),
        1 => Just(BlockKind::Code),
        1 => Just(BlockKind::Table),
        1 => Just(BlockKind::Record),
    ]
}

fn doc_spec() -> impl Strategy<Value = DocSpec> {
    sized_doc_spec(30, 40)
}

/// Documents of up to `blocks` blocks of up to `pieces` words each.
fn sized_doc_spec(blocks: usize, pieces: usize) -> impl Strategy<Value = DocSpec> {
    let block = (block_kind(), block_text(pieces), prop::bool::weighted(0.2)).prop_map(
        |(kind, text, new_page)| BlockSpec {
            kind,
            // Headings are short, one line.
            text: if matches!(kind, BlockKind::Heading(_)) {
                text.split_whitespace()
                    .take(6)
                    .collect::<Vec<_>>()
                    .join(" ")
            } else {
                text
            },
            new_page,
        },
    );
    (
        prop::collection::vec(block, 0..blocks),
        any::<bool>(),
        prop_oneof![8 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)],
    )
        .prop_map(|(blocks, paged, shape)| DocSpec {
            blocks,
            paged,
            shape,
        })
}

fn build_doc(spec: &DocSpec) -> ParsedDocument {
    let mut b = DocumentBuilder::new();
    let mut page = 1;
    if spec.paged {
        b.page(page);
    }
    for block in &spec.blocks {
        if spec.paged && block.new_page {
            page += 1;
            b.page(page);
        }
        b.push(block.kind, &block.text);
    }
    let mut doc = b.finish();
    match spec.shape {
        1 => doc.blocks.clear(),
        2 => doc
            .text
            .push_str("\n\n  loose text, outside any block. 尾巴 "),
        _ => {}
    }
    doc
}

#[derive(Debug, Clone)]
struct Config {
    strategy: ChunkStrategy,
    max: u32,
    overlap: u32,
    window: u32,
    parent: u32,
    separators: Vec<String>,
}

impl Config {
    fn plan(&self) -> PlannedChunk {
        PlannedChunk {
            strategy: self.strategy,
            max_tokens: self.max,
            overlap: self.overlap,
            tokenizer: None,
            separators: self.separators.clone(),
            window: Some(self.window),
            parent_max_tokens: Some(self.parent),
        }
    }
}

fn config(strategy: ChunkStrategy) -> impl Strategy<Value = Config> {
    (
        8u32..200,
        0.0f64..1.0,
        0u32..4,
        1u32..5,
        prop::collection::vec(
            prop::sample::select(vec!["\n\n", "\n", ". ", " ", "---", "。", ";", "a"]),
            1..4,
        ),
    )
        .prop_map(move |(max, frac, window, mult, seps)| Config {
            strategy,
            max,
            // Half the cases without overlap, half with some.
            overlap: if frac < 0.5 {
                0
            } else {
                ((frac - 0.5) * 2.0 * f64::from(max)) as u32 % max
            },
            window,
            parent: max * mult,
            separators: seps.into_iter().map(String::from).collect(),
        })
}

// ---------------------------------------------------------------------------------------
// The promises

fn chunk(doc: &ParsedDocument, cfg: &Config, tokenizer: Arc<dyn Tokenizer>) -> Vec<ChunkDraft> {
    build(&cfg.plan(), tokenizer).chunk(doc)
}

fn check_range(text: &str, r: &Range<usize>, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(r.start < r.end, "{what} {r:?} is empty");
    prop_assert!(r.end <= text.len(), "{what} {r:?} is past the end");
    prop_assert!(
        text.is_char_boundary(r.start) && text.is_char_boundary(r.end),
        "{what} {r:?} splits a character"
    );
    let s = &text[r.clone()];
    prop_assert_eq!(s.trim(), s, "{} {:?} is not trimmed", what, r);
    Ok(())
}

/// Promises 1–4 and, when `exact` (the built-in tokenizer, whose counts add up), the
/// overlap bound of 5.
fn check_common(
    doc: &ParsedDocument,
    cfg: &Config,
    tokenizer: Arc<dyn Tokenizer>,
    exact: bool,
) -> Result<Vec<ChunkDraft>, TestCaseError> {
    let text = doc.text.as_str();
    let chunks = chunk(doc, cfg, tokenizer.clone());
    let max = cfg.max as usize;
    let overlap = (cfg.overlap as usize).min(max - 1);
    for c in &chunks {
        check_range(text, &c.range, "range")?;
        if let Some(ctx) = &c.context {
            check_range(text, ctx, "context")?;
            prop_assert!(ctx.start <= c.range.start && c.range.end <= ctx.end);
            prop_assert!(*ctx != c.range, "context equal to range");
        }
        let n = tokenizer.count(&text[c.range.clone()]);
        prop_assert!(n <= max, "{n} tokens > {max}: {:?}", &text[c.range.clone()]);
    }
    // Coverage: walk the text with the number of chunks open at each byte.
    let mut depth = 0i64;
    let mut marks = Vec::new();
    for c in &chunks {
        marks.push((c.range.start, 1i64));
        marks.push((c.range.end, -1i64));
    }
    marks.sort_unstable();
    let mut m = 0;
    for (i, ch) in text.char_indices() {
        while m < marks.len() && marks[m].0 <= i {
            depth += marks[m].1;
            m += 1;
        }
        prop_assert!(
            depth > 0 || ch.is_whitespace(),
            "byte {i} ({ch:?}) is in no chunk"
        );
    }
    // Order, progress, overlap bound.
    for w in chunks.windows(2) {
        let (a, b) = (&w[0].range, &w[1].range);
        prop_assert!(b.start > a.start, "chunks out of order: {a:?} then {b:?}");
        if b.start < a.end {
            prop_assert!(overlap > 0, "overlap without `overlap`: {a:?} then {b:?}");
            let shared = tokenizer.count(&text[b.start..a.end]);
            prop_assert!(
                !exact || shared <= overlap,
                "{shared} tokens shared > {overlap}"
            );
        }
    }
    // Determinism.
    prop_assert_eq!(&chunk(doc, cfg, tokenizer), &chunks);
    Ok(chunks)
}

/// The heading path and pages `locate` gives a range.
fn expected_location(
    doc: &ParsedDocument,
    r: &Range<usize>,
) -> (Vec<String>, Option<u32>, Option<u32>) {
    let first = doc
        .blocks
        .iter()
        .take_while(|b| b.range.start <= r.start)
        .last()
        .or(doc.blocks.first());
    let last = doc
        .blocks
        .iter()
        .take_while(|b| b.range.start < r.end)
        .last()
        .or(first);
    let page_start = first.and_then(|b| b.page);
    (
        first.map(|b| b.heading_path.clone()).unwrap_or_default(),
        page_start,
        last.and_then(|b| b.page).or(page_start),
    )
}

fn check_locations(doc: &ParsedDocument, chunks: &[ChunkDraft]) -> Result<(), TestCaseError> {
    for c in chunks {
        let (path, start, end) = expected_location(doc, &c.range);
        prop_assert_eq!(&c.heading_path, &path);
        prop_assert_eq!(c.page_start, start);
        prop_assert_eq!(c.page_end, end);
        prop_assert!(c.page_start <= c.page_end);
    }
    Ok(())
}

/// Recursive and markdown: a cut inside a block without overlap means the next chunk
/// could not have taken even the last token of the previous one.
fn check_overlap_when_room(
    doc: &ParsedDocument,
    cfg: &Config,
    chunks: &[ChunkDraft],
) -> Result<(), TestCaseError> {
    let text = doc.text.as_str();
    let max = cfg.max as usize;
    if cfg.overlap == 0 {
        return Ok(());
    }
    for w in chunks.windows(2) {
        let (a, b) = (&w[0].range, &w[1].range);
        if b.start < a.end {
            continue;
        }
        let same_block = doc.blocks.iter().any(|bl| {
            bl.range.start < a.end && a.end <= bl.range.end && bl.range.contains(&b.start)
        });
        if !same_block {
            continue;
        }
        let toks = WordTokenizer.tokens(&text[a.clone()]);
        if toks.len() <= 1 {
            continue;
        }
        let last = a.start + toks[toks.len() - 1].start;
        let n = WordTokenizer.count(&text[last..b.end]);
        prop_assert!(
            n > max,
            "no overlap between {a:?} and {b:?} although {n} <= {max} tokens fit"
        );
    }
    Ok(())
}

fn words() -> Arc<dyn Tokenizer> {
    Arc::new(WordTokenizer)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn token_windows_keep_the_promises(spec in doc_spec(), cfg in config(ChunkStrategy::Token)) {
        let doc = build_doc(&spec);
        let chunks = check_common(&doc, &cfg, words(), true)?;
        check_locations(&doc, &chunks)?;
        let text = doc.text.as_str();
        let max = cfg.max as usize;
        for (k, w) in chunks.windows(2).enumerate() {
            let (a, b) = (&w[0].range, &w[1].range);
            prop_assert_eq!(WordTokenizer.count(&text[a.clone()]), max, "window {} not full", k);
            if cfg.overlap == 0 {
                prop_assert!(b.start >= a.end);
            } else {
                prop_assert_eq!(WordTokenizer.count(&text[b.start..a.end]), cfg.overlap as usize);
            }
        }
    }

    #[test]
    fn recursive_keeps_the_promises(spec in doc_spec(), cfg in config(ChunkStrategy::Recursive)) {
        let doc = build_doc(&spec);
        let chunks = check_common(&doc, &cfg, words(), true)?;
        check_locations(&doc, &chunks)?;
        check_overlap_when_room(&doc, &cfg, &chunks)?;
    }

    #[test]
    fn markdown_keeps_the_promises(spec in doc_spec(), cfg in config(ChunkStrategy::Markdown)) {
        let doc = build_doc(&spec);
        let chunks = check_common(&doc, &cfg, words(), true)?;
        check_overlap_when_room(&doc, &cfg, &chunks)?;
        for c in &chunks {
            let inside: Vec<_> = doc.blocks.iter()
                .filter(|b| b.range.start < c.range.end && b.range.end > c.range.start)
                .collect();
            // No level-1/2 heading inside a chunk, unless only headings come before it.
            for (k, b) in inside.iter().enumerate() {
                if matches!(b.kind, BlockKind::Heading(l) if l <= 2) && b.range.start > c.range.start {
                    prop_assert!(
                        inside[..k].iter().all(|p| matches!(p.kind, BlockKind::Heading(_))),
                        "chunk {:?} crosses heading {:?}", c.range, b.range
                    );
                }
            }
            // The heading path is that of a block in the chunk (its section's).
            if !inside.is_empty() {
                prop_assert!(inside.iter().any(|b| b.heading_path == c.heading_path));
            }
        }
    }

    #[test]
    fn sentence_windows_keep_the_promises(spec in doc_spec(), cfg in config(ChunkStrategy::SentenceWindow)) {
        let doc = build_doc(&spec);
        let chunks = check_common(&doc, &cfg, words(), true)?;
        check_locations(&doc, &chunks)?;
        let w = cfg.window as usize;
        for (i, c) in chunks.iter().enumerate() {
            if i > 0 {
                prop_assert!(chunks[i - 1].range.end <= c.range.start, "sentences overlap");
            }
            let ctx = c.context.clone().unwrap_or(c.range.clone());
            let from = &chunks[i.saturating_sub(w)].range;
            let to = &chunks[(i + w).min(chunks.len() - 1)].range;
            prop_assert_eq!(ctx, from.start..to.end);
        }
    }

    #[test]
    fn parent_child_keeps_the_promises(spec in doc_spec(), cfg in config(ChunkStrategy::ParentChild)) {
        let doc = build_doc(&spec);
        let chunks = check_common(&doc, &cfg, words(), true)?;
        check_locations(&doc, &chunks)?;
        let parent_max = cfg.parent.max(cfg.max) as usize;
        let mut prev_parent: Option<Range<usize>> = None;
        for c in &chunks {
            let parent = c.context.clone().unwrap_or(c.range.clone());
            prop_assert!(WordTokenizer.count(&doc.text[parent.clone()]) <= parent_max);
            if let Some(p) = &prev_parent && *p != parent {
                // Parents follow each other without overlapping.
                prop_assert!(p.end <= parent.start, "parents {p:?} and {parent:?} overlap");
            }
            prev_parent = Some(parent);
        }
    }

    #[test]
    fn separator_keeps_the_promises(spec in doc_spec(), cfg in config(ChunkStrategy::Separator)) {
        let doc = build_doc(&spec);
        let chunks = check_common(&doc, &cfg, words(), true)?;
        check_locations(&doc, &chunks)?;
    }
}

// ---------------------------------------------------------------------------------------
// Heading paths and pages by hand

#[test]
fn heading_paths_and_pages_on_a_manual() {
    let mut b = DocumentBuilder::new();
    b.page(1)
        .push(BlockKind::Heading(1), "Manual")
        .push(BlockKind::Paragraph, "Intro text.")
        .page(2)
        .push(BlockKind::Heading(2), "Setup")
        .push(
            BlockKind::Paragraph,
            "Install the tool. Configure the tool. Start the tool.",
        )
        .page(3)
        .push(BlockKind::Paragraph, "More setup.")
        .page(4)
        .push(BlockKind::Heading(2), "Usage")
        .push(BlockKind::Paragraph, "Use it.");
    let doc = b.finish();
    let cfg = Config {
        strategy: ChunkStrategy::Recursive,
        max: 8,
        overlap: 0,
        window: 0,
        parent: 8,
        separators: vec![],
    };
    type Located = (String, Vec<String>, Option<u32>, Option<u32>);
    let got: Vec<Located> = chunk(&doc, &cfg, words())
        .into_iter()
        .map(|c| {
            (
                doc.text[c.range].to_string(),
                c.heading_path,
                c.page_start,
                c.page_end,
            )
        })
        .collect();
    let p = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // The recursive strategy prefers to end a chunk before a heading once half full,
    // and may run across sections (the last chunk starts in "Setup" and ends in "Usage").
    assert_eq!(
        got,
        [
            (
                "Manual\n\nIntro text.".into(),
                p(&["Manual"]),
                Some(1),
                Some(1)
            ),
            (
                "Setup\n\nInstall the tool.".into(),
                p(&["Manual", "Setup"]),
                Some(2),
                Some(2)
            ),
            (
                "Configure the tool. Start the tool.".into(),
                p(&["Manual", "Setup"]),
                Some(2),
                Some(2)
            ),
            (
                "More setup.\n\nUsage\n\nUse it.".into(),
                p(&["Manual", "Setup"]),
                Some(3),
                Some(4)
            ),
        ]
    );

    // The markdown strategy never lets "Setup" join the chunk before it.
    let md = Config {
        strategy: ChunkStrategy::Markdown,
        ..cfg
    };
    let got: Vec<(String, Vec<String>)> = chunk(&doc, &md, words())
        .into_iter()
        .map(|c| (doc.text[c.range].to_string(), c.heading_path))
        .collect();
    assert_eq!(
        got,
        [
            ("Manual\n\nIntro text.".into(), p(&["Manual"])),
            ("Setup\n\nInstall the tool.".into(), p(&["Manual", "Setup"])),
            (
                "Configure the tool. Start the tool.".into(),
                p(&["Manual", "Setup"])
            ),
            ("More setup.".into(), p(&["Manual", "Setup"])),
            ("Usage\n\nUse it.".into(), p(&["Manual", "Usage"])),
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Subword tokenizers, built here so that no file outside this test is needed

/// GPT-2's map from bytes to printable characters.
fn byte_chars() -> Vec<char> {
    let mut bs: Vec<u32> = (u32::from('!')..=u32::from('~'))
        .chain(u32::from('¡')..=u32::from('¬'))
        .chain(u32::from('®')..=u32::from('ÿ'))
        .collect();
    let mut cs = bs.clone();
    let mut n = 0;
    for b in 0..256 {
        if !bs.contains(&b) {
            bs.push(b);
            cs.push(256 + n);
            n += 1;
        }
    }
    let mut out = vec![' '; 256];
    for (b, c) in bs.into_iter().zip(cs) {
        out[b as usize] = char::from_u32(c).expect("valid by construction");
    }
    out
}

fn byte_level_bpe_json() -> serde_json::Value {
    let chars = byte_chars();
    let mut vocab = serde_json::Map::new();
    for c in &chars {
        vocab.insert(c.to_string(), vocab.len().into());
    }
    // A few merges, one of them across the first two bytes of `日`, so that some tokens
    // end inside a character.
    let ri = "日".as_bytes();
    let ri2 = format!("{}{}", chars[ri[0] as usize], chars[ri[1] as usize]);
    let mut merges = vec![
        ("Ġ".to_string(), "t".to_string()),
        ("h".into(), "e".into()),
        ("Ġt".into(), "he".into()),
        ("i".into(), "n".into()),
        ("in".into(), "g".into()),
        ("a".into(), "n".into()),
        ("an".into(), "d".into()),
        ("Ġ".into(), "a".into()),
        ("a".into(), "b".into()),
    ];
    merges.push((
        chars[ri[0] as usize].to_string(),
        chars[ri[1] as usize].to_string(),
    ));
    for (a, b) in &merges {
        vocab.insert(format!("{a}{b}"), vocab.len().into());
    }
    debug_assert!(vocab.contains_key(&ri2));
    serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [],
        "normalizer": null,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
        "decoder": null,
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null,
            "continuing_subword_prefix": null, "end_of_word_suffix": null,
            "fuse_unk": false, "byte_fallback": false,
            "vocab": vocab,
            "merges": merges.iter().map(|(a, b)| format!("{a} {b}")).collect::<Vec<_>>(),
        }
    })
}

fn wordpiece_json() -> serde_json::Value {
    let mut vocab = serde_json::Map::new();
    vocab.insert("[UNK]".into(), 0.into());
    let mut add = |t: String| {
        let n = vocab.len();
        vocab.entry(t).or_insert(n.into());
    };
    for c in ('a'..='z').chain('0'..='9') {
        add(c.to_string());
        add(format!("##{c}"));
    }
    for p in [
        ".", ",", "!", "?", "-", ";", ":", "'", "\"", "(", ")", "。", "！", "？",
    ] {
        add(p.to_string());
    }
    for w in [
        "the", "and", "chunk", "##ing", "##s", "##er", "one", "two", "ab", "##ab", "日",
    ] {
        add(w.to_string());
    }
    serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [{"id": 0, "content": "[UNK]", "single_word": false, "lstrip": false,
                           "rstrip": false, "normalized": false, "special": true}],
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                       "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": null,
        "decoder": null,
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab}
    })
}

fn hf(json: &serde_json::Value) -> Arc<dyn Tokenizer> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("tokenizer.json");
    std::fs::write(&path, json.to_string()).expect("writable temporary directory");
    Arc::new(HfTokenizer::load(&path).expect("the tokenizer built above loads"))
}

#[test]
fn the_subword_tokenizers_are_subword() {
    let wp = hf(&wordpiece_json());
    let text = "Chunking the 日本 text";
    let toks: Vec<&str> = wp.tokens(text).into_iter().map(|r| &text[r]).collect();
    assert_eq!(toks[..3], ["Chunk", "ing", "the"]);
    let bpe = hf(&byte_level_bpe_json());
    // `日` is two tokens (two merged bytes, one byte), `😀` four.
    assert_eq!(bpe.count("日"), 2);
    assert_eq!(bpe.count("😀"), 4);
    // A merged word with its leading space: `a`, `Ġthe`.
    assert_eq!(bpe.count("a the"), 2);
}

fn any_strategy() -> impl Strategy<Value = ChunkStrategy> {
    prop::sample::select(vec![
        ChunkStrategy::Token,
        ChunkStrategy::Recursive,
        ChunkStrategy::Markdown,
        ChunkStrategy::SentenceWindow,
        ChunkStrategy::ParentChild,
        ChunkStrategy::Separator,
    ])
}

proptest! {
    // Tokenizers are slow in debug builds: fewer, smaller documents.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn subword_tokenizers_keep_the_promises(
        spec in sized_doc_spec(12, 25),
        cfg in any_strategy().prop_flat_map(config),
        bpe in any::<bool>(),
    ) {
        let tokenizer = if bpe { hf(&byte_level_bpe_json()) } else { hf(&wordpiece_json()) };
        let doc = build_doc(&spec);
        check_common(&doc, &cfg, tokenizer, false)?;
    }
}
