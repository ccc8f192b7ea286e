//! Repair: rebuild a damaged store from what is intact in it, name what could not be saved,
//! and fetch that from a replica.
//!
//! Owns: `fsck --repair`. With the writer lock, a store that `fsck` finds damaged is
//! rebuilt into a new generation: the objects of every damaged sealed pack and of the active
//! pack that still pass their checksums are copied into new packs with new indexes (sealed
//! packs that verify whole stay as they are); the refs and changes tables are written anew
//! from the refs table's intact groups and the journal's intact records; a document whose
//! leaf bodies are not all intact is left out and named. Not: deciding which documents a
//! replica restores (`fetch`), nor what a read trusts (the store checks as it reads).
//! Invariants:
//! 1. The switch is the manifest's atomic replace: a crash before it leaves the old store
//!    (the new files are leftovers the next writer removes), a crash after it the new one.
//! 2. Nothing is deleted: every file the new manifest drops is first hard-linked (or
//!    copied) into `quarantine/repair-<gen>/`, and a NOTES line says what was kept and which
//!    documents could not be saved.
//! 3. A repaired store never shows data that was not written: entries come only from table
//!    groups and journal records that pass their checksums, objects only under the hash of
//!    their bytes; a document that cannot be shown whole is not shown at all.
//!
//! Spec: format-spec/repair.md.

pub mod fetch;
pub mod notes;
mod records;
mod scan;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::hash::FastSet;
use crate::id::{Kind, ObjectId, Seq};
use crate::journal;
use crate::manifest::Manifest;
use crate::odb::Found;
use crate::pack::{self, index, PackId};
use crate::refs::table::{RefsTable, TableWriter};
use crate::refs::Entry;
use crate::rev::RevId;
use crate::store::{self, recovery, OpenOptions, Store, PACKS_DIR};

pub use notes::{Range, Unsaved, Wanted};

/// How to repair.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Wait this long for the writer lock (`None`: fail at once when it is held).
    pub wait_for_lock: Option<std::time::Duration>,
    /// Fault injection for tests: fail just before the note and the manifest switch, with
    /// every new file written.
    #[doc(hidden)]
    pub fail_before_switch: bool,
}

/// What a repair did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The generation the rebuilt store starts, or `None` when nothing needed rebuilding.
    pub generation: Option<u64>,
    /// One line per thing done or found, for people.
    pub actions: Vec<String>,
    /// Documents left out because what they need is damaged.
    pub unsaved: Vec<Unsaved>,
    /// Id ranges of damaged refs table groups: documents there are unknown here.
    pub ranges: Vec<Range>,
    /// Whether commits of the journal were lost (their documents are unknown here).
    pub lost_commits: bool,
}

/// The lock a repair holds: through a writer handle if the store opens, else bare.
enum Held {
    Store(Box<Store>),
    Lock { _lock: store::lock::Lock },
}

/// Check the store at `root` and rebuild it if anything is damaged (see the module doc).
pub fn repair(root: &Path, options: &Options) -> Result<Outcome> {
    if !root.join(crate::manifest::FILE_NAME).is_file() {
        return Err(Error::NoStore { path: root.into() });
    }
    // A writer open cuts a damaged journal tail into the quarantine, as any writer would.
    let held = match Store::open(root, OpenOptions { write: true, wait_for_lock: options.wait_for_lock }) {
        Ok(s) => Held::Store(Box::new(s)),
        Err(e @ Error::Locked { .. }) => return Err(e),
        Err(_) => Held::Lock { _lock: store::lock::Lock::acquire(root, options.wait_for_lock)? },
    };
    let quarantine = root.join(recovery::QUARANTINE_DIR).display().to_string();
    let mut cut = Vec::new();
    if let Held::Store(s) = &held {
        if let Some(found) = s.recovery().filter(|r| r.bytes() > 0 || r.is_damage()) {
            cut.push(format!("cut {}; kept in {quarantine}", found.describe()));
        }
    }
    let damage: Vec<store::Finding> =
        store::fsck(root)?.into_iter().filter(|f| f.place != quarantine).collect();
    if damage.is_empty() {
        return Ok(Outcome { actions: cut, ..Outcome::default() });
    }
    cut.extend(damage.iter().map(|f| format!("found: {f}")));
    let manifest = match &held {
        Held::Store(s) => s.manifest().clone(),
        Held::Lock { .. } => Manifest::load(root)?,
    };
    let mut outcome = rebuild(root, &manifest, options)?;
    drop(held);
    cut.append(&mut outcome.actions);
    outcome.actions = cut;
    Ok(outcome)
}

