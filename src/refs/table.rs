//! The refs table and the changes table: immutable, sorted files written at each checkpoint
//! and mmap'd by readers.
//!
//! Refs table: header, entries (`id`, `Entry`) sorted by id, an array of u64 entry offsets,
//! a CRC-32 trailer. Changes table: header, (seq u64, refs-entry offset u64) pairs sorted by
//! seq, a CRC-32 trailer: one row per replicated document, at its latest sequence.
//!
//! Invariant: both files are written whole and fsynced before the manifest names them, and
//! never change afterwards. Reads check every offset against the file before using it.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{read_id, write_id, Entry};
use crate::error::{Error, Result};
use crate::id::Seq;

pub const REFS_MAGIC: [u8; 4] = *b"SREF";
pub const CHANGES_MAGIC: [u8; 4] = *b"SCHG";
pub const VERSION: u32 = 1;
pub const MAGIC_OFFSET: usize = 0;
pub const VERSION_OFFSET: usize = MAGIC_OFFSET + 4;
pub const COUNT_OFFSET: usize = VERSION_OFFSET + size_of::<u32>();
/// Refs table: where the offsets array starts. Changes table: reserved, zero.
pub const ARRAY_OFFSET: usize = COUNT_OFFSET + size_of::<u64>();
pub const HEADER_LEN: usize = ARRAY_OFFSET + size_of::<u64>();
pub const TRAILER_LEN: usize = 4;
pub const CHANGE_ROW_LEN: usize = 16;

use crate::bytes::{be32, be64};

/// An empty byte source, for stores that have no table yet.
enum Bytes {
    Map(memmap2::Mmap),
    Empty,
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        match self {
            Bytes::Map(m) => m,
            Bytes::Empty => &[],
        }
    }
}

fn map_file(path: &Path) -> Result<Bytes> {
    let file = std::fs::File::open(path).map_err(Error::io(path))?;
    if file.metadata().map_err(Error::io(path))?.len() == 0 {
        return Ok(Bytes::Empty);
    }
    // SAFETY: tables are written whole, fsynced and named by a manifest only afterwards; no
    // settee process modifies a table in place, later checkpoints write new files and unlink
    // old ones, which keeps existing mappings valid.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(Error::io(path))?;
    Ok(Bytes::Map(map))
}

/// A sorted refs table.
pub struct RefsTable {
    bytes: Bytes,
    path: PathBuf,
    count: usize,
    offsets_at: usize,
}

impl RefsTable {
    pub fn empty() -> RefsTable {
        RefsTable { bytes: Bytes::Empty, path: PathBuf::new(), count: 0, offsets_at: 0 }
    }

