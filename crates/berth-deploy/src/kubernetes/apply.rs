//! Applies rendered manifests to a cluster as one apply set, prunes what left the set,
//! waits for the components in dependency order, and diffs before applying.
//!
//! # Brief overview
//!
//! - [`apply`] server-side applies every [`Manifest`] (field manager `berth`, forced),
//!   records the set in a parent Secret as the ApplySet KEP specifies (see [`ApplySet`]),
//!   prunes or reports the objects that left the set ([`Prune`]), then waits for each
//!   component's workloads in the Plan's order and returns an [`ApplyReport`].
//! - [`diff`] asks the server what applying would change (server-side apply with
//!   `dryRun=All`) and returns one [`Change`] per object, Secret values redacted.
//! - [`Progress`] events tell a caller what happens while it happens.
//!
//! Kinds are resolved through API discovery, so any kind the cluster serves can be
//! applied; namespaced objects without a namespace go to [`ApplyOptions::namespace`].
//! A component is a manifest's `app.kubernetes.io/instance` label.
//!
//! This module does not render manifests and never reads secret values.

use super::Manifest;
use base64::Engine as _;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use serde_json::{Map, Value, json};
use sha2::Digest as _;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::time::Duration;
use tokio::time::Instant;

/// Label on the apply set's parent: the set's id.
pub const APPLYSET_ID_LABEL: &str = "applyset.kubernetes.io/id";
/// Label on every member of an apply set: the id of the set it belongs to.
pub const APPLYSET_PART_OF_LABEL: &str = "applyset.kubernetes.io/part-of";
/// Annotation on the parent: the tool that manages the set, `berth/<version>`.
pub const APPLYSET_TOOLING_ANNOTATION: &str = "applyset.kubernetes.io/tooling";
/// Annotation on the parent: the group-kinds its members may have, e.g.
/// `ConfigMap,Deployment.apps`; pruning lists exactly these.
pub const APPLYSET_CONTAINS_GROUP_KINDS_ANNOTATION: &str =
    "applyset.kubernetes.io/contains-group-kinds";
/// Annotation on the parent: namespaces other than its own that hold members.
pub const APPLYSET_ADDITIONAL_NAMESPACES_ANNOTATION: &str =
    "applyset.kubernetes.io/additional-namespaces";
/// The label naming a manifest's component.
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/instance";

/// What happens to objects that left the apply set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Prune {
    /// Report them, delete nothing (the default: deleting is a decision a person takes).
    #[default]
    DryRun,
    /// Delete them.
    Delete,
}

/// How [`apply`] and [`diff`] act.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyOptions {
    /// The server-side apply field manager; `berth` by default.
    pub field_manager: String,
    /// The apply set's name: its parent is the Secret `applyset-<apply_set>` in
    /// [`namespace`](Self::namespace). Usually the stack's name.
    pub apply_set: String,
    /// The namespace for namespaced manifests that name none, and for the parent.
    pub namespace: String,
    /// What happens to objects that left the set; [`Prune::DryRun`] by default.
    pub prune: Prune,
    /// How long to wait, in all, for the components to become ready; `None` does not wait.
    pub wait: Option<Duration>,
    /// How often a not-yet-ready workload is read again while waiting (1 s by default).
    pub poll_interval: Duration,
}

impl ApplyOptions {
    /// Options for the apply set `apply_set` in `namespace`, with the defaults: field
    /// manager `berth`, prune as a dry run, no wait, polling every second.
    pub fn new(apply_set: impl Into<String>, namespace: impl Into<String>) -> ApplyOptions {
        ApplyOptions {
            field_manager: "berth".to_owned(),
            apply_set: apply_set.into(),
            namespace: namespace.into(),
            prune: Prune::DryRun,
            wait: None,
            poll_interval: Duration::from_secs(1),
        }
    }

    /// The apply set these options address.
    pub fn apply_set(&self) -> ApplySet {
        ApplySet::new(&format!("applyset-{}", self.apply_set), &self.namespace)
    }
}

/// An apply set's parent object and id, per the ApplySet KEP (KEP-3659): the parent is a
/// Secret; the id is `applyset-` + base64url (unpadded) of the SHA-256 of
/// `<name>.<namespace>.<kind>.<group>` + `-v1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplySet {
    /// The parent Secret's name.
    pub parent_name: String,
    /// The parent Secret's namespace.
    pub namespace: String,
    /// The id: the value of the parent's id label and of every member's part-of label.
    pub id: String,
}

impl ApplySet {
    /// The apply set whose parent is the Secret `parent_name` in `namespace`.
    pub fn new(parent_name: &str, namespace: &str) -> ApplySet {
        ApplySet {
            parent_name: parent_name.to_owned(),
            namespace: namespace.to_owned(),
            id: applyset_id(parent_name, namespace, "Secret", ""),
        }
    }
}

/// The KEP-3659 apply set id of a parent object.
pub fn applyset_id(name: &str, namespace: &str, kind: &str, group: &str) -> String {
    let digest = sha2::Sha256::digest(format!("{name}.{namespace}.{kind}.{group}"));
    format!(
        "applyset-{}-v1",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    )
}

/// Which object: enough to find it and to show it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    /// `apps/v1`, `v1`, …
    pub api_version: String,
    /// `Deployment`, …
    pub kind: String,
    /// The namespace; `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
}

