//! The store's side of document attachments: turning what a write gives (`data`, `stub`)
//! into an edit, and reading one revision's attachments.
//!
//! Owns: writing inline `data` as blobs before the writer lock is taken (so a large
//! attachment never holds it; `write` calls [`Store::write_op_data`] on every op first),
//! checking a given `digest` against the bytes, and finding a revision's attachments for
//! the `attach`, `detach`, `attachment` and `diff` commands.
//! Invariants:
//! 1. A blob an edit names is durable before the edit is queued (`write_blob`), and its
//!    presence is checked again under the writer lock (`write.rs`).
//! 2. An edit built here names exactly the new revision's attachments.
//!
//! Spec: format-spec/objects.md ("Attachments").

use super::Store;
use crate::attachment::{self, Attachment, Attachments, Given, Pending, PendingSet};
use crate::blob::{self, Compression};
use crate::doc::{Body, Incoming};
use crate::error::{Error, Result};
use crate::id::DocId;
use crate::rev::{RevHash, RevId};
use crate::store::write::Op;

impl Store {
    /// Write one attachment's inline bytes as a blob, checking a given `digest`; `id` and
    /// `name` name it in errors.
    pub fn write_attachment_data(
        &self,
        id: &DocId,
        name: &str,
        content_type: &str,
        bytes: &[u8],
        digest: Option<&str>,
    ) -> Result<blob::Info> {
        let compression = Compression::for_content_type(Some(content_type));
        let info = self.write_blob(&mut &bytes[..], Some(bytes.len() as u64), compression)?;
        if let Some(d) = digest.filter(|d| *d != info.digest()) {
            return Err(Error::InvalidDoc {
                id: id.to_string(),
                why: format!("attachment {name:?}: digest {d} does not match its data ({})", info.digest()),
            });
        }
        Ok(info)
    }

    /// The edit a written document asks for: with `_attachments`, an
    /// [`Op::EditWithAttachments`] (its inline data is written as blobs by `write`, before
    /// the writer lock); without, a plain [`Op::Edit`] (which leaves the new revision
    /// without attachments, as in CouchDB).
    pub fn edit_op(&self, id: DocId, base: Option<RevId>, doc: Incoming) -> Result<Op> {
        let body = Body::from_map(&doc.body);
        match doc.attachments {
            Some(given) => {
                let attachments = given.into_iter().map(|(n, g)| (n, Pending::from(g))).collect();
                Ok(Op::EditWithAttachments { id, base, deleted: doc.deleted, body, attachments })
            }
            None => Ok(Op::Edit { id, base, deleted: doc.deleted, body }),
        }
    }

    /// `op` with its inline attachment data written as blobs: `Pending::Data` becomes
    /// `Pending::New`, and a replicated revision with attachments becomes an
    /// [`Op::Replicate`] whose body holds them in the stored form (`revpos` as given, else
    /// the revision's position). Other ops come back as they are.
    pub(crate) fn write_op_data(&self, op: Op) -> Result<Op> {
        match op {
            Op::EditWithAttachments { id, base, deleted, body, attachments } => {
                let mut out = PendingSet::new();
                for (name, p) in attachments {
                    let p = match p {
                        Pending::Data { content_type, bytes, digest } => {
                            let info = self.write_attachment_data(
                                &id,
                                &name,
                                &content_type,
                                &bytes,
                                digest.as_deref(),
                            )?;
                            Pending::New { content_type, info }
                        }
                        other => other,
                    };
                    out.insert(name, p);
                }
                Ok(Op::EditWithAttachments { id, base, deleted, body, attachments: out })
            }
            Op::ReplicateWithAttachments { id, rev, ancestry, deleted, body, attachments } => {
                let mut atts = Attachments::new();
                for (name, g) in attachments {
                    let Given::Data { content_type, bytes, digest, revpos } = g else {
                        return Err(Error::InvalidDoc {
                            id: id.to_string(),
                            why: format!(
                                "attachment {name:?}: a replicated revision must give its data, not a stub"
                            ),
                        });
                    };
                    let info =
                        self.write_attachment_data(&id, &name, &content_type, &bytes, digest.as_deref())?;
                    atts.insert(name, Attachment::new(content_type, &info, revpos.unwrap_or(rev.pos)));
                }
                let map = Body::parse(&body.bytes)?;
                let body = Body::from_map(&attachment::stored_body(&atts, &map));
                Ok(Op::Replicate { id, rev, ancestry, deleted, body })
            }
            other => Ok(other),
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
    /// The attachments of the newest revision on `rev`'s path (`rev` itself, then its
    /// `ancestry`, newest first) whose body this store holds: what the stubs of a replicated
    /// revision name, as CouchDB resolves them against the first ancestor it has on disk.
    /// `None` when the store holds none of them with a body.
    pub fn path_attachments(
        &self,
        id: &DocId,
        rev: &RevId,
        ancestry: &[RevHash],
    ) -> Result<Option<Attachments>> {
        let Some(doc) = self.doc_ref(id)? else { return Ok(None) };
        let tree = self.load_tree(id, &doc)?;
        let ancestors = ancestry
            .iter()
            .enumerate()
            .map_while(|(i, h)| Some(RevId::new(rev.pos.checked_sub(i as u64 + 1)?, h.clone())));
        for r in std::iter::once(rev.clone()).chain(ancestors) {
            let Some(info) = tree.get(&r).and_then(|n| n.value.clone()) else { continue };
            match self.body_map(id, &r, &info.body) {
                Ok(mut map) => return Ok(Some(attachment::take_stored(&mut map)?)),
                // Compacted away: an older one may still be here.
                Err(e) if e.kind() == crate::error::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }
}
