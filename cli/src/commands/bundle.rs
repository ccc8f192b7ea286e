//! `settee bundle create|verify|list`: the store (or what changed since SEQ) as one file.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::json;
use settee::bundle::{self, Bundle};
use settee::Seq;

use crate::ctx::{absolute, Ctx};
use crate::output::Out;

/// Write, check and inspect bundle files.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Write every document changed after SEQ (all of them by default), with the history
    /// and bodies its tree needs, to FILE.
    Create {
        file: PathBuf,
        #[arg(long, default_value_t = 0)]
        since: u64,
    },
    /// Check FILE completely: checksum, every section, every object's id, every leaf body.
    Verify { file: PathBuf },
    /// Show what FILE holds: one line per document with its leaves.
    List { file: PathBuf },
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<u8> {
    let mut out = Out::new();
    match &args.action {
        Action::Create { file, since } => {
            let store = ctx.open_read()?;
            let path = absolute(&ctx.cwd, file);
            let made = bundle::create(&store, &path, Seq(*since))
                .with_context(|| format!("writing {}", path.display()))?;
            if ctx.json {
                out.json(&json!({"documents": made.documents, "objects": made.objects, "bytes": made.bytes,
                    "since": since, "last_seq": made.last_seq.0,
                    "blobs": made.blobs, "blob_bytes": made.blob_bytes}))?;
            } else {
                let blobs = if made.blobs > 0 {
                    format!(", {} attachment blobs of {} bytes", made.blobs, made.blob_bytes)
                } else {
                    String::new()
                };
                out.line(&format!(
                    "wrote {} documents ({} objects{blobs}, {} bytes) changed after seq {since}, up to seq {}",
                    made.documents, made.objects, made.bytes, made.last_seq
                ))?;
            }
        }
        Action::Verify { file } => {
            let path = absolute(&ctx.cwd, file);
            let b = Bundle::open(&path)?;
            if ctx.json {
                out.json(&json!({"ok": true, "documents": b.docs.len(), "objects": b.object_count(),
                    "since": b.since.0, "last_seq": b.last_seq.0, "blobs": b.blob_count()}))?;
            } else if b.blob_count() > 0 {
                out.line(&format!(
                    "ok: {} documents, {} objects, {} attachment blobs",
                    b.docs.len(),
                    b.object_count(),
                    b.blob_count()
                ))?;
            } else {
                out.line(&format!("ok: {} documents, {} objects", b.docs.len(), b.object_count()))?;
            }
        }
        Action::List { file } => {
            let path = absolute(&ctx.cwd, file);
            let b = Bundle::open(&path)?;
            for (id, doc) in &b.docs {
                let revs: Vec<String> = doc.leaves.iter().map(|l| l.rev.to_string()).collect();
                if ctx.json {
                    out.json(&json!({"id": id.as_str(), "leaves": revs, "deleted": doc.is_deleted()}))?;
                } else {
                    let deleted = if doc.is_deleted() { "\tdeleted" } else { "" };
                    out.line(&format!("{id}\t{}{deleted}", revs.join(",")))?;
                }
            }
        }
    }
    out.finish()?;
    Ok(0)
}
