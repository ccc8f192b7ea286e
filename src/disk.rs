//! The disk: every file-system operation that changes a store goes through a [`Disk`].
//!
//! Owns: the seam between the store and the file system for writes. [`RealDisk`] calls
//! `std::fs`; a test can put in its own (one that records writes and syncs and simulates a
//! power loss, `tests/store/powerloss.rs`).
//! Not: reads. Mapping packs, indexes and tables and reading the manifest, config and journal
//! stay on `std::fs`: a disk passes every write through to the files while the store runs,
//! so reads see what was written. Nor the `LOCK` file, whose content is informational.
//!
//! Contract (what the store relies on, and what a replacement must provide):
//! 1. Bytes written to a file are durable only after a later `sync_data` or `sync_all` of it
//!    returns `Ok`; until then a power loss may keep all of them, none, or a part (a write
//!    cut short, a later write kept and an earlier one lost, zeros where pages never reached
//!    the disk). A `set_len` is durable under the same rule.
//! 2. A file's name (a creation, a rename, an unlink, a hard link, a new directory) is
//!    durable only after a later `sync_dir` of the directory holding it returns `Ok`; until
//!    then a power loss may undo it or not, independently for each name. A rename is
//!    atomic: the name points at the old file or the new one, never at a mix.
//! 3. Every operation either happens (as seen by later reads through `std::fs`) or returns
//!    an error; after an error the store assumes nothing about what reached the disk and
//!    relies only on (1) and (2).
//! 4. Calls cost one dynamic dispatch each and allocate nothing: the hot path makes one
//!    positioned write and one sync per commit, and streams tables in 1 MiB buffers.
//!
//! Spec: format-spec/layout.md ("Durability: the syncs the format relies on").

use std::fmt;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// A file open for writing (and reading back what was written).
pub trait File: Send + Sync + fmt::Debug {
    /// Write all of `buf` at `offset`, growing the file if it ends before.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Read exactly `buf.len()` bytes at `offset` (no durability meaning).
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// The file's current length.
    fn size(&self) -> io::Result<u64>;
    /// Cut or extend the file to `len` bytes (durable after the next sync).
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Make the file's bytes and length durable (`fdatasync`).
    fn sync_data(&self) -> io::Result<()>;
    /// Make the file's bytes, length and metadata durable (`fsync`).
    fn sync_all(&self) -> io::Result<()>;
}

/// The file-system operations that change a store.
pub trait Disk: Send + Sync + fmt::Debug {
    /// Create `path` for reading and writing: empty, replacing any file there, or, with
    /// `exclusive`, failing with `AlreadyExists` if there is one. The name is durable after
    /// `sync_dir` of its directory.
    fn create(&self, path: &Path, exclusive: bool) -> io::Result<Box<dyn File>>;
    /// Open the existing file `path` for reading and writing.
    fn open(&self, path: &Path) -> io::Result<Box<dyn File>>;
    /// Rename `from` to `to` (same directory or not), replacing `to` atomically.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Remove the name `path`.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Give the file at `original` the second name `link`.
    fn hard_link(&self, original: &Path, link: &Path) -> io::Result<()>;
    /// Create `path` and any missing parents (no error if it exists).
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Make the entries of directory `path` durable (`fsync` of the directory).
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
}

/// The disk a store uses unless told otherwise: `std::fs`.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealDisk;

/// The shared [`RealDisk`].
pub fn real() -> Arc<dyn Disk> {
    static REAL: OnceLock<Arc<dyn Disk>> = OnceLock::new();
    REAL.get_or_init(|| Arc::new(RealDisk)).clone()
}

impl File for std::fs::File {
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        FileExt::write_all_at(self, buf, offset)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        FileExt::read_exact_at(self, buf, offset)
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        std::fs::File::set_len(self, len)
    }

    fn sync_data(&self) -> io::Result<()> {
        std::fs::File::sync_data(self)
    }

    fn sync_all(&self) -> io::Result<()> {
        std::fs::File::sync_all(self)
    }
}

impl Disk for RealDisk {
    fn create(&self, path: &Path, exclusive: bool) -> io::Result<Box<dyn File>> {
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true);
        if exclusive {
            options.create_new(true);
        } else {
            options.create(true).truncate(true);
        }
        Ok(Box::new(options.open(path)?))
    }

    fn open(&self, path: &Path) -> io::Result<Box<dyn File>> {
        Ok(Box::new(std::fs::OpenOptions::new().read(true).write(true).open(path)?))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn hard_link(&self, original: &Path, link: &Path) -> io::Result<()> {
        std::fs::hard_link(original, link)
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        std::fs::File::open(path)?.sync_all()
    }
}

/// Sequential writes to a [`File`] from offset 0 (for `BufWriter` streaming).
#[derive(Debug)]
pub struct Appender {
    file: Box<dyn File>,
    at: u64,
}

impl Appender {
    pub fn new(file: Box<dyn File>) -> Appender {
        Appender { file, at: 0 }
    }

    pub fn into_inner(self) -> Box<dyn File> {
        self.file
    }
}

impl io::Write for Appender {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write_all_at(buf, self.at)?;
        self.at += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
