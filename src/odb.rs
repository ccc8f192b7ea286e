//! The object database: every live pack, found by object id.
//!
//! Owns: looking objects up across the sealed packs (through their indexes) and the active
//! pack (through the index of its checkpointed prefix and the locations the journal recorded
//! since), verifying what is read, a small cache of decompressed blocks per thread, and
//! objects staged by an uncommitted batch.
//! Not: deciding which packs are live (`manifest`), writing packs (`pack::writer`).
//! Invariants:
//! 1. `read` returns bytes only if they hash to the requested id; anything else is an error
//!    naming the pack and block.
//! 2. Staged objects are visible to the writer's own reads only, and vanish on rollback.
//! 3. Reads through `&ObjectDb` take no exclusive lock: threads sharing one database read in
//!    parallel (each keeps its own recent blocks; prepared dictionaries are behind a
//!    read-write lock, written once per dictionary).

use std::path::{Path, PathBuf};

use crate::hash::FastMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::error::{Error, Result};
use crate::id::{hash_object, Kind, ObjectId};
use crate::object::Revision;
use crate::pack::{frame, index::Index, reader::Reader, Loc, PackId};

/// How many frames from the start of a pack `dictionary_bytes` looks through.
const DICTIONARY_SEARCH_FRAMES: usize = 4096;

/// Decompressed blocks kept for reuse (see `RecentBlocks`).
const RECENT_BLOCKS: usize = 8;

/// The kind and bytes of a staged object.
type StagedBytes = (Kind, Arc<[u8]>);

/// What `ObjectDb::scan` calls for each object.
pub type Visit<'a> = dyn FnMut(ObjectId, Kind, &[u8]) -> Result<()> + 'a;

/// A block: the database it was read through ([`ObjectDb::uid`]), its pack and the offset of
/// its frame.
type BlockKey = (u64, PackId, u32);

/// The next [`ObjectDb::uid`].
static NEXT_UID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's recent blocks, of every database it reads (told apart by uid).
    static RECENT: std::cell::RefCell<RecentBlocks> = std::cell::RefCell::new(RecentBlocks::default());
}

/// The blocks decompressed last, replaced oldest first: enough for reads that visit a
/// block's objects in turn (documents in id or sequence order, a revision and its
/// neighbours), and a few KiB, which leaves the CPU caches to the refs and indexes that
/// random reads need. (A map of 2048 blocks, about 1.3 MiB, made random reads about a
/// tenth slower: the map, its allocations and the blocks it kept warm crowded them out.)
#[derive(Default)]
struct RecentBlocks {
    blocks: Vec<(BlockKey, Arc<Vec<u8>>)>,
    /// Where the next block goes once `blocks` is full.
    next: usize,
}

impl RecentBlocks {
    fn get(&self, key: BlockKey) -> Option<Arc<Vec<u8>>> {
        self.blocks.iter().find(|(k, _)| *k == key).map(|(_, block)| block.clone())
    }

    fn insert(&mut self, key: BlockKey, block: Arc<Vec<u8>>) {
        if self.blocks.len() < RECENT_BLOCKS {
            self.blocks.push((key, block));
        } else if let Some(slot) = self.blocks.get_mut(self.next) {
            *slot = (key, block);
            self.next = (self.next + 1) % RECENT_BLOCKS;
        }
    }
}

struct Sealed {
    reader: Reader,
    index: Index,
}

#[derive(Clone)]
struct Active {
    reader: Reader,
    /// The index of the pack's prefix written by the last checkpoint, if any.
    index: Option<Arc<Index>>,
    /// Objects committed since that checkpoint.
    locations: FastMap<ObjectId, Loc>,
}

/// The active pack as the manifest and journal describe it.
pub struct ActiveSpec {
    pub id: PackId,
    /// Committed length (the journal's last `pack_end`, or the prefix index's coverage).
    pub committed: u64,
    /// File name of the prefix index, if one was written.
    pub index: Option<String>,
}

pub struct ObjectDb {
    dir: PathBuf,
    /// Immutable: shared by the clones of this database.
    sealed: Arc<[Sealed]>,
    active: Option<Active>,
    /// Objects added by the batch being built: revisions with their bytes (a replicated
    /// write may read them back), bodies by id only (they are never read back in a batch).
    staged: FastMap<ObjectId, Option<StagedBytes>>,
    /// Unique in the process: keys this database's blocks in the per-thread caches, which
    /// outlive it.
    uid: u64,
    dictionaries: Arc<RwLock<DictionaryCache>>,
}

