//! berth's gateway: an OpenAI-compatible HTTP API (`/v1/chat/completions` with
//! streaming, `/v1/embeddings`, `/v1/models`) that routes each logical model of a stack to
//! its upstreams, with retries, fallback, timeouts, circuit breaking and Prometheus
//! metrics.
//!
//! It does not plan, deploy or start upstreams: it takes a [`GatewayConfig`] (usually
//! built from a `Plan` with [`GatewayConfig::from_plan`]) and serves it until told to stop;
//! [`Gateway::reload`] swaps the configuration without dropping requests in flight.
//!
//! With a key store ([`Gateway::with_keys`]) requests need `Authorization: Bearer KEY`:
//! a missing, unknown or revoked key is answered 401 (`invalid_api_key`); a model outside
//! the key's scope 403 (`model_not_allowed`, whether or not the model exists, so keys
//! cannot probe for models); a key over its requests or tokens per minute 429 with
//! `Retry-After`. `/v1/models` lists only the key's models; `/healthz`, `/readyz` and
//! `/metrics` need no key. Usage per key, model and day is written off the request path.
//! A store with no keys at all leaves the gateway open unless
//! [`KeyOptions::require_keys`] is set.

pub mod apps;
mod auth;
mod breaker;
pub mod config;
pub mod embedder;
mod error;
pub mod keys;
mod metrics;
mod proxy;
mod routes;
pub mod standin;
mod ui;
pub mod worker;

pub use apps::{AppError, AppSet};
pub use auth::KeyOptions;
pub use config::{BreakerPolicy, ConfigError, GatewayConfig, RetryPolicy, RouteTarget, Timeouts};
pub use error::ApiError;
pub use keys::KeyStore;

use arc_swap::ArcSwap;
use axum::serve::ListenerExt;
use proxy::{Live, Shared};
use std::future::Future;
use std::sync::Arc;

/// Requests in flight a gateway allows by default (routed model calls and app queries;
/// the others are cheap and always answered).
pub const DEFAULT_MAX_IN_FLIGHT: usize = 4096;

/// The gateway: its live configuration, metrics and circuit breakers. Cheap to clone;
/// clones share everything.
#[derive(Clone)]
pub struct Gateway {
    shared: Arc<Shared>,
}

impl Gateway {
    /// A gateway serving `config` to anyone (no API keys).
    pub fn new(config: GatewayConfig) -> Gateway {
        Gateway {
            shared: Arc::new(Shared {
                live: ArcSwap::from_pointee(Live::new(config)),
                metrics: Arc::default(),
                breakers: breaker::Breakers::default(),
                auth: None,
                apps: ArcSwap::from_pointee(AppSet::empty()),
                in_flight: Arc::new(tokio::sync::Semaphore::new(DEFAULT_MAX_IN_FLIGHT)),
            }),
        }
    }

    /// A gateway serving `config` to the holders of the keys in `store`. Starts the
    /// usage writer, so it must be called within a Tokio runtime.
    pub fn with_keys(
        config: GatewayConfig,
        store: Arc<dyn KeyStore>,
        options: KeyOptions,
    ) -> Gateway {
        let metrics = Arc::new(metrics::Metrics::default());
        let auth = auth::Auth::start(store, options, metrics.clone());
        Gateway {
            shared: Arc::new(Shared {
                live: ArcSwap::from_pointee(Live::new(config)),
                metrics,
                breakers: breaker::Breakers::default(),
                auth: Some(Arc::new(auth)),
                apps: ArcSwap::from_pointee(AppSet::empty()),
                in_flight: Arc::new(tokio::sync::Semaphore::new(DEFAULT_MAX_IN_FLIGHT)),
            }),
        }
    }

    /// Waits until the usage of every request answered so far is written to the key
    /// store (at once without one).
    pub async fn flush_usage(&self) {
        if let Some(auth) = &self.shared.auth {
            auth.flush().await;
        }
    }

    /// Replaces the configuration. Requests that already started finish with the one
    /// they started with; new requests use `config`.
    pub fn reload(&self, config: GatewayConfig) {
        self.shared.live.store(Arc::new(Live::new(config)));
    }

    /// Sets how many model and app requests may be in flight at once (default
    /// [`DEFAULT_MAX_IN_FLIGHT`]); past it, requests are answered 503 with `Retry-After`
    /// at once, so an overloaded gateway sheds load instead of queueing without bound.
    /// Call it before the gateway serves: it replaces the permits.
    pub fn max_in_flight(self, limit: usize) -> Gateway {
        let mut shared = self.shared;
        if let Some(s) = Arc::get_mut(&mut shared) {
            s.in_flight = Arc::new(tokio::sync::Semaphore::new(limit.max(1)));
        }
        Gateway { shared }
    }

    /// Replaces the apps served (`GET /v1/apps`, `model: "app/NAME"`, the UI's pages).
    /// Answers already started finish with the apps they started with.
    pub fn set_apps(&self, apps: AppSet) {
        self.shared.apps.store(Arc::new(apps));
    }

    /// Answers `question` with app `name` in process, as `principal` would be answered
    /// over HTTP (for `berth ask`): text pieces go to `on_delta` as they are generated,
    /// then the whole answer is returned.
    pub async fn ask(
        &self,
        name: &str,
        question: &str,
        principal: berth_index::Principal,
        session: Option<String>,
        mut on_delta: impl FnMut(&str),
    ) -> Result<apps::assistant::Answer, ApiError> {
        let app = self.shared.apps.load().get(name)?;
        let owner = principal.user.clone().unwrap_or_else(|| "anonymous".into());
        let mut events = apps::assistant::start(
            self.shared.clone(),
            app,
            apps::assistant::Query {
                question: question.to_string(),
                history: Vec::new(),
                session,
                principal,
                owner,
                options: Default::default(),
            },
        );
        while let Some(event) = events.recv().await {
            match event? {
                apps::assistant::Event::Delta(text) => on_delta(&text),
                apps::assistant::Event::Done(answer) => return Ok(*answer),
            }
        }
        Err(ApiError::AppFailed(
            "the app stopped without an answer".into(),
        ))
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
