//! `GET /db/ID/ATTNAME`: one attachment's bytes as stored, with its content type, length
//! and digest (as the ETag; `If-None-Match` with it answers 304). `?rev=` reads an older
//! revision's. Writing through this path (PUT/DELETE) is not served yet: 501.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use settee::DocId;

use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::route::Req;

pub async fn handle(req: Req, db: Arc<Db>, id: String, name: String) -> ApiResult<Response> {
    req.allow(&[Method::GET, Method::PUT, Method::DELETE])?;
    if req.method == Method::PUT || req.method == Method::DELETE {
        return Err(super::doc::attachments_unsupported());
    }
    let id = DocId::parse(&id)?;
    let rev = req.params.get("rev").map(super::doc::parse_rev).transpose()?;
    let head = req.method == Method::HEAD;
    let (content_type, digest, bytes) = db
        .run(move |store| {
            let (rev, _, atts) = store.revision_attachments(&id, rev.as_ref())?;
            let Some(att) = atts.get(&name) else {
                return Err(ApiError::not_found("Document is missing attachment"));
            };
            let mut reader = store.open_blob(&att.blob)?.ok_or_else(|| {
                ApiError::internal(format!(
                    "document {id} revision {rev}: the blob of attachment {name:?} is missing"
                ))
            })?;
            let mut bytes = Vec::with_capacity(usize::try_from(att.length).unwrap_or(0));
            if !head {
                reader.copy_to(&mut bytes)?;
            }
            Ok((att.content_type.clone(), att.digest.clone(), (bytes, att.length)))
        })
        .await?;
    let etag = format!("\"{digest}\"");
    if req.headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    }
    let (bytes, length) = bytes;
    let mut response = Response::new(Body::from(bytes));
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    Ok(response)
}
