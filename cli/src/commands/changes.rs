//! `settee changes`: the changes feed, one row per document at its latest sequence.

use anyhow::Result;
use serde_json::{json, Value};
use settee::Seq;

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
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<u8> {
    let store = ctx.open_read()?;
    let mut out = Out::new();
    // With no rows, the feed ends where the store does (never past it).
    let mut last = Seq(args.since.min(store.last_seq().0));
    for change in store.changes(Seq(args.since)).take(args.limit.unwrap_or(usize::MAX)) {
        let change = change?;
        last = change.seq;
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
    if ctx.json {
        out.json(&json!({"last_seq": last.0}))?;
    }
    out.finish()?;
    Ok(0)
}
