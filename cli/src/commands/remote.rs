//! `settee remote add|list|remove`: named peers, kept in the store's config.

use anyhow::{bail, Result};
use serde_json::json;

use crate::ctx::Ctx;
use crate::exit::{Conflict, NotFound, Usage};
use crate::output::Out;

/// Manage named peers (any command that takes LOCATION takes a remote's name).
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Name LOCATION (a store path, a bundle file or a URL) as NAME.
    Add { name: String, location: String },
    /// List the remotes.
    List,
    /// Forget a remote.
    #[command(visible_alias = "rm")]
    Remove { name: String },
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<u8> {
    let mut out = Out::new();
    match &args.action {
        Action::Add { name, location } => {
            if !valid_name(name) {
                bail!(Usage(format!("remote name {name:?} may hold only letters, digits, '-', '_' and '.'")));
            }
            let mut store = ctx.open_write()?;
            let mut config = store.config().clone();
            if config.remotes.contains_key(name) {
                bail!(Conflict(format!("remote {name} exists already (remove it first to change it)")));
            }
            let resolved = crate::location::resolve(ctx, &Default::default(), location)?;
            let stored = match resolved {
                crate::location::Location::Http(u) => {
                    if settee::transport::http::config::has_credentials(&u) {
                        eprintln!(
                            "warning: the credentials in the URL are not stored; give them with SETTEE_COUCH_USER/SETTEE_COUCH_PASSWORD or a netrc file"
                        );
                    }
                    settee::transport::http::config::redact(&u)
                }
                crate::location::Location::Store(p) | crate::location::Location::Bundle(p) => {
                    std::fs::canonicalize(&p).unwrap_or(p).display().to_string()
                }
            };
            config.remotes.insert(name.clone(), stored);
            store.set_config(config)?;
        }
        Action::List => {
            let store = ctx.open_read()?;
            for (name, location) in &store.config().remotes {
                if ctx.json {
                    out.json(&json!({"name": name, "location": location}))?;
                } else {
                    out.line(&format!("{name}\t{location}"))?;
                }
            }
        }
        Action::Remove { name } => {
            let mut store = ctx.open_write()?;
            let mut config = store.config().clone();
            if config.remotes.remove(name).is_none() {
                bail!(NotFound(format!("no remote named {name}")));
            }
            store.set_config(config)?;
        }
    }
    out.finish()?;
    Ok(0)
}