/// The rebuild, under the lock.
fn rebuild(root: &Path, old: &Manifest, options: &Options) -> Result<Outcome> {
    let packs_dir = root.join(PACKS_DIR);
    let mut out = Outcome::default();
    let (mut entries, mut max_seq) = read_entries(root, old, &mut out);

    // Every pack: which objects are intact, and whether a sealed pack can stay as it is.
    let mut bodies: FastSet<ObjectId> = FastSet::default();
    let mut revisions: FastSet<ObjectId> = FastSet::default();
    let mut known: BTreeMap<String, RevId> = BTreeMap::new();
    let mut keep: Vec<PackId> = Vec::new();
    let mut rewrite: Vec<PackId> = Vec::new();
    let mut kept_objects: FastSet<ObjectId> = FastSet::default();
    for (id, sealed) in old.sealed.iter().map(|p| (*p, true)).chain(old.active.map(|p| (p, false))) {
        let path = packs_dir.join(id.file_name());
        let mut found: Vec<(ObjectId, pack::Loc)> = Vec::new();
        let damage = match scan::pack(&path, &mut |oid, kind, bytes, loc| {
            match kind {
                Kind::Body => bodies.insert(oid),
                _ => revisions.insert(oid),
            };
            if kind == Kind::Revision && !out.ranges.is_empty() {
                if let Ok(r) = crate::object::Revision::decode(bytes) {
                    let doc = r.doc.as_str();
                    if out.ranges.iter().any(|range| range.covers(doc))
                        && known.get(doc).is_none_or(|k| k.pos < r.rev.pos)
                    {
                        known.insert(doc.to_string(), r.rev);
                    }
                }
            }
            found.push((oid, loc));
            Ok(())
        }) {
            Ok(d) => d,
            Err(e) => vec![scan::Damage { offset: 0, what: e.to_string() }],
        };
        for d in &damage {
            out.actions.push(format!("{} offset {}: {}", path.display(), d.offset, d.what));
        }
        let index_path = packs_dir.join(id.index_name());
        if sealed && damage.is_empty() && index_matches(&index_path, &found) {
            keep.push(id);
            kept_objects.extend(found.iter().map(|(oid, _)| *oid));
        } else {
            if sealed && damage.is_empty() {
                out.actions.push(format!(
                    "{}: does not match its pack; rebuilt from the pack",
                    index_path.display()
                ));
            }
            rewrite.push(id);
        }
    }

    // Which entries can be kept whole.
    let mut live: Vec<(String, Entry)> = Vec::new();
    for (id, entry) in std::mem::take(&mut entries) {
        match entry {
            Entry::Local(l) if bodies.contains(&l.body) => live.push((id, Entry::Local(l))),
            Entry::Local(l) => out.unsaved.push(Unsaved {
                revs: vec![(format!("0-{}", l.rev), Some(l.body.to_string()))],
                why: format!("body {} is damaged or missing", l.body),
                id,
            }),
            Entry::Doc(mut doc) => {
                let lost: Vec<String> = doc
                    .leaves
                    .iter()
                    .filter(|l| !bodies.contains(&l.body))
                    .map(|l| l.rev.to_string())
                    .collect();
                if !lost.is_empty() {
                    out.unsaved.push(Unsaved {
                        revs: doc
                            .leaves
                            .iter()
                            .map(|l| (l.rev.to_string(), Some(l.body.to_string())))
                            .collect(),
                        why: format!("the body of leaf {} is damaged or missing", lost.join(", ")),
                        id,
                    });
                    continue;
                }
                for leaf in &mut doc.leaves {
                    if leaf.parent.is_some_and(|p| !revisions.contains(&p)) {
                        out.actions.push(format!(
                            "document {id}: the revision object above leaf {} is damaged; the leaf keeps its {} ancestor ids",
                            leaf.rev,
                            leaf.ancestry.len()
                        ));
                        *leaf = leaf.with_history(None, leaf.ancestry.clone());
                    }
                }
                max_seq = max_seq.max(doc.seq);
                live.push((id, Entry::Doc(doc)));
            }
        }
    }
    let saved: FastSet<&str> = live.iter().map(|(id, _)| id.as_str()).collect();
    for (id, rev) in &known {
        if !saved.contains(id.as_str()) && !out.unsaved.iter().any(|u| &u.id == id) {
            out.unsaved.push(Unsaved {
                id: id.clone(),
                revs: vec![(rev.to_string(), None)],
                why: format!("its refs entry was in a damaged table group (revisions up to {rev} are known)"),
            });
        }
    }
    out.unsaved.sort_by(|a, b| a.id.cmp(&b.id));

    let plan = Plan { keep: &keep, rewrite: &rewrite, live: &live, max_seq, done: kept_objects };
    let next = write_layout(root, old, plan, options, &mut out)?;
    out.generation = Some(next.generation);
    Ok(out)
}

