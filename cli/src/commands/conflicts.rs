//! `settee conflicts`: documents with more than one live leaf.

use anyhow::Result;
use serde_json::json;

use crate::ctx::Ctx;
use crate::output::Out;

/// List documents in conflict: the winner and the other live leaves.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(ctx: &Ctx, _args: &Args) -> Result<u8> {
    let store = ctx.open_read()?;
    let mut out = Out::new();
    for item in store.docs(None, None) {
        let (id, doc) = item?;
        let live: Vec<String> = doc.leaves.iter().filter(|l| !l.deleted).map(|l| l.rev.to_string()).collect();
        if live.len() < 2 {
            continue;
        }
        if ctx.json {
            out.json(&json!({"id": id.as_str(), "winner": live[0], "conflicts": &live[1..]}))?;
        } else {
            out.line(&format!("{id}\twinner {}\tconflicts {}", live[0], live[1..].join(",")))?;
        }
    }
    out.finish()?;
    Ok(0)
}
