//! An open-loop, constant-arrival-rate load generator for OpenAI-compatible chat
//! endpoints: request `i` is due at `start + i / rate` whether or not earlier ones have
//! answered, and its latency counts from that due time, so a server that falls behind
//! shows its queueing instead of slowing the generator down (no coordinated omission).
//!
//! `cargo run --release -p berth-serve --example loadgen -- --url
//! http://127.0.0.1:8080/v1/chat/completions --rate 1000 --seconds 5 [--stream]
//! [--model chat] [--key KEY] [--warmup-seconds 1] [--timeout-seconds 10]`
//!
//! Prints one JSON object: requests sent, succeeded and failed, the rate achieved, and
//! latency (whole response) and time to first body byte percentiles in milliseconds,
//! for the measured (post-warm-up) requests.

use futures_util::StreamExt;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

struct Args {
    url: String,
    rate: f64,
    seconds: f64,
    warmup: f64,
    stream: bool,
    model: String,
    key: Option<String>,
    timeout: Duration,
    threads: usize,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        url: String::new(),
        rate: 100.0,
        seconds: 5.0,
        warmup: 1.0,
        stream: false,
        model: "chat".into(),
        key: None,
        timeout: Duration::from_secs(10),
        threads: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--stream" {
            args.stream = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |v: &str| v.parse::<f64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--url" => args.url = value,
            "--rate" => args.rate = number(&value)?,
            "--seconds" => args.seconds = number(&value)?,
            "--warmup-seconds" => args.warmup = number(&value)?,
            "--model" => args.model = value,
            "--key" => args.key = Some(value),
            "--timeout-seconds" => args.timeout = Duration::from_secs_f64(number(&value)?),
            "--threads" => args.threads = number(&value)? as usize,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if args.url.is_empty() || args.rate <= 0.0 || args.seconds <= 0.0 {
        return Err("--url, a positive --rate and positive --seconds are needed".into());
    }
    Ok(args)
}

/// One request's outcome: latency and time to first byte in microseconds, or failure.
#[derive(Default)]
struct Samples {
    latency: Vec<u64>,
    first_byte: Vec<u64>,
    ok: u64,
    failed: u64,
    errors: std::collections::BTreeMap<String, u64>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(4096)
        .timeout(args.timeout)
        .build()?;
    let mut body = json!({
        "model": args.model,
        "messages": [{"role": "user", "content": "Say hello in a few words."}],
        "max_tokens": 16,
    });
    if args.stream {
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
    }
    let body = Arc::new(serde_json::to_vec(&body)?);
    let samples = Arc::new(Mutex::new(Samples::default()));
    let total = ((args.warmup + args.seconds) * args.rate).round() as u64;
    let measured_from = (args.warmup * args.rate).round() as u64;
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let start = Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due).await;
        let client = client.clone();
        let body = body.clone();
        let samples = samples.clone();
        let url = args.url.clone();
        let key = args.key.clone();
        tasks.push(tokio::spawn(async move {
            let outcome = one(&client, &url, key.as_deref(), body, due).await;
            if i < measured_from {
                return;
            }
            let mut s = samples.lock().await;
            match outcome {
                Ok((latency, first)) => {
                    s.ok += 1;
                    s.latency.push(latency);
                    s.first_byte.push(first);
                }
                Err(e) => {
                    s.failed += 1;
                    *s.errors.entry(e).or_default() += 1;
                }
            }
        }));
    }
    let sent_in = start.elapsed();
    for task in tasks {
        let _ = task.await;
    }
    let mut s = Arc::try_unwrap(samples)
        .map_err(|_| "samples still shared")?
        .into_inner();
    s.latency.sort_unstable();
    s.first_byte.sort_unstable();
    let report = json!({
        "url": args.url,
        "stream": args.stream,
        "target_rps": args.rate,
        "achieved_send_rps": total as f64 / sent_in.as_secs_f64(),
        "measured": (total - measured_from),
        "ok": s.ok,
        "failed": s.failed,
        "errors": s.errors,
        "latency_ms": percentiles(&s.latency),
        "first_byte_ms": percentiles(&s.first_byte),
    });
    println!("{report}");
    Ok(())
}

/// Sends one request due at `due`; latency and first-byte time count from `due`.
async fn one(
    client: &reqwest::Client,
    url: &str,
    key: Option<&str>,
    body: Arc<Vec<u8>>,
    due: Instant,
) -> Result<(u64, u64), String> {
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .body((*body).clone());
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.map_err(classify)?;
    let status = response.status();
    let mut stream = response.bytes_stream();
    let mut first = None;
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(classify)?;
        if first.is_none() && !chunk.is_empty() {
            first = Some(due.elapsed());
        }
        bytes.extend_from_slice(&chunk);
    }
    let latency = due.elapsed();
    if !status.is_success() {
        return Err(format!("status {}", status.as_u16()));
    }
    let text = String::from_utf8_lossy(&bytes);
    let complete = if text.starts_with("data:") || text.contains("\ndata:") {
        text.trim_end().ends_with("data: [DONE]")
    } else {
        serde_json::from_slice::<Value>(&bytes)
            .is_ok_and(|v| v["choices"][0]["message"].is_object())
    };
    if !complete {
        return Err("incomplete response".into());
    }
    let micros = |d: Duration| d.as_micros() as u64;
    Ok((micros(latency), micros(first.unwrap_or(latency))))
}

fn classify(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connect".into()
    } else {
        "transport".into()
    }
}

fn percentiles(sorted: &[u64]) -> Value {
    if sorted.is_empty() {
        return Value::Null;
    }
    let at = |q: f64| {
        let idx = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
        sorted[idx] as f64 / 1000.0
    };
    json!({"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": at(1.0)})
}