/// The entries of the refs table's intact groups with the journal's intact records applied,
/// and the highest seq seen; damaged groups become ranges, a damaged journal `lost_commits`.
fn read_entries(root: &Path, old: &Manifest, out: &mut Outcome) -> (BTreeMap<String, Entry>, Seq) {
    let mut entries: BTreeMap<String, Option<Entry>> = BTreeMap::new();
    let mut max_seq = old.table_seq;
    let refs_path = root.join(old.refs_name());
    match RefsTable::open(&refs_path) {
        Ok(table) => {
            let mut last_good: Option<String> = None;
            let mut damaged = false;
            for (g, at, read) in table.salvage_groups() {
                match read {
                    Ok(list) => {
                        if std::mem::take(&mut damaged) {
                            let before = list.first().map(|(id, _)| id.clone());
                            out.ranges.push(Range { after: last_good.clone(), before });
                        }
                        last_good = list.last().map(|(id, _)| id.clone()).or(last_good);
                        for (id, entry) in list {
                            entries.insert(id, Some(entry));
                        }
                    }
                    Err(e) => {
                        damaged = true;
                        out.actions.push(format!(
                            "{} group {g} at offset {at}: {e}; its entries are not used",
                            refs_path.display()
                        ));
                    }
                }
            }
            if damaged {
                out.ranges.push(Range { after: last_good, before: None });
            }
        }
        Err(e) => {
            out.actions.push(format!("{}: {e}; none of its entries is used", refs_path.display()));
            out.ranges.push(Range { after: None, before: None });
        }
    }
    let journal_path = root.join(old.journal_name());
    match records::salvage(&journal_path) {
        Ok(salvaged) => {
            out.lost_commits |= salvaged.lost;
            for (at, what) in &salvaged.damage {
                out.actions.push(format!(
                    "{} offset {at}: {what}; the commits there are not used",
                    journal_path.display()
                ));
            }
            for record in salvaged.records {
                for (id, entry) in record.refs {
                    entries.insert(id.to_string(), entry);
                }
            }
        }
        Err(e) => {
            out.lost_commits = true;
            out.actions.push(format!("{}: {e}; none of its records is used", journal_path.display()));
        }
    }
    let entries = entries
        .into_iter()
        .filter_map(|(id, e)| {
            if let Some(Entry::Doc(d)) = &e {
                max_seq = max_seq.max(d.seq);
            }
            e.map(|e| (id, e))
        })
        .collect();
    (entries, max_seq)
}

/// Whether the index at `path` opens, verifies and lists exactly the objects `found` in its
/// pack, at the places they were found.
fn index_matches(path: &Path, found: &[(ObjectId, pack::Loc)]) -> bool {
    let Ok(index) = index::Index::open(path) else { return false };
    if index.verify().is_err() {
        return false;
    }
    let places: FastSet<(ObjectId, u32, u32)> = found.iter().map(|(id, l)| (*id, l.block, l.inner)).collect();
    let ids: FastSet<ObjectId> = found.iter().map(|(id, _)| *id).collect();
    index.len() == ids.len() && index.iter().all(|(id, l)| places.contains(&(id, l.block, l.inner)))
}

/// Write the new generation, keep the files it drops in the quarantine, switch the manifest.
/// What the new generation holds: the sealed packs kept, the packs whose intact objects are
/// copied, the saved entries in id order, and the highest seq.
struct Plan<'a> {
    keep: &'a [PackId],
    rewrite: &'a [PackId],
    live: &'a [(String, Entry)],
    max_seq: Seq,
    /// The objects of the kept packs (they need no copy).
    done: FastSet<ObjectId>,
}

