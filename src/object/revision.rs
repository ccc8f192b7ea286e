//! The revision object: one node of a document's revision tree, with its body and links.
//!
//! A revision object names its document, its revision id, whether it is a tombstone, its
//! body object, and how it connects upward: `parent` is the revision object of its parent
//! (when this store held it at write time) and `ancestry` lists ancestor revision hashes,
//! newest first, as far as they were known (`ancestry[0]` is the parent's hash). The tree of
//! a document is the merge of the paths its reachable revision objects describe, which is how
//! forests and upward regrowth are recorded without rewriting any object.

use crate::id::{DocId, ObjectId};
use crate::object::varint;
use crate::rev::{RevHash, RevId};

/// Encoding version written in the first byte of every revision object.
pub const VERSION: u8 = 1;

const FLAG_DELETED: u8 = 1;
const FLAG_PARENT: u8 = 2;
const KNOWN_FLAGS: u8 = FLAG_DELETED | FLAG_PARENT;

const HASH_MD5: u8 = 0;
const HASH_OPAQUE: u8 = 1;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revision {
    pub doc: DocId,
    pub rev: RevId,
    pub deleted: bool,
    pub body: ObjectId,
    pub parent: Option<ObjectId>,
    pub ancestry: Vec<RevHash>,
}

/// Why revision bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed revision object: {0}")]
pub struct DecodeError(pub &'static str);

impl Revision {
    /// The position of the oldest revision this object names (itself if it has no ancestry).
    pub fn top_pos(&self) -> u64 {
        self.rev.pos - self.ancestry.len() as u64
    }

    /// Canonical bytes (the input of the object id).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.doc.as_str().len());
        out.push(VERSION);
        varint::write(&mut out, self.doc.as_str().len() as u64);
        out.extend_from_slice(self.doc.as_str().as_bytes());
        varint::write(&mut out, self.rev.pos);
        write_hash(&mut out, &self.rev.hash);
        let mut flags = 0;
        if self.deleted {
            flags |= FLAG_DELETED;
        }
        if self.parent.is_some() {
            flags |= FLAG_PARENT;
        }
        out.push(flags);
        out.extend_from_slice(self.body.as_bytes());
        if let Some(parent) = &self.parent {
            out.extend_from_slice(parent.as_bytes());
        }
        varint::write(&mut out, self.ancestry.len() as u64);
        for hash in &self.ancestry {
            write_hash(&mut out, hash);
        }
        out
    }

    pub fn decode(input: &[u8]) -> Result<Revision, DecodeError> {
        let mut ancestry = Vec::new();
        let head = Revision::decode_head(input, &mut ancestry)?;
        Ok(Revision {
            doc: DocId::from_stored(head.doc),
            rev: head.rev,
            deleted: head.deleted,
            body: head.body,
            parent: head.parent,
            ancestry,
        })
    }

    /// Decode everything but the document id and the ancestry into a [`Head`] borrowing the
    /// id from `input`, and the ancestry into `ancestry` (cleared first): for walking many
    /// revisions without allocating for each.
    pub fn decode_head<'a>(
        mut input: &'a [u8],
        ancestry: &mut Vec<RevHash>,
    ) -> Result<Head<'a>, DecodeError> {
        let bad = DecodeError;
        let input = &mut input;
        let version = varint::take(input, 1).ok_or(bad("empty"))?;
        if version != [VERSION] {
            return Err(bad("unknown revision encoding version"));
        }
        let id_len = varint::read(input).ok_or(bad("truncated id length"))? as usize;
        let id = varint::take(input, id_len).ok_or(bad("truncated id"))?;
        let id = std::str::from_utf8(id).map_err(|_| bad("id is not utf-8"))?;
        if id.is_empty() {
            return Err(bad("empty id"));
        }
        let pos = varint::read(input).ok_or(bad("truncated position"))?;
        if pos == 0 || pos > u64::from(u32::MAX) {
            return Err(bad("position out of range"));
        }
        let hash = read_hash(input)?;
        let flags = *varint::take(input, 1).ok_or(bad("truncated flags"))?.first().ok_or(bad("flags"))?;
        if flags & !KNOWN_FLAGS != 0 {
            return Err(bad("unknown flags"));
        }
        let body = read_oid(input)?;
        let parent = if flags & FLAG_PARENT != 0 { Some(read_oid(input)?) } else { None };
        let n = varint::read(input).ok_or(bad("truncated ancestry length"))?;
        if n >= pos {
            return Err(bad("ancestry reaches above position 1"));
        }
        if parent.is_some() && n == 0 {
            return Err(bad("a parent link without the hashes up to it"));
        }
        ancestry.clear();
        ancestry.reserve(n.min(4096) as usize);
        for _ in 0..n {
            ancestry.push(read_hash(input)?);
        }
        if !input.is_empty() {
            return Err(bad("trailing bytes"));
        }
        Ok(Head { doc: id, rev: RevId { pos, hash }, deleted: flags & FLAG_DELETED != 0, body, parent })
    }
}

