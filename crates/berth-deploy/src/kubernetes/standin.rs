//! A stand-in Kubernetes API server, for tests where a real one cannot run.
//!
//! It is an in-memory server on loopback plain HTTP that speaks enough of the real wire
//! format for kube-rs and for [`apply`](super::apply): discovery (`/api`, `/api/v1`,
//! `/apis`, `/apis/<group>/<version>`, and aggregated discovery when a client asks for
//! it), server-side apply (`PATCH` with `application/apply-patch+yaml`, honouring
//! `fieldManager`, `force` and `dryRun=All`, keeping `metadata.managedFields`), `GET`,
//! `LIST` with `labelSelector`, and `DELETE`. Errors are `Status` objects with the real
//! codes and reasons (404 `NotFound`, 409 `Conflict`, 422 `Invalid`, …).
//!
//! It serves the kinds berth renders: `v1` Namespace, ConfigMap, Secret, Service,
//! PersistentVolumeClaim, ServiceAccount; `apps/v1` Deployment, StatefulSet; `batch/v1`
//! Job, CronJob; `networking.k8s.io/v1` NetworkPolicy.
//!
//! What it does not do: it runs no controllers (nothing schedules, nothing becomes ready
//! by itself unless [`StandIn::set_auto_ready`] says so, deleting a namespace removes
//! its objects at once), no admission and no defaulting (a namespace need not exist, a
//! Service gets no cluster IP), no watches, and its server-side apply merge is
//! simplified: maps merge field by field, lists are atomic (replaced whole, owned whole),
//! and `metadata.managedFields` records leaf fields in the `FieldsV1` shape without
//! `k:`/`v:` list keys. A test changes status, which no controller will, through the
//! handle: [`StandIn::set_status`] and [`StandIn::script_status`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use berth_deploy::kubernetes::standin::StandIn;
//! let server = StandIn::start().await?;
//! server.set_auto_ready(true); // workloads become ready as soon as they are written
//! let client = kube::Client::try_from(server.kube_config())?;
//! # let _ = client; Ok(()) }
//! ```

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;

/// A kind the stand-in serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ResourceType {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    singular: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    /// Whether the API server keeps `metadata.generation` for it (spec changes bump it).
    generation: bool,
}

impl ResourceType {
    fn group_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `deployments.apps`, `configmaps`: how the API server names a resource in messages.
    fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_owned()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    fn verbs(&self) -> Vec<&'static str> {
        let mut verbs = vec![
            "create", "delete", "get", "list", "patch", "update", "watch",
        ];
        if self.kind != "Namespace" {
            verbs.insert(1, "deletecollection");
        }
        verbs
    }
}

const fn resource(
    group: &'static str,
    kind: &'static str,
    plural: &'static str,
    singular: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    generation: bool,
) -> ResourceType {
    ResourceType {
        group,
        version: "v1",
        kind,
        plural,
        singular,
        namespaced,
        short_names,
        generation,
    }
}

const RESOURCES: &[ResourceType] = &[
    resource(
        "",
        "Namespace",
        "namespaces",
        "namespace",
        false,
        &["ns"],
        false,
    ),
    resource(
        "",
        "ConfigMap",
        "configmaps",
        "configmap",
        true,
        &["cm"],
        false,
    ),
    resource("", "Secret", "secrets", "secret", true, &[], false),
    resource("", "Service", "services", "service", true, &["svc"], false),
    resource(
        "",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        true,
        &["pvc"],
        false,
    ),
    resource(
        "",
        "ServiceAccount",
        "serviceaccounts",
        "serviceaccount",
        true,
        &["sa"],
        false,
    ),
    resource(
        "apps",
        "Deployment",
        "deployments",
        "deployment",
        true,
        &["deploy"],
        true,
    ),
    resource(
        "apps",
        "StatefulSet",
        "statefulsets",
        "statefulset",
        true,
        &["sts"],
        true,
    ),
    resource("batch", "Job", "jobs", "job", true, &[], true),
    resource(
        "batch",
        "CronJob",
        "cronjobs",
        "cronjob",
        true,
        &["cj"],
        true,
    ),
    resource(
        "networking.k8s.io",
        "NetworkPolicy",
        "networkpolicies",
        "networkpolicy",
        true,
        &["netpol"],
        true,
    ),
];

/// The groups, in the order discovery lists them (core first).
const GROUPS: &[&str] = &["", "apps", "batch", "networking.k8s.io"];

fn resource_by_plural(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

fn resource_by_kind(kind: &str) -> Option<&'static ResourceType> {
    RESOURCES.iter().find(|r| r.kind == kind)
}

/// A request the stand-in received.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// `GET`, `PATCH`, `DELETE`, …
    pub method: String,
    /// The path, e.g. `/apis/apps/v1/namespaces/demo/deployments/web`.
    pub path: String,
    /// The raw query string (still percent-encoded), empty when none.
    pub query: String,
    /// The decoded query parameters.
    pub params: BTreeMap<String, String>,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body as JSON (`null` when none or not JSON).
    pub body: Value,
}

impl RecordedRequest {
    /// The `fieldManager` query parameter, if any.
    pub fn field_manager(&self) -> Option<&str> {
        self.params.get("fieldManager").map(String::as_str)
    }

