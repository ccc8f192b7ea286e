//! `GET /db/ID?open_revs=..` answered as `multipart/mixed`, as CouchDB answers a client
//! whose `Accept` names that type (its replicator, when it reads documents one by one).
//!
//! Owns: [`accepts`] (whether to answer so) and [`answer`]: the revisions are read on a
//! store handle, then the body is written by ureq's streaming multipart writer on a
//! blocking thread ([`crate::stream::from_reader`]); no MIME is framed here. One part per
//! revision, in the order of the JSON answer:
//! - missing: `Content-Type: application/json; error="true"` and `{"missing":"REV"}`
//!   (CouchDB's part);
//! - found, with no attachment bytes to send: `application/json`, the document as the JSON
//!   answer gives it (`_revisions` with `revs=true`), attachments as stubs;
//! - found, with attachment bytes to send: a `multipart/related` part: the document, whose
//!   attachments sent are marked `"follows": true` (with `content_type`, `digest`, `length`,
//!   `revpos`), then one part per such attachment in the document's order, with its
//!   `Content-Type` and its name as the `filename` of its `Content-Disposition`.
//!
//! The bytes sent are CouchDB's choice, not the JSON answer's: a multipart answer carries
//! the bytes of every attachment (CouchDB's replicator asks `open_revs` without
//! `attachments=true` and expects them), except, without `attachments=true`, those at or
//! before the newest `atts_since` revision on the revision's path, which stay stubs.
//! Every part also carries ureq's `Content-Disposition: form-data; name=".."`, which
//! multipart readers (CouchDB's, multer) ignore.
//! Invariants:
//! 1. Memory is bounded whatever the attachments' sizes: a blob is opened when its part
//!    starts and read a chunk at a time; each chunk is held back until the next one is read
//!    and checked, and the last until the whole blob is, so a damaged blob cuts the answer
//!    before its last bytes (as `GET /db/ID/NAME` does).
//! 2. What fails before the first byte (no such document, a bad option, a blob missing) is
//!    CouchDB's JSON error; what fails later cuts the connection, never a well-formed wrong
//!    answer.
//! 3. An attachment a part header cannot carry goes inline instead (base64 `data` in the
//!    document, held in memory): a name with `"`, `\` or a control character (ureq writes
//!    the filename unescaped) or a content type that is not a MIME type.

use std::io::{self, Cursor, Read};
use std::path::PathBuf;
use std::sync::Arc;

use axum::http::{header, HeaderMap};
use axum::response::Response;
use serde_json::{Map, Value};
use settee::attachment::{self, Attachment};
use settee::blob;
use settee::store::GetOptions;
use settee::{DocId, ObjectId, RevId, Store};
use ureq::unversioned::multipart::{Form, Part};

use crate::db::Db;
use crate::error::{ApiError, ApiResult};

const JSON: &str = "application/json";
/// CouchDB's type for the part of a missing revision.
const MISSING: &str = "application/json; error=\"true\"";

/// Whether `Accept` names `multipart/mixed` (with a quality above 0). `*/*` does not count:
/// clients that say nothing get JSON, as before.
pub fn accepts(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|range| range.trim().parse::<mime::Mime>().ok())
        .any(|m| {
            m.type_() == mime::MULTIPART
                && m.subtype() == "mixed"
                && m.get_param("q").is_none_or(|q| q.as_str().parse::<f32>().is_ok_and(|q| q > 0.0))
        })
}

/// One part of the answer, as read from the store.
enum Revision {
    Missing(String),
    /// The document's JSON and the attachments whose bytes follow it, in its order.
    Found {
        json: Vec<u8>,
        follows: Vec<Follows>,
    },
}

struct Follows {
    name: String,
    content_type: String,
    blob: ObjectId,
}

/// The `multipart/mixed` answer to `open_revs` (`options.open_revs` is set).
pub async fn answer(db: Arc<Db>, id: DocId, options: GetOptions) -> ApiResult<Response> {
    let (root, revisions) = db.run(move |store| read(store, &id, &options)).await?;
    crate::stream::from_reader(move || body(root, revisions).map_err(|e| format!("building the answer: {e}")))
        .await
}

