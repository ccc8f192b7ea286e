//! `settee cat-object OID`: print one object (plumbing, for inspection).

use anyhow::Result;
use serde_json::{json, Value};
use settee::id::Kind;
use settee::object::Revision;
use settee::ObjectId;

use crate::ctx::Ctx;
use crate::output::Out;

/// Print the object named OID: a body as JSON, a revision as its decoded fields.
#[derive(clap::Args)]
pub struct Args {
    oid: String,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<u8> {
    let oid = ObjectId::from_hex(args.oid.as_bytes())
        .map_err(|_| crate::exit::Usage(format!("{:?} is not a 40-character hex object id", args.oid)))?;
    let store = ctx.open_read()?;
    let (kind, bytes) = store.odb().read(&oid)?.ok_or(settee::Error::ObjectNotFound { oid })?;
    let value = match kind {
        Kind::Body => {
            let body: Value = serde_json::from_slice(&bytes)?;
            json!({"type": "body", "body": body})
        }
        Kind::Dictionary => json!({"type": "dictionary", "bytes": bytes.len()}),
        Kind::Revision => {
            let r = Revision::decode(&bytes)?;
            json!({
                "type": "revision", "doc": r.doc.as_str(), "rev": r.rev.to_string(), "deleted": r.deleted,
                "body": r.body.to_string(), "parent": r.parent.map(|p| p.to_string()),
                "ancestry": r.ancestry.iter().map(ToString::to_string).collect::<Vec<_>>(),
            })
        }
    };
    let mut out = Out::new();
    if ctx.json {
        out.json(&value)?;
    } else {
        out.pretty(&value)?;
    }
    out.finish()?;
    Ok(0)
}
