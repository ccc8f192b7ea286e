//! The replicator: CouchDB's algorithm, once, over any pair of transports.
//!
//! Owns: one-directional replication from a source to a target: read the source's changes
//! since the agreed checkpoint, ask the target which revisions it lacks (`revs_diff`), fetch
//! those with their histories (`bulk_get`), write them as replicated history (`bulk_docs`
//! with `new_edits: false`), batch after batch, recording a checkpoint on both sides at most
//! every `checkpoint_interval` (CouchDB: 30 s) and at the end.
//! Invariants:
//! 1. A checkpoint never names a sequence whose changes are not durable on the target.
//! 2. Re-running a finished replication transfers nothing; an interrupted one resumes from
//!    the last checkpoint both peers agree on.
//!
//! Spec: format-spec/replication.md.

pub mod checkpoint;

use crate::error::Result;
use crate::id::DocId;
use crate::rev::RevId;
use crate::transport::{Filter, Transport};

/// How to replicate.
#[derive(Clone, Debug)]
pub struct Options {
    /// Changes per batch.
    pub batch_size: usize,
    pub filter: Filter,
    /// Canonical text of the filter (part of the replication id).
    pub filter_key: String,
    /// The least time between two checkpoints (one is always written at the end).
    pub checkpoint_interval: std::time::Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            batch_size: 1000,
            filter: Filter::All,
            filter_key: String::new(),
            checkpoint_interval: std::time::Duration::from_secs(1),
        }
    }
}

/// What a replication did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Change rows read from the source.
    pub docs_read: u64,
    /// Revisions asked about with `revs_diff`.
    pub revisions_checked: u64,
    /// Revisions the target lacked.
    pub missing_found: u64,
    /// Revisions fetched and written to the target.
    pub revisions_written: u64,
    pub write_failures: u64,
    /// The source sequence replication started from and the one it reached.
    pub start_seq: String,
    pub last_seq: String,
}

/// Told about each batch as it completes (the CLI draws a progress bar).
pub trait Progress {
    fn batch(&mut self, outcome: &Outcome);
}

impl Progress for () {
    fn batch(&mut self, _: &Outcome) {}
}

/// Replicate everything `source` has (that passes the filter) to `target`.
pub fn replicate(
    source: &mut dyn Transport,
    target: &mut dyn Transport,
    options: &Options,
    progress: &mut dyn Progress,
) -> Result<Outcome> {
    let source_info = source.info()?;
    let target_info = target.info()?;
    let rep_id = checkpoint::replication_id(&source_info.id, &target_info.id, &options.filter_key);
    let source_log = source.get_local(&rep_id)?;
    let target_log = target.get_local(&rep_id)?;
    let start =
        checkpoint::agreed_seq(source_log.as_ref(), target_log.as_ref()).unwrap_or_else(|| "0".into());
    let session = checkpoint::session_id();
    let mut outcome = Outcome { start_seq: start.clone(), last_seq: start.clone(), ..Outcome::default() };
    let mut since = start.clone();
    let mut previous = target_log.or(source_log);
    let mut last_checkpoint = std::time::Instant::now();
    let mut unrecorded = false;
    loop {
        let page = source.changes(&since, options.batch_size.max(1), &options.filter)?;
        if page.rows.is_empty() {
            if page.last_seq != since {
                // Rows were skipped by the filter: move past them.
                since = page.last_seq;
                outcome.last_seq = since.clone();
                unrecorded = true;
                continue;
            }
            break;
        }
        outcome.docs_read += page.rows.len() as u64;
        let asked: Vec<(DocId, Vec<RevId>)> =
            page.rows.iter().map(|r| (r.id.clone(), r.revs.clone())).collect();
        outcome.revisions_checked += asked.iter().map(|(_, r)| r.len() as u64).sum::<u64>();
        let missing = target.revs_diff(&asked)?;
        let wanted: Vec<(DocId, Vec<RevId>)> = missing.into_iter().map(|m| (m.id, m.missing)).collect();
        outcome.missing_found += wanted.iter().map(|(_, r)| r.len() as u64).sum::<u64>();
        if !wanted.is_empty() {
            let revisions = source.bulk_get(&wanted)?;
            let count = revisions.len() as u64;
            let failures = target.bulk_docs(revisions)?;
            outcome.write_failures += failures.len() as u64;
            outcome.revisions_written += count - failures.len() as u64;
        }
        since = page.last_seq;
        outcome.last_seq = since.clone();
        unrecorded = true;
        if last_checkpoint.elapsed() >= options.checkpoint_interval {
            write_checkpoint(source, target, &rep_id, &session, &mut previous, &start, &outcome)?;
            last_checkpoint = std::time::Instant::now();
            unrecorded = false;
        }
        progress.batch(&outcome);
    }
    if unrecorded {
        write_checkpoint(source, target, &rep_id, &session, &mut previous, &start, &outcome)?;
    }
    Ok(outcome)
}

fn write_checkpoint(
    source: &mut dyn Transport,
    target: &mut dyn Transport,
    rep_id: &str,
    session: &str,
    previous: &mut Option<serde_json::Map<String, serde_json::Value>>,
    start: &str,
    outcome: &Outcome,
) -> Result<()> {
    target.ensure_full_commit()?;
    source.ensure_full_commit()?;
    let log = checkpoint::log_document(session, previous.as_ref(), start, &outcome.last_seq, outcome);
    target.put_local(rep_id, &log)?;
    source.put_local(rep_id, &log)?;
    *previous = Some(log);
    Ok(())
}
