//! `settee serve`: the CouchDB HTTP API over settee stores, on axum and hyper (tokio).
//!
//! Owns: the server: routing (`route`), the endpoints (`api`), the served databases
//! (`dbs`, `db`), streamed bodies (`stream`), written documents and their attachments
//! (`written`, `multipart`, `upload`), `open_revs` as `multipart/mixed` (`mixed`), errors
//! as CouchDB writes them (`error`) and the listener with its layers (`server`, `drain`). Not: documents, revisions, the changes feed or
//! durability, which are the store's; the server only translates.
//! Invariants:
//! 1. No store call runs on an async worker thread (`db.rs`).
//! 2. Every response to a failed request is CouchDB's status with a JSON
//!    `{"error", "reason"}` body; nothing a client sends can panic the server or reach a
//!    path outside its databases (`dbs.rs`, `route.rs`).
//! 3. A write is answered only after the store acknowledged it (fsynced).
//!
//! Facts about CouchDB's API: ../shared/reference/ (couchdb-replication.md, pouchdb-server.md).

mod api;
pub mod config;
mod db;
mod dbs;
mod drain;
pub mod error;
mod http;
mod mixed;
mod multipart;
mod route;
mod server;
mod stream;
mod upload;
mod written;

use std::net::SocketAddr;
use std::sync::Arc;

pub use config::{check_db_name, Config, Credentials, LogLevel};
pub use error::StartError;

/// What every request handler shares.
pub struct App {
    pub config: Config,
    dbs: dbs::Databases,
    /// This server's identity (`GET /`).
    uuid: String,
    /// Turns true when the server is stopping: waiting feeds end.
    shutdown: tokio::sync::watch::Receiver<bool>,
}

/// Serve `config` until SIGINT or SIGTERM, then finish the requests in flight and return.
/// `listening` is called with the bound address once requests are accepted.
pub fn run(config: Config, listening: impl FnOnce(SocketAddr)) -> Result<(), StartError> {
    if !config.bind.ip().is_loopback() && config.credentials.is_none() {
        return Err(StartError::NeedsCredentials { addr: config.bind });
    }
    let dbs = dbs::Databases::load(&config)?;
    let uuid = settee::DocId::generate().map_or_else(|_| "0".repeat(32), |id| id.to_string());
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let app = Arc::new(App { config, dbs, uuid, shutdown });
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(StartError::Runtime)?;
    runtime.block_on(server::serve(app, listening, stop))
}