    /// Whether this was a dry run (`dryRun=All`).
    pub fn is_dry_run(&self) -> bool {
        self.params.get("dryRun").is_some_and(|v| v == "All")
    }
}

/// Where one object lives: resource, namespace (empty for cluster-scoped) and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    group: &'static str,
    plural: &'static str,
    namespace: String,
    name: String,
}

impl Key {
    fn new(resource: &ResourceType, namespace: Option<&str>, name: &str) -> Key {
        Key {
            group: resource.group,
            plural: resource.plural,
            namespace: if resource.namespaced {
                namespace.unwrap_or_default().to_owned()
            } else {
                String::new()
            },
            name: name.to_owned(),
        }
    }
}

#[derive(Default)]
struct Store {
    objects: BTreeMap<Key, Value>,
    /// The last resourceVersion given out.
    resource_version: u64,
    /// How many uids were given out.
    uids: u64,
    auto_ready: bool,
    /// Statuses a test fixed for objects, applied on every write of them.
    scripted: BTreeMap<Key, Value>,
    requests: Vec<RecordedRequest>,
}

impl Store {
    fn next_resource_version(&mut self) -> String {
        self.resource_version += 1;
        self.resource_version.to_string()
    }

    fn next_uid(&mut self) -> String {
        self.uids += 1;
        format!("00000000-0000-4000-8000-{:012x}", self.uids)
    }

    /// The status a write leaves on `object`: scripted, else auto-ready, else unchanged.
    fn settle_status(&self, key: &Key, resource: &ResourceType, object: &mut Value) {
        if let Some(status) = self.scripted.get(key) {
            object["status"] = status.clone();
        } else if self.auto_ready
            && let Some(status) = ready_status(resource, object)
        {
            object["status"] = status;
        }
    }
}

/// The status a controller would eventually write for a healthy workload.
fn ready_status(resource: &ResourceType, object: &Value) -> Option<Value> {
    let generation = object["metadata"]["generation"].clone();
    let replicas = object["spec"]["replicas"].as_i64().unwrap_or(1);
    match resource.kind {
        "Deployment" => Some(json!({
            "observedGeneration": generation,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                 "message": "Deployment has minimum availability."},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                 "message": "ReplicaSet has successfully progressed."},
            ],
        })),
        "StatefulSet" => Some(json!({
            "observedGeneration": generation,
            "replicas": replicas,
            "readyReplicas": replicas,
            "currentReplicas": replicas,
            "updatedReplicas": replicas,
            "availableReplicas": replicas,
        })),
        "Job" if object["spec"]["suspend"] != Value::Bool(true) => Some(json!({
            "succeeded": 1,
            "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached"},
                {"type": "Complete", "status": "True", "reason": "CompletionsReached"},
            ],
        })),
        _ => None,
    }
}

fn lock(store: &Mutex<Store>) -> MutexGuard<'_, Store> {
    // A panic while holding the lock leaves plain data behind; keep serving it.
    store.lock().unwrap_or_else(|e| e.into_inner())
}

struct Shared {
    addr: SocketAddr,
    store: Mutex<Store>,
}

/// A running stand-in Kubernetes API server on 127.0.0.1; stops when dropped.
pub struct StandIn {
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
}

