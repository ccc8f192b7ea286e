//! The store's side of document attachments: turning what a write gives (`data`, `stub`)
//! into an edit, and reading one revision's attachments.
//!
//! Owns: writing inline `data` as blobs before the writer lock is taken (so a large
//! attachment never holds it), checking a given `digest` against the bytes, and finding a
//! revision's attachments for the `attach`, `detach` and `attachment` commands.
//! Invariants:
//! 1. A blob an edit names is durable before the edit is queued (`write_blob`), and its
//!    presence is checked again under the writer lock (`write.rs`).
//! 2. An edit built here names exactly the new revision's attachments.
//!
//! Spec: format-spec/objects.md ("Attachments").

use std::collections::BTreeMap;

use super::Store;
use crate::attachment::{self, Attachments, Given, Pending, PendingSet};
use crate::blob::Compression;
use crate::doc::{Body, Incoming};
use crate::error::{Error, Result};
use crate::id::DocId;
use crate::rev::RevId;
use crate::store::write::Op;

impl Store {
    /// Write the inline `data` of `given` as blobs (checking a given `digest`), leaving
    /// stubs as they are. `id` names the document in errors.
    pub fn prepare_attachments(&self, id: &DocId, given: BTreeMap<String, Given>) -> Result<PendingSet> {
        let mut out = PendingSet::new();
        for (name, g) in given {
            let pending = match g {
                Given::Stub { revpos } => Pending::Stub { revpos },
                Given::Data { content_type, bytes, digest } => {
                    let compression = Compression::for_content_type(Some(&content_type));
                    let info =
                        self.write_blob(&mut bytes.as_slice(), Some(bytes.len() as u64), compression)?;
                    if let Some(d) = digest.filter(|d| *d != info.digest()) {
                        return Err(Error::InvalidDoc {
                            id: id.to_string(),
                            why: format!(
                                "attachment {name:?}: digest {d} does not match its data ({})",
                                info.digest()
                            ),
                        });
                    }
                    Pending::New { content_type, info }
                }
            };
            out.insert(name, pending);
        }
        Ok(out)
    }

    /// The edit a written document asks for: with `_attachments`, their blobs written first
    /// and an [`Op::EditWithAttachments`]; without, a plain [`Op::Edit`] (which leaves the
    /// new revision without attachments, as in CouchDB).
    pub fn edit_op(&self, id: DocId, base: Option<RevId>, doc: Incoming) -> Result<Op> {
        let body = Body::from_map(&doc.body);
        match doc.attachments {
            Some(given) => {
                let attachments = self.prepare_attachments(&id, given)?;
                Ok(Op::EditWithAttachments { id, base, deleted: doc.deleted, body, attachments })
            }
            None => Ok(Op::Edit { id, base, deleted: doc.deleted, body }),
        }
    }

    /// Revision `rev` of `id` (the winner when `None`, which must not be deleted): its id,
    /// its body without `_attachments`, and its attachments.
    pub fn revision_attachments(
        &self,
        id: &DocId,
        rev: Option<&RevId>,
    ) -> Result<(RevId, serde_json::Map<String, serde_json::Value>, Attachments)> {
        let not_found = |why| Error::NotFound { id: id.to_string(), why };
        let doc = self.doc_ref(id)?.ok_or_else(|| not_found("missing"))?;
        let (rev, body) = match rev {
            None => {
                let w = doc.winner().ok_or_else(|| not_found("missing"))?;
                if w.deleted {
                    return Err(not_found("deleted"));
                }
                (w.rev.clone(), w.body)
            }
            Some(r) => match doc.leaf(r) {
                Some(l) => (l.rev.clone(), l.body),
                None => {
                    let tree = self.load_tree(id, &doc)?;
                    let info = tree.get(r).and_then(|n| n.value.clone()).ok_or_else(|| {
                        Error::RevNotFound { id: id.clone(), rev: r.clone(), why: "missing" }
                    })?;
                    (r.clone(), info.body)
                }
            },
        };
        let mut map = self.body_map(id, &rev, &body)?;
        let atts = attachment::take_stored(&mut map)?;
        Ok((rev, map, atts))
    }
}
