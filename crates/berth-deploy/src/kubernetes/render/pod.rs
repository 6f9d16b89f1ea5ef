//! Pod templates: the container (image, command, environment, ports, probes, resources),
//! volumes, and node selection for GPUs.

use super::env::{EnvBuilder, secrets_in};
use super::meta::{self, STACK_CHECKSUM};
use super::{Cx, DEFAULT_VOLUME_SIZE, RenderError, STACK_DIR, int32, secret_name};
use berth_stack::catalog::{Protocol, Role, VolumePurpose, Workload};
use berth_stack::plan::{PlannedComponent, PlannedHealth, PlannedProbe, PlannedRoute};
use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, ContainerPort, ExecAction, HTTPGetAction, KeyToPath,
    PersistentVolumeClaimVolumeSource, PodSpec, PodTemplateSpec, Probe, ResourceRequirements,
    TCPSocketAction, Toleration, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::{BTreeMap, BTreeSet};

/// The extended resource GPUs are requested as (NVIDIA device plugin).
pub(crate) const GPU_RESOURCE: &str = "nvidia.com/gpu";
/// The node label GPU feature discovery sets on nodes with an NVIDIA GPU.
pub(crate) const GPU_NODE_LABEL: &str = "nvidia.com/gpu.present";
/// The environment variable that makes berth plan for Kubernetes inside the cluster.
pub(crate) const TARGET_ENV: &str = "BERTH_TARGET";

const STACK_VOLUME: &str = "berth-stack-file";

/// What a pod runs.
pub(crate) enum PodKind<'a> {
    /// A long-lived service (Deployment or StatefulSet): probes, restarted always.
    Service {
        /// Whether `data` volumes are claim templates of a StatefulSet.
        stateful: bool,
    },
    /// A run-to-completion Job: no probes, restarted on failure.
    Job,
    /// A pipeline run as the worker, with this command.
    Pipeline {
        /// The command (`berth ingest …`).
        command: &'a [String],
    },
}

/// The pod template of a component (or of a pipeline run as the worker `name`).
pub(crate) fn template(
    cx: &Cx<'_>,
    name: &str,
    component: &PlannedComponent,
    labels: BTreeMap<String, String>,
    kind: PodKind<'_>,
) -> Result<PodTemplateSpec, RenderError> {
    let reads_stack = Cx::reads_stack(component) || matches!(kind, PodKind::Pipeline { .. });
    let mut volumes = Vec::new();
    let mut mounts = Vec::new();
    if !matches!(kind, PodKind::Pipeline { .. }) {
        let stateful = matches!(kind, PodKind::Service { stateful: true });
        for volume in &component.volumes {
            mounts.push(VolumeMount {
                name: volume.name.clone(),
                mount_path: volume.mount.clone(),
                ..VolumeMount::default()
            });
            if !(stateful && volume.purpose == VolumePurpose::Data) {
                volumes.push(Volume {
                    name: volume.name.clone(),
                    persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                        claim_name: volume.name.clone(),
                        read_only: None,
                    }),
                    ..Volume::default()
                });
            }
        }
    }
    let mut annotations = None;
    if reads_stack {
        let (key, path) = meta::stack_key(cx);
        volumes.push(Volume {
            name: STACK_VOLUME.to_string(),
            config_map: Some(ConfigMapVolumeSource {
                name: super::stack_config_map_name(cx.plan),
                items: Some(vec![KeyToPath {
                    key,
                    path: path.to_string(),
                    mode: None,
                }]),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        });
        // A file mount (subPath) leaves /stack itself writable for berth's state
        // directory; the checksum annotation rolls the pods when the file changes.
        mounts.push(VolumeMount {
            name: STACK_VOLUME.to_string(),
            mount_path: format!("{STACK_DIR}/{path}"),
            sub_path: Some(path.to_string()),
            read_only: Some(true),
            ..VolumeMount::default()
        });
        annotations = Some(BTreeMap::from([(
            STACK_CHECKSUM.to_string(),
            meta::stack_checksum(cx),
        )]));
    }

    let container = container(cx, name, component, &kind, reads_stack, mounts)?;
    let gpu = component.resources.gpu > 0;
    let spec = PodSpec {
        containers: vec![container],
        volumes: (!volumes.is_empty()).then_some(volumes),
        restart_policy: match kind {
            PodKind::Service { .. } => None,
            PodKind::Job => Some("OnFailure".to_string()),
            PodKind::Pipeline { .. } => Some("Never".to_string()),
        },
        // No component talks to the Kubernetes API, and service links would put
        // `<SERVICE>_PORT` variables into every container (some images read those).
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        node_selector: gpu.then(|| BTreeMap::from([(GPU_NODE_LABEL.to_string(), "true".into())])),
        tolerations: gpu.then(|| {
            vec![Toleration {
                key: Some(GPU_RESOURCE.to_string()),
                operator: Some("Exists".to_string()),
                effect: Some("NoSchedule".to_string()),
                ..Toleration::default()
            }]
        }),
        ..PodSpec::default()
    };
    Ok(PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels),
            annotations,
            ..ObjectMeta::default()
        }),
        spec: Some(spec),
    })
}

