//! Block frames: `compressed_len u32 | raw_len u32 | dictionary u32 | crc32 u32 | zstd bytes`.
//!
//! Owns: encoding a block, checking one, and walking the entries of a raw block. Everything
//! read here comes from disk and is untrusted. Decompression (with the pack's dictionary, if
//! the frame names one) is the reader's job.
//! Invariants:
//! 1. `check` returns a frame's header and payload only if the CRC (over the first 12 header
//!    bytes and the payload) matches; callers then require exactly `raw_len` bytes out.
//! 2. No slice is indexed without a bounds check.
//!
//! Spec: format-spec/pack.md, "Blocks".

#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used))]

use crate::id::Kind;
use crate::object::varint;

pub const COMPRESSED_LEN_OFFSET: usize = 0;
pub const RAW_LEN_OFFSET: usize = COMPRESSED_LEN_OFFSET + size_of::<u32>();
/// Offset of the block holding this block's dictionary, 0 for none.
pub const DICTIONARY_OFFSET: usize = RAW_LEN_OFFSET + size_of::<u32>();
pub const CRC_OFFSET: usize = DICTIONARY_OFFSET + size_of::<u32>();
/// Size of a frame header.
pub const HEADER_LEN: usize = CRC_OFFSET + size_of::<u32>();
/// Upper bound on a block's raw size (one object may fill a block alone).
pub const MAX_RAW_LEN: u32 = 256 << 20;
/// zstd level for blocks.
pub const LEVEL: i32 = 3;

/// A block compressor at `LEVEL`, with `dictionary` if given. Its frames leave out what the
/// frame header already holds: the content size (`raw_len`) and the dictionary's id (the
/// `dictionary` offset names it). They carry no zstd checksum either (the CRC covers them).
pub fn compressor(dictionary: Option<&[u8]>) -> std::io::Result<zstd::bulk::Compressor<'static>> {
    use zstd::zstd_safe::CParameter;
    let mut c = match dictionary {
        Some(d) => zstd::bulk::Compressor::with_dictionary(LEVEL, d)?,
        None => zstd::bulk::Compressor::new(LEVEL)?,
    };
    c.set_parameter(CParameter::ContentSizeFlag(false))?;
    c.set_parameter(CParameter::DictIdFlag(false))?;
    c.set_parameter(CParameter::ChecksumFlag(false))?;
    Ok(c)
}

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
    #[error("block names a dictionary that is not a dictionary block before it")]
    BadDictionary,
}

/// The parsed header of a frame.
#[derive(Clone, Copy, Debug)]
pub struct Header {
    pub compressed_len: u32,
    pub raw_len: u32,
    /// Offset of the block holding the dictionary this one is compressed with (0: none).
    pub dictionary: u32,
    pub crc: u32,
}

