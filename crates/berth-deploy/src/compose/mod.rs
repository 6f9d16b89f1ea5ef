//! The Docker Compose target: a [`Plan`] rendered as a compose file, and the engine
//! driven through the Compose CLI.
//!
//! What the file holds, from the plan alone:
//!
//! - one service per deployed component (external ones are wired by URL, not run), in
//!   one network, containers finding each other by service name on their well-known
//!   ports;
//! - host ports only for edge ports, chosen by berth and bound to loopback;
//! - health checks from the catalog probes, with the startup budget as `start_period`;
//!   berth's own image has no shell, so its probes run `berth probe URL`;
//! - `depends_on` gated on health (or on start, for a dependency without a probe);
//! - named volumes, plus for berth's roles the stack directory mounted read-only at
//!   `/stack`, document sources mounted read-only where the stack file's relative paths
//!   lead, and one shared `state` volume;
//! - secrets only as `${NAME}` references: the values reach the engine through an env
//!   file that berth writes with owner-only permissions and never prints.

mod engine;

pub use engine::{Compose, ComposeError, ServiceState, write_env_file};

use berth_stack::plan::{Plan, PlannedComponent, PlannedProbe};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

/// The file name of a rendered compose file.
pub const FILE_NAME: &str = "compose.yaml";

/// Where berth's roles see the stack directory.
pub const STACK_MOUNT: &str = "/stack";

/// Where berth's roles keep their state (the image's `BERTH_STATE_DIR`).
pub const STATE_MOUNT: &str = "/state";

/// The name of the network every service joins.
pub const NETWORK: &str = "stack";

/// What rendering needs besides the plan.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// The directory holding the stack file, as an absolute host path.
    pub stack_dir: PathBuf,
    /// The directory the compose file is written to; bind mounts are relative to it, so
    /// the file stays valid wherever the two directories move together.
    pub out_dir: PathBuf,
}

/// Why a plan could not be rendered for Compose.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// A secret's name cannot be a Compose variable.
    #[error(
        "secret `{0}` cannot be passed through Compose: its name must be letters, digits and `_`"
    )]
    SecretName(String),
    /// The compose file could not be serialised.
    #[error("cannot write the compose file as YAML: {0}")]
    Yaml(String),
}

/// A compose file (the subset berth writes).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComposeFile {
    /// Services by name.
    pub services: BTreeMap<String, Service>,
    /// Networks.
    pub networks: BTreeMap<String, Network>,
    /// Named volumes.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, Volume>,
}

/// One service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Service {
    /// Image reference.
    pub image: String,
    /// Replaces the image's entry point.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entrypoint: Vec<String>,
    /// Replaces the image's command.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Working directory (berth's roles: the stack directory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Environment; secret values appear only as `${NAME}`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    /// Host ports, `127.0.0.1:HOST:CONTAINER`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
    /// Mounts, `SOURCE:TARGET[:ro]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
    /// Health check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthCheck>,
    /// What must be healthy (or started) first.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub depends_on: BTreeMap<String, DependsOn>,
    /// Networks joined.
    pub networks: Vec<String>,
    /// Labels naming the stack and component.
    pub labels: BTreeMap<String, String>,
    /// Restart policy.
    pub restart: String,
    /// GPU reservations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploy: Option<Deploy>,
}

/// A health check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthCheck {
    /// The probe command.
    pub test: Vec<String>,
    /// Between probes.
    pub interval: String,
    /// One probe at most.
    pub timeout: String,
    /// Failures in a row before unhealthy.
    pub retries: u32,
    /// Failures during this time do not count (the startup budget).
    pub start_period: String,
}

/// A dependency's gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DependsOn {
    /// `service_healthy` or `service_started`.
    pub condition: String,
}

/// The network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Network {
    /// Labels naming the stack.
    pub labels: BTreeMap<String, String>,
}

/// A named volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Volume {
    /// Labels naming the stack.
    pub labels: BTreeMap<String, String>,
}

/// `deploy:` (only GPU reservations).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deploy {
    /// Resources.
    pub resources: DeployResources,
}

