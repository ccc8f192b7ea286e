//! Bundles: a store, or what changed in it since a sequence, as one self-describing file.
//!
//! Owns: the bundle format, writing a bundle from a store, and reading one back with full
//! verification. A bundle holds the refs of the documents it carries (each leaf with its
//! inline revision object) and a zstd-compressed section of the objects their histories
//! need (bodies and inner revision objects), then a SHA-1 of everything before it.
//! Invariants:
//! 1. A reader checks the trailing SHA-1 before it trusts any other byte, then decodes
//!    every section strictly and checks that every object hashes to its id and every leaf's
//!    body is present: a damaged or truncated bundle is refused whole, before anything is
//!    applied to a store.
//! 2. A bundle made `--since SEQ` carries the complete current trees of the documents that
//!    changed after SEQ, so it applies to any store. (Fetching replicates leaves with their
//!    histories, as from any peer: the inner bodies it also carries are not transferred.)
//!
//! Spec: format-spec/bundle.md (bundle format 1).

#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used))]

use std::path::Path;

use crate::error::{Error, Result};
use crate::hash::{FastMap, FastSet};
use crate::id::{hash_object, DocId, Kind, ObjectId, Seq};
use crate::object::varint;
use crate::refs::{read_id, write_id, DocRef, Entry};
use crate::store::Store;

/// `SBND`: the first four bytes of every bundle.
pub const MAGIC: [u8; 4] = *b"SBND";
/// The newest version this settee reads and writes: 2 adds the blobs section. A bundle
/// whose documents name no blob is written as version 1, which older settees read.
pub const VERSION: u32 = 2;
/// The version of a bundle without blobs.
pub const VERSION_WITHOUT_BLOBS: u32 = 1;
pub const MAGIC_OFFSET: usize = 0;
pub const VERSION_OFFSET: usize = MAGIC_OFFSET + 4;
pub const SINCE_OFFSET: usize = VERSION_OFFSET + size_of::<u32>();
pub const LAST_SEQ_OFFSET: usize = SINCE_OFFSET + size_of::<u64>();
/// Where the variable part (source id, refs, objects) starts.
pub const BODY_OFFSET: usize = LAST_SEQ_OFFSET + size_of::<u64>();
/// The trailing SHA-1.
pub const TRAILER_LEN: usize = 20;
/// The objects section is refused past this many bytes once decompressed.
pub const MAX_OBJECTS_LEN: u64 = 16 << 30;

/// A bundle read into memory and verified.
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
    objects: FastMap<ObjectId, (Kind, std::ops::Range<usize>)>,
    /// The decompressed objects section, which the objects are read from in place.
    section: Vec<u8>,
    /// Every blob (version 2): where its bytes are in the file, checked at open.
    blobs: FastMap<ObjectId, std::ops::Range<u64>>,
    /// The file, for reading blobs (none for a bundle read from bytes without a file).
    path: std::path::PathBuf,
}

/// What `create` wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    pub documents: usize,
    pub objects: usize,
    /// Attachment blobs carried, and their bytes.
    pub blobs: usize,
    pub blob_bytes: u64,
    pub bytes: u64,
    pub last_seq: Seq,
}

/// Refuse to write over `path` unless it is absent or a regular file: the bundle is renamed
/// over it, which would replace a device node, a FIFO, a socket, a symlink or a directory.
fn check_target(path: &Path) -> Result<()> {
    let mut tmp = path.file_name().map(std::ffi::OsStr::to_os_string).unwrap_or_default();
    tmp.push(".tmp");
    for p in [path.to_path_buf(), path.with_file_name(tmp)] {
        match std::fs::symlink_metadata(&p) {
            Ok(meta) if !meta.file_type().is_file() => {
                let what = describe(&meta.file_type());
                return Err(Error::Invalid(format!(
                    "{} is {what}, not a regular file: a bundle only replaces a regular file",
                    p.display()
                )));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&p)(e)),
        }
    }
    Ok(())
}

