//! Appending to the active pack: gather objects into raw blocks, compress each block into a
//! frame (on the compression thread, `compressor.rs`), and make a batch of frames durable
//! with one fsync.
//!
//! Invariants:
//! 1. Nothing is written before the committed end except by `commit`, which writes whole
//!    frames and fsyncs before returning their locations.
//! 2. On reopen the file is cut back to the committed length the journal recorded, so a
//!    torn tail from a crash never becomes visible.

use std::path::{Path, PathBuf};

use super::compressor::BlockCompressor;
use super::syncer::{self, Syncer};
use super::{frame, header, Loc, PackId, BLOCK_TARGET, HEADER_LEN};
use crate::disk::{self, Disk};
use crate::error::{Error, Result};
use crate::id::{Kind, ObjectId};

pub struct Writer {
    id: PackId,
    path: PathBuf,
    file: std::sync::Arc<dyn disk::File>,
    /// The thread syncing `file` for [`Writer::begin_sync`], once a commit asked for it.
    syncer: Option<Syncer>,
    /// Bytes durable in the file (the committed end).
    committed: u64,
    /// Raw entries of the block being filled, and the objects in it.
    block: Vec<u8>,
    block_objects: Vec<(ObjectId, u32)>,
    /// Frames built since the last commit, and the objects they hold.
    staged: Vec<u8>,
    staged_objects: Vec<(ObjectId, Loc)>,
    /// Blocks sealed but not yet back from the compression thread come after `staged`.
    compressor: BlockCompressor,
    /// Raw block buffers back from the compression thread, to fill again.
    spare_blocks: Vec<Vec<u8>>,
    /// The committed end and dictionary before the last `write_staged` (what `unwrite`
    /// returns to).
    before_write: (u64, u32),
    /// Offset of the block holding the dictionary blocks are compressed with (0: none yet).
    dictionary: u32,
    /// The dictionary offset as of the last commit (what a rollback returns to).
    committed_dictionary: u32,
    /// Objects gathered to train a dictionary, while there is none.
    samples: Vec<u8>,
    sample_sizes: Vec<usize>,
    training: bool,
}

/// Raw object bytes gathered before a pack's dictionary is trained.
pub const DICTIONARY_SAMPLE_BYTES: usize = 1 << 20;
/// Size of a trained dictionary.
pub const DICTIONARY_LEN: usize = 64 << 10;
/// Blocks the compression thread may hold before the writer waits for the oldest.
const MAX_IN_FLIGHT: usize = 256;

impl Writer {
    /// Create a new, empty pack file (header only, fsynced).
    pub fn create(disk: &dyn Disk, dir: &Path, id: PackId) -> Result<Writer> {
        let path = dir.join(id.file_name());
        let file = disk.create(&path, true).map_err(Error::io(&path))?;
        file.write_all_at(&header(id), 0).map_err(Error::io(&path))?;
        file.sync_all().map_err(Error::io(&path))?;
        crate::fsutil::sync_dir(disk, dir)?;
        Writer::new(id, path, file, HEADER_LEN as u64)
    }

    /// Reopen the active pack for appending, cutting off anything past `committed`; keep
    /// compressing with the dictionary in the block at `dictionary` (0: none yet).
    pub fn reopen(
        disk: &dyn Disk,
        dir: &Path,
        id: PackId,
        committed: u64,
        dictionary: u32,
    ) -> Result<Writer> {
        let path = dir.join(id.file_name());
        let file = disk.open(&path).map_err(Error::io(&path))?;
        let len = file.size().map_err(Error::io(&path))?;
        if len < committed {
            return Err(Error::corrupt(
                &path,
                len,
                format!("pack is shorter than its committed length {committed}"),
            ));
        }
        if len > committed {
            file.set_len(committed).map_err(Error::io(&path))?;
            file.sync_all().map_err(Error::io(&path))?;
        }
        let mut writer = Writer::new(id, path, file, committed)?;
        writer.take_up_dictionary(dictionary)?;
        Ok(writer)
    }

