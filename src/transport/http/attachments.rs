//! Attachments over HTTP: their bytes fetched from a server (pull) and sent to one (push).
//!
//! Owns: the spool, where attachment bytes wait between the request that moved them and
//! the other side of the replication (small ones in memory, large ones in temporary files);
//! turning the `_attachments` a server sent into the stored form (with blob ids) and stubs;
//! and the `_attachments` of the documents sent to a server (bytes or stubs).
//! Invariants:
//! 1. Bytes enter the spool only after their length and MD5 digest matched what the server
//!    said, so a revision whose attachment arrived damaged is an error naming the document
//!    and the attachment, and nothing of it reaches the target.
//! 2. A large attachment is never held whole in memory: on the way in it is streamed from
//!    the response (gunzipped when the server sent it `Content-Encoding: gzip`) into a
//!    temporary file; on the way out, one of [`MULTIPART_MIN`] or more goes from its
//!    temporary file as a part of a `multipart/related` `PUT`.
//! 3. Pull: an attachment whose `revpos` is at most the position of the newest revision the
//!    target has on the revision's path (`atts_since`) is not fetched: it becomes a
//!    `transport::Stub`, resolved from the target's own copy. Push: the same rule, with the
//!    revisions the server has found by `_revs_diff`, decides which attachments are sent
//!    with their bytes; the others go as stubs.
//!
//! Spec: format-spec/replication.md ("Over HTTP", "Attachments").

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::io::{Read, Write};

use md5::Digest as _;
use serde_json::{json, Map, Value};
use ureq::http::Method;
use ureq::unversioned::multipart::{Form, Part};

use super::endpoints::{doc_path, encode};
use super::{Couch, Error};
use crate::attachment::{Attachment, Attachments};
use crate::blob;
use crate::doc::Body;
use crate::id::{DocId, ObjectId};
use crate::rev::RevId;
use crate::transport::{BlobStream, Revision, Stub};
use crate::wire;
use crate::wire::attachments::Received;

/// Attachments up to this length travel inline (base64 in JSON); longer ones are fetched
/// with `GET /db/ID/ATT?rev=` and kept in temporary files.
pub const INLINE_MAX: u64 = 64 * 1024;
/// The attachment bytes one inline `_bulk_get` or `_bulk_docs` request carries, at most
/// (one larger attachment goes alone).
pub const REQUEST_BYTES: u64 = 4 << 20;
/// A revision sending an attachment at least this long goes alone, as a `multipart/related`
/// `PUT /db/ID?new_edits=false` whose parts stream from the spool; smaller ones travel inline
/// in `_bulk_docs`, many documents to a request, where the base64 copy costs little.
pub const MULTIPART_MIN: u64 = 1 << 20;
/// Attachments downloaded at once.
const DOWNLOADS: usize = 6;
/// Fetches whose spooled bytes are kept for `open_blob` (the replicator has fewer pages in
/// flight).
const SPOOL_GENERATIONS: usize = 8;

/// One attachment's bytes, checked.
enum Bytes {
    Memory(Vec<u8>),
    File(tempfile::NamedTempFile),
}

/// Attachment bytes by blob id, waiting for the other side.
#[derive(Default)]
pub struct Spool {
    blobs: HashMap<ObjectId, Bytes>,
    generations: VecDeque<Vec<ObjectId>>,
}

impl Spool {
    fn keep(&mut self, kept: Vec<(ObjectId, Bytes)>) {
        let mut ids = Vec::with_capacity(kept.len());
        for (id, bytes) in kept {
            ids.push(id);
            self.blobs.insert(id, bytes);
        }
        self.generations.push_back(ids);
        while self.generations.len() > SPOOL_GENERATIONS {
            for id in self.generations.pop_front().unwrap_or_default() {
                self.blobs.remove(&id);
            }
        }
    }

    /// Keep blob `id` until `clear`.
    fn insert(&mut self, id: ObjectId, bytes: Bytes) {
        self.blobs.insert(id, bytes);
    }

    /// The bytes of blob `id`, read whole (for inline base64).
    fn read(&self, id: &ObjectId) -> std::io::Result<Option<Vec<u8>>> {
        let Some(mut stream) = self.open(id)? else { return Ok(None) };
        let mut out = Vec::new();
        stream.read_to_end(&mut out)?;
        Ok(Some(out))
    }

