//! The threads of a bulk load: a reader that cuts the input into chunks of lines, workers
//! that parse them, and the iterator that hands the parsed chunks to the caller in order.
//!
//! The caller (the writer) is the bottleneck of a load, so the workers use only CPU time it
//! leaves idle: on Linux they run under `SCHED_IDLE`. At the writer's priority they kept it
//! waiting for a core about a fifth of the time. A starved worker must not hold the load up
//! on a machine busy with other work, so nothing waits on the workers for long:
//! - the reader takes a credit for each chunk it reads, and the iterator hands one back for
//!   each chunk it passes: the reader runs ahead of the caller, whoever parses;
//! - the iterator holds a reference to every chunk read, weak while workers run (a chunk is
//!   freed once a worker has parsed it, and reachable while it is queued or held by a
//!   worker). When the chunk due next has not come back within `patience`, the iterator
//!   parses it itself, drops the worker's result if it comes, and workers skip chunks
//!   already passed. Once it has had to, it waits no more until a worker's chunk is ready
//!   when due again.
//!
//! Parsing is deterministic, so who parsed a chunk never shows.
//!
//! Invariants:
//! 1. Chunks come back in input order, each whole.
//! 2. A read error comes after every chunk read whole before it, and ends the iteration.
//! 3. The reader is at most `ahead` chunks ahead of the iterator. Dropping the iterator
//!    stops the reader at its next chunk and the workers after their current one.
//! 4. The iterator never waits on a worker longer than `patience` for a chunk that has been
//!    read, and the end of the iteration never depends on the workers: the reader's last
//!    message ends it.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded, Receiver, Sender};

use super::{parse_line, Chunk, Options};
use crate::error::{Error, Result};

