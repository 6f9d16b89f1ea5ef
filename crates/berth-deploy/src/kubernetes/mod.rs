//! The Kubernetes target: a [`Plan`](berth_stack::plan::Plan) rendered as typed objects
//! (k8s-openapi), and applied to a cluster with server-side apply.
//!
//! # Brief overview
//!
//! - [`render()`] turns a Plan into [`Manifest`]s, in apply order; [`RenderOptions`] holds
//!   what the Plan does not decide (the stack file for berth's own roles, backfill
//!   parallelism). It is pure: no cluster, no files.
//! - [`to_yaml`] writes the manifests as one multi-document YAML stream, [`write_dir`]
//!   as one file per object (`berth render kubernetes -o DIR`).
//!
//! - [`apply`] applies manifests as one apply set with server-side apply, prunes, waits
//!   in dependency order and diffs; [`standin`] is an in-memory stand-in Kubernetes API
//!   server that the tests drive it against.
//!
//! Secrets are never rendered: every `${secret:NAME}` becomes a reference to key `NAME`
//! of the Secret [`secret_name`] names, which the user creates. See `docs/kubernetes.md`.

pub mod apply;
pub mod render;
pub mod standin;

pub use render::{
    RenderError, RenderOptions, StackText, file_name, render, secret_name, to_yaml, write_dir,
};

use serde_json::Value;

/// One rendered Kubernetes object, as the API server receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The object: `apiVersion`, `kind`, `metadata` and the rest.
    pub object: Value,
}

impl Manifest {
    /// Wraps an object; it must have `apiVersion`, `kind` and `metadata.name`.
    pub fn new(object: Value) -> Manifest {
        Manifest { object }
    }

    /// `apiVersion`, e.g. `apps/v1`.
    pub fn api_version(&self) -> &str {
        self.object["apiVersion"].as_str().unwrap_or_default()
    }

    /// `kind`, e.g. `Deployment`.
    pub fn kind(&self) -> &str {
        self.object["kind"].as_str().unwrap_or_default()
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        self.object["metadata"]["name"].as_str().unwrap_or_default()
    }

    /// `metadata.namespace`; `None` for cluster-scoped objects.
    pub fn namespace(&self) -> Option<&str> {
        self.object["metadata"]["namespace"].as_str()
    }

    /// A label's value.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.object["metadata"]["labels"][key].as_str()
    }
}

/// Why no cluster could be reached.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot reach a Kubernetes API server from the kubeconfig (KUBECONFIG or ~/.kube/config): {0}"
)]
pub struct ConnectError(String);

/// A client for the cluster the kubeconfig's current context names (`KUBECONFIG`, else
/// `~/.kube/config`, else the in-cluster service account), as `kubectl` would choose it.
pub async fn connect() -> Result<kube::Client, ConnectError> {
    let config = kube::Config::infer()
        .await
        .map_err(|e| ConnectError(e.to_string()))?;
    kube::Client::try_from(config).map_err(|e| ConnectError(e.to_string()))
}
