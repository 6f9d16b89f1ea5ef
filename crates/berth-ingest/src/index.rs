//! Keeping a pipeline's retrieval index in step with the state store.
//!
//! The state store is the system of record; the index (BM25 + vectors) is derived from
//! it. A sync compares what each holds per document (a stamp) and replaces or removes
//! exactly the documents that differ, so it is cheap when little changed, and a crash
//! between the state commit and the index commit is repaired by the next sync. An index
//! that is missing, corrupt, or made for another embedding model is rebuilt from the
//! state store, with no parsing and no embedding.

use crate::state::{ReadState, StateError};
use berth_index::PgVectorStore;
use berth_index::{Acl, EmbeddedIndex, IndexChunk, IndexError, VectorStore};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where a pipeline's index lives under a state directory.
pub fn index_dir(state_dir: &Path, pipeline: &str) -> PathBuf {
    state_dir.join("index").join(pipeline)
}

/// Why a sync failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// Reading the state store failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// Writing the index failed.
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Documents (re)written into the index.
    pub updated: usize,
    /// Documents removed from it.
    pub removed: usize,
    /// Chunks written.
    pub chunks: usize,
    /// Why the index was rebuilt from scratch, if it was.
    pub rebuilt: Option<String>,
}

/// Opens the index of `pipeline` under `state_dir` for the vectors the state store holds,
/// rebuilding it when it is missing, corrupt or stale, and brings it in step with the
/// state store. `model` names the pipeline's embedding model (none: keyword only).
pub fn open_synced(
    store: &mut dyn ReadState,
    state_dir: &Path,
    pipeline: &str,
    model: Option<&str>,
) -> Result<(EmbeddedIndex, SyncReport), SyncError> {
    let dir = index_dir(state_dir, pipeline);
    let dimension = store.vector_dimension(pipeline)?;
    let model = dimension.and(model);
    let fresh = !dir.exists();
    let (mut index, rebuilt) = match EmbeddedIndex::open(&dir, dimension, model) {
        Err(_) if fresh => (EmbeddedIndex::create(&dir, dimension, model)?, None),
        Ok(index) => (index, None),
        Err(e) if e.needs_rebuild() => {
            let reason = e.to_string();
            (EmbeddedIndex::create(&dir, dimension, model)?, Some(reason))
        }
        Err(e) => return Err(e.into()),
    };
    let mut report = sync(store, pipeline, &mut index)?;
    report.rebuilt = rebuilt;
    Ok((index, report))
}

/// Rebuilds the index of `pipeline` from the state store, whatever its state.
pub fn rebuild(
    store: &mut dyn ReadState,
    state_dir: &Path,
    pipeline: &str,
    model: Option<&str>,
) -> Result<(EmbeddedIndex, SyncReport), SyncError> {
    let dir = index_dir(state_dir, pipeline);
    let dimension = store.vector_dimension(pipeline)?;
    let mut index = EmbeddedIndex::create(&dir, dimension, dimension.and(model))?;
    let mut report = sync(store, pipeline, &mut index)?;
    report.rebuilt = Some("asked for".into());
    Ok((index, report))
}

/// Opens the pgvector store of `pipeline` at `url` for vectors of `dimension`, starting it
/// afresh when its tables were made for another dimension or layout (the next sync fills
/// it again from the state store).
pub fn open_pgvector(
    url: &str,
    pipeline: &str,
    dimension: usize,
) -> Result<(PgVectorStore, Option<String>), SyncError> {
    let schema = crate::stores::vector_schema(pipeline);
    match PgVectorStore::open(url, &schema, dimension) {
        Ok(store) => Ok((store, None)),
        Err(e) if e.needs_rebuild() => {
            let reason = e.to_string();
            Ok((
                PgVectorStore::create(url, &schema, dimension)?,
                Some(reason),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// Brings a pgvector store in step with the state store, unless another process is doing
/// so right now (`None`: its writer lock was taken). Several readers and workers follow
/// one state store; the lock keeps them from writing the same documents at once, and the
/// stamps are read again under it, so each writes only what nobody wrote before.
pub fn sync_pgvector(
    store: &mut dyn ReadState,
    pipeline: &str,
    vectors: &mut PgVectorStore,
) -> Result<Option<SyncReport>, SyncError> {
    if !vectors.try_lock_writes()? {
        return Ok(None);
    }
    let result = vectors
        .reload_stamps()
        .map_err(SyncError::from)
        .and_then(|()| sync(store, pipeline, vectors));
    let unlocked = vectors.unlock_writes();
    let report = result?;
    unlocked?;
    if report.updated > 0 || report.removed > 0 {
        // Fresh statistics, so the planner keeps choosing the HNSW index for filters.
        vectors.analyze()?;
    }
    Ok(Some(report))
}

/// Brings `index` in step with the state store for `pipeline`: documents whose stamp
/// differs are rewritten, documents no longer indexed in the state are removed.
pub fn sync(
    store: &mut dyn ReadState,
    pipeline: &str,
    index: &mut dyn VectorStore,
) -> Result<SyncReport, SyncError> {
    let wanted = store.index_stamps(pipeline)?;
    let held: BTreeMap<String, String> = index.stamps().clone();
    let mut report = SyncReport::default();
    for id in held.keys().filter(|id| !wanted.contains_key(*id)) {
        index.delete_document(id)?;
        report.removed += 1;
    }
    for (id, stamp) in &wanted {
        if held.get(id) == Some(stamp) {
            continue;
        }
        let Some(doc) = store.document(pipeline, id)? else {
            continue;
        };
        let acl = Acl {
            users: doc.acl_users.clone(),
            groups: doc.acl_groups.clone(),
        };
        let mut metadata = BTreeMap::new();
        metadata.insert("path".to_string(), doc.path.clone());
        if let Some(title) = &doc.title {
            metadata.insert("title".to_string(), title.clone());
        }
        let chunks: Vec<IndexChunk> = store
            .chunks_of(pipeline, id)?
            .into_iter()
            .map(|c| IndexChunk {
                id: c.id,
                document_id: id.clone(),
                source: doc.source.clone(),
                ordinal: c.ordinal.max(0) as u32,
                text: c.text,
                heading_path: c.heading_path,
                page_start: c.page_start.map(|p| p.max(0) as u32),
                page_end: c.page_end.map(|p| p.max(0) as u32),
                acl: acl.clone(),
                metadata: metadata.clone(),
                vector: c.embedding,
            })
            .collect();
        report.chunks += chunks.len();
        index.replace_document(id, stamp, chunks)?;
        report.updated += 1;
    }
    if report.updated > 0 || report.removed > 0 {
        index.commit()?;
    }
    Ok(report)
}