fn write_layout(
    root: &Path,
    old: &Manifest,
    plan: Plan<'_>,
    options: &Options,
    out: &mut Outcome,
) -> Result<Manifest> {
    let Plan { keep, rewrite, live, max_seq, mut done } = plan;
    let packs_dir = root.join(PACKS_DIR);
    // A repair runs without an open store (its files may not open), so it writes through
    // the real disk.
    let disk = crate::disk::real();
    let d = &*disk;
    let mut next = old.clone();
    next.generation += 1;
    next.sealed = keep.to_vec();
    next.active_index = None;
    next.active_dictionary = 0;
    next.table_seq = max_seq;

    // Objects of the kept packs need no copy; the rest is copied once, in pack order.
    let mut writer: Option<pack::writer::Writer> = None;
    let mut written: Vec<(PackId, Vec<(ObjectId, pack::Loc)>)> = Vec::new();
    for p in rewrite {
        let path = packs_dir.join(p.file_name());
        let mut copied = 0usize;
        let scanned = scan::pack(&path, &mut |oid, kind, bytes, _| {
            if !done.insert(oid) {
                return Ok(());
            }
            if writer.as_ref().is_some_and(|w| w.pending_len() >= pack::MAX_PACK_LEN) {
                if let Some(mut w) = writer.take() {
                    written.push((w.id(), w.commit()?));
                }
            }
            if writer.is_none() {
                let id = PackId(next.next_pack);
                next.next_pack += 1;
                let _ = d.remove_file(&packs_dir.join(id.file_name()));
                writer = Some(pack::writer::Writer::create(d, &packs_dir, id)?);
            }
            copied += 1;
            writer.as_mut().map_or(Ok(()), |w| w.add(oid, kind, bytes))
        });
        if scanned.is_ok() && copied > 0 {
            out.actions.push(format!("{}: {copied} intact objects copied to a new pack", path.display()));
        }
    }
    if let Some(mut w) = writer.take() {
        written.push((w.id(), w.commit()?));
    }
    for (id, objects) in &mut written {
        let _ = d.remove_file(&packs_dir.join(id.index_name()));
        index::write(d, &packs_dir.join(id.index_name()), *id, objects)?;
        next.sealed.push(*id);
        out.actions.push(format!("wrote {} with its index ({} objects)", id.file_name(), objects.len()));
    }

    // Each entry's body hint: where its shown body is now, in a new pack (whose entries the
    // index writer left sorted by id) or in a kept one.
    let kept_indexes: Vec<(PackId, index::Index)> = keep
        .iter()
        .filter_map(|p| index::Index::open(&packs_dir.join(p.index_name())).ok().map(|i| (*p, i)))
        .collect();
    let locate = |body: &ObjectId| {
        Found::in_written(&written, body).or_else(|| {
            kept_indexes.iter().find_map(|(p, i)| i.find(body).map(|loc| Found { pack: *p, loc }))
        })
    };
    let mut tables = TableWriter::create(d, &root.join(next.refs_name()))?;
    for (id, entry) in live {
        tables.push(id, entry, entry.shown_body().and_then(locate))?;
    }
    drop(kept_indexes);
    next.table_docs = tables.finish(d, &root.join(next.changes_name()))?;
    out.actions.push(format!(
        "rebuilt {} and {} ({} entries)",
        next.refs_name(),
        next.changes_name(),
        live.len()
    ));

    let active = PackId(next.next_pack);
    next.next_pack += 1;
    next.active = Some(active);
    let _ = d.remove_file(&packs_dir.join(active.file_name()));
    drop(pack::writer::Writer::create(d, &packs_dir, active)?);
    let _ = d.remove_file(&root.join(next.journal_name()));
    journal::create(d, &root.join(next.journal_name()), next.generation)?;
    crate::fsutil::sync_dir(d, &packs_dir)?;
    crate::fsutil::sync_dir(d, root)?;

    // Keep every file the new manifest drops, before the switch.
    let mut dropped: Vec<PathBuf> =
        [old.refs_name(), old.changes_name(), old.journal_name()].iter().map(|n| root.join(n)).collect();
    for p in rewrite {
        dropped.push(packs_dir.join(p.file_name()));
        if old.sealed.contains(p) {
            dropped.push(packs_dir.join(p.index_name()));
        }
    }
    if let Some(spec) = old.active_spec(0) {
        dropped.extend(spec.index.map(|name| packs_dir.join(name)));
    }
    dropped.retain(|p| p.is_file());
    let kept_dir = root.join(recovery::QUARANTINE_DIR).join(format!("repair-{:016x}", next.generation));
    d.create_dir_all(&kept_dir).map_err(Error::io(&kept_dir))?;
    let mut kept = Vec::new();
    for path in &dropped {
        let target = kept_dir.join(path.file_name().unwrap_or_default());
        let _ = d.remove_file(&target);
        if d.hard_link(path, &target).is_err() {
            let bytes = std::fs::read(path).map_err(Error::io(path))?;
            crate::fsutil::write_new(d, &target, &bytes)?;
        }
        kept.push(target);
    }
    crate::fsutil::sync_dir(d, &kept_dir)?;
    if let Some(q) = kept_dir.parent() {
        crate::fsutil::sync_dir(d, q)?;
    }

    if options.fail_before_switch {
        return Err(Error::Invalid("injected failure before the manifest switch".into()));
    }
    // The note goes first: a crash after it but before the switch leaves a note naming
    // documents the old store cannot show either, never a switch without its note.
    notes::add_repair(root, out, &kept)?;
    next.store(d, root)?;

    for path in &dropped {
        let _ = d.remove_file(path);
    }
    out.actions.push(format!(
        "switched to generation {}; the {} replaced files are kept in {}",
        next.generation,
        kept.len(),
        kept_dir.display()
    ));
    Ok(next)
}
