//! Writing documents: interactive edits (MVCC against the current leaves) and replicated
//! revisions (merged into the tree as paths), committed in batches.
//!
//! Invariants:
//! 1. An interactive edit touches only the document's leaves: its cost does not depend on
//!    the history's length.
//! 2. A batch is one commit: its objects and then its journal record are fsynced before any
//!    result is returned; a failed commit leaves the store as it was.
//! 3. A replicated write that does not change the tree assigns no sequence number.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::overlay::Overlay;
use super::Store;

use crate::attachment::{self, Attachments, Given, Pending, PendingSet};
use crate::doc::Body;
use crate::error::{Error, Result};
use crate::history::{self, NodeInfo, Objects};
use crate::id::{hash_object, DocId, Kind, ObjectId, Seq};
use crate::journal::Record;
use crate::object::Revision;
use crate::refs::{DocRef, Entry, Leaf};
use crate::rev::{RevHash, RevId};
use crate::revtree::{self, RevTree};

/// The most ops a bulk write commits at once while another writer waits (`write_bulk`).
pub const YIELD_EVERY: usize = 1_000;

/// How many documents ahead a batch prefetches the overlay lines of the ids it will look
/// up: far enough for a cache miss (a few hundred cycles) to complete while the documents
/// in between are handled.
pub(super) const PREFETCH_AHEAD: usize = 8;

/// One write in a batch.
#[derive(Clone, Debug)]
pub enum Op {
    /// A normal edit (`new_edits=true`): `base` must name the leaf it replaces, or be `None`
    /// for a new document or one whose winner is deleted.
    Edit { id: DocId, base: Option<RevId>, deleted: bool, body: Body },
    /// An edit whose new revision has exactly `attachments` (stubs resolved against the
    /// replaced leaf under the writer lock, new blobs already written): `body` is the body
    /// without `_attachments`.
    EditWithAttachments { id: DocId, base: Option<RevId>, deleted: bool, body: Body, attachments: PendingSet },
    /// A replicated revision (`new_edits=false`) with its ancestors' hashes, newest first.
    Replicate { id: DocId, rev: RevId, ancestry: Vec<RevHash>, deleted: bool, body: Body },
    /// A replicated revision whose attachments come inline (`Given::Data`, with the revpos
    /// the revision has for each): `write` stores their bytes as blobs and makes it an
    /// `Op::Replicate` whose body holds them. `body` is the body without `_attachments`.
    ReplicateWithAttachments {
        id: DocId,
        rev: RevId,
        ancestry: Vec<RevHash>,
        deleted: bool,
        body: Body,
        attachments: BTreeMap<String, Given>,
    },
}

impl Op {
    pub fn id(&self) -> &DocId {
        match self {
            Op::Edit { id, .. }
            | Op::EditWithAttachments { id, .. }
            | Op::Replicate { id, .. }
            | Op::ReplicateWithAttachments { id, .. } => id,
        }
    }

    /// Whether the op carries attachment bytes still to be written as blobs.
    fn has_data(&self) -> bool {
        match self {
            Op::EditWithAttachments { attachments, .. } => {
                attachments.values().any(|p| matches!(p, Pending::Data { .. }))
            }
            Op::ReplicateWithAttachments { .. } => true,
            _ => false,
        }
    }
}

/// What a write gives back: each op's own result, or an error that stopped the whole write.
pub type WriteResults = Result<Vec<Result<Written>>>;

/// The result of one successful write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    pub id: DocId,
    pub rev: RevId,
    /// The sequence the change got; `None` when a replicated revision changed nothing.
    pub seq: Option<Seq>,
}

/// Ref changes and sequence numbers of the batch being built.
#[derive(Default)]
struct Batch {
    /// Each id the batch changed with its new entry, in the order first changed; one id
    /// string per document, shared with the overlay once committed.
    refs: Overlay,
    next_seq: u64,
}

impl Batch {
    fn get(&self, id: &DocId) -> Option<&Option<Entry>> {
        self.refs.get(id.as_str())
    }