    /// Move the committed end to `committed`, where other handles' commits left this pack,
    /// and compress with the dictionary in the block at `dictionary` from now on: what
    /// [`Writer::reopen`] would give, keeping the file, the compression thread and its
    /// compressor. False (nothing changed) when that cannot be done in place: objects are
    /// staged, the pack would shrink, or its dictionary would go away.
    pub fn advance(&mut self, committed: u64, dictionary: u32) -> Result<bool> {
        let idle = self.block.is_empty() && self.staged.is_empty() && self.compressor.in_flight() == 0;
        let backwards = committed < self.committed || (dictionary == 0 && self.dictionary != 0);
        if !idle || backwards {
            return Ok(false);
        }
        self.take_up_dictionary(dictionary)?;
        self.committed = committed;
        self.before_write = (committed, dictionary);
        Ok(true)
    }

    /// Compress with the dictionary stored in the block at `dictionary` from now on, as the
    /// committed state (nothing to do when it is the one in use).
    fn take_up_dictionary(&mut self, dictionary: u32) -> Result<()> {
        if dictionary == self.dictionary {
            return Ok(());
        }
        let bytes = self.read_dictionary(dictionary)?;
        self.compressor.set_dictionary(Some(bytes)).map_err(Error::io(&self.path))?;
        self.stop_training();
        self.dictionary = dictionary;
        self.committed_dictionary = dictionary;
        self.before_write.1 = dictionary;
        Ok(())
    }

    /// Gather no more samples: the pack has its dictionary, or is given one.
    fn stop_training(&mut self) {
        self.training = false;
        self.samples = Vec::new();
        self.sample_sizes = Vec::new();
    }

    /// The dictionary stored in the block at `offset` of this pack.
    fn read_dictionary(&self, offset: u32) -> Result<Vec<u8>> {
        let corrupt = |what: String| Error::corrupt(&self.path, u64::from(offset), what);
        let mut head = [0u8; frame::HEADER_LEN];
        self.file.read_exact_at(&mut head, u64::from(offset)).map_err(Error::io(&self.path))?;
        let header = frame::Header::parse(&head).map_err(|e| corrupt(e.to_string()))?;
        let mut bytes = vec![0u8; header.frame_len() as usize];
        self.file.read_exact_at(&mut bytes, u64::from(offset)).map_err(Error::io(&self.path))?;
        let (header, payload) = frame::check(&bytes).map_err(|e| corrupt(e.to_string()))?;
        let raw =
            zstd::bulk::decompress(payload, header.raw_len as usize).map_err(|e| corrupt(e.to_string()))?;
        match frame::entry_at(&raw, 0) {
            Some((Kind::Dictionary, dict, _)) if header.dictionary == 0 => Ok(dict.to_vec()),
            _ => Err(corrupt("the block named as dictionary holds none".into())),
        }
    }

    fn new(id: PackId, path: PathBuf, file: Box<dyn disk::File>, committed: u64) -> Result<Writer> {
        let compressor = BlockCompressor::new().map_err(Error::io(&path))?;
        Ok(Writer {
            id,
            path,
            file: std::sync::Arc::from(file),
            syncer: None,
            committed,
            block: Vec::with_capacity(BLOCK_TARGET * 2),
            block_objects: Vec::new(),
            staged: Vec::new(),
            staged_objects: Vec::new(),
            compressor,
            spare_blocks: Vec::new(),
            before_write: (committed, 0),
            dictionary: 0,
            committed_dictionary: 0,
            samples: Vec::new(),
            sample_sizes: Vec::new(),
            training: true,
        })
    }

