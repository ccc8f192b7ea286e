//! The replication requests, one per `Transport` method, as CouchDB's replicator sends
//! them (reference section 5), and how their answers are read.
//!
//! `_bulk_get` is split into up to [`PARALLEL`] requests sent at once; a server without
//! `_bulk_get` (an error status for it) is asked `GET /db/ID?open_revs=[..]` per document
//! instead, a few at a time, with `Accept: application/json`. `--selector` goes to the
//! server as `filter=_selector` only when it is CouchDB 2 or later (PouchDB Server falls
//! over on it); elsewhere the feed is read with `include_docs=true` and filtered here.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Map, Value};
use ureq::http::Method;

use super::attachments::Fetched;
use super::{Couch, Error};
use crate::error::Result;
use crate::id::DocId;
use crate::rev::RevId;
use crate::transport::{ChangesPage, Filter, Missing, PeerInfo, Revision, Transport, WriteFailure};
use crate::wire;

/// `_bulk_get` requests sent at once for one batch.
pub const PARALLEL: usize = 3;
/// Revisions below which a `_bulk_get` is not split.
const SPLIT_BELOW: usize = 64;
/// Documents read at once when falling back to `open_revs`.
const OPEN_REVS_PARALLEL: usize = 6;

/// What a path segment or query value must have encoded: everything but unreserved
/// characters.
const ENCODE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

pub fn encode(text: &str) -> String {
    utf8_percent_encode(text, ENCODE).to_string()
}

/// The URL path of a document (`_design/` and `_local/` keep their slash, as CouchDB wants).
pub fn doc_path(id: &str) -> String {
    for prefix in ["_design/", "_local/"] {
        if let Some(rest) = id.strip_prefix(prefix) {
            return format!("{prefix}{}", encode(rest));
        }
    }
    encode(id)
}

impl Couch {
    pub(crate) fn get(&self, path: &str) -> Result<super::client::Reply, Error> {
        self.client.request(Method::GET, &format!("{}/{path}", self.endpoint.url), None)
    }

    pub(crate) fn send_json(
        &self,
        method: Method,
        path: &str,
        body: &Value,
    ) -> Result<super::client::Reply, Error> {
        let bytes =
            serde_json::to_vec(body).map_err(|e| Error::Config(format!("encoding a request: {e}")))?;
        self.client.request(method, &format!("{}/{path}", self.endpoint.url), Some(&bytes))
    }

    /// An unexpected status for `what`.
    pub(crate) fn status(&self, method: &str, path: &str, reply: &super::client::Reply) -> Error {
        Error::Status {
            method: method.into(),
            url: format!("{}/{}", self.endpoint.url, path.split('?').next().unwrap_or_default()),
            status: reply.status,
            body: super::client::summary(&reply.body),
        }
    }

    fn db_info(&self) -> Result<Option<Map<String, Value>>, Error> {
        let reply = self.client.request(Method::GET, &self.endpoint.url, None)?;
        match reply.status {
            200 => wire::parse::<Map<String, Value>>("GET /db", &reply.body)
                .map(Some)
                .map_err(|e| self.malformed(e)),
            404 => Ok(None),
            _ => Err(self.status("GET", "", &reply)),
        }
    }

    /// `PUT /db`; an answer saying it exists already (412) is fine.
    fn create(&self) -> Result<(), Error> {
        let reply = self.client.request(Method::PUT, &self.endpoint.url, None)?;
        match reply.status {
            201 | 202 | 412 => Ok(()),
            _ => Err(self.status("PUT", "", &reply)),
        }
    }

