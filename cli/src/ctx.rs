//! What every command gets: where the store is, and whether to print JSON.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use settee::store::OpenOptions;
use settee::Store;

pub struct Ctx {
    /// The directory the command runs in (after `-C`).
    pub cwd: PathBuf,
    /// `SETTEE_DIR`, if set: the store's `.settee` directory, or the work tree holding it.
    pub settee_dir: Option<PathBuf>,
    pub json: bool,
    /// How long to wait for the writer lock when another process holds it (`None`: fail
    /// at once).
    pub wait: Option<std::time::Duration>,
    /// `--progress`: report replication progress even when stderr is not a terminal.
    pub progress: bool,
}

impl Ctx {
    /// The `.settee` directory this command works on.
    pub fn store_dir(&self) -> Result<PathBuf> {
        if let Some(dir) = self.named_store_dir() {
            return Ok(dir);
        }
        Store::discover(&self.cwd)
            .ok_or_else(|| anyhow::Error::new(settee::Error::NoStore { path: self.cwd.clone() }))
    }

    /// The `.settee` directory `SETTEE_DIR` names: the directory itself when it is a store
    /// or is called `.settee`, otherwise the `.settee` inside it (a work tree).
    pub fn named_store_dir(&self) -> Option<PathBuf> {
        let dir = absolute(&self.cwd, self.settee_dir.as_deref()?);
        let is_store = dir.join(settee::manifest::FILE_NAME).is_file();
        if is_store || dir.file_name() == Some(std::ffi::OsStr::new(settee::store::DIR_NAME)) {
            Some(dir)
        } else {
            Some(dir.join(settee::store::DIR_NAME))
        }
    }

    pub fn open_read(&self) -> Result<Store> {
        let dir = self.store_dir()?;
        let store = Store::open(&dir, OpenOptions::default())
            .with_context(|| format!("opening {}", dir.display()))?;
        if let Some(found) = store.recovery().filter(|r| r.is_damage()) {
            eprintln!(
                "warning: {}; the next command that writes moves it to the quarantine",
                found.describe()
            );
        }
        Ok(store)
    }

    pub fn open_write(&self) -> Result<Store> {
        let dir = self.store_dir()?;
        let store = Store::open(&dir, OpenOptions { write: true, wait_for_lock: self.wait })
            .with_context(|| format!("opening {} for writing", dir.display()))?;
        warn_of_cut(&store);
        Ok(store)
    }
}

/// Say what opening `store` for writing cut, and where it is kept.
pub fn warn_of_cut(store: &Store) {
    if let Some(found) = store.recovery() {
        let kept = store.root().join(settee::store::recovery::QUARANTINE_DIR);
        eprintln!("warning: cut {}; kept in {}", found.describe(), kept.display());
    }
}

pub fn absolute(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}
