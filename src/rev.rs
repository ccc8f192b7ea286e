//! Revision ids: `N-hash`, as CouchDB spells them.
//!
//! Owns: parsing and printing revision ids, their ordering for the winner rule, and the
//! deterministic hash of a revision this store makes.
//! Invariants:
//! 1. A revision id is kept exactly as it was given: printing a parsed id gives back its
//!    hash byte for byte. A hash of 32 lowercase hexadecimal digits (every hash CouchDB,
//!    PouchDB and settee make) is kept as its 16 decoded bytes, which print back the same;
//!    any other hash, upper-case hex included, is kept verbatim as opaque text. So
//!    `1-ABCD…` and `1-abcd…` are two revisions, as PouchDB compares them.
//! 2. Ordering compares the printed forms bytewise, which for two decoded hashes is the same
//!    as comparing their bytes.
//!
//! Spec: format-spec/revisions.md.

use std::cmp::Ordering;
use std::fmt;

use crate::id::ObjectId;

/// The hash part of a revision id.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum RevHash {
    /// 32 lowercase hex characters, stored decoded (CouchDB, PouchDB and settee revisions).
    Md5([u8; 16]),
    /// Anything else that matches `[^-]+` after the first `-` (upper-case hex included),
    /// kept as given.
    Opaque(Box<str>),
}

/// A revision id: its depth in the tree (`pos`, 1 for a root) and its hash.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RevId {
    pub pos: u64,
    pub hash: RevHash,
}

/// Why a revision string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid revision {text:?}: {why}")]
pub struct ParseError {
    pub text: String,
    pub why: &'static str,
}

/// Longest hash accepted, in bytes: generous for other systems, bounded for our encodings.
pub const MAX_HASH_LEN: usize = 255;

impl RevHash {
    /// Parse the text after `N-`.
    pub fn parse(text: &str) -> Result<RevHash, &'static str> {
        if text.is_empty() {
            return Err("empty hash");
        }
        if text.len() > MAX_HASH_LEN {
            return Err("hash longer than 255 bytes");
        }
        if text.contains('-') {
            return Err("hash contains '-'");
        }
        if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("hash contains whitespace or control characters");
        }
        if text.len() == 32 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            let mut out = [0u8; 16];
            for (i, chunk) in text.as_bytes().chunks(2).enumerate() {
                out[i] = (hex_val(chunk[0]) << 4) | hex_val(chunk[1]);
            }
            return Ok(RevHash::Md5(out));
        }
        Ok(RevHash::Opaque(text.into()))
    }

    /// The hash made from 16 bytes (a settee revision, or a decoded CouchDB md5).
    pub fn from_bytes(bytes: [u8; 16]) -> RevHash {
        RevHash::Md5(bytes)
    }

    /// Write the printed form into `out`.
    fn write_to(&self, out: &mut String) {
        match self {
            RevHash::Md5(bytes) => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                for b in bytes {
                    out.push(HEX[(b >> 4) as usize] as char);
                    out.push(HEX[(b & 15) as usize] as char);
                }
            }
            RevHash::Opaque(s) => out.push_str(s),
        }
    }
}

fn hex_val(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        _ => b - b'a' + 10,
    }
}

impl fmt::Display for RevHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(32);
        self.write_to(&mut s);
        f.write_str(&s)
    }
}

impl fmt::Debug for RevHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Ord for RevHash {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            // Bytewise order of the decoded bytes equals that of the lowercase hex text.
            (RevHash::Md5(a), RevHash::Md5(b)) => a.cmp(b),
            (RevHash::Opaque(a), RevHash::Opaque(b)) => a.as_bytes().cmp(b.as_bytes()),
            _ => self.to_string().as_bytes().cmp(other.to_string().as_bytes()),
        }
    }
}

impl PartialOrd for RevHash {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl RevId {
    pub fn new(pos: u64, hash: RevHash) -> RevId {
        RevId { pos, hash }
    }