fn container(
    cx: &Cx<'_>,
    name: &str,
    component: &PlannedComponent,
    kind: &PodKind<'_>,
    reads_stack: bool,
    mounts: Vec<VolumeMount>,
) -> Result<Container, RenderError> {
    let mut env = EnvBuilder::new(&secret_name(cx.plan));
    let command: Vec<String> = match kind {
        PodKind::Pipeline { command } => command.iter().map(|c| env.expand(c)).collect(),
        _ => component.command.iter().map(|c| env.expand(c)).collect(),
    };
    let args: Vec<String> = match kind {
        PodKind::Pipeline { .. } => Vec::new(),
        _ => component.args.iter().map(|a| env.expand(a)).collect(),
    };
    for (key, value) in &component.env {
        env.set(key, value);
    }
    if reads_stack {
        for secret in role_secrets(cx, component) {
            env.expose(&secret);
        }
        if !component.env.contains_key(TARGET_ENV) {
            env.set(TARGET_ENV, "kubernetes");
        }
    }
    let env = env.finish(name)?;

    let ports: Vec<ContainerPort> = match kind {
        PodKind::Pipeline { .. } => Vec::new(),
        _ => component
            .ports
            .iter()
            .map(|p| ContainerPort {
                name: is_iana_service_name(&p.name).then(|| p.name.clone()),
                container_port: i32::from(p.container),
                protocol: Some("TCP".to_string()),
                ..ContainerPort::default()
            })
            .collect(),
    };
    let (startup, readiness, liveness) = match (kind, &component.health) {
        (PodKind::Service { .. }, Some(health)) => probes(name, health)?,
        _ => (None, None, None),
    };
    Ok(Container {
        name: match kind {
            PodKind::Pipeline { .. } => "ingest".to_string(),
            _ => name.to_string(),
        },
        image: Some(component.image.clone()),
        command: (!command.is_empty()).then_some(command),
        args: (!args.is_empty()).then_some(args),
        env: (!env.is_empty()).then_some(env),
        ports: (!ports.is_empty()).then_some(ports),
        resources: Some(resources(component)),
        startup_probe: startup,
        readiness_probe: readiness,
        liveness_probe: liveness,
        volume_mounts: (!mounts.is_empty()).then_some(mounts),
        working_dir: reads_stack.then(|| STACK_DIR.to_string()),
        ..Container::default()
    })
}

