//! One attachment: `GET /db/ID/ATTNAME` streams its bytes as stored, with its content
//! type, length and digest (as the ETag; `If-None-Match` with it answers 304), `?rev=` an
//! older revision's. `PUT` streams the request body into a blob and writes a revision with it
//! (added or replaced; a new document when no revision is given and the document does not
//! exist, as in CouchDB); `DELETE` writes a revision without it. Both replace the revision
//! named by `?rev=` (or `If-Match`), keeping its body and its other attachments.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use settee::attachment::{Pending, PendingSet};
use settee::{DocId, ErrorKind, Op, RevId, Store};

use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::route::Req;
use crate::upload::Upload;

pub async fn handle(req: Req, db: Arc<Db>, id: String, name: String) -> ApiResult<Response> {
    req.allow(&[Method::GET, Method::PUT, Method::DELETE])?;
    let id = DocId::parse(&id)?;
    match req.method {
        Method::PUT => return put(req, db, id, name).await,
        Method::DELETE => return delete(req, db, id, name).await,
        _ => {}
    }
    let rev = req.params.get("rev").map(super::doc::parse_rev).transpose()?;
    let (content_type, digest, length, reader) = db
        .run(move |store| {
            let (rev, _, atts) = store.revision_attachments(&id, rev.as_ref())?;
            let Some(att) = atts.get(&name) else {
                return Err(ApiError::not_found("Document is missing attachment"));
            };
            let reader = store.open_blob(&att.blob)?.ok_or_else(|| {
                ApiError::internal(format!(
                    "document {id} revision {rev}: the blob of attachment {name:?} is missing"
                ))
            })?;
            Ok((att.content_type.clone(), att.digest.clone(), att.length, reader))
        })
        .await?;
    let etag = format!("\"{digest}\"");
    if req.headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    }
    let body = if req.method == Method::HEAD { Body::empty() } else { stream_blob(reader) };
    let mut response = Response::new(body);
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

/// Chunks of a blob in flight between the reading thread and the connection.
const DEPTH: usize = 4;

/// A blob's bytes as a response body, read chunk by chunk on a blocking thread: memory
/// stays at a few chunks whatever the attachment's size. Each chunk is held back until the
/// next one is read and checked, and the last until the whole blob's length and digests
/// are: a blob found damaged ends the body with an error before its last bytes, so a
/// client never receives all of the announced length of bytes that differ from those
/// written.
fn stream_blob(mut reader: settee::blob::Reader) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(DEPTH);
    tokio::task::spawn_blocking(move || {
        let mut held: Option<Bytes> = None;
        loop {
            match reader.next_chunk() {
                Ok([]) => {
                    if let Some(last) = held {
                        let _ = tx.blocking_send(Ok(last));
                    }
                    return;
                }
                Ok(chunk) => {
                    if let Some(ready) = held.replace(Bytes::copy_from_slice(chunk)) {
                        if tx.blocking_send(Ok(ready)).is_err() {
                            return; // The client went away.
                        }
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                    return;
                }
            }
        }
    });
    Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
}

/// CouchDB's rule for the names written: not empty, not starting with `_`.
fn check_name(name: &str) -> ApiResult<()> {
    if name.is_empty() || name.starts_with('_') {
        return Err(ApiError::bad_request("Attachment name can't start with '_'"));
    }
    Ok(())
}

/// The body and the attachments (as stubs) of revision `base` of `id`: what a write of one
/// attachment keeps. `None` when `base` is not a revision of the document (the edit then
/// answers the conflict).
fn base_of(store: &Store, id: &DocId, base: &RevId) -> ApiResult<Option<(settee::Body, PendingSet)>> {
    match store.revision_attachments(id, Some(base)) {
        Ok((_, body, atts)) => {
            let stubs =
                atts.into_iter().map(|(n, a)| (n, Pending::Stub { revpos: Some(a.revpos) })).collect();
            Ok(Some((settee::Body::from_map(&body), stubs)))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// `PUT /db/ID/ATTNAME?rev=R`: the body, streamed into a blob, as the attachment.
async fn put(req: Req, db: Arc<Db>, id: DocId, name: String) -> ApiResult<Response> {
    check_name(&name)?;
    let base = super::doc::base_rev(&req.params, &req.headers, None)?;
    let content_type = req
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|t| !t.trim().is_empty())
        .unwrap_or(settee::attachment::DEFAULT_CONTENT_TYPE)
        .to_string();
    let mut upload = Upload::start(&db, &content_type, req.app.config.max_attachment);
    let mut stream = req.body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => upload.push(bytes).await?,
            Err(e) => {
                upload.abort().await;
                return Err(http::body_error(&e.to_string()));
            }
        }
    }
    let info = upload.finish().await?;
    let written = db
        .run(move |store| {
            let (body, mut attachments) = match &base {
                Some(rev) => {
                    base_of(store, &id, rev)?.unwrap_or_else(|| (settee::Body::empty(), PendingSet::new()))
                }
                None => (settee::Body::empty(), PendingSet::new()),
            };
            attachments.insert(name, Pending::New { content_type, info });
            let op = Op::EditWithAttachments { id, base, deleted: false, body, attachments };
            super::doc::write_op(store, op)
        })
        .await?;
    Ok(http::written(StatusCode::CREATED, written.id.as_str(), &written.rev.to_string()))
}

/// `DELETE /db/ID/ATTNAME?rev=R`: a revision without the attachment.
async fn delete(req: Req, db: Arc<Db>, id: DocId, name: String) -> ApiResult<Response> {
    let base = super::doc::base_rev(&req.params, &req.headers, None)?;
    let written = db
        .run(move |store| {
            let exists = store.doc_ref(&id)?.is_some_and(|d| !d.is_deleted());
            let Some(base) = base else {
                return Err(if exists { ApiError::conflict() } else { ApiError::not_found("missing") });
            };
            let Some((body, mut attachments)) = base_of(store, &id, &base)? else {
                return Err(if exists { ApiError::conflict() } else { ApiError::not_found("missing") });
            };
            if attachments.remove(&name).is_none() {
                return Err(ApiError::not_found("Document is missing attachment"));
            }
            let op = Op::EditWithAttachments { id, base: Some(base), deleted: false, body, attachments };
            super::doc::write_op(store, op)
        })
        .await?;
    Ok(http::written(StatusCode::OK, written.id.as_str(), &written.rev.to_string()))
}
