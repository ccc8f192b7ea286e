//! The winning revision and the conflict lists.
//!
//! Owns: the order of leaves (CouchDB `couch_doc:to_doc_info_path`).
//! Invariants:
//! 1. Leaves are ordered by the key (not deleted, pos, hash), highest first; the first is the
//!    winner. Hashes compare with `RevHash`'s order (bytewise on the printed form), so every
//!    replica picks the same winner.
//! 2. A leaf known by id only (value `None`) counts as not deleted, as in CouchDB, whose
//!    missing leaf has no `deleted` flag set.
//!
//! Spec: shared/reference/couchdb-replication.md section 3.5.

use std::cmp::Ordering;

use super::{Node, RevTree, Value};
use crate::rev::RevId;

/// A leaf of the forest.
#[derive(Clone, Debug, PartialEq)]
pub struct Leaf<'a, V> {
    pub rev: RevId,
    pub value: Option<&'a V>,
    pub deleted: bool,
}

impl<V> Leaf<'_, V> {
    /// The winner order: a greater leaf wins.
    pub fn cmp_key(&self, other: &Self) -> Ordering {
        (!self.deleted).cmp(&!other.deleted).then_with(|| self.rev.cmp(&other.rev))
    }
}

impl<V: Value> RevTree<V> {
    /// All leaves, winner first (descending by (not deleted, pos, hash)). The same order CouchDB
    /// uses for `_changes?style=all_docs`, `_conflicts` and `_deleted_conflicts`.
    pub fn leaves(&self) -> Vec<Leaf<'_, V>> {
        let mut out = Vec::new();
        let mut stack: Vec<(&Node<V>, u64)> = self.roots.iter().map(|r| (&r.node, r.pos)).collect();
        while let Some((node, pos)) = stack.pop() {
            if node.is_leaf() {
                let value = node.value.as_ref();
                let deleted = value.is_some_and(Value::deleted);
                out.push(Leaf { rev: RevId::new(pos, node.hash.clone()), value, deleted });
            }
            stack.extend(node.children.iter().map(|c| (c, pos + 1)));
        }
        out.sort_by(|a, b| b.cmp_key(a));
        out
    }

    /// The winning leaf; `None` only for an empty forest.
    pub fn winner(&self) -> Option<Leaf<'_, V>> {
        self.leaves().into_iter().next()
    }

    /// `_conflicts`: the non-deleted leaves other than the winner, in leaf order.
    pub fn conflicts(&self) -> Vec<RevId> {
        self.leaves().into_iter().skip(1).filter(|l| !l.deleted).map(|l| l.rev).collect()
    }

    /// `_deleted_conflicts`: the deleted leaves other than the winner, in leaf order.
    pub fn deleted_conflicts(&self) -> Vec<RevId> {
        self.leaves().into_iter().skip(1).filter(|l| l.deleted).map(|l| l.rev).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::*;

    fn revs_of(leaves: Vec<Leaf<'_, V>>) -> Vec<RevId> {
        leaves.into_iter().map(|l| l.rev).collect()
    }

    #[test]
    fn live_leaf_beats_deeper_deleted_leaf() {
        // leaves: 3-aa (live), 3-bb (live), 4-cc (deleted) -> winner 3-bb.
        let t = tree(vec![
            revs(3, "aa r2 r1", V(false, 1)),
            revs(3, "bb r2 r1", V(false, 2)),
            revs(4, "cc x3 r2 r1", V(true, 3)),
        ]);
        let w = t.winner().expect("non-empty");
        assert_eq!((w.rev.clone(), w.deleted, w.value), (rev("3-bb"), false, Some(&V(false, 2))));
        assert_eq!(revs_of(t.leaves()), vec![rev("3-bb"), rev("3-aa"), rev("4-cc")]);
        assert_eq!(t.conflicts(), vec![rev("3-aa")]);
        assert_eq!(t.deleted_conflicts(), vec![rev("4-cc")]);
    }

    #[test]
    fn all_deleted_picks_the_deepest() {
        // leaves: 2-x (deleted), 5-y (deleted) -> winner 5-y, the document is deleted.
        let t = tree(vec![revs(2, "x r1", V(true, 1)), revs(5, "y r4 r3 r2 r1", V(true, 2))]);
        let w = t.winner().expect("non-empty");
        assert_eq!((w.rev, w.deleted), (rev("5-y"), true));
        assert!(t.conflicts().is_empty());
        assert_eq!(t.deleted_conflicts(), vec![rev("2-x")]);
    }

    #[test]
    fn same_pos_higher_hash_wins_and_stubs_count_as_live() {
        let t = tree(vec![
            revs(2, "b a", V(true, 1)),
            Path { start: 1, nodes: vec![(h("a"), None), (h("c"), None)] },
        ]);
        // 2-c has no value: not deleted, so it beats the deleted 2-b.
        assert_eq!(
            t.winner().map(|l| (l.rev, l.deleted, l.value.is_none())),
            Some((rev("2-c"), false, true))
        );
        let t = tree(vec![revs(2, "b a", live()), revs(2, "c a", live())]);
        assert_eq!(t.winner().map(|l| l.rev), Some(rev("2-c")));
        assert!(RevTree::<V>::new().winner().is_none());
    }

    #[test]
    fn md5_hashes_compare_bytewise() {
        let lo = "0123456789abcdef0123456789abcdef";
        let hi = "f123456789abcdef0123456789abcdef";
        let t = tree(vec![revs(2, &format!("{hi} a"), live()), revs(2, &format!("{lo} a"), live())]);
        assert_eq!(t.winner().map(|l| l.rev.to_string()), Some(format!("2-{hi}")));
    }
}
