//! Documents as clients write them, made into the store's writes, attachments included.
//!
//! Owns: the op of a written document for `new_edits=true` ([`edit_op`]: inline `data`
//! becomes blobs in the store's write, stubs are resolved there against the replaced leaf)
//! and for `new_edits=false` ([`replicated_op`]: inline `data` written as blobs here, stubs
//! resolved against the newest revision on the written revision's path that the store
//! holds, as CouchDB does, the result stored as a plain replicated revision). Attachments
//! whose bytes came as their own parts (multipart `follows`) arrive as [`Received`] blobs.
//! Invariant: an op built here names only blobs already durable in the store; a stub that
//! resolves to nothing is `missing_stub` (412), never a revision without the attachment.

use std::collections::BTreeMap;

use serde_json::Value;
use settee::attachment::{self, Attachment, Attachments, Given, Pending, PendingSet};
use settee::{blob, Body, DocId, Incoming, Op, RevId, Store};

use crate::error::{ApiError, ApiResult};

/// An attachment whose bytes came as their own part and are a blob already.
#[derive(Clone, Debug)]
pub struct Received {
    pub content_type: String,
    pub info: blob::Info,
    /// The `revpos` the document gave it (kept by replicated writes only).
    pub revpos: Option<u64>,
}

/// Attachments received as blobs, by name.
pub type ReceivedSet = BTreeMap<String, Received>;

/// A written document's parts; `what` names it in errors. `_attachments` may give inline
/// `data` or stubs (entries that `follows` were taken out by the multipart reader).
pub fn parse(value: Value, what: &str) -> ApiResult<Incoming> {
    Ok(Incoming::from_value_with_attachments(value, what)?)
}

/// The write of `doc` as a new revision of `id` replacing `base` (`new_edits=true`).
pub fn edit_op(id: DocId, base: Option<RevId>, doc: Incoming, received: ReceivedSet) -> Op {
    let body = Body::from_map(&doc.body);
    if doc.attachments.is_none() && received.is_empty() {
        return Op::Edit { id, base, deleted: doc.deleted, body };
    }
    let mut attachments: PendingSet =
        doc.attachments.unwrap_or_default().into_iter().map(|(n, g)| (n, Pending::from(g))).collect();
    for (name, r) in received {
        attachments.insert(name, Pending::New { content_type: r.content_type, info: r.info });
    }
    Op::EditWithAttachments { id, base, deleted: doc.deleted, body, attachments }
}

/// The write of `doc` as a replicated revision of `id` (`new_edits=false`): its `_rev` and
/// `_revisions`, its attachments' inline data written as blobs, its stubs resolved.
pub fn replicated_op(store: &Store, id: DocId, doc: Incoming, received: ReceivedSet) -> ApiResult<Op> {
    let (rev, ancestry) = doc.replicated_rev(id.as_str())?;
    let given = doc.attachments.unwrap_or_default();
    if given.is_empty() && received.is_empty() {
        let body = Body::from_map(&doc.body);
        return Ok(Op::Replicate { id, rev, ancestry, deleted: doc.deleted, body });
    }
    let mut atts = Attachments::new();
    let mut on_path: Option<Attachments> = None;
    for (name, g) in given {
        let att = match g {
            Given::Data { content_type, bytes, digest, revpos } => {
                let info =
                    store.write_attachment_data(&id, &name, &content_type, &bytes, digest.as_deref())?;
                Attachment::new(content_type, &info, revpos.unwrap_or(rev.pos))
            }
            Given::Stub { revpos } => {
                if on_path.is_none() {
                    on_path = Some(store.path_attachments(&id, &rev, &ancestry)?.unwrap_or_default());
                }
                let known = on_path.as_ref().and_then(|atts| atts.get(&name));
                match known {
                    Some(a) if revpos.is_none_or(|p| p == a.revpos) => a.clone(),
                    _ => {
                        return Err(ApiError::missing_stub(format!(
                            "id:{id}, name:{name}: no revision of {rev}'s history here has this attachment"
                        )))
                    }
                }
            }
        };
        atts.insert(name, att);
    }
    for (name, r) in received {
        atts.insert(name, Attachment::new(r.content_type, &r.info, r.revpos.unwrap_or(rev.pos)));
    }
    let body = Body::from_map(&attachment::stored_body(&atts, &doc.body));
    Ok(Op::Replicate { id, rev, ancestry, deleted: doc.deleted, body })
}
