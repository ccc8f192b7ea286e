//! Appending to the active pack: gather objects into raw blocks, compress each block into a
//! frame, and make a batch of frames durable with one fsync.
//!
//! Invariants:
//! 1. Nothing is written before the committed end except by `commit`, which writes whole
//!    frames and fsyncs before returning their locations.
//! 2. On reopen the file is cut back to the committed length the journal recorded, so a
//!    torn tail from a crash never becomes visible.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{frame, header, Loc, PackId, BLOCK_TARGET, HEADER_LEN};
use crate::error::{Error, Result};
use crate::id::{Kind, ObjectId};

pub struct Writer {
    id: PackId,
    path: PathBuf,
    file: File,
    /// Bytes durable in the file (the committed end).
    committed: u64,
    /// Raw entries of the block being filled, and the objects in it.
    block: Vec<u8>,
    block_objects: Vec<(ObjectId, u32)>,
    /// Frames built since the last commit, and the objects they hold.
    staged: Vec<u8>,
    staged_objects: Vec<(ObjectId, Loc)>,
    compressor: zstd::bulk::Compressor<'static>,
}

impl Writer {
    /// Create a new, empty pack file (header only, fsynced).
    pub fn create(dir: &Path, id: PackId) -> Result<Writer> {
        let path = dir.join(id.file_name());
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(Error::io(&path))?;
        file.write_all(&header(id)).map_err(Error::io(&path))?;
        file.sync_all().map_err(Error::io(&path))?;
        crate::fsutil::sync_dir(dir)?;
        Writer::new(id, path, file, HEADER_LEN as u64)
    }

    /// Reopen the active pack for appending, cutting off anything past `committed`.
    pub fn reopen(dir: &Path, id: PackId, committed: u64) -> Result<Writer> {
        let path = dir.join(id.file_name());
        let file = OpenOptions::new().read(true).write(true).open(&path).map_err(Error::io(&path))?;
        let len = file.metadata().map_err(Error::io(&path))?.len();
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
        Writer::new(id, path, file, committed)
    }

    fn new(id: PackId, path: PathBuf, file: File, committed: u64) -> Result<Writer> {
        let compressor = zstd::bulk::Compressor::new(frame::LEVEL).map_err(Error::io(&path))?;
        Ok(Writer {
            id,
            path,
            file,
            committed,
            block: Vec::with_capacity(BLOCK_TARGET * 2),
            block_objects: Vec::new(),
            staged: Vec::new(),
            staged_objects: Vec::new(),
            compressor,
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

    /// Length the pack will have once the staged frames and the open block are committed
    /// (an estimate for the open block: its raw size).
    pub fn pending_len(&self) -> u64 {
        self.committed + self.staged.len() as u64 + self.block.len() as u64
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
        if self.block.len() >= BLOCK_TARGET {
            self.seal_block()?;
        }
        Ok(())
    }

    fn seal_block(&mut self) -> Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        let offset = self.committed + self.staged.len() as u64;
        let block = u32::try_from(offset)
            .map_err(|_| Error::Invalid(format!("{} grew past 4 GiB", self.path.display())))?;
        frame::encode(&mut self.compressor, &self.block, &mut self.staged).map_err(Error::io(&self.path))?;
        for (id, inner) in self.block_objects.drain(..) {
            self.staged_objects.push((id, Loc { block, inner }));
        }
        self.block.clear();
        Ok(())
    }

    /// Write and fsync everything added since the last commit; return where each object went.
    pub fn commit(&mut self) -> Result<Vec<(ObjectId, Loc)>> {
        self.seal_block()?;
        if self.staged.is_empty() {
            return Ok(Vec::new());
        }
        use std::os::unix::fs::FileExt;
        let written =
            self.file.write_all_at(&self.staged, self.committed).and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // Leave nothing past the committed end for a later commit or seal to carry along.
            let _ = self.file.set_len(self.committed);
            return Err(Error::io(&self.path)(e));
        }
        self.committed += self.staged.len() as u64;
        self.staged.clear();
        Ok(std::mem::take(&mut self.staged_objects))
    }

    /// Forget everything added since the last commit (after a failed batch).
    pub fn rollback(&mut self) {
        self.block.clear();
        self.block_objects.clear();
        self.staged.clear();
        self.staged_objects.clear();
    }
}
