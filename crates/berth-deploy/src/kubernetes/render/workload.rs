//! A component's objects: its claims, its Service and its workload.

use super::meta::{self, EDGE, EDGE_PORTS};
use super::pod::{self, PodKind};
use super::{Cx, RenderError, int32};
use crate::kubernetes::Manifest;
use berth_stack::catalog::{VolumePurpose, Workload};
use berth_stack::plan::{PlannedComponent, PlannedVolume};
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, StatefulSet, StatefulSetSpec,
};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimSpec, Service, ServicePort, ServiceSpec,
    VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

/// Retries of a component Job before it counts as failed.
const JOB_BACKOFF_LIMIT: i32 = 3;

fn claim_spec(volume: &PlannedVolume) -> PersistentVolumeClaimSpec {
    PersistentVolumeClaimSpec {
        access_modes: Some(vec!["ReadWriteOnce".to_string()]),
        resources: Some(VolumeResourceRequirements {
            requests: Some(BTreeMap::from([(
                "storage".to_string(),
                pod::volume_size(volume.size.as_deref()),
            )])),
            limits: None,
        }),
        ..PersistentVolumeClaimSpec::default()
    }
}

/// The claims a component's pods mount by name: all its volumes, except the `data`
/// volumes of a StatefulSet (claim templates, one claim per replica).
pub(crate) fn claims(
    cx: &Cx<'_>,
    name: &str,
    component: &PlannedComponent,
) -> Result<Vec<Manifest>, RenderError> {
    let stateful = component.workload == Workload::Stateful;
    component
        .volumes
        .iter()
        .filter(|v| !(stateful && v.purpose == VolumePurpose::Data))
        .map(|volume| {
            let object = PersistentVolumeClaim {
                metadata: meta::object_meta(
                    cx,
                    &volume.name,
                    meta::component_labels(cx, name, component),
                ),
                spec: Some(claim_spec(volume)),
                ..PersistentVolumeClaim::default()
            };
            Cx::manifest("PersistentVolumeClaim", &volume.name, &object)
        })
        .collect()
}

/// The component's Service, named after it (the host in its connection records), with
/// every port; `None` for a component without ports. A Service with ports people open
/// carries the label `berth/edge: "true"` and names those ports in the annotation
/// `berth/edge-ports`.
pub(crate) fn service(
    cx: &Cx<'_>,
    name: &str,
    component: &PlannedComponent,
) -> Result<Option<Manifest>, RenderError> {
    if component.ports.is_empty() {
        return Ok(None);
    }
    let mut labels = meta::component_labels(cx, name, component);
    let edge: Vec<&str> = component
        .ports
        .iter()
        .filter(|p| p.edge)
        .map(|p| p.name.as_str())
        .collect();
    let mut metadata = meta::object_meta(cx, name, BTreeMap::new());
    if !edge.is_empty() {
        labels.insert(EDGE.to_string(), "true".to_string());
        metadata.annotations = Some(BTreeMap::from([(EDGE_PORTS.to_string(), edge.join(","))]));
    }
    metadata.labels = Some(labels);
    let ports = component
        .ports
        .iter()
        .map(|p| ServicePort {
            name: Some(p.name.clone()),
            port: i32::from(p.container),
            target_port: Some(IntOrString::Int(i32::from(p.container))),
            protocol: Some("TCP".to_string()),
            app_protocol: pod::app_protocol(p.protocol),
            ..ServicePort::default()
        })
        .collect();
    let object = Service {
        metadata,
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_string()),
            selector: Some(meta::selector_labels(cx, name)),
            ports: Some(ports),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    };
    Cx::manifest("Service", name, &object).map(Some)
}

/// The component's workload: Deployment, StatefulSet or Job.
pub(crate) fn workload(
    cx: &Cx<'_>,
    name: &str,
    component: &PlannedComponent,
) -> Result<Manifest, RenderError> {
    let labels = meta::component_labels(cx, name, component);
    let mut pod_labels = labels.clone();
    pod_labels.extend(meta::selector_labels(cx, name));
    let metadata = meta::object_meta(cx, name, labels);
    let replicas = int32(name, "replicas", u64::from(component.replicas))?;
    match component.workload {
        Workload::Service => {
            let template = pod::template(
                cx,
                name,
                component,
                pod_labels,
                PodKind::Service { stateful: false },
            )?;
            let object = Deployment {
                metadata,
                spec: Some(DeploymentSpec {
                    replicas: Some(replicas),
                    selector: meta::selector(meta::selector_labels(cx, name)),
                    strategy: pod::mounts_claims(component).then(|| DeploymentStrategy {
                        type_: Some("Recreate".to_string()),
                        rolling_update: None,
                    }),
                    template,
                    ..DeploymentSpec::default()
                }),
                ..Deployment::default()
            };
            Cx::manifest("Deployment", name, &object)
        }
        Workload::Stateful => {
            let template = pod::template(
                cx,
                name,
                component,
                pod_labels,
                PodKind::Service { stateful: true },
            )?;
            let claim_templates: Vec<PersistentVolumeClaim> = component
                .volumes
                .iter()
                .filter(|v| v.purpose == VolumePurpose::Data)
                .map(|volume| PersistentVolumeClaim {
                    metadata: ObjectMeta {
                        name: Some(volume.name.clone()),
                        labels: Some(meta::component_labels(cx, name, component)),
                        ..ObjectMeta::default()
                    },
                    spec: Some(claim_spec(volume)),
                    ..PersistentVolumeClaim::default()
                })
                .collect();
            let object = StatefulSet {
                metadata,
                spec: Some(StatefulSetSpec {
                    replicas: Some(replicas),
                    selector: meta::selector(meta::selector_labels(cx, name)),
                    service_name: Some(name.to_string()),
                    template,
                    volume_claim_templates: (!claim_templates.is_empty())
                        .then_some(claim_templates),
                    ..StatefulSetSpec::default()
                }),
                ..StatefulSet::default()
            };
            Cx::manifest("StatefulSet", name, &object)
        }
        Workload::Job => {
            let template = pod::template(cx, name, component, pod_labels, PodKind::Job)?;
            let object = Job {
                metadata,
                spec: Some(JobSpec {
                    completions: Some(replicas),
                    parallelism: Some(replicas),
                    backoff_limit: Some(JOB_BACKOFF_LIMIT),
                    template,
                    ..JobSpec::default()
                }),
                ..Job::default()
            };
            Cx::manifest("Job", name, &object)
        }
    }
}
