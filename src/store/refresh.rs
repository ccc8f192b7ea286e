//! Bringing an open store's view up to date with commits made through other handles and
//! processes: the journal records appended since the view last looked, or the files of a
//! new manifest generation (another writer's checkpoint or compaction).
//!
//! Invariants:
//! 1. A view moves a whole commit at a time: only complete, checksummed records are
//!    applied, in journal order, so a reader never sees half a commit.
//! 2. Without the writer lock, catching up never writes: bytes past the last complete
//!    record may be a commit in progress, and are left alone.
//! 3. With the lock, nobody else is writing: bytes past the last complete record (journal
//!    or pack) are what a crashed writer left, and are quarantined and cut exactly as
//!    opening does (the store is reloaded through the open path).
//! 4. Cheap when nothing changed: a read of the manifest and a `stat` of the journal (and,
//!    under the lock, of the active pack).
//!
//! Spec: format-spec/layout.md ("Locking and visibility").

use super::Store;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::journal;
use crate::manifest::Manifest;

impl Store {
    /// See the commits made by other handles and processes since this view was opened or
    /// last refreshed; true if it changed. Inside [`Store::locked`] the view is already
    /// current, and this does nothing.
    pub fn refresh(&mut self) -> Result<bool> {
        if self.writing.as_ref().is_some_and(|w| w.is_held()) {
            return Ok(false);
        }
        self.catch_up(false)
    }

    /// Wait until this view's last sequence passes `seq` or `timeout` elapses, refreshing
    /// it; true if it passed. A commit through another handle in this process wakes the
    /// wait at once; one by another process wakes it as soon as its journal bytes are
    /// written (inotify, `watch.rs`), or within `notify::POLL` (25 ms) where inotify cannot
    /// be used.
    pub fn wait_for_seq(&mut self, seq: crate::id::Seq, timeout: std::time::Duration) -> Result<bool> {
        let deadline = std::time::Instant::now() + timeout;
        // Watch before the first refresh: a commit after it then wakes the wait.
        super::watch::start(&self.signal, &self.view.root);
        loop {
            // Read before refreshing: a commit landing after the refresh wakes the wait.
            let seen = self.signal.count();
            self.refresh()?;
            if self.last_seq > seq {
                return Ok(true);
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            let poll = match self.signal.is_watched() {
                true => super::notify::WATCHED_POLL,
                false => super::notify::POLL,
            };
            self.signal.wait_past(seen, (deadline - now).min(poll));
        }
    }

    /// Catch up under the writer lock, then make sure the append handles sit at the ends.
    pub(super) fn catch_up_for_write(&mut self) -> Result<()> {
        self.catch_up(true)?;
        // Another writer may have changed the remotes or the revision limit.
        self.config = Config::load(&self.root)?;
        if self.writer.is_none() {
            self.open_handles()?;
        }
        Ok(())
    }

    /// Apply what was committed since the view last looked; `locked` says the caller holds
    /// the writer lock (invariant 3).
    fn catch_up(&mut self, locked: bool) -> Result<bool> {
        let manifest = Manifest::load(&self.root)?;
        if manifest != self.manifest {
            self.reload(locked)?;
            return Ok(true);
        }
        let path = self.root.join(self.manifest.journal_name());
        let len = match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            // Replaced by a checkpoint since the manifest was read.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.reload(locked)?;
                return Ok(true);
            }
            Err(e) => return Err(Error::io(&path)(e)),
        };
        if len < self.journal_len {
            // Cut below what this view applied: only a recovery after damage does that.
            self.reload(locked)?;
            return Ok(true);
        }
        let mut changed = false;
        if len > self.journal_len {
            let replay = match journal::replay_from(&path, self.manifest.generation, self.journal_len) {
                Ok(r) => r,
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                    self.reload(locked)?;
                    return Ok(true);
                }
                Err(e) => return Err(e),
            };
            if locked && (replay.cut.is_some() || replay.valid_len != replay.file_len) {
                // A writer died in the middle of a commit.
                self.reload(true)?;
                return Ok(true);
            }
            changed = !replay.records.is_empty();
            for record in replay.records {
                self.apply_record(record)?;
            }
            self.journal_len = replay.valid_len;
            if changed {
                // The append handles are behind the others' commits now.
                self.advance_handles();
            }
        }
        if locked && self.active_pack_has_tail()? {
            // Pack bytes with no record: a writer died before its record was written.
            self.reload(true)?;
            return Ok(true);
        }
        Ok(changed)
    }

    /// Apply one committed record to the view, as replaying it on open does.
    pub(super) fn apply_record(&mut self, record: journal::Record) -> Result<()> {
        let journal::Record { pack_end, dictionary, objects, refs } = record;
        self.apply_parts(pack_end, dictionary, &objects, refs)
    }

    /// [`Store::apply_record`] for a record kept by another handle (`group.rs`): its ref
    /// entries are copied into the view one by one, the record stays as it is.
    pub(super) fn apply_kept(&mut self, record: &journal::Record) -> Result<()> {
        self.apply_parts(record.pack_end, record.dictionary, &record.objects, record.refs.iter().cloned())
    }

    fn apply_parts(
        &mut self,
        pack_end: u64,
        dictionary: u64,
        objects: &[(crate::id::ObjectId, crate::pack::Loc)],
        refs: impl IntoIterator<Item = (std::sync::Arc<str>, Option<crate::refs::Entry>)>,
    ) -> Result<()> {
        let pack_end = match pack_end {
            0 => self.odb.active_reader().map_or(0, |r| r.len()),
            end => end,
        };
        self.odb.note_committed(objects, pack_end);
        self.dictionary = self.dictionary_offset(dictionary)?;
        self.apply_ref_changes(refs, objects);
        Ok(())
    }

    /// True if the active pack is longer than the view's committed end.
    fn active_pack_has_tail(&self) -> Result<bool> {
        let Some(active) = self.manifest.active else { return Ok(false) };
        let path = self.root.join(super::PACKS_DIR).join(active.file_name());
        let len = std::fs::metadata(&path).map_err(Error::io(&path))?.len();
        let committed = self.odb.active_len();
        Ok(len > committed)
    }

    /// Replace the view with the store as opening it now finds it; under the lock, also
    /// recover from a crashed writer and reposition the append handles. The writer role and
    /// reusable buffers carry over.
    fn reload(&mut self, locked: bool) -> Result<()> {
        let fresh = Store::load_retrying(&self.disk, &self.root, !locked)?;
        let mut fresh = if locked { fresh.finish_open()? } else { fresh };
        fresh.writing = self.writing.take();
        fresh.batch_refs = std::mem::take(&mut self.batch_refs);
        fresh.signal = self.signal.clone();
        fresh.checkpoint_due = self.checkpoint_due;
        fresh.kept = self.kept.take();
        if fresh.manifest.generation == self.manifest.generation {
            fresh.own_entries = self.own_entries;
        }
        *self = fresh;
        Ok(())
    }
}
