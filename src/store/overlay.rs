//! The overlay: ref entries changed since the tables were written, by id (and the same
//! for the changes of a batch being built).
//!
//! A writer inserts one entry per changed document and looks ids up before every write, so
//! this map is on the write path of every document. It is laid out for that: entries sit in
//! a vector in insertion order, and an open-addressing index (linear probing, at most half
//! full) holds, per entry, its position and the upper half of its id's 64-bit hash. A lookup
//! of an id that is not here reads only the index, and so does growing it (entries keep
//! their hash). At a few hundred thousand entries the index no longer fits the CPU caches,
//! so a writer that knows which ids come next can `prefetch` their index lines.
//!
//! Ids come from outside (imports, replication peers, and later HTTP clients), so the index
//! hashes them with a keyed hash whose keys are drawn at random once per process (SipHash
//! 1-3, as `std`'s `RandomState`): ids crafted to share a bucket under one process's keys do
//! not under another's, and cannot pile into one long probe run.
//!
//! Each entry may carry a hint of where the body it shows was committed (`Found`), which
//! the next checkpoint writes into the refs table without searching for it.
//!
//! Invariants:
//! 1. Each id appears in at most one entry; inserting it again replaces that entry's value
//!    and its hint.
//! 2. Every entry has exactly one index word, reached by probing from its hash's bucket
//!    without crossing an empty word; there are fewer than 2^32 entries (checkpoints keep
//!    the store's overlay to `MAX_CHECKPOINT_ENTRIES`, and a batch is far smaller).

use std::sync::Arc;

use crate::odb::Found;
use crate::refs::Entry;
use std::hash::BuildHasher;

/// An empty index word.
const EMPTY: u64 = 0;
/// Index words at first use.
const MIN_INDEX: usize = 16;

fn hash_of(id: &str) -> u64 {
    // Tests give ids starting `collide-` two hashes only, to exercise probing.
    #[cfg(test)]
    if let Some(rest) = id.strip_prefix("collide-") {
        return rest.len() as u64 % 2;
    }
    static KEYS: std::sync::OnceLock<std::collections::hash_map::RandomState> = std::sync::OnceLock::new();
    KEYS.get_or_init(std::collections::hash_map::RandomState::new).hash_one(id.as_bytes())
}

/// The index word of the entry at `position` whose id hashes to `hash`.
fn word(hash: u64, position: usize) -> u64 {
    (hash & !0xFFFF_FFFF) | (position as u64 + 1)
}

#[derive(Clone)]
struct Slot {
    id: Arc<str>,
    /// `None`: the id's entry was removed.
    entry: Option<Entry>,
    /// Where the body the entry shows was committed, if known.
    hint: Option<Found>,
    /// The id's hash, so that growing the index reads no ids.
    hash: u64,
}

/// Where probing for an id ended.
enum Probe {
    /// At the entry in this position of `slots`.
    Found(usize),
    /// At this empty index word: the id is not here.
    Vacant(usize),
}

#[derive(Clone, Default)]
pub struct Overlay {
    /// Empty, or a power of two of words: `EMPTY`, or `word(hash, position)`.
    index: Vec<u64>,
    slots: Vec<Slot>,
}

