//! Unit tests of the embedded store: write, commit, reopen, search, damage.

use std::collections::BTreeMap;
use std::path::Path;

use super::*;
use crate::principal::{Acl, Principal};
use crate::stores::{Filter, Mode, Retriever, SearchHit, SearchRequest};

const DIM: usize = 4;

fn chunk(document: &str, ordinal: u32, text: &str, vector: [f32; DIM]) -> IndexChunk {
    IndexChunk {
        id: format!("{document}#{ordinal}"),
        document_id: document.to_owned(),
        source: "wiki".to_owned(),
        ordinal,
        text: text.to_owned(),
        heading_path: vec!["Guide".to_owned(), format!("Part {ordinal}")],
        page_start: Some(ordinal + 1),
        page_end: None,
        acl: Acl::public(),
        metadata: BTreeMap::new(),
        vector: Some(vector.to_vec()),
    }
}

fn search(
    index: &EmbeddedIndex,
    mode: Mode,
    text: &str,
    vector: Option<&[f32]>,
    principal: &Principal,
    filter: &Filter,
    k: usize,
) -> Result<Vec<SearchHit>, IndexError> {
    index.search(&SearchRequest {
        text,
        vector,
        principal,
        k,
        mode,
        filter,
    })
}

fn ids(hits: &[SearchHit]) -> Vec<&str> {
    hits.iter().map(|h| h.chunk_id.as_str()).collect()
}

fn anyone() -> Principal {
    Principal::anonymous()
}

/// Three documents about cats, dogs and birds, with vectors pointing along one axis each.
fn sample(dir: &Path) -> EmbeddedIndex {
    let mut index = EmbeddedIndex::create(dir, Some(DIM), Some("test-model")).unwrap();
    index
        .replace_document(
            "cats",
            "v1",
            vec![
                chunk(
                    "cats",
                    0,
                    "Cats purr and sleep all day.",
                    [1.0, 0.0, 0.0, 0.0],
                ),
                chunk(
                    "cats",
                    1,
                    "A cat chases mice at night.",
                    [0.9, 0.1, 0.0, 0.0],
                ),
            ],
        )
        .unwrap();
    index
        .replace_document(
            "dogs",
            "v1",
            vec![chunk(
                "dogs",
                0,
                "Dogs bark at the mail carrier.",
                [0.0, 1.0, 0.0, 0.0],
            )],
        )
        .unwrap();
    index
        .replace_document(
            "birds",
            "v7",
            vec![chunk(
                "birds",
                0,
                "Birds sing; a cat watches them.",
                [0.0, 0.0, 1.0, 0.0],
            )],
        )
        .unwrap();
    index.commit().unwrap();
    index
}