    fn set(&mut self, id: &DocId, entry: Entry) {
        self.refs.insert(Arc::from(id.as_str()), Some(entry), None);
    }
    fn seq(&mut self) -> Seq {
        self.next_seq += 1;
        Seq(self.next_seq)
    }
}

impl Store {
    /// Apply `ops` in order as one commit, holding the writer lock and checked against the
    /// latest commits of every writer. The outer error means nothing was written; the inner
    /// ones are per document (conflicts, not found) and leave the others unaffected.
    ///
    /// Writes from several handles of the store in this process at once share commits
    /// (`group.rs`): each is still applied as if committed alone, in turn.
    ///
    /// Inline attachment data is written as blobs first, without the writer lock; an op
    /// whose data is refused (a digest that does not match) gets that error as its result.
    pub fn write(&mut self, ops: Vec<Op>) -> Result<Vec<Result<Written>>> {
        if ops.iter().any(Op::has_data) {
            return self.write_data_then(ops, Store::write);
        }
        if self.writing.as_ref().is_some_and(|w| w.is_held()) {
            return self.write_locked(ops);
        }
        self.write_grouped(ops)
    }

    /// Write the inline attachment data of `ops` as blobs (without the lock), then commit
    /// the prepared ops with `commit`; an op whose data is refused gets that error.
    fn write_data_then(
        &mut self,
        ops: Vec<Op>,
        commit: fn(&mut Store, Vec<Op>) -> WriteResults,
    ) -> Result<Vec<Result<Written>>> {
        let mut prepared = Vec::with_capacity(ops.len());
        let mut refused = Vec::new();
        for (i, op) in ops.into_iter().enumerate() {
            match self.write_op_data(op) {
                Ok(op) => prepared.push(op),
                Err(e) if is_fatal(&e) => return Err(e),
                Err(e) => refused.push((i, e)),
            }
        }
        let mut results = commit(self, prepared)?;
        // In increasing order of position, each refusal goes back where its op was.
        for (i, e) in refused {
            results.insert(i, Err(e));
        }
        Ok(results)
    }

    pub(super) fn write_locked(&mut self, ops: Vec<Op>) -> Result<Vec<Result<Written>>> {
        Ok(self.write_locked_until(ops, false)?.0)
    }

    /// Apply `ops` in order as one or more commits, for bulk loads (an import's batches):
    /// like [`Store::write`], except that while another writer waits for the lock, a commit
    /// carries at most [`YIELD_EVERY`] ops and the lock is let go after it, so the waiter
    /// commits in between (a put waits for a thousand of an import's documents, not ten
    /// thousand). Every op is still decided against all the commits before it; the ops are
    /// not one atomic commit as a whole. Each op's result as `write` gives it.
    pub fn write_bulk(&mut self, ops: Vec<Op>) -> Result<Vec<Result<Written>>> {
        if ops.iter().any(Op::has_data) {
            return self.write_data_then(ops, Store::write_bulk);
        }
        if self.writing.as_ref().is_some_and(|w| w.is_held()) {
            return self.write_locked(ops);
        }
        let mut results = Vec::with_capacity(ops.len());
        let mut rest = ops;
        while !rest.is_empty() {
            let (mut done, left) = self.locked(|store| store.write_locked_until(rest, true))?;
            results.append(&mut done);
            rest = left;
        }
        Ok(results)
    }