    /// Blob `id` as one part of a multipart body, of known length (the small ones from
    /// memory, the large ones from their temporary file), if spooled.
    fn part(&self, id: &ObjectId) -> std::io::Result<Option<Part<'_>>> {
        Ok(match self.blobs.get(id) {
            None => None,
            Some(Bytes::Memory(v)) => Some(Part::bytes(v)),
            Some(Bytes::File(f)) => Some(Part::file(f.path())?),
        })
    }

    fn has(&self, id: &ObjectId) -> bool {
        self.blobs.contains_key(id)
    }

    fn clear(&mut self) {
        self.blobs.clear();
        self.generations.clear();
    }

    /// The bytes of blob `id` as a stream, if spooled; they stay spooled.
    fn open(&self, id: &ObjectId) -> std::io::Result<Option<BlobStream>> {
        Ok(match self.blobs.get(id) {
            None => None,
            Some(Bytes::Memory(v)) => Some(Box::new(std::io::Cursor::new(v.clone()))),
            Some(Bytes::File(f)) => Some(Box::new(std::io::BufReader::new(f.reopen()?))),
        })
    }
}

/// Copy `input` into memory (`len` at most [`INLINE_MAX`]) or a temporary file, computing
/// the blob id and MD5; `len` is the length the bytes must have.
fn spool_bytes(input: &mut dyn Read, len: u64) -> std::io::Result<(blob::Info, Bytes)> {
    let mut id = blob::IdCheck::new(len);
    let mut md5 = md5::Md5::new();
    let mut total = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    let mut memory = Vec::new();
    let mut file = if len > INLINE_MAX { Some(tempfile::NamedTempFile::new()?) } else { None };
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let chunk = buf.get(..n).unwrap_or_default();
        total += n as u64;
        if total > len {
            break;
        }
        id.update(chunk);
        md5.update(chunk);
        match &mut file {
            Some(f) => f.write_all(chunk)?,
            None => memory.extend_from_slice(chunk),
        }
    }
    if total != len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{total} bytes where {len} were announced"),
        ));
    }
    let id = id
        .finish()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "a SHA-1 collision attack"))?;
    let info = blob::Info { id, len, md5: md5.finalize().into() };
    let bytes = match file {
        Some(mut f) => {
            f.flush()?;
            Bytes::File(f)
        }
        None => Bytes::Memory(memory),
    };
    Ok((info, bytes))
}

/// A revision fetched from the server with its `_attachments` member still to resolve.
pub(super) struct Fetched {
    pub revision: Revision,
    pub attachments: Option<BTreeMap<String, Received>>,
}

/// One download's place in the list and its outcome.
type Downloaded = (usize, Result<(blob::Info, Bytes), Error>);

/// Attachments fetched by one inline `_bulk_get`, each with its `atts_since`.
type InlineGroup<'a> = Vec<(&'a Wanted, Vec<RevId>)>;

/// An attachment whose bytes must be fetched: where, and what they must be.
struct Wanted {
    id: DocId,
    rev: RevId,
    name: String,
    received: Received,
}

impl Couch {
    fn damaged(&self, id: &DocId, name: &str, why: impl std::fmt::Display) -> Error {
        Error::Attachment {
            url: self.endpoint.url.clone(),
            id: id.to_string(),
            name: name.into(),
            why: why.to_string(),
        }
    }

    /// Check and spool bytes of attachment `name` of `id`.
    fn accept(
        &self,
        id: &DocId,
        name: &str,
        received: &Received,
        input: &mut dyn Read,
    ) -> Result<(blob::Info, Bytes), Error> {
        let (info, bytes) = spool_bytes(input, received.length).map_err(|e| self.damaged(id, name, e))?;
        if info.digest() != received.digest {
            return Err(self.damaged(
                id,
                name,
                format!("its bytes have digest {} where the server said {}", info.digest(), received.digest),
            ));
        }
        Ok((info, bytes))
    }

