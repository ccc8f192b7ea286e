//! Refs: each document id's leaf revisions (winner first) and latest sequence number, and
//! each `_local` document's current body.
//!
//! Owns: the ref entry encoding (shared by the journal and the refs table) and the sorted,
//! mmap'd refs table. Not: the in-memory overlay of recent writes (`store`).
//! Invariants:
//! 1. `DocRef::leaves` is non-empty and sorted by the winner rule, so `leaves[0]` is the
//!    cached winner.
//! 2. Entries in a table are strictly sorted by id bytes.
//!
//! Spec: format-spec/refs.md (refs table format 2, ref entry encoding 1).

#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used))]

pub mod hint;
pub mod table;

use crate::doc::Body;
use crate::id::{hash_object, DocId, Kind, ObjectId, Seq};
use crate::object::revision::{read_hash, read_oid, write_hash};
use crate::object::{varint, Revision};
use crate::rev::{RevHash, RevId};

/// A leaf of a document's revision tree, with its revision object stored inline: a leaf's
/// object lives in its ref and goes to a pack only once the revision stops being a leaf.
/// The fields are those of `object::Revision` without the document id (the ref's key).
#[derive(Clone, Debug)]
pub struct Leaf {
    pub rev: RevId,
    pub deleted: bool,
    pub body: ObjectId,
    /// The revision object of the nearest stored ancestor.
    pub parent: Option<ObjectId>,
    /// Hashes from the parent up to (and including) that ancestor, newest first.
    pub ancestry: Vec<RevHash>,
    /// True only when `rev` is known to be [`Leaf::derived_rev`]: the leaf was made by
    /// [`Leaf::edit`], or read from an entry with flag `0x04`. A shortcut for encoding,
    /// which otherwise hashes to find out; not part of the leaf's value (`==` ignores it).
    derived: bool,
}

impl PartialEq for Leaf {
    fn eq(&self, other: &Leaf) -> bool {
        (&self.rev, self.deleted, &self.body, &self.parent, &self.ancestry)
            == (&other.rev, other.deleted, &other.body, &other.parent, &other.ancestry)
    }
}

impl Eq for Leaf {}

impl Leaf {
    pub fn new(
        rev: RevId,
        deleted: bool,
        body: ObjectId,
        parent: Option<ObjectId>,
        ancestry: Vec<RevHash>,
    ) -> Leaf {
        Leaf { rev, deleted, body, parent, ancestry, derived: false }
    }

    /// The leaf an edit of this store makes on top of `parent` (none for a new document):
    /// its revision id is `RevId::for_edit` of the parent's, the deleted flag and the body.
    /// `parent_object` is the revision object the parent moves to.
    pub fn edit(parent: Option<&RevId>, deleted: bool, body: &Body, parent_object: Option<ObjectId>) -> Leaf {
        let rev = match parent {
            Some(p) => RevId::for_edit(Some(p), deleted, &body.id),
            None => body.new_doc_rev(deleted),
        };
        Leaf {
            rev,
            deleted,
            body: body.id,
            parent: parent_object,
            ancestry: parent.map(|p| p.hash.clone()).into_iter().collect(),
            derived: true,
        }
    }

    pub fn from_revision(r: &Revision) -> Leaf {
        Leaf::new(r.rev.clone(), r.deleted, r.body, r.parent, r.ancestry.clone())
    }

    /// This leaf linked to `parent` with `ancestry` instead (a compaction shortening its
    /// history). It stays known-derived only if the derived hash does not change: same
    /// `ancestry[0]`, and one still exists.
    pub fn with_history(&self, parent: Option<ObjectId>, ancestry: Vec<RevHash>) -> Leaf {
        let derived = self.derived
            && ancestry.first() == self.ancestry.first()
            && (self.rev.pos == 1 || !ancestry.is_empty());
        Leaf { parent, ancestry, derived, ..self.clone() }
    }

    /// The leaf's revision object (for document `doc`).
    pub fn revision(&self, doc: &DocId) -> Revision {
        Revision {
            doc: doc.clone(),
            rev: self.rev.clone(),
            deleted: self.deleted,
            body: self.body,
            parent: self.parent,
            ancestry: self.ancestry.clone(),
        }
    }

    /// The revision id this store would make for this leaf's edit (`RevId::for_edit` of its
    /// parent, deleted flag and body), if its parent is known.
    pub fn derived_rev(&self) -> Option<RevId> {
        let parent = match (self.rev.pos, self.ancestry.first()) {
            (1, _) => None,
            (pos, Some(h)) => Some(RevId::new(pos - 1, h.clone())),
            (_, None) => return None,
        };
        Some(RevId::for_edit(parent.as_ref(), self.deleted, &self.body))
    }

    /// The id of the leaf's revision object.
    pub fn revision_id(&self, doc: &DocId) -> ObjectId {
        hash_object(Kind::Revision, &self.revision(doc).encode())
    }
}

/// A replicated document's ref.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocRef {
    pub seq: Seq,
    pub leaves: Vec<Leaf>,
}

