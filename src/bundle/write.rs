//! Writing a bundle: `create` streams a store's documents, objects and blobs into a
//! temporary file beside the target, then renames it into place.
//!
//! Owns: what a bundle carries (format-spec/bundle.md, "What `create` puts in") and the
//! order of writes. Not: the byte layout's reading rules (`read.rs`).
//! Invariants:
//! 1. Memory is bounded by the refs and the objects section (held and compressed whole, as
//!    small values) plus one `STREAM_LEN` buffer and the blob reader's chunks: a blob's
//!    bytes go from the store's blob reader to the file chunk by chunk.
//! 2. The trailer is the SHA-1 of the bytes as they were written (computed on the way out);
//!    the file reaches `path` only whole, fsynced, by a rename followed by a directory
//!    fsync. On any error the temporary file is removed and `path` is untouched.

use std::path::{Path, PathBuf};

use crate::disk::{self, Disk as _};
use crate::error::{Error, Result};
use crate::hash::FastSet;
use crate::id::{Kind, ObjectId, Seq};
use crate::object::varint;
use crate::refs::{write_id, Entry};
use crate::store::Store;

use super::{MAGIC, STREAM_LEN, VERSION, VERSION_WITHOUT_BLOBS};

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
    for p in [path.to_path_buf(), tmp_path(path)] {
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

/// `path` with `.tmp` appended to its file name: where the bundle is written before the rename.
fn tmp_path(path: &Path) -> PathBuf {
    let mut tmp = path.file_name().map(std::ffi::OsStr::to_os_string).unwrap_or_default();
    tmp.push(".tmp");
    path.with_file_name(tmp)
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

/// The refs and objects of the documents a bundle carries, and the blobs they name.
struct Collected {
    documents: usize,
    /// The doc records, back to back.
    refs: Vec<u8>,
    /// The objects section, decompressed: count, then the entries.
    section: Vec<u8>,
    objects: u64,
    /// Each blob the carried bodies name, once, in the order first named, with its length.
    blobs: Vec<(ObjectId, u64)>,
}

fn collect(store: &Store, since: Seq) -> Result<Collected> {
    let mut refs = Vec::new();
    let mut objects = Vec::new();
    let mut seen: FastSet<ObjectId> = FastSet::default();
    let mut blob_seen: FastSet<ObjectId> = FastSet::default();
    let mut blobs = Vec::new();
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
                            blobs.push((a.blob, a.length));
                        }
                    }
                    push_object(&mut objects, Kind::Body, &bytes);
                    count += 1;
                }
            }
        }
    }
    let mut section = Vec::with_capacity(objects.len() + 10);
    varint::write(&mut section, count);
    section.extend_from_slice(&objects);
    Ok(Collected { documents, refs, section, objects: count, blobs })
}

