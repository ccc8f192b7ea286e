//! The server's own endpoints: `GET /` (the welcome CouchDB clients look for), `/_all_dbs`,
//! `/_uuids`, `/_session` and `/_up`.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::http::json;
use crate::route::Req;

/// `GET /`: `couchdb` is the key clients check; settee names itself as the vendor.
pub fn welcome(req: Req) -> ApiResult<Response> {
    req.allow(&[Method::GET])?;
    Ok(json(
        StatusCode::OK,
        &json!({
            "couchdb": "Welcome",
            "version": env!("CARGO_PKG_VERSION"),
            "uuid": req.app.uuid,
            "vendor": {"name": "settee", "version": env!("CARGO_PKG_VERSION")},
            "features": [],
        }),
    ))
}

pub fn all_dbs(req: Req) -> ApiResult<Response> {
    req.allow(&[Method::GET])?;
    Ok(json(StatusCode::OK, &json!(req.app.dbs.names())))
}

/// The most ids one `_uuids` request gets, as CouchDB's default `max_count`.
const MAX_UUIDS: u64 = 1000;

pub fn uuids(req: Req) -> ApiResult<Response> {
    req.allow(&[Method::GET])?;
    let count = req.params.number("count")?.unwrap_or(1);
    if count > MAX_UUIDS {
        return Err(ApiError::bad_request(format!("count must not exceed {MAX_UUIDS}")));
    }
    let uuids = (0..count)
        .map(|_| settee::DocId::generate().map(|id| id.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json(StatusCode::OK, &json!({ "uuids": uuids })))
}

/// A stub of CouchDB's session: who the request authenticated as (everyone is an admin of
/// an open server, as CouchDB's "admin party").
pub async fn session(req: Req) -> ApiResult<Response> {
    req.allow(&[Method::GET, Method::POST, Method::DELETE])?;
    let name = req.app.config.credentials.as_ref().map(|c| c.user.clone());
    if req.method == Method::DELETE {
        return Ok(json(StatusCode::OK, &json!({"ok": true})));
    }
    Ok(json(
        StatusCode::OK,
        &json!({
            "ok": true,
            "name": name,
            "roles": ["_admin"],
            "userCtx": {"name": name, "roles": ["_admin"]},
            "info": {"authentication_handlers": ["default"], "authenticated": "default"},
        }),
    ))
}

pub fn up(req: Req) -> ApiResult<Response> {
    req.allow(&[Method::GET])?;
    Ok(json(StatusCode::OK, &json!({"status": "ok"})))
}
