//! Checkpoints: fold the journal into new tables, index the active pack, switch the manifest.
//!
//! Order (each step durable before the next; a crash anywhere leaves the old manifest and
//! its files, or the new ones, and the next writer open deletes whatever is left over):
//! 1. write an index of the active pack's committed objects under a new name (or, once the
//!    pack is past `MAX_PACK_LEN`, its final index, sealing it, and create the next pack);
//! 2. write the new refs and changes tables;
//! 3. create the new journal, holding the records committed since the tables' snapshot;
//!    fsync the directories;
//! 4. replace the manifest atomically;
//! 5. unlink the old journal, tables and prefix index.
//!
//! Steps 1 and 2 are the long ones (they read and write every ref), so a checkpoint that
//! does not seal runs them **without the writer lock** ([`Store::checkpoint`]): holding
//! only `CHECKPOINT` (one checkpoint builds at a time), it builds the files under temporary
//! names from its own view (a snapshot: the view's tables, overlay and active pack up to
//! the view's journal length), then takes the writer lock for steps 3 to 5: if the manifest
//! is still the one the snapshot was taken from, it renames the files to their final
//! names and copies the journal records committed since the snapshot into the new journal;
//! otherwise (another writer checkpointed or compacted) it drops them. So other writers
//! commit while a checkpoint builds, and a single put waits at most for the short switch.
//! A checkpoint that seals (a full pack, a compaction) runs whole under the lock.
//!
//! Invariants:
//! 1. The tables hold exactly the commits up to the snapshot (`table_seq` is its last
//!    sequence); the new journal holds exactly the ones after it, byte for byte as
//!    committed, and is durable before the manifest names it.
//! 2. Temporary files are named `checkpoint-*.tmp`; a writer opening the store removes
//!    them only while no checkpoint holds `CHECKPOINT`.
//!
//! Checkpoints run when the overlay grows as large as the refs table (so the table size at
//! least doubles between rewrites and each write costs O(1) amortized), within
//! `MIN_CHECKPOINT_ENTRIES..=MAX_CHECKPOINT_ENTRIES` to bound memory and journal replay, or when
//! the active pack is full. The writer whose commit crosses the threshold runs it after
//! letting the lock go (and this process's gate), not inside its commit, if it wrote at
//! least half of the overlay itself (a bulk load, not a put that sees the load's commits);
//! at twice the threshold (within the maximum), any writer does.
use std::path::PathBuf;

use super::{lock, Snapshot, Store, PACKS_DIR};
use crate::error::{Error, Result};
use crate::id::Seq;
use crate::journal;
use crate::manifest::ActiveIndex;
use crate::odb::{Found, ObjectDb};
use crate::pack::{self, index, PackId};
use crate::refs::table::{ChangesTable, RefsTable, TableWriter};
use crate::refs::Entry;

/// The overlay size below which no checkpoint is forced.
pub const MIN_CHECKPOINT_ENTRIES: u64 = 1 << 18;
/// The overlay size at which a checkpoint always runs, to bound memory and replay time.
pub const MAX_CHECKPOINT_ENTRIES: u64 = 1 << 22;

/// Prefix of the temporary files a checkpoint builds without the writer lock.
pub(super) const TEMP_PREFIX: &str = "checkpoint-";

/// The background part of a checkpoint: files built from a [`Snapshot`] without the writer
/// lock, waiting to be switched in by the writer (module documentation).
///
/// Invariants: it is built from one snapshot and nothing else (so from whole commits, up to
/// `journal_len`); it holds `CHECKPOINT` from its build to its drop, so at most one exists
/// per store; dropped unswitched, it removes its files.
struct Prepared {
    /// The manifest the snapshot was taken from.
    manifest: crate::manifest::Manifest,
    /// The snapshot's journal length: later records are carried into the new journal.
    journal_len: u64,
    table_seq: Seq,
    table_docs: u64,
    /// The active pack's committed length the index covers, and its dictionary, if the
    /// index was written.
    index: Option<(u64, u64)>,
    refs: PathBuf,
    changes: PathBuf,
    index_path: PathBuf,
    disk: std::sync::Arc<dyn crate::disk::Disk>,
    _lock: lock::Lock,
}

