//! `settee compact [--revs-limit N] [--full]`: rewrite the live data, drop the rest.

use anyhow::{Context, Result};
use serde_json::json;
use settee::compact::Options;

use crate::ctx::Ctx;
use crate::output::Out;

/// Drop bodies of non-leaf revisions, histories past the revision limit and anything
/// unreachable; keep every leaf, every conflict's common ancestor and every `_local`
/// document, and the blobs their attachments name (other blobs written over a minute before
/// the compaction are removed). Rewrites the packs with the most garbage (all of them with --full).
#[derive(clap::Args)]
pub struct Args {
    /// Keep at most N revision ids per branch (default: the store's revs_limit).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    revs_limit: Option<u64>,
    /// Rewrite every pack, not only those with the most garbage.
    #[arg(long)]
    full: bool,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<u8> {
    let mut store = ctx.open_write()?;
    let options = Options {
        revs_limit: args.revs_limit.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        full: args.full,
        ..Options::default()
    };
    let o = store.compact(&options).context("compacting")?;
    let mut out = Out::new();
    if ctx.json {
        out.json(&json!({
            "bytes_before": o.bytes_before, "bytes_after": o.bytes_after,
            "input_bytes": o.input_bytes, "output_bytes": o.output_bytes,
            "packs_rewritten": o.packs_rewritten, "packs_kept": o.packs_kept,
            "objects_copied": o.objects_copied, "objects_dropped": o.objects_dropped,
            "documents_rewritten": o.documents_rewritten, "seconds": o.seconds,
            "blobs_dropped": o.blobs_dropped, "blob_bytes_dropped": o.blob_bytes_dropped,
        }))?;
    } else {
        out.line(&format!(
            "{} -> {} bytes ({} packs rewritten, {} kept; {} objects copied, {} dropped; {:.2} s)",
            o.bytes_before,
            o.bytes_after,
            o.packs_rewritten,
            o.packs_kept,
            o.objects_copied,
            o.objects_dropped,
            o.seconds
        ))?;
        if o.blobs_dropped > 0 {
            out.line(&format!(
                "{} blobs no kept revision names dropped ({} bytes)",
                o.blobs_dropped, o.blob_bytes_dropped
            ))?;
        }
    }
    out.finish()?;
    Ok(0)
}
