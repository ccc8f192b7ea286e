//! The store's blobs: writing, opening and counting the attachment bytes in `blobs/`.
//!
//! Owns: the store-level entry points to `crate::blob` and the `blobs/` directory's
//! existence (made by init, or by the first writer open of an older store).
//! Invariants:
//! 1. Writing a blob takes no lock: a blob file is named by its content and appears whole
//!    by a rename, so writers of the same bytes agree and a reader sees all or nothing.
//! 2. A blob is durable (file synced, name synced) when `write_blob` returns, so a commit
//!    acknowledged after it never references a blob a power loss can take.
//!
//! Spec: format-spec/blobs.md.

use std::io::Read;

use super::{Snapshot, Store};
use crate::blob::{self, Compression};
use crate::error::{Error, Result};
use crate::id::ObjectId;

/// What `blobs/` holds: the blob files and their bytes on disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlobStats {
    pub blobs: u64,
    pub bytes: u64,
}

impl Store {
    /// Start writing a blob (a writable store only); `expected_len`, when known, saves a
    /// second pass over the bytes to name the blob.
    pub fn blob_writer(
        &self,
        expected_len: Option<u64>,
        compression: Compression,
    ) -> Result<blob::Writer<'_>> {
        if !self.is_writable() {
            return Err(Error::Invalid("store was opened read-only".into()));
        }
        blob::Writer::create(&*self.disk, &self.root, expected_len, compression)
    }

    /// Write everything `input` gives as a blob and return what was stored.
    pub fn write_blob(
        &self,
        input: &mut dyn Read,
        expected_len: Option<u64>,
        compression: Compression,
    ) -> Result<blob::Info> {
        let mut writer = self.blob_writer(expected_len, compression)?;
        writer.write_from(input)?;
        writer.finish()
    }

    /// Make `blobs/` if an older store lacks it, durably, and remove the temporary files
    /// of blob writers whose process is gone (the caller holds the writer lock).
    pub(super) fn ensure_blob_dir(&self) -> Result<()> {
        let dir = self.root.join(blob::DIR_NAME);
        if !dir.is_dir() {
            self.disk.create_dir_all(&dir).map_err(Error::io(&dir))?;
            return crate::fsutil::sync_dir(&*self.disk, &self.root);
        }
        for entry in std::fs::read_dir(&dir).map_err(Error::io(&dir))?.flatten() {
            let name = entry.file_name();
            let pid = name.to_str().and_then(|n| n.strip_prefix("tmp-")?.split('-').next()?.parse().ok());
            if pid.is_some_and(|pid| !process_alive(pid)) {
                // Not synced: a name that comes back is removed again by a later open.
                let _ = self.disk.remove_file(&entry.path());
            }
        }
        Ok(())
    }
}

/// Reading blobs needs only the store's directory: every snapshot (and so every handle) can.
impl Snapshot {
    /// Blob `id`'s bytes, checked as they are read; `None` when the store lacks it.
    pub fn open_blob(&self, id: &ObjectId) -> Result<Option<blob::Reader>> {
        blob::Reader::open(&self.root, id)
    }

    /// Whether the store has a file for blob `id` (not whether it is sound: `verify_blob`).
    pub fn has_blob(&self, id: &ObjectId) -> bool {
        blob::path(&self.root, id).is_file()
    }

    /// Read blob `id` whole and check its length, SHA-1 and MD5; `None` when absent.
    pub fn verify_blob(&self, id: &ObjectId) -> Result<Option<blob::Info>> {
        blob::verify(&self.root, id)
    }

    /// The ids of the blobs in `blobs/`, in no particular order.
    pub fn blob_ids(&self) -> Result<Vec<ObjectId>> {
        let dir = self.root.join(blob::DIR_NAME);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::Io { path: dir, source: e }),
        };
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(Error::io(&dir))?;
            if let Some(id) = entry.file_name().to_str().and_then(parse_blob_name) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// How many blobs the store holds and their bytes on disk.
    pub fn blob_stats(&self) -> Result<BlobStats> {
        let mut s = BlobStats::default();
        for id in self.blob_ids()? {
            s.blobs += 1;
            s.bytes += std::fs::metadata(blob::path(&self.root, &id)).map_or(0, |m| m.len());
        }
        Ok(s)
    }
}

/// Whether process `pid` exists (a blob writer's temporary file is garbage once its
/// process is gone; a reused pid only keeps the file longer).
fn process_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: `kill` with signal 0 sends nothing; it only checks that `pid` exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// A blob file's name: 40 lowercase hex digits.
fn parse_blob_name(name: &str) -> Option<ObjectId> {
    if name.len() != 40 || !name.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    ObjectId::from_hex(name.as_bytes()).ok()
}
