//! Which state store a stack uses: the embedded SQLite one under `.berth/`, or the
//! PostgreSQL one its `state-store` contract is bound to (shared by several workers).

use crate::report::UserError;
use anyhow::Context as _;
use berth_deploy::state::StateDir;
use berth_ingest::state::postgres::{PgOptions, PgStateStore, redact, with_credentials};
use berth_ingest::state::{IngestState, StateLock, StateStore};
use berth_stack::plan::Plan;
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
/// one: a worker's binding first, else any.
pub(crate) fn shared_url(plan: &Plan) -> anyhow::Result<Option<String>> {
    let bound = plan
        .components
        .values()
        .filter(|c| c.role == Some(berth_stack::catalog::Role::Worker))
        .chain(plan.components.values())
        .flat_map(|c| &c.bindings)
        .find(|b| b.contract == "state-store")
        .map(|b| b.connection.clone());
    let connection = match bound {
        Some(id) => plan.connections.get(&id),
        None => plan
            .connections
            .values()
            .find(|c| c.contract == "state-store"),
    };
    let Some(connection) = connection else {
        return Ok(None);
    };
    if connection.scheme != "postgres" && connection.scheme != "postgresql" {
        return Err(UserError(format!(
            "the state store `{}` speaks `{}`; berth keeps its state in SQLite or PostgreSQL",
            connection.component, connection.scheme
        ))
        .into());
    }
    let password = match connection.secrets.get("password") {
        Some(reference) => {
            let name = reference
                .strip_prefix("${secret:")
                .and_then(|r| r.strip_suffix('}'))
                .unwrap_or(reference);
            Some(std::env::var(name).map_err(|_| {
                UserError(format!(
                    "the state store `{}` needs the secret {name}: set it in the environment",
                    connection.component
                ))
            })?)
        }
        None => None,
    };
    Ok(Some(with_credentials(
        &connection.url,
        "postgres",
        password.as_deref(),
    )))
}

/// Opens the stack's state store for ingestion.
pub(crate) fn open(plan: &Plan, state: &StateDir) -> anyhow::Result<Store> {
    if let Some(url) = shared_url(plan)? {
        let mut options = PgOptions::default();
        if let Some(secs) = std::env::var(LEASE_ENV)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| *s > 0.0)
        {
            options.lease = Duration::from_secs_f64(secs);
        }
        let store = PgStateStore::connect(&url, options)
            .with_context(|| format!("opening the state store at {}", redact(&url)))?;
        return Ok(Store::Shared(Box::new(store)));
    }
    let lock = StateLock::acquire(state.path()).map_err(|e| UserError(e.to_string()))?;
    let store = StateStore::open(&state.database())
        .with_context(|| format!("opening the state store under {}", state.path().display()))?;
    Ok(Store::Local { store, _lock: lock })
}
