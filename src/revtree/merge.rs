//! Merging one path into the forest: CouchDB `couch_key_tree:merge/2`.
//!
//! Owns: depth alignment, regrowth above a stemmed root, `value_pref`, the outcome codes, and
//! keeping the forest free of duplicate revisions when a path joins trees.
//! Invariants:
//! 1. The result is the union of the forest and the path: every revision and every
//!    parent-child edge of either, nothing else (after the inconsistency rule below).
//! 2. Whenever CouchDB's own result has no duplicate revision, the outcome code is CouchDB's.
//!
//! The rules are on [`RevTree::merge_path`]. Where they leave CouchDB: CouchDB merges into the
//! first root that accepts the path and stops, so a path that also runs through a later root
//! (a tree split by stemming, joined again by a longer history) leaves that root's revisions
//! listed twice until its next `stem` notices and rebuilds (`repair_tree`); and a path giving a
//! known revision a second parent leaves it listed twice for good. Here the first is grafted
//! (the union) and the second is cut (first ancestry wins).
//!
//! Cost: one pass over the nodes at positions up to the path's leaf, one search for the
//! path's first known revision, and O(path length × log fan-out) for the walk: O(depth) for a
//! linear history. CouchDB's own alignment may also descend the whole tree.

use super::{chain, find_frames, root_order, MergeOutcome, Merged, Node, Path, RevTree, Root, Value};
use crate::rev::{RevHash, RevId};

/// Where the scan met a revision of the path.
#[derive(Clone, Copy, Debug)]
struct Found {
    /// Index in `roots` of the tree holding it.
    root: usize,
    /// It is that tree's root.
    is_root: bool,
    /// Its parent in the forest is not the path's previous node (inconsistent ancestry).
    conflict: bool,
}

