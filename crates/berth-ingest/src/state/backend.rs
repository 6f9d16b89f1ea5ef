//! What the pipeline runner, the readers and the gateway's apps need of a state store, as
//! traits with two backends: the embedded SQLite store (one machine, one ingest at a time
//! under the state lock) and PostgreSQL (any number of workers and gateways sharing one
//! store, the workers splitting the work by leases).

use super::{
    ChunkRecord, ChunkView, CommitStats, DocumentCounts, DocumentRow, Known, Outcome, Result,
    RunCounts, RunRow, StateStore, Turn,
};
use std::collections::{BTreeMap, HashMap};

/// The answer to a claim on one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This worker holds the lease: process it.
    Mine,
    /// Another live worker holds it: come back later.
    Elsewhere,
    /// Someone already indexed this revision with this fingerprint: nothing to do.
    Settled,
}

/// What readers of a state store need — search, the apps, the index that follows the
/// store — whichever backend holds it.
pub trait ReadState: Send {
    /// A number that grows whenever anything that an index derives from changes (any
    /// process, any pipeline): readers compare it to know whether to look again.
    fn data_version(&mut self) -> Result<i64>;
    /// One document's row.
    fn document(&mut self, pipeline: &str, id: &str) -> Result<Option<DocumentRow>>;
    /// Documents of every pipeline (or one), optionally only dead-lettered ones, by
    /// pipeline and id.
    fn list_documents(
        &mut self,
        pipeline: Option<&str>,
        failed_only: bool,
    ) -> Result<Vec<DocumentRow>>;
    /// A document's chunks, in order.
    fn chunks_of(&mut self, pipeline: &str, document_id: &str) -> Result<Vec<ChunkRecord>>;
    /// What a derived index must hold for each indexed document of a pipeline: a stamp
    /// that changes whenever its chunks, vectors or principals may have changed.
    fn index_stamps(&mut self, pipeline: &str) -> Result<BTreeMap<String, String>>;
    /// The length of the pipeline's stored vectors (none stored: `None`).
    fn vector_dimension(&mut self, pipeline: &str) -> Result<Option<usize>>;
    /// Chunks by id with their documents, in the order asked; ids not found are left out.
    fn chunks_by_id(&mut self, ids: &[&str]) -> Result<Vec<ChunkView>>;
    /// The texts of the chunks right before and after `ordinal` in a document.
    fn neighbours(
        &mut self,
        pipeline: &str,
        document_id: &str,
        ordinal: i64,
    ) -> Result<(Option<String>, Option<String>)>;
    /// How many documents of `pipeline` are done, failed and pending.
    fn document_counts(&mut self, pipeline: &str) -> Result<DocumentCounts>;
    /// The most recent runs, newest first.
    fn runs(&mut self, limit: usize) -> Result<Vec<RunRow>>;

    /// One chunk of any pipeline, with its document's details.
    fn chunk(&mut self, chunk_id: &str) -> Result<Option<ChunkView>> {
        self.chunks_by_id(&[chunk_id]).map(|mut v| v.pop())
    }
}

/// Conversation history of the gateway's apps, per app, user and session.
pub trait Conversations {
    /// The last `limit` turns of a conversation, oldest first.
    fn conversation(
        &mut self,
        app: &str,
        user: &str,
        session: &str,
        limit: usize,
    ) -> Result<Vec<Turn>>;
    /// Appends turns to a conversation, in one transaction.
    fn append_turns(&mut self, app: &str, user: &str, session: &str, turns: &[Turn]) -> Result<()>;
}

/// What the gateway keeps in a state store: the apps' reads and their conversations.
pub trait AppState: ReadState + Conversations {}

impl<T: ReadState + Conversations> AppState for T {}

/// The runner's view of a state store. Every write is idempotent (upserts by
/// deterministic id), so a batch committed twice — by a worker whose lease expired and
/// the one that took over — leaves the same state as once.
pub trait IngestState: ReadState {
    /// Marks runs whose worker is gone as interrupted. Returns how many.
    fn interrupt_stale_runs(&mut self) -> Result<usize>;
    /// Records the start of a run.
    fn start_run(&mut self, pipeline: &str) -> Result<i64>;
    /// Records progress or the end of a run.
    fn update_run(
        &mut self,
        run_id: i64,
        counts: &RunCounts,
        status: &str,
        error: Option<&str>,
    ) -> Result<()>;
    /// Revision, status and fingerprint of every document of a pipeline, by id.
    fn revisions(&mut self, pipeline: &str) -> Result<HashMap<String, Known>>;
    /// Writes a batch of outcomes in one transaction (and lets go of their leases).
    fn commit(&mut self, run_id: i64, outcomes: &[Outcome]) -> Result<CommitStats>;
    /// Records new revisions of documents whose content did not change.
    fn touch(&mut self, pipeline: &str, revisions: &[(String, String)]) -> Result<()>;
    /// Removes documents with their chunks. Returns the chunks removed.
    fn delete_documents(&mut self, pipeline: &str, ids: &[String]) -> Result<u64>;
    /// Records a pipeline's current fingerprint.
    fn set_fingerprint(&mut self, pipeline: &str, fingerprint: &str) -> Result<()>;

