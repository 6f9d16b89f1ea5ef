//! The schema of one catalog entry (`catalog/<name>.yaml`).

use crate::units::{ContractId, Duration, Name, Quantity, Version};
use crate::yaml::{Node, Spanned};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// One deployable component: what it runs, how to reach and watch it, what it needs to
/// run, and which typed contracts it provides and consumes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogEntry {
    /// The entry's name, used by `uses:` in a stack file; equal to the file name.
    pub name: Spanned<Name>,
    /// One line saying what the component is.
    pub description: String,
    /// What kind of component it is, for listing.
    pub category: Category,
    /// Upstream documentation, for `berth catalog show`.
    #[serde(default)]
    pub docs: Option<String>,
    /// The container image.
    pub image: Spanned<Image>,
    /// Whether it runs as a long-lived service, a stateful service or a run-to-completion
    /// job.
    #[serde(default)]
    pub workload: Workload,
    /// berth's own role this entry runs, for the gateway, worker and embedder entries.
    #[serde(default)]
    pub role: Option<Role>,
    /// Named container ports.
    #[serde(default)]
    pub ports: Vec<Port>,
    /// Readiness and startup probes.
    #[serde(default)]
    pub health: Option<Health>,
    /// Default resource requests.
    #[serde(default)]
    pub resources: Resources,
    /// Accelerator requirements.
    #[serde(default)]
    pub accelerator: Option<Accelerator>,
    /// How much GPU memory the component needs for the model it serves.
    #[serde(default)]
    pub gpu_memory: Option<GpuMemoryRule>,
    /// Volumes it mounts.
    #[serde(default)]
    pub volumes: Vec<Volume>,
    /// The settings a stack may give under `with:`.
    #[serde(default)]
    pub settings: IndexMap<Spanned<String>, Setting>,
    /// Container command (overrides the image's entry point), as templates.
    #[serde(default)]
    pub command: Vec<Spanned<String>>,
    /// Container arguments, as templates; an argument that renders empty is dropped.
    #[serde(default)]
    pub args: Vec<Spanned<String>>,
    /// Environment variables, as templates; one that renders empty is dropped.
    #[serde(default)]
    pub env: IndexMap<String, Spanned<String>>,
    /// Contracts this component provides; each publishes one connection record.
    #[serde(default)]
    pub provides: Vec<Provide>,
    /// Contracts this component consumes.
    #[serde(default)]
    pub needs: Vec<Need>,
}

/// Catalog categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// LLM servers.
    ModelServing,
    /// Embedding and reranking servers.
    Embedding,
    /// Vector databases.
    VectorStore,
    /// SQL databases.
    Database,
    /// Document parsers.
    DocumentProcessing,
    /// User interfaces.
    Ui,
    /// Training and fine-tuning.
    Training,
    /// Distributed compute.
    Compute,
    /// berth's own roles.
    Berth,
}

impl Category {
    /// The name as written in catalog files.
    pub fn as_str(&self) -> &'static str {
        match self {
            Category::ModelServing => "model-serving",
            Category::Embedding => "embedding",
            Category::VectorStore => "vector-store",
            Category::Database => "database",
            Category::DocumentProcessing => "document-processing",
            Category::Ui => "ui",
            Category::Training => "training",
            Category::Compute => "compute",
            Category::Berth => "berth",
        }
    }
}

/// A container image with a pinned tag. The registry prefix of a stack (for air-gapped
/// sites) replaces the registry part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    /// Repository, e.g. `vllm/vllm-openai` or `ghcr.io/open-webui/open-webui`.
    pub repository: String,
    /// A pinned tag (never `latest`).
    pub tag: String,
}

impl Image {
    /// The repository without its registry host, so a registry prefix can replace it.
    pub fn path(&self) -> &str {
        match self.repository.split_once('/') {
            Some((host, rest)) if host.contains('.') || host.contains(':') => rest,
            _ => &self.repository,
        }
    }

