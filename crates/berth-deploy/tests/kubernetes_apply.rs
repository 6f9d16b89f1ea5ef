//! `apply` and `diff` for the Kubernetes target, driven over real HTTP against berth's
//! stand-in Kubernetes API server (no real API server can run on the test machines).

use berth_deploy::kubernetes::Manifest;
use berth_deploy::kubernetes::apply::{
    APPLYSET_CONTAINS_GROUP_KINDS_ANNOTATION, APPLYSET_ID_LABEL, APPLYSET_PART_OF_LABEL,
    APPLYSET_TOOLING_ANNOTATION, ApplyError, ApplyOptions, ApplyReport, Change, ObjectRef, Outcome,
    Progress, Prune, WaitOutcome, apply, diff,
};
use berth_deploy::kubernetes::standin::StandIn;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const NS: &str = "demo";

fn labels(component: &str) -> Value {
    json!({"app.kubernetes.io/instance": component, "app.kubernetes.io/part-of": "demo"})
}

fn deployment(component: &str, image: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": component, "labels": labels(component)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/instance": component}},
            "template": {
                "metadata": {"labels": labels(component)},
                "spec": {"containers": [{"name": component, "image": image,
                                         "ports": [{"containerPort": 8080}]}]},
            },
        },
    })
}

fn service(component: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": component, "labels": labels(component)},
        "spec": {"selector": {"app.kubernetes.io/instance": component},
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
    })
}

/// A Namespace, then component `a` (ConfigMap, Service, Deployment) and `b` (Service,
/// Deployment), in an order that is not the apply order.
fn objects() -> Vec<Value> {
    vec![
        deployment("b", "registry.local/b:1", 1),
        service("b"),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "a-config", "labels": labels("a")},
               "data": {"MODE": "fast"}}),
        service("a"),
        deployment("a", "registry.local/a:1", 1),
    ]
}

fn manifests(objects: Vec<Value>) -> Vec<Manifest> {
    objects.into_iter().map(Manifest::new).collect()
}

fn order() -> Vec<String> {
    vec!["a".to_owned(), "b".to_owned()]
}

fn options() -> ApplyOptions {
    ApplyOptions::new("demo", NS)
}

async fn client(server: &StandIn) -> kube::Client {
    kube::Client::try_from(server.kube_config()).expect("client for the stand-in")
}

async fn run(
    server: &StandIn,
    objects: Vec<Value>,
    options: &ApplyOptions,
) -> (ApplyReport, Vec<Progress>) {
    let mut events = Vec::new();
    let report = apply(
        client(server).await,
        &manifests(objects),
        &order(),
        options,
        &mut |p| events.push(p),
    )
    .await
    .expect("apply");
    (report, events)
}

