//! The journal: the commit log of everything written since the last checkpoint.
//!
//! Each commit appends one record naming the objects it added to the active pack (with their
//! locations), the pack's committed length after it, and the ref entries it changed (with
//! their new sequence numbers). A commit is acknowledged only after its record and its pack
//! bytes are fsynced; the two syncs run at once, so a crash can leave a record durable
//! without its pack bytes, which opening detects (`store`) and treats as a torn tail.
//! Opening replays the records into the in-memory overlay.
//!
//! Owns: the journal file format, appending, replay and torn-tail detection.
//! Invariants:
//! 1. A record is visible only if its length and CRC-32 check out.
//! 2. An incomplete last record is a torn tail from a crash: it is cut off (by the writer) or
//!    ignored (by readers). The record header carries its own CRC, so a damaged length can
//!    never pass for a torn tail: a bad record followed by more bytes is corruption and an
//!    error, never silently skipped.
//!
//! Spec: format-spec/journal.md (journal format 2; format 1 is still read).

#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used))]

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::id::ObjectId;
use crate::object::revision::read_oid;
use crate::object::varint;
use crate::pack::Loc;
use crate::refs::{read_id, write_id, Entry, TAG_REMOVED};

pub const MAGIC: [u8; 4] = *b"SJNL";
/// Journal format written. Version 2 records may be durable before the pack bytes they
/// cover (readers check those of the last record); version 1 journals are read the same way.
pub const VERSION: u32 = 2;
/// The version whose records were written only after their pack bytes were durable.
pub const VERSION_SYNCED_PACK: u32 = 1;
pub const HEADER_LEN: usize = 16;
/// Record header: payload length u32, CRC-32 of the payload u32, CRC-32 of those 8 bytes u32.
pub const RECORD_LEN_OFFSET: usize = 0;
pub const RECORD_PAYLOAD_CRC_OFFSET: usize = RECORD_LEN_OFFSET + size_of::<u32>();
pub const RECORD_HEADER_CRC_OFFSET: usize = RECORD_PAYLOAD_CRC_OFFSET + size_of::<u32>();
pub const RECORD_HEADER_LEN: usize = RECORD_HEADER_CRC_OFFSET + size_of::<u32>();

/// One commit.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Record {
    /// Committed length of the active pack after this commit (0: no active pack).
    pub pack_end: u64,
    /// Offset of the block holding the active pack's dictionary (0: none).
    pub dictionary: u64,
    pub objects: Vec<(ObjectId, Loc)>,
    /// Ref changes: `None` removes the id's entry.
    pub refs: Vec<(Arc<str>, Option<Entry>)>,
}

impl Record {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.objects.len() * 28 + self.refs.len() * 80);
        varint::write(&mut out, self.pack_end);
        varint::write(&mut out, self.dictionary);
        varint::write(&mut out, self.objects.len() as u64);
        for (id, loc) in &self.objects {
            out.extend_from_slice(id.as_bytes());
            varint::write(&mut out, u64::from(loc.block));
            varint::write(&mut out, u64::from(loc.inner));
        }
        varint::write(&mut out, self.refs.len() as u64);
        for (id, entry) in &self.refs {
            write_id(&mut out, id);
            match entry {
                Some(e) => e.encode(&mut out),
                None => out.push(TAG_REMOVED),
            }
        }
        out
    }

    pub fn decode(mut input: &[u8]) -> Option<Record> {
        let input = &mut input;
        let pack_end = varint::read(input)?;
        let dictionary = varint::read(input)?;
        let n = varint::read(input)?;
        let mut objects = Vec::with_capacity(n.min(1 << 20) as usize);
        for _ in 0..n {
            let id = read_oid(input).ok()?;
            let block = u32::try_from(varint::read(input)?).ok()?;
            let inner = u32::try_from(varint::read(input)?).ok()?;
            objects.push((id, Loc { block, inner }));
        }
        let n = varint::read(input)?;
        let mut refs = Vec::with_capacity(n.min(1 << 20) as usize);
        for _ in 0..n {
            let id = Arc::from(read_id(input)?);
            let entry = Entry::decode(input)?;
            refs.push((id, entry));
        }
        input.is_empty().then_some(Record { pack_end, dictionary, objects, refs })
    }
}

fn header(generation: u64, version: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(&MAGIC);
    h[4..8].copy_from_slice(&version.to_be_bytes());
    h[8..].copy_from_slice(&generation.to_be_bytes());
    h
}

/// Create an empty journal (header only, fsynced; the caller fsyncs the directory).
pub fn create(path: &Path, generation: u64) -> Result<()> {
    crate::fsutil::write_new(path, &header(generation, VERSION))
}

/// What replaying a journal found.
pub struct Replay {
    pub records: Vec<Record>,
    /// Bytes of the journal holding complete records (where the next record goes).
    pub valid_len: u64,
    /// True when bytes past `valid_len` were a torn tail.
    pub torn: bool,
    /// Where the last record starts (`valid_len` when there is none).
    pub last_start: u64,
}