/// Raw lines as read: one buffer, with the end of each line.
struct RawChunk {
    number: u64,
    first_line: u64,
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl RawChunk {
    fn parse(&self, replicated: bool) -> Chunk {
        let mut start = 0;
        let mut lines = Vec::with_capacity(self.ends.len());
        let mut generated = Vec::new();
        for (i, &end) in self.ends.iter().enumerate() {
            let line = self.bytes.get(start..end).unwrap_or_default();
            start = end;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let n = self.first_line + i as u64;
            let parsed = parse_line(line, n, replicated).map(|(op, generated_id)| {
                if generated_id {
                    generated.push(n);
                }
                op
            });
            lines.push((n, parsed));
        }
        Chunk { last_line: self.first_line + self.ends.len() as u64 - 1, lines, generated }
    }
}

/// What the reader tells the iterator, in input order.
enum Reading {
    /// A chunk the workers parse; `None` from `upgrade` once one has.
    Shared(u64, Weak<RawChunk>),
    /// A chunk only the iterator parses (there are no workers).
    Owned(Arc<RawChunk>),
    /// Reading failed in chunk `number`; nothing follows.
    Failed(u64, Error),
}

impl Reading {
    fn number(&self) -> u64 {
        match self {
            Reading::Shared(number, _) | Reading::Failed(number, _) => *number,
            Reading::Owned(chunk) => chunk.number,
        }
    }
}

/// The parsed chunks of an input, in order (see [`super::parse_lines`]).
pub struct ParsedLines {
    /// Chunks by number from the workers; `None` once every worker is gone.
    parsed: Option<Receiver<(u64, Chunk)>>,
    /// The reader's messages; `None` once it is done.
    read: Option<Receiver<Reading>>,
    /// Messages from `read` about chunks not yet passed.
    pending: VecDeque<Reading>,
    /// Workers' chunks that came before they were due.
    early: BTreeMap<u64, Chunk>,
    /// The number of the chunk due next.
    next: u64,
    /// `next`, for the workers to skip chunks already passed.
    passed: Arc<AtomicU64>,
    /// Where a credit goes back to the reader for each chunk passed.
    credits: Sender<()>,
    replicated: bool,
    /// How long to wait for a worker before parsing the chunk due next here.
    patience: Duration,
    /// Whether to wait `patience` at all. Not after a chunk had to be parsed here (the
    /// workers are starved: waiting would only add to every chunk), until a worker's chunk
    /// is ready when due again.
    waiting: bool,
    /// An error was returned (reading failed, or a worker stopped): the iteration is over.
    failed: bool,
}

/// Start the reader and `options.workers` workers; `gate`, if any, is waited on by each
/// worker after it takes a chunk and before it parses it (tests stand in for starved
/// workers with a gate that never opens).
pub(super) fn start(
    input: Box<dyn std::io::Read + Send>,
    options: &Options,
    on_read: impl Fn(u64) + Send + 'static,
    gate: Option<Receiver<()>>,
) -> ParsedLines {
    let workers = options.workers;
    let chunk_lines = options.chunk_lines.max(1);
    let replicated = options.replicated;
    let input_name = options.input_name.clone();
    let ahead = 4 * workers.max(1) + 2;
    let (credit_tx, credit_rx) = bounded::<()>(ahead);
    for _ in 0..ahead {
        let _ = credit_tx.send(());
    }
    let (read_tx, read_rx) = unbounded::<Reading>();
    let (raw_tx, raw_rx) = unbounded::<Arc<RawChunk>>();
    let (parsed_tx, parsed_rx) = unbounded::<(u64, Chunk)>();
    let passed = Arc::new(AtomicU64::new(0));
    std::thread::spawn(move || {
        let mut reader = BufReader::with_capacity(1 << 20, input);
        let mut line_no = 0;
        for number in 0.. {
            // The iterator is gone once its credits are.
            if credit_rx.recv().is_err() {
                return;
            }
            // Room for typical lines of a typical chunk; a huge chunk size grows as it reads.
            let expected_lines = chunk_lines.min(1 << 16);
            let mut chunk = RawChunk {
                number,
                first_line: line_no + 1,
                bytes: Vec::with_capacity(expected_lines * 160),
                ends: Vec::with_capacity(expected_lines),
            };
            while chunk.ends.len() < chunk_lines {
                match reader.read_until(b'\n', &mut chunk.bytes) {
                    Ok(0) => break,
                    Ok(n) => {
                        line_no += 1;
                        on_read(n as u64);
                        chunk.ends.push(chunk.bytes.len());
                    }
                    Err(e) => {
                        let _ =
                            read_tx.send(Reading::Failed(number, Error::Io { path: input_name, source: e }));
                        return;
                    }
                }
            }
            if chunk.ends.is_empty() {
                return;
            }
            let chunk = Arc::new(chunk);
            if workers == 0 {
                if read_tx.send(Reading::Owned(chunk)).is_err() {
                    return;
                }
            } else if read_tx.send(Reading::Shared(number, Arc::downgrade(&chunk))).is_err()
                || raw_tx.send(chunk).is_err()
            {
                return;
            }
        }
    });
    for _ in 0..workers {
        let (raw, parsed, passed, gate) = (raw_rx.clone(), parsed_tx.clone(), passed.clone(), gate.clone());
        std::thread::spawn(move || {
            run_when_idle();
            for chunk in raw {
                if gate.as_ref().is_some_and(|g| g.recv().is_err()) {
                    return;
                }
                if chunk.number < passed.load(AtomicOrdering::Relaxed) {
                    continue;
                }
                // The chunk is dropped only after its result is sent: a reference that can
                // no longer reach it means the result is on its way.
                if parsed.send((chunk.number, chunk.parse(replicated))).is_err() {
                    return;
                }
            }
        });
    }
    // About a microsecond a line: what a worker with a core needs for most of a chunk.
    let patience = match workers {
        0 => Duration::ZERO,
        _ => Duration::from_micros(chunk_lines as u64)
            .clamp(Duration::from_millis(1), Duration::from_millis(100)),
    };
    ParsedLines {
        parsed: Some(parsed_rx),
        read: Some(read_rx),
        pending: VecDeque::new(),
        early: BTreeMap::new(),
        next: 0,
        passed,
        credits: credit_tx,
        replicated,
        patience,
        waiting: true,
        failed: false,
    }
}

/// Let the calling thread run only on a core that would otherwise be idle (Linux
/// `SCHED_IDLE`; elsewhere, or if the kernel refuses, nothing changes). A thread cannot
/// raise its priority again afterwards, so this is for threads that do one job and exit.
fn run_when_idle() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: pid 0 is the calling thread, and `param` outlives the call.
        unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    }
}

