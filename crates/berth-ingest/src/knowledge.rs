//! The searchable side of a pipeline, for `berth search` and the gateway's apps.
//!
//! A [`Knowledge`] holds a pipeline's state store, its retrieval index and the embedder
//! that embeds queries. Before each search it checks, cheaply, whether the state store
//! changed since it last looked (another process ingested); if so it brings the index in
//! step — when no ingest holds the state directory — or re-reads what the ingest
//! committed. A long-running server therefore always answers from the latest ingested
//! documents without restarting.
//!
//! The state store is the embedded SQLite one or a shared PostgreSQL one; the index is
//! the built-in one under the state directory (a private copy per reader when the state
//! is shared) or, when the pipeline stores into pgvector, one set of tables every reader
//! and worker shares.

use crate::index::{self as sync, SyncError, SyncReport};
use crate::pipeline::{self, PipelineError};
use crate::state::postgres::redact;
use crate::state::{AppState, ChunkView, ReadState, StateError, StateLock};
pub use crate::stores::StateSource;
use crate::stores::{self, StoreError};
use berth_index::{
    EmbeddedIndex, Filter, IndexError, Mode, PgVectorStore, Principal, Retriever, SearchHit,
    SearchRequest,
};
use berth_models::Embedder;
use berth_stack::plan::Plan;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Why a pipeline could not be searched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KnowledgeError {
    /// The stack has no such pipeline.
    #[error("the stack has no pipeline `{0}`")]
    UnknownPipeline(String),
    /// Nothing was ingested yet.
    #[error("nothing has been ingested into pipeline `{0}` yet: run `berth ingest {0}` first")]
    NotIngested(String),
    /// The pipeline's embedder could not be set up.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// A store the stack binds cannot be used.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Dense search was asked of a pipeline without vectors.
    #[error(
        "pipeline `{0}` has no `embed` model, so it has no vectors to search; use keyword (bm25) search or add `embed:` to the pipeline"
    )]
    NoVectors(String),
    /// The query could not be embedded (dense search only; hybrid falls back).
    #[error("embedding the query: {0}")]
    Embed(String),
    /// The state store failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// Bringing the index in step failed.
    #[error("updating the index of pipeline `{pipeline}`: {source}")]
    Sync {
        /// The pipeline.
        pipeline: String,
        /// What failed.
        #[source]
        source: SyncError,
    },
    /// The index could not be read or searched.
    #[error("searching pipeline `{pipeline}`: {source}")]
    Index {
        /// The pipeline.
        pipeline: String,
        /// What failed.
        #[source]
        source: IndexError,
    },
}

/// The result of one search.
#[derive(Debug, Clone)]
pub struct Retrieved {
    /// Hits, best first, all readable by the principal.
    pub hits: Vec<SearchHit>,
    /// The ranking actually used (hybrid becomes BM25 when the query cannot be embedded).
    pub mode: Mode,
    /// Something the caller should be told (e.g. a fallback to keywords).
    pub warning: Option<String>,
}

/// The index a search reads.
#[derive(Clone)]
enum Searchable {
    /// The built-in index, reopened after each commit.
    Embedded(Arc<EmbeddedIndex>),
    /// pgvector tables, synced in place.
    Pg(Arc<Mutex<PgVectorStore>>),
}

impl Searchable {
    fn dimension(&self) -> Option<usize> {
        match self {
            Searchable::Embedded(index) => index.dimension(),
            Searchable::Pg(store) => Some(lock(store).dimension()),
        }
    }

