//! Transports: what the replicator needs from a peer, one method per CouchDB endpoint.
//!
//! Owns: the `Transport` trait and the values that cross it. Each method maps one to one
//! onto CouchDB's HTTP API, so the HTTP transport is a thin adapter:
//! `info` = `GET /db`, `changes` = `GET /db/_changes?style=all_docs`, `revs_diff` =
//! `POST /db/_revs_diff`, `bulk_get` = `POST /db/_bulk_get?revs=true&latest=true`,
//! `bulk_docs` = `POST /db/_bulk_docs` with `new_edits: false`, `get_local`/`put_local` =
//! `GET`/`PUT /db/_local/{id}`, `ensure_full_commit` = `POST /db/_ensure_full_commit`;
//! for attachments, `bulk_get_since` = `_bulk_get` with `atts_since`, `open_attachment` =
//! `GET /db/doc/att?rev=`, and `missing_blobs`/`open_blob`/`put_blob` move attachment bytes
//! by blob id (an HTTP peer maps them onto attachment reads and writes).
//! Sequences are opaque strings: a replicator only echoes them back.

pub mod bundle;
pub mod http;
pub mod local;

use std::io::Read;

use serde_json::{Map, Value};

use crate::blob;
use crate::doc::Body;
use crate::error::Result;
use crate::id::{DocId, ObjectId};
use crate::rev::{RevHash, RevId};

/// A peer's identity and position (`GET /db`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// Stable identity of the database (a store's uuid), for replication ids.
    pub id: String,
    pub update_seq: String,
    pub instance_start_time: String,
}

/// One row of a changes feed in `style=all_docs`: every leaf, winner first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeRow {
    pub seq: String,
    pub id: DocId,
    pub revs: Vec<RevId>,
    pub deleted: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangesPage {
    pub rows: Vec<ChangeRow>,
    /// Where the next page starts (`since` for the next call).
    pub last_seq: String,
}

/// Which documents a replication carries.
#[derive(Clone, Debug, Default)]
pub enum Filter {
    #[default]
    All,
    /// `filter=_doc_ids`: these documents only (deleted ones too).
    DocIds(Vec<DocId>),
    /// `filter=_selector`: documents whose winner (with `_id`, `_rev`, `_deleted`) matches.
    Selector(crate::selector::Selector),
}

/// What the target lacks of one document (`_revs_diff` row).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Missing {
    pub id: DocId,
    pub missing: Vec<RevId>,
    pub possible_ancestors: Vec<RevId>,
}

/// One revision with its history, as `_bulk_get?revs=true` returns it and `_bulk_docs`
/// with `new_edits: false` takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revision {
    pub id: DocId,
    pub rev: RevId,
    /// Ancestor hashes, newest first (`_revisions.ids` without the first).
    pub ancestry: Vec<RevHash>,
    pub deleted: bool,
    pub body: Body,
    /// Attachments the peer sent as CouchDB stubs (`stub: true`, no bytes) because the
    /// target holds them already, in revision `Stub::since`: the body leaves them out, and
    /// the replicator adds each from the target's copy before writing (`stored_attachments`).
    /// Always empty from a settee store or bundle, whose bodies name every blob.
    pub stubs: Vec<Stub>,
}

/// An attachment a peer sent as a stub: its metadata, and the revision of the target's
/// that holds its bytes (the newest `atts_since` revision on the revision's path).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stub {
    pub name: String,
    pub digest: String,
    pub revpos: u64,
    pub since: RevId,
}

/// A revision the target refused (`_bulk_docs` failure row).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteFailure {
    pub id: DocId,
    pub rev: RevId,
    pub error: String,
}

