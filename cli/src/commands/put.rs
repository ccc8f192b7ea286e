//! `settee put ID [FILE|-] [--rev REV]`: write a document body.

use std::path::PathBuf;

use anyhow::{bail, Result};
use serde_json::json;
use settee::{Body, Incoming, Op};

use super::{parse_id, parse_rev, read_input};
use crate::ctx::Ctx;
use crate::exit::Usage;
use crate::output::Out;

/// Write a JSON object as the new revision of ID (from FILE, or stdin when FILE is - or
/// absent). A `_rev` in the body counts as --rev; `"_deleted": true` writes a tombstone.
#[derive(clap::Args)]
pub struct Args {
    id: String,
    file: Option<PathBuf>,
    /// The current leaf revision this write replaces (required when the document exists).
    #[arg(long)]
    rev: Option<String>,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<u8> {
    let id = parse_id(&args.id)?;
    let bytes = read_input(&ctx.cwd, args.file.as_deref())?;
    let doc = Incoming::from_slice(&bytes, id.as_str())?;
    if let Some(body_id) = &doc.id {
        if body_id != id.as_str() {
            bail!(Usage(format!(
                "the body's _id {body_id:?} does not match the document id {:?}",
                id.as_str()
            )));
        }
    }
    let rev = match (&args.rev, &doc.rev) {
        (Some(a), Some(b)) if a != b => {
            bail!(Usage(format!("--rev {a} and the body's _rev {b} differ")))
        }
        (Some(r), _) | (None, Some(r)) => Some(parse_rev(r)?),
        (None, None) => None,
    };
    let mut store = ctx.open_write()?;
    let op = Op::Edit { id, base: rev, deleted: doc.deleted, body: Body::from_map(&doc.body) };
    let written = store.write(vec![op])?.remove(0)?;
    print_written(ctx, &written)
}

pub fn print_written(ctx: &Ctx, written: &settee::Written) -> Result<u8> {
    let mut out = Out::new();
    if ctx.json {
        out.json(&json!({"ok": true, "id": written.id.as_str(), "rev": written.rev.to_string()}))?;
    } else {
        out.line(&written.rev.to_string())?;
    }
    out.finish()?;
    Ok(0)
}
