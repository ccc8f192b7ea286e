//! `settee get ID [options]`: print a document as CouchDB's `GET /db/doc` would.

use anyhow::Result;
use settee::store::{GetOptions, OpenRevs};

use super::{parse_id, parse_rev};
use crate::ctx::Ctx;
use crate::output::Out;

/// Print document ID (its winning revision unless --rev or --open-revs says otherwise).
#[derive(clap::Args)]
pub struct Args {
    id: String,
    /// Read this revision instead of the winner.
    #[arg(long)]
    rev: Option<String>,
    /// Include `_revisions` (the revision's ancestry).
    #[arg(long)]
    revs: bool,
    /// Include `_revs_info` (ancestry with available / missing / deleted status).
    #[arg(long)]
    revs_info: bool,
    /// Include `_conflicts` (other live leaves).
    #[arg(long)]
    conflicts: bool,
    /// Include `_deleted_conflicts` (other deleted leaves).
    #[arg(long)]
    deleted_conflicts: bool,
    /// `all`, or a comma-separated list of revisions: print `[{"ok": doc} | {"missing": rev}]`.
    #[arg(long, value_name = "all|R1,R2")]
    open_revs: Option<String>,
    /// With --rev or --open-revs: return the leaves descending from the revisions asked for.
    #[arg(long)]
    latest: bool,
    /// Give every attachment's bytes inline (base64 `data`) instead of stubs.
    #[arg(long)]
    attachments: bool,
    /// Give inline only the attachments written after the newest of these revisions found
    /// in the revision's history (CouchDB's `atts_since`); stubs for the others.
    #[arg(long, value_name = "R1,R2")]
    atts_since: Option<String>,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<u8> {
    let id = parse_id(&args.id)?;
    let open_revs = match args.open_revs.as_deref() {
        None => None,
        Some("all") => Some(OpenRevs::All),
        Some(list) => {
            Some(OpenRevs::Revs(list.split(',').map(|r| parse_rev(r.trim())).collect::<Result<_>>()?))
        }
    };
    let options = GetOptions {
        rev: args.rev.as_deref().map(parse_rev).transpose()?,
        revs: args.revs,
        revs_info: args.revs_info,
        conflicts: args.conflicts,
        deleted_conflicts: args.deleted_conflicts,
        open_revs,
        latest: args.latest,
        attachments: args.attachments,
        atts_since: args
            .atts_since
            .as_deref()
            .map(|list| list.split(',').map(|r| parse_rev(r.trim())).collect::<Result<_>>())
            .transpose()?,
    };
    let store = ctx.open_read()?;
    let doc = store.get(&id, &options)?;
    let mut out = Out::new();
    if ctx.json {
        out.json(&doc)?;
    } else {
        out.pretty(&doc)?;
    }
    out.finish()?;
    Ok(0)
}
