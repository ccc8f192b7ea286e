//! The bytes of a blob file: a 48-byte header, then the chunks.
//!
//! Owns: encoding and strictly decoding the header and chunk frames.
//! Invariants:
//! 1. Every chunk holds `CHUNK_LEN` raw bytes except the last, which holds the rest (1 to
//!    `CHUNK_LEN`); an empty blob has no chunk. The chunk count follows from the length.
//! 2. A chunk's CRC-32 covers its first 8 header bytes and its stored bytes.
//!
//! Spec: format-spec/blobs.md.
#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

/// The first bytes of every blob file.
pub const MAGIC: &[u8; 4] = b"SBLB";
/// The blob file version this settee writes and reads.
pub const VERSION: u32 = 1;
/// Raw bytes per chunk (the last chunk may be shorter).
pub const CHUNK_LEN: u32 = 1 << 20;

pub const MAGIC_OFFSET: usize = 0;
pub const VERSION_OFFSET: usize = MAGIC_OFFSET + 4;
pub const LENGTH_OFFSET: usize = VERSION_OFFSET + size_of::<u32>();
pub const CHUNK_LEN_OFFSET: usize = LENGTH_OFFSET + size_of::<u64>();
pub const FLAGS_OFFSET: usize = CHUNK_LEN_OFFSET + size_of::<u32>();
pub const MD5_OFFSET: usize = FLAGS_OFFSET + size_of::<u32>();
pub const HEADER_CRC_OFFSET: usize = MD5_OFFSET + 16;
pub const RESERVED_OFFSET: usize = HEADER_CRC_OFFSET + size_of::<u32>();
pub const HEADER_LEN: usize = RESERVED_OFFSET + size_of::<u32>();

/// Chunk frame: codec, 3 reserved bytes, stored length, CRC-32.
pub const CODEC_OFFSET: usize = 0;
pub const STORED_LEN_OFFSET: usize = CODEC_OFFSET + 4;
pub const CHUNK_CRC_OFFSET: usize = STORED_LEN_OFFSET + size_of::<u32>();
pub const CHUNK_HEADER_LEN: usize = CHUNK_CRC_OFFSET + size_of::<u32>();

/// How a chunk's bytes are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    Raw = 0,
    Zstd = 1,
}

/// A blob file's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub len: u64,
    pub md5: [u8; 16],
}

fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(slot) = buf.get_mut(at..at + bytes.len()) {
        slot.copy_from_slice(bytes);
    }
}

fn get<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = buf.get(at..at + N) {
        out.copy_from_slice(src);
    }
    out
}

impl Header {
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        put(&mut b, MAGIC_OFFSET, MAGIC);
        put(&mut b, VERSION_OFFSET, &VERSION.to_be_bytes());
        put(&mut b, LENGTH_OFFSET, &self.len.to_be_bytes());
        put(&mut b, CHUNK_LEN_OFFSET, &CHUNK_LEN.to_be_bytes());
        put(&mut b, MD5_OFFSET, &self.md5);
        let crc = crc32fast::hash(b.get(..HEADER_CRC_OFFSET).unwrap_or_default());
        put(&mut b, HEADER_CRC_OFFSET, &crc.to_be_bytes());
        b
    }

    /// Decode a header; `Err` names what is wrong (`Ok(Err(v))`: an unknown version `v`).
    pub fn decode(b: &[u8; HEADER_LEN]) -> Result<Result<Header, u32>, &'static str> {
        if get::<4>(b, MAGIC_OFFSET) != *MAGIC {
            return Err("bad blob magic");
        }
        let crc = u32::from_be_bytes(get(b, HEADER_CRC_OFFSET));
        if crc != crc32fast::hash(b.get(..HEADER_CRC_OFFSET).unwrap_or_default()) {
            return Err("blob header checksum mismatch");
        }
        let version = u32::from_be_bytes(get(b, VERSION_OFFSET));
        if version != VERSION {
            return Ok(Err(version));
        }
        if u32::from_be_bytes(get(b, CHUNK_LEN_OFFSET)) != CHUNK_LEN {
            return Err("unsupported blob chunk length");
        }
        if get::<4>(b, FLAGS_OFFSET) != [0; 4] || get::<4>(b, RESERVED_OFFSET) != [0; 4] {
            return Err("reserved blob header bytes are not zero");
        }
        Ok(Ok(Header { len: u64::from_be_bytes(get(b, LENGTH_OFFSET)), md5: get(b, MD5_OFFSET) }))
    }
}

