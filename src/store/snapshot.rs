//! The read snapshot: one consistent view of the store (the tables of one manifest
//! generation plus the overlay of a prefix of its journal, whole commits only), immutable
//! once shared.
//!
//! Owns: the view's data (manifest, tables, object database, overlay, changes since the
//! tables) and every read that answers from it (refs, documents, revision trees, the changes
//! feed, stats, fsck's checks). Not: taking the lock, appending, catching up (the [`Store`]
//! handle does those, `writing.rs`, `refresh.rs`), checkpoints (`checkpoint.rs`).
//!
//! A handle's current view is an `Arc<Snapshot>`; [`Store::snapshot`] hands out a clone of
//! that `Arc` (no copy, no lock), which any number of threads may read at once (`Send +
//! Sync`, reads take `&self` and no exclusive lock). The handle moves on by copy-on-write:
//! a commit or refresh while a handed-out snapshot is alive copies the view first (the
//! overlay and the active pack's recent locations, O(documents since the last checkpoint);
//! tables, packs and mappings are shared), then changes its own copy.
//!
//! Invariants:
//! 1. A snapshot handed out never changes: it answers every read from the same whole
//!    commits (never part of one), until it is dropped.
//! 2. The view is the state after some whole commit: the tables of `manifest`'s generation
//!    plus the first `journal_len` bytes of its journal (a record boundary).
//! 3. A snapshot stays readable after the files it was built from are replaced: checkpoints
//!    and compactions unlink files, never cut or rewrite them, and the snapshot keeps their
//!    descriptors and mappings (format-spec/layout.md, "mmap rules").
//!
//! Spec: format-spec/layout.md ("Locking and visibility").

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{overlay::Overlay, Store};
use crate::config::Config;
use crate::disk::Disk;
use crate::error::Result;
use crate::id::{DocId, Seq};
use crate::manifest::Manifest;
use crate::odb::{Found, ObjectDb};
use crate::refs::table::{ChangesTable, RefsTable};
use crate::refs::{DocRef, Entry};

/// One consistent view of a store (module documentation). Clone the `Arc` to share it.
#[derive(Clone)]
pub struct Snapshot {
    pub(super) root: PathBuf,
    /// Where every write to the store's files goes (`disk.rs`).
    pub(super) disk: Arc<dyn Disk>,
    pub(super) config: Config,
    pub(super) manifest: Manifest,
    pub(super) odb: ObjectDb,
    pub(super) refs: Arc<RefsTable>,
    pub(super) changes: Arc<ChangesTable>,
    /// Ref entries changed since the tables were written (`None`: removed).
    pub(super) overlay: Overlay,
    /// Every sequence given since the tables were written with its document (sharing the
    /// overlay's key), in sequence order. A row is stale once its document has a later
    /// sequence; stale rows are skipped, and dropped when they outnumber the live ones.
    pub(super) overlay_changes: Vec<(Seq, Arc<str>)>,
    pub(super) last_seq: Seq,
    /// Bytes of the manifest's journal this view has applied (a record boundary).
    pub(super) journal_len: u64,
    /// The active pack's dictionary block as of the last applied commit (0: none).
    pub(super) dictionary: u32,
}

impl Store {
    /// The handle's current view, to read from any number of threads while the handle
    /// goes on committing or refreshing (module documentation). Costs an `Arc` clone.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.view.clone()
    }
}

impl Snapshot {
    /// True if `seq` is still the latest sequence of overlay document `id`.
    pub(super) fn is_current(overlay: &Overlay, seq: Seq, id: &str) -> bool {
        matches!(overlay.get(id), Some(Some(Entry::Doc(d))) if d.seq == seq)
    }

    /// The `.settee` directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The disk the store writes through.
    pub fn disk(&self) -> &Arc<dyn Disk> {
        &self.disk
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// This store's identity: the uuid made at init (or, for a store without one, a hash of
    /// its path).
    pub fn uuid(&self) -> String {
        match &self.config.uuid {
            Some(u) => u.clone(),
            None => {
                let path = self.root.canonicalize().unwrap_or_else(|_| self.root.clone());
                crate::id::sha1(path.to_string_lossy().as_bytes()).to_string()[..32].to_string()
            }
        }
    }

    pub fn revs_limit(&self) -> usize {
        usize::try_from(self.config.revs_limit).unwrap_or(usize::MAX)
    }

    pub fn odb(&self) -> &ObjectDb {
        &self.odb
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The highest sequence number assigned so far.
    pub fn last_seq(&self) -> Seq {
        self.last_seq
    }

    /// An id splitting the refs table into two halves of about the same size (for work
    /// done on two threads), if the table has more than one group.
    pub(crate) fn refs_middle_id(&self) -> Option<String> {
        self.refs.middle_id()
    }

    /// The ref entry of `id` (a document or a `_local` id), if any.
    pub fn entry(&self, id: &str) -> Result<Option<Entry>> {
        Ok(self.entry_hinted(id, false)?.map(|(entry, _)| entry))
    }

    /// [`Store::entry`] with the hint of where the body it shows is stored (from the overlay
    /// for an entry written since the refs table, else from the table). With `prefetch`,
    /// the body's block starts loading as soon as the hint is known.
    pub(super) fn entry_hinted(&self, id: &str, prefetch: bool) -> Result<Option<(Entry, Option<Found>)>> {
        match self.overlay.get_hinted(id) {
            Some((e, hint)) => Ok(e.clone().map(|e| (e, hint))),
            None => self.refs.get_hinted(id, |hint| {
                if prefetch {
                    self.odb.prefetch(hint);
                }
            }),
        }
    }

    /// [`Store::doc_ref`] with the hint of where its winner's body is stored.
    pub(crate) fn doc_ref_hinted(&self, id: &DocId) -> Result<Option<(DocRef, Option<Found>)>> {
        Ok(match self.entry_hinted(id.as_str(), true)? {
            Some((Entry::Doc(d), hint)) => Some((d, hint)),
            _ => None,
        })
    }

    /// The ref of a replicated document.
    pub fn doc_ref(&self, id: &DocId) -> Result<Option<DocRef>> {
        Ok(match self.entry(id.as_str())? {
            Some(Entry::Doc(d)) => Some(d),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    fn is_send_sync<T: Send + Sync>() {}

    #[test]
    fn a_snapshot_is_send_and_sync() {
        is_send_sync::<super::Snapshot>();
        is_send_sync::<std::sync::Arc<super::Snapshot>>();
    }
}
