//! Revision trees: the forest of one document's revisions, with CouchDB's `couch_key_tree`
//! rules for merging, stemming and picking the winner.
//!
//! Owns: the shape of a document's revision forest; merging a `_revisions` path into it
//! (`merge`); stemming it to `revs_limit` (`stem`); the winner rule and conflict lists
//! (`winner`); `_revs_diff` answers (`missing`); and read-side questions (ancestry, leaves
//! under a revision, root-to-leaf paths). Not: where bodies live (the caller's `V`), which
//! edits are allowed (store), or any I/O.
//! Invariants:
//! 1. No revision (`pos`, `hash`) appears twice anywhere in the forest, and every revision has
//!    one parent (or none, at a root): the first ancestry seen for a revision is kept.
//! 2. Roots are sorted by (`pos`, `hash`); the children of a node have distinct hashes, sorted
//!    by `RevHash`'s order; a child is one position deeper than its parent.
//! 3. Nothing here recurses once per tree level: traversals use explicit stacks, including
//!    `Clone`, `Drop`, `PartialEq` and `Debug` of `Node`, so 10 000-deep histories are safe on
//!    small thread stacks.
//!
//! Spec: shared/reference/couchdb-replication.md sections 2.2, 2.3, 3.1-3.6 and 5.7.

use std::fmt;

use crate::rev::{RevHash, RevId};

mod merge;
mod missing;
mod stem;
mod winner;

#[cfg(test)]
mod proptests;

pub use winner::Leaf;

/// What a tree node stores: the caller's revision record (body reference, sequence, …).
pub trait Value: Clone + PartialEq + fmt::Debug {
    /// Whether this revision is a tombstone (`_deleted: true`).
    fn deleted(&self) -> bool;
}

/// Why a `_revisions` list or a stored forest was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("_revisions has no ids")]
    EmptyRevisions,
    #[error("_revisions start {start} is smaller than its {len} ids")]
    StartTooSmall { start: u64, len: usize },
    #[error("revision {rev} appears more than once in the tree")]
    DuplicateRev { rev: RevId },
}

/// A document's revision forest (CouchDB: a list of `{StartPos, Node}` roots).
///
/// Roots are kept sorted by (`pos`, `hash`); see the module invariants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevTree<V> {
    roots: Vec<Root<V>>,
}

impl<V> Default for RevTree<V> {
    fn default() -> Self {
        RevTree { roots: Vec::new() }
    }
}

/// One tree of the forest: its top node and that node's position (1 unless stemmed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Root<V> {
    pub pos: u64,
    pub node: Node<V>,
}

/// A revision in the tree. `value` is `None` for a revision known by id only ("missing":
/// never received, or its body dropped by compaction). `children` are sorted by hash.
pub struct Node<V> {
    pub hash: RevHash,
    pub value: Option<V>,
    pub children: Vec<Node<V>>,
}

/// A linear chain of revisions, oldest first: `nodes[i]` is at position `start + i` and the
/// last one is the leaf. Built from `_revisions` with [`Path::from_revisions`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path<V> {
    pub start: u64,
    pub nodes: Vec<(RevHash, Option<V>)>,
}

/// CouchDB's merge result codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MergeOutcome {
    /// The path's first new revision hangs below an existing leaf (or the forest was empty).
    NewLeaf,
    /// The path's first new revision is a sibling of existing revisions, or the path became a
    /// new root (a conflict, unless the caller expected it).
    NewBranch,
    /// The path brought no new revision (it ends on a revision the tree already has).
    InternalNode,
}

/// What [`RevTree::merge_path`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Merged {
    pub outcome: MergeOutcome,
    /// Whether the tree differs afterwards: a new revision, an upward regrowth, two trees
    /// joined, or a missing value filled in. CouchDB assigns a new update seq only then.
    pub changed: bool,
}

impl<V> Node<V> {
    /// A node without children.
    pub fn new(hash: RevHash, value: Option<V>) -> Node<V> {
        Node { hash, value, children: Vec::new() }
    }

    pub fn is_leaf(&self) -> bool {
        self.children.is_empty()
    }
}