    pub fn id(&self) -> PackId {
        self.id
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Durable length of the pack.
    pub fn committed_len(&self) -> u64 {
        self.committed
    }

    /// Offset of the block holding the dictionary in use (0: none).
    pub fn dictionary(&self) -> u32 {
        self.dictionary
    }

    /// Length the pack will have once the staged frames and the open block are committed
    /// (an estimate for blocks still being compressed and the open one: a full block each).
    pub fn pending_len(&self) -> u64 {
        let uncompressed = self.compressor.in_flight() * BLOCK_TARGET + self.block.len();
        self.committed + self.staged.len() as u64 + uncompressed as u64
    }

    /// Add an object; it becomes durable at the next `commit`.
    pub fn add(&mut self, id: ObjectId, kind: Kind, bytes: &[u8]) -> Result<()> {
        if bytes.len() > super::MAX_OBJECT_LEN {
            return Err(Error::Invalid(format!(
                "a {} of {} bytes is larger than the {} bytes an object may hold",
                kind.name(),
                bytes.len(),
                super::MAX_OBJECT_LEN
            )));
        }
        if !self.block.is_empty() && self.block.len() + bytes.len() > BLOCK_TARGET {
            self.seal_block()?;
        }
        self.block_objects.push((id, self.block.len() as u32));
        frame::push_entry(&mut self.block, kind, bytes);
        if self.training {
            self.samples.extend_from_slice(bytes);
            self.sample_sizes.push(bytes.len());
            if self.samples.len() >= DICTIONARY_SAMPLE_BYTES {
                self.train_dictionary()?;
            }
        }
        if self.block.len() >= BLOCK_TARGET {
            self.seal_block()?;
        }
        Ok(())
    }

    /// Train a dictionary on the gathered objects, store it in a block of its own, and
    /// compress every later block with it. Training that fails leaves blocks plain.
    fn train_dictionary(&mut self) -> Result<()> {
        self.training = false;
        let samples = std::mem::take(&mut self.samples);
        let sizes = std::mem::take(&mut self.sample_sizes);
        let Some(dictionary) = super::training::train(&samples, &sizes, DICTIONARY_LEN) else {
            return Ok(());
        };
        self.install_dictionary(dictionary)
    }

    /// Compress with `dictionary` from the next block on instead of training one (for a
    /// pack whose objects come from packs that already have a good one: compaction). Does
    /// nothing once the pack has a dictionary.
    pub fn use_dictionary(&mut self, dictionary: Vec<u8>) -> Result<()> {
        if !self.training {
            return Ok(());
        }
        self.stop_training();
        self.install_dictionary(dictionary)
    }

    /// Store `dictionary` in a block of its own and compress every later block with it.
    fn install_dictionary(&mut self, dictionary: Vec<u8>) -> Result<()> {
        // The dictionary block's offset is where the blocks before it end: let them finish.
        self.seal_block()?;
        self.drain()?;
        let offset = self.next_block_offset()?;
        let mut raw = Vec::with_capacity(dictionary.len() + 8);
        frame::push_entry(&mut raw, Kind::Dictionary, &dictionary);
        self.compressor.submit(raw, 0, Vec::new()).map_err(Error::io(&self.path))?;
        self.drain()?;
        self.compressor.set_dictionary(Some(dictionary)).map_err(Error::io(&self.path))?;
        self.dictionary = offset;
        Ok(())
    }

    /// Where the next frame taken back from the compression thread will start.
    fn next_block_offset(&self) -> Result<u32> {
        let offset = self.committed + self.staged.len() as u64;
        u32::try_from(offset).map_err(|_| Error::Invalid(format!("{} grew past 4 GiB", self.path.display())))
    }

    /// Hand the open block to the compression thread.
    fn seal_block(&mut self) -> Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        let next = self.spare_blocks.pop().unwrap_or_else(|| Vec::with_capacity(BLOCK_TARGET * 2));
        let raw = std::mem::replace(&mut self.block, next);
        let objects = std::mem::take(&mut self.block_objects);
        self.compressor.submit(raw, self.dictionary, objects).map_err(Error::io(&self.path))?;
        if self.compressor.in_flight() > MAX_IN_FLIGHT {
            self.take_back()?;
        }
        Ok(())
    }

    /// Append the oldest compressed block to the staged frames and place its objects.
    fn take_back(&mut self) -> Result<()> {
        let block = self.next_block_offset()?;
        let compressed = self.compressor.take_oldest().map_err(Error::io(&self.path))?;
        if self.spare_blocks.len() < MAX_IN_FLIGHT && compressed.spare.capacity() <= BLOCK_TARGET * 4 {
            self.spare_blocks.push(compressed.spare);
        }
        self.staged.extend_from_slice(&compressed.frame);
        self.staged_objects
            .extend(compressed.objects.into_iter().map(|(id, inner)| (id, Loc { block, inner })));
        Ok(())
    }

