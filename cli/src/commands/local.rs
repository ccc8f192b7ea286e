//! `settee local put|get|rm ID`: `_local` documents (per store, never replicated, no history).

use std::path::PathBuf;

use anyhow::Result;
use serde_json::{json, Value};
use settee::{DocId, Incoming};

use super::read_input;
use crate::ctx::Ctx;
use crate::output::Out;

/// Read and write `_local/` documents.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Write `_local/ID` from FILE (or stdin); prints its new revision `0-N`.
    Put { id: String, file: Option<PathBuf> },
    /// Print `_local/ID`.
    Get { id: String },
    /// Delete `_local/ID`.
    #[command(visible_alias = "remove")]
    Rm { id: String },
}

fn local_id(id: &str) -> Result<DocId> {
    DocId::parse_local(id).map_err(|e| crate::exit::Usage(settee::Error::from(e).to_string()).into())
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<u8> {
    let mut out = Out::new();
    match &args.action {
        Action::Put { id, file } => {
            let id = local_id(id)?;
            let bytes = read_input(&ctx.cwd, file.as_deref())?;
            let doc = Incoming::from_slice(&bytes, id.as_str())?;
            if let Some(body_id) = doc.id.as_deref().filter(|b| *b != id.as_str()) {
                anyhow::bail!(crate::exit::Usage(format!(
                    "the body's _id {body_id:?} does not match the document id {:?}",
                    id.as_str()
                )));
            }
            let mut store = ctx.open_write()?;
            let rev = store.put_local(&id, &doc.body)?;
            if ctx.json {
                out.json(&json!({"ok": true, "id": id.as_str(), "rev": rev}))?;
            } else {
                out.line(&rev)?;
            }
        }
        Action::Get { id } => {
            let id = local_id(id)?;
            let store = ctx.open_read()?;
            let doc = store
                .get_local(&id)?
                .ok_or_else(|| settee::Error::NotFound { id: id.to_string(), why: "missing" })?;
            if ctx.json {
                out.json(&Value::Object(doc))?;
            } else {
                out.pretty(&Value::Object(doc))?;
            }
        }
        Action::Rm { id } => {
            let id = local_id(id)?;
            let mut store = ctx.open_write()?;
            if !store.remove_local(&id)? {
                return Err(settee::Error::NotFound { id: id.to_string(), why: "missing" }.into());
            }
            if ctx.json {
                out.json(&json!({"ok": true, "id": id.as_str(), "rev": "0-0"}))?;
            } else {
                out.line("0-0")?;
            }
        }
    }
    out.finish()?;
    Ok(0)
}