    /// `GET /db/ID/ATT?rev=R`, streamed and checked.
    fn download(&self, w: &Wanted) -> Result<(blob::Info, Bytes), Error> {
        let path =
            format!("{}/{}?rev={}", doc_path(w.id.as_str()), encode(&w.name), encode(&w.rev.to_string()));
        let url = format!("{}/{path}", self.endpoint.url);
        let (status, encoding, body) = self.client.download(&url)?;
        if status != 200 {
            let mut body = body;
            let text = body.with_config().limit(1 << 16).read_to_vec().unwrap_or_default();
            return Err(Error::Status {
                method: "GET".into(),
                url: format!("{}/{}", self.endpoint.url, path.split('?').next().unwrap_or_default()),
                status,
                body: super::client::summary(&text),
            });
        }
        // The announced length bounds what is read: one byte more shows a longer body.
        let reader = body.into_with_config().limit(w.received.length.saturating_add(1 << 20)).reader();
        match encoding.as_deref() {
            None | Some("identity") => self.accept(&w.id, &w.name, &w.received, &mut { reader }),
            Some("gzip") | Some("x-gzip") => {
                let mut decoded = flate2::read::GzDecoder::new(reader);
                self.accept(&w.id, &w.name, &w.received, &mut decoded)
            }
            Some(other) => {
                Err(self.damaged(&w.id, &w.name, format!("the server sent it with Content-Encoding {other}")))
            }
        }
    }

    /// `_bulk_get?revs=true&attachments=true` for revisions whose attachments are all small,
    /// with `atts_since`: the bytes of each wanted attachment, checked.
    fn fetch_inline(
        &self,
        group: &[(&Wanted, Vec<RevId>)],
    ) -> Result<Vec<(usize, blob::Info, Bytes)>, Error> {
        let mut docs = Vec::new();
        let mut seen = BTreeSet::new();
        for (w, since) in group {
            if seen.insert((w.id.as_str(), w.rev.to_string())) {
                let since: Vec<String> = since.iter().map(ToString::to_string).collect();
                docs.push(json!({"id": w.id.as_str(), "rev": w.rev.to_string(), "atts_since": since}));
            }
        }
        let reply = self.send_json(
            Method::POST,
            "_bulk_get?revs=true&attachments=true",
            &json!({"docs": docs, "revs": true, "attachments": true}),
        )?;
        if reply.status != 200 {
            return Err(self.status("POST", "_bulk_get", &reply));
        }
        let parsed: Value = wire::parse("_bulk_get", &reply.body).map_err(|e| self.malformed(e))?;
        let mut found: HashMap<(String, String), Map<String, Value>> = HashMap::new();
        for result in parsed.get("results").and_then(Value::as_array).into_iter().flatten() {
            for entry in result.get("docs").and_then(Value::as_array).into_iter().flatten() {
                let Some(doc) = entry.get("ok").and_then(Value::as_object) else { continue };
                let id = doc.get("_id").and_then(Value::as_str).unwrap_or_default().to_string();
                let rev = doc.get("_rev").and_then(Value::as_str).unwrap_or_default().to_string();
                if let Some(Value::Object(atts)) = doc.get("_attachments") {
                    found.insert((id, rev), atts.clone());
                }
            }
        }
        let mut out = Vec::new();
        for (i, (w, _)) in group.iter().enumerate() {
            let atts = found.get(&(w.id.to_string(), w.rev.to_string()));
            let value = atts.and_then(|a| a.get(&w.name)).cloned();
            let Some(value) = value else {
                return Err(self.damaged(
                    &w.id,
                    &w.name,
                    format!("the server did not send it for {}", w.rev),
                ));
            };
            let mut one = Map::new();
            one.insert(w.name.clone(), value);
            let received = wire::attachments::parse("_bulk_get", w.id.as_str(), &Value::Object(one))
                .map_err(|e| self.malformed(e))?;
            let Some(data) = received.get(&w.name).and_then(|r| r.data.clone()) else {
                return Err(self.damaged(
                    &w.id,
                    &w.name,
                    "the server sent a stub where its bytes were asked for",
                ));
            };
            let (info, bytes) = self.accept(&w.id, &w.name, &w.received, &mut &data[..])?;
            out.push((i, info, bytes));
        }
        Ok(out)
    }

