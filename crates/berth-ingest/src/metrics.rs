//! Ingestion figures in the Prometheus text format, from the runs recorded in the state
//! store (so they survive restarts and match `berth runs`).

use crate::state::RunRow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Renders counters for every pipeline: runs by status, documents by outcome, chunks
/// written and deleted, seconds spent.
pub fn render(runs: &[RunRow]) -> String {
    let mut by_pipeline: BTreeMap<&str, Vec<&RunRow>> = BTreeMap::new();
    for r in runs {
        by_pipeline.entry(&r.pipeline).or_default().push(r);
    }
    let mut out = String::new();
    let mut family = |name: &str, help: &str, rows: Vec<(String, f64)>| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} counter");
        for (labels, value) in rows {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    };
    let mut runs_rows = Vec::new();
    let mut doc_rows = Vec::new();
    let mut chunk_rows = Vec::new();
    let mut seconds = Vec::new();
    for (pipeline, rows) in &by_pipeline {
        let mut statuses: BTreeMap<&str, u64> = BTreeMap::new();
        let mut docs: BTreeMap<&str, u64> = BTreeMap::new();
        let (mut written, mut deleted, mut secs) = (0u64, 0u64, 0f64);
        for r in rows {
            *statuses.entry(r.status.as_str()).or_default() += 1;
            let c = &r.counts;
            for (k, v) in [
                ("seen", c.seen),
                ("added", c.added),
                ("changed", c.changed),
                ("unchanged", c.unchanged),
                ("deleted", c.deleted),
                ("failed", c.failed),
            ] {
                *docs.entry(k).or_default() += v;
            }
            written += c.chunks_written;
            deleted += c.chunks_deleted;
            if let Some(end) = r.finished_ms {
                secs += (end - r.started_ms).max(0) as f64 / 1000.0;
            }
        }
        for (status, n) in statuses {
            runs_rows.push((
                format!("pipeline=\"{pipeline}\",status=\"{status}\""),
                n as f64,
            ));
        }
        for (outcome, n) in docs {
            doc_rows.push((
                format!("pipeline=\"{pipeline}\",outcome=\"{outcome}\""),
                n as f64,
            ));
        }
        chunk_rows.push((
            format!("pipeline=\"{pipeline}\",op=\"written\""),
            written as f64,
        ));
        chunk_rows.push((
            format!("pipeline=\"{pipeline}\",op=\"deleted\""),
            deleted as f64,
        ));
        seconds.push((format!("pipeline=\"{pipeline}\""), secs));
    }
    family(
        "berth_ingest_runs_total",
        "Ingestion runs by final status.",
        runs_rows,
    );
    family(
        "berth_ingest_documents_total",
        "Documents by outcome, summed over runs.",
        doc_rows,
    );
    family(
        "berth_ingest_chunks_total",
        "Chunks written and deleted, summed over runs.",
        chunk_rows,
    );
    family(
        "berth_ingest_run_seconds_total",
        "Time spent in finished runs.",
        seconds,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::RunCounts;

    #[test]
    fn counters_sum_over_runs() {
        let run = |id, status: &str, added| RunRow {
            id,
            pipeline: "docs".into(),
            status: status.into(),
            started_ms: 0,
            finished_ms: Some(1500),
            counts: RunCounts {
                added,
                seen: added,
                chunks_written: added * 2,
                ..RunCounts::default()
            },
            error: None,
        };
        let text = render(&[run(1, "ok", 3), run(2, "failures", 2)]);
        assert!(
            text.contains("berth_ingest_documents_total{pipeline=\"docs\",outcome=\"added\"} 5\n")
        );
        assert!(text.contains("berth_ingest_runs_total{pipeline=\"docs\",status=\"ok\"} 1\n"));
        assert!(text.contains("berth_ingest_chunks_total{pipeline=\"docs\",op=\"written\"} 10\n"));
        assert!(text.contains("berth_ingest_run_seconds_total{pipeline=\"docs\"} 3\n"));
    }
}
