//! Evaluates berth's Text2SQL core on defog's sql-eval questions: loads the 11 databases
//! into PostgreSQL and SQLite, runs every gold query through the validator (with the full
//! table set and with the schema-linked set) and the executor, and measures schema linking
//! (recall of gold tables, share of schema tokens). No language model is needed for that.
//!
//! With `--chat-url URL --chat-model NAME` (an OpenAI-compatible chat completions endpoint;
//! `BERTH_EVAL_API_KEY` holds its key, if any) it also measures execution accuracy: every
//! question goes through the whole app (linking, the model, validation, execution,
//! repairs) and its rows are compared with each gold query's as multisets on the gold
//! columns (`berth_sql::same_result`).
//!
//! Run from the repository root (PostgreSQL from `bench/pg/start.sh`):
//!
//! ```text
//! cargo run --release -p berth-sql --example text2sql_eval -- \
//!     --pg postgres://postgres@127.0.0.1:55432/postgres --data ../shared/eval/text2sql \
//!     [--model .models/all-MiniLM-L6-v2] [--max-tokens 4000] [--budget-share SHARE|none] [--verbose] \
//!     [--chat-url http://127.0.0.1:8000/v1 --chat-model NAME]
//! ```
//!
//! Exit status 1 when any gold query fails validation with the full table set or fails to
//! execute, or when a loaded table's row count differs between the two databases.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use berth_models::{BuiltinEmbedder, BuiltinOptions, Embedder};
use berth_sql::{
    BoxFuture, Database, DatabaseUrl, Descriptions, Dialect, ExecOptions, LinkOptions, ModelError,
    Policy, Question, SampleOptions, Schema, SchemaIndex, SqlModel, Text2Sql, Text2SqlConfig,
    load_postgres, load_sqlite, quote_ident, same_result, tables_read, validate,
};

const DATABASES: &[&str] = &[
    "academic",
    "advising",
    "atis",
    "broker",
    "car_dealership",
    "derm_treatment",
    "ewallet",
    "geography",
    "restaurants",
    "scholar",
    "yelp",
];

struct Args {
    pg: String,
    data: PathBuf,
    model: Option<String>,
    max_tokens: usize,
    share: Option<f32>,
    neighbour: Option<f32>,
    seed: Option<f32>,
    weight: Option<f32>,
    verbose: bool,
    chat: Option<ChatModel>,
}

/// An OpenAI-compatible chat model, asked at temperature 0.
#[derive(Clone)]
struct ChatModel {
    url: String,
    model: String,
    key: Option<String>,
    agent: ureq::Agent,
}

impl ChatModel {
    fn new(url: &str, model: String) -> ChatModel {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(std::time::Duration::from_secs(300)))
            .http_status_as_error(false)
            .build()
            .into();
        ChatModel {
            url: format!("{}/chat/completions", url.trim_end_matches('/')),
            model,
            key: std::env::var("BERTH_EVAL_API_KEY").ok(),
            agent,
        }
    }

    fn ask(&self, prompt: &str) -> Result<String, ModelError> {
        let failed = |message: String| ModelError { message };
        let body = serde_json::json!({
            "model": self.model,
            "temperature": 0,
            "messages": [{ "role": "user", "content": prompt }],
        });
        let mut request = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json");
        if let Some(key) = &self.key {
            request = request.header("authorization", &format!("Bearer {key}"));
        }
        let mut response = request
            .send(body.to_string())
            .map_err(|e| failed(format!("{}: {e}", self.url)))?;
        let status = response.status();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| failed(e.to_string()))?;
        if !status.is_success() {
            return Err(failed(format!(
                "{}: {status}: {}",
                self.url,
                cut(&text, 300)
            )));
        }
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| failed(format!("not JSON: {e}")))?;
        v["choices"][0]["message"]["content"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| failed("the answer has no message content".into()))
    }
}

impl SqlModel for ChatModel {
    fn complete(&self, prompt: String) -> BoxFuture<'_, Result<String, ModelError>> {
        let model = self.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || model.ask(&prompt))
                .await
                .map_err(|e| ModelError {
                    message: e.to_string(),
                })?
        })
    }
}