    /// Turn fetched revisions into the transport's: attachments the server sent inline are
    /// checked and spooled; those at or below the `atts_since` position become stubs; the
    /// rest are fetched (inline for revisions whose attachments are all small, else one by
    /// one) and spooled. Every body then names its attachments by blob id.
    pub(super) fn complete(
        &mut self,
        fetched: Vec<Fetched>,
        since: &HashMap<DocId, Vec<RevId>>,
    ) -> crate::error::Result<Vec<Revision>> {
        let mut out = Vec::with_capacity(fetched.len());
        let mut pending: Vec<(usize, BTreeMap<String, Attachment>)> = Vec::new();
        let mut wanted: Vec<(usize, Wanted, Vec<RevId>, bool)> = Vec::new();
        let mut spooled: Vec<(ObjectId, Bytes)> = Vec::new();
        for f in fetched {
            let Some(received) = f.attachments else {
                out.push(f.revision);
                continue;
            };
            let mut r = f.revision;
            let index = out.len();
            let path: Vec<RevId> = std::iter::once(r.rev.clone())
                .chain(
                    r.ancestry
                        .iter()
                        .enumerate()
                        .map(|(i, h)| RevId { pos: r.rev.pos.saturating_sub(i as u64 + 1), hash: h.clone() }),
                )
                .collect();
            let listed = since.get(&r.id).cloned().unwrap_or_default();
            let since_rev = path.iter().find(|p| listed.contains(p)).cloned();
            let since_pos = since_rev.as_ref().map_or(0, |p| p.pos);
            let total: u64 = received.values().map(|a| a.length).sum();
            let mut atts = BTreeMap::new();
            for (name, a) in received {
                if let Some(data) = &a.data {
                    let (info, bytes) = self.accept(&r.id, &name, &a, &mut &data[..])?;
                    atts.insert(name, Attachment::new(a.content_type.clone(), &info, a.revpos));
                    spooled.push((info.id, bytes));
                } else if let (Some(s), true) = (&since_rev, a.revpos <= since_pos) {
                    r.stubs.push(Stub { name, digest: a.digest, revpos: a.revpos, since: s.clone() });
                } else {
                    let inline = total <= INLINE_MAX;
                    let w = Wanted { id: r.id.clone(), rev: r.rev.clone(), name, received: a };
                    wanted.push((index, w, listed.clone(), inline));
                }
            }
            pending.push((index, atts));
            out.push(r);
        }
        // Fetch what is wanted: small ones inline, grouped; large ones one by one.
        let (inline, single): (Vec<_>, Vec<_>) = wanted.into_iter().partition(|w| w.3);
        let mut results: Vec<(usize, String, Attachment, Bytes)> = Vec::new();
        let mut group: Vec<(&Wanted, Vec<RevId>)> = Vec::new();
        let mut group_index: Vec<usize> = Vec::new();
        let mut bytes_in_group = 0;
        let mut groups: Vec<(InlineGroup, Vec<usize>)> = Vec::new();
        for (index, w, listed, _) in &inline {
            if bytes_in_group + w.received.length > REQUEST_BYTES && !group.is_empty() {
                groups.push((std::mem::take(&mut group), std::mem::take(&mut group_index)));
                bytes_in_group = 0;
            }
            bytes_in_group += w.received.length;
            group.push((w, listed.clone()));
            group_index.push(*index);
        }
        if !group.is_empty() {
            groups.push((group, group_index));
        }
        for (group, indexes) in &groups {
            for (i, info, bytes) in self.fetch_inline(group)? {
                let (w, _) =
                    group.get(i).ok_or_else(|| Error::Config("an inline fetch lost its place".into()))?;
                let index = indexes.get(i).copied().unwrap_or_default();
                let att = Attachment::new(w.received.content_type.clone(), &info, w.received.revpos);
                results.push((index, w.name.clone(), att, bytes));
            }
        }
        let this = &*self;
        // DOWNLOADS workers take the next attachment as each finishes (no waiting for the
        // slowest of a group); the first failure stops them.
        let next = std::sync::atomic::AtomicUsize::new(0);
        let failed = std::sync::atomic::AtomicBool::new(false);
        let answers: Vec<Vec<Downloaded>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..DOWNLOADS.min(single.len()))
                .map(|_| {
                    scope.spawn(|| {
                        let mut mine = Vec::new();
                        while !failed.load(std::sync::atomic::Ordering::Relaxed) {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some((_, w, _, _)) = single.get(i) else { break };
                            let answer = this.download(w);
                            if answer.is_err() {
                                failed.store(true, std::sync::atomic::Ordering::Relaxed);
                            }
                            mine.push((i, answer));
                        }
                        mine
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        vec![(0, Err(Error::Config("a download thread panicked".into())))]
                    })
                })
                .collect()
        });
        let mut answers: Vec<Downloaded> = answers.into_iter().flatten().collect();
        answers.sort_by_key(|(i, _)| *i);
        for (i, answer) in answers {
            let (info, bytes) = answer?;
            let Some((index, w, _, _)) = single.get(i) else { continue };
            let att = Attachment::new(w.received.content_type.clone(), &info, w.received.revpos);
            results.push((*index, w.name.clone(), att, bytes));
        }
        let mut by_index: HashMap<usize, BTreeMap<String, Attachment>> = pending.into_iter().collect();
        for (index, name, att, bytes) in results {
            spooled.push((att.blob, bytes));
            by_index.entry(index).or_default().insert(name, att);
        }
        for (index, atts) in by_index {
            let Some(r) = out.get_mut(index) else { continue };
            let map = Body::parse(&r.body.bytes)?;
            let atts: Attachments = atts;
            if atts.is_empty() {
                continue;
            }
            r.body = Body::from_map(&crate::attachment::stored_body(&atts, &map));
        }
        self.spool.keep(spooled);
        Ok(out)
    }

    pub(super) fn open_spooled(&self, id: &ObjectId) -> crate::error::Result<Option<BlobStream>> {
        self.spool
            .open(id)
            .map_err(|e| Error::Config(format!("reading spooled attachment bytes: {e}")).into())
    }
}

