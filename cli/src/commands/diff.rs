//! `settee diff ID REV1 REV2`: what changed between two revisions' bodies and attachments.

use anyhow::Result;
use serde_json::{json, Value};
use settee::merge::{self, Change};
use settee::store::GetOptions;

use super::{parse_id, parse_rev};
use crate::ctx::Ctx;
use crate::output::Out;

/// Field paths added (+), removed (-) and changed (~) from REV1's body to REV2's, then the
/// attachments added, removed and changed (other bytes or content type).
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
    let (_, _, from) = store.revision_attachments(&id, Some(&parse_rev(&args.rev1)?))?;
    let (_, _, to) = store.revision_attachments(&id, Some(&parse_rev(&args.rev2)?))?;
    let c = settee::attachment::compare(&from, &to);
    let described =
        |a: &settee::attachment::Attachment| format!("{}, {} bytes, {}", a.content_type, a.length, a.digest);
    for name in &c.added {
        let a = &to[name];
        if ctx.json {
            out.json(&json!({"attachment": name, "op": "added", "to": a.stub()}))?;
        } else {
            out.line(&format!("+ attachment {name}: {}", described(a)))?;
        }
    }
    for name in &c.removed {
        let a = &from[name];
        if ctx.json {
            out.json(&json!({"attachment": name, "op": "removed", "from": a.stub()}))?;
        } else {
            out.line(&format!("- attachment {name}: {}", described(a)))?;
        }
    }
    for name in &c.changed {
        let (a, b) = (&from[name], &to[name]);
        if ctx.json {
            out.json(&json!({"attachment": name, "op": "changed", "from": a.stub(), "to": b.stub()}))?;
        } else {
            out.line(&format!("~ attachment {name}: {} -> {}", described(a), described(b)))?;
        }
    }
    out.finish()?;
    Ok(0)
}
