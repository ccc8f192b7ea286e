//! The store: a `.settee/` directory of packs, tables, a journal and a manifest, opened for
//! reading or for writing. Many processes (and many handles in one process) may have it
//! open for writing at once; they take turns holding `LOCK`, one commit (or batch) at a
//! time (`writing.rs`), and every handle catches up with the others' commits
//! (`refresh.rs`).
//!
//! Owns: creating and opening a store, crash recovery on open (torn tails cut, leftovers
//! removed), and the `Store` handle. The layers: a [`Snapshot`] is the read view (tables
//! plus the overlay of journal records; `snapshot.rs`), shared as `Arc` across threads; the
//! handle holds its current snapshot and, opened for writing, the writer role
//! (`writing.rs`); a checkpoint's long part is background work built from a snapshot
//! (`checkpoint.rs`).
//! Invariants:
//! 1. A write is acknowledged only after its objects (pack) and its record (journal) are
//!    fsynced; whoever next holds the lock cuts pack bytes past the last record's
//!    `pack_end`.
//! 2. Readers take no lock. They read the manifest, map the files it names and replay the
//!    journal's complete records; a checkpoint replacing those files under them makes them
//!    retry from the new manifest.
//! 3. Open reads the manifest, index headers and the journal, never every object.
//! 4. A view is the state after some whole commit: the tables of its manifest generation
//!    plus the first `journal_len` bytes of its journal, never part of a record.
//!
//! Spec: format-spec/layout.md.

mod attachments;
mod blobs;
mod checkpoint;
mod feed;
mod group;
mod local;
pub mod lock;
mod notify;
mod overlay;
mod read;
pub mod recovery;
mod refresh;
mod resolve;
mod snapshot;
mod stats;
mod verify;
mod watch;
mod write;
mod writing;

use std::sync::Arc;

use std::path::{Path, PathBuf};

pub use crate::history::NodeInfo;
pub use blobs::BlobStats;
pub use feed::Change;
pub use read::{render as render_doc, GetOptions, OpenRevs, RevStatus};
pub use resolve::Resolved;
pub use snapshot::Snapshot;
pub use stats::Stats;
pub use verify::{fsck, Finding};
pub use write::{Op, Written};

use crate::config::Config;
use crate::disk::Disk;
use crate::error::{Error, Result};
use crate::hash::FastMap;
use crate::id::ObjectId;
use crate::journal;
use crate::manifest::Manifest;
use crate::odb::{Found, ObjectDb};
use crate::pack::{self, PackId};
use crate::refs::table::{ChangesTable, RefsTable, TableWriter};
use crate::refs::Entry;
use overlay::Overlay;

/// The name of the store directory inside a work tree.
pub const DIR_NAME: &str = ".settee";
pub const PACKS_DIR: &str = "packs";

/// How to open a store.
#[derive(Clone, Copy, Debug, Default)]
pub struct OpenOptions {
    /// Open for writing: take the writer lock to recover from a crashed writer, then again
    /// for each write (`writing.rs`).
    pub write: bool,
    /// When the lock is held by another writer, wait for it up to this long instead of
    /// failing at once (at open and at every write).
    pub wait_for_lock: Option<std::time::Duration>,
}

/// Handles for appending at the ends of the journal and the active pack. They are
/// positioned when the writer lock is taken and used only while it is held; a view that
/// catches up with another writer's commits drops them, and the next lock hold reopens them
/// at the new ends.
struct WriteState {
    journal: journal::Writer,
    pack: pack::writer::Writer,
}