/// Whether a revision goes as a multipart `PUT`: it sends the bytes of an attachment of at
/// least [`MULTIPART_MIN`], and every attachment it sends has a name that fits a part header
/// as it stands (no quote, backslash or control character) and a content type that parses.
fn goes_multipart(atts: &Attachments, following: &BTreeSet<&str>) -> bool {
    let sent = || atts.iter().filter(|(name, _)| following.contains(name.as_str()));
    sent().any(|(_, a)| a.length >= MULTIPART_MIN)
        && sent().all(|(name, a)| {
            !name.chars().any(|c| c == '"' || c == '\\' || c.is_control())
                && a.content_type.parse::<mime::Mime>().is_ok()
        })
}

/// A document's refusal as CouchDB words it (`error: reason`), or the start of the answer
/// when it is not CouchDB's error object.
fn refusal(body: &[u8]) -> String {
    serde_json::from_slice::<wire::ErrorBody>(body)
        .map_or_else(|_| super::client::summary(body), |e| e.described())
}

/// Ancestors of a pushed revision asked about with `_revs_diff`, at most.
const ANCESTORS_ASKED: usize = 100;

impl Couch {
    /// Push, before `bulk_docs`: for each revision with attachments, the newest of its
    /// ancestors the server has (asked with one `_revs_diff` for the batch, as CouchDB's
    /// `possible_ancestors` would tell, which PouchDB Server never sends); attachments with
    /// a greater `revpos` are sent with their bytes, the others as stubs. Returns the blobs
    /// whose bytes are needed, in the order first named.
    pub(super) fn plan_sending(&mut self, revisions: &[Revision]) -> crate::error::Result<Vec<ObjectId>> {
        let mut planned: Vec<(&Revision, Attachments, Vec<RevId>)> = Vec::new();
        let mut asks: Vec<(DocId, Vec<RevId>)> = Vec::new();
        for r in revisions {
            let atts = crate::attachment::of_bytes(&r.body.bytes)?;
            let Some(min_revpos) = atts.values().map(|a| a.revpos).min() else { continue };
            let ancestors: Vec<RevId> = r
                .ancestry
                .iter()
                .enumerate()
                .map(|(i, h)| RevId { pos: r.rev.pos.saturating_sub(i as u64 + 1), hash: h.clone() })
                .take_while(|a| a.pos >= min_revpos && a.pos > 0)
                .take(ANCESTORS_ASKED)
                .collect();
            if !ancestors.is_empty() {
                match asks.iter_mut().find(|(id, _)| id == &r.id) {
                    Some((_, revs)) => revs.extend(ancestors.iter().cloned()),
                    None => asks.push((r.id.clone(), ancestors.clone())),
                }
            }
            planned.push((r, atts, ancestors));
        }
        let missing: HashMap<DocId, Vec<RevId>> = if asks.is_empty() {
            HashMap::new()
        } else {
            crate::transport::Transport::revs_diff(self, &asks)?
                .into_iter()
                .map(|m| (m.id, m.missing))
                .collect()
        };
        let mut wanted: Vec<ObjectId> = Vec::new();
        for (r, atts, ancestors) in planned {
            let lacking = missing.get(&r.id);
            let since_pos =
                ancestors.iter().find(|a| !lacking.is_some_and(|m| m.contains(a))).map_or(0, |a| a.pos);
            let mut names = BTreeSet::new();
            for (name, a) in &atts {
                if a.revpos > since_pos {
                    names.insert(name.clone());
                    if !wanted.contains(&a.blob) {
                        wanted.push(a.blob);
                    }
                }
            }
            self.sending.insert((r.id.to_string(), r.rev.to_string()), names);
        }
        Ok(wanted)
    }

