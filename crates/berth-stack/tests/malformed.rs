//! The malformed-stack corpus: every file under `tests/malformed/` is a broken stack whose
//! `# expect:` lines give the exact diagnostics berth must report, with positions.
//!
//! Format of a case (comments at the top of the YAML file):
//!
//! ```text
//! # expect: 4:18: error: component `llm` uses `vlm`, which is not in the catalog
//! # help: did you mean `vllm`?
//! # env: NAME=value        (optional: an environment variable the stack refers to)
//! # listening: 8080        (optional: a port that counts as in use)
//! # target: compose        (optional: as `--target`)
//! ```
//!
//! Catalog entries under `tests/malformed/catalog/` are added to the built-in catalog for
//! every case.
//!
//! The diagnostics reported must be exactly the expected ones (errors and warnings; info
//! findings are ignored), in position order. A `# help:` line pins the hint of the
//! expectation before it.

use berth_stack::catalog::{Catalog, Origin};
use berth_stack::diagnostic::{Diagnostic, Severity};
use berth_stack::stack::StackFile;
use berth_stack::{Environment, resolve};
use std::path::{Path, PathBuf};

#[derive(Debug, PartialEq)]
struct Expected {
    line: String,
    help: Option<String>,
}

fn render(d: &Diagnostic) -> String {
    format!("{}:{}: {}: {}", d.line, d.column, d.severity, d.message)
}

fn run_case(path: &Path, catalog: &Catalog) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let mut expected: Vec<Expected> = Vec::new();
    let mut env = Environment::default();
    for line in text.lines().take_while(|l| l.starts_with('#')) {
        if let Some(e) = line.strip_prefix("# expect: ") {
            expected.push(Expected {
                line: e.to_string(),
                help: None,
            });
        } else if let Some(h) = line.strip_prefix("# help: ") {
            let last = expected
                .last_mut()
                .ok_or("`# help:` before any `# expect:`")?;
            last.help = Some(h.to_string());
        } else if let Some(kv) = line.strip_prefix("# env: ") {
            let (k, v) = kv.split_once('=').ok_or("`# env:` needs NAME=value")?;
            env.vars.insert(k.to_string(), v.to_string());
        } else if let Some(p) = line.strip_prefix("# listening: ") {
            env.listening_ports
                .insert(p.trim().parse().map_err(|_| "bad `# listening:`")?);
        } else if let Some(t) = line.strip_prefix("# target: ") {
            env.target = Some(t.trim().parse()?);
        }
    }
    if expected.is_empty() {
        return Err("no `# expect:` line".to_string());
    }
    let (file, mut diags) = StackFile::parse("berth.yaml", &text);
    if let Some(file) = file {
        match resolve(&file, catalog, &env) {
            Err(more) => diags.extend(more),
            Ok(resolved) => diags.extend(resolved.warnings),
        }
    }
    let actual: Vec<&Diagnostic> = diags
        .iter()
        .filter(|d| d.severity >= Severity::Warning)
        .collect();
    let mut actual_sorted = actual.clone();
    actual_sorted.sort_by_key(|d| (d.line, d.column));
    let got: Vec<String> = actual_sorted.iter().map(|d| render(d)).collect();
    let want: Vec<String> = expected.iter().map(|e| e.line.clone()).collect();
    if got != want {
        return Err(format!(
            "diagnostics differ\n--- expected\n{}\n--- actual\n{}\n",
            want.join("\n"),
            got.join("\n")
        ));
    }
    for (e, d) in expected.iter().zip(&actual_sorted) {
        if let Some(help) = &e.help
            && d.help.as_deref() != Some(help)
        {
            return Err(format!(
                "help of `{}` differs\n--- expected\n{help}\n--- actual\n{}",
                e.line,
                d.help.as_deref().unwrap_or("(none)")
            ));
        }
    }
    Ok(())
}

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/malformed exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_malformed_stack_reports_its_expected_diagnostics() {
    let mut catalog = Catalog::builtin().expect("built-in catalog loads");
    // Extra entries some cases need (for example, two that need each other).
    let extra = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed/catalog");
    if let Ok(dir) = std::fs::read_dir(&extra) {
        let mut paths: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            let text = std::fs::read_to_string(&p).expect("readable catalog entry");
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            let d = catalog.add(&p.display().to_string(), &stem, &text, Origin::User);
            assert!(
                d.is_empty(),
                "test catalog entry {} has problems:\n{d}",
                p.display()
            );
        }
    }
    let files = cases();
    assert!(
        files.len() >= 30,
        "the corpus has {} cases, want at least 30",
        files.len()
    );
    let failures: Vec<String> = files
        .iter()
        .filter_map(|f| {
            run_case(f, &catalog)
                .err()
                .map(|e| format!("{}:\n{e}", f.display()))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}
