//! End-to-end tests of the `berth` binary, as a user runs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn berth(args: &[&str]) -> Output {
    berth_in(&root(), args, &[])
}

fn berth_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.args(args).current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("berth runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Copies an example into a temporary directory, so state written under `.berth/` stays
/// out of the repository.
fn temp_example(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let text =
        std::fs::read_to_string(root().join("examples").join(name).join("berth.yaml")).unwrap();
    std::fs::write(dir.path().join("berth.yaml"), text).unwrap();
    dir
}

#[test]
fn every_example_validates() {
    for example in ["quickstart", "rag-kubernetes", "rag-compose", "text2sql"] {
        let dir = temp_example(example);
        let out = berth_in(dir.path(), &["validate"], &[]);
        assert!(out.status.success(), "{example}: {}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains("is valid"),
            "{}",
            text(&out.stdout)
        );
    }
}

#[test]
fn plan_json_is_byte_identical_across_runs() {
    let dir = temp_example("rag-kubernetes");
    let a = berth_in(dir.path(), &["plan", "--json"], &[]);
    let b = berth_in(dir.path(), &["plan", "--json"], &[]);
    assert!(a.status.success(), "{}", text(&a.stderr));
    assert_eq!(a.stdout, b.stdout);
    let plan: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    assert_eq!(plan["format"], 1);
    assert_eq!(
        plan["order"].as_array().unwrap().len(),
        plan["components"].as_object().unwrap().len()
    );
}

#[test]
fn secret_values_never_reach_the_output() {
    let dir = temp_example("rag-kubernetes");
    let secret = "s3cr3t-value-that-must-not-leak";
    let env = [
        ("PG_PASSWORD", secret),
        ("DEEPSEEK_API_KEY", secret),
        ("HF_TOKEN", secret),
    ];
    for args in [&["plan", "--json"][..], &["plan"][..], &["validate"][..]] {
        let out = berth_in(dir.path(), args, &env);
        assert!(out.status.success());
        assert!(!text(&out.stdout).contains(secret) && !text(&out.stderr).contains(secret));
    }
    let out = berth_in(dir.path(), &["plan", "--json"], &env);
    assert!(text(&out.stdout).contains("${secret:PG_PASSWORD}"));
}

#[test]
fn a_literal_api_key_is_refused_without_echoing_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("berth.yaml"),
        "stack: leak\nmodels:\n  chat:\n    - { provider: openai, model: gpt-4o-mini, api_key: sk-live-abcdef123456 }\n",
    )
    .unwrap();
    let out = berth_in(dir.path(), &["validate"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("`api_key` must be a secret reference"),
        "{err}"
    );
    // The snippet line shows the file; the message and help never repeat the value.
    let message_lines: Vec<&str> = err.lines().filter(|l| !l.contains(" | ")).collect();
    assert!(
        message_lines.iter().all(|l| !l.contains("sk-live")),
        "{err}"
    );
}

#[test]
fn several_errors_are_reported_at_once_with_positions() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("berth.yaml"),
        "stack: demo\ncomponents:\n  llm: { uses: vlm }\n  db: { uses: postgres, wiht: {} }\npipelines:\n  p: { source: nowhere }\n",
    )
    .unwrap();
    let out = berth_in(dir.path(), &["validate"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "berth.yaml:3:16: error: component `llm` uses `vlm`, which is not in the catalog"
        ),
        "{err}"
    );
    assert!(err.contains("help: did you mean `vllm`?"), "{err}");
    assert!(
        err.contains("berth.yaml:4:25: error: component `db`: unknown key `wiht`"),
        "{err}"
    );
    assert!(
        err.contains("berth.yaml:6:16: error: pipeline `p` reads source `nowhere`"),
        "{err}"
    );
    assert!(err.contains("berth: 3 errors found"), "{err}");
}