/// A `_local` document: no history, a counter revision (`0-N`), and a body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalRef {
    pub rev: u64,
    pub body: ObjectId,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    Doc(DocRef),
    Local(LocalRef),
}

const TAG_DOC: u8 = 0;
const LEAF_DELETED: u8 = 1;
const LEAF_PARENT: u8 = 2;
/// The leaf's hash is not stored: it is `RevId::for_edit` of its parent (position − 1,
/// `ancestry[0]`), deleted flag and body, as for every revision this store made.
const LEAF_DERIVED: u8 = 4;
const TAG_LOCAL: u8 = 1;
/// In the journal only: the id no longer has an entry (a deleted `_local` doc, a purge).
pub const TAG_REMOVED: u8 = 2;

/// Sort key of the winner rule: not deleted, then pos, then hash; greatest first.
pub fn winner_order(a: &Leaf, b: &Leaf) -> std::cmp::Ordering {
    (!b.deleted, &b.rev).cmp(&(!a.deleted, &a.rev))
}

impl DocRef {
    pub fn winner(&self) -> Option<&Leaf> {
        self.leaves.first()
    }

    /// True when every leaf is a tombstone.
    pub fn is_deleted(&self) -> bool {
        self.leaves.iter().all(|l| l.deleted)
    }

    pub fn leaf(&self, rev: &RevId) -> Option<&Leaf> {
        self.leaves.iter().find(|l| &l.rev == rev)
    }

    pub fn sort_leaves(&mut self) {
        self.leaves.sort_by(winner_order);
    }
}

impl Entry {
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Entry::Doc(d) => {
                out.push(TAG_DOC);
                varint::write(out, d.seq.0);
                varint::write(out, d.leaves.len() as u64);
                for leaf in &d.leaves {
                    varint::write(out, leaf.rev.pos);
                    let derived = leaf.derived || leaf.derived_rev().as_ref() == Some(&leaf.rev);
                    let mut flags = u8::from(leaf.deleted);
                    if leaf.parent.is_some() {
                        flags |= LEAF_PARENT;
                    }
                    if derived {
                        flags |= LEAF_DERIVED;
                    }
                    out.push(flags);
                    if !derived {
                        write_hash(out, &leaf.rev.hash);
                    }
                    out.extend_from_slice(leaf.body.as_bytes());
                    if let Some(p) = &leaf.parent {
                        out.extend_from_slice(p.as_bytes());
                    }
                    varint::write(out, leaf.ancestry.len() as u64);
                    for h in &leaf.ancestry {
                        write_hash(out, h);
                    }
                }
            }
            Entry::Local(l) => {
                out.push(TAG_LOCAL);
                varint::write(out, l.rev);
                out.extend_from_slice(l.body.as_bytes());
            }
        }
    }

    /// Step over an entry at the front of `input` without decoding it (no allocation, no
    /// hashing): for scans that only compare ids.
    /// The sequence of an encoded entry without decoding the rest: `Some(Some(seq))` for a
    /// document, `Some(None)` for any other kind, `None` if it is malformed.
    pub fn peek_seq(mut encoded: &[u8]) -> Option<Option<Seq>> {
        let input = &mut encoded;
        match *varint::take(input, 1)?.first()? {
            TAG_DOC => Some(Some(Seq(varint::read(input)?))),
            TAG_LOCAL | TAG_REMOVED => Some(None),
            _ => None,
        }
    }

    pub fn skip(input: &mut &[u8]) -> Option<()> {
        match *varint::take(input, 1)?.first()? {
            TAG_DOC => {
                varint::read(input)?;
                let n = varint::read(input)?;
                for _ in 0..n {
                    varint::read(input)?;
                    let flags = *varint::take(input, 1)?.first()?;
                    if flags & LEAF_DERIVED == 0 {
                        read_hash(input).ok()?;
                    }
                    varint::take(input, 20)?;
                    if flags & LEAF_PARENT != 0 {
                        varint::take(input, 20)?;
                    }
                    for _ in 0..varint::read(input)? {
                        read_hash(input).ok()?;
                    }
                }
                Some(())
            }
            TAG_LOCAL => {
                varint::read(input)?;
                varint::take(input, 20).map(|_| ())
            }
            TAG_REMOVED => Some(()),
            _ => None,
        }
    }

    /// The body a reader of this entry shows: the winner's, or the `_local` document's.
    pub fn shown_body(&self) -> Option<&ObjectId> {
        match self {
            Entry::Doc(d) => d.winner().map(|w| &w.body),
            Entry::Local(l) => Some(&l.body),
        }
    }

    /// [`Entry::shown_body`] of an encoded entry, read without decoding the rest (no hash
    /// is derived); `None` for a removal marker or a malformed entry.
    pub fn peek_shown_body(mut encoded: &[u8]) -> Option<ObjectId> {
        let input = &mut encoded;
        match *varint::take(input, 1)?.first()? {
            TAG_DOC => {
                varint::read(input)?;
                if varint::read(input)? == 0 {
                    return None;
                }
                varint::read(input)?;
                let flags = *varint::take(input, 1)?.first()?;
                if flags & LEAF_DERIVED == 0 {
                    read_hash(input).ok()?;
                }
                read_oid(input).ok()
            }
            TAG_LOCAL => {
                varint::read(input)?;
                read_oid(input).ok()
            }
            _ => None,
        }
    }

    /// Decode an entry (or `None` for a removal marker) from the front of `input`.
    pub fn decode(input: &mut &[u8]) -> Option<Option<Entry>> {
        let tag = *varint::take(input, 1)?.first()?;
        match tag {
            TAG_DOC => {
                let seq = Seq(varint::read(input)?);
                let n = varint::read(input)?;
                if n == 0 || n > 1 << 20 {
                    return None;
                }
                let mut leaves = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    let pos = varint::read(input)?;
                    if pos == 0 || pos > u64::from(u32::MAX) {
                        return None;
                    }
                    let flags = *varint::take(input, 1)?.first()?;
                    if flags & !(LEAF_DELETED | LEAF_PARENT | LEAF_DERIVED) != 0 {
                        return None;
                    }
                    let hash_is_derived = flags & LEAF_DERIVED != 0;
                    let hash = if hash_is_derived { None } else { Some(read_hash(input).ok()?) };
                    let body = read_oid(input).ok()?;
                    let parent = if flags & LEAF_PARENT != 0 { Some(read_oid(input).ok()?) } else { None };
                    let count = varint::read(input)?;
                    if count >= pos || (parent.is_some() && count == 0) {
                        return None;
                    }
                    let mut ancestry = Vec::with_capacity(count.min(1024) as usize);
                    for _ in 0..count {
                        ancestry.push(read_hash(input).ok()?);
                    }
                    let deleted = flags & LEAF_DELETED != 0;
                    let placeholder = RevId { pos, hash: RevHash::Md5([0; 16]) };
                    let mut leaf = Leaf::new(placeholder, deleted, body, parent, ancestry);
                    leaf.rev = match hash {
                        Some(hash) => RevId { pos, hash },
                        None => leaf.derived_rev().filter(|r| r.pos == pos)?,
                    };
                    leaf.derived = hash_is_derived;
                    leaves.push(leaf);
                }
                Some(Some(Entry::Doc(DocRef { seq, leaves })))
            }
            TAG_LOCAL => {
                let rev = varint::read(input)?;
                let body = read_oid(input).ok()?;
                Some(Some(Entry::Local(LocalRef { rev, body })))
            }
            TAG_REMOVED => Some(None),
            _ => None,
        }
    }
}

