//! The parsers against hostile inputs and real documents.
//!
//! - Every file of `tests/hostile/` is parsed with `parse_contained` and default options,
//!   and must give what `tests/hostile/EXPECT` says: a document with text, or an error of
//!   the listed kind whose message contains the listed words. A panic that escapes a
//!   parser shows up as `Crashed`, a hang as `Timeout`: neither is expected anywhere.
//! - Cases too large to commit are generated into a temporary folder here.
//! - Every PDF of the shared evaluation set (`../shared/eval/aragog/papers`) parses, page
//!   by page, with its pages counted.

use berth_ingest::document::{BlockKind, ParsedDocument};
use berth_ingest::parsers::{
    Format, ParseError, ParseErrorKind, ParseOptions, RawDocument, parse_contained,
};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const HOSTILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/hostile");
const PAPERS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/eval/aragog/papers"
);

/// Parses a file as the runner would: format from its name, default options.
fn parse_file(path: &Path, options: &ParseOptions) -> Result<ParsedDocument, ParseError> {
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let format = Format::detect(&name, None).unwrap_or_else(|| panic!("no format for {name}"));
    let raw = RawDocument {
        path: name,
        bytes: std::fs::read(path).unwrap(),
        content_type: None,
    };
    parse_contained(format, raw, options)
}

fn kind_name(kind: ParseErrorKind) -> String {
    serde_json::to_value(kind)
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

/// One line of `EXPECT`.
struct Expect {
    file: String,
    outcome: String,
    words: String,
}

fn expectations() -> Vec<Expect> {
    let text = std::fs::read_to_string(Path::new(HOSTILE).join("EXPECT")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut parts = l.split('\t');
            Expect {
                file: parts.next().unwrap().to_string(),
                outcome: parts.next().unwrap().to_string(),
                words: parts.next().unwrap_or_default().to_string(),
            }
        })
        .collect()
}

/// Checks one result against its expectation; `Err` says what went wrong.
fn check(expect: &Expect, result: &Result<ParsedDocument, ParseError>) -> Result<(), String> {
    match (expect.outcome.as_str(), result) {
        ("ok", Ok(doc)) if !doc.is_empty() => Ok(()),
        ("ok", Ok(_)) => Err("parsed, but with no text".into()),
        (_, Ok(doc)) => Err(format!(
            "expected {}, got a document of {} bytes",
            expect.outcome,
            doc.text.len()
        )),
        (want, Err(e)) if kind_name(e.kind) == want && e.message.contains(&expect.words) => Ok(()),
        (want, Err(e)) => Err(format!(
            "expected {want} containing {:?}, got {}: {}",
            expect.words,
            kind_name(e.kind),
            e.message
        )),
    }
}