#[test]
fn writes_are_visible_after_commit_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = EmbeddedIndex::create(dir.path(), Some(DIM), Some("test-model")).unwrap();
    index
        .replace_document(
            "cats",
            "v1",
            vec![chunk("cats", 0, "cats purr", [1.0, 0.0, 0.0, 0.0])],
        )
        .unwrap();
    assert_eq!(index.stamps().get("cats").map(String::as_str), Some("v1"));
    // Not searchable before the commit.
    let hits = search(
        &index,
        Mode::Bm25,
        "cats",
        None,
        &anyone(),
        &Filter::default(),
        5,
    )
    .unwrap();
    assert!(hits.is_empty());
    assert_eq!(index.len(), 0);
    index.commit().unwrap();
    assert_eq!(index.len(), 1);
    drop(index);

    let index = sample(dir.path());
    let query = [1.0, 0.05, 0.0, 0.0];
    let before: Vec<Vec<SearchHit>> = [Mode::Bm25, Mode::Dense, Mode::Hybrid]
        .iter()
        .map(|&mode| {
            search(
                &index,
                mode,
                "cat",
                Some(&query),
                &anyone(),
                &Filter::default(),
                10,
            )
            .unwrap()
        })
        .collect();
    assert_eq!(ids(&before[0]), ["cats#1", "birds#0", "cats#0"]);
    assert_eq!(ids(&before[1])[..2], ["cats#0", "cats#1"]);
    assert_eq!(before[1].len(), 4);
    // Hybrid: the vector list weighs more, so its first hit leads.
    assert_eq!(ids(&before[2])[..2], ["cats#0", "cats#1"]);
    let hit = &before[0][0];
    assert_eq!(hit.document_id, "cats");
    assert_eq!(hit.source, "wiki");
    assert_eq!(hit.ordinal, 1);
    assert_eq!(hit.text, "A cat chases mice at night.");
    assert_eq!(hit.heading_path, ["Guide", "Part 1"]);
    assert_eq!((hit.page_start, hit.page_end), (Some(2), None));
    assert_eq!((hit.bm25_rank, hit.dense_rank), (Some(1), None));
    let fused = &before[2][0];
    assert!(fused.bm25_rank.is_some() && fused.dense_rank.is_some());
    let f = crate::Fusion::default();
    let expected = f.keyword_weight / (f.k + fused.bm25_rank.unwrap() as f64)
        + f.vector_weight / (f.k + fused.dense_rank.unwrap() as f64);
    assert_eq!(fused.dense_rank, Some(1));
    assert!(
        (fused.score as f64 - expected).abs() < 1e-6,
        "{} vs {expected}",
        fused.score
    );
    let size = index.size_on_disk().unwrap();
    drop(index);

    let index = EmbeddedIndex::open(dir.path(), Some(DIM), Some("test-model")).unwrap();
    assert_eq!(index.len(), 4);
    assert_eq!(index.size_on_disk().unwrap(), size);
    assert_eq!(index.stamps().get("birds").map(String::as_str), Some("v7"));
    for (mode, expected) in [Mode::Bm25, Mode::Dense, Mode::Hybrid].iter().zip(&before) {
        let after = search(
            &index,
            *mode,
            "cat",
            Some(&query),
            &anyone(),
            &Filter::default(),
            10,
        )
        .unwrap();
        assert_eq!(&after, expected, "{mode}");
    }
}

#[test]
fn replacing_and_deleting_removes_chunks_from_both_searches() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = sample(dir.path());
    let query = [1.0, 0.0, 0.0, 0.0];
    index.delete_document("cats").unwrap();
    assert!(!index.stamps().contains_key("cats"));
    // Same chunk id as before, new text and vector.
    index
        .replace_document(
            "dogs",
            "v2",
            vec![chunk("dogs", 0, "Dogs fetch sticks.", [0.0, 1.0, 0.0, 0.0])],
        )
        .unwrap();
    index.commit().unwrap();
    assert_eq!(index.len(), 2);
    let bm25 = search(
        &index,
        Mode::Bm25,
        "cat bark fetch",
        None,
        &anyone(),
        &Filter::default(),
        10,
    )
    .unwrap();
    let mut bm25_ids = ids(&bm25);
    bm25_ids.sort();
    assert_eq!(bm25_ids, ["birds#0", "dogs#0"]);
    let dogs = bm25.iter().find(|h| h.chunk_id == "dogs#0").unwrap();
    assert_eq!(dogs.text, "Dogs fetch sticks.");
    let dense = search(
        &index,
        Mode::Dense,
        "",
        Some(&query),
        &anyone(),
        &Filter::default(),
        10,
    )
    .unwrap();
    let mut dense_ids = ids(&dense);
    dense_ids.sort();
    assert_eq!(dense_ids, ["birds#0", "dogs#0"]);

    // Replacing with nothing keeps the stamp but no chunks.
    index.replace_document("birds", "v8", vec![]).unwrap();
    index.commit().unwrap();
    assert_eq!(index.len(), 1);
    assert_eq!(index.stamps().get("birds").map(String::as_str), Some("v8"));
    drop(index);
    let index = EmbeddedIndex::open(dir.path(), Some(DIM), Some("test-model")).unwrap();
    assert_eq!(index.len(), 1);
    let dense = search(
        &index,
        Mode::Dense,
        "",
        Some(&query),
        &anyone(),
        &Filter::default(),
        10,
    )
    .unwrap();
    assert_eq!(ids(&dense), ["dogs#0"]);
    let stamps: Vec<(&str, &str)> = index
        .stamps()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(stamps, [("birds", "v8"), ("dogs", "v2")]);
}