    /// Parse `N-hash`, splitting at the first `-`. `N` must be a positive integer
    /// (revision trees start at 1; `0-N` belongs to `_local` documents only).
    pub fn parse(text: &str) -> Result<RevId, ParseError> {
        let err = |why| ParseError { text: text.to_string(), why };
        let (pos, hash) = text.split_once('-').ok_or_else(|| err("expected N-hash"))?;
        if pos.is_empty() || !pos.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("position is not a number"));
        }
        let pos: u64 = pos.parse().map_err(|_| err("position is too large"))?;
        if pos == 0 {
            return Err(err("position must be at least 1"));
        }
        if pos > u32::MAX as u64 {
            return Err(err("position is too large"));
        }
        let hash = RevHash::parse(hash).map_err(err)?;
        Ok(RevId { pos, hash })
    }

    /// The revision settee makes for an edit: `pos` is one more than the parent's, and the
    /// hash is the first 16 bytes of SHA-1 over `settee-rev\0`, the parent revision id as
    /// text (nothing for a new document), `\0`, the deleted flag byte and the 20-byte body
    /// object id. The same edit on two replicas therefore gives the same revision id.
    pub fn for_edit(parent: Option<&RevId>, deleted: bool, body: &ObjectId) -> RevId {
        let mut input = Vec::with_capacity(96);
        input.extend_from_slice(b"settee-rev\0");
        if let Some(p) = parent {
            input.extend_from_slice(p.to_string().as_bytes());
        }
        input.push(0);
        input.push(u8::from(deleted));
        input.extend_from_slice(body.as_bytes());
        let digest = crate::id::sha1(&input);
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest.as_bytes()[..16]);
        RevId { pos: parent.map_or(1, |p| p.pos + 1), hash: RevHash::Md5(bytes) }
    }
}

impl fmt::Display for RevId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.pos, self.hash)
    }
}

impl fmt::Debug for RevId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Revisions order by position, then hash: the order CouchDB uses among leaves of the same
/// deleted state. The winner rule adds "not deleted first" on top (see `revtree`).
impl Ord for RevId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.pos.cmp(&other.pos).then_with(|| self.hash.cmp(&other.hash))
    }
}

impl PartialOrd for RevId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl std::str::FromStr for RevId {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RevId::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_every_hash_spelled_as_given() {
        let lower = RevId::parse("3-0123456789abcdef0123456789abcdef").unwrap();
        assert!(matches!(lower.hash, RevHash::Md5(_)));
        assert_eq!(lower.to_string(), "3-0123456789abcdef0123456789abcdef");
        let upper = RevId::parse("3-0123456789ABCDEF0123456789abcdef").unwrap();
        assert!(matches!(upper.hash, RevHash::Opaque(_)));
        assert_eq!(upper.to_string(), "3-0123456789ABCDEF0123456789abcdef");
        assert_ne!(lower, upper);
        // one total order: the printed forms compared bytewise
        assert_eq!(lower.cmp(&upper), lower.to_string().cmp(&upper.to_string()));
    }

    #[test]
    fn keeps_other_hashes_verbatim() {
        let r = RevId::parse("12-abc").unwrap();
        assert_eq!(r.to_string(), "12-abc");
        let r = RevId::parse("1-0123456789abcdef0123456789abcdef01234567").unwrap();
        assert!(matches!(r.hash, RevHash::Opaque(_)));
    }

    #[test]
    fn refuses_malformed_revisions() {
        for bad in ["", "1", "-a", "a-b", "0-abc", "1-", "1-a-b", "x1-a", "1-a b", "99999999999-a"] {
            assert!(RevId::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn orders_by_pos_then_hash() {
        let a = RevId::parse("2-b").unwrap();
        let b = RevId::parse("10-a").unwrap();
        let c = RevId::parse("2-c").unwrap();
        assert!(a < b && a < c && c < b);
    }

    #[test]
    fn mixed_hash_kinds_compare_as_text() {
        let md5 = RevHash::parse("00000000000000000000000000000000").unwrap();
        let opaque = RevHash::parse("a").unwrap();
        assert!(md5 < opaque);
    }

    #[test]
    fn edits_are_deterministic() {
        let body = crate::id::hash_object(crate::id::Kind::Body, b"{}");
        let a = RevId::for_edit(None, false, &body);
        let b = RevId::for_edit(None, false, &body);
        assert_eq!(a, b);
        assert_eq!(a.pos, 1);
        let c = RevId::for_edit(Some(&a), false, &body);
        assert_eq!(c.pos, 2);
        assert_ne!(c, RevId::for_edit(Some(&a), true, &body));
    }
}