impl<V> Path<V> {
    /// The path for a document carrying `_revisions: {start, ids}` (ids newest first) and the
    /// leaf's value; every node but the leaf is "missing" (CouchDB `couch_doc:to_path`).
    ///
    /// Never fails: ids that would sit at position 0 or below (`start < ids.len()`) are
    /// dropped, and no ids give an empty path, which merges as a no-op. Use
    /// [`Path::try_from_revisions`] to refuse such input instead.
    pub fn from_revisions(start: u64, ids_newest_first: &[RevHash], leaf: V) -> Path<V> {
        let keep = ids_newest_first.len().min(usize::try_from(start).unwrap_or(usize::MAX));
        let kept = &ids_newest_first[..keep];
        let first = start - keep as u64 + 1;
        let mut nodes: Vec<(RevHash, Option<V>)> =
            kept.iter().rev().map(|hash| (hash.clone(), None)).collect();
        if let Some(last) = nodes.last_mut() {
            last.1 = Some(leaf);
        }
        Path { start: first, nodes }
    }

    /// Like [`Path::from_revisions`], but refuses an empty id list or a `start` smaller than
    /// the number of ids (CouchDB answers `400 bad_request` to both).
    pub fn try_from_revisions(start: u64, ids_newest_first: &[RevHash], leaf: V) -> Result<Path<V>, Error> {
        Self::check_revisions(start, ids_newest_first.len())?;
        Ok(Self::from_revisions(start, ids_newest_first, leaf))
    }

    /// Validate the shape of `_revisions: {start, ids}` with `len` ids.
    pub fn check_revisions(start: u64, len: usize) -> Result<(), Error> {
        if len == 0 {
            return Err(Error::EmptyRevisions);
        }
        if (start as u128) < len as u128 {
            return Err(Error::StartTooSmall { start, len });
        }
        Ok(())
    }

    /// The leaf revision (the newest), if the path is not empty.
    pub fn leaf(&self) -> Option<RevId> {
        let last = self.nodes.len().checked_sub(1)?;
        Some(RevId::new(self.start + last as u64, self.nodes[last].0.clone()))
    }

    /// The revisions of the path, oldest first.
    pub fn revs(&self) -> impl Iterator<Item = RevId> + '_ {
        self.nodes.iter().enumerate().map(|(i, (hash, _))| RevId::new(self.start + i as u64, hash.clone()))
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

/// Build the linear chain `nodes[0] -> … -> nodes[last]`, bottom-up (no recursion).
fn chain<V>(nodes: Vec<(RevHash, Option<V>)>) -> Option<Node<V>> {
    let mut iter = nodes.into_iter().rev();
    let (hash, value) = iter.next()?;
    let mut node = Node::new(hash, value);
    for (hash, value) in iter {
        node = Node { hash, value, children: vec![node] };
    }
    Some(node)
}

fn root_order<V>(a: &Root<V>, b: &Root<V>) -> std::cmp::Ordering {
    a.pos.cmp(&b.pos).then_with(|| a.node.hash.cmp(&b.node.hash))
}

impl<V> RevTree<V> {
    /// An empty forest (same as `Default`).
    pub fn new() -> RevTree<V> {
        RevTree::default()
    }

    /// Build a forest from roots decoded from storage: sorts roots and children and refuses a
    /// revision that appears twice (which also catches two siblings with the same hash).
    pub fn from_roots(mut roots: Vec<Root<V>>) -> Result<RevTree<V>, Error> {
        let mut seen = std::collections::HashSet::new();
        let mut stack: Vec<(&mut Node<V>, u64)> = Vec::new();
        for root in roots.iter_mut() {
            stack.push((&mut root.node, root.pos));
            while let Some((node, pos)) = stack.pop() {
                if !seen.insert(RevId::new(pos, node.hash.clone())) {
                    return Err(Error::DuplicateRev { rev: RevId::new(pos, node.hash.clone()) });
                }
                node.children.sort_by(|a, b| a.hash.cmp(&b.hash));
                for child in node.children.iter_mut() {
                    stack.push((child, pos + 1));
                }
            }
        }
        roots.sort_by(root_order);
        Ok(RevTree { roots })
    }

    /// The roots, sorted by (`pos`, `hash`).
    pub fn roots(&self) -> &[Root<V>] {
        &self.roots
    }

    /// Take the roots out (for encoding), leaving the tree empty.
    pub fn into_roots(mut self) -> Vec<Root<V>> {
        std::mem::take(&mut self.roots)
    }

