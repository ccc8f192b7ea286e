//! Reading a bundle: `Bundle::open` verifies a bundle file whole without reading it into
//! memory, then serves its documents and objects from memory and its blobs from the file.
//!
//! Owns: the reader rules of format-spec/bundle.md and the streams over a bundle's blobs.
//! Invariants:
//! 1. Nothing is returned before the trailing SHA-1 of the whole file matched and every
//!    blob hashed to its id. Both are computed in one pass over the file in `STREAM_LEN`
//!    pieces read at offsets (never mapped, so the pass adds nothing to the process's
//!    resident memory), while the structure is decoded from a read-only map of the file;
//!    a decoding failure is reported only once the trailer matched, so a damaged file is
//!    always reported as damaged, and nothing is decompressed before that.
//! 2. The map is used only inside `open` and only for the refs, the objects frame and the
//!    blobs' ids and lengths: a blob's bytes are read at offsets, by the pass and by
//!    `BlobReader`, which hashes them again and ends with an error if the file changed.

#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used))]

use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::hash::FastMap;
use crate::id::{hash_object, DocId, Kind, ObjectId, Seq};
use crate::object::varint;
use crate::refs::{read_id, DocRef, Entry};

use super::{
    BODY_OFFSET, LAST_SEQ_OFFSET, MAGIC, MAX_OBJECTS_LEN, SINCE_OFFSET, STREAM_LEN, TRAILER_LEN, VERSION,
    VERSION_OFFSET, VERSION_WITHOUT_BLOBS,
};

/// A bundle verified whole: its documents and objects in memory, its blobs in the file.
pub struct Bundle {
    /// The store the bundle was made from (its uuid).
    pub source: String,
    /// Changes after this sequence are in it (0: the whole store).
    pub since: Seq,
    /// The source's last sequence when the bundle was made.
    pub last_seq: Seq,
    /// Documents in the source's changes order.
    pub docs: Vec<(DocId, DocRef)>,
    /// Every object, by id: its kind and where its bytes are in `section`. (Keyed by SHA-1
    /// ids computed here, so the fast hash cannot be steered by a crafted bundle cheaply.)
    objects: FastMap<ObjectId, (Kind, Range<usize>)>,
    /// The decompressed objects section, which the objects are read from in place.
    section: Vec<u8>,
    /// Every blob (version 2): where its bytes are in the file, checked at open.
    blobs: FastMap<ObjectId, Range<u64>>,
    /// The bundle's bytes, for reading blobs.
    file: Arc<Source>,
    path: PathBuf,
}

/// Where a bundle's bytes are read from.
enum Source {
    File(std::fs::File),
    /// A bundle given as bytes (`Bundle::from_bytes`).
    Bytes(Vec<u8>),
}

impl Source {
    fn read_exact_at(&self, buf: &mut [u8], at: u64) -> std::io::Result<()> {
        match self {
            Source::File(f) => f.read_exact_at(buf, at),
            Source::Bytes(b) => {
                let bytes = usize::try_from(at)
                    .ok()
                    .and_then(|at| b.get(at..at.checked_add(buf.len())?))
                    .ok_or(std::io::ErrorKind::UnexpectedEof)?;
                buf.copy_from_slice(bytes);
                Ok(())
            }
        }
    }
}

/// What decoding the bytes before the trailer found (before the objects are decompressed).
struct Layout {
    source: String,
    since: Seq,
    last_seq: Seq,
    docs: Vec<(DocId, DocRef)>,
    raw_len: u64,
    /// The compressed objects frame, in the file.
    frame: Range<usize>,
    /// Each blob's id and where its bytes are, in file order.
    blobs: Vec<(ObjectId, Range<u64>)>,
}

fn bad(path: &Path, at: usize, what: &str) -> Error {
    Error::corrupt(path, at as u64, format!("bundle: {what}"))
}

