//! Gateway configuration: logical models and their upstream routes, timeouts, retries,
//! circuit breaking. Built from a [`Plan`] or by hand.

use berth_stack::plan::{Plan, PlannedRoute};
use std::collections::BTreeMap;
use std::time::Duration;

/// One upstream a logical model can be served by.
#[derive(Clone, PartialEq, Eq)]
pub struct RouteTarget {
    /// Name used in metrics and errors: the component or provider.
    pub name: String,
    /// OpenAI-compatible base URL, usually ending in `/v1`.
    pub base_url: String,
    /// The upstream's model name; `None` passes the client's through.
    pub model: Option<String>,
    /// Resolved API key, sent as a bearer token. Never logged or printed.
    pub api_key: Option<String>,
    /// Traffic weight (routes are currently tried in order, one tier each).
    pub weight: u32,
}

impl std::fmt::Debug for RouteTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteTarget")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("weight", &self.weight)
            .finish()
    }
}

impl RouteTarget {
    /// A route with no upstream model rename, no key and weight 1.
    pub fn new(name: impl Into<String>, base_url: impl Into<String>) -> Self {
        RouteTarget {
            name: name.into(),
            base_url: base_url.into(),
            model: None,
            api_key: None,
            weight: 1,
        }
    }

    /// Sets the upstream model name.
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// The URL of an endpoint below the base URL (`chat/completions`).
    pub(crate) fn endpoint(&self, path: &str) -> String {
        format!("{}/{}", self.base_url.trim_end_matches('/'), path)
    }

    /// Key identifying this upstream across reloads (for circuit breakers).
    pub(crate) fn breaker_key(&self) -> String {
        format!("{}|{}", self.name, self.base_url)
    }
}

/// Time limits for one client request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing a TCP (and TLS) connection to an upstream.
    pub connect: Duration,
    /// From sending a request to an upstream until its response headers and, when
    /// streaming, its first event arrive. Exceeding it falls back to the next route.
    pub first_byte: Duration,
    /// The whole client request, all attempts and the full stream included.
    pub total: Duration,
    /// Longest silence between two chunks of a stream once it has started.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(5),
            first_byte: Duration::from_secs(60),
            total: Duration::from_secs(600),
            idle: Duration::from_secs(60),
        }
    }
}

/// Retries on one route before falling back to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts on one route (1 = no retry).
    pub max_attempts_per_route: u32,
    /// First backoff; doubles each retry, with jitter.
    pub base_backoff: Duration,
    /// Longest backoff. A `Retry-After` longer than this skips to the next route
    /// instead of waiting.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts_per_route: 2,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Per-route circuit breaking: a route whose recent requests fail at `error_rate_percent`
/// or more is skipped for `cool_down`, then probed with a request that spends no tokens
/// (`GET …/models`) until the upstream answers again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Failed share of the window, in percent, that opens the circuit (0 disables
    /// breaking).
    pub error_rate_percent: u32,
    /// How many of the route's latest requests the rate is taken over.
    pub window: u32,
    /// The fewest requests in the window before the rate may open the circuit.
    pub min_requests: u32,
    /// How long an open circuit skips the route before it is probed.
    pub cool_down: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        BreakerPolicy {
            error_rate_percent: 50,
            window: 20,
            min_requests: 5,
            cool_down: Duration::from_secs(30),
        }
    }
}

/// Everything the gateway serves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewayConfig {
    /// Logical model name to its routes, in priority order.
    pub models: BTreeMap<String, Vec<RouteTarget>>,
    /// Time limits.
    pub timeouts: Timeouts,
    /// Retries.
    pub retry: RetryPolicy,
    /// Circuit breaking.
    pub breaker: BreakerPolicy,
}

/// Why a plan could not be turned into a gateway configuration.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A route names a connection the plan does not have.
    #[error("model `{model}`: route via `{component}` names unknown connection `{connection}`")]
    UnknownConnection {
        /// Logical model.
        model: String,
        /// Component of the route.
        component: String,
        /// The missing connection id.
        connection: String,
    },
    /// A secret reference whose environment variable is not set.
    #[error("model `{model}`: secret `{secret}` is not set in the environment")]
    MissingSecret {
        /// Logical model.
        model: String,
        /// Secret (environment variable) name.
        secret: String,
    },
    /// A credential that is not a `${secret:NAME}` reference.
    #[error("model `{model}`: credential of `{route}` is not a `${{secret:NAME}}` reference")]
    NotASecretReference {
        /// Logical model.
        model: String,
        /// Route name.
        route: String,
    },
}

impl GatewayConfig {
    /// Builds the configuration of a plan, reading secret values from the environment
    /// (secret `NAME` is environment variable `NAME`). Timeouts and policies are defaults.
    pub fn from_plan(plan: &Plan) -> Result<GatewayConfig, ConfigError> {
        Self::from_plan_with(plan, |name| std::env::var(name).ok())
    }

