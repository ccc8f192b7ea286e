//! The journal: the commit log of everything written since the last checkpoint.
//!
//! Each commit appends one record naming the objects it added to the active pack (with their
//! locations), the pack's committed length after it, and the ref entries it changed (with
//! their new sequence numbers). A commit is acknowledged only after its record and its pack
//! bytes are fsynced; the two syncs run at once, so a crash can leave a record durable
//! without its pack bytes, which opening detects (`store`) and treats as a torn tail.
//! Opening replays the records into the in-memory overlay.
//!
//! Owns: the journal file format, appending, replay and telling a torn tail from damage.
//! Invariants:
//! 1. A record is visible only if its length and CRC-32 check out.
//! 2. An incomplete last record is a torn tail from a crash: it is cut off (by the writer) or
//!    ignored (by readers). The record header carries its own CRC, so a damaged length can
//!    never pass for a torn tail: a bad record followed by more bytes is corruption and an
//!    error, never silently skipped.
//! 3. The header's acknowledged length (formats 3 and 4) is where the records that were durable
//!    before the latest commit began end: each append first sets it to the journal's length
//!    and then syncs it with the record. It never exceeds what is durable, so records lost
//!    below it are damage, not a crash, and replay says so ([`CutKind`]). From format 4 it
//!    carries a 16-bit check: a power loss during its rewrite leaves any mix of old and new
//!    bytes, and a field failing its check claims nothing rather than a length past the
//!    records.
//!
//! Spec: format-spec/journal.md (journal format 4; formats 1 to 3 are still read).

#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used))]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::disk::{self, Disk};
use crate::error::{Error, Result};
use crate::id::ObjectId;
use crate::object::revision::read_oid;
use crate::object::varint;
use crate::pack::Loc;
use crate::refs::{read_id, write_id, Entry, TAG_REMOVED};

pub const MAGIC: [u8; 4] = *b"SJNL";
/// Journal format written: the header ends with the acknowledged length (48 bits) and a
/// 16-bit check of it. As in version 2, records may be durable before the pack bytes they
/// cover (readers check those of the last record).
pub const VERSION: u32 = 4;
/// The version whose acknowledged length has no checksum (a power loss during its rewrite
/// can leave a mix of old and new bytes there), still read.
pub const VERSION_UNCHECKED_ACKNOWLEDGED: u32 = 3;
/// The version without an acknowledged length, still read.
pub const VERSION_NO_ACKNOWLEDGED: u32 = 2;
/// The version whose records were written only after their pack bytes were durable.
pub const VERSION_SYNCED_PACK: u32 = 1;
/// Header length of versions 3 and 4: magic, version, generation, acknowledged length.
pub const HEADER_LEN: usize = ACKNOWLEDGED_OFFSET + size_of::<u64>();
/// Header length of versions 1 and 2 (no acknowledged length).
pub const HEADER_LEN_NO_ACKNOWLEDGED: usize = 16;
pub const ACKNOWLEDGED_OFFSET: usize = HEADER_LEN_NO_ACKNOWLEDGED;
/// Version 4 stores the acknowledged length in the field's high 48 bits, and the low 16 bits
/// of the CRC-32 of those 6 bytes in its low 16.
const ACKNOWLEDGED_CHECK_BITS: u32 = 16;
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

/// The first 16 bytes of a header, common to every version.
fn header(generation: u64, version: u32) -> [u8; HEADER_LEN_NO_ACKNOWLEDGED] {
    let mut h = [0u8; HEADER_LEN_NO_ACKNOWLEDGED];
    h[..4].copy_from_slice(&MAGIC);
    h[4..8].copy_from_slice(&version.to_be_bytes());
    h[8..].copy_from_slice(&generation.to_be_bytes());
    h
}

/// Create an empty journal (header only, fsynced; the caller fsyncs the directory).
pub fn create(disk: &dyn Disk, path: &Path, generation: u64) -> Result<()> {
    let mut bytes = header(generation, VERSION).to_vec();
    bytes.extend_from_slice(&acknowledged_field(VERSION, HEADER_LEN as u64).to_be_bytes());
    crate::fsutil::write_new(disk, path, &bytes)
}

