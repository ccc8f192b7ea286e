//! `settee import FILE|- [--no-new-edits]`: bulk-load newline-delimited JSON documents.
//!
//! Lines are read by one thread, parsed in parallel by workers, and written in order in
//! batches, one commit (one fsync pair) per batch. A line that is not a valid document is
//! reported with its number and skipped; the other lines are written. Exit 1 if any line was
//! invalid, else 3 if any document conflicted, else 0.
//!
//! With `--json`, each committed (durable) batch prints
//! `{"type":"batch","data":{"line":N,"written":W}}` (every line up to N is acknowledged),
//! and the end prints `{"type":"summary","data":{...}}`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;

use anyhow::{Context, Result};
use crossbeam_channel::bounded;
use serde_json::json;
use settee::{Body, Incoming, Op};

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

struct Chunk {
    number: u64,
    first_line: u64,
    lines: Vec<Vec<u8>>,
}

type Parsed = (u64, Vec<(u64, Result<Op, String>)>);

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
    let replicated = args.no_new_edits;
    let batch = args.batch_size as usize;
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 8);

    let mut summary = Summary::default();
    let outcome: Result<()> = std::thread::scope(|scope| {
        let (chunk_tx, chunk_rx) = bounded::<Chunk>(workers * 2);
        let (parsed_tx, parsed_rx) = bounded::<Parsed>(workers * 2);
        let reader_bar = bar.clone();
        let reader = scope.spawn(move || -> Result<()> {
            let mut reader = BufReader::with_capacity(1 << 20, input);
            let mut number = 0;
            let mut line_no = 0;
            loop {
                let mut lines = Vec::with_capacity(batch);
                let first_line = line_no + 1;
                while lines.len() < batch {
                    let mut line = Vec::with_capacity(256);
                    let n = reader.read_until(b'\n', &mut line).context("reading input")?;
                    if n == 0 {
                        break;
                    }
                    line_no += 1;
                    reader_bar.inc(n as u64);
                    lines.push(line);
                }
                if lines.is_empty() {
                    return Ok(());
                }
                if chunk_tx.send(Chunk { number, first_line, lines }).is_err() {
                    return Ok(());
                }
                number += 1;
            }
        });
        for _ in 0..workers {
            let rx = chunk_rx.clone();
            let tx = parsed_tx.clone();
            scope.spawn(move || {
                for chunk in rx {
                    let parsed = chunk
                        .lines
                        .iter()
                        .enumerate()
                        .map(|(i, line)| (chunk.first_line + i as u64, line))
                        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
                        .map(|(n, line)| (n, parse_line(line, n, replicated)))
                        .collect();
                    if tx.send((chunk.number, parsed)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(chunk_rx);
        drop(parsed_tx);
        let mut pending = BTreeMap::new();
        let mut next = 0;
        for (number, parsed) in parsed_rx.iter() {
            pending.insert(number, parsed);
            while let Some(parsed) = pending.remove(&next) {
                next += 1;
                summary.write(&mut store, parsed)?;
                if ctx.json {
                    summary.acknowledge()?;
                }
            }
        }
        reader.join().map_err(|_| anyhow::anyhow!("input reader panicked"))??;
        Ok(())
    });
    bar.finish_and_clear();
    outcome?;
    store.checkpoint().context("checkpointing after import")?;
    summary.report(ctx)
}

/// Parse one input line into a write; errors read `line N: <what is wrong>`.
fn parse_line(line: &[u8], n: u64, replicated: bool) -> Result<Op, String> {
    let fail = |e: settee::Error| match e {
        settee::Error::InvalidDoc { why, .. } => format!("line {n}: {why}"),
        other => format!("line {n}: {other}"),
    };
    let doc = Incoming::from_slice(line, "").map_err(fail)?;
    let id = doc.doc_id("").map_err(fail)?;
    let body = Body::from_map(&doc.body);
    if replicated {
        let (rev, ancestry) = doc.replicated_rev(id.as_str()).map_err(fail)?;
        Ok(Op::Replicate { id, rev, ancestry, deleted: doc.deleted, body })
    } else {
        let base = match &doc.rev {
            Some(r) => Some(settee::RevId::parse(r).map_err(|e| fail(e.into()))?),
            None => None,
        };
        Ok(Op::Edit { id, base, deleted: doc.deleted, body })
    }
}

#[derive(Default)]
struct Summary {
    /// The last input line of the last committed batch.
    line: u64,
    written: u64,
    unchanged: u64,
    conflicts: u64,
    invalid: u64,
    reported: usize,
}

impl Summary {
    fn complain(&mut self, message: &str) {
        if self.reported < MAX_REPORTED {
            eprintln!("error: {message}");
        }
        self.reported += 1;
    }

    /// Print that everything up to `self.line` is durable.
    fn acknowledge(&self) -> Result<()> {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer(
            &mut stdout,
            &json!({"type": "batch", "data": {"line": self.line, "written": self.written}}),
        )?;
        stdout.write_all(b"\n")?;
        stdout.flush()?;
        Ok(())
    }

    fn write(&mut self, store: &mut settee::Store, parsed: Vec<(u64, Result<Op, String>)>) -> Result<()> {
        if let Some((n, _)) = parsed.last() {
            self.line = *n;
        }
        let mut ops = Vec::with_capacity(parsed.len());
        let mut lines = Vec::with_capacity(parsed.len());
        for (n, op) in parsed {
            match op {
                Ok(op) => {
                    ops.push(op);
                    lines.push(n);
                }
                Err(message) => {
                    self.invalid += 1;
                    self.complain(&message);
                }
            }
        }
        if ops.is_empty() {
            return Ok(());
        }
        let results = store.write(ops).context("writing a batch")?;
        for (n, result) in lines.into_iter().zip(results) {
            match result {
                Ok(w) if w.seq.is_some() => self.written += 1,
                Ok(_) => self.unchanged += 1,
                Err(e) => {
                    if e.kind() == settee::ErrorKind::Conflict {
                        self.conflicts += 1;
                    } else {
                        self.invalid += 1;
                    }
                    self.complain(&format!("line {n}: {e}"));
                }
            }
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
                "conflicts": self.conflicts, "invalid": self.invalid,
            }}))?;
        } else {
            out.line(&format!(
                "imported {} documents ({} unchanged, {} conflicts, {} invalid)",
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
