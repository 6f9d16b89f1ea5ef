//! The sections of a stack file, exactly as written. References are still names; the
//! resolver checks them.

use crate::catalog::{GpuVendor, Resources};
use crate::units::{Name, Quantity, Version};
use crate::yaml::{Node, Spanned};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// Where a stack runs.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// One process on this machine, embedded defaults, external services by URL.
    #[default]
    Local,
    /// Every component a container, wired by a generated compose file.
    Compose,
    /// Every component a workload on a Kubernetes cluster.
    Kubernetes,
}

impl Target {
    /// The name as written in stack files.
    pub fn as_str(&self) -> &'static str {
        match self {
            Target::Local => "local",
            Target::Compose => "compose",
            Target::Kubernetes => "kubernetes",
        }
    }
}

impl std::str::FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "local" => Ok(Target::Local),
            "compose" => Ok(Target::Compose),
            "kubernetes" => Ok(Target::Kubernetes),
            other => Err(format!(
                "unknown target `{other}`; expected `local`, `compose` or `kubernetes`"
            )),
        }
    }
}

/// One component: an instance of a catalog entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentSpec {
    /// The catalog entry it runs.
    pub uses: Spanned<String>,
    /// Settings of the catalog entry.
    #[serde(default)]
    pub with: IndexMap<Spanned<String>, Node>,
    /// Resource requests, overriding the catalog's defaults field by field.
    #[serde(default)]
    pub resources: Option<Spanned<ResourcesOverride>>,
    /// Explicit bindings: needed contract → providing component.
    #[serde(default)]
    pub bind: IndexMap<Spanned<String>, Spanned<String>>,
    /// Number of replicas (services only).
    #[serde(default)]
    pub replicas: Option<Spanned<u32>>,
    /// Pinned host ports: port name → host port.
    #[serde(default)]
    pub ports: IndexMap<Spanned<String>, Spanned<u16>>,
    /// The URL of an instance that already runs elsewhere: berth wires it but does not
    /// deploy it. May hold `${env:…}` references.
    #[serde(default)]
    pub url: Option<Spanned<String>>,
    /// Extra environment variables; values may hold `${secret:…}` and `${env:…}`.
    #[serde(default)]
    pub env: IndexMap<Spanned<String>, Spanned<String>>,
    /// Give every port of this component a host port, as for edge components.
    #[serde(default)]
    pub expose: bool,
}

/// Resource overrides; absent fields keep the catalog's values.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcesOverride {
    /// CPU cores (`2`, `500m`).
    #[serde(default)]
    pub cpu: Option<String>,
    /// Memory (`16Gi`).
    #[serde(default)]
    pub memory: Option<Quantity>,
    /// Whole GPUs.
    #[serde(default)]
    pub gpu: Option<u32>,
}

impl ResourcesOverride {
    /// Applies the overrides to a catalog default.
    pub fn apply(&self, base: &Resources) -> Resources {
        Resources {
            cpu: self.cpu.clone().or_else(|| base.cpu.clone()),
            memory: self.memory.or(base.memory),
            gpu: self.gpu.unwrap_or(base.gpu),
        }
    }
}

/// Where a route sends requests: a component of the stack, or a public provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// A component of this stack that serves the model.
    #[serde(default)]
    pub component: Option<Spanned<String>>,
    /// A public, OpenAI-compatible provider.
    #[serde(default)]
    pub provider: Option<Spanned<Provider>>,
    /// Base URL of the provider's API (defaults to the provider's own).
    #[serde(default)]
    pub base_url: Option<Spanned<String>>,
    /// The upstream model name (defaults to what the component serves).
    #[serde(default)]
    pub model: Option<Spanned<String>>,
    /// The provider's API key: a `${secret:NAME}` reference, never a value.
    #[serde(default)]
    pub api_key: Option<Spanned<String>>,
    /// Relative share of traffic when a route has several replicas to balance over
    /// (default 1); routes themselves are tried strictly in order.
    #[serde(default)]
    pub weight: Option<Spanned<u32>>,
}

/// Public model providers, all spoken to over the OpenAI-compatible API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// OpenAI, or any OpenAI-compatible API when `base_url` is given (DeepSeek,
    /// Together, Groq, …).
    Openai,
    /// DeepSeek's API.
    Deepseek,
}

impl Provider {
    /// The provider's default base URL.
    pub fn default_base_url(&self) -> &'static str {
        match self {
            Provider::Openai => "https://api.openai.com/v1",
            Provider::Deepseek => "https://api.deepseek.com/v1",
        }
    }
}

/// Access control principals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acl {
    /// Users allowed.
    #[serde(default)]
    pub users: Vec<String>,
    /// Groups allowed.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// A document source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// A directory or single file, relative to the stack file.
    #[serde(default)]
    pub path: Option<Spanned<String>>,
    /// A list of HTTP(S) URLs.
    #[serde(default)]
    pub urls: Option<Spanned<Vec<Spanned<String>>>>,
    /// Glob patterns of files to take (directories only).
    #[serde(default)]
    pub include: Vec<Spanned<String>>,
    /// Glob patterns of files to skip.
    #[serde(default)]
    pub exclude: Vec<Spanned<String>>,
    /// Who may see documents of this source.
    #[serde(default)]
    pub acl: Option<Acl>,
}

