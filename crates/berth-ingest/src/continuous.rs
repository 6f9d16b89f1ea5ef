//! Continuous ingestion: pipelines re-run on their cron `schedule:` and, in watch mode, when
//! their source directory changes (file-system events, debounced).
//!
//! [`Triggers`] turns both into one stream of pipeline names to run; the caller runs them.

use chrono::{DateTime, Local};
use croner::Cron;
use notify::{RecursiveMode, Watcher};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What to watch and when.
#[derive(Debug, Clone, Default)]
pub struct TriggerSpec {
    /// Pipelines with a cron schedule (five fields, local time).
    pub schedules: BTreeMap<String, String>,
    /// Pipelines whose source directory is watched.
    pub watched: BTreeMap<String, PathBuf>,
    /// Quiet time after the last file-system event before a run starts.
    pub debounce: Duration,
}

/// Why continuous ingestion could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TriggerError {
    /// A schedule is not a valid cron expression.
    #[error("pipeline `{pipeline}`: schedule `{schedule}`: {message}")]
    Schedule {
        /// The pipeline.
        pipeline: String,
        /// The expression.
        schedule: String,
        /// Why.
        message: String,
    },
    /// A directory cannot be watched.
    #[error("cannot watch {}: {source}", path.display())]
    Watch {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: notify::Error,
    },
}

/// The next time a five-field cron expression fires after `after`.
pub fn next_fire(schedule: &str, after: DateTime<Local>) -> Result<DateTime<Local>, String> {
    let cron = Cron::from_str(schedule).map_err(|e| e.to_string())?;
    cron.find_next_occurrence(&after, false)
        .map_err(|e| e.to_string())
}

/// A stream of pipelines to run.
pub struct Triggers {
    rx: mpsc::Receiver<String>,
    _watcher: Option<notify::RecommendedWatcher>,
}

impl std::fmt::Debug for Triggers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Triggers").finish_non_exhaustive()
    }
}

impl Triggers {
    /// Starts the scheduler and the watchers.
    pub fn start(spec: TriggerSpec) -> Result<Triggers, TriggerError> {
        for (pipeline, schedule) in &spec.schedules {
            next_fire(schedule, Local::now()).map_err(|message| TriggerError::Schedule {
                pipeline: pipeline.clone(),
                schedule: schedule.clone(),
                message,
            })?;
        }
        let (tx, rx) = mpsc::channel::<String>();
        if !spec.schedules.is_empty() {
            let tx = tx.clone();
            let schedules = spec.schedules.clone();
            std::thread::Builder::new()
                .name("schedules".into())
                .spawn(move || scheduler(schedules, tx))
                .expect("a scheduler thread starts");
        }
        let watcher = if spec.watched.is_empty() {
            None
        } else {
            let (ev_tx, ev_rx) = mpsc::channel::<PathBuf>();
            let mut watcher =
                notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
                    if let Ok(event) = res {
                        if event.kind.is_access() {
                            return;
                        }
                        for p in event.paths {
                            let _ = ev_tx.send(p);
                        }
                    }
                })
                .map_err(|source| TriggerError::Watch {
                    path: PathBuf::new(),
                    source,
                })?;
            let mut roots = Vec::new();
            for (pipeline, dir) in &spec.watched {
                let canonical = dir.canonicalize().unwrap_or_else(|_| dir.clone());
                watcher
                    .watch(&canonical, RecursiveMode::Recursive)
                    .map_err(|source| TriggerError::Watch {
                        path: dir.clone(),
                        source,
                    })?;
                roots.push((pipeline.clone(), canonical));
            }
            let debounce = spec.debounce;
            std::thread::Builder::new()
                .name("watch".into())
                .spawn(move || debouncer(ev_rx, roots, debounce, tx))
                .expect("a watch thread starts");
            Some(watcher)
        };
        Ok(Triggers {
            rx,
            _watcher: watcher,
        })
    }

    /// Waits for the next pipeline to run. `None` when no trigger can fire any more.
    pub fn next(&self) -> Option<String> {
        self.rx.recv().ok()
    }
}

fn scheduler(schedules: BTreeMap<String, String>, tx: mpsc::Sender<String>) {
    let mut due: BTreeMap<String, DateTime<Local>> = schedules
        .iter()
        .filter_map(|(p, s)| next_fire(s, Local::now()).ok().map(|t| (p.clone(), t)))
        .collect();
    loop {
        let Some((pipeline, at)) = due
            .iter()
            .min_by_key(|(_, t)| **t)
            .map(|(p, t)| (p.clone(), *t))
        else {
            return;
        };
        let wait = (at - Local::now()).to_std().unwrap_or(Duration::ZERO);
        std::thread::sleep(wait);
        if tx.send(pipeline.clone()).is_err() {
            return;
        }
        match next_fire(&schedules[&pipeline], at) {
            Ok(next) => {
                due.insert(pipeline, next);
            }
            Err(_) => {
                due.remove(&pipeline);
            }
        }
    }
}

fn debouncer(
    events: mpsc::Receiver<PathBuf>,
    roots: Vec<(String, PathBuf)>,
    debounce: Duration,
    tx: mpsc::Sender<String>,
) {
    let state_dir = std::ffi::OsStr::new(".berth");
    while let Ok(first) = events.recv() {
        let mut pending: BTreeSet<String> = BTreeSet::new();
        let note = |p: &PathBuf, pending: &mut BTreeSet<String>| {
            if p.components().any(|c| c.as_os_str() == state_dir) {
                return; // berth's own writes
            }
            for (pipeline, root) in &roots {
                if p.starts_with(root) {
                    pending.insert(pipeline.clone());
                }
            }
        };
        note(&first, &mut pending);
        let mut quiet_since = Instant::now();
        loop {
            let left = debounce.saturating_sub(quiet_since.elapsed());
            match events.recv_timeout(left) {
                Ok(p) => {
                    note(&p, &mut pending);
                    quiet_since = Instant::now();
                }
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
        for pipeline in pending {
            if tx.send(pipeline).is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn next_fire_follows_the_cron_expression() {
        let at = Local.with_ymd_and_hms(2026, 11, 27, 10, 7, 30).unwrap();
        let next = next_fire("*/15 * * * *", at).unwrap();
        assert_eq!(
            next,
            Local.with_ymd_and_hms(2026, 11, 27, 10, 15, 0).unwrap()
        );
        let next = next_fire("0 2 * * *", at).unwrap();
        assert_eq!(next, Local.with_ymd_and_hms(2026, 11, 28, 2, 0, 0).unwrap());
        assert!(next_fire("not cron", at).is_err());
    }

    #[test]
    fn file_changes_trigger_one_debounced_run() {
        let dir = tempfile::tempdir().unwrap();
        let triggers = Triggers::start(TriggerSpec {
            schedules: BTreeMap::new(),
            watched: BTreeMap::from([("docs".to_string(), dir.path().to_path_buf())]),
            debounce: Duration::from_millis(200),
        })
        .unwrap();
        for i in 0..5 {
            std::fs::write(dir.path().join(format!("f{i}.md")), "x").unwrap();
        }
        assert_eq!(triggers.next().as_deref(), Some("docs"));
        // The burst produced one trigger: nothing else is waiting.
        assert!(
            triggers
                .rx
                .recv_timeout(Duration::from_millis(600))
                .is_err()
        );
    }
}