    fn search(&self, request: &SearchRequest<'_>) -> Result<Vec<SearchHit>, IndexError> {
        match self {
            Searchable::Embedded(index) => index.search(request),
            Searchable::Pg(store) => lock(store).search(request),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Default)]
struct Inner {
    store: Option<Box<dyn AppState>>,
    index: Option<Searchable>,
    seen_version: Option<i64>,
    /// The index commit the open index was read at.
    seen_commit: Option<CommitMark>,
}

/// What identifies one commit of the embedded index on disk: its `meta.json`, which every
/// commit replaces (a new file, renamed into place). Another process (a worker) syncs the
/// index after its runs without changing the state store, so the store's version alone
/// does not tell a reader that the index moved on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CommitMark {
    inode: u64,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

fn commit_mark(index_dir: &Path) -> Option<CommitMark> {
    let meta = std::fs::metadata(index_dir.join("meta.json")).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some(CommitMark {
        inode,
        len: meta.len(),
        modified: meta.modified().ok(),
    })
}

/// A pipeline ready to be searched; shareable across threads. Searching blocks (disk,
/// embedding), so async callers run it on a blocking thread.
pub struct Knowledge {
    pipeline: String,
    state_dir: PathBuf,
    embedder: Option<Arc<dyn Embedder>>,
    state: StateSource,
    /// The pgvector URL, when the pipeline stores there.
    vectors: Option<String>,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Knowledge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Knowledge")
            .field("pipeline", &self.pipeline)
            .field("state_dir", &self.state_dir)
            .field("embeds", &self.embedder.is_some())
            .field("state", &self.state)
            .field("pgvector", &self.vectors.as_deref().map(redact))
            .finish()
    }
}

impl Drop for Knowledge {
    fn drop(&mut self) {
        if matches!(self.state, StateSource::Postgres(_)) || self.vectors.is_some() {
            let inner = std::mem::take(self.inner.get_mut().unwrap_or_else(|e| e.into_inner()));
            crate::state::postgres::drop_off_runtime(inner);
        }
    }
}

impl Knowledge {
    /// The knowledge of `pipeline` in `plan`, whose local state lives in `state_dir`;
    /// relative paths of the stack (model directories) resolve against `base`. Sets up the
    /// pipeline's embedder when it embeds (loading a built-in model), and reads the state
    /// store and vector store the stack binds.
    pub fn open(
        plan: &Plan,
        pipeline: &str,
        state_dir: &Path,
        base: &Path,
    ) -> Result<Knowledge, KnowledgeError> {
        Ok(Knowledge::for_plan(plan, pipeline, state_dir)?
            .with_query_embedder(pipeline::embedder(plan, pipeline, base)?.map(|(e, _)| e)))
    }

    /// Like [`Knowledge::open`] without an embedder (keyword search only), so no model
    /// is loaded.
    pub fn for_plan(
        plan: &Plan,
        pipeline: &str,
        state_dir: &Path,
    ) -> Result<Knowledge, KnowledgeError> {
        if !plan.pipelines.contains_key(pipeline) {
            return Err(KnowledgeError::UnknownPipeline(pipeline.to_string()));
        }
        let state = StateSource::for_plan(plan)?;
        let vectors = stores::vector_store_url(plan, pipeline)?;
        Ok(Knowledge::with_embedder(pipeline, state_dir, None).with_stores(state, vectors))
    }

    /// The same knowledge, reading `state` and, when given, the pgvector store at
    /// `vectors` instead of the built-in index.
    pub fn with_stores(mut self, state: StateSource, vectors: Option<String>) -> Knowledge {
        self.state = state;
        self.vectors = vectors;
        self
    }

    /// The same knowledge, embedding queries with `embedder`.
    pub fn with_query_embedder(mut self, embedder: Option<Arc<dyn Embedder>>) -> Knowledge {
        self.embedder = embedder;
        self
    }

    /// Like [`Knowledge::open`] with the embedder given (or none: keyword search only).
    pub fn with_embedder(
        pipeline: &str,
        state_dir: &Path,
        embedder: Option<Arc<dyn Embedder>>,
    ) -> Knowledge {
        Knowledge {
            pipeline: pipeline.to_string(),
            state_dir: state_dir.to_path_buf(),
            embedder,
            state: StateSource::Local,
            vectors: None,
            inner: Mutex::new(Inner {
                store: None,
                index: None,
                seen_version: None,
                seen_commit: None,
            }),
        }
    }

    /// The pipeline searched.
    pub fn pipeline(&self) -> &str {
        &self.pipeline
    }

