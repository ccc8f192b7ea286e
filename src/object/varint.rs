//! LEB128 unsigned varints, as used inside objects and records.
//!
//! Invariant: `read` never reads past the slice and refuses encodings longer than 10 bytes.

#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used))]

/// Append `value` as an unsigned LEB128 varint.
pub fn write(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Read a varint from the front of `input`, advancing it. Inlined for the one-byte case,
/// which is most of them (lengths, counts and flags in refs and records).
#[inline]
pub fn read(input: &mut &[u8]) -> Option<u64> {
    match input.split_first() {
        Some((&byte, rest)) if byte < 0x80 => {
            *input = rest;
            Some(u64::from(byte))
        }
        _ => read_long(input),
    }
}

/// [`read`] of an encoding longer than one byte (or of nothing).
#[inline(never)]
fn read_long(input: &mut &[u8]) -> Option<u64> {
    let mut value: u64 = 0;
    for shift in 0..10u32 {
        let (&byte, rest) = input.split_first()?;
        *input = rest;
        let bits = u64::from(byte & 0x7f);
        if shift == 9 && byte > 1 {
            return None;
        }
        value |= bits << (7 * shift);
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Take `n` bytes from the front of `input`.
pub fn take<'a>(input: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if input.len() < n {
        return None;
    }
    let (head, rest) = input.split_at(n);
    *input = rest;
    Some(head)
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut buf = Vec::new();
            super::write(&mut buf, v);
            let mut s = buf.as_slice();
            assert_eq!(super::read(&mut s), Some(v));
            assert!(s.is_empty());
        }
        let mut bad: &[u8] = &[0x80, 0x80];
        assert_eq!(super::read(&mut bad), None);
    }
}
