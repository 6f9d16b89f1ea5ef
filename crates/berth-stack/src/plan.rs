//! The Plan: a stack resolved against a catalog and an environment. Pure data,
//! deterministic, serialisable; everything that acts consumes one.
//!
//! Its JSON form (`berth plan --json`) is a stable interface, documented in
//! `docs/plan-json.md`; `format` changes when a field changes meaning.

use crate::catalog::{Category, Protocol, Resources, Role, VolumePurpose, Workload};
use crate::diagnostic::Severity;
use crate::stack::{Acl, AppKind, ChunkStrategy, Target};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The version of the Plan's JSON form.
pub const PLAN_FORMAT: u32 = 1;

/// A resolved stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Version of this JSON form.
    pub format: u32,
    /// The stack's name.
    pub stack: String,
    /// Where it runs.
    pub target: Target,
    /// Kubernetes namespace (also used as the compose project name).
    pub namespace: String,
    /// Components by name, berth's own roles included.
    pub components: BTreeMap<String, PlannedComponent>,
    /// Start order: every component after everything it depends on.
    pub order: Vec<String>,
    /// Connection records by id (`component/contract`), each published once.
    pub connections: BTreeMap<String, Connection>,
    /// Logical models and their routes, in priority order.
    pub models: BTreeMap<String, Vec<PlannedRoute>>,
    /// Document sources.
    pub sources: BTreeMap<String, PlannedSource>,
    /// Ingestion pipelines.
    pub pipelines: BTreeMap<String, PlannedPipeline>,
    /// Applications.
    pub apps: BTreeMap<String, PlannedApp>,
    /// Names of every secret referenced (values are never in a Plan).
    pub secrets: Vec<String>,
    /// Compatibility and configuration findings, most severe first.
    pub findings: Vec<Finding>,
}

impl Plan {
    /// Whether any finding is an error (nothing should start).
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// One component of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedComponent {
    /// The catalog entry.
    pub uses: String,
    /// The entry's category.
    pub category: Category,
    /// berth's role, for berth's own components.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Whether berth added it (a role the stack needs but did not declare).
    pub implicit: bool,
    /// Set when the component already runs elsewhere: berth wires it, does not deploy it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_url: Option<String>,
    /// Full image reference, registry prefix applied.
    pub image: String,
    /// How it runs.
    pub workload: Workload,
    /// Replicas.
    pub replicas: u32,
    /// Ports, container and host.
    pub ports: Vec<PlannedPort>,
    /// Resource requests after overrides.
    pub resources: Resources,
    /// Health checking.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<PlannedHealth>,
    /// Volumes.
    pub volumes: Vec<PlannedVolume>,
    /// Settings after defaults, as given (`${secret:…}` references kept).
    pub settings: BTreeMap<String, serde_json::Value>,
    /// Container command, rendered (empty: the image's own).
    pub command: Vec<String>,
    /// Container arguments, rendered.
    pub args: Vec<String>,
    /// Environment, rendered; values may hold `${secret:NAME}` references.
    pub env: BTreeMap<String, String>,
    /// Connection records this component publishes (ids into `Plan::connections`).
    pub provides: Vec<String>,
    /// How each need was met.
    pub bindings: Vec<Binding>,
    /// Components that must be ready before this one starts.
    pub depends_on: Vec<String>,
}

/// A port of a planned component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedPort {
    /// Port name.
    pub name: String,
    /// Port inside the container.
    pub container: u16,
    /// Port on the host, when the target opens one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<u16>,
    /// Protocol.
    pub protocol: Protocol,
    /// Whether people open it.
    pub edge: bool,
}

/// Health checking of a planned component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedHealth {
    /// The readiness probe.
    pub readiness: PlannedProbe,
    /// The startup probe, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub startup: Option<PlannedProbe>,
    /// Total seconds allowed for startup.
    pub startup_budget_s: u64,
}