fn push_object(out: &mut Vec<u8>, kind: Kind, bytes: &[u8]) {
    out.push(kind.code());
    varint::write(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// The length of `value` as a varint.
fn varint_len(value: u64) -> u64 {
    let mut v = Vec::with_capacity(10);
    varint::write(&mut v, value);
    v.len() as u64
}

/// Write the documents of `store` changed after `since` (all of them for 0) to `path`.
///
/// `path` must be absent or a regular file (it is checked before any work and again before
/// the rename): anything else is refused with nothing written.
pub fn create(store: &Store, path: &Path, since: Seq) -> Result<Created> {
    check_target(path)?;
    let c = collect(store, since)?;
    let compressed = zstd::bulk::compress(&c.section, 3).map_err(Error::io(path))?;
    let version = if c.blobs.is_empty() { VERSION_WITHOUT_BLOBS } else { VERSION };
    let mut head = Vec::with_capacity(super::BODY_OFFSET + c.refs.len() + 64);
    head.extend_from_slice(&MAGIC);
    head.extend_from_slice(&version.to_be_bytes());
    head.extend_from_slice(&since.0.to_be_bytes());
    head.extend_from_slice(&store.last_seq().0.to_be_bytes());
    write_id(&mut head, &store.uuid());
    varint::write(&mut head, c.documents as u64);
    head.extend_from_slice(&c.refs);
    varint::write(&mut head, c.section.len() as u64);
    varint::write(&mut head, compressed.len() as u64);
    drop(c.refs);
    drop(c.section);

    let disk = disk::RealDisk;
    let tmp = tmp_path(path);
    let file = disk.create(&tmp, false).map_err(Error::io(&tmp))?;
    let written = (|| {
        let mut out = Out {
            file: &*file,
            path: &tmp,
            at: 0,
            buf: Vec::with_capacity(STREAM_LEN),
            hasher: Some(gix_hash::hasher(gix_hash::Kind::Sha1)),
        };
        out.write(&head)?;
        out.write(&compressed)?;
        let blob_bytes = if version >= 2 { write_blobs(store, &c.blobs, &mut out)? } else { 0 };
        let bytes = out.finish()?;
        file.sync_all().map_err(Error::io(&tmp))?;
        check_target(path)?;
        disk.rename(&tmp, path).map_err(Error::io(path))?;
        Ok::<_, Error>((bytes, blob_bytes))
    })();
    let (bytes, blob_bytes) = match written {
        Ok(w) => w,
        Err(e) => {
            drop(file);
            // Best effort: the error matters more than a failed cleanup.
            let _ = disk.remove_file(&tmp);
            return Err(e);
        }
    };
    if let Some(dir) = path.parent() {
        crate::fsutil::sync_dir(&disk, dir)?;
    }
    Ok(Created {
        documents: c.documents,
        objects: c.objects as usize,
        blobs: c.blobs.len(),
        blob_bytes,
        bytes,
        last_seq: store.last_seq(),
    })
}

/// The blobs section: its length (known from the blobs' lengths before any byte of them is
/// read), the count, then each blob's id, length and bytes, copied chunk by chunk.
fn write_blobs(store: &Store, blobs: &[(ObjectId, u64)], out: &mut Out<'_>) -> Result<u64> {
    let mut section_len = varint_len(blobs.len() as u64);
    for (_, len) in blobs {
        section_len += 20 + varint_len(*len) + len;
    }
    let mut lengths = Vec::with_capacity(20);
    varint::write(&mut lengths, section_len);
    varint::write(&mut lengths, blobs.len() as u64);
    out.write(&lengths)?;
    let mut total = 0;
    for (id, len) in blobs {
        let blob_path = crate::blob::path(store.root(), id);
        let mut reader = store
            .open_blob(id)?
            .ok_or_else(|| Error::corrupt(&blob_path, 0, format!("blob {id} is missing")))?;
        if reader.info().len != *len {
            let what = format!("blob {id} is {} bytes, its attachment says {len}", reader.info().len);
            return Err(Error::corrupt(&blob_path, 0, what));
        }
        lengths.clear();
        lengths.extend_from_slice(id.as_bytes());
        varint::write(&mut lengths, *len);
        out.write(&lengths)?;
        let mut copied = 0;
        loop {
            let chunk = reader.next_chunk()?;
            if chunk.is_empty() {
                break;
            }
            copied += chunk.len() as u64;
            out.write(chunk)?;
        }
        // The reader ends with an error, never short, when the file and its header differ;
        // this only guards the section length written above.
        if copied != *len {
            return Err(Error::corrupt(
                &blob_path,
                copied,
                format!("blob {id} ended after {copied} of {len} bytes"),
            ));
        }
        total += copied;
    }
    Ok(total)
}

/// The temporary bundle file being written: buffered positioned writes, hashed on the way.
struct Out<'a> {
    file: &'a dyn disk::File,
    path: &'a Path,
    /// Bytes written to the file so far.
    at: u64,
    buf: Vec<u8>,
    hasher: Option<gix_hash::Hasher>,
}

impl Out<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        if let Some(h) = self.hasher.as_mut() {
            h.update(bytes);
        }
        if self.buf.len() + bytes.len() > STREAM_LEN {
            self.flush()?;
        }
        if bytes.len() >= STREAM_LEN {
            self.file.write_all_at(bytes, self.at).map_err(Error::io(self.path))?;
            self.at += bytes.len() as u64;
        } else {
            self.buf.extend_from_slice(bytes);
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            self.file.write_all_at(&self.buf, self.at).map_err(Error::io(self.path))?;
            self.at += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }

    /// Write the trailer (the SHA-1 of every byte before it, read back with the collision
    /// marker if the plain hash detects an attack); returns the file's length.
    fn finish(mut self) -> Result<u64> {
        self.flush()?;
        let hasher =
            self.hasher.take().ok_or_else(|| Error::Invalid("bundle writer finished twice".into()))?;
        let trailer = match hasher.try_finalize() {
            Ok(id) => id,
            Err(_) => {
                let file = self.file;
                super::sha1_marked(&[], &|buf, at| file.read_exact_at(buf, at), 0, self.at)
                    .map_err(Error::io(self.path))?
            }
        };
        self.file.write_all_at(trailer.as_bytes(), self.at).map_err(Error::io(self.path))?;
        Ok(self.at + trailer.as_bytes().len() as u64)
    }
}
