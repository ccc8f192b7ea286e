//! Blobs: the bytes of attachments, one file per blob under `blobs/`, named by content.
//!
//! Owns: a blob's id (Git's object naming with the kind name `blob`), its file (header,
//! chunks, checksums: `format.rs`), streaming it in (`write.rs`) and out (`read.rs`) with
//! bounded memory, and whether its chunks are compressed (`Compression`).
//! Not: which documents reference a blob (revision objects), nor when an unreferenced blob
//! is dropped (compaction).
//! Invariants:
//! 1. A blob file is immutable. It appears under its final name only whole and fsynced,
//!    by a rename, and its id is the SHA-1 of `"blob <len>\0"` and the raw bytes, so two
//!    writers of the same bytes write the same file and either rename wins.
//! 2. A blob is held in memory one chunk at a time (`CHUNK_LEN` raw bytes), however large.
//! 3. A reader hands out no byte of a chunk before that chunk's CRC-32 checked, and ends
//!    with an error, never with success, when the whole blob's length, SHA-1 or MD5 differ.
//! 4. Blobs never enter packs: no pack dictionary is trained on them or applied to them.
//!
//! Spec: format-spec/blobs.md (blob file version 1).

mod digest;
mod format;
mod read;
mod write;

use std::path::{Path, PathBuf};

use base64::Engine as _;

pub use format::{CHUNK_LEN, VERSION};
pub use read::{verify, Reader};
pub use write::Writer;

use crate::id::ObjectId;

/// The directory of blob files inside the store directory.
pub const DIR_NAME: &str = "blobs";

/// What a stored blob is: its id, length and MD5 (kept for CouchDB's `digest`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Info {
    pub id: ObjectId,
    pub len: u64,
    pub md5: [u8; 16],
}

impl Info {
    /// CouchDB's `digest` of the bytes: `md5-` and the MD5 in standard base64.
    pub fn digest(&self) -> String {
        format!("md5-{}", base64::engine::general_purpose::STANDARD.encode(self.md5))
    }
}

/// Whether a writer compresses a blob's chunks (each chunk is stored raw whenever
/// compressing it would not save at least an eighth).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Compress every chunk (text-like content types).
    Always,
    /// Store every chunk raw (content types that are already compressed).
    Never,
    /// Compress the first chunk and keep compressing only if that paid.
    Sample,
}

impl Compression {
    /// The choice for a MIME content type (`None` or an unknown type: sample).
    pub fn for_content_type(content_type: Option<&str>) -> Compression {
        let Some(t) = content_type else { return Compression::Sample };
        let t = t.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        let (top, sub) = t.split_once('/').unwrap_or((t.as_str(), ""));
        let text_like = top == "text"
            || ["json", "xml", "javascript", "ecmascript", "csv", "yaml", "toml", "x-sh", "sql"]
                .iter()
                .any(|s| sub == *s || sub.ends_with(&format!("+{s}")))
            || sub == "svg+xml"
            || sub == "x-ndjson";
        let packed = matches!(top, "image" | "video" | "audio") && sub != "bmp" && sub != "x-ms-bmp"
            || [
                "zip",
                "gzip",
                "x-gzip",
                "zstd",
                "x-bzip2",
                "x-xz",
                "x-7z-compressed",
                "pdf",
                "x-rar-compressed",
                "vnd.rar",
                "octet-stream+zstd",
                "wasm",
            ]
            .contains(&sub)
            || sub.starts_with("vnd.openxmlformats")
            || sub.starts_with("vnd.oasis.opendocument")
            || top == "font";
        if text_like {
            Compression::Always
        } else if packed {
            Compression::Never
        } else {
            Compression::Sample
        }
    }
}

/// The path of blob `id` in the store directory `root`: `blobs/<40 hex digits>`.
pub fn path(root: &Path, id: &ObjectId) -> PathBuf {
    root.join(DIR_NAME).join(id.to_string())
}

/// The hashed header of a blob of `len` bytes: `"blob <len>\0"`.
fn header(len: u64) -> Vec<u8> {
    format!("blob {len}\0").into_bytes()
}

/// Streaming id of a blob whose length is known before its bytes: SHA-1 with collision
/// detection; `None` when an attack is detected (the caller then hashes again with the
/// collision marker, as `id::sha1` does).
struct IdHasher(gix_hash::Hasher);

impl IdHasher {
    fn new(len: u64) -> IdHasher {
        let mut h = gix_hash::hasher(gix_hash::Kind::Sha1);
        h.update(&header(len));
        IdHasher(h)
    }

    /// The same, for the fallback input `"settee-collision\0" ‖ header ‖ bytes`.
    fn marked(len: u64) -> IdHasher {
        let mut h = gix_hash::hasher(gix_hash::Kind::Sha1);
        h.update(b"settee-collision\0");
        h.update(&header(len));
        IdHasher(h)
    }

    fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(self) -> Option<ObjectId> {
        self.0.try_finalize().ok()
    }
}

/// A blob's id computed from its bytes as they stream by, for checking bytes read from
/// elsewhere than `blobs/` (a bundle). `finish` is `None` if a collision attack is detected
/// (the bytes are then refused rather than hashed again).
pub struct IdCheck(IdHasher);

impl IdCheck {
    pub fn new(len: u64) -> IdCheck {
        IdCheck(IdHasher::new(len))
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn finish(self) -> Option<ObjectId> {
        self.0.finish()
    }
}

/// The id of `bytes` as a blob (small inputs and tests; large ones stream through
/// [`Writer`]).
pub fn id_of(bytes: &[u8]) -> ObjectId {
    let mut h = IdHasher::new(bytes.len() as u64);
    h.update(bytes);
    h.finish().unwrap_or_else(|| {
        let mut m = IdHasher::marked(bytes.len() as u64);
        m.update(bytes);
        m.finish().unwrap_or_else(|| ObjectId::null(gix_hash::Kind::Sha1))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_follows_git_blob_naming() {
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(id_of(b"hello\n").to_string(), "ce013625030ba8dba906f756967f9e9ca394464a");
        assert_eq!(id_of(b"").to_string(), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    }

    #[test]
    fn digest_is_couchdb_md5_base64() {
        let info = Info { id: id_of(b"hello"), len: 5, md5: md5_of(b"hello") };
        // CouchDB reports "md5-XUFAKrxLKna5cZ2REBfFkg==" for the bytes "hello".
        assert_eq!(info.digest(), "md5-XUFAKrxLKna5cZ2REBfFkg==");
    }

    fn md5_of(bytes: &[u8]) -> [u8; 16] {
        use md5::Digest as _;
        md5::Md5::digest(bytes).into()
    }

    #[test]
    fn compression_by_content_type() {
        assert_eq!(Compression::for_content_type(Some("text/plain; charset=utf-8")), Compression::Always);
        assert_eq!(Compression::for_content_type(Some("application/json")), Compression::Always);
        assert_eq!(Compression::for_content_type(Some("application/ld+json")), Compression::Always);
        assert_eq!(Compression::for_content_type(Some("image/jpeg")), Compression::Never);
        assert_eq!(Compression::for_content_type(Some("application/zip")), Compression::Never);
        assert_eq!(Compression::for_content_type(Some("application/octet-stream")), Compression::Sample);
        assert_eq!(Compression::for_content_type(None), Compression::Sample);
    }
}