impl Bundle {
    /// Read and verify the bundle at `path`.
    pub fn open(path: &Path) -> Result<Bundle> {
        let file = std::fs::File::open(path).map_err(Error::io(path))?;
        let len = file.metadata().map_err(Error::io(path))?.len();
        let mut magic = [0u8; 4];
        match file.read_exact_at(&mut magic, 0) {
            Ok(()) if magic == MAGIC => {}
            Err(e) if e.kind() != std::io::ErrorKind::UnexpectedEof => return Err(Error::io(path)(e)),
            _ => return Err(bad(path, 0, "not a settee bundle (bad magic)")),
        }
        if len < (BODY_OFFSET + TRAILER_LEN) as u64 {
            return Err(bad(path, len as usize, "truncated"));
        }
        // SAFETY: the map is read only inside this call (it is dropped before `open`
        // returns) and only as bytes: nothing in it is trusted before the trailer matched,
        // and what is kept is copied out. A bundle is never modified in place (format-spec
        // bundle.md, Invariant 4); a file cut short by another process while this runs
        // would fault the reads (SIGBUS), as with any mapped file (gitoxide's packs).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(Error::io(path))?;
        let source = Source::File(file);
        let view = map.get(..usize::try_from(len).unwrap_or(usize::MAX)).unwrap_or_default();
        Bundle::read(source, view, path)
    }

    /// Verify and read a bundle held in memory (tests; `path` names it in errors).
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Bundle> {
        if bytes.get(..4) != Some(&MAGIC[..]) {
            return Err(bad(path, 0, "not a settee bundle (bad magic)"));
        }
        if bytes.len() < BODY_OFFSET + TRAILER_LEN {
            return Err(bad(path, bytes.len(), "truncated"));
        }
        Bundle::read(Source::Bytes(bytes.to_vec()), bytes, path)
    }

    /// `view` is the whole file (at least `BODY_OFFSET + TRAILER_LEN` bytes, magic checked),
    /// `source` the same bytes read at offsets.
    fn read(source: Source, view: &[u8], path: &Path) -> Result<Bundle> {
        let body_len = view.len().saturating_sub(TRAILER_LEN);
        let body = view.get(..body_len).unwrap_or_default();
        // Decoded before the trailer is checked, to know where the blobs are so that one pass
        // checks both; its failure waits until the trailer matched (Invariant 1).
        let layout = decode_layout(body, path);
        let blob_ids = check_pass(&source, body_len as u64, layout.as_ref().ok(), path)?;
        let layout = layout?;
        for ((id, range), found) in layout.blobs.iter().zip(blob_ids) {
            let found = match found {
                Some(found) => found,
                None => {
                    let header = format!("blob {}\0", range.end - range.start);
                    let read_at = |buf: &mut [u8], at: u64| source.read_exact_at(buf, at);
                    super::sha1_marked(header.as_bytes(), &read_at, range.start, range.end)
                        .map_err(Error::io(path))?
                }
            };
            if found != *id {
                let what = format!("blob {id} is damaged (its bytes hash to another id)");
                return Err(bad(path, range.start as usize, &what));
            }
        }
        let frame = view.get(layout.frame.clone()).unwrap_or_default();
        let section = decompress(frame, layout.raw_len, layout.frame.start, path)?;
        let objects = decode_objects(&section, path)?;
        let bundle = Bundle {
            source: layout.source,
            since: layout.since,
            last_seq: layout.last_seq,
            docs: layout.docs,
            objects,
            section,
            blobs: layout.blobs.into_iter().collect(),
            file: Arc::new(source),
            path: path.into(),
        };
        bundle.check_references()?;
        Ok(bundle)
    }

    /// Every leaf's body is carried, and every blob every carried body names.
    fn check_references(&self) -> Result<()> {
        let path = &self.path;
        for (id, doc) in &self.docs {
            for leaf in &doc.leaves {
                if !matches!(self.object(&leaf.body), Some((Kind::Body, _))) {
                    return Err(bad(path, 0, &format!("the body of leaf {} of {id} is missing", leaf.rev)));
                }
            }
        }
        for (kind, range) in self.objects.values() {
            let Some(bytes) = self.section.get(range.clone()).filter(|_| *kind == Kind::Body) else {
                continue;
            };
            let atts = crate::attachment::of_bytes(bytes).map_err(|e| bad(path, 0, &e.to_string()))?;
            for (name, a) in &atts {
                if !self.blobs.contains_key(&a.blob) {
                    let what = format!("attachment {name:?} names blob {} that it lacks", a.blob);
                    return Err(bad(path, 0, &what));
                }
            }
        }
        Ok(())
    }

