//! `settee purge ID REV...`: remove leaf revisions from this store completely.

use anyhow::{bail, Result};
use serde_json::json;

use super::{parse_id, parse_rev};
use crate::ctx::Ctx;
use crate::exit::NotFound;
use crate::output::Out;

/// Remove the given leaf revisions of ID and their branches back to where they join a
/// surviving one (CouchDB's _purge). Only leaves are purged; purges never replicate, so a
/// peer that still has the revisions can bring them back. `compact` reclaims the space.
#[derive(clap::Args)]
pub struct Args {
    id: String,
    #[arg(required = true)]
    revs: Vec<String>,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<u8> {
    let id = parse_id(&args.id)?;
    let revs = args.revs.iter().map(|r| parse_rev(r)).collect::<Result<Vec<_>>>()?;
    let mut store = ctx.open_write()?;
    let Some(doc) = store.doc_ref(&id)? else {
        return Err(settee::Error::NotFound { id: id.to_string(), why: "missing" }.into());
    };
    // Every revision named must be a leaf of the document; otherwise nothing is purged.
    let tree = store.load_tree(&id, &doc)?;
    for rev in &revs {
        if !tree.contains(rev) {
            bail!(NotFound(format!("{id} has no revision {rev}; nothing purged")));
        }
        if !tree.is_leaf(rev) {
            bail!("{rev} is not a leaf revision of {id} (only leaves can be purged); nothing purged");
        }
    }
    let purged = store.purge(&id, &revs)?;
    let list: Vec<String> = purged.revs.iter().map(ToString::to_string).collect();
    let mut out = Out::new();
    if ctx.json {
        out.json(&json!({"id": id.as_str(), "purged": list, "seq": purged.seq.map(|s| s.0)}))?;
    } else {
        out.line(&format!("purged {}", list.join(" ")))?;
    }
    out.finish()?;
    Ok(0)
}
