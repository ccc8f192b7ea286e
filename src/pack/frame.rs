//! Block frames: `compressed_len u32 | raw_len u32 | crc32 u32 | zstd bytes`.
//!
//! Owns: encoding a block, decoding and verifying one, and walking the entries of a raw
//! block. Everything read here comes from disk and is untrusted.
//! Invariants:
//! 1. `decode` returns the raw bytes only if the CRC matches and the decompressed length is
//!    exactly `raw_len`.
//! 2. No slice is indexed without a bounds check.
//!
//! Spec: format-spec/pack.md, "Blocks".

#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used))]

use crate::id::Kind;
use crate::object::varint;

pub const COMPRESSED_LEN_OFFSET: usize = 0;
pub const RAW_LEN_OFFSET: usize = COMPRESSED_LEN_OFFSET + size_of::<u32>();
pub const CRC_OFFSET: usize = RAW_LEN_OFFSET + size_of::<u32>();
/// Size of a frame header.
pub const HEADER_LEN: usize = CRC_OFFSET + size_of::<u32>();
/// Upper bound on a block's raw size (one object may fill a block alone).
pub const MAX_RAW_LEN: u32 = 256 << 20;
/// zstd level for blocks.
pub const LEVEL: i32 = 3;

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame header runs past the end of the file")]
    TruncatedHeader,
    #[error("frame payload runs past the end of the file")]
    TruncatedPayload,
    #[error("frame lengths out of range")]
    BadLength,
    #[error("frame checksum mismatch")]
    Checksum,
    #[error("block does not decompress")]
    Decompress,
}

/// The parsed header of a frame.
#[derive(Clone, Copy, Debug)]
pub struct Header {
    pub compressed_len: u32,
    pub raw_len: u32,
    pub crc: u32,
}

impl Header {
    pub fn parse(bytes: &[u8]) -> Result<Header, FrameError> {
        let get = |at: usize| -> Result<u32, FrameError> {
            let b = bytes.get(at..at + 4).ok_or(FrameError::TruncatedHeader)?;
            let mut a = [0u8; 4];
            a.copy_from_slice(b);
            Ok(u32::from_be_bytes(a))
        };
        let h = Header {
            compressed_len: get(COMPRESSED_LEN_OFFSET)?,
            raw_len: get(RAW_LEN_OFFSET)?,
            crc: get(CRC_OFFSET)?,
        };
        if h.raw_len > MAX_RAW_LEN || h.compressed_len == 0 || h.compressed_len > MAX_RAW_LEN + (1 << 16) {
            return Err(FrameError::BadLength);
        }
        Ok(h)
    }

    /// Total length of the frame, header included.
    pub fn frame_len(&self) -> u64 {
        HEADER_LEN as u64 + u64::from(self.compressed_len)
    }
}

fn crc_of(lens: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(lens);
    h.update(payload);
    h.finalize()
}

/// Compress `raw` into a complete frame appended to `out`.
pub fn encode(
    compressor: &mut zstd::bulk::Compressor<'_>,
    raw: &[u8],
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    let payload = compressor.compress(raw)?;
    let mut lens = [0u8; 8];
    lens[..4].copy_from_slice(&(payload.len() as u32).to_be_bytes());
    lens[4..].copy_from_slice(&(raw.len() as u32).to_be_bytes());
    let crc = crc_of(&lens, &payload);
    out.extend_from_slice(&lens);
    out.extend_from_slice(&crc.to_be_bytes());
    out.extend_from_slice(&payload);
    Ok(())
}

/// Verify the frame at the start of `bytes` (which may extend past it) and return its header.
pub fn check(bytes: &[u8]) -> Result<Header, FrameError> {
    let header = Header::parse(bytes)?;
    let end = HEADER_LEN + header.compressed_len as usize;
    let payload = bytes.get(HEADER_LEN..end).ok_or(FrameError::TruncatedPayload)?;
    let lens = bytes.get(..CRC_OFFSET).ok_or(FrameError::TruncatedHeader)?;
    if crc_of(lens, payload) != header.crc {
        return Err(FrameError::Checksum);
    }
    Ok(header)
}

/// Verify and decompress the frame at the start of `bytes`.
pub fn decode(decompressor: &mut zstd::bulk::Decompressor<'_>, bytes: &[u8]) -> Result<Vec<u8>, FrameError> {
    let header = check(bytes)?;
    let payload = bytes
        .get(HEADER_LEN..HEADER_LEN + header.compressed_len as usize)
        .ok_or(FrameError::TruncatedPayload)?;
    let raw =
        decompressor.decompress(payload, header.raw_len as usize).map_err(|_| FrameError::Decompress)?;
    if raw.len() != header.raw_len as usize {
        return Err(FrameError::Decompress);
    }
    Ok(raw)
}

/// Append an object entry (`kind u8 | varint len | bytes`) to a raw block.
pub fn push_entry(block: &mut Vec<u8>, kind: Kind, bytes: &[u8]) {
    block.push(kind.code());
    varint::write(block, bytes.len() as u64);
    block.extend_from_slice(bytes);
}

/// The entry starting at `offset` in a raw block, and the offset of the next one.
pub fn entry_at(block: &[u8], offset: usize) -> Option<(Kind, &[u8], usize)> {
    let mut rest = block.get(offset..)?;
    let start_len = rest.len();
    let kind = Kind::from_code(*rest.first()?)?;
    rest = rest.get(1..)?;
    let len = varint::read(&mut rest)? as usize;
    let bytes = varint::take(&mut rest, len)?;
    let next = offset + (start_len - rest.len());
    Some((kind, bytes, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(raw: &[u8]) -> Vec<u8> {
        let mut c = zstd::bulk::Compressor::new(LEVEL).unwrap();
        let mut out = Vec::new();
        encode(&mut c, raw, &mut out).unwrap();
        out
    }

    #[test]
    fn round_trips_and_detects_every_flipped_byte() {
        let mut raw = Vec::new();
        push_entry(&mut raw, Kind::Body, br#"{"a":1}"#);
        push_entry(&mut raw, Kind::Revision, b"xyz");
        let f = frame(&raw);
        let mut d = zstd::bulk::Decompressor::new().unwrap();
        assert_eq!(decode(&mut d, &f).unwrap(), raw);
        let (k, b, next) = entry_at(&raw, 0).unwrap();
        assert_eq!((k, b), (Kind::Body, &br#"{"a":1}"#[..]));
        let (k, b, end) = entry_at(&raw, next).unwrap();
        assert_eq!((k, b, end), (Kind::Revision, &b"xyz"[..], raw.len()));
        for i in 0..f.len() {
            let mut bad = f.clone();
            bad[i] ^= 0x40;
            assert!(decode(&mut d, &bad).is_err(), "flip at {i} not detected");
        }
        for len in 0..f.len() {
            assert!(decode(&mut d, &f[..len]).is_err(), "truncation to {len} not detected");
        }
    }
}
