//! Reading documents: the winner's body from its ref alone, or the revision tree rebuilt
//! from revision objects for history, conflicts and specific revisions.
//!
//! Invariants:
//! 1. A plain read of the winner costs one ref lookup and two object reads, whatever the
//!    history's length.
//! 2. Rebuilding a tree reads at most `revs_limit` revision objects per leaf.

use serde_json::{json, Map, Value};

use super::Snapshot;
use crate::attachment;
use crate::doc::Body;
use crate::error::{Error, Result};
use crate::history::{self, NodeInfo, Objects};
use crate::id::{DocId, ObjectId};
use crate::odb::Found;
use crate::refs::DocRef;
use crate::rev::RevId;
use crate::revtree::RevTree;

/// A body's id, with where the refs table says it is stored, if it says.
type Located<'a> = (&'a ObjectId, Option<Found>);

/// `_revs_info` status of a revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevStatus {
    Available,
    Deleted,
    Missing,
}

impl RevStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RevStatus::Available => "available",
            RevStatus::Deleted => "deleted",
            RevStatus::Missing => "missing",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenRevs {
    All,
    Revs(Vec<RevId>),
}

/// The CouchDB read options `get` understands.
#[derive(Clone, Debug, Default)]
pub struct GetOptions {
    pub rev: Option<RevId>,
    pub revs: bool,
    pub revs_info: bool,
    pub conflicts: bool,
    pub deleted_conflicts: bool,
    pub open_revs: Option<OpenRevs>,
    pub latest: bool,
    /// `attachments=true`: every attachment's bytes inline (base64 `data`), not stubs.
    pub attachments: bool,
    /// `atts_since`: the bytes of the attachments written after the newest of these
    /// revisions found in the read revision's ancestry; stubs for the others.
    pub atts_since: Option<Vec<RevId>>,
}

impl Snapshot {
    /// Rebuild the (stemmed) revision tree of a document from its leaves' revision objects.
    pub fn load_tree(&self, id: &DocId, doc: &DocRef) -> Result<RevTree<NodeInfo>> {
        Ok(self.load_tree_with_objects(id, doc)?.0)
    }

    /// Rebuild the tree and return the revision objects read on the way, by id.
    pub(crate) fn load_tree_with_objects(
        &self,
        id: &DocId,
        doc: &DocRef,
    ) -> Result<(RevTree<NodeInfo>, Objects)> {
        history::rebuild(id, doc, self.revs_limit(), &mut |oid| self.odb.read_revision(oid))
    }

    /// The status `_revs_info` reports for a node.
    pub fn rev_status(&self, value: Option<&NodeInfo>) -> RevStatus {
        match value {
            Some(v) if self.odb.contains(&v.body) => {
                if v.deleted {
                    RevStatus::Deleted
                } else {
                    RevStatus::Available
                }
            }
            _ => RevStatus::Missing,
        }
    }

    /// The body stored for a revision object, parsed.
    /// A leaf's body is never dropped, so its absence is corruption; an older revision's
    /// body may have been compacted away.
    fn body_of(&self, id: &DocId, rev: &RevId, body: Located, leaf: bool) -> Result<Map<String, Value>> {
        self.with_body_bytes(id, rev, body, leaf, Body::parse)?
    }

    /// The stored bytes of `body`; a missing leaf body is corruption, a missing inner one
    /// was compacted.
    fn body_bytes_of(&self, id: &DocId, rev: &RevId, body: Located, leaf: bool) -> Result<Vec<u8>> {
        self.with_body_bytes(id, rev, body, leaf, <[u8]>::to_vec)
    }

    /// [`Store::body_bytes_of`], handing the bytes to `use_body` without copying them.
    fn with_body_bytes<T>(
        &self,
        id: &DocId,
        rev: &RevId,
        (body, hint): Located,
        leaf: bool,
        use_body: impl FnOnce(&[u8]) -> T,
    ) -> Result<T> {
        match self.odb.with_body_hinted(body, hint, use_body)? {
            Some(done) => Ok(done),
            None if leaf => Err(Error::corrupt(
                self.root.join(super::PACKS_DIR),
                0,
                format!("body {body} of leaf {rev} of {id} is missing"),
            )),
            None => {
                Err(Error::RevNotFound { id: id.clone(), rev: rev.clone(), why: "its body was compacted" })
            }
        }
    }