fn target(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> ObjectRef {
    ObjectRef {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
        namespace: namespace.map(str::to_owned),
        name: name.to_owned(),
    }
}

/// The waiting events only, as text.
fn waits(events: &[Progress]) -> Vec<String> {
    events
        .iter()
        .filter(|p| !matches!(p, Progress::Applied { .. }))
        .map(ToString::to_string)
        .collect()
}

#[tokio::test]
async fn first_apply_creates_everything_with_server_side_apply_on_the_standin_api_server() {
    let server = StandIn::start().await.unwrap();
    let (report, events) = run(&server, objects(), &options()).await;

    let applied: Vec<String> = report
        .applied
        .iter()
        .map(|(object, outcome)| format!("{object} {outcome}"))
        .collect();
    assert_eq!(
        applied,
        [
            "Namespace demo created",
            "ConfigMap demo/a-config created",
            "Service demo/b created",
            "Service demo/a created",
            "Deployment demo/b created",
            "Deployment demo/a created",
        ]
    );
    assert_eq!(events.len(), 6);
    assert_eq!(report.wait, WaitOutcome::Skipped);
    assert!(report.would_prune.is_empty() && report.pruned.is_empty());

    // Every write was a server-side apply by one field manager, forced.
    let requests = server.requests();
    let writes: Vec<_> = requests.iter().filter(|r| r.method != "GET").collect();
    assert_eq!(writes.len(), 7, "six manifests and the parent: {writes:#?}");
    for write in &writes {
        assert_eq!(write.method, "PATCH");
        assert_eq!(
            write.content_type.as_deref(),
            Some("application/apply-patch+yaml")
        );
        assert_eq!(write.field_manager(), Some("berth"));
        assert_eq!(write.params.get("force").map(String::as_str), Some("true"));
        assert!(!write.is_dry_run());
    }
    // The namespace exists before the parent Secret is written into it.
    assert_eq!(writes[0].path, "/api/v1/namespaces/demo");
    assert_eq!(
        writes[1].path,
        "/api/v1/namespaces/demo/secrets/applyset-demo"
    );

    let id = &report.apply_set.id;
    assert!(id.starts_with("applyset-") && id.ends_with("-v1"));
    for object in objects() {
        let kind = object["kind"].as_str().unwrap();
        let name = object["metadata"]["name"].as_str().unwrap();
        let live = server.get(kind, Some(NS), name).expect(name);
        assert_eq!(
            live["metadata"]["labels"][APPLYSET_PART_OF_LABEL], *id,
            "{name}"
        );
        assert_eq!(live["metadata"]["managedFields"][0]["manager"], "berth");
        assert_eq!(live["metadata"]["managedFields"][0]["operation"], "Apply");
    }
    let parent = server.get("Secret", Some(NS), "applyset-demo").unwrap();
    assert_eq!(parent["metadata"]["labels"][APPLYSET_ID_LABEL], *id);
    let annotations = &parent["metadata"]["annotations"];
    assert_eq!(
        annotations[APPLYSET_TOOLING_ANNOTATION],
        format!("berth/{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        annotations[APPLYSET_CONTAINS_GROUP_KINDS_ANNOTATION],
        "ConfigMap,Deployment.apps,Namespace,Service"
    );
}

#[tokio::test]
async fn reapply_is_idempotent_and_diff_says_unchanged() {
    let server = StandIn::start().await.unwrap();
    run(&server, objects(), &options()).await;
    let before = server.objects();

    let (report, _) = run(&server, objects(), &options()).await;
    assert!(
        report.applied.iter().all(|(_, o)| *o == Outcome::Unchanged),
        "{:?}",
        report.applied
    );
    assert_eq!(server.objects(), before, "nothing was written again");
    let a = server.get("Deployment", Some(NS), "a").unwrap();
    assert_eq!(a["metadata"]["generation"], 1);

    let changes = diff(client(&server).await, &manifests(objects()), &options())
        .await
        .unwrap();
    assert_eq!(changes.len(), 6);
    assert!(
        changes
            .iter()
            .all(|c| matches!(c, Change::Unchanged { .. })),
        "{changes:#?}"
    );
}

#[tokio::test]
async fn diff_shows_an_update_and_does_not_apply_it() {
    let server = StandIn::start().await.unwrap();
    run(&server, objects(), &options()).await;
    let before = server.objects();
    server.clear_requests();

    let mut changed = objects();
    changed[0] = deployment("b", "registry.local/b:2", 3);
    let changes = diff(client(&server).await, &manifests(changed), &options())
        .await
        .unwrap();
    let update = changes
        .iter()
        .find(|c| c.object().name == "b" && c.object().kind == "Deployment")
        .unwrap();
    let Change::Update { fields, .. } = update else {
        panic!("expected an update, got {update:?}");
    };
    let shown: Vec<String> = fields.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "spec.replicas: 1 → 3",
            "spec.template.spec.containers[0].image: \"registry.local/b:1\" → \"registry.local/b:2\"",
        ]
    );
    let others: Vec<_> = changes
        .iter()
        .filter(|c| !std::ptr::eq(*c, update))
        .collect();
    assert!(
        others.iter().all(|c| matches!(c, Change::Unchanged { .. })),
        "{others:#?}"
    );

    assert_eq!(server.objects(), before, "diff changed nothing");
    for request in server.requests().iter().filter(|r| r.method != "GET") {
        assert_eq!(request.method, "PATCH");
        assert!(request.is_dry_run(), "{request:?}");
    }
}

