//! Revision histories as stored: rebuilding a document's tree from revision objects, and
//! deciding which objects describe a tree (pure: no I/O; the caller reads and writes).
//!
//! Owns: the linking rule between revision objects. Each stored node's object names the
//! object of its nearest stored ancestor (`parent`) and the hashes from its parent up to and
//! including that ancestor (`ancestry`); with no stored ancestor, `ancestry` runs up to the
//! oldest ancestor known. A leaf's object lives inline in the ref (`refs::Leaf`).
//! Invariants:
//! 1. `rebuild` reads at most `limit` revisions per leaf and stems the result to `limit`.
//! 2. `canonical(tree)` gives, for every stored node of `tree`, an object whose links agree
//!    with `tree`; `rebuild` of the canonical leaves gives back `tree`'s shape and values.
//!
//! Spec: format-spec/objects.md.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::id::{hash_object, DocId, Kind, ObjectId};
use crate::object::Revision;
use crate::refs::DocRef;
use crate::rev::{RevHash, RevId};
use crate::revtree::{self, RevTree};

/// What a tree node holds when its revision has an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    pub deleted: bool,
    pub revision: ObjectId,
    pub body: ObjectId,
}

impl revtree::Value for NodeInfo {
    fn deleted(&self) -> bool {
        self.deleted
    }
}

/// Revision objects read while rebuilding, by id.
pub type Objects = HashMap<ObjectId, Revision>;

/// Rebuild the (stemmed) tree of document `id` from its ref's inline leaf objects, reading
/// ancestors' objects with `read`. Returns the tree and every object seen.
pub fn rebuild(
    id: &DocId,
    doc: &DocRef,
    limit: usize,
    read: &mut dyn FnMut(&ObjectId) -> Result<Option<Revision>>,
) -> Result<(RevTree<NodeInfo>, Objects)> {
    let limit = limit.max(1);
    let mut tree = RevTree::default();
    let mut objects = Objects::new();
    for leaf in &doc.leaves {
        let mut nodes: Vec<(RevHash, Option<NodeInfo>)> = Vec::new();
        let first = leaf.revision(id);
        let mut oid = hash_object(Kind::Revision, &first.encode());
        objects.insert(oid, first);
        while let Some(object) = objects.get(&oid) {
            let info = NodeInfo { deleted: object.deleted, revision: oid, body: object.body };
            nodes.push((object.rev.hash.clone(), Some(info)));
            if nodes.len() >= limit {
                break;
            }
            let (pos, parent, segment) = (object.rev.pos, object.parent, object.ancestry.clone());
            let found = match (parent, segment.last()) {
                (Some(p), Some(top)) => {
                    if let std::collections::hash_map::Entry::Vacant(slot) = objects.entry(p) {
                        if let Some(o) = read(&p)? {
                            slot.insert(o);
                        }
                    }
                    objects
                        .get(&p)
                        .filter(|o| {
                            o.rev.pos + segment.len() as u64 == pos && &o.rev.hash == top && &o.doc == id
                        })
                        .map(|_| p)
                }
                _ => None,
            };
            match found {
                Some(p) => {
                    nodes.extend(segment[..segment.len() - 1].iter().map(|h| (h.clone(), None)));
                    oid = p;
                }
                None => {
                    nodes.extend(segment.into_iter().map(|h| (h, None)));
                    break;
                }
            }
        }
        nodes.truncate(limit);
        let start =
            (leaf.rev.pos + 1).checked_sub(nodes.len() as u64).filter(|&s| s >= 1).ok_or_else(|| {
                Error::Invalid(format!("history of {id} {} reaches above position 1", leaf.rev))
            })?;
        nodes.reverse();
        tree.merge_path(revtree::Path { start, nodes });
    }
    tree.stem(limit);
    Ok((tree, objects))
}

/// The object chosen for one stored node.
pub struct Chosen {
    pub oid: ObjectId,
    pub revision: Revision,
    /// False when the node's object was already stored with these links.
    pub new: bool,
    pub leaf: bool,
}

/// How strictly existing objects must match the tree to be kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Links {
    /// An object with no stored ancestor in the tree may still link above it (to revisions
    /// stemmed out of the loaded tree): writes keep such objects.
    Loose,
    /// Every kept object links only to objects of the tree: compaction, which drops the rest.
    Exact,
}

/// The objects that describe `tree`: for every stored node, its object (kept from
/// `objects` when its links already agree with the tree, new otherwise; a new object makes
/// its stored descendants new too). Sets each node's `revision` to the chosen object.
pub fn canonical(
    id: &DocId,
    tree: &mut RevTree<NodeInfo>,
    objects: &Objects,
    links: Links,
) -> HashMap<RevId, Chosen> {
    let mut chosen: HashMap<RevId, Chosen> = HashMap::new();
    for path in tree.paths() {
        let last = path.nodes.len().saturating_sub(1);
        // The object of the nearest stored ancestor, and the hashes since it (oldest first).
        let mut anchor: Option<ObjectId> = None;
        let mut between: Vec<RevHash> = Vec::new();
        for (i, (hash, value)) in path.nodes.iter().enumerate() {
            let rev = RevId::new(path.start + i as u64, hash.clone());
            let Some(info) = value else {
                between.push(hash.clone());
                continue;
            };
            let oid = match chosen.get(&rev) {
                Some(c) => c.oid,
                None => {
                    let segment: Vec<RevHash> = between.iter().rev().cloned().collect();
                    let kept = objects.get(&info.revision).filter(|e| match anchor {
                        Some(p) => e.parent == Some(p) && e.ancestry == segment,
                        None if links == Links::Exact => e.parent.is_none() && e.ancestry == segment,
                        None => {
                            e.ancestry.len() >= segment.len() && e.ancestry[..segment.len()] == segment[..]
                        }
                    });
                    let (revision, new) = match kept {
                        Some(e) => (e.clone(), false),
                        None => (
                            Revision {
                                doc: id.clone(),
                                rev: rev.clone(),
                                deleted: info.deleted,
                                body: info.body,
                                parent: anchor,
                                ancestry: segment,
                            },
                            true,
                        ),
                    };
                    let oid = hash_object(Kind::Revision, &revision.encode());
                    chosen.insert(rev, Chosen { oid, revision, new, leaf: i == last });
                    oid
                }
            };
            anchor = Some(oid);
            between = vec![hash.clone()];
        }
    }
    tree.for_each_value_mut(|rev, value, _| {
        if let (Some(v), Some(c)) = (value.as_mut(), chosen.get(rev)) {
            v.revision = c.oid;
        }
    });
    chosen
}

/// For a document with more than one live leaf: the newest revision that is an ancestor of
/// every live leaf, with its value when this store has its revision object.
pub fn common_ancestor(tree: &RevTree<NodeInfo>, doc: &DocRef) -> Option<(RevId, Option<NodeInfo>)> {
    let live: Vec<&RevId> = doc.leaves.iter().filter(|l| !l.deleted).map(|l| &l.rev).collect();
    if live.len() < 2 {
        return None;
    }
    let first = tree.ancestry(live[0])?;
    let others: Vec<std::collections::HashSet<RevId>> = live[1..]
        .iter()
        .map(|l| tree.ancestry(l).map(|a| a.into_iter().map(|(r, _)| r).collect()).unwrap_or_default())
        .collect();
    first
        .into_iter()
        .skip(1)
        .find(|(r, _)| others.iter().all(|s| s.contains(r)))
        .map(|(r, v)| (r, v.cloned()))
}
