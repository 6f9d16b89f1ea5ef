//! `berth keys` with `berth serve`: a created key is listed (without the key or its
//! hash), authenticates against the gateway, and stops working once revoked.

mod common;

use berth_serve::standin::Standin;
use common::Server;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn berth(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A chat request for model `chat`.
fn chat(server: &Server, key: Option<&str>) -> (u16, String) {
    server.request(
        "POST",
        "/v1/chat/completions",
        key,
        r#"{"model":"chat","messages":[{"role":"user","content":"hi"}]}"#,
    )
}
#[test]
fn keys_are_created_listed_used_and_revoked() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let upstream = runtime.block_on(Standin::start("up")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("berth.yaml"),
        format!(
            "stack: keys\nmodels:\n  chat:\n    - provider: openai\n      base_url: {}\n      model: upstream-chat\n",
            upstream.base_url()
        ),
    )
    .unwrap();

    let (ok, out, err) = berth(
        dir.path(),
        &[
            "keys", "create", "--user", "alice", "--groups", "eng,ops", "--models", "chat",
            "--rpm", "100", "--name", "laptop",
        ],
    );
    assert!(ok, "{out}\n{err}");
    let key = out
        .lines()
        .find(|l| l.starts_with("bk-"))
        .unwrap_or_else(|| panic!("no key printed: {out}"))
        .to_owned();
    assert_eq!(key.len(), 35);
    assert!(out.contains("created key 1 "), "{out}");

    let (ok, listed, _) = berth(dir.path(), &["keys", "list", "--json"]);
    assert!(ok);
    let keys: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(keys[0]["id"], 1);
    assert_eq!(keys[0]["name"], "laptop");
    assert_eq!(keys[0]["user"], "alice");
    assert_eq!(keys[0]["groups"], serde_json::json!(["eng", "ops"]));
    assert_eq!(keys[0]["models"], serde_json::json!(["chat"]));
    assert_eq!(keys[0]["rpm"], 100);
    assert!(keys[0]["revoked_ms"].is_null());
    let hash = blake3::hash(key.as_bytes()).to_hex().to_string();
    for text in [&listed, &berth(dir.path(), &["keys", "list"]).1] {
        assert!(!text.contains(&key[3..]), "the key is listed: {text}");
        assert!(!text.contains(&hash), "the hash is listed: {text}");
    }

    let server = Server::start(dir.path(), &[]);
    let (status, body) = chat(&server, None);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("invalid_api_key"));
    let (status, body) = chat(&server, Some(&key));
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.request("GET", "/healthz", None, "").0, 200);

    let (ok, out, err) = berth(dir.path(), &["keys", "revoke", "1"]);
    assert!(ok, "{out}\n{err}");
    let (_, listed, _) = berth(dir.path(), &["keys", "list", "--json"]);
    let keys: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert!(keys[0]["revoked_ms"].is_i64(), "{listed}");
    let (_, table, _) = berth(dir.path(), &["keys", "list"]);
    assert!(table.lines().nth(1).is_some_and(|l| l.contains("laptop")));

    // The gateway re-checks a key at most every 2 s: poll, bounded.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = chat(&server, Some(&key));
        if status == 401 {
            assert!(body.contains("invalid_api_key"));
            break;
        }
        assert_eq!(status, 200, "{body}");
        assert!(
            Instant::now() < deadline,
            "the revoked key still works after 15 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Usage is written off the request path, soon after.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, listed, _) = berth(dir.path(), &["keys", "list", "--json"]);
        let keys: serde_json::Value = serde_json::from_str(&listed).unwrap();
        let requests = keys[0]["usage"]["requests"].as_u64().unwrap();
        if requests >= 1 {
            // The stand-in reports 5 prompt tokens per request.
            assert_eq!(keys[0]["usage"]["prompt_tokens"], 5 * requests, "{listed}");
            break;
        }
        assert!(Instant::now() < deadline, "no usage recorded: {listed}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        !berth(dir.path(), &["keys", "revoke", "7"]).0,
        "revoking an unknown key fails"
    );
    drop(server);
    drop(upstream);
}
