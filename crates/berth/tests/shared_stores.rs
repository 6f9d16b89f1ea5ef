//! The read side of a stack whose state lives in PostgreSQL: `berth search`, `berth docs`
//! and the apps answer from the shared state store, with nothing in a local SQLite file;
//! a pipeline whose `store:` is the PostgreSQL component keeps its chunks in pgvector,
//! which every run brings in step (additions and deletions). Needs a real PostgreSQL
//! with pgvector (`BERTH_TEST_PG_URL`).

mod common;

use common::{Database, berth_env, berth_ok_env, model_dir, pg_url, write_file as write};
use serde_json::Value;
use std::path::Path;

fn corpus(dir: &Path) {
    write(
        dir,
        "docs/harbour.md",
        "# Harbour\n\nShips berth at the lighthouse pier when the tide is high.\n",
    );
    write(
        dir,
        "docs/kitchen.md",
        "# Kitchen\n\nThe bakery opens at dawn and sells rye bread with caraway.\n",
    );
    write(
        dir,
        "docs/garden.md",
        "# Garden\n\nTomatoes ripen in August; water them in the evening.\n",
    );
    write(
        dir,
        "secret/payroll.md",
        "# Payroll\n\nSalary bands for engineers are reviewed every spring.\n",
    );
}

fn stack(dir: &Path, url: &str, model: &Path) {
    write(
        dir,
        "berth.yaml",
        &format!(
            "stack: shared\n\
             components:\n  \
               db: {{ uses: postgres, url: {url}, with: {{ password: \"${{secret:PG_PASSWORD}}\" }} }}\n  \
               embedder: {{ uses: berth-embedder, with: {{ model_dir: {model} }} }}\n\
             models:\n  embed:\n    - component: embedder\n\
             sources:\n  \
               docs: {{ path: ./docs }}\n  \
               secret: {{ path: ./secret, acl: {{ groups: [finance] }} }}\n\
             pipelines:\n  \
               words: {{ source: docs, chunk: {{ strategy: markdown, max_tokens: 100, overlap: 0 }} }}\n  \
               vectors: {{ source: docs, chunk: {{ strategy: markdown, max_tokens: 100, overlap: 0 }}, embed: embed, store: db }}\n  \
               payroll: {{ source: secret, chunk: {{ strategy: markdown, max_tokens: 100, overlap: 0 }}, embed: embed, store: db }}\n\
             apps:\n  \
               ask: {{ kind: rag, pipeline: vectors, top_k: 2 }}\n",
            model = model.display()
        ),
    );
}

/// The stack's secret (the test server does not check it).
const SECRET: &[(&str, &str)] = &[("PG_PASSWORD", "unused-by-the-test-server")];

fn berth(dir: &Path, args: &[&str]) -> std::process::Output {
    berth_env(dir, args, SECRET)
}

fn run(dir: &Path, args: &[&str]) -> String {
    berth_ok_env(dir, args, SECRET)
}

fn hits(dir: &Path, args: &[&str]) -> Vec<String> {
    let mut all = vec!["search", "--json"];
    all.extend_from_slice(args);
    let v: Value = serde_json::from_str(&run(dir, &all)).unwrap();
    v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["document_id"].as_str().unwrap().to_string())
        .collect()
}

fn count(client: &mut postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).unwrap().get(0)
}

