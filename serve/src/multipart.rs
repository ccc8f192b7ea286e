//! `multipart/related` document bodies, as CouchDB's replicator sends them to
//! `PUT /db/ID?new_edits=false`: the document as the first part (JSON), then one part per
//! attachment whose `_attachments` entry says `"follows": true`.
//!
//! Owns: [`is_multipart`] and [`read_related`], which parses the body with `multer` (the
//! boundary read from `Content-Type` with the `mime` crate: no MIME is parsed by hand) and
//! streams each attachment part into a blob ([`crate::upload`]), decompressing gzip-encoded
//! parts with `flate2`.
//! Invariants:
//! 1. The JSON part is held whole, within the JSON body limit; an attachment part is never
//!    held whole (bounded chunks to the blob writer), and is refused past the attachment
//!    limit.
//! 2. A part whose bytes are gzip-encoded (`"encoding": "gzip"` in its entry, or
//!    `Content-Encoding: gzip`) is decompressed as it streams: the attachment stored is the
//!    decompressed bytes, and `length` is checked against them.
//! 3. Parts are matched to `follows` entries by the part's `Content-Disposition` filename
//!    when it names one, else in the order of the entries in the document; a part too many,
//!    an entry without its part, or bytes that differ from a given `length` or `digest` make
//!    the request a 400, and no revision is written.

use std::io::Write as _;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap};
use serde_json::Value;

use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::upload::Upload;
use crate::written::{Received, ReceivedSet};

/// Whether the request body is labelled `multipart/...`.
pub fn is_multipart(headers: &HeaderMap) -> bool {
    content_type(headers).is_some_and(|m| m.type_() == mime::MULTIPART)
}

fn content_type(headers: &HeaderMap) -> Option<mime::Mime> {
    headers.get(header::CONTENT_TYPE)?.to_str().ok()?.parse().ok()
}

/// The boundary of a `multipart/related` body.
fn boundary(headers: &HeaderMap) -> ApiResult<String> {
    let m =
        content_type(headers).ok_or_else(|| ApiError::bad_request("the Content-Type is not a MIME type"))?;
    if m.type_() != mime::MULTIPART || m.subtype().as_str() != "related" {
        return Err(ApiError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "bad_content_type",
            format!("a document body must be application/json or multipart/related, not {m}"),
        ));
    }
    m.get_param(mime::BOUNDARY)
        .map(|b| b.as_str().to_string())
        .ok_or_else(|| ApiError::bad_request("the multipart/related Content-Type has no boundary"))
}

/// An attachment entry that `follows`: what the document says of its part.
struct Follows {
    name: String,
    content_type: String,
    length: Option<u64>,
    digest: Option<String>,
    revpos: Option<u64>,
    /// The part's bytes are gzip-compressed (`"encoding": "gzip"`, as CouchDB sends the
    /// attachments it stores compressed); the attachment is what they decompress to.
    gzip: bool,
}

fn malformed(e: multer::Error) -> ApiError {
    ApiError::bad_request(format!("reading the multipart body: {e}"))
}