/// A peer, as the replicator sees it. Methods take `&mut self`: transports keep
/// connections and caches. Implementations must be idempotent where CouchDB is: writing a
/// revision the peer has changes nothing; `put_local` replaces.
pub trait Transport {
    /// `GET /db`.
    fn info(&mut self) -> Result<PeerInfo>;
    /// Up to `limit` rows after `since` (exclusive), oldest first, each document once.
    fn changes(&mut self, since: &str, limit: usize, filter: &Filter) -> Result<ChangesPage>;
    /// For each document, the revisions asked about that the peer does not have.
    /// Documents with nothing missing are left out.
    fn revs_diff(&mut self, revs: &[(DocId, Vec<RevId>)]) -> Result<Vec<Missing>>;
    /// The revisions asked for, with their histories; with CouchDB's `latest=true`, a
    /// revision that is no longer a leaf gives the leaves below it. Unknown ones are left out.
    fn bulk_get(&mut self, wanted: &[(DocId, Vec<RevId>)]) -> Result<Vec<Revision>>;
    /// Merge the revisions as replicated history (never a conflict); returns the refusals.
    fn bulk_docs(&mut self, revisions: Vec<Revision>) -> Result<Vec<WriteFailure>>;
    /// `_local/{id}`, not replicated.
    fn get_local(&mut self, id: &str) -> Result<Option<Map<String, Value>>>;
    fn put_local(&mut self, id: &str, body: &Map<String, Value>) -> Result<()>;
    /// Make everything written so far durable.
    fn ensure_full_commit(&mut self) -> Result<()>;

    // Attachments. A revision's attachments travel in its body as stubs (the stored
    // `_attachments` member: name, content type, digest, length, revpos and blob id,
    // `format-spec/objects.md`), never with their bytes; the bytes travel as blobs, and
    // only those the target lacks. The replicator, for each batch, collects the blob ids
    // the fetched bodies name, asks the target `missing_blobs` (through `blobs_wanted`),
    // copies each missing one with `open_blob` on the source and `put_blob` on the target,
    // then calls `bulk_docs` (which refuses a body naming a blob the target lacks). An HTTP
    // source may leave out attachments the target holds already (`Revision::stubs`): the
    // replicator takes those from `stored_attachments` of the target first. The defaults
    // suit a peer that keeps no blobs of its own.

    /// `bulk_get` where each document also lists revisions the target is known to have
    /// (`revs_diff`'s `possible_ancestors`): CouchDB's `atts_since`, so that a peer that
    /// sends attachment bytes inline (HTTP) sends only those written after them (`revpos`
    /// greater than the newest listed revision's position in the answer's history).
    /// A settee store's answers hold stubs only, so the default ignores `atts_since`.
    fn bulk_get_since(&mut self, wanted: &[(DocId, Vec<RevId>, Vec<RevId>)]) -> Result<Vec<Revision>> {
        let plain: Vec<(DocId, Vec<RevId>)> =
            wanted.iter().map(|(id, revs, _)| (id.clone(), revs.clone())).collect();
        self.bulk_get(&plain)
    }

    /// The blobs among `ids` that the peer lacks, in the order given. Default: all of them
    /// (a peer that cannot tell is sent every blob its revisions name).
    fn missing_blobs(&mut self, ids: &[ObjectId]) -> Result<Vec<ObjectId>> {
        Ok(ids.to_vec())
    }

    /// After the peer refused `revisions` as `missing_stub` (it lacks an attachment it was
    /// sent as a stub): the blobs to send so that the next `bulk_docs(revisions)` carries
    /// every attachment with its bytes, as CouchDB's replicator sends such a document again
    /// without `atts_since`. Default: [`Transport::blobs_wanted`] (a peer that resolves
    /// stubs itself sends no stubs).
    fn blobs_wanted_whole(&mut self, revisions: &[Revision]) -> Result<Vec<ObjectId>> {
        self.blobs_wanted(revisions)
    }

    /// The blobs the peer needs before `bulk_docs(revisions)`: by default those the bodies
    /// name that `missing_blobs` says it lacks, in the order first named. A peer that
    /// decides per revision which attachments to send with their bytes (HTTP: CouchDB's
    /// `revpos` rule against the revisions the server has) answers from that.
    fn blobs_wanted(&mut self, revisions: &[Revision]) -> Result<Vec<ObjectId>> {
        let mut named: Vec<ObjectId> = Vec::new();
        for r in revisions {
            for a in crate::attachment::of_bytes(&r.body.bytes)?.into_values() {
                if !named.contains(&a.blob) {
                    named.push(a.blob);
                }
            }
        }
        if named.is_empty() {
            return Ok(named);
        }
        self.missing_blobs(&named)
    }

