//! `settee put [ID] [FILE|-] [--rev REV]` and `settee post [FILE|-]`: write a document body.

use std::path::PathBuf;

use anyhow::{bail, Result};
use serde_json::json;
use settee::{DocId, Incoming};

use super::{parse_id, parse_rev, read_input};
use crate::ctx::Ctx;
use crate::exit::Usage;
use crate::output::Out;

/// Write a JSON object as the new revision of ID (from FILE, or stdin when FILE is - or
/// absent). A `_rev` in the body counts as --rev; `"_deleted": true` writes a tombstone.
/// `_attachments` entries give inline `data` (base64) or `"stub": true` (kept from the
/// revision replaced; exit 5 when it has no such attachment).
/// Without ID, the body's `_id` names the document, or a new random id is made (as `post`).
#[derive(clap::Args)]
pub struct Args {
    /// The document's id; when left out, the body's `_id` or a new random id.
    id: Option<String>,
    file: Option<PathBuf>,
    /// The current leaf revision this write replaces (required when the document exists).
    #[arg(long)]
    rev: Option<String>,
}

/// Write a new document from FILE (or stdin when FILE is - or absent) under the body's
/// `_id`, or under a new random id when it has none (CouchDB's `POST /db`); prints the id
/// and the new revision.
#[derive(clap::Args)]
pub struct PostArgs {
    file: Option<PathBuf>,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<u8> {
    let named = args.id.as_deref().map(parse_id).transpose()?;
    let bytes = read_input(&ctx.cwd, args.file.as_deref())?;
    let what = named.as_ref().map_or("(standard input)", DocId::as_str);
    let doc = Incoming::from_slice_with_attachments(&bytes, what)?;
    if let (Some(id), Some(body_id)) = (&named, &doc.id) {
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
        (Some(r), _) => Some(parse_rev(r)?),
        (None, Some(r)) => Some(settee::RevId::parse(r).map_err(settee::Error::from)?),
        (None, None) => None,
    };
    let show_id = named.is_none();
    let id = match named {
        Some(id) => id,
        None => body_or_new_id(&doc, rev.is_some())?,
    };
    write(ctx, id, rev, doc, show_id)
}

pub fn run_post(ctx: &Ctx, args: &PostArgs) -> Result<u8> {
    let bytes = read_input(&ctx.cwd, args.file.as_deref())?;
    let doc = Incoming::from_slice_with_attachments(&bytes, "(standard input)")?;
    let rev = doc.rev.as_deref().map(|r| settee::RevId::parse(r).map_err(settee::Error::from)).transpose()?;
    let id = body_or_new_id(&doc, rev.is_some())?;
    write(ctx, id, rev, doc, true)
}

/// The body's `_id`, or a new random one for a body without (an update, with `_rev`, must
/// say which document it updates).
fn body_or_new_id(doc: &Incoming, has_rev: bool) -> Result<DocId> {
    match &doc.id {
        Some(id) => Ok(DocId::parse(id).map_err(settee::Error::from)?),
        None if has_rev => {
            bail!(Usage("an update (with a revision) must name its document: give ID or _id".into()))
        }
        None => Ok(DocId::generate()?),
    }
}

fn write(ctx: &Ctx, id: DocId, rev: Option<settee::RevId>, doc: Incoming, show_id: bool) -> Result<u8> {
    let mut store = ctx.open_write()?;
    let op = store.edit_op(id, rev, doc)?;
    let written = store.write(vec![op])?.remove(0)?;
    if show_id && !ctx.json {
        let mut out = Out::new();
        out.line(&format!("{}\t{}", written.id.as_str(), written.rev))?;
        out.finish()?;
        return Ok(0);
    }
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