/// The check of a version 4 acknowledged length: the low 16 bits of the CRC-32 of its 6
/// bytes.
fn acknowledged_check(len: u64) -> u64 {
    let bytes = len.to_be_bytes();
    u64::from(crc32fast::hash(bytes.get(2..).unwrap_or_default()) & 0xffff)
}

/// The header's acknowledged-length field as `version` stores `len` (below 2^48).
fn acknowledged_field(version: u32, len: u64) -> u64 {
    if version >= VERSION {
        (len << ACKNOWLEDGED_CHECK_BITS) | acknowledged_check(len)
    } else {
        len
    }
}

/// The acknowledged length a `version` header's field holds; `None` if it fails its check
/// (version 4): a power loss while a commit rewrote it, which may leave any mix of its old
/// and new bytes. Both values were at most the end of the durable records, so a torn field
/// claims nothing.
pub(crate) fn read_acknowledged(version: u32, field: u64) -> Option<u64> {
    if version < VERSION {
        return Some(field);
    }
    let len = field >> ACKNOWLEDGED_CHECK_BITS;
    (field & 0xffff == acknowledged_check(len)).then_some(len)
}

/// Whether `bytes`, found at file offset `at`, show the mark of a write that never reached
/// the disk: a whole zero sector (512 bytes, aligned in the file), or zeros from some point
/// to the end covering at least a record header. Damage to durable data (a flipped bit)
/// leaves neither.
pub fn looks_unwritten(bytes: &[u8], at: u64) -> bool {
    let trailing_zeros = bytes.iter().rev().take_while(|&&b| b == 0).count();
    if trailing_zeros >= RECORD_HEADER_LEN.max(16) {
        return true;
    }
    let skip = usize::try_from(at.next_multiple_of(512) - at).unwrap_or(usize::MAX);
    bytes.get(skip..).unwrap_or_default().chunks(512).any(|s| s.len() == 512 && s.iter().all(|&b| b == 0))
}

/// Why the bytes past the valid length are not replayed (and are cut by the next writer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CutKind {
    /// What an interrupted commit leaves: an incomplete last record, zeros, or a last
    /// record whose pack bytes are not all there. That commit was never acknowledged.
    TornWrite,
    /// A complete last record (or its pack bytes) failing a checksum: damage, or a torn
    /// write on a file system that leaves garbage. The commit may have been acknowledged.
    DamagedLastRecord,
    /// Records below the acknowledged length are missing or damaged: acknowledged commits
    /// are lost (a truncated or damaged journal), never a crash.
    LostAcknowledged,
}

impl CutKind {
    pub fn describe(self) -> &'static str {
        match self {
            CutKind::TornWrite => "an interrupted commit that was never acknowledged",
            CutKind::DamagedLastRecord => "a damaged last commit, which may have been acknowledged",
            CutKind::LostAcknowledged => "acknowledged commits lost to damage or truncation",
        }
    }
}

/// What replaying a journal found.
pub struct Replay {
    pub records: Vec<Record>,
    /// Bytes of the journal holding complete records (where the next record goes).
    pub valid_len: u64,
    /// Why bytes past `valid_len` are not replayed, if there are any (or if the pack bytes
    /// of a record were missing, see [`Replay::drop_last`]).
    pub cut: Option<CutKind>,
    /// Where the last record starts (`valid_len` when there is none).
    pub last_start: u64,
    /// The header's acknowledged length (format 3; the header length before).
    pub acknowledged: u64,
    /// The journal file's length.
    pub file_len: u64,
}

impl Replay {
    /// Drop the last record because its pack bytes are missing (`damaged: false`) or fail
    /// their checksums (`damaged: true`): the journal then ends where it starts.
    pub fn drop_last(&mut self, damaged: bool) {
        if self.records.pop().is_some() {
            self.valid_len = self.last_start;
            let kind = if damaged { CutKind::DamagedLastRecord } else { CutKind::TornWrite };
            self.cut = self.classify(Some(kind));
        }
    }

    /// `kind`, unless the valid length is below the acknowledged one: then acknowledged
    /// commits are lost, whether or not there are bytes to cut.
    fn classify(&self, kind: Option<CutKind>) -> Option<CutKind> {
        if self.valid_len < self.acknowledged {
            Some(CutKind::LostAcknowledged)
        } else {
            kind
        }
    }
}

