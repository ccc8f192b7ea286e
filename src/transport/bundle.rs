//! The transport that reads a bundle file: a read-only source for `fetch` and `clone`.
//!
//! A bundle keeps no checkpoints: `get_local` finds none and `put_local` keeps nothing, so a
//! fetch from a bundle always reads all of it, and `revs_diff` on the target keeps it from
//! writing anything twice.
//!
//! Invariant: `bulk_get` costs the same per document whatever the bundle's size: documents
//! are found through an index from id to position, built once when the source is made
//! (a linear search per document made a clone from a bundle quadratic).

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::{ChangeRow, ChangesPage, Filter, Missing, PeerInfo, Revision, Transport, WriteFailure};
use crate::bundle::Bundle;
use crate::error::{Error, Result};
use crate::id::{DocId, Kind};
use crate::object::Revision as RevisionObject;
use crate::rev::RevId;

pub struct BundleSource {
    bundle: Bundle,
    /// Position in `bundle.docs` of each document id.
    by_id: HashMap<DocId, usize>,
}

impl BundleSource {
    pub fn new(bundle: Bundle) -> BundleSource {
        let mut by_id = HashMap::with_capacity(bundle.docs.len());
        for (i, (id, _)) in bundle.docs.iter().enumerate() {
            // The first record of an id wins, as a search from the front found it.
            by_id.entry(id.clone()).or_insert(i);
        }
        BundleSource { bundle, by_id }
    }
}

impl Transport for BundleSource {
    fn info(&mut self) -> Result<PeerInfo> {
        Ok(PeerInfo {
            id: format!("bundle:{}", self.bundle.source),
            update_seq: self.bundle.docs.len().to_string(),
            instance_start_time: "0".into(),
        })
    }

    fn changes(&mut self, since: &str, limit: usize, filter: &Filter) -> Result<ChangesPage> {
        let start: usize =
            since.parse().map_err(|_| Error::Invalid(format!("{since:?} is not a bundle position")))?;
        let mut page = ChangesPage { rows: Vec::new(), last_seq: start.to_string() };
        for (i, (id, doc)) in self.bundle.docs.iter().enumerate().skip(start) {
            page.last_seq = (i + 1).to_string();
            let wanted = match filter {
                Filter::All => true,
                Filter::DocIds(ids) => ids.contains(id),
                Filter::Selector(s) => {
                    let winner = &doc.leaves[0];
                    let mut body = match self.bundle.object(&winner.body) {
                        Some((Kind::Body, b)) => crate::doc::Body::parse(b)?,
                        _ => Map::new(),
                    };
                    body.insert("_id".into(), Value::String(id.to_string()));
                    body.insert("_rev".into(), Value::String(winner.rev.to_string()));
                    if doc.is_deleted() {
                        body.insert("_deleted".into(), Value::Bool(true));
                    }
                    s.matches(&body)
                }
            };
            if wanted {
                let revs = doc.leaves.iter().map(|l| l.rev.clone()).collect();
                page.rows.push(ChangeRow {
                    seq: (i + 1).to_string(),
                    id: id.clone(),
                    revs,
                    deleted: doc.is_deleted(),
                });
                if page.rows.len() >= limit {
                    break;
                }
            }
        }
        Ok(page)
    }

    fn revs_diff(&mut self, _revs: &[(DocId, Vec<RevId>)]) -> Result<Vec<Missing>> {
        Err(Error::Invalid("a bundle is read-only: it cannot be a replication target".into()))
    }

    fn bulk_get(&mut self, wanted: &[(DocId, Vec<RevId>)]) -> Result<Vec<Revision>> {
        let mut out = Vec::new();
        for (id, revs) in wanted {
            let Some((_, doc)) = self.by_id.get(id).and_then(|&i| self.bundle.docs.get(i)) else {
                continue;
            };
            let bundle = &self.bundle;
            let (tree, _) =
                crate::history::rebuild(id, doc, usize::MAX, &mut |oid| match bundle.object(oid) {
                    Some((Kind::Revision, b)) => {
                        RevisionObject::decode(b).map(Some).map_err(|e| Error::Invalid(e.to_string()))
                    }
                    _ => Ok(None),
                })?;
            out.extend(super::revisions_of(id, &tree, revs, &mut |rev, oid| {
                // Opening the bundle checked that every leaf's body is in it.
                bundle.object(oid).filter(|(k, _)| *k == Kind::Body).map(|(_, b)| b.to_vec()).ok_or_else(
                    || Error::Invalid(format!("bundle: the body of leaf {rev} of {id} is missing")),
                )
            })?);
        }
        Ok(out)
    }

    fn bulk_docs(&mut self, _revisions: Vec<Revision>) -> Result<Vec<WriteFailure>> {
        Err(Error::Invalid("a bundle is read-only: it cannot be a replication target".into()))
    }

    fn get_local(&mut self, _id: &str) -> Result<Option<Map<String, Value>>> {
        Ok(None)
    }

    fn put_local(&mut self, _id: &str, _body: &Map<String, Value>) -> Result<()> {
        Ok(())
    }

    fn ensure_full_commit(&mut self) -> Result<()> {
        Ok(())
    }

    fn open_blob(&mut self, id: &crate::id::ObjectId) -> Result<Option<super::BlobStream>> {
        Ok(self.bundle.open_blob(id)?.map(|r| Box::new(r) as super::BlobStream))
    }
}
