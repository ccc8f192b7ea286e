//! Writing a blob: stream bytes in, chunk by chunk, into a temporary file in `blobs/`,
//! then sync it and rename it to its id.
//!
//! Owns: chunking, the compression choice per chunk, the MD5, the id, and the writer steps
//! of format-spec/blobs.md ("Writer rules").
//! Invariants:
//! 1. At most `digest::DEPTH` raw chunks (the one filling, those the MD5 thread has yet to
//!    hash) and one compressed chunk are held in memory.
//! 2. The final name appears only after the file's bytes are durable, and `finish` returns
//!    only after the name is (so a commit made after it may reference the blob).
//! 3. A writer dropped before `finish` removes its temporary file.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::digest::Md5;
use super::format::{self, Codec, Header, CHUNK_LEN};
use super::{Compression, IdHasher, Info};
use crate::disk::{Disk, File};
use crate::error::{Error, Result};

/// zstd level for compressed chunks (fast: blobs are large and written at disk speed).
const LEVEL: i32 = 1;

/// A blob being written; see the module doc.
pub struct Writer<'d> {
    disk: &'d dyn Disk,
    dir: PathBuf,
    tmp: PathBuf,
    file: Option<Box<dyn File>>,
    /// Where the next chunk frame goes.
    at: u64,
    expected: Option<u64>,
    len: u64,
    /// The MD5, on a thread of its own for a blob of more than one chunk.
    md5: Option<Md5>,
    /// The id, hashed as the bytes arrive when the length was announced.
    id: Option<IdHasher>,
    compression: Compression,
    raw: Vec<u8>,
    /// A compressed chunk (zstd's worst case for a full chunk).
    packed: Vec<u8>,
    compressor: zstd::bulk::Compressor<'static>,
}

impl<'d> Writer<'d> {
    /// Start a blob in the store directory `root` (whose `blobs/` exists). `expected_len`,
    /// when known, lets the id be hashed in the same pass; `finish` checks it.
    pub fn create(
        disk: &'d dyn Disk,
        root: &Path,
        expected_len: Option<u64>,
        compression: Compression,
    ) -> Result<Writer<'d>> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = root.join(super::DIR_NAME);
        let tmp = dir.join(format!("tmp-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
        let file = disk.create(&tmp, false).map_err(Error::io(&tmp))?;
        let compressor = zstd::bulk::Compressor::new(LEVEL).map_err(Error::io(&tmp))?;
        let mut md5 = Md5::new(expected_len);
        let raw = md5.buffer();
        Ok(Writer {
            disk,
            dir,
            tmp,
            file: Some(file),
            at: format::HEADER_LEN as u64,
            expected: expected_len,
            len: 0,
            md5: Some(md5),
            id: expected_len.map(IdHasher::new),
            compression,
            raw,
            packed: Vec::with_capacity(zstd::zstd_safe::compress_bound(CHUNK_LEN as usize)),
            compressor,
        })
    }

    /// Append `bytes` to the blob.
    pub fn write(&mut self, mut bytes: &[u8]) -> Result<()> {
        while !bytes.is_empty() {
            let room = CHUNK_LEN as usize - self.raw.len();
            let (now, rest) = bytes.split_at(room.min(bytes.len()));
            self.raw.extend_from_slice(now);
            bytes = rest;
            if self.raw.len() == CHUNK_LEN as usize {
                self.flush_chunk()?;
            }
        }
        Ok(())
    }

    /// Append everything `reader` gives; returns the bytes read.
    pub fn write_from(&mut self, reader: &mut dyn Read) -> Result<u64> {
        let mut total = 0u64;
        loop {
            let start = self.raw.len();
            self.raw.resize(CHUNK_LEN as usize, 0);
            let n = loop {
                match reader.read(self.raw.get_mut(start..).unwrap_or_default()) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.raw.truncate(start);
                        return Err(Error::Io { path: "attachment input".into(), source: e });
                    }
                }
            };
            self.raw.truncate(start + n);
            total += n as u64;
            if n == 0 {
                return Ok(total);
            }
            if self.raw.len() == CHUNK_LEN as usize {
                self.flush_chunk()?;
            }
        }
    }

    fn flush_chunk(&mut self) -> Result<()> {
        if self.raw.is_empty() {
            return Ok(());
        }
        self.len += self.raw.len() as u64;
        if let Some(expected) = self.expected.filter(|e| self.len > *e) {
            return Err(too_long_or_short(self.len, expected));
        }
        let md5 = self.md5.as_mut().ok_or_else(|| Error::Invalid("blob writer finished".into()))?;
        // The MD5 thread reads the chunk while this one hashes, compresses and writes it.
        let raw = md5.update(std::mem::take(&mut self.raw));
        if let Some(h) = self.id.as_mut() {
            h.update(&raw);
        }
        let mut codec = Codec::Raw;
        if self.compression != Compression::Never {
            self.packed.clear();
            let n =
                self.compressor.compress_to_buffer(&raw, &mut self.packed).map_err(Error::io(&self.tmp))?;
            let pays = n <= raw.len() - raw.len() / 8;
            if self.compression == Compression::Sample {
                self.compression = if pays { Compression::Always } else { Compression::Never };
            }
            if pays {
                codec = Codec::Zstd;
            }
        }
        let stored = if codec == Codec::Zstd { &self.packed } else { &*raw };
        let file = self.file.as_ref().ok_or_else(|| Error::Invalid("blob writer finished".into()))?;
        let head = format::chunk_header(codec, stored);
        file.write_all_at(&head, self.at).map_err(Error::io(&self.tmp))?;
        file.write_all_at(stored, self.at + head.len() as u64).map_err(Error::io(&self.tmp))?;
        self.at += (head.len() + stored.len()) as u64;
        drop(raw);
        self.raw = md5.buffer();
        Ok(())
    }

    /// Write the last chunk and the header, make the blob durable under its id and return
    /// what it is.
    pub fn finish(mut self) -> Result<Info> {
        self.flush_chunk()?;
        if let Some(expected) = self.expected.filter(|e| self.len != *e) {
            return Err(too_long_or_short(self.len, expected));
        }
        let md5 = self
            .md5
            .take()
            .and_then(Md5::finish)
            .ok_or_else(|| Error::Invalid("the blob's MD5 thread failed".into()))?;
        let file = self.file.take().ok_or_else(|| Error::Invalid("blob writer finished".into()))?;
        let header = Header { len: self.len, md5 };
        file.write_all_at(&header.encode(), 0).map_err(Error::io(&self.tmp))?;
        let id = match self.id.take().and_then(IdHasher::finish) {
            Some(id) => id,
            // Length not known in advance (or a detected collision): hash the written file.
            None => super::read::hash_file(&self.tmp, self.len)?,
        };
        file.sync_data().map_err(Error::io(&self.tmp))?;
        drop(file);
        let path = self.dir.join(id.to_string());
        self.disk.rename(&self.tmp, &path).map_err(Error::io(&path))?;
        crate::fsutil::sync_dir(self.disk, &self.dir)?;
        Ok(Info { id, len: self.len, md5 })
    }
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            // Not finished: the temporary file is garbage (best effort; a leftover
            // `tmp-` file is removed by a writer open once this process is gone).
            let _ = self.disk.remove_file(&self.tmp);
        }
    }
}

fn too_long_or_short(len: u64, expected: u64) -> Error {
    Error::Invalid(format!("attachment has {len} bytes or more, not the {expected} announced"))
}