/// Runs `f` over `items` on two threads (the machines have two cores).
fn in_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let half = items.len().div_ceil(2);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(half.max(1))
            .map(|chunk| s.spawn(|| chunk.iter().map(&f).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

#[test]
fn every_hostile_file_fails_cleanly_or_parses() {
    let expected = expectations();
    // Every corpus file is listed, and every listed file exists.
    let mut files: Vec<String> = std::fs::read_dir(HOSTILE)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| !matches!(n.as_str(), "EXPECT" | "README.md" | "generate.py"))
        .collect();
    files.sort();
    let mut listed: Vec<String> = expected.iter().map(|e| e.file.clone()).collect();
    listed.sort();
    assert_eq!(files, listed, "tests/hostile and its EXPECT disagree");
    assert!(files.len() >= 50, "only {} hostile files", files.len());

    let options = ParseOptions::default();
    let results = in_parallel(&expected, |e| {
        let start = Instant::now();
        let result = parse_file(&Path::new(HOSTILE).join(&e.file), &options);
        (result, start.elapsed())
    });
    let mut failures = Vec::new();
    for (e, (result, took)) in expected.iter().zip(&results) {
        let shown = match result {
            Ok(d) => format!("ok ({} bytes of text)", d.text.len()),
            Err(err) => format!("{}: {}", kind_name(err.kind), err.message),
        };
        println!("{:<38} {:>6} ms  {shown}", e.file, took.as_millis());
        if let Err(why) = check(e, result) {
            failures.push(format!("{}: {why}", e.file));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The bytes of a .docx with `extra` empty entries besides its document.
fn docx_with_entries(extra: usize) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    w.start_file("word/document.xml", opts).unwrap();
    w.write_all(
        b"<w:document xmlns:w=\"w\"><w:body><w:p><w:r><w:t>hi</w:t></w:r></w:p></w:body></w:document>",
    )
    .unwrap();
    for i in 0..extra {
        w.start_file(format!("x/{i}"), opts).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn large_hostile_cases_generated_at_test_time() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| -> PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let options = ParseOptions::default();

    // 100,000 nested <div>s: no stack overflow, and quickly.
    let n = 100_000;
    let html = format!(
        "<html><body>{}deep text{}</body></html>",
        "<div>".repeat(n),
        "</div>".repeat(n)
    );
    let start = Instant::now();
    let doc = parse_file(&write("deep.html", html.as_bytes()), &options).unwrap();
    assert_eq!(doc.text, "deep text");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );

    // A 100 MB single line: over the default limit; read whole under a raised one.
    let line = "lorem ipsum ".repeat(100 * 1024 * 1024 / 12);
    let path = write("line.txt", line.as_bytes());
    let err = parse_file(&path, &options).unwrap_err();
    assert_eq!(err.kind, ParseErrorKind::TooLarge);
    assert!(
        err.message.contains("over the 50.0 MB limit"),
        "{}",
        err.message
    );
    let raised = ParseOptions {
        max_bytes: 200 * 1024 * 1024,
        ..ParseOptions::default()
    };
    let doc = parse_file(&path, &raised).unwrap();
    assert_eq!(doc.blocks.len(), 1);
    assert_eq!(doc.text.len(), line.trim_end().len());
    drop(line);

    // A .docx with 20,000 zip entries.
    let err = parse_file(&write("many.docx", &docx_with_entries(20_000)), &options).unwrap_err();
    assert_eq!(err.kind, ParseErrorKind::TooLarge);
    assert!(err.message.contains("20001 zip entries"), "{}", err.message);
    // ...while a few are fine.
    let doc = parse_file(&write("few.docx", &docx_with_entries(50)), &options).unwrap();
    assert_eq!(doc.text, "hi");

    // JSON nested 1,000,000 deep.
    let bomb = format!("{}{}", "[".repeat(1_000_000), "]".repeat(1_000_000));
    let err = parse_file(&write("bomb.json", bomb.as_bytes()), &options).unwrap_err();
    assert_eq!(err.kind, ParseErrorKind::Corrupt);
    assert!(
        err.message.starts_with("JSON nested too deeply"),
        "{}",
        err.message
    );
}

#[test]
fn every_format_refuses_binary_or_damage_with_a_message() {
    // The registry: each format has a real parser (none answers "unsupported").
    for format in Format::ALL {
        let raw = RawDocument {
            path: format!("x.{}", format.name()),
            bytes: b"\x00\x01\x02\x03binary\xff\xfe\x00garbage".to_vec(),
            content_type: None,
        };
        let err = parse_contained(format, raw, &ParseOptions::default()).unwrap_err();
        assert_eq!(
            err.kind,
            ParseErrorKind::Corrupt,
            "{format:?}: {}",
            err.message
        );
        assert!(!err.message.is_empty());
    }
}

#[test]
fn every_aragog_paper_parses_with_its_pages() {
    let mut papers: Vec<PathBuf> = std::fs::read_dir(PAPERS)
        .unwrap_or_else(|e| panic!("the evaluation papers must be at {PAPERS}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pdf"))
        .collect();
    papers.sort();
    assert!(papers.len() >= 15, "only {} papers", papers.len());
    let options = ParseOptions::default();
    let start = Instant::now();
    let results = in_parallel(&papers, |p| {
        let t = Instant::now();
        (parse_file(p, &options), t.elapsed())
    });
    let wall = start.elapsed();
    let mut total_pages = 0;
    for (path, (result, took)) in papers.iter().zip(results) {
        let name = path.file_name().unwrap().to_string_lossy();
        let doc = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        let pages = doc.pages.unwrap_or_else(|| panic!("{name}: no page count"));
        assert!(pages > 0, "{name}");
        // Blocks are on pages 1..=pages, in order, and most pages have text.
        let on: Vec<u32> = doc.blocks.iter().map(|b| b.page.unwrap()).collect();
        assert!(
            on.windows(2).all(|w| w[0] <= w[1]),
            "{name}: pages out of order"
        );
        assert!(on.iter().all(|p| (1..=pages).contains(p)), "{name}");
        let mut with_text = on.clone();
        with_text.dedup();
        assert!(
            with_text.len() * 10 >= pages as usize * 8,
            "{name}: {with_text:?}"
        );
        assert!(doc.blocks.iter().all(|b| b.kind == BlockKind::Paragraph));
        // Ligatures are folded.
        assert!(!doc.text.contains(['\u{FB01}', '\u{FB02}']), "{name}");
        println!(
            "{name:<24} {pages:>3} pages {:>7} chars {:>6} ms",
            doc.text.len(),
            took.as_millis()
        );
        total_pages += pages;
    }
    println!(
        "{} papers, {total_pages} pages in {} ms (two threads)",
        papers.len(),
        wall.as_millis()
    );
}
