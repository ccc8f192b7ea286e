//! The transport to a CouchDB-compatible server over HTTP (CouchDB, PouchDB Server,
//! `settee serve`): each `Transport` method is the request CouchDB's replicator sends.
//!
//! Owns: the requests and how their answers are read (`endpoints`), `_local` checkpoint
//! documents and noticing a re-created database (`checkpoint`), waiting for changes
//! (`feed`), request sizes that follow the server's pace and limits (`adapt`). The pieces below: `config` (URL, settings), `auth` (credentials), `client`
//! (ureq, retries), `retry` (backoff).
//! Invariants:
//! 1. Credentials never appear in an error, a report, a replication id or a checkpoint:
//!    everything outside `auth` and `client` sees `Endpoint::url`, which has none.
//! 2. An answer that is malformed, cut short or too large is an error before anything of it
//!    is handed on, so nothing partial is ever written to the other side.
//! 3. Attachment bytes are checked against their length and digest before anything naming
//!    them is handed on (`attachments`); a mismatch is an error naming the document and
//!    the attachment.
//!
//! Spec: format-spec/replication.md ("Over HTTP").

pub mod adapt;
pub mod attachments;
pub mod auth;
pub mod checkpoint;
pub mod client;
pub mod config;
pub mod endpoints;
pub mod feed;
pub mod retry;
pub mod tls;

use std::collections::{HashMap, VecDeque};

use crate::id::DocId;
use crate::rev::RevId;
use crate::transport::Revision;

pub use client::Notify;
pub use config::{Config, Endpoint};

/// What went wrong talking to a server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{url} is not a database URL: {why}")]
    BadUrl { url: String, why: String },
    #[error("{0}")]
    Config(String),
    #[error("{url} refused the credentials (HTTP {status}): check the user and password (URL, SETTEE_COUCH_USER/SETTEE_COUCH_PASSWORD or netrc)")]
    Denied { url: String, status: u16 },
    #[error("cannot reach {url}: {method} failed after {attempts} attempt(s): {cause}")]
    Connection { method: String, url: String, attempts: u32, cause: String },
    #[error("cannot talk to {url} over TLS: {cause}")]
    Tls { url: String, cause: String },
    #[error("{method} {url} answered HTTP {status}: {body}")]
    Status { method: String, url: String, status: u16, body: String },
    #[error("database {url} does not exist")]
    NoDatabase { url: String },
    #[error("{url} answered more than {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("{url}: {source}")]
    Malformed { url: String, source: crate::wire::WireError },
    #[error("attachment {name:?} of document {id} at {url}: {why}")]
    Attachment { url: String, id: String, name: String, why: String },
    #[error(
        "database {url} was deleted and created again during the replication; run it again to start over"
    )]
    Recreated { url: String },
}

impl Error {
    pub fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match self {
            Error::BadUrl { .. } | Error::Config(_) => ErrorKind::InvalidInput,
            Error::NoDatabase { .. } => ErrorKind::NotFound,
            _ => ErrorKind::Peer,
        }
    }
}

/// A database on a CouchDB-compatible server, as a replication peer.
pub struct Couch {
    endpoint: Endpoint,
    config: Config,
    client: client::Client,
    /// The `instance_start_time` seen by `info`.
    instance: Option<String>,
    /// Whether `_bulk_get` works here (cleared after an answer saying it does not).
    bulk_get: bool,
    /// Whether the server takes `filter=_selector` (CouchDB 2 and later), once asked.
    selector_filter: Option<bool>,
    /// The `_rev` of each `_local` document last read or written.
    local_revs: HashMap<String, String>,
    /// `_local` documents read at the start or written since, with their session ids: one
    /// that disappears means the database was re-created.
    local_sessions: HashMap<String, Option<String>>,
    /// Whether to ask the changes feed for the documents (`include_docs=true`).
    docs_in_feed: DocsInFeed,
    /// Revisions the changes feed brought whole, until `bulk_get` takes them.
    included: Included,
    /// Change rows per `_changes` request and revisions per `_bulk_docs` request, as the
    /// server's answers allow (`adapt`).
    pages: adapt::Size,
    writes: adapt::Size,
    /// Attachment bytes fetched for pulled revisions, until the target takes them.
    spool: attachments::Spool,
    /// Attachment bytes given by `put_blob` for the revisions `bulk_docs` will send.
    outgoing: attachments::Spool,
    /// For each revision `blobs_wanted` saw (id, rev), the attachments to send with bytes.
    sending: HashMap<(String, String), std::collections::BTreeSet<String>>,
}

