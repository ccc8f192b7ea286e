//! Where a replication goes: a remote's name, a path to another store, a bundle file or a
//! CouchDB URL. A URL is shown (and stored) without its credentials.

use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::ctx::{absolute, Ctx};
use crate::exit::NotFound;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A settee store: its `.settee` directory.
    Store(PathBuf),
    /// A bundle file.
    Bundle(PathBuf),
    /// A database on a CouchDB-compatible server, its URL as given (credentials too:
    /// `Display` leaves them out).
    Http(String),
}

/// Turn LOCATION (or a remote's name, looked up in `remotes`) into a location.
pub fn resolve(
    ctx: &Ctx,
    remotes: &std::collections::BTreeMap<String, String>,
    text: &str,
) -> Result<Location> {
    let text = remotes.get(text).map_or(text, String::as_str);
    if text.starts_with("http://") || text.starts_with("https://") {
        return Ok(Location::Http(text.to_string()));
    }
    let path = absolute(&ctx.cwd, std::path::Path::new(text));
    if path.join(settee::store::DIR_NAME).join("manifest").is_file() {
        return Ok(Location::Store(path.join(settee::store::DIR_NAME)));
    }
    if path.join("manifest").is_file() && path.join("config").is_file() {
        return Ok(Location::Store(path));
    }
    if path.is_file() {
        return Ok(Location::Bundle(path));
    }
    if !path.exists() {
        bail!(NotFound(format!("{text} is not a remote's name, and {} does not exist", path.display())));
    }
    bail!("{} is neither a settee store nor a bundle file", path.display())
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Store(p) | Location::Bundle(p) => write!(f, "{}", p.display()),
            Location::Http(u) => f.write_str(&settee::transport::http::config::redact(u)),
        }
    }
}
