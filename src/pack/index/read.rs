//! Reading an index: validate the header and size on open, binary-search within the fanout
//! bucket on lookup. Bytes come from disk and are untrusted.

#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used))]

use std::path::{Path, PathBuf};

use super::*;
use crate::error::{Error, Result};
use crate::id::ObjectId;
use crate::pack::{Loc, PackId};

/// The filter hash of an object id: its first 8 bytes (ids are uniformly distributed).
fn filter_hash(id: &[u8]) -> Option<u64> {
    crate::bytes::be64(id, 0)
}

/// An open index over bytes `T` (an mmap in the store, a `Vec<u8>` in tests).
pub struct Index<T: AsRef<[u8]> = memmap2::Mmap> {
    bytes: T,
    path: PathBuf,
    pack: PackId,
    count: usize,
    /// Bytes per location: `LOC_LEN_SHORT` (version 2) or `LOC_LEN_LONG` (version 1).
    loc_len: usize,
    /// Ids this index holds, once it has answered enough lookups with "absent".
    absent: crate::filter::Lazy,
    /// The outcome of [`Index::verify`], once a reader has needed it.
    verified: std::sync::OnceLock<std::result::Result<(), (u64, &'static str)>>,
}

use crate::bytes::be32;

impl Index<memmap2::Mmap> {
    /// Map the index at `path`.
    pub fn open(path: &Path) -> Result<Index> {
        let file = std::fs::File::open(path).map_err(Error::io(path))?;
        // SAFETY: index files are written whole and fsynced before a manifest names them, and
        // are never modified afterwards; they are only unlinked, which keeps an open mapping
        // valid on Unix. No settee process truncates or rewrites an index in place.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(Error::io(path))?;
        Index::from_bytes(map, path)
    }
}

impl<T: AsRef<[u8]>> Index<T> {
    /// Check the header and size of index bytes read from `path`.
    pub fn from_bytes(bytes: T, path: &Path) -> Result<Index<T>> {
        let b = bytes.as_ref();
        let corrupt = |offset: usize, what: &str| Error::corrupt(path, offset as u64, what);
        if b.get(..4) != Some(&MAGIC[..]) {
            return Err(corrupt(0, "not an index file (bad magic)"));
        }
        let version = be32(b, VERSION_OFFSET).ok_or_else(|| corrupt(VERSION_OFFSET, "truncated header"))?;
        let Some(loc_len) = loc_len(version) else {
            return Err(Error::UnsupportedVersion {
                path: path.into(),
                what: "index",
                found: version,
                max: VERSION,
            });
        };
        let hi = be32(b, PACK_ID_OFFSET).ok_or_else(|| corrupt(PACK_ID_OFFSET, "truncated header"))?;
        let lo = be32(b, PACK_ID_OFFSET + 4).ok_or_else(|| corrupt(PACK_ID_OFFSET, "truncated header"))?;
        let count = be32(b, COUNT_OFFSET).ok_or_else(|| corrupt(COUNT_OFFSET, "truncated header"))? as usize;
        if b.len() != file_len(count, loc_len) {
            return Err(corrupt(b.len(), "index size does not match its object count"));
        }
        let last =
            be32(b, FANOUT_OFFSET + 255 * 4).ok_or_else(|| corrupt(FANOUT_OFFSET, "truncated fanout"))?;
        if last as usize != count {
            return Err(corrupt(FANOUT_OFFSET, "fanout does not match the object count"));
        }
        Ok(Index {
            bytes,
            path: path.into(),
            pack: PackId((u64::from(hi) << 32) | u64::from(lo)),
            count,
            loc_len,
            absent: crate::filter::Lazy::default(),
            verified: std::sync::OnceLock::new(),
        })
    }