/// `deploy.resources`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeployResources {
    /// Reservations.
    pub reservations: Reservations,
}

/// `deploy.resources.reservations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reservations {
    /// Devices.
    pub devices: Vec<Device>,
}

/// A device reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    /// `nvidia`.
    pub driver: String,
    /// How many.
    pub count: u32,
    /// `[gpu]`.
    pub capabilities: Vec<String>,
}

/// The label naming the stack on every service, network and volume.
pub const STACK_LABEL: &str = "dev.berth.stack";
/// The label naming the component on every service.
pub const COMPONENT_LABEL: &str = "dev.berth.component";

/// Renders the plan as a compose file.
pub fn render(plan: &Plan, options: &RenderOptions) -> Result<ComposeFile, RenderError> {
    let stack_labels = BTreeMap::from([(STACK_LABEL.to_owned(), plan.stack.clone())]);
    let mut services = BTreeMap::new();
    let mut volumes = BTreeMap::new();
    let deployed: BTreeSet<&str> = plan
        .components
        .iter()
        .filter(|(_, c)| c.external_url.is_none())
        .map(|(n, _)| n.as_str())
        .collect();
    let stack_rel = relative(&options.out_dir, &options.stack_dir);
    for name in &plan.order {
        let Some(c) = plan.components.get(name) else {
            continue;
        };
        if c.external_url.is_some() {
            continue;
        }
        let own = c.role.is_some();
        let mut environment = BTreeMap::new();
        for (k, v) in &c.env {
            environment.insert(k.clone(), compose_value(v)?);
        }
        let mut mounts = Vec::new();
        for v in &c.volumes {
            volumes.insert(
                v.name.clone(),
                Volume {
                    labels: stack_labels.clone(),
                },
            );
            mounts.push(format!("{}:{}", v.name, v.mount));
        }
        if own {
            // The role re-reads the stack inside the container, for this target, and
            // needs every secret the stack names.
            environment.insert("BERTH_TARGET".into(), "compose".into());
            environment.insert("BERTH_STATE_DIR".into(), STATE_MOUNT.into());
            for secret in &plan.secrets {
                environment.insert(
                    secret.clone(),
                    compose_value(&format!("${{secret:{secret}}}"))?,
                );
            }
            volumes.insert(
                "state".into(),
                Volume {
                    labels: stack_labels.clone(),
                },
            );
            mounts.push(format!("state:{STATE_MOUNT}"));
            mounts.push(format!("{}:{STACK_MOUNT}:ro", display(&stack_rel)));
            for source in plan.sources.values() {
                let Some(path) = &source.path else { continue };
                let inside = normalize(&Path::new(STACK_MOUNT).join(path));
                if inside.starts_with(STACK_MOUNT) {
                    continue;
                }
                let host = relative(&options.out_dir, &normalize(&options.stack_dir.join(path)));
                mounts.push(format!("{}:{}:ro", display(&host), inside.display()));
            }
        }
        let ports = c
            .ports
            .iter()
            .filter(|p| p.edge)
            .filter_map(|p| p.host.map(|h| format!("127.0.0.1:{h}:{}", p.container)))
            .collect();
        let depends_on = c
            .depends_on
            .iter()
            .filter(|d| deployed.contains(d.as_str()))
            .map(|d| {
                let gated = plan.components.get(d).is_some_and(|x| x.health.is_some());
                let condition = if gated {
                    "service_healthy"
                } else {
                    "service_started"
                };
                (
                    d.clone(),
                    DependsOn {
                        condition: condition.into(),
                    },
                )
            })
            .collect();
        let mut labels = stack_labels.clone();
        labels.insert(COMPONENT_LABEL.into(), name.clone());
        let entrypoint = c
            .command
            .iter()
            .map(|a| compose_value(a))
            .collect::<Result<_, _>>()?;
        let command = c
            .args
            .iter()
            .filter(|a| !a.is_empty())
            .map(|a| compose_value(a))
            .collect::<Result<_, _>>()?;
        let service = Service {
            image: c.image.clone(),
            entrypoint,
            command,
            working_dir: own.then(|| STACK_MOUNT.to_owned()),
            environment,
            ports,
            volumes: mounts,
            healthcheck: healthcheck(c),
            depends_on,
            networks: vec![NETWORK.into()],
            labels,
            restart: "unless-stopped".into(),
            deploy: (c.resources.gpu > 0).then(|| Deploy {
                resources: DeployResources {
                    reservations: Reservations {
                        devices: vec![Device {
                            driver: "nvidia".into(),
                            count: c.resources.gpu,
                            capabilities: vec!["gpu".into()],
                        }],
                    },
                },
            }),
        };
        services.insert(name.clone(), service);
    }
    Ok(ComposeFile {
        services,
        networks: BTreeMap::from([(
            NETWORK.to_owned(),
            Network {
                labels: stack_labels,
            },
        )]),
        volumes,
    })
}