    /// The full reference, with an optional registry prefix replacing the registry.
    pub fn reference(&self, registry: Option<&str>) -> String {
        match registry {
            Some(prefix) => format!(
                "{}/{}:{}",
                prefix.trim_end_matches('/'),
                self.path(),
                self.tag
            ),
            None => format!("{}:{}", self.repository, self.tag),
        }
    }
}

/// How a component runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// A long-lived, stateless service (Deployment).
    #[default]
    Service,
    /// A long-lived service with its own data (StatefulSet).
    Stateful,
    /// A run-to-completion job (Job).
    Job,
}

/// berth's own roles, run by the `berth` binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The OpenAI-compatible gateway, apps and UI.
    Gateway,
    /// The ingestion worker.
    Worker,
    /// The built-in embedding model served over HTTP.
    Embedder,
}

/// A named container port.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Port {
    /// Name, referred to by probes and contracts.
    pub name: Spanned<Name>,
    /// The port the container listens on.
    pub port: u16,
    /// The protocol spoken.
    #[serde(default)]
    pub protocol: Protocol,
    /// Whether people open this port (gateway, UI): it then gets a host port on every
    /// target that has them.
    #[serde(default)]
    pub edge: bool,
}

/// Port protocols.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// HTTP/1.1 or HTTP/2.
    #[default]
    Http,
    /// gRPC.
    Grpc,
    /// Any other TCP protocol.
    Tcp,
}

/// Health checking.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// Decides whether the component takes traffic and whether dependants may start.
    pub readiness: Probe,
    /// Guards the first start (model downloads, index loading) with its own budget.
    #[serde(default)]
    pub startup: Option<StartupProbe>,
}

/// One probe: exactly one of `http`, `tcp` or `exec`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    /// An HTTP GET that must answer 2xx.
    #[serde(default)]
    pub http: Option<HttpProbe>,
    /// A TCP connect to a named port.
    #[serde(default)]
    pub tcp: Option<Spanned<Name>>,
    /// A command run in the container that must exit 0.
    #[serde(default)]
    pub exec: Option<Vec<String>>,
    /// Time between probes.
    #[serde(default = "default_period")]
    pub period: Duration,
    /// Time one probe may take.
    #[serde(default = "default_timeout")]
    pub timeout: Duration,
    /// Failures in a row before the component counts as unhealthy.
    #[serde(default = "default_failures")]
    pub failure_threshold: u32,
}

fn default_period() -> Duration {
    Duration(10)
}
fn default_timeout() -> Duration {
    Duration(5)
}
fn default_failures() -> u32 {
    3
}

/// The startup probe: the readiness probe's fields plus a total budget.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartupProbe {
    /// An HTTP GET that must answer 2xx.
    #[serde(default)]
    pub http: Option<HttpProbe>,
    /// A TCP connect to a named port.
    #[serde(default)]
    pub tcp: Option<Spanned<Name>>,
    /// Time between probes.
    #[serde(default = "default_period")]
    pub period: Duration,
    /// Total time the component may take to start, model download included.
    pub budget: Duration,
}

/// An HTTP probe.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpProbe {
    /// Path, starting with `/`.
    pub path: String,
    /// Named port.
    pub port: Spanned<Name>,
}

/// Resource requests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// CPU cores, Kubernetes notation (`2`, `500m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// Memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Quantity>,
    /// Whole GPUs.
    #[serde(default)]
    pub gpu: u32,
}

/// GPU vendors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GpuVendor {
    /// NVIDIA (CUDA).
    Nvidia,
    /// AMD (ROCm).
    Amd,
    /// Intel (oneAPI / Gaudi).
    Intel,
}

impl std::fmt::Display for GpuVendor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GpuVendor::Nvidia => "nvidia",
            GpuVendor::Amd => "amd",
            GpuVendor::Intel => "intel",
        })
    }
}

