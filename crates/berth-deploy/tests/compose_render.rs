//! The compose render of every example stack: pinned by snapshots, checked for secret
//! values, for what the plan implies (health gates, edge-only host ports, mounts) and by
//! the Compose CLI itself (`config`).

use berth_deploy::compose::{self, ComposeFile, RenderOptions};
use berth_stack::catalog::Catalog;
use berth_stack::plan::Plan;
use berth_stack::stack::{StackFile, Target};
use berth_stack::{Environment, resolve};
use std::path::{Path, PathBuf};
use std::process::Command;

const EXAMPLES: [&str; 4] = ["quickstart", "rag-compose", "rag-kubernetes", "text2sql"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn plan(example: &str) -> Plan {
    let path = repo().join("examples").join(example).join("berth.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let (file, diags) = StackFile::parse(&format!("examples/{example}/berth.yaml"), &text);
    assert!(!diags.has_errors(), "{example}:\n{diags}");
    let env = Environment {
        target: Some(Target::Compose),
        ..Environment::default()
    };
    match resolve(&file.unwrap(), &Catalog::builtin().unwrap(), &env) {
        Ok(r) => r.plan,
        Err(d) => panic!("{example} does not resolve:\n{d}"),
    }
}

/// Rendered as `berth up --target compose` does: into the stack's `.berth/compose`.
fn rendered(example: &str) -> (Plan, ComposeFile, PathBuf) {
    let plan = plan(example);
    let stack_dir = repo().join("examples").join(example);
    let out_dir = stack_dir.join(".berth/compose");
    let file = compose::render(
        &plan,
        &RenderOptions {
            stack_dir,
            out_dir: out_dir.clone(),
        },
    )
    .unwrap_or_else(|e| panic!("{example}: {e}"));
    (plan, file, out_dir)
}

fn yaml(example: &str) -> String {
    let (plan, file, _) = rendered(example);
    compose::to_yaml(&plan, &file)
        .unwrap()
        .replace(env!("CARGO_PKG_VERSION"), "<version>")
}

#[test]
fn every_example_renders_the_same_compose_file() {
    for example in EXAMPLES {
        insta::assert_snapshot!(
            format!("{}_compose", example.replace('-', "_")),
            yaml(example)
        );
    }
}

#[test]
fn services_follow_the_plan() {
    let (plan, file, _) = rendered("rag-compose");
    // Every deployed component is a service, nothing else.
    let deployed: Vec<&String> = plan
        .components
        .iter()
        .filter(|(_, c)| c.external_url.is_none())
        .map(|(n, _)| n)
        .collect();
    assert_eq!(file.services.keys().collect::<Vec<_>>(), deployed);
    for (name, service) in &file.services {
        let c = &plan.components[name];
        // Host ports only for the edge, on loopback.
        let edge: Vec<String> = c
            .ports
            .iter()
            .filter(|p| p.edge)
            .map(|p| format!("127.0.0.1:{}:{}", p.host.unwrap(), p.container))
            .collect();
        assert_eq!(service.ports, edge, "{name}");
        // Each dependency gates the start, on health when it has a probe.
        for dep in &c.depends_on {
            let gate = &service.depends_on[dep].condition;
            let expected = if plan.components[dep].health.is_some() {
                "service_healthy"
            } else {
                "service_started"
            };
            assert_eq!(gate, expected, "{name} after {dep}");
        }
        assert_eq!(service.depends_on.len(), c.depends_on.len(), "{name}");
        // The startup budget is the grace period.
        if let Some(h) = &c.health {
            let check = service.healthcheck.as_ref().unwrap();
            assert_eq!(check.start_period, format!("{}s", h.startup_budget_s));
        }
        assert_eq!(service.networks, [compose::NETWORK]);
        assert_eq!(service.deploy.is_some(), c.resources.gpu > 0, "{name}");
    }
    // berth's roles: probes without a shell, the stack read-only, state in a volume.
    let gateway = &file.services["gateway"];
    assert_eq!(
        gateway.healthcheck.as_ref().unwrap().test[..3],
        ["CMD", "berth", "probe"]
    );
    assert!(
        gateway.volumes.contains(&"../..:/stack:ro".to_owned()),
        "{:?}",
        gateway.volumes
    );
    assert!(gateway.volumes.contains(&"state:/state".to_owned()));
    assert_eq!(gateway.environment["BERTH_TARGET"], "compose");
    assert_eq!(gateway.working_dir.as_deref(), Some("/stack"));
    // Other images probe through their own shell.
    let vectors = &file.services["vectors"];
    assert_eq!(vectors.healthcheck.as_ref().unwrap().test[0], "CMD-SHELL");
    assert!(file.volumes.contains_key("state"));
}

#[test]
fn a_source_outside_the_stack_directory_is_mounted_where_the_stack_file_points() {
    let (_, file, _) = rendered("quickstart");
    let worker = &file.services["worker"];
    // The quickstart reads `../../docs`: from /stack that is /docs.
    assert!(
        worker
            .volumes
            .contains(&"../../../../docs:/docs:ro".to_owned()),
        "{:?}",
        worker.volumes
    );
}

#[test]
fn no_secret_value_reaches_the_compose_file() {
    for example in EXAMPLES {
        let (plan, file, _) = rendered(example);
        let text = yaml(example);
        assert!(
            !text.contains("${secret:"),
            "{example}: unresolved reference"
        );
        let vars = compose::variables(&file);
        for secret in &plan.secrets {
            assert!(vars.contains(secret), "{example}: `{secret}` is not passed");
            assert!(
                text.contains(&format!("${{{secret}}}")),
                "{example}: {secret}"
            );
        }
        assert_eq!(vars.len(), plan.secrets.len(), "{example}: {vars:?}");
    }
}

/// The Compose CLI, or `None` (skipped loudly; under CI a failure).
fn compose_cli() -> Option<Vec<&'static str>> {
    for program in [vec!["docker", "compose"], vec!["docker-compose"]] {
        let ok = Command::new(program[0])
            .args(&program[1..])
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(program);
        }
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "the Compose CLI is missing (docker compose or docker-compose)"
    );
    eprintln!("SKIPPED: the Compose CLI is missing (docker compose or docker-compose)");
    None
}

#[test]
fn the_compose_cli_accepts_every_rendered_file() {
    let Some(cli) = compose_cli() else { return };
    for example in EXAMPLES {
        let (plan, _, _) = rendered(example);
        // Written where `up` writes it, in a scratch copy, so relative mounts resolve.
        let scratch = tempfile::tempdir().unwrap();
        let out = scratch.path().join(example).join(".berth/compose");
        std::fs::create_dir_all(&out).unwrap();
        let path = out.join(compose::FILE_NAME);
        std::fs::write(&path, yaml(example)).unwrap();
        let env = out.join("secrets.env");
        let values = plan
            .secrets
            .iter()
            .map(|s| (s.clone(), format!("value-of-{s}")))
            .collect();
        compose::write_env_file(&env, &values).unwrap();
        let output = Command::new(cli[0])
            .args(&cli[1..])
            .args(["-p", &plan.namespace, "-f"])
            .arg(&path)
            .arg("--env-file")
            .arg(&env)
            .args(["config"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{example}: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        // Compose fills the secrets in from the env file, and only there.
        for s in &plan.secrets {
            assert!(stdout.contains(&format!("value-of-{s}")), "{example}: {s}");
        }
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&env).unwrap().permissions(),
        );
        assert_eq!(mode & 0o077, 0, "the env file is readable by others");
    }
}
