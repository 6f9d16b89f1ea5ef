//! A whole `berth ingest` over the hostile-input corpus of `berth-ingest`, plus inputs too
//! big to commit (a 100 MB single line, 100,000 nested `<div>`s): every hostile document
//! ends dead-lettered with its error, every other document is indexed, the run finishes,
//! and the process's peak memory stays bounded.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn corpus() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../berth-ingest/tests/hostile")
}

/// `file → (expected kind, message fragment)` from the corpus's EXPECT file.
fn expectations() -> BTreeMap<String, (String, String)> {
    let text = std::fs::read_to_string(corpus().join("EXPECT")).expect("EXPECT exists");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut parts = l.split('\t');
            let file = parts.next().unwrap_or_default().to_string();
            let kind = parts.next().unwrap_or_default().to_string();
            let fragment = parts.next().unwrap_or_default().to_string();
            (file, (kind, fragment))
        })
        .collect()
}

#[test]
fn a_run_over_hostile_inputs_finishes_with_every_failure_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(
        dir.path().join("berth.yaml"),
        "stack: hostile\nsources:\n  docs: { path: ./docs, include: [\"**/*\"] }\npipelines:\n  idx: { source: docs }\n",
    )
    .unwrap();
    let mut expect = expectations();
    assert!(expect.len() >= 50, "the corpus has {} files", expect.len());
    for file in expect.keys() {
        std::fs::copy(corpus().join(file), docs.join(file)).unwrap();
    }
    // Good documents beside them.
    for i in 0..5 {
        std::fs::write(
            docs.join(format!("good{i}.md")),
            format!("# Good {i}\n\nThis document is fine and must be indexed.\n"),
        )
        .unwrap();
        expect.insert(format!("good{i}.md"), ("ok".into(), String::new()));
    }
    // Too big to commit: generated here.
    let line = vec![b'a'; 100 * 1024 * 1024];
    std::fs::write(docs.join("huge-line.md"), &line).unwrap();
    expect.insert(
        "huge-line.md".into(),
        ("too_large".into(), "over the".into()),
    );
    let nested = format!(
        "<html><body>{}deep{}</body></html>",
        "<div>".repeat(100_000),
        "</div>".repeat(100_000)
    );
    std::fs::write(docs.join("nested-100k.html"), nested).unwrap();
    expect.insert("nested-100k.html".into(), ("ok".into(), String::new()));

    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("ingest")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "failures make the exit code 1:\n{stdout}"
    );
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("idx: "))
        .expect("the run finished with a summary");
    assert!(
        summary.contains(&format!("{} seen", expect.len())),
        "{summary}"
    );

    let peak: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("peak memory "))
        .and_then(|l| l.trim_end_matches(" MB").parse().ok())
        .expect("peak memory reported");
    // The 100 MB file is refused before it is read; nothing else is large.
    assert!(peak < 400, "peak memory {peak} MB");

    let listed = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["docs", "--json"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let docs: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let by_path: BTreeMap<String, &serde_json::Value> = docs
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["path"].as_str().unwrap().to_string(), d))
        .collect();
    let mut wrong = Vec::new();
    for (file, (kind, fragment)) in &expect {
        let Some(d) = by_path.get(file) else {
            wrong.push(format!("{file}: not recorded"));
            continue;
        };
        if kind == "ok" {
            if d["status"] != "done" || d["chunks"].as_i64().unwrap_or(0) < 1 {
                wrong.push(format!(
                    "{file}: expected indexed, got {} ({})",
                    d["status"], d["last_error"]
                ));
            }
        } else {
            let error = d["last_error"].as_str().unwrap_or_default();
            if d["status"] != "failed"
                || d["error_kind"] != kind.as_str()
                || !error.contains(fragment.as_str())
                || error.len() < 10
            {
                wrong.push(format!(
                    "{file}: expected failed/{kind} with `{fragment}`, got {} / {} / {error}",
                    d["status"], d["error_kind"]
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} document(s) not as expected:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
