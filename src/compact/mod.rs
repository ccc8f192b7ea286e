//! Compaction: rewrite the live data into new packs and drop the rest.
//!
//! Owns: what compaction keeps and the order of its writes. It keeps every leaf's body
//! (tombstones included), every `_local` body, every revision id within `revs_limit`, and,
//! for a document in conflict, the revision object and body of the common ancestor of its
//! live leaves (so a three-way merge stays possible). It drops the bodies and revision
//! objects of other inner revisions (their ids stay, in the leaves' ancestry) and anything
//! unreachable.
//!
//! Order of writes (each durable before the next; a failure or crash anywhere leaves the old
//! manifest and its files, or the new ones; the next writer open removes leftovers):
//! 1. checkpoint, sealing the active pack, so every object is in a sealed pack;
//! 2. pass 1: read every sealed pack in file order and keep its revision objects in memory;
//!    decide each document's new leaves and the live objects;
//! 3. choose the packs to rewrite (`plan`): those with the most garbage;
//! 4. pass 2: copy the live objects of those packs, and the new revision objects, into new
//!    packs; fsync them and write their indexes;
//! 5. write the new refs and changes tables, a new empty journal and a new active pack;
//! 6. replace the manifest;
//! 7. unlink the rewritten packs, their indexes and the old tables and journal;
//! 8. remove the blobs no live body names that were written before the compaction started
//!    (less `blobs::GRACE`), and sync `blobs/`.
//!
//! Writers wait: compaction holds the writer lock from start to end. Readers keep working:
//! a reader that opened before step 6 keeps its mapped files (unlinked files stay readable
//! while open), one that opens after sees the new layout.
//!
//! Spec: format-spec/compaction.md.

mod blobs;
pub mod plan;
mod purge;
mod revisions;

use revisions::Revisions;

use std::collections::HashMap;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::hash::FastSet;
use crate::history::{self, NodeInfo};
use crate::id::{DocId, Kind, ObjectId};
use crate::journal;
use crate::manifest::Manifest;
use crate::object::Revision;
use crate::odb::{Found, ObjectDb};
use crate::pack::{self, index, PackId};
use crate::refs::table::{ChangesTable, RefsTable, TableWriter};
use crate::refs::{DocRef, Entry, Leaf};
use crate::rev::RevId;
use crate::revtree::RevTree;
use crate::store::{Store, PACKS_DIR};

/// What to compact.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Stem histories to this many revisions per branch (default: the store's `revs_limit`).
    pub revs_limit: Option<usize>,
    /// Rewrite every pack, not only those with the most garbage.
    pub full: bool,
    /// Fault injection for tests: fail with an error at the n-th step boundary (0-based).
    #[doc(hidden)]
    pub fail_at: Option<usize>,
}

/// What a compaction did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Bytes of the packs that were rewritten (the compaction's input).
    pub input_bytes: u64,
    /// Bytes of the new packs written (the extra disk needed at the peak, besides tables).
    pub output_bytes: u64,
    pub packs_rewritten: usize,
    pub packs_kept: usize,
    pub objects_copied: usize,
    pub objects_dropped: usize,
    pub documents_rewritten: usize,
    /// Blobs no kept revision names any more, removed, and their bytes on disk.
    pub blobs_dropped: usize,
    pub blob_bytes_dropped: u64,
    pub seconds: f64,
}

/// Pack bytes a compaction would keep, and all pack bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Space {
    pub live_bytes: u64,
    pub total_bytes: u64,
    /// What `compact --full` would free: the garbage, less the fixed part of the index that
    /// sealing the active pack of a store without sealed packs writes.
    pub reclaimable_bytes: u64,
}

/// What compacting a store whose only pack is the (unindexed) active one frees: its garbage
/// less the fixed size of the index the sealed pack gets (header, fanout, trailer). The
/// index's per-object part is not counted: every pack pays it when it is sealed, compacted
/// or not. So a store of a few hundred bytes is left as it is rather than grown by 1 KiB.
fn unsealed_gain(active: &plan::PackStat) -> u64 {
    let fixed = crate::pack::index::file_len(0, crate::pack::index::LOC_LEN_SHORT) as u64;
    active.garbage_bytes().saturating_sub(fixed)
}