fn describe(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

/// Write the documents of `store` changed after `since` (all of them for 0) to `path`.
///
/// `path` must be absent or a regular file (it is checked before any work and again before
/// the rename): anything else is refused with nothing written.
pub fn create(store: &Store, path: &Path, since: Seq) -> Result<Created> {
    check_target(path)?;
    let mut refs = Vec::new();
    let mut objects = Vec::new();
    let mut seen: FastSet<ObjectId> = FastSet::default();
    let mut blob_seen: FastSet<ObjectId> = FastSet::default();
    let mut blob_ids: Vec<ObjectId> = Vec::new();
    let mut count = 0u64;
    let mut documents = 0;
    for change in store.changes(since) {
        let change = change?;
        let (tree, found) = store.load_tree_with_objects(&change.id, &change.doc)?;
        write_id(&mut refs, change.id.as_str());
        Entry::Doc(change.doc.clone()).encode(&mut refs);
        documents += 1;
        let leaf_objects: FastSet<ObjectId> =
            change.doc.leaves.iter().map(|l| l.revision_id(&change.id)).collect();
        // In id order, so that a bundle of the same store has the same bytes.
        let mut inner: Vec<_> = found.iter().filter(|(oid, _)| !leaf_objects.contains(*oid)).collect();
        inner.sort_by_key(|(oid, _)| **oid);
        for (oid, revision) in inner {
            if seen.insert(*oid) {
                push_object(&mut objects, Kind::Revision, &revision.encode());
                count += 1;
            }
        }
        for (_, node, _) in tree.nodes() {
            let Some(info) = &node.value else { continue };
            if seen.insert(info.body) {
                if let Some(bytes) = store.odb().read_body(&info.body)? {
                    for a in crate::attachment::of_bytes(&bytes)?.into_values() {
                        if blob_seen.insert(a.blob) {
                            blob_ids.push(a.blob);
                        }
                    }
                    push_object(&mut objects, Kind::Body, &bytes);
                    count += 1;
                }
            }
        }
    }
    // The blobs the carried bodies name, each once, in the order first named.
    let mut blobs = Vec::new();
    varint::write(&mut blobs, blob_ids.len() as u64);
    let mut blob_bytes = 0u64;
    for id in &blob_ids {
        let mut reader = store.open_blob(id)?.ok_or_else(|| {
            Error::corrupt(crate::blob::path(store.root(), id), 0, format!("blob {id} is missing"))
        })?;
        blobs.extend_from_slice(id.as_bytes());
        varint::write(&mut blobs, reader.info().len);
        blob_bytes += reader.copy_to(&mut blobs)?;
    }
    let mut out = Vec::with_capacity(BODY_OFFSET + refs.len() + objects.len() / 3 + 64);
    out.extend_from_slice(&MAGIC);
    let version = if blob_ids.is_empty() { VERSION_WITHOUT_BLOBS } else { VERSION };
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&since.0.to_be_bytes());
    out.extend_from_slice(&store.last_seq().0.to_be_bytes());
    write_id(&mut out, &store.uuid());
    varint::write(&mut out, documents as u64);
    out.extend_from_slice(&refs);
    let mut section = Vec::with_capacity(objects.len() + 8);
    varint::write(&mut section, count);
    section.extend_from_slice(&objects);
    let compressed = zstd::bulk::compress(&section, 3).map_err(Error::io(path))?;
    varint::write(&mut out, section.len() as u64);
    varint::write(&mut out, compressed.len() as u64);
    out.extend_from_slice(&compressed);
    if version >= 2 {
        varint::write(&mut out, blobs.len() as u64);
        out.extend_from_slice(&blobs);
    }
    let trailer = crate::id::sha1(&out);
    out.extend_from_slice(trailer.as_bytes());
    check_target(path)?;
    crate::fsutil::replace_atomically(&crate::disk::RealDisk, path, &out)?;
    Ok(Created {
        documents,
        objects: count as usize,
        blobs: blob_ids.len(),
        blob_bytes,
        bytes: out.len() as u64,
        last_seq: store.last_seq(),
    })
}

