//! Command-line arguments.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Exit codes:
  0  success
  1  the stack file, a catalog entry or the arguments have errors (all are reported)
  2  berth itself failed

A stack is named by its file (berth.yaml) or the directory holding it; the default is the
current directory.";

/// berth wires, starts and feeds LLM pipelines from one stack file.
#[derive(Debug, Parser)]
#[command(name = "berth", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// Add the catalog entries of a directory (repeatable; later ones replace earlier
    /// entries of the same name).
    #[arg(long = "catalog", global = true, value_name = "DIR")]
    pub catalogs: Vec<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a new stack file from a template.
    Init(InitArgs),
    /// Check a stack file and report every problem at once.
    Validate(StackArgs),
    /// Resolve a stack into a plan: components, bindings, start order, ports, findings.
    Plan(PlanArgs),
    /// List and show catalog entries.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Run ingestion pipelines: index what changed, remove what is gone.
    Ingest(IngestArgs),
    /// Show recent ingestion runs.
    Runs(RunsArgs),
    /// Show ingested documents, their chunks and their errors.
    Docs(DocsArgs),
    /// Search a pipeline's index as a user, by keywords, meaning or both.
    Search(SearchArgs),
    /// Manage retrieval indexes.
    #[command(subcommand)]
    Index(IndexCommand),
    /// Run the gateway: the stack's models behind one OpenAI-compatible API.
    Serve(ServeArgs),
    /// Start a stack: here, ingest every pipeline then serve the gateway, the apps and the
    /// web UI; on Docker Compose, start its containers in dependency order.
    Up(UpArgs),
    /// Ask an app a question (in process; streams the answer, then its citations).
    Ask(AskArgs),
    /// Talk with an app: an interactive conversation, history kept per session.
    Chat(ChatArgs),
    /// Ask a text2sql app: validated read-only SQL, then its rows.
    Sql(SqlArgs),
    /// Manage the gateway's API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Run the ingestion worker: every pipeline now, then again when a source directory
    /// changes or a schedule comes due; health and metrics over HTTP.
    Worker(WorkerArgs),
    /// Exit 0 when a URL answers 2xx (http://…) or a port accepts connections (tcp://…):
    /// the health probe of berth's image, which has no shell.
    Probe(ProbeArgs),
    /// Build berth's container image (one image, every role), with no base image to pull.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Write a target's files: a compose file, or Kubernetes manifests.
    Render(RenderArgs),
    /// Apply the stack to the Kubernetes cluster of the kubeconfig: server-side apply as
    /// one apply set, prune what the stack no longer declares, wait in dependency order.
    Apply(ApplyArgs),
    /// Show what `berth apply` would change in the cluster (secret values never shown).
    Diff(DiffArgs),
    /// Stop and remove the containers and network `berth up --target compose` started.
    Down(DownArgs),
    /// Show each component's container on the compose target: state, health, ports.
    Status(StatusArgs),
}

/// Arguments of `worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub stack: StackOption,
    /// Address the health and metrics endpoints listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port of `/healthz` and `/metrics`.
    #[arg(long, default_value_t = 9090)]
    pub metrics_port: u16,
    /// Documents processed at once (default: the number of CPUs).
    #[arg(long)]
    pub concurrency: Option<usize>,
}

/// Arguments of `probe`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// `http://HOST:PORT/PATH` or `tcp://HOST:PORT`.
    pub url: String,
    /// Seconds to wait at most.
    #[arg(long, default_value_t = 3)]
    pub timeout: u64,
}

/// `image` subcommands.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build the image from a berth binary and the shared libraries it links.
    Build(ImageBuildArgs),
}

/// Arguments of `image build`.
#[derive(Debug, Args)]
pub struct ImageBuildArgs {
    /// The berth binary to package (default: this one).
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
    /// Registry prefix for the tag, for air-gapped sites (e.g. `registry.local:5000`).
    #[arg(long, value_name = "PREFIX")]
    pub registry: Option<String>,
    /// Keep the binary's debug information (larger image).
    #[arg(long)]
    pub no_strip: bool,
    /// Only write the build context (Dockerfile and file system) to this directory.
    #[arg(long, value_name = "DIR")]
    pub context_only: Option<PathBuf>,
}

/// Arguments of `render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// What to render.
    #[arg(value_enum)]
    pub target: RenderTarget,
    /// The stack file, or a directory holding `berth.yaml`.
    #[arg(default_value = ".")]
    pub stack: PathBuf,
    /// The directory to write to.
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    pub out: PathBuf,
    /// Kubernetes: parallel pods of each pipeline's backfill Job.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub backfill_parallelism: u32,
}

/// Targets `render` writes files for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RenderTarget {
    /// A compose file.
    Compose,
    /// Kubernetes manifests.
    Kubernetes,
}

/// Arguments of `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The stack file, or a directory holding `berth.yaml`.
    #[arg(default_value = ".")]
    pub stack: PathBuf,
    /// Delete objects the stack no longer declares (without it they are only listed).
    #[arg(long)]
    pub prune: bool,
    /// Seconds to wait for every component to be ready.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    /// Do not wait for readiness.
    #[arg(long)]
    pub no_wait: bool,
    /// Parallel pods of each pipeline's backfill Job.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub backfill_parallelism: u32,
}

