//! The synthetic corpus of the latency examples: a fixed-seed generator, a vocabulary of
//! 30,000 pseudo-words and a Zipf sampler over it (word frequencies close to natural
//! text), so that every run and every example indexes the same chunks.

#![allow(dead_code)] // Each example uses part of it.

use berth_index::{Acl, IndexChunk};
use std::collections::BTreeMap;

/// Distinct pseudo-words in the vocabulary.
pub const VOCABULARY: usize = 30_000;

/// Groups that restricted chunks are granted to (`team-00` …).
pub const GROUPS: usize = 50;

/// Chunks per document.
pub const CHUNKS_PER_DOCUMENT: usize = 10;

/// Chunk `i` of the corpus, drawn from `rng`: 60–200 Zipf words with sentence breaks, a
/// fifth of chunks restricted to one or two groups, a random unit vector of `dim`
/// components; its document is `doc-{i / CHUNKS_PER_DOCUMENT}`. Every example draws the
/// chunks in order from one seed, so they index the same corpus.
pub fn chunk(rng: &mut Rng, words: &[String], zipf: &Zipf, i: usize, dim: usize) -> IndexChunk {
    let len = 60 + rng.below(141);
    let mut text = String::with_capacity(len * 8);
    for w in 0..len {
        if w > 0 {
            text.push_str(if rng.below(12) == 0 { ". " } else { " " });
        }
        text.push_str(&words[zipf.sample(rng)]);
    }
    let acl = if rng.below(5) == 0 {
        let mut groups = vec![format!("team-{:02}", rng.below(GROUPS))];
        if rng.below(3) == 0 {
            groups.push(format!("team-{:02}", rng.below(GROUPS)));
        }
        Acl {
            users: vec![],
            groups,
        }
    } else {
        Acl::public()
    };
    let vector = rng.unit_vector(dim);
    let document_id = format!("doc-{}", i / CHUNKS_PER_DOCUMENT);
    IndexChunk {
        id: blake3::hash(format!("{document_id}/{i}").as_bytes()).to_hex()[..32].to_owned(),
        document_id,
        source: format!("source-{}", i % 5),
        ordinal: (i % CHUNKS_PER_DOCUMENT) as u32,
        text,
        heading_path: vec![format!("Section {}", i % 7)],
        page_start: None,
        page_end: None,
        acl,
        metadata: BTreeMap::from([("lang".to_owned(), ["en", "de"][i % 2].to_owned())]),
        vector: Some(vector),
    }
}

/// splitmix64.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn gaussian(&mut self) -> f32 {
        let u = self.uniform().max(f64::MIN_POSITIVE);
        let v = self.uniform();
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }
    pub fn unit_vector(&mut self, dim: usize) -> Vec<f32> {
        let v: Vec<f32> = (0..dim).map(|_| self.gaussian()).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / norm).collect()
    }
}

/// Pseudo-words built from syllables ("kalomi", "drevu", ...), distinct and stable.
pub fn vocabulary() -> Vec<String> {
    const ONSETS: [&str; 16] = [
        "b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "dr", "st", "tr",
    ];
    const VOWELS: [&str; 6] = ["a", "e", "i", "o", "u", "ai"];
    let syllables: Vec<String> = ONSETS
        .iter()
        .flat_map(|o| VOWELS.iter().map(move |v| format!("{o}{v}")))
        .collect();
    let n = syllables.len();
    (0..VOCABULARY)
        .map(|i| {
            let (a, b, c) = (i % n, (i / n) % n, i / (n * n));
            if c == 0 {
                format!("{}{}x", syllables[a], syllables[b])
            } else {
                format!("{}{}{}", syllables[a], syllables[b], syllables[c % n])
            }
        })
        .collect()
}

/// Samples ranks with probability ∝ 1 / rank^1.07 (a Zipf law close to natural text).
pub struct Zipf(Vec<f64>);

impl Zipf {
    pub fn new(n: usize) -> Self {
        let mut total = 0.0;
        Zipf(
            (1..=n)
                .map(|r| {
                    total += 1.0 / (r as f64).powf(1.07);
                    total
                })
                .collect(),
        )
    }
    pub fn sample(&self, rng: &mut Rng) -> usize {
        let target = rng.uniform() * self.0.last().copied().unwrap_or(0.0);
        self.0
            .partition_point(|&c| c < target)
            .min(self.0.len() - 1)
    }
}