    /// The body of `doc`'s winner, unless it is deleted (for callers that hold the ref).
    pub fn winner_body(&self, id: &DocId, doc: &DocRef) -> Result<Option<(RevId, Map<String, Value>)>> {
        match doc.winner() {
            Some(w) if !w.deleted => {
                Ok(Some((w.rev.clone(), self.body_of(id, &w.rev, (&w.body, None), true)?)))
            }
            _ => Ok(None),
        }
    }

    /// Append `doc`'s winner to `out` as JSON text, `_id` and `_rev` first, then the body's
    /// members, straight from the stored canonical bytes: the same text as serializing
    /// [`render`] of the parsed body, without parsing it. Returns false (appending nothing)
    /// if the winner is deleted.
    pub fn write_winner_json(&self, id: &DocId, doc: &DocRef, out: &mut Vec<u8>) -> Result<bool> {
        let Some(w) = doc.winner().filter(|w| !w.deleted) else { return Ok(false) };
        let body = self.body_bytes_of(id, &w.rev, (&w.body, None), true)?;
        if body.starts_with(attachment::STORED_PREFIX) {
            // Attachments become stubs: through the parsed body.
            let doc = render(id, &w.rev, false, Body::parse(&body)?);
            serde_json::to_writer(&mut *out, &doc).map_err(|e| Error::Invalid(e.to_string()))?;
            return Ok(true);
        }
        let members = match body.as_slice() {
            [b'{', inner @ .., b'}'] => inner,
            _ => return Err(Error::Invalid(format!("body {} of {id} is not a JSON object", w.body))),
        };
        out.extend_from_slice(b"{\"_id\":");
        serde_json::to_writer(&mut *out, id.as_str()).map_err(|e| Error::Invalid(e.to_string()))?;
        out.extend_from_slice(b",\"_rev\":");
        serde_json::to_writer(&mut *out, &w.rev.to_string()).map_err(|e| Error::Invalid(e.to_string()))?;
        if !members.is_empty() {
            out.push(b',');
            out.extend_from_slice(members);
        }
        out.push(b'}');
        Ok(true)
    }

    /// The stored body `body` of revision `rev` of `id`, parsed.
    pub fn body_map(&self, id: &DocId, rev: &RevId, body: &ObjectId) -> Result<Map<String, Value>> {
        self.body_of(id, rev, (body, None), false)
    }

    /// The revisions `revs` of `id` with their histories and bodies, for a peer
    /// (`_bulk_get?revs=true&latest=true`): a revision that is no longer a leaf gives the
    /// leaves below it; unknown revisions and revisions whose body is gone are left out.
    pub fn revisions_with_history(
        &self,
        id: &DocId,
        revs: &[RevId],
    ) -> Result<Vec<crate::transport::Revision>> {
        let Some(doc) = self.doc_ref(id)? else { return Ok(Vec::new()) };
        self.revisions_of_ref(id, &doc, revs)
    }

    /// `revisions_with_history` for a caller that holds `id`'s current ref.
    pub fn revisions_of_ref(
        &self,
        id: &DocId,
        doc: &DocRef,
        revs: &[RevId],
    ) -> Result<Vec<crate::transport::Revision>> {
        if let [leaf] = doc.leaves.as_slice() {
            if leaf.parent.is_none() && revs.contains(&leaf.rev) {
                // One leaf whose object holds its whole (stemmed) history: no tree needed.
                let bytes = self.leaf_body(id, &leaf.rev, &leaf.body)?;
                let mut ancestry = leaf.ancestry.clone();
                ancestry.truncate(self.revs_limit().saturating_sub(1));
                return Ok(vec![crate::transport::Revision {
                    id: id.clone(),
                    rev: leaf.rev.clone(),
                    ancestry,
                    deleted: leaf.deleted,
                    body: crate::doc::Body::stored(bytes, leaf.body),
                    stubs: Vec::new(),
                }]);
            }
        }
        let tree = self.load_tree(id, doc)?;
        crate::transport::revisions_of(id, &tree, revs, &mut |rev, oid| self.leaf_body(id, rev, oid))
    }

    /// The bytes of a leaf's body, which every store keeps: absent is damage (a lost object,
    /// or an index that no longer finds it), never a revision to skip.
    pub(super) fn leaf_body(&self, id: &DocId, rev: &RevId, body: &ObjectId) -> Result<Vec<u8>> {
        self.odb.read_body(body)?.ok_or_else(|| {
            Error::corrupt(
                self.root.join(super::PACKS_DIR),
                0,
                format!("body {body} of leaf {rev} of {id} is missing"),
            )
        })
    }

