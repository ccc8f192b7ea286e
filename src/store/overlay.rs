//! The overlay: ref entries changed since the tables were written, by id (and the same
//! for the changes of a batch being built).
//!
//! A writer inserts one entry per changed document and looks ids up before every write, so
//! this map is on the write path of every document. It is laid out for that: entries sit in
//! a vector in insertion order, and a small hash index maps each id's 64-bit hash to the
//! newest entry with that hash (entries sharing a hash are chained). Growing the index moves
//! 16-byte slots and never touches an id's text, and a lookup of an id that is not here
//! reads only the index.
//!
//! Each entry may carry a hint of where the body it shows was committed (`Found`), which
//! the next checkpoint writes into the refs table without searching for it.
//!
//! Invariants:
//! 1. Each id appears in at most one entry; inserting it again replaces that entry's value
//!    and its hint.
//! 2. Every entry is reachable from the index slot of its id's hash by following `next`.

use std::sync::Arc;

use crate::filter::hash_bytes;
use crate::hash::FastMap;
use crate::odb::Found;
use crate::refs::Entry;

/// End of a hash chain.
const END: usize = usize::MAX;

fn hash_of(id: &str) -> u64 {
    // Tests give ids starting `collide-` two hashes only, to exercise the chains.
    #[cfg(test)]
    if let Some(rest) = id.strip_prefix("collide-") {
        return rest.len() as u64 % 2;
    }
    hash_bytes(id.as_bytes())
}

struct Slot {
    id: Arc<str>,
    /// `None`: the id's entry was removed.
    entry: Option<Entry>,
    /// Where the body the entry shows was committed, if known.
    hint: Option<Found>,
    /// The previous entry whose id has the same hash, or `END`.
    next: usize,
}

#[derive(Default)]
pub struct Overlay {
    /// Id hash -> position in `slots` of the newest entry with that hash.
    heads: FastMap<u64, usize>,
    slots: Vec<Slot>,
}

impl Overlay {
    /// Make room for `n` more ids.
    pub fn reserve(&mut self, n: usize) {
        self.heads.reserve(n);
        self.slots.reserve(n);
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Position of `id`'s entry, if any, with its hash.
    fn position(&self, id: &str) -> (u64, Option<usize>) {
        let hash = hash_of(id);
        let mut at = self.heads.get(&hash).copied().unwrap_or(END);
        while let Some(slot) = self.slots.get(at) {
            if &*slot.id == id {
                return (hash, Some(at));
            }
            at = slot.next;
        }
        (hash, None)
    }

    /// The entry of `id` if the overlay has one (`Some(None)`: removed).
    pub fn get(&self, id: &str) -> Option<&Option<Entry>> {
        self.get_hinted(id).map(|(entry, _)| entry)
    }

    /// [`Overlay::get`] with the entry's hint.
    pub fn get_hinted(&self, id: &str) -> Option<(&Option<Entry>, Option<Found>)> {
        let (_, at) = self.position(id);
        at.and_then(|at| self.slots.get(at)).map(|s| (&s.entry, s.hint))
    }

    pub fn contains_key(&self, id: &str) -> bool {
        self.position(id).1.is_some()
    }

    /// Set the entry of `id` with its hint, returning the entry it replaces.
    pub fn insert(
        &mut self,
        id: Arc<str>,
        entry: Option<Entry>,
        hint: Option<Found>,
    ) -> Option<Option<Entry>> {
        let (hash, at) = self.position(&id);
        if let Some(slot) = at.and_then(|at| self.slots.get_mut(at)) {
            slot.hint = hint;
            return Some(std::mem::replace(&mut slot.entry, entry));
        }
        let next = self.heads.insert(hash, self.slots.len()).unwrap_or(END);
        self.slots.push(Slot { id, entry, hint, next });
        None
    }

    /// Every entry with its hint, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &Option<Entry>, Option<Found>)> {
        self.slots.iter().map(|s| (&s.id, &s.entry, s.hint))
    }

    /// Every entry, in insertion order, taken out; the overlay is left empty with its
    /// capacity, to be filled again.
    pub fn take_entries(&mut self) -> Vec<(Arc<str>, Option<Entry>)> {
        self.heads.clear();
        self.slots.drain(..).map(|s| (s.id, s.entry)).collect()
    }

    /// Forget every entry. The storage keeps its capacity: a writer that filled it to a
    /// checkpoint is likely to fill it again, and reusing the pages spares faulting in
    /// fresh ones.
    pub fn clear(&mut self) {
        self.heads.clear();
        self.slots.clear();
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
    }

    /// Ids whose hashes collide share a chain and are still told apart.
    #[test]
    fn colliding_hashes_are_chained() {
        let mut o = Overlay::default();
        let ids: Vec<String> = (0..100).map(|i| format!("collide-{}", "x".repeat(i))).collect();
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(o.insert(Arc::from(id.as_str()), local(i as u64), None), None);
        }
        assert_eq!(o.heads.len(), 2, "100 ids under two hashes");
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
