//! Reading a blob: chunk by chunk, each checked before its bytes are handed out, the whole
//! blob checked (length, SHA-1 id, MD5) when the last chunk has been read.
//!
//! Owns: the reader rules of format-spec/blobs.md.
//! Invariants:
//! 1. At most one stored chunk and `digest::DEPTH` raw chunks (the one handed out, those the
//!    MD5 thread has yet to hash) are held in memory.
//! 2. No byte of a chunk whose CRC-32 fails is returned; a blob whose id or MD5 does not
//!    match ends in an error after its last chunk instead of a clean end.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::digest::{Chunk, Md5};
use super::format::{self, ChunkHeader, Codec, Header};
use super::{IdHasher, Info};
use crate::error::{Error, Result};
use crate::id::ObjectId;

/// The chunks of a blob file of `len` raw bytes, decoded in order.
struct Chunks {
    path: PathBuf,
    file: fs::File,
    len: u64,
    index: u64,
    at: u64,
    /// A compressed chunk's stored bytes (a raw chunk is read straight into the caller's
    /// buffer).
    stored: Vec<u8>,
    decompressor: zstd::bulk::Decompressor<'static>,
}

impl Chunks {
    fn new(path: &Path, file: fs::File, len: u64) -> Result<Chunks> {
        Ok(Chunks {
            path: path.into(),
            file,
            len,
            index: 0,
            at: format::HEADER_LEN as u64,
            stored: Vec::new(),
            decompressor: zstd::bulk::Decompressor::new().map_err(Error::io(path))?,
        })
    }

    /// Put the next chunk's raw bytes in `raw` (replacing what it held); `false` after the
    /// last (when the file must end too).
    fn next(&mut self, raw: &mut Vec<u8>) -> Result<bool> {
        raw.clear();
        let Some(raw_len) = format::chunk_raw_len(self.len, self.index) else {
            let size = self.file.metadata().map_err(Error::io(&self.path))?.len();
            if size != self.at {
                return Err(Error::corrupt(&self.path, self.at, "bytes after the last blob chunk"));
            }
            return Ok(false);
        };
        let at = self.at;
        let corrupt = |what: &str| Error::corrupt(&self.path, at, what.to_string());
        let mut head = [0u8; format::CHUNK_HEADER_LEN];
        self.file.read_exact_at(&mut head, at).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => corrupt("blob file ends before its last chunk"),
            _ => Error::Io { path: self.path.clone(), source: e },
        })?;
        let chunk = ChunkHeader::decode(&head).map_err(corrupt)?;
        let stored = match chunk.codec {
            Codec::Raw => &mut *raw,
            Codec::Zstd => &mut self.stored,
        };
        stored.resize(chunk.stored_len as usize, 0);
        self.file.read_exact_at(stored, at + head.len() as u64).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => corrupt("blob file ends inside a chunk"),
            _ => Error::Io { path: self.path.clone(), source: e },
        })?;
        if !chunk.checks(stored) {
            raw.clear();
            return Err(corrupt("blob chunk checksum mismatch"));
        }
        if chunk.codec == Codec::Zstd {
            raw.reserve(raw_len as usize);
            self.decompressor
                .decompress_to_buffer(&self.stored, raw)
                .map_err(|_| corrupt("blob chunk does not decompress"))?;
        }
        if raw.len() != raw_len as usize {
            raw.clear();
            return Err(corrupt("blob chunk has the wrong length"));
        }
        self.index += 1;
        self.at += (head.len() + chunk.stored_len as usize) as u64;
        Ok(true)
    }
}

/// A blob's bytes, streamed and verified; see the module doc.
pub struct Reader {
    chunks: Chunks,
    info: Info,
    /// The MD5, on a thread of its own for a blob of more than one chunk.
    md5: Option<Md5>,
    id: IdHasher,
    /// The chunk handed out last (shared with the MD5 thread while it hashes it).
    current: Option<Chunk>,
    pos: usize,
    done: bool,
}

