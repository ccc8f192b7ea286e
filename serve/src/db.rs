//! One served database: its store, a small pool of store handles for the blocking work,
//! and a watcher that publishes the last sequence as commits land.
//!
//! Owns: [`Db`], running store work off the async threads ([`Db::run`]) and the sequence
//! watch that long-poll and continuous feeds wait on.
//! Invariants:
//! 1. Store calls block, so they run on tokio's blocking threads, never on an async worker;
//!    at most [`HANDLES`] run at once per database (a semaphore taken before the thread is),
//!    each on its own handle: reads in parallel, writes group-committed by the store.
//! 2. A handle is refreshed before each use, so a request sees every commit acknowledged
//!    before it started, from any handle or process.
//! 3. A handle whose work failed as a whole (damage, I/O) is dropped, not reused: its view
//!    may be behind what its files hold.
//! 4. The watch only grows, and moves after the commit it reports is visible to a refreshed
//!    handle.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use settee::store::OpenOptions;
use settee::{ErrorKind, Seq, Store};
use tokio::sync::{watch, Semaphore};

use crate::error::{ApiError, ApiResult};

/// Store handles per database: as many store calls run at once.
pub const HANDLES: usize = 8;

/// How long a write waits for the store's lock held by another process.
const LOCK_WAIT: Duration = Duration::from_secs(30);

pub struct Db {
    pub name: String,
    /// The `.settee` directory.
    pub root: PathBuf,
    /// Created under the data directory (and so removable by `DELETE /db`).
    pub in_data_dir: bool,
    idle: Mutex<Vec<Store>>,
    permits: Arc<Semaphore>,
    seq: watch::Receiver<u64>,
    stop: Arc<AtomicBool>,
    /// Document counts (live, deleted) as of a last sequence.
    counts: Mutex<Option<(u64, u64, u64)>>,
}

impl Db {
    /// Open the store at `root` (its `.settee` directory) and start its watcher.
    pub fn open(name: &str, root: &Path, in_data_dir: bool) -> Result<Arc<Db>, settee::Error> {
        let first = open_handle(root)?;
        let watcher = Store::open(root, OpenOptions::default())?;
        let (tx, rx) = watch::channel(first.last_seq().0);
        let stop = Arc::new(AtomicBool::new(false));
        spawn_watcher(name, watcher, tx, stop.clone());
        Ok(Arc::new(Db {
            name: name.to_string(),
            root: root.to_path_buf(),
            in_data_dir,
            idle: Mutex::new(vec![first]),
            permits: Arc::new(Semaphore::new(HANDLES)),
            seq: rx,
            stop,
            counts: Mutex::new(None),
        }))
    }

    /// Run `work` on a refreshed store handle on a blocking thread.
    pub async fn run<T, F>(self: &Arc<Self>, work: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> ApiResult<T> + Send + 'static,
    {
        let permit =
            self.permits.clone().acquire_owned().await.map_err(|_| ApiError::internal("shutting down"))?;
        let db = self.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut store = db.checkout()?;
            let result = store.refresh().map_err(ApiError::from).and_then(|_| work(&mut store));
            let failed_whole = matches!(&result, Err(e) if e.status.is_server_error());
            if !failed_whole {
                db.checkin(store);
            }
            result
        })
        .await;
        match joined {
            Ok(result) => result,
            Err(e) if e.is_panic() => Err(ApiError::internal("the request's store work panicked")),
            Err(_) => Err(ApiError::internal("the request's store work was cancelled")),
        }
    }

    fn checkout(&self) -> ApiResult<Store> {
        if let Some(store) = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            return Ok(store);
        }
        open_handle(&self.root).map_err(ApiError::from)
    }

    fn checkin(&self, store: Store) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < HANDLES {
            idle.push(store);
        }
    }

    /// The last sequence, as the watcher last saw it, and updates of it.
    pub fn seq_watch(&self) -> watch::Receiver<u64> {
        self.seq.clone()
    }

    /// (live, deleted) document counts of `store`, cached per last sequence.
    pub fn counts(&self, store: &Store) -> ApiResult<(u64, u64)> {
        let seq = store.last_seq().0;
        if let Some((s, live, deleted)) = *self.counts.lock().unwrap_or_else(|e| e.into_inner()) {
            if s == seq {
                return Ok((live, deleted));
            }
        }
        let (mut live, mut deleted) = (0, 0);
        for doc in store.docs(None, None) {
            if doc?.1.is_deleted() {
                deleted += 1;
            } else {
                live += 1;
            }
        }
        *self.counts.lock().unwrap_or_else(|e| e.into_inner()) = Some((seq, live, deleted));
        Ok((live, deleted))
    }

    /// Stop the watcher; the handles close as the last request using them ends.
    pub fn close(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.close();
    }
}

fn open_handle(root: &Path) -> Result<Store, settee::Error> {
    Store::open(root, OpenOptions { write: true, wait_for_lock: Some(LOCK_WAIT) })
}

/// How long the watcher waits for a commit before looking at its stop flag.
const WATCH_SLICE: Duration = Duration::from_millis(250);

fn spawn_watcher(name: &str, mut store: Store, tx: watch::Sender<u64>, stop: Arc<AtomicBool>) {
    let spawned = std::thread::Builder::new().name(format!("watch-{name}")).spawn(move || {
        let mut failures = 0u32;
        while !stop.load(Ordering::Relaxed) && !tx.is_closed() {
            let last = *tx.borrow();
            match store.wait_for_seq(Seq(last), WATCH_SLICE) {
                Ok(true) => {
                    failures = 0;
                    tx.send_replace(store.last_seq().0);
                }
                Ok(false) => failures = 0,
                Err(e) if e.kind() == ErrorKind::Corrupt || failures > 20 => {
                    eprintln!("settee serve: watcher of {} stopped: {e}", store.root().display());
                    return;
                }
                Err(_) => {
                    // A checkpoint replaced files under the view; try again shortly.
                    failures += 1;
                    std::thread::sleep(WATCH_SLICE);
                }
            }
        }
    });
    if let Err(e) = spawned {
        eprintln!("settee serve: cannot start the watcher thread: {e}");
    }
}
