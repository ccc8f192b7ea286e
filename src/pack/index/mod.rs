//! Pack indexes: for a sealed pack, its object ids sorted, with a fanout table and locations.
//!
//! Owns: the `.idx` layout, writing one, and binary-searching one (mmap'd, or any bytes in
//! tests). Not: deciding when a pack is sealed (`store`).
//! Invariants:
//! 1. Ids are strictly increasing; `fanout[b]` counts ids whose first byte is `<= b`.
//! 2. An index is written whole, fsynced, and only then named by a manifest; it is never
//!    modified afterwards.
//!
//! Spec: format-spec/index.md (index format 1).

mod read;
mod write;

pub use read::Index;
pub use write::write;

/// `SIDX`: the first four bytes of every index file.
pub const MAGIC: [u8; 4] = *b"SIDX";
pub const VERSION: u32 = 1;
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
/// Bytes per location: block offset u32, inner offset u32.
pub const LOC_LEN: usize = 8;
/// The trailing CRC-32 over every byte before it.
pub const TRAILER_LEN: usize = 4;

/// Total size of an index holding `count` objects.
pub fn file_len(count: usize) -> usize {
    IDS_OFFSET + count * (ID_LEN + LOC_LEN) + TRAILER_LEN
}
