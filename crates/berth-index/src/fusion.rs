//! Weighted reciprocal rank fusion (RRF): merge ranked lists without comparing their
//! scores.
//!
//! BM25 scores and cosine similarities live on different scales, so hybrid search fuses the
//! *ranks* instead (Cormack et al., 2009): an item at 1-based rank `r` in a list of weight
//! `w` earns `w / (k + r)`, and its fused score is the sum over the lists it appears in.
//! Ties are broken by the item itself (its `Ord`), so the result never depends on hash
//! order or on which list was given first. Every store implementing [`crate::Retriever`]
//! can reuse it.

use std::collections::BTreeMap;

/// How hybrid search weighs its two lists.
///
/// The defaults favour the vector list (weight 1.0 against 0.5 for keywords) and use a
/// small constant (k = 20) that lets the top ranks count: a sentence-embedding model is
/// usually the better ranker, and BM25 adds the exact-term matches it misses. On
/// msmarco-5k they make hybrid better than either list alone, where the classic equal
/// weights with k = 60 land between the two (docs/benchmarks.md).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fusion {
    /// The constant `k` of RRF: larger flattens the difference between ranks.
    pub k: f64,
    /// Weight of the keyword (BM25) list.
    pub keyword_weight: f64,
    /// Weight of the vector list.
    pub vector_weight: f64,
}

impl Default for Fusion {
    fn default() -> Self {
        Fusion {
            k: 20.0,
            keyword_weight: 0.5,
            vector_weight: 1.0,
        }
    }
}

/// One item of a fused list.
#[derive(Debug, Clone, PartialEq)]
pub struct Fused<T> {
    /// The item (for the stores: a chunk id).
    pub item: T,
    /// `Σ weight / (k + rank)` over the lists that contain the item.
    pub score: f64,
    /// The item's 1-based rank in each input list, in the order the lists were given.
    pub ranks: Vec<Option<usize>>,
}

/// Fuses ranked lists (each best first, with its weight) and returns the best `limit`
/// items, best first.
///
/// An item repeated inside one list counts once, at its best rank. Equal scores are ordered
/// by the item, ascending.
pub fn reciprocal_rank_fusion<T: Ord + Clone>(
    lists: &[(&[T], f64)],
    k: f64,
    limit: usize,
) -> Vec<Fused<T>> {
    let mut fused: BTreeMap<&T, Vec<Option<usize>>> = BTreeMap::new();
    for (list_index, (list, _)) in lists.iter().enumerate() {
        for (position, item) in list.iter().enumerate() {
            let ranks = fused.entry(item).or_insert_with(|| vec![None; lists.len()]);
            if ranks[list_index].is_none() {
                ranks[list_index] = Some(position + 1);
            }
        }
    }
    let mut out: Vec<Fused<T>> = fused
        .into_iter()
        .map(|(item, ranks)| Fused {
            item: item.clone(),
            score: ranks
                .iter()
                .zip(lists)
                .filter_map(|(r, (_, weight))| r.map(|r| weight / (k + r as f64)))
                .sum(),
            ranks,
        })
        .collect();
    // `total_cmp` keeps the order total; scores are finite sums of positive terms anyway.
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.item.cmp(&b.item))
    });
    out.truncate(limit);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn items_in_both_lists_win() {
        let bm25 = ["a", "b", "c"];
        let dense = ["c", "d", "a"];
        let fused = reciprocal_rank_fusion(&[(&bm25, 1.0), (&dense, 1.0)], 60.0, 10);
        let order: Vec<&str> = fused.iter().map(|f| f.item).collect();
        // a: 1/61 + 1/63, c: 1/63 + 1/61 (tie, broken by id), then b (1/62), d (1/62).
        assert_eq!(order, ["a", "c", "b", "d"]);
        assert_eq!(fused[0].ranks, [Some(1), Some(3)]);
        assert_eq!(fused[2].ranks, [Some(2), None]);
        assert!((fused[0].score - (1.0 / 61.0 + 1.0 / 63.0)).abs() < 1e-12);
    }

    #[test]
    fn limit_and_empty_lists() {
        let empty: [&str; 0] = [];
        assert!(reciprocal_rank_fusion(&[(&empty, 1.0), (&empty, 1.0)], 60.0, 5).is_empty());
        assert_eq!(
            reciprocal_rank_fusion(&[(&["x", "y"][..], 1.0)], 60.0, 1).len(),
            1
        );
        assert!(reciprocal_rank_fusion(&[(&["x"][..], 1.0)], 60.0, 0).is_empty());
    }

    #[test]
    fn duplicates_count_once_at_their_best_rank() {
        let fused = reciprocal_rank_fusion(&[(&["a", "b", "a"][..], 1.0)], 60.0, 10);
        assert_eq!(fused.len(), 2);
        assert_eq!(fused[0].ranks, [Some(1)]);
    }

    #[test]
    fn weights_decide_between_the_lists() {
        let bm25 = ["a", "b"];
        let dense = ["b", "a"];
        let d = Fusion::default();
        let fused = reciprocal_rank_fusion(
            &[(&bm25, d.keyword_weight), (&dense, d.vector_weight)],
            d.k,
            2,
        );
        // b: 0.5/22 + 1/21 beats a: 0.5/21 + 1/22.
        assert_eq!(fused[0].item, "b");
        let even = reciprocal_rank_fusion(&[(&bm25, 1.0), (&dense, 1.0)], 20.0, 2);
        assert_eq!(
            even[0].item, "a",
            "equal weights tie, and the tie goes to the smaller id"
        );
    }

    proptest! {
        /// Hybrid fusion is stable: the order of the input lists does not change the result
        /// (beyond swapping the rank columns), and the result is sorted and unique.
        #[test]
        fn fusion_is_stable(
            a in proptest::collection::vec(0u8..40, 0..30),
            b in proptest::collection::vec(0u8..40, 0..30),
            limit in 0usize..50,
        ) {
            let ab = reciprocal_rank_fusion(&[(&a, 0.5), (&b, 1.0)], 20.0, limit);
            let ba = reciprocal_rank_fusion(&[(&b, 1.0), (&a, 0.5)], 20.0, limit);
            prop_assert_eq!(ab.len(), ba.len());
            for (x, y) in ab.iter().zip(&ba) {
                prop_assert_eq!(x.item, y.item);
                prop_assert_eq!(x.score, y.score);
                prop_assert_eq!(x.ranks[0], y.ranks[1]);
            }
            for pair in ab.windows(2) {
                prop_assert!(
                    pair[0].score > pair[1].score
                        || (pair[0].score == pair[1].score && pair[0].item < pair[1].item)
                );
            }
            let mut union: Vec<u8> = a.iter().chain(&b).copied().collect();
            union.sort();
            union.dedup();
            prop_assert_eq!(ab.len(), union.len().min(limit));
        }
    }
}
