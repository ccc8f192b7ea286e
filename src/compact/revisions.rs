//! Compaction's pass 1 result: every revision object in the packs, by id, kept as its
//! encoded bytes in the buffers the scans filled, and decoded when a document's history
//! asks for it.
//!
//! Owns: those buffers and the id map over them. A million revisions cost a few large
//! buffers and a map of small fixed-size values, instead of a million decoded structs with two heap
//! allocations each (which took longer to build and to free than to use).
//! Invariant: `get` decodes exactly the bytes the pack stored under that id; a revision that
//! fails to decode is reported as corruption naming it.

use crate::error::{Error, Result};
use crate::hash::FastMap;
use crate::id::ObjectId;
use crate::object::revision::Head;
use crate::object::Revision;
use crate::rev::RevHash;

/// Revision objects found by a scan, in the order found.
pub struct Found {
    bytes: Vec<u8>,
    spans: Vec<(ObjectId, u64, u32)>,
}

impl Found {
    /// An empty list expecting about `bytes` of encoded revisions.
    pub fn with_capacity(bytes: usize) -> Found {
        Found { bytes: Vec::with_capacity(bytes), spans: Vec::with_capacity(bytes / 64) }
    }

    pub fn push(&mut self, id: ObjectId, encoded: &[u8]) {
        self.spans.push((id, self.bytes.len() as u64, encoded.len() as u32));
        self.bytes.extend_from_slice(encoded);
    }
}

pub struct Revisions {
    /// What each scan found, kept as it was filled (gathering them would copy it all).
    parts: Vec<Vec<u8>>,
    /// Where each revision's encoding lies: part, offset and length.
    spans: FastMap<ObjectId, (u32, u64, u32)>,
    /// Reported in errors.
    origin: std::path::PathBuf,
}

impl Revisions {
    /// Gather what scans found; `expected` sizes the map up front.
    pub fn gather(parts: Vec<Found>, expected: usize, origin: std::path::PathBuf) -> Revisions {
        let mut spans = FastMap::with_capacity_and_hasher(expected, Default::default());
        let mut kept = Vec::with_capacity(parts.len());
        for (number, part) in parts.into_iter().enumerate() {
            let number = number as u32;
            spans.extend(part.spans.into_iter().map(|(id, at, len)| (id, (number, at, len))));
            kept.push(part.bytes);
        }
        Revisions { parts: kept, spans, origin }
    }

    /// The revision stored under `id`, decoded, or `None` if no pack holds it.
    pub fn get(&self, id: &ObjectId) -> Result<Option<Revision>> {
        let Some(encoded) = self.encoded(id)? else { return Ok(None) };
        Revision::decode(encoded).map(Some).map_err(|e| self.malformed(id, e))
    }

    /// The revision stored under `id` without allocating: its head, and its ancestry
    /// written into `ancestry`.
    pub fn head(&self, id: &ObjectId, ancestry: &mut Vec<RevHash>) -> Result<Option<Head<'_>>> {
        let Some(encoded) = self.encoded(id)? else { return Ok(None) };
        Revision::decode_head(encoded, ancestry).map(Some).map_err(|e| self.malformed(id, e))
    }

    fn encoded(&self, id: &ObjectId) -> Result<Option<&[u8]>> {
        let Some(&(part, at, len)) = self.spans.get(id) else { return Ok(None) };
        usize::try_from(at)
            .ok()
            .and_then(|at| self.parts.get(part as usize)?.get(at..at + len as usize))
            .map(Some)
            .ok_or_else(|| Error::corrupt(&self.origin, 0, format!("revision {id}: span out of range")))
    }

    fn malformed(&self, id: &ObjectId, e: impl std::fmt::Display) -> Error {
        Error::corrupt(&self.origin, 0, format!("revision {id}: {e}"))
    }
}
