//! Document endpoints: `GET/HEAD/PUT/DELETE /db/ID` and `POST /db`.
//!
//! Reads take CouchDB's options (`rev`, `revs`, `revs_info`, `conflicts`,
//! `deleted_conflicts`, `meta`, `open_revs`, `latest`); writes take the revision from `?rev=`,
//! the body's `_rev` or `If-Match`, and `new_edits=false` writes a replicated revision.
//! Written bodies may carry attachments: inline base64 `data`, stubs, or (in a
//! `multipart/related` body) parts that follow (`crate::written`, `crate::multipart`);
//! `api::attachment` reads and writes one attachment.
//! `open_revs` is answered in JSON (`[{"ok": doc} | {"missing": rev}]`), or, when `Accept`
//! names `multipart/mixed`, as CouchDB's replicator reads it: one MIME part per revision,
//! attachment bytes streamed from their blobs in `multipart/related` parts (`crate::mixed`).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use settee::store::{GetOptions, OpenRevs};
use settee::{DocId, Op, RevId};

use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::http::{self, Params};
use crate::mixed;
use crate::multipart;
use crate::route::Req;
use crate::written::{self, ReceivedSet};

pub async fn handle(req: Req, db: Arc<Db>, id: String) -> ApiResult<Response> {
    req.allow(&[Method::GET, Method::PUT, Method::DELETE])?;
    let id = DocId::parse(&id)?;
    match req.method {
        Method::PUT => put(req, db, id).await,
        Method::DELETE => delete(req, db, id).await,
        _ => get(req, db, id).await,
    }
}

pub fn parse_rev(text: &str) -> ApiResult<RevId> {
    RevId::parse(text).map_err(|_| ApiError::bad_request(format!("Invalid rev format: {text:?}")))
}

/// The read options of `GET /db/ID` (and `_bulk_get`).
pub fn get_options(params: &Params) -> ApiResult<GetOptions> {
    let meta = params.flag("meta", false)?;
    let open_revs = match params.get("open_revs") {
        None => None,
        Some("all") => Some(OpenRevs::All),
        Some(text) => {
            let list: Vec<String> = serde_json::from_str(text).map_err(|_| {
                ApiError::bad_request("open_revs must be \"all\" or a JSON array of revisions")
            })?;
            Some(OpenRevs::Revs(list.iter().map(|r| parse_rev(r)).collect::<ApiResult<_>>()?))
        }
    };
    Ok(GetOptions {
        rev: params.get("rev").map(parse_rev).transpose()?,
        revs: params.flag("revs", false)?,
        revs_info: params.flag("revs_info", false)? || meta,
        conflicts: params.flag("conflicts", false)? || meta,
        deleted_conflicts: params.flag("deleted_conflicts", false)? || meta,
        open_revs,
        latest: params.flag("latest", false)?,
        attachments: params.flag("attachments", false)?,
        atts_since: match params.get("atts_since") {
            None => None,
            Some(text) => {
                let list: Vec<String> = serde_json::from_str(text)
                    .map_err(|_| ApiError::bad_request("atts_since must be a JSON array of revisions"))?;
                Some(list.iter().map(|r| parse_rev(r)).collect::<ApiResult<_>>()?)
            }
        },
    })
}

async fn get(req: Req, db: Arc<Db>, id: DocId) -> ApiResult<Response> {
    let options = get_options(&req.params)?;
    let open_revs = options.open_revs.is_some();
    if open_revs && mixed::accepts(&req.headers) {
        return mixed::answer(db, id, options).await;
    }
    let doc = db.run(move |store| Ok(store.get(&id, &options)?)).await?;
    if open_revs {
        return Ok(http::json(StatusCode::OK, &doc));
    }
    let etag = doc.get("_rev").and_then(Value::as_str).map(|r| format!("\"{r}\""));
    if let (Some(tag), Some(asked)) = (&etag, req.headers.get(header::IF_NONE_MATCH)) {
        if asked.as_bytes() == tag.as_bytes() {
            return Ok(StatusCode::NOT_MODIFIED.into_response());
        }
    }
    let mut response = http::json(StatusCode::OK, &doc);
    if let Some(v) = etag.and_then(|t| header::HeaderValue::from_str(&t).ok()) {
        response.headers_mut().insert(header::ETAG, v);
    }
    Ok(response)
}

