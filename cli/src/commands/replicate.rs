//! `settee fetch|push|sync LOCATION`: replication with another store.

use anyhow::{bail, Context, Result};
use serde_json::json;
use settee::replicate::{self, Options, Outcome};
use settee::store::OpenOptions;
use settee::transport::local::LocalStore;
use settee::transport::{Filter, Transport};
use settee::{DocId, Store};

use crate::ctx::Ctx;
use crate::exit::Usage;
use crate::location::{resolve, Location};
use crate::output::Out;

/// Options shared by fetch, push and sync.
#[derive(clap::Args)]
pub struct Args {
    /// A remote's name, a path to a settee store, a bundle file, or a CouchDB database URL
    /// (`http(s)://[user:pass@]host[:port]/db`); `origin` when left out.
    location: Option<String>,
    /// Replicate only these documents (comma-separated ids).
    #[arg(long, value_name = "A,B")]
    doc_ids: Option<String>,
    /// Replicate only documents whose winner matches this Mango selector (JSON).
    #[arg(long, value_name = "JSON")]
    selector: Option<String>,
    /// Changes per batch (one commit and one checkpoint each).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    batch_size: u32,
    /// Keep replicating as the source changes (CouchDB's continuous replication), each round
    /// checkpointed, until SIGINT or SIGTERM (then exit 0 after the round in progress). With a
    /// server, its long-poll feed starts rounds, and outages are retried forever.
    #[arg(long)]
    continuous: bool,
    #[command(flatten)]
    http: crate::http::HttpArgs,
}

/// The remote that fetch, push and sync use when no LOCATION is given (as git does).
pub const DEFAULT_REMOTE: &str = "origin";

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Fetch,
    Push,
    Sync,
}

fn options(args: &Args) -> Result<Options> {
    let mut options = Options { batch_size: args.batch_size as usize, ..Options::default() };
    match (&args.doc_ids, &args.selector) {
        (Some(_), Some(_)) => bail!(Usage("give --doc-ids or --selector, not both".into())),
        (Some(ids), None) => {
            let mut ids: Vec<DocId> = ids
                .split(',')
                .map(|i| DocId::parse(i.trim()).map_err(settee::Error::from))
                .collect::<Result<_, _>>()?;
            ids.sort();
            ids.dedup();
            options.filter_key =
                format!("doc_ids:{}", ids.iter().map(DocId::as_str).collect::<Vec<_>>().join("\0"));
            options.filter = Filter::DocIds(ids);
        }
        (None, Some(text)) => {
            let value: serde_json::Value = serde_json::from_str(text)
                .map_err(|e| Usage(format!("--selector is not valid JSON: {e}")))?;
            let selector = settee::selector::Selector::parse(&value).map_err(|e| Usage(e.to_string()))?;
            options.filter_key = format!("selector:{}", selector.canonical());
            options.filter = Filter::Selector(selector);
        }
        (None, None) => {}
    }
    Ok(options)
}

/// Open the peer store at `root` for replication (checkpoints are written on both sides),
/// saying what opening it cut.
pub(crate) fn open_peer(ctx: &Ctx, root: &std::path::Path) -> Result<Store> {
    let peer = Store::open(root, OpenOptions { write: true, wait_for_lock: ctx.wait })
        .with_context(|| format!("opening {}", root.display()))?;
    crate::ctx::warn_of_cut(&peer);
    Ok(peer)
}

pub fn run(ctx: &Ctx, args: &Args, direction: Direction) -> Result<u8> {
    let options = options(args)?;
    let mut here = ctx.open_write()?;
    let remotes = &here.config().remotes;
    let location = match &args.location {
        Some(text) => resolve(ctx, remotes, text)?,
        None if remotes.contains_key(DEFAULT_REMOTE) => resolve(ctx, remotes, DEFAULT_REMOTE)?,
        None => bail!(Usage(format!(
            "no LOCATION given and no remote named {DEFAULT_REMOTE} (add one with `settee remote add {DEFAULT_REMOTE} LOCATION`)"
        ))),
    };
    let mut results: Vec<(&str, Outcome)> = Vec::new();
    match &location {
        Location::Store(root) => {
            if root.canonicalize().ok() == here.root().canonicalize().ok() {
                bail!(Usage("a store cannot replicate with itself".into()));
            }
            let mut peer = open_peer(ctx, root)?;
            if args.continuous {
                return continuous(ctx, &mut here, &mut peer, &location, &options, direction);
            }
            results = round(ctx, &mut here, &mut peer, &options, direction)?;
        }
        Location::Bundle(_) if args.continuous => {
            bail!(Usage("a bundle never changes: --continuous replicates with a store".into()))
        }
        Location::Bundle(path) => {
            if direction != Direction::Fetch {
                bail!(Usage(
                    "a bundle can only be fetched from (make one with `settee bundle create`)".into()
                ));
            }
            let bundle = settee::bundle::Bundle::open(path)?;
            let mut source = settee::transport::bundle::BundleSource::new(bundle);
            let outcome = one_way(ctx, &mut source, &mut LocalStore::new(&mut here), &options, "fetching")?;
            results.push(("fetched from", outcome));
        }
        Location::Http(url) => {
            let config = args.http.config(ctx, direction != Direction::Fetch);
            if args.continuous {
                return continuous_http(ctx, &mut here, url, config, &location, &options, direction);
            }
            let mut peer = crate::http::open(url, config)?;
            results = http_round(ctx, &mut here, &mut peer, &options, direction)?;
        }
    }
    here.checkpoint()?;
    report(ctx, &location, &results)
}

