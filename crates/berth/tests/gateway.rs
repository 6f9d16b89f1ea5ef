//! `berth serve` as clients see it: the official `openai` Python client against the
//! gateway, with stand-in upstreams (the project's own scripted OpenAI-compatible servers,
//! since real model servers cannot run here), and reloading the stack file while serving.

mod common;

use berth_serve::standin::{Behavior, Standin};
use common::Server;
use std::path::PathBuf;
use std::process::Command;

/// A Python with the `openai` package: `BERTH_TEST_PYTHON`, else the `.venv-test` that
/// `.ci/run` creates. Without one the test says so loudly, and fails under CI.
fn python() -> Option<PathBuf> {
    let candidate = std::env::var_os("BERTH_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv-test/bin/python")
        });
    let works = Command::new(&candidate)
        .args(["-c", "import openai"])
        .output()
        .is_ok_and(|o| o.status.success());
    if works {
        return Some(candidate);
    }
    let message = format!(
        "no Python with the openai package at {} (python3 -m venv .venv-test && .venv-test/bin/pip install openai)",
        candidate.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{message}");
    }
    eprintln!("SKIPPED: {message}");
    None
}

/// A logical model `name` served by `upstreams` as fallback tiers in that order (the
/// first as `upstream-NAME`, the others as `upstream-NAME-2`, … — different upstream
/// models, so they are not replicas sharing traffic), with the upstream key from the
/// environment.
fn model(name: &str, upstreams: &[&Standin]) -> String {
    let mut text = format!("  {name}:\n");
    for (i, upstream) in upstreams.iter().enumerate() {
        let suffix = if i == 0 {
            String::new()
        } else {
            format!("-{}", i + 1)
        };
        text += &format!(
            "    - provider: openai\n      base_url: {}\n      model: upstream-{name}{suffix}\n      api_key: ${{secret:UPSTREAM_KEY}}\n",
            upstream.base_url()
        );
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_openai_client_works_against_the_gateway() {
    let Some(python) = python() else { return };
    let healthy = Standin::start("healthy").await.unwrap();
    let failing = Standin::start("failing").await.unwrap();
    failing.set_default(Behavior::default().status(500));
    let limited = Standin::start("limited").await.unwrap();
    limited.set_default(Behavior::default().status(429).retry_after_secs(300));
    let picky = Standin::start("picky").await.unwrap();
    picky.set_default(Behavior::default().status(400));
    let cut = Standin::start("cut").await.unwrap();
    cut.set_default(
        Behavior::default()
            .disconnect_after(2)
            .tokens(["a", "b", "c", "d", "e", "f"]),
    );

    let dir = tempfile::tempdir().unwrap();
    let stack = [
        "stack: gw\nmodels:\n".to_string(),
        model("chat", &[&healthy]),
        model("flaky", &[&failing, &healthy]),
        model("limited", &[&limited]),
        model("picky", &[&picky]),
        model("cut", &[&cut]),
        model("embed", &[&healthy]),
    ]
    .concat();
    std::fs::write(dir.path().join("berth.yaml"), &stack).unwrap();
    let server = Server::start(dir.path(), &[("UPSTREAM_KEY", "sk-upstream-secret")]);

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/openai_client.py");
    let base_url = server.base_url();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .arg(base_url)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success() && stdout.contains("all checks passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // What the upstream saw: its own model name, its own key (never the client's), and
    // fields berth does not know passed through untouched.
    let first = &healthy.requests()[0];
    assert_eq!(first.body["model"], "upstream-chat");
    assert_eq!(first.body["top_k"], 5);
    assert_eq!(
        first.authorization.as_deref(),
        Some("Bearer sk-upstream-secret")
    );
    assert!(
        !failing.requests().is_empty(),
        "the failing route was tried first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_the_stack_file_reloads_the_routes_without_a_restart() {
    let a = Standin::start("a").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("berth.yaml");
    std::fs::write(
        &path,
        format!("stack: gw\nmodels:\n{}", model("chat", &[&a])),
    )
    .unwrap();
    let server = Server::start(dir.path(), &[("UPSTREAM_KEY", "sk-upstream-secret")]);
    assert!(
        server
            .request("GET", "/v1/models", None, "")
            .1
            .contains("\"chat\"")
    );

    std::fs::write(
        &path,
        format!(
            "stack: gw\nmodels:\n{}{}",
            model("chat", &[&a]),
            model("summarise", &[&a])
        ),
    )
    .unwrap();
    server.wait_for("reloaded");
    let models = server.request("GET", "/v1/models", None, "").1;
    assert!(
        models.contains("\"summarise\"") && models.contains("\"chat\""),
        "{models}"
    );

    // A broken edit keeps the last good configuration.
    std::fs::write(&path, "stack: gw\nmodels: [not, a, map]\n").unwrap();
    server.wait_for("still serving the previous configuration");
    let models = server.request("GET", "/v1/models", None, "").1;
    assert!(models.contains("\"summarise\""), "{models}");
}
