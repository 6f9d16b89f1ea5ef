//! The Kubernetes render of every example stack: pinned by snapshots, checked for secret
//! values, for the structure the plan implies (GPUs, probes, network policies, pipelines,
//! labels) and against the upstream JSON schemas with `kubernetes-validate --strict`.

use berth_deploy::kubernetes::{
    Manifest, RenderError, RenderOptions, render, secret_name, to_yaml, write_dir,
};
use berth_stack::catalog::Catalog;
use berth_stack::plan::Plan;
use berth_stack::stack::{StackFile, Target};
use berth_stack::{Environment, resolve};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const EXAMPLES: [&str; 4] = ["quickstart", "rag-compose", "rag-kubernetes", "text2sql"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn stack_text(example: &str) -> String {
    let path = repo().join("examples").join(example).join("berth.yaml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The example's plan for the kubernetes target, in a fixed environment.
fn plan_with(example: &str, env: &Environment) -> Plan {
    let text = stack_text(example);
    let (file, diags) = StackFile::parse(&format!("examples/{example}/berth.yaml"), &text);
    assert!(!diags.has_errors(), "{example}:\n{diags}");
    let catalog = Catalog::builtin().expect("built-in catalog loads");
    let env = Environment {
        target: Some(Target::Kubernetes),
        ..env.clone()
    };
    match resolve(&file.expect("readable"), &catalog, &env) {
        Ok(r) => r.plan,
        Err(d) => panic!("{example} does not resolve:\n{d}"),
    }
}

fn plan(example: &str) -> Plan {
    plan_with(example, &Environment::default())
}

fn options(example: &str) -> RenderOptions {
    RenderOptions::new("berth.yaml", stack_text(example))
}

fn rendered(example: &str) -> Vec<Manifest> {
    render(&plan(example), &options(example)).unwrap_or_else(|e| panic!("{example}: {e}"))
}

fn find<'a>(manifests: &'a [Manifest], kind: &str, name: &str) -> &'a Value {
    &manifests
        .iter()
        .find(|m| m.kind() == kind && m.name() == name)
        .unwrap_or_else(|| panic!("no {kind} `{name}`"))
        .object
}

fn pod_spec(object: &Value) -> &Value {
    match object["kind"].as_str() {
        Some("CronJob") => &object["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        _ => &object["spec"]["template"]["spec"],
    }
}

fn container(object: &Value) -> &Value {
    &pod_spec(object)["containers"][0]
}

/// The YAML of an example with the berth version replaced, so releases do not change
/// the snapshots.
fn snapshot_yaml(example: &str) -> String {
    let yaml = to_yaml(&rendered(example)).expect("YAML");
    let version = env!("CARGO_PKG_VERSION");
    let mut out = String::new();
    for line in yaml.lines() {
        match line.split_once("app.kubernetes.io/version: ") {
            Some((indent, value)) => {
                assert_eq!(value.trim_matches('"'), version, "{line}");
                out.push_str(indent);
                out.push_str("app.kubernetes.io/version: '[version]'");
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

macro_rules! example_snapshot {
    ($test:ident, $dir:literal) => {
        #[test]
        fn $test() {
            let yaml = snapshot_yaml($dir);
            assert_eq!(yaml, snapshot_yaml($dir), "rendering is not deterministic");
            insta::assert_snapshot!(yaml);
        }
    };
}

example_snapshot!(quickstart_manifests, "quickstart");
example_snapshot!(rag_compose_manifests, "rag-compose");
example_snapshot!(rag_kubernetes_manifests, "rag-kubernetes");
example_snapshot!(text2sql_manifests, "text2sql");

#[test]
fn every_example_is_rendered() {
    let mut dirs: Vec<String> = std::fs::read_dir(repo().join("examples"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("berth.yaml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    assert_eq!(dirs, EXAMPLES);
}

#[test]
fn yaml_reads_back_as_the_same_objects() {
    for example in EXAMPLES {
        let manifests = rendered(example);
        let yaml = to_yaml(&manifests).unwrap();
        let back: Vec<Value> = serde_saphyr::from_str_multiple(&yaml).unwrap();
        let objects: Vec<Value> = manifests.into_iter().map(|m| m.object).collect();
        assert_eq!(back, objects, "{example}");
    }
}

#[test]
fn no_manifest_holds_a_secret_value() {
    for example in EXAMPLES {
        // Fake values for every secret, offered the way resolution takes values from the
        // outside world: none may reach a manifest.
        let names = plan(example).secrets;
        let env = Environment {
            vars: names
                .iter()
                .map(|n| (n.clone(), format!("fake-secret-value-{n}-7f3a")))
                .collect(),
            ..Environment::default()
        };
        let plan = plan_with(example, &env);
        let manifests = render(&plan, &options(example)).unwrap();
        let yaml = to_yaml(&manifests).unwrap();
        assert!(!yaml.contains("fake-secret-value"), "{example}:\n{yaml}");
        assert!(
            manifests.iter().all(|m| m.kind() != "Secret"),
            "{example} renders a Secret"
        );
        // Every reference became a secretKeyRef; none is left as text, except inside
        // the stack file itself (the roles resolve it from their environment).
        let without_stack_file: Vec<&Manifest> = manifests
            .iter()
            .filter(|m| m.kind() != "ConfigMap")
            .collect();
        let referenced = secret_key_refs(&without_stack_file, &secret_name(&plan));
        for m in &without_stack_file {
            let text = m.object.to_string();
            assert!(!text.contains("${secret:"), "{example}: {}", m.name());
        }
        // ... and every secret of the plan is referenced by some container.
        let wanted: BTreeSet<String> = plan.secrets.iter().cloned().collect();
        assert_eq!(referenced, wanted, "{example}");
    }
}

/// The keys of the stack's Secret that containers refer to.
fn secret_key_refs(manifests: &[&Manifest], secret: &str) -> BTreeSet<String> {
    fn walk(v: &Value, secret: &str, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(map) => {
                if let Some(r) = map.get("secretKeyRef") {
                    assert_eq!(r["name"], secret);
                    out.insert(r["key"].as_str().unwrap().to_string());
                }
                map.values().for_each(|v| walk(v, secret, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, secret, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    for m in manifests {
        walk(&m.object, secret, &mut out);
    }
    out
}

#[test]
fn secrets_inside_longer_values_use_dependent_expansion() {
    let mut plan = plan("rag-kubernetes");
    let gateway = plan.components.get_mut("gateway").unwrap();
    gateway.env.insert(
        "APP_DB_URL".into(),
        "postgres://app:${secret:APP_DB_PASSWORD}@state:5432/app?x=$y".into(),
    );
    gateway.args = vec!["--token=${secret:GATEWAY_TOKEN}".into()];
    let manifests = render(&plan, &options("rag-kubernetes")).unwrap();
    let c = container(find(&manifests, "Deployment", "gateway"));
    let env = c["env"].as_array().unwrap();
    let position = |name: &str| {
        env.iter()
            .position(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {env:?}"))
    };
    let helper = position("BERTH_SECRET_APP_DB_PASSWORD");
    assert!(helper < position("APP_DB_URL"), "helper first");
    assert_eq!(
        env[helper]["valueFrom"]["secretKeyRef"],
        serde_json::json!({"key": "APP_DB_PASSWORD", "name": "support-kb-secrets", "optional": false})
    );
    assert_eq!(
        env[position("APP_DB_URL")]["value"],
        "postgres://app:$(BERTH_SECRET_APP_DB_PASSWORD)@state:5432/app?x=$$y"
    );
    assert_eq!(c["args"][0], "--token=$(BERTH_SECRET_GATEWAY_TOKEN)");
    assert!(
        env[position("BERTH_SECRET_GATEWAY_TOKEN")]["valueFrom"]["secretKeyRef"]["key"]
            == "GATEWAY_TOKEN"
    );
}

#[test]
fn gpu_components_request_gpus_and_tolerate_gpu_nodes() {
    for example in EXAMPLES {
        let plan = plan(example);
        let manifests = rendered(example);
        for (name, component) in &plan.components {
            let workload = manifests
                .iter()
                .find(|m| {
                    m.name() == name && ["Deployment", "StatefulSet", "Job"].contains(&m.kind())
                })
                .unwrap_or_else(|| panic!("{example}: no workload for {name}"));
            let spec = pod_spec(&workload.object);
            let limit = &container(&workload.object)["resources"]["limits"]["nvidia.com/gpu"];
            if component.resources.gpu > 0 {
                assert_eq!(limit, &component.resources.gpu.to_string(), "{name}");
                assert_eq!(spec["tolerations"][0]["key"], "nvidia.com/gpu", "{name}");
                assert_eq!(spec["tolerations"][0]["operator"], "Exists", "{name}");
                assert_eq!(spec["nodeSelector"]["nvidia.com/gpu.present"], "true");
            } else {
                assert!(limit.is_null(), "{example}/{name}");
                assert!(spec["tolerations"].is_null(), "{example}/{name}");
            }
            let memory = &container(&workload.object)["resources"]["requests"]["memory"];
            match &component.resources.memory {
                Some(m) => assert_eq!(memory, &m.to_string()),
                None => assert!(memory.is_null()),
            }
        }
    }
    // The examples do hold a GPU component, so the branch above is exercised.
    assert!(plan("rag-kubernetes").components["llm"].resources.gpu > 0);
}

#[test]
fn startup_probes_cover_the_startup_budget() {
    let mut checked = 0;
    for example in EXAMPLES {
        let plan = plan(example);
        let manifests = rendered(example);
        for (name, component) in &plan.components {
            let Some(health) = &component.health else {
                continue;
            };
            let Some(m) = manifests
                .iter()
                .find(|m| m.name() == name && ["Deployment", "StatefulSet"].contains(&m.kind()))
            else {
                continue;
            };
            let c = container(&m.object);
            let startup = &c["startupProbe"];
            let period = startup["periodSeconds"].as_u64().unwrap();
            let threshold = startup["failureThreshold"].as_u64().unwrap();
            assert!(
                period * threshold >= health.startup_budget_s,
                "{example}/{name}: {period}s × {threshold} < {}s",
                health.startup_budget_s
            );
            for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
                let p = &c[probe];
                let actions = ["httpGet", "tcpSocket", "exec"]
                    .iter()
                    .filter(|a| !p[**a].is_null())
                    .count();
                assert_eq!(actions, 1, "{example}/{name} {probe}: {p}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} probes checked");
    let manifests = rendered("rag-kubernetes");
    let pg = container(find(&manifests, "StatefulSet", "state"));
    assert_eq!(pg["startupProbe"]["tcpSocket"]["port"], 5432);
    assert_eq!(pg["readinessProbe"]["exec"]["command"][0], "pg_isready");
    let vllm = container(find(&manifests, "Deployment", "llm"));
    assert_eq!(vllm["readinessProbe"]["httpGet"]["path"], "/health");
}

#[test]
fn network_policies_admit_exactly_the_bound_components() {
    for example in EXAMPLES {
        let plan = plan(example);
        let manifests = rendered(example);
        let stack = &plan.stack;
        let deny = find(
            &manifests,
            "NetworkPolicy",
            &format!("{stack}-default-deny"),
        );
        assert!(deny["spec"]["ingress"].is_null());
        assert_eq!(deny["spec"]["policyTypes"], serde_json::json!(["Ingress"]));
        assert_eq!(
            deny["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/part-of"],
            stack.as_str()
        );
        for (name, component) in &plan.components {
            // Expected peers, from the plan's bindings and dependencies.
            let mut expected: BTreeSet<String> = plan
                .components
                .iter()
                .filter(|(n, c)| {
                    *n != name
                        && (c.depends_on.contains(name)
                            || c.bindings.iter().any(|b| &b.provider == name))
                })
                .map(|(n, _)| format!("instance={n}"))
                .collect();
            if !plan.pipelines.is_empty() && expected.contains("instance=worker") {
                expected.insert("runs-as=worker".to_string());
            }
            let policy = manifests
                .iter()
                .find(|m| m.kind() == "NetworkPolicy" && m.name() == format!("{name}-ingress"));
            let has_edge = component.ports.iter().any(|p| p.edge);
            let Some(policy) = policy else {
                assert!(expected.is_empty() && !has_edge, "{example}/{name}");
                continue;
            };
            let spec = &policy.object["spec"];
            assert_eq!(
                spec["podSelector"]["matchLabels"]["app.kubernetes.io/instance"],
                name.as_str()
            );
            let mut peers = BTreeSet::new();
            let mut open_ports = BTreeSet::new();
            for rule in spec["ingress"].as_array().unwrap() {
                match rule["from"].as_array() {
                    Some(from) => {
                        for peer in from {
                            let labels = &peer["podSelector"]["matchLabels"];
                            assert_eq!(labels["app.kubernetes.io/part-of"], stack.as_str());
                            if let Some(i) = labels["app.kubernetes.io/instance"].as_str() {
                                peers.insert(format!("instance={i}"));
                            }
                            if let Some(w) = labels["berth/runs-as"].as_str() {
                                peers.insert(format!("runs-as={w}"));
                            }
                        }
                    }
                    None => {
                        for port in rule["ports"].as_array().unwrap() {
                            open_ports.insert(port["port"].as_u64().unwrap());
                        }
                    }
                }
            }
            assert_eq!(peers, expected, "{example}/{name}");
            let edge: BTreeSet<u64> = component
                .ports
                .iter()
                .filter(|p| p.edge)
                .map(|p| u64::from(p.container))
                .collect();
            assert_eq!(
                open_ports, edge,
                "{example}/{name}: only edge ports are open"
            );
        }
    }
    // A concrete case: in rag-kubernetes only the gateway reaches the LLM.
    let manifests = rendered("rag-kubernetes");
    let llm = find(&manifests, "NetworkPolicy", "llm-ingress");
    assert_eq!(
        llm["spec"]["ingress"][0]["from"],
        serde_json::json!([{"podSelector": {"matchLabels": {
            "app.kubernetes.io/instance": "gateway",
            "app.kubernetes.io/part-of": "support-kb"
        }}}])
    );
}

#[test]
fn pipelines_are_a_cron_job_and_an_indexed_backfill_job() {
    let plan = plan("rag-kubernetes");
    let manifests = rendered("rag-kubernetes");
    let pipeline = &plan.pipelines["handbook-index"];
    let cron = find(&manifests, "CronJob", "ingest-handbook-index");
    assert_eq!(
        cron["spec"]["schedule"].as_str(),
        pipeline.schedule.as_deref()
    );
    assert_eq!(cron["spec"]["concurrencyPolicy"], "Forbid");
    let c = container(cron);
    assert_eq!(c["image"], plan.components["worker"].image.as_str());
    assert_eq!(
        c["command"],
        serde_json::json!([
            "berth",
            "ingest",
            "handbook-index",
            "--stack",
            "/stack/berth.yaml"
        ])
    );
    let backfill = find(&manifests, "Job", "backfill-handbook-index");
    assert_eq!(backfill["spec"]["completionMode"], "Indexed");
    assert_eq!(backfill["spec"]["parallelism"], 2);
    assert_eq!(backfill["spec"]["completions"], 2);
    assert_eq!(backfill["spec"]["suspend"], true);
    assert_eq!(pod_spec(backfill)["restartPolicy"], "Never");

    let mut options = options("rag-kubernetes");
    options.backfill_parallelism = 5;
    options.backfill_completions = Some(10);
    options.backfill_suspended = false;
    let manifests = render(&plan, &options).unwrap();
    let backfill = find(&manifests, "Job", "backfill-handbook-index");
    assert_eq!(backfill["spec"]["parallelism"], 5);
    assert_eq!(backfill["spec"]["completions"], 10);
    assert_eq!(backfill["spec"]["suspend"], false);

    // A pipeline without a schedule gets only the backfill Job.
    let manifests = rendered("quickstart");
    assert!(manifests.iter().all(|m| m.kind() != "CronJob"));
    find(&manifests, "Job", "backfill-docs-index");
}

#[test]
fn every_object_is_labelled_and_namespaced() {
    for example in EXAMPLES {
        let plan = plan(example);
        let manifests = rendered(example);
        for m in &manifests {
            let what = format!("{example}: {} {}", m.kind(), m.name());
            for key in [
                "app.kubernetes.io/name",
                "app.kubernetes.io/instance",
                "app.kubernetes.io/component",
            ] {
                assert!(m.label(key).is_some_and(|v| !v.is_empty()), "{what}: {key}");
            }
            assert_eq!(
                m.label("app.kubernetes.io/part-of"),
                Some(plan.stack.as_str())
            );
            assert_eq!(m.label("app.kubernetes.io/managed-by"), Some("berth"));
            assert_eq!(
                m.label("app.kubernetes.io/version"),
                Some(env!("CARGO_PKG_VERSION")),
                "{what}"
            );
            if m.kind() == "Namespace" {
                assert_eq!(m.name(), plan.namespace);
                assert_eq!(m.namespace(), None);
            } else {
                assert_eq!(m.namespace(), Some(plan.namespace.as_str()), "{what}");
            }
        }
        assert_eq!(
            manifests[0].kind(),
            "Namespace",
            "{example}: namespace first"
        );
        // Each component's objects name it as instance and its catalog entry as name.
        for name in &plan.order {
            let c = &plan.components[name];
            let workload = manifests
                .iter()
                .find(|m| m.name() == name && m.kind() != "Service")
                .unwrap();
            assert_eq!(
                workload.label("app.kubernetes.io/instance"),
                Some(name.as_str())
            );
            assert_eq!(
                workload.label("app.kubernetes.io/name"),
                Some(c.uses.as_str())
            );
        }
        // Workloads come in start order.
        let workloads: Vec<&str> = manifests
            .iter()
            .filter(|m| {
                ["Deployment", "StatefulSet"].contains(&m.kind())
                    || (m.kind() == "Job" && plan.components.contains_key(m.name()))
            })
            .map(|m| m.name())
            .collect();
        assert_eq!(workloads, plan.order, "{example}");
    }
}

#[test]
fn berths_roles_read_the_stack_file_and_plan_for_kubernetes() {
    let manifests = rendered("rag-kubernetes");
    let config = find(&manifests, "ConfigMap", "support-kb-stack");
    assert_eq!(
        config["data"]["berth.yaml"],
        stack_text("rag-kubernetes").as_str()
    );
    for name in ["gateway", "worker"] {
        let d = find(&manifests, "Deployment", name);
        let c = container(d);
        assert!(
            c["env"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["name"] == "BERTH_TARGET" && v["value"] == "kubernetes"),
            "{name}"
        );
        assert_eq!(c["volumeMounts"][0]["mountPath"], "/stack/berth.yaml");
        assert_eq!(c["workingDir"], "/stack");
        assert_eq!(
            pod_spec(d)["volumes"][0]["configMap"]["name"],
            "support-kb-stack"
        );
    }
    // The gateway resolves the public model's key from its environment.
    let gateway = container(find(&manifests, "Deployment", "gateway"));
    assert!(gateway["env"].as_array().unwrap().iter().any(|v| {
        v["name"] == "DEEPSEEK_API_KEY"
            && v["valueFrom"]["secretKeyRef"]["key"] == "DEEPSEEK_API_KEY"
    }));
    // Other components do not mount it.
    let llm = container(find(&manifests, "Deployment", "llm"));
    assert!(llm["workingDir"].is_null());
}

#[test]
fn volumes_are_claims_or_claim_templates() {
    let manifests = rendered("rag-kubernetes");
    // Qdrant is stateful: its data volumes are claim templates, not claims.
    let vectors = find(&manifests, "StatefulSet", "vectors");
    let templates: Vec<&str> = vectors["spec"]["volumeClaimTemplates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(templates, ["vectors-storage", "vectors-snapshots"]);
    assert!(
        manifests
            .iter()
            .all(|m| !(m.kind() == "PersistentVolumeClaim" && m.name().starts_with("vectors")))
    );
    // vLLM's model cache is a claim, and its Deployment is recreated, not rolled.
    let cache = find(&manifests, "PersistentVolumeClaim", "llm-model-cache");
    assert_eq!(cache["spec"]["resources"]["requests"]["storage"], "100Gi");
    let llm = find(&manifests, "Deployment", "llm");
    assert_eq!(llm["spec"]["strategy"]["type"], "Recreate");
    assert_eq!(
        pod_spec(llm)["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "llm-model-cache"
    );
}

#[test]
fn edge_services_are_discoverable() {
    let manifests = rendered("rag-kubernetes");
    for (name, edge) in [("gateway", true), ("ui", true), ("llm", false)] {
        let service = find(&manifests, "Service", name);
        assert_eq!(service["spec"]["type"], "ClusterIP");
        assert_eq!(
            service["metadata"]["labels"]["berth/edge"].as_str(),
            edge.then_some("true"),
            "{name}"
        );
    }
    let gateway = find(&manifests, "Service", "gateway");
    assert_eq!(
        gateway["metadata"]["annotations"]["berth/edge-ports"],
        "http"
    );
}

#[test]
fn external_components_are_wired_not_deployed() {
    let mut plan = plan("rag-kubernetes");
    plan.components.get_mut("vectors").unwrap().external_url =
        Some("http://qdrant.example:6333".into());
    let manifests = render(&plan, &options("rag-kubernetes")).unwrap();
    assert!(
        manifests
            .iter()
            .all(|m| m.label("app.kubernetes.io/instance") != Some("vectors")),
        "nothing of `vectors` is rendered"
    );
}

#[test]
fn plans_that_cannot_be_rendered_are_errors() {
    // A plan for another target has addresses that are not service names.
    let text = stack_text("rag-compose");
    let (file, _) = StackFile::parse("berth.yaml", &text);
    let compose = resolve(
        &file.unwrap(),
        &Catalog::builtin().unwrap(),
        &Environment::default(),
    )
    .unwrap()
    .plan;
    assert!(matches!(
        render(&compose, &options("rag-compose")),
        Err(RenderError::WrongTarget { .. })
    ));
    // berth's roles need the stack file.
    assert!(matches!(
        render(&plan("rag-kubernetes"), &RenderOptions::default()),
        Err(RenderError::MissingStackFile)
    ));
    // Names that cannot name objects, and an inconsistent order.
    let mut bad = plan("rag-kubernetes");
    bad.namespace = "Support_KB".into();
    assert!(matches!(
        render(&bad, &options("rag-kubernetes")),
        Err(RenderError::InvalidName { .. })
    ));
    let mut bad = plan("rag-kubernetes");
    bad.order.pop();
    assert!(matches!(
        render(&bad, &options("rag-kubernetes")),
        Err(RenderError::InconsistentPlan { .. })
    ));
    let mut bad = plan("rag-kubernetes");
    bad.components.remove("worker");
    bad.order.retain(|n| n != "worker");
    assert!(matches!(
        render(&bad, &options("rag-kubernetes")),
        Err(RenderError::NoWorker { .. })
    ));
    let mut options = options("rag-kubernetes");
    options.backfill_parallelism = 0;
    assert!(matches!(
        render(&plan("rag-kubernetes"), &options),
        Err(RenderError::OutOfRange { .. })
    ));
}

#[test]
fn write_dir_writes_one_file_per_object_in_order() {
    let manifests = rendered("rag-kubernetes");
    let dir = tempfile::tempdir().unwrap();
    let paths = write_dir(&manifests, dir.path()).unwrap();
    assert_eq!(paths.len(), manifests.len());
    let names: Vec<String> = paths
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names[0], "00-namespace-support-kb.yaml");
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, names, "file names sort in apply order");
}

/// `kubernetes-validate`, from the virtual environment `.ci/run` creates.
fn validator() -> Option<PathBuf> {
    let path = repo().join(".venv-k8s/bin/kubernetes-validate");
    if path.exists() {
        return Some(path);
    }
    let message = format!(
        "{} is missing: python3 -m venv .venv-k8s && \
         .venv-k8s/bin/pip install -r bench/kubernetes-validate/requirements.txt",
        path.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{message}");
    }
    eprintln!("SKIPPED: schema validation: {message}");
    None
}

#[test]
fn manifests_pass_strict_schema_validation_for_kubernetes_1_33_and_1_37() {
    let Some(validator) = validator() else {
        return;
    };
    for example in EXAMPLES {
        let dir = tempfile::tempdir().unwrap();
        let paths = write_dir(&rendered(example), dir.path()).unwrap();
        for version in ["1.33.0", "1.37.0"] {
            let output = Command::new(&validator)
                .args(["--strict", "--kubernetes-version", version])
                .args(&paths)
                .output()
                .expect("kubernetes-validate runs");
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(
                output.status.success(),
                "{example} against Kubernetes {version}:\n{text}"
            );
            // It names every file it validated.
            for path in &paths {
                let file = path.file_name().unwrap().to_string_lossy();
                assert!(
                    text.contains(&*file),
                    "{example}: {file} not validated:\n{text}"
                );
            }
        }
    }
}

#[test]
fn shared_namespaces_are_used_not_owned() {
    let mut plan = plan("rag-kubernetes");
    plan.namespace = "default".into();
    let manifests = render(&plan, &options("rag-kubernetes")).unwrap();
    assert!(manifests.iter().all(|m| m.kind() != "Namespace"));
    assert!(manifests.iter().all(|m| m.namespace() == Some("default")));
    let mut options = options("rag-kubernetes");
    options.namespace_object = false;
    let manifests = render(&plan_for_options(), &options).unwrap();
    assert_eq!(manifests[0].kind(), "ConfigMap");
}

fn plan_for_options() -> Plan {
    plan("rag-kubernetes")
}
