//! Writing an index: sort, fanout, ids, locations, trailer; then fsync.

use std::path::Path;

use super::*;
use crate::disk::Disk;
use crate::error::Result;
use crate::id::ObjectId;
use crate::pack::{Loc, PackId};

/// Write the index of `pack` holding `entries` (any order, no duplicates) to `path`, fsynced.
/// Entries already in order cost one pass to check.
pub fn write(disk: &dyn Disk, path: &Path, pack: PackId, entries: &mut [(ObjectId, Loc)]) -> Result<()> {
    if !entries.is_sorted_by_key(|e| e.0) {
        entries.sort_unstable_by_key(|e| e.0);
    }
    let bytes = encode(pack, entries);
    crate::fsutil::write_new(disk, path, &bytes)
}

/// The bytes of an index over `sorted` entries: version 2 (6-byte locations) when every
/// `inner` fits in 16 bits, which is always the case for blocks settee writes (an entry
/// starts before `BLOCK_TARGET`); version 1 otherwise.
pub fn encode(pack: PackId, sorted: &[(ObjectId, Loc)]) -> Vec<u8> {
    let short = sorted.iter().all(|(_, loc)| u16::try_from(loc.inner).is_ok());
    let (version, loc_len) = if short { (VERSION, LOC_LEN_SHORT) } else { (VERSION_LONG_LOCS, LOC_LEN_LONG) };
    let mut out = Vec::with_capacity(file_len(sorted.len(), loc_len));
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&pack.0.to_be_bytes());
    out.extend_from_slice(&(sorted.len() as u32).to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    let mut fanout = [0u32; 256];
    for (id, _) in sorted {
        fanout[id.as_bytes()[0] as usize] += 1;
    }
    let mut total = 0u32;
    for count in fanout.iter_mut() {
        total += *count;
        *count = total;
    }
    for count in fanout {
        out.extend_from_slice(&count.to_be_bytes());
    }
    for (id, _) in sorted {
        out.extend_from_slice(id.as_bytes());
    }
    for (_, loc) in sorted {
        out.extend_from_slice(&loc.block.to_be_bytes());
        match u16::try_from(loc.inner) {
            Ok(inner) if short => out.extend_from_slice(&inner.to_be_bytes()),
            _ => out.extend_from_slice(&loc.inner.to_be_bytes()),
        }
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}