/// Read every complete record of the journal at `path`.
pub fn replay(path: &Path, generation: u64) -> Result<Replay> {
    let bytes = std::fs::read(path).map_err(Error::io(path))?;
    let (header_len, acknowledged) = check_header(path, generation, &bytes)?;
    replay_records(path, bytes.get(header_len..).unwrap_or_default(), header_len as u64, acknowledged)
}

/// Read the complete records of the journal at `path` from byte `from` on: the tail a view
/// that has replayed the records before `from` has not seen. `from` must be where a record
/// starts (or the end); a journal shorter than `from` is an error. The header is checked
/// as by [`replay`].
pub fn replay_from(path: &Path, generation: u64, from: u64) -> Result<Replay> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(path).map_err(Error::io(path))?;
    let file_len = file.metadata().map_err(Error::io(path))?.len();
    let mut head = vec![0u8; HEADER_LEN.min(usize::try_from(file_len).unwrap_or(HEADER_LEN))];
    file.read_exact_at(&mut head, 0).map_err(Error::io(path))?;
    let (header_len, acknowledged) = check_header(path, generation, &head)?;
    if from < header_len as u64 || from > file_len {
        return Err(Error::corrupt(path, from, "journal is shorter than the records already read from it"));
    }
    let len =
        usize::try_from(file_len - from).map_err(|_| Error::corrupt(path, from, "journal tail too large"))?;
    let mut tail = vec![0u8; len];
    file.read_exact_at(&mut tail, from).map_err(Error::io(path))?;
    replay_records(path, &tail, from, acknowledged)
}

/// Check the header at the start of `bytes`: its length and the acknowledged length.
fn check_header(path: &Path, generation: u64, bytes: &[u8]) -> Result<(usize, u64)> {
    if bytes.len() < HEADER_LEN_NO_ACKNOWLEDGED {
        // A journal is created whole with its header before any manifest names it, so a
        // short header is damage, not a crash.
        return Err(Error::corrupt(path, 0, "journal header is truncated"));
    }
    let versions = [VERSION, VERSION_UNCHECKED_ACKNOWLEDGED, VERSION_NO_ACKNOWLEDGED, VERSION_SYNCED_PACK];
    let known = versions.map(|v| header(generation, v));
    if !known.iter().any(|h| bytes.get(..HEADER_LEN_NO_ACKNOWLEDGED) == Some(&h[..])) {
        let version = bytes.get(4..8);
        let readable = versions.map(u32::to_be_bytes);
        if bytes.get(..4) == Some(&MAGIC[..]) && !readable.iter().any(|v| version == Some(&v[..])) {
            let v = crate::bytes::be32(bytes, 4).unwrap_or(0);
            return Err(Error::UnsupportedVersion {
                path: path.into(),
                what: "journal",
                found: v,
                max: VERSION,
            });
        }
        return Err(Error::corrupt(path, 0, "journal header does not match the manifest"));
    }
    let version = crate::bytes::be32(bytes, 4).unwrap_or(0);
    if version >= VERSION_UNCHECKED_ACKNOWLEDGED {
        let field = crate::bytes::be64(bytes, ACKNOWLEDGED_OFFSET)
            .ok_or_else(|| Error::corrupt(path, 0, "journal header is truncated"))?;
        // A torn field (version 4) claims nothing.
        let acknowledged = read_acknowledged(version, field).unwrap_or(HEADER_LEN as u64);
        if acknowledged < HEADER_LEN as u64 {
            return Err(Error::corrupt(
                path,
                ACKNOWLEDGED_OFFSET as u64,
                "journal acknowledged length is inside its header",
            ));
        }
        Ok((HEADER_LEN, acknowledged))
    } else {
        Ok((HEADER_LEN_NO_ACKNOWLEDGED, HEADER_LEN_NO_ACKNOWLEDGED as u64))
    }
}

