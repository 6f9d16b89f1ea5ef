//! The rag and chat apps as users reach them: over HTTP (`/v1/apps/NAME/query`, `model:
//! "app/NAME"`), with a stand-in chat model (the project's own scripted OpenAI-compatible
//! server, since no real model server runs here) whose recorded requests show what the
//! prompt held: the retrieved passages, the conversation, the budget, the language.

mod common;

use berth_serve::standin::{Behavior, Standin};
use common::{Server, berth_ok as berth};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Writes a small document collection: one document answers the port question, one the
/// key question, and a long one matches everything a little (it tests the budget).
fn write_docs(dir: &Path) {
    let docs = dir.join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(
        docs.join("ports.md"),
        "# Ports\n\n## Host ports\n\nHost ports are chosen from the ephemeral range 20000-29999, \
         skipping ports already in use. A chosen port is pinned in ports.json.\n",
    )
    .unwrap();
    std::fs::write(
        docs.join("keys.md"),
        "# Keys\n\n## Storage\n\nAPI keys are stored as BLAKE3 hashes; the key itself is shown once.\n",
    )
    .unwrap();
    let mut long = String::from("# Filler\n\n");
    for i in 0..60 {
        long += &format!(
            "## Section {i}\n\nPorts and keys and ranges are mentioned here in passing, section {i}. {}\n\n",
            "Padding words about ports, keys, hosts and ranges. ".repeat(30)
        );
    }
    std::fs::write(docs.join("filler.md"), long).unwrap();
}

fn stack(upstream: &Standin, top_k: u32) -> String {
    let base = upstream.base_url();
    let root = format!("http://{}", upstream.addr());
    format!(
        r#"stack: apps
sources:
  docs: {{ path: docs, include: ["**/*.md"] }}
pipelines:
  docs-index:
    source: docs
    chunk: {{ strategy: markdown, max_tokens: 200, overlap: 0 }}
models:
  chat:
    - {{ provider: openai, base_url: "{base}", model: upstream-chat }}
  rerank:
    - {{ provider: openai, base_url: "{root}", model: reranker }}
  broken:
    - {{ provider: openai, base_url: "http://127.0.0.1:9", model: reranker }}
apps:
  ask: {{ kind: rag, pipeline: docs-index, model: chat, top_k: {top_k} }}
  extract: {{ kind: rag, pipeline: docs-index, top_k: 3 }}
  talk: {{ kind: chat, model: chat, knowledge: ask, system_prompt: "You are the ops assistant." }}
  reranked: {{ kind: rag, pipeline: docs-index, model: chat, rerank: rerank, top_k: 2 }}
  badrank: {{ kind: rag, pipeline: docs-index, model: chat, rerank: broken, top_k: 2 }}
"#
    )
}

