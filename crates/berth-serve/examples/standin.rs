//! Runs the OpenAI-compatible stand-in upstream on its own, for benchmarks and manual
//! trials: `cargo run --release -p berth-serve --example standin -- --port 9100
//! --latency-ms 10 --tokens 8 --chunk-interval-ms 2`. Prints `listening on URL` once it
//! accepts connections; runs until killed. It does not keep the requests it receives.

use berth_serve::standin::{Behavior, Standin};
use std::net::SocketAddr;
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port = 0u16;
    let mut latency_ms = 0u64;
    let mut tokens = 8usize;
    let mut interval_ms = 0u64;
    let mut threads = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--port" => port = value.parse()?,
            "--latency-ms" => latency_ms = value.parse()?,
            "--tokens" => tokens = value.parse()?,
            "--chunk-interval-ms" => interval_ms = value.parse()?,
            "--threads" => threads = value.parse()?,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let standin =
            Standin::start_at(SocketAddr::from(([127, 0, 0, 1], port)), "standin").await?;
        standin.keep_requests(false);
        standin.set_default(
            Behavior::default()
                .latency(Duration::from_millis(latency_ms))
                .chunk_interval(Duration::from_millis(interval_ms))
                .tokens((0..tokens).map(|i| format!("tok{i} "))),
        );
        println!("listening on {}", standin.base_url());
        std::future::pending::<()>().await;
        Ok(())
    })
}
