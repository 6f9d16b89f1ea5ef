//! The Kubernetes target: a [`Plan`](berth_stack::plan::Plan) rendered as typed objects
//! (k8s-openapi), and applied to a cluster with server-side apply.

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