/// One probe, with ports resolved to numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlannedProbe {
    /// HTTP GET expecting 2xx.
    Http {
        /// Path.
        path: String,
        /// Container port.
        port: u16,
        /// Seconds between probes.
        period_s: u64,
        /// Seconds one probe may take.
        timeout_s: u64,
        /// Failures in a row before unhealthy.
        failure_threshold: u32,
    },
    /// TCP connect.
    Tcp {
        /// Container port.
        port: u16,
        /// Seconds between probes.
        period_s: u64,
        /// Seconds one probe may take.
        timeout_s: u64,
        /// Failures in a row before unhealthy.
        failure_threshold: u32,
    },
    /// Command in the container.
    Exec {
        /// The command.
        command: Vec<String>,
        /// Seconds between probes.
        period_s: u64,
        /// Seconds one probe may take.
        timeout_s: u64,
        /// Failures in a row before unhealthy.
        failure_threshold: u32,
    },
}

/// A planned volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedVolume {
    /// Volume name, unique in the stack (`component-volume`).
    pub name: String,
    /// Mount path.
    pub mount: String,
    /// Requested size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// Cache or data.
    pub purpose: VolumePurpose,
}

/// A connection record: how to reach one contract of one component, on this target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// The providing component.
    pub component: String,
    /// The contract.
    pub contract: String,
    /// URL scheme.
    pub scheme: String,
    /// Host name consumers use.
    pub host: String,
    /// Port consumers use.
    pub port: u16,
    /// Path part.
    pub path: String,
    /// The full URL.
    pub url: String,
    /// The model served, for model contracts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Credentials as secret references (`${secret:NAME}`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, String>,
}

/// How one need of a component was met.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// The contract needed.
    pub contract: String,
    /// The component that provides it.
    pub provider: String,
    /// The connection record used (id into `Plan::connections`).
    pub connection: String,
    /// Whether the stack named the provider (`bind:`) or berth found the only one.
    pub how: BindingKind,
}

/// How a binding was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BindingKind {
    /// Exactly one component provides the contract.
    Automatic,
    /// The stack named the provider under `bind:`.
    Explicit,
    /// Implied by a model route, pipeline or app.
    Reference,
}

/// One route of a logical model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlannedRoute {
    /// A component of this stack.
    Component {
        /// The component.
        component: String,
        /// Its connection record.
        connection: String,
        /// The upstream model name.
        #[serde(skip_serializing_if = "Option::is_none")]
        model: Option<String>,
        /// Traffic weight.
        weight: u32,
    },
    /// A public provider.
    Provider {
        /// The provider.
        provider: String,
        /// Base URL.
        base_url: String,
        /// The upstream model name.
        model: String,
        /// The API key, as a secret reference.
        #[serde(skip_serializing_if = "Option::is_none")]
        api_key: Option<String>,
        /// Traffic weight.
        weight: u32,
    },
}

/// A planned document source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedSource {
    /// Directory or file, relative to the stack file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// URLs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Include globs.
    pub include: Vec<String>,
    /// Exclude globs.
    pub exclude: Vec<String>,
    /// Principals allowed.
    pub acl: Acl,
}

/// A planned pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedPipeline {
    /// Source name.
    pub source: String,
    /// Parser component, if not built in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parser: Option<String>,
    /// Chunking.
    pub chunk: PlannedChunk,
    /// Embedding model (logical), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embed: Option<String>,
    /// Store component, or none for the built-in index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// Cron schedule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
}

/// Chunking settings after defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedChunk {
    /// Strategy.
    pub strategy: ChunkStrategy,
    /// Maximum tokens per chunk.
    pub max_tokens: u32,
    /// Overlap in tokens.
    pub overlap: u32,
    /// Tokenizer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<String>,
    /// Separators.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub separators: Vec<String>,
    /// Sentence window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<u32>,
    /// Parent size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_max_tokens: Option<u32>,
}

/// A planned app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedApp {
    /// Kind.
    pub kind: AppKind,
    /// Pipeline (rag).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    /// Logical model; none for an extractive rag app.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Passages retrieved (rag).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// Reranking model (rag).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rerank: Option<String>,
    /// Database URL as written (a secret reference) (text2sql).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Descriptions file (text2sql).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub descriptions: Option<String>,
    /// Row limit (text2sql).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_rows: Option<u32>,
    /// System prompt (chat).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    /// Knowledge app (chat).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub knowledge: Option<String>,
    /// Prompt template file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
}

/// Something berth found while planning that is not a mistake in the file's syntax:
/// compatibility, ports, targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// How serious.
    pub severity: Severity,
    /// Stable code, for scripts (`gpu-memory`, `port-in-use`, …).
    pub code: String,
    /// The component concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// What was found.
    pub message: String,
    /// What to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}