    pub fn pack(&self) -> PackId {
        self.pack
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

    #[inline]
    fn id_at(&self, i: usize) -> Option<&[u8]> {
        let at = IDS_OFFSET + i * ID_LEN;
        self.bytes.as_ref().get(at..at + ID_LEN)
    }

    fn loc_at(&self, i: usize) -> Option<Loc> {
        let at = IDS_OFFSET + self.count * ID_LEN + i * self.loc_len;
        let b = self.bytes.as_ref();
        let inner = match self.loc_len {
            LOC_LEN_SHORT => u32::from(u16::from_be_bytes(b.get(at + 4..at + 6)?.try_into().ok()?)),
            _ => be32(b, at + 4)?,
        };
        Some(Loc { block: be32(b, at)?, inner })
    }

    /// The location of `id`, if this index holds it.
    pub fn find(&self, id: &ObjectId) -> Option<Loc> {
        if self.absent.get().is_some_and(|f| filter_hash(id.as_bytes()).is_some_and(|h| !f.may_contain(h))) {
            return None;
        }
        let found = self.search(id);
        if found.is_none() {
            self.absent.note_miss(|| {
                let mut built = crate::filter::Filter::with_capacity(self.count);
                for i in 0..self.count {
                    built.insert(filter_hash(self.id_at(i)?)?);
                }
                Some(built)
            });
        }
        found
    }

    fn search(&self, id: &ObjectId) -> Option<Loc> {
        let key = id.as_bytes();
        let first = *key.first()? as usize;
        let b = self.bytes.as_ref();
        let mut lo = if first == 0 { 0 } else { be32(b, FANOUT_OFFSET + (first - 1) * 4)? as usize };
        let mut hi = (be32(b, FANOUT_OFFSET + first * 4)? as usize).min(self.count);
        // Object ids are uniformly distributed: interpolate on the 8 bytes after the first,
        // between bounds on the values held by [lo, hi): at first the whole range of the
        // fanout bucket, then the values of the ids probed. Each round reads one id (one
        // cache miss) and lands about sqrt(range) from the key; a few rounds at most, then
        // bisect what is left.
        let value = |id: &[u8]| id.get(1..9).map(|v| v.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x)));
        let want = u128::from(value(key)?);
        let (mut low, mut high) = (0u128, 1u128 << 64);
        for _ in 0..INTERPOLATION_ROUNDS {
            if hi - lo <= 16 || !(low <= want && want < high) {
                break;
            }
            let offset = (want - low) * (hi - lo) as u128 / (high - low);
            let guess = lo + (offset as usize).min(hi - lo - 1);
            let probed = self.id_at(guess)?;
            match compare_ids(probed, key) {
                std::cmp::Ordering::Less => (lo, low) = (guess + 1, u128::from(value(probed)?)),
                std::cmp::Ordering::Greater => (hi, high) = (guess, u128::from(value(probed)?) + 1),
                std::cmp::Ordering::Equal => return self.loc_at(guess),
            }
        }
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match compare_ids(self.id_at(mid)?, key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return self.loc_at(mid),
            }
        }
        None
    }

    /// Every entry, in id order (for fsck, compaction and bundles).
    pub fn iter(&self) -> impl Iterator<Item = (ObjectId, Loc)> + '_ {
        self.iter_range(0..self.count)
    }

    /// The entries at positions `range` (clamped to the index), in id order.
    pub fn iter_range(&self, range: std::ops::Range<usize>) -> impl Iterator<Item = (ObjectId, Loc)> + '_ {
        (range.start..range.end.min(self.count)).filter_map(move |i| {
            let id = ObjectId::try_from(self.id_at(i)?).ok()?;
            Some((id, self.loc_at(i)?))
        })
    }

    /// Full verification: trailer checksum, sorted ids, fanout consistency.
    /// [`Index::verify`] once per open index, as an error naming the file and offset: for a
    /// reader about to answer "absent", since damaged ids or fanout make lookups miss.
    pub fn verify_once(&self) -> Result<()> {
        self.verified
            .get_or_init(|| self.verify())
            .map_err(|(offset, what)| Error::corrupt(self.path.clone(), offset, what))
    }

    pub fn verify(&self) -> std::result::Result<(), (u64, &'static str)> {
        let b = self.bytes.as_ref();
        let body_len = b.len().saturating_sub(TRAILER_LEN);
        let stored = be32(b, body_len).ok_or((body_len as u64, "missing trailer"))?;
        let body = b.get(..body_len).ok_or((0, "truncated"))?;
        if crc32fast::hash(body) != stored {
            return Err((body_len as u64, "index checksum mismatch"));
        }
        let mut counts = [0u32; 256];
        let mut prev: Option<&[u8]> = None;
        for i in 0..self.count {
            let id = self.id_at(i).ok_or((0, "truncated ids"))?;
            if prev.is_some_and(|p| p >= id) {
                return Err(((IDS_OFFSET + i * ID_LEN) as u64, "ids not strictly sorted"));
            }
            if let Some(&first) = id.first() {
                if let Some(c) = counts.get_mut(first as usize) {
                    *c += 1;
                }
            }
            prev = Some(id);
        }
        let mut total = 0;
        for (bucket, count) in counts.iter().enumerate() {
            total += count;
            if be32(b, FANOUT_OFFSET + bucket * 4) != Some(total) {
                return Err(((FANOUT_OFFSET + bucket * 4) as u64, "fanout table does not match the ids"));
            }
        }
        Ok(())
    }
}

/// Interpolation rounds before a lookup falls back to bisecting.
const INTERPOLATION_ROUNDS: usize = 4;