impl ObjectRef {
    /// The API group (empty for the core group).
    pub fn group(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map_or("", |(group, _)| group)
    }

    /// Identity regardless of version: group, kind, namespace, name.
    fn identity(&self) -> (String, String, Option<String>, String) {
        (
            self.group().to_owned(),
            self.kind.clone(),
            self.namespace.clone(),
            self.name.clone(),
        )
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// What applying did to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It did not exist and was created.
    Created,
    /// It existed and changed.
    Configured,
    /// It existed and did not change.
    Unchanged,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Created => "created",
            Outcome::Configured => "configured",
            Outcome::Unchanged => "unchanged",
        })
    }
}

/// A workload that was not ready when the wait ended, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotReady {
    /// The workload.
    pub object: ObjectRef,
    /// Its component, when labelled.
    pub component: Option<String>,
    /// Why, from its status: failing conditions (`Available=False:
    /// MinimumReplicasUnavailable: …`), replica counts, an unobserved generation.
    pub reason: String,
}

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.object, self.reason)
    }
}

/// Something [`apply`] did or is doing, in the order it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// An object was applied.
    Applied {
        /// The object.
        object: ObjectRef,
        /// What the apply did.
        outcome: Outcome,
    },
    /// An object left the set; with [`Prune::DryRun`] it stays.
    WouldPrune {
        /// The object.
        object: ObjectRef,
    },
    /// An object that left the set was deleted.
    Pruned {
        /// The object.
        object: ObjectRef,
    },
    /// Waiting for a component's workloads begins.
    Waiting {
        /// The component.
        component: String,
    },
    /// A component's workloads are all ready.
    Ready {
        /// The component.
        component: String,
    },
    /// The wait ended before a component was ready.
    TimedOut {
        /// The component.
        component: String,
    },
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Progress::Applied { object, outcome } => write!(f, "{object} {outcome}"),
            Progress::WouldPrune { object } => write!(f, "{object} would be pruned (dry run)"),
            Progress::Pruned { object } => write!(f, "{object} pruned"),
            Progress::Waiting { component } => write!(f, "waiting for {component}"),
            Progress::Ready { component } => write!(f, "{component} ready"),
            Progress::TimedOut { component } => write!(f, "{component} not ready in time"),
        }
    }
}

/// How the wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitOutcome {
    /// No wait was asked for.
    Skipped,
    /// Every component became ready.
    Ready,
    /// Time ran out while waiting for `component`.
    TimedOut {
        /// The component being waited for.
        component: String,
        /// Every workload, of that component and of those after it, that was not ready.
        not_ready: Vec<NotReady>,
    },
}

/// What [`apply`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyReport {
    /// The apply set.
    pub apply_set: ApplySet,
    /// Every manifest, in the order applied, with what happened to it.
    pub applied: Vec<(ObjectRef, Outcome)>,
    /// Objects that left the set and were deleted.
    pub pruned: Vec<ObjectRef>,
    /// Objects that left the set and were kept ([`Prune::DryRun`]).
    pub would_prune: Vec<ObjectRef>,
    /// How the wait ended.
    pub wait: WaitOutcome,
}

impl ApplyReport {
    /// Whether nothing is left to wait for: the wait was skipped or all became ready.
    pub fn is_ready(&self) -> bool {
        !matches!(self.wait, WaitOutcome::TimedOut { .. })
    }
}

/// One field that applying would change; values are compact JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    /// The path, e.g. `spec.template.spec.containers[0].image`.
    pub path: String,
    /// The live value; `None` when absent.
    pub old: Option<String>,
    /// The value after applying; `None` when removed.
    pub new: Option<String>,
}

/// Shown instead of a Secret's values.
pub const REDACTED: &str = "(redacted)";

impl fmt::Display for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(absent)".to_owned());
        write!(
            f,
            "{}: {} → {}",
            self.path,
            show(&self.old),
            show(&self.new)
        )
    }
}

/// What applying a manifest set would do to one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// It does not exist and would be created.
    Create {
        /// The object.
        object: ObjectRef,
    },
    /// It exists and these fields would change.
    Update {
        /// The object.
        object: ObjectRef,
        /// The changed fields, in path order.
        fields: Vec<FieldChange>,
    },
    /// It exists and would not change.
    Unchanged {
        /// The object.
        object: ObjectRef,
    },
    /// It is in the apply set but not in the manifests: applying would prune it.
    Prune {
        /// The object.
        object: ObjectRef,
    },
}

impl Change {
    /// The object the change is about.
    pub fn object(&self) -> &ObjectRef {
        match self {
            Change::Create { object }
            | Change::Update { object, .. }
            | Change::Unchanged { object }
            | Change::Prune { object } => object,
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Create { object } => write!(f, "+ {object} (create)"),
            Change::Unchanged { object } => write!(f, "  {object} (unchanged)"),
            Change::Prune { object } => write!(f, "- {object} (prune)"),
            Change::Update { object, fields } => {
                write!(f, "~ {object} (update)")?;
                for field in fields {
                    write!(f, "\n    {field}")?;
                }
                Ok(())
            }
        }
    }
}

