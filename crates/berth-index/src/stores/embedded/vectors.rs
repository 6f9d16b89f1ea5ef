//! The vector side: a usearch HNSW graph over unit-length f32 vectors, persisted as
//! `vectors.usearch`.
//!
//! Similarity is cosine. Vectors (stored and query) are normalized when they enter, so the
//! cosine is a plain dot product: the graph uses usearch's inner-product metric (distance
//! `1 - dot`), which skips the two norms the cosine metric would recompute for every visited
//! node, and the exact scan computes the same dot product.

use std::path::Path;

use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use crate::error::IndexError;
use crate::stores::embedded::meta::{VectorsFile, rename_durably, temporary_path};

/// The file name inside the index directory.
pub(crate) const VECTORS_FILE: &str = "vectors.usearch";

/// HNSW graph degree (`M`): 16 links per node is the usual balance of recall and memory.
const CONNECTIVITY: usize = 16;
/// Candidate list size while inserting (`efConstruction`).
const EXPANSION_ADD: usize = 128;
/// Candidate list size while searching (`ef`); a search for more hits uses that many.
const EXPANSION_SEARCH: usize = 64;

/// The HNSW index. See the module documentation.
pub(crate) struct Vectors {
    index: Index,
    dimension: usize,
}

impl std::fmt::Debug for Vectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vectors")
            .field("dimension", &self.dimension)
            .field("len", &self.index.size())
            .finish()
    }
}

fn options(dimension: usize) -> IndexOptions {
    IndexOptions {
        dimensions: dimension,
        metric: MetricKind::IP,
        quantization: ScalarKind::F32,
        connectivity: CONNECTIVITY,
        expansion_add: EXPANSION_ADD,
        expansion_search: EXPANSION_SEARCH,
        multi: false,
    }
}

fn usearch_error(e: impl std::fmt::Display) -> IndexError {
    IndexError::Vectors(e.to_string())
}

fn utf8_path(path: &Path) -> Result<&str, IndexError> {
    path.to_str().ok_or_else(|| IndexError::Io {
        path: path.to_owned(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the vector index needs a UTF-8 path",
        ),
    })
}

/// Checks a vector and returns it scaled to unit length.
pub(crate) fn normalized(
    vector: &[f32],
    dimension: usize,
    item: &str,
) -> Result<Vec<f32>, IndexError> {
    if vector.len() != dimension {
        return Err(IndexError::Dimension {
            expected: dimension,
            found: vector.len(),
            item: item.to_owned(),
        });
    }
    if vector.iter().any(|x| !x.is_finite()) {
        return Err(IndexError::InvalidVector {
            item: item.to_owned(),
            reason: "it contains NaN or infinity",
        });
    }
    let norm = vector
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return Err(IndexError::InvalidVector {
            item: item.to_owned(),
            reason: "its length is zero or overflows, so its direction is undefined",
        });
    }
    Ok(vector
        .iter()
        .map(|&x| (f64::from(x) / norm) as f32)
        .collect())
}

impl Vectors {
    /// An empty index.
    pub(crate) fn new(dimension: usize) -> Result<Self, IndexError> {
        let index = Index::new(&options(dimension)).map_err(usearch_error)?;
        index.reserve(64).map_err(usearch_error)?;
        Ok(Self { index, dimension })
    }

