//! What the handles of one store directory in this process share: a signal that wakes the
//! handles waiting for new commits, and a gate the writers among them pass, one at a time,
//! before they take the writer lock.
//!
//! Every handle of one store directory in a process shares one [`Signal`] (found by the
//! directory's canonical path). A commit through any of them bumps it and wakes the waiters
//! at once. Commits of other processes are signalled by a thread watching the store's
//! directory with inotify (`watch.rs`), started by the first waiter; waiters also look at
//! the files every [`WATCHED_POLL`] in case an event is missed, or every [`POLL`] where
//! inotify cannot be used (`Store::wait_for_seq`). Writers of this process queue at the gate on a
//! condition variable rather than retrying `flock` with pauses, so a handle's turn comes as
//! soon as the one before lets go.
//!
//! Invariants:
//! 1. The count only grows. A commit of this process bumps it after the commit is applied
//!    to the committing handle's view and durable, so a waiter woken by it finds the commit
//!    when it refreshes; the watching thread bumps it after the files changed (the journal
//!    bytes are written, maybe not yet synced), so a refresh then finds whatever complete
//!    records are there.
//! 2. At most one handle of the process is past the gate; only a handle past it takes the
//!    writer lock, and it leaves the gate after releasing the lock.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::Duration;

/// How often a waiter looks for commits of other processes when inotify cannot be used.
pub const POLL: Duration = Duration::from_millis(25);
/// How often a waiter looks for them anyway while the directory is watched (a safety net).
pub const WATCHED_POLL: Duration = Duration::from_secs(1);

/// Commits made through this process's handles of one store.
#[derive(Default)]
pub struct Signal {
    commits: Mutex<u64>,
    cond: Condvar,
    /// Who is past the gate, and the writes queued for a group commit (`group.rs`).
    pub(super) gate: Mutex<super::group::Gate>,
    pub(super) gate_cond: Condvar,
    /// Wakes a leader waiting for the handles due to queue again (`group.rs`).
    pub(super) regroup_cond: Condvar,
    /// Whether a thread watches the directory (`watch.rs`): `None` until the first waiter
    /// starts one.
    pub(super) watch: Mutex<Option<bool>>,
}

type Registry = Mutex<HashMap<PathBuf, Weak<Signal>>>;

/// The signal of the store at `root`, shared by every handle of it in this process.
pub(super) fn signal_for(root: &Path) -> Arc<Signal> {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    let key = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut map = REGISTRY.get_or_init(Registry::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(signal) = map.get(&key).and_then(Weak::upgrade) {
        return signal;
    }
    map.retain(|_, w| w.strong_count() > 0);
    let signal = Arc::new(Signal::default());
    map.insert(key, Arc::downgrade(&signal));
    signal
}

impl Signal {
    /// Commits signalled so far.
    pub fn count(&self) -> u64 {
        *self.commits.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True while a thread watches the store's directory for other processes' commits.
    pub fn is_watched(&self) -> bool {
        *self.watch.lock().unwrap_or_else(|e| e.into_inner()) == Some(true)
    }

    /// The watching thread ended (its descriptor failed): waiters poll from now on.
    pub(super) fn stop_watching(&self) {
        *self.watch.lock().unwrap_or_else(|e| e.into_inner()) = Some(false);
    }

    /// Say a commit landed, waking every waiter.
    pub fn notify(&self) {
        *self.commits.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.cond.notify_all();
    }

    /// Wait until the count passes `seen` or `timeout` elapses.
    pub fn wait_past(&self, seen: u64, timeout: Duration) {
        let guard = self.commits.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self.cond.wait_timeout_while(guard, timeout, |count| *count <= seen);
    }

    /// Pass the gate, waiting up to `wait` (`None`: not at all) for the handle past it to
    /// leave; false if it did not.
    pub fn enter(&self, wait: Option<Duration>) -> bool {
        let gate = self.gate.lock().unwrap_or_else(|e| e.into_inner());
        let mut gate = match wait {
            None => gate,
            Some(wait) => self
                .gate_cond
                .wait_timeout_while(gate, wait, |g| g.busy)
                .map_or_else(|e| e.into_inner().0, |r| r.0),
        };
        if gate.busy {
            return false;
        }
        gate.busy = true;
        true
    }

    /// Leave the gate, letting the next handle in.
    pub fn leave(&self) {
        self.gate.lock().unwrap_or_else(|e| e.into_inner()).busy = false;
        // Waiters for the gate and for their queued writes' results share the condition.
        self.gate_cond.notify_all();
    }
}