/// The step boundaries where `Options::fail_at` can stop a compaction.
pub const STEPS: [&str; 8] = [
    "after sealing the active pack",
    "after writing the new packs",
    "after writing the new indexes",
    "after writing the new tables",
    "after creating the new journal and active pack",
    "after replacing the manifest",
    "after unlinking the first old file",
    "after unlinking the old files",
];

struct Faults {
    fail_at: Option<usize>,
    step: usize,
}

impl Faults {
    fn pass(&mut self) -> Result<()> {
        let step = self.step;
        self.step += 1;
        if self.fail_at == Some(step) {
            return Err(Error::Invalid(format!("injected failure {}", STEPS.get(step).unwrap_or(&"?"))));
        }
        Ok(())
    }
}

/// The result of deciding what stays: per document its new ref, and the live objects.
pub(crate) struct Live {
    /// New entries in id order (documents and `_local` ids).
    entries: Vec<(String, Entry)>,
    /// Ids of every live object.
    objects: FastSet<ObjectId>,
    /// Revision objects that compaction creates (kept ancestors with new links).
    new_revisions: Vec<(ObjectId, Vec<u8>)>,
    documents_rewritten: usize,
}

impl Store {
    /// Compact the store (see the module documentation).
    pub fn compact(&mut self, options: &Options) -> Result<Outcome> {
        let result = self.locked(|store| store.compact_inner(options));
        if result.is_err() {
            // The files on disk are the old layout or the new one, whole; this handle's view
            // may be neither, so it stops writing (reopen the store to go on).
            self.stop_writing();
        }
        result
    }

    fn compact_inner(&mut self, options: &Options) -> Result<Outcome> {
        let started = Instant::now();
        let blob_cutoff = std::time::SystemTime::now() - blobs::GRACE;
        let mut faults = Faults { fail_at: options.fail_at, step: 0 };
        let bytes_before = self.disk_bytes();
        let limit = options.revs_limit.unwrap_or_else(|| self.revs_limit()).max(1);
        if self.manifest().sealed.is_empty() && !self.sealing_would_pay(limit, blob_cutoff)? {
            return Ok(Outcome {
                bytes_before,
                bytes_after: bytes_before,
                packs_kept: 1,
                seconds: started.elapsed().as_secs_f64(),
                ..Outcome::default()
            });
        }
        self.checkpoint_with(true)?;
        faults.pass()?;
        let revisions = self.load_revisions()?;
        let live = self.decide(&revisions, limit)?;
        drop(revisions);
        // Named by the live objects, which are all still in the packs read now.
        let garbage = self.blob_garbage(&live.objects, blob_cutoff)?;
        let (stats, mut wanted) = self.pack_stats(&live.objects);
        let mut plan = plan::choose(&stats, options.full);
        if !self.rewrite_would_shrink(&plan, &stats) {
            plan = plan::Plan { rewrite: Vec::new(), keep: stats.iter().map(|s| s.id).collect() };
        }
        let unchanged =
            plan.rewrite.is_empty() && live.documents_rewritten == 0 && live.new_revisions.is_empty();
        if unchanged {
            // The refs stay as they are, and they reach exactly the live objects.
            let (blobs_dropped, blob_bytes_dropped) = self.drop_blobs(garbage)?;
            return Ok(Outcome {
                bytes_before,
                bytes_after: self.disk_bytes(),
                packs_kept: plan.keep.len(),
                blobs_dropped,
                blob_bytes_dropped,
                seconds: started.elapsed().as_secs_f64(),
                ..Outcome::default()
            });
        }
        let mut outcome = self.rewrite(&plan, &stats, &mut wanted, live, &mut faults)?;
        // The new manifest and refs are durable: nothing reaches the garbage blobs now.
        (outcome.blobs_dropped, outcome.blob_bytes_dropped) = self.drop_blobs(garbage)?;
        outcome.bytes_before = bytes_before;
        outcome.bytes_after = self.disk_bytes();
        outcome.seconds = started.elapsed().as_secs_f64();
        Ok(outcome)
    }

