//! Property test: permission filtering is exact in every mode, for the embedded store.
//!
//! The property itself (random corpora, principals and queries checked against an
//! independent model of the ACL rules) is in `acl_model/`, shared with the pgvector tests.
//! Small corpora are scanned exactly by the dense search; the large ones (over 2,048
//! broadly visible chunks) make it walk the HNSW graph with the permission predicate, and
//! fall back to an exact scan when the walk finds too few.

mod acl_model;

use acl_model::{DIM, Subject, VOCABULARY, run_case};
use berth_index::{EmbeddedIndex, bm25_terms};
use proptest::prelude::*;

/// The embedded store in a temporary directory.
#[derive(Default)]
struct Embedded {
    dir: Option<tempfile::TempDir>,
}

impl Subject for Embedded {
    type Store = EmbeddedIndex;

    fn create(&mut self) -> EmbeddedIndex {
        let dir = tempfile::tempdir().unwrap();
        let index = EmbeddedIndex::create(dir.path(), Some(DIM), Some("props")).unwrap();
        self.dir = Some(dir);
        index
    }

    fn reopen(&mut self, index: EmbeddedIndex) -> EmbeddedIndex {
        let dir = index.dir().to_owned();
        drop(index);
        EmbeddedIndex::open(&dir, Some(DIM), Some("props")).unwrap()
    }

    fn count(&self, index: &EmbeddedIndex) -> usize {
        index.len()
    }
}

#[test]
fn vocabulary_is_plain() {
    for word in VOCABULARY {
        assert_eq!(
            bm25_terms(word),
            [word],
            "{word} is changed by the analyzer"
        );
        assert_eq!(bm25_terms(&format!("The {word}.")), [word]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

    /// 100 small corpora × 100 queries: 10,000 queries.
    #[test]
    fn small_corpora_filter_exactly(seed in any::<u64>(), chunks in 1usize..80, public in 0u64..100) {
        run_case(&mut Embedded::default(), seed, chunks, public, 100)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// Large corpora, mostly public, so broad principals go through the HNSW graph:
    /// 6 × 200 = 1,200 more queries.
    #[test]
    fn large_corpora_filter_exactly(seed in any::<u64>(), chunks in 2200usize..2600, public in 85u64..98) {
        run_case(&mut Embedded::default(), seed, chunks, public, 200)?;
    }
}