/// One push and/or fetch between two stores, as `direction` says.
fn round(
    ctx: &Ctx,
    here: &mut Store,
    peer: &mut Store,
    options: &Options,
    direction: Direction,
) -> Result<Vec<(&'static str, Outcome)>> {
    let mut results = Vec::new();
    if matches!(direction, Direction::Push | Direction::Sync) {
        let outcome =
            one_way(ctx, &mut LocalStore::new(here), &mut LocalStore::new(peer), options, "pushing")?;
        results.push(("pushed to", outcome));
    }
    if matches!(direction, Direction::Fetch | Direction::Sync) {
        let outcome =
            one_way(ctx, &mut LocalStore::new(peer), &mut LocalStore::new(here), options, "fetching")?;
        results.push(("fetched from", outcome));
    }
    Ok(results)
}

/// One push and/or fetch between this store and a server, as `direction` says.
fn http_round(
    ctx: &Ctx,
    here: &mut Store,
    peer: &mut settee::transport::http::Couch,
    options: &Options,
    direction: Direction,
) -> Result<Vec<(&'static str, Outcome)>> {
    let mut results = Vec::new();
    if matches!(direction, Direction::Push | Direction::Sync) {
        let outcome = one_way(ctx, &mut LocalStore::new(here), peer, options, "pushing")?;
        results.push(("pushed to", outcome));
    }
    if matches!(direction, Direction::Fetch | Direction::Sync) {
        let outcome = one_way(ctx, peer, &mut LocalStore::new(here), options, "fetching")?;
        results.push(("fetched from", outcome));
    }
    Ok(results)
}

/// Continuous replication with a server: rounds as `continuous` runs them between stores,
/// each started when this store commits or the server's long-poll feed reports a change.
/// A round that fails (the server gone, restarting) is tried again after a wait that
/// doubles up to 30 s, forever, each failure said on stderr; the feed is watched on its own
/// thread, which retries the same way. SIGINT or SIGTERM ends the run after the round in
/// progress (its checkpoints written), with exit 0.
fn continuous_http(
    ctx: &Ctx,
    here: &mut Store,
    url: &str,
    config: settee::transport::http::Config,
    location: &Location,
    options: &Options,
    direction: Direction,
) -> Result<u8> {
    use std::time::{Duration, Instant};
    const WAKE: Duration = Duration::from_millis(50);
    const FIRST_WAIT: Duration = Duration::from_millis(500);
    const LONGEST_WAIT: Duration = Duration::from_secs(30);
    crate::stop::catch_signals();
    let mut peer = crate::http::open(url, config.clone())?;
    // The feed watcher: a signal for each change the server reports.
    let (changed_tx, changed_rx) = crossbeam_channel::bounded::<()>(1);
    if matches!(direction, Direction::Fetch | Direction::Sync) {
        let mut watcher = settee::transport::http::Couch::open(url, config).map_err(settee::Error::from)?;
        let shown = location.to_string();
        std::thread::spawn(move || {
            let heartbeat = Duration::from_secs(10);
            let mut since: Option<String> = None;
            let mut wait = FIRST_WAIT;
            loop {
                let result = match &since {
                    None => watcher.update_seq(),
                    Some(seq) => watcher.wait_for_change(seq, heartbeat),
                };
                match result {
                    Ok(seq) => {
                        if since.as_ref().is_some_and(|s| *s != seq) || wait > FIRST_WAIT {
                            let _ = changed_tx.try_send(());
                        }
                        since = Some(seq);
                        wait = FIRST_WAIT;
                    }
                    Err(e) => {
                        eprintln!(
                            "warning: watching {shown} for changes: {e}; trying again in {} s",
                            wait.as_secs_f64()
                        );
                        std::thread::sleep(wait);
                        wait = (wait * 2).min(LONGEST_WAIT);
                    }
                }
            }
        });
    }
    let mut failed = false;
    let mut first = true;
    let mut wait = FIRST_WAIT;
    while !crate::stop::requested() {
        here.refresh()?;
        let seen_here = here.last_seq();
        while changed_rx.try_recv().is_ok() {}
        match http_round(ctx, here, &mut peer, options, direction) {
            Ok(results) => {
                wait = FIRST_WAIT;
                let wrote: Vec<_> =
                    results.into_iter().filter(|(_, o)| first || o.revisions_written > 0).collect();
                if !wrote.is_empty() {
                    failed |= report(ctx, location, &wrote)? != crate::exit::OK;
                }
                first = false;
            }
            Err(e) => {
                eprintln!(
                    "warning: replicating with {location}: {e:#}; trying again in {:.1} s",
                    wait.as_secs_f64()
                );
                let until = Instant::now() + wait;
                while Instant::now() < until && !crate::stop::requested() {
                    std::thread::sleep(WAKE);
                }
                wait = (wait * 2).min(LONGEST_WAIT);
                continue;
            }
        }
        // Until this store commits, the server reports a change, or a stop is requested.
        loop {
            if crate::stop::requested() {
                break;
            }
            if changed_rx.try_recv().is_ok() {
                break;
            }
            let pushed = matches!(direction, Direction::Push | Direction::Sync)
                && here.wait_for_seq(seen_here, WAKE)?;
            if pushed {
                break;
            }
            if direction == Direction::Fetch {
                std::thread::sleep(WAKE);
            }
        }
    }
    here.checkpoint()?;
    Ok(if failed { crate::exit::ERROR } else { crate::exit::OK })
}

