//! `settee export [FILE] [--all-leaves] [--attachments]`: documents as newline-delimited JSON.

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
    /// Attachments inline (base64 `data`, with `revpos`), as `import` takes them back;
    /// without it they are stubs.
    #[arg(long)]
    attachments: bool,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<u8> {
    let store = ctx.open_read()?;
    match &args.file {
        Some(p) if p != std::path::Path::new("-") => {
            let path = absolute(&ctx.cwd, p);
            let file =
                std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
            let mut sink = std::io::BufWriter::with_capacity(1 << 20, file);
            let count = export(&store, args.all_leaves, args.attachments, &mut sink)?;
            sink.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            if !ctx.json {
                eprintln!("exported {count} documents to {}", path.display());
            }
        }
        _ => {
            let mut sink = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            export(&store, args.all_leaves, args.attachments, &mut sink)?;
            sink.flush()?;
        }
    }
    Ok(0)
}

/// Documents handed to a worker at a time.
const CHUNK: usize = 4096;
/// Threads reading bodies and rendering lines.
const WORKERS: usize = 2;

/// Write the documents to `sink`; returns how many lines were written.
pub fn export(store: &Store, all_leaves: bool, attachments: bool, sink: &mut impl Write) -> Result<u64> {
    if !all_leaves {
        return export_winners(store, attachments, sink);
    }
    let mut count = 0u64;
    let all = GetOptions { open_revs: Some(OpenRevs::All), revs: true, attachments, ..GetOptions::default() };
    for item in store.docs(None, None) {
        let (id, _) = item?;
        let Value::Array(leaves) = store.get(&id, &all)? else { continue };
        for leaf in leaves {
            if let Some(d) = leaf.get("ok") {
                serde_json::to_writer(&mut *sink, d)?;
                sink.write_all(b"\n")?;
                count += 1;
            }
        }
    }
    Ok(count)
}

/// The winners of every live document, in id order. One thread walks the refs in chunks,
/// `WORKERS` threads read the bodies and render each chunk's lines, and this thread writes
/// the rendered chunks in their original order.
fn export_winners(store: &Store, attachments: bool, sink: &mut impl Write) -> Result<u64> {
    type Rendered = (usize, Result<(Vec<u8>, u64)>);
    let (chunks_tx, chunks_rx) = crossbeam_channel::bounded::<(usize, Vec<_>)>(WORKERS * 2);
    let (lines_tx, lines_rx) = crossbeam_channel::bounded::<Rendered>(WORKERS * 2);
    std::thread::scope(|scope| {
        let walker = scope.spawn(move || -> Result<()> {
            let mut chunk = Vec::with_capacity(CHUNK);
            let mut number = 0;
            for item in store.docs(None, None) {
                chunk.push(item?);
                if chunk.len() == CHUNK {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
                    if chunks_tx.send((number, full)).is_err() {
                        return Ok(());
                    }
                    number += 1;
                }
            }
            let _ = chunks_tx.send((number, chunk));
            Ok(())
        });
        for _ in 0..WORKERS {
            let (chunks_rx, lines_tx) = (chunks_rx.clone(), lines_tx.clone());
            scope.spawn(move || {
                for (number, docs) in chunks_rx {
                    let rendered = render_chunk(store, &docs, attachments);
                    if lines_tx.send((number, rendered)).is_err() {
                        return;
                    }
                }
            });
        }
        drop((chunks_rx, lines_tx));
        // Moved in here so that an early return drops it: the workers' sends then fail, they
        // stop, and so does the walker, instead of all waiting on full channels.
        let lines_rx = lines_rx;
        // Write chunks in order, holding the few that arrive early.
        let mut early = std::collections::BTreeMap::new();
        let (mut next, mut count) = (0, 0u64);
        for (number, rendered) in lines_rx {
            early.insert(number, rendered);
            while let Some(rendered) = early.remove(&next) {
                let (text, lines) = rendered?;
                sink.write_all(&text)?;
                count += lines;
                next += 1;
            }
        }
        walker.join().map_err(|_| anyhow::anyhow!("the export walker thread panicked"))??;
        Ok(count)
    })
}

/// The lines of the live winners among `docs`, and how many there are.
fn render_chunk(
    store: &Store,
    docs: &[(settee::DocId, settee::refs::DocRef)],
    attachments: bool,
) -> Result<(Vec<u8>, u64)> {
    let mut text = Vec::with_capacity(docs.len() * 256);
    let mut lines = 0;
    let with_data = GetOptions { attachments: true, ..GetOptions::default() };
    for (id, doc) in docs {
        if attachments && doc.winner().is_some_and(|w| !w.deleted) {
            serde_json::to_writer(&mut text, &store.get(id, &with_data)?)?;
            text.push(b'\n');
            lines += 1;
        } else if store.write_winner_json(id, doc, &mut text)? {
            text.push(b'\n');
            lines += 1;
        }
    }
    Ok((text, lines))
}