/// The raw length of chunk `index` of a blob of `len` bytes (`None` past the last).
pub fn chunk_raw_len(len: u64, index: u64) -> Option<u32> {
    let start = index.checked_mul(u64::from(CHUNK_LEN))?;
    if start >= len {
        return None;
    }
    Some(u32::try_from((len - start).min(u64::from(CHUNK_LEN))).unwrap_or(CHUNK_LEN))
}

/// The frame header of a chunk whose stored bytes are `stored`.
pub fn chunk_header(codec: Codec, stored: &[u8]) -> [u8; CHUNK_HEADER_LEN] {
    let mut b = [0u8; CHUNK_HEADER_LEN];
    put(&mut b, CODEC_OFFSET, &[codec as u8]);
    put(&mut b, STORED_LEN_OFFSET, &(stored.len() as u32).to_be_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(b.get(..CHUNK_CRC_OFFSET).unwrap_or_default());
    crc.update(stored);
    put(&mut b, CHUNK_CRC_OFFSET, &crc.finalize().to_be_bytes());
    b
}

/// A decoded chunk frame header: codec, stored length and the CRC to check.
pub struct ChunkHeader {
    pub codec: Codec,
    pub stored_len: u32,
    crc: u32,
    first: [u8; CHUNK_CRC_OFFSET],
}

impl ChunkHeader {
    pub fn decode(b: &[u8; CHUNK_HEADER_LEN]) -> Result<ChunkHeader, &'static str> {
        let codec = match b.first() {
            Some(0) => Codec::Raw,
            Some(1) => Codec::Zstd,
            _ => return Err("unknown blob chunk codec"),
        };
        if get::<3>(b, CODEC_OFFSET + 1) != [0; 3] {
            return Err("reserved blob chunk bytes are not zero");
        }
        let stored_len = u32::from_be_bytes(get(b, STORED_LEN_OFFSET));
        // A stored chunk is never longer than its raw bytes plus zstd's worst case.
        if stored_len > CHUNK_LEN + CHUNK_LEN / 64 + 1024 {
            return Err("blob chunk length out of range");
        }
        Ok(ChunkHeader {
            codec,
            stored_len,
            crc: u32::from_be_bytes(get(b, CHUNK_CRC_OFFSET)),
            first: get(b, 0),
        })
    }

    /// Whether `stored` are the bytes this header's CRC was computed over.
    pub fn checks(&self, stored: &[u8]) -> bool {
        let mut crc = crc32fast::Hasher::new();
        crc.update(&self.first);
        crc.update(stored);
        crc.finalize() == self.crc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_match_the_spec_table() {
        assert_eq!(
            (VERSION_OFFSET, LENGTH_OFFSET, CHUNK_LEN_OFFSET, FLAGS_OFFSET, MD5_OFFSET),
            (4, 8, 16, 20, 24)
        );
        assert_eq!((HEADER_CRC_OFFSET, RESERVED_OFFSET, HEADER_LEN), (40, 44, 48));
        assert_eq!((STORED_LEN_OFFSET, CHUNK_CRC_OFFSET, CHUNK_HEADER_LEN), (4, 8, 12));
    }

    #[test]
    fn header_round_trips_and_refuses_damage() {
        let h = Header { len: 3 << 20, md5: [7; 16] };
        let mut b = h.encode();
        assert_eq!(Header::decode(&b), Ok(Ok(h)));
        b[9] ^= 1;
        assert!(Header::decode(&b).is_err());
    }

    #[test]
    fn chunk_lengths() {
        let c = u64::from(CHUNK_LEN);
        assert_eq!(chunk_raw_len(0, 0), None);
        assert_eq!(chunk_raw_len(5, 0), Some(5));
        assert_eq!(chunk_raw_len(c, 0), Some(CHUNK_LEN));
        assert_eq!(chunk_raw_len(c, 1), None);
        assert_eq!(chunk_raw_len(c + 1, 1), Some(1));
    }
}