    /// Loads `dir/vectors.usearch` and checks it against what `meta.json` expects.
    pub(crate) fn load(
        dir: &Path,
        dimension: usize,
        expected: VectorsFile,
    ) -> Result<Self, IndexError> {
        let path = dir.join(VECTORS_FILE);
        let corrupt = |reason: String| IndexError::Corrupt {
            dir: dir.to_owned(),
            reason,
        };
        let bytes = match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(corrupt(format!("{VECTORS_FILE} is missing")));
            }
            Err(e) => return Err(corrupt(format!("{VECTORS_FILE} cannot be read: {e}"))),
        };
        if bytes != expected.bytes {
            return Err(corrupt(format!(
                "{VECTORS_FILE} has {bytes} bytes, but the last commit wrote {}",
                expected.bytes
            )));
        }
        let header = Index::metadata(utf8_path(&path)?)
            .map_err(|e| corrupt(format!("{VECTORS_FILE} has no valid header: {e}")))?;
        if header.dimensions != dimension as u64 || header.metric != MetricKind::IP || header.multi
        {
            return Err(corrupt(format!(
                "{VECTORS_FILE} holds {}-dimensional {:?} vectors, expected {dimension}-dimensional IP",
                header.dimensions, header.metric
            )));
        }
        let index = Index::new(&options(dimension)).map_err(usearch_error)?;
        index
            .load(utf8_path(&path)?)
            .map_err(|e| corrupt(format!("{VECTORS_FILE} cannot be loaded: {e}")))?;
        if index.size() != expected.count || index.dimensions() != dimension {
            return Err(corrupt(format!(
                "{VECTORS_FILE} holds {} vectors, but the last commit wrote {}",
                index.size(),
                expected.count
            )));
        }
        // Loading resets the search expansion to the file's; use ours.
        index.change_expansion_search(EXPANSION_SEARCH);
        index.change_expansion_add(EXPANSION_ADD);
        Ok(Self { index, dimension })
    }

    /// Writes `dir/vectors.usearch` atomically; returns what `meta.json` should expect.
    pub(crate) fn save(&self, dir: &Path) -> Result<VectorsFile, IndexError> {
        let path = dir.join(VECTORS_FILE);
        let tmp = temporary_path(&path);
        self.index.save(utf8_path(&tmp)?).map_err(usearch_error)?;
        let io = |source| IndexError::Io {
            path: tmp.clone(),
            source,
        };
        let file = std::fs::File::open(&tmp).map_err(io)?;
        file.sync_all().map_err(io)?;
        let bytes = file.metadata().map_err(io)?.len();
        drop(file);
        rename_durably(&tmp, &path)?;
        Ok(VectorsFile {
            count: self.index.size(),
            bytes,
        })
    }

    /// The vector dimension.
    pub(crate) fn dimension(&self) -> usize {
        self.dimension
    }

    /// Number of vectors.
    pub(crate) fn len(&self) -> usize {
        self.index.size()
    }

    /// Whether the key has a vector.
    pub(crate) fn contains(&self, key: u64) -> bool {
        self.index.contains(key)
    }

    /// Removes a key's vector (no-op when absent).
    pub(crate) fn remove(&self, key: u64) -> Result<(), IndexError> {
        self.index.remove(key).map(drop).map_err(usearch_error)
    }

    /// Adds unit vectors, in parallel when there are many.
    pub(crate) fn add_all(&mut self, items: &[(u64, Vec<f32>)]) -> Result<(), IndexError> {
        let needed = self.index.size() + items.len();
        if needed > self.index.capacity() {
            let capacity = needed.max(self.index.capacity().saturating_mul(2));
            self.index.reserve(capacity).map_err(usearch_error)?;
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        if items.len() < 1024 || threads == 1 {
            for (key, vector) in items {
                self.index.add(*key, vector).map_err(usearch_error)?;
            }
            return Ok(());
        }
        let index = &self.index;
        let per_thread = items.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let workers: Vec<_> = items
                .chunks(per_thread)
                .map(|part| {
                    scope.spawn(move || -> Result<(), IndexError> {
                        for (key, vector) in part {
                            index.add(*key, vector).map_err(usearch_error)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            workers.into_iter().try_for_each(|w| {
                w.join().unwrap_or_else(|_| {
                    Err(IndexError::Vectors("an insert thread panicked".into()))
                })
            })
        })
    }

    /// Approximate search: up to `count` keys accepted by `allow`, with cosine similarity,
    /// best first.
    pub(crate) fn search(
        &self,
        query: &[f32],
        count: usize,
        allow: impl Fn(u64) -> bool,
    ) -> Result<Vec<(u64, f32)>, IndexError> {
        let matches = self
            .index
            .filtered_search(query, count, allow)
            .map_err(usearch_error)?;
        Ok(matches
            .keys
            .into_iter()
            .zip(matches.distances)
            .map(|(key, distance)| (key, 1.0 - distance))
            .collect())
    }

    /// Exact search over the given keys: the best `count` by cosine similarity.
    pub(crate) fn exact(
        &self,
        query: &[f32],
        keys: &[u64],
        count: usize,
    ) -> Result<Vec<(u64, f32)>, IndexError> {
        let mut buffer = vec![0f32; self.dimension];
        let mut scored = Vec::with_capacity(keys.len());
        for &key in keys {
            if self.index.get(key, &mut buffer).map_err(usearch_error)? == 1 {
                let dot: f32 = query.iter().zip(&buffer).map(|(a, b)| a * b).sum();
                scored.push((key, dot));
            }
        }
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.truncate(count);
        Ok(scored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_rejects_bad_vectors() {
        assert!(matches!(
            normalized(&[1.0, 2.0], 3, "the query"),
            Err(IndexError::Dimension {
                expected: 3,
                found: 2,
                ..
            })
        ));
        assert!(matches!(
            normalized(&[f32::NAN, 0.0, 0.0], 3, "the query"),
            Err(IndexError::InvalidVector { .. })
        ));
        assert!(matches!(
            normalized(&[0.0; 3], 3, "the query"),
            Err(IndexError::InvalidVector { .. })
        ));
        let unit = normalized(&[3.0, 4.0, 0.0], 3, "q").unwrap();
        assert!((unit[0] - 0.6).abs() < 1e-6 && (unit[1] - 0.8).abs() < 1e-6);
    }

    #[test]
    fn graph_and_exact_search_agree_and_survive_save_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let mut vectors = Vectors::new(3).unwrap();
        let items: Vec<(u64, Vec<f32>)> = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]]
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u64 + 10, normalized(v, 3, "c").unwrap()))
            .collect();
        vectors.add_all(&items).unwrap();
        let query = normalized(&[1.0, 0.1, 0.0], 3, "q").unwrap();
        let graph = vectors.search(&query, 2, |_| true).unwrap();
        let exact = vectors.exact(&query, &[10, 11, 12], 2).unwrap();
        assert_eq!(graph.iter().map(|h| h.0).collect::<Vec<_>>(), [10, 12]);
        assert_eq!(exact.iter().map(|h| h.0).collect::<Vec<_>>(), [10, 12]);
        for (g, e) in graph.iter().zip(&exact) {
            assert!((g.1 - e.1).abs() < 1e-4, "{g:?} {e:?}");
        }
        let filtered = vectors.search(&query, 5, |k| k != 10).unwrap();
        assert_eq!(filtered.iter().map(|h| h.0).collect::<Vec<_>>(), [12, 11]);

        vectors.remove(12).unwrap();
        assert!(!vectors.contains(12));
        let file = vectors.save(dir.path()).unwrap();
        assert_eq!(file.count, 2);
        let loaded = Vectors::load(dir.path(), 3, file).unwrap();
        assert_eq!(loaded.len(), 2);
        assert!(loaded.contains(10) && !loaded.contains(12));
        let err = Vectors::load(dir.path(), 4, file).unwrap_err();
        assert!(err.to_string().contains("3-dimensional"), "{err}");
    }
}
