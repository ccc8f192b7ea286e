//! `settee export [FILE] [--all-leaves]`: documents as newline-delimited JSON.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::Value;
use settee::store::{GetOptions, OpenRevs};
use settee::Store;

use crate::ctx::{absolute, Ctx};

/// Write every document's winner (deleted ones excluded), or with --all-leaves every leaf
/// revision with `_revisions` (loadable by `import --no-new-edits`), to FILE or stdout.
#[derive(clap::Args)]
pub struct Args {
    file: Option<PathBuf>,
    /// Every leaf, deleted ones included, each with its `_revisions` history.
    #[arg(long)]
    all_leaves: bool,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<u8> {
    let store = ctx.open_read()?;
    match &args.file {
        Some(p) if p != std::path::Path::new("-") => {
            let path = absolute(&ctx.cwd, p);
            let file =
                std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
            let mut sink = std::io::BufWriter::with_capacity(1 << 20, file);
            let count = export(&store, args.all_leaves, &mut sink)?;
            sink.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            if !ctx.json {
                eprintln!("exported {count} documents to {}", path.display());
            }
        }
        _ => {
            let mut sink = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            export(&store, args.all_leaves, &mut sink)?;
            sink.flush()?;
        }
    }
    Ok(0)
}

/// Write the documents to `sink`; returns how many lines were written.
pub fn export(store: &Store, all_leaves: bool, sink: &mut impl Write) -> Result<u64> {
    let mut count = 0u64;
    let all = GetOptions { open_revs: Some(OpenRevs::All), revs: true, ..GetOptions::default() };
    for item in store.docs(None, None) {
        let (id, doc) = item?;
        if all_leaves {
            let Value::Array(leaves) = store.get(&id, &all)? else { continue };
            for leaf in leaves {
                if let Some(d) = leaf.get("ok") {
                    serde_json::to_writer(&mut *sink, d)?;
                    sink.write_all(b"\n")?;
                    count += 1;
                }
            }
        } else if doc.winner().is_some_and(|w| !w.deleted) {
            if let Some((rev, body)) = store.winner_body(&id, &doc)? {
                serde_json::to_writer(&mut *sink, &settee::store::render_doc(&id, &rev, false, body))?;
                sink.write_all(b"\n")?;
                count += 1;
            }
        }
    }
    Ok(count)
}