    /// Whether the server is CouchDB 2 or later (`GET /` says `"couchdb"` and its version).
    fn takes_selector_filter(&mut self) -> Result<bool, Error> {
        if let Some(known) = self.selector_filter {
            return Ok(known);
        }
        let reply = self.client.request(Method::GET, &self.endpoint.server, None)?;
        let welcome: Value =
            if reply.ok() { serde_json::from_slice(&reply.body).unwrap_or(Value::Null) } else { Value::Null };
        let major = welcome
            .get("version")
            .and_then(Value::as_str)
            .and_then(|v| v.split('.').next()?.parse::<u32>().ok());
        let known = welcome.get("couchdb").is_some() && major.is_some_and(|m| m >= 2);
        self.selector_filter = Some(known);
        Ok(known)
    }

    /// One `_bulk_get` request; `None` when the server has no `_bulk_get`.
    fn bulk_get_once(&self, wanted: &[(DocId, Vec<RevId>)]) -> Result<Option<Vec<Fetched>>, Error> {
        let reply = self.send_json(
            Method::POST,
            "_bulk_get?revs=true&latest=true",
            &wire::bulk::get_request(wanted),
        )?;
        match reply.status {
            200 => self.read_bulk_get(&reply.body).map(Some),
            400 | 404 | 405 | 501 => Ok(None),
            _ => Err(self.status("POST", "_bulk_get", &reply)),
        }
    }

    /// A `_bulk_get` answer, in CouchDB's shape or PouchDB Server's (`{"missing": rev}` for
    /// a missing revision, `{}` for a missing document: both left out).
    fn read_bulk_get(&self, body: &[u8]) -> Result<Vec<Fetched>, Error> {
        let parsed: Value = wire::parse("_bulk_get", body).map_err(|e| self.malformed(e))?;
        let bad = |what: &str| self.malformed(wire::WireError { endpoint: "_bulk_get", what: what.into() });
        let results =
            parsed.get("results").and_then(Value::as_array).ok_or_else(|| bad("no results array"))?;
        let mut out = Vec::new();
        for result in results {
            let docs =
                result.get("docs").and_then(Value::as_array).ok_or_else(|| bad("a result without docs"))?;
            for entry in docs {
                self.read_entry("_bulk_get", entry, &mut out)?;
            }
        }
        Ok(out)
    }

    /// One `{"ok": doc}`, `{"missing": rev}` or `{"error": {...}}` entry (of `_bulk_get` or
    /// `open_revs`).
    fn read_entry(&self, endpoint: &'static str, entry: &Value, out: &mut Vec<Fetched>) -> Result<(), Error> {
        let bad = |what: String| self.malformed(wire::WireError { endpoint, what });
        let Some(entry) = entry.as_object() else { return Err(bad("an entry is not an object".into())) };
        if let Some(doc) = entry.get("ok") {
            let mut doc = doc.clone();
            let id = doc.get("_id").and_then(Value::as_str).unwrap_or_default().to_string();
            let attachments = match doc.as_object_mut().and_then(|d| d.shift_remove("_attachments")) {
                Some(Value::Object(a)) if a.is_empty() => None,
                Some(value) => {
                    Some(wire::attachments::parse(endpoint, &id, &value).map_err(|e| self.malformed(e))?)
                }
                None => None,
            };
            let revision = wire::bulk::revision(endpoint, doc)
                .map_err(|e| bad(format!("document {id:?}: {}", e.what)))?;
            out.push(Fetched { revision, attachments });
            return Ok(());
        }
        if entry.is_empty() || entry.contains_key("missing") {
            return Ok(());
        }
        match entry.get("error") {
            Some(error) if error.get("error").and_then(Value::as_str) == Some("not_found") => Ok(()),
            Some(error) => Err(bad(format!("the server failed to read a revision: {error}"))),
            None => Err(bad("an entry with neither ok, missing nor error".into())),
        }
    }