    /// For a store whose objects all sit in the active pack (it has no index yet): whether
    /// compacting it frees more than the fixed part of the index that sealing the pack
    /// writes (see [`unsealed_gain`]).
    fn sealing_would_pay(&self, limit: usize, blob_cutoff: std::time::SystemTime) -> Result<bool> {
        let revisions = self.load_revisions()?;
        let live = self.decide(&revisions, limit)?;
        if !live.new_revisions.is_empty() || !self.blob_garbage(&live.objects, blob_cutoff)?.is_empty() {
            return Ok(true);
        }
        Ok(self.active_pack_stat(&live.objects).is_some_and(|stat| unsealed_gain(&stat) > 0))
    }

    /// The active pack as the compactor sees it, when it holds objects.
    fn active_pack_stat(&self, live: &FastSet<ObjectId>) -> Option<plan::PackStat> {
        let reader = self.odb().active_reader()?;
        let entries = self.odb().active_entries();
        if entries.is_empty() {
            return None;
        }
        let live_count = entries.iter().filter(|(id, _)| live.contains(id)).count();
        Some(plan::PackStat {
            id: reader.id(),
            bytes: reader.len(),
            objects: entries.len(),
            live: live_count,
        })
    }

    /// Whether rewriting the planned packs would leave fewer bytes than they (and their
    /// indexes) take now: their live share plus a new index for the live objects. A tiny
    /// store's garbage is smaller than the index its rewritten pack would need.
    fn rewrite_would_shrink(&self, plan: &plan::Plan, stats: &[plan::PackStat]) -> bool {
        let packs_dir = self.root().join(PACKS_DIR);
        let (mut now, mut after, mut live_objects) = (0u64, 0u64, 0u64);
        for s in stats.iter().filter(|s| plan.rewrite.contains(&s.id)) {
            now += s.bytes + std::fs::metadata(packs_dir.join(s.id.index_name())).map_or(0, |m| m.len());
            after += s.bytes - s.garbage_bytes();
            live_objects += s.live as u64;
        }
        if live_objects > 0 {
            after +=
                crate::pack::index::file_len(live_objects as usize, crate::pack::index::LOC_LEN_SHORT) as u64;
        }
        after < now
    }

    /// Bytes of every file the manifest names.
    pub fn disk_bytes(&self) -> u64 {
        let s = self.stats_files();
        s.pack_bytes + s.index_bytes + s.table_bytes + s.journal_bytes
    }

    /// How many bytes of the packs a compaction would keep (estimated by object counts), how
    /// many there are, and how many `compact --full` would free; reads the whole store,
    /// changes nothing.
    pub fn space(&self) -> Result<Space> {
        let revisions = self.load_revisions()?;
        let live = self.decide(&revisions, self.revs_limit())?;
        let mut space = Space::default();
        let (stats, _) = self.pack_stats(&live.objects);
        for s in &stats {
            space.total_bytes += s.bytes;
            space.live_bytes += s.bytes - s.garbage_bytes();
            space.reclaimable_bytes += s.garbage_bytes();
        }
        match self.active_pack_stat(&live.objects) {
            Some(active) => {
                space.total_bytes += active.bytes;
                space.live_bytes += active.bytes - active.garbage_bytes();
                space.reclaimable_bytes +=
                    if stats.is_empty() { unsealed_gain(&active) } else { active.garbage_bytes() };
            }
            // The empty pack new commits go to: its header is not garbage.
            None => {
                let header = self.odb().active_reader().map_or(0, |r| r.len());
                space.total_bytes += header;
                space.live_bytes += header;
            }
        }
        Ok(space)
    }

