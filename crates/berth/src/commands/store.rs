//! Which state store a stack uses: the embedded SQLite one under `.berth/`, or the
//! PostgreSQL one its `state-store` contract is bound to (shared by several workers).

use super::{Planned, load_and_plan};
use crate::report::UserError;
use anyhow::Context as _;
use berth_deploy::load;
use berth_deploy::state::StateDir;
use berth_ingest::state::postgres::{PgOptions, PgStateStore, redact};
use berth_ingest::state::{IngestState, ReadState, StateLock, StateStore};
use berth_stack::plan::Plan;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Overrides the lease time of shared workers, in seconds (tests shorten it).
const LEASE_ENV: &str = "BERTH_LEASE_SECONDS";

/// An open state store, ready for ingestion.
pub(crate) enum Store {
    /// SQLite, held exclusively while it is open.
    Local {
        /// The store.
        store: StateStore,
        /// The state directory's lock, released on drop.
        _lock: StateLock,
    },
    /// PostgreSQL, shared with other workers.
    Shared(Box<PgStateStore>),
}

impl Store {
    /// The store as the runner uses it.
    pub(crate) fn ingest(&mut self) -> &mut dyn IngestState {
        match self {
            Store::Local { store, .. } => store,
            Store::Shared(s) => s.as_mut(),
        }
    }
}

/// The PostgreSQL URL (credentials in) of the stack's `state-store` binding, if it has
/// one.
pub(crate) fn shared_url(plan: &Plan) -> anyhow::Result<Option<String>> {
    berth_ingest::stores::state_store_url(plan).map_err(|e| UserError(e.to_string()).into())
}

/// The pgvector URL (credentials in) pipeline `name` stores into, if it does.
pub(crate) fn vectors_url(plan: &Plan, name: &str) -> anyhow::Result<Option<String>> {
    berth_ingest::stores::vector_store_url(plan, name).map_err(|e| UserError(e.to_string()).into())
}

/// Opens the stack's state store for reading (listings, runs): the shared one when the
/// stack binds one, else the local one if anything was ever ingested.
pub(crate) fn open_reader(
    stack: &Path,
    catalogs: &[PathBuf],
) -> anyhow::Result<Option<Box<dyn ReadState>>> {
    let stack_path = load::stack_path(stack);
    if !stack_path.exists() {
        return Err(UserError(format!(
            "no stack file at {} (create one with `berth init`)",
            stack_path.display()
        ))
        .into());
    }
    if let Planned::Ok { plan, .. } = load_and_plan(stack, catalogs, None, false)?
        && let Some(url) = shared_url(&plan)?
    {
        let store = PgStateStore::connect_reader(&url, pg_options())
            .with_context(|| format!("opening the state store at {}", redact(&url)))?;
        return Ok(Some(Box::new(store)));
    }
    let state = StateDir::for_stack(&stack_path);
    let db = state.database();
    if !db.exists() {
        return Ok(None);
    }
    let store = StateStore::open(&db).with_context(|| format!("opening {}", db.display()))?;
    Ok(Some(Box::new(store)))
}

/// How this process uses a shared store: the defaults, with the lease time from the
/// environment when set.
pub(crate) fn pg_options() -> PgOptions {
    let mut options = PgOptions::default();
    if let Some(secs) = std::env::var(LEASE_ENV)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
    {
        options.lease = Duration::from_secs_f64(secs);
    }
    options
}

/// Opens the stack's state store for ingestion.
pub(crate) fn open(plan: &Plan, state: &StateDir) -> anyhow::Result<Store> {
    if let Some(url) = shared_url(plan)? {
        let store = PgStateStore::connect(&url, pg_options())
            .with_context(|| format!("opening the state store at {}", redact(&url)))?;
        return Ok(Store::Shared(Box::new(store)));
    }
    let lock = StateLock::acquire(state.path()).map_err(|e| UserError(e.to_string()))?;
    let store = StateStore::open(&state.database())
        .with_context(|| format!("opening the state store under {}", state.path().display()))?;
    Ok(Store::Local { store, _lock: lock })
}
