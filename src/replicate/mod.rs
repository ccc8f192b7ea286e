//! The replicator: CouchDB's algorithm, once, over any pair of transports.
//!
//! Owns: one-directional replication from a source to a target: read the source's changes
//! since the agreed checkpoint, ask the target which revisions it lacks (`revs_diff`), fetch
//! those with their histories (`bulk_get`), write them as replicated history (`bulk_docs`
//! with `new_edits: false`) after copying the attachment blobs it lacks, batch after
//! batch, recording a checkpoint on both sides at most
//! every `checkpoint_interval` (CouchDB: 30 s) and at the end.
//! Invariants:
//! 1. A checkpoint never names a sequence whose changes are not durable on the target.
//! 2. Re-running a finished replication transfers nothing; an interrupted one resumes from
//!    the last checkpoint both peers agree on.
//!
//! Spec: format-spec/replication.md.

pub mod checkpoint;

use crate::error::{Error, Result};
use crate::id::{DocId, ObjectId};
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

/// How many refused revisions an [`Outcome`] names (it counts them all).
pub const REPORTED_FAILURES: usize = 20;

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
    /// The first [`REPORTED_FAILURES`] revisions the target refused, with its reasons.
    pub failures: Vec<crate::transport::WriteFailure>,
    /// Attachment blobs the target lacked, copied to it, and their bytes.
    pub blobs_written: u64,
    pub blob_bytes_written: u64,
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

/// A page's number and the revisions the target lacks, per document, with the revisions it
/// may have of it (`atts_since`).
type Wanted = (u64, Vec<(DocId, Vec<RevId>, Vec<RevId>)>);

/// The source's answer to a blob the target asked for.
type BlobAnswer = Result<Option<crate::transport::BlobStream>>;

/// Pages read but not yet written to the target, at most.
const IN_FLIGHT: usize = 3;

/// A page of changes on its way through the pipeline.
struct Page {
    number: u64,
    rows: Vec<crate::transport::ChangeRow>,
    last_seq: String,
}

/// Copy to `target` the blobs it needs for `revisions` (`blobs_wanted`), asking the source
/// thread for each one's bytes in turn (memory: one chunk at a time). A blob the source
/// lacks is skipped: `bulk_docs` then refuses the revisions naming it.
/// With `whole`, every attachment's blob (`blobs_wanted_whole`, after a `missing_stub`).
fn copy_blobs(
    target: &mut (dyn Transport + Send),
    revisions: &[crate::transport::Revision],
    whole: bool,
    (ask, answers): (&crossbeam_channel::Sender<ObjectId>, &crossbeam_channel::Receiver<BlobAnswer>),
    outcome: &mut Outcome,
) -> Result<()> {
    let mut lengths = std::collections::HashMap::new();
    for r in revisions {
        for a in crate::attachment::of_bytes(&r.body.bytes)?.into_values() {
            lengths.insert(a.blob, a.length);
        }
    }
    if lengths.is_empty() {
        return Ok(());
    }
    let stopped = || Error::Invalid("the replication source stopped".into());
    let wanted =
        if whole { target.blobs_wanted_whole(revisions)? } else { target.blobs_wanted(revisions)? };
    for id in wanted {
        ask.send(id).map_err(|_| stopped())?;
        let Some(mut stream) = answers.recv().map_err(|_| stopped())?? else { continue };
        let info = target.put_blob(&mut stream, lengths.get(&id).copied())?;
        if info.id != id {
            return Err(Error::Invalid(format!(
                "blob {id} from the source holds the bytes of blob {}",
                info.id
            )));
        }
        outcome.blobs_written += 1;
        outcome.blob_bytes_written += info.len;
    }
    Ok(())
}