impl Reader {
    /// Open blob `id` of the store directory `root`; `None` when the store has no such blob.
    pub fn open(root: &Path, id: &ObjectId) -> Result<Option<Reader>> {
        let path = super::path(root, id);
        let file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::Io { path, source: e }),
        };
        let mut head = [0u8; format::HEADER_LEN];
        file.read_exact_at(&mut head, 0).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => Error::corrupt(&path, 0, "blob file shorter than its header"),
            _ => Error::Io { path: path.clone(), source: e },
        })?;
        let header = match Header::decode(&head) {
            Ok(Ok(h)) => h,
            Ok(Err(found)) => {
                return Err(Error::UnsupportedVersion { path, what: "blob", found, max: format::VERSION })
            }
            Err(what) => return Err(Error::corrupt(&path, 0, what)),
        };
        let info = Info { id: *id, len: header.len, md5: header.md5 };
        Ok(Some(Reader {
            chunks: Chunks::new(&path, file, header.len)?,
            info,
            md5: Some(Md5::new(Some(header.len))),
            id: IdHasher::new(header.len),
            current: None,
            pos: 0,
            done: false,
        }))
    }

    /// What the header says the blob is (checked against its bytes by the end of the read).
    pub fn info(&self) -> Info {
        self.info
    }

    /// The next checked piece of the blob (empty at the end, after the whole blob checked).
    pub fn next_chunk(&mut self) -> Result<&[u8]> {
        if self.done {
            return Ok(&[]);
        }
        self.pos = 0;
        // Let go of the last chunk first, so that its buffer can come back.
        self.current = None;
        let md5 = self.md5.as_mut().ok_or_else(|| Error::Invalid("blob reader finished".into()))?;
        let mut raw = md5.buffer();
        if self.chunks.next(&mut raw)? {
            // The MD5 thread reads the chunk while this one hashes its SHA-1 and the caller
            // uses it.
            let chunk = md5.update(raw);
            self.id.update(&chunk);
            Ok(&**self.current.insert(chunk))
        } else {
            self.done = true;
            self.check_whole()?;
            Ok(&[])
        }
    }

    fn check_whole(&mut self) -> Result<()> {
        let path = self.chunks.path.clone();
        let end = self.chunks.at;
        let md5 = self.md5.take().and_then(Md5::finish);
        if md5 != Some(self.info.md5) {
            return Err(Error::corrupt(&path, end, "blob MD5 does not match its header"));
        }
        let hasher = std::mem::replace(&mut self.id, IdHasher::new(0));
        let id = match hasher.finish() {
            Some(id) => id,
            None => hash_file(&path, self.info.len)?,
        };
        if id != self.info.id {
            return Err(Error::corrupt(&path, end, format!("blob bytes hash to {id}")));
        }
        Ok(())
    }

    /// Copy the whole blob to `out`; returns its length. On an error some bytes may have
    /// been written, but none of a damaged chunk.
    pub fn copy_to(&mut self, out: &mut dyn io::Write) -> Result<u64> {
        let mut total = 0;
        loop {
            let chunk = self.next_chunk()?;
            if chunk.is_empty() {
                return Ok(total);
            }
            total += chunk.len() as u64;
            out.write_all(chunk).map_err(|e| Error::Io { path: "output".into(), source: e })?;
        }
    }
}

impl Read for Reader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let ready = self.current.as_ref().and_then(|c| c.get(self.pos..)).unwrap_or_default();
            if !ready.is_empty() {
                let n = ready.len().min(buf.len());
                buf.get_mut(..n).unwrap_or_default().copy_from_slice(ready.get(..n).unwrap_or_default());
                self.pos += n;
                return Ok(n);
            }
            if self.done {
                return Ok(0);
            }
            self.next_chunk().map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        }
    }
}

/// Read blob `id` whole and check it; its info when sound, `None` when absent.
pub fn verify(root: &Path, id: &ObjectId) -> Result<Option<Info>> {
    let Some(mut reader) = Reader::open(root, id)? else { return Ok(None) };
    while !reader.next_chunk()?.is_empty() {}
    Ok(Some(reader.info()))
}

/// The id of the blob file at `path` (a writer's temporary file, or a reader after a
/// detected collision), hashed from its chunks; with the collision marker when the plain
/// hash detects an attack.
pub(super) fn hash_file(path: &Path, len: u64) -> Result<ObjectId> {
    for marked in [false, true] {
        let file = fs::File::open(path).map_err(Error::io(path))?;
        let mut chunks = Chunks::new(path, file, len)?;
        let mut h = if marked { IdHasher::marked(len) } else { IdHasher::new(len) };
        let mut raw = Vec::new();
        while chunks.next(&mut raw)? {
            h.update(&raw);
        }
        if let Some(id) = h.finish() {
            return Ok(id);
        }
    }
    Ok(ObjectId::null(gix_hash::Kind::Sha1))
}
