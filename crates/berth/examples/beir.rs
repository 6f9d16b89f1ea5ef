//! Retrieval quality on a BEIR-layout data set: indexes the corpus with berth's built-in
//! index and embedder, runs every query in BM25, dense and hybrid mode, and writes the
//! ranked lists (top 100) as JSON for `bench/retrieval/eval.py`, which scores them beside
//! independent implementations.
//!
//! ```text
//! cargo run --release -p berth --example beir -- --data ../shared/eval/msmarco-5k \
//!     --model-dir .models/all-MiniLM-L6-v2 --out target/bench/berth-runs.json
//! ```

use berth_index::{
    Acl, EmbeddedIndex, Filter, IndexChunk, Mode, Principal, Retriever, SearchRequest, VectorStore,
};
use berth_models::{BuiltinEmbedder, BuiltinOptions, Embedder};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Instant;

const DEPTH: usize = 100;

/// Ranked `(document id, score)` lists by query id.
type Run = BTreeMap<String, Vec<(String, f32)>>;

fn read_jsonl(path: &Path) -> Result<Vec<Value>, Box<dyn std::error::Error>> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            serde_json::from_str(&line)
                .map_err(|e| format!("{}:{}: {e}", path.display(), n + 1))?,
        );
    }
    Ok(out)
}

fn field<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut data = PathBuf::from("../shared/eval/msmarco-5k");
    let mut model_dir = String::from(".models/all-MiniLM-L6-v2");
    let mut out = PathBuf::from("target/bench/berth-runs.json");
    let mut batch_size = 32;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--data" => data = value()?.into(),
            "--model-dir" => model_dir = value()?,
            "--out" => out = value()?.into(),
            "--batch-size" => batch_size = value()?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let corpus = read_jsonl(&data.join("corpus.jsonl"))?;
    let queries = read_jsonl(&data.join("queries.jsonl"))?;
    let texts: Vec<String> = corpus
        .iter()
        .map(|d| match field(d, "title") {
            "" => field(d, "text").to_string(),
            title => format!("{title} {}", field(d, "text")),
        })
        .collect();

    let options = BuiltinOptions {
        batch_size,
        ..BuiltinOptions::default()
    };
    let embedder = BuiltinEmbedder::load(&model_dir, &options)?;
    let started = Instant::now();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let vectors = embedder.embed(&refs)?;
    let embed_seconds = started.elapsed().as_secs_f64();
    eprintln!("embedded {} passages in {embed_seconds:.1} s", refs.len());

    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    let dimension = embedder.dimension()?;
    let mut index = EmbeddedIndex::create(dir.path(), Some(dimension), Some(embedder.model()))?;
    for ((doc, text), vector) in corpus.iter().zip(&texts).zip(vectors) {
        let id = field(doc, "_id").to_string();
        let chunk = IndexChunk {
            id: id.clone(),
            document_id: id.clone(),
            source: "corpus".into(),
            ordinal: 0,
            text: text.clone(),
            heading_path: Vec::new(),
            page_start: None,
            page_end: None,
            acl: Acl::default(),
            metadata: BTreeMap::new(),
            vector: Some(vector),
        };
        index.replace_document(&id, "1", vec![chunk])?;
    }
    index.commit()?;
    let index_seconds = started.elapsed().as_secs_f64();

    let principal = Principal::anonymous();
    let filter = Filter::default();
    let mut runs: BTreeMap<&str, Run> = BTreeMap::new();
    let mut query_seconds: BTreeMap<&str, f64> = BTreeMap::new();
    for q in &queries {
        let text = field(q, "text");
        let vector = embedder.embed(&[text])?.remove(0);
        for mode in [Mode::Bm25, Mode::Dense, Mode::Hybrid] {
            let request = SearchRequest {
                text,
                vector: Some(&vector),
                principal: &principal,
                k: DEPTH,
                mode,
                filter: &filter,
            };
            let started = Instant::now();
            let hits = index.search(&request)?;
            *query_seconds.entry(mode.as_str()).or_default() += started.elapsed().as_secs_f64();
            runs.entry(mode.as_str()).or_default().insert(
                field(q, "_id").to_string(),
                hits.into_iter().map(|h| (h.document_id, h.score)).collect(),
            );
        }
    }
    let report = json!({
        "system": "berth",
        "version": env!("CARGO_PKG_VERSION"),
        "model": embedder.model(),
        "runs": runs,
        "timings": {
            "passages": texts.len(),
            "embed_seconds": embed_seconds,
            "index_seconds": index_seconds,
            "query_seconds_per_mode": query_seconds,
            "queries": queries.len(),
        },
    });
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&out, serde_json::to_string(&report)?)?;
    eprintln!("wrote {}", out.display());
    Ok(())
}
