//! The pgvector store against a real PostgreSQL with pgvector.
//!
//! Needs `BERTH_TEST_PG_URL` (for example `postgres://postgres@127.0.0.1:55432/postgres`,
//! as printed by `bench/pg/start.sh`), a role that may create databases and roles. The
//! tests work in their own database, `berth_pgvector_tests` (created when missing), each in
//! a schema of its own that it drops at the end. Without the variable, each test prints
//! `SKIPPED: …` and passes, unless `CI` is set, where it fails.

#![cfg(feature = "pgvector")]

mod acl_model;

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use acl_model::{DIM, Subject, VOCABULARY, run_case};
use berth_index::fusion::reciprocal_rank_fusion;
use berth_index::{
    Acl, Filter, Fusion, IndexChunk, IndexError, Mode, PgVectorStore, Principal, Retriever,
    SearchHit, SearchRequest, VectorStore,
};
use postgres::{Client, NoTls};
use proptest::prelude::*;

const DATABASE: &str = "berth_pgvector_tests";

/// The URL of the test database, or `None` (after saying so) when no server is configured.
fn test_url() -> Option<String> {
    let Ok(url) = std::env::var("BERTH_TEST_PG_URL") else {
        if std::env::var_os("CI").is_some() {
            panic!(
                "BERTH_TEST_PG_URL is not set: the pgvector tests need PostgreSQL with pgvector \
                 (bench/pg/start.sh starts one and prints its URL)"
            );
        }
        eprintln!("SKIPPED: BERTH_TEST_PG_URL is not set (bench/pg/start.sh prints the URL)");
        return None;
    };
    static DATABASE_URL: OnceLock<Result<String, String>> = OnceLock::new();
    let result = DATABASE_URL.get_or_init(|| {
        let mut admin = Client::connect(&url, NoTls).map_err(|e| format!("{e}"))?;
        create_database(&mut admin, DATABASE)?;
        Ok(with_database(&url, DATABASE))
    });
    match result {
        Ok(url) => Some(url.clone()),
        Err(e) => panic!("cannot prepare the test database {DATABASE}: {e}"),
    }
}

/// Creates a database unless it exists (tolerating a concurrent creation).
fn create_database(admin: &mut Client, name: &str) -> Result<(), String> {
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .map_err(|e| e.to_string())?
        .is_some();
    if !exists && let Err(e) = admin.batch_execute(&format!("CREATE DATABASE {name}")) {
        let code = e.code().map(|c| c.code());
        // 42P04: created meanwhile; 23505: the same race, seen in pg_database.
        if code != Some("42P04") && code != Some("23505") {
            return Err(e.to_string());
        }
    }
    Ok(())
}

/// The URL with its database replaced.
fn with_database(url: &str, database: &str) -> String {
    if let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    {
        let (main, query) = match rest.split_once('?') {
            Some((main, query)) => (main, format!("?{query}")),
            None => (rest, String::new()),
        };
        let authority = main.split_once('/').map_or(main, |(a, _)| a);
        format!("postgres://{authority}/{database}{query}")
    } else {
        format!("{url} dbname={database}")
    }
}

/// A schema of the test database, unique to this test, dropped when the test ends (even
/// when it fails).
struct Schema {
    url: String,
    name: String,
}

impl Schema {
    fn new(url: &str, tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Schema {
            url: url.to_owned(),
            name: format!("t_{tag}_{}_{n}", std::process::id()),
        }
    }

