//! `settee clone LOCATION [PATH]`: a new store with everything LOCATION holds.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use settee::replicate::Options;
use settee::transport::local::LocalStore;
use settee::Store;

use super::replicate::one_way;
use crate::ctx::{absolute, Ctx};
use crate::exit::Usage;
use crate::location::{resolve, Location};

/// Create PATH/.settee (PATH defaults to LOCATION's last component), fetch everything from
/// LOCATION, and remember it as the remote `origin`.
#[derive(clap::Args)]
pub struct Args {
    location: String,
    path: Option<PathBuf>,
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
    if root.exists() {
        bail!(Usage(format!("{} exists already", root.display())));
    }
    if let Location::Http(_) = &location {
        bail!("cloning from {location} is not implemented yet");
    }
    // A bundle is checked whole before anything is created.
    let bundle = match &location {
        Location::Bundle(path) => Some(settee::bundle::Bundle::open(path)?),
        _ => None,
    };
    let mut here = Store::init(&root).with_context(|| format!("creating {}", root.display()))?;
    let mut config = here.config().clone();
    config.remotes.insert("origin".into(), location.to_string());
    here.set_config(config)?;
    let outcome = match (&location, bundle) {
        (_, Some(bundle)) => one_way(
            ctx,
            &mut settee::transport::bundle::BundleSource::new(bundle),
            &mut LocalStore::new(&mut here),
            &Options::default(),
            "cloning",
        )?,
        (Location::Store(peer_root), None) => {
            let mut peer =
                Store::open(peer_root, settee::OpenOptions { write: true, wait_for_lock: ctx.wait })
                    .with_context(|| format!("opening {}", peer_root.display()))?;
            one_way(
                ctx,
                &mut LocalStore::new(&mut peer),
                &mut LocalStore::new(&mut here),
                &Options::default(),
                "cloning",
            )?
        }
        _ => bail!("cloning from {location} is not implemented yet"),
    };
    here.checkpoint()?;
    super::replicate::report(ctx, &location, &[("cloned from", outcome)])
}
