//! The pipeline runner: list, compare, parse and chunk what changed, commit, delete what
//! is gone — with every failure recorded and nothing done twice.
//!
//! The order of effects is what makes a run safe to kill at any instant:
//!
//! 1. the source is listed completely (an incomplete listing deletes nothing);
//! 2. documents whose revision and fingerprint are unchanged are skipped without being
//!    read; the others are read, hashed (same content: only the revision is recorded),
//!    parsed and chunked on worker threads;
//! 3. results are committed in batches, each one transaction that writes the chunks and
//!    marks their documents done together (chunk writes are upserts by deterministic id);
//! 4. documents gone from the listing are deleted with their chunks.
//!
//! A run killed before a commit leaves its documents as they were, and the next run
//! processes them; a run killed after it leaves them done. Either way the index converges
//! to the same chunks.

use crate::chunkers::ChunkDraft;
use crate::document::ParsedDocument;
use crate::parsers::{Format, ParseErrorKind, RawDocument, parse_contained};
use crate::pipeline::Pipeline;
use crate::sources::Entry;
use crate::state::{
    ChunkRecord, Claim, DocStatus, DocumentRow, IndexedDocument, IngestState, Outcome, RunCounts,
    StateError, now_ms,
};
use berth_models::Embedder;
use berth_stack::stack::Acl;
use std::collections::{BTreeSet, HashSet};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Documents processed at once.
    pub concurrency: usize,
    /// Attempts for a document whose failure may be transient (network, timeout).
    pub max_attempts: u32,
    /// Wait before the first retry; doubles for each further one.
    pub backoff: Duration,
    /// Documents committed per transaction, at most.
    pub batch_documents: usize,
    /// Bytes of chunk text committed per transaction, at most.
    pub batch_bytes: usize,
    /// With a shared state store, how long to wait before asking again for documents
    /// other workers hold.
    pub lease_retry: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            concurrency: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            max_attempts: 3,
            backoff: Duration::from_millis(200),
            batch_documents: 2048,
            batch_bytes: 32 * 1024 * 1024,
            lease_retry: Duration::from_millis(500),
        }
    }
}

/// What a run is doing, for progress displays and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Listing the source.
    Listing,
    /// Processing documents.
    Processing,
    /// Removing documents gone from the source.
    Deleting,
    /// Done.
    Finished,
}

/// Progress of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The phase.
    pub phase: Phase,
    /// Documents to process in this run (changed or new).
    pub to_process: u64,
    /// Of those, processed so far.
    pub processed: u64,
    /// The counts so far.
    pub counts: RunCounts,
}

/// The end of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// Run id in the state store.
    pub run_id: i64,
    /// Pipeline.
    pub pipeline: String,
    /// `ok`, or `failures` when some documents were dead-lettered.
    pub status: String,
    /// What it did.
    pub counts: RunCounts,
    /// How long it took.
    pub elapsed: Duration,
    /// Documents dead-lettered in this run, with their errors.
    pub failures: Vec<(String, String)>,
}

/// Why a run stopped before its end. The run is recorded as `failed` with this error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The source could not be listed.
    #[error("pipeline `{pipeline}`: {message}")]
    Source {
        /// The pipeline.
        pipeline: String,
        /// Why.
        message: String,
    },
    /// The state store failed.
    #[error(transparent)]
    State(#[from] StateError),
}

/// A document to read and (if its content changed) index.
struct Job<'a> {
    entry: &'a Entry,
    previous: Option<&'a DocumentRow>,
}

enum Done {
    Indexed {
        doc: Box<IndexedDocument>,
        added: bool,
    },
    Touched {
        id: String,
        revision: String,
    },
    Failed {
        row: Box<DocumentRow>,
    },
}

