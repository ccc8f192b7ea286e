//! What would run a design document's JavaScript: views, shows, lists, updates and
//! `_changes` filters. Design documents themselves are stored and replicated like any
//! other document (`doc.rs`); settee runs no JavaScript, so a request for their code gets
//! CouchDB's 404 when the design document or the function is missing, and a 501 naming
//! what is not supported when it exists. Never a crash.

use std::sync::Arc;

use axum::http::Method;
use axum::response::Response;
use serde_json::Value;
use settee::store::GetOptions;
use settee::DocId;

use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::route::Req;

/// `/db/_design/D/_view/V` and the like.
pub async fn run_code(
    req: Req,
    db: Arc<Db>,
    ddoc: String,
    part: &str,
    name: Option<&str>,
) -> ApiResult<Response> {
    req.allow(&[Method::GET, Method::POST, Method::PUT])?;
    let ddoc = ddoc.strip_prefix("_design/").unwrap_or(&ddoc).to_string();
    let (member, what) = match part {
        "_view" => ("views", "view"),
        "_show" => ("shows", "show function"),
        "_list" => ("lists", "list function"),
        "_update" => ("updates", "update function"),
        "_rewrite" => ("rewrites", "rewrite"),
        "_search" => ("indexes", "search index"),
        _ => ("views", "view index information"),
    };
    let Some(name) = name else {
        // `_info` and a bare `_view`: the design document must exist.
        design_doc(&db, &ddoc).await?.ok_or_else(|| ApiError::not_found("missing"))?;
        return Err(ApiError::not_implemented(format!("settee serve does not build {what}s")));
    };
    Err(missing_or_unsupported(&db, &ddoc, member, name, what).await)
}

async fn design_doc(db: &Arc<Db>, ddoc: &str) -> ApiResult<Option<Value>> {
    let id = DocId::parse(&format!("_design/{ddoc}"))?;
    db.run(move |store| match store.get(&id, &GetOptions::default()) {
        Ok(doc) => Ok(Some(doc)),
        Err(e) if e.kind() == settee::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    })
    .await
}

/// The error for running `member.name` of `_design/ddoc`: 404 when either is missing,
/// 501 when it exists (settee runs no JavaScript).
pub async fn missing_or_unsupported(
    db: &Arc<Db>,
    ddoc: &str,
    member: &str,
    name: &str,
    what: &str,
) -> ApiError {
    match design_doc(db, ddoc).await {
        Err(e) => e,
        Ok(None) => ApiError::not_found("missing"),
        Ok(Some(doc)) => {
            if doc.get(member).and_then(|m| m.get(name)).is_some() {
                ApiError::not_implemented(format!(
                    "settee serve does not run design document code ({what} {ddoc}/{name})"
                ))
            } else {
                ApiError::not_found(format!("missing json key: {name}"))
            }
        }
    }
}
