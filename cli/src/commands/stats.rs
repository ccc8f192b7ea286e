//! `settee stats`: what the store holds and how many bytes it uses.

use anyhow::Result;
use serde_json::json;

use crate::ctx::Ctx;
use crate::output::Out;

/// Documents, deleted, conflicted, leaves, objects, packs, blobs and bytes on disk.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(ctx: &Ctx, _args: &Args) -> Result<u8> {
    let store = ctx.open_read()?;
    let s = store.stats()?;
    let space = store.space()?;
    let blobs = store.blob_stats()?;
    let kept = settee::store::recovery::notes(store.root());
    let damage = kept.iter().filter(|n| n["kind"] != "torn-write").count();
    let mut out = Out::new();
    if ctx.json {
        out.json(&json!({
            "documents": s.documents, "deleted": s.deleted, "conflicted": s.conflicted,
            "leaves": s.leaves, "local": s.local, "objects": s.objects, "packs": s.packs,
            "last_seq": s.last_seq.0, "bytes": {
                "packs": s.pack_bytes, "indexes": s.index_bytes, "tables": s.table_bytes,
                "journal": s.journal_bytes, "total": s.total_bytes(),
                "packs_live": space.live_bytes, "reclaimable": space.reclaimable_bytes,
            },
            "blobs": {"count": blobs.blobs, "bytes": blobs.bytes},
            "quarantine": {"cuts": kept.len(), "damage": damage},
        }))?;
    } else {
        out.line(&format!("documents   {}", s.documents))?;
        out.line(&format!("deleted     {}", s.deleted))?;
        out.line(&format!("conflicted  {}", s.conflicted))?;
        out.line(&format!("leaves      {}", s.leaves))?;
        out.line(&format!("local       {}", s.local))?;
        out.line(&format!("objects     {}", s.objects))?;
        out.line(&format!("packs       {}", s.packs))?;
        out.line(&format!("last seq    {}", s.last_seq))?;
        out.line(&format!(
            "bytes       {} total ({} packs, {} indexes, {} tables, {} journal)",
            s.total_bytes(),
            s.pack_bytes,
            s.index_bytes,
            s.table_bytes,
            s.journal_bytes
        ))?;
        if blobs.blobs > 0 {
            // Only in a store with attachments (the README's stores have none).
            out.line(&format!("blobs       {} ({} bytes)", blobs.blobs, blobs.bytes))?;
        }
        let garbage = space.total_bytes - space.live_bytes;
        let reclaimable = if space.reclaimable_bytes < garbage {
            format!(
                "{garbage} garbage, {} reclaimable: compacting would not shrink a store this small",
                space.reclaimable_bytes
            )
        } else {
            format!("{} reclaimable by `settee compact --full`", space.reclaimable_bytes)
        };
        out.line(&format!(
            "live        {} of {} pack bytes ({reclaimable})",
            space.live_bytes, space.total_bytes
        ))?;
        if !kept.is_empty() {
            let dir = store.root().join(settee::store::recovery::QUARANTINE_DIR);
            out.line(&format!(
                "quarantine  {} cuts kept in {} ({damage} of damage; see its NOTES)",
                kept.len(),
                dir.display()
            ))?;
        }
    }
    out.finish()?;
    Ok(0)
}
