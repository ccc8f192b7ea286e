//! Body hints of the refs table: where the body a record shows (the winner's, or a `_local`
//! document's) was stored when the table was written, so that a read goes from the ref
//! straight to the pack block instead of searching a pack index first.
//!
//! Owns: the hint encoding that follows each entry in a refs table of version 2. A hint is
//! `(pack, block, inner)`, and its block is stored as the difference from the block of the
//! previous hint in the same group (`Base`), so that bodies written in id order cost about
//! two bytes each.
//!
//! Invariants:
//! 1. A hint is only a guess: a reader that finds no live pack, no readable block or an
//!    object of another id at the hinted place falls back to the pack indexes. A wrong hint
//!    costs time, never data.
//! 2. `Base` starts afresh at each group's first record, so a group decodes on its own.
//!
//! Spec: format-spec/refs.md, "Body hint".

#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used))]

use crate::object::varint;
use crate::odb::Found;
use crate::pack::{Loc, PackId};

/// The hint decoded last in the current group: what the next one is relative to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Base {
    pack: Option<PackId>,
    block: u32,
}

/// Append `hint` (or "no hint") after an entry, relative to `base`, and move `base` on.
pub fn write(out: &mut Vec<u8>, hint: Option<Found>, base: &mut Base) {
    let Some(found) = hint else {
        out.push(0);
        return;
    };
    let delta = i64::from(found.loc.block) - i64::from(base.block);
    let zigzag = ((delta << 1) ^ (delta >> 63)) as u64;
    let pack_follows = base.pack != Some(found.pack);
    varint::write(out, 1 + ((zigzag << 1) | u64::from(pack_follows)));
    if pack_follows {
        varint::write(out, found.pack.0);
    }
    varint::write(out, u64::from(found.loc.inner));
    *base = Base { pack: Some(found.pack), block: found.loc.block };
}

/// Read a hint from the front of `input`: `Some(None)` for "no hint", `None` if it is
/// malformed (truncated, a block or inner offset outside `u32`, or no pack to inherit).
pub fn read(input: &mut &[u8], base: &mut Base) -> Option<Option<Found>> {
    let code = varint::read(input)?;
    let Some(value) = code.checked_sub(1) else { return Some(None) };
    let zigzag = value >> 1;
    let delta = ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64);
    let pack = match value & 1 {
        1 => PackId(varint::read(input)?),
        _ => base.pack?,
    };
    let block = u32::try_from(i64::from(base.block).checked_add(delta)?).ok()?;
    let inner = u32::try_from(varint::read(input)?).ok()?;
    *base = Base { pack: Some(pack), block };
    Some(Some(Found { pack, loc: Loc { block, inner } }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(pack: u64, block: u32, inner: u32) -> Option<Found> {
        Some(Found { pack: PackId(pack), loc: Loc { block, inner } })
    }

    /// A run of hints with every kind of step (none, same block, forward, backward, another
    /// pack, the extremes of u32) reads back exactly, and hints in one block cost 2 bytes.
    #[test]
    fn hints_read_back_in_sequence() {
        let hints = [
            at(1, 16, 0),
            at(1, 16, 130),
            None,
            at(1, 700, 5),
            at(1, 300, 639),
            at(7, 300, 1),
            at(1, u32::MAX, u32::MAX),
            at(1, 0, 0),
            at(u64::MAX, 16, 70_000),
        ];
        let mut out = Vec::new();
        let mut base = Base::default();
        for h in hints {
            write(&mut out, h, &mut base);
        }
        let mut input = &out[..];
        let mut base = Base::default();
        for h in hints {
            assert_eq!(read(&mut input, &mut base), Some(h));
        }
        assert!(input.is_empty());

        let mut same_block = Vec::new();
        let mut base = Base { pack: Some(PackId(1)), block: 16 };
        write(&mut same_block, at(1, 16, 100), &mut base);
        assert_eq!(same_block, [1, 100]);
    }

    /// Malformed hints are refused: truncated, a block before 0 or past u32, an inner past
    /// u32, or the first hint of a group without its pack.
    #[test]
    fn malformed_hints_are_refused() {
        let read_fresh = |bytes: &[u8]| read(&mut &bytes[..], &mut Base::default());
        assert_eq!(read_fresh(&[]), None);
        assert_eq!(read_fresh(&[0]), Some(None));
        // No pack to inherit at the start of a group.
        assert_eq!(read_fresh(&[1, 0]), None);
        // Pack follows but is missing; then the inner offset is missing.
        assert_eq!(read_fresh(&[2]), None);
        assert_eq!(read_fresh(&[2, 1]), None);
        assert_eq!(read_fresh(&[2, 1, 0]), Some(at(1, 0, 0)));
        // Delta −1 from block 0.
        assert_eq!(read_fresh(&[4, 1, 0]), None);
        let mut past = Vec::new();
        varint::write(&mut past, 1 + (((u64::from(u32::MAX) + 1) << 2) | 1));
        past.extend_from_slice(&[1, 0]);
        assert_eq!(read_fresh(&past), None);
        let mut inner = vec![2, 1];
        varint::write(&mut inner, u64::from(u32::MAX) + 1);
        assert_eq!(read_fresh(&inner), None);
    }
}
