//! The embedded store: tantivy (BM25) and usearch (HNSW) in one directory, no server.
//!
//! Layout of the index directory:
//!
//! | path              | what                                                    | module       |
//! |-------------------|---------------------------------------------------------|--------------|
//! | `tantivy/`        | BM25 index and document store                           | `bm25.rs`    |
//! | `vectors.usearch` | HNSW graph and vectors (absent when keyword only)       | `vectors.rs` |
//! | `meta.json`       | model, dimension, generation, stamps, per-chunk filters | `meta.rs`    |
//!
//! `catalog.rs` keeps the committed chunks' filter data in memory for the vector search.
//!
//! Writes are buffered until [`VectorStore::commit`], which commits tantivy with the new
//! generation as payload, saves the vectors through a temporary file and a rename, and
//! writes `meta.json` last, the same way. [`EmbeddedIndex::open`] checks that the three
//! agree (generation, chunk counts, vector file size and header) and answers
//! [`IndexError::Corrupt`] or [`IndexError::Stale`] otherwise: the index is derived from the
//! state store, so the caller rebuilds it with [`EmbeddedIndex::create`] rather than trying
//! to repair it.
//!
//! Searches see the last commit. A keyword-only index (created without a dimension) answers
//! [`Mode::Hybrid`](crate::Mode::Hybrid) exactly as [`Mode::Bm25`](crate::Mode::Bm25), and
//! refuses [`Mode::Dense`](crate::Mode::Dense).

pub(crate) mod bm25;
mod catalog;
pub(crate) mod meta;
mod search;
pub(crate) mod vectors;

use crate::fusion::Fusion;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::error::IndexError;
use crate::stores::{IndexChunk, VectorStore};
use bm25::{Bm25, TANTIVY_DIR};
use catalog::{Catalog, chunk_key};
use meta::{ChunkMeta, DocumentMeta, FORMAT_VERSION, META_FILE, MetaFile, temporary_path};
use vectors::{VECTORS_FILE, Vectors, normalized};

/// A validated chunk: its key and, in an index with vectors, its unit vector.
type Checked = (u64, Option<Vec<f32>>);

/// A document's buffered replacement.
#[derive(Debug)]
struct Pending {
    stamp: String,
    chunks: Vec<ChunkMeta>,
    /// Unit vectors by key (empty for a keyword-only index).
    vectors: Vec<(u64, Vec<f32>)>,
}

/// The embedded retrieval index. See the module documentation.
#[derive(Debug)]
pub struct EmbeddedIndex {
    dir: PathBuf,
    dimension: Option<usize>,
    model: Option<String>,
    generation: u64,
    bm25: Bm25,
    vectors: Option<Vectors>,
    catalog: Catalog,
    stamps: BTreeMap<String, String>,
    /// Document → its new content, or `None` when deleted; applied at commit.
    pending: BTreeMap<String, Option<Pending>>,
    /// Key → (chunk id, document id) of every pending chunk.
    pending_keys: HashMap<u64, (String, String)>,
    /// Set when a commit failed half way: memory and disk may disagree.
    broken: Option<String>,
    /// How hybrid search fuses its lists.
    fusion: Fusion,
}