    fn open(&self, dimension: usize) -> PgVectorStore {
        PgVectorStore::open(&self.url, &self.name, dimension).unwrap()
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut client) = Client::connect(&self.url, NoTls) {
            let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}

fn chunk(document: &str, id: &str, text: &str, acl: Acl, vector: &[f32]) -> IndexChunk {
    IndexChunk {
        id: id.into(),
        document_id: document.into(),
        source: "docs".into(),
        ordinal: 0,
        text: text.into(),
        heading_path: vec![],
        page_start: None,
        page_end: None,
        acl,
        metadata: BTreeMap::new(),
        vector: Some(vector.to_vec()),
    }
}

fn search(
    store: &impl Retriever,
    text: &str,
    vector: &[f32],
    principal: &Principal,
    k: usize,
    mode: Mode,
) -> Vec<SearchHit> {
    store
        .search(&SearchRequest {
            text,
            vector: Some(vector),
            principal,
            k,
            mode,
            filter: &Filter::default(),
        })
        .unwrap()
}

fn ids(hits: &[SearchHit]) -> Vec<&str> {
    hits.iter().map(|h| h.chunk_id.as_str()).collect()
}

fn group(name: &str) -> Acl {
    Acl {
        users: vec![],
        groups: vec![name.into()],
    }
}

#[test]
fn chunks_round_trip_with_every_field() {
    let Some(url) = test_url() else { return };
    let schema = Schema::new(&url, "round_trip");
    let mut store = schema.open(3);
    let full = IndexChunk {
        id: "c1".into(),
        document_id: "manual".into(),
        source: "wiki".into(),
        ordinal: u32::MAX,
        text: "Rotate the encryption keys every ninety days.".into(),
        heading_path: vec!["Security".into(), "Keys, and \"rotation\"".into()],
        page_start: Some(3),
        page_end: Some(4),
        acl: Acl {
            users: vec!["ann".into()],
            groups: vec!["ops".into()],
        },
        metadata: BTreeMap::from([("lang".into(), "en".into())]),
        vector: Some(vec![0.0, 2.0, 0.0]),
    };
    store
        .replace_document("manual", "v1", vec![full.clone()])
        .unwrap();
    store.commit().unwrap();
    assert_eq!(store.count_chunks().unwrap(), 1);

    let ann = Principal {
        user: Some("ann".into()),
        groups: vec![],
    };
    let hits = search(
        &store,
        "rotating keys",
        &[0.0, 1.0, 0.0],
        &ann,
        5,
        Mode::Bm25,
    );
    assert_eq!(hits.len(), 1);
    let hit = &hits[0];
    assert_eq!(
        (
            hit.chunk_id.as_str(),
            hit.document_id.as_str(),
            hit.source.as_str()
        ),
        ("c1", "manual", "wiki")
    );
    assert_eq!(hit.ordinal, u32::MAX);
    assert_eq!(hit.text, full.text);
    assert_eq!(hit.heading_path, full.heading_path);
    assert_eq!((hit.page_start, hit.page_end), (Some(3), Some(4)));
    assert_eq!((hit.bm25_rank, hit.dense_rank), (Some(1), None));

    // The stored vector was normalized: the similarity to itself is 1.
    let dense = search(&store, "", &[0.0, 5.0, 0.0], &ann, 5, Mode::Dense);
    assert!((dense[0].score - 1.0).abs() < 1e-5, "{}", dense[0].score);
    assert_eq!((dense[0].bm25_rank, dense[0].dense_rank), (None, Some(1)));

    // Filters by source and metadata are applied.
    let filtered = |sources: &[&str], metadata: &[(&str, &str)]| {
        store
            .search(&SearchRequest {
                text: "keys",
                vector: Some(&[0.0, 1.0, 0.0]),
                principal: &ann,
                k: 5,
                mode: Mode::Hybrid,
                filter: &Filter {
                    sources: sources.iter().map(|s| s.to_string()).collect(),
                    metadata: metadata
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                },
            })
            .unwrap()
            .len()
    };
    assert_eq!(filtered(&["wiki", "jira"], &[("lang", "en")]), 1);
    assert_eq!(filtered(&["jira"], &[]), 0);
    assert_eq!(filtered(&[], &[("lang", "de")]), 0);
    assert_eq!(filtered(&[], &[("lang", "en"), ("lang", "de")]), 0);
    assert_eq!(filtered(&[], &[("team", "en")]), 0);

    // Stamps and chunks survive reopening.
    drop(store);
    let store = schema.open(3);
    assert_eq!(
        store.stamps(),
        &BTreeMap::from([("manual".to_owned(), "v1".to_owned())])
    );
    assert_eq!(store.count_chunks().unwrap(), 1);
}

#[test]
fn replace_and_delete_documents() {
    let Some(url) = test_url() else { return };
    let schema = Schema::new(&url, "replace_delete");
    let mut store = schema.open(2);
    let anyone = Principal::anonymous();
    store
        .replace_document(
            "a",
            "v1",
            vec![
                chunk("a", "a1", "old apples", Acl::public(), &[1.0, 0.0]),
                chunk("a", "a2", "old pears", Acl::public(), &[0.0, 1.0]),
            ],
        )
        .unwrap();
    store
        .replace_document(
            "b",
            "v1",
            vec![chunk("b", "b1", "bananas", Acl::public(), &[1.0, 1.0])],
        )
        .unwrap();
    store.commit().unwrap();
    assert_eq!(store.count_chunks().unwrap(), 3);

    // Replacing drops the old chunks; a chunk id may move within its document.
    store
        .replace_document(
            "a",
            "v2",
            vec![chunk("a", "a2", "new apples", Acl::public(), &[1.0, 0.0])],
        )
        .unwrap();
    store.commit().unwrap();
    let hits = search(&store, "apples pears", &[1.0, 0.0], &anyone, 10, Mode::Bm25);
    assert_eq!(ids(&hits), ["a2"]);
    assert_eq!(hits[0].text, "new apples");
    assert_eq!(store.stamps().get("a").map(String::as_str), Some("v2"));

    // Deleting removes chunks and stamp; deleting an unknown document is no error.
    store.delete_document("a").unwrap();
    store.delete_document("never-indexed").unwrap();
    store.commit().unwrap();
    assert_eq!(store.count_chunks().unwrap(), 1);
    assert_eq!(store.stamps().keys().collect::<Vec<_>>(), [&"b".to_owned()]);
    let hits = search(&store, "", &[1.0, 0.0], &anyone, 10, Mode::Dense);
    assert_eq!(ids(&hits), ["b1"]);

    // Replacing with no chunks keeps the stamp and removes the chunks.
    store.replace_document("b", "v2", vec![]).unwrap();
    store.commit().unwrap();
    assert_eq!(store.count_chunks().unwrap(), 0);
    drop(store);
    let store = schema.open(2);
    assert_eq!(
        store.stamps(),
        &BTreeMap::from([("b".to_owned(), "v2".to_owned())])
    );
}

#[test]
fn changes_are_visible_and_durable_only_after_commit() {
    let Some(url) = test_url() else { return };
    let schema = Schema::new(&url, "commit");
    let mut store = schema.open(2);
    let anyone = Principal::anonymous();
    store
        .replace_document(
            "d",
            "v1",
            vec![chunk("d", "d1", "staged words", Acl::public(), &[1.0, 0.0])],
        )
        .unwrap();
    // Pending: in the stamps, not in any search, of this store or of another.
    assert_eq!(store.stamps().get("d").map(String::as_str), Some("v1"));
    for mode in [Mode::Bm25, Mode::Dense, Mode::Hybrid] {
        assert!(search(&store, "staged", &[1.0, 0.0], &anyone, 5, mode).is_empty());
    }
    let other = schema.open(2);
    assert!(other.stamps().is_empty());
    assert!(search(&other, "staged", &[1.0, 0.0], &anyone, 5, Mode::Hybrid).is_empty());

    store.commit().unwrap();
    for mode in [Mode::Bm25, Mode::Dense, Mode::Hybrid] {
        assert_eq!(
            ids(&search(&store, "staged", &[1.0, 0.0], &anyone, 5, mode)),
            ["d1"]
        );
        assert_eq!(
            ids(&search(&other, "staged", &[1.0, 0.0], &anyone, 5, mode)),
            ["d1"]
        );
    }

    // Uncommitted changes are lost when the store goes away.
    store.delete_document("d").unwrap();
    store
        .replace_document(
            "e",
            "v1",
            vec![chunk(
                "e",
                "e1",
                "never committed",
                Acl::public(),
                &[0.0, 1.0],
            )],
        )
        .unwrap();
    assert!(!store.stamps().contains_key("d"));
    drop(store);
    let store = schema.open(2);
    assert_eq!(
        store.stamps(),
        &BTreeMap::from([("d".to_owned(), "v1".to_owned())])
    );
    assert_eq!(store.count_chunks().unwrap(), 1);
}

/// A small corpus where the keyword and the vector rankings disagree.
fn ranking_corpus(store: &mut PgVectorStore) {
    let texts = [
        "Holidays are booked in the HR portal before the first of the month.",
        "The cafeteria menu changes every week.",
        "Overtime and holiday pay are listed in the salary bands.",
        "Parking permits are issued by facilities.",
        "Book a meeting room through the calendar.",
        "Travel expenses are reimbursed within thirty days.",
    ];
    let mut chunks = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let angle = i as f32 * 0.4;
        chunks.push(IndexChunk {
            ordinal: i as u32,
            ..chunk(
                "handbook",
                &format!("c{i}"),
                text,
                Acl::public(),
                &[angle.cos(), angle.sin(), 0.1],
            )
        });
    }
    store.replace_document("handbook", "v1", chunks).unwrap();
    store.commit().unwrap();
}