    /// Whether the pipeline embeds (so dense and hybrid search are possible).
    pub fn embeds(&self) -> bool {
        self.embedder.is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with_store<T>(
        &self,
        f: impl FnOnce(&mut dyn ReadState) -> Result<T, StateError>,
    ) -> Result<T, KnowledgeError> {
        let mut inner = self.lock();
        let store = self.store(&mut inner)?;
        Ok(f(store)?)
    }

    fn store<'a>(&self, inner: &'a mut Inner) -> Result<&'a mut dyn ReadState, KnowledgeError> {
        if inner.store.is_none() {
            let Some(store) = self.state.open(&self.state_dir)? else {
                return Err(KnowledgeError::NotIngested(self.pipeline.clone()));
            };
            inner.store = Some(store);
        }
        Ok(inner.store.as_deref_mut().expect("just set"))
    }

    /// Brings the index in step with the state store if the store changed since the last
    /// look; returns what the sync did when one ran.
    pub fn refresh(&self) -> Result<Option<SyncReport>, KnowledgeError> {
        let mut inner = self.lock();
        self.refresh_locked(&mut inner).map(|(_, report)| report)
    }

    fn refresh_locked(
        &self,
        inner: &mut Inner,
    ) -> Result<(Searchable, Option<SyncReport>), KnowledgeError> {
        if let Some(url) = &self.vectors {
            return self.refresh_pgvector(inner, url);
        }
        let model = self.embedder.as_ref().map(|e| e.model().to_string());
        let pipeline = self.pipeline.clone();
        let store = self.store(inner)?;
        let version = store.data_version()?;
        let dir = sync::index_dir(&self.state_dir, &pipeline);
        let commit = commit_mark(&dir);
        if let (Some(index), Some(seen)) = (&inner.index, inner.seen_version)
            && seen == version
            && inner.seen_commit == commit
        {
            return Ok((index.clone(), None));
        }
        let store = inner.store.as_deref_mut().expect("opened above");
        let sync_error = |source| KnowledgeError::Sync {
            pipeline: pipeline.clone(),
            source,
        };
        let index_error = |source| KnowledgeError::Index {
            pipeline: pipeline.clone(),
            source,
        };
        // With the state directory to ourselves the index is checked and repaired; while
        // an ingest runs, it keeps the index in step and we read what it committed.
        let (index, report) = match StateLock::acquire(&self.state_dir) {
            Ok(_lock) => {
                let (index, report) =
                    sync::open_synced(store, &self.state_dir, &pipeline, model.as_deref())
                        .map_err(sync_error)?;
                if report.updated > 0 || report.removed > 0 || report.rebuilt.is_some() {
                    // Reopen to let go of the index's writer, so an ingest can write.
                    drop(index);
                    (self.open_index(store, model.as_deref())?, Some(report))
                } else {
                    (index, Some(report))
                }
            }
            // An ingest elsewhere holds the state directory and has not committed an index
            // yet: nothing is searchable so far.
            Err(_) if commit.is_none() => {
                return Err(KnowledgeError::NotIngested(pipeline));
            }
            Err(_) => (
                self.open_index(store, model.as_deref())
                    .map_err(|e| match e {
                        KnowledgeError::Index { source, .. } => index_error(source),
                        other => other,
                    })?,
                None,
            ),
        };
        let index = Searchable::Embedded(Arc::new(index));
        inner.index = Some(index.clone());
        inner.seen_version = Some(version);
        // The mark read before opening: a commit since then only costs one more reopen.
        inner.seen_commit = commit;
        Ok((index, report))
    }

    /// Like the built-in index's refresh, for a pipeline stored in pgvector: the tables
    /// are shared, so they are synced in place by whoever holds their writer lock.
    fn refresh_pgvector(
        &self,
        inner: &mut Inner,
        url: &str,
    ) -> Result<(Searchable, Option<SyncReport>), KnowledgeError> {
        let pipeline = self.pipeline.clone();
        let sync_error = |source| KnowledgeError::Sync {
            pipeline: pipeline.clone(),
            source,
        };
        let store = self.store(inner)?;
        let version = store.data_version()?;
        if let (Some(index), Some(seen)) = (&inner.index, inner.seen_version)
            && seen == version
        {
            return Ok((index.clone(), None));
        }
        let store = inner.store.as_deref_mut().expect("opened above");
        let Some(dimension) = store.vector_dimension(&pipeline)? else {
            return Err(KnowledgeError::NotIngested(pipeline));
        };
        let vectors = match &inner.index {
            Some(Searchable::Pg(vectors)) if lock(vectors).dimension() == dimension => {
                vectors.clone()
            }
            _ => {
                let (opened, _) =
                    sync::open_pgvector(url, &pipeline, dimension).map_err(sync_error)?;
                Arc::new(Mutex::new(opened))
            }
        };
        let store = inner.store.as_deref_mut().expect("opened above");
        let report =
            sync::sync_pgvector(store, &pipeline, &mut lock(&vectors)).map_err(sync_error)?;
        let index = Searchable::Pg(vectors);
        inner.index = Some(index.clone());
        // When another process holds the writer lock it is syncing now; look again next
        // time rather than trust a version it may not have reached.
        inner.seen_version = report.is_some().then_some(version);
        Ok((index, report))
    }

    fn open_index(
        &self,
        store: &mut dyn ReadState,
        model: Option<&str>,
    ) -> Result<EmbeddedIndex, KnowledgeError> {
        let dimension = store.vector_dimension(&self.pipeline)?;
        EmbeddedIndex::open(
            &sync::index_dir(&self.state_dir, &self.pipeline),
            dimension,
            dimension.and(model),
        )
        .map_err(|source| KnowledgeError::Index {
            pipeline: self.pipeline.clone(),
            source,
        })
    }

    /// Searches for `query` as `principal`. `mode` defaults to hybrid when the pipeline
    /// embeds, else BM25; hybrid falls back to BM25 (with a warning) when the query
    /// cannot be embedded.
    pub fn search(
        &self,
        query: &str,
        principal: &Principal,
        k: usize,
        mode: Option<Mode>,
    ) -> Result<Retrieved, KnowledgeError> {
        let mode = mode.unwrap_or(if self.embeds() {
            Mode::Hybrid
        } else {
            Mode::Bm25
        });
        if mode == Mode::Dense && !self.embeds() {
            return Err(KnowledgeError::NoVectors(self.pipeline.clone()));
        }
        let index = {
            let mut inner = self.lock();
            self.refresh_locked(&mut inner)?.0
        };
        let mut warning = None;
        let vector = match (&self.embedder, mode) {
            (Some(e), Mode::Dense | Mode::Hybrid) if index.dimension().is_some() => {
                match e.embed(&[query]) {
                    Ok(mut v) => v.pop(),
                    Err(err) if mode == Mode::Hybrid => {
                        warning = Some(format!(
                            "embedding the query failed ({err}); searched by keywords only"
                        ));
                        None
                    }
                    Err(err) => return Err(KnowledgeError::Embed(err.to_string())),
                }
            }
            _ => None,
        };
        let used = if vector.is_none() { Mode::Bm25 } else { mode };
        let filter = Filter::default();
        let request = SearchRequest {
            text: query,
            vector: vector.as_deref(),
            principal,
            k,
            mode: used,
            filter: &filter,
        };
        let hits = index
            .search(&request)
            .map_err(|source| KnowledgeError::Index {
                pipeline: self.pipeline.clone(),
                source,
            })?;
        Ok(Retrieved {
            hits,
            mode: used,
            warning,
        })
    }

    /// Chunks by id with their documents (ids not found are left out).
    pub fn chunks(&self, ids: &[&str]) -> Result<Vec<ChunkView>, KnowledgeError> {
        self.with_store(|s| s.chunks_by_id(ids))
    }

    /// The texts of the chunks right before and after a chunk of a document.
    pub fn neighbours(
        &self,
        document_id: &str,
        ordinal: i64,
    ) -> Result<(Option<String>, Option<String>), KnowledgeError> {
        let pipeline = self.pipeline.clone();
        self.with_store(|s| s.neighbours(&pipeline, document_id, ordinal))
    }
}