    pub fn open(path: &Path) -> Result<RefsTable> {
        let bytes = map_file(path)?;
        let b = bytes.as_ref();
        let corrupt = |at: usize, what: &str| Error::corrupt(path, at as u64, what);
        if b.get(..4) != Some(&REFS_MAGIC[..]) {
            return Err(corrupt(0, "not a refs table (bad magic)"));
        }
        let version = be32(b, VERSION_OFFSET);
        if version != Some(VERSION) {
            return Err(Error::UnsupportedVersion {
                path: path.into(),
                what: "refs table",
                found: version.unwrap_or(0),
                max: VERSION,
            });
        }
        let count = be64(b, COUNT_OFFSET).ok_or_else(|| corrupt(COUNT_OFFSET, "truncated header"))? as usize;
        let offsets_at =
            be64(b, ARRAY_OFFSET).ok_or_else(|| corrupt(ARRAY_OFFSET, "truncated header"))? as usize;
        let expected =
            offsets_at.checked_add(count.saturating_mul(8)).and_then(|e| e.checked_add(TRAILER_LEN));
        if offsets_at < HEADER_LEN || expected != Some(b.len()) {
            return Err(corrupt(b.len(), "refs table size does not match its header"));
        }
        Ok(RefsTable { bytes, path: path.into(), count, offsets_at })
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn offset(&self, i: usize) -> Result<usize> {
        be64(self.bytes.as_ref(), self.offsets_at + i * 8)
            .map(|o| o as usize)
            .filter(|&o| o >= HEADER_LEN && o < self.offsets_at)
            .ok_or_else(|| Error::corrupt(&self.path, (self.offsets_at + i * 8) as u64, "bad entry offset"))
    }

    /// The id and entry stored at byte offset `at`.
    pub fn entry_at(&self, at: usize) -> Result<(&str, Entry)> {
        let bad = || Error::corrupt(&self.path, at as u64, "malformed refs entry");
        let mut rest = self.bytes.as_ref().get(at..self.offsets_at).ok_or_else(bad)?;
        let id = read_id(&mut rest).ok_or_else(bad)?;
        let entry = Entry::decode(&mut rest).flatten().ok_or_else(bad)?;
        Ok((id, entry))
    }

    fn id_at_index(&self, i: usize) -> Result<&str> {
        let at = self.offset(i)?;
        let mut rest = self.bytes.as_ref().get(at..self.offsets_at).unwrap_or_default();
        read_id(&mut rest).ok_or_else(|| Error::corrupt(&self.path, at as u64, "malformed refs entry"))
    }

    /// Index of the first entry whose id is `>= key`.
    pub fn lower_bound(&self, key: &str) -> Result<usize> {
        let (mut lo, mut hi) = (0, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.id_at_index(mid)?.as_bytes() < key.as_bytes() {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    pub fn get(&self, key: &str) -> Result<Option<Entry>> {
        let i = self.lower_bound(key)?;
        if i >= self.count {
            return Ok(None);
        }
        let (id, entry) = self.entry_at(self.offset(i)?)?;
        Ok((id == key).then_some(entry))
    }

    /// Entry `i` in id order, with its byte offset.
    pub fn nth(&self, i: usize) -> Result<(usize, &str, Entry)> {
        let at = self.offset(i)?;
        let (id, e) = self.entry_at(at)?;
        Ok((at, id, e))
    }

    /// Verify the trailer checksum (fsck).
    pub fn verify(&self) -> std::result::Result<(), (u64, &'static str)> {
        verify_trailer(self.bytes.as_ref())
    }
}

fn verify_trailer(b: &[u8]) -> std::result::Result<(), (u64, &'static str)> {
    if b.is_empty() {
        return Ok(());
    }
    let body_len = b.len().checked_sub(TRAILER_LEN).ok_or((0, "truncated"))?;
    let stored = be32(b, body_len);
    if stored != Some(crc32fast::hash(b.get(..body_len).unwrap_or_default())) {
        return Err((body_len as u64, "table checksum mismatch"));
    }
    Ok(())
}

/// The changes table: rows (seq, refs entry offset) in seq order.
pub struct ChangesTable {
    bytes: Bytes,
    path: PathBuf,
    count: usize,
}

impl ChangesTable {
    pub fn empty() -> ChangesTable {
        ChangesTable { bytes: Bytes::Empty, path: PathBuf::new(), count: 0 }
    }

    pub fn open(path: &Path) -> Result<ChangesTable> {
        let bytes = map_file(path)?;
        let b = bytes.as_ref();
        let corrupt = |at: usize, what: &str| Error::corrupt(path, at as u64, what);
        if b.get(..4) != Some(&CHANGES_MAGIC[..]) {
            return Err(corrupt(0, "not a changes table (bad magic)"));
        }
        let version = be32(b, VERSION_OFFSET);
        if version != Some(VERSION) {
            return Err(Error::UnsupportedVersion {
                path: path.into(),
                what: "changes table",
                found: version.unwrap_or(0),
                max: VERSION,
            });
        }
        let count = be64(b, COUNT_OFFSET).ok_or_else(|| corrupt(COUNT_OFFSET, "truncated header"))? as usize;
        if count.checked_mul(CHANGE_ROW_LEN).and_then(|n| n.checked_add(HEADER_LEN + TRAILER_LEN))
            != Some(b.len())
        {
            return Err(corrupt(b.len(), "changes table size does not match its header"));
        }
        Ok(ChangesTable { bytes, path: path.into(), count })
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Row `i`: (seq, refs entry offset).
    pub fn row(&self, i: usize) -> Result<(Seq, usize)> {
        let at = HEADER_LEN + i * CHANGE_ROW_LEN;
        let b = self.bytes.as_ref();
        match (be64(b, at), be64(b, at + 8)) {
            (Some(s), Some(o)) => Ok((Seq(s), o as usize)),
            _ => Err(Error::corrupt(&self.path, at as u64, "truncated changes row")),
        }
    }

    /// Index of the first row with seq > `since`.
    pub fn after(&self, since: Seq) -> Result<usize> {
        let (mut lo, mut hi) = (0, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.row(mid)?.0 <= since {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    pub fn verify(&self) -> std::result::Result<(), (u64, &'static str)> {
        verify_trailer(self.bytes.as_ref())
    }
}

/// Streams a new refs table (entries must come in strictly increasing id order) and, with
/// it, the changes table.
pub struct TableWriter {
    refs: std::io::BufWriter<std::fs::File>,
    refs_path: PathBuf,
    written: u64,
    offsets: Vec<u64>,
    changes: Vec<(u64, u64)>,
    scratch: Vec<u8>,
}

impl TableWriter {
    pub fn create(refs_path: &Path) -> Result<TableWriter> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(refs_path)
            .map_err(Error::io(refs_path))?;
        let mut w = TableWriter {
            refs: std::io::BufWriter::with_capacity(1 << 20, file),
            refs_path: refs_path.into(),
            written: 0,
            offsets: Vec::new(),
            changes: Vec::new(),
            scratch: Vec::with_capacity(256),
        };
        // Placeholder header; rewritten at the end (count and offsets position are unknown).
        w.put(&[0u8; HEADER_LEN])?;
        Ok(w)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.refs.write_all(bytes).map_err(Error::io(&self.refs_path))?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    pub fn push(&mut self, id: &str, entry: &Entry) -> Result<()> {
        let at = self.written;
        self.offsets.push(at);
        if let Entry::Doc(d) = entry {
            self.changes.push((d.seq.0, at));
        }
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        write_id(&mut buf, id);
        entry.encode(&mut buf);
        self.put(&buf)?;
        self.scratch = buf;
        Ok(())
    }

    /// Finish both files; both are fsynced on return. Returns the number of doc entries.
    pub fn finish(mut self, changes_path: &Path) -> Result<u64> {
        let offsets_at = self.written;
        let mut buf = Vec::with_capacity(self.offsets.len() * 8);
        for o in &self.offsets {
            buf.extend_from_slice(&o.to_be_bytes());
        }
        self.put(&buf)?;
        let path = self.refs_path.clone();
        let file = self.refs.into_inner().map_err(|e| Error::io(&path)(e.into_error()))?;
        // Write the real header, then compute the CRC over the whole file and append it.
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(&REFS_MAGIC);
        header.extend_from_slice(&VERSION.to_be_bytes());
        header.extend_from_slice(&(self.offsets.len() as u64).to_be_bytes());
        header.extend_from_slice(&offsets_at.to_be_bytes());
        use std::os::unix::fs::FileExt;
        file.write_all_at(&header, 0).map_err(Error::io(&path))?;
        let crc = crc_of_file(&file, self.written).map_err(Error::io(&path))?;
        file.write_all_at(&crc.to_be_bytes(), self.written).map_err(Error::io(&path))?;
        file.sync_all().map_err(Error::io(&path))?;

        self.changes.sort_unstable();
        let mut out = Vec::with_capacity(HEADER_LEN + self.changes.len() * CHANGE_ROW_LEN + TRAILER_LEN);
        out.extend_from_slice(&CHANGES_MAGIC);
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.extend_from_slice(&(self.changes.len() as u64).to_be_bytes());
        out.extend_from_slice(&0u64.to_be_bytes());
        for (seq, at) in &self.changes {
            out.extend_from_slice(&seq.to_be_bytes());
            out.extend_from_slice(&at.to_be_bytes());
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        crate::fsutil::write_new(changes_path, &out)?;
        Ok(self.changes.len() as u64)
    }
}

fn crc_of_file(file: &std::fs::File, len: u64) -> std::io::Result<u32> {
    use std::os::unix::fs::FileExt;
    let mut h = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0;
    while at < len {
        let n = ((len - at) as usize).min(buf.len());
        let chunk = buf.get_mut(..n).unwrap_or_default();
        file.read_exact_at(chunk, at)?;
        h.update(chunk);
        at += n as u64;
    }
    Ok(h.finalize())
}
