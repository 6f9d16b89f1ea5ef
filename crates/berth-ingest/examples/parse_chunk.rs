//! Parse + chunk throughput over a directory, without the state store: the part of
//! ingestion the peers (LangChain, LlamaIndex) also do. Used by `bench/ingest/run.py`.
//!
//!     cargo run --release -p berth-ingest --example parse_chunk -- DIR [THREADS]
//!
//! Prints one JSON line: files, bytes, chunks, failed, seconds.

use berth_ingest::chunkers;
use berth_ingest::parsers::{Format, ParseOptions, RawDocument, parse_contained};
use berth_ingest::tokenize::WordTokenizer;
use berth_stack::plan::PlannedChunk;
use berth_stack::stack::ChunkStrategy;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("usage: parse_chunk DIR [THREADS]");
    let threads: usize = args.next().and_then(|t| t.parse().ok()).unwrap_or(2);
    let files: Vec<std::path::PathBuf> = walkdir::WalkDir::new(&dir)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    let plan = PlannedChunk {
        strategy: ChunkStrategy::Recursive,
        max_tokens: 400,
        overlap: 40,
        tokenizer: None,
        separators: vec![],
        window: None,
        parent_max_tokens: None,
    };
    let chunker = chunkers::build(&plan, Arc::new(WordTokenizer));
    let options = ParseOptions::default();
    let (next, chunks, bytes, failed) = (
        AtomicUsize::new(0),
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicU64::new(0),
    );
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while let Some(path) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let data = std::fs::read(path).expect("readable");
                    bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
                    let name = path.to_string_lossy().into_owned();
                    let Some(format) = Format::detect(&name, None) else {
                        continue;
                    };
                    let raw = RawDocument {
                        path: name,
                        bytes: data,
                        content_type: None,
                    };
                    match parse_contained(format, raw, &options) {
                        Ok(doc) => {
                            chunks.fetch_add(chunker.chunk(&doc).len() as u64, Ordering::Relaxed);
                        }
                        Err(_) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    println!(
        "{{\"files\": {}, \"bytes\": {}, \"chunks\": {}, \"failed\": {}, \"seconds\": {:.4}}}",
        files.len(),
        bytes.load(Ordering::Relaxed),
        chunks.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
        start.elapsed().as_secs_f64()
    );
}