#[test]
fn a_document_replaced_twice_before_commit_keeps_the_last_version() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = sample(dir.path());
    index
        .replace_document(
            "cats",
            "v2",
            vec![chunk("cats", 5, "lions roar", [1.0, 0.0, 0.0, 0.0])],
        )
        .unwrap();
    index
        .replace_document(
            "cats",
            "v3",
            vec![chunk("cats", 6, "tigers roar", [1.0, 0.0, 0.0, 0.0])],
        )
        .unwrap();
    index.commit().unwrap();
    let hits = search(
        &index,
        Mode::Bm25,
        "roar cat",
        None,
        &anyone(),
        &Filter::default(),
        10,
    )
    .unwrap();
    assert_eq!(ids(&hits), ["cats#6", "birds#0"]);
    assert_eq!(index.len(), 3);
}

#[test]
fn acl_source_and_metadata_filters_apply_to_every_mode() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = EmbeddedIndex::create(dir.path(), Some(DIM), None).unwrap();
    let mut secret = chunk("hr", 0, "salary review policy", [1.0, 0.0, 0.0, 0.0]);
    secret.acl = Acl {
        users: vec!["ann".into()],
        groups: vec!["hr".into()],
    };
    secret.metadata.insert("lang".into(), "en".into());
    let mut public = chunk("hr", 1, "holiday policy", [0.9, 0.1, 0.0, 0.0]);
    public.metadata.insert("lang".into(), "de".into());
    let mut other = chunk("hr", 2, "policy on policy", [0.8, 0.2, 0.0, 0.0]);
    other.source = "jira".into();
    other.metadata.insert("lang".into(), "en".into());
    index
        .replace_document("hr", "1", vec![secret, public, other])
        .unwrap();
    index.commit().unwrap();

    let ann = Principal {
        user: Some("ann".into()),
        groups: vec![],
    };
    let hr = Principal {
        user: Some("bob".into()),
        groups: vec!["hr".into()],
    };
    let query = [1.0, 0.0, 0.0, 0.0];
    let run = |mode, principal: &Principal, filter: &Filter| {
        let mut found: Vec<String> =
            search(&index, mode, "policy", Some(&query), principal, filter, 10)
                .unwrap()
                .into_iter()
                .map(|h| h.chunk_id)
                .collect();
        found.sort();
        found
    };
    let none = Filter::default();
    let wiki = Filter {
        sources: vec!["wiki".into(), "elsewhere".into()],
        metadata: vec![],
    };
    let english = Filter {
        sources: vec![],
        metadata: vec![("lang".into(), "en".into())],
    };
    let unknown = Filter {
        sources: vec![],
        metadata: vec![("lang".into(), "fr".into())],
    };
    for mode in [Mode::Bm25, Mode::Dense, Mode::Hybrid] {
        assert_eq!(run(mode, &anyone(), &none), ["hr#1", "hr#2"], "{mode}");
        assert_eq!(run(mode, &ann, &none), ["hr#0", "hr#1", "hr#2"], "{mode}");
        assert_eq!(run(mode, &hr, &none), ["hr#0", "hr#1", "hr#2"], "{mode}");
        assert_eq!(run(mode, &hr, &wiki), ["hr#0", "hr#1"], "{mode}");
        assert_eq!(run(mode, &anyone(), &english), ["hr#2"], "{mode}");
        assert_eq!(run(mode, &hr, &english), ["hr#0", "hr#2"], "{mode}");
        assert!(run(mode, &hr, &unknown).is_empty(), "{mode}");
    }
}

