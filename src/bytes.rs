//! Bounds-checked big-endian reads from untrusted bytes.

#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

/// The big-endian u32 at `at`, if `bytes` holds it.
pub fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

/// The big-endian u64 at `at`, if `bytes` holds it.
pub fn be64(bytes: &[u8], at: usize) -> Option<u64> {
    let b: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_be_bytes(b))
}
