//! `settee fsck`: verify the whole store and name every problem found.

use anyhow::Result;
use serde_json::json;

use crate::ctx::Ctx;
use crate::exit;
use crate::output::Out;

/// Verify every frame checksum, that every object hashes to its id, that indexes match
/// packs, that refs and the changes feed point to existing revisions and that every leaf
/// body is present. Exit 1 and name each finding (file and offset, object, or document).
#[derive(clap::Args)]
pub struct Args {}

pub fn run(ctx: &Ctx, _args: &Args) -> Result<u8> {
    let root = ctx.store_dir()?;
    let findings = settee::store::fsck(&root)?;
    let mut out = Out::new();
    if ctx.json {
        let list: Vec<_> = findings.iter().map(|f| json!({"place": f.place, "problem": f.problem})).collect();
        out.json(&json!({"ok": findings.is_empty(), "findings": list}))?;
    } else if findings.is_empty() {
        out.line("ok")?;
    } else {
        for f in &findings {
            out.line(&f.to_string())?;
        }
    }
    out.finish()?;
    if !findings.is_empty() && !ctx.json {
        eprintln!(
            "error: fsck found {} problem{}",
            findings.len(),
            if findings.len() == 1 { "" } else { "s" }
        );
    }
    Ok(if findings.is_empty() { exit::OK } else { exit::ERROR })
}
