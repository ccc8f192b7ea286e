//! `settee init [PATH]`: create `PATH/.settee`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::json;

use crate::ctx::{absolute, Ctx};
use crate::output::Out;

/// Create an empty store in PATH (default: the current directory).
#[derive(clap::Args)]
pub struct Args {
    path: Option<PathBuf>,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<u8> {
    let base = args.path.as_deref().map_or(ctx.cwd.clone(), |p| absolute(&ctx.cwd, p));
    let dir = match ctx.named_store_dir() {
        Some(d) if args.path.is_none() => d,
        _ => base.join(settee::store::DIR_NAME),
    };
    settee::Store::init(&dir).with_context(|| format!("creating a store in {}", dir.display()))?;
    let mut out = Out::new();
    if ctx.json {
        out.json(&json!({"ok": true, "path": dir}))?;
    } else {
        out.line(&format!("Initialized empty settee store in {}", dir.display()))?;
    }
    out.finish()?;
    Ok(0)
}
