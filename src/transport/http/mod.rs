//! The transport to a CouchDB-compatible server over HTTP (CouchDB, PouchDB Server,
//! `settee serve`): each `Transport` method is the request CouchDB's replicator sends.
//!
//! Owns: the requests and how their answers are read (`endpoints`), `_local` checkpoint
//! documents and noticing a re-created database (`checkpoint`), waiting for changes
//! (`feed`). The pieces below: `config` (URL, settings), `auth` (credentials), `client`
//! (ureq, retries), `retry` (backoff).
//! Invariants:
//! 1. Credentials never appear in an error, a report, a replication id or a checkpoint:
//!    everything outside `auth` and `client` sees `Endpoint::url`, which has none.
//! 2. An answer that is malformed, cut short or too large is an error before anything of it
//!    is handed on, so nothing partial is ever written to the other side.
//! 3. A document with attachments is refused with an error naming it (attachments over
//!    HTTP come later), never replicated without them.
//!
//! Spec: format-spec/replication.md ("Over HTTP").

pub mod auth;
pub mod checkpoint;
pub mod client;
pub mod config;
pub mod endpoints;
pub mod feed;
pub mod retry;

use std::collections::HashMap;

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
    #[error("{method} {url} answered HTTP {status}: {body}")]
    Status { method: String, url: String, status: u16, body: String },
    #[error("database {url} does not exist")]
    NoDatabase { url: String },
    #[error("{url} answered more than {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("{url}: {source}")]
    Malformed { url: String, source: crate::wire::WireError },
    #[error("document {id} at {url} has attachments, which replication over HTTP does not carry yet")]
    Attachments { url: String, id: String },
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