    /// Blob `id`'s bytes, read from the bundle file (checked when the bundle was opened,
    /// and again against its id as they are read back); `None` when the bundle lacks it.
    pub fn open_blob(&self, id: &ObjectId) -> Result<Option<BlobReader>> {
        let Some(range) = self.blobs.get(id) else { return Ok(None) };
        Ok(Some(BlobReader {
            file: self.file.clone(),
            at: range.start,
            range: range.clone(),
            path: self.path.clone(),
            expected: *id,
            hasher: Some(crate::blob::IdCheck::new(range.end - range.start)),
        }))
    }

    /// The blobs the bundle holds.
    pub fn blob_count(&self) -> usize {
        self.blobs.len()
    }

    /// The kind and bytes of object `oid`, if the bundle holds it.
    pub fn object(&self, oid: &ObjectId) -> Option<(Kind, &[u8])> {
        let (kind, range) = self.objects.get(oid)?;
        Some((*kind, self.section.get(range.clone())?))
    }

    /// How many objects the bundle holds.
    pub fn object_count(&self) -> usize {
        self.objects.len()
    }
}

/// Reader rules 4–8a over `body` (the bytes before the trailer): the header, the documents,
/// where the objects frame is, and each blob's id and place (its bytes are not read here).
fn decode_layout(body: &[u8], path: &Path) -> Result<Layout> {
    let body_len = body.len();
    let bad = |at: usize, what: &str| bad(path, at, what);
    let version = crate::bytes::be32(body, VERSION_OFFSET).unwrap_or(0);
    if version != VERSION && version != VERSION_WITHOUT_BLOBS {
        return Err(Error::UnsupportedVersion {
            path: path.into(),
            what: "bundle",
            found: version,
            max: VERSION,
        });
    }
    let since = Seq(crate::bytes::be64(body, SINCE_OFFSET).ok_or_else(|| bad(SINCE_OFFSET, "truncated"))?);
    let last_seq =
        Seq(crate::bytes::be64(body, LAST_SEQ_OFFSET).ok_or_else(|| bad(LAST_SEQ_OFFSET, "truncated"))?);
    let mut rest = body.get(BODY_OFFSET..).unwrap_or_default();
    let at = |rest: &[u8]| body_len - rest.len();
    let source = read_id(&mut rest).ok_or_else(|| bad(at(rest), "bad source id"))?.to_string();
    let n = varint::read(&mut rest).ok_or_else(|| bad(at(rest), "bad document count"))?;
    let mut docs = Vec::with_capacity(n.min(1 << 20) as usize);
    for _ in 0..n {
        let here = at(rest);
        let id = read_id(&mut rest).ok_or_else(|| bad(here, "bad document id"))?;
        let id = DocId::parse(id).map_err(|_| bad(here, "invalid document id"))?;
        match Entry::decode(&mut rest) {
            Some(Some(Entry::Doc(doc))) if !doc.leaves.is_empty() => docs.push((id, doc)),
            _ => return Err(bad(here, "bad document entry")),
        }
    }
    let raw_len = varint::read(&mut rest).ok_or_else(|| bad(at(rest), "bad objects length"))?;
    let compressed_len = varint::read(&mut rest).ok_or_else(|| bad(at(rest), "bad objects length"))?;
    let compressed_len = usize::try_from(compressed_len).unwrap_or(usize::MAX);
    // Version 1: the frame runs up to the trailer; version 2: the blobs section follows.
    let fits = if version >= 2 { rest.len() >= compressed_len } else { rest.len() == compressed_len };
    if raw_len > MAX_OBJECTS_LEN || !fits {
        return Err(bad(at(rest), "objects section length does not match the file"));
    }
    let frame = at(rest)..at(rest) + compressed_len;
    let mut blob_part = rest.get(compressed_len..).unwrap_or_default();
    let blobs = if version >= 2 { decode_blobs(&mut blob_part, body_len, path)? } else { Vec::new() };
    Ok(Layout { source, since, last_seq, docs, raw_len, frame, blobs })
}