/// A handle on a store: its current [`Snapshot`] (reads go to it, through `Deref`), and,
/// opened for writing, the writer role (`writing.rs`): the lock while an operation holds it,
/// the append handles, the batch being built, and a checkpoint due.
///
/// Invariants:
/// 1. The handle's snapshot moves only by whole commits: when the handle opens, refreshes
///    (`refresh.rs`) or commits. A commit or refresh that finds the snapshot shared
///    ([`Store::snapshot`] handed out a copy still alive) copies it before changing it
///    (`Arc::make_mut`), so a snapshot handed out never changes.
/// 2. The writer state (lock, append handles, batch) is the handle's own and never shared:
///    snapshots carry none of it.
pub struct Store {
    /// The view reads answer from (copy-on-write: invariant 1).
    view: Arc<Snapshot>,
    /// The ref changes of the batch being written, kept between batches for its capacity.
    batch_refs: Overlay,
    /// The writer role, for a store opened for writing.
    writing: Option<writing::Writing>,
    /// Append handles, when positioned at the view's ends (see [`WriteState`]).
    writer: Option<WriteState>,
    /// What opening found past the last commit it replayed, if anything.
    recovery: Option<recovery::Recovery>,
    /// Shared by this process's handles of the store: bumped by each commit.
    signal: Arc<notify::Signal>,
    /// A commit crossed the checkpoint threshold: checkpoint once the lock is let go.
    checkpoint_due: bool,
    /// Ref changes this handle committed since its view's tables were written (who
    /// checkpoints: `checkpoint.rs`).
    own_entries: u64,
    /// While leading a group commit: the commits made, kept for the writers it serves
    /// (`group.rs`); `None` otherwise.
    kept: Option<Vec<group::Kept>>,
}

impl std::ops::Deref for Store {
    type Target = Snapshot;
    fn deref(&self) -> &Snapshot {
        &self.view
    }
}

/// Changing the handle's view copies it first if a snapshot of it is alive elsewhere
/// (`Store` invariant 1); otherwise it is changed in place.
impl std::ops::DerefMut for Store {
    fn deref_mut(&mut self) -> &mut Snapshot {
        Arc::make_mut(&mut self.view)
    }
}

impl Store {
    /// Find the store directory for `start`: `start/.settee` or that of an ancestor.
    pub fn discover(start: &Path) -> Option<PathBuf> {
        let mut dir = Some(start);
        while let Some(d) = dir {
            let candidate = d.join(DIR_NAME);
            if candidate.join(crate::manifest::FILE_NAME).is_file() {
                return Some(candidate);
            }
            dir = d.parent();
        }
        None
    }

    /// Create a new store in `root` (the `.settee` directory itself), opened for writing.
    pub fn init(root: &Path) -> Result<Store> {
        Store::init_on(crate::disk::real(), root)
    }

    /// [`Store::init`], writing through `disk`; the store keeps using it.
    pub fn init_on(disk: Arc<dyn Disk>, root: &Path) -> Result<Store> {
        if root.join(crate::manifest::FILE_NAME).exists() {
            return Err(Error::AlreadyExists { path: root.into() });
        }
        let packs = root.join(PACKS_DIR);
        disk.create_dir_all(&packs).map_err(Error::io(&packs))?;
        let blobs = root.join(crate::blob::DIR_NAME);
        disk.create_dir_all(&blobs).map_err(Error::io(&blobs))?;
        let lock = lock::Lock::acquire(root, None)?;
        let uuid = {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let seed = format!("{now} {} {}", std::process::id(), root.display());
            crate::id::sha1(seed.as_bytes()).to_string()[..32].to_string()
        };
        let d = &*disk;
        Config { uuid: Some(uuid), ..Config::default() }.store(d, root)?;
        let manifest =
            Manifest { generation: 0, next_pack: 2, active: Some(PackId(1)), ..Manifest::default() };
        drop(pack::writer::Writer::create(d, &packs, PackId(1))?);
        TableWriter::create(d, &root.join(manifest.refs_name()))?
            .finish(d, &root.join(manifest.changes_name()))?;
        journal::create(d, &root.join(manifest.journal_name()), manifest.generation)?;
        crate::fsutil::sync_dir(d, root)?;
        manifest.store(d, root)?;
        if let Some(parent) = root.parent() {
            crate::fsutil::sync_dir(d, parent)?;
        }
        drop(lock);
        Store::open_on(disk, root, OpenOptions { write: true, wait_for_lock: None })
    }

    /// Open the store whose directory is `root`.
    pub fn open(root: &Path, options: OpenOptions) -> Result<Store> {
        Store::open_on(crate::disk::real(), root, options)
    }