impl Overlay {
    /// Make room for `n` more ids.
    pub fn reserve(&mut self, n: usize) {
        self.grow_for(self.slots.len() + n);
        self.slots.reserve(n);
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Start loading the index line where a lookup of `id` begins.
    pub fn prefetch(&self, id: &str) {
        if let Some(word) = self.index.get(self.bucket(hash_of(id))) {
            crate::prefetch::line(word);
        }
    }

    fn bucket(&self, hash: u64) -> usize {
        hash as usize & self.index.len().wrapping_sub(1)
    }

    fn probe(&self, id: &str, hash: u64) -> Probe {
        if self.index.is_empty() {
            return Probe::Vacant(0);
        }
        let mask = self.index.len() - 1;
        let mut at = self.bucket(hash);
        loop {
            let w = self.index.get(at).copied().unwrap_or(EMPTY);
            if w == EMPTY {
                return Probe::Vacant(at);
            }
            if (w ^ hash) >> 32 == 0 {
                let position = (w & 0xFFFF_FFFF) as usize - 1;
                if self.slots.get(position).is_some_and(|s| &*s.id == id) {
                    return Probe::Found(position);
                }
            }
            at = (at + 1) & mask;
        }
    }

    /// Make the index large enough for `entries` at most half full.
    fn grow_for(&mut self, entries: usize) {
        let wanted = (entries * 2).next_power_of_two().max(MIN_INDEX);
        if wanted <= self.index.len() {
            return;
        }
        self.index = vec![EMPTY; wanted];
        let mask = wanted - 1;
        for (position, slot) in self.slots.iter().enumerate() {
            let mut at = slot.hash as usize & mask;
            while self.index.get(at).is_some_and(|w| *w != EMPTY) {
                at = (at + 1) & mask;
            }
            if let Some(w) = self.index.get_mut(at) {
                *w = word(slot.hash, position);
            }
        }
    }

    /// The entry of `id` if the overlay has one (`Some(None)`: removed).
    pub fn get(&self, id: &str) -> Option<&Option<Entry>> {
        self.get_hinted(id).map(|(entry, _)| entry)
    }

    /// [`Overlay::get`] with the entry's hint.
    pub fn get_hinted(&self, id: &str) -> Option<(&Option<Entry>, Option<Found>)> {
        match self.probe(id, hash_of(id)) {
            Probe::Found(at) => self.slots.get(at).map(|s| (&s.entry, s.hint)),
            Probe::Vacant(_) => None,
        }
    }

    pub fn contains_key(&self, id: &str) -> bool {
        matches!(self.probe(id, hash_of(id)), Probe::Found(_))
    }

    /// Set the entry of `id` with its hint, returning the entry it replaces.
    pub fn insert(
        &mut self,
        id: Arc<str>,
        entry: Option<Entry>,
        hint: Option<Found>,
    ) -> Option<Option<Entry>> {
        self.grow_for(self.slots.len() + 1);
        let hash = hash_of(&id);
        match self.probe(&id, hash) {
            Probe::Found(at) => {
                let slot = self.slots.get_mut(at)?;
                slot.hint = hint;
                Some(std::mem::replace(&mut slot.entry, entry))
            }
            Probe::Vacant(at) => {
                if let Some(w) = self.index.get_mut(at) {
                    *w = word(hash, self.slots.len());
                }
                self.slots.push(Slot { id, entry, hint, hash });
                None
            }
        }
    }

    /// Every entry with its hint, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &Option<Entry>, Option<Found>)> {
        self.slots.iter().map(|s| (&s.id, &s.entry, s.hint))
    }

    /// Every entry, in insertion order, taken out; the overlay is left empty with its
    /// capacity, to be filled again.
    pub fn take_entries(&mut self) -> Vec<(Arc<str>, Option<Entry>)> {
        self.empty_index();
        self.slots.drain(..).map(|s| (s.id, s.entry)).collect()
    }

    /// Forget every entry. The storage keeps its capacity: a writer that filled it to a
    /// checkpoint is likely to fill it again, and reusing the pages spares faulting in
    /// fresh ones.
    pub fn clear(&mut self) {
        self.empty_index();
        self.slots.clear();
    }