#[test]
fn a_missing_stack_file_is_a_user_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = berth_in(dir.path(), &["plan"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no stack file at"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn host_ports_are_recorded_and_stay_stable() {
    let dir = temp_example("rag-compose");
    let first = berth_in(dir.path(), &["plan", "--json"], &[]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(dir.path().join(".berth/ports.json").exists());
    let plan: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    let port = plan["components"]["gateway"]["ports"][0]["host"]
        .as_u64()
        .unwrap() as u16;
    // Something now listens on the gateway's port (as the gateway itself would): the
    // recorded port is kept, not moved.
    let _listener = std::net::TcpListener::bind(("127.0.0.1", port));
    let second = berth_in(dir.path(), &["plan", "--json"], &[]);
    assert_eq!(first.stdout, second.stdout);
}

#[test]
fn catalog_list_and_show() {
    let out = berth(&["catalog", "list"]);
    assert!(out.status.success());
    let list = text(&out.stdout);
    // Every built-in entry (the required ones are pinned by berth-stack's catalog tests).
    let catalog = berth_stack::catalog::Catalog::builtin().expect("built-in catalog");
    assert!(catalog.len() >= 20);
    for name in catalog.names() {
        assert!(
            list.lines().any(|l| l.starts_with(&format!("{name} "))),
            "{name} missing:\n{list}"
        );
    }
    let show = berth(&["catalog", "show", "vllm"]);
    assert!(show.status.success());
    assert!(
        text(&show.stdout).contains("vllm/vllm-openai:")
            || text(&show.stdout).contains("repository: vllm/vllm-openai")
    );
    let json = berth(&["catalog", "show", "qdrant", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["provides"][0], "vector-store/qdrant");
    let missing = berth(&["catalog", "show", "qdrnt"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("did you mean `qdrant`?"));
}

#[test]
fn a_user_catalog_adds_entries() {
    let dir = tempfile::tempdir().unwrap();
    let cat = dir.path().join("cat");
    std::fs::create_dir(&cat).unwrap();
    std::fs::write(
        cat.join("my-search.yaml"),
        "name: my-search\ndescription: in-house search\ncategory: vector-store\nimage: { repository: registry.local/search, tag: \"2.1.0\" }\nports: [{ name: http, port: 7700 }]\nprovides: [{ contract: vector-store/my-search, port: http }]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("berth.yaml"),
        "stack: custom\ntarget: compose\ncatalog: ./cat\ncomponents:\n  search: { uses: my-search }\n",
    )
    .unwrap();
    let out = berth_in(dir.path(), &["plan", "--json"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        plan["components"]["search"]["image"],
        "registry.local/search:2.1.0"
    );
    let list = berth_in(dir.path(), &["--catalog", "cat", "catalog", "list"], &[]);
    assert!(text(&list.stdout).contains("my-search"));
}

#[test]
fn init_writes_templates_that_validate() {
    for template in ["quickstart", "rag", "text2sql", "kubernetes"] {
        let dir = tempfile::tempdir().unwrap();
        let out = berth_in(dir.path(), &["init", "--template", template], &[]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let out = berth_in(dir.path(), &["validate"], &[]);
        assert!(out.status.success(), "{template}: {}", text(&out.stderr));
        let again = berth_in(dir.path(), &["init", "--template", template], &[]);
        assert_eq!(again.status.code(), Some(1), "init must not overwrite");
    }
}

#[test]
fn target_override_changes_the_plan() {
    let dir = temp_example("rag-compose");
    let out = berth_in(
        dir.path(),
        &["plan", "--json", "--target", "kubernetes"],
        &[],
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["target"], "kubernetes");
    assert!(
        plan["components"]["gateway"]["ports"][0]
            .get("host")
            .is_none()
    );
    assert_eq!(
        plan["connections"]["vectors/vector-store/qdrant"]["url"],
        "http://vectors:6333"
    );
}

#[test]
fn help_text_is_stable() {
    let out = berth(&["--help"]);
    assert!(out.status.success());
    insta::assert_snapshot!(text(&out.stdout));
}

#[test]
fn rendered_diagnostics_are_stable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("berth.yaml"),
        "stack: demo\ninventory:\n  nodes:\n    - { name: n1, gpus: [{ vendor: nvidia, memory: 24Gi }], driver: \"535.104\", cuda: \"12.2\" }\ncomponents:\n  llm: { uses: vllm, with: { model: meta-llama/Llama-3.1-70B-Instruct }, resources: { gpu: 1 } }\n",
    )
    .unwrap();
    let out = berth_in(dir.path(), &["validate"], &[]);
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!(text(&out.stderr));
}