    /// [`Store::open`], writing through `disk`.
    pub fn open_on(disk: Arc<dyn Disk>, root: &Path, options: OpenOptions) -> Result<Store> {
        if !root.join(crate::manifest::FILE_NAME).is_file() {
            return Err(Error::NoStore { path: root.into() });
        }
        if !options.write {
            return Store::load_retrying(&disk, root, true);
        }
        // Opening for writing recovers from a crashed writer under the lock, then lets go:
        // each later write takes it again (`writing.rs`).
        let lock = lock::Lock::acquire(root, options.wait_for_lock)?;
        let mut store = Store::load_retrying(&disk, root, false)?.finish_open()?;
        store.writing = Some(writing::Writing::new(options.wait_for_lock));
        drop(lock);
        Ok(store)
    }

    /// [`Store::load`], started again from the new manifest when a file is gone (a reader,
    /// `retry`, racing a checkpoint that replaced the files the manifest it read named).
    fn load_retrying(disk: &Arc<dyn Disk>, root: &Path, retry: bool) -> Result<Store> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            match Store::load(disk.clone(), root) {
                Err(Error::Io { source, .. })
                    if retry && source.kind() == std::io::ErrorKind::NotFound && attempts < 20 =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                other => return other,
            }
        }
    }

    fn load(disk: Arc<dyn Disk>, root: &Path) -> Result<Store> {
        let config = Config::load(root)?;
        let manifest = Manifest::load(root)?;
        let mut replay = journal::replay(&root.join(manifest.journal_name()), manifest.generation)?;
        let indexed = manifest.active_index.map_or(pack::HEADER_LEN as u64, |a| a.covered);
        let end_of = |records: &[journal::Record]| {
            records.iter().rev().map(|r| r.pack_end).find(|&e| e > 0).unwrap_or(indexed)
        };
        let packs = root.join(PACKS_DIR);
        // A commit syncs its record and its pack bytes at once: after a crash the last record
        // may be on disk without all of those bytes. Such a record was never acknowledged,
        // and it is cut like a torn tail.
        if let (Some((last, before)), Some(active)) = (replay.records.split_last(), manifest.active) {
            let from = end_of(before);
            if last.pack_end > from {
                match pack_bytes(&packs.join(active.file_name()), from, last.pack_end)? {
                    PackBytes::Intact => {}
                    PackBytes::Missing => replay.drop_last(false),
                    PackBytes::Damaged => replay.drop_last(true),
                }
            }
        }
        let pack_end = end_of(&replay.records);
        let journal_path = root.join(manifest.journal_name());
        let pack_tail = match manifest.active {
            Some(active) => {
                let path = packs.join(active.file_name());
                let len = std::fs::metadata(&path).map_err(Error::io(&path))?.len();
                (len > pack_end).then(|| recovery::Tail { path, offset: pack_end, len: len - pack_end })
            }
            None => None,
        };
        let journal_tail = recovery::Tail {
            path: journal_path,
            offset: replay.valid_len,
            len: replay.file_len.saturating_sub(replay.valid_len),
        };
        let recovery = match (replay.cut, &pack_tail) {
            (Some(kind), _) => Some(recovery::Recovery { kind, journal: journal_tail, pack: pack_tail }),
            // Pack bytes with no record: a commit interrupted before its record was durable.
            (None, Some(_)) => Some(recovery::Recovery {
                kind: journal::CutKind::TornWrite,
                journal: journal_tail,
                pack: pack_tail,
            }),
            (None, None) => None,
        };
        let odb = ObjectDb::open(&packs, &manifest.sealed, manifest.active_spec(pack_end))?;
        let refs = RefsTable::open(&root.join(manifest.refs_name()))?;
        let changes = ChangesTable::open(&root.join(manifest.changes_name()))?;
        let view = Snapshot {
            root: root.into(),
            disk,
            config,
            last_seq: manifest.table_seq,
            manifest,
            odb,
            refs: Arc::new(refs),
            changes: Arc::new(changes),
            overlay: Overlay::default(),
            overlay_changes: Vec::new(),
            journal_len: replay.valid_len,
            dictionary: 0,
        };
        let mut store = Store {
            view: Arc::new(view),
            batch_refs: Overlay::default(),
            writing: None,
            writer: None,
            recovery,
            signal: notify::signal_for(root),
            checkpoint_due: false,
            own_entries: 0,
            kept: None,
        };
        for record in &replay.records {
            store.odb.note_committed(&record.objects, pack_end);
            store.apply_ref_changes(record.refs.iter().cloned(), &record.objects);
        }
        let dictionary = replay.records.last().map_or(store.manifest.active_dictionary, |r| r.dictionary);
        store.dictionary = store.dictionary_offset(dictionary)?;
        Ok(store)
    }

    /// Recover what a crashed writer left and position the append handles; the caller
    /// holds the writer lock.
    fn finish_open(mut self) -> Result<Store> {
        // Whatever the writer is about to cut is kept first.
        if let Some(found) = self.recovery.as_ref().filter(|r| r.bytes() > 0 || r.is_damage()) {
            recovery::quarantine(&*self.disk, &self.root, found)?;
        }
        if self.config.format < crate::config::FORMAT {
            // A writer brings an older store's config to the current format (and checksum).
            self.config.store(&*self.disk, &self.root)?;
            self.config.format = crate::config::FORMAT;
        }
        self.open_handles()?;
        self.remove_leftovers()?;
        self.ensure_blob_dir()?;
        Ok(self)
    }

    /// Position the append handles at the view's ends, cutting off anything past them (a
    /// crashed writer's torn tail, already quarantined); the caller holds the writer lock.
    fn open_handles(&mut self) -> Result<()> {
        self.writer = None;
        let journal = journal::Writer::open(
            &*self.disk,
            &self.root.join(self.manifest.journal_name()),
            self.journal_len,
        )?;
        let active = self.manifest.active.ok_or_else(|| {
            Error::corrupt(self.root.join(crate::manifest::FILE_NAME), 0, "manifest names no active pack")
        })?;
        let committed = self.odb.active_len();
        let pack = pack::writer::Writer::reopen(
            &*self.disk,
            &self.root.join(PACKS_DIR),
            active,
            committed,
            self.dictionary,
        )?;
        self.writer = Some(WriteState { journal, pack });
        Ok(())
    }

    /// Move the append handles to the view's ends after it applied commits other handles
    /// made, keeping their files and compression thread; dropped (to be reopened under the
    /// lock) when they cannot follow in place.
    fn advance_handles(&mut self) {
        let committed = self.odb.active_len();
        let (active, journal_len, dictionary) = (self.manifest.active, self.journal_len, self.dictionary);
        let Some(w) = self.writer.as_mut() else { return };
        let followed = Some(w.pack.id()) == active
            && w.journal.advance(journal_len)
            && matches!(w.pack.advance(committed, dictionary), Ok(true));
        if !followed {
            self.writer = None;
        }
    }

    /// Delete files a crashed writer or checkpoint left behind: anything in the store's
    /// directories that looks like settee's and that the manifest does not name.
    fn remove_leftovers(&self) -> Result<()> {
        // A checkpoint building its files without `LOCK` holds `CHECKPOINT`: its temporary
        // files are left alone (checkpoint.rs); holding it here keeps one from starting.
        let checkpoint = lock::Lock::try_acquire(&self.root, lock::CHECKPOINT_FILE_NAME)?;
        let temporary = |name: &str| name.starts_with(checkpoint::TEMP_PREFIX) && name.ends_with(".tmp");
        let m = &self.manifest;
        let keep_root = [m.refs_name(), m.changes_name(), m.journal_name()];
        for entry in std::fs::read_dir(&self.root).map_err(Error::io(&self.root))?.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let ours = name.ends_with(".tmp")
                || (name.starts_with("journal-") && name.ends_with(".log"))
                || ((name.starts_with("refs-") || name.starts_with("changes-")) && name.ends_with(".tbl"));
            if temporary(&name) && checkpoint.is_none() {
                continue;
            }
            if ours && !keep_root.contains(&name) {
                let _ = self.disk.remove_file(&entry.path());
            }
        }
        let packs = self.root.join(PACKS_DIR);
        let mut keep: Vec<String> = m.sealed.iter().flat_map(|p| [p.file_name(), p.index_name()]).collect();
        keep.extend(m.active.map(|p| p.file_name()));
        keep.extend(m.active_spec(0).and_then(|s| s.index));
        for entry in std::fs::read_dir(&packs).map_err(Error::io(&packs))?.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let ours = (name.starts_with("pack-") || temporary(&name))
                && (name.ends_with(".pack") || name.ends_with(".idx") || name.ends_with(".tmp"));
            if temporary(&name) && checkpoint.is_none() {
                continue;
            }
            if ours && !keep.contains(&name) {
                let _ = self.disk.remove_file(&entry.path());
            }
        }
        Ok(())
    }
}