/// Read the records in `bytes`, which start at file offset `base` (a record boundary).
fn replay_records(path: &Path, bytes: &[u8], base: u64, acknowledged: u64) -> Result<Replay> {
    let mut records = Vec::new();
    let mut at = 0usize;
    let mut last_start = base;
    let total = bytes.len();
    let file_len = base + total as u64;
    let done = |records, at: usize, last_start, kind: Option<CutKind>| {
        let valid_len = base + at as u64;
        let mut replay = Replay { records, valid_len, cut: None, last_start, acknowledged, file_len };
        replay.cut = replay.classify(kind);
        replay
    };
    loop {
        if at == total {
            return Ok(done(records, at, last_start, None));
        }
        let rest = bytes.get(at..).unwrap_or_default();
        let header = rest.get(..RECORD_HEADER_LEN);
        let header_ok = header.is_some_and(|h| {
            crate::bytes::be32(h, RECORD_HEADER_CRC_OFFSET)
                == h.get(..RECORD_HEADER_CRC_OFFSET).map(crc32fast::hash)
        });
        let offset = base + at as u64;
        if !header_ok {
            // A crash leaves a prefix of the last write (or zeros after a power loss); a
            // damaged header with other bytes after it is corruption.
            if header.is_none() || rest.iter().all(|&b| b == 0) {
                return Ok(done(records, at, last_start, Some(CutKind::TornWrite)));
            }
            return Err(Error::corrupt(path, offset, "journal record header fails its checksum"));
        }
        let len = crate::bytes::be32(rest, RECORD_LEN_OFFSET).unwrap_or_default() as usize;
        let crc = crate::bytes::be32(rest, RECORD_PAYLOAD_CRC_OFFSET).unwrap_or_default();
        let Some(payload) = rest.get(RECORD_HEADER_LEN..RECORD_HEADER_LEN + len) else {
            return Ok(done(records, at, last_start, Some(CutKind::TornWrite)));
        };
        let end = at + RECORD_HEADER_LEN + len;
        if crc32fast::hash(payload) != crc {
            if end == total {
                // Whole but wrong: zeros where sectors never reached the disk are a torn
                // write; anything else is damage (or a file system that writes garbage).
                let start = offset + RECORD_HEADER_LEN as u64;
                let kind = if looks_unwritten(payload, start) {
                    CutKind::TornWrite
                } else {
                    CutKind::DamagedLastRecord
                };
                return Ok(done(records, at, last_start, Some(kind)));
            }
            return Err(Error::corrupt(path, offset, "journal record fails its checksum"));
        }
        // Intact bytes that do not decode are never a torn write: refuse them rather than
        // cut them off.
        let record = Record::decode(payload).ok_or_else(|| {
            Error::corrupt(path, offset, "journal record passes its checksums but does not decode")
        })?;
        records.push(record);
        last_start = offset;
        at = end;
    }
}

/// Appends records to a journal, fsyncing each.
pub struct Writer {
    file: Box<dyn disk::File>,
    path: PathBuf,
    len: u64,
    /// The acknowledged length in the header (formats 3 and 4), or `None` for an older
    /// journal.
    acknowledged: Option<u64>,
    /// The journal's version.
    version: u32,
}

impl Writer {
    /// Open for appending at `valid_len`, cutting off anything after it.
    pub fn open(disk: &dyn Disk, path: &Path, valid_len: u64) -> Result<Writer> {
        let file = disk.open(path).map_err(Error::io(path))?;
        let actual = file.size().map_err(Error::io(path))?;
        let mut head = [0u8; HEADER_LEN];
        let read = usize::try_from(actual).unwrap_or(HEADER_LEN).min(HEADER_LEN);
        file.read_exact_at(head.get_mut(..read).unwrap_or_default(), 0).map_err(Error::io(path))?;
        let version = crate::bytes::be32(&head, 4).unwrap_or(0);
        let acknowledged = (version >= VERSION_UNCHECKED_ACKNOWLEDGED && read == HEADER_LEN).then(|| {
            // A torn field claims nothing (as on replay); the next append rewrites it.
            let field = crate::bytes::be64(&head, ACKNOWLEDGED_OFFSET).unwrap_or(0);
            read_acknowledged(version, field).unwrap_or(HEADER_LEN as u64)
        });
        if actual != valid_len {
            file.set_len(valid_len).map_err(Error::io(path))?;
            file.sync_all().map_err(Error::io(path))?;
        }
        let mut writer = Writer { file, path: path.into(), len: valid_len, acknowledged, version };
        if writer.acknowledged.is_some_and(|a| a > valid_len) {
            // Acknowledged records were cut (and quarantined by the store): what remains is
            // what is acknowledged now.
            writer.set_acknowledged(valid_len)?;
            writer.file.sync_data().map_err(Error::io(&writer.path))?;
        }
        Ok(writer)
    }

