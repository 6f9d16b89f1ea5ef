//! A [`Plan`] rendered as typed Kubernetes objects.
//!
//! Every object is built from `k8s-openapi` structs and only then turned into JSON inside
//! a [`Manifest`]; no text templates. Rendering is pure: no cluster, no files, no clock,
//! no environment. The same plan and options give the same manifests, byte for byte.
//!
//! # What is rendered, in this order
//!
//! 1. the `Namespace` (unless [`RenderOptions::namespace_object`] is off, or the namespace
//!    is `default` or `kube-*`, which berth never owns);
//! 2. the `ConfigMap` `<stack>-stack` holding the stack file, when berth's own roles or
//!    pipelines run (they read the stack and plan for themselves, with
//!    `BERTH_TARGET=kubernetes`);
//! 3. `PersistentVolumeClaim`s: every volume of a Deployment or Job, and the `cache`
//!    volumes of a StatefulSet (its `data` volumes are volume claim templates);
//! 4. one `Service` (ClusterIP) per component with ports;
//! 5. the workloads, in `plan.order`: a `Deployment` for `service`, a `StatefulSet` for
//!    `stateful`, a `Job` for `job` components;
//! 6. per pipeline, in name order: a `CronJob` when it has a `schedule`, and an indexed
//!    `Job` for backfills;
//! 7. `NetworkPolicy`s: default-deny ingress for the stack's pods, then one allow policy
//!    per component, in `plan.order`.
//!
//! Components with an `external_url` are not rendered: berth wires them, it does not run
//! them. The `Secret` `<stack>-secrets` is never rendered: objects only refer to it (see
//! [`secret_name`]); its values are created by the user.

mod env;
mod meta;
mod network;
mod output;
mod pipeline;
mod pod;
mod workload;

pub use output::{FILE_MARKER, file_name, to_yaml, write_dir};

use super::Manifest;
use berth_stack::catalog::Role;
use berth_stack::plan::{Plan, PlannedComponent};
use berth_stack::stack::Target;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Backfill Jobs run this many pods at once unless [`RenderOptions`] says otherwise.
pub const DEFAULT_BACKFILL_PARALLELISM: u32 = 2;

/// Where berth's own roles find the stack file: `/stack/berth.yaml`.
pub const STACK_DIR: &str = "/stack";

/// The file name the stack is mounted under inside `/stack`, whatever it was called on
/// disk, so that `--stack /stack` (or the working directory) always finds it.
pub const STACK_FILE_IN_POD: &str = "berth.yaml";

/// Size of a persistent volume claim whose volume declares none.
pub const DEFAULT_VOLUME_SIZE: &str = "10Gi";

/// The stack file as written, put into the `<stack>-stack` ConfigMap for berth's own roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackText {
    /// The file's name on disk (`berth.yaml`); the ConfigMap key. Letters, digits, `-`,
    /// `_` and `.` only.
    pub file_name: String,
    /// The file's text. It holds secret references, never secret values.
    pub contents: String,
}

/// Choices the plan does not make, with documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderOptions {
    /// The stack file for berth's own roles (gateway, worker) and pipelines. Required
    /// when the plan runs any of them; rendering fails with
    /// [`RenderError::MissingStackFile`] otherwise.
    pub stack_file: Option<StackText>,
    /// Pods a backfill Job runs at once (default 2). Each pod is one worker; workers
    /// split the documents between them by leases in the state store.
    pub backfill_parallelism: u32,
    /// Pods a backfill Job completes (its `completions`, one per index); `None` means as
    /// many as [`backfill_parallelism`](Self::backfill_parallelism).
    pub backfill_completions: Option<u32>,
    /// Whether backfill Jobs are created suspended (default `true`): applying a stack
    /// then never starts a full re-index by itself; un-suspend the Job to run one.
    pub backfill_suspended: bool,
    /// Whether to render the `Namespace` object (default `true`). Turn it off when the
    /// namespace is managed elsewhere.
    pub namespace_object: bool,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            stack_file: None,
            backfill_parallelism: DEFAULT_BACKFILL_PARALLELISM,
            backfill_completions: None,
            backfill_suspended: true,
            namespace_object: true,
        }
    }
}

impl RenderOptions {
    /// The defaults, with the stack file berth's own roles will read.
    pub fn new(file_name: impl Into<String>, contents: impl Into<String>) -> Self {
        RenderOptions {
            stack_file: Some(StackText {
                file_name: file_name.into(),
                contents: contents.into(),
            }),
            ..RenderOptions::default()
        }
    }
}

