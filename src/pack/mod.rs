//! Pack files: append-only runs of checksummed, zstd-compressed blocks of objects.
//!
//! Owns: the pack header, block framing, block compression, locating an object inside a
//! block. Not: which packs are live (`manifest`), which objects exist (`index`, `odb`).
//! Invariants:
//! 1. Bytes of a pack before its committed end never change; a sealed pack is only read or
//!    unlinked.
//! 2. Every block is framed with its lengths and a CRC-32 over header and payload, so a torn
//!    or corrupt block is detected before its bytes are trusted.
//! 3. An object is named by the SHA-1 of its kind and bytes; readers verify it.
//!
//! Spec: format-spec/pack.md (pack format 1).

pub mod compressor;
pub mod frame;
pub mod index;
pub mod reader;
pub mod syncer;
mod training;
pub mod writer;

use std::fmt;

/// `SPAK`: the first four bytes of every pack file.
pub const MAGIC: [u8; 4] = *b"SPAK";
/// The pack format version this code writes and the highest it reads.
pub const VERSION: u32 = 1;
pub const MAGIC_OFFSET: usize = 0;
pub const VERSION_OFFSET: usize = MAGIC_OFFSET + 4;
pub const PACK_ID_OFFSET: usize = VERSION_OFFSET + size_of::<u32>();
/// Size of the pack header; the first block starts here.
pub const HEADER_LEN: usize = PACK_ID_OFFSET + size_of::<u64>();

/// Raw bytes gathered before a block is compressed and written. A random read decompresses
/// a whole block, so this trades read speed for size: with a dictionary, 640-byte blocks
/// read a million 125-byte documents about 18% faster than 1 KiB blocks, for about 2 bytes
/// more per document (README, "Performance").
pub const BLOCK_TARGET: usize = 640;
/// The largest object a pack holds (a block holds at least one whole object).
pub const MAX_OBJECT_LEN: usize = 64 << 20;
/// A checkpoint seals the active pack once it has reached this size (so block offsets
/// fit in 32 bits); a smaller active pack gets a prefix index and keeps growing.
pub const MAX_PACK_LEN: u64 = 1 << 30;

/// A pack's number, unique within a store, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackId(pub u64);

impl PackId {
    pub fn file_name(self) -> String {
        format!("pack-{:016x}.pack", self.0)
    }
    pub fn index_name(self) -> String {
        format!("pack-{:016x}.idx", self.0)
    }
    /// The index of a prefix of this (active) pack, written by checkpoint `generation`.
    pub fn partial_index_name(self, generation: u64) -> String {
        format!("pack-{:016x}.part-{generation:016x}.idx", self.0)
    }
}

impl fmt::Display for PackId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pack-{:016x}", self.0)
    }
}

/// Where an object lives inside a pack: the offset of its block's frame and the offset of
/// the object's entry inside the decompressed block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Loc {
    pub block: u32,
    pub inner: u32,
}

/// The pack header for `id`.
pub fn header(id: PackId) -> [u8; HEADER_LEN] {
    let mut out = [0u8; HEADER_LEN];
    out[MAGIC_OFFSET..VERSION_OFFSET].copy_from_slice(&MAGIC);
    out[VERSION_OFFSET..PACK_ID_OFFSET].copy_from_slice(&VERSION.to_be_bytes());
    out[PACK_ID_OFFSET..HEADER_LEN].copy_from_slice(&id.0.to_be_bytes());
    out
}