/// What went wrong talking to the cluster.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// A manifest lacks `apiVersion`, `kind` or `metadata.name`.
    #[error("manifest {index} has no {missing}")]
    InvalidManifest {
        /// Its position in the manifest list.
        index: usize,
        /// What it lacks.
        missing: &'static str,
    },
    /// The cluster does not serve a manifest's kind, or discovery failed.
    #[error("cannot resolve {api_version} {kind} on the cluster")]
    UnknownKind {
        /// The manifest's `apiVersion`.
        api_version: String,
        /// The manifest's `kind`.
        kind: String,
        /// Why.
        #[source]
        source: kube::Error,
    },
    /// A request about one object failed.
    #[error("cannot {action} {object}")]
    Request {
        /// What was being done: `apply`, `read`, `list`, `delete`, `dry-run apply`.
        action: &'static str,
        /// The object (for lists: the kind, with an empty name).
        object: Box<ObjectRef>,
        /// Why.
        #[source]
        source: kube::Error,
    },
    /// The apply set's parent exists but another tool manages it.
    #[error(
        "Secret {namespace}/{name} is managed by {tooling:?}, not berth; choose another apply set name"
    )]
    ForeignParent {
        /// The parent's name.
        name: String,
        /// The parent's namespace.
        namespace: String,
        /// Its tooling annotation.
        tooling: String,
    },
    /// The server answered something that is not a Kubernetes object.
    #[error("unexpected answer for {object}: {problem}")]
    BadResponse {
        /// The object asked about.
        object: ObjectRef,
        /// What was wrong with the answer.
        problem: String,
    },
}

/// A group-kind as the apply set annotation writes it: `Kind` or `Kind.group`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct GroupKind {
    group: String,
    kind: String,
}

impl GroupKind {
    fn parse(text: &str) -> Option<GroupKind> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        let (kind, group) = text.split_once('.').unwrap_or((text, ""));
        Some(GroupKind {
            group: group.to_owned(),
            kind: kind.to_owned(),
        })
    }
}

impl fmt::Display for GroupKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            f.write_str(&self.kind)
        } else {
            write!(f, "{}.{}", self.kind, self.group)
        }
    }
}

/// A manifest made ready to send: namespace filled in, part-of label set, kind resolved.
struct Prepared {
    object: Value,
    target: ObjectRef,
    resource: ApiResource,
    component: Option<String>,
}

/// Resolves kinds through discovery, once each.
struct Resolver {
    client: kube::Client,
    by_version: HashMap<(String, String), (ApiResource, ApiCapabilities)>,
    by_group_kind: HashMap<GroupKind, Option<(ApiResource, ApiCapabilities)>>,
}

impl Resolver {
    fn new(client: kube::Client) -> Resolver {
        Resolver {
            client,
            by_version: HashMap::new(),
            by_group_kind: HashMap::new(),
        }
    }

    async fn resolve(
        &mut self,
        api_version: &str,
        kind: &str,
    ) -> Result<(ApiResource, ApiCapabilities), ApplyError> {
        let key = (api_version.to_owned(), kind.to_owned());
        if let Some(found) = self.by_version.get(&key) {
            return Ok(found.clone());
        }
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let found = kube::discovery::pinned_kind(&self.client, &gvk)
            .await
            .map_err(|source| ApplyError::UnknownKind {
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
                source,
            })?;
        self.by_version.insert(key, found.clone());
        Ok(found)
    }

    /// The group's preferred version of a kind; `None` when the cluster does not serve it
    /// (any more): nothing of it can be listed.
    async fn resolve_group_kind(
        &mut self,
        gk: &GroupKind,
    ) -> Result<Option<(ApiResource, ApiCapabilities)>, ApplyError> {
        if let Some(found) = self.by_group_kind.get(gk) {
            return Ok(found.clone());
        }
        let found = match kube::discovery::group(&self.client, &gk.group).await {
            Ok(group) => group.recommended_kind(&gk.kind),
            Err(kube::Error::Discovery(_)) => None,
            Err(kube::Error::Api(status)) if status.code == 404 => None,
            Err(source) => {
                return Err(ApplyError::UnknownKind {
                    api_version: gk.group.clone(),
                    kind: gk.kind.clone(),
                    source,
                });
            }
        };
        self.by_group_kind.insert(gk.clone(), found.clone());
        Ok(found)
    }
}

fn api_for(
    client: &kube::Client,
    resource: &ApiResource,
    namespace: Option<&str>,
) -> Api<DynamicObject> {
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, resource),
        None => Api::all_with(client.clone(), resource),
    }
}

fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 404)
}