impl Header {
    pub fn parse(bytes: &[u8]) -> Result<Header, FrameError> {
        let get = |at: usize| crate::bytes::be32(bytes, at).ok_or(FrameError::TruncatedHeader);
        let h = Header {
            compressed_len: get(COMPRESSED_LEN_OFFSET)?,
            raw_len: get(RAW_LEN_OFFSET)?,
            dictionary: get(DICTIONARY_OFFSET)?,
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

fn crc_of(head: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(head);
    h.update(payload);
    h.finalize()
}

/// Compress `raw` into a complete frame appended to `out`; `dictionary` is the offset of the
/// dictionary block the compressor was loaded with (0 for none).
pub fn encode(
    compressor: &mut zstd::bulk::Compressor<'_>,
    raw: &[u8],
    dictionary: u32,
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    let payload = compressor.compress(raw)?;
    let mut head = [0u8; CRC_OFFSET];
    head[..4].copy_from_slice(&(payload.len() as u32).to_be_bytes());
    head[4..8].copy_from_slice(&(raw.len() as u32).to_be_bytes());
    head[8..12].copy_from_slice(&dictionary.to_be_bytes());
    let crc = crc_of(&head, &payload);
    out.extend_from_slice(&head);
    out.extend_from_slice(&crc.to_be_bytes());
    out.extend_from_slice(&payload);
    Ok(())
}

/// Verify the frame at the start of `bytes` (which may extend past it); return its header
/// and compressed payload.
pub fn check(bytes: &[u8]) -> Result<(Header, &[u8]), FrameError> {
    let header = Header::parse(bytes)?;
    let end = HEADER_LEN + header.compressed_len as usize;
    let payload = bytes.get(HEADER_LEN..end).ok_or(FrameError::TruncatedPayload)?;
    let head = bytes.get(..CRC_OFFSET).ok_or(FrameError::TruncatedHeader)?;
    if crc_of(head, payload) != header.crc {
        return Err(FrameError::Checksum);
    }
    Ok((header, payload))
}

/// True if `bytes` are whole frames that touch one another and each pass their checksum
/// (what a commit wrote, if all of it reached the disk).
pub fn all_intact(mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        let Ok((header, _)) = check(bytes) else { return false };
        let Some(rest) = usize::try_from(header.frame_len()).ok().and_then(|len| bytes.get(len..)) else {
            return false;
        };
        bytes = rest;
    }
    true
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
        let mut c = compressor(None).unwrap();
        let mut out = Vec::new();
        encode(&mut c, raw, 0, &mut out).unwrap();
        out
    }

    fn decode(d: &mut zstd::bulk::Decompressor<'_>, bytes: &[u8]) -> Result<Vec<u8>, FrameError> {
        let (h, payload) = check(bytes)?;
        let raw = d.decompress(payload, h.raw_len as usize).map_err(|_| FrameError::Decompress)?;
        if raw.len() != h.raw_len as usize {
            return Err(FrameError::Decompress);
        }
        Ok(raw)
    }

    /// Block frames leave out the content size and the dictionary id (the frame header has
    /// both) and still decompress, with the dictionary, to the block.
    #[test]
    fn frames_leave_out_what_the_header_holds() {
        let samples: Vec<Vec<u8>> = (0..2000)
            .map(|i| format!("{{\"name\":\"package-{i}\",\"version\":\"1.{}.0\"}}", i % 13).into_bytes())
            .collect();
        let dictionary = zstd::dict::from_samples(&samples, 4096).unwrap();
        assert!(zstd::zstd_safe::get_dict_id(&dictionary).is_some(), "a trained dictionary has an id");
        let raw: Vec<u8> = samples.iter().take(12).flatten().copied().collect();
        let lean = compressor(Some(&dictionary)).unwrap().compress(&raw).unwrap();
        let full =
            zstd::bulk::Compressor::with_dictionary(LEVEL, &dictionary).unwrap().compress(&raw).unwrap();
        assert!(matches!(zstd::zstd_safe::get_frame_content_size(&lean), Ok(None)));
        assert_eq!(zstd::zstd_safe::get_dict_id_from_frame(&lean), None);
        assert!(lean.len() + 4 <= full.len(), "{} vs {} bytes", lean.len(), full.len());
        let back =
            zstd::bulk::Decompressor::with_dictionary(&dictionary).unwrap().decompress(&lean, raw.len());
        assert_eq!(back.unwrap(), raw);
    }

    /// A run of frames is intact only whole: cut anywhere, zeroed from anywhere, or with a
    /// byte flipped, it is not.
    #[test]
    fn a_run_of_frames_is_intact_only_whole() {
        let run: Vec<u8> = (0..3u8).flat_map(|i| frame(&[i; 200])).collect();
        let one = frame(&[0; 200]).len();
        assert_eq!(run.len(), 3 * one);
        assert!(all_intact(&run) && all_intact(&[]));
        for at in 0..run.len() {
            assert_eq!(all_intact(&run[..at]), at % one == 0, "cut at {at}: whole frames only");
            let mut zeroed = run.clone();
            zeroed[at..].fill(0);
            assert!(!all_intact(&zeroed), "zeroed from {at}");
            let mut flipped = run.clone();
            flipped[at] ^= 1;
            assert!(!all_intact(&flipped), "flip at {at}");
        }
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