/// Applying commits to a view (the handle's own: `Store` invariant 1).
impl Snapshot {
    /// `objects` are those the same commit added to the active pack: the entries whose shown
    /// body is among them get its location as their hint.
    pub(super) fn apply_ref_changes(
        &mut self,
        changes: impl IntoIterator<Item = (Arc<str>, Option<Entry>)>,
        objects: &[(ObjectId, pack::Loc)],
    ) {
        let mut committed = CommitLocations::new(self.manifest.active, objects);
        let mut changes: std::collections::VecDeque<_> = changes.into_iter().collect();
        while let Some((id, entry)) = changes.pop_front() {
            if let Some((ahead, _)) = changes.get(write::PREFETCH_AHEAD - 1) {
                self.overlay.prefetch(ahead);
            }
            let seq = match &entry {
                Some(Entry::Doc(d)) => Some(d.seq),
                _ => None,
            };
            let hint = entry.as_ref().and_then(Entry::shown_body).and_then(|b| committed.find(b));
            let old = self.overlay.insert(id.clone(), entry, hint);
            let Some(seq) = seq else { continue };
            self.last_seq = self.last_seq.max(seq);
            // An entry rewritten at the sequence it already has keeps its one row.
            if matches!(old, Some(Some(Entry::Doc(o))) if o.seq == seq) {
                continue;
            }
            // Sequences are given in increasing order; insert in place otherwise.
            let at = match self.overlay_changes.last() {
                Some((last, _)) if *last >= seq => self.overlay_changes.partition_point(|(s, _)| *s < seq),
                _ => self.overlay_changes.len(),
            };
            self.overlay_changes.insert(at, (seq, id));
        }
        if self.overlay_changes.len() > 2 * self.overlay.len() + 1024 {
            let overlay = &self.overlay;
            self.overlay_changes.retain(|(seq, id)| Snapshot::is_current(overlay, *seq, id));
        }
    }

