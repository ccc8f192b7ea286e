//! Bundles: a store, or what changed in it since a sequence, as one self-describing file.
//!
//! Owns: the bundle format, writing a bundle from a store (`write.rs`), and reading one
//! back with full verification (`read.rs`). A bundle holds the refs of the documents it
//! carries (each leaf with its inline revision object), a zstd-compressed section of the
//! objects their histories need (bodies and inner revision objects), the raw bytes of the
//! attachment blobs their bodies name, then a SHA-1 of everything before it.
//! Invariants:
//! 1. A reader checks the trailing SHA-1 before it trusts any other byte, then decodes
//!    every section strictly and checks that every object and blob hashes to its id and
//!    every leaf's body is present: a damaged or truncated bundle is refused whole, before
//!    anything is applied to a store.
//! 2. A blob is never held whole in memory, by the writer or the reader: it is copied into
//!    the bundle chunk by chunk from the store's blob reader, hashed from the file in
//!    `STREAM_LEN` pieces at open, and served as a stream over the file (`open_blob`).
//!    The refs and the objects section stay in memory, as small values.
//! 3. A bundle made `--since SEQ` carries the complete current trees of the documents that
//!    changed after SEQ, so it applies to any store. (Fetching replicates leaves with their
//!    histories, as from any peer: the inner bodies it also carries are not transferred.)
//!
//! Spec: format-spec/bundle.md (bundle format 2; format 1 without blobs).

#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used))]

mod read;
mod write;

pub use read::{BlobReader, Bundle};
pub use write::{create, Created};

use crate::id::ObjectId;

/// `SBND`: the first four bytes of every bundle.
pub const MAGIC: [u8; 4] = *b"SBND";
/// The newest version this settee reads and writes: 2 adds the blobs section. A bundle
/// whose documents name no blob is written as version 1, which older settees read.
pub const VERSION: u32 = 2;
/// The version of a bundle without blobs.
pub const VERSION_WITHOUT_BLOBS: u32 = 1;
pub const MAGIC_OFFSET: usize = 0;
pub const VERSION_OFFSET: usize = MAGIC_OFFSET + 4;
pub const SINCE_OFFSET: usize = VERSION_OFFSET + size_of::<u32>();
pub const LAST_SEQ_OFFSET: usize = SINCE_OFFSET + size_of::<u64>();
/// Where the variable part (source id, refs, objects) starts.
pub const BODY_OFFSET: usize = LAST_SEQ_OFFSET + size_of::<u64>();
/// The trailing SHA-1.
pub const TRAILER_LEN: usize = 20;
/// The objects section is refused past this many bytes once decompressed.
pub const MAX_OBJECTS_LEN: u64 = 16 << 30;
/// The bytes read or written at once when streaming a bundle file (its checksum, blobs).
const STREAM_LEN: usize = 1 << 20;
/// What a hash of a collision attack is computed over instead, before the bytes
/// (`crate::id::sha1`).
const COLLISION_MARKER: &[u8] = b"settee-collision\0";

/// Read exactly `buf.len()` bytes at an offset (a bundle file, or bytes in memory).
type ReadAt<'a> = &'a dyn Fn(&mut [u8], u64) -> std::io::Result<()>;

/// The SHA-1 of `COLLISION_MARKER ‖ prefix ‖ bytes [start, end)` read through `read_at`
/// in `STREAM_LEN` pieces; the null id if that input is an attack too. Called after a plain
/// SHA-1 of `prefix ‖ bytes` detected a collision attack, as `crate::id::sha1` does.
fn sha1_marked(prefix: &[u8], read_at: ReadAt<'_>, start: u64, end: u64) -> std::io::Result<ObjectId> {
    let mut h = gix_hash::hasher(gix_hash::Kind::Sha1);
    h.update(COLLISION_MARKER);
    h.update(prefix);
    let mut buf = vec![0u8; STREAM_LEN];
    let mut at = start;
    while at < end {
        let n = usize::try_from(end - at).unwrap_or(STREAM_LEN).min(STREAM_LEN);
        let Some(piece) = buf.get_mut(..n) else { break };
        read_at(piece, at)?;
        h.update(piece);
        at += n as u64;
    }
    Ok(h.try_finalize().unwrap_or_else(|_| ObjectId::null(gix_hash::Kind::Sha1)))
}
