//! The writer role of an open store: when a handle may append, and what it does first.
//!
//! A store opened for writing does not hold the writer lock (`LOCK`, `lock.rs`) while idle.
//! Each operation that writes runs inside [`Store::locked`]: it takes the lock (waiting for
//! it as the handle was told to), brings the view up to everything committed before
//! (`refresh.rs`: another process's journal records, checkpoint or compaction), decides from
//! that view (MVCC conflicts, sequence numbers, which objects are new), appends at the
//! journal's and the active pack's current ends, fsyncs, and lets the lock go. So any number
//! of processes, and of handles in one process, write to one store in turn.
//!
//! Invariants:
//! 1. Journal and pack bytes are appended, and files cut, replaced or unlinked, only while
//!    this handle holds the lock.
//! 2. Under the lock, nothing is decided before the view has caught up: every commit
//!    acknowledged by anyone before the lock was taken is in it, so a stale `--rev` is a
//!    conflict and every commit gets the next sequence number.
//! 3. One hold is re-entrant: an operation made of others (resolve writes, a write
//!    checkpoints) catches up once, at the outermost level, and releases once, there.
//! 4. Handles of one process pass a gate in turn before taking the lock (`notify.rs`), so
//!    they wait on each other without polling.
//! 5. The lock is released however the operation ends (the kernel also drops it when the
//!    process dies), so a failed or crashed writer never blocks the others.
//! 6. A hold is one operation: long work that only reads the view (building a checkpoint's
//!    tables) runs after the lock is let go, so a writer waiting in the queue (`lock.rs`)
//!    waits for one commit, not for a checkpoint.
//!
//! Spec: format-spec/layout.md ("Locking and visibility").

use std::time::Duration;

use super::{lock, Store};
use crate::error::Error;

/// The writer role of a handle: how long to wait for the lock, and the lock while held.
pub(super) struct Writing {
    /// How long to wait for the lock when another writer holds it (`None`: fail at once).
    wait: Option<Duration>,
    /// The lock, while an operation holds it.
    lock: Option<lock::Lock>,
    /// Nesting depth of [`Store::locked`] calls (0: not held).
    depth: u32,
    /// This handle among the process's writers (how the group commit knows who comes back).
    id: u64,
}

impl Writing {
    pub(super) fn new(wait: Option<Duration>) -> Writing {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Writing { wait, lock: None, depth: 0, id: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) }
    }

    pub(super) fn id(&self) -> u64 {
        self.id
    }

    pub(super) fn is_held(&self) -> bool {
        self.depth > 0
    }

    pub(super) fn wait(&self) -> Option<Duration> {
        self.wait
    }
}

/// Being past this process's gate for the store (`notify.rs`); leaving it on drop, so a
/// panicking operation does not shut the others out.
struct Pass(std::sync::Arc<super::notify::Signal>);

impl Pass {
    fn enter(signal: &std::sync::Arc<super::notify::Signal>, wait: Option<Duration>) -> Option<Pass> {
        signal.enter(wait).then(|| Pass(signal.clone()))
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        self.0.leave();
    }
}

impl Store {
    /// Run `f` holding the writer lock, with the view caught up with every commit made
    /// before it was taken. Operations that write go through here; a caller may wrap a
    /// series of them (a batch of writes and a checkpoint, a whole clone) to hold the lock
    /// once for all. Fails with `Error::Locked` naming the holder when the lock stays busy
    /// longer than the handle waits.
    pub fn locked<T, E: From<Error>>(
        &mut self,
        f: impl FnOnce(&mut Store) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let Some(writing) = self.writing.as_mut() else {
            return Err(Error::Invalid("store was opened read-only".into()).into());
        };
        if writing.is_held() {
            writing.depth += 1;
            let result = f(self);
            if let Some(w) = self.writing.as_mut() {
                w.depth -= 1;
            }
            return result;
        }
        // Handles of this process queue at the gate; then the lock orders the processes.
        let Some(pass) = Pass::enter(&self.signal, writing.wait) else {
            let holder = format!("pid {}, through another handle", std::process::id());
            return Err(Error::Locked { path: self.root.join(lock::FILE_NAME), holder }.into());
        };
        let wait = writing.wait;
        let result = self.locked_past_gate(wait, f);
        drop(pass);
        // A checkpoint the operation's commits made due runs with the lock let go.
        let checkpointed = self.run_due_checkpoint();
        let value = result?;
        checkpointed?;
        Ok(value)
    }

    /// [`Store::locked`] for a caller already past this process's gate, waiting for the
    /// lock as long as `wait` says (what is left of the handle's wait, for a grouped write).
    pub(super) fn locked_past_gate<T, E: From<Error>>(
        &mut self,
        wait: Option<Duration>,
        f: impl FnOnce(&mut Store) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let root = self.view.root.clone();
        let Some(writing) = self.writing.as_mut() else {
            return Err(Error::Invalid("store was opened read-only".into()).into());
        };
        writing.lock = Some(lock::Lock::acquire(&root, wait)?);
        writing.depth = 1;
        let result = self.catch_up_for_write().map_err(E::from).and_then(|()| f(self));
        if let Some(w) = self.writing.as_mut() {
            w.depth = 0;
            w.lock = None;
        }
        result
    }

    /// How long later writes wait for the writer lock when another writer holds it
    /// (`None`: fail at once). Does nothing on a read-only store.
    pub fn set_lock_wait(&mut self, wait: Option<Duration>) {
        if let Some(w) = self.writing.as_mut() {
            w.wait = wait;
        }
    }
}
