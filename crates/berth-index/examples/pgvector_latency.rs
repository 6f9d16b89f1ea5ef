//! Query latency of the pgvector store beside the embedded index, on one synthetic corpus,
//! in one run.
//!
//! Generates `--chunks N` chunks (default 100,000) exactly as `query_latency` does
//! (Zipf-distributed pseudo-words, 60 to 200 per chunk, 10 chunks per document, random
//! unit vectors of `--dim D` components, default 384, about 20% of chunks restricted to
//! random groups), loads them into both stores, then times `--queries Q` queries (default
//! 300, k = 10) per mode and principal on each store, after 20 unmeasured warm-up queries.
//! It also measures dense recall@10 of both stores against an exact scan (anonymous
//! caller). Prints Markdown tables.
//!
//! PostgreSQL comes from `--url` (default `postgres://postgres@127.0.0.1:55432/postgres`,
//! the server of `bench/pg/start.sh`); the example creates the database
//! `berth_pgvector_bench` there if missing and (re)creates its tables in schema
//! `bench_latency`.
//!
//! ```text
//! cargo run --release -p berth-index --example pgvector_latency -- --chunks 100000
//! ```

use std::time::{Duration, Instant};

use berth_index::{
    EmbeddedIndex, Filter, IndexChunk, Mode, PgVectorStore, Principal, Retriever, SearchRequest,
    VectorStore,
};
use synthetic::{CHUNKS_PER_DOCUMENT, Rng, Zipf, vocabulary};

mod synthetic;

const K: usize = 10;
const WARM_UP: usize = 20;
const DATABASE: &str = "berth_pgvector_bench";
const SCHEMA: &str = "bench_latency";

struct Args {
    chunks: usize,
    dim: usize,
    queries: usize,
    url: String,
}