    /// The winner's body, `_id` and `_rev` only: the fast path for plain reads.
    pub fn get_winner(&self, id: &DocId) -> Result<Option<(RevId, Map<String, Value>)>> {
        let Some((doc, hint)) = self.doc_ref_hinted(id)? else { return Ok(None) };
        let Some(winner) = doc.winner() else { return Ok(None) };
        if winner.deleted {
            return Ok(None);
        }
        Ok(Some((winner.rev.clone(), self.body_of(id, &winner.rev, (&winner.body, hint), true)?)))
    }

    /// A document as CouchDB's `GET /db/doc` returns it, with the options asked for.
    pub fn get(&self, id: &DocId, options: &GetOptions) -> Result<Value> {
        let not_found = |why| Error::NotFound { id: id.to_string(), why };
        let (doc, hint) = self.doc_ref_hinted(id)?.ok_or_else(|| not_found("missing"))?;
        if let Some(open) = &options.open_revs {
            return self.open_revs(id, &doc, open, options);
        }
        let simple =
            !options.revs && !options.revs_info && options.rev.is_none() && options.atts_since.is_none();
        let winner = doc.winner().ok_or_else(|| not_found("missing"))?;
        if simple {
            if winner.deleted {
                return Err(not_found("deleted"));
            }
            let mut body = self.body_of(id, &winner.rev, (&winner.body, hint), true)?;
            let atts = attachment::take_stored(&mut body)?;
            let mut out = render(id, &winner.rev, false, body);
            let data_after = options.attachments.then_some(0);
            self.add_attachments(&mut out, &atts, data_after)?;
            add_conflicts(&mut out, &doc, options);
            return Ok(Value::Object(out));
        }
        let tree = self.load_tree(id, &doc)?;
        let mut rev = match &options.rev {
            Some(r) => r.clone(),
            None if winner.deleted => return Err(not_found("deleted")),
            None => winner.rev.clone(),
        };
        if options.latest && !tree.is_leaf(&rev) {
            if let Some(latest) =
                tree.leaves_under(&rev).into_iter().max_by(|a, b| leaf_rank(&doc, a).cmp(&leaf_rank(&doc, b)))
            {
                rev = latest;
            }
        }
        let out = self.render_rev(id, &doc, &tree, &rev, options)?;
        Ok(Value::Object(out))
    }

    fn render_rev(
        &self,
        id: &DocId,
        doc: &DocRef,
        tree: &RevTree<NodeInfo>,
        rev: &RevId,
        options: &GetOptions,
    ) -> Result<Map<String, Value>> {
        let node = tree.get(rev).ok_or_else(|| Error::RevNotFound {
            id: id.clone(),
            rev: rev.clone(),
            why: "missing",
        })?;
        let info = node.value.as_ref().ok_or_else(|| Error::RevNotFound {
            id: id.clone(),
            rev: rev.clone(),
            why: "its body was compacted or never received",
        })?;
        let mut body = self.body_of(id, rev, (&info.body, None), doc.leaf(rev).is_some())?;
        let atts = attachment::take_stored(&mut body)?;
        let mut out = render(id, rev, info.deleted, body);
        let data_after = match &options.atts_since {
            _ if options.attachments => Some(0),
            Some(since) => {
                let path: Vec<RevId> =
                    tree.ancestry(rev).unwrap_or_default().into_iter().map(|(r, _)| r).collect();
                Some(attachment::since_pos(&path, since))
            }
            None => None,
        };
        self.add_attachments(&mut out, &atts, data_after)?;
        if options.revs || options.revs_info {
            let ancestry = tree.ancestry(rev).unwrap_or_default();
            if options.revs {
                let ids: Vec<Value> =
                    ancestry.iter().map(|(r, _)| Value::String(r.hash.to_string())).collect();
                out.insert("_revisions".into(), json!({"start": rev.pos, "ids": ids}));
            }
            if options.revs_info {
                let info: Vec<Value> = ancestry
                    .iter()
                    .map(|(r, v)| json!({"rev": r.to_string(), "status": self.rev_status(*v).as_str()}))
                    .collect();
                out.insert("_revs_info".into(), Value::Array(info));
            }
        }
        add_conflicts(&mut out, doc, options);
        Ok(out)
    }