#[test]
fn each_mode_ranks_as_documented() {
    let Some(url) = test_url() else { return };
    let schema = Schema::new(&url, "modes");
    let mut store = schema.open(3);
    ranking_corpus(&mut store);
    let anyone = Principal::anonymous();

    // Keyword: stemmed words ("holidays" ~ "holiday"), stop words ignored, OR semantics.
    let hits = search(
        &store,
        "the holidays",
        &[1.0, 0.0, 0.0],
        &anyone,
        10,
        Mode::Bm25,
    );
    let mut found = ids(&hits);
    found.sort();
    assert_eq!(found, ["c0", "c2"]);
    assert!(hits[0].score >= hits[1].score && hits[1].score > 0.0);
    let hits = search(
        &store,
        "parking OR cafeteria",
        &[1.0, 0.0, 0.0],
        &anyone,
        10,
        Mode::Bm25,
    );
    let mut found = ids(&hits);
    found.sort();
    assert_eq!(found, ["c1", "c3"]);
    // Text with quotes, backslashes and operators is only text.
    for odd in [
        "O'Brien's \\ holiday",
        "holiday & | ! <-> :*",
        "'",
        "\\",
        "",
    ] {
        store
            .search(&SearchRequest {
                text: odd,
                vector: None,
                principal: &anyone,
                k: 5,
                mode: Mode::Bm25,
                filter: &Filter::default(),
            })
            .unwrap();
    }

    // Dense: nearest by cosine, best first, scores are similarities.
    let angle: f32 = 2.0 * 0.4;
    let query = [angle.cos(), angle.sin(), 0.1];
    let hits = search(&store, "", &query, &anyone, 3, Mode::Dense);
    assert_eq!(ids(&hits), ["c2", "c1", "c3"]);
    assert!((hits[0].score - 1.0).abs() < 1e-5);
    assert!(hits[0].score > hits[1].score && hits[1].score >= hits[2].score);
}