    /// [`Store::write_locked`]; with `yielding`, stop after a multiple of [`YIELD_EVERY`]
    /// ops when another writer waits for the lock, and return the ops not written.
    fn write_locked_until(
        &mut self,
        ops: Vec<Op>,
        yielding: bool,
    ) -> Result<(Vec<Result<Written>>, Vec<Op>)> {
        self.require_writer()?;
        let mut refs = std::mem::take(&mut self.batch_refs);
        refs.reserve(ops.len());
        let mut batch = Batch { refs, next_seq: self.last_seq.0 };
        let mut results = Vec::with_capacity(ops.len());
        let mut ops = std::collections::VecDeque::from(ops);
        while let Some(op) = ops.pop_front() {
            // Each document's lookup misses the caches once the overlay is large: start
            // loading the lines a few documents ahead.
            if let Some(ahead) = ops.get(PREFETCH_AHEAD - 1) {
                self.overlay.prefetch(ahead.id().as_str());
            }
            let result = match op {
                Op::Edit { id, base, deleted, body } => self.edit(&mut batch, id, base, deleted, body, None),
                Op::EditWithAttachments { id, base, deleted, body, attachments } => {
                    self.edit(&mut batch, id, base, deleted, body, Some(attachments))
                }
                Op::Replicate { id, rev, ancestry, deleted, body } => {
                    self.replicate(&mut batch, id, rev, ancestry, deleted, body)
                }
                // `write` turned these into `Op::Replicate` unless called with the lock held.
                op @ Op::ReplicateWithAttachments { .. } => self.write_op_data(op).and_then(|op| match op {
                    Op::Replicate { id, rev, ancestry, deleted, body } => {
                        self.replicate(&mut batch, id, rev, ancestry, deleted, body)
                    }
                    _ => Err(Error::Invalid("a replicated revision's attachments were not written".into())),
                }),
            };
            match result {
                Err(e) if is_fatal(&e) => {
                    self.abort_batch();
                    batch.refs.take_entries();
                    self.batch_refs = batch.refs;
                    return Err(e);
                }
                other => results.push(other),
            }
            if yielding && !ops.is_empty() && results.len() % YIELD_EVERY == 0 && self.others_waiting()? {
                break;
            }
        }
        let refs = batch.refs.take_entries();
        self.batch_refs = batch.refs;
        self.commit(refs)?;
        self.maybe_checkpoint()?;
        Ok((results, ops.into()))
    }

    /// True if a writer of another process waits in the queue for the lock, or one of
    /// this process waits at the gate.
    fn others_waiting(&self) -> Result<bool> {
        let queued = !self.signal.gate.lock().unwrap_or_else(|e| e.into_inner()).is_empty();
        Ok(queued || super::lock::Lock::others_waiting(&self.root)?)
    }

    /// Make staged objects and `refs` durable as one journal record.
    pub(crate) fn commit(&mut self, refs: Vec<(Arc<str>, Option<Entry>)>) -> Result<()> {
        // Where the view's journal ends, for a leader keeping its commits (`group.rs`).
        let start = self.journal_len;
        if let Err(e) = self.require_writer() {
            self.abort_batch();
            return Err(e);
        }
        let Some(w) = self.writer.as_mut() else {
            return Err(Error::Invalid("store was opened read-only".into()));
        };
        let pack_before = w.pack.committed_len();
        let objects = match w.pack.write_staged() {
            Ok(o) => o,
            Err(e) => {
                self.abort_batch();
                return Err(e);
            }
        };
        if objects.is_empty() && refs.is_empty() {
            return Ok(());
        }
        let record = Record {
            pack_end: w.pack.committed_len(),
            dictionary: u64::from(w.pack.dictionary()),
            objects,
            refs,
        };
        // The pack bytes and the record are made durable at once, so the record may reach
        // the disk before the bytes it covers: opening checks those bytes and cuts a record
        // whose bytes are not all there, as a torn tail (journal.md). Acknowledged only once
        // both are durable.
        let journal_len = w.journal.len();
        let wrote_bytes = w.pack.committed_len() > pack_before;
        let (synced, appended) = match wrote_bytes.then(|| w.pack.begin_sync()).transpose() {
            Ok(syncing) => {
                let appended = w.journal.append(&record);
                (syncing.map_or(Ok(()), |s| s.wait()), appended)
            }
            Err(e) => (Err(e), Ok(())),
        };
        if let Err(e) = appended.and(synced) {
            // Take back whatever part is in place: the record (if it was appended), then the
            // pack bytes.
            if w.journal.len() > journal_len {
                let _ = w.journal.unappend(journal_len);
            }
            w.pack.unwrite();
            self.abort_batch();
            return Err(e);
        }
        let end = w.journal.len();
        self.journal_len = end;
        self.own_entries += record.refs.len() as u64;
        if self.kept.is_some() && start == journal_len {
            let manifest = Arc::new(self.view.manifest.clone());
            let kept = super::group::Kept { manifest, start, end, record: Arc::new(record.clone()) };
            self.kept.get_or_insert_default().push(kept);
        }
        self.apply_record(record)?;
        self.signal.notify();
        Ok(())
    }