    /// Write the header's acknowledged length (formats 3 and 4), to be synced with what
    /// follows.
    fn set_acknowledged(&mut self, len: u64) -> Result<()> {
        if len >> (u64::BITS - ACKNOWLEDGED_CHECK_BITS) != 0 {
            return Err(Error::Invalid(format!("{} grew past 2^48 bytes", self.path.display())));
        }
        let field = acknowledged_field(self.version, len);
        self.file
            .write_all_at(&field.to_be_bytes(), ACKNOWLEDGED_OFFSET as u64)
            .map_err(Error::io(&self.path))?;
        self.acknowledged = Some(len);
        Ok(())
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
        // Every record before this one is durable: say so in the header, synced with it.
        if self.acknowledged.is_some_and(|a| a != self.len) {
            self.set_acknowledged(self.len)?;
        }
        let result = self.file.write_all_at(&buf, self.len).and_then(|()| self.file.sync_data());
        if let Err(e) = result {
            // Leave no partial record behind for the next append to build on.
            let _ = self.file.set_len(self.len);
            return Err(Error::io(&self.path)(e));
        }
        self.len += buf.len() as u64;
        Ok(())
    }

    /// Append records already acknowledged in another journal (a checkpoint carries them
    /// into its new one before any manifest names it) and make them durable with one sync;
    /// the header then says all of them are acknowledged.
    pub fn append_all(&mut self, records: &[Record]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        for record in records {
            let payload = record.encode();
            buf.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            buf.extend_from_slice(&crc32fast::hash(&payload).to_be_bytes());
            let at = buf.len() - 2 * size_of::<u32>();
            let header_crc = crc32fast::hash(buf.get(at..).unwrap_or_default());
            buf.extend_from_slice(&header_crc.to_be_bytes());
            buf.extend_from_slice(&payload);
        }
        let end = self.len + buf.len() as u64;
        self.file.write_all_at(&buf, self.len).map_err(Error::io(&self.path))?;
        self.len = end;
        if self.acknowledged.is_some() {
            self.set_acknowledged(end)?;
        }
        self.file.sync_data().map_err(Error::io(&self.path))
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

    /// Append after `len` from now on: where other handles' records left this journal
    /// (never shorter than what this writer appended). The header's acknowledged length is
    /// brought up to it with the next append.
    pub fn advance(&mut self, len: u64) -> bool {
        if len < self.len {
            return false;
        }
        self.len = len;
        true
    }

    pub fn is_empty(&self) -> bool {
        let header = if self.acknowledged.is_some() { HEADER_LEN } else { HEADER_LEN_NO_ACKNOWLEDGED };
        self.len <= header as u64
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
        create(&crate::disk::RealDisk, &path, 7).unwrap();
        let mut w = Writer::open(&crate::disk::RealDisk, &path, HEADER_LEN as u64).unwrap();
        w.append(&record(1)).unwrap();
        let after_one = w.len();
        w.append(&record(2)).unwrap();
        let full = std::fs::read(&path).unwrap();
        let r = replay(&path, 7).unwrap();
        assert_eq!(r.records, vec![record(1), record(2)]);
        assert_eq!(r.cut, None);
        // Every truncation inside the second record is a torn tail that keeps the first.
        for len in after_one as usize..full.len() {
            std::fs::write(&path, &full[..len]).unwrap();
            let r = replay(&path, 7).unwrap();
            assert_eq!(r.records, vec![record(1)], "len {len}");
            assert_eq!(r.valid_len, after_one);
            let torn = (len as u64 > after_one).then_some(CutKind::TornWrite);
            assert_eq!(r.cut, torn, "len {len}");
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
        assert_eq!(r.cut, Some(CutKind::TornWrite));
        // A journal of another generation is refused.
        std::fs::write(&path, &full).unwrap();
        assert!(replay(&path, 8).is_err());
        // The last record can be dropped as torn (its pack bytes are missing): the journal
        // then ends where it starts.
        let mut r = replay(&path, 7).unwrap();
        assert_eq!(r.last_start, after_one);
        r.drop_last(false);
        assert_eq!((r.records.len(), r.valid_len, r.cut), (1, after_one, Some(CutKind::TornWrite)));
    }

    /// The acknowledged length tells damage from a crash: a whole last record failing its
    /// checksum is damage, records missing below the acknowledged length are lost
    /// acknowledged commits, and an incomplete one past it is a torn write.
    #[test]
    fn the_acknowledged_length_tells_damage_from_a_torn_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        create(&crate::disk::RealDisk, &path, 1).unwrap();
        let mut w = Writer::open(&crate::disk::RealDisk, &path, HEADER_LEN as u64).unwrap();
        let mut ends = Vec::new();
        for n in 1..=3 {
            w.append(&record(n)).unwrap();
            ends.push(w.len());
        }
        let full = std::fs::read(&path).unwrap();
        // the header says the first two records were durable when the third was written
        let field = crate::bytes::be64(&full, ACKNOWLEDGED_OFFSET).unwrap();
        assert_eq!(read_acknowledged(VERSION, field), Some(ends[1]));
        // a flipped bit in the last record's payload: damage, not a torn write
        let mut bad = full.clone();
        let last = bad.len() - 5;
        bad[last] ^= 0x20;
        std::fs::write(&path, &bad).unwrap();
        let r = replay(&path, 1).unwrap();
        assert_eq!((r.records.len(), r.cut), (2, Some(CutKind::DamagedLastRecord)));
        // the file cut at the end of the first record: acknowledged records are lost
        std::fs::write(&path, &full[..ends[0] as usize]).unwrap();
        let r = replay(&path, 1).unwrap();
        assert_eq!((r.records.len(), r.cut), (1, Some(CutKind::LostAcknowledged)));
        // cut inside the last record: a torn write
        std::fs::write(&path, &full[..full.len() - 3]).unwrap();
        let r = replay(&path, 1).unwrap();
        assert_eq!((r.records.len(), r.cut), (2, Some(CutKind::TornWrite)));
        // a writer reopening after a loss acknowledges what is left, so the loss is
        // reported once, by the open that cut it
        std::fs::write(&path, &full[..ends[0] as usize]).unwrap();
        drop(Writer::open(&crate::disk::RealDisk, &path, ends[0]).unwrap());
        assert_eq!(replay(&path, 1).unwrap().cut, None);
    }

    /// Reading from a record boundary gives the records after it, with the same lengths
    /// and cut as a whole replay; a start past the end is refused.
    #[test]
    fn a_tail_replays_like_the_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        create(&crate::disk::RealDisk, &path, 4).unwrap();
        let mut w = Writer::open(&crate::disk::RealDisk, &path, HEADER_LEN as u64).unwrap();
        w.append(&record(1)).unwrap();
        let first = w.len();
        w.append(&record(2)).unwrap();
        w.append(&record(3)).unwrap();
        let whole = replay(&path, 4).unwrap();
        let tail = replay_from(&path, 4, first).unwrap();
        assert_eq!(tail.records, vec![record(2), record(3)]);
        assert_eq!((tail.valid_len, tail.cut, tail.file_len), (whole.valid_len, None, whole.file_len));
        assert_eq!(tail.last_start, whole.last_start);
        assert!(replay_from(&path, 4, w.len()).unwrap().records.is_empty());
        // a commit in progress: its partial record is a torn tail, the others are read
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&[0, 0, 0, 9, 1]);
        std::fs::write(&path, &bytes).unwrap();
        let tail = replay_from(&path, 4, first).unwrap();
        assert_eq!((tail.records.len(), tail.cut), (2, Some(CutKind::TornWrite)));
        assert!(replay_from(&path, 4, bytes.len() as u64 + 1).is_err());
        assert!(replay_from(&path, 5, first).is_err(), "another generation's journal");
    }

    /// Version 1 and 2 journals (16-byte headers) are read; other versions are refused by name.
    #[test]
    fn version_1_journals_are_read_and_others_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        create(&crate::disk::RealDisk, &path, 3).unwrap();
        let mut w = Writer::open(&crate::disk::RealDisk, &path, HEADER_LEN as u64).unwrap();
        w.append(&record(5)).unwrap();
        let current = std::fs::read(&path).unwrap();
        assert_eq!(current[4..8], VERSION.to_be_bytes());
        let records = &current[HEADER_LEN..];
        for (version, readable) in
            [(VERSION_SYNCED_PACK, true), (VERSION_NO_ACKNOWLEDGED, true), (VERSION + 1, false), (0, false)]
        {
            // Versions 1 and 2 have a 16-byte header, without the acknowledged length.
            let mut bytes =
                if readable { header(3, version).to_vec() } else { current[..HEADER_LEN].to_vec() };
            bytes.extend_from_slice(records);
            bytes[4..8].copy_from_slice(&version.to_be_bytes());
            std::fs::write(&path, &bytes).unwrap();
            match replay(&path, 3) {
                Ok(r) => assert!(readable && r.records == vec![record(5)], "version {version}"),
                Err(e) => assert!(!readable && e.to_string().contains(&format!("version {version}")), "{e}"),
            }
        }
    }

    /// postmortem: the power-loss test (tests/store/powerloss) cut an import while a commit
    /// rewrote the version 3 header's acknowledged length; the disk kept the first bytes of
    /// the new value and the last of the old, a length past every record, and opening
    /// reported acknowledged commits lost where there was only a crash (zeros there made
    /// the journal unreadable). Version 4 checks the field with a CRC: a torn field claims
    /// nothing, and the records are all kept.
    #[test]
    fn a_torn_acknowledged_length_is_a_crash_not_a_loss() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        create(&crate::disk::RealDisk, &path, 1).unwrap();
        let mut w = Writer::open(&crate::disk::RealDisk, &path, HEADER_LEN as u64).unwrap();
        for n in 1..=2 {
            w.append(&record(n)).unwrap();
        }
        let full = std::fs::read(&path).unwrap();
        let field = ACKNOWLEDGED_OFFSET..HEADER_LEN;
        // the new value's first bytes and the old one's last, all ones, all zeros
        let (old, new) = (acknowledged_field(VERSION, 0x1ff00), acknowledged_field(VERSION, 0x20000));
        let mixed = (new & !0xffff_ffff) | (old & 0xffff_ffff);
        assert!(mixed >> 16 > 0x20000);
        for torn in [mixed.to_be_bytes(), [0xff; 8], [0; 8]] {
            let mut bytes = full.clone();
            bytes[field.clone()].copy_from_slice(&torn);
            std::fs::write(&path, &bytes).unwrap();
            let r = replay(&path, 1).unwrap();
            assert_eq!((r.records.len(), r.cut), (2, None), "{torn:?}");
            // a writer appends on, and the field is whole again
            let mut w = Writer::open(&crate::disk::RealDisk, &path, r.valid_len).unwrap();
            w.append(&record(3)).unwrap();
            let r = replay(&path, 1).unwrap();
            assert_eq!((r.records.len(), r.cut, r.acknowledged), (3, None, bytes.len() as u64));
        }
    }

    /// Version 3 journals (an acknowledged length without a CRC) are read and appended to
    /// in their own format.
    #[test]
    fn version_3_journals_are_read_and_appended_to() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let mut bytes = header(1, VERSION_UNCHECKED_ACKNOWLEDGED).to_vec();
        bytes.extend_from_slice(&(HEADER_LEN as u64).to_be_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let mut w = Writer::open(&crate::disk::RealDisk, &path, HEADER_LEN as u64).unwrap();
        assert!(w.is_empty());
        let mut ends = Vec::new();
        for n in 1..=2 {
            w.append(&record(n)).unwrap();
            ends.push(w.len());
        }
        let r = replay(&path, 1).unwrap();
        assert_eq!((r.records, r.cut, r.acknowledged), (vec![record(1), record(2)], None, ends[0]));
        let full = std::fs::read(&path).unwrap();
        assert_eq!(crate::bytes::be64(&full, ACKNOWLEDGED_OFFSET), Some(ends[0]), "stored plainly");
        std::fs::write(&path, &full[..HEADER_LEN]).unwrap();
        assert_eq!(replay(&path, 1).unwrap().cut, Some(CutKind::LostAcknowledged));
    }
}