/// Append an id (varint length + bytes).
pub fn write_id(out: &mut Vec<u8>, id: &str) {
    varint::write(out, id.len() as u64);
    out.extend_from_slice(id.as_bytes());
}

/// Read an id written by `write_id`.
pub fn read_id<'a>(input: &mut &'a [u8]) -> Option<&'a str> {
    let len = varint::read(input)? as usize;
    std::str::from_utf8(varint::take(input, len)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(leaf: &Leaf) -> Vec<u8> {
        let mut out = Vec::new();
        Entry::Doc(DocRef { seq: Seq(1), leaves: vec![leaf.clone()] }).encode(&mut out);
        out
    }

    /// A leaf known to be derived (an edit's, a decoded one, one whose history was cut)
    /// is so exactly when hashing says so, encodes to the bytes hashing decides, and reads
    /// back with the same knowledge; cutting the history to nothing drops it. A body whose
    /// new-document revision was computed ahead gives the same leaf, and only for its id.
    #[test]
    fn known_derived_leaves_encode_as_hashing_decides() {
        let body = Body::empty();
        let first = Leaf::edit(None, false, &body, None);
        let second = Leaf::edit(Some(&first.rev), true, &body, Some(hash_object(Kind::Revision, b"x")));
        let kept = second.with_history(None, second.ancestry.clone());
        let cut = second.with_history(None, Vec::new());
        assert!(first.derived && second.derived && kept.derived && !cut.derived);
        let ahead = Body::empty().with_new_doc_rev();
        assert_eq!(Leaf::edit(None, false, &ahead, None), first);
        assert_eq!(Leaf::edit(None, true, &ahead, None), Leaf::edit(None, true, &body, None));
        let mut changed = ahead.clone();
        changed.id = hash_object(Kind::Body, b"{\"n\":1}");
        assert_eq!(
            changed.new_doc_rev(false),
            RevId::for_edit(None, false, &changed.id),
            "a stale memo is not used"
        );
        for leaf in [first, second, kept, cut] {
            assert_eq!(leaf.derived, leaf.derived_rev().as_ref() == Some(&leaf.rev), "{leaf:?}");
            let plain =
                Leaf::new(leaf.rev.clone(), leaf.deleted, leaf.body, leaf.parent, leaf.ancestry.clone());
            assert!(!plain.derived);
            assert_eq!(encoded(&leaf), encoded(&plain));
            let Some(Some(Entry::Doc(read))) = Entry::decode(&mut &encoded(&leaf)[..]) else {
                panic!("{leaf:?} does not read back")
            };
            assert_eq!(read.leaves, vec![leaf.clone()]);
            assert_eq!(read.leaves[0].derived, leaf.derived);
        }
    }
}