/// Runs a pipeline once. The caller holds the state lock (one run per state store).
pub fn run(
    store: &mut dyn IngestState,
    pipeline: &Pipeline,
    options: &RunOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<RunReport, RunError> {
    let started = Instant::now();
    store.interrupt_stale_runs()?;
    let run_id = store.start_run(&pipeline.name)?;
    let mut counts = RunCounts::default();
    progress(&Progress {
        phase: Phase::Listing,
        to_process: 0,
        processed: 0,
        counts,
    });

    let listing = match pipeline.source.list() {
        Ok(l) => l,
        Err(e) => {
            let message = format!("cannot list source `{}`: {e}", pipeline.source_name);
            store.update_run(run_id, &counts, "failed", Some(&message))?;
            return Err(RunError::Source {
                pipeline: pipeline.name.clone(),
                message,
            });
        }
    };
    // What is known of each document, cheaply: the full rows are read only for the
    // documents that will be processed.
    let known = store.revisions(&pipeline.name)?;
    counts.seen = listing.len() as u64;

    let mut candidates = Vec::new();
    let mut listed = HashSet::with_capacity(listing.len());
    for entry in &listing {
        let id = document_id(&pipeline.source_name, &entry.path);
        let settled = known.get(&id).is_some_and(|k| {
            k.status != DocStatus::Pending
                && k.fingerprint.as_deref() == Some(pipeline.fingerprint.as_str())
                && !entry.revision.is_empty()
                && k.revision.as_deref() == Some(entry.revision.as_str())
        });
        if settled {
            counts.unchanged += 1;
        } else {
            candidates.push((entry, known.contains_key(&id).then(|| id.clone())));
        }
        listed.insert(id);
    }
    let mut previous_rows = Vec::with_capacity(candidates.len());
    for (_, id) in &candidates {
        previous_rows.push(match id {
            Some(id) => store.document(&pipeline.name, id)?,
            None => None,
        });
    }
    let jobs: Vec<Job<'_>> = candidates
        .iter()
        .zip(&previous_rows)
        .map(|((entry, _), previous)| Job {
            entry,
            previous: previous.as_ref(),
        })
        .collect();

    let to_process = jobs.len() as u64;
    let mut processed = 0u64;
    let mut failures = Vec::new();
    let mut batch: Vec<Outcome> = Vec::new();
    let mut batch_bytes = 0usize;
    let mut batch_chunks = 0usize;
    // Whether each outcome of the batch is a new document (for the counts, should its
    // embedding fail).
    let mut batch_added: Vec<bool> = Vec::new();
    let mut touched: Vec<(String, String)> = Vec::new();
    progress(&Progress {
        phase: Phase::Processing,
        to_process,
        processed,
        counts,
    });

    let workers = options.concurrency.max(1).min(jobs.len().max(1));
    let shared = store.shared();
    // Jobs go out one index at a time, once claimed: with a shared store other workers
    // take what this one cannot, lease by lease.
    let (job_tx, job_rx) = mpsc::channel::<usize>();
    let job_rx = std::sync::Mutex::new(job_rx);
    let commit_result: Result<(), StateError> = std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel::<Done>(workers * 2);
        let mut started = 0;
        for _ in 0..workers {
            let tx = tx.clone();
            let jobs = &jobs;
            let job_rx = &job_rx;
            // A generous stack: parsers of nested formats run on these threads.
            let spawned = std::thread::Builder::new()
                .name("ingest-worker".into())
                .stack_size(16 * 1024 * 1024)
                .spawn_scoped(scope, move || {
                    loop {
                        let next = job_rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        let Some(Job { entry, previous }) = next.ok().and_then(|i| jobs.get(i))
                        else {
                            break;
                        };
                        let done = process(pipeline, entry, *previous, options);
                        if tx.send(done).is_err() {
                            break;
                        }
                    }
                });
            match spawned {
                Ok(_) => started += 1,
                Err(_) => break, // fewer workers; the others take the work
            }
        }
        // Without a single worker nothing would be processed: that must not pass as a run.
        assert!(
            started > 0 || jobs.is_empty(),
            "no ingest worker thread could be started"
        );
        drop(tx);
        let window = started.max(1) * 2;
        let mut waiting: std::collections::VecDeque<usize> = (0..jobs.len()).collect();
        let mut deferred: Vec<usize> = Vec::new();
        let mut in_flight = 0usize;
        loop {
            while in_flight < window && !waiting.is_empty() {
                let take = (window - in_flight).min(waiting.len());
                let picked: Vec<usize> = waiting.drain(..take).collect();
                let wanted: Vec<(String, String)> = picked
                    .iter()
                    .map(|&i| {
                        let e = jobs[i].entry;
                        (
                            document_id(&pipeline.source_name, &e.path),
                            e.revision.clone(),
                        )
                    })
                    .collect();
                let claims = store.claim(&pipeline.name, &pipeline.fingerprint, &wanted)?;
                for (i, claim) in picked.into_iter().zip(claims) {
                    match claim {
                        Claim::Mine => {
                            if job_tx.send(i).is_err() {
                                break;
                            }
                            in_flight += 1;
                        }
                        Claim::Elsewhere => deferred.push(i),
                        Claim::Settled => {
                            processed += 1;
                            counts.unchanged += 1;
                        }
                    }
                }
            }
            if in_flight == 0 {
                if deferred.is_empty() {
                    break;
                }
                // Other workers hold the rest. Commit what is done, then ask again once
                // their leases had time to end (a live worker renews them and finishes;
                // a dead one's expire and the documents come to us).
                if !batch.is_empty() {
                    flush(
                        store,
                        run_id,
                        pipeline,
                        &mut batch,
                        &mut batch_added,
                        &mut counts,
                        &mut failures,
                    )?;
                    batch_bytes = 0;
                    batch_chunks = 0;
                    store.update_run(run_id, &counts, "running", None)?;
                }
                debug_assert!(shared, "a store that refuses claims is shared");
                std::thread::sleep(options.lease_retry);
                waiting.extend(deferred.drain(..));
                continue;
            }
            let Ok(done) = rx.recv() else { break };
            in_flight -= 1;
            processed += 1;
            match done {
                Done::Indexed { doc, added } => {
                    if added {
                        counts.added += 1;
                    } else {
                        counts.changed += 1;
                    }
                    batch_bytes += doc.chunks.iter().map(|c| c.text.len()).sum::<usize>();
                    batch_chunks += doc.chunks.len();
                    batch_added.push(added);
                    batch.push(Outcome::Indexed(*doc));
                }
                Done::Touched { id, revision } => {
                    counts.unchanged += 1;
                    touched.push((id, revision));
                }
                Done::Failed { row } => {
                    counts.failed += 1;
                    failures.push((row.id.clone(), row.last_error.clone().unwrap_or_default()));
                    batch_added.push(false);
                    batch.push(Outcome::Failed(*row));
                }
            }
            // With an embedder, commits are smaller: embedding is the slow step, and each
            // commit is a point of progress that a crash does not lose.
            let chunks_full = pipeline.embedder.is_some() && batch_chunks >= EMBED_BATCH_CHUNKS;
            if batch.len() >= options.batch_documents
                || batch_bytes >= options.batch_bytes
                || chunks_full
            {
                flush(
                    store,
                    run_id,
                    pipeline,
                    &mut batch,
                    &mut batch_added,
                    &mut counts,
                    &mut failures,
                )?;
                batch_bytes = 0;
                batch_chunks = 0;
                store.update_run(run_id, &counts, "running", None)?;
            }
            progress(&Progress {
                phase: Phase::Processing,
                to_process,
                processed,
                counts,
            });
        }
        drop(job_tx);
        Ok(())
    });
    if let Err(e) = commit_result {
        let _ = store.update_run(run_id, &counts, "failed", Some(&e.to_string()));
        return Err(e.into());
    }
    if !batch.is_empty() {
        flush(
            store,
            run_id,
            pipeline,
            &mut batch,
            &mut batch_added,
            &mut counts,
            &mut failures,
        )?;
    }
    if !touched.is_empty() {
        store.touch(&pipeline.name, &touched)?;
    }

    progress(&Progress {
        phase: Phase::Deleting,
        to_process,
        processed,
        counts,
    });
    let mut gone: Vec<String> = known
        .keys()
        .filter(|id| !listed.contains(*id))
        .cloned()
        .collect();
    gone.sort();
    if !gone.is_empty() {
        counts.chunks_deleted += store.delete_documents(&pipeline.name, &gone)?;
        counts.deleted = gone.len() as u64;
    }
    store.set_fingerprint(&pipeline.name, &pipeline.fingerprint)?;
    let status = if counts.failed > 0 { "failures" } else { "ok" };
    store.update_run(run_id, &counts, status, None)?;
    progress(&Progress {
        phase: Phase::Finished,
        to_process,
        processed,
        counts,
    });
    Ok(RunReport {
        run_id,
        pipeline: pipeline.name.clone(),
        status: status.to_string(),
        counts,
        elapsed: started.elapsed(),
        failures,
    })
}