#[test]
fn filtered_bm25_scores_equal_unfiltered_scores() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = sample(dir.path());
    let mut secret = chunk("secret", 0, "cat cat cat", [0.0, 0.0, 0.0, 1.0]);
    secret.acl.groups.push("ops".into());
    index.replace_document("secret", "1", vec![secret]).unwrap();
    index.commit().unwrap();
    let ops = Principal {
        user: None,
        groups: vec!["ops".into()],
    };
    let all = search(
        &index,
        Mode::Bm25,
        "cat",
        None,
        &ops,
        &Filter::default(),
        10,
    )
    .unwrap();
    let public = search(
        &index,
        Mode::Bm25,
        "cat",
        None,
        &anyone(),
        &Filter::default(),
        10,
    )
    .unwrap();
    assert_eq!(all.len(), public.len() + 1);
    for hit in &public {
        let same = all.iter().find(|h| h.chunk_id == hit.chunk_id).unwrap();
        assert_eq!(same.score, hit.score);
    }
}

#[test]
fn odd_queries_do_not_fail() {
    let dir = tempfile::tempdir().unwrap();
    let index = sample(dir.path());
    let q = [0.0, 0.0, 0.0, 1.0];
    for text in [
        "",
        "   ",
        "the and of",
        "\"unbalanced (query: AND OR NOT*",
        "🦀",
    ] {
        for mode in [Mode::Bm25, Mode::Hybrid] {
            let hits = search(
                &index,
                mode,
                text,
                Some(&q),
                &anyone(),
                &Filter::default(),
                3,
            )
            .unwrap();
            // Hybrid still has the dense list.
            assert_eq!(
                hits.len(),
                if mode == Mode::Bm25 { 0 } else { 3 },
                "{text:?} {mode}"
            );
        }
    }
    for mode in [Mode::Bm25, Mode::Dense, Mode::Hybrid] {
        assert!(
            search(
                &index,
                mode,
                "cat",
                Some(&q),
                &anyone(),
                &Filter::default(),
                0
            )
            .unwrap()
            .is_empty()
        );
        let all = search(
            &index,
            mode,
            "cat",
            Some(&q),
            &anyone(),
            &Filter::default(),
            usize::MAX,
        )
        .unwrap();
        assert!(!all.is_empty() && all.len() <= 4);
    }
}

