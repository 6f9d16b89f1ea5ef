//! The embedder role (`berth serve --role embedder`, the `berth-embedder` catalog entry's
//! command): the built-in model over the OpenAI embeddings API, answering exactly what the
//! model computes in process, as floats or as the base64 the official clients ask for.

mod common;

use base64::Engine as _;
use berth_models::{BuiltinEmbedder, Embedder as _};
use common::{Server, model_dir};
use serde_json::Value;

#[test]
fn the_embedder_role_serves_the_builtin_model_over_the_openai_api() {
    let Some(model) = model_dir() else { return };
    let work = tempfile::tempdir().unwrap();
    let server = Server::start_args(
        work.path(),
        &[
            "serve",
            "--role",
            "embedder",
            "--port",
            "0",
            "--model-dir",
            model.to_str().unwrap(),
            "--model-name",
            "minilm",
        ],
        &[],
    );
    let texts = [
        "The harbour pilot boards at the outer buoy.",
        "Cargo cranes at the quay.",
    ];
    let local = BuiltinEmbedder::load(model.to_str().unwrap(), &Default::default()).unwrap();
    let expected = local.embed(&texts).unwrap();

    // Floats.
    let (status, body) = server.request(
        "POST",
        "/v1/embeddings",
        None,
        &serde_json::json!({"model": "minilm", "input": texts}).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["model"], "minilm");
    let got: Vec<Vec<f32>> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            d["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        })
        .collect();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].len(), 384);
    assert_eq!(got, expected);
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0);

    // Base64 (what the official openai client requests by default): little-endian f32.
    let (status, body) = server.request(
        "POST",
        "/v1/embeddings",
        None,
        &serde_json::json!({"model": "minilm", "input": texts[1], "encoding_format": "base64"})
            .to_string(),
    );
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v["data"][0]["embedding"].as_str().unwrap())
        .unwrap();
    let decoded: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(decoded, expected[1]);

    // The model list, and errors in the OpenAI shape.
    let (status, body) = server.request("GET", "/v1/models", None, "");
    assert_eq!(status, 200);
    assert!(body.contains("\"minilm\""), "{body}");
    for (request, code, param) in [
        (
            serde_json::json!({"model": "other", "input": "x"}),
            404,
            Value::from("model"),
        ),
        (
            serde_json::json!({"model": "minilm", "input": [1, 2, 3]}),
            400,
            Value::from("input"),
        ),
        (
            serde_json::json!({"model": "minilm", "input": []}),
            400,
            Value::from("input"),
        ),
        (
            serde_json::json!({"model": "minilm", "input": "x", "encoding_format": "int8"}),
            400,
            Value::from("encoding_format"),
        ),
    ] {
        let (status, body) = server.request("POST", "/v1/embeddings", None, &request.to_string());
        assert_eq!(status, code, "{request}: {body}");
        let e: Value = serde_json::from_str(&body).unwrap();
        assert!(e["error"]["message"].is_string(), "{body}");
        assert_eq!(e["error"]["param"], param, "{body}");
    }
    let (status, body) = server.request("POST", "/v1/embeddings", None, "{not json");
    assert_eq!(status, 400, "{body}");
}

#[test]
fn the_embedder_role_names_a_missing_model() {
    let work = tempfile::tempdir().unwrap();
    let out = common::berth(
        work.path(),
        &[
            "serve",
            "--role",
            "embedder",
            "--port",
            "0",
            "--model-dir",
            "/nonexistent/model",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/model"), "{err}");
}
