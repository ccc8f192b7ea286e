//! Property tests for merge, stem and winner (quickcheck).
//!
//! Two generators:
//! - `History`: paths cut from one "true" history in which every revision has a single parent,
//!   as with hash-derived revision ids. Paths start anywhere along a leaf's ancestry (stemmed
//!   `_revisions`) and may end on internal revisions. A revision's value is the same in every
//!   path that carries it.
//! - `Wild`: any path over a 3-letter alphabet at positions 1-7, so paths overlap a lot and
//!   often disagree about a revision's parent (a buggy or hostile peer).

use std::collections::{BTreeMap, BTreeSet};

use quickcheck::{quickcheck, Arbitrary, Gen};

use super::testutil::*;
use super::*;

const LETTERS: [&str; 4] = ["a", "b", "c", "d"];

fn pick(g: &mut Gen, n: usize) -> usize {
    usize::arbitrary(g) % n.max(1)
}

#[derive(Clone, Debug)]
struct History {
    paths: Vec<Path<V>>,
}

impl Arbitrary for History {
    fn arbitrary(g: &mut Gen) -> History {
        struct True {
            pos: u64,
            letter: usize,
            parent: Option<usize>,
            value: V,
        }
        let mut nodes: Vec<True> = Vec::new();
        for _ in 0..1 + pick(g, 14) {
            let parent = if nodes.is_empty() || pick(g, 6) == 0 { None } else { Some(pick(g, nodes.len())) };
            let pos = parent.map_or(1, |p| nodes[p].pos + 1);
            let free: Vec<usize> = (0..LETTERS.len())
                .filter(|l| !nodes.iter().any(|n| n.pos == pos && n.letter == *l))
                .collect();
            if free.is_empty() {
                continue;
            }
            let letter = free[pick(g, free.len())];
            nodes.push(True { pos, letter, parent, value: V(bool::arbitrary(g), u8::arbitrary(g) % 4) });
        }
        let paths = (0..1 + pick(g, 6))
            .map(|_| {
                let mut ancestry = vec![pick(g, nodes.len())];
                while let Some(parent) = ancestry.last().and_then(|&n| nodes[n].parent) {
                    ancestry.push(parent);
                }
                ancestry.reverse();
                let kept = &ancestry[pick(g, ancestry.len())..];
                let last = kept.len() - 1;
                let path_nodes = kept
                    .iter()
                    .enumerate()
                    .map(|(i, &n)| {
                        let carries = i == last || pick(g, 4) == 0;
                        (h(LETTERS[nodes[n].letter]), carries.then_some(nodes[n].value))
                    })
                    .collect();
                Path { start: nodes[kept[0]].pos, nodes: path_nodes }
            })
            .collect();
        History { paths }
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Self>> {
        let mut out = Vec::new();
        for i in 0..self.paths.len() {
            if self.paths.len() > 1 {
                let mut paths = self.paths.clone();
                paths.remove(i);
                out.push(History { paths });
            }
        }
        for i in 0..self.paths.len() {
            if self.paths[i].nodes.len() > 1 {
                let mut paths = self.paths.clone();
                paths[i].nodes.remove(0);
                paths[i].start += 1;
                out.push(History { paths });
            }
        }
        Box::new(out.into_iter())
    }
}

#[derive(Clone, Debug)]
struct Wild(Path<V>);

impl Arbitrary for Wild {
    fn arbitrary(g: &mut Gen) -> Wild {
        let start = 1 + pick(g, 4) as u64;
        let len = 1 + pick(g, 4);
        let nodes = (0..len)
            .map(|i| {
                let carries = if i + 1 == len { pick(g, 8) != 0 } else { pick(g, 4) == 0 };
                let value = carries.then(|| V(bool::arbitrary(g), u8::arbitrary(g) % 3));
                (h(LETTERS[pick(g, 3)]), value)
            })
            .collect();
        Wild(Path { start, nodes })
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Self>> {
        let mut out = Vec::new();
        if self.0.nodes.len() > 1 {
            let mut older = self.0.clone();
            older.nodes.pop();
            out.push(Wild(older));
            let mut newer = self.0.clone();
            newer.nodes.remove(0);
            newer.start += 1;
            out.push(Wild(newer));
        }
        Box::new(out.into_iter())
    }
}

#[derive(Clone, Debug)]
enum Op {
    Merge(Wild),
    Stem(usize),
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Op {
        if pick(g, 5) == 0 {
            Op::Stem(pick(g, 5))
        } else {
            Op::Merge(Wild::arbitrary(g))
        }
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Self>> {
        match self {
            Op::Merge(w) => Box::new(w.shrink().map(Op::Merge)),
            Op::Stem(_) => Box::new(std::iter::empty()),
        }
    }
}

fn shuffled<T: Clone>(items: &[T], mut seed: u64) -> Vec<T> {
    let mut out = items.to_vec();
    for i in (1..out.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.swap(i, (seed % (i as u64 + 1)) as usize);
    }
    out
}

fn leaf_set(t: &RevTree<V>) -> BTreeSet<RevId> {
    t.leaves().into_iter().map(|l| l.rev).collect()
}

fn rev_set(t: &RevTree<V>) -> BTreeSet<RevId> {
    t.nodes().map(|(rev, _, _)| rev).collect()
}

/// Revision -> (parent, value) for a whole forest.
fn graph(t: &RevTree<V>) -> BTreeMap<RevId, (Option<RevId>, Option<V>)> {
    t.nodes().map(|(rev, node, parent)| (rev, (parent, node.value))).collect()
}

/// The union of consistent paths, computed naively: every revision, every edge, and a value
/// where any path carries one.
fn union(paths: &[Path<V>]) -> BTreeMap<RevId, (Option<RevId>, Option<V>)> {
    let mut out: BTreeMap<RevId, (Option<RevId>, Option<V>)> = BTreeMap::new();
    for path in paths {
        let revs: Vec<RevId> = path.revs().collect();
        for (i, rev) in revs.iter().enumerate() {
            let entry = out.entry(rev.clone()).or_default();
            if i > 0 {
                entry.0 = Some(revs[i - 1].clone());
            }
            if entry.1.is_none() {
                entry.1 = path.nodes[i].1;
            }
        }
    }
    out
}

/// Each leaf's root-to-leaf path truncated to its last `limit` nodes, merged.
fn stem_oracle(t: &RevTree<V>, limit: usize) -> RevTree<V> {
    let mut out = RevTree::new();
    for mut path in t.paths() {
        let cut = path.nodes.len().saturating_sub(limit);
        path.nodes.drain(..cut);
        path.start += cut as u64;
        out.merge_path(path);
    }
    out
}

fn check_winner(t: &RevTree<V>) {
    let leaves = t.leaves();
    for pair in leaves.windows(2) {
        assert!(pair[0].cmp_key(&pair[1]).is_gt(), "leaves not strictly winner-first: {leaves:?}");
    }
    match t.winner() {
        None => assert!(t.is_empty()),
        Some(w) => {
            // The key written out independently of `Leaf::cmp_key`.
            let key = |l: &Leaf<'_, V>| (!l.value.is_some_and(|v| v.0), l.rev.pos, l.rev.hash.clone());
            let best = leaves.iter().map(key).max();
            assert_eq!(best, Some(key(&w)));
            assert!(t.is_leaf(&w.rev), "winner {} is not a leaf", w.rev);
            assert!(leaves.iter().all(|l| l.cmp_key(&w).is_le()), "a leaf beats the winner {}", w.rev);
            assert_eq!(w.deleted, w.value.is_some_and(|v| v.deleted()));
        }
    }
}

quickcheck! {
    /// (1) Without stemming the tree does not depend on the order of the paths, and it is
    /// exactly their union. Stemming once at the end therefore does not either.
    fn merge_order_does_not_matter(history: History, seed: u64) -> bool {
        let a = tree(history.paths.clone());
        let b = tree(shuffled(&history.paths, seed | 1));
        check_invariants(&a);
        assert_eq!(a, b);
        assert_eq!(graph(&a), union(&history.paths));
        assert_eq!(leaf_set(&a), leaf_set(&b));
        assert_eq!(a.winner(), b.winner());
        for limit in 1..5 {
            let (mut sa, mut sb) = (a.clone(), b.clone());
            sa.stem(limit);
            sb.stem(limit);
            assert_eq!(sa, sb);
        }
        true
    }

    /// (1, stemming between merges) CouchDB stems after every update, and then the order of
    /// arrival matters: a path mentioning an ancestor that was already stemmed away brings it
    /// back as a separate root, i.e. a spurious extra leaf (example E of section 3.3; see
    /// `interleaved_stemming_is_order_dependent`). What holds in every order: every leaf of
    /// the union is a leaf, and every extra leaf is an ancestor in the union.
    fn interleaved_stemming_keeps_every_true_leaf(history: History, seed: u64, limit: u8) -> bool {
        let limit = 1 + usize::from(limit % 4);
        let full = tree(history.paths.clone());
        let true_leaves = leaf_set(&full);
        let all = rev_set(&full);
        let mut t = RevTree::new();
        for path in shuffled(&history.paths, seed | 1) {
            t.merge_path(path);
            t.stem(limit);
            check_invariants(&t);
        }
        let leaves = leaf_set(&t);
        assert!(true_leaves.is_subset(&leaves), "{true_leaves:?} not within {leaves:?}");
        assert!(leaves.is_subset(&all));
        true
    }

    /// (2) Merging a path a second time changes nothing, whatever the forest and the path.
    fn merging_twice_is_a_no_op(paths: Vec<Wild>, extra: Wild) -> bool {
        let mut t = tree(paths.iter().map(|w| w.0.clone()).collect());
        t.merge_path(extra.0.clone());
        let before = t.clone();
        assert_eq!(t.merge_path(extra.0), Merged { outcome: MergeOutcome::InternalNode, changed: false });
        assert_eq!(t, before);
        // Every earlier path too: later merges never invalidate an earlier one.
        for w in paths {
            assert_eq!(t.merge_path(w.0), Merged { outcome: MergeOutcome::InternalNode, changed: false });
        }
        assert_eq!(t, before);
        true
    }

    /// `changed` says exactly whether the tree differs; the outcome matches what was added.
    fn merge_reports_what_it_did(paths: Vec<Wild>, extra: Wild) -> bool {
        let mut t = tree(paths.into_iter().map(|w| w.0).collect());
        let before = t.clone();
        let old_revs = rev_set(&before);
        let old_leaves = leaf_set(&before);
        let m = t.merge_path(extra.0);
        assert_eq!(m.changed, t != before);
        let new_revs = rev_set(&t);
        assert!(old_revs.is_subset(&new_revs), "a merge lost revisions");
        let added: Vec<&RevId> = new_revs.difference(&old_revs).collect();
        match m.outcome {
            MergeOutcome::InternalNode => {
                // Only regrown ancestors can be new: each has an old revision below it.
                for rev in added {
                    assert!(t.leaves_under(rev).iter().any(|l| old_revs.contains(l)), "{rev} is new");
                }
            }
            MergeOutcome::NewLeaf => {
                assert!(!added.is_empty());
                assert!(before.is_empty() || old_leaves.iter().any(|l| !t.is_leaf(l)));
            }
            MergeOutcome::NewBranch => {
                assert!(!added.is_empty() && !before.is_empty());
            }
        }
        true
    }

    /// (3) Stemming keeps every leaf and its value, equals the union of the truncated
    /// root-to-leaf paths (section 3.4), drops exactly what it reports, and is idempotent.
    /// A root-to-leaf path may keep more than `limit` nodes (see the note in `stem`), so the
    /// length check is: a leaf keeps at least min(limit, original length) nodes of history,
    /// and exactly that when it is alone under its root.
    fn stemming_keeps_leaves_and_follows_the_path_rule(paths: Vec<Wild>, history: History, limit: u8) -> bool {
        let limit = 1 + usize::from(limit % 5);
        for t in [tree(paths.into_iter().map(|w| w.0).collect()), tree(history.paths)] {
            let mut s = t.clone();
            let removed = s.stem(limit);
            check_invariants(&s);
            let leaves = |t: &RevTree<V>| -> Vec<(RevId, Option<V>)> {
                t.leaves().into_iter().map(|l| (l.rev, l.value.copied())).collect()
            };
            assert_eq!(leaves(&s), leaves(&t));
            assert_eq!(s, stem_oracle(&t, limit));
            let expected_removed: Vec<RevId> = rev_set(&t).difference(&rev_set(&s)).cloned().collect();
            assert_eq!(removed, expected_removed);
            for leaf in leaf_set(&t) {
                let before = t.ancestry(&leaf).map_or(0, |a| a.len());
                let after = s.ancestry(&leaf).map_or(0, |a| a.len());
                assert!(after >= before.min(limit), "{leaf} kept {after} of {before}");
                let root = s.ancestry(&leaf).and_then(|a| a.last().map(|(r, _)| r.clone()));
                if root.is_some_and(|r| s.leaves_under(&r).len() == 1) {
                    assert_eq!(after, before.min(limit));
                }
            }
            let again = s.clone();
            assert!(s.stem(limit).is_empty());
            assert_eq!(s, again);
        }
        true
    }

    /// (4) and (5) Under any mix of merges and stems, from paths that may disagree about
    /// ancestry: no revision appears twice, order invariants hold, the winner is the greatest
    /// leaf, and `missing` agrees with `contains`.
    fn random_operations_keep_invariants(ops: Vec<Op>, probe: Vec<Wild>) -> bool {
        let mut t = RevTree::new();
        for op in ops {
            match op {
                Op::Merge(w) => {
                    t.merge_path(w.0);
                }
                Op::Stem(limit) => {
                    t.stem(limit);
                }
            }
            check_invariants(&t);
            check_winner(&t);
        }
        let asked: Vec<RevId> = probe.iter().flat_map(|w| w.0.revs()).collect();
        let mut expected: Vec<RevId> = Vec::new();
        for rev in &asked {
            if !t.contains(rev) && !expected.contains(rev) {
                expected.push(rev.clone());
            }
        }
        assert_eq!(t.missing(&asked), expected);
        let deepest = expected.iter().map(|r| r.pos).max();
        for rev in t.possible_ancestors(&expected) {
            assert!(t.is_leaf(&rev) && deepest.is_some_and(|d| rev.pos < d));
        }
        true
    }
}

/// CouchDB's order dependence under stemming between merges (why the interleaved property
/// above only compares leaf sets loosely).
#[test]
fn interleaved_stemming_is_order_dependent() {
    let (long, short) = (revs(2, "b a", live()), revs(1, "a", live()));
    let mut first = RevTree::new();
    for p in [long.clone(), short.clone()] {
        first.merge_path(p);
        first.stem(1);
    }
    let mut second = RevTree::new();
    for p in [short, long] {
        second.merge_path(p);
        second.stem(1);
    }
    // 1-a was stemmed away before it arrived again on its own: a spurious second root.
    assert_eq!(show(&first), "[{1, a}, {2, b}]");
    assert_eq!(show(&second), "[{2, b}]");
}