/// The revisions asked for, with what each sends; the store's directory, where the blobs are.
fn read(store: &Store, id: &DocId, options: &GetOptions) -> ApiResult<(PathBuf, Vec<Revision>)> {
    let stubs = GetOptions { attachments: false, atts_since: None, ..options.clone() };
    let Value::Array(entries) = store.get(id, &stubs)? else {
        return Err(ApiError::internal("the store's open_revs answer is not a list"));
    };
    let mut tree = None;
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let doc = match entry {
            Value::Object(mut m) => match (m.shift_remove("ok"), m.shift_remove("missing")) {
                (Some(Value::Object(doc)), _) => doc,
                (_, Some(Value::String(rev))) => {
                    out.push(Revision::Missing(rev));
                    continue;
                }
                _ => return Err(ApiError::internal("an open_revs entry is neither ok nor missing")),
            },
            _ => return Err(ApiError::internal("an open_revs entry is not an object")),
        };
        out.push(found(store, id, options, doc, &mut tree)?);
    }
    Ok((store.root().to_path_buf(), out))
}

/// A found revision: its attachments that send bytes marked `follows` (or inline).
fn found(
    store: &Store,
    id: &DocId,
    options: &GetOptions,
    mut doc: Map<String, Value>,
    tree: &mut Option<settee::RevTree<settee::store::NodeInfo>>,
) -> ApiResult<Revision> {
    let mut follows = Vec::new();
    if doc.contains_key(attachment::MEMBER) {
        let rev = doc
            .get("_rev")
            .and_then(Value::as_str)
            .and_then(|r| RevId::parse(r).ok())
            .ok_or_else(|| ApiError::internal("a revision read has no _rev"))?;
        let (_, _, atts) = store.revision_attachments(id, Some(&rev))?;
        let after = match &options.atts_since {
            Some(since) if !options.attachments => {
                if tree.is_none() {
                    let doc_ref = store.doc_ref(id)?.ok_or_else(|| ApiError::not_found("missing"))?;
                    *tree = Some(store.load_tree(id, &doc_ref)?);
                }
                let path: Vec<RevId> = tree
                    .as_ref()
                    .and_then(|t| t.ancestry(&rev))
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(r, _)| r)
                    .collect();
                attachment::since_pos(&path, since)
            }
            _ => 0,
        };
        let mut entries = Map::with_capacity(atts.len());
        for (name, a) in &atts {
            let entry = if a.revpos <= after {
                a.stub()
            } else if can_follow(name, &a.content_type) {
                if !store.has_blob(&a.blob) {
                    return Err(ApiError::internal(format!(
                        "document {id} revision {rev}: the blob of attachment {name:?} is missing"
                    )));
                }
                follows.push(Follows {
                    name: name.clone(),
                    content_type: a.content_type.clone(),
                    blob: a.blob,
                });
                follows_entry(a)
            } else {
                a.with_data(&store.attachment_bytes(a)?)
            };
            entries.insert(name.clone(), entry);
        }
        doc.insert(attachment::MEMBER.into(), Value::Object(entries));
    }
    let json = serde_json::to_vec(&doc).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Revision::Found { json, follows })
}

/// Whether a part's headers can carry the attachment: ureq writes the filename between
/// quotes as it is, and the content type as the header's value.
fn can_follow(name: &str, content_type: &str) -> bool {
    !name.chars().any(|c| c == '"' || c == '\\' || c.is_control())
        && content_type.parse::<mime::Mime>().is_ok()
        && header::HeaderValue::from_str(content_type).is_ok()
}

/// `{content_type, digest, length, revpos, follows: true}`.
fn follows_entry(a: &Attachment) -> Value {
    let mut v = a.stub();
    if let Some(m) = v.as_object_mut() {
        m.shift_remove("stub");
        m.insert("follows".into(), Value::Bool(true));
    }
    v
}