    /// The attachments this peer stores for revision `rev` of `id` (the stored form, with
    /// blob ids), to resolve the stubs another peer sent; `None` when it lacks the revision
    /// or its body. Default: `None` (a peer that keeps no blobs resolves nothing).
    fn stored_attachments(
        &mut self,
        _id: &DocId,
        _rev: &RevId,
    ) -> Result<Option<crate::attachment::Attachments>> {
        Ok(None)
    }

    /// Blob `id`'s bytes as a stream, checked as they are read (a damaged blob ends the
    /// stream with an error, never with wrong bytes); `None` when the peer lacks it.
    /// Default: `None`.
    fn open_blob(&mut self, _id: &ObjectId) -> Result<Option<BlobStream>> {
        Ok(None)
    }

    /// One attachment's bytes (CouchDB's `GET /db/doc/att?rev=`): of revision `rev` of `id`
    /// (the winner when `None`); `None` when the document, revision or attachment is absent.
    /// Default: the revision's body from `bulk_get`, then `open_blob` of the blob it names.
    fn open_attachment(&mut self, id: &DocId, rev: &RevId, name: &str) -> Result<Option<BlobStream>> {
        let revisions = self.bulk_get(&[(id.clone(), vec![rev.clone()])])?;
        let Some(r) = revisions.into_iter().find(|r| &r.rev == rev) else { return Ok(None) };
        let atts = crate::attachment::of_bytes(&r.body.bytes)?;
        match atts.get(name) {
            Some(a) => self.open_blob(&a.blob),
            None => Ok(None),
        }
    }

    /// Store the bytes `input` gives (`len` of them, when known) as a blob; returns what
    /// was stored (its id is the SHA-1 of the bytes, whatever the caller expected). Writing
    /// a blob the peer has changes nothing. Default: refused, for a peer that cannot store
    /// blobs.
    fn put_blob(&mut self, _input: &mut dyn Read, _len: Option<u64>) -> Result<blob::Info> {
        Err(crate::error::Error::Invalid("this peer does not store attachments".into()))
    }
}

/// A blob's bytes from a peer, streamed.
pub type BlobStream = Box<dyn Read + Send>;

/// The revisions `revs` of a document's `tree` with their histories and bodies, as
/// `_bulk_get?revs=true&latest=true` answers: a revision that is no longer a leaf gives the
/// leaves below it; unknown revisions are left out. Every leaf keeps its body, so
/// `read_body` fails (naming the damage) rather than let a revision be skipped.
pub fn revisions_of(
    id: &DocId,
    tree: &crate::revtree::RevTree<crate::history::NodeInfo>,
    revs: &[RevId],
    read_body: &mut dyn FnMut(&RevId, &crate::id::ObjectId) -> Result<Vec<u8>>,
) -> Result<Vec<Revision>> {
    let mut wanted: Vec<RevId> = Vec::new();
    for r in revs {
        for leaf in tree.leaves_under(r) {
            if !wanted.contains(&leaf) {
                wanted.push(leaf);
            }
        }
    }
    let mut out = Vec::with_capacity(wanted.len());
    for rev in wanted {
        let Some(info) = tree.get(&rev).and_then(|n| n.value.clone()) else { continue };
        let bytes = read_body(&rev, &info.body)?;
        let ancestry =
            tree.ancestry(&rev).unwrap_or_default().into_iter().skip(1).map(|(r, _)| r.hash).collect();
        out.push(Revision {
            id: id.clone(),
            rev,
            ancestry,
            deleted: info.deleted,
            body: Body::stored(bytes, info.body),
            stubs: Vec::new(),
        });
    }
    Ok(out)
}
