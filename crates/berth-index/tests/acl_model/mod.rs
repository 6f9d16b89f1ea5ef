//! The permission property shared by every store's tests (`acl_props.rs` for the
//! embedded store, `pgvector.rs` for PostgreSQL): permission filtering is exact in every
//! mode.
//!
//! Random corpora (texts over a small vocabulary, random vectors, random ACLs over a few
//! users and groups, public chunks included, two sources, one metadata field) are indexed,
//! then random principals run random queries in all three modes. Against an independent
//! model of the ACL rules (written out below, not `Principal::can_see`), each query must
//! return
//!
//! 1. no chunk the principal may not see or the filter excludes, and
//! 2. exactly `min(k, n)` hits, where `n` counts the permitted chunks that can match:
//!    those sharing a query word for BM25, all of them for dense, and the union (all of
//!    them) for hybrid.
//!
//! A store plugs in through [`Subject`]; [`run_case`] is the whole property for one seed.

#![allow(dead_code)] // Each test binary that includes this module uses part of it.

use std::collections::{BTreeMap, BTreeSet};

use berth_index::{
    Acl, Filter, IndexChunk, Mode, Principal, Retriever, SearchRequest, VectorStore,
};
use proptest::prelude::*;

/// The vector dimension of every corpus.
pub const DIM: usize = 8;
/// Words that are no stop words and stem to themselves (checked in `vocabulary_is_plain`),
/// so "contains a query term" is plain word membership.
pub const VOCABULARY: [&str; 16] = [
    "cat", "dog", "fish", "bird", "tree", "rock", "sun", "moon", "star", "road", "car", "book",
    "pen", "cup", "box", "hat",
];
const USERS: [&str; 4] = ["ann", "bob", "cyd", "dan"];
const GROUPS: [&str; 4] = ["eng", "ops", "hr", "law"];
const SOURCES: [&str; 2] = ["wiki", "jira"];
const LANGS: [&str; 2] = ["en", "de"];

/// splitmix64: a tiny deterministic generator, so a failing seed reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
    fn subset<'a>(&mut self, items: &[&'a str], percent: u64) -> Vec<&'a str> {
        items
            .iter()
            .copied()
            .filter(|_| self.chance(percent))
            .collect()
    }
    fn vector(&mut self) -> Vec<f32> {
        loop {
            let v: Vec<f32> = (0..DIM).map(|_| self.unit()).collect();
            if v.iter().map(|x| x * x).sum::<f32>() > 0.01 {
                return v;
            }
        }
    }
}

/// The model of one chunk.
#[derive(Debug, Clone)]
struct Model {
    id: String,
    document: usize,
    words: BTreeSet<&'static str>,
    users: Vec<&'static str>,
    groups: Vec<&'static str>,
    source: &'static str,
    lang: Option<&'static str>,
}

/// Visibility, restated from the specification: public when the ACL lists nobody,
/// otherwise the user must be listed or share a group.
fn model_visible(chunk: &Model, user: Option<&str>, groups: &[&str]) -> bool {
    if chunk.users.is_empty() && chunk.groups.is_empty() {
        return true;
    }
    if let Some(user) = user {
        for u in &chunk.users {
            if *u == user {
                return true;
            }
        }
    }
    for g in groups {
        for h in &chunk.groups {
            if g == h {
                return true;
            }
        }
    }
    false
}

fn model_passes(chunk: &Model, sources: &[&str], lang: Option<&str>) -> bool {
    (sources.is_empty() || sources.contains(&chunk.source))
        && lang.is_none_or(|l| chunk.lang == Some(l))
}

fn corpus(rng: &mut Rng, chunks: usize, public_percent: u64) -> (Vec<Model>, Vec<IndexChunk>) {
    let documents = 1 + rng.below(6);
    let mut models = Vec::with_capacity(chunks);
    let mut index_chunks = Vec::with_capacity(chunks);
    for i in 0..chunks {
        let document = rng.below(documents);
        let len = 1 + rng.below(6);
        let words: Vec<&'static str> = (0..len)
            .map(|_| VOCABULARY[rng.below(VOCABULARY.len())])
            .collect();
        let (users, groups) = if rng.chance(public_percent) {
            (vec![], vec![])
        } else {
            loop {
                let users = rng.subset(&USERS[..3], 30);
                let groups = rng.subset(&GROUPS[..3], 35);
                if !users.is_empty() || !groups.is_empty() {
                    break (users, groups);
                }
            }
        };
        let source = SOURCES[rng.below(2)];
        let lang = rng.chance(70).then(|| LANGS[rng.below(2)]);
        let model = Model {
            id: format!("{i:04x}-{}", rng.next() % 1000),
            document,
            words: words.iter().copied().collect(),
            users,
            groups,
            source,
            lang,
        };
        index_chunks.push(IndexChunk {
            id: model.id.clone(),
            document_id: format!("doc{document}"),
            source: source.to_owned(),
            ordinal: i as u32,
            // Punctuation and a stop word around the words, to go through the analyzer.
            text: format!("The {}.", words.join(", ")),
            heading_path: vec![],
            page_start: None,
            page_end: None,
            acl: Acl {
                users: model.users.iter().map(|s| s.to_string()).collect(),
                groups: model.groups.iter().map(|s| s.to_string()).collect(),
            },
            metadata: lang
                .map(|l| BTreeMap::from([("lang".to_owned(), l.to_owned())]))
                .unwrap_or_default(),
            vector: Some(rng.vector()),
        });
        models.push(model);
    }
    (models, index_chunks)
}