    /// Push, after a `missing_stub` refusal: every attachment of `revisions` is sent with
    /// its bytes. Returns their blobs, in the order first named.
    pub(super) fn plan_sending_whole(
        &mut self,
        revisions: &[Revision],
    ) -> crate::error::Result<Vec<ObjectId>> {
        let mut wanted: Vec<ObjectId> = Vec::new();
        for r in revisions {
            let atts = crate::attachment::of_bytes(&r.body.bytes)?;
            for a in atts.values() {
                if !wanted.contains(&a.blob) {
                    wanted.push(a.blob);
                }
            }
            self.sending.insert((r.id.to_string(), r.rev.to_string()), atts.into_keys().collect());
        }
        Ok(wanted)
    }

    /// Push: keep the bytes of a blob `bulk_docs` will send.
    pub(super) fn spool_outgoing(
        &mut self,
        input: &mut dyn Read,
        len: Option<u64>,
    ) -> crate::error::Result<blob::Info> {
        let Some(len) = len else {
            return Err(crate::error::Error::Invalid(
                "an attachment of unknown length cannot be sent".into(),
            ));
        };
        let (info, bytes) = spool_bytes(input, len)
            .map_err(|e| Error::Config(format!("keeping attachment bytes to send: {e}")))?;
        self.outgoing.insert(info.id, bytes);
        Ok(info)
    }

    /// Push: `_bulk_docs` with `new_edits: false`, each document's attachments as planned
    /// (bytes inline as base64, or stubs), in requests of at most [`REQUEST_BYTES`] of
    /// attachment bytes.
    pub(super) fn send_revisions(
        &mut self,
        revisions: Vec<Revision>,
    ) -> crate::error::Result<Vec<crate::transport::WriteFailure>> {
        let mut failures = Vec::new();
        let mut docs: Vec<Value> = Vec::new();
        let mut keys: Vec<(DocId, RevId)> = Vec::new();
        let mut bytes_in_request = 0u64;
        for r in &revisions {
            let mut doc = wire::bulk::document(r).map_err(|e| self.malformed(e))?;
            let atts = crate::attachment::of_bytes(&r.body.bytes)?;
            let mut size = 0;
            if !atts.is_empty() {
                let send = self.sending.remove(&(r.id.to_string(), r.rev.to_string()));
                let following: BTreeSet<&str> = atts
                    .iter()
                    .filter(|(name, a)| {
                        send.as_ref().is_none_or(|s| s.contains(*name)) && self.outgoing.has(&a.blob)
                    })
                    .map(|(name, _)| name.as_str())
                    .collect();
                if goes_multipart(&atts, &following) {
                    failures.extend(self.put_multipart(r, doc, &atts, &following)?);
                    continue;
                }
                let mut out = Map::new();
                for (name, a) in &atts {
                    let with_bytes = following.contains(name.as_str());
                    let bytes = if with_bytes {
                        self.outgoing
                            .read(&a.blob)
                            .map_err(|e| Error::Config(format!("reading attachment bytes to send: {e}")))?
                    } else {
                        None
                    };
                    match bytes {
                        Some(bytes) => {
                            size += a.length;
                            out.insert(name.clone(), a.with_data(&bytes));
                        }
                        None => {
                            out.insert(name.clone(), a.stub());
                        }
                    }
                }
                if let Some(map) = doc.as_object_mut() {
                    map.insert(crate::attachment::MEMBER.into(), Value::Object(out));
                }
            }
            if bytes_in_request + size > REQUEST_BYTES && !docs.is_empty() {
                failures.extend(self.send_docs(std::mem::take(&mut docs), std::mem::take(&mut keys))?);
                bytes_in_request = 0;
            }
            bytes_in_request += size;
            docs.push(doc);
            keys.push((r.id.clone(), r.rev.clone()));
        }
        if !docs.is_empty() {
            failures.extend(self.send_docs(docs, keys)?);
        }
        self.outgoing.clear();
        Ok(failures)
    }