/// Embeds (when the pipeline does) and commits a batch of outcomes, then empties it.
fn flush(
    store: &mut dyn IngestState,
    run_id: i64,
    pipeline: &Pipeline,
    batch: &mut Vec<Outcome>,
    added: &mut Vec<bool>,
    counts: &mut RunCounts,
    failures: &mut Vec<(String, String)>,
) -> Result<(), StateError> {
    if let Some(embedder) = &pipeline.embedder {
        embed(&**embedder, batch, added, counts, failures);
    }
    let stats = store.commit(run_id, batch)?;
    counts.chunks_written += stats.chunks_written;
    counts.chunks_deleted += stats.chunks_deleted;
    batch.clear();
    added.clear();
    Ok(())
}

/// Chunks embedded and committed together, at most (when the pipeline embeds).
const EMBED_BATCH_CHUNKS: usize = 512;

/// Embeds the chunks of the batch's indexed documents. A document whose chunks cannot be
/// embedded is dead-lettered with the error (its old chunks go too), so a broken model
/// shows in `berth docs --failed` instead of leaving chunks without vectors. When the
/// whole batch fails for a transient reason (server down), every document takes that
/// error at once; otherwise documents are embedded one by one to find the bad ones.
fn embed(
    embedder: &dyn Embedder,
    batch: &mut [Outcome],
    added: &[bool],
    counts: &mut RunCounts,
    failures: &mut Vec<(String, String)>,
) {
    let texts: Vec<&str> = batch
        .iter()
        .filter_map(|o| match o {
            Outcome::Indexed(d) => Some(d.chunks.iter().map(|c| c.text.as_str())),
            Outcome::Failed(_) => None,
        })
        .flatten()
        .collect();
    if texts.is_empty() {
        return;
    }
    let all = embedder.embed(&texts);
    let per_document: Vec<Result<Vec<Vec<f32>>, String>> = match all {
        Ok(vectors) => {
            let mut vectors = vectors.into_iter();
            batch
                .iter()
                .map(|o| match o {
                    Outcome::Indexed(d) => Ok(vectors.by_ref().take(d.chunks.len()).collect()),
                    Outcome::Failed(_) => Ok(Vec::new()),
                })
                .collect()
        }
        Err(e) if e.is_transient() => batch.iter().map(|_| Err(e.to_string())).collect(),
        Err(_) => batch
            .iter()
            .map(|o| match o {
                Outcome::Indexed(d) => {
                    let texts: Vec<&str> = d.chunks.iter().map(|c| c.text.as_str()).collect();
                    embedder.embed(&texts).map_err(|e| e.to_string())
                }
                Outcome::Failed(_) => Ok(Vec::new()),
            })
            .collect(),
    };
    for ((outcome, result), &was_added) in batch.iter_mut().zip(per_document).zip(added) {
        let Outcome::Indexed(doc) = outcome else {
            continue;
        };
        match result {
            Ok(vectors) if vectors.len() == doc.chunks.len() => {
                for (chunk, v) in doc.chunks.iter_mut().zip(vectors) {
                    chunk.embedding = Some(v);
                }
            }
            result => {
                let message = match result {
                    Err(message) => message,
                    Ok(_) => "the embedder returned fewer vectors than chunks".to_string(),
                };
                if was_added {
                    counts.added -= 1;
                } else {
                    counts.changed -= 1;
                }
                counts.failed += 1;
                let mut row = doc.row.clone();
                row.status = DocStatus::Failed;
                row.error_kind = Some("embed".into());
                row.last_error = Some(format!("embedding with `{}`: {message}", embedder.model()));
                row.chunks = 0;
                failures.push((row.id.clone(), row.last_error.clone().unwrap_or_default()));
                *outcome = Outcome::Failed(row);
            }
        }
    }
}

