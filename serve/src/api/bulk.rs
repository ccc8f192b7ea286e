//! The bulk endpoints the replicator uses: `_bulk_docs` (with and without `new_edits`),
//! `_bulk_get` and `_revs_diff`.
//!
//! Invariant: one request's writes go to the store as one batch (one commit, shared with
//! other requests' by group commit); a document refused (a conflict, a bad body) is a row
//! of the answer and leaves the others written.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};
use settee::store::GetOptions;
use settee::{attachment, DocId, Op, RevId};

use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::http;
use crate::route::Req;
use crate::written::{self, ReceivedSet};

async fn body_object(req: &mut Req, what: &str) -> ApiResult<Map<String, Value>> {
    let body = std::mem::replace(&mut req.body, Body::empty());
    http::object(http::json_body(&req.headers, body, req.limit()).await?, what)
}

fn error_row(id: Option<&str>, e: &ApiError) -> Value {
    json!({"id": id, "error": e.error, "reason": e.reason})
}

/// `POST /db/_bulk_docs`.
pub async fn bulk_docs(mut req: Req, db: Arc<Db>) -> ApiResult<Response> {
    req.allow(&[Method::POST])?;
    let mut body = body_object(&mut req, "the _bulk_docs body").await?;
    let new_edits = match body.get("new_edits") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::bad_request("new_edits must be a boolean")),
    };
    let Some(Value::Array(docs)) = body.shift_remove("docs") else {
        return Err(ApiError::bad_request("POST body must include `docs` parameter."));
    };
    let count = docs.len();
    // Each document becomes an op, or a refusal in its place; a replicated document's
    // inline attachments are written as blobs and its stubs resolved on the store's thread.
    let (slots, keys, results) = db
        .run(move |store| {
            let mut slots: Vec<Result<usize, Value>> = Vec::with_capacity(count);
            let mut ops = Vec::with_capacity(count);
            for doc in docs {
                let what = doc.get("_id").and_then(Value::as_str).map(str::to_string);
                match op_of(store, doc, new_edits) {
                    Ok(op) => {
                        slots.push(Ok(ops.len()));
                        ops.push(op);
                    }
                    Err(e) if e.status.is_server_error() => return Err(e),
                    Err(e) => slots.push(Err(error_row(what.as_deref(), &e))),
                }
            }
            let keys: Vec<(DocId, Option<RevId>)> = ops
                .iter()
                .map(|op| match op {
                    Op::Replicate { id, rev, .. } | Op::ReplicateWithAttachments { id, rev, .. } => {
                        (id.clone(), Some(rev.clone()))
                    }
                    Op::Edit { id, .. } | Op::EditWithAttachments { id, .. } => (id.clone(), None),
                })
                .collect();
            let results: Vec<ApiResult<settee::Written>> = if ops.is_empty() {
                Vec::new()
            } else {
                store.write(ops)?.into_iter().map(|r| r.map_err(ApiError::from)).collect()
            };
            Ok((slots, keys, results))
        })
        .await?;
    let mut rows = Vec::with_capacity(slots.len());
    for slot in slots {
        match slot {
            Err(row) => rows.push(row),
            Ok(i) => {
                let (id, rev) = &keys[i];
                match results.get(i) {
                    Some(Ok(w)) if new_edits => {
                        rows.push(json!({"ok": true, "id": w.id.as_str(), "rev": w.rev.to_string()}))
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        let mut row = error_row(Some(id.as_str()), e);
                        if let Some(r) = rev {
                            row["rev"] = r.to_string().into();
                        }
                        rows.push(row);
                    }
                    None => rows.push(error_row(Some(id.as_str()), &ApiError::internal("no result"))),
                }
            }
        }
    }
    Ok(http::json(StatusCode::CREATED, &Value::Array(rows)))
}

/// One document of a `_bulk_docs` body as a write. A refusal that is not the document's
/// own (the store failing) is for the whole request, not a row.
fn op_of(store: &settee::Store, doc: Value, new_edits: bool) -> ApiResult<Op> {
    let incoming = written::parse(doc, "a document")?;
    if new_edits {
        let id = match &incoming.id {
            Some(id) => DocId::parse(id)?,
            None => DocId::generate()?,
        };
        let base = incoming.rev.as_deref().map(super::doc::parse_rev).transpose()?;
        Ok(written::edit_op(id, base, incoming, ReceivedSet::new()))
    } else {
        let id = incoming.doc_id("a document")?;
        written::replicated_op(store, id, incoming, ReceivedSet::new())
    }
}

/// `POST /db/_bulk_get`: the revisions asked for, each with its history when `revs=true`.
pub async fn bulk_get(mut req: Req, db: Arc<Db>) -> ApiResult<Response> {
    req.allow(&[Method::POST])?;
    let revs = req.params.flag("revs", false)?;
    let latest = req.params.flag("latest", false)?;
    let attachments = req.params.flag("attachments", false)?;
    let mut body = body_object(&mut req, "the _bulk_get body").await?;
    let Some(Value::Array(wanted)) = body.shift_remove("docs") else {
        return Err(ApiError::bad_request("Missing JSON list of 'docs'."));
    };
    let results = db
        .run(move |store| {
            let mut results = Vec::with_capacity(wanted.len());
            for want in &wanted {
                results.push(bulk_get_one(store, want, revs, latest, attachments)?);
            }
            Ok(results)
        })
        .await?;
    Ok(http::json(StatusCode::OK, &json!({ "results": results })))
}