#[test]
fn search_docs_and_apps_read_a_shared_state_store_and_pgvector() {
    let Some(admin) = pg_url() else { return };
    let Some(model) = model_dir() else { return };
    let db = Database::create(&admin, &format!("berth_shared_{}", std::process::id()));
    let url = berth_ingest::state::postgres::with_credentials(&db.url(), "postgres", None);
    let dir = tempfile::tempdir().unwrap();
    corpus(dir.path());
    stack(dir.path(), &db.url(), &model);

    let out = run(dir.path(), &["ingest"]);
    assert!(out.contains("words: 3 seen · 3 added"), "{out}");
    assert!(out.contains("vectors: index updated: 3 documents"), "{out}");
    // Nothing of the state went to a local SQLite file.
    assert!(!dir.path().join(".berth/state.db").exists());

    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let state_chunks = count(
        &mut client,
        "SELECT count(*) FROM berth.chunks WHERE pipeline = 'vectors'",
    );
    assert!(state_chunks >= 3);
    assert_eq!(
        count(&mut client, "SELECT count(*) FROM berth_vectors.chunks"),
        state_chunks,
        "pgvector holds exactly the state store's chunks"
    );

    // Keyword search over the shared state (a private built-in index per reader), and
    // hybrid search answered by pgvector.
    assert_eq!(
        hits(dir.path(), &["lighthouse pier", "--pipeline", "words"])[0],
        "docs/harbour.md"
    );
    // No shared word with the query: only the vectors can find it.
    assert_eq!(
        hits(
            dir.path(),
            &[
                "where do boats dock",
                "--pipeline",
                "vectors",
                "--mode",
                "dense"
            ]
        )[0],
        "docs/harbour.md"
    );
    assert_eq!(
        hits(
            dir.path(),
            &["caraway rye", "--pipeline", "vectors", "--mode", "bm25"]
        )[0],
        "docs/kitchen.md"
    );
    // Permissions hold inside pgvector's SQL.
    assert!(hits(dir.path(), &["salary bands", "--pipeline", "payroll"]).is_empty());
    assert_eq!(
        hits(
            dir.path(),
            &[
                "salary bands",
                "--pipeline",
                "payroll",
                "--as",
                "fay",
                "--groups",
                "finance"
            ]
        ),
        ["secret/payroll.md"]
    );

    // Listings read the shared store.
    let docs: Value =
        serde_json::from_str(&run(dir.path(), &["docs", "--json", "--pipeline", "words"])).unwrap();
    let ids: Vec<&str> = docs
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["docs/garden.md", "docs/harbour.md", "docs/kitchen.md"]
    );

    // The app answers from pgvector (extracts: no chat model), citing the document.
    let answer = run(
        dir.path(),
        &["ask", "When does the bakery open?", "--app", "ask"],
    );
    assert!(answer.contains("docs/kitchen.md"), "{answer}");

    // A deleted document leaves the state store, the private index and pgvector.
    std::fs::remove_file(dir.path().join("docs/kitchen.md")).unwrap();
    let out = run(dir.path(), &["ingest"]);
    assert!(out.contains("1 deleted"), "{out}");
    assert_eq!(
        count(
            &mut client,
            "SELECT count(*) FROM berth_vectors.chunks WHERE document_id = 'docs/kitchen.md'"
        ),
        0
    );
    assert_eq!(
        count(&mut client, "SELECT count(*) FROM berth_vectors.chunks"),
        count(
            &mut client,
            "SELECT count(*) FROM berth.chunks WHERE pipeline = 'vectors'"
        )
    );
    for pipeline in ["words", "vectors"] {
        assert!(
            !hits(
                dir.path(),
                &[
                    "caraway rye bakery",
                    "--pipeline",
                    pipeline,
                    "--mode",
                    "bm25"
                ]
            )
            .contains(&"docs/kitchen.md".to_string()),
            "{pipeline} still finds the deleted document"
        );
    }

    // Rebuilding the pgvector tables from the state store gives the same rows.
    let out = run(dir.path(), &["index", "rebuild", "vectors"]);
    assert!(
        out.contains("vectors: pgvector tables rebuilt: 2 documents"),
        "{out}"
    );
    assert_eq!(
        count(&mut client, "SELECT count(*) FROM berth_vectors.chunks"),
        count(
            &mut client,
            "SELECT count(*) FROM berth.chunks WHERE pipeline = 'vectors'"
        )
    );
    drop(client);

    // A wrong binding is a clear error, not a panic.
    write(
        dir.path(),
        "berth.yaml",
        &std::fs::read_to_string(dir.path().join("berth.yaml"))
            .unwrap()
            .replace("embed: embed, store: db }", "store: db }"),
    );
    let out = berth(dir.path(), &["search", "x", "--pipeline", "vectors"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("pipeline `vectors` stores into pgvector (`db`) but has no `embed` model"),
        "{stderr}"
    );
}