/// Put into each revision's body the attachments the source sent as stubs, taken from the
/// target's copy of the revision each names (CouchDB's `merge_stubs`: by name, here also by
/// digest, keeping the source's revpos). A stub the target cannot match (no such revision or
/// attachment, or another digest) refuses its revision as CouchDB's `missing_stub` does;
/// the others go on.
fn resolve_stubs(
    target: &mut (dyn Transport + Send),
    revisions: Vec<crate::transport::Revision>,
) -> Result<(Vec<crate::transport::Revision>, Vec<crate::transport::WriteFailure>)> {
    let mut kept = Vec::with_capacity(revisions.len());
    let mut refused = Vec::new();
    for mut r in revisions {
        if r.stubs.is_empty() {
            kept.push(r);
            continue;
        }
        let mut atts = crate::attachment::of_bytes(&r.body.bytes)?;
        let mut missing = None;
        let mut known: std::collections::HashMap<RevId, Option<crate::attachment::Attachments>> =
            std::collections::HashMap::new();
        for stub in &r.stubs {
            if !known.contains_key(&stub.since) {
                let stored = target.stored_attachments(&r.id, &stub.since)?;
                known.insert(stub.since.clone(), stored);
            }
            let found = known
                .get(&stub.since)
                .and_then(Option::as_ref)
                .and_then(|a| a.get(&stub.name))
                .filter(|a| a.digest == stub.digest);
            match found {
                Some(a) => {
                    // The source's revpos is kept: PouchDB Server gives an attachment the
                    // position of the revision that brought its bytes, where the target
                    // may hold an earlier one for the same bytes.
                    let mut a = a.clone();
                    a.revpos = stub.revpos;
                    atts.insert(stub.name.clone(), a);
                }
                None => {
                    missing = Some(stub.name.clone());
                    break;
                }
            }
        }
        if let Some(name) = missing {
            refused.push(crate::transport::WriteFailure {
                id: r.id.clone(),
                rev: r.rev.clone(),
                error: format!("missing_stub: invalid attachment stub in {} for {name}", r.id),
            });
            continue;
        }
        let mut map = crate::doc::Body::parse(&r.body.bytes)?;
        map.shift_remove(crate::attachment::MEMBER);
        r.body = crate::doc::Body::from_map(&crate::attachment::stored_body(&atts, &map));
        r.stubs.clear();
        kept.push(r);
    }
    Ok((kept, refused))
}

/// The revisions of `candidates` that `failures` refuses as `missing_stub`, taken out of
/// `failures`.
fn take_missing_stubs(
    failures: &mut Vec<crate::transport::WriteFailure>,
    candidates: Vec<crate::transport::Revision>,
) -> Vec<crate::transport::Revision> {
    let refused = |r: &crate::transport::Revision, f: &crate::transport::WriteFailure| {
        f.id == r.id && f.rev == r.rev && f.error.starts_with("missing_stub")
    };
    let again: Vec<crate::transport::Revision> =
        candidates.into_iter().filter(|r| failures.iter().any(|f| refused(r, f))).collect();
    failures.retain(|f| !again.iter().any(|r| refused(r, f)));
    again
}

/// When to leave `revs_diff` out (CouchDB's replicator does the same): while the target
/// lacks nearly everything asked about, asking costs the target a lookup per revision and
/// saves nothing, so the revisions are fetched and written without asking (writing a
/// revision the target has changes nothing). Starting from an empty target, or after a
/// batch of at least `MIN_BATCH` revisions of which at least 95% were missing, the next
/// `RECHECK - 1` batches skip it; every `RECHECK`th asks again.
struct DiffSkip {
    skipping: bool,
    since_asked: u32,
}

impl DiffSkip {
    const MIN_BATCH: u64 = 100;
    const RECHECK: u32 = 10;

    fn new(target_empty: bool) -> DiffSkip {
        DiffSkip { skipping: target_empty, since_asked: 0 }
    }

    /// Whether to skip asking for this batch.
    fn skip(&mut self) -> bool {
        if self.skipping && self.since_asked + 1 < DiffSkip::RECHECK {
            self.since_asked += 1;
            return true;
        }
        false
    }

    /// What asking found: `missing` of `asked` revisions.
    fn saw(&mut self, asked: u64, missing: u64) {
        self.since_asked = 0;
        self.skipping = asked >= DiffSkip::MIN_BATCH && missing * 100 >= asked * 95;
    }
}

