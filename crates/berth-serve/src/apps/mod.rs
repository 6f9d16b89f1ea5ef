//! The stack's apps, served by the gateway: `rag` (questions answered from a pipeline's
//! documents with numbered citations) and `chat` (a conversation with a model, history
//! kept, optionally grounded in a rag app's documents).
//!
//! Both run the same flow ([`assistant`]): the question (rewritten with the conversation
//! when there is one) → permission-aware retrieval → passages deduplicated and fitted to
//! the context budget → a prompt from a template → the app's logical model through the
//! gateway's own routing → the answer, streamed, with its citations. A rag app without a
//! model answers extractively: the best sentences of the best passages, labelled as
//! extracts.

pub mod assistant;
pub(crate) mod http;
pub(crate) mod sql;
pub(crate) mod text;

use berth_ingest::knowledge::{Knowledge, KnowledgeError};
use berth_ingest::state::{AppState, StateError, Turn};
use berth_ingest::stores::{StateSource, StoreError};
use berth_stack::plan::{Plan, PlannedApp};
use berth_stack::stack::AppKind;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Passages retrieved when the app does not say.
pub const DEFAULT_TOP_K: usize = 6;
/// Tokens of retrieved passages a prompt may hold.
pub const CONTEXT_TOKENS: usize = 3000;
/// Tokens of earlier conversation a prompt may hold.
pub const HISTORY_TOKENS: usize = 1500;
/// Turns of stored history read for a session (then trimmed to [`HISTORY_TOKENS`]).
const HISTORY_TURNS: usize = 40;

/// Why the apps of a stack could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// A pipeline's search could not be set up.
    #[error("app `{app}`: {source}")]
    Knowledge {
        /// The app.
        app: String,
        /// What failed.
        #[source]
        source: Box<KnowledgeError>,
    },
    /// A prompt template could not be read or does not compile.
    #[error("app `{app}`: prompt template {path}: {message}")]
    Template {
        /// The app.
        app: String,
        /// The template file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A text2sql app's settings are unusable (prompt template, descriptions file).
    #[error("app `{app}`: {message}")]
    Sql {
        /// The app.
        app: String,
        /// What is wrong.
        message: String,
    },
    /// The state store (conversation history) could not be opened.
    #[error(transparent)]
    State(#[from] StateError),
    /// The state store the stack binds cannot be used.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One app, ready to answer.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) name: String,
    pub(crate) kind: AppKind,
    pub(crate) model: Option<String>,
    pub(crate) pipeline: Option<String>,
    pub(crate) knowledge: Option<Arc<Knowledge>>,
    pub(crate) top_k: usize,
    /// A logical model that reranks retrieved passages (TEI `/rerank`).
    pub(crate) rerank: Option<String>,
    pub(crate) system_prompt: Option<String>,
    /// A template of the app's own, replacing the built-in one.
    pub(crate) template: Option<String>,
    /// The database side of a text2sql app.
    pub(crate) sql: Option<sql::SqlApp>,
}

/// A snapshot of the stack for the UI's stack page.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct StackView {
    pub(crate) stack: String,
    pub(crate) target: String,
    pub(crate) components: Vec<ComponentView>,
    pub(crate) pipelines: Vec<PipelineView>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ComponentView {
    pub(crate) name: String,
    pub(crate) uses: String,
    /// What it is wired to (contracts and the components providing them).
    pub(crate) bindings: serde_json::Value,
    /// `host:port` to probe, when the component is reachable from here.
    #[serde(skip)]
    pub(crate) probe: Option<String>,
    /// berth's own role, when it is one (on the local target they run in berth's
    /// processes, not behind their catalog ports).
    #[serde(skip)]
    pub(crate) role: Option<berth_stack::catalog::Role>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct PipelineView {
    pub(crate) name: String,
    pub(crate) source: String,
    pub(crate) embed: Option<String>,
}

/// The apps of a stack and what they share: their pipelines' search and the store of
/// conversations. Built from a plan with [`AppSet::from_plan`]; the gateway swaps the
/// whole set when the stack changes.
#[derive(Default)]
pub struct AppSet {
    pub(crate) apps: BTreeMap<String, Arc<App>>,
    pub(crate) view: StackView,
    pub(crate) store: Option<Mutex<Box<dyn AppState>>>,
}

impl Drop for AppSet {
    fn drop(&mut self) {
        if let Some(store) = self.store.take() {
            berth_ingest::state::postgres::drop_off_runtime(store);
        }
    }
}

impl std::fmt::Debug for AppSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppSet")
            .field("apps", &self.apps)
            .field("view", &self.view)
            .field("store", &self.store.is_some())
            .finish()
    }
}