/// Replicate round after round, each started when a source commits, until a stop is
/// requested. Each round checkpoints as a single replication does; neither store's writer
/// lock is held between rounds (a store takes it per commit), so other commands keep
/// writing to both. A round that wrote something is reported as it ends.
fn continuous(
    ctx: &Ctx,
    here: &mut Store,
    peer: &mut Store,
    location: &Location,
    options: &Options,
    direction: Direction,
) -> Result<u8> {
    const WAKE: std::time::Duration = std::time::Duration::from_millis(50);
    crate::stop::catch_signals();
    let mut failed = false;
    let mut first = true;
    while !crate::stop::requested() {
        // What the round is sure to see: a commit landing while it runs makes another round.
        here.refresh()?;
        peer.refresh()?;
        let (seen_here, seen_peer) = (here.last_seq(), peer.last_seq());
        let results = round(ctx, here, peer, options, direction)?;
        let wrote: Vec<_> = results.into_iter().filter(|(_, o)| first || o.revisions_written > 0).collect();
        if !wrote.is_empty() {
            failed |= report(ctx, location, &wrote)? != crate::exit::OK;
        }
        first = false;
        // Until a source commits past what the round saw (or a stop is requested).
        loop {
            if crate::stop::requested() {
                break;
            }
            let pushed = matches!(direction, Direction::Push | Direction::Sync)
                && here.wait_for_seq(seen_here, WAKE)?;
            let fetched = matches!(direction, Direction::Fetch | Direction::Sync)
                && peer.wait_for_seq(seen_peer, WAKE)?;
            if pushed || fetched {
                break;
            }
        }
    }
    here.checkpoint()?;
    Ok(if failed { crate::exit::ERROR } else { crate::exit::OK })
}

/// One replication from `source` to `target`, its progress shown as `ctx` asks (a bar on a
/// terminal, `--progress` lines or JSON events), labelled `verb`.
pub fn one_way(
    ctx: &Ctx,
    source: &mut (dyn Transport + Send),
    target: &mut (dyn Transport + Send),
    options: &Options,
    verb: &'static str,
) -> Result<Outcome> {
    let show = crate::progress::Show::choose(ctx.json, ctx.progress);
    let mut progress = crate::progress::Replication::new(show, verb);
    let outcome = replicate::replicate(source, target, options, &mut progress)?;
    progress.end(&outcome);
    Ok(outcome)
}

pub fn report(ctx: &Ctx, location: &Location, results: &[(&str, Outcome)]) -> Result<u8> {
    let mut out = Out::new();
    for (what, o) in results {
        if ctx.json {
            out.json(&json!({
                "direction": what.split(' ').next(), "location": location.to_string(),
                "docs_read": o.docs_read, "revisions_checked": o.revisions_checked,
                "missing_found": o.missing_found, "revisions_written": o.revisions_written,
                "write_failures": o.write_failures, "start_seq": o.start_seq, "last_seq": o.last_seq,
                "blobs_written": o.blobs_written, "blob_bytes_written": o.blob_bytes_written,
                "failures": o.failures.iter().map(|f| json!({"id": f.id.as_str(), "rev": f.rev.to_string(), "error": f.error})).collect::<Vec<_>>(),
            }))?;
        } else {
            // Attachment blobs copied, when there were any.
            let blobs = if o.blobs_written > 0 {
                format!(", {} attachment blobs ({} bytes) copied", o.blobs_written, o.blob_bytes_written)
            } else {
                String::new()
            };
            out.line(&format!(
                "{what} {location}: {} documents read, {} revisions written ({} missing, {} failed){blobs}; checkpoint at {}",
                o.docs_read, o.revisions_written, o.missing_found, o.write_failures, o.last_seq
            ))?;
        }
    }
    out.finish()?;
    for (what, o) in results {
        // Which revisions the target refused, and why, whatever the output format.
        for f in &o.failures {
            eprintln!("warning: {what} {location}: {} {} not written: {}", f.id, f.rev, f.error);
        }
        let unnamed = o.write_failures.saturating_sub(o.failures.len() as u64);
        if unnamed > 0 {
            eprintln!("warning: {what} {location}: {unnamed} more revisions not written");
        }
    }
    Ok(if results.iter().any(|(_, o)| o.write_failures > 0) { crate::exit::ERROR } else { crate::exit::OK })
}