/// Arguments of `diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The stack file, or a directory holding `berth.yaml`.
    #[arg(default_value = ".")]
    pub stack: PathBuf,
    /// Parallel pods of each pipeline's backfill Job.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub backfill_parallelism: u32,
}

/// Arguments of `down`.
#[derive(Debug, Args)]
pub struct DownArgs {
    /// The stack file, or a directory holding `berth.yaml`.
    #[arg(default_value = ".")]
    pub stack: PathBuf,
    /// Remove the named volumes too (the state and every component's data).
    #[arg(long)]
    pub volumes: bool,
}

/// Arguments of `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The stack file, or a directory holding `berth.yaml`.
    #[arg(default_value = ".")]
    pub stack: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it, once: berth keeps only a hash of it.
    Create(KeysCreateArgs),
    /// List the keys with their scopes, limits and usage (never the keys themselves).
    List {
        #[command(flatten)]
        stack: StackOption,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: a running gateway refuses it within seconds.
    Revoke {
        /// The key's id (from `keys list`).
        id: i64,
        #[command(flatten)]
        stack: StackOption,
    },
}

/// Arguments of `keys create`.
#[derive(Debug, Args)]
pub struct KeysCreateArgs {
    #[command(flatten)]
    pub stack: StackOption,
    /// The user the key acts for.
    #[arg(long)]
    pub user: String,
    /// The user's groups, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "GROUP,...")]
    pub groups: Vec<String>,
    /// The logical models the key may use, comma-separated (default: all).
    #[arg(long, value_delimiter = ',', value_name = "MODEL,...")]
    pub models: Vec<String>,
    /// Requests per minute at most.
    #[arg(long, value_name = "N")]
    pub rpm: Option<u64>,
    /// Tokens (prompt and completion) per minute at most.
    #[arg(long, value_name = "N")]
    pub tpm: Option<u64>,
    /// A label for the key.
    #[arg(long, value_name = "LABEL")]
    pub name: Option<String>,
}

/// Where the stack is, for commands whose positional argument is something else.
#[derive(Debug, Args)]
pub struct StackOption {
    /// The stack file, or a directory holding `berth.yaml`.
    #[arg(long = "stack", short = 's', default_value = ".", global = true)]
    pub stack: PathBuf,
}

/// Arguments of `ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// The pipeline to run (default: every pipeline of the stack).
    pub pipeline: Option<String>,
    /// The stack.
    #[command(flatten)]
    pub stack: StackOption,
    /// Documents processed at once (default: the number of CPUs).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Keep running: re-run a pipeline when files under its source directory change.
    #[arg(long)]
    pub watch: bool,
    /// Keep running: re-run pipelines on their `schedule:`.
    #[arg(long)]
    pub schedule: bool,
}

/// Arguments of `runs`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// The stack.
    #[command(flatten)]
    pub stack: StackOption,
    /// How many runs to show.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Print JSON.
    #[arg(long, conflicts_with = "metrics")]
    pub json: bool,
    /// Print the counters in the Prometheus text format.
    #[arg(long)]
    pub metrics: bool,
}

/// Arguments of `docs`.
#[derive(Debug, Args)]
pub struct DocsArgs {
    /// `show ID`: one document with its chunks.
    #[command(subcommand)]
    pub show: Option<DocsCommand>,
    /// The stack.
    #[command(flatten)]
    pub stack: StackOption,
    /// Only this pipeline.
    #[arg(long)]
    pub pipeline: Option<String>,
    /// Only dead-lettered documents.
    #[arg(long)]
    pub failed: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `docs` subcommands.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// What to look for.
    pub query: String,
    #[command(flatten)]
    pub stack: StackOption,
    /// The pipeline whose index to search (needed when the stack has several).
    #[arg(long)]
    pub pipeline: Option<String>,
    /// Search as this user: only chunks public or granted to them are returned.
    #[arg(long = "as", value_name = "USER")]
    pub user: Option<String>,
    /// The user's groups, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "GROUP,...")]
    pub groups: Vec<String>,
    /// How to rank: keywords (bm25), meaning (dense) or both fused (hybrid; the default
    /// when the pipeline embeds, else bm25).
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
    /// How many results.
    #[arg(short = 'k', long = "top", default_value_t = 5)]
    pub k: usize,
    /// Print JSON (hits with scores, ranks, document, headings, pages and text).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub stack: StackOption,
    /// Which of berth's roles to run.
    #[arg(long, value_enum, default_value_t = RoleArg::Gateway)]
    pub role: RoleArg,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (0: any free port; the address is printed).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Demand an API key even when none exist (otherwise a stack without keys is served
    /// to anyone, for local development).
    #[arg(long)]
    pub require_keys: bool,
    /// Model and app requests in flight at most; more are answered 503 at once.
    #[arg(long, value_name = "N", default_value_t = berth_serve::DEFAULT_MAX_IN_FLIGHT)]
    pub max_in_flight: usize,
    /// Embedder role: the model's directory (a sentence-transformers layout).
    #[arg(long, value_name = "DIR", required_if_eq("role", "embedder"))]
    pub model_dir: Option<PathBuf>,
    /// Embedder role: the name clients use for the model (default: the directory's name).
    #[arg(long, value_name = "NAME")]
    pub model_name: Option<String>,
}

/// Arguments of `up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// The stack file, or a directory holding `berth.yaml`.
    #[arg(default_value = ".")]
    pub stack: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (default: 8080 when free, else any free port).
    #[arg(long)]
    pub port: Option<u16>,
    /// Serve without ingesting first.
    #[arg(long)]
    pub no_ingest: bool,
    /// Where to start the stack: in this process (local) or as containers on Docker
    /// Compose. Default: the stack file's `target:` (a Kubernetes stack is applied with
    /// `berth apply` instead).
    #[arg(long, value_enum)]
    pub target: Option<UpTarget>,
    /// Seconds to wait for every container to be ready (compose target).
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    /// Demand an API key even when none exist.
    #[arg(long)]
    pub require_keys: bool,
}

