//! `settee diff ID REV1 REV2`: what changed between two revisions' bodies.

use anyhow::Result;
use serde_json::{json, Value};
use settee::merge::{self, Change};
use settee::store::GetOptions;

use super::{parse_id, parse_rev};
use crate::ctx::Ctx;
use crate::output::Out;

/// Field paths added (+), removed (-) and changed (~) from REV1's body to REV2's.
#[derive(clap::Args)]
pub struct Args {
    id: String,
    rev1: String,
    rev2: String,
}

fn body(store: &settee::Store, id: &settee::DocId, rev: &str) -> Result<serde_json::Map<String, Value>> {
    let doc = store.get(id, &GetOptions { rev: Some(parse_rev(rev)?), ..GetOptions::default() })?;
    let Value::Object(mut m) = doc else { return Ok(Default::default()) };
    m.retain(|k, _| !k.starts_with('_'));
    Ok(m)
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<u8> {
    let id = parse_id(&args.id)?;
    let store = ctx.open_read()?;
    let (a, b) = (body(&store, &id, &args.rev1)?, body(&store, &id, &args.rev2)?);
    let mut out = Out::new();
    for (path, change) in merge::diff(&a, &b) {
        let path = merge::path_string(&path);
        if ctx.json {
            let row = match change {
                Change::Added(v) => json!({"path": path, "op": "added", "to": v}),
                Change::Removed(v) => json!({"path": path, "op": "removed", "from": v}),
                Change::Changed { from, to } => {
                    json!({"path": path, "op": "changed", "from": from, "to": to})
                }
            };
            out.json(&row)?;
        } else {
            out.line(&match change {
                Change::Added(v) => format!("+ {path}: {v}"),
                Change::Removed(v) => format!("- {path}: {v}"),
                Change::Changed { from, to } => format!("~ {path}: {from} -> {to}"),
            })?;
        }
    }
    out.finish()?;
    Ok(0)
}