/// Chunking strategies.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ChunkStrategy {
    /// Fixed token windows with overlap.
    Token,
    /// Paragraph → sentence → word splitting up to the size.
    #[default]
    Recursive,
    /// Along Markdown headings, keeping the heading path.
    Markdown,
    /// Single sentences indexed, with a window of neighbours returned.
    SentenceWindow,
    /// Small chunks indexed, their parent passage returned.
    ParentChild,
    /// Split on custom separators.
    Separator,
}

/// How a pipeline cuts documents into chunks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkSpec {
    /// The strategy.
    #[serde(default)]
    pub strategy: Spanned<ChunkStrategy>,
    /// Maximum chunk size in tokens.
    #[serde(default)]
    pub max_tokens: Option<Spanned<u32>>,
    /// Tokens shared by neighbouring chunks.
    #[serde(default)]
    pub overlap: Option<Spanned<u32>>,
    /// Tokenizer that counts tokens (a model id or a local `tokenizer.json`).
    #[serde(default)]
    pub tokenizer: Option<String>,
    /// Separators, for the `separator` strategy.
    #[serde(default)]
    pub separators: Option<Spanned<Vec<String>>>,
    /// Sentences on each side, for the `sentence_window` strategy.
    #[serde(default)]
    pub window: Option<Spanned<u32>>,
    /// Parent passage size in tokens, for the `parent_child` strategy.
    #[serde(default)]
    pub parent_max_tokens: Option<Spanned<u32>>,
}

impl Default for ChunkSpec {
    fn default() -> Self {
        ChunkSpec {
            strategy: Spanned::new(ChunkStrategy::Recursive, crate::yaml::Span::NONE),
            max_tokens: None,
            overlap: None,
            tokenizer: None,
            separators: None,
            window: None,
            parent_max_tokens: None,
        }
    }
}

/// An ingestion pipeline: source → parse → chunk → embed → store.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    /// The source it reads.
    pub source: Spanned<String>,
    /// A document-processing component to parse with (built-in parsers otherwise).
    #[serde(default)]
    pub parser: Option<Spanned<String>>,
    /// Chunking.
    #[serde(default)]
    pub chunk: Option<ChunkSpec>,
    /// The logical model that embeds chunks (none: keyword search only).
    #[serde(default)]
    pub embed: Option<Spanned<String>>,
    /// The vector-store component chunks go to (the built-in index otherwise).
    #[serde(default)]
    pub store: Option<Spanned<String>>,
    /// Cron schedule (`*/15 * * * *`), five fields.
    #[serde(default)]
    pub schedule: Option<Spanned<String>>,
}

/// Application kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppKind {
    /// Questions answered from a pipeline's documents, with citations.
    Rag,
    /// Questions answered by read-only SQL over a database.
    Text2sql,
    /// Conversation with a model, history kept.
    Chat,
}

/// An application served by the gateway.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    /// What kind of app.
    pub kind: Spanned<AppKind>,
    /// The pipeline whose index it searches (rag).
    #[serde(default)]
    pub pipeline: Option<Spanned<String>>,
    /// The logical model that writes answers (rag: optional, extractive without).
    #[serde(default)]
    pub model: Option<Spanned<String>>,
    /// Passages retrieved (rag).
    #[serde(default)]
    pub top_k: Option<Spanned<u32>>,
    /// A logical model that reranks passages (rag).
    #[serde(default)]
    pub rerank: Option<Spanned<String>>,
    /// Database URL, usually `${secret:NAME}` (text2sql).
    #[serde(default)]
    pub database: Option<Spanned<String>>,
    /// Table and column descriptions file (text2sql).
    #[serde(default)]
    pub descriptions: Option<Spanned<String>>,
    /// Row limit injected into queries (text2sql).
    #[serde(default)]
    pub max_rows: Option<Spanned<u32>>,
    /// System prompt (chat).
    #[serde(default)]
    pub system_prompt: Option<String>,
    /// A rag app used as knowledge (chat).
    #[serde(default)]
    pub knowledge: Option<Spanned<String>>,
    /// A prompt template file overriding the built-in one.
    #[serde(default)]
    pub prompt: Option<Spanned<String>>,
}

/// The machines a stack may run on, for compatibility checks before anything starts.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// Nodes.
    #[serde(default)]
    pub nodes: Vec<InventoryNode>,
}

/// One node of the inventory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryNode {
    /// Node name.
    pub name: Spanned<Name>,
    /// GPUs installed.
    #[serde(default)]
    pub gpus: Vec<GpuSpec>,
    /// GPU driver version.
    #[serde(default)]
    pub driver: Option<Spanned<Version>>,
    /// Highest CUDA version the driver supports.
    #[serde(default)]
    pub cuda: Option<Spanned<Version>>,
}

/// A group of identical GPUs on a node.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuSpec {
    /// Vendor.
    pub vendor: GpuVendor,
    /// Model name, for messages (`L4`, `A100-80GB`).
    #[serde(default)]
    pub model: Option<String>,
    /// Memory of one GPU.
    pub memory: Quantity,
    /// How many.
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}