    /// Pass 1: every revision object in the packs, by id.
    fn load_revisions(&self) -> Result<Revisions> {
        let packs: Vec<PackId> =
            self.manifest().sealed.iter().copied().chain(self.manifest().active).collect();
        // Revisions are at most the objects the indexes list (plus the few committed since
        // the active pack's prefix index): sizing the map once saves rehashing it as it grows.
        let odb = self.odb();
        let listed = odb.sealed().map(|(_, index)| index.len()).sum::<usize>()
            + odb.active_index().map_or(0, |i| i.len())
            + odb.active_locations().map_or(0, |l| l.len());
        let mut parts = Vec::new();
        // Blocks are independent: both halves of every pack are read on their own thread,
        // into plain lists; only this thread hashes them into the map.
        for pack in packs {
            let blocks = odb.block_offsets(pack)?;
            let (first, second) = blocks.split_at(blocks.len() / 2);
            let scan = |part: &[u32]| -> Result<revisions::Found> {
                // A block holds about `BLOCK_TARGET` bytes of raw objects, of which revisions
                // are commonly a third to a half: reserving half of it spares regrowing (and
                // copying) the buffer, and pages reserved but never written cost nothing.
                let mut found = revisions::Found::with_capacity(part.len() * pack::BLOCK_TARGET / 2);
                odb.scan(pack, part, Kind::Revision, &mut |oid, _, bytes| {
                    found.push(oid, bytes);
                    Ok(())
                })?;
                Ok(found)
            };
            let (a, b) = std::thread::scope(|s| {
                let other = s.spawn(|| scan(second));
                let mine = scan(first);
                (
                    mine,
                    other.join().unwrap_or_else(|_| Err(Error::Invalid("a scanning thread panicked".into()))),
                )
            });
            parts.push(a?);
            parts.push(b?);
        }
        Ok(Revisions::gather(parts, listed / 2 + 1024, odb.dir().to_path_buf()))
    }

    /// Decide every document's compacted leaves and the set of live objects: the ids below
    /// the refs table's middle on this thread, the rest on another.
    pub(crate) fn decide(&self, revisions: &Revisions, limit: usize) -> Result<Live> {
        let Some(middle) = self.refs_middle_id() else {
            return self.decide_range("", None, revisions, limit);
        };
        std::thread::scope(|s| {
            let upper = s.spawn(|| self.decide_range(&middle, None, revisions, limit));
            let lower = self.decide_range("", Some(&middle), revisions, limit);
            let upper =
                upper.join().unwrap_or_else(|_| Err(Error::Invalid("a compaction thread panicked".into())));
            let (mut live, upper) = (lower?, upper?);
            live.entries.extend(upper.entries);
            live.objects.extend(upper.objects);
            live.new_revisions.extend(upper.new_revisions);
            live.documents_rewritten += upper.documents_rewritten;
            Ok(live)
        })
    }

    /// `decide` for the entries with ids in `[start, end)` (no end: to the last).
    fn decide_range(
        &self,
        start: &str,
        end: Option<&str>,
        revisions: &Revisions,
        limit: usize,
    ) -> Result<Live> {
        let mut live = Live {
            entries: Vec::new(),
            objects: FastSet::default(),
            new_revisions: Vec::new(),
            documents_rewritten: 0,
        };
        for entry in self.entries_from(start) {
            let (id, entry) = entry?;
            if end.is_some_and(|end| id.as_str() >= end) {
                break;
            }
            match entry {
                Entry::Local(l) => {
                    live.objects.insert(l.body);
                    live.entries.push((id, Entry::Local(l)));
                }
                Entry::Doc(doc) => {
                    let doc_id = DocId::from_stored(&id);
                    let compacted = self.compact_doc(&doc_id, &doc, revisions, limit, &mut live)?;
                    if compacted.leaves != doc.leaves {
                        live.documents_rewritten += 1;
                    }
                    live.entries.push((id, Entry::Doc(compacted)));
                }
            }
        }
        Ok(live)
    }