/// Which app to use, and as whom.
#[derive(Debug, Args)]
pub struct AppTarget {
    #[command(flatten)]
    pub stack: StackOption,
    /// The app (needed when the stack has several rag or chat apps).
    #[arg(long)]
    pub app: Option<String>,
    /// Ask as this user: only passages public or granted to them are used.
    #[arg(long = "as", value_name = "USER")]
    pub user: Option<String>,
    /// The user's groups, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "GROUP,...")]
    pub groups: Vec<String>,
    /// Continue this conversation (its history is kept in the state store).
    #[arg(long)]
    pub session: Option<String>,
}

/// Arguments of `ask`.
#[derive(Debug, Args)]
pub struct AskArgs {
    /// The question.
    pub question: String,
    #[command(flatten)]
    pub target: AppTarget,
    /// Print the whole answer as JSON (citations, retrieved chunks, timings).
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `sql`.
#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The question.
    pub question: String,
    #[command(flatten)]
    pub stack: StackOption,
    /// The text2sql app (needed when the stack has several).
    #[arg(long)]
    pub app: Option<String>,
    /// Print the whole answer as JSON (SQL, columns, rows, attempts, timings).
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `chat`.
#[derive(Debug, Args)]
pub struct ChatArgs {
    #[command(flatten)]
    pub target: AppTarget,
}

/// berth's server roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// The OpenAI-compatible gateway.
    Gateway,
    /// The built-in embedding model over the OpenAI embeddings API.
    Embedder,
}

/// Ranking modes of `berth search`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// BM25 keyword ranking.
    Bm25,
    /// Vector similarity.
    Dense,
    /// Both, fused by reciprocal rank.
    Hybrid,
}

#[derive(Debug, Subcommand)]
pub enum IndexCommand {
    /// Rebuild pipelines' indexes from the state store (no parsing or embedding).
    Rebuild {
        /// Only this pipeline.
        pipeline: Option<String>,
        #[command(flatten)]
        stack: StackOption,
    },
}

#[derive(Debug, Subcommand)]
pub enum DocsCommand {
    /// One document: its state, its chunks and where they were written, its error.
    Show {
        /// The document id (`source/path`).
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Arguments of `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The template.
    #[arg(long, value_enum, default_value_t = Template::Quickstart)]
    pub template: Template,
    /// Directory to write `berth.yaml` in.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Overwrite an existing `berth.yaml`.
    #[arg(long)]
    pub force: bool,
}

/// Stack templates for `init`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Template {
    /// Local, embedded defaults: your documents, searchable, no services to run.
    Quickstart,
    /// RAG on Docker Compose: Ollama, TEI, Qdrant, the gateway and Open WebUI.
    Rag,
    /// Text2SQL over a PostgreSQL database.
    Text2sql,
    /// RAG on Kubernetes: vLLM, TEI, Qdrant, PostgreSQL, with a public fallback model.
    Kubernetes,
}

/// A stack to read.
#[derive(Debug, Args)]
pub struct StackArgs {
    /// The stack file, or a directory holding `berth.yaml`.
    #[arg(default_value = ".")]
    pub stack: PathBuf,
}

/// Arguments of `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The stack.
    #[command(flatten)]
    pub stack: StackArgs,
    /// Plan for this target instead of the stack file's.
    #[arg(long, value_enum)]
    pub target: Option<TargetArg>,
    /// Print the plan as JSON (stable; see docs/plan-json.md).
    #[arg(long)]
    pub json: bool,
}

/// Where `up` starts a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UpTarget {
    /// One process on this machine.
    Local,
    /// Containers on Docker Compose.
    Compose,
}

/// Targets, as command-line values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TargetArg {
    /// One process on this machine.
    Local,
    /// Docker Compose.
    Compose,
    /// Kubernetes.
    Kubernetes,
}

/// `catalog` subcommands.
#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// List the entries.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one entry: its file, or its summary as JSON.
    Show {
        /// The entry's name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}
