//! Compaction's blob sweep: dropping the blobs that no kept revision names.
//!
//! Owns: which blobs are garbage once a compaction has decided what it keeps, and removing
//! them. Invariants:
//! 1. A blob is removed only when no body among the compaction's live objects names it and
//!    its file was last written before the compaction started, less [`GRACE`]; a writer that
//!    wrote a blob before that and commits after finds it gone under the writer lock and is
//!    refused (`BlobMissing`), never left naming a missing blob.
//! 2. Blobs are removed only after the layout that drops the revisions naming them is
//!    durable (the new manifest, or unchanged refs), with the writer lock held.
//!
//! Spec: format-spec/compaction.md ("Blobs").

use std::time::{Duration, SystemTime};

use crate::attachment;
use crate::blob;
use crate::error::Result;
use crate::hash::FastSet;
use crate::id::{Kind, ObjectId};
use crate::store::Store;

/// How long before a compaction's start a blob must have been written to be dropped: longer
/// than a writer waits for the lock by default (30 s) between writing its blobs and
/// committing the revision that names them.
pub const GRACE: Duration = Duration::from_secs(60);

/// Blobs a compaction will drop.
#[derive(Debug, Default)]
pub(super) struct Garbage {
    blobs: Vec<(ObjectId, u64)>,
}

impl Garbage {
    pub(super) fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }
}

impl Store {
    /// The blobs no body in `live` names, written before `cutoff`. Reads every live body
    /// only when the store has blobs at all; drops nothing if a live body cannot be read.
    pub(super) fn blob_garbage(&self, live: &FastSet<ObjectId>, cutoff: SystemTime) -> Result<Garbage> {
        let files = self.blob_ids()?;
        if files.is_empty() {
            return Ok(Garbage::default());
        }
        let mut named: FastSet<ObjectId> = FastSet::default();
        for oid in live {
            match self.odb().read(oid)? {
                Some((Kind::Body, bytes)) if bytes.starts_with(attachment::STORED_PREFIX) => {
                    named.extend(attachment::of_bytes(&bytes)?.values().map(|a| a.blob));
                }
                Some(_) => {}
                None => return Ok(Garbage::default()),
            }
        }
        let mut out = Garbage::default();
        for id in files.into_iter().filter(|id| !named.contains(id)) {
            let Ok(meta) = std::fs::metadata(blob::path(self.root(), &id)) else { continue };
            if meta.modified().is_ok_and(|m| m < cutoff) {
                out.blobs.push((id, meta.len()));
            }
        }
        Ok(out)
    }

    /// Remove the garbage blobs and sync `blobs/`; returns how many and their bytes.
    pub(super) fn drop_blobs(&self, garbage: Garbage) -> Result<(usize, u64)> {
        if garbage.blobs.is_empty() {
            return Ok((0, 0));
        }
        let (mut count, mut bytes) = (0, 0);
        for (id, len) in garbage.blobs {
            if self.disk().remove_file(&blob::path(self.root(), &id)).is_ok() {
                count += 1;
                bytes += len;
            }
        }
        crate::fsutil::sync_dir(&**self.disk(), &self.root().join(blob::DIR_NAME))?;
        Ok((count, bytes))
    }
}