    /// The fallback for servers without `_bulk_get`: `GET /db/ID?open_revs=[..]` per document.
    fn open_revs(&self, id: &DocId, revs: &[RevId]) -> Result<Vec<Fetched>, Error> {
        let list: Vec<String> = revs.iter().map(ToString::to_string).collect();
        let list = serde_json::to_string(&list).map_err(|e| Error::Config(e.to_string()))?;
        let path = format!("{}?revs=true&latest=true&open_revs={}", doc_path(id.as_str()), encode(&list));
        let reply = self.get(&path)?;
        match reply.status {
            200 => {}
            404 => return Ok(Vec::new()),
            _ => return Err(self.status("GET", &path, &reply)),
        }
        let entries: Vec<Value> = wire::parse("open_revs", &reply.body).map_err(|e| self.malformed(e))?;
        let mut out = Vec::new();
        for entry in &entries {
            self.read_entry("open_revs", entry, &mut out)?;
        }
        Ok(out)
    }

    /// One `_bulk_docs` request; `None` when the server refused it as too large (413).
    fn bulk_docs_once(&self, revisions: &[Revision]) -> Result<Option<Vec<WriteFailure>>, Error> {
        let body = wire::bulk::docs_request(revisions).map_err(|e| self.malformed(e))?;
        let reply = self.send_json(Method::POST, "_bulk_docs", &body)?;
        match reply.status {
            200..=202 => {
                wire::bulk::parse_docs_response(&reply.body).map(Some).map_err(|e| self.malformed(e))
            }
            413 => Ok(None),
            _ => Err(self.status("POST", "_bulk_docs", &reply)),
        }
    }
}