    /// Forget the overlay once the tables hold it. The maps keep their capacity: a writer
    /// that filled them to a checkpoint is likely to fill them again, and reusing the pages
    /// spares faulting in fresh ones (a tenth of an import's time); the peak is the same.
    pub(super) fn clear_overlay(&mut self) {
        self.overlay.clear();
        self.overlay_changes.clear();
    }
}

impl Store {
    /// What opening found past the last commit it replayed: an interrupted commit, or
    /// damage. A writer has already quarantined and cut it.
    pub fn recovery(&self) -> Option<&recovery::Recovery> {
        self.recovery.as_ref()
    }

    /// Replace the store's config (remotes, `revs_limit`); needs the writer lock.
    pub fn set_config(&mut self, config: Config) -> Result<()> {
        self.locked(|store| {
            config.store(&*store.disk, &store.root)?;
            store.config = config;
            Ok(())
        })
    }

    pub fn is_writable(&self) -> bool {
        self.writing.is_some()
    }

    /// Refuse unless this handle holds the writer lock (inside [`Store::locked`]).
    fn require_writer(&self) -> Result<()> {
        match &self.writing {
            None => Err(Error::Invalid("store was opened read-only".into())),
            Some(w) if !w.is_held() => Err(Error::Invalid("a write outside the writer lock".into())),
            Some(_) => Ok(()),
        }
    }

    /// Give up the writer role; used after a failed compaction, whose in-memory view may no
    /// longer match the files.
    pub(crate) fn stop_writing(&mut self) {
        self.writing = None;
        self.writer = None;
    }

    pub(crate) fn manifest_mut(&mut self) -> &mut Manifest {
        &mut self.manifest
    }

    /// Swap in the files of a new layout (after compaction replaced the manifest).
    pub(crate) fn replace_state(
        &mut self,
        refs: RefsTable,
        changes: ChangesTable,
        odb: ObjectDb,
        journal: journal::Writer,
        pack: pack::writer::Writer,
    ) {
        self.refs = Arc::new(refs);
        self.changes = Arc::new(changes);
        self.odb = odb;
        self.clear_overlay();
        self.journal_len = journal.len();
        self.dictionary = u32::try_from(self.manifest.active_dictionary).unwrap_or(0);
        if let Some(w) = self.writer.as_mut() {
            w.journal = journal;
            w.pack = pack;
        }
    }
}