/// Whether to read the changes feed with `include_docs=true`. PouchDB Server answers that
/// for about a third of the work of `_changes` plus `_bulk_get` (it reads the document
/// from its by-sequence index), and a row whose document is its only leaf at position 1
/// (a document written once, the bulk of a first replication) then needs no `_bulk_get`.
/// While fewer than half the rows of a page are like that, the documents are not asked for,
/// except on every 10th page, to look again.
#[derive(Debug)]
struct DocsInFeed {
    on: bool,
    pages_off: u32,
}

impl DocsInFeed {
    fn wanted(&mut self) -> bool {
        if self.on {
            return true;
        }
        self.pages_off += 1;
        if self.pages_off >= 10 {
            self.pages_off = 0;
            return true;
        }
        false
    }

    fn saw(&mut self, rows: usize, usable: usize) {
        if rows >= 10 {
            self.on = usable * 2 >= rows;
        }
    }
}

/// Revisions from the changes feed, kept for the few pages the replicator reads ahead.
#[derive(Debug, Default)]
struct Included {
    revisions: HashMap<(String, String), Revision>,
    pages: VecDeque<Vec<(String, String)>>,
}

impl Included {
    /// Pages kept at most (the replicator has fewer in flight).
    const PAGES: usize = 8;

    fn keep(&mut self, page: Vec<Revision>) {
        let mut keys: Vec<(String, String)> = Vec::with_capacity(page.len());
        for revision in page {
            let key = (revision.id.as_str().to_string(), revision.rev.to_string());
            keys.push(key.clone());
            self.revisions.insert(key, revision);
        }
        self.pages.push_back(keys);
        while self.pages.len() > Included::PAGES {
            for key in self.pages.pop_front().unwrap_or_default() {
                self.revisions.remove(&key);
            }
        }
    }

    fn take(&mut self, id: &DocId, rev: &RevId) -> Option<Revision> {
        self.revisions.remove(&(id.as_str().to_string(), rev.to_string()))
    }
}

impl Couch {
    /// A peer for the database at `url` (credentials in it, or found by `auth`).
    pub fn open(url: &str, config: Config) -> Result<Couch, Error> {
        let endpoint = Endpoint::parse(url)?;
        let credentials = auth::find(&endpoint)?;
        let client = client::Client::new(&endpoint, &config, credentials.as_ref())?;
        Ok(Couch {
            endpoint,
            config,
            client,
            instance: None,
            bulk_get: true,
            selector_filter: None,
            local_revs: HashMap::new(),
            local_sessions: HashMap::new(),
            docs_in_feed: DocsInFeed { on: true, pages_off: 0 },
            included: Included::default(),
            pages: adapt::Size::default(),
            writes: adapt::Size::default(),
            spool: attachments::Spool::default(),
            outgoing: attachments::Spool::default(),
            sending: HashMap::new(),
        })
    }

    /// Say each retry through `notify` (the CLI prints it on stderr).
    pub fn set_notify(&mut self, notify: Option<Notify>) {
        self.client.set_notify(notify);
    }

    /// The database URL without credentials.
    pub fn url(&self) -> &str {
        &self.endpoint.url
    }

    fn malformed(&self, source: crate::wire::WireError) -> Error {
        Error::Malformed { url: self.endpoint.url.clone(), source }
    }
}

impl From<Error> for crate::error::Error {
    fn from(e: Error) -> crate::error::Error {
        crate::error::Error::Http(Box::new(e))
    }
}