/// Checks and resolves every manifest, fills in the namespace, labels it part of the set.
async fn prepare(
    resolver: &mut Resolver,
    manifests: &[Manifest],
    options: &ApplyOptions,
    set: &ApplySet,
) -> Result<Vec<Prepared>, ApplyError> {
    let mut prepared = Vec::with_capacity(manifests.len());
    for (index, manifest) in manifests.iter().enumerate() {
        let missing = |missing| ApplyError::InvalidManifest { index, missing };
        if manifest.api_version().is_empty() {
            return Err(missing("apiVersion"));
        }
        if manifest.kind().is_empty() {
            return Err(missing("kind"));
        }
        if manifest.name().is_empty() {
            return Err(missing("metadata.name"));
        }
        let (resource, caps) = resolver
            .resolve(manifest.api_version(), manifest.kind())
            .await?;
        let namespaced = caps.scope == Scope::Namespaced;
        let mut object = manifest.object.clone();
        let namespace = if namespaced {
            let ns = manifest
                .namespace()
                .unwrap_or(&options.namespace)
                .to_owned();
            object["metadata"]["namespace"] = json!(ns);
            Some(ns)
        } else {
            if let Some(meta) = object["metadata"].as_object_mut() {
                meta.remove("namespace");
            }
            None
        };
        if !object["metadata"]["labels"].is_object() {
            object["metadata"]["labels"] = json!({});
        }
        object["metadata"]["labels"][APPLYSET_PART_OF_LABEL] = json!(set.id);
        prepared.push(Prepared {
            target: ObjectRef {
                api_version: manifest.api_version().to_owned(),
                kind: manifest.kind().to_owned(),
                namespace,
                name: manifest.name().to_owned(),
            },
            component: manifest.label(COMPONENT_LABEL).map(str::to_owned),
            object,
            resource,
        });
    }
    Ok(prepared)
}

/// The order kinds are applied in: what others refer to first.
fn kind_rank(kind: &str) -> usize {
    const ORDER: &[&str] = &[
        "Namespace",
        "NetworkPolicy",
        "ServiceAccount",
        "Secret",
        "ConfigMap",
        "PersistentVolumeClaim",
        "Service",
        "StatefulSet",
        "Deployment",
        "Job",
        "CronJob",
    ];
    ORDER.iter().position(|k| *k == kind).unwrap_or(ORDER.len())
}

/// What the parent records, read back from the cluster.
#[derive(Default)]
struct ParentState {
    exists: bool,
    group_kinds: BTreeSet<GroupKind>,
    namespaces: BTreeSet<String>,
}

fn parent_ref(set: &ApplySet) -> ObjectRef {
    ObjectRef {
        api_version: "v1".to_owned(),
        kind: "Secret".to_owned(),
        namespace: Some(set.namespace.clone()),
        name: set.parent_name.clone(),
    }
}

async fn read_parent(client: &kube::Client, set: &ApplySet) -> Result<ParentState, ApplyError> {
    let api = api_for(
        client,
        &ApiResource::erase::<k8s_openapi::api::core::v1::Secret>(&()),
        Some(&set.namespace),
    );
    let parent = api
        .get_opt(&set.parent_name)
        .await
        .map_err(|source| ApplyError::Request {
            action: "read",
            object: Box::new(parent_ref(set)),
            source,
        })?;
    let Some(parent) = parent else {
        return Ok(ParentState::default());
    };
    let annotations = parent.metadata.annotations.unwrap_or_default();
    if let Some(tooling) = annotations.get(APPLYSET_TOOLING_ANNOTATION)
        && !tooling.starts_with("berth/")
    {
        return Err(ApplyError::ForeignParent {
            name: set.parent_name.clone(),
            namespace: set.namespace.clone(),
            tooling: tooling.clone(),
        });
    }
    let list = |key: &str| -> Vec<String> {
        annotations
            .get(key)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(ParentState {
        exists: true,
        group_kinds: list(APPLYSET_CONTAINS_GROUP_KINDS_ANNOTATION)
            .iter()
            .filter_map(|s| GroupKind::parse(s))
            .collect(),
        namespaces: list(APPLYSET_ADDITIONAL_NAMESPACES_ANNOTATION)
            .into_iter()
            .collect(),
    })
}

async fn write_parent(
    client: &kube::Client,
    set: &ApplySet,
    options: &ApplyOptions,
    group_kinds: &BTreeSet<GroupKind>,
    namespaces: &BTreeSet<String>,
) -> Result<(), ApplyError> {
    let join = |items: Vec<String>| items.join(",");
    let mut annotations = Map::new();
    annotations.insert(
        APPLYSET_TOOLING_ANNOTATION.to_owned(),
        json!(format!("berth/{}", env!("CARGO_PKG_VERSION"))),
    );
    annotations.insert(
        APPLYSET_CONTAINS_GROUP_KINDS_ANNOTATION.to_owned(),
        json!(join({
            // Sorted as text, as kubectl writes it.
            let mut kinds: Vec<String> = group_kinds.iter().map(ToString::to_string).collect();
            kinds.sort();
            kinds
        })),
    );
    let additional: Vec<String> = namespaces
        .iter()
        .filter(|ns| **ns != set.namespace)
        .cloned()
        .collect();
    if !additional.is_empty() {
        annotations.insert(
            APPLYSET_ADDITIONAL_NAMESPACES_ANNOTATION.to_owned(),
            json!(join(additional)),
        );
    }
    let parent = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": set.parent_name,
            "namespace": set.namespace,
            "labels": {APPLYSET_ID_LABEL: set.id},
            "annotations": annotations,
        },
    });
    let api = api_for(
        client,
        &ApiResource::erase::<k8s_openapi::api::core::v1::Secret>(&()),
        Some(&set.namespace),
    );
    let params = PatchParams::apply(&options.field_manager).force();
    api.patch(&set.parent_name, &params, &Patch::Apply(&parent))
        .await
        .map_err(|source| ApplyError::Request {
            action: "apply",
            object: Box::new(parent_ref(set)),
            source,
        })?;
    Ok(())
}

