//! Purge: remove leaf revisions from this store completely (CouchDB's `_purge`).
//!
//! Each purged leaf's branch goes back to where it joins a surviving branch; the document
//! keeps the rest of its tree and gets a new sequence (the changes feed shows it again), or
//! disappears from the refs and the changes feed when nothing remains. Purges are local:
//! they never replicate, and a peer that still has the revisions can bring them back. The
//! purged bodies stay in the packs until compaction finds them unreachable.

use std::sync::Arc;

use crate::error::Result;
use crate::id::{DocId, Seq};
use crate::refs::{DocRef, Entry, Leaf};
use crate::rev::RevId;
use crate::revtree::RevTree;
use crate::store::Store;

/// What a purge did to one document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Purged {
    /// The revisions that were leaves and are gone (others asked for are ignored).
    pub revs: Vec<RevId>,
    /// The document's new sequence, or `None` when nothing of it remains (or nothing changed).
    pub seq: Option<Seq>,
}

impl Store {
    /// Purge leaf revisions `revs` of `id`; revisions that are not leaves are ignored.
    pub fn purge(&mut self, id: &DocId, revs: &[RevId]) -> Result<Purged> {
        self.locked(|store| store.purge_locked(id, revs))
    }

    fn purge_locked(&mut self, id: &DocId, revs: &[RevId]) -> Result<Purged> {
        let Some(doc) = self.doc_ref(id)? else { return Ok(Purged { revs: Vec::new(), seq: None }) };
        let purged: Vec<RevId> =
            doc.leaves.iter().map(|l| l.rev.clone()).filter(|r| revs.contains(r)).collect();
        if purged.is_empty() {
            return Ok(Purged { revs: purged, seq: None });
        }
        let (tree, objects) = self.load_tree_with_objects(id, &doc)?;
        let mut remaining = RevTree::default();
        for path in tree.paths() {
            if !path.leaf().is_some_and(|leaf| purged.contains(&leaf)) {
                remaining.merge_path(path);
            }
        }
        if remaining.is_empty() {
            self.commit(vec![(Arc::from(id.as_str()), None)])?;
            return Ok(Purged { revs: purged, seq: None });
        }
        let leaf_objects = match self.persist_tree(id, &mut remaining, &objects) {
            Ok(l) => l,
            Err(e) => {
                self.abort_batch();
                return Err(e);
            }
        };
        let leaves: Vec<Leaf> = remaining
            .leaves()
            .iter()
            .filter_map(|l| leaf_objects.get(&l.rev).map(Leaf::from_revision))
            .collect();
        let seq = Seq(self.last_seq().0 + 1);
        let mut doc = DocRef { seq, leaves };
        doc.sort_leaves();
        self.commit(vec![(Arc::from(id.as_str()), Some(Entry::Doc(doc)))])?;
        Ok(Purged { revs: purged, seq: Some(seq) })
    }
}