#[test]
fn hybrid_is_the_fusion_of_the_two_lists() {
    let Some(url) = test_url() else { return };
    let schema = Schema::new(&url, "hybrid");
    let mut store = schema.open(3);
    ranking_corpus(&mut store);
    let anyone = Principal::anonymous();
    let query = [0.0, 1.0, 0.0];
    for text in ["holiday salary", "book", "nothing matches this"] {
        for k in [1, 3, 10] {
            // Both lists as deep as hybrid takes them (50 for these k).
            let bm25 = search(&store, text, &query, &anyone, 50, Mode::Bm25);
            let dense = search(&store, text, &query, &anyone, 50, Mode::Dense);
            let f = Fusion::default();
            let expected = reciprocal_rank_fusion(
                &[
                    (&ids(&bm25), f.keyword_weight),
                    (&ids(&dense), f.vector_weight),
                ],
                f.k,
                k,
            );
            let hybrid = search(&store, text, &query, &anyone, k, Mode::Hybrid);
            assert_eq!(hybrid.len(), expected.len(), "{text} k={k}");
            for (hit, fused) in hybrid.iter().zip(&expected) {
                assert_eq!(hit.chunk_id, fused.item, "{text} k={k}");
                assert_eq!(hit.score, fused.score as f32);
                assert_eq!([hit.bm25_rank, hit.dense_rank], fused.ranks[..]);
            }
        }
    }
}

/// The pgvector store in one schema, recreated for each proptest case.
struct Postgres {
    schema: Schema,
}

impl Subject for Postgres {
    type Store = PgVectorStore;

    fn create(&mut self) -> PgVectorStore {
        PgVectorStore::create(&self.schema.url, &self.schema.name, DIM).unwrap()
    }

    fn reopen(&mut self, store: PgVectorStore) -> PgVectorStore {
        drop(store);
        self.schema.open(DIM)
    }

    fn count(&self, store: &PgVectorStore) -> usize {
        store.count_chunks().unwrap()
    }
}