/// A decoded revision object without its ancestry, its document id borrowed.
#[derive(Debug, PartialEq, Eq)]
pub struct Head<'a> {
    pub doc: &'a str,
    pub rev: RevId,
    pub deleted: bool,
    pub body: ObjectId,
    pub parent: Option<ObjectId>,
}

/// Append a revision hash: tag 0 + 16 bytes, or tag 1 + varint length + text.
pub fn write_hash(out: &mut Vec<u8>, hash: &RevHash) {
    match hash {
        RevHash::Md5(bytes) => {
            out.push(HASH_MD5);
            out.extend_from_slice(bytes);
        }
        RevHash::Opaque(text) => {
            out.push(HASH_OPAQUE);
            varint::write(out, text.len() as u64);
            out.extend_from_slice(text.as_bytes());
        }
    }
}

pub fn read_hash(input: &mut &[u8]) -> Result<RevHash, DecodeError> {
    let bad = DecodeError;
    let tag = *varint::take(input, 1).ok_or(bad("truncated hash"))?.first().ok_or(bad("hash"))?;
    match tag {
        HASH_MD5 => {
            let bytes = varint::take(input, 16).ok_or(bad("truncated hash"))?;
            let mut out = [0u8; 16];
            out.copy_from_slice(bytes);
            Ok(RevHash::Md5(out))
        }
        HASH_OPAQUE => {
            let len = varint::read(input).ok_or(bad("truncated hash length"))? as usize;
            let text = varint::take(input, len).ok_or(bad("truncated hash"))?;
            let text = std::str::from_utf8(text).map_err(|_| bad("hash is not utf-8"))?;
            let hash = RevHash::parse(text).map_err(|_| bad("invalid hash text"))?;
            if matches!(hash, RevHash::Md5(_)) {
                return Err(bad("32-hex hash stored as text"));
            }
            Ok(hash)
        }
        _ => Err(bad("unknown hash tag")),
    }
}

pub fn read_oid(input: &mut &[u8]) -> Result<ObjectId, DecodeError> {
    let bytes = varint::take(input, 20).ok_or(DecodeError("truncated object id"))?;
    ObjectId::try_from(bytes).map_err(|_| DecodeError("bad object id"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{hash_object, Kind};

    fn sample(parent: bool) -> Revision {
        Revision {
            doc: DocId::parse("doc").unwrap(),
            rev: RevId::parse("3-abc").unwrap(),
            deleted: true,
            body: hash_object(Kind::Body, b"{}"),
            parent: parent.then(|| hash_object(Kind::Revision, b"x")),
            ancestry: vec![
                RevHash::parse("0123456789abcdef0123456789abcdef").unwrap(),
                RevHash::parse("z").unwrap(),
            ],
        }
    }

    #[test]
    fn round_trips() {
        for parent in [false, true] {
            let r = sample(parent);
            assert_eq!(Revision::decode(&r.encode()).unwrap(), r);
        }
    }

    #[test]
    fn every_truncation_is_refused() {
        let bytes = sample(true).encode();
        for len in 0..bytes.len() {
            assert!(Revision::decode(&bytes[..len]).is_err(), "prefix of {len} bytes");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(Revision::decode(&long).is_err());
    }
}