fn parse_args() -> Args {
    let mut args = Args {
        chunks: 100_000,
        dim: 384,
        queries: 300,
        url: "postgres://postgres@127.0.0.1:55432/postgres".to_owned(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let raw = it.next();
        if flag == "--url"
            && let Some(url) = raw
        {
            args.url = url;
            continue;
        }
        let value = raw.and_then(|v| v.parse().ok());
        match (flag.as_str(), value) {
            ("--chunks", Some(v)) => args.chunks = v,
            ("--dim", Some(v)) => args.dim = v,
            ("--queries", Some(v)) => args.queries = v,
            _ => {
                eprintln!(
                    "usage: pgvector_latency [--chunks N] [--dim D] [--queries Q] [--url URL]"
                );
                std::process::exit(2);
            }
        }
    }
    args
}

/// The corpus of `query_latency` (same seed, same draws), grouped by document, and every
/// 97th vector as a seed for queries.
fn corpus(args: &Args, words: &[String], zipf: &Zipf, rng: &mut Rng) -> Corpus {
    let mut documents = Vec::new();
    let mut sample_vectors = Vec::new();
    let mut document = Vec::with_capacity(CHUNKS_PER_DOCUMENT);
    for i in 0..args.chunks {
        let chunk = synthetic::chunk(rng, words, zipf, i, args.dim);
        if i % 97 == 0 {
            sample_vectors.extend(chunk.vector.clone());
        }
        let document_id = chunk.document_id.clone();
        document.push(chunk);
        if document.len() == CHUNKS_PER_DOCUMENT || i + 1 == args.chunks {
            documents.push((document_id, std::mem::take(&mut document)));
        }
    }
    Corpus {
        documents,
        sample_vectors,
    }
}

struct Corpus {
    documents: Vec<(String, Vec<IndexChunk>)>,
    sample_vectors: Vec<Vec<f32>>,
}

/// Writes every document, commits; returns (writing, committing) times.
fn load(
    store: &mut impl VectorStore,
    corpus: &Corpus,
) -> Result<(Duration, Duration), Box<dyn std::error::Error>> {
    let started = Instant::now();
    for (document_id, chunks) in &corpus.documents {
        store.replace_document(document_id, "v1", chunks.clone())?;
    }
    let written = started.elapsed();
    store.commit()?;
    Ok((written, started.elapsed() - written))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn secs(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64())
}

/// Times the queries on one store: (p50, p99, mean hits).
fn time_queries(
    store: &dyn Retriever,
    queries: &[(String, Vec<f32>)],
    principal: &Principal,
    mode: Mode,
) -> Result<(Duration, Duration, f64), Box<dyn std::error::Error>> {
    let filter = Filter::default();
    let request = |text: &'_ str,
                   vector: &'_ [f32]|
     -> Result<(Duration, usize), Box<dyn std::error::Error>> {
        let t = Instant::now();
        let hits = store
            .search(&SearchRequest {
                text,
                vector: Some(vector),
                principal,
                k: K,
                mode,
                filter: &filter,
            })?
            .len();
        Ok((t.elapsed(), hits))
    };
    for (text, vector) in queries.iter().take(WARM_UP) {
        request(text, vector)?;
    }
    let mut times = Vec::with_capacity(queries.len());
    let mut hits = 0;
    for (text, vector) in queries {
        let (time, n) = request(text, vector)?;
        times.push(time);
        hits += n;
    }
    times.sort();
    Ok((
        percentile(&times, 0.50),
        percentile(&times, 0.99),
        hits as f64 / queries.len().max(1) as f64,
    ))
}

/// The exact top 10 (cosine) among public chunks, per query: what an anonymous caller's
/// dense search should return.
fn exact_tops<'a>(corpus: &'a Corpus, queries: &[(String, Vec<f32>)]) -> Vec<Vec<&'a str>> {
    let public: Vec<(&str, &[f32])> = corpus
        .documents
        .iter()
        .flat_map(|(_, chunks)| chunks)
        .filter(|c| c.acl.is_public())
        .filter_map(|c| Some((c.id.as_str(), c.vector.as_deref()?)))
        .collect();
    queries
        .iter()
        .map(|(_, query)| {
            let mut scored: Vec<(f32, &str)> = public
                .iter()
                .map(|(id, v)| (v.iter().zip(query).map(|(a, b)| a * b).sum::<f32>(), *id))
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0));
            scored.iter().take(K).map(|(_, id)| *id).collect()
        })
        .collect()
}