/// Reader rule 8a without the hashes: the blobs section's length, then each blob's id,
/// length and place; nothing may follow. `rest` ends where the trailer starts, at
/// `file_len`. Slicing past a blob's bytes does not read them.
fn decode_blobs(rest: &mut &[u8], file_len: usize, path: &Path) -> Result<Vec<(ObjectId, Range<u64>)>> {
    let bad = |at: usize, what: &str| bad(path, at, what);
    let at = |rest: &[u8]| file_len - rest.len();
    let len = varint::read(rest).ok_or_else(|| bad(at(rest), "bad blobs section length"))?;
    if len != rest.len() as u64 {
        return Err(bad(at(rest), "blobs section length does not match the file"));
    }
    let count = varint::read(rest).ok_or_else(|| bad(at(rest), "bad blob count"))?;
    let mut out = Vec::with_capacity(count.min(rest.len() as u64 / 21) as usize);
    for _ in 0..count {
        let here = at(rest);
        let id = varint::take(rest, 20).ok_or_else(|| bad(here, "truncated blob id"))?;
        let id = ObjectId::try_from(id).map_err(|_| bad(here, "bad blob id"))?;
        let n = varint::read(rest).ok_or_else(|| bad(here, "bad blob length"))?;
        let start = at(rest);
        varint::take(rest, usize::try_from(n).unwrap_or(usize::MAX))
            .ok_or_else(|| bad(here, "truncated blob"))?;
        out.push((id, start as u64..start as u64 + n));
    }
    if !rest.is_empty() {
        return Err(bad(at(rest), "trailing bytes after the blobs"));
    }
    Ok(out)
}

/// One pass over the bytes before the trailer, in `STREAM_LEN` pieces read at offsets: the
/// trailer must match (reader rule 3), and the id of each blob of `layout` is computed on
/// the way (`None` for one whose plain hash detected a collision attack).
fn check_pass(
    source: &Source,
    body_len: u64,
    layout: Option<&Layout>,
    path: &Path,
) -> Result<Vec<Option<ObjectId>>> {
    let blobs = layout.map(|l| l.blobs.as_slice()).unwrap_or_default();
    let mut ids = Vec::with_capacity(blobs.len());
    let mut current: Option<crate::blob::IdCheck> = None;
    let mut trailer = gix_hash::hasher(gix_hash::Kind::Sha1);
    let mut buf = vec![0u8; STREAM_LEN];
    let mut at = 0u64;
    loop {
        let n = usize::try_from(body_len - at).unwrap_or(STREAM_LEN).min(STREAM_LEN);
        let piece = buf.get_mut(..n).unwrap_or_default();
        source.read_exact_at(piece, at).map_err(Error::io(path))?;
        trailer.update(piece);
        let end = at + n as u64;
        // Feed the blobs this piece overlaps, finishing each one the piece reaches the end of.
        while let Some((_, range)) = blobs.get(ids.len()) {
            let (lo, hi) = (range.start.max(at), range.end.min(end));
            if lo < hi || range.start >= at {
                let check = current.get_or_insert_with(|| crate::blob::IdCheck::new(range.end - range.start));
                if let Some(part) =
                    piece.get((lo.saturating_sub(at)) as usize..(hi.saturating_sub(at)) as usize)
                {
                    check.update(part);
                }
            }
            if range.end > end {
                break;
            }
            ids.push(current.take().and_then(crate::blob::IdCheck::finish));
        }
        at = end;
        if at >= body_len {
            break;
        }
    }
    let mut stored = [0u8; TRAILER_LEN];
    source.read_exact_at(&mut stored, body_len).map_err(Error::io(path))?;
    let computed = match trailer.try_finalize() {
        Ok(id) => id,
        Err(_) => {
            let read_at = |buf: &mut [u8], at: u64| source.read_exact_at(buf, at);
            super::sha1_marked(&[], &read_at, 0, body_len).map_err(Error::io(path))?
        }
    };
    if computed.as_bytes() != stored {
        return Err(bad(path, body_len as usize, "checksum mismatch (the file is damaged or truncated)"));
    }
    Ok(ids)
}