    pub(crate) fn abort_batch(&mut self) {
        if let Some(w) = self.writer.as_mut() {
            w.pack.rollback();
        }
        self.odb.clear_staged();
    }

    /// The ref of `id` as the batch sees it.
    fn batch_ref(&self, batch: &Batch, id: &DocId) -> Result<Option<DocRef>> {
        match batch.get(id) {
            Some(Some(Entry::Doc(d))) => Ok(Some(d.clone())),
            Some(_) => Ok(None),
            None => self.doc_ref(id),
        }
    }

    /// Add an object to the active pack unless the store already has it.
    pub(super) fn put_object(&mut self, id: ObjectId, kind: Kind, bytes: &[u8]) -> Result<()> {
        if self.odb.contains(&id) {
            return Ok(());
        }
        let Some(w) = self.writer.as_mut() else {
            return Err(Error::Invalid("store was opened read-only".into()));
        };
        w.pack.add(id, kind, bytes)?;
        self.odb.stage(id, kind, bytes);
        Ok(())
    }

    fn put_revision(&mut self, revision: &Revision) -> Result<ObjectId> {
        let bytes = revision.encode();
        let id = hash_object(Kind::Revision, &bytes);
        self.put_object(id, Kind::Revision, &bytes)?;
        Ok(id)
    }

    fn edit(
        &mut self,
        batch: &mut Batch,
        id: DocId,
        base: Option<RevId>,
        deleted: bool,
        body: Body,
        attachments: Option<PendingSet>,
    ) -> Result<Written> {
        let current = self.batch_ref(batch, &id)?;
        let conflict = |why: String| Error::Conflict { id: id.clone(), why };
        let (parent, mut leaves) = match current {
            None => {
                if let Some(base) = base {
                    return Err(conflict(format!("does not exist, so rev {base} cannot be updated")));
                }
                (None, Vec::new())
            }
            Some(doc) if doc.is_deleted() => {
                if let Some(base) = base {
                    return Err(conflict(format!(
                        "is deleted; write it without a rev to recreate it (got {base})"
                    )));
                }
                if deleted {
                    return Err(conflict("is already deleted".into()));
                }
                let winner = doc.leaves.first().cloned();
                let leaves = doc.leaves.iter().filter(|l| Some(*l) != winner.as_ref()).cloned().collect();
                (winner, leaves)
            }
            Some(doc) => {
                let Some(base) = base else {
                    let winner = doc.winner().map(|w| w.rev.to_string()).unwrap_or_default();
                    return Err(conflict(format!("exists; give its current rev ({winner}) to update it")));
                };
                let Some(leaf) = doc.leaf(&base).cloned() else {
                    let winner = doc.winner().map(|w| w.rev.to_string()).unwrap_or_default();
                    return Err(conflict(format!(
                        "rev {base} is not a current leaf (the winner is {winner})"
                    )));
                };
                let leaves = doc.leaves.into_iter().filter(|l| l.rev != base).collect();
                (Some(leaf), leaves)
            }
        };
        if parent.as_ref().is_some_and(|p| p.rev.pos >= u64::from(u32::MAX)) {
            return Err(Error::InvalidDoc {
                id: id.to_string(),
                why: "the revision position would overflow".into(),
            });
        }
        let body = match attachments {
            Some(pending) if !pending.is_empty() => {
                let from = match &parent {
                    Some(p) => attachment::of_bytes(&self.leaf_body(&id, &p.rev, &p.body)?)?,
                    None => Attachments::new(),
                };
                let new_pos = parent.as_ref().map_or(1, |p| p.rev.pos + 1);
                let atts = attachment::resolve(&id, &pending, &from, new_pos)?;
                self.check_blobs(&id, &atts)?;
                let map = Body::parse(&body.bytes)?;
                Body::from_map(&attachment::stored_body(&atts, &map))
            }
            // A body that already holds stored attachments (a revision's body written again,
            // as `resolve` does): each must name a blob present with its length and digest.
            _ if body.bytes.starts_with(attachment::STORED_PREFIX) => {
                let atts = attachment::of_bytes(&body.bytes)
                    .map_err(|e| Error::InvalidDoc { id: id.to_string(), why: e.to_string() })?;
                self.check_blobs(&id, &atts)?;
                self.check_blob_headers(&id, &atts)?;
                body
            }
            _ => body,
        };
        // The replaced leaf becomes an inner node: its object moves from the ref to the pack.
        let parent_object = match &parent {
            Some(p) => Some(self.put_revision(&p.revision(&id))?),
            None => None,
        };
        self.put_object(body.id, Kind::Body, &body.bytes)?;
        let leaf = Leaf::edit(parent.as_ref().map(|p| &p.rev), deleted, &body, parent_object);
        let rev = leaf.rev.clone();
        leaves.push(leaf);
        let mut doc = DocRef { seq: batch.seq(), leaves };
        doc.sort_leaves();
        let seq = doc.seq;
        batch.set(&id, Entry::Doc(doc));
        Ok(Written { id, rev, seq: Some(seq) })
    }