/// Lists the members of the set of the given group-kinds that are not among `current`.
async fn prune_candidates(
    resolver: &mut Resolver,
    set: &ApplySet,
    group_kinds: &BTreeSet<GroupKind>,
    namespaces: &BTreeSet<String>,
    current: &BTreeSet<(String, String, Option<String>, String)>,
) -> Result<Vec<(ObjectRef, ApiResource)>, ApplyError> {
    let selector = format!("{APPLYSET_PART_OF_LABEL}={}", set.id);
    let mut candidates = Vec::new();
    for gk in group_kinds {
        let Some((resource, caps)) = resolver.resolve_group_kind(gk).await? else {
            continue;
        };
        let scopes: Vec<Option<&str>> = if caps.scope == Scope::Namespaced {
            namespaces.iter().map(|ns| Some(ns.as_str())).collect()
        } else {
            vec![None]
        };
        for namespace in scopes {
            let api = api_for(&resolver.client, &resource, namespace);
            let listed = ObjectRef {
                api_version: resource.api_version.clone(),
                kind: resource.kind.clone(),
                namespace: namespace.map(str::to_owned),
                name: String::new(),
            };
            let list = api
                .list(&ListParams::default().labels(&selector))
                .await
                .map_err(|source| ApplyError::Request {
                    action: "list",
                    object: Box::new(listed.clone()),
                    source,
                })?;
            for item in list.items {
                let Some(name) = item.metadata.name.clone() else {
                    return Err(ApplyError::BadResponse {
                        object: listed,
                        problem: "a listed object has no name".to_owned(),
                    });
                };
                let object = ObjectRef {
                    name,
                    namespace: item.metadata.namespace.clone(),
                    ..listed.clone()
                };
                if !current.contains(&object.identity()) {
                    candidates.push((object, resource.clone()));
                }
            }
        }
    }
    candidates.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(candidates)
}