impl AppSet {
    /// No apps.
    pub fn empty() -> AppSet {
        AppSet::default()
    }

    /// The apps of `plan`, with state (documents, indexes, conversations) in `state_dir`
    /// and the stack's relative paths (templates, model directories) resolved against
    /// `base`. Sets up each pipeline's search once, shared by the apps that use it. Rag
    /// apps need their pipeline ingested only when they answer, not here.
    pub fn from_plan(plan: &Plan, state_dir: &Path, base: &Path) -> Result<AppSet, AppError> {
        let mut knowledge: BTreeMap<String, Arc<Knowledge>> = BTreeMap::new();
        let mut apps = BTreeMap::new();
        // Rag apps first: chat apps borrow their knowledge.
        let mut ordered: Vec<(&String, &PlannedApp)> = plan.apps.iter().collect();
        ordered.sort_by_key(|(_, a)| a.kind != AppKind::Rag);
        for (name, planned) in ordered {
            let (pipeline, top_k, rerank) = match planned.kind {
                AppKind::Rag => (
                    planned.pipeline.clone(),
                    planned.top_k,
                    planned.rerank.clone(),
                ),
                AppKind::Chat => match planned.knowledge.as_ref().and_then(|k| plan.apps.get(k)) {
                    Some(rag) => (rag.pipeline.clone(), rag.top_k, rag.rerank.clone()),
                    None => (None, None, None),
                },
                AppKind::Text2sql => {
                    let sql =
                        sql::SqlApp::new(plan, planned, base).map_err(|message| AppError::Sql {
                            app: name.clone(),
                            message,
                        })?;
                    apps.insert(
                        name.clone(),
                        Arc::new(App {
                            name: name.clone(),
                            kind: planned.kind,
                            model: planned.model.clone(),
                            pipeline: None,
                            knowledge: None,
                            top_k: 0,
                            rerank: None,
                            system_prompt: None,
                            template: None,
                            sql: Some(sql),
                        }),
                    );
                    continue;
                }
            };
            let searcher = match &pipeline {
                Some(p) => Some(match knowledge.get(p) {
                    Some(k) => k.clone(),
                    None => {
                        let k = Arc::new(Knowledge::open(plan, p, state_dir, base).map_err(
                            |source| AppError::Knowledge {
                                app: name.clone(),
                                source: Box::new(source),
                            },
                        )?);
                        knowledge.insert(p.clone(), k.clone());
                        k
                    }
                }),
                None => None,
            };
            let template = match &planned.prompt {
                Some(path) => Some(read_template(name, &base.join(path))?),
                None => None,
            };
            apps.insert(
                name.clone(),
                Arc::new(App {
                    name: name.clone(),
                    kind: planned.kind,
                    model: planned.model.clone(),
                    pipeline,
                    knowledge: searcher,
                    top_k: top_k.map_or(DEFAULT_TOP_K, |k| k.max(1) as usize),
                    rerank,
                    system_prompt: planned.system_prompt.clone(),
                    template,
                    sql: None,
                }),
            );
        }
        let store = if apps.is_empty() {
            None
        } else {
            Some(Mutex::new(
                StateSource::for_plan(plan)?.open_or_create(state_dir)?,
            ))
        };
        Ok(AppSet {
            apps,
            view: stack_view(plan),
            store,
        })
    }

    /// The app named `name`.
    pub(crate) fn get(&self, name: &str) -> Result<Arc<App>, crate::ApiError> {
        self.apps
            .get(name)
            .cloned()
            .ok_or_else(|| crate::ApiError::NotFound(format!("The app `{name}` does not exist")))
    }

    /// The names of the apps served.
    pub fn names(&self) -> Vec<String> {
        self.apps.keys().cloned().collect()
    }

    /// The names of the apps of one of `kinds`.
    pub fn names_of(&self, kinds: &[AppKind]) -> Vec<String> {
        self.apps
            .values()
            .filter(|a| kinds.contains(&a.kind))
            .map(|a| a.name.clone())
            .collect()
    }