#[tokio::test]
async fn prune_is_a_dry_run_by_default_and_deletes_only_members_when_asked() {
    let server = StandIn::start().await.unwrap();
    run(&server, objects(), &options()).await;
    // Objects outside the apply set: one unlabelled, one of another set.
    assert!(
        server.insert(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "outsider", "namespace": NS, "labels": {"team": "x"}}}))
    );
    assert!(
        server.insert(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "neighbour", "namespace": NS,
                     "labels": {APPLYSET_PART_OF_LABEL: "applyset-other-v1"}}}))
    );

    // Without the ConfigMap, the only one of its kind in the set.
    let without: Vec<Value> = objects()
        .into_iter()
        .filter(|o| o["kind"] != "ConfigMap")
        .collect();
    let config_map = target("v1", "ConfigMap", Some(NS), "a-config");

    let changes = diff(
        client(&server).await,
        &manifests(without.clone()),
        &options(),
    )
    .await
    .unwrap();
    let prunes: Vec<&Change> = changes
        .iter()
        .filter(|c| matches!(c, Change::Prune { .. }))
        .collect();
    assert_eq!(
        prunes,
        [&Change::Prune {
            object: config_map.clone()
        }]
    );

    let (report, events) = run(&server, without.clone(), &options()).await;
    assert_eq!(report.would_prune, std::slice::from_ref(&config_map));
    assert!(report.pruned.is_empty());
    assert!(events.contains(&Progress::WouldPrune {
        object: config_map.clone()
    }));
    assert!(server.get("ConfigMap", Some(NS), "a-config").is_some());
    // The kept member's kind stays recorded, so that a later run can still prune it.
    let parent = server.get("Secret", Some(NS), "applyset-demo").unwrap();
    assert_eq!(
        parent["metadata"]["annotations"][APPLYSET_CONTAINS_GROUP_KINDS_ANNOTATION],
        "ConfigMap,Deployment.apps,Namespace,Service"
    );

    let delete = ApplyOptions {
        prune: Prune::Delete,
        ..options()
    };
    let (report, events) = run(&server, without, &delete).await;
    assert_eq!(report.pruned, std::slice::from_ref(&config_map));
    assert!(events.contains(&Progress::Pruned { object: config_map }));
    assert!(server.get("ConfigMap", Some(NS), "a-config").is_none());
    assert!(server.get("ConfigMap", Some(NS), "outsider").is_some());
    assert!(server.get("ConfigMap", Some(NS), "neighbour").is_some());
    assert!(server.get("Deployment", Some(NS), "a").is_some());
    let parent = server.get("Secret", Some(NS), "applyset-demo").unwrap();
    assert_eq!(
        parent["metadata"]["annotations"][APPLYSET_CONTAINS_GROUP_KINDS_ANNOTATION],
        "Deployment.apps,Namespace,Service"
    );
    let deletes: Vec<String> = server
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(deletes, ["/api/v1/namespaces/demo/configmaps/a-config"]);
}

fn ready_status() -> Value {
    json!({"observedGeneration": 1, "replicas": 1, "readyReplicas": 1, "availableReplicas": 1})
}

fn unavailable_status() -> Value {
    json!({
        "observedGeneration": 1, "replicas": 1, "readyReplicas": 0, "unavailableReplicas": 1,
        "conditions": [
            {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
             "message": "Deployment does not have minimum availability."},
            {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
             "message": "ReplicaSet \"b-5d8f\" is progressing."},
        ],
    })
}

fn waiting(timeout: Duration) -> ApplyOptions {
    ApplyOptions {
        wait: Some(timeout),
        poll_interval: Duration::from_millis(20),
        ..options()
    }
}