/// Read a `multipart/related` document body: the document (its `follows` entries taken
/// out of `_attachments`) and its attachments, each written as a blob of `db`.
pub async fn read_related(
    db: &Arc<Db>,
    headers: &HeaderMap,
    body: Body,
    json_limit: usize,
    attachment_limit: u64,
) -> ApiResult<(Value, ReceivedSet)> {
    let boundary = boundary(headers)?;
    let mut parts = multer::Multipart::new(body.into_data_stream(), boundary);
    let mut first = parts
        .next_field()
        .await
        .map_err(malformed)?
        .ok_or_else(|| ApiError::bad_request("the multipart body has no document part"))?;
    let mut json = Vec::new();
    while let Some(chunk) = first.chunk().await.map_err(malformed)? {
        if json.len() + chunk.len() > json_limit {
            return Err(ApiError::too_large(json_limit));
        }
        json.extend_from_slice(&chunk);
    }
    drop(first);
    let mut doc = crate::http::parse_json(&json)?;
    let mut pending = take_follows(&mut doc)?;
    let mut received = ReceivedSet::new();
    while let Some(mut part) = parts.next_field().await.map_err(malformed)? {
        let named = part.file_name().and_then(|f| pending.iter().position(|p| p.name == f));
        if pending.is_empty() {
            return Err(ApiError::bad_request(
                "the multipart body has more parts than attachments that follow",
            ));
        }
        let follows = pending.remove(named.unwrap_or(0));
        let gzipped = part
            .headers()
            .get(header::CONTENT_ENCODING)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
        let mut gunzip = (follows.gzip || gzipped).then(|| flate2::write::GzDecoder::new(Vec::new()));
        let bad_gzip = |e: std::io::Error| {
            ApiError::bad_request(format!("attachment {:?}: its gzip bytes do not decode: {e}", follows.name))
        };
        // An upload dropped before `finish` leaves no blob.
        let mut upload = Upload::start(db, &follows.content_type, attachment_limit);
        loop {
            let bytes = match part.chunk().await.map_err(malformed)? {
                Some(bytes) => bytes,
                None => break,
            };
            match gunzip.as_mut() {
                None => upload.push(bytes).await?,
                Some(decoder) => {
                    decoder.write_all(&bytes).map_err(bad_gzip)?;
                    let out = std::mem::take(decoder.get_mut());
                    if !out.is_empty() {
                        upload.push(out.into()).await?;
                    }
                }
            }
        }
        if let Some(decoder) = gunzip {
            let out = decoder.finish().map_err(bad_gzip)?;
            if !out.is_empty() {
                upload.push(out.into()).await?;
            }
        }
        let info = upload.finish().await?;
        check(&follows, &info)?;
        received.insert(
            follows.name,
            Received { content_type: follows.content_type, info, revpos: follows.revpos },
        );
    }
    if let Some(missing) = pending.first() {
        return Err(ApiError::bad_request(format!(
            "attachment {:?} follows, but the multipart body has no part for it",
            missing.name
        )));
    }
    Ok((doc, received))
}

/// Take the entries that `follows` out of the document's `_attachments`, in order.
fn take_follows(doc: &mut Value) -> ApiResult<Vec<Follows>> {
    let Some(Value::Object(atts)) = doc.get_mut(settee::attachment::MEMBER) else { return Ok(Vec::new()) };
    let names: Vec<String> = atts
        .iter()
        .filter(|(_, v)| v.get("follows").and_then(Value::as_bool) == Some(true))
        .map(|(n, _)| n.clone())
        .collect();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let Some(Value::Object(entry)) = atts.shift_remove(&name) else { continue };
        let text = |k: &str| entry.get(k).and_then(Value::as_str).map(str::to_string);
        let number = |k: &str| entry.get(k).and_then(Value::as_u64);
        let gzip = match text("encoding").as_deref() {
            None | Some("identity") => false,
            Some("gzip") => true,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "attachment {name:?}: encoding {other:?} is not supported (gzip and identity are)"
                )))
            }
        };
        out.push(Follows {
            gzip,
            content_type: text("content_type")
                .unwrap_or_else(|| settee::attachment::DEFAULT_CONTENT_TYPE.to_string()),
            length: number("length"),
            digest: text("digest"),
            revpos: number("revpos").filter(|p| *p > 0),
            name,
        });
    }
    Ok(out)
}

/// The bytes received are those the document describes.
fn check(follows: &Follows, info: &settee::blob::Info) -> ApiResult<()> {
    if follows.length.is_some_and(|l| l != info.len) {
        return Err(ApiError::bad_request(format!(
            "attachment {:?}: {} bytes arrived, the document says {}",
            follows.name,
            info.len,
            follows.length.unwrap_or_default()
        )));
    }
    // Only MD5 digests can be checked (other algorithms are not kept), and only of bytes
    // that came as they are: CouchDB's digest of an attachment it sends compressed is not
    // that of the bytes they decompress to.
    if let Some(d) = follows.digest.as_deref().filter(|d| d.starts_with("md5-") && !follows.gzip) {
        if d != info.digest() {
            return Err(ApiError::bad_request(format!(
                "attachment {:?}: digest {d} does not match its bytes ({})",
                follows.name,
                info.digest()
            )));
        }
    }
    Ok(())
}
