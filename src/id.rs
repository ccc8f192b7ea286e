//! Identifiers: object ids, document ids and sequence numbers.
//!
//! Owns: how an object's id is computed from its kind and bytes, which document ids are
//! valid, and the `Seq` newtype.
//! Invariants:
//! 1. An object id is the SHA-1 of `"<kind> <len>\0"` followed by the object's canonical
//!    bytes (Git's object naming), computed with collision detection.
//! 2. A `DocId` is non-empty, valid UTF-8 (it is a JSON string), at most 4096 bytes, without
//!    control characters, and does not start with `_` unless it starts with `_design/` or is a
//!    `_local/` id (local ids are handled by `local`, not by revision trees).
//!
//! Spec: format-spec/objects.md.

use std::fmt;

pub use gix_hash::ObjectId;

/// The kinds of object a pack holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Canonical JSON of a document body (no `_` fields).
    Body,
    /// One revision of one document: see `object::Revision`.
    Revision,
    /// A zstd dictionary that later blocks of the same pack are compressed with (a pack
    /// entry, not an indexed object).
    Dictionary,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Body => "body",
            Kind::Revision => "revision",
            Kind::Dictionary => "dictionary",
        }
    }

    /// The byte that tags this kind inside a pack block.
    pub fn code(self) -> u8 {
        match self {
            Kind::Body => 1,
            Kind::Revision => 2,
            Kind::Dictionary => 3,
        }
    }

    pub fn from_code(code: u8) -> Option<Kind> {
        match code {
            1 => Some(Kind::Body),
            2 => Some(Kind::Revision),
            3 => Some(Kind::Dictionary),
            _ => None,
        }
    }
}

/// SHA-1 of raw bytes, with collision detection. A detected collision is treated as
/// impossible input: `sha1-checked` mitigates it by returning the hardened digest.
pub fn sha1(bytes: &[u8]) -> ObjectId {
    let mut hasher = gix_hash::hasher(gix_hash::Kind::Sha1);
    hasher.update(bytes);
    match hasher.try_finalize() {
        Ok(id) => id,
        // A SHA-1 collision attack was detected in the input. Name it by the hash of a marker
        // plus the input instead (an honest object's header never starts with the marker),
        // and if that is an attack too, by the null id, which no stored object can have.
        Err(_) => {
            let mut h = gix_hash::hasher(gix_hash::Kind::Sha1);
            h.update(b"settee-collision\0");
            h.update(bytes);
            h.try_finalize().unwrap_or_else(|_| ObjectId::null(gix_hash::Kind::Sha1))
        }
    }
}

/// The id of an object of `kind` whose canonical bytes are `bytes`.
pub fn hash_object(kind: Kind, bytes: &[u8]) -> ObjectId {
    let mut hasher = gix_hash::hasher(gix_hash::Kind::Sha1);
    let mut buf = [0u8; 40];
    let header = object_header(kind, bytes.len(), &mut buf);
    hasher.update(header);
    hasher.update(bytes);
    match hasher.try_finalize() {
        Ok(id) => id,
        Err(_) => {
            let mut all = header.to_vec();
            all.extend_from_slice(bytes);
            sha1(&all)
        }
    }
}

