//! `settee remote add|list|remove`: named peers, kept in the store's config.

use anyhow::{bail, Result};
use serde_json::json;

use crate::ctx::Ctx;
use crate::exit::Usage;
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
                bail!(Usage(format!("remote {name:?} exists already; remove it first")));
            }
            let resolved = crate::location::resolve(ctx, &Default::default(), location)?;
            let stored = match resolved {
                crate::location::Location::Http(u) => u,
                other => other.to_string(),
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
                return Err(settee::Error::NotFound { id: format!("remote {name}"), why: "missing" }.into());
            }
            store.set_config(config)?;
        }
    }
    out.finish()?;
    Ok(0)
}
