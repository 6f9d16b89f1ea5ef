//! berth's gateway: an OpenAI-compatible HTTP API (`/v1/chat/completions` with
//! streaming, `/v1/embeddings`, `/v1/models`) that routes each logical model of a stack to
//! its upstreams, with retries, fallback, timeouts, circuit breaking and Prometheus
//! metrics.
//!
//! It does not plan, deploy or start upstreams: it takes a [`GatewayConfig`] (usually
//! built from a `Plan` with [`GatewayConfig::from_plan`]) and serves it until told to stop;
//! [`Gateway::reload`] swaps the configuration without dropping requests in flight.

mod breaker;
pub mod config;
mod error;
mod metrics;
mod proxy;
mod routes;
pub mod standin;

pub use config::{BreakerPolicy, ConfigError, GatewayConfig, RetryPolicy, RouteTarget, Timeouts};
pub use error::ApiError;

use arc_swap::ArcSwap;
use axum::serve::ListenerExt;
use proxy::{Live, Shared};
use std::future::Future;
use std::sync::Arc;

/// The gateway: its live configuration, metrics and circuit breakers. Cheap to clone;
/// clones share everything.
#[derive(Clone)]
pub struct Gateway {
    shared: Arc<Shared>,
}

impl Gateway {
    /// A gateway serving `config`.
    pub fn new(config: GatewayConfig) -> Gateway {
        Gateway {
            shared: Arc::new(Shared {
                live: ArcSwap::from_pointee(Live::new(config)),
                metrics: metrics::Metrics::default(),
                breakers: breaker::Breakers::default(),
            }),
        }
    }

    /// Replaces the configuration. Requests that already started finish with the one
    /// they started with; new requests use `config`.
    pub fn reload(&self, config: GatewayConfig) {
        self.shared.live.store(Arc::new(Live::new(config)));
    }

    /// The HTTP routes, ready to serve (no socket needed, e.g. for `oneshot` tests).
    pub fn router(&self) -> axum::Router {
        routes::router(self.shared.clone())
    }

    /// The current Prometheus text exposition (what `GET /metrics` answers).
    pub fn metrics_text(&self) -> String {
        self.shared.metrics.render()
    }
}

/// Serves `gateway` on `listener` (with `TCP_NODELAY`) until `shutdown` completes, then
/// waits for requests in flight to finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    gateway: Gateway,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, gateway.router())
        .with_graceful_shutdown(shutdown)
        .await
}