impl<V: Value> RevTree<V> {
    /// Merge `path` into the forest: CouchDB `couch_key_tree:merge/2`, with the result being
    /// the union of the forest and the path.
    ///
    /// - The path joins the tree that holds its first known revision, or whose root it runs
    ///   through; starting above that root, it regrows the tree upward (depth = min). A path
    ///   that touches nothing becomes a new root.
    /// - If the path also runs through the roots of other trees (a tree split by stemming and
    ///   joined again by a longer history), they are grafted in, so no revision is ever listed
    ///   twice. CouchDB leaves duplicates there until its next stem repairs them.
    /// - If the path gives a known revision a different parent than the forest has (impossible
    ///   with hash-derived ids), the first ancestry wins: the path is cut just above the
    ///   deepest such revision.
    /// - Outcome: decided where the path first reaches a revision the forest does not have:
    ///   `NewLeaf` if its parent was a leaf, `NewBranch` if the parent had children,
    ///   `InternalNode` if there is no such revision (regrown ancestors do not count). A new
    ///   root is `NewBranch`, or `NewLeaf` in an empty forest. This is CouchDB's code whenever
    ///   CouchDB's own result has no duplicate revision.
    /// - Values (`value_pref`): an existing value is kept; a value replaces a missing one.
    ///
    /// Merging the same path twice changes nothing the second time.
    pub fn merge_path(&mut self, path: Path<V>) -> Merged {
        let Path { start, mut nodes } = path;
        if nodes.is_empty() {
            return Merged { outcome: MergeOutcome::InternalNode, changed: false };
        }
        let found = self.scan(start, &nodes);

        // First ancestry wins: cut the path above its deepest revision whose parent in the
        // forest differs from the path's claim.
        let cut = found.iter().rposition(|f| f.is_some_and(|f| f.conflict)).unwrap_or(0);
        // The first revision (at or below the cut) the forest already has.
        let Some(first) = (cut..nodes.len()).find(|&i| found[i].is_some()) else {
            // Nothing connects (and so nothing was cut): a new root.
            let outcome = if self.roots.is_empty() { MergeOutcome::NewLeaf } else { MergeOutcome::NewBranch };
            if let Some(node) = chain(nodes) {
                self.insert_root(Root { pos: start, node });
            }
            return Merged { outcome, changed: true };
        };
        let first_found = found[first].expect("`first` was chosen among the found revisions");
        let target = first_found.root;

        // Take out the target tree and every other tree whose root lies on the path below
        // `first`: those are grafted in where the path reaches them.
        let tail = nodes.split_off(first);
        let regrow = nodes.split_off(cut);
        let mut grafts: Vec<Option<Root<V>>> = (0..tail.len()).map(|_| None).collect();
        let mut taken: Vec<(usize, Option<usize>)> = found[first..]
            .iter()
            .enumerate()
            .skip(1)
            .filter_map(|(j, f)| f.filter(|f| f.is_root && f.root != target).map(|f| (f.root, Some(j))))
            .collect();
        taken.push((target, None));
        taken.sort_by_key(|t| std::cmp::Reverse(t.0));
        let mut tree = None;
        for (index, graft_at) in taken {
            let root = self.roots.remove(index);
            match graft_at {
                Some(j) => grafts[j] = Some(root),
                None => tree = Some(root),
            }
        }
        let mut tree = tree.expect("the target tree was in `taken`");

        let mut changed = false;
        let mut outcome = None;
        {
            let mut cur: &mut Node<V> = &mut tree.node;
            if !first_found.is_root {
                let rev = RevId::new(start + first as u64, tail[0].0.clone());
                let frames =
                    find_frames(cur, tree.pos, &rev).expect("the scan found this revision in this tree");
                let steps: Vec<usize> = frames[..frames.len() - 1].iter().map(|(_, next)| next - 1).collect();
                for step in steps {
                    cur = &mut cur.children[step];
                }
            }
            let mut tail = tail.into_iter().enumerate();
            if let Some((_, (_, value))) = tail.next() {
                changed |= value_pref(cur, value);
            }
            for (j, (hash, value)) in tail {
                let index = match cur.children.binary_search_by(|c| c.hash.cmp(&hash)) {
                    Ok(index) => index,
                    Err(index) => {
                        let child = match grafts[j].take() {
                            Some(graft) => graft.node,
                            None => {
                                if outcome.is_none() {
                                    outcome = Some(if cur.is_leaf() {
                                        MergeOutcome::NewLeaf
                                    } else {
                                        MergeOutcome::NewBranch
                                    });
                                }
                                Node::new(hash, None)
                            }
                        };
                        cur.children.insert(index, child);
                        changed = true;
                        index
                    }
                };
                cur = &mut cur.children[index];
                changed |= value_pref(cur, value);
            }
        }
        // Unreachable by construction (each graft is a root on the path below `first`, which the
        // walk reaches); kept as roots rather than lost if that ever fails.
        for graft in grafts.into_iter().flatten() {
            debug_assert!(false, "a grafted tree was not reached by the walk");
            self.insert_root(graft);
        }

        // Regrow upward: the path starts above the target's root (merged depth = min). The
        // scan guarantees `first` is then that root; checked rather than trusted.
        debug_assert!(regrow.is_empty() || first_found.is_root);
        if !regrow.is_empty() && first_found.is_root {
            let mut node = tree.node;
            for (hash, value) in regrow.into_iter().rev() {
                node = Node { hash, value, children: vec![node] };
            }
            tree = Root { pos: start + cut as u64, node };
            changed = true;
        }
        self.insert_root(tree);
        Merged { outcome: outcome.unwrap_or(MergeOutcome::InternalNode), changed }
    }

    /// Find the path's revisions in the forest, visiting only positions up to its leaf.
    fn scan(&self, start: u64, nodes: &[(RevHash, Option<V>)]) -> Vec<Option<Found>> {
        let last = start.saturating_add(nodes.len() as u64 - 1);
        let mut found = vec![None; nodes.len()];
        let mut stack: Vec<(&Node<V>, u64, Option<&RevHash>)> = Vec::new();
        for (index, root) in self.roots.iter().enumerate() {
            if root.pos > last {
                break;
            }
            stack.push((&root.node, root.pos, None));
            while let Some((node, pos, parent)) = stack.pop() {
                if pos >= start {
                    let i = (pos - start) as usize;
                    if nodes[i].0 == node.hash {
                        let conflict = i > 0 && parent.is_some_and(|p| *p != nodes[i - 1].0);
                        found[i] = Some(Found { root: index, is_root: parent.is_none(), conflict });
                    }
                }
                if pos < last {
                    stack.extend(node.children.iter().map(|c| (c, pos + 1, Some(&node.hash))));
                }
            }
        }
        found
    }

    fn insert_root(&mut self, root: Root<V>) {
        let index = self.roots.binary_search_by(|r| root_order(r, &root)).unwrap_or_else(|i| i);
        self.roots.insert(index, root);
    }
}

