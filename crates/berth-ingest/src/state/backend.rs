//! What the pipeline runner needs of a state store, as one trait with two backends: the
//! embedded SQLite store (one machine, one ingest at a time under the state lock) and
//! PostgreSQL (any number of workers sharing one store, splitting the work by leases).

use super::{CommitStats, DocumentRow, Known, Outcome, Result, RunCounts, StateStore};
use std::collections::HashMap;

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

/// The runner's view of a state store. Every write is idempotent (upserts by
/// deterministic id), so a batch committed twice — by a worker whose lease expired and
/// the one that took over — leaves the same state as once.
pub trait IngestState {
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
    /// One document's row.
    fn document(&mut self, pipeline: &str, id: &str) -> Result<Option<DocumentRow>>;
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
    fn document(&mut self, pipeline: &str, id: &str) -> Result<Option<DocumentRow>> {
        StateStore::document(self, pipeline, id)
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
