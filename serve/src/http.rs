//! The plumbing every endpoint shares: query parameters as CouchDB encodes them, request
//! bodies read under the size limit, and JSON responses.
//!
//! Owns: [`Params`] (typed access to the query string, CouchDB's JSON-encoded values),
//! [`read_body`] / [`json_body`] (the limit as a 413, malformed JSON as a 400, a wrong
//! content type as a 415) and [`json`] (a JSON response with CouchDB's content type).

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};

/// The query string, decoded, in order (a repeated name keeps its last value).
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(query: Option<&str>) -> Params {
        Params(form_urlencoded::parse(query.unwrap_or("").as_bytes()).into_owned().collect())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// A boolean parameter (`true` / `false`), `default` when absent.
    pub fn flag(&self, name: &str, default: bool) -> ApiResult<bool> {
        match self.get(name) {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(ApiError::bad_request(format!("Invalid boolean parameter: {name}={other:?}"))),
        }
    }

    /// A non-negative integer parameter.
    pub fn number(&self, name: &str) -> ApiResult<Option<u64>> {
        self.get(name)
            .map(|v| {
                v.trim_matches('"').parse::<u64>().map_err(|_| {
                    ApiError::bad_request(format!(
                        "Invalid value for {name}: {v:?} is not a non-negative integer"
                    ))
                })
            })
            .transpose()
    }

    /// A JSON-encoded parameter (`startkey="a"`, `keys=["a","b"]`).
    pub fn json(&self, name: &str) -> ApiResult<Option<Value>> {
        self.get(name)
            .map(|v| {
                serde_json::from_str(v).map_err(|_| {
                    ApiError::bad_request(format!("Invalid JSON in the {name} parameter: {v:?}"))
                })
            })
            .transpose()
    }

    /// The first of `names` that is given, as a JSON value.
    pub fn json_any(&self, names: &[&str]) -> ApiResult<Option<Value>> {
        for name in names {
            if let Some(v) = self.json(name)? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }
}

/// Read the whole request body, refusing more than `limit` bytes with a 413.
pub async fn read_body(body: Body, limit: usize) -> ApiResult<Bytes> {
    let limited = http_body_util::Limited::new(body, limit);
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                return Err(ApiError::too_large(limit));
            }
            Err(body_error(&e.to_string()))
        }
    }
}

/// A request body that could not be read, from its error's text: a timeout is a 408.
pub fn body_error(text: &str) -> ApiError {
    if text.contains("timed out") || text.contains("timeout") {
        return ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request body did not arrive in time",
        );
    }
    ApiError::bad_request(format!("reading the request body: {text}"))
}

/// Refuse a body labelled as something other than JSON (CouchDB's 415); an unlabelled one
/// is read as JSON.
pub fn require_json(headers: &HeaderMap) -> ApiResult<()> {
    match headers.get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap_or("")) {
        None => Ok(()),
        Some(ct) if ct.trim_start().to_ascii_lowercase().starts_with("application/json") => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "bad_content_type",
            "Content-Type must be application/json",
        )),
    }
}

/// Read a JSON request body.
pub async fn json_body(headers: &HeaderMap, body: Body, limit: usize) -> ApiResult<Value> {
    require_json(headers)?;
    let bytes = read_body(body, limit).await?;
    parse_json(&bytes)
}

pub fn parse_json(bytes: &[u8]) -> ApiResult<Value> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("invalid UTF-8 JSON: {e}")))
}

/// A JSON body, as an object.
pub fn object(value: Value, what: &str) -> ApiResult<serde_json::Map<String, Value>> {
    match value {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::bad_request(format!("{what} must be a JSON object"))),
    }
}

/// A JSON response.
pub fn json(status: StatusCode, value: &Value) -> Response {
    json_bytes(status, serde_json::to_vec(value).unwrap_or_default())
}

/// A JSON response from bytes already serialized (with the trailing newline CouchDB sends).
pub fn json_bytes(status: StatusCode, mut bytes: Vec<u8>) -> Response {
    bytes.push(b'\n');
    let mut r = (status, bytes).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// `{"ok":true,"id":..,"rev":..}` with the rev as the ETag.
pub fn written(status: StatusCode, id: &str, rev: &str) -> Response {
    let mut r = json(status, &serde_json::json!({"ok": true, "id": id, "rev": rev}));
    if let Ok(v) = HeaderValue::from_str(&format!("\"{rev}\"")) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}