#[test]
fn vocabulary_is_plain_for_english_text_search() {
    let Some(url) = test_url() else { return };
    let mut client = Client::connect(&url, NoTls).unwrap();
    for word in VOCABULARY {
        let lexemes: Vec<String> = client
            .query(
                "SELECT lexeme FROM unnest(to_tsvector('english', $1))",
                &[&format!("The {word}.")],
            )
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert_eq!(lexemes, [word], "{word} is changed by the analyzer");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// The property of `acl_model` on PostgreSQL: 24 small corpora × 60 queries.
    #[test]
    fn acl_property_small_corpora(seed in any::<u64>(), chunks in 1usize..80, public in 0u64..100) {
        let Some(url) = test_url() else { return Ok(()) };
        let mut subject = Postgres { schema: Schema::new(&url, "acl_small") };
        run_case(&mut subject, seed, chunks, public, 60)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2, ..ProptestConfig::default() })]

    /// Larger corpora, mostly public, so that the planner takes the HNSW index for broad
    /// principals: 2 × 100 queries.
    #[test]
    fn acl_property_large_corpora(seed in any::<u64>(), chunks in 2200usize..2600, public in 85u64..98) {
        let Some(url) = test_url() else { return Ok(()) };
        let mut subject = Postgres { schema: Schema::new(&url, "acl_large") };
        run_case(&mut subject, seed, chunks, public, 100)?;
    }
}

/// 4,000 chunks, 40 of them for group `rare`, the rest for group `common`: a search as
/// `rare` must still return k of the 40 in every mode, which a store that took the top k
/// (or the index scan's first candidates) and filtered afterwards could not.
#[test]
fn top_k_under_a_restrictive_acl_is_filtered_inside_the_query() {
    let Some(url) = test_url() else { return };
    let schema = Schema::new(&url, "restrictive");
    let mut store = schema.open(16);
    let mut seed = 7u64;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
    };
    let mut rare = Vec::new();
    for d in 0..40 {
        let document = format!("doc{d}");
        let chunks = (0..100)
            .map(|i| {
                let id = format!("{document}-{i}");
                let acl = if i == 0 {
                    group("rare")
                } else {
                    group("common")
                };
                if i == 0 {
                    rare.push(id.clone());
                }
                let vector: Vec<f32> = (0..16).map(|_| next()).collect();
                chunk(&document, &id, "shared words in every chunk", acl, &vector)
            })
            .collect();
        store.replace_document(&document, "v1", chunks).unwrap();
    }
    store.commit().unwrap();
    let member = Principal {
        user: None,
        groups: vec!["rare".into()],
    };
    let query: Vec<f32> = (0..16).map(|_| next()).collect();
    for mode in [Mode::Bm25, Mode::Dense, Mode::Hybrid] {
        for k in [1, 10, 40, 100] {
            let hits = search(&store, "shared words", &query, &member, k, mode);
            assert_eq!(hits.len(), k.min(40), "{mode} k={k}");
            assert!(
                hits.iter().all(|h| rare.contains(&h.chunk_id)),
                "{mode} k={k}"
            );
        }
        let nobody = search(
            &store,
            "shared words",
            &query,
            &Principal::anonymous(),
            10,
            mode,
        );
        assert!(nobody.is_empty(), "{mode}");
    }
}