impl Prepared {
    /// Steps 1 and 2 from the snapshot `view`, without the writer lock (the background part
    /// of a checkpoint: it reads only the immutable snapshot, and writes only its temporary
    /// files); `None` if there is nothing to fold or another checkpoint is building.
    fn build(view: &Snapshot) -> Result<Option<Prepared>> {
        let new_objects = view.odb.active_locations().is_some_and(|m| !m.is_empty());
        if view.overlay.is_empty() && !new_objects {
            return Ok(None);
        }
        let Some(lock) = lock::Lock::try_acquire(&view.root, lock::CHECKPOINT_FILE_NAME)? else {
            return Ok(None);
        };
        let packs = view.root.join(PACKS_DIR);
        let committed = view.odb.active_len();
        let active = view.manifest.active.filter(|_| new_objects);
        let mut prepared = Prepared {
            manifest: view.manifest.clone(),
            journal_len: view.journal_len,
            table_seq: view.last_seq,
            table_docs: 0,
            index: active.map(|_| (committed, u64::from(view.dictionary))),
            refs: view.root.join(format!("{TEMP_PREFIX}refs.tmp")),
            changes: view.root.join(format!("{TEMP_PREFIX}changes.tmp")),
            index_path: packs.join(format!("{TEMP_PREFIX}index.tmp")),
            disk: view.disk.clone(),
            _lock: lock,
        };
        let p = &prepared;
        prepared.table_docs = std::thread::scope(|scope| -> Result<u64> {
            let indexing = active.map(|pack| {
                scope.spawn(move || {
                    index::write(&*view.disk, &p.index_path, pack, &mut view.odb.active_entries())
                })
            });
            let mut tables = TableWriter::create(&*view.disk, &p.refs)?;
            view.merge_into(&mut tables)?;
            let docs = tables.finish(&*view.disk, &p.changes)?;
            if let Some(indexing) = indexing {
                indexing.join().map_err(|_| Error::Invalid("the indexing thread panicked".into()))??;
            }
            Ok(docs)
        })?;
        Ok(Some(prepared))
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        for path in [&self.refs, &self.changes, &self.index_path] {
            let _ = self.disk.remove_file(path);
        }
    }
}

impl Store {
    /// After a commit: true if the pack is full, or the overlay has grown past the threshold
    /// and this handle wrote at least half of it (or it has grown to twice the threshold).
    /// So the handle of a bulk load checkpoints, not the handle of a single put that happens
    /// to cross the threshold with the load's commits in its view (its put would wait for
    /// the tables); a store written only by small writers still checkpoints, by one of them.
    fn checkpoint_needed(&self) -> bool {
        let Some(w) = self.writer.as_ref() else { return false };
        let threshold = self.manifest.table_docs.clamp(MIN_CHECKPOINT_ENTRIES, MAX_CHECKPOINT_ENTRIES);
        let overlay = self.overlay.len() as u64;
        let mine = 2 * self.own_entries >= overlay;
        w.pack.committed_len() >= pack::MAX_PACK_LEN
            || (overlay >= threshold && (mine || overlay >= (2 * threshold).min(MAX_CHECKPOINT_ENTRIES)))
    }

    /// Called after each commit under the lock: a full pack is sealed at once (it must not
    /// grow further); a large overlay only marks the checkpoint due, and the writer runs it
    /// after letting the lock go ([`Store::run_due_checkpoint`]).
    pub(super) fn maybe_checkpoint(&mut self) -> Result<()> {
        let Some(w) = self.writer.as_ref() else { return Ok(()) };
        if w.pack.committed_len() >= pack::MAX_PACK_LEN {
            return self.checkpoint_with(false);
        }
        if self.checkpoint_needed() {
            self.checkpoint_due = true;
        }
        Ok(())
    }