impl EmbeddedIndex {
    /// Opens the index in `dir`.
    ///
    /// `dimension` is the vector size of the pipeline's embedding model (`None`: keyword
    /// only) and `model` its name. If the directory holds an index made for another
    /// dimension, model or format, this returns [`IndexError::Stale`]; if its files are
    /// missing, unreadable or inconsistent with each other, [`IndexError::Corrupt`]. In both
    /// cases ([`IndexError::needs_rebuild`]) call [`EmbeddedIndex::create`] and re-index.
    pub fn open(
        dir: &Path,
        dimension: Option<usize>,
        model: Option<&str>,
    ) -> Result<Self, IndexError> {
        let meta = MetaFile::read(dir)?;
        let stale = |reason: String| IndexError::Stale {
            dir: dir.to_owned(),
            reason,
        };
        let corrupt = |reason: String| IndexError::Corrupt {
            dir: dir.to_owned(),
            reason,
        };
        if meta.format_version != FORMAT_VERSION {
            return Err(stale(format!(
                "it has format version {}, this build reads version {FORMAT_VERSION}",
                meta.format_version
            )));
        }
        if meta.dimension != dimension {
            return Err(stale(format!(
                "it was built for {}, the pipeline now has {}",
                describe_dimension(meta.dimension),
                describe_dimension(dimension)
            )));
        }
        if meta.model.as_deref() != model {
            return Err(stale(format!(
                "it was built for embedding model {}, the pipeline now uses {}",
                describe_model(meta.model.as_deref()),
                describe_model(model)
            )));
        }
        let bm25 = Bm25::open(dir)?;
        let payload = bm25
            .payload()
            .map_err(|e| corrupt(format!("{TANTIVY_DIR}/ has unreadable metadata: {e}")))?;
        if payload.as_deref() != Some(meta.generation.to_string().as_str()) {
            return Err(corrupt(format!(
                "{TANTIVY_DIR}/ is at generation {}, {META_FILE} at {} (a commit was interrupted)",
                payload.as_deref().unwrap_or("none"),
                meta.generation
            )));
        }
        let mut catalog = Catalog::default();
        let mut stamps = BTreeMap::new();
        for (document_id, document) in meta.documents {
            for chunk in &document.chunks {
                if let Some(other) = catalog.get(chunk_key(&chunk.id)) {
                    return Err(corrupt(format!(
                        "{META_FILE} lists chunk {} twice or with the key of {}",
                        chunk.id, other.chunk_id
                    )));
                }
                catalog.insert(chunk_key(&chunk.id), &document_id, chunk);
            }
            stamps.insert(document_id.clone(), document.stamp.clone());
            catalog.documents.insert(document_id, document);
        }
        let docs = bm25.num_docs();
        if docs != catalog.len() as u64 {
            return Err(corrupt(format!(
                "{TANTIVY_DIR}/ holds {docs} chunks, {META_FILE} lists {}",
                catalog.len()
            )));
        }
        let vectors = match (dimension, meta.vectors) {
            (None, None) => None,
            (Some(dimension), Some(file)) => {
                let vectors = Vectors::load(dir, dimension, file)?;
                if vectors.len() != catalog.len() {
                    return Err(corrupt(format!(
                        "{VECTORS_FILE} holds {} vectors, {META_FILE} lists {} chunks",
                        vectors.len(),
                        catalog.len()
                    )));
                }
                if let Some(id) = catalog
                    .documents
                    .values()
                    .flat_map(|d| &d.chunks)
                    .find(|c| !vectors.contains(chunk_key(&c.id)))
                {
                    return Err(corrupt(format!(
                        "{VECTORS_FILE} has no vector for chunk {}",
                        id.id
                    )));
                }
                Some(vectors)
            }
            (Some(_), None) => {
                return Err(corrupt(format!(
                    "{META_FILE} does not describe {VECTORS_FILE}"
                )));
            }
            (None, Some(_)) => {
                return Err(corrupt(format!(
                    "{META_FILE} describes {VECTORS_FILE}, but the index has no dimension"
                )));
            }
        };
        Ok(Self {
            dir: dir.to_owned(),
            dimension,
            model: model.map(str::to_owned),
            generation: meta.generation,
            bm25,
            vectors,
            catalog,
            stamps,
            pending: BTreeMap::new(),
            pending_keys: HashMap::new(),
            broken: None,
            fusion: Fusion::default(),
        })
    }

