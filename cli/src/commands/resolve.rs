//! `settee resolve ID [FILE|-] [--keep REV] [--merge]`: end a conflict in one commit.

use std::path::PathBuf;

use anyhow::{bail, Result};
use serde_json::{json, Value};
use settee::merge;

use super::{parse_id, parse_rev, read_input};
use crate::ctx::Ctx;
use crate::exit::{self, NotFound};
use crate::output::Out;

/// Write the merged body (from FILE or stdin, the body of --keep REV, or a three-way merge
/// with --merge) as a child of the winner, and a tombstone on every other live leaf, in one
/// commit. With --merge, clashing fields are printed and nothing is written (exit 3).
#[derive(clap::Args)]
pub struct Args {
    id: String,
    file: Option<PathBuf>,
    /// Keep the body of this revision.
    #[arg(long, value_name = "REV", conflicts_with_all = ["file", "merge"])]
    keep: Option<String>,
    /// Merge the live leaves field by field against their common ancestor.
    #[arg(long, conflicts_with = "file")]
    merge: bool,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<u8> {
    let id = parse_id(&args.id)?;
    let mut store = ctx.open_write()?;
    if store.doc_ref(&id)?.is_none() {
        return Err(settee::Error::NotFound { id: id.to_string(), why: "missing" }.into());
    }
    let leaves = store.live_leaves(&id)?;
    if leaves.len() < 2 {
        bail!("{id} has no conflicts to resolve ({} live leaf revision)", leaves.len());
    }
    let body = if let Some(keep) = &args.keep {
        let rev = parse_rev(keep)?;
        match leaves.iter().find(|(r, _)| *r == rev) {
            Some((_, b)) => b.clone(),
            None => bail!(NotFound(format!("{rev} is not a live leaf revision of {id}"))),
        }
    } else if args.merge {
        let Some((base_rev, base)) = store.common_ancestor(&id)? else {
            bail!("{id}: the common ancestor's body is not stored here, so a three-way merge is impossible");
        };
        let mut merged = leaves[0].1.clone();
        let mut clashes = Vec::new();
        for (_, theirs) in &leaves[1..] {
            match merge::merge3(&base, &merged, theirs) {
                Ok(m) => merged = m,
                Err(c) => clashes.extend(c),
            }
        }
        if !clashes.is_empty() {
            let mut out = Out::new();
            for c in &clashes {
                let show = |v: &Option<Value>| v.as_ref().map_or("(absent)".to_string(), ToString::to_string);
                if ctx.json {
                    out.json(&json!({"path": merge::path_string(&c.path), "base": c.base, "ours": c.ours, "theirs": c.theirs}))?;
                } else {
                    out.line(&format!(
                        "clash at {}: base {} ({base_rev}), ours {}, theirs {}",
                        merge::path_string(&c.path),
                        show(&c.base),
                        show(&c.ours),
                        show(&c.theirs)
                    ))?;
                }
            }
            out.finish()?;
            eprintln!(
                "error: {id}: {} field(s) clash; nothing written (resolve with FILE or --keep)",
                clashes.len()
            );
            return Ok(exit::CONFLICT);
        }
        merged
    } else {
        let bytes = read_input(&ctx.cwd, args.file.as_deref())?;
        settee::Incoming::from_slice(&bytes, id.as_str())?.body
    };
    // The leaves may have changed since they were read (another writer): resolving them
    // now would tombstone a revision nobody looked at, so that is a conflict.
    let read: Vec<settee::RevId> = leaves.into_iter().map(|(r, _)| r).collect();
    let resolved = store.locked(|store| {
        let now: Vec<settee::RevId> = store.live_leaves(&id)?.into_iter().map(|(r, _)| r).collect();
        if now != read {
            let why = "changed by another writer while it was being resolved; try again".to_string();
            return Err(settee::Error::Conflict { id: id.clone(), why });
        }
        store.resolve(&id, &body)
    })?;
    let mut out = Out::new();
    if ctx.json {
        let tomb: Vec<String> = resolved.tombstones.iter().map(ToString::to_string).collect();
        out.json(
            &json!({"ok": true, "id": id.as_str(), "rev": resolved.rev.to_string(), "tombstones": tomb}),
        )?;
    } else {
        out.line(&resolved.rev.to_string())?;
    }
    out.finish()?;
    Ok(0)
}