impl StandIn {
    /// Starts a stand-in API server on a free loopback port, empty but for the
    /// `default` namespace, with auto-ready off.
    pub async fn start() -> std::io::Result<StandIn> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            addr,
            store: Mutex::new(Store::default()),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        let server = StandIn {
            shared,
            stop: Some(stop),
        };
        server.insert(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}),
        );
        Ok(server)
    }

    /// The server's URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// A kube client configuration for the server, with `default` as the namespace.
    pub fn kube_config(&self) -> kube::Config {
        // The URL is built from a socket address, so it always parses.
        let uri = self.url().parse().unwrap_or_default();
        kube::Config::new(uri)
    }

    /// A kubeconfig file's text whose current context points at the server, with
    /// `namespace` as the context's namespace; what a user's `KUBECONFIG` would hold.
    pub fn kubeconfig(&self, namespace: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: standin\n  cluster:\n    server: {}\n\
             users:\n- name: standin\n  user: {{}}\ncontexts:\n- name: standin\n  context:\n    \
             cluster: standin\n    user: standin\n    namespace: {namespace}\ncurrent-context: standin\n",
            self.url()
        )
    }

    /// Whether workloads become ready as soon as they are written, as if controllers ran
    /// instantly: Deployments and StatefulSets get `readyReplicas = spec.replicas` and
    /// `observedGeneration = generation`, Jobs that are not suspended succeed. Off by
    /// default, so that nothing is ready unless a test says so.
    pub fn set_auto_ready(&self, on: bool) {
        lock(&self.shared.store).auto_ready = on;
    }

    /// Fixes the status of an object, now if it exists and on every later write of it
    /// (overriding auto-ready), e.g. a Deployment that never becomes available.
    /// `kind` is one of the served kinds; `namespace` is ignored for cluster-scoped ones.
    pub fn script_status(&self, kind: &str, namespace: Option<&str>, name: &str, status: Value) {
        let Some(resource) = resource_by_kind(kind) else {
            return;
        };
        let key = Key::new(resource, namespace, name);
        let mut store = lock(&self.shared.store);
        store.scripted.insert(key.clone(), status.clone());
        if store.objects.contains_key(&key) {
            let rv = store.next_resource_version();
            if let Some(object) = store.objects.get_mut(&key) {
                object["status"] = status;
                object["metadata"]["resourceVersion"] = Value::String(rv);
            }
        }
    }

    /// Replaces the status of an existing object once, as a controller would; `false` if
    /// there is no such object. A later write may replace it again (auto-ready).
    pub fn set_status(
        &self,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        status: Value,
    ) -> bool {
        let Some(resource) = resource_by_kind(kind) else {
            return false;
        };
        let key = Key::new(resource, namespace, name);
        let mut store = lock(&self.shared.store);
        if !store.objects.contains_key(&key) {
            return false;
        }
        let rv = store.next_resource_version();
        if let Some(object) = store.objects.get_mut(&key) {
            object["status"] = status;
            object["metadata"]["resourceVersion"] = Value::String(rv);
        }
        true
    }

    /// Stores an object as given (plus uid, resourceVersion, creationTimestamp and
    /// generation), bypassing the API: for objects that exist before a test begins.
    /// Returns `false` when its `apiVersion`/`kind` is not served or it has no name.
    pub fn insert(&self, mut object: Value) -> bool {
        let Some(resource) = resource_of(&object) else {
            return false;
        };
        let Some(name) = object["metadata"]["name"].as_str().map(str::to_owned) else {
            return false;
        };
        let key = Key::new(resource, object["metadata"]["namespace"].as_str(), &name);
        let mut store = lock(&self.shared.store);
        let meta = &mut object["metadata"];
        meta["uid"] = Value::String(store.next_uid());
        meta["resourceVersion"] = Value::String(store.next_resource_version());
        meta["creationTimestamp"] = Value::String(now());
        if resource.generation {
            meta["generation"] = json!(1);
        }
        if resource.kind == "Namespace" {
            object["status"] = json!({"phase": "Active"});
        }
        store.objects.insert(key, object);
        true
    }

    /// The stored object, if any (`namespace` is ignored for cluster-scoped kinds).
    pub fn get(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        let resource = resource_by_kind(kind)?;
        lock(&self.shared.store)
            .objects
            .get(&Key::new(resource, namespace, name))
            .cloned()
    }

    /// Every stored object, ordered by group, resource, namespace and name.
    pub fn objects(&self) -> Vec<Value> {
        lock(&self.shared.store).objects.values().cloned().collect()
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.store).requests.clone()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        lock(&self.shared.store).requests.clear();
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn resource_of(object: &Value) -> Option<&'static ResourceType> {
    let api_version = object["apiVersion"].as_str()?;
    let kind = object["kind"].as_str()?;
    RESOURCES
        .iter()
        .find(|r| r.kind == kind && r.group_version() == api_version)
}

/// Now, as an RFC 3339 timestamp with whole seconds, as Kubernetes writes them.
fn now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    i64::try_from(secs)
        .ok()
        .and_then(|s| k8s_openapi::jiff::Timestamp::from_second(s).ok())
        .map_or_else(|| "1970-01-01T00:00:00Z".to_owned(), |t| t.to_string())
}

// ---------------------------------------------------------------------------------------
// HTTP

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A `Status` object, as the API server answers failures.
fn status_response(code: StatusCode, reason: &str, message: String, details: Value) -> Response {
    let mut body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code.as_u16(),
    });
    if !details.is_null() {
        body["details"] = details;
    }
    json_response(code, &body)
}

fn not_found(resource: &ResourceType, name: &str) -> Response {
    status_response(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("{} \"{name}\" not found", resource.qualified()),
        json!({"name": name, "group": resource.group, "kind": resource.plural}),
    )
}

fn bad_request(message: impl Into<String>) -> Response {
    status_response(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        message.into(),
        Value::Null,
    )
}

fn path_not_found(path: &str) -> Response {
    status_response(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("the server could not find the requested resource ({path})"),
        Value::Null,
    )
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = Query::<BTreeMap<String, String>>::try_from_uri(&uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let request = RecordedRequest {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        params,
        content_type,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    lock(&shared.store).requests.push(request.clone());

    let segments: Vec<&str> = uri.path().split('/').filter(|s| !s.is_empty()).collect();
    let (group, version, rest) = match segments.as_slice() {
        ["version"] if method == Method::GET => return version_info(),
        ["api"] if method == Method::GET => return core_versions(&shared, &accept),
        ["apis"] if method == Method::GET => return api_groups(&accept),
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return path_not_found(uri.path()),
    };
    if rest.is_empty() {
        return if method == Method::GET {
            resource_list(group, version).unwrap_or_else(|| path_not_found(uri.path()))
        } else {
            path_not_found(uri.path())
        };
    }
    // [namespaces, ns, plural, name?] or [plural, name?]
    let (namespace, plural, name) = match rest {
        ["namespaces", ns, plural] => (Some(*ns), *plural, None),
        ["namespaces", ns, plural, name] => (Some(*ns), *plural, Some(*name)),
        [plural] => (None, *plural, None),
        [plural, name] => (None, *plural, Some(*name)),
        _ => return path_not_found(uri.path()),
    };
    let Some(resource) = resource_by_plural(group, version, plural) else {
        return path_not_found(uri.path());
    };
    if !resource.namespaced && namespace.is_some() {
        return path_not_found(uri.path());
    }
    if resource.namespaced && name.is_some() && namespace.is_none() {
        return path_not_found(uri.path());
    }
    let store = &shared.store;
    match (method, name) {
        (Method::GET, None) => list(store, resource, namespace, &request.params),
        (Method::GET, Some(name)) => get_one(store, resource, namespace, name),
        (Method::PATCH, Some(name)) => patch(store, resource, namespace, name, &request, &body),
        (Method::DELETE, Some(name)) => delete(store, resource, namespace, name, &request.params),
        (method, _) => status_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!(
                "the stand-in API server does not serve {method} on {}",
                uri.path()
            ),
            Value::Null,
        ),
    }
}

fn version_info() -> Response {
    json_response(
        StatusCode::OK,
        &json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0-berth-standin",
                "platform": "linux/amd64"}),
    )
}