    /// Frame the open block on this thread and stage it, as sealing it and taking it back
    /// would; the compression thread must hold no block.
    fn compress_open_block_here(&mut self) -> Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        let block = self.next_block_offset()?;
        self.compressor
            .compress_here(&self.block, self.dictionary, &mut self.staged)
            .map_err(Error::io(&self.path))?;
        self.block.clear();
        self.staged_objects
            .extend(self.block_objects.drain(..).map(|(id, inner)| (id, Loc { block, inner })));
        Ok(())
    }

    /// Take back every block the compression thread holds.
    fn drain(&mut self) -> Result<()> {
        while self.compressor.in_flight() > 0 {
            self.take_back()?;
        }
        Ok(())
    }

    /// Write and fsync everything added since the last commit; return where each object went.
    pub fn commit(&mut self) -> Result<Vec<(ObjectId, Loc)>> {
        let objects = self.write_staged()?;
        if let Err(e) = self.sync() {
            self.unwrite();
            return Err(e);
        }
        Ok(objects)
    }

    /// Write everything added since the last commit after the committed end, not yet
    /// durable, and return where each object went; `committed_len` then includes it. The
    /// caller makes it durable with [`Writer::sync`], or takes it back with
    /// [`Writer::unwrite`].
    pub fn write_staged(&mut self) -> Result<Vec<(ObjectId, Loc)>> {
        if self.compressor.in_flight() == 0 {
            self.compress_open_block_here()?;
        }
        self.seal_block()?;
        self.drain()?;
        self.before_write = (self.committed, self.committed_dictionary);
        if self.staged.is_empty() {
            return Ok(Vec::new());
        }
        if let Err(e) = self.file.write_all_at(&self.staged, self.committed) {
            // Leave nothing past the committed end for a later commit or seal to carry along.
            let _ = self.file.set_len(self.committed);
            return Err(Error::io(&self.path)(e));
        }
        self.committed += self.staged.len() as u64;
        self.committed_dictionary = self.dictionary;
        self.staged.clear();
        Ok(std::mem::take(&mut self.staged_objects))
    }

    /// Make the bytes of the last [`Writer::write_staged`] durable.
    pub fn sync(&self) -> Result<()> {
        self.file.sync_data().map_err(Error::io(&self.path))
    }

    /// [`Writer::sync`] on the writer's sync thread, while the caller goes on: the result
    /// comes from [`PendingSync::wait`].
    pub fn begin_sync(&mut self) -> Result<PendingSync<'_>> {
        let syncer = match &mut self.syncer {
            Some(s) => s,
            none => none.insert(Syncer::start(self.file.clone()).map_err(Error::io(&self.path))?),
        };
        let pending = syncer.begin().map_err(Error::io(&self.path))?;
        Ok(PendingSync { pending, path: &self.path })
    }

    /// Take back the last [`Writer::write_staged`] (its commit failed): cut the file to the
    /// committed end before it. A rollback should follow, as after any failed commit.
    pub fn unwrite(&mut self) {
        let (end, dictionary) = self.before_write;
        let _ = self.file.set_len(end);
        self.committed = end;
        self.committed_dictionary = dictionary;
    }

    /// Forget everything added since the last commit (after a failed batch).
    pub fn rollback(&mut self) {
        while self.compressor.in_flight() > 0 {
            let _ = self.compressor.take_oldest();
        }
        self.block.clear();
        self.block_objects.clear();
        self.staged.clear();
        self.staged_objects.clear();
        if self.dictionary != self.committed_dictionary {
            // The dictionary block was never written: go back to plain blocks, and train
            // again on what comes next.
            self.dictionary = 0;
            self.training = true;
            if self.compressor.set_dictionary(None).is_err() {
                // The thread is gone; a fresh one compresses plainly.
                if let Ok(c) = BlockCompressor::new() {
                    self.compressor = c;
                }
            }
        }
        if self.training {
            // Start gathering afresh (this also forgets samples of earlier, committed
            // batches: a dictionary trained a little later loses nothing).
            self.samples.clear();
            self.sample_sizes.clear();
        }
    }
}

/// A sync of the pack begun by [`Writer::begin_sync`] (waited for when dropped).
pub struct PendingSync<'a> {
    pending: syncer::Pending<'a>,
    path: &'a Path,
}

impl PendingSync<'_> {
    /// Wait for the pack's bytes to be durable.
    pub fn wait(self) -> Result<()> {
        self.pending.wait().map_err(Error::io(self.path))
    }
}
