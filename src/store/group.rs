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
//! Left at that, writers that each wait for their write before making the next settle into
//! two groups taking turns: those served by one commit queue during the next, so each
//! commit carries about half of them, and 16 writers get at most 8 times one writer's rate.
//! So a commit that carried the writes of several handles makes the next leader wait, a
//! little (`REGROUP`), for those handles to queue again: a commit then carries nearly all
//! of them, as PostgreSQL's `commit_delay` does when other transactions are active. The
//! leader takes the writer lock and catches up while it waits, so that part of a commit
//! costs no time of its own. A lone writer, or one whose commit carried only its own write,
//! never waits.
//!
//! Invariants:
//! 1. A write's results are handed back only after the commit holding it is durable.
//! 2. Queued writes are applied in queue order, each op as if committed alone in that
//!    order: MVCC and sequence numbers are exactly those of one commit after another.
//! 3. A writer served by another handle moves its own view past the commit that held its
//!    write before returning, so it reads its own writes. Where its view is exactly where
//!    one of the last commits began (the same manifest and journal length), it applies
//!    that commit's record as the leader kept it, as a refresh would apply it from the
//!    journal (those refreshes, reading the manifest and decoding the record again, were
//!    nearly half the CPU time of 16 writers); otherwise it refreshes.
//! 4. A write that fails as a whole (an I/O error, damage) fails for every writer whose ops
//!    it carried; per-document results (conflicts) belong to their writer only. A leader
//!    that cannot take the lock or catch up takes no writes: only its own fails, and the
//!    others stay queued for the next leader, each within its own wait.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest a leader waits for the handles the last commit served to queue again.
const REGROUP: Duration = Duration::from_millis(1);
/// How many of the last commits led through the gate stay there for the writers they
/// served (invariant 3): enough for a writer whose view missed a commit or two.
const RECENT: usize = 4;

use super::{lock, Store};
use crate::error::{Error, Result};
use crate::journal::Record;
use crate::manifest::Manifest;
use crate::store::write::{Op, Written};

/// The results of one queued write.
type Outcome = Result<Vec<Result<Written>>>;
/// Where a commit left the journal: the manifest it was made under, and the journal's length.
type End = (Arc<Manifest>, u64);

/// The gate's state: who is past it, and the writes waiting for a leader.
#[derive(Default)]
pub(super) struct Gate {
    /// True while a handle of this process is past the gate.
    pub(super) busy: bool,
    next_ticket: u64,
    /// Ticket, ops and handle of each write waiting for a leader.
    queued: Vec<(u64, Vec<Op>, u64)>,
    /// Each served write's results, with the end (manifest, journal length) of the commit
    /// that carried it when the leader kept it.
    done: HashMap<u64, (Outcome, Option<End>)>,
    /// The handles the last commit served that have not queued again, when it served more
    /// than one, and until when the next leader waits for them.
    regroup: Vec<u64>,
    regroup_until: Option<Instant>,
    /// The last commits led through the gate, oldest first (invariant 3).
    recent: VecDeque<Kept>,
}

/// A commit a leader made, kept for the writers it served: a view of `manifest` and the
/// journal's first `start` bytes with `record` applied is the view of its first `end`.
#[derive(Clone)]
pub(super) struct Kept {
    pub(super) manifest: Arc<Manifest>,
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) record: Arc<Record>,
}

impl Gate {
    /// True if no write waits for a leader.
    pub(super) fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }

    /// When a leader may take the queue, if not now (handles served last are still due).
    fn regroup_deadline(&self, now: Instant) -> Option<Instant> {
        self.regroup_until.filter(|until| !self.regroup.is_empty() && *until > now)
    }
}

impl super::notify::Signal {
    /// The queued writes, for the leader to commit: if `regroup`, once the handles the last
    /// commit served have queued again or the regroup pause is over.
    fn take_queue(&self, regroup: bool) -> Vec<(u64, Vec<Op>, u64)> {
        let mut gate = self.gate.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let now = Instant::now();
            let Some(until) = gate.regroup_deadline(now).filter(|_| regroup) else { break };
            gate = self
                .regroup_cond
                .wait_timeout(gate, until.saturating_duration_since(now))
                .map_or_else(|e| e.into_inner().0, |r| r.0);
        }
        gate.regroup.clear();
        std::mem::take(&mut gate.queued)
    }
}