    pub(crate) fn with_store<T>(
        &self,
        f: impl FnOnce(&mut dyn AppState) -> Result<T, StateError>,
    ) -> Option<Result<T, StateError>> {
        let store = self.store.as_ref()?;
        let mut guard = store.lock().unwrap_or_else(|e| e.into_inner());
        Some(f(guard.as_mut()))
    }

    /// Stored history of a conversation, oldest first.
    pub(crate) fn history(&self, app: &str, user: &str, session: &str) -> Vec<Turn> {
        self.with_store(|s| s.conversation(app, user, session, HISTORY_TURNS))
            .and_then(Result::ok)
            .unwrap_or_default()
    }

    /// Appends a question and its answer to a stored conversation.
    pub(crate) fn remember(&self, app: &str, user: &str, session: &str, turns: &[Turn]) {
        let _ = self.with_store(|s| s.append_turns(app, user, session, turns));
    }
}

fn read_template(app: &str, path: &Path) -> Result<String, AppError> {
    let error = |message: String| AppError::Template {
        app: app.to_string(),
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    let mut env = minijinja::Environment::new();
    env.add_template("app", &text)
        .map_err(|e| error(e.to_string()))?;
    Ok(text)
}

fn stack_view(plan: &Plan) -> StackView {
    StackView {
        stack: plan.stack.clone(),
        target: serde_json::to_value(plan.target)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        components: plan
            .components
            .iter()
            .map(|(name, c)| ComponentView {
                name: name.clone(),
                uses: c.uses.clone(),
                bindings: serde_json::to_value(&c.bindings).unwrap_or_default(),
                role: c.role,
                probe: c
                    .ports
                    .iter()
                    .find_map(|p| p.host)
                    .map(|p| format!("127.0.0.1:{p}")),
            })
            .collect(),
        pipelines: plan
            .pipelines
            .iter()
            .map(|(name, p)| PipelineView {
                name: name.clone(),
                source: p.source.clone(),
                embed: p.embed.clone(),
            })
            .collect(),
    }
}

/// Environment variable naming an OpenAI-compatible endpoint (base URL, e.g.
/// `http://127.0.0.1:11434/v1`) that answers for rag and chat apps without a model.
pub const CHAT_URL_ENV: &str = "BERTH_CHAT_URL";
/// Environment variable with the upstream model name for [`CHAT_URL_ENV`].
pub const CHAT_MODEL_ENV: &str = "BERTH_CHAT_MODEL";
/// Secret (environment variable) with the API key for [`CHAT_URL_ENV`], if it needs one.
pub const CHAT_KEY_ENV: &str = "BERTH_CHAT_API_KEY";
/// The logical model [`CHAT_URL_ENV`] adds.
pub const ENV_CHAT_MODEL: &str = "chat";

/// When [`CHAT_URL_ENV`] is set and the stack has no model named `chat`: adds a logical
/// model `chat` routed to that endpoint and gives it to every rag and chat app without a
/// model, so one environment variable turns extractive answers into generated ones.
/// Returns the endpoint used, for the caller to announce.
pub fn apply_chat_env(plan: &mut Plan) -> Option<String> {
    apply_chat_endpoint(plan, |name| std::env::var(name).ok())
}

/// [`apply_chat_env`] with the variables looked up by `var`.
pub fn apply_chat_endpoint(
    plan: &mut Plan,
    var: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    let url = var(CHAT_URL_ENV).filter(|u| !u.trim().is_empty())?;
    if plan.models.contains_key(ENV_CHAT_MODEL) {
        return None;
    }
    let model = var(CHAT_MODEL_ENV)
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| "default".into());
    let api_key = var(CHAT_KEY_ENV).map(|_| format!("${{secret:{CHAT_KEY_ENV}}}"));
    plan.models.insert(
        ENV_CHAT_MODEL.into(),
        vec![berth_stack::plan::PlannedRoute::Provider {
            provider: "openai".into(),
            base_url: url.trim_end_matches('/').to_string(),
            model,
            api_key,
            weight: 1,
        }],
    );
    for app in plan.apps.values_mut() {
        if app.model.is_none() && matches!(app.kind, AppKind::Rag | AppKind::Chat) {
            app.model = Some(ENV_CHAT_MODEL.into());
        }
    }
    Some(url)
}