    /// Number of revisions (nodes) in the forest.
    pub fn len(&self) -> usize {
        let mut count = 0;
        let mut stack: Vec<&Node<V>> = self.roots.iter().map(|r| &r.node).collect();
        while let Some(node) = stack.pop() {
            count += 1;
            stack.extend(node.children.iter());
        }
        count
    }

    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// Whether `rev` is anywhere in the forest (leaf, internal node or missing stub).
    pub fn contains(&self, rev: &RevId) -> bool {
        self.get(rev).is_some()
    }

    /// The node of `rev`.
    pub fn get(&self, rev: &RevId) -> Option<&Node<V>> {
        self.chain_to(rev).and_then(|chain| chain.last().copied())
    }

    /// Whether `rev` is in the forest and has no children.
    pub fn is_leaf(&self, rev: &RevId) -> bool {
        self.get(rev).is_some_and(Node::is_leaf)
    }

    /// `rev` and its ancestors up to its root, newest first, with their values: what
    /// `_revisions` (ids) and `_revs_info` (status) are made from. `None` if `rev` is absent.
    pub fn ancestry(&self, rev: &RevId) -> Option<Vec<(RevId, Option<&V>)>> {
        let chain = self.chain_to(rev)?;
        let top = rev.pos + 1 - chain.len() as u64;
        Some(
            chain
                .iter()
                .enumerate()
                .rev()
                .map(|(i, node)| (RevId::new(top + i as u64, node.hash.clone()), node.value.as_ref()))
                .collect(),
        )
    }

    /// The leaves at or below `rev` (just `rev` if it is a leaf), sorted by (`pos`, `hash`);
    /// empty if `rev` is absent. CouchDB `get_key_leafs`, used for `latest=true`.
    pub fn leaves_under(&self, rev: &RevId) -> Vec<RevId> {
        let Some(top) = self.get(rev) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut stack = vec![(top, rev.pos)];
        while let Some((node, pos)) = stack.pop() {
            if node.is_leaf() {
                out.push(RevId::new(pos, node.hash.clone()));
            }
            stack.extend(node.children.iter().map(|c| (c, pos + 1)));
        }
        out.sort();
        out
    }

    /// Every revision with its node and its parent, in pre-order: roots in order, a parent
    /// before its children, children in hash order. Enough to draw a `git log --graph` view.
    pub fn nodes(&self) -> Nodes<'_, V> {
        Nodes { roots: self.roots.iter(), stack: Vec::new() }
    }

    /// Every root-to-leaf path (CouchDB `get_all_leafs_full`), roots in order, then children
    /// in hash order.
    pub fn paths(&self) -> Vec<Path<V>>
    where
        V: Clone,
    {
        let mut out = Vec::new();
        for root in &self.roots {
            let mut stack: Vec<(&Node<V>, usize)> = vec![(&root.node, 0)];
            while let Some(&(node, next)) = stack.last() {
                if node.is_leaf() {
                    let nodes = stack.iter().map(|(n, _)| (n.hash.clone(), n.value.clone())).collect();
                    out.push(Path { start: root.pos, nodes });
                }
                match (node.children.get(next), stack.last_mut()) {
                    (Some(child), Some(top)) => {
                        top.1 += 1;
                        stack.push((child, 0));
                    }
                    _ => {
                        stack.pop();
                    }
                }
            }
        }
        out
    }

    /// A tree of the same shape whose values are `f(rev, value, is_leaf)`.
    pub fn map_values<W>(&self, mut f: impl FnMut(&RevId, Option<&V>, bool) -> Option<W>) -> RevTree<W> {
        let roots = self
            .roots
            .iter()
            .map(|root| Root {
                pos: root.pos,
                node: rebuild(&root.node, root.pos, |pos, node| {
                    f(&RevId::new(pos, node.hash.clone()), node.value.as_ref(), node.is_leaf())
                }),
            })
            .collect();
        RevTree { roots }
    }

    /// Visit every value mutably with `(rev, value, is_leaf)`, e.g. to drop the bodies of
    /// internal revisions at compaction. The shape cannot change.
    pub fn for_each_value_mut(&mut self, mut f: impl FnMut(&RevId, &mut Option<V>, bool)) {
        let mut stack: Vec<(&mut Node<V>, u64)> =
            self.roots.iter_mut().map(|r| (&mut r.node, r.pos)).collect();
        while let Some((node, pos)) = stack.pop() {
            let Node { hash, value, children } = node;
            f(&RevId::new(pos, hash.clone()), value, children.is_empty());
            stack.extend(children.iter_mut().map(|c| (c, pos + 1)));
        }
    }

