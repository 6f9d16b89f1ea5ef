//! A pipeline ready to run: its source, parser options, chunker and fingerprint, built
//! from a planned pipeline.

use crate::chunkers::{self, Chunker};
use crate::parsers::{ExternalKind, ExternalParser, ParseOptions};
use crate::sources::{self, Source, SourceError, UrlLimits};
use crate::tokenize::{HfTokenizer, Tokenizer, WordTokenizer};
use berth_models::{BuiltinOptions, Embedder, HttpOptions, embedder_for};
use berth_stack::plan::{Plan, PlannedPipeline};
use berth_stack::stack::Acl;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The version of berth's own parsing and chunking code. Bump it when a change makes
/// them produce different chunks, so every pipeline re-indexes.
pub const INGEST_CODE_VERSION: u32 = 1;

/// A pipeline, built.
pub struct Pipeline {
    /// Its name.
    pub name: String,
    /// Its source's name.
    pub source_name: String,
    /// The source.
    pub source: Box<dyn Source>,
    /// Principals of the source.
    pub acl: Acl,
    /// Parser options.
    pub parse: ParseOptions,
    /// An external document-processing component, when the pipeline names one.
    pub external_parser: Option<ExternalParser>,
    /// The chunker.
    pub chunker: Box<dyn Chunker>,
    /// The embedder of the pipeline's `embed` model (none: keyword search only).
    pub embedder: Option<Arc<dyn Embedder>>,
    /// Everything that changes the chunks, hashed: parser, chunker settings, tokenizer,
    /// embedding model, code version.
    pub fingerprint: String,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("name", &self.name)
            .field("source", &self.source_name)
            .field("fingerprint", &self.fingerprint)
            .field(
                "embedder",
                &self.embedder.as_ref().map(|e| e.model().to_string()),
            )
            .finish()
    }
}

/// Why a pipeline could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The plan has no pipeline of that name.
    #[error("the stack has no pipeline `{0}`")]
    Unknown(String),
    /// Its source cannot be opened.
    #[error("pipeline `{pipeline}`: {source}")]
    Source {
        /// The pipeline.
        pipeline: String,
        /// Why.
        #[source]
        source: SourceError,
    },
    /// Its tokenizer cannot be loaded.
    #[error("pipeline `{pipeline}`: {message}")]
    Tokenizer {
        /// The pipeline.
        pipeline: String,
        /// Why.
        message: String,
    },
    /// Its embedding model cannot be used.
    #[error("pipeline `{pipeline}`: {message}")]
    Embedder {
        /// The pipeline.
        pipeline: String,
        /// Why.
        message: String,
    },
    /// It names an external parser, which is not wired yet.
    #[error(
        "pipeline `{pipeline}`: parsing with component `{component}` is not supported by this berth yet"
    )]
    ExternalParser {
        /// The pipeline.
        pipeline: String,
        /// The component.
        component: String,
    },
}

impl Pipeline {
    /// Builds pipeline `name` of `plan`; paths are relative to `base`.
    pub fn from_plan(plan: &Plan, name: &str, base: &Path) -> Result<Pipeline, PipelineError> {
        let planned: &PlannedPipeline = plan
            .pipelines
            .get(name)
            .ok_or_else(|| PipelineError::Unknown(name.to_string()))?;
        let (external_parser, parser_identity) = match &planned.parser {
            None => (None, "builtin".to_string()),
            Some(component) => {
                let planned_component = plan.components.get(component);
                let connection = planned_component.and_then(|c| {
                    c.provides
                        .iter()
                        .filter_map(|id| plan.connections.get(id))
                        .find(|conn| ExternalKind::for_contract(&conn.contract).is_some())
                });
                let Some(conn) = connection else {
                    return Err(PipelineError::ExternalParser {
                        pipeline: name.to_string(),
                        component: component.clone(),
                    });
                };
                let kind = ExternalKind::for_contract(&conn.contract).expect("filtered above");
                // Secrets are resolved here, at the last moment, from the environment.
                let api_key = conn
                    .secrets
                    .get("api_key")
                    .and_then(|r| {
                        r.strip_prefix("${secret:")?
                            .strip_suffix('}')
                            .map(str::to_string)
                    })
                    .and_then(|name| std::env::var(name).ok());
                let identity = format!(
                    "{}:{}",
                    conn.contract,
                    planned_component
                        .map(|c| c.image.as_str())
                        .unwrap_or_default()
                );
                (
                    Some(ExternalParser::new(
                        kind,
                        &conn.url,
                        api_key,
                        Duration::from_secs(300),
                    )),
                    identity,
                )
            }
        };
        let source_plan = plan
            .sources
            .get(&planned.source)
            .ok_or_else(|| PipelineError::Unknown(planned.source.clone()))?;
        let source = sources::build(source_plan, base, UrlLimits::default()).map_err(|source| {
            PipelineError::Source {
                pipeline: name.to_string(),
                source,
            }
        })?;
        let tokenizer: Arc<dyn Tokenizer> = match &planned.chunk.tokenizer {
            None => Arc::new(WordTokenizer),
            Some(t) if t == "words" => Arc::new(WordTokenizer),
            Some(t) => Arc::new(HfTokenizer::load(&base.join(t)).map_err(|message| {
                PipelineError::Tokenizer {
                    pipeline: name.to_string(),
                    message,
                }
            })?),
        };
        let parse = ParseOptions::default();
        // The embedding model is identified by where its vectors come from.
        let (embedder, embed_model) = match embedder(plan, name, base)? {
            Some((embedder, identity)) => (Some(embedder), Some(identity)),
            None => (None, None),
        };
        let fingerprint = {
            let basis = serde_json::json!({
                "code": INGEST_CODE_VERSION,
                "parser": parser_identity,
                "record_per_row": parse.record_per_row,
                "chunk": planned.chunk,
                "tokenizer": tokenizer.name(),
                "embed": embed_model,
            });
            let hash = blake3::hash(basis.to_string().as_bytes());
            hash.to_hex()[..16].to_string()
        };
        Ok(Pipeline {
            name: name.to_string(),
            source_name: planned.source.clone(),
            source,
            acl: source_plan.acl.clone(),
            parse,
            external_parser,
            chunker: chunkers::build(&planned.chunk, tokenizer),
            embedder,
            fingerprint,
        })
    }
}

/// A pipeline's embedder and the identity of the vectors it makes (for fingerprints).
pub type PipelineEmbedder = (Arc<dyn Embedder>, String);

/// The embedder of pipeline `name` with the identity of the vectors it makes, or `None`
/// when the pipeline does not embed. Loads the built-in model or sets up the client.
pub fn embedder(
    plan: &Plan,
    name: &str,
    base: &Path,
) -> Result<Option<PipelineEmbedder>, PipelineError> {
    let planned = plan
        .pipelines
        .get(name)
        .ok_or_else(|| PipelineError::Unknown(name.to_string()))?;
    let Some(model) = &planned.embed else {
        return Ok(None);
    };
    let embed_error = |message: String| PipelineError::Embedder {
        pipeline: name.to_string(),
        message,
    };
    let choice = embedder_for(plan, model, base).map_err(|e| embed_error(e.to_string()))?;
    let built = choice
        .build(&HttpOptions::default(), &BuiltinOptions::default())
        .map_err(|e| embed_error(format!("model `{model}`: {e}")))?;
    Ok(Some((Arc::from(built), choice.identity())))
}