/// `"<kind> <len>\0"` written into `buf` (every object is hashed, so no allocation).
fn object_header(kind: Kind, len: usize, buf: &mut [u8; 40]) -> &[u8] {
    let name = kind.name().as_bytes();
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = len;
    loop {
        at -= 1;
        if let Some(d) = digits.get_mut(at) {
            *d = b'0' + (rest % 10) as u8;
        }
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let mut written = 0;
    for &byte in name.iter().chain(b" ").chain(digits.get(at..).unwrap_or_default()).chain(b"\0") {
        if let Some(slot) = buf.get_mut(written) {
            *slot = byte;
        }
        written += 1;
    }
    buf.get(..written).unwrap_or_default()
}

/// A validated document id.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocId(Box<str>);

/// The longest document id accepted, in bytes.
pub const MAX_DOC_ID_LEN: usize = 4096;

/// Prefix of `_local` document ids.
pub const LOCAL_PREFIX: &str = "_local/";

impl DocId {
    /// A new random id for a document written without one, as CouchDB's `POST /db` and
    /// `_bulk_docs` give: 32 lowercase hex digits (128 bits from the operating system's
    /// random source, so two stores never make the same one).
    pub fn generate() -> Result<DocId, crate::error::Error> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|e| {
            crate::error::Error::Invalid(format!("no random source for a new document id: {e}"))
        })?;
        let text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Ok(DocId(text.into_boxed_str()))
    }

    /// Validate a document id for a replicated (revision-tree) document.
    pub fn parse(text: &str) -> Result<DocId, DocIdError> {
        let err = |why| DocIdError { id: text.to_string(), why };
        if text.is_empty() {
            return Err(err("is empty"));
        }
        if text.len() > MAX_DOC_ID_LEN {
            return Err(err("is longer than 4096 bytes"));
        }
        if text.chars().any(char::is_control) {
            return Err(err("contains control characters"));
        }
        if text.starts_with(LOCAL_PREFIX) {
            return Err(err("is a _local id (use `settee local`)"));
        }
        if text.starts_with('_') && !text.starts_with("_design/") {
            return Err(err("starts with '_' (only _design/ and _local/ ids may)"));
        }
        if text == "_design/" {
            return Err(err("has an empty name after _design/"));
        }
        Ok(DocId(text.into()))
    }

    /// Validate the name part of a `_local/NAME` id (NAME given without the prefix, or with it).
    pub fn parse_local(text: &str) -> Result<DocId, DocIdError> {
        let name = text.strip_prefix(LOCAL_PREFIX).unwrap_or(text);
        let err = |why| DocIdError { id: text.to_string(), why };
        if name.is_empty() {
            return Err(err("has an empty name after _local/"));
        }
        if name.len() + LOCAL_PREFIX.len() > MAX_DOC_ID_LEN {
            return Err(err("is longer than 4096 bytes"));
        }
        if name.chars().any(char::is_control) {
            return Err(err("contains control characters"));
        }
        Ok(DocId(format!("{LOCAL_PREFIX}{name}").into()))
    }

    /// Build from bytes read back from the store (already validated when written).
    pub(crate) fn from_stored(text: &str) -> DocId {
        DocId(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_local(&self) -> bool {
        self.0.starts_with(LOCAL_PREFIX)
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

/// Why a document id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid document id {id:?}: {why}")]
pub struct DocIdError {
    pub id: String,
    pub why: &'static str,
}

/// A sequence number in the changes feed. 0 means "before the first change".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Seq(pub u64);

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_headers_are_kind_space_decimal_length_nul() {
        for kind in [Kind::Body, Kind::Revision, Kind::Dictionary] {
            for len in [0usize, 1, 9, 10, 99, 100, 125, 65_535, 1 << 26, usize::MAX] {
                let mut buf = [0u8; 40];
                let want = format!("{} {len}\0", kind.name());
                assert_eq!(object_header(kind, len, &mut buf), want.as_bytes());
            }
        }
    }

    #[test]
    fn object_ids_follow_git_naming() {
        // `printf 'hello' | git hash-object --stdin` with the header "blob 5\0" would give
        // b6fc4c62…; settee uses its own kind names, so check the header form directly.
        let id = hash_object(Kind::Body, b"{}");
        assert_eq!(id, sha1(b"body 2\0{}"));
        assert_ne!(id, hash_object(Kind::Revision, b"{}"));
    }

    #[test]
    fn doc_ids_are_validated() {
        assert!(DocId::parse("a").is_ok());
        assert!(DocId::parse("_design/x").is_ok());
        for bad in ["", "_x", "_local/x", "a\nb", "_design/"] {
            assert!(DocId::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(DocId::parse_local("x").unwrap().as_str(), "_local/x");
        assert!(DocId::parse_local("_local/").is_err());
    }
}