/// Two gateways (two directories: two machines) on one shared state store: a
/// conversation begun on one continues on the other, a passage one cites opens on the
/// other, and both show the same ingestion runs and document counts. The chat model is
/// the project's stand-in (no model server runs here).
#[test]
fn two_gateways_share_conversations_passages_and_runs() {
    use berth_serve::standin::{Behavior, Standin};
    use common::Server;

    let Some(admin) = pg_url() else { return };
    let db = Database::create(&admin, &format!("berth_gateways_{}", std::process::id()));
    // The stand-in runs on its own runtime; the test itself blocks (PostgreSQL, HTTP).
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let upstream = runtime.block_on(Standin::start("model")).unwrap();
    upstream.set_default(Behavior::default().tokens(["Noted."]));
    let stack = format!(
        "stack: replicas\n\
         components:\n  \
           db: {{ uses: postgres, url: {url}, with: {{ password: \"${{secret:PG_PASSWORD}}\" }} }}\n\
         models:\n  chat:\n    - {{ provider: openai, base_url: \"{base}\", model: upstream-chat }}\n\
         sources:\n  docs: {{ path: ./docs }}\n\
         pipelines:\n  words: {{ source: docs, chunk: {{ strategy: markdown, max_tokens: 100, overlap: 0 }} }}\n\
         apps:\n  \
           ask: {{ kind: rag, pipeline: words, top_k: 2 }}\n  \
           talk: {{ kind: chat, model: chat, knowledge: ask }}\n",
        url = db.url(),
        base = upstream.base_url()
    );
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for dir in [a.path(), b.path()] {
        corpus(dir);
        write(dir, "berth.yaml", &stack);
    }
    // One ingest, from the first machine only.
    run(a.path(), &["ingest"]);
    let one = Server::start(a.path(), SECRET);
    let two = Server::start(b.path(), SECRET);
    let query = |server: &Server, app: &str, body: &str| -> Value {
        let (status, text) = server.request("POST", &format!("/v1/apps/{app}/query"), None, body);
        assert_eq!(status, 200, "{text}");
        serde_json::from_str(&text).unwrap()
    };

    // The second gateway answers from the shared store although it never ingested.
    let answer = query(&two, "ask", r#"{"question": "When does the bakery open?"}"#);
    let cited = answer["citations"][0].clone();
    assert_eq!(cited["document"], "docs/kitchen.md", "{answer}");
    // The passage it cites opens on the first gateway.
    let (status, passage) = one.request(
        "GET",
        &format!("/v1/chunks/{}", cited["chunk_id"].as_str().unwrap()),
        None,
        "",
    );
    assert_eq!(status, 200, "{passage}");
    assert!(passage.contains("caraway"), "{passage}");

    // A conversation begun on one gateway continues on the other.
    query(
        &one,
        "talk",
        r#"{"question": "My name is Ada.", "session": "s1"}"#,
    );
    upstream.enqueue(Behavior::default().tokens(["What is my name?"]));
    query(
        &two,
        "talk",
        r#"{"question": "What is my name?", "session": "s1"}"#,
    );
    let requests = upstream.requests();
    let last = requests.last().unwrap().body["messages"]
        .as_array()
        .unwrap();
    let contents: Vec<&str> = last
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        &contents[1..],
        ["My name is Ada.", "Noted.", "What is my name?"],
        "the second gateway saw the first one's turn"
    );

    // Both show the runs and counts of the shared store.
    for server in [&one, &two] {
        let (status, text) = server.request("GET", "/api/ingest", None, "");
        assert_eq!(status, 200, "{text}");
        let ingest: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(ingest["runs"].as_array().unwrap().len(), 1, "{ingest}");
        let (_, text) = server.request("GET", "/api/stack", None, "");
        let stack: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(stack["pipelines"][0]["documents"]["done"], 3, "{stack}");
    }
    // Keys live in the shared store too: one created on the first machine is required
    // and accepted by the second gateway, which records its usage there.
    let created = run(a.path(), &["keys", "create", "--user", "ada"]);
    let key = created
        .lines()
        .find(|l| l.starts_with("bk-"))
        .unwrap()
        .to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    // The gateway looks again whether keys exist every 2 s.
    while two.request("GET", "/v1/models", None, "").0 != 401 {
        assert!(
            std::time::Instant::now() < deadline,
            "the second gateway never required the key"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (status, text) = two.request(
        "POST",
        "/v1/apps/ask/query",
        Some(&key),
        r#"{"question": "When do tomatoes ripen?"}"#,
    );
    assert_eq!(status, 200, "{text}");
    loop {
        let listed: Value =
            serde_json::from_str(&run(b.path(), &["keys", "list", "--json"])).unwrap();
        if listed[0]["usage"]["requests"].as_u64().unwrap_or(0) >= 1 {
            assert_eq!(listed[0]["user"], "ada");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "usage never reached the shared store: {listed}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    // No local state store on either machine: only their private indexes.
    for dir in [a.path(), b.path()] {
        assert!(!dir.join(".berth/state.db").exists());
    }
}