    /// Creates an empty index in `dir`, replacing whatever index was there.
    ///
    /// Only the index's own entries (`tantivy/`, `vectors.usearch`, `meta.json` and their
    /// temporary files) are removed, so a mistyped directory cannot lose unrelated files.
    /// The empty index is committed at once: [`EmbeddedIndex::open`] accepts it.
    pub fn create(
        dir: &Path,
        dimension: Option<usize>,
        model: Option<&str>,
    ) -> Result<Self, IndexError> {
        if dimension == Some(0) {
            return Err(IndexError::Vectors(
                "a vector dimension of 0 is not allowed".to_owned(),
            ));
        }
        let io = |path: PathBuf| move |source| IndexError::Io { path, source };
        std::fs::create_dir_all(dir).map_err(io(dir.to_owned()))?;
        // meta.json goes first: an interrupted create must not look like a valid index.
        for name in [META_FILE, VECTORS_FILE] {
            let path = dir.join(name);
            for path in [temporary_path(&path), path] {
                match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(path)(e)),
                    _ => {}
                }
            }
        }
        let tantivy = dir.join(TANTIVY_DIR);
        match std::fs::remove_dir_all(&tantivy) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(tantivy)(e)),
            _ => {}
        }
        let vectors = dimension.map(Vectors::new).transpose()?;
        let mut index = Self {
            dir: dir.to_owned(),
            dimension,
            model: model.map(str::to_owned),
            generation: 0,
            bm25: Bm25::create(dir)?,
            vectors,
            catalog: Catalog::default(),
            stamps: BTreeMap::new(),
            pending: BTreeMap::new(),
            pending_keys: HashMap::new(),
            broken: None,
            fusion: Fusion::default(),
        };
        index.write_commit()?;
        Ok(index)
    }

    /// Number of committed chunks.
    pub fn len(&self) -> usize {
        self.catalog.len()
    }

    /// Whether no chunk is committed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Changes how hybrid search weighs and fuses its two lists (default:
    /// [`Fusion::default`]).
    pub fn set_fusion(&mut self, fusion: Fusion) {
        self.fusion = fusion;
    }

    /// The vector dimension, `None` for a keyword-only index.
    pub fn dimension(&self) -> Option<usize> {
        self.dimension
    }

    /// The embedding model the index was built for.
    pub fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// The index directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes the index directory takes on disk.
    pub fn size_on_disk(&self) -> std::io::Result<u64> {
        fn walk(path: &Path) -> std::io::Result<u64> {
            let mut total = 0;
            for entry in std::fs::read_dir(path)? {
                let entry = entry?;
                let kind = entry.file_type()?;
                if kind.is_dir() {
                    total += walk(&entry.path())?;
                } else if kind.is_file() {
                    total += entry.metadata()?.len();
                }
            }
            Ok(total)
        }
        walk(&self.dir)
    }

    fn check_usable(&self) -> Result<(), IndexError> {
        match &self.broken {
            Some(reason) => Err(IndexError::Corrupt {
                dir: self.dir.clone(),
                reason: format!("an earlier commit failed half way ({reason}); recreate the index"),
            }),
            None => Ok(()),
        }
    }

    /// Who holds `key` once the pending changes are applied, ignoring `document_id` itself.
    fn owner_elsewhere(&self, key: u64, document_id: &str) -> Option<(&str, &str)> {
        if let Some((chunk, document)) = self.pending_keys.get(&key) {
            return (document != document_id).then_some((chunk.as_str(), document.as_str()));
        }
        let entry = self.catalog.get(key)?;
        let document = &*entry.document_id;
        (document != document_id && !self.pending.contains_key(document))
            .then_some((&*entry.chunk_id, document))
    }

    /// Checks a replacement before anything is written; returns the chunks' keys and unit
    /// vectors.
    fn validate(
        &self,
        document_id: &str,
        chunks: &[IndexChunk],
    ) -> Result<Vec<Checked>, IndexError> {
        let mut seen: HashMap<u64, &str> = HashMap::with_capacity(chunks.len());
        let mut checked = Vec::with_capacity(chunks.len());
        for chunk in chunks {
            if chunk.document_id != document_id {
                return Err(IndexError::WrongDocument {
                    chunk_id: chunk.id.clone(),
                    expected: document_id.to_owned(),
                    found: chunk.document_id.clone(),
                });
            }
            let key = chunk_key(&chunk.id);
            let other = seen
                .insert(key, &chunk.id)
                .map(|other| (other, document_id))
                .or_else(|| self.owner_elsewhere(key, document_id));
            match other {
                Some((other, document)) if other == chunk.id => {
                    return Err(IndexError::DuplicateChunk {
                        chunk_id: chunk.id.clone(),
                        document_id: document.to_owned(),
                    });
                }
                Some((other, _)) => {
                    return Err(IndexError::KeyCollision {
                        chunk_id: chunk.id.clone(),
                        other: other.to_owned(),
                    });
                }
                None => {}
            }
            let vector = match (self.dimension, &chunk.vector) {
                (Some(dimension), Some(vector)) => Some(normalized(
                    vector,
                    dimension,
                    &format!("chunk {}", chunk.id),
                )?),
                (Some(_), None) => {
                    return Err(IndexError::MissingVector {
                        item: format!("chunk {}", chunk.id),
                        reason: "the index stores a vector for every chunk; embed it first",
                    });
                }
                (None, Some(_)) => {
                    return Err(IndexError::UnexpectedVector {
                        chunk_id: chunk.id.clone(),
                    });
                }
                (None, None) => None,
            };
            checked.push((key, vector));
        }
        Ok(checked)
    }

    fn forget_pending_keys(&mut self, document_id: &str) {
        if let Some(Some(pending)) = self.pending.get(document_id) {
            for chunk in &pending.chunks {
                self.pending_keys.remove(&chunk_key(&chunk.id));
            }
        }
    }

    /// Applies the pending changes to the catalog and the vectors, then writes all three
    /// parts. Any failure leaves memory and disk out of step, so it marks the index broken.
    fn apply_and_write(&mut self) -> Result<(), IndexError> {
        let pending = std::mem::take(&mut self.pending);
        self.pending_keys.clear();
        // Removals first: a chunk id may move to a document replaced in the same commit.
        for document_id in pending.keys() {
            let removed = self.catalog.remove_document(document_id);
            if let Some(vectors) = &self.vectors {
                for key in removed {
                    vectors.remove(key)?;
                }
            }
        }
        let mut new_vectors = Vec::new();
        for (document_id, change) in pending {
            if let Some(Pending {
                stamp,
                chunks,
                vectors,
            }) = change
            {
                new_vectors.extend(vectors);
                self.catalog
                    .insert_document(&document_id, DocumentMeta { stamp, chunks });
            }
        }
        if let Some(vectors) = &mut self.vectors {
            vectors.add_all(&new_vectors)?;
        }
        self.write_commit()
    }

    /// Commits tantivy, saves the vectors and writes `meta.json`, as generation + 1.
    fn write_commit(&mut self) -> Result<(), IndexError> {
        let generation = self.generation + 1;
        self.bm25.commit(generation)?;
        let vectors = self
            .vectors
            .as_ref()
            .map(|v| v.save(&self.dir))
            .transpose()?;
        let meta = MetaFile {
            format_version: FORMAT_VERSION,
            dimension: self.dimension,
            model: self.model.clone(),
            generation,
            vectors,
            documents: self.catalog.documents.clone(),
        };
        meta.write(&self.dir)?;
        self.generation = generation;
        Ok(())
    }
}