/// A document's id: its source and path.
pub fn document_id(source: &str, path: &str) -> String {
    format!("{source}/{path}")
}

/// A chunk's id: a hash of its pipeline, its document, its position and the pipeline
/// fingerprint. The pipeline's name is part of it: two pipelines with the same source and
/// settings index the same documents, and each keeps chunks of its own.
pub fn chunk_id(pipeline: &str, document_id: &str, ordinal: usize, fingerprint: &str) -> String {
    let mut h = blake3::Hasher::new();
    h.update(pipeline.as_bytes());
    h.update(&[0]);
    h.update(document_id.as_bytes());
    h.update(&[0]);
    h.update(ordinal.to_string().as_bytes());
    h.update(&[0]);
    h.update(fingerprint.as_bytes());
    h.finalize().to_hex()[..32].to_string()
}

fn merge_acl(parts: &[Option<&Acl>]) -> (Vec<String>, Vec<String>) {
    let mut users = BTreeSet::new();
    let mut groups = BTreeSet::new();
    for acl in parts.iter().flatten() {
        users.extend(acl.users.iter().cloned());
        groups.extend(acl.groups.iter().cloned());
    }
    (users.into_iter().collect(), groups.into_iter().collect())
}

/// Reads, parses and chunks one document, retrying transient failures.
fn process(
    pipeline: &Pipeline,
    entry: &Entry,
    previous: Option<&DocumentRow>,
    options: &RunOptions,
) -> Done {
    let id = document_id(&pipeline.source_name, &entry.path);
    let added = previous.is_none();
    let failed =
        |kind: &str, message: String, revision: String, hash: Option<String>| Done::Failed {
            row: Box::new(DocumentRow {
                pipeline: pipeline.name.clone(),
                id: id.clone(),
                source: pipeline.source_name.clone(),
                path: entry.path.clone(),
                revision: Some(revision),
                content_hash: hash,
                version: previous.map(|p| p.version).unwrap_or(0),
                fingerprint: Some(pipeline.fingerprint.clone()),
                acl_users: pipeline.acl.users.clone(),
                acl_groups: pipeline.acl.groups.clone(),
                status: DocStatus::Failed,
                error_kind: Some(kind.to_string()),
                last_error: Some(message),
                title: None,
                pages: None,
                chunks: 0,
                updated_ms: now_ms(),
            }),
        };
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let wait = options.backoff * 2u32.saturating_pow(attempt.saturating_sub(1));
        let fetched = match pipeline.source.read(entry, pipeline.parse.max_bytes) {
            Ok(f) => f,
            Err(e) if e.transient && attempt < options.max_attempts => {
                std::thread::sleep(wait);
                continue;
            }
            Err(e) => {
                let kind = if e.too_large { "too_large" } else { "source" };
                return failed(kind, e.message, entry.revision.clone(), None);
            }
        };
        let hash = blake3::hash(&fetched.bytes).to_hex().to_string();
        let revision = if fetched.revision.is_empty() {
            entry.revision.clone()
        } else {
            fetched.revision.clone()
        };
        if let Some(prev) = previous {
            let same_content = prev.content_hash.as_deref() == Some(hash.as_str());
            let same_fingerprint =
                prev.fingerprint.as_deref() == Some(pipeline.fingerprint.as_str());
            let settled = match prev.status {
                DocStatus::Pending => false,
                DocStatus::Failed => prev.error_kind.as_deref() != Some("embed"),
                DocStatus::Done => true,
            };
            if same_content && same_fingerprint && settled {
                return Done::Touched { id, revision };
            }
        }
        let format = Format::detect(&entry.path, fetched.content_type.as_deref());
        if format.is_none() && pipeline.external_parser.is_none() {
            return failed(
                "unsupported",
                format!(
                    "berth cannot parse this kind of document{}",
                    fetched
                        .content_type
                        .as_deref()
                        .map(|t| format!(" (content type {t})"))
                        .unwrap_or_default()
                ),
                revision,
                Some(hash),
            );
        }
        let raw = RawDocument {
            path: entry.path.clone(),
            bytes: fetched.bytes,
            content_type: fetched.content_type,
        };
        let result = match (&pipeline.external_parser, format) {
            (Some(external), _) => external.parse(&raw),
            (None, Some(format)) => parse_contained(format, raw, &pipeline.parse),
            (None, None) => unreachable!("unsupported formats returned above"),
        };
        let parsed = match result {
            Ok(p) => p,
            Err(e) if e.is_transient() && attempt < options.max_attempts => {
                std::thread::sleep(wait);
                continue;
            }
            Err(e) => {
                return failed(kind_name(e.kind), e.message, revision, Some(hash));
            }
        };
        let drafts = pipeline.chunker.chunk(&parsed);
        let (users, groups) = merge_acl(&[
            Some(&pipeline.acl),
            fetched.acl.as_ref(),
            parsed.acl.as_ref(),
        ]);
        let chunks = records(&pipeline.name, &id, &pipeline.fingerprint, &parsed, &drafts);
        let version = match previous {
            Some(p) if p.content_hash.as_deref() == Some(hash.as_str()) => p.version.max(1),
            Some(p) => p.version + 1,
            None => 1,
        };
        return Done::Indexed {
            doc: Box::new(IndexedDocument {
                row: DocumentRow {
                    pipeline: pipeline.name.clone(),
                    id: id.clone(),
                    source: pipeline.source_name.clone(),
                    path: entry.path.clone(),
                    revision: Some(revision),
                    content_hash: Some(hash),
                    version,
                    fingerprint: Some(pipeline.fingerprint.clone()),
                    acl_users: users,
                    acl_groups: groups,
                    status: DocStatus::Done,
                    error_kind: None,
                    last_error: None,
                    title: parsed.title.clone(),
                    pages: parsed.pages.map(i64::from),
                    chunks: chunks.len() as i64,
                    updated_ms: now_ms(),
                },
                chunks,
            }),
            added,
        };
    }
}

