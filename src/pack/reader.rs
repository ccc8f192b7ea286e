//! Reading blocks of a pack: mmap for sealed packs and for the active pack's committed
//! prefix, positioned reads for what the active pack commits after it was opened.
//!
//! Invariants:
//! 1. Only bytes before the pack's committed end are read. The active pack is mapped only up
//!    to the committed length known when it was opened: a writer cuts off a torn tail only
//!    past the last complete journal record, which is never before that length, so a mapped
//!    page is never truncated under a reader.
//! 2. A block is returned only after its frame checksum is verified.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{frame, PackId, HEADER_LEN, MAGIC, VERSION};
use crate::error::{Error, Result};

/// Cache lines `Reader::prefetch` asks for.
const PREFETCH_LINES: usize = 4;

enum Source {
    /// A sealed pack: immutable, mapped whole.
    Mapped(memmap2::Mmap),
    /// The active pack: its prefix committed at open is mapped (`None` when empty); later
    /// commits are read with `pread` up to the committed length we were told.
    Active { file: File, prefix: Option<memmap2::Mmap> },
}

/// Cheap to clone: clones share the file and its mapping (a snapshot of the store keeps
/// the readers of its packs, each with the committed length it knew).
#[derive(Clone)]
pub struct Reader {
    id: PackId,
    path: PathBuf,
    source: std::sync::Arc<Source>,
    /// Bytes of this pack that are committed and may be read.
    len: u64,
}

impl Reader {
    /// Open a sealed pack by mapping it.
    pub fn open_sealed(dir: &Path, id: PackId) -> Result<Reader> {
        let path = dir.join(id.file_name());
        let file = File::open(&path).map_err(Error::io(&path))?;
        // SAFETY: a sealed pack is never modified after its manifest entry is durable: writers
        // only append to the active pack, and compaction unlinks sealed packs rather than
        // truncating them. Unlinking keeps the mapping valid on Unix.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(Error::io(&path))?;
        let len = map.len() as u64;
        let reader = Reader { id, path, source: Source::Mapped(map).into(), len };
        reader.check_header()?;
        Ok(reader)
    }

    /// Open the active pack, readable up to `committed` bytes.
    pub fn open_active(dir: &Path, id: PackId, committed: u64) -> Result<Reader> {
        let path = dir.join(id.file_name());
        let file = File::open(&path).map_err(Error::io(&path))?;
        let actual = file.metadata().map_err(Error::io(&path))?.len();
        if actual < committed {
            return Err(Error::corrupt(
                &path,
                actual,
                format!("pack is shorter than its committed length {committed}"),
            ));
        }
        let prefix = match usize::try_from(committed) {
            Ok(0) | Err(_) => None,
            // SAFETY: the first `committed` bytes of the active pack are never modified or cut
            // off while the store exists: writers append past the committed end and recovery
            // truncates only past the last complete journal record (see invariant 1).
            Ok(len) => {
                Some(unsafe { memmap2::MmapOptions::new().len(len).map(&file) }.map_err(Error::io(&path))?)
            }
        };
        let reader = Reader { id, path, source: Source::Active { file, prefix }.into(), len: committed };
        reader.check_header()?;
        Ok(reader)
    }

    fn check_header(&self) -> Result<()> {
        let head = self.read_range(0, HEADER_LEN)?;
        if head.get(..4) != Some(&MAGIC[..]) {
            return Err(Error::corrupt(&self.path, 0, "not a pack file (bad magic)"));
        }
        let version = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        if version != VERSION {
            return Err(Error::UnsupportedVersion {
                path: self.path.clone(),
                what: "pack",
                found: version,
                max: VERSION,
            });
        }
        let mut id = [0u8; 8];
        id.copy_from_slice(&head[8..16]);
        if u64::from_be_bytes(id) != self.id.0 {
            return Err(Error::corrupt(&self.path, 8, "pack id in header does not match its file name"));
        }
        Ok(())
    }

    pub fn id(&self) -> PackId {
        self.id
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len <= HEADER_LEN as u64
    }

    /// Let an active reader see more committed bytes.
    pub fn set_committed(&mut self, len: u64) {
        if matches!(*self.source, Source::Active { .. }) {
            self.len = len;
        }
    }

    fn read_range(&self, offset: u64, len: usize) -> Result<std::borrow::Cow<'_, [u8]>> {
        let end = offset.checked_add(len as u64).filter(|&e| e <= self.len);
        let Some(end) = end else {
            return Err(Error::corrupt(&self.path, offset, "read past the end of the pack"));
        };
        match &*self.source {
            Source::Mapped(map) => Ok(std::borrow::Cow::Borrowed(&map[offset as usize..end as usize])),
            Source::Active { prefix: Some(map), .. } if end as usize <= map.len() => {
                Ok(std::borrow::Cow::Borrowed(&map[offset as usize..end as usize]))
            }
            Source::Active { file, .. } => {
                let mut buf = vec![0u8; len];
                file.read_exact_at(&mut buf, offset).map_err(Error::io(&self.path))?;
                Ok(std::borrow::Cow::Owned(buf))
            }
        }
    }

    /// Start loading the frame at `offset` into the CPU caches, for a read that will come
    /// shortly: a hint only, which does nothing for bytes that are not mapped.
    pub fn prefetch(&self, offset: u64) {
        let map = match &*self.source {
            Source::Mapped(map) | Source::Active { prefix: Some(map), .. } => map,
            Source::Active { prefix: None, .. } => return,
        };
        // The header and the start of the payload: a small document's block is a few lines.
        for line in 0..PREFETCH_LINES {
            if let Some(byte) = map.get(offset as usize + line * 64) {
                crate::prefetch::line(byte);
            }
        }
    }

    /// The verified frame bytes of the block at `offset`.
    pub fn frame(&self, offset: u64) -> Result<std::borrow::Cow<'_, [u8]>> {
        if offset < HEADER_LEN as u64 {
            return Err(Error::corrupt(&self.path, offset, "block offset inside the pack header"));
        }
        let head = self.read_range(offset, frame::HEADER_LEN)?;
        let header =
            frame::Header::parse(&head).map_err(|e| Error::corrupt(&self.path, offset, e.to_string()))?;
        self.read_range(offset, header.frame_len() as usize)
    }

    /// Walk every frame from the header to the end: (offset, header or the error found there).
    pub fn frames(
        &self,
    ) -> impl Iterator<Item = (u64, std::result::Result<frame::Header, frame::FrameError>)> + '_ {
        let mut offset = HEADER_LEN as u64;
        let mut done = false;
        std::iter::from_fn(move || {
            if done || offset >= self.len {
                return None;
            }
            let avail = (self.len - offset) as usize;
            let head = match self.read_range(offset, frame::HEADER_LEN.min(avail)) {
                Ok(h) => h,
                Err(_) => {
                    done = true;
                    return Some((offset, Err(frame::FrameError::TruncatedHeader)));
                }
            };
            let result = frame::Header::parse(&head).and_then(|h| {
                if h.frame_len() > avail as u64 {
                    return Err(frame::FrameError::TruncatedPayload);
                }
                let bytes = self
                    .read_range(offset, h.frame_len() as usize)
                    .map_err(|_| frame::FrameError::TruncatedPayload)?;
                frame::check(&bytes).map(|(h, _)| h)
            });
            let at = offset;
            match &result {
                Ok(h) => offset += h.frame_len(),
                Err(_) => done = true,
            }
            Some((at, result))
        })
    }
}