impl Transport for Couch {
    fn info(&mut self) -> Result<PeerInfo> {
        let info = match self.db_info()? {
            Some(info) => info,
            None if self.config.create => {
                self.create()?;
                self.db_info()?.ok_or_else(|| Error::NoDatabase { url: self.endpoint.url.clone() })?
            }
            None => return Err(Error::NoDatabase { url: self.endpoint.url.clone() }.into()),
        };
        let update_seq =
            info.get("update_seq").map(|s| wire::Seq(s.clone()).to_token()).unwrap_or_else(|| "0".into());
        let instance = match info.get("instance_start_time") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => "0".into(),
        };
        self.instance = Some(instance.clone());
        Ok(PeerInfo { id: format!("couch:{}", self.endpoint.url), update_seq, instance_start_time: instance })
    }

    fn changes(&mut self, since: &str, limit: usize, filter: &Filter) -> Result<ChangesPage> {
        let limit = self.pages.limit(limit);
        let since = encode(&wire::Seq::from_token(since).to_query());
        let mut path = format!("_changes?style=all_docs&since={since}&limit={limit}");
        let local_selector = match filter {
            Filter::Selector(selector) if !self.takes_selector_filter()? => Some(selector),
            _ => None,
        };
        let with_docs = local_selector.is_some() || self.docs_in_feed.wanted();
        if with_docs {
            path.push_str("&include_docs=true");
        }
        let started = std::time::Instant::now();
        let (method, reply) = match filter {
            Filter::All => ("GET", self.get(&path)?),
            Filter::Selector(_) if local_selector.is_some() => ("GET", self.get(&path)?),
            Filter::DocIds(ids) => {
                path.push_str("&filter=_doc_ids");
                let ids: Vec<&str> = ids.iter().map(DocId::as_str).collect();
                ("POST", self.send_json(Method::POST, &path, &json!({ "doc_ids": ids }))?)
            }
            Filter::Selector(selector) => {
                path.push_str("&filter=_selector");
                let value: Value = serde_json::from_str(&selector.canonical()).unwrap_or(Value::Null);
                ("POST", self.send_json(Method::POST, &path, &json!({ "selector": value }))?)
            }
        };
        if reply.status != 200 {
            return Err(self.status(method, &path, &reply).into());
        }
        self.pages.answered(limit, started.elapsed());
        if !with_docs {
            return Ok(wire::changes::parse_response(&reply.body).map_err(|e| self.malformed(e))?);
        }
        // The rows come with their winners: filter by the selector here if asked, keep the
        // documents `bulk_get` will not need to ask for. Read once, typed: the envelope of
        // each row is not built as a JSON map, and nothing is written out and read again.
        let page = wire::changes::parse_response_with_docs(&reply.body).map_err(|e| self.malformed(e))?;
        let (mut rows, mut kept) = (Vec::with_capacity(page.results.len()), Vec::new());
        for row in page.results {
            let (row, doc) = row.split();
            if let Some(selector) = local_selector {
                if !doc.as_ref().and_then(Value::as_object).is_some_and(|d| selector.matches(d)) {
                    continue;
                }
            }
            let change = row.to_change().map_err(|e| self.malformed(e))?;
            if let Some(revision) = doc.and_then(|doc| complete_revision(&row, &change, doc)) {
                kept.push(revision);
            }
            rows.push(change);
        }
        self.docs_in_feed.saw(rows.len(), kept.len());
        self.included.keep(kept);
        Ok(ChangesPage { rows, last_seq: page.last_seq.to_token() })
    }

    fn revs_diff(&mut self, revs: &[(DocId, Vec<RevId>)]) -> Result<Vec<Missing>> {
        let reply = self.send_json(Method::POST, "_revs_diff", &wire::revs_diff::request(revs))?;
        if !reply.ok() {
            return Err(self.status("POST", "_revs_diff", &reply).into());
        }
        Ok(wire::revs_diff::parse_response(&reply.body).map_err(|e| self.malformed(e))?)
    }

    fn bulk_get(&mut self, wanted: &[(DocId, Vec<RevId>)]) -> Result<Vec<Revision>> {
        let wanted: Vec<(DocId, Vec<RevId>, Vec<RevId>)> =
            wanted.iter().map(|(id, revs)| (id.clone(), revs.clone(), Vec::new())).collect();
        self.bulk_get_since(&wanted)
    }

    fn bulk_get_since(&mut self, wanted: &[(DocId, Vec<RevId>, Vec<RevId>)]) -> Result<Vec<Revision>> {
        // Revisions the changes feed brought whole need no request.
        let mut out = Vec::new();
        let mut rest: Vec<(DocId, Vec<RevId>)> = Vec::new();
        let since: std::collections::HashMap<DocId, Vec<RevId>> = wanted
            .iter()
            .filter(|(_, _, since)| !since.is_empty())
            .map(|(id, _, since)| (id.clone(), since.clone()))
            .collect();
        for (id, revs, _) in wanted {
            let left: Vec<RevId> = revs
                .iter()
                .filter(|rev| match self.included.take(id, rev) {
                    Some(revision) => {
                        out.push(revision);
                        false
                    }
                    None => true,
                })
                .cloned()
                .collect();
            if !left.is_empty() {
                rest.push((id.clone(), left));
            }
        }
        if rest.is_empty() {
            return Ok(out);
        }
        let fetched = self.fetch(&rest)?;
        out.extend(self.complete(fetched, &since)?);
        Ok(out)
    }

    /// In requests of the size `adapt` allows: a 413 halves it (as CouchDB's replicator
    /// splits a refused batch) and the rest goes in smaller pieces; a single revision
    /// refused as too large is a write failure.
    fn bulk_docs(&mut self, revisions: Vec<Revision>) -> Result<Vec<WriteFailure>> {
        if revisions.iter().any(|r| r.body.bytes.starts_with(crate::attachment::STORED_PREFIX)) {
            return self.send_revisions(revisions);
        }
        let mut failures = Vec::new();
        let mut rest: &[Revision] = &revisions;
        while let Some(first) = rest.first() {
            let n = self.writes.limit(rest.len());
            let (part, after) = rest.split_at(n);
            let started = std::time::Instant::now();
            match self.bulk_docs_once(part)? {
                Some(refused) => {
                    self.writes.answered(n, started.elapsed());
                    failures.extend(refused);
                    rest = after;
                }
                None if n > 1 => self.writes.too_large(n),
                None => {
                    // One document too large says nothing about the size of the others.
                    failures.push(WriteFailure {
                        id: first.id.clone(),
                        rev: first.rev.clone(),
                        error: "too_large: the server refused the document as too large".into(),
                    });
                    rest = after;
                }
            }
        }
        Ok(failures)
    }

    fn get_local(&mut self, id: &str) -> Result<Option<Map<String, Value>>> {
        Ok(self.read_local(id)?)
    }

    fn put_local(&mut self, id: &str, body: &Map<String, Value>) -> Result<()> {
        Ok(self.write_local(id, body)?)
    }

    fn ensure_full_commit(&mut self) -> Result<()> {
        Ok(self.full_commit()?)
    }

    fn open_blob(&mut self, id: &crate::id::ObjectId) -> Result<Option<crate::transport::BlobStream>> {
        self.open_spooled(id)
    }

    fn blobs_wanted(&mut self, revisions: &[Revision]) -> Result<Vec<crate::id::ObjectId>> {
        self.plan_sending(revisions)
    }

    fn blobs_wanted_whole(&mut self, revisions: &[Revision]) -> Result<Vec<crate::id::ObjectId>> {
        self.plan_sending_whole(revisions)
    }

    fn put_blob(&mut self, input: &mut dyn std::io::Read, len: Option<u64>) -> Result<crate::blob::Info> {
        self.spool_outgoing(input, len)
    }
}