#[test]
fn bad_inputs_are_typed_errors() {
    let Some(url) = test_url() else { return };
    let schema = Schema::new(&url, "bad_inputs");
    let mut store = schema.open(3);
    let anyone = Principal::anonymous();
    let good = chunk("d", "d1", "kept", Acl::public(), &[1.0, 0.0, 0.0]);
    store.replace_document("d", "v1", vec![good]).unwrap();

    // Wrong, invalid or missing vectors, in chunks and queries.
    let err = store
        .replace_document(
            "x",
            "v1",
            vec![chunk("x", "x1", "t", Acl::public(), &[1.0, 0.0])],
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            IndexError::Dimension {
                expected: 3,
                found: 2,
                ..
            }
        ),
        "{err}"
    );
    let err = store
        .replace_document(
            "x",
            "v1",
            vec![chunk("x", "x1", "t", Acl::public(), &[f32::NAN, 0.0, 0.0])],
        )
        .unwrap_err();
    assert!(matches!(err, IndexError::InvalidVector { .. }), "{err}");
    let err = store
        .replace_document(
            "x",
            "v1",
            vec![IndexChunk {
                vector: None,
                ..chunk("x", "x1", "t", Acl::public(), &[])
            }],
        )
        .unwrap_err();
    assert!(matches!(err, IndexError::MissingVector { .. }), "{err}");
    let no_filter = Filter::default();
    for mode in [Mode::Dense, Mode::Hybrid] {
        let request = |vector| SearchRequest {
            text: "kept",
            vector,
            principal: &anyone,
            k: 5,
            mode,
            filter: &no_filter,
        };
        let err = store.search(&request(Some(&[1.0, 0.0]))).unwrap_err();
        assert!(matches!(err, IndexError::Dimension { .. }), "{err}");
        let err = store.search(&request(Some(&[0.0, 0.0, 0.0]))).unwrap_err();
        assert!(matches!(err, IndexError::InvalidVector { .. }), "{err}");
        let err = store.search(&request(None)).unwrap_err();
        assert!(matches!(err, IndexError::MissingVector { .. }), "{err}");
    }

    // Chunks of another document, or ids given twice or held by another document.
    let err = store
        .replace_document(
            "x",
            "v1",
            vec![chunk("y", "y1", "t", Acl::public(), &[1.0, 0.0, 0.0])],
        )
        .unwrap_err();
    assert!(matches!(err, IndexError::WrongDocument { .. }), "{err}");
    let twice = chunk("x", "x1", "t", Acl::public(), &[1.0, 0.0, 0.0]);
    let err = store
        .replace_document("x", "v1", vec![twice.clone(), twice])
        .unwrap_err();
    assert!(matches!(err, IndexError::DuplicateChunk { .. }), "{err}");
    let err = store
        .replace_document(
            "x",
            "v1",
            vec![chunk("x", "d1", "t", Acl::public(), &[1.0, 0.0, 0.0])],
        )
        .unwrap_err();
    assert!(
        matches!(&err, IndexError::DuplicateChunk { chunk_id, document_id } if chunk_id == "d1" && document_id == "d"),
        "{err}"
    );
    // Text PostgreSQL cannot store: an error for this document only.
    let err = store
        .replace_document(
            "x",
            "v1",
            vec![chunk(
                "x",
                "x1",
                "nul \0 byte",
                Acl::public(),
                &[1.0, 0.0, 0.0],
            )],
        )
        .unwrap_err();
    assert!(matches!(err, IndexError::Postgres { .. }), "{err}");
    // None of the failures touched the staged document, which commits.
    assert_eq!(store.stamps().keys().collect::<Vec<_>>(), [&"d".to_owned()]);
    store.commit().unwrap();
    assert_eq!(
        ids(&search(
            &store,
            "kept",
            &[1.0, 0.0, 0.0],
            &anyone,
            5,
            Mode::Hybrid
        )),
        ["d1"]
    );
    drop(store);

    // The tables were made for 3 dimensions.
    let err = PgVectorStore::open(&schema.url, &schema.name, 4).unwrap_err();
    assert!(matches!(err, IndexError::StaleTables { .. }), "{err}");
    assert!(err.needs_rebuild());
    assert!(err.to_string().contains("dimension 3"), "{err}");
    let store = PgVectorStore::create(&schema.url, &schema.name, 4).unwrap();
    assert_eq!(store.count_chunks().unwrap(), 0);
    assert!(store.stamps().is_empty());
    drop(store);

    // Settings.
    for (name, dimension) in [("Bad-Name", 3), ("ok", 0), ("ok", 2001)] {
        let err = PgVectorStore::open(&schema.url, name, dimension).unwrap_err();
        assert!(matches!(err, IndexError::Settings { .. }), "{err}");
    }
}

#[test]
fn connection_failures_never_show_the_password() {
    // No server is needed: nothing listens on port 1.
    let err = PgVectorStore::open("postgres://ann:s3cr3t@127.0.0.1:1/db", "rag", 3).unwrap_err();
    assert!(matches!(err, IndexError::Connect { .. }), "{err}");
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    assert!(
        text.starts_with("cannot connect to PostgreSQL at ann@127.0.0.1:1/db"),
        "{text}"
    );
    assert!(!text.contains("s3cr3t"), "{text}");
    assert!(!format!("{err:?}").contains("s3cr3t"));
}

