//! Resolving conflicts: one commit that writes the chosen body as a child of the winner and
//! a tombstone on every other live leaf, so that after a sync the conflict is gone on every
//! replica; and the common ancestor a three-way merge starts from.

use serde_json::{Map, Value};

use super::{Op, Store};
use crate::doc::Body;
use crate::error::{Error, Result};
use crate::id::DocId;
use crate::rev::RevId;

/// What `resolve` wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The new winner (child of the old one).
    pub rev: RevId,
    /// The tombstones written on the other live leaves.
    pub tombstones: Vec<RevId>,
}

impl Store {
    /// The live leaves of `id`, winner first, with their bodies.
    pub fn live_leaves(&self, id: &DocId) -> Result<Vec<(RevId, Map<String, Value>)>> {
        let doc = self.doc_ref(id)?.ok_or_else(|| Error::NotFound { id: id.to_string(), why: "missing" })?;
        doc.leaves
            .iter()
            .filter(|l| !l.deleted)
            .map(|l| Ok((l.rev.clone(), self.body_map(id, &l.rev, &l.body)?)))
            .collect()
    }

    /// The newest revision that is an ancestor of every live leaf of `id`, with its body,
    /// when the document is in conflict and that body is still stored.
    pub fn common_ancestor(&self, id: &DocId) -> Result<Option<(RevId, Map<String, Value>)>> {
        let Some(doc) = self.doc_ref(id)? else { return Ok(None) };
        if doc.leaves.iter().filter(|l| !l.deleted).count() < 2 {
            return Ok(None);
        }
        let tree = self.load_tree(id, &doc)?;
        let Some((rev, value)) = crate::history::common_ancestor(&tree, &doc) else { return Ok(None) };
        match value {
            Some(v) if self.odb().contains(&v.body) => {
                Ok(Some((rev.clone(), self.body_map(id, &rev, &v.body)?)))
            }
            _ => Ok(None),
        }
    }

    /// Write `body` as a child of the winner of `id` and a tombstone on every other live
    /// leaf, in one commit.
    pub fn resolve(&mut self, id: &DocId, body: &Map<String, Value>) -> Result<Resolved> {
        self.locked(|store| store.resolve_locked(id, body))
    }

    fn resolve_locked(&mut self, id: &DocId, body: &Map<String, Value>) -> Result<Resolved> {
        let doc = self.doc_ref(id)?.ok_or_else(|| Error::NotFound { id: id.to_string(), why: "missing" })?;
        let winner = doc
            .winner()
            .filter(|w| !w.deleted)
            .cloned()
            .ok_or_else(|| Error::NotFound { id: id.to_string(), why: "deleted" })?;
        let others: Vec<RevId> =
            doc.leaves.iter().skip(1).filter(|l| !l.deleted).map(|l| l.rev.clone()).collect();
        let mut ops = vec![Op::Edit {
            id: id.clone(),
            base: Some(winner.rev),
            deleted: false,
            body: Body::from_map(body),
        }];
        ops.extend(others.iter().map(|r| Op::Edit {
            id: id.clone(),
            base: Some(r.clone()),
            deleted: true,
            body: Body::empty(),
        }));
        let mut results = self.write(ops)?.into_iter();
        let rev = results.next().ok_or_else(|| Error::Invalid("resolve wrote nothing".into()))??.rev;
        let tombstones = results.map(|r| r.map(|w| w.rev)).collect::<Result<Vec<_>>>()?;
        Ok(Resolved { rev, tombstones })
    }
}