/// Replicate everything `source` has (that passes the filter) to `target`.
///
/// The two peers work at once: a thread for the source reads the next page of changes and
/// fetches revisions while the target thread diffs and writes the previous page. Pages flow
/// in order through bounded channels (memory stays bounded by a few batches), and a
/// checkpoint only ever names a page whose revisions the target has written.
pub fn replicate(
    source: &mut (dyn Transport + Send),
    target: &mut (dyn Transport + Send),
    options: &Options,
    progress: &mut (dyn Progress + Send),
) -> Result<Outcome> {
    use crossbeam_channel::{bounded, select};

    let source_info = source.info()?;
    let target_info = target.info()?;
    let rep_id = checkpoint::replication_id(&source_info.id, &target_info.id, &options.filter_key);
    let source_log = source.get_local(&rep_id)?;
    let target_log = target.get_local(&rep_id)?;
    let start =
        checkpoint::agreed_seq(source_log.as_ref(), target_log.as_ref()).unwrap_or_else(|| "0".into());
    // An empty target lacks everything: no need to ask it (see `DiffSkip`).
    let target_empty = target_info.update_seq == "0";
    let session = checkpoint::session_id();
    let started = httpdate::fmt_http_date(std::time::SystemTime::now());
    let previous = target_log.or(source_log);

    // source -> target: pages to diff; target -> source: what to fetch;
    // source -> target: fetched revisions; target -> source: checkpoint logs to record.
    let (pages_tx, pages_rx) = bounded::<Page>(2);
    // The target takes a new page only while fewer than IN_FLIGHT are unwritten, so the
    // diff and fetch channels (one more slot) never block a sender, and memory stays bounded.
    let (wanted_tx, wanted_rx) = bounded::<Wanted>(IN_FLIGHT + 1);
    let (fetched_tx, fetched_rx) = bounded::<(u64, Vec<crate::transport::Revision>)>(IN_FLIGHT + 1);
    let (logs_tx, logs_rx) = bounded::<serde_json::Map<String, serde_json::Value>>(4);
    // target -> source: a blob the target lacks; source -> target: its bytes, one at a time.
    let (blob_ask_tx, blob_ask_rx) = bounded::<ObjectId>(1);
    let (blob_tx, blob_rx) = bounded::<BlobAnswer>(1);

    std::thread::scope(|scope| {
        let (source_start, source_rep_id) = (start.clone(), rep_id.clone());
        let source_side = scope.spawn(move || -> Result<()> {
            use crossbeam_channel::{never, Receiver, TrySendError};
            let mut since = source_start;
            let mut next: Option<Page> = None;
            let mut reading = true;
            let mut number = 0;
            let mut pages_tx = Some(pages_tx);
            let mut wanted: Receiver<Wanted> = wanted_rx;
            let mut logs: Receiver<serde_json::Map<String, serde_json::Value>> = logs_rx;
            let mut blob_asks: Receiver<ObjectId> = blob_ask_rx;
            let (mut wanted_open, mut logs_open) = (true, true);
            loop {
                if next.is_none() && reading {
                    let page = source.changes(&since, options.batch_size.max(1), &options.filter)?;
                    reading = !(page.rows.is_empty() && page.last_seq == since);
                    since = page.last_seq.clone();
                    if reading {
                        next = Some(Page { number, rows: page.rows, last_seq: page.last_seq });
                        number += 1;
                    }
                }
                if !reading && next.is_none() {
                    // No more pages: closing the channel tells the target.
                    pages_tx = None;
                }
                if let (Some(tx), Some(page)) = (&pages_tx, next.take()) {
                    match tx.try_send(page) {
                        Ok(()) => continue,
                        Err(TrySendError::Full(page)) => next = Some(page),
                        Err(TrySendError::Disconnected(_)) => return Ok(()),
                    }
                }
                if !wanted_open && !logs_open {
                    return Ok(());
                }
                select! {
                    recv(wanted) -> msg => match msg {
                        Ok((n, asked)) => {
                            let revisions = if asked.is_empty() { Vec::new() } else { source.bulk_get_since(&asked)? };
                            if fetched_tx.send((n, revisions)).is_err() {
                                return Ok(());
                            }
                        }
                        Err(_) => {
                            wanted_open = false;
                            wanted = never();
                        }
                    },
                    recv(logs) -> msg => match msg {
                        Ok(log) => {
                            source.ensure_full_commit()?;
                            source.put_local(&source_rep_id, &log)?;
                        }
                        Err(_) => {
                            logs_open = false;
                            logs = never();
                        }
                    },
                    recv(blob_asks) -> msg => match msg {
                        Ok(id) => {
                            if blob_tx.send(source.open_blob(&id)).is_err() {
                                return Ok(());
                            }
                        }
                        Err(_) => blob_asks = never(),
                    },
                }
            }
        });
        let target_side = scope.spawn(move || -> Result<Outcome> {
            use crossbeam_channel::{never, Receiver};
            let mut outcome = Outcome { start_seq: start.clone(), last_seq: start.clone(), ..Outcome::default() };
            let mut in_flight: std::collections::VecDeque<(u64, String)> = std::collections::VecDeque::new();
            let mut previous = previous;
            let mut last_checkpoint = std::time::Instant::now();
            let mut unrecorded = false;
            let mut pages: Receiver<Page> = pages_rx;
            let mut pages_open = true;
            let mut diff = DiffSkip::new(target_empty);
            let record = |target: &mut (dyn Transport + Send),
                          outcome: &Outcome,
                          previous: &mut Option<serde_json::Map<String, serde_json::Value>>|
             -> Result<()> {
                target.ensure_full_commit()?;
                let log = checkpoint::log_document(&session, &started, previous.as_ref(), &start, &outcome.last_seq, outcome);
                target.put_local(&rep_id, &log)?;
                let _ = logs_tx.send(log.clone());
                *previous = Some(log);
                Ok(())
            };
            while pages_open || !in_flight.is_empty() {
                let ready = if in_flight.len() < IN_FLIGHT { pages.clone() } else { never() };
                select! {
                    recv(ready) -> msg => match msg {
                        Ok(page) => {
                            outcome.docs_read += page.rows.len() as u64;
                            let asked: Vec<(DocId, Vec<RevId>)> =
                                page.rows.iter().map(|r| (r.id.clone(), r.revs.clone())).collect();
                            let asked_count = asked.iter().map(|(_, r)| r.len() as u64).sum::<u64>();
                            let missing: Vec<(DocId, Vec<RevId>, Vec<RevId>)> = if asked.is_empty() {
                                Vec::new()
                            } else if diff.skip() {
                                // Unasked, the target names no ancestors: attachments come whole.
                                asked.into_iter().map(|(id, revs)| (id, revs, Vec::new())).collect()
                            } else {
                                outcome.revisions_checked += asked_count;
                                let missing: Vec<(DocId, Vec<RevId>, Vec<RevId>)> = target
                                    .revs_diff(&asked)?
                                    .into_iter()
                                    .map(|m| (m.id, m.missing, m.possible_ancestors))
                                    .collect();
                                diff.saw(asked_count, missing.iter().map(|(_, r, _)| r.len() as u64).sum::<u64>());
                                missing
                            };
                            outcome.missing_found += missing.iter().map(|(_, r, _)| r.len() as u64).sum::<u64>();
                            in_flight.push_back((page.number, page.last_seq));
                            if wanted_tx.send((page.number, missing)).is_err() {
                                return Err(Error::Invalid("the replication source stopped".into()));
                            }
                        }
                        Err(_) => {
                            pages_open = false;
                            pages = never();
                        }
                    },
                    recv(fetched_rx) -> msg => {
                        let Ok((n, revisions)) = msg else {
                            return Err(Error::Invalid("the replication source stopped".into()));
                        };
                        let count = revisions.len() as u64;
                        let (revisions, mut failures) = resolve_stubs(&mut *target, revisions)?;
                        let blobs = (&blob_ask_tx, &blob_rx);
                        copy_blobs(&mut *target, &revisions, false, blobs, &mut outcome)?;
                        if !revisions.is_empty() {
                            let with_attachments: Vec<crate::transport::Revision> = revisions
                                .iter()
                                .filter(|r| r.body.bytes.starts_with(crate::attachment::STORED_PREFIX))
                                .cloned()
                                .collect();
                            failures.extend(target.bulk_docs(revisions)?);
                            // Refused for lacking an attachment it was sent as a stub: sent
                            // again with every attachment's bytes.
                            let again = take_missing_stubs(&mut failures, with_attachments);
                            if !again.is_empty() {
                                copy_blobs(&mut *target, &again, true, blobs, &mut outcome)?;
                                failures.extend(target.bulk_docs(again)?);
                            }
                        }
                        outcome.write_failures += failures.len() as u64;
                        let room = REPORTED_FAILURES.saturating_sub(outcome.failures.len());
                        outcome.failures.extend(failures.iter().take(room).cloned());
                        outcome.revisions_written += count - failures.len() as u64;
                        // Pages are fetched and written in the order they were read.
                        if let Some((first, seq)) = in_flight.pop_front() {
                            debug_assert_eq!(first, n);
                            outcome.last_seq = seq;
                        }
                        unrecorded = true;
                        if last_checkpoint.elapsed() >= options.checkpoint_interval {
                            record(&mut *target, &outcome, &mut previous)?;
                            last_checkpoint = std::time::Instant::now();
                            unrecorded = false;
                        }
                        progress.batch(&outcome);
                    },
                }
            }
            if unrecorded {
                record(&mut *target, &outcome, &mut previous)?;
            }
            Ok(outcome)
        });
        let failed = || Err(Error::Invalid("a replication thread panicked".into()));
        let outcome = target_side.join().unwrap_or_else(|_| failed());
        let source_result = source_side.join().unwrap_or_else(|_| failed().map(|_: Outcome| ()));
        // The source side stops quietly when the target has gone, so its error, if any, is
        // the cause and the target's "source stopped" only its consequence.
        source_result?;
        outcome
    })
}