impl Replay {
    /// Treat the last record as torn: the journal ends where it starts.
    pub fn drop_last(&mut self) {
        if self.records.pop().is_some() {
            self.valid_len = self.last_start;
            self.torn = true;
        }
    }
}

/// Read every complete record of the journal at `path`.
pub fn replay(path: &Path, generation: u64) -> Result<Replay> {
    let bytes = std::fs::read(path).map_err(Error::io(path))?;
    if bytes.len() < HEADER_LEN {
        // A journal is created whole with its header before any manifest names it, so a
        // short header is damage, not a crash.
        return Err(Error::corrupt(path, 0, "journal header is truncated"));
    }
    let known = [VERSION, VERSION_SYNCED_PACK].map(|v| header(generation, v));
    if !known.iter().any(|h| bytes.get(..HEADER_LEN) == Some(&h[..])) {
        let version = bytes.get(4..8);
        let readable = [VERSION, VERSION_SYNCED_PACK].map(u32::to_be_bytes);
        if bytes.get(..4) == Some(&MAGIC[..]) && !readable.iter().any(|v| version == Some(&v[..])) {
            let v = crate::bytes::be32(&bytes, 4).unwrap_or(0);
            return Err(Error::UnsupportedVersion {
                path: path.into(),
                what: "journal",
                found: v,
                max: VERSION,
            });
        }
        return Err(Error::corrupt(path, 0, "journal header does not match the manifest"));
    }
    let mut records = Vec::new();
    let mut at = HEADER_LEN;
    let mut last_start = at as u64;
    let total = bytes.len();
    loop {
        if at == total {
            return Ok(Replay { records, valid_len: at as u64, torn: false, last_start });
        }
        let rest = bytes.get(at..).unwrap_or_default();
        let header = rest.get(..RECORD_HEADER_LEN);
        let header_ok = header.is_some_and(|h| {
            crate::bytes::be32(h, RECORD_HEADER_CRC_OFFSET)
                == h.get(..RECORD_HEADER_CRC_OFFSET).map(crc32fast::hash)
        });
        if !header_ok {
            // A crash leaves a prefix of the last write (or zeros after a power loss); a
            // damaged header with other bytes after it is corruption.
            if header.is_none() || rest.iter().all(|&b| b == 0) {
                return Ok(Replay { records, valid_len: at as u64, torn: true, last_start });
            }
            return Err(Error::corrupt(path, at as u64, "journal record header fails its checksum"));
        }
        let len = crate::bytes::be32(rest, RECORD_LEN_OFFSET).unwrap_or_default() as usize;
        let crc = crate::bytes::be32(rest, RECORD_PAYLOAD_CRC_OFFSET).unwrap_or_default();
        let Some(payload) = rest.get(RECORD_HEADER_LEN..RECORD_HEADER_LEN + len) else {
            return Ok(Replay { records, valid_len: at as u64, torn: true, last_start });
        };
        let end = at + RECORD_HEADER_LEN + len;
        if crc32fast::hash(payload) != crc {
            if end == total {
                return Ok(Replay { records, valid_len: at as u64, torn: true, last_start });
            }
            return Err(Error::corrupt(path, at as u64, "journal record fails its checksum"));
        }
        // Intact bytes that do not decode are never a torn write: refuse them rather than
        // cut them off.
        let record = Record::decode(payload).ok_or_else(|| {
            Error::corrupt(path, at as u64, "journal record passes its checksums but does not decode")
        })?;
        records.push(record);
        last_start = at as u64;
        at = end;
    }
}

/// Appends records to a journal, fsyncing each.
pub struct Writer {
    file: File,
    path: PathBuf,
    len: u64,
}

impl Writer {
    /// Open for appending at `valid_len`, cutting off anything after it.
    pub fn open(path: &Path, valid_len: u64) -> Result<Writer> {
        let file = OpenOptions::new().write(true).open(path).map_err(Error::io(path))?;
        let actual = file.metadata().map_err(Error::io(path))?.len();
        if actual != valid_len {
            file.set_len(valid_len).map_err(Error::io(path))?;
            file.sync_all().map_err(Error::io(path))?;
        }
        Ok(Writer { file, path: path.into(), len: valid_len })
    }

    /// Append one record and make it durable.
    pub fn append(&mut self, record: &Record) -> Result<()> {
        let payload = record.encode();
        let mut buf = Vec::with_capacity(RECORD_HEADER_LEN + payload.len());
        buf.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        buf.extend_from_slice(&crc32fast::hash(&payload).to_be_bytes());
        let header_crc = crc32fast::hash(&buf);
        buf.extend_from_slice(&header_crc.to_be_bytes());
        buf.extend_from_slice(&payload);
        use std::os::unix::fs::FileExt;
        let result = self.file.write_all_at(&buf, self.len).and_then(|()| self.file.sync_data());
        if let Err(e) = result {
            // Leave no partial record behind for the next append to build on.
            let _ = self.file.set_len(self.len);
            return Err(Error::io(&self.path)(e));
        }
        self.len += buf.len() as u64;
        Ok(())
    }