    fn replicate(
        &mut self,
        batch: &mut Batch,
        id: DocId,
        rev: RevId,
        ancestry: Vec<RevHash>,
        deleted: bool,
        body: Body,
    ) -> Result<Written> {
        if ancestry.len() as u64 >= rev.pos {
            return Err(Error::InvalidDoc {
                id: id.to_string(),
                why: format!("{rev} has more ancestors than its position allows"),
            });
        }
        // A replicated body names its blobs; the replicator copies them first.
        let atts = attachment::of_bytes(&body.bytes)
            .map_err(|e| Error::InvalidDoc { id: id.to_string(), why: e.to_string() })?;
        self.check_blobs(&id, &atts)?;
        let current = self.batch_ref(batch, &id)?;
        if current.is_none() {
            // A document new to this store: its one leaf links to nothing and lists the
            // history it came with (what `persist_tree` makes of a single path).
            let limit = self.revs_limit().max(1);
            let mut ancestry = ancestry;
            ancestry.truncate(limit - 1);
            self.put_object(body.id, Kind::Body, &body.bytes)?;
            let leaf = Leaf::new(rev.clone(), deleted, body.id, None, ancestry);
            let doc = DocRef { seq: batch.seq(), leaves: vec![leaf] };
            let seq = doc.seq;
            batch.set(&id, Entry::Doc(doc));
            return Ok(Written { id, rev, seq: Some(seq) });
        }
        let (mut tree, objects) = match &current {
            Some(doc) => self.load_tree_with_objects(&id, doc)?,
            None => (RevTree::default(), HashMap::new()),
        };
        let limit = self.revs_limit().max(1);
        let mut ancestry = ancestry;
        ancestry.truncate(limit.saturating_sub(1));
        if history_known(&tree, &rev, &ancestry) && tree.get(&rev).is_some_and(|n| n.value.is_some()) {
            // The revision and its known history are here already: nothing changes.
            return Ok(Written { id, rev, seq: None });
        }
        // The new node's object is decided by `persist_tree`; until then it has none.
        let info = NodeInfo { deleted, revision: ObjectId::null(gix_hash::Kind::Sha1), body: body.id };
        let hashes: Vec<RevHash> = std::iter::once(rev.hash.clone()).chain(ancestry).collect();
        let merged = tree.merge_path(revtree::Path::from_revisions(rev.pos, &hashes, info));
        if !merged.changed {
            return Ok(Written { id, rev, seq: None });
        }
        tree.stem(limit);
        // A revision the tree already held keeps its stored value (CouchDB's value_pref); only
        // a new one brings its body.
        if tree.get(&rev).and_then(|n| n.value.as_ref()).is_some_and(|v| v.body == body.id) {
            self.put_object(body.id, Kind::Body, &body.bytes)?;
        }
        let leaf_objects = self.persist_tree(&id, &mut tree, &objects)?;
        let leaves: Vec<Leaf> = tree
            .leaves()
            .into_iter()
            .filter_map(|l| leaf_objects.get(&l.rev).map(Leaf::from_revision))
            .collect();
        if leaves.is_empty() {
            return Err(Error::corrupt(
                self.root.clone(),
                0,
                format!("{id}: revision tree has no stored leaf"),
            ));
        }
        let mut doc = DocRef { seq: batch.seq(), leaves };
        doc.sort_leaves();
        let seq = doc.seq;
        batch.set(&id, Entry::Doc(doc));
        Ok(Written { id, rev, seq: Some(seq) })
    }

