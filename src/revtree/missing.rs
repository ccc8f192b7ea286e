//! `_revs_diff` answers: which requested revisions a tree lacks, and which of its leaves may
//! be their ancestors.
//!
//! Owns: CouchDB `couch_key_tree:find_missing` and `couch_db`'s possible-ancestor rule.
//! Invariants:
//! 1. A revision anywhere in the forest is present, whether leaf, internal node or id-only
//!    stub.
//! 2. A possible ancestor is a leaf (deleted or not) whose position is lower than the highest
//!    missing position.
//!
//! Spec: shared/reference/couchdb-replication.md section 5.7.

use std::collections::{HashMap, HashSet};

use super::{Node, RevTree, Value};
use crate::rev::{RevHash, RevId};

impl<V> RevTree<V> {
    /// The requested revisions absent from the forest, in request order, without duplicates.
    /// One pass over the forest, whatever the number of requested revisions.
    pub fn missing(&self, revs: &[RevId]) -> Vec<RevId> {
        let mut wanted: HashMap<u64, Vec<&RevHash>> = HashMap::new();
        for rev in revs {
            wanted.entry(rev.pos).or_default().push(&rev.hash);
        }
        let deepest = revs.iter().map(|r| r.pos).max().unwrap_or(0);
        let mut present: HashSet<(u64, &RevHash)> = HashSet::new();
        let mut stack: Vec<(&Node<V>, u64)> =
            self.roots.iter().filter(|r| r.pos <= deepest).map(|r| (&r.node, r.pos)).collect();
        while let Some((node, pos)) = stack.pop() {
            if wanted.get(&pos).is_some_and(|hashes| hashes.contains(&&node.hash)) {
                present.insert((pos, &node.hash));
            }
            if pos < deepest {
                stack.extend(node.children.iter().map(|c| (c, pos + 1)));
            }
        }
        let mut seen = HashSet::new();
        revs.iter()
            .filter(|rev| !present.contains(&(rev.pos, &rev.hash)) && seen.insert(*rev))
            .cloned()
            .collect()
    }
}

impl<V: Value> RevTree<V> {
    /// `possible_ancestors` for the given missing revisions: the leaves whose position is lower
    /// than the highest missing position, in leaf order (winner first). Empty if `missing` is.
    pub fn possible_ancestors(&self, missing: &[RevId]) -> Vec<RevId> {
        let Some(highest) = missing.iter().map(|r| r.pos).max() else {
            return Vec::new();
        };
        self.leaves().into_iter().filter(|l| l.rev.pos < highest).map(|l| l.rev).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::*;

    #[test]
    fn reference_revs_diff_example() {
        // doc1 on the target: 1-a1 -> 2-b2 -> 3-c3 (leaf); a side branch 2-b2 -> 3-z3 is absent.
        let doc1 = tree(vec![revs(3, "c3 b2 a1", live())]);
        let asked = [rev("3-c3"), rev("3-x3")];
        let missing = doc1.missing(&asked);
        assert_eq!(missing, vec![rev("3-x3")]);
        // The only leaf, 3-c3, is not below position 3.
        assert!(doc1.possible_ancestors(&missing).is_empty());
        // A target whose leaf is 2-b2 offers it as a possible ancestor, as in the reference.
        let short = tree(vec![revs(2, "b2 a1", live())]);
        let missing = short.missing(&asked);
        assert_eq!(missing, vec![rev("3-c3"), rev("3-x3")]);
        assert_eq!(short.possible_ancestors(&missing), vec![rev("2-b2")]);
        // Absent document: everything missing, no ancestors.
        let absent = RevTree::<V>::new();
        assert_eq!(absent.missing(&[rev("5-aa")]), vec![rev("5-aa")]);
        assert!(absent.possible_ancestors(&[rev("5-aa")]).is_empty());
        // All present: nothing missing.
        assert!(doc1.missing(&[rev("3-c3"), rev("1-a1")]).is_empty());
    }

    #[test]
    fn internal_nodes_and_stubs_are_present_and_duplicates_collapse() {
        let t = tree(vec![revs(3, "c b a", live()), revs(5, "e d", live())]);
        let asked = [rev("9-q"), rev("2-b"), rev("4-d"), rev("9-q"), rev("3-x"), rev("1-a")];
        assert_eq!(t.missing(&asked), vec![rev("9-q"), rev("3-x")]);
        // Deleted leaves count as possible ancestors too.
        let t = tree(vec![revs(2, "b a", V(true, 0)), revs(2, "c a", live())]);
        assert_eq!(t.possible_ancestors(&[rev("3-x")]), vec![rev("2-c"), rev("2-b")]);
        assert!(t.possible_ancestors(&[rev("2-x")]).is_empty());
    }
}
