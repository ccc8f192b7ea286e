//! `settee fsck [--repair [--from LOCATION]]`: verify the whole store and name every problem
//! found; with `--repair`, rebuild it from what is intact and restore the rest from a replica.

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use settee::repair::{self, fetch::Fetched, Wanted};
use settee::store::OpenOptions;
use settee::transport::local::LocalStore;
use settee::Store;

use crate::ctx::Ctx;
use crate::exit::{self, Usage};
use crate::location::{resolve, Location};
use crate::output::Out;

/// Verify every frame checksum, that every object hashes to its id, that indexes match
/// packs, that refs and the changes feed point to existing revisions and that every leaf
/// body is present. Exit 1 and name each finding (file and offset, object, or document).
#[derive(clap::Args)]
pub struct Args {
    /// Rebuild a damaged store from what is intact (packs' intact objects, the refs table's
    /// intact groups, the journal's intact records), keep the replaced files in the
    /// quarantine, and name every document that could not be saved (then exit 1).
    #[arg(long)]
    repair: bool,
    /// With --repair: fetch the documents that could not be saved from this replica (a
    /// remote's name, a path to a settee store, or a bundle file).
    #[arg(long, value_name = "LOCATION", requires = "repair")]
    from: Option<String>,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<u8> {
    if args.repair {
        return run_repair(ctx, args);
    }
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

/// One line per event: text for people, `{"type", "data"}` objects with `--json`.
struct Events {
    out: Out,
    json: bool,
}

impl Events {
    fn emit(&mut self, kind: &str, data: Value, text: &str) -> Result<()> {
        if self.json {
            self.out.json(&json!({"type": kind, "data": data}))
        } else {
            self.out.line(text)
        }
    }
}

fn revs_text(revs: &[String]) -> String {
    if revs.is_empty() {
        String::new()
    } else {
        format!(" ({})", revs.join(", "))
    }
}

fn run_repair(ctx: &Ctx, args: &Args) -> Result<u8> {
    let root = ctx.store_dir()?;
    let options = repair::Options { wait_for_lock: ctx.wait, ..Default::default() };
    let outcome = repair::repair(&root, &options).with_context(|| format!("repairing {}", root.display()))?;
    let mut ev = Events { out: Out::new(), json: ctx.json };
    for a in &outcome.actions {
        ev.emit("action", json!({"what": a}), a)?;
    }
    if outcome.generation.is_none() {
        ev.emit("action", json!({"what": "nothing to rebuild"}), "nothing to rebuild: fsck finds no damage")?;
    }
    let mut named: Vec<String> = Vec::new();
    for u in &outcome.unsaved {
        let revs: Vec<String> = u.revs.iter().map(|(r, _)| r.clone()).collect();
        ev.emit(
            "unsaved",
            json!({"id": u.id, "revs": revs, "why": u.why}),
            &format!("could not save: {}{}: {}", u.id, revs_text(&revs), u.why),
        )?;
        named.push(u.id.clone());
    }
    if let Some(from) = &args.from {
        let wanted = repair::notes::wanted(&root);
        if wanted.is_empty() {
            ev.emit(
                "action",
                json!({"what": "nothing to fetch"}),
                "nothing to fetch: no document is missing",
            )?;
        } else {
            let (location, fetched) = fetch_from(ctx, &root, from, &wanted)?;
            ev.emit(
                "fetched",
                json!({"location": location.to_string(), "revisions": fetched.revisions, "documents": fetched.documents}),
                &format!(
                    "fetched {} revisions of {} documents from {location}",
                    fetched.revisions, fetched.documents
                ),
            )?;
            for id in &fetched.restored {
                ev.emit("restored", json!({"id": id}), &format!("restored: {id}"))?;
            }
            for (id, revs) in &fetched.lacking {
                ev.emit(
                    "lacking",
                    json!({"id": id, "revs": revs}),
                    &format!("could not save: {id}{}: the replica lacks it", revs_text(revs)),
                )?;
                named.push(id.clone());
            }
            if fetched.lacking.is_empty() {
                repair::notes::close_all(&root)?;
            }
        }
    }
    // What stays unsaved, as the notes say: named here unless named above already.
    let left = repair::notes::wanted(&root);
    for (id, revs) in left.docs.iter().filter(|(id, _)| !named.contains(id)) {
        let revs: Vec<String> = revs.iter().map(|(r, _)| r.clone()).collect();
        ev.emit(
            "unsaved",
            json!({"id": id, "revs": revs, "why": "named by an earlier repair"}),
            &format!("could not save: {id}{}: named by an earlier repair", revs_text(&revs)),
        )?;
    }
    for r in &left.ranges {
        let data = json!({"after": r.after, "before": r.before});
        ev.emit("unknown", data, &format!("could not save: {} (a damaged refs table group)", r.describe()))?;
    }
    if left.everything {
        ev.emit(
            "unknown",
            json!({"lost_commits": true}),
            "could not save: the documents of lost journal commits (see the quarantine's NOTES)",
        )?;
    }
    // The repaired store must pass fsck, but for the open notes just named.
    let quarantine = root.join(settee::store::recovery::QUARANTINE_DIR).display().to_string();
    let findings: Vec<_> =
        settee::store::fsck(&root)?.into_iter().filter(|f| f.place != quarantine).collect();
    for f in &findings {
        ev.emit("finding", json!({"place": f.place, "problem": f.problem}), &format!("still damaged: {f}"))?;
    }
    ev.out.finish()?;
    if left.is_empty() && findings.is_empty() {
        return Ok(exit::OK);
    }
    if !ctx.json {
        let mut what = Vec::new();
        if !left.docs.is_empty() {
            what.push(format!("{} documents could not be saved", left.docs.len()));
        }
        if !left.ranges.is_empty() || left.everything {
            what.push("documents of damaged refs groups or lost commits are unknown".to_string());
        }
        if !findings.is_empty() {
            what.push(format!("{} problems remain", findings.len()));
        }
        eprintln!("error: {}", what.join("; "));
        eprintln!("hint: `settee fsck --repair --from LOCATION` fetches them from a replica");
    }
    Ok(exit::ERROR)
}

/// Fetch what the notes want from the replica at LOCATION `from`.
fn fetch_from(ctx: &Ctx, root: &std::path::Path, from: &str, wanted: &Wanted) -> Result<(Location, Fetched)> {
    let mut here = Store::open(root, OpenOptions { write: true, wait_for_lock: ctx.wait })
        .with_context(|| format!("opening {} for writing", root.display()))?;
    let remotes = here.config().remotes.clone();
    let location = resolve(ctx, &remotes, from)?;
    let fetched = match &location {
        Location::Store(peer_root) => {
            if peer_root.canonicalize().ok() == root.canonicalize().ok() {
                bail!(Usage("a store cannot repair from itself".into()));
            }
            let mut peer = Store::open(peer_root, OpenOptions::default())
                .with_context(|| format!("opening {}", peer_root.display()))?;
            repair::fetch::fetch(&mut here, &mut LocalStore::new(&mut peer), wanted)
        }
        Location::Bundle(path) => {
            let bundle = settee::bundle::Bundle::open(path)?;
            let mut source = settee::transport::bundle::BundleSource::new(bundle);
            repair::fetch::fetch(&mut here, &mut source, wanted)
        }
        Location::Http(_) => bail!("repair from CouchDB servers is not implemented yet"),
    }
    .with_context(|| format!("fetching from {location}"))?;
    here.checkpoint()?;
    Ok((location, fetched))
}
