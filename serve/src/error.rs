//! Errors as CouchDB answers them: a status and a `{"error", "reason"}` body.
//!
//! Owns: [`ApiError`] (what a request handler fails with), its JSON response, and the
//! mapping from the store's error kinds to CouchDB's statuses; [`StartError`] for what stops
//! the server before it serves.
//! Invariant: every failed request gets a JSON body with `error` and `reason`; a failure of
//! the store itself (damage, I/O) is a 500 whose reason names it, never a panic.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use settee::ErrorKind;

/// A request that cannot be answered with what it asked for.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: &'static str,
    pub reason: String,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, reason: impl Into<String>) -> ApiError {
        ApiError { status, error, reason: reason.into() }
    }

    pub fn bad_request(reason: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", reason)
    }

    pub fn not_found(reason: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", reason)
    }

    pub fn no_db() -> ApiError {
        ApiError::not_found("Database does not exist.")
    }

    pub fn conflict() -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", "Document update conflict.")
    }

    pub fn method_not_allowed(allowed: &str) -> ApiError {
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", format!("Only {allowed} allowed"))
    }

    pub fn not_implemented(reason: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_IMPLEMENTED, "not_implemented", reason)
    }

    pub fn internal(reason: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_server_error", reason)
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "Name or password is incorrect.")
    }

    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    }

    /// A revision this write replaces lacks an attachment the write keeps as a stub
    /// (CouchDB's 412).
    pub fn missing_stub(reason: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PRECONDITION_FAILED, "missing_stub", reason)
    }

    /// The JSON body `{"error", "reason"}`.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({"error": self.error, "reason": self.reason})
    }
}

impl From<settee::Error> for ApiError {
    fn from(e: settee::Error) -> ApiError {
        match (&e, e.kind()) {
            (_, ErrorKind::Conflict) => ApiError::conflict(),
            (settee::Error::MissingStub { .. }, _) => {
                ApiError::new(StatusCode::PRECONDITION_FAILED, "missing_stub", e.to_string())
            }
            (settee::Error::NotFound { why, .. }, _) => {
                ApiError::not_found(if why.is_empty() { "missing" } else { why })
            }
            (_, ErrorKind::NotFound) => ApiError::not_found("missing"),
            (_, ErrorKind::InvalidInput) => ApiError::bad_request(e.to_string()),
            (_, ErrorKind::Precondition) => {
                ApiError::new(StatusCode::PRECONDITION_FAILED, "precondition_failed", e.to_string())
            }
            (_, ErrorKind::Locked) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", e.to_string())
            }
            (_, ErrorKind::Corrupt | ErrorKind::Io | ErrorKind::Peer) => ApiError::internal(e.to_string()),
        }
    }
}

impl From<settee::id::DocIdError> for ApiError {
    fn from(e: settee::id::DocIdError) -> ApiError {
        ApiError::bad_request(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body().to_string();
        let mut response = (self.status, body).into_response();
        response.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert("www-authenticate", HeaderValue::from_static("Basic realm=\"settee\""));
        }
        response
    }
}

/// What keeps the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("refusing to listen on {addr} without credentials: give --user and --password-file (or SETTEE_SERVE_PASSWORD), or bind a loopback address")]
    NeedsCredentials { addr: std::net::SocketAddr },
    #[error("invalid database name {name:?}: {why}")]
    BadDbName { name: String, why: &'static str },
    #[error("database name {name:?} is given twice")]
    DuplicateDb { name: String },
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("opening the store of {name}: {source}")]
    Open { name: String, source: settee::Error },
    #[error("data directory {path}: {source}")]
    DataDir { path: std::path::PathBuf, source: std::io::Error },
    #[error("starting the runtime: {0}")]
    Runtime(std::io::Error),
}

/// The result type of request handlers.
pub type ApiResult<T> = Result<T, ApiError>;