const AGGREGATED: &str = "as=APIGroupDiscoveryList";

/// Whether the client asked for aggregated discovery (it sends it first in `Accept`).
fn wants_aggregated(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains(AGGREGATED))
}

fn core_versions(shared: &Shared, accept: &str) -> Response {
    if wants_aggregated(accept) {
        return aggregated(&[""]);
    }
    json_response(
        StatusCode::OK,
        &json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": shared.addr.to_string()}
            ],
        }),
    )
}

fn api_groups(accept: &str) -> Response {
    let named: Vec<&str> = GROUPS.iter().copied().filter(|g| !g.is_empty()).collect();
    if wants_aggregated(accept) {
        return aggregated(&named);
    }
    let groups: Vec<Value> = named
        .iter()
        .map(|g| {
            let version = json!({"groupVersion": format!("{g}/v1"), "version": "v1"});
            json!({"name": g, "versions": [version], "preferredVersion": version})
        })
        .collect();
    json_response(
        StatusCode::OK,
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
    )
}

/// The aggregated discovery document (`apidiscovery.k8s.io/v2`) for `groups`.
fn aggregated(groups: &[&str]) -> Response {
    let items: Vec<Value> = groups
        .iter()
        .map(|group| {
            let resources: Vec<Value> = RESOURCES
                .iter()
                .filter(|r| r.group == *group)
                .map(|r| {
                    json!({
                        "resource": r.plural,
                        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
                        "singularResource": r.singular,
                        "verbs": r.verbs(),
                        "shortNames": r.short_names,
                    })
                })
                .collect();
            json!({
                "metadata": {"name": group},
                "versions": [{"version": "v1", "resources": resources, "freshness": "Current"}],
            })
        })
        .collect();
    let body = json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    });
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
        )],
        body.to_string(),
    )
        .into_response()
}

fn resource_list(group: &str, version: &str) -> Option<Response> {
    if version != "v1" || !GROUPS.contains(&group) {
        return None;
    }
    let resources: Vec<Value> = RESOURCES
        .iter()
        .filter(|r| r.group == group)
        .map(|r| {
            let mut entry = json!({
                "name": r.plural,
                "singularName": r.singular,
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": r.verbs(),
            });
            if !r.short_names.is_empty() {
                entry["shortNames"] = json!(r.short_names);
            }
            entry
        })
        .collect();
    let group_version = if group.is_empty() {
        "v1".to_owned()
    } else {
        format!("{group}/v1")
    };
    Some(json_response(
        StatusCode::OK,
        &json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version,
            "resources": resources,
        }),
    ))
}

/// Lists objects; without a namespace, a namespaced resource is listed across all.
fn list(
    store: &Mutex<Store>,
    resource: &ResourceType,
    namespace: Option<&str>,
    params: &BTreeMap<String, String>,
) -> Response {
    if params.get("watch").is_some_and(|w| w == "true" || w == "1") {
        return status_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "the stand-in API server does not serve watches".to_owned(),
            Value::Null,
        );
    }
    let selector = match params.get("labelSelector") {
        Some(text) => match LabelSelector::parse(text) {
            Ok(selector) => selector,
            Err(message) => return bad_request(message),
        },
        None => LabelSelector::default(),
    };
    let store = lock(store);
    let items: Vec<Value> = store
        .objects
        .iter()
        .filter(|(key, _)| key.group == resource.group && key.plural == resource.plural)
        .filter(|(key, _)| namespace.is_none_or(|ns| key.namespace == ns))
        .filter(|(_, object)| selector.matches(&object["metadata"]["labels"]))
        .map(|(_, object)| {
            // Items of a list carry no apiVersion/kind, as with the real server.
            let mut item = object.clone();
            if let Some(map) = item.as_object_mut() {
                map.remove("apiVersion");
                map.remove("kind");
            }
            item
        })
        .collect();
    json_response(
        StatusCode::OK,
        &json!({
            "kind": format!("{}List", resource.kind),
            "apiVersion": resource.group_version(),
            "metadata": {"resourceVersion": store.resource_version.to_string()},
            "items": items,
        }),
    )
}

fn get_one(
    store: &Mutex<Store>,
    resource: &ResourceType,
    namespace: Option<&str>,
    name: &str,
) -> Response {
    match lock(store)
        .objects
        .get(&Key::new(resource, namespace, name))
    {
        Some(object) => json_response(StatusCode::OK, object),
        None => not_found(resource, name),
    }
}

