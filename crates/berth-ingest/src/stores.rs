//! Which stores a stack's bindings select: the state store (the embedded SQLite one, or
//! PostgreSQL when a `state-store` contract is bound) and a pipeline's vector store (the
//! built-in index, or pgvector when the pipeline's `store:` provides
//! `vector-store/pgvector`).

use crate::state::postgres::{PgOptions, PgStateStore, redact};
use crate::state::{AppState, StateError, StateStore};
use berth_stack::catalog::Role;
use berth_stack::plan::{Connection, Plan};
use std::path::Path;

/// Where a process finds the stack's state.
#[derive(Clone, Default)]
pub enum StateSource {
    /// The embedded SQLite store of the state directory.
    #[default]
    Local,
    /// A shared PostgreSQL store, by URL (credentials in, never shown).
    Postgres(String),
}

impl std::fmt::Debug for StateSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateSource::Local => f.write_str("Local"),
            StateSource::Postgres(url) => f.debug_tuple("Postgres").field(&redact(url)).finish(),
        }
    }
}

impl StateSource {
    /// The state store `plan` binds: PostgreSQL through its `state-store` contract, else
    /// the local one.
    pub fn for_plan(plan: &Plan) -> Result<StateSource, StoreError> {
        Ok(match state_store_url(plan)? {
            Some(url) => StateSource::Postgres(url),
            None => StateSource::Local,
        })
    }

    /// Opens the store for reading and for the apps' conversations (never for
    /// ingesting: no leases, no heartbeat). `None` when the local store under
    /// `state_dir` was never created, so nothing was ingested.
    pub fn open(&self, state_dir: &Path) -> Result<Option<Box<dyn AppState>>, StateError> {
        Ok(Some(match self {
            StateSource::Local => {
                let db = state_dir.join("state.db");
                if !db.exists() {
                    return Ok(None);
                }
                Box::new(StateStore::open(&db)?)
            }
            StateSource::Postgres(url) => {
                Box::new(PgStateStore::connect_reader(url, PgOptions::default())?)
            }
        }))
    }

    /// Like [`StateSource::open`], creating the local store when it does not exist yet
    /// (a gateway keeps conversations before anything is ingested).
    pub fn open_or_create(&self, state_dir: &Path) -> Result<Box<dyn AppState>, StateError> {
        Ok(match self {
            StateSource::Local => Box::new(StateStore::open(&state_dir.join("state.db"))?),
            StateSource::Postgres(url) => {
                Box::new(PgStateStore::connect_reader(url, PgOptions::default())?)
            }
        })
    }
}

/// Why a bound store cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The state store speaks something other than PostgreSQL.
    #[error(
        "the state store `{component}` speaks `{scheme}`; berth keeps its state in SQLite or PostgreSQL"
    )]
    StateScheme {
        /// The bound component.
        component: String,
        /// Its URL scheme.
        scheme: String,
    },
    /// A credential of the store is a secret missing from the environment.
    #[error("the store `{component}` needs the secret {secret}: set it in the environment")]
    MissingSecret {
        /// The bound component.
        component: String,
        /// The secret's name.
        secret: String,
    },
    /// A pgvector store needs vectors, so the pipeline must embed.
    #[error(
        "pipeline `{pipeline}` stores into pgvector (`{component}`) but has no `embed` model; pgvector holds vectors, so add `embed:` or leave `store:` out"
    )]
    NoVectors {
        /// The pipeline.
        pipeline: String,
        /// The component named by `store:`.
        component: String,
    },
}

/// The contract of the vector stores berth writes itself.
pub const PGVECTOR_CONTRACT: &str = "vector-store/pgvector";

/// The PostgreSQL URL, credentials in, of the stack's `state-store` binding (a worker's
/// binding first, else any), or `None` for the embedded SQLite store.
pub fn state_store_url(plan: &Plan) -> Result<Option<String>, StoreError> {
    let bound = plan
        .components
        .values()
        .filter(|c| c.role == Some(Role::Worker))
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
    if !is_postgres(connection) {
        return Err(StoreError::StateScheme {
            component: connection.component.clone(),
            scheme: connection.scheme.clone(),
        });
    }
    url_with_credentials(connection).map(Some)
}

/// The pgvector URL, credentials in, that pipeline `name` stores into, or `None` when it
/// uses the built-in index (no `store:`, or one berth does not write: see
/// [`unwritten_store`]). Errors when pgvector is named for a pipeline without vectors.
pub fn vector_store_url(plan: &Plan, name: &str) -> Result<Option<String>, StoreError> {
    let Some(pipeline) = plan.pipelines.get(name) else {
        return Ok(None);
    };
    let Some(component) = &pipeline.store else {
        return Ok(None);
    };
    let Some(connection) = pgvector_connection(plan, component) else {
        return Ok(None);
    };
    if pipeline.embed.is_none() {
        return Err(StoreError::NoVectors {
            pipeline: name.to_string(),
            component: component.clone(),
        });
    }
    url_with_credentials(connection).map(Some)
}

/// The pgvector schema of pipeline `name`: `berth_` and the name, lowercased, with every
/// character PostgreSQL would need quoted replaced by `_`.
pub fn vector_schema(name: &str) -> String {
    let mut schema = String::from("berth_");
    schema.extend(name.chars().map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '_'
        }
    }));
    schema.truncate(63);
    schema
}

/// What to tell the user when pipeline `name` names a `store:` that berth does not write
/// (a vector database other than pgvector): its chunks go to the built-in index instead.
pub fn unwritten_store(plan: &Plan, name: &str) -> Option<String> {
    let component = plan.pipelines.get(name)?.store.as_ref()?;
    if pgvector_connection(plan, component).is_some() {
        return None;
    }
    let uses = plan
        .components
        .get(component)
        .map(|c| c.uses.clone())
        .unwrap_or_default();
    Some(format!(
        "pipeline `{name}` names `store: {component}` ({uses}), which this berth does not write (it writes pgvector); its chunks go to the built-in index"
    ))
}

fn pgvector_connection<'a>(plan: &'a Plan, component: &str) -> Option<&'a Connection> {
    plan.components.get(component).and_then(|c| {
        c.provides
            .iter()
            .filter_map(|id| plan.connections.get(id))
            .find(|conn| conn.contract == PGVECTOR_CONTRACT && is_postgres(conn))
    })
}

fn is_postgres(connection: &Connection) -> bool {
    connection.scheme == "postgres" || connection.scheme == "postgresql"
}

/// The connection's URL with its password secret (if any) read from the environment.
fn url_with_credentials(connection: &Connection) -> Result<String, StoreError> {
    let password = match connection.secrets.get("password") {
        Some(reference) => {
            let name = reference
                .strip_prefix("${secret:")
                .and_then(|r| r.strip_suffix('}'))
                .unwrap_or(reference);
            Some(std::env::var(name).map_err(|_| StoreError::MissingSecret {
                component: connection.component.clone(),
                secret: name.to_string(),
            })?)
        }
        None => None,
    };
    Ok(crate::state::postgres::with_credentials(
        &connection.url,
        "postgres",
        password.as_deref(),
    ))
}

#[cfg(test)]
mod tests {
    use super::vector_schema;

    #[test]
    fn schema_names_are_plain_identifiers() {
        assert_eq!(vector_schema("docs-index"), "berth_docs_index");
        assert_eq!(vector_schema("Wiki.2"), "berth_wiki_2");
        assert_eq!(vector_schema(&"x".repeat(100)).len(), 63);
    }
}