/// Container port names must be IANA service names (at most 15 characters); longer names
/// are left off (Services target ports by number).
fn is_iana_service_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name.chars().any(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

/// Requests for CPU and memory; limits for memory and GPUs.
fn resources(component: &PlannedComponent) -> ResourceRequirements {
    let r = &component.resources;
    let mut requests = BTreeMap::new();
    let mut limits = BTreeMap::new();
    if let Some(cpu) = &r.cpu {
        requests.insert("cpu".to_string(), Quantity(cpu.clone()));
    }
    if let Some(memory) = &r.memory {
        requests.insert("memory".to_string(), Quantity(memory.to_string()));
        limits.insert("memory".to_string(), Quantity(memory.to_string()));
    }
    if r.gpu > 0 {
        limits.insert(GPU_RESOURCE.to_string(), Quantity(r.gpu.to_string()));
    }
    ResourceRequirements {
        requests: (!requests.is_empty()).then_some(requests),
        limits: (!limits.is_empty()).then_some(limits),
        ..ResourceRequirements::default()
    }
}

/// The secrets berth's own roles resolve from their environment: the credentials of the
/// components they depend on, the API keys of public model routes (the gateway: every
/// model; the worker: the pipelines' embedding models), and (gateway) the apps' databases.
fn role_secrets(cx: &Cx<'_>, component: &PlannedComponent) -> BTreeSet<String> {
    let plan = cx.plan;
    let providers: BTreeSet<&str> = component
        .depends_on
        .iter()
        .map(String::as_str)
        .chain(component.bindings.iter().map(|b| b.provider.as_str()))
        .collect();
    let mut texts: Vec<&str> = Vec::new();
    for connection in plan.connections.values() {
        if providers.contains(connection.component.as_str()) {
            texts.extend(connection.secrets.values().map(String::as_str));
        }
    }
    // The gateway serves every logical model; the worker and pipelines only embed.
    let embed_models: BTreeSet<&str> = plan
        .pipelines
        .values()
        .filter_map(|p| p.embed.as_deref())
        .collect();
    let models = plan.models.iter().filter(|(name, _)| {
        component.role == Some(Role::Gateway) || embed_models.contains(name.as_str())
    });
    for (_, routes) in models {
        for route in routes {
            if let PlannedRoute::Provider {
                api_key: Some(key), ..
            } = route
            {
                texts.push(key);
            }
        }
    }
    if component.role == Some(Role::Gateway) {
        texts.extend(plan.apps.values().filter_map(|a| a.database.as_deref()));
    }
    texts
        .into_iter()
        .flat_map(secrets_in)
        .map(str::to_string)
        .collect()
}

type Probes = (Option<Probe>, Option<Probe>, Option<Probe>);

/// Startup, readiness and liveness probes.
///
/// - readiness is the planned readiness probe;
/// - startup is the planned startup probe (or the readiness check), with a failure
///   threshold raised so that threshold × period covers the startup budget;
/// - liveness repeats the startup check (the "process is up" check, which does not
///   depend on other components, unlike readiness) at the readiness period and threshold.
fn probes(owner: &str, health: &PlannedHealth) -> Result<Probes, RenderError> {
    let readiness = probe(owner, &health.readiness, None)?;
    let startup_check = health.startup.as_ref().unwrap_or(&health.readiness);
    let period = timing(startup_check).0.max(1);
    let needed = health.startup_budget_s.div_ceil(period);
    let threshold = u64::from(timing(startup_check).2).max(needed).max(1);
    let startup = probe(owner, startup_check, Some(threshold))?;
    let (r_period, r_timeout, r_threshold) = timing(&health.readiness);
    let liveness = probe(
        owner,
        &with_timing(startup_check, r_period, r_timeout, r_threshold),
        None,
    )?;
    Ok((Some(startup), Some(readiness), Some(liveness)))
}

fn timing(p: &PlannedProbe) -> (u64, u64, u32) {
    match p {
        PlannedProbe::Http {
            period_s,
            timeout_s,
            failure_threshold,
            ..
        }
        | PlannedProbe::Tcp {
            period_s,
            timeout_s,
            failure_threshold,
            ..
        }
        | PlannedProbe::Exec {
            period_s,
            timeout_s,
            failure_threshold,
            ..
        } => (*period_s, *timeout_s, *failure_threshold),
    }
}

fn with_timing(p: &PlannedProbe, period: u64, timeout: u64, threshold: u32) -> PlannedProbe {
    let mut p = p.clone();
    match &mut p {
        PlannedProbe::Http {
            period_s,
            timeout_s,
            failure_threshold,
            ..
        }
        | PlannedProbe::Tcp {
            period_s,
            timeout_s,
            failure_threshold,
            ..
        }
        | PlannedProbe::Exec {
            period_s,
            timeout_s,
            failure_threshold,
            ..
        } => {
            *period_s = period;
            *timeout_s = timeout;
            *failure_threshold = threshold;
        }
    }
    p
}

fn probe(owner: &str, p: &PlannedProbe, threshold: Option<u64>) -> Result<Probe, RenderError> {
    let (period, timeout, failures) = timing(p);
    for (field, value) in [
        ("probe period", period),
        ("probe timeout", timeout),
        ("probe failure threshold", u64::from(failures)),
    ] {
        if value == 0 {
            return Err(RenderError::OutOfRange {
                owner: owner.to_string(),
                field,
                value,
            });
        }
    }
    let mut out = Probe {
        period_seconds: Some(int32(owner, "probe period", period)?),
        timeout_seconds: Some(int32(owner, "probe timeout", timeout)?),
        failure_threshold: Some(int32(
            owner,
            "probe failure threshold",
            threshold.unwrap_or(u64::from(failures)),
        )?),
        ..Probe::default()
    };
    match p {
        PlannedProbe::Http { path, port, .. } => {
            out.http_get = Some(HTTPGetAction {
                path: Some(path.clone()),
                port: IntOrString::Int(i32::from(*port)),
                ..HTTPGetAction::default()
            });
        }
        PlannedProbe::Tcp { port, .. } => {
            out.tcp_socket = Some(TCPSocketAction {
                port: IntOrString::Int(i32::from(*port)),
                host: None,
            });
        }
        PlannedProbe::Exec { command, .. } => {
            out.exec = Some(ExecAction {
                command: Some(command.clone()),
            });
        }
    }
    Ok(out)
}

/// The `appProtocol` of a Service port.
pub(crate) fn app_protocol(protocol: Protocol) -> Option<String> {
    match protocol {
        Protocol::Http => Some("http".to_string()),
        Protocol::Grpc => Some("kubernetes.io/h2c".to_string()),
        Protocol::Tcp => None,
    }
}

/// Size of a claim for a planned volume.
pub(crate) fn volume_size(size: Option<&str>) -> Quantity {
    Quantity(size.unwrap_or(DEFAULT_VOLUME_SIZE).to_string())
}

/// Whether a component's pod mounts claims that only one node can attach (so a rolling
/// update must stop the old pod first).
pub(crate) fn mounts_claims(component: &PlannedComponent) -> bool {
    component.workload != Workload::Stateful && !component.volumes.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(period_s: u64, failure_threshold: u32) -> PlannedProbe {
        PlannedProbe::Http {
            path: "/h".into(),
            port: 80,
            period_s,
            timeout_s: 1,
            failure_threshold,
        }
    }

    #[test]
    fn startup_threshold_covers_the_budget() {
        let health = PlannedHealth {
            readiness: http(5, 3),
            startup: Some(http(15, 2)),
            startup_budget_s: 1801,
        };
        let (startup, _, liveness) = probes("c", &health).unwrap();
        let startup = startup.unwrap();
        assert_eq!(startup.period_seconds, Some(15));
        assert_eq!(startup.failure_threshold, Some(121));
        let liveness = liveness.unwrap();
        assert_eq!(liveness.period_seconds, Some(5));
        assert_eq!(liveness.failure_threshold, Some(3));
    }

    #[test]
    fn zero_periods_are_errors_not_panics() {
        let health = PlannedHealth {
            readiness: http(0, 3),
            startup: None,
            startup_budget_s: 60,
        };
        assert!(matches!(
            probes("c", &health),
            Err(RenderError::OutOfRange { .. })
        ));
    }

    #[test]
    fn iana_names() {
        assert!(is_iana_service_name("http"));
        assert!(is_iana_service_name("grpc-2"));
        assert!(!is_iana_service_name("a-very-long-port-name"));
        assert!(!is_iana_service_name("8080"));
    }
}
