//! Making a pack's new bytes durable on a thread of its own, so that a commit syncs them
//! while it appends its journal record (`store/write.rs`), without starting a thread for
//! every commit.
//!
//! Owns: one thread per pack writer, started by its first sync, holding the pack file; it
//! syncs the file when asked and hands back the result. Both sides sleep on a condition
//! variable while they wait (no spinning: the machine's other threads need the CPU more
//! than a wait of a flush's length needs a fast wake-up).
//!
//! Invariants:
//! 1. Every request gets exactly one answer, in order.
//! 2. A sync begun is waited for before another can begin ([`Pending`] borrows the syncer
//!    and waits when dropped), so an answer never goes to the wrong request.

use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::disk;

/// What the two sides share.
#[derive(Default)]
struct State {
    /// A sync asked for and not yet started.
    asked: bool,
    /// The result of the last sync, until taken.
    answer: Option<io::Result<()>>,
    /// The writer is gone: the thread ends.
    closed: bool,
    /// The thread has ended (or is ending): nothing more will be answered.
    stopped: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed.wait(guard).unwrap_or_else(|e| e.into_inner())
    }
}

pub struct Syncer {
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
}

impl Syncer {
    /// Start the thread syncing `file`.
    pub fn start(file: Arc<dyn disk::File>) -> io::Result<Syncer> {
        let shared = Arc::new(Shared::default());
        let theirs = shared.clone();
        let worker = std::thread::Builder::new().name("settee-sync".into()).spawn(move || {
            // However the thread ends, a waiter wakes and finds it stopped.
            let _wake = WakeOnExit(theirs.clone());
            loop {
                let mut state = theirs.lock();
                while !state.asked && !state.closed {
                    state = theirs.wait(state);
                }
                if state.closed {
                    return;
                }
                state.asked = false;
                drop(state);
                let result = file.sync_data();
                theirs.lock().answer = Some(result);
                theirs.changed.notify_all();
            }
        })?;
        Ok(Syncer { shared, worker: Some(worker) })
    }

    /// Ask for a sync; its result comes from [`Pending::wait`].
    pub fn begin(&mut self) -> io::Result<Pending<'_>> {
        let mut state = self.shared.lock();
        if state.stopped {
            return Err(stopped());
        }
        state.asked = true;
        state.answer = None;
        drop(state);
        self.shared.changed.notify_all();
        Ok(Pending { syncer: &*self, answered: false })
    }
}

/// A sync asked for and not yet answered.
pub struct Pending<'a> {
    syncer: &'a Syncer,
    answered: bool,
}

impl Pending<'_> {
    /// Wait for the sync to finish: its result.
    pub fn wait(mut self) -> io::Result<()> {
        self.answered = true;
        self.take_answer()
    }

    fn take_answer(&self) -> io::Result<()> {
        let shared = &self.syncer.shared;
        let mut state = shared.lock();
        loop {
            if let Some(answer) = state.answer.take() {
                return answer;
            }
            if state.stopped {
                return Err(stopped());
            }
            state = shared.wait(state);
        }
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.answered {
            let _ = self.take_answer();
        }
    }
}

struct WakeOnExit(Arc<Shared>);

impl Drop for WakeOnExit {
    fn drop(&mut self) {
        self.0.lock().stopped = true;
        self.0.changed.notify_all();
    }
}

fn stopped() -> io::Error {
    io::Error::other("the pack sync thread stopped")
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Syncs answer in turn, a sync left unwaited is waited for before the next begins, and
    /// the thread ends with the syncer.
    #[test]
    fn each_sync_gets_its_own_answer() {
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::File::create(dir.path().join("pack")).unwrap();
        let file: Arc<dyn disk::File> = Arc::new(file);
        let mut syncer = Syncer::start(file.clone()).unwrap();
        for n in 0..3u8 {
            file.write_all_at(&[n; 512], u64::from(n) * 512).unwrap();
            syncer.begin().unwrap().wait().unwrap();
        }
        drop(syncer.begin().unwrap());
        syncer.begin().unwrap().wait().unwrap();
        drop(syncer);
        assert_eq!(Arc::strong_count(&file), 1, "the thread let the file go");
    }
}
