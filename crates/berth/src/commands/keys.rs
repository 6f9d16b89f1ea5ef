//! `berth keys`: the gateway's API keys, kept (hashed) in the stack's state store.

use crate::Outcome;
use crate::cli::KeysCommand;
use crate::report::UserError;
use anyhow::Context as _;
use berth_deploy::{load, state::StateDir};
use berth_ingest::state::StateStore;
use berth_serve::keys::{KeyAdmin, KeySummary, NewKey, PgKeyStore, SqliteKeyStore, utc_day};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

/// The key store of the stack at `stack`: the shared PostgreSQL state store when the
/// stack binds one, else the local state database (created and migrated if needed).
pub(crate) fn store(stack: &Path, catalogs: &[PathBuf]) -> anyhow::Result<Box<dyn KeyAdmin>> {
    let stack_path = load::stack_path(stack);
    if !stack_path.exists() {
        return Err(UserError(format!(
            "no stack file at {} (create one with `berth init`)",
            stack_path.display()
        ))
        .into());
    }
    if let super::Planned::Ok { plan, .. } = super::load_and_plan(stack, catalogs, None, false)?
        && let Some(url) = super::store::shared_url(&plan)?
    {
        let keys = PgKeyStore::connect(&url).with_context(|| {
            format!(
                "opening the keys in the shared state store at {}",
                berth_ingest::state::postgres::redact(&url)
            )
        })?;
        return Ok(Box::new(keys));
    }
    let db = StateDir::for_stack(&stack_path).database();
    // Opening the state store brings its schema, the key tables included, up to date.
    drop(StateStore::open(&db).with_context(|| format!("opening {}", db.display()))?);
    let keys = SqliteKeyStore::open(&db).with_context(|| format!("opening {}", db.display()))?;
    Ok(Box::new(keys))
}

fn day(ms: i64) -> String {
    utc_day(UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64))
}

fn list_text(list: &[String]) -> String {
    if list.is_empty() {
        "-".into()
    } else {
        list.join(",")
    }
}

fn limit(v: Option<u64>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

fn summary_json(s: &KeySummary) -> serde_json::Value {
    let k = &s.key;
    json!({
        "id": k.id,
        "name": k.name,
        "user": k.user,
        "groups": k.groups,
        "models": k.models,
        "rpm": k.rpm,
        "tpm": k.tpm,
        "created_ms": k.created_ms,
        "revoked_ms": k.revoked_ms,
        "usage": {
            "requests": s.requests,
            "prompt_tokens": s.prompt_tokens,
            "completion_tokens": s.completion_tokens,
            "errors": s.errors,
        },
    })
}

fn print_table(keys: &[KeySummary]) {
    let header = [
        "ID", "NAME", "USER", "GROUPS", "MODELS", "RPM", "TPM", "CREATED", "REVOKED", "REQUESTS",
        "TOKENS", "ERRORS",
    ];
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|s| {
            let k = &s.key;
            vec![
                k.id.to_string(),
                k.name.clone().unwrap_or_else(|| "-".into()),
                k.user.clone(),
                list_text(&k.groups),
                if k.models.is_empty() {
                    "*".into()
                } else {
                    k.models.join(",")
                },
                limit(k.rpm),
                limit(k.tpm),
                day(k.created_ms),
                k.revoked_ms.map_or("-".into(), day),
                s.requests.to_string(),
                (s.prompt_tokens + s.completion_tokens).to_string(),
                s.errors.to_string(),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row);
    }
}

pub(crate) fn run(cmd: &KeysCommand, catalogs: &[PathBuf]) -> anyhow::Result<Outcome> {
    match cmd {
        KeysCommand::Create(args) => {
            if args.user.trim().is_empty() {
                return Err(UserError("--user must not be empty".into()).into());
            }
            let store = store(&args.stack.stack, catalogs)?;
            let clean = |v: &[String]| -> Vec<String> {
                v.iter()
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            };
            let (id, key) = store
                .create(&NewKey {
                    name: args.name.clone(),
                    user: args.user.clone(),
                    groups: clean(&args.groups),
                    models: clean(&args.models),
                    rpm: args.rpm,
                    tpm: args.tpm,
                })
                .context("creating the key")?;
            println!("created key {id} for user {}", args.user);
            println!("{key}");
            println!("Store it now: berth keeps only a hash and cannot show it again.");
            Ok(Outcome::Ok)
        }
        KeysCommand::List { stack, json } => {
            let store = store(&stack.stack, catalogs)?;
            let keys = store.list().context("reading the keys")?;
            if *json {
                let list: Vec<_> = keys.iter().map(summary_json).collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if keys.is_empty() {
                println!("no API keys (the gateway is open; create one with `berth keys create`)");
            } else {
                print_table(&keys);
            }
            Ok(Outcome::Ok)
        }
        KeysCommand::Revoke { id, stack } => {
            let store = store(&stack.stack, catalogs)?;
            if !store.revoke(*id).context("revoking the key")? {
                return Err(UserError(format!("no API key with id {id}")).into());
            }
            println!("revoked key {id}");
            Ok(Outcome::Ok)
        }
    }
}