/// The revision a write replaces: `?rev=`, the body's `_rev` or `If-Match`, which must agree.
pub fn base_rev(params: &Params, headers: &HeaderMap, body_rev: Option<&str>) -> ApiResult<Option<RevId>> {
    let if_match = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()).map(|v| v.trim_matches('"'));
    let mut found: Option<&str> = None;
    for r in [params.get("rev"), body_rev, if_match].into_iter().flatten() {
        match found {
            Some(f) if f != r => {
                return Err(ApiError::bad_request(
                    "Document rev from request body and query string have different values",
                ))
            }
            _ => found = Some(r),
        }
    }
    found.map(parse_rev).transpose()
}

/// A written document's body: JSON, or `multipart/related` (the document, then the bytes of
/// the attachments that `follow`, each streamed into a blob).
async fn read_doc(req: &mut Req, db: &Arc<Db>) -> ApiResult<(Value, ReceivedSet)> {
    let body = std::mem::replace(&mut req.body, Body::empty());
    if multipart::is_multipart(&req.headers) {
        let limit = req.app.config.max_attachment;
        return multipart::read_related(db, &req.headers, body, req.limit(), limit).await;
    }
    if req.method == Method::POST {
        http::require_json(&req.headers)?;
    }
    Ok((http::parse_json(&http::read_body(body, req.limit()).await?)?, ReceivedSet::new()))
}

async fn put(mut req: Req, db: Arc<Db>, id: DocId) -> ApiResult<Response> {
    let (value, received) = read_doc(&mut req, &db).await?;
    let doc = written::parse(value, id.as_str())?;
    if let Some(body_id) = &doc.id {
        if body_id != id.as_str() {
            return Err(ApiError::bad_request("Document id must match the _id in the body"));
        }
    }
    let new_edits = req.params.flag("new_edits", true)?;
    let written = if new_edits {
        let base = base_rev(&req.params, &req.headers, doc.rev.as_deref())?;
        write_one(&db, written::edit_op(id.clone(), base, doc, received)).await?
    } else {
        db.run(move |store| {
            let op = written::replicated_op(store, id, doc, received)?;
            write_op(store, op)
        })
        .await?
    };
    let status =
        if req.params.get("batch") == Some("ok") { StatusCode::ACCEPTED } else { StatusCode::CREATED };
    Ok(http::written(status, written.id.as_str(), &written.rev.to_string()))
}

/// Write one op, its per-document refusal as the request's error.
pub async fn write_one(db: &Arc<Db>, op: Op) -> ApiResult<settee::Written> {
    db.run(move |store| write_op(store, op)).await
}

/// Write one op on a store handle, its per-document refusal as the error.
pub fn write_op(store: &mut settee::Store, op: Op) -> ApiResult<settee::Written> {
    let mut results = store.write(vec![op])?;
    let result = results.pop().ok_or_else(|| ApiError::internal("the store returned no result"))?;
    Ok(result?)
}

async fn delete(req: Req, db: Arc<Db>, id: DocId) -> ApiResult<Response> {
    let base = base_rev(&req.params, &req.headers, None)?;
    let Some(base) = base else {
        // CouchDB: a delete without a revision is a conflict when the document exists.
        let exists = {
            let id = id.clone();
            db.run(move |store| Ok(store.doc_ref(&id)?.is_some_and(|d| !d.is_deleted()))).await?
        };
        return Err(if exists { ApiError::conflict() } else { ApiError::not_found("missing") });
    };
    let op = Op::Edit { id: id.clone(), base: Some(base), deleted: true, body: settee::Body::empty() };
    let check = id.clone();
    let exists = db.run(move |store| Ok(store.doc_ref(&check)?.is_some())).await?;
    if !exists {
        return Err(ApiError::not_found("missing"));
    }
    let written = write_one(&db, op).await?;
    Ok(http::written(StatusCode::OK, written.id.as_str(), &written.rev.to_string()))
}

/// `POST /db`: a new document under its `_id`, or under a new random id.
pub async fn post(mut req: Req, db: Arc<Db>) -> ApiResult<Response> {
    let (value, received) = read_doc(&mut req, &db).await?;
    let doc = written::parse(value, "the posted document")?;
    let id = match &doc.id {
        Some(id) => DocId::parse(id)?,
        None => DocId::generate()?,
    };
    let base = doc.rev.as_deref().map(parse_rev).transpose()?;
    let written = write_one(&db, written::edit_op(id, base, doc, received)).await?;
    let status =
        if req.params.get("batch") == Some("ok") { StatusCode::ACCEPTED } else { StatusCode::CREATED };
    Ok(http::written(status, written.id.as_str(), &written.rev.to_string()))
}