    fn compact_doc(
        &self,
        id: &DocId,
        doc: &DocRef,
        revisions: &Revisions,
        limit: usize,
        live: &mut Live,
    ) -> Result<DocRef> {
        if let [leaf] = doc.leaves.as_slice() {
            // One leaf: its compacted object keeps no link, only the hashes of its stemmed
            // history (what `rebuild` + `canonical` give for a single path, without a tree).
            let mut ancestry = Vec::new();
            // The hashes from the object reached last up to the one it links to, and the
            // buffer the next object's are decoded into.
            let mut segment = leaf.ancestry.clone();
            let mut next_segment = Vec::new();
            let mut link = leaf.parent;
            let mut pos = leaf.rev.pos;
            while ancestry.len() + 1 < limit {
                let next = match link {
                    Some(p) => revisions.head(&p, &mut next_segment)?,
                    None => None,
                };
                let next = next.filter(|o| {
                    o.rev.pos + segment.len() as u64 == pos
                        && Some(&o.rev.hash) == segment.last()
                        && o.doc == id.as_str()
                });
                match next {
                    Some(o) => {
                        ancestry.extend_from_slice(&segment);
                        link = o.parent;
                        pos = o.rev.pos;
                        std::mem::swap(&mut segment, &mut next_segment);
                    }
                    None => {
                        ancestry.extend_from_slice(&segment);
                        break;
                    }
                }
            }
            ancestry.truncate(limit - 1);
            live.objects.insert(leaf.body);
            let compacted = leaf.with_history(None, ancestry);
            return Ok(DocRef { seq: doc.seq, leaves: vec![compacted] });
        }
        let (mut tree, objects) = history::rebuild(id, doc, limit, &mut |oid| revisions.get(oid))?;
        let keep = self.conflict_ancestor(&tree, doc);
        tree.for_each_value_mut(|rev, value, leaf| {
            if !leaf && Some(rev) != keep.as_ref() {
                *value = None;
            }
        });
        let chosen = history::canonical(id, &mut tree, &objects, history::Links::Exact);
        let mut leaves: HashMap<RevId, Revision> = HashMap::new();
        for (rev, c) in chosen {
            live.objects.insert(c.revision.body);
            if c.leaf {
                leaves.insert(rev, c.revision);
            } else {
                live.objects.insert(c.oid);
                if c.new {
                    live.new_revisions.push((c.oid, c.revision.encode()));
                }
            }
        }
        let mut new_leaves: Vec<Leaf> =
            tree.leaves().iter().filter_map(|l| leaves.get(&l.rev).map(Leaf::from_revision)).collect();
        if new_leaves.len() != doc.leaves.len() {
            return Err(Error::corrupt(self.root(), 0, format!("{id}: compaction would lose a leaf")));
        }
        let mut out = DocRef { seq: doc.seq, leaves: std::mem::take(&mut new_leaves) };
        out.sort_leaves();
        Ok(out)
    }

    /// For a document with more than one live leaf: the newest revision that is an ancestor
    /// of all of them, if its body is still stored.
    fn conflict_ancestor(&self, tree: &RevTree<NodeInfo>, doc: &DocRef) -> Option<RevId> {
        let (rev, value) = history::common_ancestor(tree, doc)?;
        value.filter(|v| self.odb().contains(&v.body)).map(|_| rev)
    }

