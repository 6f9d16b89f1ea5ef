//! The reading side of the embedded store: BM25, dense and hybrid search.
//!
//! Each list is filtered inside its own search (tantivy query clauses; the usearch
//! predicate or an exact scan over the permitted chunks), sorted by score and then chunk id,
//! and hybrid fuses the two with [`reciprocal_rank_fusion`]. Only the final `k` hits are
//! read from tantivy's document store.

use std::collections::HashMap;

use tantivy::{DocAddress, Searcher};

use super::EmbeddedIndex;
use super::bm25::{Bm25Hit, TANTIVY_DIR};
use super::catalog::{Access, Permitted};
use super::meta::META_FILE;
use super::vectors::{Vectors, normalized};
use crate::error::IndexError;
use crate::fusion::reciprocal_rank_fusion;
use crate::stores::{Mode, Retriever, SearchHit, SearchRequest, hybrid_depth};

/// Below this many permitted chunks (or 5% of the index, if larger), the dense search scans
/// the permitted chunks exactly instead of walking the graph: a graph walk that must skip
/// most nodes is slower and may not find `k` of the few.
const EXACT_SCAN_MIN: usize = 2048;

impl EmbeddedIndex {
    fn bm25_list(
        &self,
        searcher: &Searcher,
        request: &SearchRequest<'_>,
        limit: usize,
    ) -> Result<Vec<(Bm25Hit, &str)>, IndexError> {
        let hits = self.bm25.search(
            searcher,
            request.text,
            request.principal,
            request.filter,
            limit,
        )?;
        let mut list = hits
            .into_iter()
            .map(|hit| Ok((hit, self.chunk_id(hit.key)?)))
            .collect::<Result<Vec<_>, IndexError>>()?;
        list.sort_by(|a, b| b.0.score.total_cmp(&a.0.score).then_with(|| a.1.cmp(b.1)));
        Ok(list)
    }

    fn dense_list(
        &self,
        vectors: &Vectors,
        query: &[f32],
        access: &Access,
        limit: usize,
    ) -> Result<Vec<(u64, f32, &str)>, IndexError> {
        let threshold = EXACT_SCAN_MIN.max(self.catalog.len() / 20);
        let hits = match self.catalog.permitted(access, threshold) {
            Permitted::Few(keys) => vectors.exact(query, &keys, limit)?,
            Permitted::Many => {
                let mut hits =
                    vectors.search(query, limit, |key| self.catalog.permits(access, key))?;
                hits.retain(|&(key, _)| self.catalog.permits(access, key));
                if hits.len() < limit {
                    // The graph walk found too few: count exactly and scan if it missed any.
                    if let Permitted::Few(keys) = self.catalog.permitted(access, usize::MAX)
                        && keys.len() > hits.len()
                    {
                        hits = vectors.exact(query, &keys, limit)?;
                    }
                }
                hits
            }
        };
        let mut list = hits
            .into_iter()
            .map(|(key, score)| Ok((key, score, self.chunk_id(key)?)))
            .collect::<Result<Vec<_>, IndexError>>()?;
        list.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.2.cmp(b.2)));
        Ok(list)
    }

    fn chunk_id(&self, key: u64) -> Result<&str, IndexError> {
        self.catalog
            .get(key)
            .map(|entry| &*entry.chunk_id)
            .ok_or_else(|| IndexError::Corrupt {
                dir: self.dir.clone(),
                reason: format!("key {key:016x} is in a search structure but not in {META_FILE}"),
            })
    }

    fn hit(
        &self,
        searcher: &Searcher,
        key: u64,
        address: Option<DocAddress>,
        score: f32,
        bm25_rank: Option<usize>,
        dense_rank: Option<usize>,
    ) -> Result<SearchHit, IndexError> {
        let address = match address {
            Some(address) => address,
            None => self
                .bm25
                .address_of(searcher, key)?
                .ok_or_else(|| IndexError::Corrupt {
                    dir: self.dir.clone(),
                    reason: format!(
                        "key {key:016x} has a vector but no document in {TANTIVY_DIR}/"
                    ),
                })?,
        };
        let stored = self.bm25.stored(searcher, address)?;
        Ok(SearchHit {
            chunk_id: stored.chunk_id,
            document_id: stored.document_id,
            source: stored.source,
            ordinal: stored.ordinal,
            score,
            bm25_rank,
            dense_rank,
            text: stored.text,
            heading_path: stored.heading_path,
            page_start: stored.page_start,
            page_end: stored.page_end,
        })
    }

    fn query_vector(
        &self,
        request: &SearchRequest<'_>,
        dimension: usize,
    ) -> Result<Vec<f32>, IndexError> {
        match request.vector {
            Some(vector) => normalized(vector, dimension, "the query"),
            None => Err(IndexError::MissingVector {
                item: "the query".to_owned(),
                reason: "dense and hybrid searches need the embedded query; embed the query text or use mode bm25",
            }),
        }
    }
}

