//! NetworkPolicies: only declared bindings may connect.
//!
//! - `<stack>-default-deny` selects every pod of the stack and allows no ingress.
//! - `<component>-ingress`, for each component that someone connects to or that has edge
//!   ports, allows ingress on all its ports from the pods of the components bound to it
//!   (its dependants: components that list it in `depends_on` or whose bindings name it
//!   as provider; pipeline pods count as the worker they run as), and on its edge ports
//!   from anywhere.
//!
//! Only ingress is restricted, so DNS and every other egress keep working.

use super::meta::{self, RUNS_AS};
use super::{Cx, RenderError};
use crate::kubernetes::Manifest;
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::{BTreeMap, BTreeSet};

/// The default-deny policy's name.
pub(crate) fn default_deny_name(stack: &str) -> String {
    format!("{stack}-default-deny")
}

/// The allow policy of a component.
pub(crate) fn ingress_name(component: &str) -> String {
    format!("{component}-ingress")
}

/// Every network policy of the stack: default-deny first, then the allow policies in start
/// order.
pub(crate) fn policies(cx: &Cx<'_>) -> Result<Vec<Manifest>, RenderError> {
    let plan = cx.plan;
    let mut out = Vec::new();
    let name = default_deny_name(&plan.stack);
    meta::check_name(&name, meta::SUBDOMAIN_MAX)?;
    let stack_pods = BTreeMap::from([
        (meta::PART_OF.to_string(), plan.stack.clone()),
        (meta::MANAGED_BY.to_string(), "berth".to_string()),
    ]);
    let deny = NetworkPolicy {
        metadata: meta::object_meta(cx, &name, meta::stack_labels(cx)),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(meta::selector(stack_pods)),
            policy_types: Some(vec!["Ingress".to_string()]),
            ingress: None,
            egress: None,
        }),
    };
    out.push(Cx::manifest("NetworkPolicy", &name, &deny)?);

    for (name, component) in cx.deployed() {
        let consumers = consumers(cx, name);
        let port = |p: &berth_stack::plan::PlannedPort| NetworkPolicyPort {
            port: Some(IntOrString::Int(i32::from(p.container))),
            protocol: Some("TCP".to_string()),
            end_port: None,
        };
        let mut rules = Vec::new();
        if !consumers.is_empty() && !component.ports.is_empty() {
            rules.push(NetworkPolicyIngressRule {
                from: Some(consumers),
                ports: Some(component.ports.iter().map(port).collect()),
            });
        }
        let edge: Vec<NetworkPolicyPort> = component
            .ports
            .iter()
            .filter(|p| p.edge)
            .map(port)
            .collect();
        if !edge.is_empty() {
            rules.push(NetworkPolicyIngressRule {
                from: None,
                ports: Some(edge),
            });
        }
        if rules.is_empty() {
            continue;
        }
        let policy_name = ingress_name(name);
        meta::check_name(&policy_name, meta::SUBDOMAIN_MAX)?;
        let object = NetworkPolicy {
            metadata: meta::object_meta(
                cx,
                &policy_name,
                meta::component_labels(cx, name, component),
            ),
            spec: Some(NetworkPolicySpec {
                pod_selector: Some(meta::selector(meta::selector_labels(cx, name))),
                policy_types: Some(vec!["Ingress".to_string()]),
                ingress: Some(rules),
                egress: None,
            }),
        };
        out.push(Cx::manifest("NetworkPolicy", &policy_name, &object)?);
    }
    Ok(out)
}

/// The peers allowed to connect to a component: the pods of every deployed component
/// bound to it, and the pipeline pods running as such a component.
fn consumers(cx: &Cx<'_>, provider: &str) -> Vec<NetworkPolicyPeer> {
    let names: BTreeSet<&str> = cx
        .deployed()
        .filter(|(name, c)| {
            *name != provider
                && (c.depends_on.iter().any(|d| d == provider)
                    || c.bindings.iter().any(|b| b.provider == provider))
        })
        .map(|(name, _)| name)
        .collect();
    let mut peers = Vec::new();
    for name in names {
        peers.push(peer(meta::selector_labels(cx, name)));
        if !cx.plan.pipelines.is_empty() && cx.worker.is_some_and(|(w, _)| w == name) {
            peers.push(peer(BTreeMap::from([
                (meta::PART_OF.to_string(), cx.plan.stack.clone()),
                (RUNS_AS.to_string(), name.to_string()),
            ])));
        }
    }
    peers
}

fn peer(labels: BTreeMap<String, String>) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(LabelSelector {
            match_labels: Some(labels),
            match_expressions: None,
        }),
        ..NetworkPolicyPeer::default()
    }
}
