//! The transport to a settee store on this machine (or the replicating store itself).
//!
//! Invariant: the store is opened for writing (replication writes checkpoints to both
//! sides), so the peer must not be locked by another writer for the duration.

use serde_json::{Map, Value};

use super::{
    BlobStream, ChangeRow, ChangesPage, Filter, Missing, PeerInfo, Revision, Transport, WriteFailure,
};
use crate::blob;
use crate::error::{Error, Result};
use crate::hash::FastMap;
use crate::id::{DocId, ObjectId, Seq};
use crate::refs::DocRef;
use crate::rev::RevId;
use crate::store::{Op, Store};

pub struct LocalStore<'a> {
    store: &'a mut Store,
    /// The refs of the documents the latest change pages listed, valid while the store's
    /// last sequence is `recent_seq`: `bulk_get` usually asks for just those, and need not
    /// look them up again.
    recent: FastMap<DocId, DocRef>,
    recent_seq: Seq,
}

/// Refs kept from change pages; past this many, the older pages' are forgotten.
const RECENT_REFS: usize = 1 << 16;

impl<'a> LocalStore<'a> {
    pub fn new(store: &'a mut Store) -> LocalStore<'a> {
        LocalStore { store, recent: FastMap::default(), recent_seq: Seq(0) }
    }
}

fn parse_seq(since: &str) -> Result<Seq> {
    if since.is_empty() {
        return Ok(Seq(0));
    }
    since.parse().map(Seq).map_err(|_| Error::Invalid(format!("{since:?} is not a sequence of this store")))
}

impl Transport for LocalStore<'_> {
    fn info(&mut self) -> Result<PeerInfo> {
        Ok(PeerInfo {
            id: self.store.uuid(),
            update_seq: self.store.last_seq().0.to_string(),
            instance_start_time: "0".into(),
        })
    }

    fn changes(&mut self, since: &str, limit: usize, filter: &Filter) -> Result<ChangesPage> {
        let since = parse_seq(since)?;
        let mut page = ChangesPage { rows: Vec::new(), last_seq: since.0.to_string() };
        if self.recent_seq != self.store.last_seq() || self.recent.len() > RECENT_REFS {
            self.recent.clear();
            self.recent_seq = self.store.last_seq();
        }
        for change in self.store.changes(since) {
            let change = change?;
            page.last_seq = change.seq.0.to_string();
            let wanted = match filter {
                Filter::All => true,
                Filter::DocIds(ids) => ids.contains(&change.id),
                Filter::Selector(s) => {
                    let winner = &change.doc.leaves[0];
                    let mut doc = self.store.body_map(&change.id, &winner.rev, &winner.body)?;
                    doc.insert("_id".into(), Value::String(change.id.to_string()));
                    doc.insert("_rev".into(), Value::String(winner.rev.to_string()));
                    if change.deleted() {
                        doc.insert("_deleted".into(), Value::Bool(true));
                    }
                    s.matches(&doc)
                }
            };
            if wanted {
                let revs = change.doc.leaves.iter().map(|l| l.rev.clone()).collect();
                page.rows.push(ChangeRow {
                    seq: change.seq.0.to_string(),
                    id: change.id.clone(),
                    revs,
                    deleted: change.deleted(),
                });
                self.recent.insert(change.id, change.doc);
                if page.rows.len() >= limit {
                    break;
                }
            }
        }
        Ok(page)
    }

    fn revs_diff(&mut self, revs: &[(DocId, Vec<RevId>)]) -> Result<Vec<Missing>> {
        let mut out = Vec::new();
        for (id, asked) in revs {
            let missing = match self.store.doc_ref(id)? {
                None => Missing { id: id.clone(), missing: asked.clone(), possible_ancestors: Vec::new() },
                Some(doc) => {
                    let tree = self.store.load_tree(id, &doc)?;
                    let missing = tree.missing(asked);
                    let possible_ancestors = tree.possible_ancestors(&missing);
                    Missing { id: id.clone(), missing, possible_ancestors }
                }
            };
            if !missing.missing.is_empty() {
                out.push(missing);
            }
        }
        Ok(out)
    }

    fn bulk_get(&mut self, wanted: &[(DocId, Vec<RevId>)]) -> Result<Vec<Revision>> {
        let mut out = Vec::new();
        let recent = if self.recent_seq == self.store.last_seq() { Some(&self.recent) } else { None };
        for (id, revs) in wanted {
            match recent.and_then(|r| r.get(id)) {
                Some(doc) => out.extend(self.store.revisions_of_ref(id, doc, revs)?),
                None => out.extend(self.store.revisions_with_history(id, revs)?),
            }
        }
        Ok(out)
    }

    fn bulk_docs(&mut self, revisions: Vec<Revision>) -> Result<Vec<WriteFailure>> {
        let keys: Vec<(DocId, RevId)> = revisions.iter().map(|r| (r.id.clone(), r.rev.clone())).collect();
        let ops = revisions
            .into_iter()
            .map(|r| Op::Replicate {
                id: r.id,
                rev: r.rev,
                ancestry: r.ancestry,
                deleted: r.deleted,
                body: r.body,
            })
            .collect();
        let results = self.store.write(ops)?;
        Ok(keys
            .into_iter()
            .zip(results)
            .filter_map(|((id, rev), r)| r.err().map(|e| WriteFailure { id, rev, error: e.to_string() }))
            .collect())
    }

    fn get_local(&mut self, id: &str) -> Result<Option<Map<String, Value>>> {
        self.store.get_local(&DocId::parse_local(id)?)
    }

    fn put_local(&mut self, id: &str, body: &Map<String, Value>) -> Result<()> {
        let mut body = body.clone();
        body.remove("_id");
        body.remove("_rev");
        self.store.put_local(&DocId::parse_local(id)?, &body).map(|_| ())
    }

    fn ensure_full_commit(&mut self) -> Result<()> {
        // Every acknowledged write is already durable.
        Ok(())
    }

    fn missing_blobs(&mut self, ids: &[ObjectId]) -> Result<Vec<ObjectId>> {
        Ok(ids.iter().filter(|id| !self.store.has_blob(id)).copied().collect())
    }

    fn open_blob(&mut self, id: &ObjectId) -> Result<Option<BlobStream>> {
        Ok(self.store.open_blob(id)?.map(|r| Box::new(r) as BlobStream))
    }

    fn open_attachment(&mut self, id: &DocId, rev: &RevId, name: &str) -> Result<Option<BlobStream>> {
        let (_, _, atts) = match self.store.revision_attachments(id, Some(rev)) {
            Ok(found) => found,
            Err(e) if e.kind() == crate::error::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        match atts.get(name) {
            Some(a) => self.open_blob(&a.blob),
            None => Ok(None),
        }
    }

    fn stored_attachments(
        &mut self,
        id: &DocId,
        rev: &RevId,
    ) -> Result<Option<crate::attachment::Attachments>> {
        match self.store.revision_attachments(id, Some(rev)) {
            Ok((_, _, atts)) => Ok(Some(atts)),
            Err(e) if e.kind() == crate::error::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn put_blob(&mut self, input: &mut dyn std::io::Read, len: Option<u64>) -> Result<blob::Info> {
        self.store.write_blob(input, len, blob::Compression::Sample)
    }
}
