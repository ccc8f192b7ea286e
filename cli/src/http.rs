//! The options of replication with a CouchDB-compatible server (`--retries`, `--timeout`,
//! `--cacert`) and opening one as a replication peer.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use settee::transport::http::{Config, Couch};

/// How to talk to an HTTP peer (ignored for stores and bundles).
#[derive(clap::Args, Clone, Debug)]
pub struct HttpArgs {
    /// Attempts after the first for a request that failed on the way (connection errors,
    /// timeouts, 5xx answers), with exponential backoff.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub retries: u32,
    /// Seconds a connection attempt, or a wait for the next bytes of an answer, may take.
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// PEM file of certificates to trust besides the system's (a private CA, a
    /// self-signed server).
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
}

impl HttpArgs {
    pub fn config(&self, ctx: &crate::ctx::Ctx, create: bool) -> Config {
        Config {
            retries: self.retries,
            timeout: std::time::Duration::from_secs(self.timeout),
            cacert: self.cacert.as_ref().map(|p| crate::ctx::absolute(&ctx.cwd, p)),
            create,
            ..Config::default()
        }
    }
}

/// The database at `url` as a replication peer, its retries told on stderr.
pub fn open(url: &str, config: Config) -> Result<Couch> {
    let mut couch = Couch::open(url, config).map_err(settee::Error::from)?;
    couch.set_notify(Some(Arc::new(|message: &str| eprintln!("warning: {message}"))));
    Ok(couch)
}
