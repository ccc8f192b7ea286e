//! `settee rm ID --rev REV`: delete a document by writing a tombstone revision.

use anyhow::Result;
use settee::{Body, Op};

use super::{parse_id, parse_rev};
use crate::ctx::Ctx;

/// Delete ID: write an empty tombstone as the child of REV; prints the new revision.
#[derive(clap::Args)]
pub struct Args {
    id: String,
    /// The current leaf revision to delete.
    #[arg(long)]
    rev: String,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<u8> {
    let id = parse_id(&args.id)?;
    let rev = parse_rev(&args.rev)?;
    let mut store = ctx.open_write()?;
    let written = store.locked(|store| {
        if store.doc_ref(&id)?.is_none() {
            // CouchDB's DELETE of a document it never had is a 404, not a conflict.
            return Err(settee::Error::NotFound { id: id.to_string(), why: "missing" });
        }
        let op = Op::Edit { id, base: Some(rev), deleted: true, body: Body::empty() };
        store.write(vec![op])?.remove(0)
    })?;
    super::put::print_written(ctx, &written)
}