#[test]
fn bad_query_vectors_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let index = sample(dir.path());
    let none = Filter::default();
    let err = search(
        &index,
        Mode::Dense,
        "",
        Some(&[1.0, 0.0]),
        &anyone(),
        &none,
        3,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            IndexError::Dimension {
                expected: 4,
                found: 2,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "the query has a vector of dimension 2, but the index stores vectors of dimension 4"
    );
    let nan = [f32::NAN, 0.0, 0.0, 0.0];
    let err = search(&index, Mode::Hybrid, "cat", Some(&nan), &anyone(), &none, 3).unwrap_err();
    assert!(matches!(err, IndexError::InvalidVector { .. }), "{err}");
    let err = search(&index, Mode::Hybrid, "cat", None, &anyone(), &none, 3).unwrap_err();
    assert!(matches!(err, IndexError::MissingVector { .. }), "{err}");
    // BM25 ignores the vector.
    assert_eq!(
        search(&index, Mode::Bm25, "cat", Some(&nan), &anyone(), &none, 3)
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn a_keyword_only_index_refuses_dense_and_answers_hybrid_with_bm25() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = EmbeddedIndex::create(dir.path(), None, None).unwrap();
    let mut c = chunk("cats", 0, "cats purr", [0.0; DIM]);
    let err = index
        .replace_document("cats", "1", vec![c.clone()])
        .unwrap_err();
    assert!(matches!(err, IndexError::UnexpectedVector { .. }), "{err}");
    c.vector = None;
    index.replace_document("cats", "1", vec![c]).unwrap();
    index.commit().unwrap();
    drop(index);
    let index = EmbeddedIndex::open(dir.path(), None, None).unwrap();
    assert!(!dir.path().join(VECTORS_FILE).exists());
    let none = Filter::default();
    let err = search(
        &index,
        Mode::Dense,
        "cat",
        Some(&[1.0; DIM]),
        &anyone(),
        &none,
        3,
    )
    .unwrap_err();
    assert!(matches!(err, IndexError::MissingVector { .. }), "{err}");
    assert!(err.to_string().contains("keyword only"), "{err}");
    let bm25 = search(&index, Mode::Bm25, "cat", None, &anyone(), &none, 3).unwrap();
    let hybrid = search(&index, Mode::Hybrid, "cat", None, &anyone(), &none, 3).unwrap();
    assert_eq!(bm25, hybrid);
    assert_eq!(ids(&hybrid), ["cats#0"]);
}

#[test]
fn invalid_writes_are_rejected_before_anything_changes() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = sample(dir.path());
    let short = IndexChunk {
        vector: Some(vec![1.0; 3]),
        ..chunk("x", 0, "t", [1.0; DIM])
    };
    let err = index.replace_document("x", "1", vec![short]).unwrap_err();
    assert!(
        matches!(
            err,
            IndexError::Dimension {
                expected: 4,
                found: 3,
                ..
            }
        ),
        "{err}"
    );
    let missing = IndexChunk {
        vector: None,
        ..chunk("x", 0, "t", [1.0; DIM])
    };
    let err = index.replace_document("x", "1", vec![missing]).unwrap_err();
    assert!(matches!(err, IndexError::MissingVector { .. }), "{err}");
    let err = index
        .replace_document("x", "1", vec![chunk("y", 0, "t", [1.0; DIM])])
        .unwrap_err();
    assert!(matches!(err, IndexError::WrongDocument { .. }), "{err}");
    let twice = vec![
        chunk("x", 0, "t", [1.0; DIM]),
        chunk("x", 0, "u", [1.0; DIM]),
    ];
    let err = index.replace_document("x", "1", twice).unwrap_err();
    assert!(matches!(err, IndexError::DuplicateChunk { .. }), "{err}");
    // A chunk id of another (committed) document.
    let stolen = IndexChunk {
        document_id: "x".into(),
        ..chunk("cats", 0, "t", [1.0; DIM])
    };
    let err = index
        .replace_document("x", "1", vec![stolen.clone()])
        .unwrap_err();
    assert!(
        matches!(err, IndexError::DuplicateChunk { ref document_id, .. } if document_id == "cats"),
        "{err}"
    );
    assert!(!index.stamps().contains_key("x"));
    // Once "cats" is deleted (even uncommitted), its chunk ids are free.
    index.delete_document("cats").unwrap();
    index.replace_document("x", "1", vec![stolen]).unwrap();
    index.commit().unwrap();
    let hits = search(
        &index,
        Mode::Bm25,
        "t",
        None,
        &anyone(),
        &Filter::default(),
        5,
    )
    .unwrap();
    assert_eq!(hits[0].document_id, "x");
    assert_eq!(hits[0].chunk_id, "cats#0");
}

