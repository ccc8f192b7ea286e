//! File-system helpers for the durability protocol, over a [`Disk`]: fsync a directory,
//! replace a file atomically, write a new file whole.
//!
//! Invariant: `replace_atomically` leaves either the old file or the complete new one under
//! the name, and the new one only after its bytes and the rename are durable.

use std::path::Path;

use crate::disk::Disk;
use crate::error::{Error, Result};

/// fsync a directory so that entries created, renamed or removed in it are durable.
pub fn sync_dir(disk: &dyn Disk, dir: &Path) -> Result<()> {
    disk.sync_dir(dir).map_err(Error::io(dir))
}

/// Write `bytes` to `path` through `path.tmp`: write, fsync, rename, fsync the directory.
pub fn replace_atomically(disk: &dyn Disk, path: &Path, bytes: &[u8]) -> Result<()> {
    let mut name = path.file_name().map(std::ffi::OsStr::to_os_string).unwrap_or_default();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    write_new(disk, &tmp, bytes)?;
    disk.rename(&tmp, path).map_err(Error::io(path))?;
    if let Some(dir) = path.parent() {
        sync_dir(disk, dir)?;
    }
    Ok(())
}

/// Write a new file whole and fsync it (the caller fsyncs the directory).
pub fn write_new(disk: &dyn Disk, path: &Path, bytes: &[u8]) -> Result<()> {
    let file = disk.create(path, false).map_err(Error::io(path))?;
    file.write_all_at(bytes, 0).map_err(Error::io(path))?;
    file.sync_all().map_err(Error::io(path))
}
