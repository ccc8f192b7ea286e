//! `settee changes`: the changes feed, one row per document at its latest sequence, and with
//! `--follow` CouchDB's continuous feed: each new change as it is committed, by this or any
//! other process, until SIGINT, SIGTERM or a closed output pipe.
//!
//! Following keeps the store open and waits on it for the last sequence to pass the one it
//! has seen (`Store::wait_for_seq`, which refreshes the view), then prints the feed from the
//! last sequence printed; a commit by another process shows within about 25 ms.

use std::time::Duration;

use anyhow::Result;
use serde_json::{json, Value};
use settee::{Seq, Store};

use crate::ctx::Ctx;
use crate::output::Out;

/// Print changes after SEQ: `{"seq", "id", "changes": [{"rev"}], "deleted"?}` per document.
#[derive(clap::Args)]
pub struct Args {
    /// Only changes after this sequence (exclusive).
    #[arg(long, default_value_t = 0)]
    since: u64,
    /// At most N rows.
    #[arg(long)]
    limit: Option<usize>,
    /// List every leaf revision (winner first), not only the winner.
    #[arg(long)]
    all_docs: bool,
    /// Keep printing new changes as they are committed, until interrupted (SIGINT or
    /// SIGTERM, then exit 0) or the output pipe closes.
    #[arg(long)]
    follow: bool,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<u8> {
    let mut store = ctx.open_read()?;
    let mut out = Out::new();
    // With no rows, the feed ends where the store does (never past it).
    let mut last = Seq(args.since.min(store.last_seq().0));
    let mut left = args.limit.unwrap_or(usize::MAX);
    print_changes(ctx, args, &store, &mut last, &mut left, &mut out)?;
    if args.follow && left > 0 {
        crate::stop::catch_signals();
        out.flush()?;
        while left > 0 && !crate::stop::requested() && !stdout_closed() {
            // Wake now and then to notice a signal or a closed pipe.
            if store.wait_for_seq(store.last_seq(), Duration::from_millis(100))? {
                print_changes(ctx, args, &store, &mut last, &mut left, &mut out)?;
                out.flush()?;
            }
        }
    }
    if ctx.json {
        out.json(&json!({"last_seq": last.0}))?;
    }
    out.finish()?;
    Ok(0)
}

/// Whether the reader of our stdout has gone (a pipe whose other end closed).
fn stdout_closed() -> bool {
    let mut fd = libc::pollfd { fd: 1, events: 0, revents: 0 };
    // SAFETY: one valid pollfd, no waiting.
    let ready = unsafe { libc::poll(&mut fd, 1, 0) };
    ready > 0 && fd.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

/// Print the changes after `last`, at most `left` of them, moving both on.
fn print_changes(
    ctx: &Ctx,
    args: &Args,
    store: &Store,
    last: &mut Seq,
    left: &mut usize,
    out: &mut Out,
) -> Result<()> {
    // After what was printed, and never before `--since` (which may lie past the store's end).
    let from = Seq(last.0.max(args.since));
    for change in store.changes(from).take(*left) {
        let change = change?;
        *left -= 1;
        *last = change.seq;
        let leaves = if args.all_docs { &change.doc.leaves[..] } else { &change.doc.leaves[..1] };
        if ctx.json {
            let revs: Vec<Value> = leaves.iter().map(|l| json!({"rev": l.rev.to_string()})).collect();
            let mut row = json!({"seq": change.seq.0, "id": change.id.as_str(), "changes": revs});
            if change.deleted() {
                row["deleted"] = Value::Bool(true);
            }
            out.json(&row)?;
        } else {
            let revs: Vec<String> = leaves.iter().map(|l| l.rev.to_string()).collect();
            let deleted = if change.deleted() { "\tdeleted" } else { "" };
            out.line(&format!("{}\t{}\t{}{deleted}", change.seq, change.id, revs.join(",")))?;
        }
    }
    Ok(())
}
