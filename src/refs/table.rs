//! The refs table and the changes table: immutable, sorted files written at each checkpoint
//! and mmap'd by readers.
//!
//! Refs table: header, records (`id`, `Entry`, body hint) sorted by id, the byte offset of
//! every `GROUP`-th record (u64), a CRC-32 of each group of records (version 3), a CRC-32
//! trailer. The hint (`hint`) says where the body the entry shows was stored; version 1
//! tables have none, versions 1 and 2 no group checksums, and both are still read. Changes
//! table: header, the byte offset of each document's refs entry in the order of the
//! entries' sequence numbers (4 bytes each while the refs table is under 4 GiB, else 8; the
//! header says which), a CRC-32 of each run of `CHANGES_CHUNK` rows (version 3), a CRC-32
//! trailer: one row per replicated document, at its latest sequence.
//!
//! Invariants:
//! 1. Both files are written whole and fsynced before the manifest names them, and never
//!    change afterwards. Reads check every offset against the file before using it.
//! 2. Nothing read from a version 3 table is returned, copied or used to decide an answer
//!    before the checksum of its group (or chunk of rows) matched: a lookup verifies the
//!    group it searches and, when the key lies past that group's last id, the next group,
//!    whose first id bounds it; a cursor verifies each group as it enters it. A group is
//!    verified once per open table (a bit per group records it). Damage is an error naming
//!    the file and the group's offset, never a wrong or missing entry.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::OnceLock;

use super::{hint, Entry};
use crate::error::{Error, Result};
use crate::filter;
use crate::id::Seq;
use crate::object::varint;
use crate::odb::Found;

pub const REFS_MAGIC: [u8; 4] = *b"SREF";
pub const CHANGES_MAGIC: [u8; 4] = *b"SCHG";
/// Refs table format version written: records end with a body hint, and each group of
/// records has a CRC-32.
pub const VERSION: u32 = 3;
/// The version with body hints and no group checksums, still read.
pub const VERSION_NO_GROUP_CRCS: u32 = 2;
/// The version without body hints, still read.
pub const VERSION_NO_HINTS: u32 = 1;
/// Changes table format version written: each `CHANGES_CHUNK` rows have a CRC-32. Versions
/// 1 (8-byte rows, reserved header field) and 2 (no chunk checksums) are still read.
pub const CHANGES_VERSION: u32 = 3;
/// Rows of a changes table covered by one checksum (version 3).
pub const CHANGES_CHUNK: usize = 512;
/// Bytes per group (refs) or chunk (changes) checksum.
pub const PART_CRC_LEN: usize = 4;
pub const MAGIC_OFFSET: usize = 0;
pub const VERSION_OFFSET: usize = MAGIC_OFFSET + 4;
pub const COUNT_OFFSET: usize = VERSION_OFFSET + size_of::<u32>();
/// Refs table: where the group offsets start. Changes table: the row length (version 2;
/// reserved in version 1, whose rows are 8 bytes).
pub const ARRAY_OFFSET: usize = COUNT_OFFSET + size_of::<u64>();
pub const HEADER_LEN: usize = ARRAY_OFFSET + size_of::<u64>();
pub const TRAILER_LEN: usize = 4;
/// Changes table row lengths: offsets that fit in 32 bits, and the rest.
pub const CHANGE_ROW_SHORT: usize = 4;
pub const CHANGE_ROW_LONG: usize = 8;

use crate::bytes::{be32, be64};

/// Which parts (groups of a refs table, chunks of a changes table) have matched their
/// checksum since the table was opened: one bit each. Empty for tables without part
/// checksums, which have nothing to verify.
struct Verified {
    bits: Box<[std::sync::atomic::AtomicU64]>,
}

impl Verified {
    fn new(parts: usize, checksummed: bool) -> Verified {
        let words = if checksummed { parts.div_ceil(64) } else { 0 };
        Verified { bits: (0..words).map(|_| std::sync::atomic::AtomicU64::new(0)).collect() }
    }

    fn none() -> Verified {
        Verified { bits: Box::new([]) }
    }

    /// Check part `i` with `check` unless it passed before (or the table has no checksums).
    fn ensure(&self, i: usize, check: impl FnOnce() -> Result<()>) -> Result<()> {
        let Some(word) = self.bits.get(i / 64) else { return Ok(()) };
        let bit = 1u64 << (i % 64);
        if word.load(AtomicOrdering::Relaxed) & bit != 0 {
            return Ok(());
        }
        check()?;
        word.fetch_or(bit, AtomicOrdering::Relaxed);
        Ok(())
    }
}

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

/// Entries per group: the refs table records the offset of every `GROUP`-th entry only;
/// a lookup bisects the groups by their first id, then scans at most one group. Within a
/// group each id is stored as the length it shares with the previous id plus the rest.
pub const GROUP: usize = 16;

/// Leading bytes of each group's first id that the in-memory directory keeps.
const KEY_PREFIX: usize = 16;
/// Lookups a table serves by bisecting the file itself before it builds its directory: a
/// one-shot command does not pay for it, a busy reader does once.
const DIRECTORY_AFTER: usize = 256;

/// The first `KEY_PREFIX` bytes of an id, zero-padded, as a big-endian integer (compared
/// in one instruction). For two ids `a` and `b`, `key_prefix(a) < key_prefix(b)` implies
/// `a < b`; equal prefixes decide nothing.
pub(crate) fn key_prefix(id: &[u8]) -> u128 {
    let mut out = [0u8; KEY_PREFIX];
    for (slot, byte) in out.iter_mut().zip(id) {
        *slot = *byte;
    }
    u128::from_be_bytes(out)
}

/// A position in a refs table: the next entry's offset, the id before it (from which that
/// entry's id is rebuilt), its position among the entries and the hint before it (which
/// its hint is relative to).
#[derive(Clone, Debug)]
pub struct Cursor {
    at: usize,
    id: Vec<u8>,
    index: usize,
    base: hint::Base,
}

impl Cursor {
    fn new(at: usize, index: usize) -> Cursor {
        Cursor { at, id: Vec::with_capacity(64), index, base: hint::Base::default() }
    }

    /// The id of the entry last stepped over.
    pub fn id(&self) -> &[u8] {
        &self.id
    }
}

/// A sorted refs table.
pub struct RefsTable {
    bytes: Bytes,
    path: PathBuf,
    count: usize,
    /// Where the group offsets start (= end of the entries).
    offsets_at: usize,
    groups: usize,
    /// Version 2 and later: every record ends with a body hint.
    hints: bool,
    /// Version 3: where the group checksums start, and which groups have matched theirs.
    crcs_at: Option<usize>,
    verified: Verified,
    /// Lookups served so far (until the directory is built).
    lookups: AtomicUsize,
    /// Every group's first-id prefix, in memory: bisecting it touches a few contiguous
    /// cache lines instead of two random pages of the file per step. `None` if building it
    /// met a malformed entry (lookups then bisect the file and report it).
    directory: OnceLock<Option<Vec<u128>>>,
    /// Ids this table holds, once it has answered enough lookups with "absent".
    absent: filter::Lazy,
}