/// Server-side applies `manifests` as the apply set of `options`, prunes, and waits.
///
/// The steps, in order: the parent Secret is read (the group-kinds it recorded); the
/// Namespaces among the manifests are applied (the parent lives in one); the parent is
/// applied recording the union of the old and new group-kinds, so that an interrupted
/// run still knows what to prune; every other manifest is applied (field manager
/// [`ApplyOptions::field_manager`], forced, labelled part of the set) in an order where
/// what others refer to comes first; members no longer in `manifests` are reported and,
/// with [`Prune::Delete`], deleted; the parent is applied again recording what remains;
/// then, if [`ApplyOptions::wait`] is set, the components are waited for in `order`
/// (components not in `order` afterwards, by name).
///
/// A timeout is not an error: the report's [`WaitOutcome::TimedOut`] lists every
/// workload that was not ready, and why.
pub async fn apply(
    client: kube::Client,
    manifests: &[Manifest],
    order: &[String],
    options: &ApplyOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<ApplyReport, ApplyError> {
    let set = options.apply_set();
    let mut resolver = Resolver::new(client.clone());
    let mut prepared = prepare(&mut resolver, manifests, options, &set).await?;
    prepared.sort_by_key(|p| kind_rank(&p.target.kind));
    let previous = read_parent(&client, &set).await?;

    let current_kinds: BTreeSet<GroupKind> = prepared
        .iter()
        .map(|p| GroupKind {
            group: p.target.group().to_owned(),
            kind: p.target.kind.clone(),
        })
        .collect();
    let mut current_namespaces: BTreeSet<String> = prepared
        .iter()
        .filter_map(|p| p.target.namespace.clone())
        .collect();
    current_namespaces.insert(set.namespace.clone());
    let all_kinds: BTreeSet<GroupKind> = previous
        .group_kinds
        .union(&current_kinds)
        .cloned()
        .collect();
    let all_namespaces: BTreeSet<String> = previous
        .namespaces
        .union(&current_namespaces)
        .cloned()
        .collect();

    let mut applied = Vec::with_capacity(prepared.len());
    let (namespaces, rest): (Vec<&Prepared>, Vec<&Prepared>) = prepared
        .iter()
        .partition(|p| p.target.kind == "Namespace" && p.target.group().is_empty());
    for item in &namespaces {
        let outcome = apply_one(&client, item, options).await?;
        progress(Progress::Applied {
            object: item.target.clone(),
            outcome,
        });
        applied.push((item.target.clone(), outcome));
    }
    write_parent(&client, &set, options, &all_kinds, &all_namespaces).await?;
    for item in &rest {
        let outcome = apply_one(&client, item, options).await?;
        progress(Progress::Applied {
            object: item.target.clone(),
            outcome,
        });
        applied.push((item.target.clone(), outcome));
    }

    let current: BTreeSet<_> = prepared.iter().map(|p| p.target.identity()).collect();
    let candidates =
        prune_candidates(&mut resolver, &set, &all_kinds, &all_namespaces, &current).await?;
    let mut pruned = Vec::new();
    let mut would_prune = Vec::new();
    for (object, resource) in candidates {
        match options.prune {
            Prune::DryRun => {
                progress(Progress::WouldPrune {
                    object: object.clone(),
                });
                would_prune.push(object);
            }
            Prune::Delete => {
                let api = api_for(&client, &resource, object.namespace.as_deref());
                match api.delete(&object.name, &DeleteParams::background()).await {
                    Ok(_) => {}
                    Err(error) if is_not_found(&error) => {}
                    Err(source) => {
                        return Err(ApplyError::Request {
                            action: "delete",
                            object: Box::new(object),
                            source,
                        });
                    }
                }
                progress(Progress::Pruned {
                    object: object.clone(),
                });
                pruned.push(object);
            }
        }
    }
    // The parent keeps what its members may still be: kept candidates count.
    let mut final_kinds = current_kinds;
    let mut final_namespaces = current_namespaces;
    for object in &would_prune {
        final_kinds.insert(GroupKind {
            group: object.group().to_owned(),
            kind: object.kind.clone(),
        });
        if let Some(ns) = &object.namespace {
            final_namespaces.insert(ns.clone());
        }
    }
    if final_kinds != all_kinds || final_namespaces != all_namespaces {
        write_parent(&client, &set, options, &final_kinds, &final_namespaces).await?;
    }

    let wait = match options.wait {
        None => WaitOutcome::Skipped,
        Some(timeout) => {
            wait_in_order(
                &client,
                &prepared,
                order,
                timeout,
                options.poll_interval,
                progress,
            )
            .await
        }
    };
    Ok(ApplyReport {
        apply_set: set,
        applied,
        pruned,
        would_prune,
        wait,
    })
}

async fn apply_one(
    client: &kube::Client,
    item: &Prepared,
    options: &ApplyOptions,
) -> Result<Outcome, ApplyError> {
    let api = api_for(client, &item.resource, item.target.namespace.as_deref());
    let error = |action| {
        move |source| ApplyError::Request {
            action,
            object: Box::new(item.target.clone()),
            source,
        }
    };
    let before = api
        .get_opt(&item.target.name)
        .await
        .map_err(error("read"))?;
    let params = PatchParams::apply(&options.field_manager).force();
    let after = api
        .patch(&item.target.name, &params, &Patch::Apply(&item.object))
        .await
        .map_err(error("apply"))?;
    Ok(match before {
        None => Outcome::Created,
        Some(before) if before.metadata.resource_version == after.metadata.resource_version => {
            Outcome::Unchanged
        }
        Some(_) => Outcome::Configured,
    })
}

/// Whether a workload kind is waited for.
fn is_workload(kind: &str) -> bool {
    matches!(kind, "Deployment" | "StatefulSet" | "Job")
}

/// `Ok(())` when the object is ready, else why not.
fn readiness(kind: &str, object: &Value) -> Result<(), String> {
    let status = &object["status"];
    let mut why = Vec::new();
    let conditions = status["conditions"].as_array().cloned().unwrap_or_default();
    let failing = |bad_when_false: &[&str], bad_when_true: &[&str]| -> Vec<String> {
        conditions
            .iter()
            .filter(|c| {
                let kind = c["type"].as_str().unwrap_or_default();
                let state = c["status"].as_str().unwrap_or_default();
                (bad_when_false.contains(&kind) && state == "False")
                    || (bad_when_true.contains(&kind) && state == "True")
            })
            .map(|c| {
                let mut text = format!(
                    "{}={}",
                    c["type"].as_str().unwrap_or_default(),
                    c["status"].as_str().unwrap_or_default()
                );
                for part in ["reason", "message"] {
                    if let Some(value) = c[part].as_str().filter(|v| !v.is_empty()) {
                        text.push_str(": ");
                        text.push_str(value);
                    }
                }
                text
            })
            .collect()
    };
    match kind {
        "Deployment" | "StatefulSet" => {
            let generation = object["metadata"]["generation"].as_i64().unwrap_or(0);
            let observed = status["observedGeneration"].as_i64().unwrap_or(0);
            let wanted = object["spec"]["replicas"].as_i64().unwrap_or(1);
            let ready = status["readyReplicas"].as_i64().unwrap_or(0);
            if observed >= generation && ready >= wanted {
                return Ok(());
            }
            why.extend(failing(&["Available", "Progressing"], &["ReplicaFailure"]));
            if observed < generation {
                why.push(format!(
                    "generation {generation} not yet observed by its controller (observed {observed})"
                ));
            }
            if ready < wanted {
                why.push(format!("{ready}/{wanted} replicas ready"));
            }
        }
        "Job" => {
            if object["spec"]["suspend"] == Value::Bool(true)
                || status["succeeded"].as_i64().unwrap_or(0) >= 1
            {
                return Ok(());
            }
            why.extend(failing(&["Complete"], &["Failed"]));
            why.push(format!(
                "not yet succeeded ({} active, {} failed)",
                status["active"].as_i64().unwrap_or(0),
                status["failed"].as_i64().unwrap_or(0)
            ));
        }
        _ => return Ok(()),
    }
    Err(why.join("; "))
}

/// The components in wait order: those in `order` first, then the others by name, then
/// unlabelled objects under the empty name.
fn components_in_order<'a>(
    prepared: &'a [Prepared],
    order: &[String],
) -> Vec<(String, Vec<&'a Prepared>)> {
    let mut groups: BTreeMap<Option<String>, Vec<&Prepared>> = BTreeMap::new();
    for item in prepared {
        groups.entry(item.component.clone()).or_default().push(item);
    }
    let mut ordered = Vec::new();
    for component in order {
        if let Some(items) = groups.remove(&Some(component.clone())) {
            ordered.push((component.clone(), items));
        }
    }
    let unlabelled = groups.remove(&None);
    for (component, items) in groups {
        ordered.push((component.unwrap_or_default(), items));
    }
    if let Some(items) = unlabelled
        && items.iter().any(|p| is_workload(&p.target.kind))
    {
        ordered.push((String::new(), items));
    }
    ordered
}