fn kind_name(kind: ParseErrorKind) -> &'static str {
    match kind {
        ParseErrorKind::Unsupported => "unsupported",
        ParseErrorKind::TooLarge => "too_large",
        ParseErrorKind::Corrupt => "corrupt",
        ParseErrorKind::Encrypted => "encrypted",
        ParseErrorKind::Empty => "empty",
        ParseErrorKind::Timeout => "timeout",
        ParseErrorKind::Crashed => "crashed",
    }
}

fn records(
    pipeline: &str,
    doc_id: &str,
    fingerprint: &str,
    parsed: &ParsedDocument,
    drafts: &[ChunkDraft],
) -> Vec<ChunkRecord> {
    drafts
        .iter()
        .enumerate()
        .map(|(i, d)| ChunkRecord {
            id: chunk_id(pipeline, doc_id, i, fingerprint),
            ordinal: i as i64,
            text: parsed.text[d.range.clone()].to_string(),
            context: d.context.clone().map(|r| parsed.text[r].to_string()),
            heading_path: d.heading_path.clone(),
            page_start: d.page_start.map(i64::from),
            page_end: d.page_end.map(i64::from),
            byte_start: d.range.start as i64,
            byte_end: d.range.end as i64,
            embedding: None,
        })
        .collect()
}