    /// One revision as CouchDB's replicator sends one with attachments: `PUT /db/ID?new_edits=false`
    /// with a `multipart/related` body, the document first (the attachments in `following`
    /// marked `follows`, the others stubs), then those attachments' bytes in the order the
    /// document names them. A refusal of the document (403 from a validation function
    /// among them) is a write failure, as in `_bulk_docs`.
    fn put_multipart(
        &self,
        r: &Revision,
        mut doc: Value,
        atts: &Attachments,
        following: &BTreeSet<&str>,
    ) -> Result<Option<crate::transport::WriteFailure>, Error> {
        let listed: Map<String, Value> = atts
            .iter()
            .map(|(name, a)| {
                (name.clone(), if following.contains(name.as_str()) { a.follows() } else { a.stub() })
            })
            .collect();
        if let Some(map) = doc.as_object_mut() {
            map.insert(crate::attachment::MEMBER.into(), Value::Object(listed));
        }
        let json = serde_json::to_vec(&doc).map_err(|e| Error::Config(format!("encoding a request: {e}")))?;
        let make = || -> std::io::Result<Form<'_>> {
            let mut form = Form::new().part(
                "document",
                Part::bytes(&json).mime_str("application/json").map_err(std::io::Error::other)?,
            );
            for (name, a) in atts.iter().filter(|(name, _)| following.contains(name.as_str())) {
                let part = self.outgoing.part(&a.blob)?.ok_or_else(|| {
                    std::io::Error::other(format!(
                        "the bytes of attachment {name} of {} are not at hand",
                        r.id
                    ))
                })?;
                form = form.part(
                    name,
                    part.file_name(name).mime_str(&a.content_type).map_err(std::io::Error::other)?,
                );
            }
            Ok(form)
        };
        let path = format!("{}?new_edits=false", doc_path(r.id.as_str()));
        let url = format!("{}/{path}", self.endpoint.url);
        let reply = self.client.send_document(Method::PUT, &url, super::client::Outgoing::Related(&make))?;
        match reply.status {
            200..=202 => Ok(None),
            400 | 403 | 409 | 412 | 413 | 415 => Ok(Some(crate::transport::WriteFailure {
                id: r.id.clone(),
                rev: r.rev.clone(),
                error: refusal(&reply.body),
            })),
            _ => Err(self.status("PUT", &path, &reply)),
        }
    }

    /// One `_bulk_docs` request; halves on 413 as CouchDB's replicator does, and on 412
    /// (PouchDB Server refuses a whole request for one document's `missing_stub`) until the
    /// document refused stands alone.
    fn send_docs(
        &self,
        docs: Vec<Value>,
        keys: Vec<(DocId, RevId)>,
    ) -> Result<Vec<crate::transport::WriteFailure>, Error> {
        let reply = self.send_json(Method::POST, "_bulk_docs", &json!({"new_edits": false, "docs": docs}))?;
        match reply.status {
            200..=202 => wire::bulk::parse_docs_response(&reply.body).map_err(|e| self.malformed(e)),
            412 | 413 if docs.len() > 1 => {
                let half = docs.len() / 2;
                let (mut docs, mut keys) = (docs, keys);
                let (rest_docs, rest_keys) = (docs.split_off(half), keys.split_off(half));
                let mut failures = self.send_docs(docs, keys)?;
                failures.extend(self.send_docs(rest_docs, rest_keys)?);
                Ok(failures)
            }
            412 | 413 => {
                let error = match reply.status {
                    413 => "too_large: the server refused the document as too large".into(),
                    _ => refusal(&reply.body),
                };
                Ok(keys
                    .into_iter()
                    .map(|(id, rev)| crate::transport::WriteFailure { id, rev, error: error.clone() })
                    .collect())
            }
            _ => Err(self.status("POST", "_bulk_docs", &reply)),
        }
    }
}