/// Why a plan could not be rendered or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// The plan was resolved for another target: its addresses are not service names.
    #[error("the plan is for target `{}`, not `kubernetes`; plan with `--target kubernetes`", target.as_str())]
    WrongTarget {
        /// The plan's target.
        target: Target,
    },
    /// The plan has error findings: nothing should be deployed from it.
    #[error("the plan has errors ({}); fix them before rendering", codes.join(", "))]
    PlanHasErrors {
        /// The codes of the error findings.
        codes: Vec<String>,
    },
    /// `plan.order` and `plan.components` disagree.
    #[error("component `{component}` is in the plan's order or components but not in both")]
    InconsistentPlan {
        /// The component.
        component: String,
    },
    /// A name the plan gives cannot name a Kubernetes object.
    #[error(
        "`{name}` cannot name a Kubernetes object: use at most {max} lowercase letters, digits \
         and `-`, starting with a letter and ending with a letter or digit"
    )]
    InvalidName {
        /// The name.
        name: String,
        /// Longest name allowed in its place.
        max: usize,
    },
    /// The stack file's name cannot be a ConfigMap key.
    #[error("`{file_name}` cannot be a ConfigMap key: use letters, digits, `-`, `_` and `.`")]
    InvalidFileName {
        /// The file name.
        file_name: String,
    },
    /// Two objects of the stack would carry the same `app.kubernetes.io/instance`.
    #[error("`{name}` names both a component and a pipeline object; rename one of them")]
    NameClash {
        /// The name.
        name: String,
    },
    /// berth's own roles or pipelines run, but no stack file was given.
    #[error("berth's own roles read the stack file in the cluster; pass it in the options")]
    MissingStackFile,
    /// A pipeline needs the worker role, which the plan lacks.
    #[error(
        "pipeline `{pipeline}` needs a worker component (role `worker`), and the plan has none"
    )]
    NoWorker {
        /// The pipeline.
        pipeline: String,
    },
    /// A number does not fit the Kubernetes field it goes to, or is zero where that is
    /// not allowed.
    #[error("{field} of `{owner}` is {value}, which Kubernetes does not accept")]
    OutOfRange {
        /// The component or pipeline.
        owner: String,
        /// The field.
        field: &'static str,
        /// The value.
        value: u64,
    },
    /// An environment variable berth adds clashes with one the plan sets.
    #[error("component `{component}` sets `{variable}`, which berth needs for secret `{variable}`")]
    EnvClash {
        /// The component.
        component: String,
        /// The variable.
        variable: String,
    },
    /// A typed object could not be turned into JSON.
    #[error("cannot serialise {kind} `{name}`")]
    Serialize {
        /// The object's kind.
        kind: &'static str,
        /// The object's name.
        name: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The manifests could not be written as YAML.
    #[error("cannot write the manifests as YAML")]
    Yaml(#[source] serde_saphyr::SerializeError),
    /// A directory could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written or removed.
    #[error("cannot write {}", path.display())]
    Write {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The Secret every secret reference points at: `<stack>-secrets`, one key per secret
/// name. berth never renders it; create it with
/// `kubectl create secret generic <stack>-secrets --from-literal=NAME=… -n <namespace>`.
pub fn secret_name(plan: &Plan) -> String {
    format!("{}-secrets", plan.stack)
}

/// The ConfigMap holding the stack file: `<stack>-stack`.
pub fn stack_config_map_name(plan: &Plan) -> String {
    format!("{}-stack", plan.stack)
}

/// Renders a plan for the `kubernetes` target. The order of the result is documented in
/// the [module docs](self); applying in that order never refers to an object not yet
/// applied, except the user-made Secret.
pub fn render(plan: &Plan, options: &RenderOptions) -> Result<Vec<Manifest>, RenderError> {
    let cx = Cx::new(plan, options)?;
    let mut out = Vec::new();
    if options.namespace_object && !meta::is_system_namespace(&plan.namespace) {
        out.push(meta::namespace(&cx)?);
    }
    if cx.needs_stack_file() {
        out.push(meta::stack_config_map(&cx)?);
    }
    for (name, component) in cx.deployed() {
        out.extend(workload::claims(&cx, name, component)?);
    }
    for (name, component) in cx.deployed() {
        if let Some(service) = workload::service(&cx, name, component)? {
            out.push(service);
        }
    }
    for (name, component) in cx.deployed() {
        out.push(workload::workload(&cx, name, component)?);
    }
    for (name, planned) in &plan.pipelines {
        out.extend(pipeline::pipeline(&cx, name, planned)?);
    }
    out.extend(network::policies(&cx)?);
    Ok(out)
}

/// What every part of the renderer needs, checked once.
pub(crate) struct Cx<'a> {
    pub(crate) plan: &'a Plan,
    pub(crate) options: &'a RenderOptions,
    /// The worker component pipelines run as, when there are pipelines.
    pub(crate) worker: Option<(&'a str, &'a PlannedComponent)>,
}

impl<'a> Cx<'a> {
    fn new(plan: &'a Plan, options: &'a RenderOptions) -> Result<Self, RenderError> {
        if plan.target != Target::Kubernetes {
            return Err(RenderError::WrongTarget {
                target: plan.target,
            });
        }
        if plan.has_errors() {
            return Err(RenderError::PlanHasErrors {
                codes: plan
                    .findings
                    .iter()
                    .filter(|f| f.severity == berth_stack::diagnostic::Severity::Error)
                    .map(|f| f.code.clone())
                    .collect(),
            });
        }
        let ordered: BTreeSet<&str> = plan.order.iter().map(String::as_str).collect();
        for name in plan.order.iter().chain(plan.components.keys()) {
            if !ordered.contains(name.as_str()) || !plan.components.contains_key(name) {
                return Err(RenderError::InconsistentPlan {
                    component: name.clone(),
                });
            }
        }
        meta::check_name(&plan.namespace, meta::LABEL_MAX)?;
        meta::check_name(&plan.stack, meta::LABEL_MAX)?;
        meta::check_name(&secret_name(plan), meta::SUBDOMAIN_MAX)?;
        meta::check_name(&stack_config_map_name(plan), meta::SUBDOMAIN_MAX)?;
        for (name, component) in &plan.components {
            meta::check_name(name, meta::LABEL_MAX)?;
            meta::check_name(&component.uses, meta::LABEL_MAX)?;
            for volume in &component.volumes {
                meta::check_name(&volume.name, meta::LABEL_MAX)?;
            }
        }
        if options.backfill_parallelism == 0 {
            return Err(RenderError::OutOfRange {
                owner: plan.stack.clone(),
                field: "backfill parallelism",
                value: 0,
            });
        }
        if options.backfill_completions == Some(0) {
            return Err(RenderError::OutOfRange {
                owner: plan.stack.clone(),
                field: "backfill completions",
                value: 0,
            });
        }
        let worker = plan
            .components
            .iter()
            .find(|(_, c)| c.role == Some(Role::Worker) && c.external_url.is_none())
            .map(|(n, c)| (n.as_str(), c));
        if worker.is_none()
            && let Some(pipeline) = plan.pipelines.keys().next()
        {
            return Err(RenderError::NoWorker {
                pipeline: pipeline.clone(),
            });
        }
        for pipeline in plan.pipelines.keys() {
            for name in [
                pipeline::cron_job_name(pipeline),
                pipeline::backfill_name(pipeline),
            ] {
                if plan.components.contains_key(&name) {
                    return Err(RenderError::NameClash { name });
                }
            }
        }
        let cx = Cx {
            plan,
            options,
            worker,
        };
        if cx.needs_stack_file() {
            let Some(stack) = &options.stack_file else {
                return Err(RenderError::MissingStackFile);
            };
            let key_ok = !stack.file_name.is_empty()
                && stack.file_name.len() <= meta::SUBDOMAIN_MAX
                && stack
                    .file_name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !key_ok {
                return Err(RenderError::InvalidFileName {
                    file_name: stack.file_name.clone(),
                });
            }
        }
        Ok(cx)
    }

    /// Components berth deploys, in start order.
    pub(crate) fn deployed(&self) -> impl Iterator<Item = (&'a str, &'a PlannedComponent)> {
        let plan = self.plan;
        plan.order.iter().filter_map(move |name| {
            plan.components
                .get(name)
                .filter(|c| c.external_url.is_none())
                .map(|c| (name.as_str(), c))
        })
    }

    /// Whether a component runs berth itself and reads the stack file.
    pub(crate) fn reads_stack(component: &PlannedComponent) -> bool {
        matches!(component.role, Some(Role::Gateway | Role::Worker))
    }

    /// Whether any object mounts the stack file.
    pub(crate) fn needs_stack_file(&self) -> bool {
        !self.plan.pipelines.is_empty() || self.deployed().any(|(_, c)| Self::reads_stack(c))
    }

    /// An object's JSON, from its typed form.
    pub(crate) fn manifest<T: Serialize>(
        kind: &'static str,
        name: &str,
        object: &T,
    ) -> Result<Manifest, RenderError> {
        serde_json::to_value(object)
            .map(Manifest::new)
            .map_err(|source| RenderError::Serialize {
                kind,
                name: name.to_string(),
                source,
            })
    }
}

/// A number for an `int32` field.
pub(crate) fn int32(owner: &str, field: &'static str, value: u64) -> Result<i32, RenderError> {
    i32::try_from(value).map_err(|_| RenderError::OutOfRange {
        owner: owner.to_string(),
        field,
        value,
    })
}
