//! The gateway's one error type, rendered as an OpenAI error object.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;

/// An error answered to a client, in the OpenAI error shape
/// `{"error":{"message","type","param","code"}}`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The requested logical model is not served.
    #[error("The model `{0}` does not exist")]
    ModelNotFound(String),
    /// The request body is unusable.
    #[error("{message}")]
    InvalidRequest {
        /// What is wrong.
        message: String,
        /// The offending parameter, if one.
        param: Option<&'static str>,
    },
    /// The final upstream answer was an error status, passed through.
    #[error("upstream answered {status}")]
    Upstream {
        /// Upstream status.
        status: StatusCode,
        /// Upstream body, sent as is when it is an OpenAI error object.
        body: Bytes,
        /// Upstream `Retry-After`, passed on.
        retry_after: Option<HeaderValue>,
    },
    /// Every route failed, the last one by timing out.
    #[error("upstream timed out")]
    UpstreamTimeout,
    /// Every route failed.
    #[error("all upstreams for the model failed")]
    AllRoutesFailed,
    /// Every route's circuit is open.
    #[error("no upstream for the model is available")]
    NoRouteAvailable,
    /// No API key, or one that is unknown or revoked (401).
    #[error("{0}")]
    InvalidApiKey(String),
    /// The key's scope does not include the model (403). Answered for any model outside
    /// the scope, served or not, so a key cannot probe which models exist.
    #[error("This API key may not use the model `{0}`")]
    ModelNotAllowed(String),
    /// The key's request or token rate limit is reached (429, with `Retry-After`).
    #[error("{message}")]
    RateLimited {
        /// Which limit.
        message: String,
        /// Seconds until the request would be admitted.
        retry_after: u64,
    },
    /// The key store could not be read (503).
    #[error("API keys cannot be checked right now")]
    AuthUnavailable,
    /// No such resource (an app, a chunk) (404).
    #[error("{0}")]
    NotFound(String),
    /// An app could not answer for a reason of its own (retrieval, the state store) (500).
    #[error("{0}")]
    AppFailed(String),
    /// The gateway has as many requests in flight as it allows (503, `Retry-After: 1`).
    #[error("The gateway is at its limit of requests in flight; retry shortly")]
    Overloaded,
    /// An app tried and found no answer it may give (a text2sql app whose every attempt
    /// failed; the message lists them) (422).
    #[error("{0}")]
    Unanswered(String),
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::ModelNotFound(_) => StatusCode::NOT_FOUND,
            ApiError::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Upstream { status, .. } => *status,
            ApiError::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            ApiError::AllRoutesFailed => StatusCode::BAD_GATEWAY,
            ApiError::NoRouteAvailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::InvalidApiKey(_) => StatusCode::UNAUTHORIZED,
            ApiError::ModelNotAllowed(_) => StatusCode::FORBIDDEN,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::AuthUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::AppFailed(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unanswered(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The OpenAI error object (the value of `"error"`).
    pub fn object(&self) -> serde_json::Value {
        let (ty, code, param) = match self {
            ApiError::ModelNotFound(_) => (
                "invalid_request_error",
                Some("model_not_found"),
                Some("model"),
            ),
            ApiError::InvalidRequest { param, .. } => ("invalid_request_error", None, *param),
            ApiError::Upstream { .. } => ("upstream_error", None, None),
            ApiError::UpstreamTimeout => ("upstream_error", Some("upstream_timeout"), None),
            ApiError::AllRoutesFailed => ("upstream_error", Some("upstream_unavailable"), None),
            ApiError::NoRouteAvailable => ("upstream_error", Some("circuit_open"), None),
            ApiError::InvalidApiKey(_) => ("invalid_request_error", Some("invalid_api_key"), None),
            ApiError::ModelNotAllowed(_) => (
                "invalid_request_error",
                Some("model_not_allowed"),
                Some("model"),
            ),
            ApiError::RateLimited { .. } => ("rate_limit_error", Some("rate_limit_exceeded"), None),
            ApiError::AuthUnavailable => ("server_error", Some("auth_unavailable"), None),
            ApiError::NotFound(_) => ("invalid_request_error", Some("not_found"), None),
            ApiError::AppFailed(_) => ("server_error", Some("app_failed"), None),
            ApiError::Unanswered(_) => ("invalid_request_error", Some("no_answer"), None),
            ApiError::Overloaded => ("server_error", Some("overloaded"), None),
        };
        json!({ "message": self.to_string(), "type": ty, "param": param, "code": code })
    }
}

/// Whether `body` is already an OpenAI error object.
fn is_error_object(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .map(|v| v.get("error").is_some_and(|e| e.is_object()))
        .unwrap_or(false)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = match &self {
            ApiError::Upstream { body, .. } if is_error_object(body) => (
                status,
                [(header::CONTENT_TYPE, "application/json")],
                body.clone(),
            )
                .into_response(),
            _ => (status, axum::Json(json!({ "error": self.object() }))).into_response(),
        };
        if let ApiError::Upstream {
            retry_after: Some(v),
            ..
        } = &self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, v.clone());
        }
        match &self {
            ApiError::RateLimited { retry_after, .. } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            ApiError::Overloaded => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(1));
            }
            ApiError::InvalidApiKey(_) => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}