    /// Per sealed pack: size, objects, and how many of them are live; and the live objects
    /// of each with their locations (what a rewrite of that pack copies).
    fn pack_stats(&self, live: &FastSet<ObjectId>) -> (Vec<plan::PackStat>, Vec<Vec<(ObjectId, pack::Loc)>>) {
        self.odb()
            .sealed()
            .map(|(reader, index)| {
                // Both halves of the index on their own thread.
                let half = index.len() / 2;
                let pick = |range: std::ops::Range<usize>| -> Vec<(ObjectId, pack::Loc)> {
                    index.iter_range(range).filter(|(id, _)| live.contains(id)).collect()
                };
                let wanted = std::thread::scope(|s| {
                    let upper = s.spawn(|| pick(half..index.len()));
                    let mut wanted = pick(0..half);
                    wanted.extend(upper.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
                    wanted
                });
                let stat = plan::PackStat {
                    id: reader.id(),
                    bytes: reader.len(),
                    objects: index.len(),
                    live: wanted.len(),
                };
                (stat, wanted)
            })
            .unzip()
    }

    /// Steps 4 to 7.
    fn rewrite(
        &mut self,
        plan: &plan::Plan,
        stats: &[plan::PackStat],
        wanted: &mut [Vec<(ObjectId, pack::Loc)>],
        live: Live,
        faults: &mut Faults,
    ) -> Result<Outcome> {
        let packs_dir = self.root().join(PACKS_DIR);
        let mut next: Manifest = self.manifest().clone();
        next.generation += 1;
        let mut outcome = Outcome {
            packs_rewritten: plan.rewrite.len(),
            packs_kept: plan.keep.len(),
            documents_rewritten: live.documents_rewritten,
            input_bytes: stats.iter().filter(|s| plan.rewrite.contains(&s.id)).map(|s| s.bytes).sum(),
            ..Outcome::default()
        };
        // Objects already stored in a kept pack need no copy.
        let mut done: FastSet<ObjectId> = FastSet::default();
        for (_, index) in self.odb().sealed().filter(|(r, _)| plan.keep.contains(&r.id())) {
            done.extend(index.iter().map(|(id, _)| id).filter(|id| live.objects.contains(id)));
        }
        let dictionary = plan.rewrite.iter().find_map(|p| self.odb().dictionary_bytes(*p));
        let mut output = Output::new(self.disk().clone(), &packs_dir, &mut next, dictionary)?;
        for pack in &plan.rewrite {
            // `wanted` is in the order of `stats`, which is that of the sealed packs.
            let Some(at) = stats.iter().position(|s| s.id == *pack) else { continue };
            let (Some(stat), Some(wanted)) = (stats.get(at), wanted.get_mut(at)) else { continue };
            outcome.objects_dropped += stat.objects - wanted.len();
            self.odb().copy_out(*pack, wanted, &mut |oid, kind, bytes| {
                if done.insert(oid) {
                    output.add(oid, kind, bytes)?;
                    outcome.objects_copied += 1;
                }
                Ok(())
            })?;
        }
        for (oid, bytes) in &live.new_revisions {
            if done.insert(*oid) {
                output.add(*oid, Kind::Revision, bytes)?;
                outcome.objects_copied += 1;
            }
        }
        let mut written = output.finish()?;
        faults.pass()?;
        for (id, entries) in &mut written {
            index::write(&**self.disk(), &packs_dir.join(id.index_name()), *id, entries)?;
        }
        outcome.output_bytes = next
            .sealed
            .iter()
            .filter(|p| !self.manifest().sealed.contains(p))
            .map(|p| file_len(&packs_dir, p))
            .sum();
        faults.pass()?;

        next.sealed.retain(|p| !plan.rewrite.contains(p));
        // Each entry's hint: where its shown body is now, in a new pack (whose entries
        // the index writer left sorted by id) or in a kept one.
        let locate = |body: &ObjectId| {
            Found::in_written(&written, body).or_else(|| {
                self.odb()
                    .sealed()
                    .filter(|(r, _)| plan.keep.contains(&r.id()))
                    .find_map(|(r, index)| index.find(body).map(|loc| Found { pack: r.id(), loc }))
            })
        };
        let disk = self.disk().clone();
        let mut tables = TableWriter::create(&*disk, &self.root().join(next.refs_name()))?;
        for (id, entry) in &live.entries {
            tables.push(id, entry, entry.shown_body().and_then(locate))?;
        }
        next.table_docs = tables.finish(&*disk, &self.root().join(next.changes_name()))?;
        faults.pass()?;

        let active = PackId(next.next_pack);
        next.next_pack += 1;
        next.active = Some(active);
        next.active_index = None;
        next.active_dictionary = 0;
        let new_writer = pack::writer::Writer::create(&*disk, &packs_dir, active)?;
        journal::create(&*disk, &self.root().join(next.journal_name()), next.generation)?;
        crate::fsutil::sync_dir(&*disk, &packs_dir)?;
        crate::fsutil::sync_dir(&*disk, self.root())?;
        faults.pass()?;

        next.store(&*disk, self.root())?;
        faults.pass()?;

        let old = std::mem::replace(self.manifest_mut(), next);
        let mut doomed: Vec<std::path::PathBuf> = Vec::new();
        for p in &plan.rewrite {
            doomed.push(packs_dir.join(p.file_name()));
            doomed.push(packs_dir.join(p.index_name()));
        }
        if let Some(a) = old.active {
            doomed.push(packs_dir.join(a.file_name()));
        }
        for name in [old.journal_name(), old.refs_name(), old.changes_name()] {
            doomed.push(self.root().join(name));
        }
        for (i, path) in doomed.iter().enumerate() {
            let _ = disk.remove_file(path);
            if i == 0 {
                faults.pass()?;
            }
        }
        faults.pass()?;
        self.reload_after_switch(new_writer)?;
        Ok(outcome)
    }

    /// Open the files the (new) manifest names and start writing to the new active pack.
    fn reload_after_switch(&mut self, pack: pack::writer::Writer) -> Result<()> {
        let m = self.manifest().clone();
        let root = self.root().to_path_buf();
        let refs = RefsTable::open(&root.join(m.refs_name()))?;
        let changes = ChangesTable::open(&root.join(m.changes_name()))?;
        let odb = ObjectDb::open(&root.join(PACKS_DIR), &m.sealed, m.active_spec(pack::HEADER_LEN as u64))?;
        let journal =
            journal::Writer::open(&**self.disk(), &root.join(m.journal_name()), journal::HEADER_LEN as u64)?;
        self.replace_state(refs, changes, odb, journal, pack);
        Ok(())
    }
}

fn file_len(dir: &std::path::Path, pack: &PackId) -> u64 {
    std::fs::metadata(dir.join(pack.file_name())).map_or(0, |m| m.len())
}

/// A pack a compaction wrote, with where each of its objects went.
type NewPack = (PackId, Vec<(ObjectId, pack::Loc)>);

/// New packs being filled by a compaction, rolling over at `MAX_PACK_LEN`.
struct Output<'a> {
    disk: std::sync::Arc<dyn crate::disk::Disk>,
    dir: std::path::PathBuf,
    manifest: &'a mut Manifest,
    current: Option<pack::writer::Writer>,
    done: Vec<NewPack>,
    /// A dictionary from a rewritten pack, for new packs to start with instead of training
    /// their own on the same kind of objects.
    dictionary: Option<Vec<u8>>,
}