fn dry_run(params: &BTreeMap<String, String>) -> Result<bool, String> {
    match params.get("dryRun").map(String::as_str) {
        None | Some("") => Ok(false),
        Some("All") => Ok(true),
        Some(other) => Err(format!(
            "invalid dry run value {other:?}: only \"All\" is supported"
        )),
    }
}

fn delete(
    store: &Mutex<Store>,
    resource: &ResourceType,
    namespace: Option<&str>,
    name: &str,
    params: &BTreeMap<String, String>,
) -> Response {
    let dry = match dry_run(params) {
        Ok(dry) => dry,
        Err(message) => return bad_request(message),
    };
    let key = Key::new(resource, namespace, name);
    let mut store = lock(store);
    let Some(object) = store.objects.get(&key).cloned() else {
        return not_found(resource, name);
    };
    if dry {
        return json_response(StatusCode::OK, &object);
    }
    store.objects.remove(&key);
    if resource.kind == "Namespace" {
        // Stands in for the namespace controller: the contents go at once.
        store.objects.retain(|k, _| k.namespace != name);
        let mut object = object;
        object["metadata"]["deletionTimestamp"] = Value::String(now());
        object["status"] = json!({"phase": "Terminating"});
        return json_response(StatusCode::OK, &object);
    }
    json_response(
        StatusCode::OK,
        &json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {
                "name": name,
                "group": resource.group,
                "kind": resource.plural,
                "uid": object["metadata"]["uid"],
            },
        }),
    )
}

/// A DNS-1123 subdomain, as object names must be.
fn valid_name(name: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.';
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    !name.is_empty()
        && name.len() <= 253
        && name.chars().all(ok_char)
        && alnum(name.chars().next())
        && alnum(name.chars().last())
}

fn patch(
    store: &Mutex<Store>,
    resource: &ResourceType,
    namespace: Option<&str>,
    name: &str,
    request: &RecordedRequest,
    body: &[u8],
) -> Response {
    let content_type = request.content_type.as_deref().unwrap_or_default();
    if !content_type.starts_with("application/apply-patch+yaml") {
        return status_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!(
                "the stand-in API server only serves server-side apply patches \
                 (application/apply-patch+yaml), not {content_type:?}"
            ),
            Value::Null,
        );
    }
    let Some(manager) = request.field_manager().filter(|m| !m.is_empty()) else {
        return bad_request("PATCH requests with apply content type need a fieldManager");
    };
    let force = request.params.get("force").is_some_and(|f| f == "true");
    let dry = match dry_run(&request.params) {
        Ok(dry) => dry,
        Err(message) => return bad_request(message),
    };
    let config: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(_) => match std::str::from_utf8(body)
            .ok()
            .and_then(|text| serde_saphyr::from_str::<Value>(text).ok())
        {
            Some(value) => value,
            None => return bad_request("the apply patch is neither JSON nor YAML"),
        },
    };
    if !config.is_object() {
        return bad_request("the apply patch is not an object");
    }
    if config["apiVersion"].as_str() != Some(&resource.group_version())
        || config["kind"].as_str() != Some(resource.kind)
    {
        return bad_request(format!(
            "the apply patch's apiVersion/kind ({}/{}) is not {}/{} as the URL says",
            config["apiVersion"].as_str().unwrap_or("?"),
            config["kind"].as_str().unwrap_or("?"),
            resource.group_version(),
            resource.kind,
        ));
    }
    match config["metadata"]["name"].as_str() {
        Some(n) if n != name => {
            return bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            ));
        }
        _ => {}
    }
    if resource.namespaced
        && let Some(ns) = config["metadata"]["namespace"].as_str()
        && Some(ns) != namespace
    {
        return bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        );
    }
    if !valid_name(name) {
        return status_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            format!(
                "{} \"{name}\" is invalid: metadata.name: Invalid value: \"{name}\": a lowercase \
                 RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'",
                resource.kind
            ),
            json!({"name": name, "group": resource.group, "kind": resource.kind,
                   "causes": [{"reason": "FieldValueInvalid", "field": "metadata.name"}]}),
        );
    }

    let key = Key::new(resource, namespace, name);
    let mut store = lock(store);
    let live = store.objects.get(&key).cloned();
    let applied = match ssa::apply(live.as_ref(), &config, manager, force, &now()) {
        Ok(applied) => applied,
        Err(conflicts) => {
            let fields: Vec<String> = conflicts
                .iter()
                .map(|(m, path)| format!("conflict with \"{m}\": .{}", path.join(".")))
                .collect();
            return status_response(
                StatusCode::CONFLICT,
                "Conflict",
                format!(
                    "Apply failed with {} conflict{}: {}",
                    conflicts.len(),
                    if conflicts.len() == 1 { "" } else { "s" },
                    fields.join(", ")
                ),
                json!({"name": name, "group": resource.group, "kind": resource.plural}),
            );
        }
    };
    let mut object = applied;
    object["apiVersion"] = json!(resource.group_version());
    object["kind"] = json!(resource.kind);
    object["metadata"]["name"] = json!(name);
    if resource.namespaced {
        object["metadata"]["namespace"] = json!(namespace.unwrap_or_default());
    } else if let Some(meta) = object["metadata"].as_object_mut() {
        meta.remove("namespace");
    }
    // Status is never written through the main resource.
    match &live {
        Some(live) if !live["status"].is_null() => object["status"] = live["status"].clone(),
        _ => {
            if let Some(map) = object.as_object_mut() {
                map.remove("status");
            }
        }
    }
    let created = live.is_none();
    match &live {
        None => {
            let meta = &mut object["metadata"];
            meta["uid"] = json!(store.next_uid());
            meta["creationTimestamp"] = json!(now());
            if resource.generation {
                meta["generation"] = json!(1);
            }
            if resource.kind == "Namespace" {
                object["status"] = json!({"phase": "Active"});
            }
        }
        Some(live) => {
            let meta = &mut object["metadata"];
            for field in ["uid", "creationTimestamp", "generation", "resourceVersion"] {
                if !live["metadata"][field].is_null() {
                    meta[field] = live["metadata"][field].clone();
                }
            }
            if resource.generation
                && ssa::without_meta_and_status(live) != ssa::without_meta_and_status(&object)
            {
                let generation = live["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
                object["metadata"]["generation"] = json!(generation);
            }
        }
    }
    if live.as_ref() == Some(&object) {
        // Nothing changed: no write, no new resourceVersion.
        return json_response(StatusCode::OK, &object);
    }
    if dry {
        if created && let Some(meta) = object["metadata"].as_object_mut() {
            meta.remove("resourceVersion");
        }
        let code = if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        return json_response(code, &object);
    }
    store.settle_status(&key, resource, &mut object);
    object["metadata"]["resourceVersion"] = json!(store.next_resource_version());
    store.objects.insert(key, object.clone());
    let code = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    json_response(code, &object)
}