fn describe_dimension(dimension: Option<usize>) -> String {
    match dimension {
        Some(d) => format!("{d}-dimensional vectors"),
        None => "keyword search only (no vectors)".to_owned(),
    }
}

fn describe_model(model: Option<&str>) -> String {
    match model {
        Some(m) => format!("`{m}`"),
        None => "none".to_owned(),
    }
}

impl VectorStore for EmbeddedIndex {
    fn replace_document(
        &mut self,
        document_id: &str,
        stamp: &str,
        chunks: Vec<IndexChunk>,
    ) -> Result<(), IndexError> {
        self.check_usable()?;
        let checked = self.validate(document_id, &chunks)?;
        let mut metas = Vec::with_capacity(chunks.len());
        let mut vectors = Vec::new();
        let result = (|| {
            self.bm25.delete_document(document_id)?;
            for (chunk, (key, vector)) in chunks.into_iter().zip(checked) {
                self.bm25.add_chunk(key, &chunk)?;
                if let Some(vector) = vector {
                    vectors.push((key, vector));
                }
                metas.push(ChunkMeta {
                    id: chunk.id,
                    source: chunk.source,
                    acl: chunk.acl,
                    metadata: chunk.metadata,
                });
            }
            Ok::<_, IndexError>(())
        })();
        if let Err(e) = result {
            self.broken = Some(e.to_string());
            return Err(e);
        }
        self.forget_pending_keys(document_id);
        for chunk in &metas {
            self.pending_keys.insert(
                chunk_key(&chunk.id),
                (chunk.id.clone(), document_id.to_owned()),
            );
        }
        self.pending.insert(
            document_id.to_owned(),
            Some(Pending {
                stamp: stamp.to_owned(),
                chunks: metas,
                vectors,
            }),
        );
        self.stamps.insert(document_id.to_owned(), stamp.to_owned());
        Ok(())
    }

    fn delete_document(&mut self, document_id: &str) -> Result<(), IndexError> {
        self.check_usable()?;
        if !self.stamps.contains_key(document_id)
            && !self.catalog.documents.contains_key(document_id)
        {
            return Ok(());
        }
        if let Err(e) = self.bm25.delete_document(document_id) {
            self.broken = Some(e.to_string());
            return Err(e);
        }
        self.forget_pending_keys(document_id);
        self.pending.insert(document_id.to_owned(), None);
        self.stamps.remove(document_id);
        Ok(())
    }

    fn commit(&mut self) -> Result<(), IndexError> {
        self.check_usable()?;
        if self.pending.is_empty() {
            return Ok(());
        }
        self.apply_and_write()
            .inspect_err(|e| self.broken = Some(e.to_string()))
    }

    fn stamps(&self) -> &BTreeMap<String, String> {
        &self.stamps
    }
}

#[cfg(test)]
mod tests;