fn query(server: &Server, app: &str, body: &str) -> Value {
    let (status, text) = server.request("POST", &format!("/v1/apps/{app}/query"), None, body);
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

fn system_prompt(request: &Value) -> String {
    let messages = request["messages"].as_array().unwrap();
    assert_eq!(messages[0]["role"], "system");
    messages[0]["content"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rag_answers_from_the_passages_with_citations_history_and_budget() {
    let upstream = Standin::start("model").await.unwrap();
    upstream.set_default(Behavior::default().tokens(["Ports come from 20000-29999 ", "[1]."]));
    let dir = tempfile::tempdir().unwrap();
    write_docs(dir.path());
    std::fs::write(dir.path().join("berth.yaml"), stack(&upstream, 40)).unwrap();
    berth(dir.path(), &["ingest"]);
    let server = Server::start(dir.path(), &[]);

    // A plain question: the prompt holds the right passage, numbered; the answer cites it.
    let answer = query(
        &server,
        "ask",
        r#"{"question": "Which ephemeral range are host ports chosen from?"}"#,
    );
    assert_eq!(answer["mode"], "generated");
    assert_eq!(answer["answer"], "Ports come from 20000-29999 [1].");
    let citations = answer["citations"].as_array().unwrap();
    assert_eq!(citations.len(), 1, "only the cited passage: {citations:?}");
    assert_eq!(citations[0]["document"], "docs/ports.md");
    assert_eq!(citations[0]["heading"][1], "Host ports");
    let requests = upstream.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0].body;
    assert_eq!(sent["model"], "upstream-chat");
    let prompt = system_prompt(sent);
    assert!(
        prompt.contains("[1] docs/ports.md › Ports › Host ports\n"),
        "{prompt}"
    );
    assert!(prompt.contains("ephemeral range 20000-29999"));
    let last = sent["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["role"], "user");
    assert_eq!(
        last["content"],
        "Which ephemeral range are host ports chosen from?"
    );

    // The budget: 40 passages were asked for, far more than fit; the prompt holds what
    // fits (the estimate counts words and marks) and says which were left out.
    let retrieved = answer["chunks"].as_array().unwrap();
    let used = retrieved.iter().filter(|c| c["used"] == true).count();
    assert!(
        retrieved.len() > used && used >= 2,
        "{used} of {}",
        retrieved.len()
    );
    let words = prompt.split_whitespace().count();
    assert!(
        words <= 3200,
        "prompt of {words} words exceeds the context budget"
    );
    let numbered = (1..=40)
        .filter(|n| prompt.contains(&format!("\n[{n}] ")))
        .count();
    assert_eq!(numbered, used, "every passage used is numbered once");

    // A follow-up with history: the model first rewrites it into a standalone question
    // (used for retrieval), then answers with the conversation in the messages.
    upstream.enqueue(Behavior::default().tokens(["How are API keys stored?"]));
    let answer = query(
        &server,
        "ask",
        r#"{"question": "And how are they stored?", "history": [
            {"role": "user", "content": "What are API keys?"},
            {"role": "assistant", "content": "Credentials for the gateway."}]}"#,
    );
    assert_eq!(answer["search_query"], "How are API keys stored?");
    assert_eq!(answer["citations"][0]["document"], "docs/keys.md");
    let requests = upstream.requests();
    assert_eq!(requests.len(), 3);
    let rewrite = requests[1].body["messages"][0]["content"].as_str().unwrap();
    assert!(
        rewrite.contains("user: What are API keys?")
            && rewrite.contains("And how are they stored?")
    );
    let roles: Vec<&str> = requests[2].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert!(system_prompt(&requests[2].body).contains("BLAKE3"));

    // A question in Chinese: the model is told to answer in Chinese.
    query(
        &server,
        "ask",
        r#"{"question": "主机端口是如何选择的？ ports"}"#,
    );
    let prompt = system_prompt(&upstream.requests()[3].body);
    assert!(prompt.contains("Answer in Chinese."), "{prompt}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_keeps_history_per_session_and_extractive_apps_need_no_model() {
    let upstream = Standin::start("model").await.unwrap();
    upstream.set_default(Behavior::default().tokens(["Noted."]));
    let dir = tempfile::tempdir().unwrap();
    write_docs(dir.path());
    std::fs::write(dir.path().join("berth.yaml"), stack(&upstream, 4)).unwrap();
    berth(dir.path(), &["ingest"]);
    let server = Server::start(dir.path(), &[]);

    // Turn one of session s1, then turn two: the stored first turn comes back as history.
    query(
        &server,
        "talk",
        r#"{"question": "My name is Ada.", "session": "s1"}"#,
    );
    upstream.enqueue(Behavior::default().tokens(["Which host ports are chosen?"]));
    query(
        &server,
        "talk",
        r#"{"question": "Which host ports?", "session": "s1"}"#,
    );
    // Another session starts empty.
    query(
        &server,
        "talk",
        r#"{"question": "Hello there.", "session": "s2"}"#,
    );
    let requests = upstream.requests();
    // Turn two has history, so its question was rewritten first: requests are
    // [turn 1], [rewrite, turn 2], [turn 3].
    assert_eq!(requests.len(), 4, "{requests:?}");
    let second = &requests[2].body;
    let messages = second["messages"].as_array().unwrap();
    let contents: Vec<&str> = messages
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        &contents[1..],
        ["My name is Ada.", "Noted.", "Which host ports?"]
    );
    let system = system_prompt(second);
    assert!(system.starts_with("You are the ops assistant."), "{system}");
    assert!(
        system.contains("20000-29999"),
        "knowledge passages: {system}"
    );
    let third = requests[3].body["messages"].as_array().unwrap();
    assert_eq!(third.len(), 2, "a new session has no history: {third:?}");

    // An app without a model answers with extracts that cite the right document.
    let before = upstream.request_count();
    let answer = query(
        &server,
        "extract",
        r#"{"question": "Which ephemeral range are host ports chosen from?"}"#,
    );
    assert_eq!(upstream.request_count(), before, "no model was called");
    assert_eq!(answer["mode"], "extractive");
    let text = answer["answer"].as_str().unwrap();
    assert!(text.starts_with("Extracts from the documents"), "{text}");
    assert!(
        text.contains("[1] Host ports are chosen from the ephemeral range 20000-29999"),
        "{text}"
    );
    assert_eq!(answer["citations"][0]["document"], "docs/ports.md");

    // The citation resolves to its passage.
    let id = answer["citations"][0]["chunk_id"].as_str().unwrap();
    let (status, body) = server.request("GET", &format!("/v1/chunks/{id}"), None, "");
    assert_eq!(status, 200, "{body}");
    let chunk: Value = serde_json::from_str(&body).unwrap();
    assert!(chunk["text"].as_str().unwrap().contains("ephemeral range"));
    let (status, _) = server.request("GET", "/v1/chunks/no-such-chunk", None, "");
    assert_eq!(status, 404);

    // Bad requests get clear errors, not panics.
    let (status, body) = server.request("POST", "/v1/apps/ask/query", None, r#"{"question": ""}"#);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("question"));
    let (status, body) =
        server.request("POST", "/v1/apps/nope/query", None, r#"{"question": "x"}"#);
    assert_eq!(status, 404, "{body}");
    let (status, body) = server.request(
        "POST",
        "/v1/chat/completions",
        None,
        r#"{"model": "app/ask", "messages": [{"role": "assistant", "content": "x"}]}"#,
    );
    assert_eq!(status, 400, "{body}");

    // The app as a model, streamed: role, content, then berth's citations, then [DONE].
    let (status, body) = server.request(
        "POST",
        "/v1/chat/completions",
        None,
        r#"{"model": "app/extract", "stream": true, "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "Which ephemeral range are host ports chosen from?"}]}"#,
    );
    assert_eq!(status, 200);
    // (The body is read raw: chunked framing lines sit between the events.)
    let data: Vec<&str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(data.last(), Some(&"[DONE]"), "{body}");
    let events: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let text: String = events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(text.contains("20000-29999"));
    let extras = events.iter().find(|e| e.get("berth").is_some()).unwrap();
    assert_eq!(extras["berth"]["citations"][0]["document"], "docs/ports.md");
    assert!(
        events
            .iter()
            .any(|e| e["usage"]["total_tokens"].as_u64() > Some(0))
    );

    // The apps list.
    let (status, body) = server.request("GET", "/v1/apps", None, "");
    assert_eq!(status, 200);
    let apps: Value = serde_json::from_str(&body).unwrap();
    let modes: Vec<(&str, &str)> = apps["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["name"].as_str().unwrap(), a["mode"].as_str().unwrap()))
        .collect();
    assert_eq!(
        modes,
        [
            ("ask", "generated"),
            ("badrank", "generated"),
            ("extract", "extractive"),
            ("reranked", "generated"),
            ("talk", "generated")
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reranker_reorders_the_candidates_and_its_failure_keeps_retrieval_order() {
    let upstream = Standin::start("model").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_docs(dir.path());
    std::fs::write(dir.path().join("berth.yaml"), stack(&upstream, 4)).unwrap();
    berth(dir.path(), &["ingest"]);
    let server = Server::start(dir.path(), &[]);
    let question = r#"{"question": "Which ephemeral range are host ports chosen from?"}"#;

    // The app keeps 2 passages; the reranker saw 6 candidates (3 × top_k) and (this
    // stand-in) ranks the last candidates first.
    let answer = query(&server, "reranked", question);
    assert_eq!(answer["retrieval"], "reranked");
    let rerank = upstream
        .requests()
        .into_iter()
        .find(|r| r.path == "/rerank")
        .expect("the reranker was called");
    assert_eq!(rerank.body["model"], "reranker");
    assert_eq!(
        rerank.body["query"],
        "Which ephemeral range are host ports chosen from?"
    );
    let texts = rerank.body["texts"].as_array().unwrap();
    assert!(
        texts.len() > 2,
        "more candidates than kept: {}",
        texts.len()
    );
    assert!(
        texts[0].as_str().unwrap().contains("20000-29999"),
        "BM25's best first"
    );
    let kept: Vec<&str> = answer["chunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap())
        .collect();
    assert_eq!(kept.len(), 2);
    assert_eq!(kept[0], texts.last().unwrap().as_str().unwrap());
    assert!(!kept.iter().any(|t| t.contains("20000-29999")));

    // An unreachable reranker: the answer still comes, in retrieval order, with a warning.
    let answer = query(&server, "badrank", question);
    assert_eq!(answer["retrieval"], "bm25");
    assert!(
        answer["warning"]
            .as_str()
            .unwrap()
            .contains("reranking failed")
    );
    assert!(
        answer["chunks"][0]["text"]
            .as_str()
            .unwrap()
            .contains("20000-29999")
    );
    assert_eq!(answer["chunks"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_environment_variable_turns_extracts_into_generated_answers() {
    let upstream = Standin::start("model").await.unwrap();
    upstream.set_default(Behavior::default().tokens(["Generated [1]."]));
    let dir = tempfile::tempdir().unwrap();
    write_docs(dir.path());
    // The quickstart's shape: no models, a rag app without one.
    std::fs::write(
        dir.path().join("berth.yaml"),
        "stack: env\nsources:\n  docs: { path: docs }\npipelines:\n  docs-index: { source: docs }\n\
         apps:\n  ask: { kind: rag, pipeline: docs-index }\n",
    )
    .unwrap();
    berth(dir.path(), &["ingest"]);
    let base = upstream.base_url();
    let server = Server::start(
        dir.path(),
        &[
            ("BERTH_CHAT_URL", base.as_str()),
            ("BERTH_CHAT_MODEL", "qwen-test"),
            ("BERTH_CHAT_API_KEY", "sk-chat-secret"),
        ],
    );
    let answer = query(&server, "ask", r#"{"question": "Which host ports?"}"#);
    assert_eq!(answer["mode"], "generated");
    assert_eq!(answer["answer"], "Generated [1].");
    let sent = &upstream.requests()[0];
    assert_eq!(sent.body["model"], "qwen-test");
    assert_eq!(sent.authorization.as_deref(), Some("Bearer sk-chat-secret"));

    // The UI's pages: the pipeline's documents, the run that indexed them.
    let (status, body) = server.request("GET", "/api/stack", None, "");
    assert_eq!(status, 200, "{body}");
    let stack: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stack["stack"], "env");
    assert_eq!(stack["pipelines"][0]["documents"]["done"], 3);
    assert_eq!(stack["models"][0]["name"], "chat");
    assert_eq!(stack["models"][0]["routes"][0]["breaker"], "closed");
    assert!(
        !body.contains("sk-chat-secret"),
        "no secret on the stack page"
    );
    let (status, body) = server.request("GET", "/api/ingest", None, "");
    assert_eq!(status, 200, "{body}");
    let ingest: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ingest["runs"][0]["status"], "ok");
    assert_eq!(ingest["runs"][0]["added"], 3);
    assert_eq!(ingest["running"].as_array().unwrap().len(), 0);
    let (status, page) = server.request("GET", "/ui/", None, "");
    assert_eq!(status, 200);
    assert!(page.contains("id=\"question\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn berth_chat_remembers_the_conversation_between_questions() {
    let upstream = Standin::start("model").await.unwrap();
    upstream.set_default(Behavior::default().tokens(["Sure."]));
    let dir = tempfile::tempdir().unwrap();
    write_docs(dir.path());
    std::fs::write(dir.path().join("berth.yaml"), stack(&upstream, 4)).unwrap();
    berth(dir.path(), &["ingest"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["chat", "--app", "talk", "--session", "t1"])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(b"First question?\nSecond question?\n")
            .unwrap();
    }
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("Sure.").count(), 2, "{stdout}");
    // The second answer was asked with the first turn as history (after a rewrite).
    let last = upstream.requests().last().unwrap().body.clone();
    let contents: Vec<&str> = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        &contents[1..],
        ["First question?", "Sure.", "Second question?"]
    );
    // The session is in the state store: `berth ask` continues it.
    let answer = berth(
        dir.path(),
        &[
            "ask",
            "Third?",
            "--app",
            "talk",
            "--session",
            "t1",
            "--json",
        ],
    );
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["answer"], "Sure.");
    let last = upstream.requests().last().unwrap().body.clone();
    assert_eq!(last["messages"].as_array().unwrap().len(), 1 + 4 + 1);
}