impl<'a> Output<'a> {
    fn new(
        disk: std::sync::Arc<dyn crate::disk::Disk>,
        dir: &std::path::Path,
        manifest: &'a mut Manifest,
        dictionary: Option<Vec<u8>>,
    ) -> Result<Output<'a>> {
        Ok(Output { disk, dir: dir.into(), manifest, current: None, done: Vec::new(), dictionary })
    }

    fn add(&mut self, oid: ObjectId, kind: Kind, bytes: &[u8]) -> Result<()> {
        if self.current.as_ref().is_some_and(|w| w.pending_len() >= pack::MAX_PACK_LEN) {
            self.close()?;
        }
        if self.current.is_none() {
            let id = PackId(self.manifest.next_pack);
            self.manifest.next_pack += 1;
            let mut writer = pack::writer::Writer::create(&*self.disk, &self.dir, id)?;
            if let Some(dictionary) = &self.dictionary {
                writer.use_dictionary(dictionary.clone())?;
            }
            self.current = Some(writer);
        }
        match self.current.as_mut() {
            Some(w) => w.add(oid, kind, bytes),
            None => Ok(()),
        }
    }

    fn close(&mut self) -> Result<()> {
        if let Some(mut w) = self.current.take() {
            let objects = w.commit()?;
            self.manifest.sealed.push(w.id());
            self.done.push((w.id(), objects));
        }
        Ok(())
    }

    /// Commit (fsync) every new pack; return each with its objects' locations.
    fn finish(mut self) -> Result<Vec<NewPack>> {
        self.close()?;
        Ok(self.done)
    }
}
