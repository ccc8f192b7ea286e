//! Iterating the store: the changes feed (each document once, at its latest sequence) and
//! documents in id order (for `ls` and `export`).
//!
//! Invariant: the tables hold everything up to `manifest.table_seq`; overlay entries are newer
//! and replace the table's row for the same id.

use super::Snapshot;
use crate::error::Result;
use crate::id::{DocId, Seq};
use crate::odb::Found;
use crate::refs::table::key_prefix;
use crate::refs::{DocRef, Entry};

/// One row of the changes feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub seq: Seq,
    pub id: DocId,
    pub doc: DocRef,
}

impl Change {
    /// The winner is a tombstone (every leaf is deleted).
    pub fn deleted(&self) -> bool {
        self.doc.is_deleted()
    }
}

impl Snapshot {
    /// The sequence of the document whose refs entry is at `at`.
    fn seq_at(&self, at: usize) -> Result<Seq> {
        match self.refs.entry_at(at)?.1 {
            Entry::Doc(d) => Ok(d.seq),
            Entry::Local(_) => Err(crate::error::Error::corrupt(
                self.refs.path(),
                at as u64,
                "changes row names a _local entry",
            )),
        }
    }

    /// Index of the first changes-table row with a sequence after `since`.
    fn first_row_after(&self, since: Seq) -> Result<usize> {
        let (mut lo, mut hi) = (0, self.changes.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.seq_at(self.changes.row(mid)?)? <= since {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// Changes after `since`, oldest first, each document once at its latest sequence.
    pub fn changes(&self, since: Seq) -> impl Iterator<Item = Result<Change>> + '_ {
        let (mut i, mut fail) = match self.first_row_after(since) {
            Ok(i) => (i, None),
            Err(e) => (self.changes.len(), Some(e)),
        };
        let first = self.overlay_changes.partition_point(|(seq, _)| *seq <= since);
        let mut overlay = self.overlay_changes.get(first..).unwrap_or_default().iter();
        let check_overlay = !self.overlay.is_empty();
        std::iter::from_fn(move || {
            if let Some(e) = fail.take() {
                return Some(Err(e));
            }
            while i < self.changes.len() {
                let row = self.changes.row(i).and_then(|at| self.refs.entry_at(at));
                i += 1;
                match row {
                    Err(e) => return Some(Err(e)),
                    Ok((id, Entry::Doc(doc))) => {
                        if check_overlay && self.overlay.contains_key(id.as_str()) {
                            continue;
                        }
                        return Some(Ok(Change { seq: doc.seq, id: DocId::from_stored(&id), doc }));
                    }
                    Ok(_) => continue,
                }
            }
            for (seq, id) in overlay.by_ref() {
                match self.overlay.get(id) {
                    Some(Some(Entry::Doc(doc))) if doc.seq == *seq => {
                        return Some(Ok(Change { seq: *seq, id: DocId::from_stored(id), doc: doc.clone() }));
                    }
                    _ => continue,
                }
            }
            None
        })
    }

    /// The overlay's entries with id `>= start` and their hints, in id order (`None`:
    /// removed).
    pub(super) fn overlay_from(&self, start: &str) -> Vec<(&str, &Option<Entry>, Option<Found>)> {
        // Sorted by each id's first 16 bytes held inline, then by the whole id: most
        // comparisons then read no id text (a cache miss each, with hundreds of thousands).
        let mut pending: Vec<(u128, &str, &Option<Entry>, Option<Found>)> = self
            .overlay
            .iter()
            .filter(|(k, _, _)| &***k >= start)
            .map(|(k, v, h)| (key_prefix(k.as_bytes()), &**k, v, h))
            .collect();
        pending.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
        pending.into_iter().map(|(_, k, v, h)| (k, v, h)).collect()
    }

    /// Every entry (documents and `_local` ids) with id `>= start`, in id order.
    pub fn entries_from(&self, start: &str) -> impl Iterator<Item = Result<(String, Entry)>> + '_ {
        let mut pending = self.overlay_from(start).into_iter().map(|(k, v, _)| (k, v)).peekable();
        let (mut cursor, mut fail) = match self.refs.lower_bound(start) {
            Ok(c) => (Some(c), None),
            Err(e) => (None, Some(e)),
        };
        let mut table_next: Option<(String, Entry)> = None;
        std::iter::from_fn(move || loop {
            if let Some(e) = fail.take() {
                return Some(Err(e));
            }
            if table_next.is_none() {
                match cursor.as_mut().and_then(|c| self.refs.next(c)) {
                    Some(Ok(entry)) => table_next = Some(entry),
                    Some(Err(e)) => {
                        cursor = None;
                        return Some(Err(e));
                    }
                    None => cursor = None,
                }
            }
            let take_overlay = match (pending.peek(), &table_next) {
                (None, None) => return None,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some((k, _)), Some((t, _))) => *k <= t.as_str(),
            };
            if take_overlay {
                let (k, v) = pending.next()?;
                if table_next.as_ref().is_some_and(|(t, _)| t == k) {
                    table_next = None;
                }
                if let Some(e) = v {
                    return Some(Ok((k.to_string(), e.clone())));
                }
                continue;
            }
            return table_next.take().map(Ok);
        })
    }

    /// Replicated documents with id in `[start, end]`, in id order (deleted ones included).
    pub fn docs(
        &self,
        start: Option<&str>,
        end: Option<&str>,
    ) -> impl Iterator<Item = Result<(DocId, DocRef)>> + '_ {
        let end = end.map(str::to_string);
        self.entries_from(start.unwrap_or(""))
            .take_while(move |r| match (r, &end) {
                (Ok((id, _)), Some(end)) => id.as_str() <= end.as_str(),
                _ => true,
            })
            .filter_map(|r| match r {
                Ok((id, Entry::Doc(d))) => Some(Ok((DocId::from_stored(&id), d))),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            })
    }
}
