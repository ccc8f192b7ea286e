//! Checkpoints: fold the journal into new tables, index the active pack, switch the manifest.
//!
//! Order (each step durable before the next; a crash anywhere leaves the old manifest and
//! its files, or the new ones, and the next writer open deletes whatever is left over):
//! 1. write an index of the active pack's committed objects under a new name (or, once the
//!    pack is past `MAX_PACK_LEN`, its final index, sealing it, and create the next pack);
//! 2. write the new refs and changes tables;
//! 3. create the new, empty journal; fsync the directories;
//! 4. replace the manifest atomically;
//! 5. unlink the old journal, tables and prefix index.
//!
//! Checkpoints run when the overlay grows as large as the refs table (so the table size at
//! least doubles between rewrites and each write costs O(1) amortized), within
//! `MIN_CHECKPOINT_ENTRIES..=MAX_CHECKPOINT_ENTRIES` to bound memory and journal replay, or when
//! the active pack is full.

use super::{Store, PACKS_DIR};
use crate::error::{Error, Result};
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

impl Store {
    pub(super) fn maybe_checkpoint(&mut self) -> Result<()> {
        let Some(w) = self.writer.as_ref() else { return Ok(()) };
        let pack_full = w.pack.committed_len() >= pack::MAX_PACK_LEN;
        let threshold = self.manifest.table_docs.clamp(MIN_CHECKPOINT_ENTRIES, MAX_CHECKPOINT_ENTRIES);
        if pack_full || self.overlay.len() as u64 >= threshold {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Fold everything written since the last checkpoint into the tables and index the
    /// active pack. Cheap to call when nothing changed.
    pub fn checkpoint(&mut self) -> Result<()> {
        self.locked(|store| store.checkpoint_with(false))
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
        crate::fsutil::sync_dir(disk, &packs)?;
        crate::fsutil::sync_dir(disk, &self.root)?;
        next.store(disk, &self.root)?;

        let old = std::mem::replace(&mut self.manifest, next);
        for name in [old.journal_name(), old.refs_name(), old.changes_name()] {
            let _ = self.disk.remove_file(&self.root.join(name));
        }
        if let Some(old_index) = old.active_spec(0).and_then(|s| s.index) {
            if self.manifest.active_spec(0).and_then(|s| s.index).as_ref() != Some(&old_index) {
                let _ = self.disk.remove_file(&packs.join(old_index));
            }
        }
        let m = &self.manifest;
        self.refs = RefsTable::open(&self.root.join(m.refs_name()))?;
        self.changes = ChangesTable::open(&self.root.join(m.changes_name()))?;
        let committed = if new_pack.is_some() { pack::HEADER_LEN as u64 } else { committed };
        let old =
            std::mem::replace(&mut self.odb, ObjectDb::open(&packs, &m.sealed, m.active_spec(committed))?);
        self.odb.recycle(old);
        let journal = journal::Writer::open(
            &*self.disk,
            &self.root.join(m.journal_name()),
            journal::HEADER_LEN as u64,
        )?;
        self.clear_overlay();
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