impl Retriever for EmbeddedIndex {
    fn search(&self, request: &SearchRequest<'_>) -> Result<Vec<SearchHit>, IndexError> {
        self.check_usable()?;
        let vectors = match (request.mode, &self.vectors) {
            (Mode::Bm25, _) | (Mode::Hybrid, None) => None,
            (Mode::Dense, None) => {
                return Err(IndexError::MissingVector {
                    item: format!("the index in {}", self.dir.display()),
                    reason: "it is keyword only (its pipeline has no embedding model); use mode bm25 or hybrid",
                });
            }
            (Mode::Dense | Mode::Hybrid, Some(vectors)) => {
                Some((vectors, self.query_vector(request, vectors.dimension())?))
            }
        };
        // More than every chunk is every chunk; this also keeps huge `k` from allocating.
        let k = request.k.min(self.catalog.len());
        if k == 0 {
            return Ok(Vec::new());
        }
        let searcher = self.bm25.searcher();
        match (request.mode, vectors) {
            (Mode::Dense, Some((vectors, query))) => {
                let access = self.catalog.access(request.principal, request.filter);
                self.dense_list(vectors, &query, &access, k)?
                    .into_iter()
                    .enumerate()
                    .map(|(i, (key, score, _))| {
                        self.hit(&searcher, key, None, score, None, Some(i + 1))
                    })
                    .collect()
            }
            (Mode::Hybrid, Some((vectors, query))) => {
                let depth = hybrid_depth(k).min(self.catalog.len());
                let access = self.catalog.access(request.principal, request.filter);
                let bm25 = self.bm25_list(&searcher, request, depth)?;
                let dense = self.dense_list(vectors, &query, &access, depth)?;
                let bm25_ids: Vec<(&str, u64)> = bm25.iter().map(|(h, id)| (*id, h.key)).collect();
                let dense_ids: Vec<(&str, u64)> =
                    dense.iter().map(|(key, _, id)| (*id, *key)).collect();
                let addresses: HashMap<u64, DocAddress> =
                    bm25.iter().map(|(h, _)| (h.key, h.address)).collect();
                let f = self.fusion;
                reciprocal_rank_fusion(
                    &[(&bm25_ids, f.keyword_weight), (&dense_ids, f.vector_weight)],
                    f.k,
                    k,
                )
                .into_iter()
                .map(|fused| {
                    let (_, key) = fused.item;
                    self.hit(
                        &searcher,
                        key,
                        addresses.get(&key).copied(),
                        fused.score as f32,
                        fused.ranks[0],
                        fused.ranks[1],
                    )
                })
                .collect()
            }
            // Bm25, and Hybrid on a keyword-only index.
            _ => self
                .bm25_list(&searcher, request, k)?
                .into_iter()
                .enumerate()
                .map(|(i, (hit, _))| {
                    self.hit(
                        &searcher,
                        hit.key,
                        Some(hit.address),
                        hit.score,
                        Some(i + 1),
                        None,
                    )
                })
                .collect(),
        }
    }
}
