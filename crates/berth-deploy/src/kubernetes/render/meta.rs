//! Names, labels and metadata shared by every object, and the stack-level objects
//! (Namespace, the stack file's ConfigMap).

use super::{Cx, RenderError, STACK_FILE_IN_POD, stack_config_map_name};
use crate::kubernetes::Manifest;
use berth_stack::plan::PlannedComponent;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use std::collections::BTreeMap;

/// Longest object name that is also a label value (most kinds).
pub(crate) const LABEL_MAX: usize = 63;
/// Longest name of a ConfigMap or Secret.
pub(crate) const SUBDOMAIN_MAX: usize = 253;

pub(crate) const NAME: &str = "app.kubernetes.io/name";
pub(crate) const INSTANCE: &str = "app.kubernetes.io/instance";
pub(crate) const COMPONENT: &str = "app.kubernetes.io/component";
pub(crate) const PART_OF: &str = "app.kubernetes.io/part-of";
pub(crate) const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub(crate) const VERSION: &str = "app.kubernetes.io/version";

/// Pods of a pipeline carry the worker component they act as, so network policies can
/// admit them wherever the worker is admitted.
pub(crate) const RUNS_AS: &str = "berth/runs-as";
/// The pipeline a CronJob or Job runs.
pub(crate) const PIPELINE: &str = "berth/pipeline";
/// Services with a port people open carry `berth/edge: "true"`.
pub(crate) const EDGE: &str = "berth/edge";
/// The names of the edge ports of a Service, comma-separated.
pub(crate) const EDGE_PORTS: &str = "berth/edge-ports";
/// A checksum of the stack file on pods that read it, so a changed file rolls them.
pub(crate) const STACK_CHECKSUM: &str = "berth/stack-checksum";

/// The version of berth that rendered the objects.
pub(crate) const BERTH_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Checks that a name can name an object (a DNS-1035 label of at most `max` characters).
pub(crate) fn check_name(name: &str, max: usize) -> Result<(), RenderError> {
    let ok = !name.is_empty()
        && name.len() <= max
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(RenderError::InvalidName {
            name: name.to_string(),
            max,
        })
    }
}

/// The `app.kubernetes.io/*` labels of one object.
pub(crate) fn labels(
    cx: &Cx<'_>,
    name: &str,
    instance: &str,
    component: &str,
) -> BTreeMap<String, String> {
    BTreeMap::from([
        (NAME.to_string(), name.to_string()),
        (INSTANCE.to_string(), instance.to_string()),
        (COMPONENT.to_string(), component.to_string()),
        (PART_OF.to_string(), cx.plan.stack.clone()),
        (MANAGED_BY.to_string(), "berth".to_string()),
        (VERSION.to_string(), BERTH_VERSION.to_string()),
    ])
}

/// The labels of a component's objects: its catalog entry, its name, its role or
/// category.
pub(crate) fn component_labels(
    cx: &Cx<'_>,
    name: &str,
    component: &PlannedComponent,
) -> BTreeMap<String, String> {
    let kind = match component.role {
        Some(role) => role_name(role),
        None => component.category.as_str(),
    };
    labels(cx, &component.uses, name, kind)
}

/// The labels of stack-level objects (Namespace, ConfigMap, default-deny policy).
pub(crate) fn stack_labels(cx: &Cx<'_>) -> BTreeMap<String, String> {
    labels(cx, "berth", &cx.plan.stack, "stack")
}

/// The selector of a component's pods (immutable on workloads, so only stable labels).
pub(crate) fn selector_labels(cx: &Cx<'_>, instance: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (PART_OF.to_string(), cx.plan.stack.clone()),
        (INSTANCE.to_string(), instance.to_string()),
    ])
}

/// A label selector matching exactly these labels.
pub(crate) fn selector(labels: BTreeMap<String, String>) -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels),
        ..LabelSelector::default()
    }
}

/// Metadata of a namespaced object.
pub(crate) fn object_meta(cx: &Cx<'_>, name: &str, labels: BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(cx.plan.namespace.clone()),
        labels: Some(labels),
        ..ObjectMeta::default()
    }
}

pub(crate) fn role_name(role: berth_stack::catalog::Role) -> &'static str {
    match role {
        berth_stack::catalog::Role::Gateway => "gateway",
        berth_stack::catalog::Role::Worker => "worker",
        berth_stack::catalog::Role::Embedder => "embedder",
    }
}

/// Namespaces that exist in every cluster and that berth must never own (or prune).
pub(crate) fn is_system_namespace(namespace: &str) -> bool {
    namespace == "default" || namespace.starts_with("kube-")
}

/// The stack's namespace.
pub(crate) fn namespace(cx: &Cx<'_>) -> Result<Manifest, RenderError> {
    let object = Namespace {
        metadata: ObjectMeta {
            name: Some(cx.plan.namespace.clone()),
            labels: Some(stack_labels(cx)),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    Cx::manifest("Namespace", &cx.plan.namespace, &object)
}

/// The ConfigMap holding the stack file, keyed by its file name.
pub(crate) fn stack_config_map(cx: &Cx<'_>) -> Result<Manifest, RenderError> {
    let name = stack_config_map_name(cx.plan);
    let data = cx
        .options
        .stack_file
        .as_ref()
        .map(|s| BTreeMap::from([(s.file_name.clone(), s.contents.clone())]));
    let object = ConfigMap {
        metadata: object_meta(cx, &name, stack_labels(cx)),
        data,
        ..ConfigMap::default()
    };
    Cx::manifest("ConfigMap", &name, &object)
}

/// The key of the stack file in its ConfigMap and the path it is mounted at.
pub(crate) fn stack_key(cx: &Cx<'_>) -> (String, &'static str) {
    let key = cx
        .options
        .stack_file
        .as_ref()
        .map(|s| s.file_name.clone())
        .unwrap_or_else(|| STACK_FILE_IN_POD.to_string());
    (key, STACK_FILE_IN_POD)
}

/// A stable checksum of the stack file (64-bit FNV-1a, hex), for pod annotations.
pub(crate) fn stack_checksum(cx: &Cx<'_>) -> String {
    let text = cx
        .options
        .stack_file
        .as_ref()
        .map(|s| s.contents.as_str())
        .unwrap_or_default();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dns_labels() {
        assert!(check_name("llm-1", 63).is_ok());
        for bad in ["", "LLM", "1llm", "llm-", "a_b", "a.b"] {
            assert!(check_name(bad, 63).is_err(), "{bad:?}");
        }
        assert!(check_name(&"a".repeat(64), 63).is_err());
        assert!(check_name(&"a".repeat(52), 52).is_ok());
    }
}