impl Couch {
    /// `_bulk_get` (split, in parallel), or `open_revs` where the server lacks it.
    fn fetch(&mut self, wanted: &[(DocId, Vec<RevId>)]) -> Result<Vec<Fetched>> {
        if self.bulk_get {
            let total: usize = wanted.iter().map(|(_, r)| r.len()).sum();
            let parts = if total < SPLIT_BELOW { 1 } else { PARALLEL };
            let chunk = wanted.len().div_ceil(parts).max(1);
            let this = &*self;
            let answers: Vec<Result<Option<Vec<Fetched>>, Error>> = std::thread::scope(|scope| {
                let handles: Vec<_> =
                    wanted.chunks(chunk).map(|part| scope.spawn(move || this.bulk_get_once(part))).collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| Err(Error::Config("a _bulk_get thread panicked".into())))
                    })
                    .collect()
            });
            let mut out = Vec::new();
            let mut unsupported = false;
            for answer in answers {
                match answer? {
                    Some(revisions) => out.extend(revisions),
                    None => unsupported = true,
                }
            }
            if !unsupported {
                return Ok(out);
            }
            self.bulk_get = false;
        }
        let this = &*self;
        let mut out = Vec::new();
        for group in wanted.chunks(OPEN_REVS_PARALLEL) {
            let answers: Vec<Result<Vec<Fetched>, Error>> = std::thread::scope(|scope| {
                let handles: Vec<_> =
                    group.iter().map(|(id, revs)| scope.spawn(move || this.open_revs(id, revs))).collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| Err(Error::Config("an open_revs thread panicked".into())))
                    })
                    .collect()
            });
            for answer in answers {
                out.extend(answer?);
            }
        }
        Ok(out)
    }
}

/// The revision a changes row's included `doc` holds whole: the row's only leaf, at
/// position 1 (so `_revisions` would add nothing), without attachments (those go through
/// `bulk_get`, which names the document). `None` for anything else.
fn complete_revision(
    row: &wire::changes::Row,
    change: &crate::transport::ChangeRow,
    doc: Value,
) -> Option<Revision> {
    let ([only], [rev]) = (row.changes.as_slice(), change.revs.as_slice()) else { return None };
    if doc.get("_rev").and_then(Value::as_str) != Some(only.rev.as_str()) || doc.get("_attachments").is_some()
    {
        return None;
    }
    if rev.pos != 1 || doc.get("_revisions").is_some() {
        return None;
    }
    wire::bulk::revision("_changes", doc).ok()
}