/// One entry of a `_bulk_get` body: `{id, rev?, atts_since?}`. Attachments come as stubs,
/// with their bytes (`data`) when `attachments` is asked for, or for those written after
/// the newest of the entry's `atts_since` revisions on the revision's path.
fn bulk_get_one(
    store: &settee::Store,
    want: &Value,
    revs: bool,
    latest: bool,
    attachments: bool,
) -> ApiResult<Value> {
    let id_text = want.get("id").and_then(Value::as_str);
    let rev_text = want.get("rev").and_then(Value::as_str);
    let missing = |reason: &str, error: &str| json!({"id": id_text, "docs": [{"error": {"id": id_text, "rev": rev_text, "error": error, "reason": reason}}]});
    let Some(id) = id_text.and_then(|t| DocId::parse(t).ok()) else {
        return Ok(missing("a document id is missing or invalid", "bad_request"));
    };
    let rev = match rev_text.map(RevId::parse) {
        None => None,
        Some(Ok(r)) => Some(r),
        Some(Err(_)) => return Ok(missing("Invalid rev format", "bad_request")),
    };
    let atts_since = match want.get("atts_since") {
        None | Some(Value::Null) => None,
        Some(Value::Array(list)) => {
            let parsed: Option<Vec<RevId>> =
                list.iter().map(|r| r.as_str().and_then(|t| RevId::parse(t).ok())).collect();
            match parsed {
                Some(p) => Some(p),
                None => return Ok(missing("atts_since must be an array of revisions", "bad_request")),
            }
        }
        Some(_) => return Ok(missing("atts_since must be an array of revisions", "bad_request")),
    };
    let docs: Vec<Value> = match rev {
        Some(rev) if latest => {
            let found = store.revisions_with_history(&id, std::slice::from_ref(&rev))?;
            if found.is_empty() {
                return Ok(missing("missing", "not_found"));
            }
            let mut docs = Vec::with_capacity(found.len());
            for r in &found {
                let mut doc =
                    settee::wire::bulk::document(r).map_err(|e| ApiError::internal(e.to_string()))?;
                let data_after = match &atts_since {
                    _ if attachments => Some(0),
                    Some(since) => {
                        let path: Vec<RevId> = std::iter::once(r.rev.clone())
                            .chain(r.ancestry.iter().enumerate().map_while(|(i, h)| {
                                Some(RevId::new(r.rev.pos.checked_sub(i as u64 + 1)?, h.clone()))
                            }))
                            .collect();
                        Some(attachment::since_pos(&path, since))
                    }
                    None => None,
                };
                render_attachments(store, &mut doc, data_after)?;
                if !revs {
                    if let Some(m) = doc.as_object_mut() {
                        m.shift_remove("_revisions");
                    }
                }
                docs.push(json!({ "ok": doc }));
            }
            docs
        }
        rev => {
            let options = GetOptions { rev, revs, attachments, atts_since, ..GetOptions::default() };
            match store.get(&id, &options) {
                Ok(doc) => vec![json!({ "ok": doc })],
                Err(e) if e.kind() == settee::ErrorKind::NotFound => {
                    let reason = match &e {
                        settee::Error::NotFound { why, .. } if !why.is_empty() => *why,
                        _ => "missing",
                    };
                    return Ok(missing(reason, "not_found"));
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    Ok(json!({"id": id.as_str(), "docs": docs}))
}

/// A document holding a revision's stored `_attachments` as a reader gets it: stubs, or
/// the bytes of those whose `revpos` is greater than `data_after`; the member moves last, as
/// CouchDB writes it. The stored form (with blob ids) never leaves the server.
fn render_attachments(store: &settee::Store, doc: &mut Value, data_after: Option<u64>) -> ApiResult<()> {
    let Some(map) = doc.as_object_mut() else { return Ok(()) };
    let Some(stored) = map.shift_remove(attachment::MEMBER) else { return Ok(()) };
    let atts = attachment::decode_stored(&stored)?;
    let mut out = Map::with_capacity(atts.len());
    for (name, a) in &atts {
        let v = match data_after {
            Some(p) if a.revpos > p => a.with_data(&store.attachment_bytes(a)?),
            _ => a.stub(),
        };
        out.insert(name.clone(), v);
    }
    map.insert(attachment::MEMBER.into(), Value::Object(out));
    Ok(())
}

/// `POST /db/_revs_diff`: for each document, the revisions asked about that are not here.
pub async fn revs_diff(mut req: Req, db: Arc<Db>) -> ApiResult<Response> {
    req.allow(&[Method::POST])?;
    let body = body_object(&mut req, "the _revs_diff body").await?;
    let mut asked: Vec<(DocId, Vec<RevId>)> = Vec::with_capacity(body.len());
    for (id, revs) in body {
        let id = DocId::parse(&id)?;
        let Value::Array(revs) = revs else {
            return Err(ApiError::bad_request(format!("the revisions of {id} must be an array")));
        };
        let revs = revs
            .iter()
            .map(|r| {
                r.as_str()
                    .ok_or_else(|| ApiError::bad_request("a revision must be a string"))
                    .and_then(super::doc::parse_rev)
            })
            .collect::<ApiResult<Vec<_>>>()?;
        asked.push((id, revs));
    }
    let missing = db
        .run(move |store| {
            let mut out = Vec::new();
            for (id, revs) in &asked {
                let row = match store.doc_ref(id)? {
                    None => settee::transport::Missing {
                        id: id.clone(),
                        missing: revs.clone(),
                        possible_ancestors: Vec::new(),
                    },
                    Some(doc) => {
                        let tree = store.load_tree(id, &doc)?;
                        let missing = tree.missing(revs);
                        let possible_ancestors = tree.possible_ancestors(&missing);
                        settee::transport::Missing { id: id.clone(), missing, possible_ancestors }
                    }
                };
                out.push(row);
            }
            Ok(out)
        })
        .await?;
    Ok(http::json(StatusCode::OK, &settee::wire::revs_diff::response(&missing)))
}
