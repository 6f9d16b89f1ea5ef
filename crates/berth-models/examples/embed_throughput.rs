//! Embedding throughput of the built-in embedder, printed as one JSON line.
//!
//! ```text
//! cargo run --release -p berth-models --example embed_throughput -- \
//!     --model-dir .models/all-MiniLM-L6-v2 --texts corpus.jsonl --limit 2000 --batch-size 32
//! ```
//!
//! `--texts` is JSON Lines with a `text` field (a BEIR corpus). The first 64 texts warm up
//! the model; the timed run embeds `--limit` texts.

use berth_models::{BuiltinEmbedder, BuiltinOptions, Embedder};
use std::io::BufRead;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut model_dir = String::from(".models/all-MiniLM-L6-v2");
    let mut texts_path = None;
    let mut limit = 2000usize;
    let mut batch_size = 32usize;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--model-dir" => model_dir = value()?,
            "--texts" => texts_path = Some(value()?),
            "--limit" => limit = value()?.parse()?,
            "--batch-size" => batch_size = value()?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let texts_path = texts_path.ok_or("--texts FILE is required")?;
    let mut texts = Vec::new();
    for line in std::io::BufReader::new(std::fs::File::open(&texts_path)?).lines() {
        let value: serde_json::Value = serde_json::from_str(&line?)?;
        if let Some(t) = value.get("text").and_then(|t| t.as_str()) {
            texts.push(t.to_string());
        }
        if texts.len() == limit {
            break;
        }
    }
    let options = BuiltinOptions {
        batch_size,
        ..BuiltinOptions::default()
    };
    let embedder = BuiltinEmbedder::load(&model_dir, &options)?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    embedder.embed(&refs[..refs.len().min(64)])?;
    let started = Instant::now();
    let vectors = embedder.embed(&refs)?;
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(vectors.len(), refs.len());
    println!(
        "{}",
        serde_json::json!({
            "engine": "berth",
            "version": env!("CARGO_PKG_VERSION"),
            "texts": refs.len(),
            "batch_size": batch_size,
            "threads": rayon::current_num_threads(),
            "seconds": seconds,
            "per_second": refs.len() as f64 / seconds,
        })
    );
    Ok(())
}