/// Decompress the objects frame (starting at `offset` in the file) as a stream, so a forged
/// length cannot make us allocate it up front: sized up front only as far as the
/// compressed length makes plausible, and at most `raw_len` + 1 bytes read.
fn decompress(frame: &[u8], raw_len: u64, offset: usize, path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut section = Vec::with_capacity(raw_len.min(frame.len() as u64 * 16) as usize);
    let decoder = zstd::stream::read::Decoder::new(frame)
        .map_err(|_| bad(path, offset, "objects do not decompress"))?;
    decoder
        .take(raw_len.saturating_add(1))
        .read_to_end(&mut section)
        .map_err(|_| bad(path, offset, "objects do not decompress"))?;
    if section.len() as u64 != raw_len {
        return Err(bad(path, offset, "objects section has the wrong length"));
    }
    Ok(section)
}

/// Reader rules 10–11: every object entry of the decompressed section, keyed by its id.
fn decode_objects(section: &[u8], path: &Path) -> Result<FastMap<ObjectId, (Kind, Range<usize>)>> {
    let bad = |what: &str| bad(path, 0, what);
    let mut s = section;
    let count = varint::read(&mut s).ok_or_else(|| bad("bad object count"))?;
    // An object takes at least 3 bytes (kind, length, one byte), so this bounds a forged count.
    let mut objects =
        FastMap::with_capacity_and_hasher(count.min(section.len() as u64 / 3) as usize, Default::default());
    for _ in 0..count {
        let kind = varint::take(&mut s, 1).and_then(|k| k.first().copied()).and_then(Kind::from_code);
        let Some(kind) = kind.filter(|k| *k != Kind::Dictionary) else {
            return Err(bad("bad object kind"));
        };
        let len = varint::read(&mut s).ok_or_else(|| bad("bad object length"))? as usize;
        let obj = varint::take(&mut s, len).ok_or_else(|| bad("truncated object"))?;
        match kind {
            Kind::Revision => {
                crate::object::Revision::decode(obj).map_err(|e| bad(&e.to_string()))?;
            }
            _ => {
                if !is_json_object(obj) {
                    return Err(bad("a body is not a JSON object"));
                }
            }
        }
        let start = section.len() - s.len() - obj.len();
        objects.insert(hash_object(kind, obj), (kind, start..start + obj.len()));
    }
    if !s.is_empty() {
        return Err(bad("trailing bytes after the objects"));
    }
    Ok(objects)
}

/// A blob's bytes read from a bundle file, hashed again as they are read: a file changed
/// since it was opened ends the stream with an error, never with other bytes.
pub struct BlobReader {
    file: Arc<Source>,
    at: u64,
    range: Range<u64>,
    path: PathBuf,
    expected: ObjectId,
    hasher: Option<crate::blob::IdCheck>,
}

impl BlobReader {
    fn changed(&self) -> std::io::Error {
        let what =
            format!("{}: blob {} changed since the bundle was opened", self.path.display(), self.expected);
        std::io::Error::new(std::io::ErrorKind::InvalidData, what)
    }
}

impl std::io::Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.range.end - self.at;
        if left == 0 {
            if let Some(h) = self.hasher.take() {
                let found = match h.finish() {
                    Some(id) => id,
                    // A collision attack detected: the id is the hash with the marker.
                    None => {
                        let header = format!("blob {}\0", self.range.end - self.range.start);
                        let file = &self.file;
                        let read_at = |buf: &mut [u8], at: u64| file.read_exact_at(buf, at);
                        super::sha1_marked(header.as_bytes(), &read_at, self.range.start, self.range.end)?
                    }
                };
                if found != self.expected {
                    return Err(self.changed());
                }
            }
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let Some(buf) = buf.get_mut(..want) else { return Ok(0) };
        self.file.read_exact_at(buf, self.at).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => self.changed(),
            _ => e,
        })?;
        if let Some(h) = self.hasher.as_mut() {
            h.update(buf);
        }
        self.at += want as u64;
        Ok(want)
    }
}

/// Whether `bytes` are one JSON object (checked without building it).
fn is_json_object(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
        && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
}
