//! Pack indexes: for a sealed pack, its object ids sorted, with a fanout table and locations.
//!
//! Owns: the `.idx` layout, writing one, and binary-searching one (mmap'd, or any bytes in
//! tests). Not: deciding when a pack is sealed (`store`).
//! Invariants:
//! 1. Ids are strictly increasing; `fanout[b]` counts ids whose first byte is `<= b`.
//! 2. An index is written whole, fsynced, and only then named by a manifest; it is never
//!    modified afterwards.
//!
//! Spec: format-spec/index.md (index format 2; format 1 is still read).

mod read;
mod write;

pub use read::Index;
pub use write::write;

/// `SIDX`: the first four bytes of every index file.
pub const MAGIC: [u8; 4] = *b"SIDX";
/// Index format written: version 2 has 6-byte locations (`LOC_LEN_SHORT`) when every
/// `inner` fits in 16 bits; otherwise the writer falls back to version 1 (`LOC_LEN_LONG`).
pub const VERSION: u32 = 2;
/// The version with 8-byte locations, still read (and written when an `inner` needs it).
pub const VERSION_LONG_LOCS: u32 = 1;
pub const MAGIC_OFFSET: usize = 0;
pub const VERSION_OFFSET: usize = MAGIC_OFFSET + 4;
pub const PACK_ID_OFFSET: usize = VERSION_OFFSET + size_of::<u32>();
pub const COUNT_OFFSET: usize = PACK_ID_OFFSET + size_of::<u64>();
pub const RESERVED_OFFSET: usize = COUNT_OFFSET + size_of::<u32>();
pub const FANOUT_OFFSET: usize = RESERVED_OFFSET + size_of::<u32>();
/// Start of the sorted ids.
pub const IDS_OFFSET: usize = FANOUT_OFFSET + 256 * size_of::<u32>();
/// Bytes per object id.
pub const ID_LEN: usize = 20;
/// Bytes per location in version 2: block offset u32, inner offset u16.
pub const LOC_LEN_SHORT: usize = 6;
/// Bytes per location in version 1: block offset u32, inner offset u32.
pub const LOC_LEN_LONG: usize = 8;
/// The trailing CRC-32 over every byte before it.
pub const TRAILER_LEN: usize = 4;

/// The location length of index format `version`, if it is one this build reads.
pub fn loc_len(version: u32) -> Option<usize> {
    match version {
        VERSION => Some(LOC_LEN_SHORT),
        VERSION_LONG_LOCS => Some(LOC_LEN_LONG),
        _ => None,
    }
}

/// Total size of an index holding `count` objects with locations of `loc_len` bytes.
pub fn file_len(count: usize, loc_len: usize) -> usize {
    IDS_OFFSET + count * (ID_LEN + loc_len) + TRAILER_LEN
}
