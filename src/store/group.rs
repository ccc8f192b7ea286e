//! Group commit: writes from many handles of one store in this process share one commit,
//! so they share its fsyncs.
//!
//! A write queues its ops at the process's gate for the store (`notify.rs`) and waits.
//! Whichever writer finds the gate free becomes the leader: it takes every queued write,
//! commits them as one batch through its own handle (under the writer lock, caught up as
//! any write is), and hands each writer its results. While a leader commits, the writes
//! that arrive queue up for the next one, so the more writers there are, the more each
//! commit carries, and throughput grows with them instead of being one fsync per write.
//!
//! Invariants:
//! 1. A write's results are handed back only after the commit holding it is durable.
//! 2. Queued writes are applied in queue order, each op as if committed alone in that
//!    order: MVCC and sequence numbers are exactly those of one commit after another.
//! 3. A writer served by another handle refreshes its own view before returning, so it
//!    reads its own writes.
//! 4. A write that fails as a whole (an I/O error, damage, the lock) fails for every writer
//!    whose ops it carried; per-document results (conflicts) belong to their writer only.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::{lock, Store};
use crate::error::{Error, Result};
use crate::store::write::{Op, Written};

/// The results of one queued write.
type Outcome = Result<Vec<Result<Written>>>;

/// The gate's state: who is past it, and the writes waiting for a leader.
#[derive(Default)]
pub(super) struct Gate {
    /// True while a handle of this process is past the gate.
    pub(super) busy: bool,
    next_ticket: u64,
    queued: Vec<(u64, Vec<Op>)>,
    done: HashMap<u64, Outcome>,
}

impl Gate {
    /// True if no write waits for a leader.
    pub(super) fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }
}

impl Store {
    /// [`Store::write`] through the group commit (module documentation).
    pub(super) fn write_grouped(&mut self, ops: Vec<Op>) -> Outcome {
        let Some(wait) = self.writing.as_ref().map(|w| w.wait()) else {
            return Err(Error::Invalid("store was opened read-only".into()));
        };
        let deadline = wait.map(|w| Instant::now() + w);
        let signal = self.signal.clone();
        let mut gate = signal.gate.lock().unwrap_or_else(|e| e.into_inner());
        let ticket = gate.next_ticket;
        gate.next_ticket += 1;
        gate.queued.push((ticket, ops));
        loop {
            if let Some(outcome) = gate.done.remove(&ticket) {
                drop(gate);
                // Served by another handle: see what it wrote (invariant 3).
                if outcome.is_ok() {
                    self.refresh()?;
                }
                return outcome;
            }
            if !gate.busy {
                gate.busy = true;
                let batch = std::mem::take(&mut gate.queued);
                drop(gate);
                let outcome = self.lead(batch, ticket);
                let mut gate = signal.gate.lock().unwrap_or_else(|e| e.into_inner());
                gate.busy = false;
                drop(gate);
                signal.gate_cond.notify_all();
                // A checkpoint the commit made due runs with the lock and the gate let go.
                let checkpointed = self.run_due_checkpoint();
                let outcome = outcome?;
                checkpointed?;
                return Ok(outcome);
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left.is_none_or(|l| l.is_zero()) {
                // Still queued (not taken by a leader, or it would be done or in progress).
                if let Some(at) = gate.queued.iter().position(|(t, _)| *t == ticket) {
                    gate.queued.remove(at);
                    let holder = format!("pid {}, through another handle", std::process::id());
                    return Err(Error::Locked { path: self.root.join(lock::FILE_NAME), holder });
                }
            }
            let pause = left.unwrap_or(Duration::from_millis(50)).max(Duration::from_millis(1));
            gate = signal.gate_cond.wait_timeout(gate, pause).map_or_else(|e| e.into_inner().0, |r| r.0);
        }
    }

    /// Commit `batch` as one write under the lock (the caller is past the gate), and hand
    /// every other writer its share of the results; return the share of `mine`.
    fn lead(&mut self, batch: Vec<(u64, Vec<Op>)>, mine: u64) -> Outcome {
        let sizes: Vec<(u64, usize)> = batch.iter().map(|(t, ops)| (*t, ops.len())).collect();
        let ops: Vec<Op> = batch.into_iter().flat_map(|(_, ops)| ops).collect();
        let outcome = self.locked_past_gate(|store| store.write_locked(ops));
        let mut shares: Vec<(u64, Outcome)> = match outcome {
            Ok(results) => {
                let mut results = results.into_iter();
                sizes.iter().map(|&(t, n)| (t, Ok(results.by_ref().take(n).collect()))).collect()
            }
            Err(e) => {
                let copies = sizes.iter().filter(|(t, _)| *t != mine).map(|&(t, _)| (t, Err(share(&e))));
                let mut shares: Vec<_> = copies.collect();
                shares.push((mine, Err(e)));
                shares
            }
        };
        let at = shares.iter().position(|(t, _)| *t == mine);
        let own = match at {
            Some(at) => shares.swap_remove(at).1,
            None => Err(Error::Invalid("a grouped write lost its own ops".into())),
        };
        let mut gate = self.signal.gate.lock().unwrap_or_else(|e| e.into_inner());
        gate.done.extend(shares);
        own
    }
}

/// A copy of `e` for another writer whose ops the failed commit carried.
fn share(e: &Error) -> Error {
    match e {
        Error::Locked { path, holder } => Error::Locked { path: path.clone(), holder: holder.clone() },
        Error::Io { path, source } => {
            Error::Io { path: path.clone(), source: std::io::Error::new(source.kind(), source.to_string()) }
        }
        Error::Corrupt { path, offset, what } => {
            Error::Corrupt { path: path.clone(), offset: *offset, what: what.clone() }
        }
        other => Error::Invalid(format!("a commit shared with another writer failed: {other}")),
    }
}
