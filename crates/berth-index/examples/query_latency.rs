//! Query latency of the embedded index on a synthetic corpus.
//!
//! Builds an index of `--chunks N` chunks (default 100,000) of Zipf-distributed pseudo-words
//! (a vocabulary of 30,000, 60 to 200 words per chunk) with random unit vectors of
//! `--dim D` components (default 384), about 20% of them restricted to random groups, then
//! times `--queries Q` queries (default 1,000, k = 10) per mode, as an anonymous caller and
//! as a caller with three groups. The query vector is given, so embedding is not timed.
//! Prints a Markdown table.
//!
//! ```text
//! cargo run --release -p berth-index --example query_latency -- --chunks 100000 --dim 384
//! ```

use std::time::{Duration, Instant};

use berth_index::{EmbeddedIndex, Filter, Mode, Principal, Retriever, SearchRequest, VectorStore};
use synthetic::{CHUNKS_PER_DOCUMENT, Rng, Zipf, vocabulary};

mod synthetic;

const K: usize = 10;

struct Args {
    chunks: usize,
    dim: usize,
    queries: usize,
    /// Keep the index here, and reuse it if it is already there.
    dir: Option<std::path::PathBuf>,
}

fn parse_args() -> Args {
    let mut args = Args {
        chunks: 100_000,
        dim: 384,
        queries: 1_000,
        dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let raw = it.next();
        if flag == "--dir" {
            args.dir = raw.map(Into::into);
            continue;
        }
        let value = raw.and_then(|v| v.parse().ok());
        match (flag.as_str(), value) {
            ("--chunks", Some(v)) => args.chunks = v,
            ("--dim", Some(v)) => args.dim = v,
            ("--queries", Some(v)) => args.queries = v,
            _ => {
                eprintln!("usage: query_latency [--chunks N] [--dim D] [--queries Q] [--dir PATH]");
                std::process::exit(2);
            }
        }
    }
    args
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args();
    let words = vocabulary();
    let zipf = Zipf::new(words.len());
    let mut rng = Rng(42);
    let tmp = tempfile::tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().to_owned());
    let reused = EmbeddedIndex::open(&dir, Some(args.dim), Some("synthetic"))
        .ok()
        .filter(|index| index.len() == args.chunks)
        .is_some();

    let started = Instant::now();
    let mut index = if reused {
        None
    } else {
        Some(EmbeddedIndex::create(
            &dir,
            Some(args.dim),
            Some("synthetic"),
        )?)
    };
    let mut sample_vectors = Vec::new();
    let mut document = Vec::with_capacity(CHUNKS_PER_DOCUMENT);
    for i in 0..args.chunks {
        let chunk = synthetic::chunk(&mut rng, &words, &zipf, i, args.dim);
        if i % 97 == 0 {
            sample_vectors.extend(chunk.vector.clone());
        }
        let Some(index) = &mut index else {
            continue;
        };
        let document_id = chunk.document_id.clone();
        document.push(chunk);
        if document.len() == CHUNKS_PER_DOCUMENT || i + 1 == args.chunks {
            index.replace_document(&document_id, "v1", std::mem::take(&mut document))?;
        }
    }
    let written = started.elapsed();
    if let Some(index) = &mut index {
        index.commit()?;
    }
    let build = started.elapsed();
    drop(index);
    let opened = Instant::now();
    let index = EmbeddedIndex::open(&dir, Some(args.dim), Some("synthetic"))?;
    let open = opened.elapsed();
    let size = index.size_on_disk()?;

    // Queries: 2 to 5 words, Zipf-drawn but skipping the 50 most frequent (query words are
    // content words); vectors near a random chunk's vector.
    let queries: Vec<(String, Vec<f32>)> = (0..args.queries)
        .map(|_| {
            let n = 2 + rng.below(4);
            let text: Vec<&str> = (0..n)
                .map(|_| words[(50 + zipf.sample(&mut rng)).min(words.len() - 1)].as_str())
                .collect();
            let near = &sample_vectors[rng.below(sample_vectors.len())];
            let noise = rng.unit_vector(args.dim);
            let vector = near.iter().zip(&noise).map(|(a, b)| a + 0.5 * b).collect();
            (text.join(" "), vector)
        })
        .collect();

    let build = if reused {
        "reused".to_owned()
    } else {
        format!(
            "built in {:.1} s (writes {:.1} s + commit {:.1} s)",
            build.as_secs_f64(),
            written.as_secs_f64(),
            (build - written).as_secs_f64()
        )
    };
    println!(
        "Index: {} chunks, dim {}, {} documents; {build}, {:.0} MiB on disk, reopen {} ms\n",
        index.len(),
        args.dim,
        args.chunks.div_ceil(CHUNKS_PER_DOCUMENT),
        size as f64 / (1 << 20) as f64,
        ms(open)
    );
    println!("| mode | principal | p50 ms | p99 ms | mean ms | mean hits |");
    println!("|---|---|---:|---:|---:|---:|");
    let anonymous = Principal::anonymous();
    let member = Principal {
        user: Some("someone".to_owned()),
        groups: vec!["team-03".into(), "team-17".into(), "team-41".into()],
    };
    let filter = Filter::default();
    for mode in [Mode::Bm25, Mode::Dense, Mode::Hybrid] {
        for (name, principal) in [("anonymous", &anonymous), ("3 groups", &member)] {
            let mut times = Vec::with_capacity(queries.len());
            let mut hits = 0;
            for (text, vector) in &queries {
                let request = SearchRequest {
                    text,
                    vector: Some(vector),
                    principal,
                    k: K,
                    mode,
                    filter: &filter,
                };
                let t = Instant::now();
                hits += index.search(&request)?.len();
                times.push(t.elapsed());
            }
            let mean = times.iter().sum::<Duration>() / times.len().max(1) as u32;
            times.sort();
            println!(
                "| {mode} | {name} | {} | {} | {} | {:.1} |",
                ms(percentile(&times, 0.50)),
                ms(percentile(&times, 0.99)),
                ms(mean),
                hits as f64 / queries.len().max(1) as f64
            );
        }
    }
    Ok(())
}
