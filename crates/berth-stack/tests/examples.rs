//! Every example stack resolves, and its plan is pinned by a snapshot. The environment is
//! fixed (no listening ports, nothing recorded) so the snapshots do not depend on the
//! machine.

use berth_stack::catalog::Catalog;
use berth_stack::stack::StackFile;
use berth_stack::{Environment, resolve};
use std::path::Path;

fn plan_json(example: &str, env: &Environment) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let path = root.join(example).join("berth.yaml");
    let text = std::fs::read_to_string(&path).expect("example exists");
    let (file, diags) = StackFile::parse(&format!("examples/{example}/berth.yaml"), &text);
    assert!(!diags.has_errors(), "{example}:\n{diags}");
    let catalog = Catalog::builtin().expect("built-in catalog loads");
    let plan = match resolve(&file.expect("readable"), &catalog, env) {
        Ok(r) => r.plan,
        Err(d) => panic!("{example} does not resolve:\n{d}"),
    };
    serde_json::to_string_pretty(&plan).expect("plan serialises")
}

macro_rules! example_snapshot {
    ($test:ident, $dir:literal) => {
        #[test]
        fn $test() {
            let env = Environment::default();
            let json = plan_json($dir, &env);
            assert_eq!(
                json,
                plan_json($dir, &env),
                "resolution is not deterministic"
            );
            insta::assert_snapshot!(json);
        }
    };
}

example_snapshot!(quickstart_plan, "quickstart");
example_snapshot!(rag_kubernetes_plan, "rag-kubernetes");
example_snapshot!(rag_compose_plan, "rag-compose");
example_snapshot!(text2sql_plan, "text2sql");

#[test]
fn every_example_directory_has_a_snapshot_test() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut dirs: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("berth.yaml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    assert_eq!(
        dirs,
        ["quickstart", "rag-compose", "rag-kubernetes", "text2sql"]
    );
}

#[test]
fn plans_hold_secret_references_never_values() {
    // Even with every referenced secret set in the process environment, the plan holds
    // only references: secrets are not environment variables of the resolver.
    let env = Environment::default();
    for example in ["rag-kubernetes", "text2sql"] {
        let json = plan_json(example, &env);
        assert!(
            json.contains("${secret:"),
            "{example} has secret references"
        );
        let plan: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert!(!plan["secrets"].as_array().unwrap().is_empty());
    }
}

#[test]
fn recorded_ports_are_kept_and_listening_ones_avoided() {
    let mut env = Environment::default();
    env.listening_ports.insert(8080);
    let json = plan_json("quickstart", &env);
    let plan: serde_json::Value = serde_json::from_str(&json).unwrap();
    let host = plan["components"]["gateway"]["ports"][0]["host"]
        .as_u64()
        .unwrap();
    assert_ne!(host, 8080);
    env.recorded_ports.insert("gateway/http".into(), 8080);
    let json = plan_json("quickstart", &env);
    let plan: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        plan["components"]["gateway"]["ports"][0]["host"].as_u64(),
        Some(8080)
    );
}