    /// Claims documents about to be processed, each at the revision the source listed,
    /// for the pipeline's `fingerprint`. A store used by one process at a time grants
    /// every claim.
    fn claim(
        &mut self,
        pipeline: &str,
        fingerprint: &str,
        documents: &[(String, String)],
    ) -> Result<Vec<Claim>> {
        let _ = (pipeline, fingerprint);
        Ok(vec![Claim::Mine; documents.len()])
    }

    /// Lets go of leases on documents this worker will not commit (it gives up).
    fn release(&mut self, pipeline: &str, ids: &[String]) -> Result<()> {
        let _ = (pipeline, ids);
        Ok(())
    }

    /// Whether claims can be refused, so that a run must come back for documents other
    /// workers hold.
    fn shared(&self) -> bool {
        false
    }
}

impl ReadState for StateStore {
    fn data_version(&mut self) -> Result<i64> {
        StateStore::data_version(self)
    }
    fn document(&mut self, pipeline: &str, id: &str) -> Result<Option<DocumentRow>> {
        StateStore::document(self, pipeline, id)
    }
    fn list_documents(
        &mut self,
        pipeline: Option<&str>,
        failed_only: bool,
    ) -> Result<Vec<DocumentRow>> {
        StateStore::list_documents(self, pipeline, failed_only)
    }
    fn chunks_of(&mut self, pipeline: &str, document_id: &str) -> Result<Vec<ChunkRecord>> {
        StateStore::chunks_of(self, pipeline, document_id)
    }
    fn index_stamps(&mut self, pipeline: &str) -> Result<BTreeMap<String, String>> {
        StateStore::index_stamps(self, pipeline)
    }
    fn vector_dimension(&mut self, pipeline: &str) -> Result<Option<usize>> {
        StateStore::vector_dimension(self, pipeline)
    }
    fn chunks_by_id(&mut self, ids: &[&str]) -> Result<Vec<ChunkView>> {
        StateStore::chunks_by_id(self, ids)
    }
    fn neighbours(
        &mut self,
        pipeline: &str,
        document_id: &str,
        ordinal: i64,
    ) -> Result<(Option<String>, Option<String>)> {
        StateStore::neighbours(self, pipeline, document_id, ordinal)
    }
    fn document_counts(&mut self, pipeline: &str) -> Result<DocumentCounts> {
        StateStore::document_counts(self, pipeline)
    }
    fn runs(&mut self, limit: usize) -> Result<Vec<RunRow>> {
        StateStore::runs(self, limit)
    }
}

impl Conversations for StateStore {
    fn conversation(
        &mut self,
        app: &str,
        user: &str,
        session: &str,
        limit: usize,
    ) -> Result<Vec<Turn>> {
        StateStore::conversation(self, app, user, session, limit)
    }
    fn append_turns(&mut self, app: &str, user: &str, session: &str, turns: &[Turn]) -> Result<()> {
        StateStore::append_turns(self, app, user, session, turns)
    }
}

impl IngestState for StateStore {
    fn interrupt_stale_runs(&mut self) -> Result<usize> {
        StateStore::interrupt_stale_runs(self)
    }
    fn start_run(&mut self, pipeline: &str) -> Result<i64> {
        StateStore::start_run(self, pipeline)
    }
    fn update_run(
        &mut self,
        run_id: i64,
        counts: &RunCounts,
        status: &str,
        error: Option<&str>,
    ) -> Result<()> {
        StateStore::update_run(self, run_id, counts, status, error)
    }
    fn revisions(&mut self, pipeline: &str) -> Result<HashMap<String, Known>> {
        StateStore::revisions(self, pipeline)
    }
    fn commit(&mut self, run_id: i64, outcomes: &[Outcome]) -> Result<CommitStats> {
        StateStore::commit(self, run_id, outcomes)
    }
    fn touch(&mut self, pipeline: &str, revisions: &[(String, String)]) -> Result<()> {
        StateStore::touch(self, pipeline, revisions)
    }
    fn delete_documents(&mut self, pipeline: &str, ids: &[String]) -> Result<u64> {
        StateStore::delete_documents(self, pipeline, ids)
    }
    fn set_fingerprint(&mut self, pipeline: &str, fingerprint: &str) -> Result<()> {
        StateStore::set_fingerprint(self, pipeline, fingerprint)
    }
}