/// A copy of the database as it is now, for a snapshot of the store: the packs, indexes,
/// mappings and prepared dictionaries are shared; the active pack's map of objects
/// committed since its prefix index (bounded by the checkpoint threshold) is copied, so the
/// copy and the original may each learn of later commits on their own. Clones keep the uid:
/// a block at a given place of a given pack holds the same bytes for both.
impl Clone for ObjectDb {
    fn clone(&self) -> ObjectDb {
        ObjectDb {
            dir: self.dir.clone(),
            sealed: self.sealed.clone(),
            active: self.active.clone(),
            staged: self.staged.clone(),
            uid: self.uid,
            dictionaries: self.dictionaries.clone(),
        }
    }
}

thread_local! {
    /// One decompression context per thread, used with or without a dictionary.
    static DCTX: std::cell::RefCell<zstd::zstd_safe::DCtx<'static>> =
        std::cell::RefCell::new(zstd::zstd_safe::DCtx::create());
}

/// How many prepared dictionaries each thread keeps for itself (a pack has at most one).
const THREAD_DICTIONARIES: usize = 8;

thread_local! {
    /// The dictionaries this thread used last, by database uid, pack and offset.
    static DICTIONARIES: std::cell::RefCell<Vec<(BlockKey, Arc<zstd::zstd_safe::DDict<'static>>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Prepared dictionaries by (pack, offset of the block holding them).
type DictionaryCache = FastMap<(PackId, u32), Arc<zstd::zstd_safe::DDict<'static>>>;

/// Decompress a block payload into exactly `raw_len` bytes.
fn decompress(
    payload: &[u8],
    raw_len: usize,
    dictionary: Option<&zstd::zstd_safe::DDict<'static>>,
) -> std::result::Result<Vec<u8>, frame::FrameError> {
    DCTX.with(|ctx| {
        let mut ctx = ctx.borrow_mut();
        let mut out = Vec::with_capacity(raw_len);
        let done = match dictionary {
            Some(d) => ctx.decompress_using_ddict(&mut out, payload, d),
            None => ctx.decompress(&mut out, payload),
        };
        match done {
            Ok(n) if n == raw_len && out.len() == raw_len => Ok(out),
            _ => Err(frame::FrameError::Decompress),
        }
    })
}

/// The dictionary held by the block at `at` of `reader`'s pack: a plain block whose only
/// entry is of kind dictionary.
fn dictionary_block(reader: &Reader, at: u32) -> Result<Vec<u8>> {
    let corrupt = |e: frame::FrameError| Error::corrupt(reader.path(), u64::from(at), e.to_string());
    let bytes = reader.frame(u64::from(at))?;
    let (header, payload) = frame::check(&bytes).map_err(corrupt)?;
    if header.dictionary != 0 {
        return Err(corrupt(frame::FrameError::BadDictionary));
    }
    let raw = decompress(payload, header.raw_len as usize, None).map_err(corrupt)?;
    match frame::entry_at(&raw, 0) {
        Some((Kind::Dictionary, dictionary, _)) => Ok(dictionary.to_vec()),
        _ => Err(corrupt(frame::FrameError::BadDictionary)),
    }
}

/// Which pack an object was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    pub pack: PackId,
    pub loc: Loc,
}

impl Found {
    /// Where `id` is in packs just written, each given with its entries sorted by id (as
    /// the index writer leaves them).
    pub fn in_written(written: &[(PackId, Vec<(ObjectId, Loc)>)], id: &ObjectId) -> Option<Found> {
        written.iter().find_map(|(pack, entries)| {
            let at = entries.binary_search_by_key(id, |e| e.0).ok()?;
            entries.get(at).map(|&(_, loc)| Found { pack: *pack, loc })
        })
    }
}

impl ObjectDb {
    /// Open the sealed packs and the active pack (readable up to `active_len`).
    pub fn open(dir: &Path, sealed: &[PackId], active: Option<ActiveSpec>) -> Result<ObjectDb> {
        let mut packs = Vec::with_capacity(sealed.len());
        // Newest first: recent objects are the likeliest to be read.
        for &id in sealed.iter().rev() {
            let index = Index::open(&dir.join(id.index_name()))?;
            if index.pack() != id {
                return Err(Error::corrupt(index.path(), 8, "index names another pack"));
            }
            packs.push(Sealed { reader: Reader::open_sealed(dir, id)?, index });
        }
        let active = match active {
            Some(spec) => {
                let index = match &spec.index {
                    Some(name) => {
                        let index = Index::open(&dir.join(name))?;
                        if index.pack() != spec.id {
                            return Err(Error::corrupt(index.path(), 8, "index names another pack"));
                        }
                        Some(Arc::new(index))
                    }
                    None => None,
                };
                let reader = Reader::open_active(dir, spec.id, spec.committed)?;
                Some(Active { reader, index, locations: FastMap::default() })
            }
            None => None,
        };
        Ok(ObjectDb {
            dir: dir.into(),
            sealed: packs.into(),
            active,
            staged: FastMap::default(),
            uid: NEXT_UID.fetch_add(1, Ordering::Relaxed),
            dictionaries: Arc::new(RwLock::new(FastMap::default())),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Record objects committed to the active pack and its new committed length.
    pub fn note_committed(&mut self, objects: &[(ObjectId, Loc)], pack_end: u64) {
        if let Some(active) = &mut self.active {
            active.locations.extend(objects.iter().copied());
            active.reader.set_committed(pack_end);
        }
        self.staged.clear();
    }

    pub fn stage(&mut self, id: ObjectId, kind: Kind, bytes: &[u8]) {
        let kept = (kind != Kind::Body).then(|| (kind, Arc::from(bytes)));
        self.staged.insert(id, kept);
    }

    pub fn clear_staged(&mut self) {
        self.staged.clear();
    }

    /// Take over `old`'s map of recent locations, emptied, when this database replaces it
    /// at a checkpoint: a writer that filled it is likely to fill it again, and reusing it
    /// spares growing (rehashing) it from nothing.
    pub fn recycle(&mut self, old: ObjectDb) {
        if let (Some(active), Some(mut recycled)) = (self.active.as_mut(), old.active) {
            if active.locations.is_empty() {
                recycled.locations.clear();
                active.locations = recycled.locations;
            }
        }
    }

    /// Objects committed to the active pack since its prefix index was written.
    pub fn active_locations(&self) -> Option<&FastMap<ObjectId, Loc>> {
        self.active.as_ref().map(|a| &a.locations)
    }

    /// Every object of the active pack, its prefix index's entries and the newer ones, in id
    /// order (the index is sorted already: only the newer ones are sorted, then merged in).
    pub fn active_entries(&self) -> Vec<(ObjectId, Loc)> {
        let Some(a) = &self.active else { return Vec::new() };
        let mut newer: Vec<(ObjectId, Loc)> = a.locations.iter().map(|(k, v)| (*k, *v)).collect();
        newer.sort_unstable_by_key(|e| e.0);
        let Some(index) = &a.index else { return newer };
        let mut out = Vec::with_capacity(index.len() + newer.len());
        let mut newer = newer.into_iter().peekable();
        for (id, loc) in index.iter() {
            while let Some(n) = newer.next_if(|n| n.0 < id) {
                out.push(n);
            }
            out.push((id, loc));
        }
        out.extend(newer);
        out
    }

    /// The active pack's prefix index, if one was written.
    pub fn active_index(&self) -> Option<&Index> {
        self.active.as_ref().and_then(|a| a.index.as_deref())
    }

    /// Where `id` is stored, if anywhere committed.
    pub fn find(&self, id: &ObjectId) -> Option<Found> {
        if let Some(active) = &self.active {
            let loc = active.locations.get(id).copied().or_else(|| active.index.as_ref()?.find(id));
            if let Some(loc) = loc {
                return Some(Found { pack: active.reader.id(), loc });
            }
        }
        self.sealed.iter().find_map(|s| s.index.find(id).map(|loc| Found { pack: s.reader.id(), loc }))
    }

    /// Start loading the block at `found` into the CPU caches, ahead of reading it.
    pub fn prefetch(&self, found: Found) {
        if let Some(reader) = self.reader(found.pack) {
            reader.prefetch(u64::from(found.loc.block));
        }
    }

    /// True if `pack` is one of the packs this database reads.
    pub fn holds_pack(&self, pack: PackId) -> bool {
        self.reader(pack).is_some()
    }

    /// True if `id` is committed or staged.
    pub fn contains(&self, id: &ObjectId) -> bool {
        self.staged.contains_key(id) || self.find(id).is_some()
    }

    fn reader(&self, pack: PackId) -> Option<&Reader> {
        if let Some(a) = self.active.as_ref().filter(|a| a.reader.id() == pack) {
            return Some(&a.reader);
        }
        self.sealed.iter().find(|s| s.reader.id() == pack).map(|s| &s.reader)
    }

    fn block(&self, pack: PackId, block: u32) -> Result<Arc<Vec<u8>>> {
        let key = (self.uid, pack, block);
        if let Some(b) = RECENT.with(|r| r.borrow().get(key)) {
            return Ok(b);
        }
        let raw = Arc::new(self.read_block(pack, block)?);
        RECENT.with(|r| r.borrow_mut().insert(key, raw.clone()));
        Ok(raw)
    }

    /// Verify and decompress the block at `block` of `pack`, bypassing the cache (for scans).
    pub fn read_block(&self, pack: PackId, block: u32) -> Result<Vec<u8>> {
        let reader = self.reader(pack).ok_or_else(|| Error::Invalid(format!("{pack} is not open")))?;
        let corrupt = |e: frame::FrameError| Error::corrupt(reader.path(), u64::from(block), e.to_string());
        let bytes = reader.frame(u64::from(block))?;
        let (header, payload) = frame::check(&bytes).map_err(corrupt)?;
        let raw_len = header.raw_len as usize;
        match header.dictionary {
            0 => decompress(payload, raw_len, None).map_err(corrupt),
            at if at < block => {
                self.with_dictionary(reader, at, |d| decompress(payload, raw_len, Some(d)).map_err(corrupt))
            }
            _ => Err(corrupt(frame::FrameError::BadDictionary)),
        }
    }

    /// Run `f` with the prepared dictionary held by the block at `at` of `reader`'s pack,
    /// from this thread's own list when it has it: the hot path of a read then touches
    /// nothing another thread writes (the shared cache's lock and the `Arc`'s count would
    /// bounce between cores on every block read).
    fn with_dictionary<T>(
        &self,
        reader: &Reader,
        at: u32,
        f: impl FnOnce(&zstd::zstd_safe::DDict<'static>) -> Result<T>,
    ) -> Result<T> {
        let key = (self.uid, reader.id(), at);
        let mut f = Some(f);
        let mine = DICTIONARIES.with(|list| {
            let list = list.borrow();
            let (_, d) = list.iter().find(|(k, _)| *k == key)?;
            f.take().map(|f| f(d))
        });
        if let Some(result) = mine {
            return result;
        }
        let dictionary = self.dictionary(reader, at)?;
        DICTIONARIES.with(|list| {
            let mut list = list.borrow_mut();
            if list.len() >= THREAD_DICTIONARIES {
                list.remove(0);
            }
            list.push((key, dictionary.clone()));
        });
        match f.take() {
            Some(f) => f(&dictionary),
            None => Err(Error::Invalid("a dictionary lookup ran its work twice".into())),
        }
    }

    /// Offsets of every block of a pack, in file order (a damaged frame is an error).
    pub fn block_offsets(&self, pack: PackId) -> Result<Vec<u32>> {
        let reader = self.reader(pack).ok_or_else(|| Error::Invalid(format!("{pack} is not open")))?;
        reader
            .frames()
            .map(|(at, h)| {
                h.map_err(|e| Error::corrupt(reader.path(), at, e.to_string()))?;
                u32::try_from(at).map_err(|_| Error::corrupt(reader.path(), at, "block offset past 4 GiB"))
            })
            .collect()
    }

    /// Every object of `kind` in the blocks at `blocks` of `pack`, in that order, each named
    /// by its hash: calls `visit(id, kind, bytes)`. Objects of other kinds are skipped
    /// without hashing.
    pub fn scan(&self, pack: PackId, blocks: &[u32], kind: Kind, visit: &mut Visit<'_>) -> Result<()> {
        for &block in blocks {
            let raw = self.read_block(pack, block)?;
            let mut inner = 0;
            while inner < raw.len() {
                let (k, bytes, next) = frame::entry_at(&raw, inner).ok_or_else(|| {
                    Error::corrupt(
                        self.dir.join(pack.file_name()),
                        u64::from(block),
                        "malformed object entry",
                    )
                })?;
                if k == kind {
                    visit(hash_object(k, bytes), k, bytes)?;
                }
                inner = next;
            }
        }
        Ok(())
    }

    /// Read the objects `wanted` (at known locations in `pack`) block by block, in file
    /// order, each verified against its id: calls `visit(id, kind, bytes)`.
    pub fn copy_out(
        &self,
        pack: PackId,
        wanted: &mut [(ObjectId, Loc)],
        visit: &mut Visit<'_>,
    ) -> Result<()> {
        wanted.sort_unstable_by_key(|(_, loc)| (loc.block, loc.inner));
        let mut current: Option<(u32, Vec<u8>)> = None;
        for (id, loc) in wanted.iter() {
            if current.as_ref().is_none_or(|(b, _)| *b != loc.block) {
                current = Some((loc.block, self.read_block(pack, loc.block)?));
            }
            let Some((_, raw)) = &current else { continue };
            let path = || self.dir.join(pack.file_name());
            let (kind, bytes, _) = frame::entry_at(raw, loc.inner as usize)
                .ok_or_else(|| Error::corrupt(path(), u64::from(loc.block), "object entry is malformed"))?;
            if hash_object(kind, bytes) != *id {
                return Err(Error::corrupt(
                    path(),
                    u64::from(loc.block),
                    format!("object {id} does not hash to its id"),
                ));
            }
            visit(*id, kind, bytes)?;
        }
        Ok(())
    }

    /// The prepared dictionary held by the block at `at` of `reader`'s pack.
    fn dictionary(&self, reader: &Reader, at: u32) -> Result<Arc<zstd::zstd_safe::DDict<'static>>> {
        let key = (reader.id(), at);
        if let Some(d) = self.dictionaries.read().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(d);
        }
        let dictionary = Arc::new(zstd::zstd_safe::DDict::create(&dictionary_block(reader, at)?));
        if let Ok(mut cache) = self.dictionaries.write() {
            cache.insert(key, dictionary.clone());
        }
        Ok(dictionary)
    }

    /// The zstd dictionary `pack`'s blocks are compressed with, if one is named by one of
    /// its first `DICTIONARY_SEARCH_FRAMES` frames (writers train theirs after 1 MiB of
    /// objects, about a thousand blocks in). `None` also when something there is damaged:
    /// this is only a head start for a new pack, and reading the pack reports damage.
    pub fn dictionary_bytes(&self, pack: PackId) -> Option<Vec<u8>> {
        let reader = self.reader(pack)?;
        let at = reader
            .frames()
            .take(DICTIONARY_SEARCH_FRAMES)
            .map_while(|(_, header)| header.ok())
            .find(|h| h.dictionary != 0)?
            .dictionary;
        dictionary_block(reader, at).ok()
    }

    /// Read and verify the object stored at `found`.
    pub fn read_at(&self, id: &ObjectId, found: Found) -> Result<(Kind, Vec<u8>)> {
        self.read_at_with(id, found, |kind, bytes| (kind, bytes.to_vec()))
    }

    /// [`ObjectDb::read_at`], handing the verified bytes to `use_bytes` where they lie
    /// (in the decompressed block) instead of copying them out.
    fn read_at_with<T>(
        &self,
        id: &ObjectId,
        found: Found,
        use_bytes: impl FnOnce(Kind, &[u8]) -> T,
    ) -> Result<T> {
        let block = self.block(found.pack, found.loc.block)?;
        let path = || self.dir.join(found.pack.file_name());
        let (kind, bytes, _) = frame::entry_at(&block, found.loc.inner as usize)
            .ok_or_else(|| Error::corrupt(path(), u64::from(found.loc.block), "object entry is malformed"))?;
        if hash_object(kind, bytes) != *id {
            return Err(Error::corrupt(
                path(),
                u64::from(found.loc.block),
                format!("object {id} does not hash to its id"),
            ));
        }
        Ok(use_bytes(kind, bytes))
    }

    /// Read and verify an object, or `None` if no live pack holds it. An absence is only
    /// answered once every index consulted has passed its checksum (a damaged id or fanout
    /// makes a lookup miss), so damage is an error, never "not found".
    pub fn read(&self, id: &ObjectId) -> Result<Option<(Kind, Vec<u8>)>> {
        if let Some(Some((kind, bytes))) = self.staged.get(id) {
            return Ok(Some((*kind, bytes.to_vec())));
        }
        match self.find(id) {
            Some(found) => self.read_at(id, found).map(Some),
            None => {
                self.verify_indexes()?;
                Ok(None)
            }
        }
    }

    /// Verify the checksum of every index (once per open index).
    fn verify_indexes(&self) -> Result<()> {
        let active = self.active.as_ref().and_then(|a| a.index.as_deref());
        active.into_iter().chain(self.sealed.iter().map(|s| &s.index)).try_for_each(Index::verify_once)
    }

    pub fn read_revision(&self, id: &ObjectId) -> Result<Option<Revision>> {
        match self.read(id)? {
            Some((Kind::Revision, bytes)) => Revision::decode(&bytes)
                .map(Some)
                .map_err(|e| Error::corrupt(self.dir.clone(), 0, format!("object {id}: {e}"))),
            Some((kind, _)) => {
                Err(Error::Invalid(format!("object {id} is a {}, not a revision", kind.name())))
            }
            None => Ok(None),
        }
    }

    /// [`ObjectDb::read_body`], trying `hint` first (a hint that names no open pack, or
    /// where no body with this id is found, only costs the attempt), and handing the bytes
    /// to `use_body` (where they lie, when the hint finds them) rather than returning a copy.
    pub fn with_body_hinted<T>(
        &self,
        id: &ObjectId,
        hint: Option<Found>,
        use_body: impl FnOnce(&[u8]) -> T,
    ) -> Result<Option<T>> {
        let mut use_body = Some(use_body);
        if let Some(found) = hint.filter(|h| self.holds_pack(h.pack)) {
            let hinted = self.read_at_with(id, found, |kind, bytes| match kind {
                Kind::Body => use_body.take().map(|f| f(bytes)),
                _ => None,
            });
            if let Ok(Some(done)) = hinted {
                return Ok(Some(done));
            }
        }
        match (self.read_body(id)?, use_body) {
            (Some(bytes), Some(f)) => Ok(Some(f(&bytes))),
            _ => Ok(None),
        }
    }

    pub fn read_body(&self, id: &ObjectId) -> Result<Option<Vec<u8>>> {
        match self.read(id)? {
            Some((Kind::Body, bytes)) => Ok(Some(bytes)),
            Some((kind, _)) => Err(Error::Invalid(format!("object {id} is a {}, not a body", kind.name()))),
            None => Ok(None),
        }
    }

    /// Sealed packs with their indexes, for fsck and stats.
    pub fn sealed(&self) -> impl Iterator<Item = (&Reader, &Index)> {
        self.sealed.iter().map(|s| (&s.reader, &s.index))
    }

    pub fn active_reader(&self) -> Option<&Reader> {
        self.active.as_ref().map(|a| &a.reader)
    }

    /// The active pack's committed length (a header's length when there is none yet).
    pub fn active_len(&self) -> u64 {
        self.active_reader().map_or(crate::pack::HEADER_LEN as u64, Reader::len)
    }

    /// Number of committed objects.
    pub fn object_count(&self) -> usize {
        self.sealed.iter().map(|s| s.index.len()).sum::<usize>()
            + self.active.as_ref().map_or(0, |a| a.locations.len() + a.index.as_deref().map_or(0, Index::len))
    }

    /// Total bytes of all live packs.
    pub fn pack_bytes(&self) -> u64 {
        self.sealed.iter().map(|s| s.reader.len()).sum::<u64>()
            + self.active.as_ref().map_or(0, |a| a.reader.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The last `RECENT_BLOCKS` blocks are found again; older ones give way, oldest first.
    #[test]
    fn recent_blocks_keep_the_newest() {
        let mut recent = RecentBlocks::default();
        let key = |n: u32| (1, PackId(1), n);
        for n in 0..RECENT_BLOCKS as u32 + 3 {
            recent.insert(key(n), Arc::new(vec![n as u8]));
        }
        for n in 0..3 {
            assert!(recent.get(key(n)).is_none(), "block {n} gave way");
        }
        for n in 3..RECENT_BLOCKS as u32 + 3 {
            assert_eq!(recent.get(key(n)).as_deref(), Some(&vec![n as u8]), "block {n}");
        }
        assert!(recent.get((1, PackId(2), 5)).is_none(), "blocks are told apart by pack");
        assert!(recent.get((2, PackId(1), 5)).is_none(), "and by database");
    }
}