    fn open_revs(&self, id: &DocId, doc: &DocRef, open: &OpenRevs, options: &GetOptions) -> Result<Value> {
        let tree = self.load_tree(id, doc)?;
        let revs: Vec<RevId> = match open {
            OpenRevs::All => doc.leaves.iter().map(|l| l.rev.clone()).collect(),
            OpenRevs::Revs(revs) => {
                let mut out = Vec::new();
                for r in revs {
                    if options.latest && tree.contains(r) {
                        out.extend(tree.leaves_under(r));
                    } else {
                        out.push(r.clone());
                    }
                }
                let mut seen = std::collections::HashSet::new();
                out.retain(|r| seen.insert(r.clone()));
                out
            }
        };
        let inner = GetOptions {
            revs: options.revs,
            revs_info: options.revs_info,
            attachments: options.attachments,
            atts_since: options.atts_since.clone(),
            ..GetOptions::default()
        };
        let mut results = Vec::with_capacity(revs.len());
        for rev in revs {
            match self.render_rev(id, doc, &tree, &rev, &inner) {
                Ok(d) => results.push(json!({"ok": d})),
                Err(e) if e.kind() == crate::error::ErrorKind::NotFound => {
                    results.push(json!({"missing": rev.to_string()}))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Value::Array(results))
    }
}

impl Snapshot {
    /// Put `atts` into a rendered document: stubs, or the bytes (`data`) of those whose
    /// `revpos` is greater than `data_after`. Every blob read is checked whole before its
    /// bytes are used; a missing blob is corruption.
    fn add_attachments(
        &self,
        out: &mut Map<String, Value>,
        atts: &attachment::Attachments,
        data_after: Option<u64>,
    ) -> Result<()> {
        if atts.is_empty() {
            return Ok(());
        }
        let mut value = Map::with_capacity(atts.len());
        for (name, a) in atts {
            let v = match data_after {
                Some(p) if a.revpos > p => a.with_data(&self.attachment_bytes(a)?),
                _ => a.stub(),
            };
            value.insert(name.clone(), v);
        }
        out.insert(attachment::MEMBER.into(), Value::Object(value));
        Ok(())
    }

    /// The whole bytes of an attachment, checked; its blob's absence is corruption.
    pub fn attachment_bytes(&self, a: &attachment::Attachment) -> Result<Vec<u8>> {
        let mut reader = self.open_blob(&a.blob)?.ok_or_else(|| self.missing_blob(&a.blob))?;
        let mut out = Vec::with_capacity(a.length.min(1 << 30) as usize);
        reader.copy_to(&mut out)?;
        Ok(out)
    }

    pub(crate) fn missing_blob(&self, blob: &ObjectId) -> Error {
        Error::corrupt(crate::blob::path(&self.root, blob), 0, format!("blob {blob} is missing"))
    }
}

fn leaf_rank(doc: &DocRef, rev: &RevId) -> (bool, RevId) {
    let deleted = doc.leaf(rev).is_some_and(|l| l.deleted);
    (!deleted, rev.clone())
}

/// `{_id, _rev, ...body, _attachments?, _deleted?}`, attachments as stubs.
pub fn render(id: &DocId, rev: &RevId, deleted: bool, mut body: Map<String, Value>) -> Map<String, Value> {
    attachment::stubs_in_place(&mut body);
    let mut out = Map::with_capacity(body.len() + 3);
    out.insert("_id".into(), Value::String(id.to_string()));
    out.insert("_rev".into(), Value::String(rev.to_string()));
    out.extend(body);
    if deleted {
        out.insert("_deleted".into(), Value::Bool(true));
    }
    out
}

fn add_conflicts(out: &mut Map<String, Value>, doc: &DocRef, options: &GetOptions) {
    let others = doc.leaves.iter().skip(1);
    if options.conflicts {
        let live: Vec<Value> =
            others.clone().filter(|l| !l.deleted).map(|l| Value::String(l.rev.to_string())).collect();
        if !live.is_empty() {
            out.insert("_conflicts".into(), Value::Array(live));
        }
    }
    if options.deleted_conflicts {
        let dead: Vec<Value> =
            others.filter(|l| l.deleted).map(|l| Value::String(l.rev.to_string())).collect();
        if !dead.is_empty() {
            out.insert("_deleted_conflicts".into(), Value::Array(dead));
        }
    }
}
