//! `settee import FILE|- [--no-new-edits]`: bulk-load newline-delimited JSON documents.
//!
//! Lines are read and parsed on threads of their own (`settee::import`) and written in
//! order in batches, one commit (one fsync pair) per batch, or, while another writer waits
//! for the lock, commits of at most 1,000 documents with the lock let go between them
//! (`Store::write_bulk`). A line that is not a valid document is
//! reported with its number and skipped; the other lines are written. Exit 1 if any line was
//! invalid, else 3 if any document conflicted, else 0.
//!
//! A line without `_id` (and without `_rev`) is a new document and gets a random id, as
//! CouchDB's `_bulk_docs` gives one. With `--json`, each committed (durable) batch prints
//! `{"type":"id","data":{"line":N,"id":ID,"rev":REV}}` for each such line it wrote, then
//! `{"type":"batch","data":{"line":N,"written":W}}` (every line up to N is acknowledged);
//! the end prints `{"type":"summary","data":{...}}`.
//!
//! Errors go to stderr in line order, at most [`MAX_REPORTED`] of them.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::json;

use crate::ctx::{absolute, Ctx};
use crate::exit;
use crate::output::Out;

/// Load documents, one JSON object per line, from FILE (or stdin for -).
#[derive(clap::Args)]
pub struct Args {
    file: PathBuf,
    /// Treat each line as replicated history: it carries `_rev` and `_revisions` and is
    /// merged into the revision tree without minting a new revision (CouchDB new_edits=false).
    #[arg(long)]
    no_new_edits: bool,
    /// Documents per commit.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    batch_size: u32,
}

const MAX_REPORTED: usize = 20;

pub fn run(ctx: &Ctx, args: &Args) -> Result<u8> {
    let mut store = ctx.open_write()?;
    let (input, total): (Box<dyn Read + Send>, Option<u64>) = if args.file == std::path::Path::new("-") {
        (Box::new(std::io::stdin()), None)
    } else {
        let path = absolute(&ctx.cwd, &args.file);
        let file = std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        let len = file.metadata().ok().map(|m| m.len());
        (Box::new(file), len)
    };
    let bar = crate::progress::bytes(total, ctx.json, "importing");
    let options = settee::import::Options {
        replicated: args.no_new_edits,
        chunk_lines: args.batch_size as usize,
        input_name: args.file.clone(),
        ..Default::default()
    };
    let reader_bar = bar.clone();
    let mut summary = Summary::default();
    let outcome: Result<()> = (|| {
        for chunk in settee::import::parse_lines(input, &options, move |n| reader_bar.inc(n)) {
            summary.write(&mut store, chunk?)?;
            if ctx.json {
                summary.acknowledge()?;
            } else {
                summary.new_ids.clear();
            }
        }
        Ok(())
    })();
    bar.finish_and_clear();
    outcome?;
    store.checkpoint().context("checkpointing after import")?;
    summary.report(ctx)
}

#[derive(Default)]
struct Summary {
    /// The last input line of the last committed batch.
    line: u64,
    written: u64,
    unchanged: u64,
    conflicts: u64,
    invalid: u64,
    /// Documents written under a generated id.
    generated: u64,
    reported: usize,
    /// The current batch's generated ids: line, id, revision.
    new_ids: Vec<(u64, String, String)>,
}

impl Summary {
    fn complain(&mut self, message: &str) {
        if self.reported < MAX_REPORTED {
            eprintln!("error: {message}");
        }
        self.reported += 1;
    }

    /// Print the batch's generated ids, and that everything up to `self.line` is durable.
    fn acknowledge(&mut self) -> Result<()> {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        for (line, id, rev) in self.new_ids.drain(..) {
            serde_json::to_writer(
                &mut stdout,
                &json!({"type": "id", "data": {"line": line, "id": id, "rev": rev}}),
            )?;
            stdout.write_all(b"\n")?;
        }
        serde_json::to_writer(
            &mut stdout,
            &json!({"type": "batch", "data": {"line": self.line, "written": self.written}}),
        )?;
        stdout.write_all(b"\n")?;
        stdout.flush()?;
        Ok(())
    }

    fn write(&mut self, store: &mut settee::Store, chunk: settee::import::Chunk) -> Result<()> {
        self.line = chunk.last_line;
        let mut ops = Vec::with_capacity(chunk.lines.len());
        let mut lines = Vec::with_capacity(chunk.lines.len());
        // The chunk's complaints, sorted by line before they are printed: lines that do not
        // parse are known now, write failures only after the write.
        let mut complaints: Vec<(u64, String)> = Vec::new();
        for (n, op) in chunk.lines {
            match op {
                Ok(op) => {
                    ops.push(op);
                    lines.push(n);
                }
                Err(message) => {
                    self.invalid += 1;
                    complaints.push((n, message));
                }
            }
        }
        if !ops.is_empty() {
            let results = store.write_bulk(ops).context("writing a batch")?;
            let mut generated = chunk.generated.iter().peekable();
            for (n, result) in lines.into_iter().zip(results) {
                let was_generated = generated.next_if_eq(&&n).is_some();
                match result {
                    Ok(w) => {
                        if w.seq.is_some() {
                            self.written += 1;
                        } else {
                            self.unchanged += 1;
                        }
                        if was_generated {
                            self.generated += 1;
                            self.new_ids.push((n, w.id.to_string(), w.rev.to_string()));
                        }
                    }
                    Err(e) => {
                        if e.kind() == settee::ErrorKind::Conflict {
                            self.conflicts += 1;
                        } else {
                            self.invalid += 1;
                        }
                        complaints.push((n, format!("line {n}: {e}")));
                    }
                }
            }
        }
        complaints.sort_by_key(|(n, _)| *n);
        for (_, message) in complaints {
            self.complain(&message);
        }
        Ok(())
    }

    fn report(&self, ctx: &Ctx) -> Result<u8> {
        if self.reported > MAX_REPORTED {
            eprintln!("error: ... and {} more", self.reported - MAX_REPORTED);
        }
        let mut out = Out::new();
        if ctx.json {
            out.json(&json!({"type": "summary", "data": {
                "written": self.written, "unchanged": self.unchanged,
                "conflicts": self.conflicts, "invalid": self.invalid, "generated_ids": self.generated,
            }}))?;
        } else {
            let generated = match self.generated {
                0 => String::new(),
                n => format!("; {n} given new ids, listed by --json"),
            };
            out.line(&format!(
                "imported {} documents ({} unchanged, {} conflicts, {} invalid{generated})",
                self.written, self.unchanged, self.conflicts, self.invalid
            ))?;
        }
        out.finish()?;
        Ok(if self.invalid > 0 {
            exit::ERROR
        } else if self.conflicts > 0 {
            exit::CONFLICT
        } else {
            exit::OK
        })
    }
}
