//! Which embedder a pipeline's logical model gets, from real stack files.

use berth_models::{EmbedderChoice, SelectError, embedder_for};
use berth_stack::catalog::Catalog;
use berth_stack::plan::Plan;
use berth_stack::stack::{StackFile, Target};
use berth_stack::{Environment, resolve};
use std::path::Path;

fn plan(text: &str, target: Option<Target>) -> Plan {
    let (file, diags) = StackFile::parse("berth.yaml", text);
    assert!(!diags.has_errors(), "{diags}");
    let env = Environment {
        target,
        ..Environment::default()
    };
    resolve(&file.unwrap(), &Catalog::builtin().unwrap(), &env)
        .unwrap_or_else(|d| panic!("{d}"))
        .plan
}

const PIPELINE: &str =
    "sources:\n  docs: { path: ./docs }\npipelines:\n  idx: { source: docs, embed: embed }\n";

#[test]
fn a_tei_component_is_spoken_to_at_its_connection() {
    let p = plan(
        &format!(
            "stack: s\ntarget: compose\ncomponents:\n  tei: {{ uses: text-embeddings-inference, with: {{ model: BAAI/bge-small-en-v1.5 }} }}\nmodels:\n  embed:\n    - component: tei\n{PIPELINE}"
        ),
        None,
    );
    match embedder_for(&p, "embed", Path::new(".")).unwrap() {
        EmbedderChoice::Tei {
            base_url, model, ..
        }
        | EmbedderChoice::OpenAi {
            base_url, model, ..
        } => {
            assert!(base_url.starts_with("http://tei:"), "{base_url}");
            assert_eq!(model, "BAAI/bge-small-en-v1.5");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_provider_route_uses_its_base_url_model_and_key_reference() {
    let p = plan(
        &format!(
            "stack: s\nmodels:\n  embed:\n    - provider: openai\n      model: text-embedding-3-small\n      api_key: ${{secret:OPENAI_API_KEY}}\n{PIPELINE}"
        ),
        None,
    );
    let choice = embedder_for(&p, "embed", Path::new(".")).unwrap();
    assert_eq!(
        choice,
        EmbedderChoice::OpenAi {
            base_url: "https://api.openai.com/v1".into(),
            model: "text-embedding-3-small".into(),
            api_key: Some("${secret:OPENAI_API_KEY}".into()),
        }
    );
    assert_eq!(
        choice.identity(),
        "openai:https://api.openai.com/v1:text-embedding-3-small"
    );
}

#[test]
fn the_berth_embedder_runs_in_process_locally_and_over_http_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("models/mini")).unwrap();
    let text = format!(
        "stack: s\ncomponents:\n  embedder: {{ uses: berth-embedder, with: {{ model_dir: ./models/mini, model_name: mini }} }}\nmodels:\n  embed:\n    - component: embedder\n{PIPELINE}"
    );
    let local = plan(&text, None);
    assert_eq!(
        embedder_for(&local, "embed", dir.path()).unwrap(),
        EmbedderChoice::Builtin {
            dir: dir.path().join("./models/mini"),
            name: "mini".into()
        }
    );
    let compose = plan(&text, Some(Target::Compose));
    match embedder_for(&compose, "embed", dir.path()).unwrap() {
        EmbedderChoice::OpenAi {
            base_url, model, ..
        } => {
            assert!(
                base_url.starts_with("http://embedder:") && base_url.ends_with("/v1"),
                "{base_url}"
            );
            assert_eq!(model, "mini");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_missing_builtin_model_says_where_it_looked_and_that_nothing_is_downloaded() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "stack: s\ncomponents:\n  embedder: {{ uses: berth-embedder, with: {{ model_dir: ./nowhere, model_name: org/not-cached-anywhere }} }}\nmodels:\n  embed:\n    - component: embedder\n{PIPELINE}"
    );
    let err = embedder_for(&plan(&text, None), "embed", dir.path()).unwrap_err();
    assert!(matches!(err, SelectError::Builtin { .. }));
    let message = err.to_string();
    assert!(
        message.contains("org/not-cached-anywhere") && message.contains("never downloads"),
        "{message}"
    );
}

#[test]
fn an_unknown_model_is_named() {
    let p = plan("stack: s\n", None);
    assert_eq!(
        embedder_for(&p, "embed", Path::new("."))
            .unwrap_err()
            .to_string(),
        "model `embed` is not declared under `models:`"
    );
}