impl RefsTable {
    pub fn empty() -> RefsTable {
        RefsTable {
            bytes: Bytes::Empty,
            path: PathBuf::new(),
            count: 0,
            offsets_at: HEADER_LEN,
            groups: 0,
            hints: true,
            crcs_at: None,
            verified: Verified::none(),
            lookups: AtomicUsize::new(0),
            directory: OnceLock::new(),
            absent: filter::Lazy::default(),
        }
    }

    pub fn open(path: &Path) -> Result<RefsTable> {
        let bytes = map_file(path)?;
        let b = bytes.as_ref();
        let corrupt = |at: usize, what: &str| Error::corrupt(path, at as u64, what);
        if b.get(..4) != Some(&REFS_MAGIC[..]) {
            return Err(corrupt(0, "not a refs table (bad magic)"));
        }
        let version = be32(b, VERSION_OFFSET).unwrap_or(0);
        if !(VERSION_NO_HINTS..=VERSION).contains(&version) {
            return Err(Error::UnsupportedVersion {
                path: path.into(),
                what: "refs table",
                found: version,
                max: VERSION,
            });
        }
        let count = be64(b, COUNT_OFFSET).ok_or_else(|| corrupt(COUNT_OFFSET, "truncated header"))? as usize;
        let offsets_at =
            be64(b, ARRAY_OFFSET).ok_or_else(|| corrupt(ARRAY_OFFSET, "truncated header"))? as usize;
        let groups = count.div_ceil(GROUP);
        let checksummed = version >= VERSION;
        let per_group = 8 + if checksummed { PART_CRC_LEN } else { 0 };
        let expected =
            offsets_at.checked_add(groups.saturating_mul(per_group)).and_then(|e| e.checked_add(TRAILER_LEN));
        if offsets_at < HEADER_LEN || expected != Some(b.len()) {
            return Err(corrupt(b.len(), "refs table size does not match its header"));
        }
        Ok(RefsTable {
            bytes,
            path: path.into(),
            count,
            offsets_at,
            groups,
            hints: version >= VERSION_NO_GROUP_CRCS,
            crcs_at: checksummed.then_some(offsets_at + groups * 8),
            verified: Verified::new(groups, checksummed),
            lookups: AtomicUsize::new(0),
            directory: OnceLock::new(),
            absent: filter::Lazy::default(),
        })
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

    /// Byte offset just past the last entry.
    pub fn end(&self) -> usize {
        self.offsets_at
    }

    /// Byte offset of the first entry of group `g`.
    fn group_start(&self, g: usize) -> Result<usize> {
        be64(self.bytes.as_ref(), self.offsets_at + g * 8)
            .map(|o| o as usize)
            .filter(|&o| o >= HEADER_LEN && o < self.offsets_at)
            .ok_or_else(|| Error::corrupt(&self.path, (self.offsets_at + g * 8) as u64, "bad group offset"))
    }

    /// Verify group `g` against its checksum (version 3), once per open table.
    fn check_group(&self, g: usize) -> Result<()> {
        let Some(crcs_at) = self.crcs_at else { return Ok(()) };
        self.verified.ensure(g, || {
            let start = self.group_start(g)?;
            let end = if g + 1 < self.groups { self.group_start(g + 1)? } else { self.offsets_at };
            let damaged = || {
                Error::corrupt(&self.path, start as u64, format!("refs table group {g} fails its checksum"))
            };
            let bytes = self.bytes.as_ref().get(start..end).ok_or_else(damaged)?;
            let stored = be32(self.bytes.as_ref(), crcs_at + g * PART_CRC_LEN);
            if stored != Some(crc32fast::hash(bytes)) {
                return Err(damaged());
            }
            Ok(())
        })
    }

    /// The first id of group `g`, straight from the file (it is stored whole). Not
    /// verified: it only steers a search, whose answer comes from verified groups.
    fn first_id(&self, g: usize) -> Result<&[u8]> {
        let at = self.group_start(g)?;
        let bad = || Error::corrupt(&self.path, at as u64, "malformed refs entry");
        let mut rest = self.bytes.as_ref().get(at..self.offsets_at).ok_or_else(bad)?;
        if varint::read(&mut rest).ok_or_else(bad)? != 0 {
            return Err(bad());
        }
        let len = varint::read(&mut rest).ok_or_else(bad)? as usize;
        varint::take(&mut rest, len).ok_or_else(bad)
    }

    /// The in-memory directory, once this table has served `DIRECTORY_AFTER` lookups.
    fn directory(&self) -> Option<&[u128]> {
        if let Some(built) = self.directory.get() {
            return built.as_deref();
        }
        if self.lookups.fetch_add(1, AtomicOrdering::Relaxed) < DIRECTORY_AFTER {
            return None;
        }
        let built = self.directory.get_or_init(|| {
            (0..self.groups).map(|g| self.first_id(g).ok().map(key_prefix)).collect::<Option<Vec<_>>>()
        });
        built.as_deref()
    }

    /// The first id of the middle group, if there are at least two groups.
    pub fn middle_id(&self) -> Option<String> {
        if self.groups < 2 {
            return None;
        }
        self.first_id(self.groups / 2).ok().and_then(|id| String::from_utf8(id.to_vec()).ok())
    }

    /// A cursor at the start of group `g` (whose first id is stored whole).
    fn group_cursor(&self, g: usize) -> Result<Cursor> {
        Ok(Cursor::new(self.group_start(g)?, g * GROUP))
    }

    /// Read the body hint that ends record `index` (none in a version 1 table), relative to
    /// `base`, which starts afresh with each group. `None` if it is malformed.
    fn read_hint(&self, rest: &mut &[u8], index: usize, base: &mut hint::Base) -> Option<Option<Found>> {
        if !self.hints {
            return Some(None);
        }
        if index % GROUP == 0 {
            *base = hint::Base::default();
        }
        hint::read(rest, base)
    }

    /// Read the entry under `cursor` (its id is rebuilt from the previous one) with its
    /// hint, and move the cursor past it; with `decode: false` the entry is stepped over,
    /// not decoded.
    fn step(&self, cursor: &mut Cursor, decode: bool) -> Result<(Option<Entry>, Option<Found>)> {
        let at = cursor.at;
        let bad = || Error::corrupt(&self.path, at as u64, "malformed refs entry");
        let mut rest = self.step_id(cursor)?;
        let entry = if decode {
            Some(Entry::decode(&mut rest).flatten().ok_or_else(bad)?)
        } else {
            Entry::skip(&mut rest).ok_or_else(bad)?;
            None
        };
        let found = self.read_hint(&mut rest, cursor.index, &mut cursor.base).ok_or_else(bad)?;
        cursor.at = self.offsets_at - rest.len();
        cursor.index += 1;
        Ok((entry, found))
    }

    /// Rebuild the id of the entry under `cursor` into `cursor.id`; returns the bytes from
    /// the entry's encoding to the end of the entries.
    fn step_id(&self, cursor: &mut Cursor) -> Result<&[u8]> {
        if cursor.index % GROUP == 0 {
            self.check_group(cursor.index / GROUP)?;
        }
        let at = cursor.at;
        let bad = || Error::corrupt(&self.path, at as u64, "malformed refs entry");
        let mut rest = self.bytes.as_ref().get(at..self.offsets_at).ok_or_else(bad)?;
        let shared = varint::read(&mut rest).ok_or_else(bad)? as usize;
        let suffix_len = varint::read(&mut rest).ok_or_else(bad)? as usize;
        let suffix = varint::take(&mut rest, suffix_len).ok_or_else(bad)?;
        if shared > cursor.id.len() {
            return Err(bad());
        }
        cursor.id.truncate(shared);
        cursor.id.extend_from_slice(suffix);
        Ok(rest)
    }

    /// The entry under `cursor` as its stored encoding (its id is then `cursor.id()`), with
    /// its body hint, advancing the cursor; `None` at the end. For copying entries into a
    /// new table without decoding them.
    pub fn next_raw(&self, cursor: &mut Cursor) -> Option<Result<(&[u8], Option<Found>)>> {
        if cursor.at >= self.offsets_at {
            return None;
        }
        let at = cursor.at;
        let bad = || Error::corrupt(&self.path, at as u64, "malformed refs entry");
        Some((|| {
            let entry = self.step_id(cursor)?;
            let mut rest = entry;
            Entry::skip(&mut rest).ok_or_else(bad)?;
            let encoded = entry.get(..entry.len() - rest.len()).ok_or_else(bad)?;
            let found = self.read_hint(&mut rest, cursor.index, &mut cursor.base).ok_or_else(bad)?;
            cursor.at = self.offsets_at - rest.len();
            cursor.index += 1;
            Ok((encoded, found))
        })())
    }

    /// The entry under `cursor` with its id, advancing the cursor; `None` at the end.
    pub fn next(&self, cursor: &mut Cursor) -> Option<Result<(String, Entry)>> {
        self.next_hinted(cursor).map(|r| r.map(|(id, entry, _)| (id, entry)))
    }

    /// [`RefsTable::next`] with the entry's body hint.
    pub fn next_hinted(&self, cursor: &mut Cursor) -> Option<Result<(String, Entry, Option<Found>)>> {
        if cursor.at >= self.offsets_at {
            return None;
        }
        let at = cursor.at;
        let bad = || Error::corrupt(&self.path, at as u64, "malformed refs entry");
        Some(self.step(cursor, true).and_then(|(entry, hint)| {
            let id = String::from_utf8(cursor.id.clone()).map_err(|_| bad())?;
            entry.map(|e| (id, e, hint)).ok_or_else(bad)
        }))
    }

    /// For repair: each group in turn with the offset it starts at, and its entries if it
    /// passes its checksum and decodes whole, or the first error met in it. A damaged group
    /// does not stop the walk; no entry of a damaged group is returned.
    pub fn salvage_groups(&self) -> impl Iterator<Item = (usize, u64, Result<Vec<(String, Entry)>>)> + '_ {
        (0..self.groups).map(move |g| {
            let at = self.group_start(g).map_or((self.offsets_at + g * 8) as u64, |a| a as u64);
            let read = || -> Result<Vec<(String, Entry)>> {
                let mut cursor = self.group_cursor(g)?;
                let end = ((g + 1) * GROUP).min(self.count);
                let mut out = Vec::with_capacity(GROUP);
                while cursor.index < end {
                    let entry_at = cursor.at as u64;
                    let bad = || Error::corrupt(&self.path, entry_at, "malformed refs entry");
                    out.push(self.next(&mut cursor).ok_or_else(bad)??);
                }
                Ok(out)
            };
            (g, at, read())
        })
    }