async fn check(client: &kube::Client, item: &Prepared) -> Result<(), String> {
    let api = api_for(client, &item.resource, item.target.namespace.as_deref());
    match api.get_opt(&item.target.name).await {
        Ok(Some(object)) => match serde_json::to_value(&object) {
            Ok(value) => readiness(&item.target.kind, &value),
            Err(error) => Err(format!("unreadable: {error}")),
        },
        Ok(None) => Err("not found".to_owned()),
        Err(error) => Err(format!("cannot read it: {error}")),
    }
}

async fn wait_in_order(
    client: &kube::Client,
    prepared: &[Prepared],
    order: &[String],
    timeout: Duration,
    poll_interval: Duration,
    progress: &mut dyn FnMut(Progress),
) -> WaitOutcome {
    let deadline = Instant::now() + timeout;
    let groups = components_in_order(prepared, order);
    for (index, (component, items)) in groups.iter().enumerate() {
        progress(Progress::Waiting {
            component: component.clone(),
        });
        let workloads: Vec<&&Prepared> = items
            .iter()
            .filter(|p| is_workload(&p.target.kind))
            .collect();
        loop {
            let mut all_ready = true;
            for item in &workloads {
                if check(client, item).await.is_err() {
                    all_ready = false;
                    break;
                }
            }
            if all_ready {
                progress(Progress::Ready {
                    component: component.clone(),
                });
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                progress(Progress::TimedOut {
                    component: component.clone(),
                });
                let mut not_ready = Vec::new();
                for (_, later) in &groups[index..] {
                    for item in later.iter().filter(|p| is_workload(&p.target.kind)) {
                        if let Err(reason) = check(client, item).await {
                            not_ready.push(NotReady {
                                object: item.target.clone(),
                                component: item.component.clone(),
                                reason,
                            });
                        }
                    }
                }
                return WaitOutcome::TimedOut {
                    component: component.clone(),
                    not_ready,
                };
            }
            tokio::time::sleep(poll_interval.min(deadline - now)).await;
        }
    }
    WaitOutcome::Ready
}

/// Fields the server owns, which a diff ignores.
fn normalised(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
    }
    if let Some(meta) = object["metadata"].as_object_mut() {
        for field in [
            "managedFields",
            "resourceVersion",
            "generation",
            "uid",
            "creationTimestamp",
        ] {
            meta.remove(field);
        }
    }
    object
}

fn is_secret(object: &ObjectRef) -> bool {
    object.kind == "Secret" && object.group().is_empty()
}

/// The changed leaves between `old` and `new`, with paths like `spec.ports[0].port`.
fn changed_fields(old: &Value, new: &Value, redact: bool) -> Vec<FieldChange> {
    fn render(value: Option<&Value>, secret: bool) -> Option<String> {
        value.map(|v| {
            if secret {
                REDACTED.to_owned()
            } else {
                v.to_string()
            }
        })
    }
    fn walk(
        old: Option<&Value>,
        new: Option<&Value>,
        path: &str,
        secret: bool,
        redact: bool,
        out: &mut Vec<FieldChange>,
    ) {
        if old == new {
            return;
        }
        let join = |key: &str| {
            if path.is_empty() {
                key.to_owned()
            } else {
                format!("{path}.{key}")
            }
        };
        match (old, new) {
            (Some(Value::Object(a)), Some(Value::Object(b))) => {
                let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
                for key in keys {
                    let secret = secret
                        || (redact && path.is_empty() && (key == "data" || key == "stringData"));
                    walk(a.get(key), b.get(key), &join(key), secret, redact, out);
                }
            }
            (Some(Value::Array(a)), Some(Value::Array(b))) => {
                for i in 0..a.len().max(b.len()) {
                    walk(
                        a.get(i),
                        b.get(i),
                        &format!("{path}[{i}]"),
                        secret,
                        redact,
                        out,
                    );
                }
            }
            _ => out.push(FieldChange {
                path: path.to_owned(),
                old: render(old, secret),
                new: render(new, secret),
            }),
        }
    }
    let mut out = Vec::new();
    walk(Some(old), Some(new), "", false, redact, &mut out);
    out
}