// ---------------------------------------------------------------------------------------
// Label selectors

#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Exists(String),
    NotExists(String),
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

/// A parsed `labelSelector`: requirements that must all hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct LabelSelector(Vec<Requirement>);

impl LabelSelector {
    /// Parses `key`, `!key`, `key=value`, `key==value`, `key!=value`, `key in (a,b)` and
    /// `key notin (a,b)`, separated by commas.
    fn parse(text: &str) -> Result<LabelSelector, String> {
        let mut terms = Vec::new();
        let mut depth = 0usize;
        let mut start = 0;
        for (i, c) in text.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                ',' if depth == 0 => {
                    terms.push(&text[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        terms.push(&text[start..]);
        let mut requirements = Vec::new();
        for term in terms.into_iter().map(str::trim).filter(|t| !t.is_empty()) {
            requirements.push(Self::requirement(term)?);
        }
        Ok(LabelSelector(requirements))
    }

    fn requirement(term: &str) -> Result<Requirement, String> {
        let invalid = || format!("unable to parse requirement: {term:?}");
        let set = |rest: &str| -> Result<Vec<String>, String> {
            let inner = rest
                .trim()
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(invalid)?;
            Ok(inner.split(',').map(|v| v.trim().to_owned()).collect())
        };
        if let Some(key) = term.strip_prefix('!') {
            return Ok(Requirement::NotExists(key.trim().to_owned()));
        }
        if let Some((key, value)) = term.split_once("!=") {
            return Ok(Requirement::NotEquals(
                key.trim().into(),
                value.trim().into(),
            ));
        }
        if let Some((key, value)) = term.split_once("==").or_else(|| term.split_once('=')) {
            return Ok(Requirement::Equals(key.trim().into(), value.trim().into()));
        }
        if let Some((key, rest)) = term.split_once(" notin ") {
            return Ok(Requirement::NotIn(key.trim().into(), set(rest)?));
        }
        if let Some((key, rest)) = term.split_once(" in ") {
            return Ok(Requirement::In(key.trim().into(), set(rest)?));
        }
        if term.contains(char::is_whitespace) || term.contains(['(', ')']) {
            return Err(invalid());
        }
        Ok(Requirement::Exists(term.to_owned()))
    }

    fn matches(&self, labels: &Value) -> bool {
        let label = |key: &str| labels.get(key).and_then(Value::as_str);
        self.0.iter().all(|requirement| match requirement {
            Requirement::Exists(key) => label(key).is_some(),
            Requirement::NotExists(key) => label(key).is_none(),
            Requirement::Equals(key, value) => label(key) == Some(value.as_str()),
            Requirement::NotEquals(key, value) => label(key) != Some(value.as_str()),
            Requirement::In(key, values) => {
                label(key).is_some_and(|l| values.iter().any(|v| v == l))
            }
            Requirement::NotIn(key, values) => {
                label(key).is_none_or(|l| values.iter().all(|v| v != l))
            }
        })
    }
}

// ---------------------------------------------------------------------------------------
// Server-side apply, simplified

/// The merge of an applied configuration into a live object, with field ownership.
mod ssa {
    use super::{BTreeSet, HashMap, Map, Value, json};

    /// A field path: the keys from the object's root to a leaf.
    pub(super) type Path = Vec<String>;

    /// Fields the server keeps for itself; never owned by a manager.
    const SYSTEM_METADATA: &[&str] = &[
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "managedFields",
        "deletionTimestamp",
    ];

    /// The leaf paths a configuration sets: maps are descended, anything else (scalars,
    /// lists, empty maps) is a leaf.
    pub(super) fn leaf_paths(config: &Value) -> BTreeSet<Path> {
        fn walk(value: &Value, prefix: &mut Path, out: &mut BTreeSet<Path>) {
            match value {
                Value::Object(map) if !map.is_empty() => {
                    for (key, child) in map {
                        let skip = match prefix.as_slice() {
                            [] => matches!(key.as_str(), "apiVersion" | "kind" | "status"),
                            [meta] if meta == "metadata" => SYSTEM_METADATA.contains(&key.as_str()),
                            _ => false,
                        };
                        if skip {
                            continue;
                        }
                        prefix.push(key.clone());
                        walk(child, prefix, out);
                        prefix.pop();
                    }
                }
                _ if !prefix.is_empty() => {
                    out.insert(prefix.clone());
                }
                _ => {}
            }
        }
        let mut out = BTreeSet::new();
        walk(config, &mut Vec::new(), &mut out);
        out
    }

    fn get<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
        path.iter().try_fold(value, |v, key| v.get(key))
    }

    fn remove(value: &mut Value, path: &[String]) {
        let Some((last, parents)) = path.split_last() else {
            return;
        };
        {
            let mut current = &mut *value;
            for key in parents {
                match current.get_mut(key) {
                    Some(next) => current = next,
                    None => return,
                }
            }
            if let Some(map) = current.as_object_mut() {
                map.remove(last);
            }
        }
        // Maps left empty by the removal go too, except the top-level ones.
        if parents.len() > 1
            && get(value, parents).is_some_and(|v| v.as_object().is_some_and(Map::is_empty))
        {
            remove(value, parents);
        }
    }

    /// Merges `config` into `target`: maps field by field, anything else replaced.
    fn merge(target: &mut Value, config: &Value) {
        match (target, config) {
            (Value::Object(target), Value::Object(config)) => {
                for (key, value) in config {
                    match target.get_mut(key) {
                        Some(existing) if existing.is_object() && value.is_object() => {
                            merge(existing, value)
                        }
                        _ => {
                            target.insert(key.clone(), value.clone());
                        }
                    }
                }
            }
            (target, config) => *target = config.clone(),
        }
    }

    /// `FieldsV1` for a set of leaf paths: `{"f:spec": {"f:replicas": {}}}`.
    fn fields_v1(paths: &BTreeSet<Path>) -> Value {
        let mut root = Map::new();
        for path in paths {
            let mut node = &mut root;
            for key in path {
                let entry = node
                    .entry(format!("f:{key}"))
                    .or_insert_with(|| Value::Object(Map::new()));
                match entry.as_object_mut() {
                    Some(next) => node = next,
                    None => break,
                }
            }
        }
        Value::Object(root)
    }

    /// The leaf paths of a `FieldsV1` value.
    fn paths_of(fields: &Value) -> BTreeSet<Path> {
        fn walk(node: &Value, prefix: &mut Path, out: &mut BTreeSet<Path>) {
            let Some(map) = node.as_object() else {
                return;
            };
            let children: Vec<_> = map
                .iter()
                .filter_map(|(k, v)| k.strip_prefix("f:").map(|k| (k, v)))
                .collect();
            if children.is_empty() {
                if !prefix.is_empty() {
                    out.insert(prefix.clone());
                }
                return;
            }
            for (key, child) in children {
                prefix.push(key.to_owned());
                walk(child, prefix, out);
                prefix.pop();
            }
        }
        let mut out = BTreeSet::new();
        walk(fields, &mut Vec::new(), &mut out);
        out
    }

    fn overlaps(a: &[String], b: &[String]) -> bool {
        a.starts_with(b) || b.starts_with(a)
    }

    /// The object without `metadata` and `status`: what a generation counts.
    pub(super) fn without_meta_and_status(object: &Value) -> Value {
        let mut object = object.clone();
        if let Some(map) = object.as_object_mut() {
            map.remove("metadata");
            map.remove("status");
        }
        object
    }

    /// Applies `config` for `manager` on top of `live` (or nothing). Fields other
    /// managers own with a different value are conflicts (manager, path), unless `force`
    /// takes them over. Fields this manager applied before and no longer applies are
    /// removed unless another manager owns them. Returns the new object with its
    /// `metadata.managedFields`, system metadata copied from `live` by the caller.
    pub(super) fn apply(
        live: Option<&Value>,
        config: &Value,
        manager: &str,
        force: bool,
        time: &str,
    ) -> Result<Value, Vec<(String, Path)>> {
        let applied = leaf_paths(config);
        let mut entries: Vec<Value> = live
            .and_then(|l| l["metadata"]["managedFields"].as_array())
            .cloned()
            .unwrap_or_default();
        let mut owned: HashMap<usize, BTreeSet<Path>> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (i, paths_of(&e["fieldsV1"])))
            .collect();
        let mine = entries
            .iter()
            .position(|e| e["manager"] == manager && e["operation"] == "Apply");

        let mut conflicts = Vec::new();
        if let Some(live) = live {
            for (i, entry) in entries.iter().enumerate() {
                if Some(i) == mine {
                    continue;
                }
                let Some(paths) = owned.get_mut(&i) else {
                    continue;
                };
                let mut taken = Vec::new();
                for theirs in paths.iter() {
                    for ours in applied.iter().filter(|p| overlaps(p, theirs)) {
                        if get(live, ours) != get(config, ours) {
                            conflicts.push((
                                entry["manager"].as_str().unwrap_or_default().to_owned(),
                                ours.clone(),
                            ));
                            taken.push(theirs.clone());
                        }
                    }
                }
                if force {
                    for path in taken {
                        paths.remove(&path);
                    }
                }
            }
        }
        if !conflicts.is_empty() && !force {
            return Err(conflicts);
        }

        let mut object = live.cloned().unwrap_or_else(|| json!({"metadata": {}}));
        if let Some(meta) = object["metadata"].as_object_mut() {
            meta.remove("managedFields");
        }
        let previous = mine
            .and_then(|i| owned.get(&i))
            .cloned()
            .unwrap_or_default();
        for path in previous.difference(&applied) {
            let owned_elsewhere = owned
                .iter()
                .any(|(i, paths)| Some(*i) != mine && paths.iter().any(|p| overlaps(p, path)));
            if !owned_elsewhere {
                remove(&mut object, path);
            }
        }
        let mut config = config.clone();
        if let Some(map) = config.as_object_mut() {
            map.remove("status");
        }
        merge(&mut object, &config);

        // Rebuild managedFields in place: others as they were (less forced-away fields),
        // ours with what it applies now (appended when it is new).
        let ours = (!applied.is_empty()).then(|| {
            let fields = fields_v1(&applied);
            let time = match mine.map(|i| &entries[i]) {
                Some(old) if old["fieldsV1"] == fields => old["time"].clone(),
                _ => json!(time),
            };
            json!({
                "manager": manager,
                "operation": "Apply",
                "apiVersion": config["apiVersion"],
                "time": time,
                "fieldsType": "FieldsV1",
                "fieldsV1": fields,
            })
        });
        let mut rebuilt = Vec::new();
        let mut ours = ours;
        for (i, entry) in entries.iter_mut().enumerate() {
            if Some(i) == mine {
                rebuilt.extend(ours.take());
                continue;
            }
            let paths = owned.remove(&i).unwrap_or_default();
            if paths.is_empty() {
                continue;
            }
            entry["fieldsV1"] = fields_v1(&paths);
            rebuilt.push(entry.clone());
        }
        rebuilt.extend(ours);
        if !rebuilt.is_empty() {
            object["metadata"]["managedFields"] = Value::Array(rebuilt);
        }
        Ok(object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_selectors_parse_and_match() {
        let labels = json!({"app": "web", "tier": "front"});
        let cases = [
            ("app", true),
            ("!app", false),
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app=web,tier=front", true),
            ("app=web,tier=back", false),
            ("missing!=x", true),
            ("tier in (front, back)", true),
            ("tier notin (front)", false),
            ("app=web, tier in (a,front), !missing", true),
        ];
        for (selector, expected) in cases {
            let parsed = LabelSelector::parse(selector).unwrap();
            assert_eq!(parsed.matches(&labels), expected, "{selector}");
        }
        assert!(LabelSelector::parse("tier in front").is_err());
    }

    #[test]
    fn apply_merges_maps_and_removes_fields_the_manager_dropped() {
        let first = json!({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": "c", "labels": {"a": "1", "b": "2"}},
                           "data": {"x": "1", "y": "2"}});
        let live = ssa::apply(None, &first, "berth", false, "t").unwrap();
        assert_eq!(live["data"], json!({"x": "1", "y": "2"}));
        let fields = &live["metadata"]["managedFields"][0];
        assert_eq!(fields["manager"], "berth");
        assert_eq!(fields["operation"], "Apply");
        assert_eq!(fields["fieldsV1"]["f:data"]["f:x"], json!({}));
        assert!(fields["fieldsV1"]["f:metadata"].get("f:name").is_none());

        let second = json!({"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": "c", "labels": {"a": "1"}},
                            "data": {"x": "3"}});
        let live = ssa::apply(Some(&live), &second, "berth", false, "t").unwrap();
        assert_eq!(live["data"], json!({"x": "3"}));
        assert_eq!(live["metadata"]["labels"], json!({"a": "1"}));
    }

    #[test]
    fn apply_conflicts_with_another_manager_unless_forced() {
        let mine = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                          "metadata": {"name": "d"}, "spec": {"replicas": 1}});
        let live = ssa::apply(None, &mine, "berth", false, "t").unwrap();
        let theirs = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                            "metadata": {"name": "d"}, "spec": {"replicas": 3}});
        let conflicts = ssa::apply(Some(&live), &theirs, "hpa", false, "t").unwrap_err();
        assert_eq!(
            conflicts,
            vec![(
                "berth".to_owned(),
                vec!["spec".to_owned(), "replicas".to_owned()]
            )]
        );
        let live = ssa::apply(Some(&live), &theirs, "hpa", true, "t").unwrap();
        assert_eq!(live["spec"]["replicas"], 3);
        let managers: Vec<&str> = live["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["manager"].as_str().unwrap())
            .collect();
        assert_eq!(managers, ["hpa"]);
        // The same value is shared ownership, not a conflict.
        let same = ssa::apply(Some(&live), &theirs, "other", false, "t").unwrap();
        assert_eq!(
            same["metadata"]["managedFields"].as_array().unwrap().len(),
            2
        );
    }

    #[test]
    fn names_are_dns_subdomains() {
        assert!(valid_name("web-1.a"));
        assert!(!valid_name("Web"));
        assert!(!valid_name("-web"));
        assert!(!valid_name(""));
    }
}