#[test]
fn damaged_or_mismatched_directories_need_a_rebuild() {
    let open = |dir: &Path| EmbeddedIndex::open(dir, Some(DIM), Some("test-model"));
    let expect = |result: Result<EmbeddedIndex, IndexError>, corrupt: bool, words: &str| {
        let err = result.unwrap_err();
        assert!(err.needs_rebuild(), "{err}");
        assert_eq!(matches!(err, IndexError::Corrupt { .. }), corrupt, "{err}");
        assert!(err.to_string().contains(words), "{err}");
    };

    let empty = tempfile::tempdir().unwrap();
    expect(open(empty.path()), true, "meta.json is missing");

    let dir = tempfile::tempdir().unwrap();
    drop(sample(dir.path()));
    expect(
        EmbeddedIndex::open(dir.path(), Some(8), Some("test-model")),
        false,
        "4-dimensional",
    );
    expect(
        EmbeddedIndex::open(dir.path(), None, Some("test-model")),
        false,
        "keyword search only",
    );
    expect(
        EmbeddedIndex::open(dir.path(), Some(DIM), Some("other")),
        false,
        "`test-model`",
    );

    let meta = dir.path().join(META_FILE);
    let good = std::fs::read(&meta).unwrap();
    std::fs::write(&meta, &good[..good.len() / 2]).unwrap();
    expect(open(dir.path()), true, "meta.json is not valid");
    let text = String::from_utf8(good.clone()).unwrap();
    std::fs::write(&meta, text.replace("\"generation\":2", "\"generation\":1")).unwrap();
    expect(open(dir.path()), true, "a commit was interrupted");
    std::fs::write(
        &meta,
        text.replace("\"format_version\":1", "\"format_version\":99"),
    )
    .unwrap();
    expect(open(dir.path()), false, "format version 99");
    std::fs::write(&meta, &good).unwrap();
    assert!(open(dir.path()).is_ok());

    let vectors = dir.path().join(VECTORS_FILE);
    let bytes = std::fs::read(&vectors).unwrap();
    std::fs::write(&vectors, &bytes[..bytes.len() - 7]).unwrap();
    expect(open(dir.path()), true, "bytes");
    std::fs::remove_file(&vectors).unwrap();
    expect(open(dir.path()), true, "vectors.usearch is missing");

    // A commit interrupted after tantivy: tantivy is one generation ahead.
    let dir = tempfile::tempdir().unwrap();
    let mut index = sample(dir.path());
    index.bm25.commit(index.generation + 1).unwrap();
    drop(index);
    expect(open(dir.path()), true, "a commit was interrupted");

    std::fs::remove_dir_all(dir.path().join(TANTIVY_DIR)).unwrap();
    expect(open(dir.path()), true, "tantivy/ is missing");

    // create() starts over in the same place.
    let index = EmbeddedIndex::create(dir.path(), Some(DIM), Some("test-model")).unwrap();
    assert!(index.is_empty());
    drop(index);
    assert!(open(dir.path()).unwrap().is_empty());
}