    /// The id and entry stored at byte offset `at` (an offset a changes row names).
    pub fn entry_at(&self, at: usize) -> Result<(String, Entry)> {
        // The last group starting at or before `at`, then along it.
        let (mut lo, mut hi) = (0, self.groups);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.group_start(mid)? <= at {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let bad = || Error::corrupt(&self.path, at as u64, "changes row does not name a refs entry");
        let mut cursor = self.group_cursor(lo.checked_sub(1).ok_or_else(bad)?)?;
        while cursor.at < at {
            self.step(&mut cursor, false)?;
        }
        if cursor.at != at {
            return Err(bad());
        }
        self.next(&mut cursor).ok_or_else(bad)?
    }

    /// The number of groups whose first id is `<= key` (the last of them is the only group
    /// that can hold `key`).
    fn groups_up_to(&self, key: &[u8]) -> Result<usize> {
        let (mut lo, mut hi) = (0, self.groups);
        let directory = self.directory();
        let wanted = key_prefix(key);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let at_or_before = match directory.and_then(|d| d.get(mid)).map(|p| p.cmp(&wanted)) {
                Some(std::cmp::Ordering::Less) => true,
                Some(std::cmp::Ordering::Greater) => false,
                _ => self.first_id(mid)? <= key,
            };
            if at_or_before {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// A cursor at the first entry whose id is `>= key` (at the end if there is none).
    pub fn lower_bound(&self, key: &str) -> Result<Cursor> {
        let lo = self.groups_up_to(key.as_bytes())?;
        if lo == 0 {
            return match self.groups {
                0 => Ok(Cursor::new(self.offsets_at, 0)),
                _ => self.group_cursor(0),
            };
        }
        let mut cursor = self.group_cursor(lo - 1)?;
        let mut ahead = Cursor::new(0, 0);
        while cursor.at < self.offsets_at {
            ahead.at = cursor.at;
            ahead.index = cursor.index;
            ahead.base = cursor.base;
            ahead.id.clear();
            ahead.id.extend_from_slice(&cursor.id);
            self.step(&mut ahead, false)?;
            if ahead.id.as_slice() >= key.as_bytes() {
                return Ok(cursor);
            }
            std::mem::swap(&mut cursor, &mut ahead);
        }
        Ok(cursor)
    }

    pub fn get(&self, key: &str) -> Result<Option<Entry>> {
        Ok(self.get_hinted(key, |_| {})?.map(|(entry, _)| entry))
    }

    /// The entry of `key` with its body hint, if the table has it. `on_hint` gets the hint
    /// as soon as it is read, before the entry is decoded, so that the caller can start
    /// fetching the body while the entry is decoded (which hashes its revision ids).
    pub fn get_hinted(
        &self,
        key: &str,
        on_hint: impl FnOnce(Found),
    ) -> Result<Option<(Entry, Option<Found>)>> {
        if self.absent.get().is_some_and(|f| !f.may_contain(filter::hash_bytes(key.as_bytes()))) {
            return Ok(None);
        }
        // Along the one group that can hold `key`, without rebuilding ids: each entry's id
        // is the previous id's first `shared` bytes and then its suffix, and `shared` is
        // the whole prefix the two have in common. With `matched` the prefix the previous
        // id (which sorts before `key`) shares with `key`, an entry that keeps more than
        // `matched` bytes still sorts before `key`, one that keeps fewer sorts after it,
        // and only one that keeps exactly `matched` needs its suffix compared. Entries
        // before `key` are stepped over; only the one asked for is decoded.
        let key = key.as_bytes();
        let groups_before = self.groups_up_to(key)?;
        if groups_before == 0 && self.groups > 0 {
            // `key` sorts before the first id: true only if that id is what was written.
            self.check_group(0)?;
            let first = self.first_id(0)?;
            if first <= key {
                return Err(Error::corrupt(
                    &self.path,
                    HEADER_LEN as u64,
                    "refs table search disagrees with group 0",
                ));
            }
        }
        if let Some(group) = groups_before.checked_sub(1) {
            self.check_group(group)?;
            let mut at = self.group_start(group)?;
            let group_first = at;
            let mut next_group =
                if group + 1 < self.groups { self.group_start(group + 1)? } else { self.offsets_at };
            let (mut matched, mut previous_len) = (0usize, 0usize);
            let (mut index, mut base) = (group * GROUP, hint::Base::default());
            while at < self.offsets_at {
                let bad = || Error::corrupt(&self.path, at as u64, "malformed refs entry");
                if at == next_group {
                    // Past the group's last id: the next group's first id is the bound.
                    let g = index / GROUP;
                    self.check_group(g)?;
                    next_group = if g + 1 < self.groups { self.group_start(g + 1)? } else { self.offsets_at };
                }
                let mut rest = self.bytes.as_ref().get(at..self.offsets_at).ok_or_else(bad)?;
                let shared = varint::read(&mut rest).ok_or_else(bad)? as usize;
                let suffix_len = varint::read(&mut rest).ok_or_else(bad)? as usize;
                let suffix = varint::take(&mut rest, suffix_len).ok_or_else(bad)?;
                if shared > previous_len {
                    return Err(bad());
                }
                previous_len = shared + suffix_len;
                let order = match shared.cmp(&matched) {
                    std::cmp::Ordering::Greater => std::cmp::Ordering::Less,
                    std::cmp::Ordering::Less => std::cmp::Ordering::Greater,
                    std::cmp::Ordering::Equal => {
                        let wanted = key.get(matched..).unwrap_or_default();
                        matched += suffix.iter().zip(wanted).take_while(|(a, b)| a == b).count();
                        suffix.cmp(wanted)
                    }
                };
                match order {
                    std::cmp::Ordering::Less => {
                        Entry::skip(&mut rest).ok_or_else(bad)?;
                        self.read_hint(&mut rest, index, &mut base).ok_or_else(bad)?;
                        at = self.offsets_at - rest.len();
                        index += 1;
                    }
                    std::cmp::Ordering::Equal => {
                        // The hint ends the record: step over the entry to it first.
                        let mut entry_bytes = rest;
                        Entry::skip(&mut rest).ok_or_else(bad)?;
                        let found = self.read_hint(&mut rest, index, &mut base).ok_or_else(bad)?;
                        if let Some(found) = found {
                            on_hint(found);
                        }
                        let entry = Entry::decode(&mut entry_bytes).flatten().ok_or_else(bad)?;
                        return Ok(Some((entry, found)));
                    }
                    // The search chose this group because its first id is `<= key`.
                    std::cmp::Ordering::Greater if at == group_first => {
                        return Err(Error::corrupt(
                            &self.path,
                            at as u64,
                            "refs table search disagrees with the group it chose",
                        ))
                    }
                    std::cmp::Ordering::Greater => break,
                }
            }
        }
        self.absent.note_miss(|| self.every_id_filter());
        Ok(None)
    }

    /// A filter of every id in the table; `None` if an entry is malformed.
    fn every_id_filter(&self) -> Option<filter::Filter> {
        let mut built = filter::Filter::with_capacity(self.count);
        let mut cursor = Cursor::new(HEADER_LEN, 0);
        while let Some(entry) = self.next_raw(&mut cursor) {
            entry.ok()?;
            built.insert(filter::hash_bytes(cursor.id()));
        }
        Some(built)
    }

    /// Verify the trailer checksum and every group's (fsck).
    pub fn verify(&self) -> std::result::Result<(), (u64, &'static str)> {
        verify_trailer(self.bytes.as_ref())?;
        verify_parts(self.groups, |g| self.check_group(g), "refs table group checksum mismatch")
    }
}

/// Check parts `0..parts` with `check`; the first failure as fsck reports it.
fn verify_parts(
    parts: usize,
    check: impl Fn(usize) -> Result<()>,
    what: &'static str,
) -> std::result::Result<(), (u64, &'static str)> {
    for part in 0..parts {
        if let Err(e) = check(part) {
            let offset = match e {
                Error::Corrupt { offset, .. } => offset,
                _ => 0,
            };
            return Err((offset, what));
        }
    }
    Ok(())
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

/// The changes table: one row per replicated document, the byte offset of its refs entry,
/// in the order of the entries' sequence numbers.
pub struct ChangesTable {
    bytes: Bytes,
    path: PathBuf,
    count: usize,
    /// `CHANGE_ROW_SHORT` or `CHANGE_ROW_LONG`.
    row_len: usize,
    /// Version 3: where the chunk checksums start, and which chunks have matched theirs.
    crcs_at: Option<usize>,
    verified: Verified,
}

impl ChangesTable {
    pub fn empty() -> ChangesTable {
        ChangesTable {
            bytes: Bytes::Empty,
            path: PathBuf::new(),
            count: 0,
            row_len: CHANGE_ROW_SHORT,
            crcs_at: None,
            verified: Verified::none(),
        }
    }

    pub fn open(path: &Path) -> Result<ChangesTable> {
        let bytes = map_file(path)?;
        let b = bytes.as_ref();
        let corrupt = |at: usize, what: &str| Error::corrupt(path, at as u64, what);
        if b.get(..4) != Some(&CHANGES_MAGIC[..]) {
            return Err(corrupt(0, "not a changes table (bad magic)"));
        }
        let version = be32(b, VERSION_OFFSET);
        let row_len = match version {
            Some(1) => CHANGE_ROW_LONG,
            Some(2 | CHANGES_VERSION) => match be64(b, ARRAY_OFFSET) {
                Some(4) => CHANGE_ROW_SHORT,
                Some(8) => CHANGE_ROW_LONG,
                Some(_) => return Err(corrupt(ARRAY_OFFSET, "changes table row length is not 4 or 8")),
                None => return Err(corrupt(ARRAY_OFFSET, "truncated header")),
            },
            version => {
                return Err(Error::UnsupportedVersion {
                    path: path.into(),
                    what: "changes table",
                    found: version.unwrap_or(0),
                    max: CHANGES_VERSION,
                })
            }
        };
        let count = be64(b, COUNT_OFFSET).ok_or_else(|| corrupt(COUNT_OFFSET, "truncated header"))? as usize;
        let checksummed = version == Some(CHANGES_VERSION);
        let chunks = count.div_ceil(CHANGES_CHUNK);
        let crcs_len = if checksummed { chunks * PART_CRC_LEN } else { 0 };
        if count.checked_mul(row_len).and_then(|n| n.checked_add(HEADER_LEN + crcs_len + TRAILER_LEN))
            != Some(b.len())
        {
            return Err(corrupt(b.len(), "changes table size does not match its header"));
        }
        let crcs_at = checksummed.then_some(HEADER_LEN + count * row_len);
        Ok(ChangesTable {
            bytes,
            path: path.into(),
            count,
            row_len,
            crcs_at,
            verified: Verified::new(chunks, checksummed),
        })
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Verify chunk `c` of rows against its checksum (version 3), once per open table.
    fn check_chunk(&self, c: usize) -> Result<()> {
        let Some(crcs_at) = self.crcs_at else { return Ok(()) };
        self.verified.ensure(c, || {
            let start = HEADER_LEN + c * CHANGES_CHUNK * self.row_len;
            let end = (start + CHANGES_CHUNK * self.row_len).min(crcs_at);
            let damaged = || {
                Error::corrupt(
                    &self.path,
                    start as u64,
                    format!("changes table rows {} fail their checksum", c * CHANGES_CHUNK),
                )
            };
            let bytes = self.bytes.as_ref().get(start..end).ok_or_else(damaged)?;
            if be32(self.bytes.as_ref(), crcs_at + c * PART_CRC_LEN) != Some(crc32fast::hash(bytes)) {
                return Err(damaged());
            }
            Ok(())
        })
    }

    /// Row `i`: the byte offset of a refs entry, from a verified chunk of rows.
    pub fn row(&self, i: usize) -> Result<usize> {
        self.check_chunk(i / CHANGES_CHUNK)?;
        let at = HEADER_LEN + i * self.row_len;
        let b = self.bytes.as_ref();
        let row = if self.row_len == CHANGE_ROW_SHORT { be32(b, at).map(u64::from) } else { be64(b, at) };
        row.map(|o| o as usize).ok_or_else(|| Error::corrupt(&self.path, at as u64, "truncated changes row"))
    }

    /// Verify the trailer checksum and every chunk's (fsck).
    pub fn verify(&self) -> std::result::Result<(), (u64, &'static str)> {
        verify_trailer(self.bytes.as_ref())?;
        let chunks = self.count.div_ceil(CHANGES_CHUNK);
        verify_parts(chunks, |c| self.check_chunk(c), "changes table chunk checksum mismatch")
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Streams a new refs table (entries must come in strictly increasing id order) and, with
/// it, the changes table.
pub struct TableWriter {
    refs: std::io::BufWriter<crate::disk::Appender>,
    refs_path: PathBuf,
    written: u64,
    /// Offsets of every `GROUP`-th entry.
    offsets: Vec<u64>,
    entries: u64,
    /// The id of the entry pushed last.
    previous: Vec<u8>,
    /// The hint pushed last in the current group.
    hint_base: hint::Base,
    /// The version written: `VERSION`, or an older one in tests of older tables.
    version: u32,
    /// The checksum of the group being written, and those of the groups before it.
    group_crc: crc32fast::Hasher,
    group_crcs: Vec<u32>,
    changes: Vec<(u64, u64)>,
    scratch: Vec<u8>,
}

impl TableWriter {
    pub fn create(disk: &dyn crate::disk::Disk, refs_path: &Path) -> Result<TableWriter> {
        let file = disk.create(refs_path, false).map_err(Error::io(refs_path))?;
        let mut w = TableWriter {
            refs: std::io::BufWriter::with_capacity(1 << 20, crate::disk::Appender::new(file)),
            refs_path: refs_path.into(),
            written: 0,
            offsets: Vec::new(),
            entries: 0,
            previous: Vec::new(),
            hint_base: hint::Base::default(),
            version: VERSION,
            group_crc: crc32fast::Hasher::new(),
            group_crcs: Vec::new(),
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

    /// Append `entry` with `hint`, where the body it shows ([`Entry::shown_body`]) is
    /// stored, if known.
    pub fn push(&mut self, id: &str, entry: &Entry, hint: Option<Found>) -> Result<()> {
        let seq = match entry {
            Entry::Doc(d) => Some(d.seq),
            _ => None,
        };
        let mut buf = self.start_entry(id.as_bytes(), seq);
        entry.encode(&mut buf);
        self.end_entry(buf, hint)
    }

    /// Append an entry given as its stored encoding (from [`RefsTable::next_raw`]), with
    /// `hint`; its sequence, if it is a document, is read from the encoding.
    pub fn push_raw(&mut self, id: &[u8], encoded: &[u8], hint: Option<Found>) -> Result<()> {
        let seq = Entry::peek_seq(encoded)
            .ok_or_else(|| Error::corrupt(&self.refs_path, self.written, "malformed refs entry to copy"))?;
        let mut buf = self.start_entry(id, seq);
        buf.extend_from_slice(encoded);
        self.end_entry(buf, hint)
    }

    /// Append the hint to the record in `buf` (from version 2 on) and write it.
    fn end_entry(&mut self, mut buf: Vec<u8>, hint: Option<Found>) -> Result<()> {
        if self.version >= VERSION_NO_GROUP_CRCS {
            hint::write(&mut buf, hint, &mut self.hint_base);
        }
        self.group_crc.update(&buf);
        self.put(&buf)?;
        self.scratch = buf;
        Ok(())
    }

    /// Account for one more entry (a document one if `seq` is given) and return the scratch
    /// buffer holding its id's encoding, for the caller to append the entry to.
    fn start_entry(&mut self, id: &[u8], seq: Option<Seq>) -> Vec<u8> {
        let at = self.written;
        if self.entries % GROUP as u64 == 0 {
            if self.entries > 0 {
                let done = std::mem::replace(&mut self.group_crc, crc32fast::Hasher::new());
                self.group_crcs.push(done.finalize());
            }
            self.offsets.push(at);
            self.hint_base = hint::Base::default();
        }
        self.entries += 1;
        if let Some(seq) = seq {
            self.changes.push((seq.0, at));
        }
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        // The first id of a group whole, the others as (shared prefix length, rest).
        let shared = if (self.entries - 1) % GROUP as u64 == 0 {
            0
        } else {
            self.previous.iter().zip(id).take_while(|(a, b)| a == b).count()
        };
        varint::write(&mut buf, shared as u64);
        varint::write(&mut buf, (id.len() - shared) as u64);
        buf.extend_from_slice(id.get(shared..).unwrap_or_default());
        self.previous.clear();
        self.previous.extend_from_slice(id);
        buf
    }

    /// Finish both files; both are fsynced on return. Returns the number of doc entries.
    pub fn finish(mut self, disk: &dyn crate::disk::Disk, changes_path: &Path) -> Result<u64> {
        let offsets_at = self.written;
        if self.entries > 0 {
            let last = std::mem::replace(&mut self.group_crc, crc32fast::Hasher::new());
            self.group_crcs.push(last.finalize());
        }
        let mut buf = Vec::with_capacity(self.offsets.len() * (8 + PART_CRC_LEN));
        for o in &self.offsets {
            buf.extend_from_slice(&o.to_be_bytes());
        }
        if self.version >= VERSION {
            for crc in &self.group_crcs {
                buf.extend_from_slice(&crc.to_be_bytes());
            }
        }
        self.put(&buf)?;
        let path = self.refs_path.clone();
        let file = self.refs.into_inner().map_err(|e| Error::io(&path)(e.into_error()))?.into_inner();
        // Write the real header, then compute the CRC over the whole file and append it.
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(&REFS_MAGIC);
        header.extend_from_slice(&self.version.to_be_bytes());
        header.extend_from_slice(&self.entries.to_be_bytes());
        header.extend_from_slice(&offsets_at.to_be_bytes());
        file.write_all_at(&header, 0).map_err(Error::io(&path))?;
        let crc = crc_of_file(&*file, self.written).map_err(Error::io(&path))?;
        file.write_all_at(&crc.to_be_bytes(), self.written).map_err(Error::io(&path))?;
        file.sync_all().map_err(Error::io(&path))?;

        self.changes.sort_unstable();
        // Every row is an offset below `offsets_at`: 4-byte rows when that fits in 32 bits.
        let short = u32::try_from(offsets_at).is_ok();
        let row_len = if short { CHANGE_ROW_SHORT } else { CHANGE_ROW_LONG };
        let chunks = self.changes.len().div_ceil(CHANGES_CHUNK);
        let mut out = Vec::with_capacity(
            HEADER_LEN + self.changes.len() * row_len + chunks * PART_CRC_LEN + TRAILER_LEN,
        );
        out.extend_from_slice(&CHANGES_MAGIC);
        out.extend_from_slice(&CHANGES_VERSION.to_be_bytes());
        out.extend_from_slice(&(self.changes.len() as u64).to_be_bytes());
        out.extend_from_slice(&(row_len as u64).to_be_bytes());
        for &(_, at) in &self.changes {
            match u32::try_from(at) {
                Ok(short_at) if short => out.extend_from_slice(&short_at.to_be_bytes()),
                _ => out.extend_from_slice(&at.to_be_bytes()),
            }
        }
        let rows_end = out.len();
        for c in 0..chunks {
            let start = HEADER_LEN + c * CHANGES_CHUNK * row_len;
            let end = (start + CHANGES_CHUNK * row_len).min(rows_end);
            let crc = crc32fast::hash(out.get(start..end).unwrap_or_default());
            out.extend_from_slice(&crc.to_be_bytes());
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        crate::fsutil::write_new(disk, changes_path, &out)?;
        Ok(self.changes.len() as u64)
    }
}

fn crc_of_file(file: &dyn crate::disk::File, len: u64) -> std::io::Result<u32> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{hash_object, Kind, Seq};
    use crate::refs::{DocRef, Leaf, LocalRef};
    use crate::rev::RevId;

    fn entry(i: usize) -> Entry {
        let body = hash_object(Kind::Body, &i.to_be_bytes());
        if i % 7 == 3 {
            return Entry::Local(LocalRef { rev: i as u64, body });
        }
        Entry::Doc(DocRef {
            seq: Seq((i * 37 % 1000) as u64 + 1),
            leaves: vec![Leaf::new(RevId::for_edit(None, false, &body), false, body, None, Vec::new())],
        })
    }

    /// A body hint for entry `i`: none for every fifth, and blocks that go up, stay and go
    /// down, in two packs.
    fn hint(i: usize) -> Option<Found> {
        let pack = crate::pack::PackId(if i % 11 == 10 { 9 } else { 2 });
        let block = 1000 + (i as u32 / 3) * 611 - (i as u32 % 4) * 97;
        (i % 5 != 4).then_some(Found { pack, loc: crate::pack::Loc { block, inner: (i as u32 * 131) % 640 } })
    }

    /// Write keys `k000`, `k002`, … (even numbers below `2 * n`) with version `version`.
    fn even_keys_table(dir: &Path, n: usize, version: u32) -> (PathBuf, Vec<String>) {
        let path = dir.join(format!("refs-v{version}"));
        let mut w = TableWriter::create(&crate::disk::RealDisk, &path).unwrap();
        w.version = version;
        let keys: Vec<String> = (0..n).map(|i| format!("k{:03}", 2 * i)).collect();
        for (i, k) in keys.iter().enumerate() {
            w.push(k, &entry(i), hint(i)).unwrap();
        }
        w.finish(&crate::disk::RealDisk, &dir.join(format!("changes-v{version}"))).unwrap();
        (path, keys)
    }

    /// A flipped bit anywhere in a group's records makes every read that uses the group
    /// fail, hits and misses alike, including a miss decided by the next group's first id;
    /// the other groups still read. A version 2 table (no group checksums) reads as before.
    #[test]
    fn reads_verify_the_groups_they_use() {
        let dir = tempfile::tempdir().unwrap();
        let (path, keys) = even_keys_table(dir.path(), 40, VERSION);
        let clean = RefsTable::open(&path).unwrap();
        assert!(clean.verify().is_ok());
        let group_1 = clean.group_start(1).unwrap();
        let original = std::fs::read(&path).unwrap();
        // group 1's first record stores its id (`k032`) whole: flip the id's last byte
        let mut bytes = original.clone();
        let at = group_1 + 2 + 3;
        assert_eq!(bytes[at], b'2');
        bytes[at] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        let damaged = RefsTable::open(&path).unwrap();
        assert!(damaged.verify().is_err());
        let is_checksum = |r: Result<Option<Entry>>| matches!(r, Err(Error::Corrupt { what, .. }) if what.contains("group 1 fails its checksum"));
        assert!(is_checksum(damaged.get("k032")), "a hit in the damaged group");
        assert!(is_checksum(damaged.get("k033")), "a miss inside the damaged group");
        // `k031` lies past group 0's last id: group 1's first id says it is absent
        assert!(is_checksum(damaged.get("k031")), "a miss bounded by the damaged group");
        assert_eq!(damaged.get("k030").unwrap(), Some(entry(15)), "group 0 is intact");
        assert_eq!(damaged.get("k064").unwrap(), Some(entry(32)), "group 2 is intact");
        let mut cursor = damaged.lower_bound("").unwrap();
        let mut listed = 0;
        let stopped = loop {
            match damaged.next(&mut cursor) {
                Some(Ok(_)) => listed += 1,
                Some(Err(e)) => break Some(e),
                None => break None,
            }
        };
        assert_eq!(listed, 16, "iteration reads group 0 only");
        assert!(stopped.is_some_and(|e| e.to_string().contains("group 1 fails its checksum")));
        // A version 2 table has no group checksums: the same flip goes unseen on reads.
        let (v2, _) = even_keys_table(dir.path(), 40, VERSION_NO_GROUP_CRCS);
        let v2_clean = std::fs::read(&v2).unwrap();
        assert_eq!(v2_clean.len() + 4 * 3, original.len());
        let table = RefsTable::open(&v2).unwrap();
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(table.get_hinted(k, |_| {}).unwrap(), Some((entry(i), hint(i))));
        }
    }

    /// The changes table's rows are read only from a chunk that matches its checksum.
    #[test]
    fn changes_rows_are_verified_by_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let (refs, changes) = (dir.path().join("r"), dir.path().join("c"));
        let mut w = TableWriter::create(&crate::disk::RealDisk, &refs).unwrap();
        for i in 0..1200 {
            w.push(&format!("k{i:05}"), &entry(i), None).unwrap();
        }
        let docs = w.finish(&crate::disk::RealDisk, &changes).unwrap() as usize;
        assert!(docs > 2 * CHANGES_CHUNK);
        let mut bytes = std::fs::read(&changes).unwrap();
        let row = CHANGES_CHUNK + 7;
        bytes[HEADER_LEN + row * CHANGE_ROW_SHORT + 3] ^= 0x04;
        std::fs::write(&changes, &bytes).unwrap();
        let table = ChangesTable::open(&changes).unwrap();
        assert!(table.row(0).is_ok() && table.row(2 * CHANGES_CHUNK).is_ok());
        for r in [CHANGES_CHUNK, row, 2 * CHANGES_CHUNK - 1] {
            let err = table.row(r).unwrap_err().to_string();
            assert!(err.contains(&format!("rows {CHANGES_CHUNK} fail their checksum")), "{err}");
        }
        assert!(table.verify().is_err());
    }

    /// A version 1 table (no hints) reads the same entries, every one without a hint, and
    /// its raw records copy without them.
    #[test]
    fn tables_without_hints_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let (refs, changes) = (dir.path().join("r"), dir.path().join("c"));
        let mut w = TableWriter::create(&crate::disk::RealDisk, &refs).unwrap();
        w.version = VERSION_NO_HINTS;
        let keys: Vec<String> = (0..40).map(|i| format!("k{i:03}")).collect();
        for (i, k) in keys.iter().enumerate() {
            w.push(k, &entry(i), hint(i)).unwrap();
        }
        w.finish(&crate::disk::RealDisk, &changes).unwrap();
        let bytes = std::fs::read(&refs).unwrap();
        assert_eq!(bytes[VERSION_OFFSET..VERSION_OFFSET + 4], VERSION_NO_HINTS.to_be_bytes());
        let t = RefsTable::open(&refs).unwrap();
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(
                t.get_hinted(k, |_| panic!("no hint in a version 1 table")).unwrap(),
                Some((entry(i), None))
            );
        }
        let mut cursor = t.lower_bound("").unwrap();
        let mut n = 0;
        while let Some(raw) = t.next_raw(&mut cursor) {
            let (encoded, hint) = raw.unwrap();
            let mut one = Vec::new();
            entry(n).encode(&mut one);
            assert_eq!((encoded, hint), (&one[..], None));
            assert_eq!(Entry::peek_shown_body(encoded).as_ref(), entry(n).shown_body());
            n += 1;
        }
        assert_eq!(n, keys.len());
    }

    /// `peek_shown_body` finds the winner's body past a stored (not derived) hash too.
    #[test]
    fn the_shown_body_is_read_without_decoding() {
        let body = |i: u8| hash_object(Kind::Body, &[i]);
        let leaf =
            |i: u8, hash: &str| Leaf::new(format!("3-{hash}").parse().unwrap(), false, body(i), None, vec![]);
        let doc = Entry::Doc(DocRef {
            seq: Seq(9),
            leaves: vec![
                leaf(1, "ffffffffffffffffffffffffffffffff"),
                leaf(2, "0000000000000000000000000000000a"),
            ],
        });
        let mut encoded = Vec::new();
        doc.encode(&mut encoded);
        assert_eq!(Entry::peek_shown_body(&encoded), Some(body(1)));
        assert_eq!(Entry::peek_shown_body(&[crate::refs::TAG_REMOVED]), None);
        assert_eq!(Entry::peek_shown_body(&encoded[..encoded.len() / 3]), None);
    }

    #[test]
    fn every_key_is_found_across_group_boundaries() {
        for n in [0usize, 1, 2, 15, 16, 17, 31, 32, 33, 100, 1000] {
            let dir = tempfile::tempdir().unwrap();
            let (refs, changes) = (dir.path().join("r"), dir.path().join("c"));
            let mut w = TableWriter::create(&crate::disk::RealDisk, &refs).unwrap();
            // keys with gaps between them: k002, k004, ...
            let keys: Vec<String> = (0..n).map(|i| format!("k{:05}", 2 * i + 2)).collect();
            for (i, k) in keys.iter().enumerate() {
                w.push(k, &entry(i), hint(i)).unwrap();
            }
            w.finish(&crate::disk::RealDisk, &changes).unwrap();
            let t = RefsTable::open(&refs).unwrap();
            assert_eq!(t.len(), n);
            assert!(t.verify().is_ok());
            for (i, k) in keys.iter().enumerate() {
                assert_eq!(t.get(k).unwrap(), Some(entry(i)), "n={n} key {k}");
                let mut told = None;
                assert_eq!(
                    t.get_hinted(k, |h| told = Some(h)).unwrap(),
                    Some((entry(i), hint(i))),
                    "n={n} key {k}"
                );
                assert_eq!(told, hint(i), "the hint is handed over early; n={n} key {k}");
                // a key just below lands on this one
                let below = format!("k{:05}", 2 * i + 1);
                let (id, _) = t.next(&mut t.lower_bound(&below).unwrap()).unwrap().unwrap();
                assert_eq!(&id, k);
                assert_eq!(t.get(&below).unwrap(), None);
            }
            assert!(t.next(&mut t.lower_bound("z").unwrap()).is_none());
            assert_eq!(t.get("a").unwrap(), None);
            // iterating from the first entry visits every key in order
            let mut cursor = t.lower_bound("").unwrap();
            let mut seen = Vec::new();
            while let Some(entry) = t.next(&mut cursor) {
                seen.push(entry.unwrap().0);
            }
            assert_eq!(seen, keys);
            let c = ChangesTable::open(&changes).unwrap();
            let docs = (0..n).filter(|i| i % 7 != 3).count();
            assert_eq!(c.len(), docs);
            let seqs: Vec<Seq> = (0..c.len())
                .map(|r| match t.entry_at(c.row(r).unwrap()).unwrap().1 {
                    Entry::Doc(d) => d.seq,
                    Entry::Local(_) => panic!("a local entry in the changes table"),
                })
                .collect();
            assert!(seqs.windows(2).all(|w| w[0] <= w[1]), "changes rows in seq order");
        }
    }

    /// A changes table is written with 4-byte rows, and one with 8-byte rows (version 1, or
    /// version 2 with row length 8) reads the same; any other row length is corruption.
    #[test]
    fn changes_rows_of_either_length_name_the_same_entries() {
        let dir = tempfile::tempdir().unwrap();
        let (refs, changes) = (dir.path().join("r"), dir.path().join("c"));
        let mut w = TableWriter::create(&crate::disk::RealDisk, &refs).unwrap();
        for i in 0..40 {
            w.push(&format!("k{i:03}"), &entry(i), hint(i)).unwrap();
        }
        let docs = w.finish(&crate::disk::RealDisk, &changes).unwrap() as usize;
        let short = std::fs::read(&changes).unwrap();
        assert_eq!(be32(&short, VERSION_OFFSET), Some(CHANGES_VERSION));
        assert_eq!(be64(&short, ARRAY_OFFSET), Some(CHANGE_ROW_SHORT as u64));
        assert_eq!(short.len(), HEADER_LEN + docs * CHANGE_ROW_SHORT + PART_CRC_LEN + TRAILER_LEN);
        let rows = |path: &Path| {
            let c = ChangesTable::open(path).unwrap();
            assert!(c.verify().is_ok());
            (0..c.len()).map(|r| c.row(r).unwrap()).collect::<Vec<_>>()
        };
        let want = rows(&changes);
        assert_eq!(want.len(), docs);
        // The same rows as 8-byte offsets, under each header that announces them.
        for (version, field) in [(1u32, 0u64), (2, CHANGE_ROW_LONG as u64)] {
            let mut long = CHANGES_MAGIC.to_vec();
            long.extend_from_slice(&version.to_be_bytes());
            long.extend_from_slice(&(docs as u64).to_be_bytes());
            long.extend_from_slice(&field.to_be_bytes());
            for at in &want {
                long.extend_from_slice(&(*at as u64).to_be_bytes());
            }
            let crc = crc32fast::hash(&long);
            long.extend_from_slice(&crc.to_be_bytes());
            std::fs::write(&changes, &long).unwrap();
            assert_eq!(rows(&changes), want, "version {version}");
        }
        let mut odd = short.clone();
        odd.splice(ARRAY_OFFSET..HEADER_LEN, 6u64.to_be_bytes());
        std::fs::write(&changes, &odd).unwrap();
        let err = ChangesTable::open(&changes).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("row length is not 4 or 8"), "{err}");
        let mut newer = short;
        newer.splice(VERSION_OFFSET..COUNT_OFFSET, (CHANGES_VERSION + 1).to_be_bytes());
        std::fs::write(&changes, &newer).unwrap();
        assert!(matches!(ChangesTable::open(&changes), Err(Error::UnsupportedVersion { found: 4, .. })));
    }

    /// Lookups agree before and after the in-memory directory is built, with ids whose
    /// first 16 bytes are shared (the directory cannot decide) or differ only in length.
    #[test]
    fn lookups_agree_once_the_directory_is_built() {
        let dir = tempfile::tempdir().unwrap();
        let (refs, changes) = (dir.path().join("r"), dir.path().join("c"));
        let mut keys: Vec<String> = (0..300).map(|i| format!("tenant-0000000000/doc-{:04}", 3 * i)).collect();
        keys.extend((0..100).map(|i| format!("t{}", "0".repeat(i % 20))));
        keys.extend((0..100).map(|i| format!("t{}\u{0}", "0".repeat(i % 20))));
        keys.sort();
        keys.dedup();
        let mut w = TableWriter::create(&crate::disk::RealDisk, &refs).unwrap();
        for (i, k) in keys.iter().enumerate() {
            w.push(k, &entry(i), hint(i)).unwrap();
        }
        w.finish(&crate::disk::RealDisk, &changes).unwrap();
        let t = RefsTable::open(&refs).unwrap();
        let mut absent: Vec<String> =
            (0..300).map(|i| format!("tenant-0000000000/doc-{:04}", 3 * i + 1)).collect();
        // Near misses: each id cut short, grown by a byte, or with its last byte changed.
        for k in &keys {
            let mut near = vec![format!("{k}0"), format!("{k}\u{1}")];
            if let Some(last) = k.chars().last() {
                let stem = &k[..k.len() - last.len_utf8()];
                near.extend([
                    stem.to_string(),
                    format!("{stem}1"),
                    format!("{stem}/"),
                    format!("{stem}\u{7f}"),
                ]);
            }
            absent.extend(near.into_iter().filter(|n| !keys.contains(n)));
        }
        for round in 0..2 {
            for (i, k) in keys.iter().enumerate() {
                assert_eq!(t.get(k).unwrap(), Some(entry(i)), "round {round}, key {k:?}");
            }
            for k in &absent {
                assert_eq!(t.get(k).unwrap(), None, "round {round}, key {k:?}");
                let next = t.next(&mut t.lower_bound(k).unwrap()).map(|e| e.unwrap().0);
                assert_eq!(next.as_ref(), keys.iter().find(|x| x.as_str() > k.as_str()));
            }
        }
        assert!(t.directory.get().is_some_and(Option::is_some), "the directory was built");
    }

    /// After enough misses the table answers from its absence filter: still every present id
    /// (including the last of a group and of the table) and no absent one.
    #[test]
    fn lookups_agree_once_the_absence_filter_is_built() {
        let dir = tempfile::tempdir().unwrap();
        let (refs, changes) = (dir.path().join("r"), dir.path().join("c"));
        let keys: Vec<String> = (0..5_000).map(|i| format!("pkg-{:08}", 2 * i)).collect();
        let mut w = TableWriter::create(&crate::disk::RealDisk, &refs).unwrap();
        for (i, k) in keys.iter().enumerate() {
            w.push(k, &entry(i), hint(i)).unwrap();
        }
        w.finish(&crate::disk::RealDisk, &changes).unwrap();
        let t = RefsTable::open(&refs).unwrap();
        for i in 0..crate::filter::Lazy::AFTER_MISSES {
            assert_eq!(t.get(&format!("pkg-{:08}", 2 * i + 1)).unwrap(), None);
        }
        assert!(t.absent.get().is_some(), "the filter was built");
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(t.get(k).unwrap(), Some(entry(i)), "{k}");
        }
        for i in 0..5_000 {
            assert_eq!(t.get(&format!("pkg-{:08}", 2 * i + 1)).unwrap(), None);
        }
        assert_eq!(t.get("pkg-99999999").unwrap(), None);
        assert_eq!(t.get("").unwrap(), None);
    }
}