#[tokio::test]
async fn waiting_follows_the_plan_order() {
    let server = Arc::new(StandIn::start().await.unwrap());
    server.set_auto_ready(true);
    // `a` is not ready until its readiness has been read once while waiting for it.
    server.script_status(
        "Deployment",
        Some(NS),
        "a",
        json!({"observedGeneration": 1}),
    );
    let (waiting_for_a, mut seen) = tokio::sync::watch::channel(false);
    let controller = {
        let server = server.clone();
        tokio::spawn(async move {
            let polls = |server: &StandIn| {
                server
                    .requests()
                    .iter()
                    .filter(|r| {
                        r.method == "GET" && r.path == "/apis/apps/v1/namespaces/demo/deployments/a"
                    })
                    .count()
            };
            let limit = Duration::from_secs(10);
            if tokio::time::timeout(limit, seen.wait_for(|w| *w))
                .await
                .is_err()
            {
                return false;
            }
            let before = polls(&server);
            let deadline = tokio::time::Instant::now() + limit;
            while polls(&server) == before {
                if tokio::time::Instant::now() > deadline {
                    return false;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            server.set_status("Deployment", Some(NS), "a", ready_status())
        })
    };
    let mut events = Vec::new();
    let report = apply(
        client(&server).await,
        &manifests(objects()),
        &order(),
        &waiting(Duration::from_secs(10)),
        &mut |p| {
            if p == (Progress::Waiting {
                component: "a".into(),
            }) {
                let _ = waiting_for_a.send(true);
            }
            events.push(p);
        },
    )
    .await
    .unwrap();
    assert!(
        controller.await.unwrap(),
        "the wait never read deployment a"
    );
    assert_eq!(report.wait, WaitOutcome::Ready);
    assert!(report.is_ready());
    assert_eq!(
        waits(&events),
        ["waiting for a", "a ready", "waiting for b", "b ready"]
    );

    // The order is the Plan's, not the alphabet's.
    let mut events = Vec::new();
    let reversed = vec!["b".to_owned(), "a".to_owned()];
    apply(
        client(&server).await,
        &manifests(objects()),
        &reversed,
        &waiting(Duration::from_secs(10)),
        &mut |p| events.push(p),
    )
    .await
    .unwrap();
    assert_eq!(
        waits(&events),
        ["waiting for b", "b ready", "waiting for a", "a ready"]
    );
}

#[tokio::test]
async fn a_never_ready_deployment_times_out_with_its_reason() {
    let server = StandIn::start().await.unwrap();
    server.set_auto_ready(true);
    server.script_status("Deployment", Some(NS), "b", unavailable_status());
    let (report, events) = run(&server, objects(), &waiting(Duration::from_millis(400))).await;

    assert_eq!(
        waits(&events),
        [
            "waiting for a",
            "a ready",
            "waiting for b",
            "b not ready in time"
        ]
    );
    assert!(!report.is_ready());
    let WaitOutcome::TimedOut {
        component,
        not_ready,
    } = &report.wait
    else {
        panic!("expected a timeout, got {:?}", report.wait);
    };
    assert_eq!(component, "b");
    assert_eq!(not_ready.len(), 1, "{not_ready:#?}");
    assert_eq!(
        not_ready[0].object,
        target("apps/v1", "Deployment", Some(NS), "b")
    );
    assert_eq!(not_ready[0].component.as_deref(), Some("b"));
    assert_eq!(
        not_ready[0].to_string(),
        "Deployment demo/b: Available=False: MinimumReplicasUnavailable: Deployment does not \
         have minimum availability.; 0/1 replicas ready"
    );
}

#[tokio::test]
async fn without_controllers_nothing_is_ready_and_every_workload_is_listed() {
    let server = StandIn::start().await.unwrap();
    let (report, events) = run(&server, objects(), &waiting(Duration::from_millis(200))).await;
    assert_eq!(waits(&events), ["waiting for a", "a not ready in time"]);
    let WaitOutcome::TimedOut { not_ready, .. } = &report.wait else {
        panic!("expected a timeout, got {:?}", report.wait);
    };
    let shown: Vec<String> = not_ready.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "Deployment demo/a: generation 1 not yet observed by its controller (observed 0); 0/1 replicas ready",
            "Deployment demo/b: generation 1 not yet observed by its controller (observed 0); 0/1 replicas ready",
        ]
    );
}

#[tokio::test]
async fn secret_values_never_appear_in_diff_output() {
    let server = StandIn::start().await.unwrap();
    let secret = |password: &str, token: &str| {
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "db", "labels": labels("a")},
               "type": "Opaque",
               "stringData": {"password": password},
               "data": {"token": token}})
    };
    let mut first = objects();
    first.push(secret("hunter2-old", "b2xkLXRva2Vu"));
    run(&server, first, &options()).await;

    let mut second = objects();
    second.push(secret("hunter2-new", "bmV3LXRva2Vu"));
    let changes = diff(client(&server).await, &manifests(second), &options())
        .await
        .unwrap();
    let update = changes
        .iter()
        .find(|c| c.object().kind == "Secret")
        .unwrap();
    let Change::Update { fields, .. } = update else {
        panic!("expected an update, got {update:?}");
    };
    let paths: Vec<&str> = fields.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["data.token", "stringData.password"]);
    let shown = format!("{changes:?}\n{}", update);
    for value in ["hunter2", "b2xkLXRva2Vu", "bmV3LXRva2Vu"] {
        assert!(!shown.contains(value), "{value} leaked: {shown}");
    }
    assert!(shown.contains("(redacted)"));
}

