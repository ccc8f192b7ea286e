//! `settee clone LOCATION [PATH]`: a new store with everything LOCATION holds.
//!
//! Invariant: `PATH/.settee` appears only once the clone is complete. The new store is built
//! in `PATH/.settee-clone` (`BUILDING`), checkpointed, and renamed to `PATH/.settee` at the
//! end, the rename made durable before success is reported. A clone that fails removes what
//! it built; one that is killed leaves `PATH/.settee-clone` behind, which the next clone into
//! PATH removes (unless a running clone holds its writer lock) before it starts again.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use settee::replicate::Options;
use settee::transport::local::LocalStore;
use settee::Store;

use super::replicate::one_way;
use crate::ctx::{absolute, Ctx};
use crate::exit::Usage;
use crate::location::{resolve, Location};

/// Where a clone builds the new store, next to where it will be (`.settee`).
pub const BUILDING: &str = ".settee-clone";

/// Create PATH/.settee (PATH defaults to LOCATION's last component), fetch everything from
/// LOCATION, and remember it as the remote `origin`.
#[derive(clap::Args)]
pub struct Args {
    location: String,
    path: Option<PathBuf>,
    #[command(flatten)]
    http: crate::http::HttpArgs,
}

pub fn run(ctx: &Ctx, args: &Args) -> Result<u8> {
    let location = resolve(ctx, &Default::default(), &args.location)?;
    let name = match &args.path {
        Some(p) => p.clone(),
        None => {
            let base = match &location {
                Location::Store(root) => root.parent().and_then(|p| p.file_name()).map(PathBuf::from),
                Location::Bundle(p) => p.file_stem().map(PathBuf::from),
                Location::Http(u) => u.trim_end_matches('/').rsplit('/').next().map(PathBuf::from),
            };
            base.ok_or_else(|| Usage("cannot name the new store: give PATH".into()))?
        }
    };
    let dir = absolute(&ctx.cwd, &name);
    let root = dir.join(settee::store::DIR_NAME);
    if root.symlink_metadata().is_ok() {
        bail!(Usage(format!("{} exists already", root.display())));
    }
    // A bundle is checked whole before anything is created.
    let bundle = match &location {
        Location::Bundle(path) => Some(settee::bundle::Bundle::open(path)?),
        _ => None,
    };
    let made_dir = !dir.exists();
    let building = dir.join(BUILDING);
    remove_abandoned(&building)?;
    let outcome = match build(ctx, args, &location, bundle, &building) {
        Ok(outcome) => outcome,
        Err(e) => {
            // Best effort: the error being reported matters more than a failed cleanup.
            let _ = std::fs::remove_dir_all(&building);
            if made_dir {
                let _ = std::fs::remove_dir(&dir);
            }
            return Err(e);
        }
    };
    if root.symlink_metadata().is_ok() {
        bail!("{} appeared while cloning; the clone is left in {}", root.display(), building.display());
    }
    std::fs::rename(&building, &root)
        .with_context(|| format!("renaming {} to {}", building.display(), root.display()))?;
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))?;
    super::replicate::report(ctx, &location, &[("cloned from", outcome)])
}

/// Build the clone in `building`: create the store, record `origin`, replicate, checkpoint.
fn build(
    ctx: &Ctx,
    args: &Args,
    location: &Location,
    bundle: Option<settee::bundle::Bundle>,
    building: &Path,
) -> Result<settee::replicate::Outcome> {
    let mut here = Store::init(building).with_context(|| format!("creating {}", building.display()))?;
    // Held to the end, so a clone started meanwhile sees this one is alive.
    here.locked(|here| fill(ctx, args, location, bundle, here))
}

/// Record `origin` in the new store `here`, replicate into it, checkpoint.
fn fill(
    ctx: &Ctx,
    args: &Args,
    location: &Location,
    bundle: Option<settee::bundle::Bundle>,
    here: &mut Store,
) -> Result<settee::replicate::Outcome> {
    let mut config = here.config().clone();
    config.remotes.insert("origin".into(), location.to_string());
    here.set_config(config)?;
    let outcome = match (location, bundle) {
        (_, Some(bundle)) => one_way(
            ctx,
            &mut settee::transport::bundle::BundleSource::new(bundle),
            &mut LocalStore::new(here),
            &Options::default(),
            "cloning",
        )?,
        (Location::Store(peer_root), None) => {
            let mut peer = super::replicate::open_peer(ctx, peer_root)?;
            one_way(
                ctx,
                &mut LocalStore::new(&mut peer),
                &mut LocalStore::new(here),
                &Options::default(),
                "cloning",
            )?
        }
        (Location::Http(url), None) => {
            if settee::transport::http::config::has_credentials(url) {
                eprintln!(
                    "warning: origin is recorded without the URL's credentials; give them to later commands with SETTEE_COUCH_USER/SETTEE_COUCH_PASSWORD or a netrc file"
                );
            }
            let mut peer = crate::http::open(url, args.http.config(ctx, false))?;
            one_way(ctx, &mut peer, &mut LocalStore::new(here), &Options::default(), "cloning")?
        }
        (Location::Bundle(_), None) => bail!("the bundle was not opened"),
    };
    here.checkpoint()?;
    Ok(outcome)
}

/// Remove what an interrupted clone left in `building`, unless a clone running now holds
/// its writer lock.
fn remove_abandoned(building: &Path) -> Result<()> {
    let Ok(meta) = building.symlink_metadata() else { return Ok(()) };
    if !meta.is_dir() {
        bail!("{} is in the way of the clone: it is not a directory a clone left", building.display());
    }
    match settee::store::lock::Lock::acquire(building, None) {
        Ok(lock) => drop(lock),
        Err(e @ settee::Error::Locked { .. }) => {
            return Err(
                anyhow::Error::new(e).context(format!("another clone is building {}", building.display()))
            );
        }
        Err(e) => return Err(e.into()),
    }
    std::fs::remove_dir_all(building)
        .with_context(|| format!("removing {}, left by an interrupted clone", building.display()))
}