/// The compose file as YAML, with a header saying where it came from.
pub fn to_yaml(plan: &Plan, file: &ComposeFile) -> Result<String, RenderError> {
    let body = serde_saphyr::to_string(file).map_err(|e| RenderError::Yaml(e.to_string()))?;
    Ok(format!(
        "# Rendered by berth {} from stack `{}`; edit the stack file, not this file.\n\
         # Secrets are `${{NAME}}` references, filled from an env file at `up`.\n{body}",
        env!("CARGO_PKG_VERSION"),
        plan.stack
    ))
}

/// The names of the Compose variables the file refers to (the secrets), in order.
pub fn variables(file: &ComposeFile) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for s in file.services.values() {
        let values = s
            .environment
            .values()
            .chain(&s.entrypoint)
            .chain(&s.command);
        for v in values {
            let mut rest = v.as_str();
            while let Some(i) = rest.find('$') {
                rest = &rest[i + 1..];
                if let Some(tail) = rest.strip_prefix('$') {
                    rest = tail;
                } else if let Some(tail) = rest.strip_prefix('{')
                    && let Some(end) = tail.find('}')
                {
                    out.insert(tail[..end].to_owned());
                    rest = &tail[end + 1..];
                }
            }
        }
    }
    out
}

/// A plan value for Compose: `${secret:NAME}` becomes the variable `${NAME}`, any other
/// `$` is escaped so that Compose keeps it.
fn compose_value(value: &str) -> Result<String, RenderError> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(inner) = tail.strip_prefix("${secret:")
            && let Some(end) = inner.find('}')
        {
            let name = &inner[..end];
            if name.is_empty()
                || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                || name.starts_with(|c: char| c.is_ascii_digit())
            {
                return Err(RenderError::SecretName(name.to_owned()));
            }
            out.push_str(&format!("${{{name}}}"));
            rest = &inner[end + 1..];
        } else {
            out.push_str("$$");
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn seconds(s: u64) -> String {
    format!("{s}s")
}

/// The compose health check of a component, from its readiness probe.
fn healthcheck(c: &PlannedComponent) -> Option<HealthCheck> {
    let health = c.health.as_ref()?;
    let own = c.role.is_some();
    let (test, period, timeout, failures) = match &health.readiness {
        PlannedProbe::Http {
            path,
            port,
            period_s,
            timeout_s,
            failure_threshold,
        } => {
            let url = format!("http://127.0.0.1:{port}{path}");
            let test = if own {
                vec!["CMD".into(), "berth".into(), "probe".into(), url]
            } else {
                // Images differ in what they carry: curl, wget, or only a shell.
                vec![
                    "CMD-SHELL".into(),
                    format!(
                        "curl -fsS -o /dev/null {url} || wget -q -O /dev/null {url} || \
                         bash -c ': > /dev/tcp/127.0.0.1/{port}'"
                    ),
                ]
            };
            (test, *period_s, *timeout_s, *failure_threshold)
        }
        PlannedProbe::Tcp {
            port,
            period_s,
            timeout_s,
            failure_threshold,
        } => {
            let test = if own {
                vec![
                    "CMD".into(),
                    "berth".into(),
                    "probe".into(),
                    format!("tcp://127.0.0.1:{port}"),
                ]
            } else {
                vec![
                    "CMD-SHELL".into(),
                    format!("bash -c ': > /dev/tcp/127.0.0.1/{port}' || nc -z 127.0.0.1 {port}"),
                ]
            };
            (test, *period_s, *timeout_s, *failure_threshold)
        }
        PlannedProbe::Exec {
            command,
            period_s,
            timeout_s,
            failure_threshold,
        } => {
            let mut test = vec!["CMD".to_owned()];
            test.extend(command.iter().map(|a| a.replace('$', "$$")));
            (test, *period_s, *timeout_s, *failure_threshold)
        }
    };
    Some(HealthCheck {
        test,
        interval: seconds(period.max(1)),
        timeout: seconds(timeout.max(1)),
        retries: failures.max(1),
        start_period: seconds(health.startup_budget_s),
    })
}

/// `path` with `.` and `..` resolved lexically (the container's file system is not this
/// machine's, so nothing is looked up).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                if !out.pop() {
                    out.push("/");
                }
                if out.as_os_str().is_empty() {
                    out.push("/");
                }
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// `to` relative to `from`, both absolute (or both relative to the same directory).
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from = normalize(from);
    let to = normalize(to);
    let a: Vec<_> = from.components().collect();
    let b: Vec<_> = to.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..a.len() {
        out.push("..");
    }
    for c in &b[common..] {
        out.push(c);
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// A relative bind-mount source as Compose wants it: starting with `.`.
fn display(path: &Path) -> String {
    let s = path.display().to_string();
    if s.starts_with('.') || s.starts_with('/') {
        s
    } else {
        format!("./{s}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_become_variables_and_other_dollars_are_escaped() {
        assert_eq!(
            compose_value("postgres://u:${secret:PG_PASSWORD}@db/x").unwrap(),
            "postgres://u:${PG_PASSWORD}@db/x"
        );
        assert_eq!(compose_value("a$b").unwrap(), "a$$b");
        assert_eq!(
            compose_value("${secret:A}${secret:B_2}").unwrap(),
            "${A}${B_2}"
        );
        assert!(matches!(
            compose_value("${secret:my-key}"),
            Err(RenderError::SecretName(n)) if n == "my-key"
        ));
    }

    #[test]
    fn paths_are_relative_to_the_compose_file() {
        assert_eq!(
            relative(Path::new("/w/s/.berth/compose"), Path::new("/w/s")),
            PathBuf::from("../..")
        );
        assert_eq!(
            relative(Path::new("/w/out"), Path::new("/w/s/docs")),
            PathBuf::from("../s/docs")
        );
        assert_eq!(
            relative(Path::new("/w"), Path::new("/w")),
            PathBuf::from(".")
        );
        assert_eq!(
            normalize(Path::new("/stack/../../docs")),
            PathBuf::from("/docs")
        );
        assert_eq!(
            normalize(Path::new("/stack/./wiki")),
            PathBuf::from("/stack/wiki")
        );
    }

    #[test]
    fn variables_are_found_and_escapes_skipped() {
        let mut file = ComposeFile {
            services: BTreeMap::new(),
            networks: BTreeMap::new(),
            volumes: BTreeMap::new(),
        };
        let service = Service {
            image: "x".into(),
            entrypoint: vec![],
            command: vec![],
            working_dir: None,
            environment: BTreeMap::from([
                ("A".into(), "${ONE} and $${NOT}".into()),
                ("B".into(), "x${TWO}".into()),
            ]),
            ports: vec![],
            volumes: vec![],
            healthcheck: None,
            depends_on: BTreeMap::new(),
            networks: vec![],
            labels: BTreeMap::new(),
            restart: "no".into(),
            deploy: None,
        };
        file.services.insert("s".into(), service);
        assert_eq!(
            variables(&file).into_iter().collect::<Vec<_>>(),
            vec!["ONE".to_owned(), "TWO".to_owned()]
        );
    }
}
