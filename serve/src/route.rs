//! Request routing: the path split into CouchDB's parts, each sent to its endpoint.
//!
//! Owns: [`dispatch`], the one handler every request reaches, and [`Req`], what endpoints
//! get. Paths are split on `/` before percent-decoding, so `a%2Fb` is the document id
//! `a/b` and never a second path segment; `_design/NAME` and `_local/NAME` ids may be sent
//! either way.
//! Invariant: every request gets a response with a JSON body; an unknown path is a 404 or
//! 400 with CouchDB's error, an unsupported method a 405.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};

use crate::api;
use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::http::Params;
use crate::App;

/// One request, taken apart for its endpoint.
pub struct Req {
    pub app: Arc<App>,
    pub method: Method,
    pub params: Params,
    pub headers: HeaderMap,
    pub body: Body,
}

impl Req {
    /// Refuse methods other than `allowed` (HEAD counts as GET).
    pub fn allow(&self, allowed: &[Method]) -> ApiResult<()> {
        let method = if self.method == Method::HEAD { &Method::GET } else { &self.method };
        if allowed.contains(method) {
            return Ok(());
        }
        let names: Vec<&str> = allowed.iter().map(Method::as_str).collect();
        Err(ApiError::method_not_allowed(&names.join(",")))
    }

    pub fn limit(&self) -> usize {
        self.app.config.max_body
    }
}

pub async fn dispatch(State(app): State<Arc<App>>, request: Request) -> Response {
    match route(app, request).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

/// The path's segments, percent-decoded one by one.
fn segments(path: &str) -> ApiResult<Vec<String>> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| ApiError::bad_request("the path is not UTF-8 after percent-decoding"))
        })
        .collect()
}

async fn route(app: Arc<App>, request: Request) -> ApiResult<Response> {
    let (parts, body) = request.into_parts();
    let segs = segments(parts.uri.path())?;
    let req = Req {
        app,
        method: parts.method,
        params: Params::parse(parts.uri.query()),
        headers: parts.headers,
        body,
    };
    let Some((first, rest)) = segs.split_first() else {
        return api::server::welcome(req);
    };
    if first.starts_with('_') {
        if !rest.is_empty() {
            return Err(ApiError::not_found("missing"));
        }
        return match first.as_str() {
            "_all_dbs" => api::server::all_dbs(req),
            "_uuids" => api::server::uuids(req),
            "_session" => api::server::session(req).await,
            "_up" => api::server::up(req),
            _ => Err(ApiError::bad_request(format!("{first} is not an endpoint settee serves"))),
        };
    }
    if rest.is_empty() {
        return api::database::handle(req, first).await;
    }
    crate::dbs::check_name(first)?;
    let db = req.app.dbs.get(first).ok_or_else(ApiError::no_db)?;
    in_db(req, db, rest).await
}

async fn in_db(req: Req, db: Arc<Db>, rest: &[String]) -> ApiResult<Response> {
    let first = rest[0].as_str();
    let tail = &rest[1..];
    // `_design%2Fd` and `_local%2Fl` name the same documents as `_design/d` and `_local/l`.
    if let Some(name) = first.strip_prefix("_local/") {
        return local(req, db, name, tail).await;
    }
    if let Some(name) = first.strip_prefix("_design/") {
        return design(req, db, name, tail).await;
    }
    match (first, tail.len()) {
        ("_local", 1) => local(req, db, &tail[0], &[]).await,
        ("_design", n) if n >= 1 => design(req, db, &tail[0], &tail[1..]).await,
        ("_all_docs", 0) => api::all_docs::handle(req, db).await,
        ("_changes", 0) => api::changes::handle(req, db).await,
        ("_bulk_docs", 0) => api::bulk::bulk_docs(req, db).await,
        ("_bulk_get", 0) => api::bulk::bulk_get(req, db).await,
        ("_revs_diff", 0) => api::bulk::revs_diff(req, db).await,
        ("_ensure_full_commit", 0) => api::database::ensure_full_commit(req),
        ("_compact", _) => api::database::compact(req, db),
        ("_security", 0) => api::database::security(req),
        ("_revs_limit", 0) => api::database::revs_limit(req, db).await,
        (
            "_find" | "_index" | "_explain" | "_design_docs" | "_purge" | "_missing_revs" | "_view_cleanup",
            _,
        ) => Err(ApiError::not_implemented(format!("settee serve does not support {first}"))),
        (name, _) if name.starts_with('_') => {
            Err(ApiError::bad_request("Only reserved document ids may start with underscore."))
        }
        (_, 0) => api::doc::handle(req, db, first.to_string()).await,
        (_, _) => api::attachment::handle(req, db, first.to_string(), tail.join("/")).await,
    }
}

async fn local(req: Req, db: Arc<Db>, name: &str, tail: &[String]) -> ApiResult<Response> {
    if !tail.is_empty() {
        return Err(ApiError::bad_request("_local documents have no attachments"));
    }
    api::local::handle(req, db, name).await
}

async fn design(req: Req, db: Arc<Db>, name: &str, tail: &[String]) -> ApiResult<Response> {
    let id = format!("_design/{name}");
    match tail.first().map(String::as_str) {
        None => api::doc::handle(req, db, id).await,
        Some(part @ ("_view" | "_show" | "_list" | "_update" | "_rewrite" | "_search" | "_info")) => {
            api::design::run_code(req, db, id, part, tail.get(1).map(String::as_str)).await
        }
        Some(_) => api::attachment::handle(req, db, id, tail.join("/")).await,
    }
}

#[cfg(test)]
mod tests {
    use super::segments;

    #[test]
    fn segments_are_split_before_decoding() {
        assert_eq!(segments("/db/a%2Fb").ok(), Some(vec!["db".to_string(), "a/b".to_string()]));
        assert_eq!(segments("//db///x/").ok(), Some(vec!["db".to_string(), "x".to_string()]));
        assert_eq!(segments("/").ok(), Some(Vec::new()));
        assert!(segments("/db/%FF").is_err());
    }
}
