//! The subcommands, one file each. `Cli` holds the raw arguments; each command turns them
//! into validated values before touching the store.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::ctx::{absolute, Ctx};
use crate::exit::Usage;

mod attach;
mod bundle;
mod cat_object;
mod changes;
mod clone;
mod compact;
mod conflicts;
mod diff;
mod export;
mod fsck;
mod get;
mod import;
mod init;
mod local;
mod log;
mod ls;
mod purge;
mod put;
mod remote;
mod replicate;
mod resolve;
mod rm;
mod serve;
mod stats;
mod status;

/// settee: a Git-like, content-addressed JSON document store with CouchDB revisions.
#[derive(Parser)]
#[command(
    name = "settee",
    version,
    about,
    propagate_version = true,
    after_help = "The store is the .settee directory in the current directory or the nearest one above it.\n\
                  Environment: SETTEE_DIR names the store instead: its .settee directory, or the work tree\n\
                  that holds one (then DIR/.settee is used; `settee init` creates it there).\n\n\
                  Exit codes: 0 ok, 1 error, 2 usage, 3 conflict, 4 not found, 5 precondition failed\n\
                  (an attachment stub the replaced revision lacks)."
)]
pub struct Cli {
    /// Run as if settee was started in DIR.
    #[arg(short = 'C', global = true, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Print machine-readable JSON (one object, or one per line for streams).
    #[arg(long, global = true)]
    json: bool,
    /// When another process holds the store's writer lock, wait up to SECONDS for it
    /// before failing (writers queue: each waits its turn).
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 30.0, value_parser = parse_wait)]
    wait: f64,
    /// Fail at once when another process holds the store's writer lock.
    #[arg(long, global = true, conflicts_with = "wait")]
    no_wait: bool,
    /// Report the progress of fetch, push, sync and clone after each batch even when stderr
    /// is not a terminal: with --json as JSON Lines on stderr (`{"type":"start"|"progress"|"end",
    /// "data":{...}}`), otherwise as a line of text per batch. On a terminal a progress bar
    /// shows without it.
    #[arg(long, global = true)]
    progress: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Init(init::Args),
    Put(put::Args),
    Post(put::PostArgs),
    Get(get::Args),
    Rm(rm::Args),
    Attach(attach::AttachArgs),
    Detach(attach::DetachArgs),
    Attachment(attach::AttachmentArgs),
    Ls(ls::Args),
    Log(log::Args),
    Changes(changes::Args),
    Import(import::Args),
    Export(export::Args),
    Conflicts(conflicts::Args),
    Local(local::Args),
    Stats(stats::Args),
    Status(status::Args),
    Compact(compact::Args),
    Fsck(fsck::Args),
    Purge(purge::Args),
    /// Bring LOCATION's revisions here.
    Fetch(replicate::Args),
    /// Send this store's revisions to LOCATION.
    Push(replicate::Args),
    /// Push to LOCATION, then fetch from it.
    Sync(replicate::Args),
    Clone(clone::Args),
    Remote(remote::Args),
    Resolve(resolve::Args),
    Bundle(bundle::Args),
    Diff(diff::Args),
    CatObject(cat_object::Args),
    Serve(serve::Args),
}

/// Run the command; the `u8` is the exit code for outcomes that are not errors
/// (for example an import that finished with some conflicts).
pub fn run(cli: Cli) -> Result<u8> {
    let cwd = std::env::current_dir()?;
    let cwd = match &cli.dir {
        Some(d) => absolute(&cwd, d),
        None => cwd,
    };
    let settee_dir = std::env::var_os("SETTEE_DIR").filter(|v| !v.is_empty()).map(PathBuf::from);
    let wait = (!cli.no_wait).then(|| std::time::Duration::from_secs_f64(cli.wait));
    let ctx = Ctx { cwd, settee_dir, json: cli.json, wait, progress: cli.progress };
    match &cli.command {
        Command::Init(a) => init::run(&ctx, a),
        Command::Put(a) => put::run(&ctx, a),
        Command::Post(a) => put::run_post(&ctx, a),
        Command::Get(a) => get::run(&ctx, a),
        Command::Rm(a) => rm::run(&ctx, a),
        Command::Attach(a) => attach::run_attach(&ctx, a),
        Command::Detach(a) => attach::run_detach(&ctx, a),
        Command::Attachment(a) => attach::run_attachment(&ctx, a),
        Command::Ls(a) => ls::run(&ctx, a),
        Command::Log(a) => log::run(&ctx, a),
        Command::Changes(a) => changes::run(&ctx, a),
        Command::Import(a) => import::run(&ctx, a),
        Command::Export(a) => export::run(&ctx, a),
        Command::Conflicts(a) => conflicts::run(&ctx, a),
        Command::Local(a) => local::run(&ctx, a),
        Command::Stats(a) => stats::run(&ctx, a),
        Command::Status(a) => status::run(&ctx, a),
        Command::Compact(a) => compact::run(&ctx, a),
        Command::Fsck(a) => fsck::run(&ctx, a),
        Command::Purge(a) => purge::run(&ctx, a),
        Command::Fetch(a) => replicate::run(&ctx, a, replicate::Direction::Fetch),
        Command::Push(a) => replicate::run(&ctx, a, replicate::Direction::Push),
        Command::Sync(a) => replicate::run(&ctx, a, replicate::Direction::Sync),
        Command::Clone(a) => clone::run(&ctx, a),
        Command::Remote(a) => remote::run(&ctx, a),
        Command::Resolve(a) => resolve::run(&ctx, a),
        Command::Bundle(a) => bundle::run(&ctx, a),
        Command::Diff(a) => diff::run(&ctx, a),
        Command::CatObject(a) => cat_object::run(&ctx, a),
        Command::Serve(a) => serve::run(&ctx, a),
    }
}

/// `--wait SECONDS`: a finite, non-negative number of seconds.
fn parse_wait(text: &str) -> std::result::Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && (0.0..=1e9).contains(&s) => Ok(s),
        _ => Err(format!("{text:?} is not a number of seconds")),
    }
}

/// Read a JSON body from FILE, or stdin when FILE is `-` or absent.
pub fn read_input(cwd: &std::path::Path, file: Option<&std::path::Path>) -> Result<Vec<u8>> {
    use anyhow::Context;
    use std::io::Read;
    match file {
        Some(p) if p != std::path::Path::new("-") => {
            let path = absolute(cwd, p);
            std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
        }
        _ => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).context("reading standard input")?;
            Ok(buf)
        }
    }
}

/// Parse a revision given on the command line; one that does not parse is a usage error.
pub fn parse_rev(text: &str) -> Result<settee::RevId> {
    settee::RevId::parse(text).map_err(|e| Usage(settee::Error::from(e).to_string()).into())
}

/// Parse a document id given on the command line; one that does not parse is a usage error.
pub fn parse_id(text: &str) -> Result<settee::DocId> {
    settee::DocId::parse(text).map_err(|e| Usage(settee::Error::from(e).to_string()).into())
}