/// Bytewise order of two object ids, deciding on the leading 8 bytes as one integer (ids
/// are uniformly distributed, so they almost always differ there) before the rest.
#[inline]
fn compare_ids(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let head = |x: &[u8]| x.get(..8).and_then(|h| h.try_into().ok()).map(u64::from_be_bytes);
    match (head(a), head(b)) {
        (Some(x), Some(y)) if x != y => x.cmp(&y),
        _ => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{hash_object, Kind};

    #[test]
    fn finds_every_entry_and_nothing_else() {
        let mut entries: Vec<(ObjectId, Loc)> = (0..500u32)
            .map(|i| (hash_object(Kind::Body, &i.to_be_bytes()), Loc { block: i, inner: i * 2 }))
            .collect();
        entries.sort_unstable_by_key(|e| e.0);
        let bytes = crate::pack::index::write::encode(PackId(7), &entries);
        let index = Index::from_bytes(bytes.clone(), Path::new("t.idx")).unwrap();
        assert_eq!(index.pack(), PackId(7));
        assert!(index.verify().is_ok());
        for (id, loc) in &entries {
            assert_eq!(index.find(id), Some(*loc));
        }
        assert_eq!(index.find(&hash_object(Kind::Body, b"absent")), None);
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 1;
            if let Ok(ix) = Index::from_bytes(bad, Path::new("t.idx")) {
                assert!(ix.verify().is_err(), "flip at {i} not detected");
            }
        }
        for len in 0..bytes.len() {
            assert!(Index::from_bytes(&bytes[..len], Path::new("t.idx")).is_err());
        }
    }

    /// Buckets of hundreds of ids go through the interpolation rounds; every id is found and
    /// ids between them are not.
    #[test]
    fn interpolation_finds_every_entry_in_large_buckets() {
        let mut entries: Vec<(ObjectId, Loc)> = (0..60_000u32)
            .map(|i| (hash_object(Kind::Body, &i.to_be_bytes()), Loc { block: i, inner: i % 1000 }))
            .collect();
        entries.sort_unstable_by_key(|e| e.0);
        let bytes = crate::pack::index::write::encode(PackId(3), &entries);
        let index = Index::from_bytes(bytes, Path::new("t.idx")).unwrap();
        for (id, loc) in &entries {
            assert_eq!(index.find(id), Some(*loc), "{id}");
        }
        for i in 60_000..70_000u32 {
            assert_eq!(index.find(&hash_object(Kind::Body, &i.to_be_bytes())), None);
        }
    }

    /// Locations are 6 bytes (version 2) while every `inner` fits in 16 bits, and 8 bytes
    /// (version 1) as soon as one does not; both read back exactly, and an unknown version
    /// is refused by name.
    #[test]
    fn location_width_follows_the_largest_inner_offset() {
        let entries = |largest: u32| {
            let mut e: Vec<(ObjectId, Loc)> = (0..300u32)
                .map(|i| (hash_object(Kind::Body, &i.to_be_bytes()), Loc { block: 16 + i * 700, inner: i }))
                .collect();
            e[7].1.inner = largest;
            e.sort_unstable_by_key(|e| e.0);
            e
        };
        for (largest, version, loc_len) in
            [(65_535, VERSION, LOC_LEN_SHORT), (65_536, VERSION_LONG_LOCS, LOC_LEN_LONG), (u32::MAX, 1, 8)]
        {
            let entries = entries(largest);
            let bytes = crate::pack::index::write::encode(PackId(5), &entries);
            assert_eq!(bytes[VERSION_OFFSET..VERSION_OFFSET + 4], version.to_be_bytes());
            assert_eq!(bytes.len(), file_len(entries.len(), loc_len));
            let index = Index::from_bytes(bytes.clone(), Path::new("t.idx")).unwrap();
            assert!(index.verify().is_ok());
            for (id, loc) in &entries {
                assert_eq!(index.find(id), Some(*loc));
            }
            assert_eq!(index.iter().collect::<Vec<_>>(), entries);
            let mut other = bytes;
            other[VERSION_OFFSET..VERSION_OFFSET + 4].copy_from_slice(&3u32.to_be_bytes());
            let refused = Index::from_bytes(other, Path::new("t.idx")).err().unwrap();
            assert!(refused.to_string().contains("version 3"), "{refused}");
        }
    }

    /// After enough misses the index answers from its absence filter: still every present id
    /// and no absent one.
    #[test]
    fn lookups_agree_once_the_absence_filter_is_built() {
        let mut entries: Vec<(ObjectId, Loc)> = (0..20_000u32)
            .map(|i| (hash_object(Kind::Body, &i.to_be_bytes()), Loc { block: i, inner: 0 }))
            .collect();
        entries.sort_unstable_by_key(|e| e.0);
        let bytes = crate::pack::index::write::encode(PackId(3), &entries);
        let index = Index::from_bytes(bytes, Path::new("t.idx")).unwrap();
        let absent = |i: u32| hash_object(Kind::Body, &(i + 1_000_000).to_be_bytes());
        for i in 0..crate::filter::Lazy::AFTER_MISSES as u32 {
            assert_eq!(index.find(&absent(i)), None);
        }
        assert!(index.absent.get().is_some(), "the filter was built");
        for (id, loc) in &entries {
            assert_eq!(index.find(id), Some(*loc), "{id}");
        }
        assert!((0..20_000).all(|i| index.find(&absent(i)).is_none()));
    }
}