fn push_object(out: &mut Vec<u8>, kind: Kind, bytes: &[u8]) {
    out.push(kind.code());
    varint::write(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

impl Bundle {
    /// Read and verify the bundle at `path`.
    pub fn open(path: &Path) -> Result<Bundle> {
        let bytes = std::fs::read(path).map_err(Error::io(path))?;
        Bundle::from_bytes(&bytes, path)
    }

    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Bundle> {
        let bad = |at: usize, what: &str| Error::corrupt(path, at as u64, format!("bundle: {what}"));
        if bytes.get(..4) != Some(&MAGIC[..]) {
            return Err(bad(0, "not a settee bundle (bad magic)"));
        }
        let body_len = bytes.len().checked_sub(TRAILER_LEN).filter(|&n| n >= BODY_OFFSET);
        let Some(body_len) = body_len else { return Err(bad(bytes.len(), "truncated")) };
        let (body, trailer) = bytes.split_at(body_len);
        if crate::id::sha1(body).as_bytes() != trailer {
            return Err(bad(body_len, "checksum mismatch (the file is damaged or truncated)"));
        }
        let version = crate::bytes::be32(body, VERSION_OFFSET).unwrap_or(0);
        if version != VERSION && version != VERSION_WITHOUT_BLOBS {
            return Err(Error::UnsupportedVersion {
                path: path.into(),
                what: "bundle",
                found: version,
                max: VERSION,
            });
        }
        let since =
            Seq(crate::bytes::be64(body, SINCE_OFFSET).ok_or_else(|| bad(SINCE_OFFSET, "truncated"))?);
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
        let compressed_len =
            varint::read(&mut rest).ok_or_else(|| bad(at(rest), "bad objects length"))? as usize;
        // Version 1: the frame runs up to the trailer; version 2: the blobs section follows.
        let fits = if version >= 2 { rest.len() >= compressed_len } else { rest.len() == compressed_len };
        if raw_len > MAX_OBJECTS_LEN || !fits {
            return Err(bad(at(rest), "objects section length does not match the file"));
        }
        let (frame, mut blob_part) = rest.split_at(compressed_len);
        let blobs =
            if version >= 2 { read_blobs(&mut blob_part, body_len, path)? } else { FastMap::default() };
        let rest = frame;
        // Decompressed as a stream, so a forged length cannot make us allocate it up front.
        // Sized up front only as far as the compressed length makes plausible.
        let mut section = Vec::with_capacity(raw_len.min(compressed_len as u64 * 16) as usize);
        {
            use std::io::Read;
            let decoder = zstd::stream::read::Decoder::new(rest)
                .map_err(|_| bad(at(rest), "objects do not decompress"))?;
            decoder
                .take(raw_len.saturating_add(1))
                .read_to_end(&mut section)
                .map_err(|_| bad(at(rest), "objects do not decompress"))?;
        }
        if section.len() as u64 != raw_len {
            return Err(bad(at(rest), "objects section has the wrong length"));
        }
        let mut s = section.as_slice();
        let count = varint::read(&mut s).ok_or_else(|| bad(0, "bad object count"))?;
        // An object takes at least 3 bytes (kind, length, one byte), so this bounds a forged count.
        let mut objects = FastMap::with_capacity_and_hasher(
            count.min(section.len() as u64 / 3) as usize,
            Default::default(),
        );
        for _ in 0..count {
            let kind = varint::take(&mut s, 1).and_then(|k| k.first().copied()).and_then(Kind::from_code);
            let Some(kind) = kind.filter(|k| *k != Kind::Dictionary) else {
                return Err(bad(0, "bad object kind"));
            };
            let len = varint::read(&mut s).ok_or_else(|| bad(0, "bad object length"))? as usize;
            let obj = varint::take(&mut s, len).ok_or_else(|| bad(0, "truncated object"))?;
            match kind {
                Kind::Revision => {
                    crate::object::Revision::decode(obj).map_err(|e| bad(0, &e.to_string()))?;
                }
                _ => {
                    if !is_json_object(obj) {
                        return Err(bad(0, "a body is not a JSON object"));
                    }
                }
            }
            let start = section.len() - s.len() - obj.len();
            objects.insert(hash_object(kind, obj), (kind, start..start + obj.len()));
        }
        if !s.is_empty() {
            return Err(bad(0, "trailing bytes after the objects"));
        }
        let bundle = Bundle { source, since, last_seq, docs, objects, section, blobs, path: path.into() };
        for (id, doc) in &bundle.docs {
            for leaf in &doc.leaves {
                if !matches!(bundle.object(&leaf.body), Some((Kind::Body, _))) {
                    return Err(bad(0, &format!("the body of leaf {} of {id} is missing", leaf.rev)));
                }
            }
        }
        // Every attachment of every body carried has its blob in the bundle.
        for (kind, range) in bundle.objects.values() {
            let Some(bytes) = bundle.section.get(range.clone()).filter(|_| *kind == Kind::Body) else {
                continue;
            };
            let atts = crate::attachment::of_bytes(bytes).map_err(|e| bad(0, &e.to_string()))?;
            for (name, a) in &atts {
                if !bundle.blobs.contains_key(&a.blob) {
                    return Err(bad(0, &format!("attachment {name:?} names blob {} that it lacks", a.blob)));
                }
            }
        }
        Ok(bundle)
    }

    /// Blob `id`'s bytes, read from the bundle file (checked when the bundle was opened,
    /// and again against its id as they are read back); `None` when the bundle lacks it.
    pub fn open_blob(&self, id: &ObjectId) -> Result<Option<BlobReader>> {
        let Some(range) = self.blobs.get(id) else { return Ok(None) };
        let file = std::fs::File::open(&self.path).map_err(Error::io(&self.path))?;
        Ok(Some(BlobReader {
            file,
            at: range.start,
            end: range.end,
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

/// Decode the blobs section (bundle version 2): its length, then each blob's id, length and
/// raw bytes, every one hashed against its id; nothing may follow. Returns where each
/// blob's bytes are in the file (whose first `file_len` bytes precede the trailer).
fn read_blobs(
    rest: &mut &[u8],
    file_len: usize,
    path: &Path,
) -> Result<FastMap<ObjectId, std::ops::Range<u64>>> {
    let bad = |at: usize, what: &str| Error::corrupt(path, at as u64, format!("bundle: {what}"));
    let at = |rest: &[u8]| file_len - rest.len();
    let len = varint::read(rest).ok_or_else(|| bad(at(rest), "bad blobs section length"))?;
    if len != rest.len() as u64 {
        return Err(bad(at(rest), "blobs section length does not match the file"));
    }
    let count = varint::read(rest).ok_or_else(|| bad(at(rest), "bad blob count"))?;
    let mut out =
        FastMap::with_capacity_and_hasher(count.min(rest.len() as u64 / 21) as usize, Default::default());
    for _ in 0..count {
        let here = at(rest);
        let id = varint::take(rest, 20).ok_or_else(|| bad(here, "truncated blob id"))?;
        let id = ObjectId::try_from(id).map_err(|_| bad(here, "bad blob id"))?;
        let n = varint::read(rest).ok_or_else(|| bad(here, "bad blob length"))? as usize;
        let start = at(rest);
        let bytes = varint::take(rest, n).ok_or_else(|| bad(here, "truncated blob"))?;
        if crate::blob::id_of(bytes) != id {
            return Err(bad(here, &format!("blob {id} is damaged (its bytes hash to another id)")));
        }
        out.insert(id, start as u64..(start + n) as u64);
    }
    if !rest.is_empty() {
        return Err(bad(at(rest), "trailing bytes after the blobs"));
    }
    Ok(out)
}

/// A blob's bytes read from a bundle file, hashed again as they are read: a file changed
/// since it was opened ends the stream with an error, never with other bytes.
pub struct BlobReader {
    file: std::fs::File,
    at: u64,
    end: u64,
    path: std::path::PathBuf,
    expected: ObjectId,
    hasher: Option<crate::blob::IdCheck>,
}

impl std::io::Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let left = self.end - self.at;
        if left == 0 {
            if let Some(h) = self.hasher.take() {
                if h.finish() != Some(self.expected) {
                    let what = format!(
                        "{}: blob {} changed since the bundle was opened",
                        self.path.display(),
                        self.expected
                    );
                    return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, what));
                }
            }
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let Some(buf) = buf.get_mut(..want) else { return Ok(0) };
        let n = self.file.read_at(buf, self.at)?;
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "bundle blob truncated"));
        }
        if let (Some(h), Some(read)) = (self.hasher.as_mut(), buf.get(..n)) {
            h.update(read);
        }
        self.at += n as u64;
        Ok(n)
    }
}

/// Whether `bytes` are one JSON object (checked without building it).
fn is_json_object(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
        && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
}
