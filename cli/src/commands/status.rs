//! `settee status`: what the store holds, and where each remote stands.
//!
//! Works from this store's own files and the checkpoint logs replication leaves in it
//! (`_local/settee-rep-*`), like git's tracking refs: a remote that is a store or a bundle
//! is opened only to learn its identity (its uuid names the replication), never written.

use anyhow::Result;
use serde_json::{json, Value};
use settee::replicate::checkpoint;
use settee::store::OpenOptions;
use settee::transport::Transport;
use settee::{DocId, Seq, Store};

use crate::ctx::Ctx;
use crate::location::{resolve, Location};
use crate::output::Out;

/// Documents, conflicts, and for each remote the changes not yet pushed and when it last
/// synced.
#[derive(clap::Args)]
pub struct Args {}

/// Where one remote stands, as this store's checkpoint logs record it.
struct RemoteStatus {
    name: String,
    location: String,
    /// Documents changed here since the last push (all of them when never pushed); `None`
    /// when the remote cannot be pushed to or could not be identified.
    unpushed: Option<u64>,
    pushed_seq: Option<String>,
    fetched_seq: Option<String>,
    last_synced: Option<std::time::SystemTime>,
    /// Why the rest is unknown.
    note: Option<String>,
}

pub fn run(ctx: &Ctx, _args: &Args) -> Result<u8> {
    let store = ctx.open_read()?;
    let stats = store.stats()?;
    let remotes: Vec<RemoteStatus> = store
        .config()
        .remotes
        .iter()
        .map(|(name, location)| remote_status(ctx, &store, name, location))
        .collect::<Result<_>>()?;
    let mut out = Out::new();
    if ctx.json {
        let remotes: Vec<Value> = remotes
            .iter()
            .map(|r| {
                json!({
                    "name": r.name, "location": r.location, "unpushed_documents": r.unpushed,
                    "pushed_seq": r.pushed_seq, "fetched_seq": r.fetched_seq,
                    "last_synced": r.last_synced.map(httpdate::fmt_http_date), "note": r.note,
                })
            })
            .collect();
        out.json(&json!({
            "store": store.root(), "documents": stats.documents, "deleted": stats.deleted,
            "conflicted": stats.conflicted, "local": stats.local, "last_seq": stats.last_seq.0,
            "remotes": remotes,
        }))?;
    } else {
        out.line(&format!("store       {}", store.root().display()))?;
        out.line(&format!("documents   {} ({} deleted)", stats.documents, stats.deleted))?;
        let conflicts = match stats.conflicted {
            0 => "0".to_string(),
            n => format!("{n} (list them with `settee conflicts`)"),
        };
        out.line(&format!("conflicts   {conflicts}"))?;
        out.line(&format!("last seq    {}", stats.last_seq))?;
        if remotes.is_empty() {
            out.line("remotes     none (add one with `settee remote add NAME LOCATION`)")?;
        }
        for r in &remotes {
            out.line(&format!("remote {} ({})", r.name, r.location))?;
            if let Some(note) = &r.note {
                out.line(&format!("  {note}"))?;
            }
            match (r.unpushed, &r.pushed_seq) {
                (Some(0), _) => out.line("  everything here has been pushed")?,
                (Some(n), Some(seq)) => {
                    out.line(&format!("  {n} documents changed here since the last push (at seq {seq})"))?
                }
                (Some(n), None) => out.line(&format!("  never pushed: {n} documents to push"))?,
                (None, _) => {}
            }
            if r.note.is_none() && r.fetched_seq.is_none() {
                out.line("  never fetched")?;
            }
            if let Some(t) = r.last_synced {
                out.line(&format!("  last synced {}", httpdate::fmt_http_date(t)))?;
            }
        }
    }
    out.finish()?;
    Ok(0)
}

fn remote_status(ctx: &Ctx, store: &Store, name: &str, text: &str) -> Result<RemoteStatus> {
    let mut status = RemoteStatus {
        name: name.to_string(),
        location: text.to_string(),
        unpushed: None,
        pushed_seq: None,
        fetched_seq: None,
        last_synced: None,
        note: None,
    };
    let peer_id = match resolve(ctx, &Default::default(), text) {
        Ok(Location::Store(root)) => match Store::open(&root, OpenOptions::default()) {
            Ok(peer) => peer.uuid(),
            Err(e) => {
                status.note = Some(format!("cannot be opened: {e}"));
                return Ok(status);
            }
        },
        Ok(Location::Bundle(path)) => match settee::bundle::Bundle::open(&path) {
            Ok(bundle) => settee::transport::bundle::BundleSource::new(bundle).info()?.id,
            Err(e) => {
                status.note = Some(format!("cannot be read: {e}"));
                return Ok(status);
            }
        },
        Ok(Location::Http(_)) => {
            status.note = Some("an HTTP server: not checked".into());
            return Ok(status);
        }
        Err(e) => {
            status.note = Some(format!("cannot be reached: {}", crate::exit::one_line(&e)));
            return Ok(status);
        }
    };
    let here = store.uuid();
    let log = |source: &str, target: &str| -> Result<Option<serde_json::Map<String, Value>>> {
        let id = DocId::parse_local(&checkpoint::replication_id(source, target, ""))
            .map_err(settee::Error::from)?;
        Ok(store.get_local(&id)?)
    };
    let fetch_log = log(&peer_id, &here)?;
    status.fetched_seq = fetch_log.as_ref().and_then(checkpoint::source_last_seq).map(str::to_string);
    let mut times: Vec<std::time::SystemTime> =
        fetch_log.iter().filter_map(checkpoint::last_recorded).collect();
    if peer_id.starts_with("bundle:") {
        status.note = Some("a bundle: fetch only".into());
    } else {
        let push_log = log(&here, &peer_id)?;
        status.pushed_seq = push_log.as_ref().and_then(checkpoint::source_last_seq).map(str::to_string);
        times.extend(push_log.iter().filter_map(checkpoint::last_recorded));
        let since = status.pushed_seq.as_deref().and_then(|s| s.parse().ok()).map_or(Seq(0), Seq);
        let mut unpushed = 0;
        for change in store.changes(since) {
            change?;
            unpushed += 1;
        }
        status.unpushed = Some(unpushed);
    }
    status.last_synced = times.into_iter().max();
    Ok(status)
}