fn write_all(index: &mut impl VectorStore, chunks: Vec<IndexChunk>) {
    let mut by_document: BTreeMap<String, Vec<IndexChunk>> = BTreeMap::new();
    for chunk in chunks {
        by_document
            .entry(chunk.document_id.clone())
            .or_default()
            .push(chunk);
    }
    for (document, chunks) in by_document {
        index.replace_document(&document, "1", chunks).unwrap();
    }
    index.commit().unwrap();
}

/// Runs `queries` random queries and checks both properties; returns how many ran.
fn check_queries(
    index: &impl Retriever,
    models: &[Model],
    rng: &mut Rng,
    queries: usize,
) -> Result<usize, TestCaseError> {
    for _ in 0..queries {
        let user = rng.chance(60).then(|| USERS[rng.below(USERS.len())]);
        let groups = rng.subset(&GROUPS, 30);
        let words: Vec<&str> = (0..rng.below(4))
            .map(|_| VOCABULARY[rng.below(VOCABULARY.len())])
            .collect();
        let text = if rng.chance(20) {
            format!("what is the {}?", words.join(" or "))
        } else {
            words.join(" ")
        };
        let sources = if rng.chance(25) {
            rng.subset(&SOURCES, 50)
        } else {
            vec![]
        };
        let lang = rng.chance(25).then(|| LANGS[rng.below(2)]);
        let k = match rng.below(10) {
            0 => 0,
            1 => 1000,
            _ => 1 + rng.below(20),
        };
        let mode = [Mode::Bm25, Mode::Dense, Mode::Hybrid][rng.below(3)];
        let vector = rng.vector();

        let principal = Principal {
            user: user.map(str::to_owned),
            groups: groups.iter().map(|s| s.to_string()).collect(),
        };
        let filter = Filter {
            sources: sources.iter().map(|s| s.to_string()).collect(),
            metadata: lang
                .map(|l| ("lang".to_owned(), l.to_owned()))
                .into_iter()
                .collect(),
        };
        let hits = index
            .search(&SearchRequest {
                text: &text,
                vector: Some(&vector),
                principal: &principal,
                k,
                mode,
                filter: &filter,
            })
            .map_err(|e| TestCaseError::fail(format!("search failed: {e}")))?;

        let permitted: Vec<&Model> = models
            .iter()
            .filter(|m| model_visible(m, user, &groups) && model_passes(m, &sources, lang))
            .collect();
        let matching = permitted
            .iter()
            .filter(|m| words.iter().any(|w| m.words.contains(w)))
            .count();
        let expected = match mode {
            Mode::Bm25 => matching,
            Mode::Dense | Mode::Hybrid => permitted.len(),
        };
        let context = || {
            format!(
                "{mode} k={k} text={text:?} user={user:?} groups={groups:?} sources={sources:?} lang={lang:?}"
            )
        };

        let allowed: BTreeSet<&str> = permitted.iter().map(|m| m.id.as_str()).collect();
        for hit in &hits {
            prop_assert!(
                allowed.contains(hit.chunk_id.as_str()),
                "{} returned {} which it may not see",
                context(),
                hit.chunk_id
            );
        }
        prop_assert_eq!(hits.len(), k.min(expected), "{}", context());
        let unique: BTreeSet<&str> = hits.iter().map(|h| h.chunk_id.as_str()).collect();
        prop_assert_eq!(unique.len(), hits.len(), "duplicate hits: {}", context());
        for pair in hits.windows(2) {
            prop_assert!(pair[0].score >= pair[1].score, "unsorted: {}", context());
        }
        if mode == Mode::Bm25 {
            for (i, hit) in hits.iter().enumerate() {
                prop_assert_eq!(hit.bm25_rank, Some(i + 1));
            }
        }
    }
    Ok(queries)
}

/// A store under test: how to make an empty one, reopen it, and count its chunks.
pub trait Subject {
    /// The store.
    type Store: VectorStore;
    /// A new, empty store of dimension [`DIM`].
    fn create(&mut self) -> Self::Store;
    /// Closes `store` and opens it again from what it committed.
    fn reopen(&mut self, store: Self::Store) -> Self::Store;
    /// How many chunks it holds, committed.
    fn count(&self, store: &Self::Store) -> usize;
}

/// Indexes a corpus, checks queries, deletes a document, checks again after reopening.
pub fn run_case<S: Subject>(
    subject: &mut S,
    seed: u64,
    chunks: usize,
    public_percent: u64,
    queries: usize,
) -> Result<(), TestCaseError> {
    let mut rng = Rng(seed);
    let (mut models, index_chunks) = corpus(&mut rng, chunks, public_percent);
    let mut index = subject.create();
    write_all(&mut index, index_chunks);
    prop_assert_eq!(subject.count(&index), models.len());
    check_queries(&index, &models, &mut rng, queries / 2)?;

    let gone = models[rng.below(models.len())].document;
    index.delete_document(&format!("doc{gone}")).unwrap();
    index.commit().unwrap();
    models.retain(|m| m.document != gone);
    let index = subject.reopen(index);
    prop_assert_eq!(subject.count(&index), models.len());
    check_queries(&index, &models, &mut rng, queries - queries / 2)?;
    Ok(())
}