#[test]
fn dense_search_returns_k_even_when_few_chunks_are_permitted() {
    // Enough chunks that a broad rule uses the graph, a small group that is scanned
    // exactly, and two broad filters whose intersection is tiny.
    let dir = tempfile::tempdir().unwrap();
    let mut index = EmbeddedIndex::create(dir.path(), Some(DIM), None).unwrap();
    let mut chunks = Vec::new();
    for i in 0..6000u32 {
        let angle = i as f32 * 0.01;
        let mut c = chunk(
            "d",
            i,
            "text",
            [angle.cos(), angle.sin(), (i % 7) as f32 * 0.1, 0.5],
        );
        c.source = if i % 2 == 0 { "a" } else { "b" }.to_owned();
        if i % 2 == 1 || i % 1000 == 0 {
            c.metadata.insert("lang".into(), "en".into());
        }
        if i % 500 == 3 {
            c.acl.groups.push("rare".into());
        } else if i % 3 == 0 {
            c.acl.groups.push("common".into());
        }
        chunks.push(c);
    }
    index.replace_document("d", "1", chunks).unwrap();
    index.commit().unwrap();
    let q = [1.0, 0.0, 0.0, 0.5];
    let group = |g: &str| Principal {
        user: None,
        groups: vec![g.into()],
    };
    let dense = |principal: &Principal, filter: &Filter, k: usize| {
        search(&index, Mode::Dense, "", Some(&q), principal, filter, k).unwrap()
    };
    let public = (0..6000).filter(|i| i % 500 != 3 && i % 3 != 0).count();
    let rare_only = Filter {
        sources: vec!["b".into()],
        metadata: vec![],
    };
    // The rare group's 12 chunks are all odd, so source b: public odd chunks + 12.
    let odd_public = (0..6000)
        .filter(|i| i % 2 == 1 && i % 500 != 3 && i % 3 != 0)
        .count();
    assert_eq!(
        dense(&group("rare"), &rare_only, 6000).len(),
        odd_public + 12
    );
    assert_eq!(
        dense(&Principal::anonymous(), &Filter::default(), 6000).len(),
        public
    );
    let common = dense(&group("common"), &Filter::default(), 6000);
    let common_only = (0..6000).filter(|i| i % 3 == 0 && i % 500 != 3).count();
    assert_eq!(common.len(), public + common_only);
    let narrow = Filter {
        sources: vec!["a".into()],
        metadata: vec![("lang".into(), "en".into())],
    };
    let hits = dense(&group("common"), &narrow, 10);
    let mut ordinals: Vec<u32> = hits.iter().map(|h| h.ordinal).collect();
    ordinals.sort();
    assert_eq!(ordinals, [0, 1000, 2000, 3000, 4000, 5000]);
    let top = dense(&Principal::anonymous(), &Filter::default(), 10);
    assert_eq!(top.len(), 10);
    for pair in top.windows(2) {
        assert!(pair[0].score >= pair[1].score);
    }
}

/// A process killed inside a commit, after tantivy wrote a delete file but before the
/// commit landed, leaves that file behind; the next writer picks the same name for the
/// same work. Reproduced exactly: the state before a delete-and-commit, plus the file
/// that commit wrote.
#[test]
fn files_left_by_a_writer_killed_inside_a_commit_do_not_block_the_next_one() {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                copy(&e.path(), &to.join(e.file_name()));
            } else {
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    }
    fn files(root: &Path, dir: &Path, out: &mut std::collections::BTreeSet<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                files(root, &p, out);
            } else {
                out.insert(p.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let listing = |root: &Path| {
        let mut out = std::collections::BTreeSet::new();
        files(root, root, &mut out);
        out
    };
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("index");
    drop(sample(&original));
    let before = dir.path().join("before");
    copy(&original, &before);
    let delete_and_commit = |path: &Path| -> Result<(), IndexError> {
        let mut index = EmbeddedIndex::open(path, Some(DIM), Some("test-model"))?;
        index.delete_document("cats")?;
        index.commit()
    };
    delete_and_commit(&original).unwrap();
    // The files that commit added, planted in the copy taken before it: what a kill
    // between writing them and switching meta.json leaves.
    let planted: Vec<_> = listing(&original)
        .difference(&listing(&before))
        .filter(|p| p.extension().is_some_and(|e| e == "del"))
        .cloned()
        .collect();
    assert!(!planted.is_empty(), "the commit wrote no delete file");
    // tantivy records a file as its own (`.managed.json`) before writing it.
    let managed: Vec<_> = listing(&original)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == ".managed.json"))
        .collect();
    assert!(!managed.is_empty(), "no .managed.json");
    let planted: Vec<_> = planted.into_iter().chain(managed).collect();
    for p in &planted {
        let (from, to) = (original.join(p), before.join(p));
        std::fs::copy(from, to).unwrap();
    }
    delete_and_commit(&before).unwrap();
    let index = EmbeddedIndex::open(&before, Some(DIM), Some("test-model")).unwrap();
    let hits = search(
        &index,
        Mode::Bm25,
        "cats purr",
        None,
        &anyone(),
        &Filter::default(),
        5,
    )
    .unwrap();
    assert!(!index.stamps().contains_key("cats"), "{hits:?}");
    assert!(hits.iter().all(|h| h.document_id != "cats"), "{hits:?}");
}
