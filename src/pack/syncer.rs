//! Making a pack's new bytes durable on a thread of its own, so that a commit syncs them
//! while it appends its journal record (`store/write.rs`), without starting a thread for
//! every commit.
//!
//! Owns: one thread per pack writer, started by its first sync, holding the pack file; it
//! syncs the file when asked and answers with the result.
//!
//! Invariants:
//! 1. Every request gets exactly one answer, in order.
//! 2. A sync begun is waited for before another can begin ([`Pending`] borrows the syncer
//!    and waits when dropped), so an answer never goes to the wrong request.

use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

use crate::disk;

pub struct Syncer {
    requests: Option<Sender<()>>,
    answers: Receiver<io::Result<()>>,
    worker: Option<JoinHandle<()>>,
}

impl Syncer {
    /// Start the thread syncing `file`.
    pub fn start(file: Arc<dyn disk::File>) -> io::Result<Syncer> {
        let (requests, queue) = crossbeam_channel::bounded::<()>(1);
        let (answer, answers) = crossbeam_channel::bounded(1);
        let worker = std::thread::Builder::new().name("settee-sync".into()).spawn(move || {
            for () in queue {
                if answer.send(file.sync_data()).is_err() {
                    return;
                }
            }
        })?;
        Ok(Syncer { requests: Some(requests), answers, worker: Some(worker) })
    }

    /// Ask for a sync; its result comes from [`Pending::wait`].
    pub fn begin(&mut self) -> io::Result<Pending<'_>> {
        let requests = self.requests.as_ref().ok_or_else(stopped)?;
        requests.send(()).map_err(|_| stopped())?;
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
        self.syncer.answers.recv().map_err(|_| stopped())?
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.answered {
            let _ = self.syncer.answers.recv();
        }
    }
}

fn stopped() -> io::Error {
    io::Error::other("the pack sync thread stopped")
}

impl Drop for Syncer {
    fn drop(&mut self) {
        // Closing the requests ends the worker.
        self.requests = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}