/// The answer's content type and its body (built on the thread that reads it: a `Form`
/// is not `Send`).
fn body(root: PathBuf, revisions: Vec<Revision>) -> Result<(String, Form<'static>), ureq::Error> {
    let mut form = Form::new();
    for revision in revisions {
        let part = match revision {
            Revision::Missing(rev) => {
                let json = serde_json::json!({ "missing": rev }).to_string().into_bytes();
                Part::owned_reader(Cursor::new(json)).mime_str(MISSING)?
            }
            Revision::Found { json, follows } if follows.is_empty() => {
                Part::owned_reader(Cursor::new(json)).mime_str(JSON)?
            }
            Revision::Found { json, follows } => {
                let mut related =
                    Form::new().part("document", Part::owned_reader(Cursor::new(json)).mime_str(JSON)?);
                for f in follows {
                    let bytes = Part::owned_reader(BlobPart::new(root.clone(), f.blob))
                        .file_name(&f.name)
                        .mime_str(&f.content_type)?;
                    related = related.part("attachment", bytes);
                }
                let content_type = format!("multipart/related; boundary=\"{}\"", related.boundary());
                Part::owned_reader(related).mime_str(&content_type)?
            }
        };
        form = form.part("revision", part);
    }
    Ok((format!("multipart/mixed; boundary=\"{}\"", form.boundary()), form))
}

/// A blob's bytes for a part: opened at the first read; each chunk handed out only once the
/// next one is read and checked, the last once the whole blob is.
struct BlobPart {
    root: PathBuf,
    id: ObjectId,
    reader: Option<blob::Reader>,
    /// The chunk being handed out, from `pos`.
    ready: Vec<u8>,
    pos: usize,
    /// The chunk read after it, handed out next.
    held: Option<Vec<u8>>,
    done: bool,
}

impl BlobPart {
    fn new(root: PathBuf, id: ObjectId) -> BlobPart {
        BlobPart { root, id, reader: None, ready: Vec::new(), pos: 0, held: None, done: false }
    }

    /// Move on to the next chunk once the one after it (or the end) is checked.
    fn advance(&mut self) -> io::Result<()> {
        let reader = match &mut self.reader {
            Some(r) => r,
            None => {
                let opened = blob::Reader::open(&self.root, &self.id).map_err(io::Error::other)?;
                let r = opened.ok_or_else(|| io::Error::other(format!("blob {} is missing", self.id)))?;
                self.reader.insert(r)
            }
        };
        let chunk = reader.next_chunk().map_err(io::Error::other)?;
        let mut spare = std::mem::take(&mut self.ready);
        spare.clear();
        if chunk.is_empty() {
            self.done = true;
            self.reader = None;
            self.ready = self.held.take().unwrap_or_default();
        } else {
            spare.extend_from_slice(chunk);
            self.ready = self.held.replace(spare).unwrap_or_default();
        }
        self.pos = 0;
        Ok(())
    }
}

impl Read for BlobPart {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let rest = self.ready.get(self.pos..).unwrap_or_default();
            if !rest.is_empty() {
                let n = rest.len().min(buf.len());
                buf.get_mut(..n).unwrap_or_default().copy_from_slice(rest.get(..n).unwrap_or_default());
                self.pos += n;
                return Ok(n);
            }
            if self.done {
                return Ok(0);
            }
            self.advance()?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, value.parse().expect("a header value"));
        h
    }

    #[test]
    fn only_a_named_multipart_mixed_with_a_positive_quality_asks_for_it() {
        assert!(accepts(&accept("multipart/mixed")));
        assert!(accepts(&accept("application/json, Multipart/Mixed;q=0.5")));
        assert!(!accepts(&accept("multipart/mixed;q=0")));
        assert!(!accepts(&accept("*/*")));
        assert!(!accepts(&accept("multipart/related, application/json")));
        assert!(!accepts(&HeaderMap::new()));
    }

    #[test]
    fn names_and_types_a_part_header_cannot_carry_go_inline() {
        assert!(can_follow("dir/photo.png", "image/png"));
        assert!(can_follow("été.txt", "text/plain; charset=utf-8"));
        assert!(!can_follow("a\"b", "text/plain"));
        assert!(!can_follow("a\\b", "text/plain"));
        assert!(!can_follow("a\r\nX-Evil: 1", "text/plain"));
        assert!(!can_follow("a.txt", "not a type"));
    }
}