    /// The nodes from `rev`'s root down to `rev`, or `None` if `rev` is absent.
    fn chain_to(&self, rev: &RevId) -> Option<Vec<&Node<V>>> {
        self.roots.iter().take_while(|root| root.pos <= rev.pos).find_map(|root| {
            find_frames(&root.node, root.pos, rev).map(|frames| frames.into_iter().map(|(n, _)| n).collect())
        })
    }
}

/// Depth-first search below `top` (at position `top_pos`) for `rev`. On success returns the
/// frames from `top` to `rev`: each node with one more than the index of the next frame's
/// node among its children (so `frames[i].1 - 1` is the child index taken).
fn find_frames<'a, V>(top: &'a Node<V>, top_pos: u64, rev: &RevId) -> Option<Vec<(&'a Node<V>, usize)>> {
    let depth = usize::try_from(rev.pos.checked_sub(top_pos)?).ok()?;
    if depth == 0 {
        return (top.hash == rev.hash).then(|| vec![(top, 0)]);
    }
    let mut stack: Vec<(&'a Node<V>, usize)> = vec![(top, 0)];
    loop {
        let level = stack.len().wrapping_sub(1);
        let Some((node, next)) = stack.last_mut() else {
            break;
        };
        let node: &'a Node<V> = node;
        if level + 1 == depth {
            // The target would be a child of this node: children are sorted by hash.
            if let Ok(i) = node.children.binary_search_by(|c| c.hash.cmp(&rev.hash)) {
                *next = i + 1;
                stack.push((&node.children[i], 0));
                return Some(stack);
            }
            stack.pop();
        } else if let Some(child) = node.children.get(*next) {
            *next += 1;
            stack.push((child, 0));
        } else {
            stack.pop();
        }
    }
    None
}

/// Rebuild the tree under `top` (at `top_pos`) with values `f(pos, node)`, bottom-up with an
/// explicit stack.
fn rebuild<V, W>(top: &Node<V>, top_pos: u64, mut f: impl FnMut(u64, &Node<V>) -> Option<W>) -> Node<W> {
    struct Frame<'a, V, W> {
        src: &'a Node<V>,
        pos: u64,
        next: usize,
        built: Vec<Node<W>>,
    }
    fn frame<V, W>(src: &Node<V>, pos: u64) -> Frame<'_, V, W> {
        Frame { src, pos, next: 0, built: Vec::with_capacity(src.children.len()) }
    }
    let mut stack = vec![frame(top, top_pos)];
    let mut done = Vec::with_capacity(1);
    while let Some(mut top) = stack.pop() {
        if let Some(child) = top.src.children.get(top.next) {
            top.next += 1;
            let child = frame(child, top.pos + 1);
            stack.push(top);
            stack.push(child);
        } else {
            let node = Node { hash: top.src.hash.clone(), value: f(top.pos, top.src), children: top.built };
            match stack.last_mut() {
                Some(parent) => parent.built.push(node),
                None => done.push(node),
            }
        }
    }
    done.pop().expect("the top frame is finished last, because every other frame has a parent")
}

/// Iterator returned by [`RevTree::nodes`]: `(rev, node, parent rev)` in pre-order.
pub struct Nodes<'a, V> {
    roots: std::slice::Iter<'a, Root<V>>,
    stack: Vec<(&'a Node<V>, u64, Option<&'a RevHash>)>,
}

impl<'a, V> Iterator for Nodes<'a, V> {
    type Item = (RevId, &'a Node<V>, Option<RevId>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.stack.is_empty() {
            let root = self.roots.next()?;
            self.stack.push((&root.node, root.pos, None));
        }
        let (node, pos, parent) = self.stack.pop()?;
        self.stack.extend(node.children.iter().rev().map(|c| (c, pos + 1, Some(&node.hash))));
        let parent = parent.map(|hash| RevId::new(pos - 1, hash.clone()));
        Some((RevId::new(pos, node.hash.clone()), node, parent))
    }
}

// `Node` is recursive; the derived `Clone`, `PartialEq`, `Debug` and drop glue would recurse
// once per level. These use explicit stacks instead (module invariant 3).