fn parse_args() -> Result<Args, String> {
    let mut pg = None;
    let mut data = None;
    let mut model = None;
    let mut max_tokens = LinkOptions::default().max_tokens;
    let mut verbose = false;
    let mut share = LinkOptions::default().max_share;
    let mut neighbour = None;
    let mut seed = None;
    let mut weight = None;
    let mut chat_url = None;
    let mut chat_model = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--pg" => pg = it.next(),
            "--data" => data = it.next().map(PathBuf::from),
            "--model" => model = it.next(),
            "--max-tokens" => {
                max_tokens = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--max-tokens needs a number")?
            }
            "--budget-share" => {
                share = match it.next().as_deref() {
                    Some("none") => None,
                    Some(v) => Some(
                        v.parse()
                            .map_err(|_| "--budget-share needs a number or none")?,
                    ),
                    None => return Err("--budget-share needs a value".into()),
                }
            }
            "--neighbour-ratio" => {
                neighbour = Some(
                    it.next()
                        .and_then(|v| v.parse().ok())
                        .ok_or("--neighbour-ratio needs a number")?,
                )
            }
            "--embedding-weight" => {
                weight = Some(
                    it.next()
                        .and_then(|v| v.parse().ok())
                        .ok_or("--embedding-weight needs a number")?,
                )
            }
            "--seed-ratio" => {
                seed = Some(
                    it.next()
                        .and_then(|v| v.parse().ok())
                        .ok_or("--seed-ratio needs a number")?,
                )
            }
            "--verbose" => verbose = true,
            "--chat-url" => chat_url = it.next(),
            "--chat-model" => chat_model = it.next(),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        pg: pg.ok_or("--pg URL is required")?,
        data: data.ok_or("--data DIR is required")?,
        model,
        max_tokens,
        share,
        neighbour,
        seed,
        weight,
        verbose,
        chat: match (chat_url, chat_model) {
            (Some(url), Some(model)) => Some(ChatModel::new(&url, model)),
            (None, None) => None,
            _ => return Err("--chat-url and --chat-model go together".into()),
        },
    })
}

/// sql-eval writes `SELECT {a.x, a.y} … GROUP BY {}`: any of the braced columns is a correct
/// answer, and `{}` repeats the last group. We keep all of them.
fn expand_braces(sql: &str) -> String {
    let mut out = String::new();
    let mut last = String::new();
    let mut rest = sql;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let Some(j) = rest[i..].find('}') else {
            out.push_str(&rest[i..]);
            return out;
        };
        let inner = rest[i + 1..i + j].trim();
        if inner.is_empty() {
            out.push_str(&last);
        } else {
            last = inner.to_string();
            out.push_str(inner);
        }
        rest = &rest[i + j + 1..];
    }
    out.push_str(rest);
    out
}

/// The gold statements of one `query` cell.
fn gold_queries(cell: &str, dialect: Dialect) -> Vec<String> {
    let expanded = expand_braces(cell);
    expanded
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect::<Vec<_>>()
        .into_iter()
        // A ';' inside a string literal would split a statement: re-join pieces that do not
        // parse alone with the next one.
        .fold(Vec::<String>::new(), |mut acc, piece| {
            if let Some(prev) = acc.last_mut()
                && tables_read(prev, dialect).is_err()
            {
                prev.push(';');
                prev.push_str(&piece);
                return acc;
            }
            acc.push(piece);
            acc
        })
}

struct QuestionRow {
    db: String,
    question: String,
    instructions: String,
    golds: Vec<String>,
}

fn read_questions(path: &Path, dialect: Dialect) -> Result<Vec<QuestionRow>, String> {
    let mut r = csv::Reader::from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let headers = r.headers().map_err(|e| e.to_string())?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (Some(db), Some(q), Some(sql)) = (col("db_name"), col("question"), col("query")) else {
        return Err(format!("{}: missing columns", path.display()));
    };
    let ins = col("instructions");
    let mut out = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| e.to_string())?;
        out.push(QuestionRow {
            db: rec[db].to_string(),
            question: rec[q].to_string(),
            instructions: ins.map(|i| rec[i].to_string()).unwrap_or_default(),
            golds: gold_queries(&rec[sql], dialect),
        });
    }
    Ok(out)
}

#[derive(Default)]
struct LinkStats {
    questions: usize,
    covered: usize,
    gold_tables: usize,
    gold_found: usize,
    linked_tokens: usize,
    full_tokens: usize,
    share_sum: f64,
}

impl LinkStats {
    fn line(&self, label: &str) -> String {
        format!(
            "| {label} | {} | {:.3} | {:.3} | {:.3} | {:.3} |",
            self.questions,
            self.covered as f64 / self.questions.max(1) as f64,
            self.gold_found as f64 / self.gold_tables.max(1) as f64,
            self.share_sum / self.questions.max(1) as f64,
            self.linked_tokens as f64 / self.full_tokens.max(1) as f64,
        )
    }
}

