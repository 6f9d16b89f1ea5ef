//! Choosing the embedder for a logical model of a plan.

use crate::providers::builtin::locate_model;
use crate::{BuiltinEmbedder, BuiltinOptions, EmbedError, Embedder, HttpOptions};
use crate::{OpenAiEmbedder, TeiEmbedder};
use berth_stack::catalog::Role;
use berth_stack::plan::{Plan, PlannedRoute};
use berth_stack::stack::Target;
use std::path::{Path, PathBuf};

/// How a logical model's vectors are made. Secrets stay references until [`build`](Self::build).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmbedderChoice {
    /// In process, from a model directory.
    Builtin {
        /// The model directory.
        dir: PathBuf,
        /// The name recorded beside vectors.
        name: String,
    },
    /// An OpenAI-compatible `/embeddings` endpoint.
    OpenAi {
        /// API root (`…/v1`).
        base_url: String,
        /// The upstream model name.
        model: String,
        /// API key, as a `${secret:NAME}` reference.
        api_key: Option<String>,
    },
    /// A text-embeddings-inference server.
    Tei {
        /// Server root.
        base_url: String,
        /// The name recorded beside vectors.
        model: String,
        /// API key, as a `${secret:NAME}` reference.
        api_key: Option<String>,
    },
}

/// Why no embedder could be chosen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SelectError {
    /// The plan has no such logical model.
    #[error("model `{0}` is not declared under `models:`")]
    UnknownModel(String),
    /// The model has no route.
    #[error("model `{0}` has no route")]
    NoRoute(String),
    /// The route's component offers no embeddings API.
    #[error(
        "model `{model}`: component `{component}` offers no embeddings API \
         (`openai-embeddings` or `tei-embeddings`)"
    )]
    NotAnEmbedder {
        /// The model.
        model: String,
        /// The component.
        component: String,
    },
    /// The built-in embedder's model directory is missing.
    #[error("model `{model}`: {source}")]
    Builtin {
        /// The model.
        model: String,
        /// Why.
        source: EmbedError,
    },
}

/// The embedder for logical model `model`. Embedding models are not interchangeable
/// (their vectors differ), so only the model's first route is used. On the local target
/// a berth embedder component runs in process: its `model_dir` setting (relative to
/// `base`, the stack file's directory) or else its `model_name` in the Hugging Face cache.
pub fn embedder_for(plan: &Plan, model: &str, base: &Path) -> Result<EmbedderChoice, SelectError> {
    let routes = plan
        .models
        .get(model)
        .ok_or_else(|| SelectError::UnknownModel(model.to_string()))?;
    let route = routes
        .first()
        .ok_or_else(|| SelectError::NoRoute(model.to_string()))?;
    match route {
        PlannedRoute::Provider {
            base_url,
            model: upstream,
            api_key,
            ..
        } => Ok(EmbedderChoice::OpenAi {
            base_url: base_url.clone(),
            model: upstream.clone(),
            api_key: api_key.clone(),
        }),
        PlannedRoute::Component {
            component,
            connection,
            model: upstream,
            ..
        } => {
            let planned = plan.components.get(component);
            let in_process = planned.is_some_and(|c| {
                c.role == Some(Role::Embedder)
                    && c.external_url.is_none()
                    && plan.target == Target::Local
            });
            if let Some(c) = planned.filter(|_| in_process) {
                let setting = |key: &str| c.settings.get(key).and_then(|v| v.as_str());
                let name = setting("model_name").unwrap_or(model).to_string();
                let mut tried = Vec::new();
                if let Some(dir) = setting("model_dir") {
                    tried.push(base.join(dir).to_string_lossy().into_owned());
                }
                tried.push(name.clone());
                let mut last = None;
                for spec in &tried {
                    match locate_model(spec) {
                        Ok(dir) => return Ok(EmbedderChoice::Builtin { dir, name }),
                        Err(e) => last = Some(e),
                    }
                }
                return Err(SelectError::Builtin {
                    model: model.to_string(),
                    source: last.expect("at least one place was tried"),
                });
            }
            let conn = plan
                .connections
                .get(connection)
                .filter(|c| c.contract.contains("embeddings"))
                .ok_or_else(|| SelectError::NotAnEmbedder {
                    model: model.to_string(),
                    component: component.clone(),
                })?;
            let upstream = upstream
                .clone()
                .or_else(|| conn.model.clone())
                .unwrap_or_else(|| model.to_string());
            let api_key = conn.secrets.get("api_key").cloned();
            if conn.contract == "tei-embeddings" {
                Ok(EmbedderChoice::Tei {
                    base_url: conn.url.clone(),
                    model: upstream,
                    api_key,
                })
            } else {
                Ok(EmbedderChoice::OpenAi {
                    base_url: conn.url.clone(),
                    model: upstream,
                    api_key,
                })
            }
        }
    }
}

/// The value of a `${secret:NAME}` reference: environment variable `NAME` on this machine.
fn secret(reference: &str) -> Option<String> {
    let name = reference.strip_prefix("${secret:")?.strip_suffix('}')?;
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl EmbedderChoice {
    /// Builds the embedder, resolving secrets from the environment at the last moment.
    pub fn build(
        &self,
        http: &HttpOptions,
        builtin: &BuiltinOptions,
    ) -> Result<Box<dyn Embedder>, EmbedError> {
        Ok(match self {
            EmbedderChoice::Builtin { dir, name } => {
                let options = BuiltinOptions {
                    name: Some(name.clone()),
                    ..builtin.clone()
                };
                Box::new(BuiltinEmbedder::load(&dir.to_string_lossy(), &options)?)
            }
            EmbedderChoice::OpenAi {
                base_url,
                model,
                api_key,
            } => Box::new(OpenAiEmbedder::new(
                base_url,
                model,
                api_key.as_deref().and_then(secret),
                http.clone(),
            )),
            EmbedderChoice::Tei {
                base_url,
                model,
                api_key,
            } => Box::new(TeiEmbedder::new(
                base_url,
                model,
                api_key.as_deref().and_then(secret),
                http.clone(),
            )),
        })
    }

    /// What identifies the vectors this choice makes (for pipeline fingerprints).
    pub fn identity(&self) -> String {
        match self {
            EmbedderChoice::Builtin { name, .. } => format!("builtin:{name}"),
            EmbedderChoice::OpenAi {
                base_url, model, ..
            } => format!("openai:{base_url}:{model}"),
            EmbedderChoice::Tei {
                base_url, model, ..
            } => format!("tei:{base_url}:{model}"),
        }
    }
}