    /// Run the checkpoint a commit marked due, once this handle holds neither the lock nor
    /// the gate.
    pub(super) fn run_due_checkpoint(&mut self) -> Result<()> {
        if !std::mem::take(&mut self.checkpoint_due) || self.writing.as_ref().is_none_or(|w| w.is_held()) {
            return Ok(());
        }
        self.checkpoint()
    }

    /// Fold everything written since the last checkpoint into the tables and index the
    /// active pack. Cheap to call when nothing changed. Outside [`Store::locked`], the
    /// tables are built without the writer lock (module documentation); another checkpoint
    /// building at the same time makes this one do nothing.
    pub fn checkpoint(&mut self) -> Result<()> {
        let held = self.writing.as_ref().is_some_and(|w| w.is_held());
        if held || self.writing.is_none() {
            return self.locked(|store| store.checkpoint_with(false));
        }
        self.refresh()?;
        let committed = self.odb.active_len();
        if committed >= pack::MAX_PACK_LEN {
            return self.locked(|store| store.checkpoint_with(false));
        }
        let Some(prepared) = Prepared::build(&self.view)? else { return Ok(()) };
        self.locked(|store| store.switch(prepared))
    }

    /// Steps 3 to 5 for files [`Prepared::build`] built, under the lock with the view caught
    /// up; dropped if another writer replaced the manifest since the snapshot.
    fn switch(&mut self, prepared: Prepared) -> Result<()> {
        self.require_writer()?;
        if self.manifest != prepared.manifest || self.journal_len < prepared.journal_len {
            return Ok(());
        }
        let packs = self.root.join(PACKS_DIR);
        let journal_path = self.root.join(self.manifest.journal_name());
        let carried = journal::replay_from(&journal_path, self.manifest.generation, prepared.journal_len)?;
        if carried.valid_len != self.journal_len || carried.cut.is_some() {
            return Err(Error::corrupt(
                journal_path,
                self.journal_len,
                "journal changed under the writer lock",
            ));
        }
        let mut next = self.manifest.clone();
        next.generation += 1;
        next.table_docs = prepared.table_docs;
        next.table_seq = prepared.table_seq;
        let disk = &*self.disk;
        let mut renames = vec![
            (&prepared.refs, self.root.join(next.refs_name())),
            (&prepared.changes, self.root.join(next.changes_name())),
        ];
        if let (Some((covered, dictionary)), Some(active)) = (prepared.index, next.active) {
            next.active_index = Some(ActiveIndex { generation: next.generation, covered });
            next.active_dictionary = dictionary;
            renames.push((&prepared.index_path, packs.join(active.partial_index_name(next.generation))));
        }
        let mut renamed = Vec::new();
        for (from, to) in renames {
            match disk.rename(from, &to) {
                Ok(()) => renamed.push(to),
                // Removed by a writer that does not know `CHECKPOINT` (an older settee):
                // this checkpoint does nothing, and the next one folds the same commits.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    for path in renamed {
                        let _ = disk.remove_file(&path);
                    }
                    return Ok(());
                }
                Err(e) => return Err(Error::io(to)(e)),
            }
        }
        let new_journal = self.root.join(next.journal_name());
        journal::create(disk, &new_journal, next.generation)?;
        let mut writer = journal::Writer::open(disk, &new_journal, journal::HEADER_LEN as u64)?;
        writer.append_all(&carried.records)?;
        let committed = self.odb.active_len();
        self.switch_to(next, committed)?;
        self.journal_len = writer.len();
        for record in carried.records {
            self.odb.note_committed(&record.objects, committed);
            self.apply_ref_changes(record.refs, &record.objects);
        }
        if let Some(w) = self.writer.as_mut() {
            w.journal = writer;
        }
        Ok(())
    }

    /// Steps 3 to 5: make the new files' directory entries durable, switch to the manifest
    /// `next`, unlink what it replaced, and reopen the tables and objects it names (the
    /// active pack committed up to `committed`), with an empty overlay.
    fn switch_to(&mut self, next: crate::manifest::Manifest, committed: u64) -> Result<()> {
        let disk = &*self.disk;
        let packs = self.root.join(PACKS_DIR);
        crate::fsutil::sync_dir(disk, &packs)?;
        crate::fsutil::sync_dir(disk, &self.root)?;
        next.store(disk, &self.root)?;
        let old = std::mem::replace(&mut self.manifest, next);
        self.remove_replaced(&old);
        let view = &mut **self;
        let m = &view.manifest;
        view.refs = RefsTable::open(&view.root.join(m.refs_name()))?.into();
        view.changes = ChangesTable::open(&view.root.join(m.changes_name()))?.into();
        let old =
            std::mem::replace(&mut view.odb, ObjectDb::open(&packs, &m.sealed, m.active_spec(committed))?);
        view.odb.recycle(old);
        view.clear_overlay();
        self.own_entries = 0;
        Ok(())
    }

    /// Step 5: unlink the files of the manifest `old` that the current one no longer names.
    fn remove_replaced(&self, old: &crate::manifest::Manifest) {
        for name in [old.journal_name(), old.refs_name(), old.changes_name()] {
            let _ = self.disk.remove_file(&self.root.join(name));
        }
        if let Some(old_index) = old.active_spec(0).and_then(|s| s.index) {
            if self.manifest.active_spec(0).and_then(|s| s.index).as_ref() != Some(&old_index) {
                let _ = self.disk.remove_file(&self.root.join(PACKS_DIR).join(old_index));
            }
        }
    }

    /// A checkpoint that also seals the active pack (if it holds anything) under its final
    /// index and starts a new one; compaction starts with this so every object is in a
    /// sealed pack.
    pub(crate) fn checkpoint_with(&mut self, seal: bool) -> Result<()> {
        self.require_writer()?;
        let new_objects = self.odb.active_locations().is_some_and(|m| !m.is_empty());
        let holds_objects = new_objects || self.odb.active_index().is_some_and(|i| !i.is_empty());
        let committed = self.writer.as_ref().map_or(pack::HEADER_LEN as u64, |w| w.pack.committed_len());
        let seal = holds_objects && (seal || committed >= pack::MAX_PACK_LEN);
        if self.overlay.is_empty() && !new_objects && !seal {
            return Ok(());
        }
        let packs = self.root.join(PACKS_DIR);
        let mut next = self.manifest.clone();
        next.generation += 1;
        let mut new_pack = None;
        // The active pack's index to write, if any; it is written on a thread of its own
        // while this one writes the tables.
        let mut index_to_write = None;
        if new_objects || seal {
            let active = self.manifest.active.ok_or_else(|| Error::Invalid("no active pack".into()))?;
            if seal {
                // Seal it under its final index and start the next pack. A prefix index that
                // already covers every object becomes the final one by a second name.
                let prefix = self.manifest.active_spec(0).and_then(|s| s.index);
                match prefix.filter(|_| !new_objects) {
                    Some(name) => {
                        // A failed seal earlier in this session may have left the final name.
                        let _ = self.disk.remove_file(&packs.join(active.index_name()));
                        self.disk
                            .hard_link(&packs.join(&name), &packs.join(active.index_name()))
                            .map_err(Error::io(packs.join(active.index_name())))?
                    }
                    None => index_to_write = Some((packs.join(active.index_name()), active)),
                }
                next.sealed.push(active);
                let id = PackId(next.next_pack);
                next.next_pack += 1;
                next.active = Some(id);
                next.active_index = None;
                next.active_dictionary = 0;
                new_pack = Some(pack::writer::Writer::create(&*self.disk, &packs, id)?);
            } else {
                // Index the committed prefix under a new name; the pack keeps growing.
                index_to_write = Some((packs.join(active.partial_index_name(next.generation)), active));
                next.active_index = Some(ActiveIndex { generation: next.generation, covered: committed });
                next.active_dictionary = self.writer.as_ref().map_or(0, |w| u64::from(w.pack.dictionary()));
            }
        }
        let this = &*self;
        next.table_docs = std::thread::scope(|scope| -> Result<u64> {
            let indexing = index_to_write.map(|(path, pack)| {
                scope.spawn(move || index::write(&*this.disk, &path, pack, &mut this.odb.active_entries()))
            });
            let mut tables = TableWriter::create(&*this.disk, &this.root.join(next.refs_name()))?;
            this.merge_into(&mut tables)?;
            let docs = tables.finish(&*this.disk, &this.root.join(next.changes_name()))?;
            if let Some(indexing) = indexing {
                indexing.join().map_err(|_| Error::Invalid("the indexing thread panicked".into()))??;
            }
            Ok(docs)
        })?;
        next.table_seq = self.last_seq;
        let disk = &*self.disk;
        journal::create(disk, &self.root.join(next.journal_name()), next.generation)?;
        let committed = if new_pack.is_some() { pack::HEADER_LEN as u64 } else { committed };
        self.switch_to(next, committed)?;
        let journal = journal::Writer::open(
            &*self.disk,
            &self.root.join(self.manifest.journal_name()),
            journal::HEADER_LEN as u64,
        )?;
        self.journal_len = journal.len();
        self.dictionary = u32::try_from(self.manifest.active_dictionary).unwrap_or(0);
        if let Some(w) = self.writer.as_mut() {
            w.journal = journal;
            if let Some(p) = new_pack {
                w.pack = p;
            }
        }
        Ok(())
    }
}