impl Snapshot {
    /// A record's dictionary offset, which must fit the pack's 32-bit offsets (the journal
    /// is named only when it does not).
    fn dictionary_offset(&self, offset: u64) -> Result<u32> {
        u32::try_from(offset).map_err(|_| {
            Error::corrupt(self.root.join(self.manifest.journal_name()), 0, "dictionary offset out of range")
        })
    }
}

/// What a commit's pack bytes hold after a crash.
enum PackBytes {
    Intact,
    /// Short of the commit's end, or zeros where sectors never reached the disk.
    Missing,
    /// All there, but failing their checksums.
    Damaged,
}

/// The state of the active pack's bytes `[from, to)`, which the last journal record covers.
fn pack_bytes(path: &Path, from: u64, to: u64) -> Result<PackBytes> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(path).map_err(Error::io(path))?;
    if file.metadata().map_err(Error::io(path))?.len() < to {
        return Ok(PackBytes::Missing);
    }
    let len = usize::try_from(to - from).map_err(|_| Error::corrupt(path, from, "commit too large"))?;
    let mut bytes = vec![0u8; len];
    file.read_exact_at(&mut bytes, from).map_err(Error::io(path))?;
    if pack::frame::all_intact(&bytes) {
        return Ok(PackBytes::Intact);
    }
    Ok(if journal::looks_unwritten(&bytes, from) { PackBytes::Missing } else { PackBytes::Damaged })
}

/// The objects one commit added to the active pack, for finding where an entry's shown body
/// went. A batch usually adds the bodies in the order of its entries, so each lookup first
/// tries the object after the last one found, and builds a map only when that fails.
struct CommitLocations<'a> {
    pack: Option<PackId>,
    objects: &'a [(ObjectId, pack::Loc)],
    next: usize,
    map: Option<FastMap<ObjectId, pack::Loc>>,
}

impl<'a> CommitLocations<'a> {
    fn new(pack: Option<PackId>, objects: &'a [(ObjectId, pack::Loc)]) -> Self {
        CommitLocations { pack, objects, next: 0, map: None }
    }

    /// Where `body` went, if this commit added it.
    fn find(&mut self, body: &ObjectId) -> Option<Found> {
        let pack = self.pack?;
        if let Some((id, loc)) = self.objects.get(self.next) {
            if id == body {
                self.next += 1;
                return Some(Found { pack, loc: *loc });
            }
        }
        let objects = self.objects;
        let map = self.map.get_or_insert_with(|| objects.iter().copied().collect());
        map.get(body).map(|&loc| Found { pack, loc })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{hash_object, Kind};

    /// Bodies are found in commit order without a map, out of order through one, and not
    /// at all when the commit did not add them or there is no active pack.
    #[test]
    fn commit_locations_find_each_added_object() {
        let oid = |i: u32| hash_object(Kind::Body, &i.to_be_bytes());
        let objects: Vec<(ObjectId, pack::Loc)> =
            (0..6).map(|i| (oid(i), pack::Loc { block: 16 + i / 3 * 500, inner: i % 3 * 100 })).collect();
        let found = |i: usize| Some(Found { pack: PackId(4), loc: objects[i].1 });
        let mut c = CommitLocations::new(Some(PackId(4)), &objects);
        assert_eq!((c.find(&oid(0)), c.find(&oid(1))), (found(0), found(1)));
        assert!(c.map.is_none(), "in-order lookups need no map");
        assert_eq!(c.find(&oid(4)), found(4));
        assert_eq!(c.find(&oid(99)), None);
        assert_eq!(c.find(&oid(2)), found(2));
        assert_eq!(CommitLocations::new(None, &objects).find(&oid(0)), None);
    }
}

#[cfg(test)]
mod sync_check {
    fn is_send_sync<T: Send + Sync>() {}
    #[test]
    fn a_store_is_send_and_sync() {
        is_send_sync::<super::Store>();
    }
}