/// CouchDB `value_pref`: keep an existing value; a value replaces a missing one.
fn value_pref<V>(node: &mut Node<V>, value: Option<V>) -> bool {
    if node.value.is_none() && value.is_some() {
        node.value = value;
        true
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::*;
    use MergeOutcome::*;

    fn merged(outcome: MergeOutcome, changed: bool) -> Merged {
        Merged { outcome, changed }
    }

    // Section 3.3 examples A-F.

    #[test]
    fn a_extends_a_leaf() {
        let mut t = tree(vec![revs(2, "b2 a1", live())]);
        assert_eq!(t.merge_path(revs(3, "c3 b2 a1", live())), merged(NewLeaf, true));
        assert_eq!(show(&t), "[{1, a1->b2->c3}]");
    }

    #[test]
    fn b_adds_a_conflicting_branch() {
        let mut t = tree(vec![revs(2, "b2 a1", live())]);
        assert_eq!(t.merge_path(revs(2, "b9 a1", live())), merged(NewBranch, true));
        assert_eq!(show(&t), "[{1, a1->(b2 | b9)}]");
    }

    #[test]
    fn c_partial_history_extends_a_leaf() {
        let mut t = tree(vec![revs(3, "c3 b2 a1", live())]);
        assert_eq!(t.merge_path(revs(4, "d4 c3", live())), merged(NewLeaf, true));
        assert_eq!(show(&t), "[{1, a1->b2->c3->d4}]");
    }

    #[test]
    fn d_longer_history_regrows_a_stemmed_root() {
        let mut t = tree(vec![revs(4, "d4 c3", live())]);
        assert_eq!(show(&t), "[{3, c3->d4}]");
        assert_eq!(t.merge_path(revs(5, "e5 d4 c3 b2 a1", live())), merged(NewLeaf, true));
        assert_eq!(show(&t), "[{1, a1->b2->c3->d4->e5}]");
        t.stem(2);
        assert_eq!(show(&t), "[{4, d4->e5}]");
    }

    #[test]
    fn e_unconnected_stem_becomes_a_second_root() {
        let mut t = tree(vec![revs(2, "b2 a1", live())]);
        assert_eq!(t.merge_path(revs(5, "e5 d4", live())), merged(NewBranch, true));
        assert_eq!(show(&t), "[{1, a1->b2}, {4, d4->e5}]");
        let leaves: Vec<_> = t.leaves().into_iter().map(|l| l.rev).collect();
        assert_eq!(leaves, vec![rev("5-e5"), rev("2-b2")]);
        assert_eq!(t.winner().map(|l| l.rev), Some(rev("5-e5")));
    }

    #[test]
    fn f_known_internal_path_changes_nothing() {
        let mut t = tree(vec![revs(3, "c3 b2 a1", live())]);
        let before = t.clone();
        // The incoming leaf 2-b2 has no value in the tree; CouchDB's value_pref would fill it
        // in, so use a path whose nodes are all id-only to show "unchanged".
        let p = Path { start: 1, nodes: vec![(h("a1"), None), (h("b2"), None)] };
        assert_eq!(t.merge_path(p), merged(InternalNode, false));
        assert_eq!(t, before);
        // With a body for 2-b2 the shape is unchanged but the stub gains its value.
        assert_eq!(t.merge_path(revs(2, "b2 a1", V(false, 9))), merged(InternalNode, true));
        assert_eq!(t.get(&rev("2-b2")).and_then(|n| n.value), Some(V(false, 9)));
        assert_eq!(show(&t), show(&before));
    }

    #[test]
    fn first_value_wins_and_missing_is_filled() {
        let mut t = tree(vec![revs(1, "a", V(false, 1))]);
        assert_eq!(t.merge_path(revs(1, "a", V(false, 2))), merged(InternalNode, false));
        assert_eq!(t.get(&rev("1-a")).and_then(|n| n.value), Some(V(false, 1)));
    }

    #[test]
    fn new_root_in_empty_forest_is_a_new_leaf() {
        let mut t = RevTree::new();
        assert_eq!(t.merge_path(revs(4, "d c", live())), merged(NewLeaf, true));
        assert_eq!(t.merge_path(revs(1, "x", live())), merged(NewBranch, true));
        assert_eq!(show(&t), "[{1, x}, {3, c->d}]");
    }

    #[test]
    fn sibling_sorting_greater_key_is_a_new_branch() {
        let mut t = tree(vec![revs(2, "b a", live())]);
        assert_eq!(t.merge_path(revs(2, "a a", live())), merged(NewBranch, true));
        assert_eq!(t.merge_path(revs(2, "c a", live())), merged(NewBranch, true));
        assert_eq!(show(&t), "[{1, a->(a | b | c)}]");
    }

    #[test]
    fn regrowth_without_new_leaf_is_internal_but_changed() {
        let mut t = tree(vec![revs(3, "c3 b2", live())]);
        assert_eq!(t.merge_path(revs(3, "c3 b2 a1", live())), merged(InternalNode, true));
        assert_eq!(show(&t), "[{1, a1->b2->c3}]");
        assert_eq!(t.merge_path(revs(3, "c3 b2 a1", live())), merged(InternalNode, false));
    }

    #[test]
    fn path_through_two_stemmed_roots_joins_them() {
        // After stemming split a tree (section 3.4), a full history regrows and joins.
        let mut t = tree(vec![revs(3, "c9 b2 a1", live()), revs(5, "e5 d4 c3", live())]);
        assert_eq!(show(&t), "[{1, a1->b2->c9}, {3, c3->d4->e5}]");
        // CouchDB would put c3->d4->e5->f6 under b2 and leave the old {3, c3…} root as well.
        let m = t.merge_path(revs(6, "f6 e5 d4 c3 b2 a1", live()));
        assert_eq!(show(&t), "[{1, a1->b2->(c3->d4->e5->f6 | c9)}]");
        check_invariants(&t);
        // The only new revision hangs below the leaf 5-e5.
        assert_eq!(m, merged(NewLeaf, true));
    }

    #[test]
    fn path_joining_roots_without_new_revisions() {
        let mut t = tree(vec![revs(2, "b2 a1", live()), revs(4, "d4 c3", live()), revs(6, "f6 e5", live())]);
        assert_eq!(show(&t), "[{1, a1->b2}, {3, c3->d4}, {5, e5->f6}]");
        assert_eq!(t.merge_path(revs(5, "e5 d4 c3 b2", live())), merged(InternalNode, true));
        assert_eq!(show(&t), "[{1, a1->b2->c3->d4->e5->f6}]");
        check_invariants(&t);
    }

    #[test]
    fn path_starting_inside_one_root_and_reaching_another() {
        let mut t =
            tree(vec![revs(3, "c3 b2 a1", live()), revs(5, "e5 d4", live()), revs(5, "y5 x4", live())]);
        assert_eq!(show(&t), "[{1, a1->b2->c3}, {4, d4->e5}, {4, x4->y5}]");
        assert_eq!(t.merge_path(revs(6, "f6 e5 d4 c3", live())), merged(NewLeaf, true));
        assert_eq!(show(&t), "[{1, a1->b2->c3->d4->e5->f6}, {4, x4->y5}]");
        check_invariants(&t);
    }

    #[test]
    fn inconsistent_ancestry_keeps_the_first_parent() {
        // 2-b already hangs below 1-a; a path claiming 1-x -> 2-b -> 3-c is cut above 2-b.
        let mut t = tree(vec![revs(2, "b a", live())]);
        assert_eq!(t.merge_path(revs(3, "c b x", live())), merged(NewLeaf, true));
        assert_eq!(show(&t), "[{1, a->b->c}]");
        check_invariants(&t);
        // The same claim about an internal node deep in a branch.
        let mut t = tree(vec![revs(3, "c b a", live()), revs(2, "y a", live())]);
        assert_eq!(t.merge_path(revs(4, "d c y", live())), merged(NewLeaf, true));
        assert_eq!(show(&t), "[{1, a->(b->c->d | y)}]");
        check_invariants(&t);
        // A second parent claimed for a stemmed tree's inner node: only the node itself merges.
        let mut t = tree(vec![revs(5, "e5 x4", live())]);
        assert_eq!(t.merge_path(revs(5, "e5 d4", live())), merged(InternalNode, false));
        assert_eq!(show(&t), "[{4, x4->e5}]");
        // A claimed leaf that already exists elsewhere adds nothing.
        let before = t.clone();
        let m = t.merge_path(Path { start: 4, nodes: vec![(h("q4"), None), (h("e5"), None)] });
        assert_eq!(m, merged(InternalNode, false));
        assert_eq!(t, before);
    }
}
