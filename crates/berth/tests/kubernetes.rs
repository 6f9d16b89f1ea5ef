//! `berth render kubernetes`, `berth apply` and `berth diff` through the command line,
//! against berth's stand-in Kubernetes API server on loopback (no real API server can run
//! on the test machine; the stand-in speaks the real wire protocol kube-rs uses: discovery,
//! server-side apply, get, list by label, delete).

mod common;

use berth_deploy::kubernetes::standin::StandIn;
use common::berth;
use std::path::{Path, PathBuf};
use std::process::Output;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs berth with the stand-in's kubeconfig.
fn kubectl_like(dir: &Path, kubeconfig: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .current_dir(dir)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .unwrap()
}

#[test]
fn render_writes_every_object_once_with_no_secret_value() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("manifests");
    let stack = repo().join("examples/rag-kubernetes");
    let run = berth(
        dir.path(),
        &[
            "render",
            "kubernetes",
            stack.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert!(run.status.success(), "{}", text(&run));
    let files: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let printed = text(&run);
    assert!(
        printed.contains(&format!("wrote {} manifests", files.len())),
        "{printed}"
    );
    let all: String = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    for kind in [
        "Deployment",
        "StatefulSet",
        "Service",
        "CronJob",
        "Job",
        "NetworkPolicy",
    ] {
        assert!(all.contains(&format!("kind: {kind}\n")), "no {kind}");
    }
    // References stay references in the stack file the ConfigMap carries; everywhere
    // else they became Secret references.
    for f in &files {
        let body = std::fs::read_to_string(f).unwrap();
        if !body.contains("kind: ConfigMap\n") {
            assert!(
                !body.contains("${secret:"),
                "{}: a raw reference",
                f.display()
            );
        }
    }
    assert!(all.contains("secretKeyRef"));
    // The command tells how to create the Secret, naming keys only.
    assert!(
        printed.contains("create secret generic support-kb-secrets"),
        "{printed}"
    );
}

#[test]
fn apply_diff_prune_and_wait_through_the_cli() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let standin = runtime.block_on(StandIn::start()).unwrap();
    standin.set_auto_ready(true);
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("berth.yaml");
    let original =
        std::fs::read_to_string(repo().join("examples/rag-kubernetes/berth.yaml")).unwrap();
    std::fs::write(&stack, &original).unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, standin.kubeconfig("support-kb")).unwrap();
    let berth = |args: &[&str]| kubectl_like(dir.path(), &kubeconfig, args);

    // First apply: everything created with server-side apply, waited for, ready.
    let first = berth(&["apply", ".", "--timeout", "30"]);
    assert!(first.status.success(), "{}", text(&first));
    assert!(
        text(&first).contains("is applied and ready"),
        "{}",
        text(&first)
    );
    let gateway = standin
        .get("Deployment", Some("support-kb"), "gateway")
        .expect("the gateway Deployment exists");
    assert!(
        gateway["metadata"]["labels"]["applyset.kubernetes.io/part-of"].is_string(),
        "{gateway:#}"
    );
    let patches: Vec<_> = standin
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    assert!(!patches.is_empty());
    for p in &patches {
        assert_eq!(
            p.content_type.as_deref(),
            Some("application/apply-patch+yaml"),
            "{}",
            p.path
        );
        assert_eq!(p.field_manager(), Some("berth"), "{}", p.path);
    }
    // Waiting followed the plan's order: the state store before the gateway.
    let progress = text(&first);
    let at = |needle: &str| {
        progress
            .find(needle)
            .unwrap_or_else(|| panic!("no `{needle}` in:\n{progress}"))
    };
    assert!(at("state ready") < at("gateway ready"), "{progress}");

    // Nothing changed: diff says so.
    let diff = berth(&["diff", "."]);
    assert!(diff.status.success(), "{}", text(&diff));
    assert!(
        text(&diff).contains("\n0 of ") || text(&diff).starts_with("0 of "),
        "{}",
        text(&diff)
    );

    // The stack drops the UI: diff and a default apply only report it; --prune deletes.
    let without_ui = original.replace(
        "  ui:\n    uses: open-webui\n    with: { secret_key: \"${secret:WEBUI_SECRET_KEY}\" }\n",
        "",
    );
    let without_ui = without_ui
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') || !l.contains("UI"))
        .filter(|l| !l.contains("bind: { openai-chat: gateway }"))
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(
        without_ui, original,
        "the example changed: update this test"
    );
    std::fs::write(&stack, format!("{without_ui}\n")).unwrap();
    let diff = berth(&["diff", "."]);
    assert!(diff.status.success(), "{}", text(&diff));
    assert!(
        text(&diff).contains("StatefulSet support-kb/ui"),
        "{}",
        text(&diff)
    );
    let dry = berth(&["apply", ".", "--timeout", "30"]);
    assert!(dry.status.success(), "{}", text(&dry));
    assert!(text(&dry).contains("would be pruned"), "{}", text(&dry));
    assert!(
        standin
            .get("StatefulSet", Some("support-kb"), "ui")
            .is_some()
    );
    let pruned = berth(&["apply", ".", "--prune", "--timeout", "30"]);
    assert!(pruned.status.success(), "{}", text(&pruned));
    assert!(
        standin
            .get("StatefulSet", Some("support-kb"), "ui")
            .is_none()
    );
    assert!(
        standin
            .get("Deployment", Some("support-kb"), "gateway")
            .is_some()
    );

    // A component that never becomes ready: apply fails and says which and why.
    standin.set_auto_ready(false);
    standin.script_status(
        "Deployment",
        Some("support-kb"),
        "llm",
        serde_json::json!({
            "observedGeneration": 99,
            "replicas": 1,
            "readyReplicas": 0,
            "conditions": [{"type": "Available", "status": "False",
                            "reason": "MinimumReplicasUnavailable",
                            "message": "Deployment does not have minimum availability."}]
        }),
    );
    let stuck = berth(&["apply", ".", "--timeout", "2"]);
    assert_eq!(stuck.status.code(), Some(1), "{}", text(&stuck));
    let said = text(&stuck);
    assert!(said.contains("not ready"), "{said}");
    assert!(said.contains("MinimumReplicasUnavailable"), "{said}");
}

#[test]
fn apply_without_a_cluster_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("missing-kubeconfig");
    let out = kubectl_like(
        dir.path(),
        &kubeconfig,
        &[
            "apply",
            repo().join("examples/rag-kubernetes").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("kubeconfig"), "{}", text(&out));
}