    /// Set every index word to `EMPTY`, in time proportional to the entries rather than to
    /// the index when it is much larger (a batch's overlay keeps the index of its largest
    /// batch, and every later batch empties it). Each entry's word is found by probing, in
    /// reverse order of insertion: the index then is as it was just after that entry went
    /// in, so its probe crosses no word emptied before it.
    fn empty_index(&mut self) {
        if self.slots.len() * 4 >= self.index.len() {
            self.index.fill(EMPTY);
            return;
        }
        let mask = self.index.len().wrapping_sub(1);
        for (position, slot) in self.slots.iter().enumerate().rev() {
            let wanted = word(slot.hash, position);
            let mut at = slot.hash as usize & mask;
            while let Some(w) = self.index.get_mut(at) {
                match *w {
                    EMPTY => break,
                    found if found == wanted => {
                        *w = EMPTY;
                        break;
                    }
                    _ => at = (at + 1) & mask,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refs::LocalRef;

    fn local(rev: u64) -> Option<Entry> {
        Some(Entry::Local(LocalRef { rev, body: crate::id::hash_object(crate::id::Kind::Body, b"{}") }))
    }

    #[test]
    fn inserts_replace_and_lookups_find_each_id_once() {
        let mut o = Overlay::default();
        for i in 0..10_000u64 {
            assert_eq!(o.insert(Arc::from(format!("doc-{i}")), local(i), None), None);
        }
        for i in (0..10_000u64).step_by(3) {
            assert_eq!(o.insert(Arc::from(format!("doc-{i}")), None, None), Some(local(i)));
        }
        assert_eq!(o.len(), 10_000);
        for i in 0..10_000u64 {
            let want = if i % 3 == 0 { None } else { local(i) };
            assert_eq!(o.get(&format!("doc-{i}")), Some(&want));
        }
        assert!(!o.contains_key("doc-10000"));
        assert_eq!(o.iter().count(), 10_000);
        o.clear();
        assert!(o.is_empty() && o.get("doc-1").is_none());
        assert_eq!(o.insert(Arc::from("doc-1"), local(7), None), None, "filled again after clearing");
        assert_eq!(o.get("doc-1"), Some(&local(7)));
        assert_eq!(o.take_entries(), vec![(Arc::from("doc-1"), local(7))]);
        assert!(o.get("doc-1").is_none());
    }

    /// A small batch after a large one empties the large index entry by entry, and leaves
    /// it wholly empty, colliding hashes included.
    #[test]
    fn a_large_index_is_emptied_entry_by_entry() {
        let mut o = Overlay::default();
        for i in 0..1000u64 {
            o.insert(Arc::from(format!("doc-{i}")), local(i), None);
        }
        assert_eq!(o.take_entries().len(), 1000);
        let size = o.index.len();
        for round in 0..50u64 {
            for i in 0..10u64 {
                let id = if i % 2 == 0 {
                    format!("collide-{}", "x".repeat(i as usize))
                } else {
                    format!("r{round}-{i}")
                };
                assert_eq!(o.insert(Arc::from(id.as_str()), local(i), None), None, "{id}");
                assert_eq!(o.get(&id), Some(&local(i)));
            }
            assert_eq!(o.take_entries().len(), 10);
            assert_eq!(o.index.len(), size, "the index keeps its size");
            assert!(o.index.iter().all(|w| *w == EMPTY), "round {round}: every word emptied");
        }
    }

    /// Ids whose hashes collide probe past one another and are still told apart, also
    /// after the index grows.
    #[test]
    fn colliding_hashes_are_told_apart() {
        let mut o = Overlay::default();
        let ids: Vec<String> = (0..100).map(|i| format!("collide-{}", "x".repeat(i))).collect();
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(o.insert(Arc::from(id.as_str()), local(i as u64), None), None);
        }
        let hashes: std::collections::BTreeSet<u64> = o.slots.iter().map(|s| s.hash).collect();
        assert_eq!(hashes.len(), 2, "100 ids under two hashes");
        for (i, id) in ids.iter().enumerate().step_by(7) {
            assert_eq!(o.insert(Arc::from(id.as_str()), local(1000 + i as u64), None), Some(local(i as u64)));
        }
        for (i, id) in ids.iter().enumerate() {
            let want = if i % 7 == 0 { 1000 + i as u64 } else { i as u64 };
            assert_eq!(o.get(id), Some(&local(want)), "{id}");
        }
        assert_eq!(o.len(), 100);
        assert!(!o.contains_key("collide-y"));
    }
}