impl<V> Drop for Node<V> {
    fn drop(&mut self) {
        if self.children.iter().all(Node::is_leaf) {
            return;
        }
        let mut stack = std::mem::take(&mut self.children);
        while let Some(mut node) = stack.pop() {
            stack.append(&mut node.children);
        }
    }
}

impl<V: Clone> Clone for Node<V> {
    fn clone(&self) -> Self {
        rebuild(self, 0, |_, node| node.value.clone())
    }
}

impl<V: PartialEq> PartialEq for Node<V> {
    fn eq(&self, other: &Self) -> bool {
        let mut stack = vec![(self, other)];
        while let Some((a, b)) = stack.pop() {
            if a.hash != b.hash || a.value != b.value || a.children.len() != b.children.len() {
                return false;
            }
            stack.extend(a.children.iter().zip(&b.children));
        }
        true
    }
}

impl<V: Eq> Eq for Node<V> {}

/// `hash=value [child, child …]`, with `missing` for a node without value.
impl<V: fmt::Debug> fmt::Debug for Node<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn head<V: fmt::Debug>(f: &mut fmt::Formatter<'_>, node: &Node<V>) -> fmt::Result {
            match &node.value {
                Some(value) => write!(f, "{:?}={:?}", node.hash, value),
                None => write!(f, "{:?}=missing", node.hash),
            }
        }
        head(f, self)?;
        let mut stack: Vec<(&Node<V>, usize)> = vec![(self, 0)];
        while let Some((node, next)) = stack.last_mut() {
            let node: &Node<V> = node;
            if let Some(child) = node.children.get(*next) {
                f.write_str(if *next == 0 { " [" } else { ", " })?;
                *next += 1;
                head(f, child)?;
                stack.push((child, 0));
            } else {
                if !node.children.is_empty() {
                    f.write_str("]")?;
                }
                stack.pop();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Shared helpers for the unit and property tests.
    use super::*;

    /// A test value: (deleted, tag).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct V(pub bool, pub u8);

    impl Value for V {
        fn deleted(&self) -> bool {
            self.0
        }
    }

    pub fn h(s: &str) -> RevHash {
        RevHash::parse(s).expect("test hashes are valid")
    }

    pub fn rev(s: &str) -> RevId {
        RevId::parse(s).expect("test revisions are valid")
    }

    /// The path for `_revisions: {start, ids}` (ids newest first, space separated).
    pub fn revs(start: u64, ids: &str, leaf: V) -> Path<V> {
        let ids: Vec<RevHash> = ids.split_whitespace().map(h).collect();
        Path::try_from_revisions(start, &ids, leaf).expect("test paths are valid")
    }

    /// A live leaf value.
    pub fn live() -> V {
        V(false, 0)
    }

    pub fn tree(paths: Vec<Path<V>>) -> RevTree<V> {
        let mut t = RevTree::new();
        for p in paths {
            t.merge_path(p);
        }
        t
    }

    /// The forest in the reference's notation: `[{1, a1->b2->(c3 | b9)}]` (hashes only).
    pub fn show<W>(t: &RevTree<W>) -> String {
        let mut out = String::from("[");
        for (i, root) in t.roots().iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&format!("{{{}, {}", root.pos, root.node.hash));
            // Frames: node, next child index.
            let mut stack: Vec<(&Node<W>, usize)> = vec![(&root.node, 0)];
            while let Some((node, next)) = stack.last_mut() {
                let node: &Node<W> = node;
                let many = node.children.len() > 1;
                if let Some(child) = node.children.get(*next) {
                    out.push_str(match (*next, many) {
                        (0, false) => "->",
                        (0, true) => "->(",
                        _ => " | ",
                    });
                    *next += 1;
                    out.push_str(&child.hash.to_string());
                    stack.push((child, 0));
                } else {
                    if many {
                        out.push(')');
                    }
                    stack.pop();
                }
            }
            out.push('}');
        }
        out.push(']');
        out
    }

    /// Check the module invariants; panics with a description if one fails.
    pub fn check_invariants<W: PartialEq + std::fmt::Debug>(t: &RevTree<W>) {
        let mut seen = std::collections::HashSet::new();
        for pair in t.roots().windows(2) {
            assert!(root_order(&pair[0], &pair[1]).is_lt(), "roots not sorted: {}", show(t));
        }
        for (rev, node, parent) in t.nodes() {
            assert!(seen.insert(rev.clone()), "{rev} appears twice in {}", show(t));
            for pair in node.children.windows(2) {
                assert!(pair[0].hash < pair[1].hash, "children of {rev} not sorted: {}", show(t));
            }
            if let Some(parent) = parent {
                assert_eq!(parent.pos + 1, rev.pos);
            }
        }
        assert_eq!(seen.len(), t.len());
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    #[test]
    fn from_revisions_builds_oldest_first_with_missing_ancestors() {
        let p = revs(3, "c3 b2 a1", V(false, 7));
        assert_eq!(p.start, 1);
        assert_eq!(p.nodes, vec![(h("a1"), None), (h("b2"), None), (h("c3"), Some(V(false, 7)))]);
        assert_eq!(p.leaf(), Some(rev("3-c3")));
        // Stemmed history: the oldest listed id is above position 1.
        let p = revs(5, "e5 d4", live());
        assert_eq!(p.start, 4);
        assert_eq!(p.revs().collect::<Vec<_>>(), vec![rev("4-d4"), rev("5-e5")]);
    }

    #[test]
    fn from_revisions_refuses_or_clamps_bad_shapes() {
        let ids = [h("b"), h("a")];
        assert_eq!(Path::try_from_revisions(1, &ids, live()), Err(Error::StartTooSmall { start: 1, len: 2 }));
        assert_eq!(Path::<V>::try_from_revisions(1, &[], live()), Err(Error::EmptyRevisions));
        // The infallible form drops ids that would sit at position 0.
        let p = Path::from_revisions(1, &ids, live());
        assert_eq!((p.start, p.nodes.len()), (1, 1));
        assert_eq!(p.leaf(), Some(rev("1-b")));
        let mut t = RevTree::new();
        let m = t.merge_path(Path::from_revisions(0, &ids, live()));
        assert_eq!(m, Merged { outcome: MergeOutcome::InternalNode, changed: false });
        assert!(t.is_empty());
    }

    #[test]
    fn queries_on_a_small_forest() {
        // [{1, a1->b2->(c3 | x3)}, {4, d4->e5}]
        let t = tree(vec![
            revs(3, "c3 b2 a1", V(false, 3)),
            revs(3, "x3 b2 a1", V(true, 4)),
            revs(5, "e5 d4", V(false, 5)),
        ]);
        assert_eq!(show(&t), "[{1, a1->b2->(c3 | x3)}, {4, d4->e5}]");
        assert_eq!(t.len(), 6);
        assert!(t.contains(&rev("2-b2")) && t.contains(&rev("4-d4")));
        assert!(!t.contains(&rev("3-b2")) && !t.contains(&rev("2-zz")));
        assert!(t.is_leaf(&rev("3-x3")) && !t.is_leaf(&rev("2-b2")) && !t.is_leaf(&rev("9-q")));
        assert_eq!(t.get(&rev("3-x3")).and_then(|n| n.value), Some(V(true, 4)));
        assert_eq!(
            t.ancestry(&rev("3-c3")),
            Some(vec![(rev("3-c3"), Some(&V(false, 3))), (rev("2-b2"), None), (rev("1-a1"), None)])
        );
        assert_eq!(t.ancestry(&rev("5-e5")).map(|a| a.len()), Some(2));
        assert_eq!(t.ancestry(&rev("5-zz")), None);
        assert_eq!(t.leaves_under(&rev("1-a1")), vec![rev("3-c3"), rev("3-x3")]);
        assert_eq!(t.leaves_under(&rev("5-e5")), vec![rev("5-e5")]);
        assert!(t.leaves_under(&rev("2-zz")).is_empty());
        let paths = t.paths();
        assert_eq!(paths.len(), 3);
        assert_eq!(paths[1], revs(3, "x3 b2 a1", V(true, 4)));
        assert_eq!(paths[2].start, 4);
        let listed: Vec<String> = t
            .nodes()
            .map(|(r, _, p)| format!("{r}<{}", p.map_or(String::from("-"), |p| p.to_string())))
            .collect();
        assert_eq!(listed, ["1-a1<-", "2-b2<1-a1", "3-c3<2-b2", "3-x3<2-b2", "4-d4<-", "5-e5<4-d4"]);
        let leafy = t.map_values(|_, _, leaf| Some(leaf));
        assert_eq!(leafy.get(&rev("2-b2")).and_then(|n| n.value), Some(false));
        assert_eq!(leafy.get(&rev("5-e5")).and_then(|n| n.value), Some(true));
        assert_eq!(RevTree::from_roots(t.clone().into_roots()), Ok(t));
    }

    #[test]
    fn compaction_style_value_edit() {
        let mut t = tree(vec![revs(1, "a1", V(false, 1)), revs(2, "b2 a1", V(false, 2))]);
        t.for_each_value_mut(|_, value, leaf| {
            if !leaf {
                *value = None;
            }
        });
        assert_eq!(
            t.ancestry(&rev("2-b2")),
            Some(vec![(rev("2-b2"), Some(&V(false, 2))), (rev("1-a1"), None)])
        );
    }

    #[test]
    fn from_roots_sorts_and_refuses_duplicates() {
        let mut a = Node::new(h("a"), Some(live()));
        a.children = vec![Node::new(h("c"), None), Node::new(h("b"), None)];
        let t = RevTree::from_roots(vec![
            Root { pos: 2, node: Node::new(h("z"), None) },
            Root { pos: 1, node: a },
        ])
        .expect("valid");
        assert_eq!(show(&t), "[{1, a->(b | c)}, {2, z}]");
        let mut a = Node::new(h("a"), None);
        a.children = vec![Node::new(h("b"), None)];
        let dup = RevTree::from_roots(vec![
            Root { pos: 1, node: a },
            Root { pos: 2, node: Node::<V>::new(h("b"), None) },
        ]);
        assert_eq!(dup, Err(Error::DuplicateRev { rev: rev("2-b") }));
    }

    #[test]
    fn debug_is_flat_and_readable() {
        let t = tree(vec![revs(2, "b a", V(false, 1)), revs(2, "c a", V(true, 2))]);
        assert_eq!(format!("{:?}", t.roots()[0].node), "a=missing [b=V(false, 1), c=V(true, 2)]");
    }

    /// A 10 000-deep history must not recurse per level anywhere: run everything on a thread
    /// with a 256 KiB stack.
    #[test]
    fn deep_history_does_not_overflow_the_stack() {
        let worker = std::thread::Builder::new().stack_size(256 * 1024).spawn(|| {
            const DEPTH: u64 = 10_000;
            let ids: Vec<RevHash> = (1..=DEPTH).rev().map(|i| h(&format!("r{i}"))).collect();
            let mut t = RevTree::new();
            let m = t.merge_path(Path::from_revisions(DEPTH, &ids, V(false, 1)));
            assert_eq!(m.outcome, MergeOutcome::NewLeaf);
            assert_eq!(t.len(), DEPTH as usize);
            // Extend the leaf with a short path, then with the full history.
            let m = t.merge_path(revs(DEPTH + 1, &format!("n r{DEPTH}"), V(false, 2)));
            assert_eq!(m, Merged { outcome: MergeOutcome::NewLeaf, changed: true });
            let mut full = ids.clone();
            full.insert(0, h("n"));
            full.insert(0, h("m"));
            let m = t.merge_path(Path::from_revisions(DEPTH + 2, &full, V(false, 3)));
            assert_eq!(m, Merged { outcome: MergeOutcome::NewLeaf, changed: true });
            let copy = t.clone();
            assert_eq!(copy, t);
            assert_eq!(format!("{copy:?}").len(), format!("{t:?}").len());
            assert_eq!(t.ancestry(&rev("10002-m")).map(|a| a.len()), Some(DEPTH as usize + 2));
            assert_eq!(t.leaves_under(&rev("1-r1")), vec![rev("10002-m")]);
            assert_eq!(t.paths().len(), 1);
            assert_eq!(t.nodes().count(), DEPTH as usize + 2);
            assert!(!t.missing(&[rev("5000-r5000")]).iter().any(|_| true));
            let mapped = t.map_values(|_, v, _| v.copied());
            assert_eq!(mapped, t);
            drop(copy);
            drop(mapped);
            let removed = t.stem(1000);
            assert_eq!(removed.len(), DEPTH as usize + 2 - 1000);
            assert_eq!(t.roots()[0].pos, DEPTH + 2 - 999);
            assert_eq!(t.winner().map(|l| l.rev), Some(rev("10002-m")));
        });
        worker.expect("spawn").join().expect("deep tree operations stay within a small stack");
    }
}