impl Store {
    /// [`Store::write`] through the group commit (module documentation).
    pub(super) fn write_grouped(&mut self, ops: Vec<Op>) -> Outcome {
        let Some((wait, me)) = self.writing.as_ref().map(|w| (w.wait(), w.id())) else {
            return Err(Error::Invalid("store was opened read-only".into()));
        };
        let deadline = wait.map(|w| Instant::now() + w);
        let signal = self.signal.clone();
        let mut gate = signal.gate.lock().unwrap_or_else(|e| e.into_inner());
        let ticket = gate.next_ticket;
        gate.next_ticket += 1;
        gate.queued.push((ticket, ops, me));
        let due = gate.regroup.len();
        gate.regroup.retain(|h| *h != me);
        if gate.busy && due > 0 && gate.regroup.is_empty() {
            // The last handle due: the leader waiting for the regroup may take the queue.
            signal.regroup_cond.notify_one();
        }
        loop {
            if let Some((outcome, carried)) = gate.done.remove(&ticket) {
                let recent: Vec<Kept> = match outcome.is_ok() {
                    true => gate.recent.iter().cloned().collect(),
                    false => Vec::new(),
                };
                drop(gate);
                // Served by another handle: see what it wrote (invariant 3).
                if outcome.is_ok() {
                    self.catch_up_served(&recent, carried)?;
                }
                return outcome;
            }
            let regroup = gate.regroup_deadline(Instant::now());
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let out_of_time = left.is_none_or(|l| l.is_zero());
            if !gate.busy {
                // Lead. While handles served last are still due, take the lock and catch up
                // meanwhile, then take the queue once they are in (or the pause is over). A
                // handle that may not wait (or may wait no longer) takes it at once: the
                // regroup pause is for throughput, never a reason to report a lock.
                gate.busy = true;
                let regroup = regroup.is_some() && !out_of_time;
                if !regroup {
                    gate.regroup.clear();
                }
                drop(gate);
                let outcome = self.lead(ticket, regroup, left);
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
            if out_of_time {
                // Still queued (not taken by a leader, or it would be done or in progress).
                if let Some(at) = gate.queued.iter().position(|(t, ..)| *t == ticket) {
                    gate.queued.remove(at);
                    let holder = format!("pid {}, through another handle", std::process::id());
                    return Err(Error::Locked { path: self.root.join(lock::FILE_NAME), holder });
                }
            }
            let pause = left.unwrap_or(Duration::from_millis(50)).max(Duration::from_millis(1));
            gate = signal.gate_cond.wait_timeout(gate, pause).map_or_else(|e| e.into_inner().0, |r| r.0);
        }
    }

    /// Under the lock (the caller is past the gate), take the queued writes, after the
    /// handles due have queued again if `regroup`, commit them as one write, and hand every
    /// other writer its share of the results; return the share of `mine`. When the lock
    /// cannot be taken within `wait` (what is left of this writer's), or the view cannot
    /// catch up, the queue is left to the next leader and only `mine` fails.
    fn lead(&mut self, mine: u64, regroup: bool, wait: Option<Duration>) -> Outcome {
        let signal = self.signal.clone();
        let mut sizes: Vec<(u64, usize)> = Vec::new();
        let mut handles: Vec<u64> = Vec::new();
        let outcome = self.locked_past_gate(wait, |store| {
            let batch = signal.take_queue(regroup);
            sizes = batch.iter().map(|(t, ops, _)| (*t, ops.len())).collect();
            handles = batch.iter().map(|(.., h)| *h).collect();
            let ops: Vec<Op> = batch.into_iter().flat_map(|(_, ops, _)| ops).collect();
            // Keep the commit for the writers served, so they need not read it back.
            store.kept = (sizes.len() > 1).then(Vec::new);
            store.write_locked(ops)
        });
        if sizes.is_empty() {
            // Nothing was taken: the writes stay queued for the next leader, bar this one.
            let mut gate = signal.gate.lock().unwrap_or_else(|e| e.into_inner());
            gate.queued.retain(|(t, ..)| *t != mine);
            gate.regroup.clear();
            return outcome.and(Err(Error::Invalid("a grouped write lost its own ops".into())));
        }
        handles.sort_unstable();
        handles.dedup();
        let kept = self.kept.take().unwrap_or_default();
        let carried = kept.last().map(|k| (k.manifest.clone(), k.end));
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
        gate.done.extend(shares.into_iter().map(|(t, o)| (t, (o, carried.clone()))));
        for k in kept {
            // Only the commits this one follows stay: never two records for one place.
            gate.recent.retain(|e| e.manifest == k.manifest && e.end <= k.start);
            if gate.recent.len() == RECENT {
                gate.recent.pop_front();
            }
            gate.recent.push_back(k);
        }
        if handles.len() > 1 {
            // Those already queued again (while this commit ran) are not waited for.
            let queued: Vec<u64> = gate.queued.iter().map(|(.., h)| *h).collect();
            handles.retain(|h| !queued.contains(h));
            gate.regroup = handles;
            gate.regroup_until = Some(Instant::now() + REGROUP);
        }
        own
    }
}

impl Store {
    /// Move this view past the commit that carried a write another handle served (its end
    /// is `carried`, if the leader kept it): through `recent`, the commits the leader kept,
    /// while one begins where the view ends, else by a refresh (invariant 3).
    fn catch_up_served(&mut self, recent: &[Kept], carried: Option<End>) -> Result<()> {
        let mut moved = false;
        while let Some(k) =
            recent.iter().find(|k| k.start == self.journal_len && *k.manifest == self.view.manifest)
        {
            self.apply_kept(&k.record)?;
            self.journal_len = k.end;
            moved = true;
        }
        if moved {
            // The append handles are behind the commits applied.
            self.advance_handles();
        }
        let past = carried.is_some_and(|(m, end)| *m == self.view.manifest && self.journal_len >= end);
        if !past {
            self.refresh()?;
        }
        Ok(())
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