/// Mean share of the exact top 10 that a store's dense search returns to an anonymous
/// caller.
fn dense_recall(
    store: &dyn Retriever,
    queries: &[(String, Vec<f32>)],
    exact: &[Vec<&str>],
) -> Result<f64, Box<dyn std::error::Error>> {
    let anonymous = Principal::anonymous();
    let filter = Filter::default();
    let mut found = 0usize;
    for ((_, query), exact) in queries.iter().zip(exact) {
        let hits = store.search(&SearchRequest {
            text: "",
            vector: Some(query),
            principal: &anonymous,
            k: K,
            mode: Mode::Dense,
            filter: &filter,
        })?;
        found += hits
            .iter()
            .filter(|h| exact.contains(&h.chunk_id.as_str()))
            .count();
    }
    Ok(found as f64 / (queries.len() * K).max(1) as f64)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args();
    let words = vocabulary();
    let zipf = Zipf::new(words.len());
    let mut rng = Rng(42);
    let corpus = corpus(&args, &words, &zipf, &mut rng);
    // Queries: 2 to 5 words, Zipf-drawn but skipping the 50 most frequent (query words are
    // content words); vectors near a random chunk's vector.
    let queries: Vec<(String, Vec<f32>)> = (0..args.queries)
        .map(|_| {
            let n = 2 + rng.below(4);
            let text: Vec<&str> = (0..n)
                .map(|_| words[(50 + zipf.sample(&mut rng)).min(words.len() - 1)].as_str())
                .collect();
            let near = &corpus.sample_vectors[rng.below(corpus.sample_vectors.len())];
            let noise = rng.unit_vector(args.dim);
            let vector = near.iter().zip(&noise).map(|(a, b)| a + 0.5 * b).collect();
            (text.join(" "), vector)
        })
        .collect();

    // The embedded index.
    let dir = tempfile::tempdir()?;
    let mut embedded = EmbeddedIndex::create(dir.path(), Some(args.dim), Some("synthetic"))?;
    let (e_write, e_commit) = load(&mut embedded, &corpus)?;

    // pgvector, in its own database.
    let mut admin = postgres::Client::connect(&args.url, postgres::NoTls)?;
    if admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&DATABASE])?
        .is_none()
    {
        admin.batch_execute(&format!("CREATE DATABASE {DATABASE}"))?;
    }
    drop(admin);
    let mut config: postgres::Config = args.url.parse()?;
    config.dbname(DATABASE);
    let pg_url = database_url(&args.url, DATABASE);
    let mut pg = PgVectorStore::create(&pg_url, SCHEMA, args.dim)?;
    let (p_write, p_commit) = load(&mut pg, &corpus)?;
    let analyzed = Instant::now();
    pg.analyze()?;
    let p_analyze = analyzed.elapsed();
    let size: i64 = config
        .connect(postgres::NoTls)?
        .query_one(
            &format!("SELECT pg_total_relation_size('{SCHEMA}.chunks')"),
            &[],
        )?
        .get(0);

    println!(
        "Corpus: {} chunks, dim {}, {} documents, {} queries (k = {K}).\n",
        args.chunks,
        args.dim,
        corpus.documents.len(),
        queries.len()
    );
    println!("| store | load s | writes s | commit s | analyze s | size MiB |");
    println!("|---|---:|---:|---:|---:|---:|");
    println!(
        "| embedded | {} | {} | {} | – | {:.0} |",
        secs(e_write + e_commit),
        secs(e_write),
        secs(e_commit),
        embedded.size_on_disk()? as f64 / (1 << 20) as f64
    );
    println!(
        "| pgvector | {} | {} | {} | {} | {:.0} |",
        secs(p_write + p_commit + p_analyze),
        secs(p_write),
        secs(p_commit),
        secs(p_analyze),
        size as f64 / (1 << 20) as f64
    );

    let anonymous = Principal::anonymous();
    let member = Principal {
        user: Some("someone".to_owned()),
        groups: vec!["team-03".into(), "team-17".into(), "team-41".into()],
    };
    println!(
        "\n| mode | principal | embedded p50 ms | embedded p99 ms | pgvector p50 ms | pgvector p99 ms | hits (embedded / pgvector) |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for mode in [Mode::Hybrid, Mode::Bm25, Mode::Dense] {
        for (name, principal) in [("anonymous", &anonymous), ("3 groups", &member)] {
            let (e50, e99, e_hits) = time_queries(&embedded, &queries, principal, mode)?;
            let (p50, p99, p_hits) = time_queries(&pg, &queries, principal, mode)?;
            println!(
                "| {mode} | {name} | {} | {} | {} | {} | {e_hits:.1} / {p_hits:.1} |",
                ms(e50),
                ms(e99),
                ms(p50),
                ms(p99)
            );
        }
    }
    let exact = exact_tops(&corpus, &queries);
    println!(
        "\nDense recall@{K} against an exact scan (anonymous): embedded {:.3}, pgvector {:.3}",
        dense_recall(&embedded, &queries, &exact)?,
        dense_recall(&pg, &queries, &exact)?
    );
    Ok(())
}

/// The URL with its database replaced (URL form only; the key-value form gets `dbname`).
fn database_url(url: &str, database: &str) -> String {
    match url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    {
        Some(rest) => {
            let (main, query) = match rest.split_once('?') {
                Some((main, query)) => (main, format!("?{query}")),
                None => (rest, String::new()),
            };
            let authority = main.split_once('/').map_or(main, |(a, _)| a);
            format!("postgres://{authority}/{database}{query}")
        }
        None => format!("{url} dbname={database}"),
    }
}
