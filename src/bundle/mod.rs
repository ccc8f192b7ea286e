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
pub const VERSION: u32 = 1;
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
}

/// What `create` wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    pub documents: usize,
    pub objects: usize,
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
                    push_object(&mut objects, Kind::Body, &bytes);
                    count += 1;
                }
            }
        }
    }
    let mut out = Vec::with_capacity(BODY_OFFSET + refs.len() + objects.len() / 3 + 64);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_be_bytes());
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
    let trailer = crate::id::sha1(&out);
    out.extend_from_slice(trailer.as_bytes());
    check_target(path)?;
    crate::fsutil::replace_atomically(&crate::disk::RealDisk, path, &out)?;
    Ok(Created { documents, objects: count as usize, bytes: out.len() as u64, last_seq: store.last_seq() })
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
        if version != VERSION {
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
        if raw_len > MAX_OBJECTS_LEN || rest.len() != compressed_len {
            return Err(bad(at(rest), "objects section length does not match the file"));
        }
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
        let bundle = Bundle { source, since, last_seq, docs, objects, section };
        for (id, doc) in &bundle.docs {
            for leaf in &doc.leaves {
                if !matches!(bundle.object(&leaf.body), Some((Kind::Body, _))) {
                    return Err(bad(0, &format!("the body of leaf {} of {id} is missing", leaf.rev)));
                }
            }
        }
        Ok(bundle)
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

/// Whether `bytes` are one JSON object (checked without building it).
fn is_json_object(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
        && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
}
