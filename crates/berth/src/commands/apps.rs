//! `berth up`, `berth ask` and `berth chat`: the apps, from the terminal.

use super::serve::{self, Served};
use crate::Outcome;
use crate::cli::UpTarget;
use crate::cli::{
    AppTarget, AskArgs, ChatArgs, IngestArgs, ServeArgs, SqlArgs, StackOption, UpArgs,
};
use crate::report::UserError;
use anyhow::Context as _;
use berth_index::Principal;
use berth_serve::Gateway;
use berth_serve::apps::CHAT_URL_ENV;
use berth_serve::apps::assistant::Answer;
use berth_stack::stack::{AppKind, Target};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// The kinds `ask` and `chat` talk with.
const CONVERSATIONAL: &[AppKind] = &[AppKind::Rag, AppKind::Chat];

/// The port `up` prefers, when it is free.
const PREFERRED_PORT: u16 = 8080;

pub(crate) fn up(args: &UpArgs, catalogs: &[PathBuf]) -> anyhow::Result<Outcome> {
    let target = match args.target {
        Some(t) => t,
        None => match stack_target(&args.stack) {
            Some(Target::Compose) => UpTarget::Compose,
            Some(Target::Kubernetes) => {
                return Err(UserError(
                    "this stack targets Kubernetes: `berth apply` applies it to the cluster \
                     (`berth up --target local` runs it here instead)"
                        .into(),
                )
                .into());
            }
            _ => UpTarget::Local,
        },
    };
    if target == UpTarget::Compose {
        return super::containers::up_compose(args, catalogs);
    }
    let stack = StackOption {
        stack: args.stack.clone(),
    };
    if !args.no_ingest {
        let ingest = IngestArgs {
            pipeline: None,
            stack,
            concurrency: None,
            watch: false,
            schedule: false,
        };
        if let Outcome::Invalid = super::ingest::run(&ingest, catalogs)? {
            return Ok(Outcome::Invalid);
        }
    }
    let port = args.port.unwrap_or_else(|| {
        let free = std::net::TcpListener::bind((args.host.as_str(), PREFERRED_PORT)).is_ok();
        if free { PREFERRED_PORT } else { 0 }
    });
    let serve_args = ServeArgs {
        stack: StackOption {
            stack: args.stack.clone(),
        },
        role: crate::cli::RoleArg::Gateway,
        host: args.host.clone(),
        port,
        require_keys: args.require_keys,
        max_in_flight: berth_serve::DEFAULT_MAX_IN_FLIGHT,
        model_dir: None,
        model_name: None,
    };
    let stack_arg = args.stack.display().to_string();
    serve::serve(&serve_args, catalogs, |address, served| {
        banner(address, served, &stack_arg)
    })
}

/// The `target:` a stack file names, when it can be read (errors surface later, with
/// positions, when the stack is planned).
fn stack_target(stack: &Path) -> Option<Target> {
    let path = berth_deploy::load::stack_path(stack);
    let (file, _, _) = berth_deploy::load::stack_file(&path).ok()?;
    file.map(|f| f.target.value)
}

/// What to do next, printed once the gateway listens.
fn banner(address: std::net::SocketAddr, served: &Served, stack: &str) {
    let host = if address.ip().is_unspecified() {
        format!("127.0.0.1:{}", address.port())
    } else {
        address.to_string()
    };
    println!();
    println!("  web UI:  http://{host}/ui/");
    if let Some(app) = served.apps.names_of(CONVERSATIONAL).first() {
        println!(
            "  curl:    curl -s http://{host}/v1/apps/{app}/query -H 'content-type: application/json' -d '{{\"question\": \"How does berth choose host ports?\"}}'"
        );
        println!(
            "  ask:     cargo run --release -- ask \"How does berth choose host ports?\" -s {stack} --app {app}"
        );
        println!("  openai:  base_url=http://{host}/v1, model=\"app/{app}\" (any OpenAI client)");
    }
    if served.chat_endpoint.is_none() && served.config.models.is_empty() {
        println!(
            "  answers are extracts; set {CHAT_URL_ENV} to an OpenAI-compatible endpoint for generated answers"
        );
    }
    println!();
}

/// The app to use: the one named, or the stack's only app of the kinds wanted (`what`
/// names them for messages).
fn pick_app(gateway_apps: &[String], named: Option<&str>, what: &str) -> anyhow::Result<String> {
    match named {
        Some(a) if gateway_apps.iter().any(|n| n == a) => Ok(a.to_string()),
        Some(a) => Err(UserError(format!(
            "the stack has no {what} app `{a}` (it has: {})",
            if gateway_apps.is_empty() {
                "none".to_string()
            } else {
                gateway_apps.join(", ")
            }
        ))
        .into()),
        None => match gateway_apps {
            [only] => Ok(only.clone()),
            [] => Err(UserError(format!(
                "the stack has no {what} apps; add one under `apps:`"
            ))
            .into()),
            many => Err(UserError(format!(
                "the stack has several apps ({}); name one with --app",
                many.join(", ")
            ))
            .into()),
        },
    }
}

