//! Read-only views of the state store for the gateway's apps and pages: one chunk with
//! its document, document counts per status, and a cheap "did anything change" check.

use super::{DocStatus, Result, StateStore, parse_list};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

/// A chunk as a reader sees it: the passage (its context when the pipeline keeps one) and
/// where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChunkView {
    /// Chunk id.
    pub chunk_id: String,
    /// Pipeline.
    pub pipeline: String,
    /// Document id (`source/path`).
    pub document: String,
    /// Path within the source.
    pub path: String,
    /// Document title, when the format has one.
    pub title: Option<String>,
    /// Headings above the chunk.
    pub heading: Vec<String>,
    /// First and last page, for paged formats.
    pub pages: Option<(i64, i64)>,
    /// Position in the document.
    pub ordinal: i64,
    /// The indexed text.
    pub text: String,
    /// The wider passage around it, when the pipeline keeps one.
    pub context: Option<String>,
    /// Users allowed to read it (empty with no groups either: everyone).
    pub acl_users: Vec<String>,
    /// Groups allowed to read it.
    pub acl_groups: Vec<String>,
}

impl ChunkView {
    /// The passage to show or quote: the context when there is one, else the text.
    pub fn passage(&self) -> &str {
        self.context.as_deref().unwrap_or(&self.text)
    }
}

/// Documents of a pipeline by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DocumentCounts {
    /// Indexed.
    pub done: u64,
    /// Dead-lettered.
    pub failed: u64,
    /// Seen, not yet indexed.
    pub pending: u64,
}

impl StateStore {
    /// One chunk of any pipeline, with its document's details.
    pub fn chunk(&mut self, chunk_id: &str) -> Result<Option<ChunkView>> {
        self.chunks_by_id(&[chunk_id]).map(|mut v| v.pop())
    }

    /// Chunks by id, in the order asked; ids not found are left out.
    pub fn chunks_by_id(&mut self, ids: &[&str]) -> Result<Vec<ChunkView>> {
        self.sql(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT c.id, c.pipeline, c.document_id, d.path, d.title, c.heading_path,
                        c.page_start, c.page_end, c.ordinal, c.text, c.context,
                        d.acl_users, d.acl_groups
                 FROM chunks c JOIN documents d ON d.pipeline = c.pipeline AND d.id = c.document_id
                 WHERE c.id = ?1",
            )?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                let view = stmt
                    .query_row(params![id], |r| {
                        let start: Option<i64> = r.get(6)?;
                        let end: Option<i64> = r.get(7)?;
                        Ok(ChunkView {
                            chunk_id: r.get(0)?,
                            pipeline: r.get(1)?,
                            document: r.get(2)?,
                            path: r.get(3)?,
                            title: r.get(4)?,
                            heading: parse_list(&r.get::<_, String>(5)?),
                            pages: start.map(|s| (s, end.unwrap_or(s))),
                            ordinal: r.get(8)?,
                            text: r.get(9)?,
                            context: r.get(10)?,
                            acl_users: parse_list(&r.get::<_, String>(11)?),
                            acl_groups: parse_list(&r.get::<_, String>(12)?),
                        })
                    })
                    .optional()?;
                out.extend(view);
            }
            Ok(out)
        })
    }

    /// The chunks right before and after `ordinal` in a document (for widening a passage).
    pub fn neighbours(
        &mut self,
        pipeline: &str,
        document_id: &str,
        ordinal: i64,
    ) -> Result<(Option<String>, Option<String>)> {
        self.sql(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT text FROM chunks WHERE pipeline = ?1 AND document_id = ?2 AND ordinal = ?3",
            )?;
            let before = stmt
                .query_row(params![pipeline, document_id, ordinal - 1], |r| r.get(0))
                .optional()?;
            let after = stmt
                .query_row(params![pipeline, document_id, ordinal + 1], |r| r.get(0))
                .optional()?;
            Ok((before, after))
        })
    }

    /// How many documents of `pipeline` are done, failed and pending.
    pub fn document_counts(&mut self, pipeline: &str) -> Result<DocumentCounts> {
        self.sql(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT status, COUNT(*) FROM documents WHERE pipeline = ?1 GROUP BY status",
            )?;
            let mut counts = DocumentCounts::default();
            let rows = stmt.query_map(params![pipeline], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })?;
            for row in rows {
                let (status, n) = row?;
                let n = n.max(0) as u64;
                match DocStatus::parse(&status) {
                    DocStatus::Done => counts.done += n,
                    DocStatus::Failed => counts.failed += n,
                    DocStatus::Pending => counts.pending += n,
                }
            }
            Ok(counts)
        })
    }

    /// A number that changes whenever another connection (any process) commits a change
    /// to the store: readers compare it to know whether their derived data is stale.
    pub fn data_version(&mut self) -> Result<i64> {
        self.sql(|c| c.query_row("PRAGMA data_version", [], |r| r.get(0)))
    }
}