    /// As [`GatewayConfig::from_plan`], with secret values looked up by `secret`.
    pub fn from_plan_with(
        plan: &Plan,
        secret: impl Fn(&str) -> Option<String>,
    ) -> Result<GatewayConfig, ConfigError> {
        let resolve = |model: &str, route: &str, reference: &str| {
            let name = reference
                .strip_prefix("${secret:")
                .and_then(|r| r.strip_suffix('}'))
                .ok_or_else(|| ConfigError::NotASecretReference {
                    model: model.to_owned(),
                    route: route.to_owned(),
                })?;
            secret(name).ok_or_else(|| ConfigError::MissingSecret {
                model: model.to_owned(),
                secret: name.to_owned(),
            })
        };
        let mut models = BTreeMap::new();
        for (logical, routes) in &plan.models {
            let mut targets = Vec::with_capacity(routes.len());
            for route in routes {
                targets.push(match route {
                    PlannedRoute::Component {
                        component,
                        connection,
                        model,
                        weight,
                    } => {
                        let conn = plan.connections.get(connection).ok_or_else(|| {
                            ConfigError::UnknownConnection {
                                model: logical.clone(),
                                component: component.clone(),
                                connection: connection.clone(),
                            }
                        })?;
                        let api_key = conn
                            .secrets
                            .get("api_key")
                            .map(|r| resolve(logical, component, r))
                            .transpose()?;
                        RouteTarget {
                            name: component.clone(),
                            base_url: conn.url.clone(),
                            model: model.clone().or_else(|| conn.model.clone()),
                            api_key,
                            weight: *weight,
                        }
                    }
                    PlannedRoute::Provider {
                        provider,
                        base_url,
                        model,
                        api_key,
                        weight,
                    } => RouteTarget {
                        name: provider.clone(),
                        base_url: base_url.clone(),
                        model: Some(model.clone()),
                        api_key: api_key
                            .as_deref()
                            .map(|r| resolve(logical, provider, r))
                            .transpose()?,
                        weight: *weight,
                    },
                });
            }
            models.insert(logical.clone(), targets);
        }
        Ok(GatewayConfig {
            models,
            ..GatewayConfig::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_stack::plan::{Connection, PLAN_FORMAT};

    fn plan() -> Plan {
        let mut connections = BTreeMap::new();
        connections.insert(
            "llm/openai".to_owned(),
            Connection {
                component: "llm".into(),
                contract: "openai".into(),
                scheme: "http".into(),
                host: "llm".into(),
                port: 8000,
                path: "/v1".into(),
                url: "http://llm:8000/v1".into(),
                model: Some("Qwen/Qwen3-8B".into()),
                secrets: BTreeMap::new(),
            },
        );
        let mut models = BTreeMap::new();
        models.insert(
            "chat".to_owned(),
            vec![
                PlannedRoute::Component {
                    component: "llm".into(),
                    connection: "llm/openai".into(),
                    model: None,
                    weight: 1,
                },
                PlannedRoute::Provider {
                    provider: "openai".into(),
                    base_url: "https://api.openai.com/v1".into(),
                    model: "gpt-4o-mini".into(),
                    api_key: Some("${secret:OPENAI_API_KEY}".into()),
                    weight: 1,
                },
            ],
        );
        Plan {
            format: PLAN_FORMAT,
            stack: "t".into(),
            target: Default::default(),
            namespace: "t".into(),
            components: BTreeMap::new(),
            order: vec![],
            connections,
            models,
            sources: BTreeMap::new(),
            pipelines: BTreeMap::new(),
            apps: BTreeMap::new(),
            secrets: vec!["OPENAI_API_KEY".into()],
            findings: vec![],
        }
    }

    #[test]
    fn resolves_connections_and_secrets() {
        let config = GatewayConfig::from_plan_with(&plan(), |n| {
            (n == "OPENAI_API_KEY").then(|| "sk-test".to_owned())
        })
        .unwrap();
        let routes = &config.models["chat"];
        assert_eq!(routes[0].name, "llm");
        assert_eq!(routes[0].base_url, "http://llm:8000/v1");
        assert_eq!(routes[0].model.as_deref(), Some("Qwen/Qwen3-8B"));
        assert_eq!(routes[1].api_key.as_deref(), Some("sk-test"));
        assert!(!format!("{routes:?}").contains("sk-test"));
    }

    #[test]
    fn missing_secret_and_connection_are_errors() {
        let err = GatewayConfig::from_plan_with(&plan(), |_| None).unwrap_err();
        assert!(
            matches!(err, ConfigError::MissingSecret { ref secret, .. } if secret == "OPENAI_API_KEY")
        );
        let mut p = plan();
        p.connections.clear();
        let err = GatewayConfig::from_plan_with(&p, |_| Some("k".into())).unwrap_err();
        assert!(matches!(err, ConfigError::UnknownConnection { .. }));
    }
}