#[tokio::test]
async fn a_client_from_a_kubeconfig_file_applies_to_the_standin_api_server() {
    let server = StandIn::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, server.kubeconfig(NS)).unwrap();

    let kubeconfig = kube::config::Kubeconfig::read_from(&path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    assert_eq!(client.default_namespace(), NS);

    let options = ApplyOptions::new("demo", client.default_namespace());
    let report = apply(
        client,
        &manifests(objects()),
        &order(),
        &options,
        &mut |_| {},
    )
    .await
    .unwrap();
    assert_eq!(report.applied.len(), 6);
    assert!(server.get("Deployment", Some(NS), "b").is_some());
}

#[tokio::test]
async fn a_kind_the_cluster_does_not_serve_is_a_typed_error() {
    let server = StandIn::start().await.unwrap();
    let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget",
                        "metadata": {"name": "w"}});
    let error = apply(
        client(&server).await,
        &manifests(vec![widget]),
        &order(),
        &options(),
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&error, ApplyError::UnknownKind { kind, .. } if kind == "Widget"),
        "{error:?}"
    );
    let nameless = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}});
    let error = diff(
        client(&server).await,
        &manifests(vec![nameless]),
        &options(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            error,
            ApplyError::InvalidManifest {
                index: 0,
                missing: "metadata.name"
            }
        ),
        "{error:?}"
    );
    assert!(server.requests().iter().all(|r| r.method == "GET"));
}

// The stand-in API server itself, through kube's own client.

#[tokio::test]
async fn standin_api_server_speaks_discovery_as_kube_reads_it() {
    let server = StandIn::start().await.unwrap();
    let client = client(&server).await;
    for discovery in [
        kube::Discovery::new(client.clone()).run().await.unwrap(),
        kube::Discovery::new(client.clone())
            .run_aggregated()
            .await
            .unwrap(),
    ] {
        let apps = discovery.get("apps").expect("apps group");
        let (deployments, caps) = apps.recommended_kind("Deployment").unwrap();
        assert_eq!(deployments.plural, "deployments");
        assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
        let core = discovery.get("").expect("core group");
        let (_, caps) = core.recommended_kind("Namespace").unwrap();
        assert_eq!(caps.scope, kube::discovery::Scope::Cluster);
        let net = discovery.get("networking.k8s.io").unwrap();
        assert!(net.recommended_kind("NetworkPolicy").is_some());
    }
}

#[tokio::test]
async fn standin_api_server_answers_errors_as_status_objects() {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};

    let server = StandIn::start().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client(&server).await, "default");
    let status = |e: kube::Error| match e {
        kube::Error::Api(status) => (status.code, status.reason),
        other => panic!("expected a Status, got {other:?}"),
    };

    assert_eq!(
        status(api.get("nope").await.unwrap_err()),
        (404, "NotFound".into())
    );
    let body = |value: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "c", "labels": {"tier": "web", "team": "x"}},
               "data": {"k": value}})
    };
    api.patch("c", &PatchParams::apply("one"), &Patch::Apply(body("1")))
        .await
        .unwrap();
    let conflict = api
        .patch("c", &PatchParams::apply("two"), &Patch::Apply(body("2")))
        .await
        .unwrap_err();
    assert_eq!(status(conflict), (409, "Conflict".into()));
    let forced = api
        .patch(
            "c",
            &PatchParams::apply("two").force(),
            &Patch::Apply(body("2")),
        )
        .await
        .unwrap();
    assert_eq!(forced.data.unwrap()["k"], "2");

    let invalid =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name"}});
    let error = api
        .patch(
            "Bad_Name",
            &PatchParams::apply("one"),
            &Patch::Apply(invalid),
        )
        .await
        .unwrap_err();
    assert_eq!(status(error), (422, "Invalid".into()));

    for (selector, expected) in [
        ("tier=web", 1),
        ("tier!=web", 0),
        ("tier", 1),
        ("tier=web,team=y", 0),
        ("!tier", 0),
    ] {
        let list = api
            .list(&ListParams::default().labels(selector))
            .await
            .unwrap();
        assert_eq!(list.items.len(), expected, "{selector}");
    }

    let deleted = api.delete("c", &DeleteParams::default()).await.unwrap();
    assert!(deleted.is_right(), "a Status for an immediate deletion");
    assert_eq!(
        status(api.delete("c", &DeleteParams::default()).await.unwrap_err()),
        (404, "NotFound".into())
    );
}