/// What applying `manifests` as the apply set of `options` would change, without
/// changing anything: each manifest is server-side applied with `dryRun=All` and the
/// answer compared with the live object (ignoring `status`, `managedFields`,
/// `resourceVersion`, `generation`, `uid`, `creationTimestamp`); members of the set
/// that are not among `manifests` are [`Change::Prune`]. Values under a Secret's
/// `data` and `stringData` are shown as [`REDACTED`].
pub async fn diff(
    client: kube::Client,
    manifests: &[Manifest],
    options: &ApplyOptions,
) -> Result<Vec<Change>, ApplyError> {
    let set = options.apply_set();
    let mut resolver = Resolver::new(client.clone());
    let prepared = prepare(&mut resolver, manifests, options, &set).await?;
    let mut changes = Vec::with_capacity(prepared.len());
    for item in &prepared {
        let api = api_for(&client, &item.resource, item.target.namespace.as_deref());
        let error = |action| {
            move |source| ApplyError::Request {
                action,
                object: Box::new(item.target.clone()),
                source,
            }
        };
        let live = api
            .get_opt(&item.target.name)
            .await
            .map_err(error("read"))?;
        let params = PatchParams::apply(&options.field_manager).force().dry_run();
        let after = api
            .patch(&item.target.name, &params, &Patch::Apply(&item.object))
            .await;
        let Some(live) = live else {
            // A new object is checked by the server too; only a namespace that this same
            // set creates may be missing yet.
            match after {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(error("dry-run apply")(e)),
            }
            changes.push(Change::Create {
                object: item.target.clone(),
            });
            continue;
        };
        let after = after.map_err(error("dry-run apply"))?;
        let to_value = |object: &DynamicObject| {
            serde_json::to_value(object).map_err(|e| ApplyError::BadResponse {
                object: item.target.clone(),
                problem: e.to_string(),
            })
        };
        let fields = changed_fields(
            &normalised(&to_value(&live)?),
            &normalised(&to_value(&after)?),
            is_secret(&item.target),
        );
        changes.push(if fields.is_empty() {
            Change::Unchanged {
                object: item.target.clone(),
            }
        } else {
            Change::Update {
                object: item.target.clone(),
                fields,
            }
        });
    }

    let parent = read_parent(&client, &set).await?;
    if parent.exists {
        let current: BTreeSet<_> = prepared.iter().map(|p| p.target.identity()).collect();
        let mut namespaces = parent.namespaces;
        namespaces.insert(set.namespace.clone());
        let mut kinds = parent.group_kinds;
        kinds.extend(prepared.iter().map(|p| GroupKind {
            group: p.target.group().to_owned(),
            kind: p.target.kind.clone(),
        }));
        for (object, _) in
            prune_candidates(&mut resolver, &set, &kinds, &namespaces, &current).await?
        {
            changes.push(Change::Prune { object });
        }
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applyset_id_follows_the_kep() {
        // KEP-3659: base64url(sha256("<name>.<namespace>.<kind>.<group>")), unpadded.
        let id = applyset_id("applyset-demo", "demo", "Secret", "");
        assert!(id.starts_with("applyset-") && id.ends_with("-v1"), "{id}");
        let digest = sha2::Sha256::digest(b"applyset-demo.demo.Secret.");
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
        assert_eq!(id, format!("applyset-{encoded}-v1"));
        assert!(!id.contains('='));
        assert_ne!(id, applyset_id("applyset-demo", "other", "Secret", ""));
    }

    #[test]
    fn group_kinds_round_trip() {
        for text in [
            "Deployment.apps",
            "ConfigMap",
            "NetworkPolicy.networking.k8s.io",
        ] {
            assert_eq!(GroupKind::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(GroupKind::parse(" "), None);
    }

    #[test]
    fn readiness_explains_itself() {
        let deployment = json!({
            "metadata": {"generation": 2},
            "spec": {"replicas": 2},
            "status": {"observedGeneration": 1, "readyReplicas": 0, "conditions": [
                {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
                 "message": "Deployment does not have minimum availability."},
                {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"},
            ]},
        });
        let why = readiness("Deployment", &deployment).unwrap_err();
        assert_eq!(
            why,
            "Available=False: MinimumReplicasUnavailable: Deployment does not have minimum \
             availability.; generation 2 not yet observed by its controller (observed 1); \
             0/2 replicas ready"
        );
        let ready = json!({"metadata": {"generation": 1}, "spec": {},
                           "status": {"observedGeneration": 1, "readyReplicas": 1}});
        assert_eq!(readiness("StatefulSet", &ready), Ok(()));
        assert_eq!(
            readiness("Job", &json!({"spec": {"suspend": true}})),
            Ok(())
        );
        assert_eq!(
            readiness("Job", &json!({"status": {"succeeded": 1}})),
            Ok(())
        );
        assert!(readiness("Job", &json!({"status": {"active": 1}})).is_err());
        assert_eq!(readiness("Service", &json!({})), Ok(()));
    }

    #[test]
    fn field_changes_have_paths_and_redact_secrets() {
        let old = json!({"spec": {"replicas": 1, "ports": [{"port": 80}]}, "data": {"k": "v"}});
        let new = json!({"spec": {"replicas": 2, "ports": [{"port": 80}, {"port": 81}]},
                         "data": {"k": "w"}});
        let shown: Vec<String> = changed_fields(&old, &new, false)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            shown,
            [
                "data.k: \"v\" → \"w\"",
                "spec.ports[1]: (absent) → {\"port\":81}",
                "spec.replicas: 1 → 2"
            ]
        );
        let secret = changed_fields(&old, &new, true);
        assert_eq!(secret[0].to_string(), "data.k: (redacted) → (redacted)");
    }
}