    /// Make the revision objects describe `tree` (`history::canonical`): inner nodes' new or
    /// moved objects go to the pack (a former leaf's object moves there from its ref); the
    /// leaves' objects are returned, to be kept inline in the ref.
    pub(crate) fn persist_tree(
        &mut self,
        id: &DocId,
        tree: &mut RevTree<NodeInfo>,
        objects: &Objects,
    ) -> Result<HashMap<RevId, Revision>> {
        let mut leaves = HashMap::new();
        for (rev, chosen) in history::canonical(id, tree, objects, history::Links::Loose) {
            if chosen.leaf {
                leaves.insert(rev, chosen.revision);
            } else {
                self.put_object(chosen.oid, Kind::Revision, &chosen.revision.encode())?;
            }
        }
        Ok(leaves)
    }
}

impl Store {
    /// Every attachment's blob is in `blobs/` (checked under the writer lock, so that no
    /// commit names a blob a compaction has just dropped).
    fn check_blobs(&self, id: &DocId, atts: &Attachments) -> Result<()> {
        for (name, a) in atts {
            if !self.has_blob(&a.blob) {
                return Err(Error::BlobMissing { id: id.clone(), name: name.clone(), blob: a.blob });
            }
        }
        Ok(())
    }

    /// Every attachment's blob has the attachment's length and digest (from the blob's
    /// header): a stored `_attachments` member put together from parts of others (a merge)
    /// is refused rather than stored naming bytes it does not describe.
    fn check_blob_headers(&self, id: &DocId, atts: &Attachments) -> Result<()> {
        for (name, a) in atts {
            let info = self.open_blob(&a.blob)?.map(|r| r.info());
            if !info.is_some_and(|i| i.len == a.length && i.digest() == a.digest) {
                return Err(Error::InvalidDoc {
                    id: id.to_string(),
                    why: format!("attachment {name:?} does not match blob {}", a.blob),
                });
            }
        }
        Ok(())
    }
}

/// True when the tree already holds `rev` with `ancestry` (newest first) as its ancestors.
fn history_known(tree: &RevTree<NodeInfo>, rev: &RevId, ancestry: &[RevHash]) -> bool {
    match tree.ancestry(rev) {
        Some(known) => {
            known.len() > ancestry.len() && known[1..].iter().zip(ancestry).all(|((r, _), h)| &r.hash == h)
        }
        None => false,
    }
}

/// Errors that stop the whole batch (the store itself failed), as opposed to per-document
/// refusals.
fn is_fatal(e: &Error) -> bool {
    use crate::error::ErrorKind::*;
    matches!(e.kind(), Io | Corrupt | Locked)
}