    /// Take back the last record, appended at `previous_len` (its commit failed after it
    /// was written): cut the journal there and make that durable. The next record goes at
    /// `previous_len` even if the cut fails, overwriting the taken-back one, as after a
    /// failed append.
    pub fn unappend(&mut self, previous_len: u64) -> Result<()> {
        self.len = previous_len;
        self.file.set_len(previous_len).and_then(|()| self.file.sync_data()).map_err(Error::io(&self.path))
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len <= HEADER_LEN as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{hash_object, Kind, Seq};
    use crate::refs::{DocRef, Leaf, LocalRef};
    use crate::rev::RevId;

    fn record(n: u32) -> Record {
        let oid = hash_object(Kind::Body, &n.to_be_bytes());
        Record {
            pack_end: 100 + u64::from(n),
            dictionary: u64::from(n) * 3,
            objects: vec![(oid, Loc { block: 16, inner: n })],
            refs: vec![
                (
                    format!("doc{n}").into(),
                    Some(Entry::Doc(DocRef {
                        seq: Seq(u64::from(n)),
                        leaves: vec![Leaf::new(
                            RevId::parse("2-a").unwrap(),
                            false,
                            oid,
                            Some(oid),
                            vec![crate::rev::RevHash::parse("b").unwrap()],
                        )],
                    })),
                ),
                ("_local/x".into(), Some(Entry::Local(LocalRef { rev: 2, body: oid }))),
                ("_local/y".into(), None),
            ],
        }
    }

    #[test]
    fn replays_and_cuts_torn_tails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        create(&path, 7).unwrap();
        let mut w = Writer::open(&path, HEADER_LEN as u64).unwrap();
        w.append(&record(1)).unwrap();
        let after_one = w.len();
        w.append(&record(2)).unwrap();
        let full = std::fs::read(&path).unwrap();
        let r = replay(&path, 7).unwrap();
        assert_eq!(r.records, vec![record(1), record(2)]);
        assert!(!r.torn);
        // Every truncation inside the second record is a torn tail that keeps the first.
        for len in after_one as usize..full.len() {
            std::fs::write(&path, &full[..len]).unwrap();
            let r = replay(&path, 7).unwrap();
            assert_eq!(r.records, vec![record(1)], "len {len}");
            assert_eq!(r.valid_len, after_one);
        }
        // Any flipped byte in the first record, with the second after it, is corruption,
        // never a torn tail (which would drop the second, acknowledged, record).
        for at in HEADER_LEN..after_one as usize {
            let mut bad = full.clone();
            bad[at] ^= 1;
            std::fs::write(&path, &bad).unwrap();
            assert!(replay(&path, 7).is_err(), "flip at {at} not reported");
        }
        // Zeros after the last record (a power loss on some file systems) are a torn tail.
        let mut zeros = full.clone();
        zeros.extend_from_slice(&[0; 40]);
        std::fs::write(&path, &zeros).unwrap();
        let r = replay(&path, 7).unwrap();
        assert_eq!(r.records.len(), 2);
        assert!(r.torn);
        // A journal of another generation is refused.
        std::fs::write(&path, &full).unwrap();
        assert!(replay(&path, 8).is_err());
        // The last record can be dropped as torn (its pack bytes are missing): the journal
        // then ends where it starts.
        let mut r = replay(&path, 7).unwrap();
        assert_eq!(r.last_start, after_one);
        r.drop_last();
        assert_eq!((r.records.len(), r.valid_len, r.torn), (1, after_one, true));
    }

    /// Version 1 journals read as version 2 ones do; other versions are refused by name.
    #[test]
    fn version_1_journals_are_read_and_others_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        create(&path, 3).unwrap();
        let mut w = Writer::open(&path, HEADER_LEN as u64).unwrap();
        w.append(&record(5)).unwrap();
        let current = std::fs::read(&path).unwrap();
        assert_eq!(current[4..8], VERSION.to_be_bytes());
        for (version, readable) in [(VERSION_SYNCED_PACK, true), (3, false), (0, false)] {
            let mut bytes = current.clone();
            bytes[4..8].copy_from_slice(&version.to_be_bytes());
            std::fs::write(&path, &bytes).unwrap();
            match replay(&path, 3) {
                Ok(r) => assert!(readable && r.records == vec![record(5)], "version {version}"),
                Err(e) => assert!(!readable && e.to_string().contains(&format!("version {version}")), "{e}"),
            }
        }
    }
}
