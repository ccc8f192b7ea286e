//! Stemming a forest to `revs_limit`.
//!
//! Owns: which revisions and edges survive stemming.
//! Invariants:
//! 1. The result is the union of every leaf's last `limit` root-to-leaf nodes (the rule of the
//!    reference, section 3.4: CouchDB's path-based `repair_tree`, PouchDB's `stem`), merged
//!    without regrowth. Computed directly: a node survives if some leaf below it is fewer than
//!    `limit` levels down, and the edge to a child survives if some leaf below that child is
//!    fewer than `limit` levels below the parent. Surviving nodes whose parent edge does not
//!    survive become roots.
//! 2. Leaves, and their values, always survive; stemming never regrows or joins trees.
//! 3. Stemming is idempotent.
//!
//! Note: a root-to-leaf path can keep more than `limit` nodes when a shallower leaf shares its
//! upper part. With `limit = 3` and `a1->b2->(c3 | x3->y4)`, the truncated paths are
//! `a1->b2->c3` and `b2->x3->y4`, whose union is the whole tree (CouchDB 3.x's `stem_tree`
//! keeps it whole too).

use super::{root_order, Node, RevTree, Root};
use crate::rev::RevId;

impl<V> RevTree<V> {
    /// Stem to `limit` revisions per leaf (section 3.4); `limit == 0` means no stemming.
    /// Returns the revisions dropped, sorted, so a caller can forget their bodies.
    pub fn stem(&mut self, limit: usize) -> Vec<RevId> {
        if limit == 0 {
            return Vec::new();
        }
        struct Frame<V> {
            /// The node, with its children moved to `pending`.
            node: Node<V>,
            pos: u64,
            had_children: bool,
            pending: std::vec::IntoIter<Node<V>>,
            /// Surviving children still attached, in order.
            kept: Vec<Node<V>>,
            /// Smallest distance from any child to a leaf below it.
            nearest: usize,
        }
        let frame = |mut node: Node<V>, pos| {
            let children = std::mem::take(&mut node.children);
            Frame {
                node,
                pos,
                had_children: !children.is_empty(),
                pending: children.into_iter(),
                kept: Vec::new(),
                nearest: usize::MAX,
            }
        };
        let mut roots = Vec::new();
        let mut removed = Vec::new();
        let mut stack: Vec<Frame<V>> = Vec::new();
        for root in std::mem::take(&mut self.roots) {
            stack.push(frame(root.node, root.pos));
            while let Some(top) = stack.last_mut() {
                if let Some(child) = top.pending.next() {
                    let pos = top.pos + 1;
                    stack.push(frame(child, pos));
                    continue;
                }
                let Some(done) = stack.pop() else { break };
                // Levels from this node down to its nearest leaf.
                let dist = if done.had_children { done.nearest.saturating_add(1) } else { 0 };
                let mut node = done.node;
                node.children = done.kept;
                let parent = stack.last_mut();
                let attach = parent.is_some() && dist.saturating_add(2) <= limit;
                if let Some(parent) = parent {
                    parent.nearest = parent.nearest.min(dist);
                    if attach {
                        parent.kept.push(node);
                        continue;
                    }
                }
                if dist < limit {
                    roots.push(Root { pos: done.pos, node });
                } else {
                    debug_assert!(node.children.is_empty(), "a dropped node has no attached children");
                    removed.push(RevId::new(done.pos, node.hash.clone()));
                }
            }
        }
        roots.sort_by(root_order);
        self.roots = roots;
        removed.sort();
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    #[test]
    fn reference_example_splits_a_long_branch_off() {
        // revs_limit=3, tree {1, a1->b2->(c3->d4->e5 | c3')}; c3' is spelled "c9" here.
        let mut t = tree(vec![revs(5, "e5 d4 c3 b2 a1", live()), revs(3, "c9 b2 a1", live())]);
        assert_eq!(show(&t), "[{1, a1->b2->(c3->d4->e5 | c9)}]");
        let removed = t.stem(3);
        assert!(removed.is_empty());
        assert_eq!(show(&t), "[{1, a1->b2->c9}, {3, c3->d4->e5}]");
        check_invariants(&t);
        // Idempotent.
        let again = t.clone();
        t.stem(3);
        assert_eq!(t, again);
    }

    #[test]
    fn linear_history_keeps_the_last_limit_revisions() {
        let mut t = tree(vec![revs(5, "e d c b a", live())]);
        assert_eq!(t.stem(2), vec![rev("1-a"), rev("2-b"), rev("3-c")]);
        assert_eq!(show(&t), "[{4, d->e}]");
        assert_eq!(t.get(&rev("5-e")).and_then(|n| n.value), Some(live()));
        assert!(t.stem(0).is_empty());
        assert!(t.stem(5).is_empty());
        assert_eq!(show(&t), "[{4, d->e}]");
    }

    #[test]
    fn limit_one_keeps_only_leaves() {
        let mut t = tree(vec![revs(3, "c b a", live()), revs(2, "x a", live())]);
        t.stem(1);
        assert_eq!(show(&t), "[{2, x}, {3, c}]");
    }

    #[test]
    fn shallow_leaf_can_keep_a_longer_path_alive() {
        // The union of truncated paths can leave a root-to-leaf path longer than the limit.
        let mut t = tree(vec![revs(3, "c3 b2 a1", live()), revs(4, "y4 x3 b2 a1", live())]);
        t.stem(3);
        assert_eq!(show(&t), "[{1, a1->b2->(c3 | x3->y4)}]");
        // The same result as merging the truncated paths, which is what the rule says.
        let oracle = tree(vec![revs(3, "c3 b2 a1", live()), revs(4, "y4 x3 b2", live())]);
        assert_eq!(t, oracle);
    }

    #[test]
    fn stemming_after_e_drops_shared_ancestors() {
        let mut t = tree(vec![revs(4, "d4 c3 b2 a1", live()), revs(2, "z2 a1", live())]);
        t.stem(2);
        assert_eq!(show(&t), "[{1, a1->z2}, {3, c3->d4}]");
    }
}