/// What the image needs from the accelerator and its driver.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accelerator {
    /// Vendors the image is built for.
    pub vendors: Vec<GpuVendor>,
    /// Lowest driver version the image runs with.
    #[serde(default)]
    pub min_driver: Option<Version>,
    /// Lowest CUDA version the driver must support (NVIDIA).
    #[serde(default)]
    pub min_cuda: Option<Version>,
    /// Whether the component also runs without a GPU (slower).
    #[serde(default)]
    pub optional: bool,
}

/// GPU memory needed = parameters × bytes per parameter × (1 + headroom) + overhead.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuMemoryRule {
    /// The setting that names the model (its size is read from the name, or from the
    /// `params` setting when given).
    #[serde(default = "default_model_setting")]
    pub model_setting: String,
    /// Bytes per parameter at the default precision.
    pub bytes_per_param: f64,
    /// The setting that selects a precision or quantisation (`dtype`, `quantization`),
    /// which changes the bytes per parameter.
    #[serde(default)]
    pub precision_setting: Option<String>,
    /// Fraction added for the KV cache and activations.
    #[serde(default = "default_headroom")]
    pub headroom: f64,
    /// Fixed overhead in GiB (CUDA context, runtime).
    #[serde(default = "default_overhead")]
    pub overhead_gib: f64,
}

fn default_model_setting() -> String {
    "model".to_string()
}
fn default_headroom() -> f64 {
    0.2
}
fn default_overhead() -> f64 {
    1.0
}

/// A volume the component mounts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    /// Name.
    pub name: Spanned<Name>,
    /// Mount path in the container.
    pub mount: String,
    /// Requested size.
    #[serde(default)]
    pub size: Option<Quantity>,
    /// What it holds: a cache can be rebuilt, data cannot.
    #[serde(default)]
    pub purpose: VolumePurpose,
}

/// What a volume holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VolumePurpose {
    /// Rebuildable (model weights, caches).
    Cache,
    /// The component's data.
    #[default]
    Data,
}

/// One setting accepted under `with:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setting {
    /// Its type.
    #[serde(rename = "type")]
    pub kind: SettingType,
    /// What it does, for `berth catalog show`.
    pub description: String,
    /// Whether a stack must give it.
    #[serde(default)]
    pub required: bool,
    /// Value when not given.
    #[serde(default)]
    pub default: Option<Node>,
    /// Allowed values, for string settings.
    #[serde(default, rename = "enum")]
    pub one_of: Option<Vec<String>>,
    /// Whether it must be a `${secret:…}` reference.
    #[serde(default)]
    pub secret: bool,
}

/// Setting types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SettingType {
    /// Text.
    String,
    /// Whole number.
    Integer,
    /// Any number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// A list of strings.
    List,
}

/// A contract this component provides.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provide {
    /// The contract.
    pub contract: Spanned<ContractId>,
    /// The named port it is served on.
    pub port: Spanned<Name>,
    /// URL scheme (`http`, `grpc`, `postgres`, …).
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// Path appended to the base URL (`/v1`), as a template over settings.
    #[serde(default)]
    pub path: Spanned<String>,
    /// Template for the model name served, for model contracts.
    #[serde(default)]
    pub model: Option<Spanned<String>>,
    /// Credentials consumers need, as templates over settings (usually secret references).
    #[serde(default)]
    pub secrets: IndexMap<String, Spanned<String>>,
}

fn default_scheme() -> String {
    "http".to_string()
}

/// A contract this component consumes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Need {
    /// The contract (or contract family).
    pub contract: Spanned<ContractId>,
    /// Whether the component also runs without it.
    #[serde(default)]
    pub optional: bool,
    /// Environment variables to set from the provider's connection record, as templates
    /// (`{{ url }}`, `{{ host }}`, `{{ port }}`, `{{ model }}`, `{{ secrets.password }}`).
    #[serde(default)]
    pub env: IndexMap<String, Spanned<String>>,
}