struct Loaded {
    schema: Schema,
    db: Database,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("text2sql_eval: {e}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("text2sql_eval: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> Result<bool, String> {
    let mut ok = true;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut loaded: BTreeMap<(Dialect, String), Loaded> = BTreeMap::new();
    let samples = SampleOptions::default();
    println!("## Loading {} databases", DATABASES.len());
    for name in DATABASES {
        let dump_path = args.data.join("databases").join(format!("{name}.sql"));
        let dump = std::fs::read_to_string(&dump_path)
            .map_err(|e| format!("{}: {e}", dump_path.display()))?;
        let desc = Descriptions::load(&args.data.join("databases").join(format!("{name}.json")))
            .map_err(|e| e.to_string())?;
        let file = dir.path().join(format!("{name}.db"));
        let report = load_sqlite(&dump, &file).map_err(|e| format!("{name} (sqlite): {e}"))?;
        let pg_url = load_postgres(&args.pg, &format!("berth_eval_{name}"), &dump)
            .await
            .map_err(|e| format!("{name} (postgres): {e}"))?;
        let mut counts = String::new();
        for (dialect, url) in [
            (Dialect::Sqlite, DatabaseUrl::Sqlite { path: file.clone() }),
            (
                Dialect::Postgres,
                DatabaseUrl::parse(&pg_url).map_err(|e| e.to_string())?,
            ),
        ] {
            let db = Database::new(
                url,
                ExecOptions {
                    max_rows: 1_000_000,
                    ..ExecOptions::default()
                },
            );
            let mut schema = db
                .introspect(&samples)
                .await
                .map_err(|e| format!("{name}: {e}"))?;
            schema.apply_descriptions(&desc);
            loaded.insert((dialect, name.to_string()), Loaded { schema, db });
        }
        // Row counts, table by table, in both databases.
        let mut mismatches = Vec::new();
        let mut total = 0u64;
        let lite = &loaded[&(Dialect::Sqlite, name.to_string())];
        let pg = &loaded[&(Dialect::Postgres, name.to_string())];
        for t in &lite.schema.tables {
            let Some(pt) = pg.schema.table(&t.name.name) else {
                mismatches.push(format!("{} missing in PostgreSQL", t.name));
                continue;
            };
            let qualified = match &pt.name.schema {
                Some(s) => format!("{}.{}", quote_ident(s), quote_ident(&pt.name.name)),
                None => quote_ident(&pt.name.name),
            };
            let a = count(&lite.db, &quote_ident(&t.name.name)).await?;
            let b = count(&pg.db, &qualified).await?;
            total += a;
            if a != b {
                mismatches.push(format!("{}: sqlite {a}, postgres {b}", t.name));
            }
        }
        counts.push_str(&format!(
            "{} tables, schema prompt ≈{} tokens (SQLite) / ≈{} (PostgreSQL), {} rows (dump inserts {}), {} statements skipped",
            lite.schema.tables.len(),
            lite.schema.tokens(),
            pg.schema.tokens(),
            total,
            report.rows,
            report.skipped.len()
        ));
        if mismatches.is_empty() {
            println!("- {name}: {counts}; row counts equal in both databases");
        } else {
            ok = false;
            println!(
                "- {name}: {counts}; ROW COUNTS DIFFER: {}",
                mismatches.join("; ")
            );
        }
    }

    let embedder = match &args.model {
        Some(spec) => Some(
            BuiltinEmbedder::load(spec, &BuiltinOptions::default()).map_err(|e| e.to_string())?,
        ),
        None => None,
    };
    let link_options = LinkOptions {
        max_tokens: args.max_tokens,
        max_share: args.share,
        ..LinkOptions::default()
    };
    let link_options = LinkOptions {
        neighbour_ratio: args.neighbour.unwrap_or(link_options.neighbour_ratio),
        seed_ratio: args.seed.unwrap_or(link_options.seed_ratio),
        embedding_weight: args.weight.unwrap_or(link_options.embedding_weight),
        ..link_options
    };

    for dialect in [Dialect::Postgres, Dialect::Sqlite] {
        let file = match dialect {
            Dialect::Postgres => "questions_postgres.csv",
            Dialect::Sqlite => "questions_sqlite.csv",
        };
        let questions = read_questions(&args.data.join(file), dialect)?;
        println!(
            "\n## {} ({} questions)",
            dialect.display_name(),
            questions.len()
        );
        let mut gold_total = 0;
        let mut validate_fail = Vec::new();
        let mut exec_fail = Vec::new();
        let mut linked_reject = 0usize;
        let mut variants: Vec<(&str, Option<&dyn Embedder>)> = vec![("lexical", None)];
        if let Some(e) = &embedder {
            variants.push(("lexical + embedding", Some(e as &dyn Embedder)));
        }
        let mut stats: Vec<(String, LinkStats, LinkStats)> = Vec::new();
        let mut indexes: BTreeMap<(String, usize), SchemaIndex> = BTreeMap::new();
        for (vi, (_, emb)) in variants.iter().enumerate() {
            for name in DATABASES {
                let l = &loaded[&(dialect, name.to_string())];
                indexes.insert(
                    (name.to_string(), vi),
                    SchemaIndex::build(&l.schema, *emb).map_err(|e| e.to_string())?,
                );
            }
        }
        for (vi, (label, emb)) in variants.iter().enumerate() {
            let mut all = LinkStats::default();
            let mut large = LinkStats::default();
            for q in &questions {
                let Some(l) = loaded.get(&(dialect, q.db.clone())) else {
                    return Err(format!("unknown database {}", q.db));
                };
                let index = &indexes[&(q.db.clone(), vi)];
                let text = if q.instructions.trim().is_empty() {
                    q.question.clone()
                } else {
                    format!("{}\n{}", q.question, q.instructions)
                };
                let linked = index
                    .link(&l.schema, &text, *emb, &link_options)
                    .map_err(|e| e.to_string())?;
                let linked_names: BTreeSet<usize> = linked.tables.iter().copied().collect();
                let full_policy = Policy::new(dialect, 1_000_000, Some(l.schema.table_names()));
                let linked_policy = Policy::new(
                    dialect,
                    1_000_000,
                    Some(
                        linked
                            .tables
                            .iter()
                            .map(|i| l.schema.tables[*i].name.clone())
                            .collect(),
                    ),
                );
                // Coverage: best gold query.
                let mut best: Option<(usize, usize)> = None; // (found, total)
                let mut best_missing: Vec<String> = Vec::new();
                for (gi, gold) in q.golds.iter().enumerate() {
                    let tables: BTreeSet<usize> = match tables_read(gold, dialect) {
                        Ok(t) => t
                            .iter()
                            .filter_map(|n| {
                                l.schema.table(n).and_then(|t| l.schema.index_of(&t.name))
                            })
                            .collect(),
                        Err(_) => BTreeSet::new(),
                    };
                    let found = tables.intersection(&linked_names).count();
                    if best.is_none_or(|(f, t)| {
                        (found as f64 / tables.len().max(1) as f64) > (f as f64 / t.max(1) as f64)
                    }) {
                        best = Some((found, tables.len()));
                        best_missing = tables
                            .difference(&linked_names)
                            .map(|i| l.schema.tables[*i].name.to_string())
                            .collect();
                    }
                    if vi == 0 {
                        gold_total += 1;
                        match validate(gold, &full_policy) {
                            Err(r) => validate_fail.push(format!(
                                "{} | {} | gold {} | {}",
                                q.db,
                                cut(&q.question, 60),
                                gi + 1,
                                r
                            )),
                            Ok(v) => {
                                if let Err(e) = l.db.execute(&v).await {
                                    exec_fail.push(format!(
                                        "{} | {} | gold {} | {e} | {}",
                                        q.db,
                                        cut(&q.question, 60),
                                        gi + 1,
                                        cut(&v.sql, 160)
                                    ));
                                }
                            }
                        }
                        if validate(gold, &linked_policy).is_err() {
                            linked_reject += 1;
                        }
                    }
                }
                let (found, total) = best.unwrap_or((0, 0));
                let large_db = l.schema.tables.len() > 10;
                for s in if large_db {
                    vec![&mut all, &mut large]
                } else {
                    vec![&mut all]
                } {
                    s.questions += 1;
                    s.covered += usize::from(found == total);
                    s.gold_tables += total;
                    s.gold_found += found;
                    s.linked_tokens += linked.tokens;
                    s.full_tokens += linked.full_tokens;
                    s.share_sum += linked.tokens as f64 / linked.full_tokens.max(1) as f64;
                }
                if args.verbose && found < total {
                    let scored = |name: &String| {
                        format!("{name} ({:.2})", linked.scores.get(name).unwrap_or(&0.0))
                    };
                    println!(
                        "  miss [{label}] {} | {} | missing: {} | linked: {} | share {:.2}",
                        q.db,
                        cut(&q.question, 200),
                        best_missing
                            .iter()
                            .map(scored)
                            .collect::<Vec<_>>()
                            .join(", "),
                        linked
                            .tables
                            .iter()
                            .map(|i| scored(&l.schema.tables[*i].name.to_string()))
                            .collect::<Vec<_>>()
                            .join(", "),
                        linked.tokens as f64 / linked.full_tokens.max(1) as f64,
                    );
                }
            }
            stats.push((label.to_string(), all, large));
        }
        println!(
            "gold queries: {gold_total}; rejected by the validator with the full table set: {}; \
             failed at execution: {}; rejected with the linked table set (recall misses): {linked_reject}",
            validate_fail.len(),
            exec_fail.len()
        );
        for f in &validate_fail {
            println!("  VALIDATOR: {f}");
        }
        for f in &exec_fail {
            println!("  EXECUTION: {f}");
        }
        if !validate_fail.is_empty() || !exec_fail.is_empty() {
            ok = false;
        }
        println!(
            "\n| linking | questions | questions covered | gold-table recall | mean token share | total token share |"
        );
        println!("|---|---|---|---|---|---|");
        for (label, all, large) in &stats {
            println!("{}", all.line(&format!("{label}, all 11 databases")));
            println!(
                "{}",
                large.line(&format!("{label}, databases with > 10 tables"))
            );
        }
        match &args.chat {
            Some(model) => {
                execution_accuracy(
                    dialect,
                    &questions,
                    &loaded,
                    model,
                    &link_options,
                    args.verbose,
                )
                .await?
            }
            None => {
                println!("\nexecution accuracy: not measured (no --chat-url / --chat-model given)")
            }
        }
    }
    Ok(ok)
}

/// Rows of a question's answer held to at most this many (gold results are far smaller).
const ACCURACY_MAX_ROWS: u64 = 100_000;

/// Asks every question through the whole app and compares its rows with the gold ones.
async fn execution_accuracy(
    dialect: Dialect,
    questions: &[QuestionRow],
    loaded: &BTreeMap<(Dialect, String), Loaded>,
    model: &ChatModel,
    link: &LinkOptions,
    verbose: bool,
) -> Result<(), String> {
    let mut apps: BTreeMap<&str, Text2Sql> = BTreeMap::new();
    for name in DATABASES {
        let l = &loaded[&(dialect, name.to_string())];
        let config = Text2SqlConfig {
            max_rows: ACCURACY_MAX_ROWS,
            link: link.clone(),
            ..Text2SqlConfig::default()
        };
        let app = Text2Sql::from_schema(l.db.clone(), l.schema.clone(), config, None)
            .map_err(|e| e.to_string())?;
        apps.insert(name, app);
    }
    let (mut correct, mut wrong, mut failed, mut repaired) = (0usize, 0usize, 0usize, 0usize);
    for q in questions {
        let l = &loaded[&(dialect, q.db.clone())];
        let question = Question {
            text: q.question.clone(),
            instructions: Some(q.instructions.clone()).filter(|i| !i.trim().is_empty()),
        };
        let answer = match apps[q.db.as_str()].answer(&question, model, None).await {
            Ok(a) => a,
            Err(e) => {
                failed += 1;
                if verbose {
                    println!(
                        "  NO QUERY: {} | {} | {}",
                        q.db,
                        cut(&q.question, 80),
                        cut(&e.to_string(), 200)
                    );
                }
                continue;
            }
        };
        if answer.attempts.len() > 1 {
            repaired += 1;
        }
        let policy = Policy::new(dialect, ACCURACY_MAX_ROWS, Some(l.schema.table_names()));
        let mut matched = false;
        for gold in &q.golds {
            let Ok(v) = validate(gold, &policy) else {
                continue;
            };
            let Ok(result) = l.db.execute(&v).await else {
                continue;
            };
            if same_result(&result.columns, &result.rows, &answer.columns, &answer.rows) {
                matched = true;
                break;
            }
        }
        if matched {
            correct += 1;
        } else {
            wrong += 1;
            if verbose {
                println!(
                    "  WRONG: {} | {} | {}",
                    q.db,
                    cut(&q.question, 80),
                    cut(&answer.sql, 200)
                );
            }
        }
    }
    let total = questions.len().max(1);
    println!(
        "\nexecution accuracy ({}, model `{}`): {correct}/{} = {:.3}; wrong rows {wrong}; no runnable query after repairs {failed}; answers that needed a repair {repaired}",
        dialect.display_name(),
        model.model,
        questions.len(),
        correct as f64 / total as f64
    );
    Ok(())
}

async fn count(db: &Database, table: &str) -> Result<u64, String> {
    let r = db
        .run_read_only(&format!("SELECT COUNT(*) FROM {table}"))
        .await
        .map_err(|e| e.to_string())?;
    match r.rows.first().and_then(|row| row.first()) {
        Some(berth_sql::Value::Int(n)) => Ok(*n as u64),
        other => Err(format!("count of {table}: unexpected {other:?}")),
    }
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}