/// A role that may not create extensions, in a database without pgvector.
#[test]
fn a_missing_extension_is_a_clear_error() {
    let Some(url) = test_url() else { return };
    let mut admin = Client::connect(&url, NoTls).unwrap();
    let database = "berth_pgvector_tests_noext";
    create_database(&mut admin, database).unwrap();
    let role = format!("berth_noext_{}", std::process::id());
    admin
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN"
        ))
        .unwrap();
    struct DropRole(Client, String);
    impl Drop for DropRole {
        fn drop(&mut self) {
            let _ = self
                .0
                .batch_execute(&format!("DROP ROLE IF EXISTS {}", self.1));
        }
    }
    let _cleanup = DropRole(admin, role.clone());
    let mut role_url = with_database(&url, database);
    // Same server, another user (the test server trusts local connections).
    if let Some(rest) = role_url.strip_prefix("postgres://") {
        let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        role_url = format!("postgres://{role}@{host}");
    }
    let err = PgVectorStore::open(&role_url, "rag", 3).unwrap_err();
    assert!(matches!(err, IndexError::Extension { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("CREATE EXTENSION vector"), "{text}");
}

/// When the filtered HNSW scan stops early (here with `hnsw.ef_search = 1` and
/// `hnsw.max_scan_tuples = 5`, half of the chunks permitted), the search still returns k
/// hits: it runs again as an exact scan. The same query without the store's fallback, run
/// directly with the same settings, shows that the index scan alone returns fewer.
#[test]
fn a_short_index_scan_falls_back_to_an_exact_scan() {
    let Some(url) = test_url() else { return };
    let schema = Schema::new(&url, "short_scan");
    let mut store = schema.open(DIM);
    let mut seed = 11u64;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
    };
    for d in 0..30 {
        let document = format!("doc{d}");
        let chunks = (0..100)
            .map(|i| {
                let vector: Vec<f32> = (0..DIM).map(|_| next()).collect();
                // Half public: the filter rejects half of what the index scan visits, and
                // the planner still prefers the index.
                let acl = if i % 2 == 0 {
                    Acl::public()
                } else {
                    group("other")
                };
                chunk(&document, &format!("{document}-{i}"), "text", acl, &vector)
            })
            .collect();
        store.replace_document(&document, "v1", chunks).unwrap();
    }
    store.commit().unwrap();
    store.set_ef_search(1).unwrap();
    store.set_max_scan_tuples(5).unwrap();
    let query: Vec<f32> = (0..DIM).map(|_| next()).collect();

    store.analyze().unwrap();
    let mut client = Client::connect(&schema.url, NoTls).unwrap();
    client
        .batch_execute(
            "SET hnsw.ef_search = 1; SET hnsw.max_scan_tuples = 5; \
             SET hnsw.iterative_scan = relaxed_order",
        )
        .unwrap();
    let literal = format!(
        "[{}]",
        query
            .iter()
            .map(f32::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    let sql = format!(
        "SELECT count(*) FROM (SELECT id FROM {}.chunks WHERE acl && '{{*}}' \
         ORDER BY embedding <=> '{literal}' LIMIT 50) hits",
        schema.name
    );
    let plan: Vec<String> = client
        .query(&format!("EXPLAIN {sql}"), &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(
        plan.iter().any(|line| line.contains("chunks_embedding")),
        "the planner did not use the HNSW index: {plan:#?}"
    );
    let index_only: i64 = client.query_one(&sql, &[]).unwrap().get(0);
    assert!(index_only < 50, "the index scan alone found {index_only}");

    for mode in [Mode::Dense, Mode::Hybrid] {
        let hits = search(&store, "", &query, &Principal::anonymous(), 50, mode);
        assert_eq!(hits.len(), 50, "{mode}");
    }
    // And the dense list is the exact top 50 by cosine similarity.
    let hits = search(&store, "", &query, &Principal::anonymous(), 50, Mode::Dense);
    let exact: Vec<String> = client
        .query(
            &format!(
                "SELECT id FROM {}.chunks WHERE acl && '{{*}}' \
                 ORDER BY (embedding <=> '{literal}') + 0, id LIMIT 50",
                schema.name
            ),
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(ids(&hits), exact);
}
