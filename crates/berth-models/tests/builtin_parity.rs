//! The built-in embedder against reference vectors made by sentence-transformers
//! (`bench/retrieval/make_fixture.py`): every vector must match to cosine ≥ 0.999.
//!
//! Needs the all-MiniLM-L6-v2 weights (`bench/fetch-model.sh`, or `BERTH_TEST_MODEL_DIR`).
//! Without them the tests say so loudly and stop — and fail under CI, which fetches them.

use berth_models::{BuiltinEmbedder, BuiltinOptions, Embedder};
use std::path::PathBuf;

fn model_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("BERTH_TEST_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.models/all-MiniLM-L6-v2")
        });
    if dir.join("model.safetensors").is_file() {
        return Some(dir);
    }
    let message = format!(
        "model weights not found at {}: run bench/fetch-model.sh (or set BERTH_TEST_MODEL_DIR)",
        dir.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{message}");
    }
    eprintln!("SKIPPED: {message}");
    None
}

#[derive(serde::Deserialize)]
struct Fixture {
    max_seq_length: usize,
    texts: Vec<String>,
    vectors: Vec<Vec<f32>>,
}

fn fixture() -> Fixture {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minilm_reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

#[test]
fn vectors_match_sentence_transformers() {
    let Some(dir) = model_dir() else { return };
    let fixture = fixture();
    assert!(
        fixture.texts.len() >= 32,
        "the fixture is too small to mean much"
    );
    // Odd batch sizes mix lengths inside a batch and split others across batches.
    for batch_size in [1, 7, 32] {
        let options = BuiltinOptions {
            batch_size,
            ..BuiltinOptions::default()
        };
        let embedder = BuiltinEmbedder::load(dir.to_str().unwrap(), &options).unwrap();
        assert_eq!(embedder.max_tokens(), fixture.max_seq_length);
        assert_eq!(embedder.dimension().unwrap(), fixture.vectors[0].len());
        let texts: Vec<&str> = fixture.texts.iter().map(String::as_str).collect();
        let vectors = embedder.embed(&texts).unwrap();
        let mut worst = (1.0f64, 0usize);
        for (i, (got, want)) in vectors.iter().zip(&fixture.vectors).enumerate() {
            let c = cosine(got, want);
            if c < worst.0 {
                worst = (c, i);
            }
            let norm: f32 = got.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!(
                (norm - 1.0).abs() < 1e-4,
                "vector {i} is not unit length: {norm}"
            );
        }
        eprintln!(
            "batch size {batch_size}: lowest cosine to sentence-transformers {:.9} (text {})",
            worst.0, worst.1
        );
        assert!(
            worst.0 >= 0.999,
            "batch size {batch_size}: cosine {} for text {}: {:?}",
            worst.0,
            worst.1,
            fixture.texts[worst.1].chars().take(80).collect::<String>()
        );
    }
}

#[test]
fn a_text_embeds_the_same_alone_and_in_a_batch() {
    let Some(dir) = model_dir() else { return };
    let embedder =
        BuiltinEmbedder::load(dir.to_str().unwrap(), &BuiltinOptions::default()).unwrap();
    let texts = [
        "short",
        "a much longer sentence about ports and containers",
        "",
    ];
    let together = embedder.embed(&texts).unwrap();
    for (i, text) in texts.iter().enumerate() {
        let alone = embedder.embed(&[text]).unwrap();
        assert!(cosine(&alone[0], &together[i]) > 0.99999, "text {i}");
    }
    assert!(embedder.embed(&[]).unwrap().is_empty());
}

#[test]
fn a_broken_model_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), r#"{"model_type": "bert"}"#).unwrap();
    let err = BuiltinEmbedder::load(dir.path().to_str().unwrap(), &BuiltinOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("config.json") && err.contains("not a BERT configuration"),
        "{err}"
    );

    std::fs::write(
        dir.path().join("config.json"),
        r#"{"model_type": "bert", "hidden_size": 8, "num_attention_heads": 2,
            "num_hidden_layers": 1, "intermediate_size": 16, "max_position_embeddings": 8}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("model.safetensors"), b"not safetensors").unwrap();
    let err = BuiltinEmbedder::load(dir.path().to_str().unwrap(), &BuiltinOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("model.safetensors") && err.contains("not a safetensors file"),
        "{err}"
    );
}
