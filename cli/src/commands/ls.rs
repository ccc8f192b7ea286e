//! `settee ls`: documents by id (winners of documents that are not deleted).

use anyhow::Result;
use serde_json::{json, Value};

use crate::ctx::Ctx;
use crate::output::Out;

/// List documents in id order, with their winning revision.
#[derive(clap::Args)]
pub struct Args {
    /// Include each document's body.
    #[arg(long)]
    include_docs: bool,
    /// First id to list.
    #[arg(long)]
    start_key: Option<String>,
    /// Last id to list (inclusive).
    #[arg(long)]
    end_key: Option<String>,
    /// List at most N documents.
    #[arg(long)]
    limit: Option<usize>,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<u8> {
    let store = ctx.open_read()?;
    let mut out = Out::new();
    let docs = store.docs(args.start_key.as_deref(), args.end_key.as_deref());
    let mut n = 0;
    for item in docs {
        if args.limit.is_some_and(|l| n >= l) {
            break;
        }
        let (id, doc) = item?;
        let Some(winner) = doc.winner().filter(|w| !w.deleted) else { continue };
        n += 1;
        let body = if args.include_docs {
            let (_, body) = store.winner_body(&id, &doc)?.unwrap_or((winner.rev.clone(), Default::default()));
            // `_id`, `_rev`, the body, attachments as stubs.
            Some(Value::Object(settee::store::render_doc(&id, &winner.rev, false, body)))
        } else {
            None
        };
        if ctx.json {
            let mut row = json!({"id": id.as_str(), "rev": winner.rev.to_string()});
            if let Some(b) = body {
                row["doc"] = b;
            }
            out.json(&row)?;
        } else {
            match body {
                Some(b) => out.line(&format!("{id}\t{}\t{}", winner.rev, b))?,
                None => out.line(&format!("{id}\t{}", winner.rev))?,
            }
        }
    }
    out.finish()?;
    Ok(0)
}
