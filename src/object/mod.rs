//! Objects: the immutable, content-addressed things a pack holds.
//!
//! Owns: the `Revision` object and the canonical encodings of bodies and revisions (the bytes
//! whose SHA-1 names the object). Not: where objects live (`pack`, `odb`).
//! Invariants:
//! 1. `encode` is deterministic: equal values give equal bytes, so equal objects share an id.
//! 2. `decode` accepts exactly what `encode` produces and rejects everything else with an
//!    error (no panics, no out-of-bounds reads).
//!
//! Spec: format-spec/objects.md.

#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used))]

pub mod revision;
pub mod varint;

pub use revision::{DecodeError, Revision};

use crate::id::{hash_object, Kind, ObjectId};

/// A body object's canonical bytes: compact JSON of the document's fields without `_id`,
/// `_rev` and the other `_` members, in the order the writer gave them.
pub fn body_bytes(body: &serde_json::Map<String, serde_json::Value>) -> Vec<u8> {
    // Serializing a map of JSON values cannot fail: keys are strings, values are JSON.
    serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec())
}

/// The id of a body with these canonical bytes.
pub fn body_id(bytes: &[u8]) -> ObjectId {
    hash_object(Kind::Body, bytes)
}
