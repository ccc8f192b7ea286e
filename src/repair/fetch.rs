//! Restoring what a repair could not save from a replica, over any [`Transport`].
//!
//! Owns: asking the replica, page by page of its changes feed, for the documents the open
//! notes name (by id, by damaged id range, or all of them when commits were lost), asking
//! this store which of their revisions it lacks (`revs_diff`), fetching those with their
//! histories and writing them as replicated history. Not: checkpoints (a repair is not a
//! replication: it starts from the replica's first change every time and records nothing).
//! Invariants:
//! 1. Every fetched body is checked against its id (the SHA-1 of its bytes), and against
//!    the body id the lost revision had when the notes know it; a mismatch fails the fetch
//!    before anything of that page is written.
//! 2. Only revisions this store lacks are written; a document it holds whole is untouched.
//!
//! Spec: format-spec/repair.md ("Restoring from a replica").

use crate::error::{Error, Result};
use crate::id::{hash_object, DocId, Kind, ObjectId};
use crate::rev::RevId;
use crate::store::Store;
use crate::transport::local::LocalStore;
use crate::transport::{Filter, Transport};

use super::Wanted;

/// Rows of the replica's changes feed asked for at once.
const PAGE: usize = 500;

/// What a fetch did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fetched {
    /// Revisions written to this store.
    pub revisions: u64,
    /// Documents they belong to.
    pub documents: u64,
    /// Named documents that now hold every revision they had.
    pub restored: Vec<String>,
    /// Named documents still lacking revisions, with those revisions.
    pub lacking: Vec<(String, Vec<String>)>,
}

/// Fetch what `wanted` names from `source` into `store` (open for writing).
pub fn fetch(store: &mut Store, source: &mut dyn Transport, wanted: &Wanted) -> Result<Fetched> {
    let mut fetched = Fetched::default();
    let filter = if wanted.ranges.is_empty() && !wanted.everything {
        let ids =
            wanted.docs.keys().map(|id| DocId::parse(id)).collect::<std::result::Result<Vec<_>, _>>()?;
        Filter::DocIds(ids)
    } else {
        Filter::All
    };
    let mut since = "0".to_string();
    loop {
        let page = source.changes(&since, PAGE, &filter)?;
        if page.rows.is_empty() && page.last_seq == since {
            break;
        }
        since = page.last_seq.clone();
        let asked: Vec<(DocId, Vec<RevId>)> =
            page.rows.into_iter().filter(|r| wanted.covers(r.id.as_str())).map(|r| (r.id, r.revs)).collect();
        if asked.is_empty() {
            continue;
        }
        let missing = LocalStore::new(store).revs_diff(&asked)?;
        if missing.is_empty() {
            continue;
        }
        let want: Vec<(DocId, Vec<RevId>)> = missing.into_iter().map(|m| (m.id, m.missing)).collect();
        let revisions = source.bulk_get(&want)?;
        for r in &revisions {
            let expected = wanted
                .docs
                .get(r.id.as_str())
                .and_then(|revs| revs.iter().find(|(rev, _)| *rev == r.rev.to_string()))
                .and_then(|(_, body)| body.as_deref());
            if hash_object(Kind::Body, &r.body.bytes) != r.body.id
                || expected.is_some_and(|b| ObjectId::from_hex(b.as_bytes()).ok() != Some(r.body.id))
            {
                return Err(Error::Invalid(format!(
                    "the replica's body of {} {} does not match its id; nothing of this page was written",
                    r.id, r.rev
                )));
            }
        }
        fetched.revisions += revisions.len() as u64;
        fetched.documents += want.len() as u64;
        let failures = LocalStore::new(store).bulk_docs(revisions)?;
        if let Some(f) = failures.first() {
            return Err(Error::Invalid(format!("writing {} {} from the replica: {}", f.id, f.rev, f.error)));
        }
    }
    for (id, revs) in &wanted.docs {
        let parsed: Vec<RevId> = revs.iter().filter_map(|(r, _)| RevId::parse(r).ok()).collect();
        let Ok(doc) = DocId::parse(id).or_else(|_| DocId::parse_local(id)) else { continue };
        if doc.as_str().starts_with("_local/") {
            // `_local` documents are never replicated: a replica cannot restore them.
            fetched.lacking.push((id.clone(), revs.iter().map(|(r, _)| r.clone()).collect()));
            continue;
        }
        let still = LocalStore::new(store).revs_diff(&[(doc, parsed)])?;
        match still.into_iter().next() {
            None => fetched.restored.push(id.clone()),
            Some(m) => fetched.lacking.push((id.clone(), m.missing.iter().map(RevId::to_string).collect())),
        }
    }
    Ok(fetched)
}