impl Snapshot {
    /// Write the refs table with the overlay applied into `tables`: overlay entries are
    /// encoded, the table's other entries are copied as they are stored, undecoded. Each
    /// gets the location of the body it shows as its hint: the one its commit noted (overlay)
    /// or the old table's if it names a pack that is still here, else the one the object
    /// database finds.
    fn merge_into(&self, tables: &mut TableWriter) -> Result<()> {
        let mut pending = self.overlay_from("").into_iter().peekable();
        let put = |tables: &mut TableWriter, id: &str, entry: &Option<Entry>, hint: Option<Found>| match entry
        {
            Some(e) => tables.push(id, e, hint.or_else(|| e.shown_body().and_then(|b| self.odb.find(b)))),
            None => Ok(()),
        };
        let mut cursor = self.refs.lower_bound("")?;
        while let Some((encoded, hint)) = self.refs.next_raw(&mut cursor).transpose()? {
            let id = cursor.id();
            while let Some((k, v, h)) = pending.next_if(|(k, _, _)| k.as_bytes() < id) {
                put(tables, k, v, h)?;
            }
            match pending.next_if(|(k, _, _)| k.as_bytes() == id) {
                Some((k, v, h)) => put(tables, k, v, h)?,
                None => {
                    let hint = match hint.filter(|h| self.odb.holds_pack(h.pack)) {
                        Some(h) => Some(h),
                        None => Entry::peek_shown_body(encoded).and_then(|b| self.odb.find(&b)),
                    };
                    tables.push_raw(id, encoded, hint)?
                }
            }
        }
        for (k, v, h) in pending {
            put(tables, k, v, h)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::Body;
    use crate::id::DocId;
    use crate::store::{Op, OpenOptions};

    fn put(store: &mut Store, id: &str, base: Option<crate::rev::RevId>, n: u64) -> crate::rev::RevId {
        let serde_json::Value::Object(map) = serde_json::json!({ "n": n }) else { unreachable!() };
        let op = Op::Edit { id: DocId::parse(id).unwrap(), base, deleted: false, body: Body::from_map(&map) };
        store.write(vec![op]).unwrap().remove(0).unwrap().rev
    }

    fn body(store: &Store, id: &str) -> Option<String> {
        let doc = store.doc_ref(&DocId::parse(id).unwrap()).unwrap()?;
        let mut out = Vec::new();
        store.write_winner_json(&DocId::parse(id).unwrap(), &doc, &mut out).unwrap();
        Some(String::from_utf8(out).unwrap())
    }

    /// Commits another writer makes while a checkpoint builds its tables without the lock
    /// are carried into the new journal: every handle, and a fresh open, sees all of them,
    /// at the sequences they were given.
    #[test]
    fn commits_made_while_the_tables_build_are_carried_over() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join(".settee");
        let mut a = Store::init(&root).unwrap();
        let wait = Some(std::time::Duration::from_secs(10));
        let mut b = Store::open(&root, OpenOptions { write: true, wait_for_lock: wait }).unwrap();
        let mut revs: Vec<_> = (0..50).map(|i| put(&mut a, &format!("d{i:02}"), None, i)).collect();
        let generation = a.manifest().generation;
        let prepared = Prepared::build(&a).unwrap().expect("something to fold");
        // A second checkpoint cannot start while this one builds.
        assert!(Prepared::build(&b).unwrap().is_none());
        put(&mut b, "late", None, 100);
        revs[7] = put(&mut b, "d07", Some(revs[7].clone()), 107);
        a.locked(|store| store.switch(prepared)).unwrap();
        assert_eq!(a.manifest().generation, generation + 1);
        assert_eq!(a.manifest().table_seq, Seq(50));
        assert_eq!(a.last_seq(), Seq(52));
        for store in [&a, &Store::open(&root, OpenOptions::default()).unwrap()] {
            assert!(body(store, "late").unwrap().contains(r#""n":100"#));
            assert!(body(store, "d07").unwrap().contains(r#""n":107"#));
            assert!(body(store, "d49").unwrap().contains(r#""n":49"#));
            assert_eq!(store.doc_ref(&DocId::parse("d07").unwrap()).unwrap().unwrap().seq, Seq(52));
            assert_eq!(store.last_seq(), Seq(52));
            assert!(store.verify().unwrap().is_empty());
        }
        // The other writer's view predates the switch; it catches up and writes on.
        revs[8] = put(&mut b, "d08", Some(revs[8].clone()), 108);
        a.refresh().unwrap();
        assert!(body(&a, "d08").unwrap().contains(r#""n":108"#));
        assert_eq!(a.last_seq(), Seq(53));
        // No temporary file is left.
        let names: Vec<String> = std::fs::read_dir(&root)
            .unwrap()
            .chain(std::fs::read_dir(root.join(PACKS_DIR)).unwrap())
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert!(names.iter().all(|n| !n.starts_with(TEMP_PREFIX)), "{names:?}");
    }

    /// Files built from a snapshot whose manifest another writer replaced are dropped, and
    /// nothing is lost.
    #[test]
    fn a_checkpoint_overtaken_by_another_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join(".settee");
        let mut a = Store::init(&root).unwrap();
        let mut b = Store::open(&root, OpenOptions { write: true, wait_for_lock: None }).unwrap();
        for i in 0..20 {
            put(&mut a, &format!("d{i:02}"), None, i);
        }
        let prepared = Prepared::build(&a).unwrap().expect("something to fold");
        put(&mut b, "late", None, 100);
        b.locked(|store| store.checkpoint_with(false)).unwrap();
        let generation = b.manifest().generation;
        a.locked(|store| store.switch(prepared)).unwrap();
        assert_eq!(a.manifest().generation, generation, "the overtaken checkpoint did not switch");
        let reopened = Store::open(&root, OpenOptions::default()).unwrap();
        assert_eq!(reopened.last_seq(), Seq(21));
        assert!(body(&reopened, "late").is_some() && body(&reopened, "d19").is_some());
        assert!(reopened.verify().unwrap().is_empty());
        let names: Vec<String> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert!(names.iter().all(|n| !n.starts_with(TEMP_PREFIX)), "{names:?}");
    }
}