impl ParsedLines {
    /// Take in the workers' chunks that have come, dropping those already passed.
    fn take_parsed(&mut self) {
        if let Some(parsed) = &self.parsed {
            for (number, chunk) in parsed.try_iter() {
                if number >= self.next {
                    self.early.insert(number, chunk);
                }
            }
        }
    }

    /// Take in the reader's messages that have come, dropping those already passed.
    fn take_read(&mut self) {
        if let Some(read) = &self.read {
            self.pending.extend(read.try_iter());
        }
        while self.pending.front().is_some_and(|m| m.number() < self.next) {
            self.pending.pop_front();
        }
    }

    /// Hand `chunk` out as the one due: the workers learn it is passed, and the reader gets
    /// its credit back.
    fn pass(&mut self, chunk: Chunk) -> Option<Result<Chunk>> {
        self.next += 1;
        self.passed.store(self.next, AtomicOrdering::Relaxed);
        let _ = self.credits.try_send(());
        Some(Ok(chunk))
    }
}

impl Iterator for ParsedLines {
    type Item = Result<Chunk>;

    fn next(&mut self) -> Option<Result<Chunk>> {
        if self.failed {
            return None;
        }
        self.take_parsed();
        if self.early.contains_key(&self.next) {
            // Ready when due: the workers keep up.
            self.waiting = true;
        }
        let deadline = Instant::now() + if self.waiting { self.patience } else { Duration::ZERO };
        loop {
            if let Some(chunk) = self.early.remove(&self.next) {
                return self.pass(chunk);
            }
            self.take_read();
            let alarm = match self.pending.front() {
                Some(Reading::Failed(number, _)) if *number == self.next => {
                    self.failed = true;
                    return match self.pending.pop_front() {
                        Some(Reading::Failed(_, e)) => Some(Err(e)),
                        _ => None,
                    };
                }
                Some(Reading::Owned(raw)) if raw.number == self.next => {
                    let chunk = raw.parse(self.replicated);
                    return self.pass(chunk);
                }
                Some(Reading::Shared(number, raw)) if *number == self.next => match raw.upgrade() {
                    Some(raw) if Instant::now() >= deadline => {
                        self.waiting = false;
                        let chunk = raw.parse(self.replicated);
                        return self.pass(chunk);
                    }
                    Some(_) => crossbeam_channel::at(deadline),
                    // Every worker stopped, one of them before sending this chunk.
                    None if self.parsed.is_none() => {
                        self.failed = true;
                        return Some(Err(Error::Invalid(format!(
                            "a parsing thread stopped in chunk {number}"
                        ))));
                    }
                    // A worker has parsed it: the result is on its way.
                    None => crossbeam_channel::never(),
                },
                // Nothing more will be read: the input is exhausted.
                _ if self.read.is_none() => return None,
                _ => crossbeam_channel::never(),
            };
            // Wait for a worker's chunk, a message from the reader, or the end of patience;
            // a channel whose senders are all gone is waited on no longer.
            let parsed = self.parsed.clone().unwrap_or_else(crossbeam_channel::never);
            let read = self.read.clone().unwrap_or_else(crossbeam_channel::never);
            crossbeam_channel::select! {
                recv(parsed) -> message => match message {
                    Ok((number, chunk)) if number >= self.next => {
                        self.early.insert(number, chunk);
                    }
                    // A chunk already passed: it was parsed here as well.
                    Ok(_) => {}
                    Err(_) => self.parsed = None,
                },
                recv(read) -> message => match message {
                    Ok(message) => self.pending.push_back(message),
                    Err(_) => self.read = None,
                },
                recv(alarm) -> _ => {}
            }
        }
    }
}