/// A gateway in this process serving the stack's models and apps, and the app to use
/// (one of `kinds`).
fn local_gateway(
    stack: &Path,
    catalogs: &[PathBuf],
    app: Option<&str>,
    kinds: &[AppKind],
) -> anyhow::Result<Option<(Gateway, String)>> {
    let Some(served) = serve::prepare(stack, catalogs)? else {
        return Ok(None);
    };
    let what = if kinds == [AppKind::Text2sql] {
        "text2sql"
    } else {
        "rag or chat"
    };
    let app = pick_app(&served.apps.names_of(kinds), app, what)?;
    let gateway = Gateway::new(served.config);
    gateway.set_apps(served.apps);
    Ok(Some((gateway, app)))
}

fn principal(target: &AppTarget) -> Principal {
    Principal {
        user: target.user.clone(),
        groups: target.groups.clone(),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Prints the citations under an answer.
fn print_sources(out: &mut impl Write, answer: &Answer) -> std::io::Result<()> {
    if answer.citations.is_empty() {
        return Ok(());
    }
    writeln!(out, "\nSources:")?;
    for c in &answer.citations {
        let mut place = c.document.clone();
        if !c.heading.is_empty() {
            place.push_str(" › ");
            place.push_str(&c.heading.join(" › "));
        }
        if let Some((a, b)) = c.pages {
            place.push_str(&if a == b {
                format!(" (p. {a})")
            } else {
                format!(" (p. {a}–{b})")
            });
        }
        writeln!(out, "  [{}] {place}", c.n)?;
    }
    if let Some(w) = &answer.warning {
        writeln!(out, "note: {w}")?;
    }
    Ok(())
}

pub(crate) fn ask(args: &AskArgs, catalogs: &[PathBuf]) -> anyhow::Result<Outcome> {
    let target = &args.target;
    let Some((gateway, app)) = local_gateway(
        &target.stack.stack,
        catalogs,
        target.app.as_deref(),
        CONVERSATIONAL,
    )?
    else {
        return Ok(Outcome::Invalid);
    };
    let rt = runtime()?;
    let json = args.json;
    let answer = rt.block_on(gateway.ask(
        &app,
        &args.question,
        principal(target),
        target.session.clone(),
        |delta| {
            if !json {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(delta.as_bytes());
                let _ = out.flush();
            }
        },
    ));
    let answer = answer.map_err(|e| UserError(format!("app `{app}`: {e}")))?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&answer)?)?;
    } else {
        writeln!(out)?;
        print_sources(&mut out, &answer)?;
    }
    Ok(Outcome::Ok)
}

pub(crate) fn chat(args: &ChatArgs, catalogs: &[PathBuf]) -> anyhow::Result<Outcome> {
    let target = &args.target;
    let Some((gateway, app)) = local_gateway(
        &target.stack.stack,
        catalogs,
        target.app.as_deref(),
        CONVERSATIONAL,
    )?
    else {
        return Ok(Outcome::Invalid);
    };
    let session = target.session.clone().unwrap_or_else(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        format!("cli-{now:x}")
    });
    let rt = runtime()?;
    eprintln!("talking with `{app}` (session {session}); an empty line or Ctrl-D ends");
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        eprint!("> ");
        let _ = std::io::stderr().flush();
        let Some(line) = lines.next() else { break };
        let line = line.context("reading the question")?;
        let question = line.trim();
        if question.is_empty() || question == "/exit" {
            break;
        }
        let result = rt.block_on(gateway.ask(
            &app,
            question,
            principal(target),
            Some(session.clone()),
            |delta| {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(delta.as_bytes());
                let _ = out.flush();
            },
        ));
        let mut out = std::io::stdout().lock();
        match result {
            Ok(answer) => {
                writeln!(out)?;
                print_sources(&mut out, &answer)?;
            }
            // One failed answer does not end the conversation.
            Err(e) => eprintln!("\nberth: {e}"),
        }
        writeln!(out)?;
    }
    Ok(Outcome::Ok)
}

pub(crate) fn sql(args: &SqlArgs, catalogs: &[PathBuf]) -> anyhow::Result<Outcome> {
    let Some((gateway, app)) = local_gateway(
        &args.stack.stack,
        catalogs,
        args.app.as_deref(),
        &[AppKind::Text2sql],
    )?
    else {
        return Ok(Outcome::Invalid);
    };
    let rt = runtime()?;
    let json = args.json;
    let answer =
        rt.block_on(
            gateway.ask(&app, &args.question, Principal::default(), None, |delta| {
                if !json {
                    let mut out = std::io::stdout().lock();
                    let _ = out.write_all(delta.as_bytes());
                    let _ = out.flush();
                }
            }),
        );
    let answer = answer.map_err(|e| UserError(format!("app `{app}`: {e}")))?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&answer.sql)?)?;
    } else {
        writeln!(out)?;
        if let Some(sql) = &answer.sql
            && sql.attempts.len() > 1
        {
            writeln!(
                out,
                "({} attempts; the database refused the first)",
                sql.attempts.len()
            )?;
        }
    }
    Ok(Outcome::Ok)
}
