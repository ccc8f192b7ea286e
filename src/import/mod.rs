//! Turning newline-delimited JSON into writes for a bulk load, on several threads.
//!
//! Parsing a document (JSON, validation, canonical body bytes and their SHA-1) costs about
//! as much as writing it, so a load that parsed on the writing thread would run at half
//! speed. [`parse_lines`] reads the input in chunks of lines on a thread of its own and
//! parses them on workers (`pipeline`, which also says how the workers keep out of the
//! writer's way); the returned iterator hands the chunks back in input order, ready for one
//! `Store::write` (one commit) each.
//!
//! Invariants:
//! 1. Chunks come back in input order; lines are numbered from 1, blank lines are skipped.
//! 2. A line that is not a valid document becomes an error naming its line; the lines
//!    around it are unaffected.
//! 3. An error reading the input comes after every chunk read whole before it (the lines
//!    of the chunk it interrupted are not returned), and ends the iteration.
//! 4. Dropping the iterator early stops the threads at their next hand-over.

mod pipeline;

use std::io::Read;
use std::path::PathBuf;

use crate::doc::{Body, Incoming};
use crate::error::Error;
use crate::id::DocId;
use crate::rev::RevId;
use crate::store::Op;

pub use pipeline::ParsedLines;

/// How to parse.
#[derive(Clone, Debug)]
pub struct Options {
    /// Lines are replicated history (`new_edits=false`): each carries `_rev` and
    /// `_revisions` and becomes an `Op::Replicate`; otherwise each becomes an `Op::Edit`.
    pub replicated: bool,
    /// Lines per chunk (per commit, when each chunk is written as one batch).
    pub chunk_lines: usize,
    /// Parsing threads besides the caller's (0: the caller parses every chunk itself).
    pub workers: usize,
    /// What errors reading the input call it (a file name, `-` for standard input).
    pub input_name: PathBuf,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            replicated: false,
            chunk_lines: 10_000,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 8),
            input_name: PathBuf::from("input"),
        }
    }
}

/// A run of consecutive input lines, parsed.
#[derive(Debug)]
pub struct Chunk {
    /// The number of the chunk's last line (blank ones included).
    pub last_line: u64,
    /// Each non-blank line's number and its write, or why it is not a document
    /// (`line N: ...`).
    pub lines: Vec<(u64, std::result::Result<Op, String>)>,
    /// The numbers of the lines that had no `_id` and were given a new random one
    /// ([`DocId::generate`]), in order.
    pub generated: Vec<u64>,
}

/// Read `input` on a thread of its own and parse its lines on `options.workers` more;
/// `on_read(n)` is called from the reading thread as each `n` bytes are read (for progress).
pub fn parse_lines(
    input: Box<dyn Read + Send>,
    options: &Options,
    on_read: impl Fn(u64) + Send + 'static,
) -> ParsedLines {
    pipeline::start(input, options, on_read, None)
}

/// Parse one input line into a write, and say whether its id was generated; errors read
/// `line N: <what is wrong>`. A new document without `_id` gets a random one, as CouchDB's
/// `_bulk_docs` gives it; replicated history and updates (`_rev`) must name their document.
/// `_attachments` give inline `data` (written as blobs by `Store::write`, before its lock)
/// or, for edits, stubs.
pub fn parse_line(line: &[u8], n: u64, replicated: bool) -> std::result::Result<(Op, bool), String> {
    let fail = |e: Error| match e {
        Error::InvalidDoc { why, .. } => format!("line {n}: {why}"),
        other => format!("line {n}: {other}"),
    };
    let mut doc = Incoming::from_slice_with_attachments(line, "").map_err(fail)?;
    let generated = doc.id.is_none() && doc.rev.is_none() && !replicated;
    let id = if generated { DocId::generate().map_err(fail)? } else { doc.doc_id("").map_err(fail)? };
    let body = Body::from_map(&doc.body);
    let attachments = doc.attachments.take();
    if replicated {
        let (rev, ancestry) = doc.replicated_rev(id.as_str()).map_err(fail)?;
        let deleted = doc.deleted;
        return Ok(match attachments {
            Some(attachments) => {
                (Op::ReplicateWithAttachments { id, rev, ancestry, deleted, body, attachments }, false)
            }
            None => (Op::Replicate { id, rev, ancestry, deleted, body }, false),
        });
    }
    if let Some(given) = attachments {
        let base = doc.rev.as_deref().map(RevId::parse).transpose().map_err(|e| fail(e.into()))?;
        let attachments = given.into_iter().map(|(n, g)| (n, crate::attachment::Pending::from(g))).collect();
        Ok((Op::EditWithAttachments { id, base, deleted: doc.deleted, body, attachments }, generated))
    } else {
        let base = match &doc.rev {
            Some(r) => Some(RevId::parse(r).map_err(|e| fail(e.into()))?),
            None => None,
        };
        // Most lines of an import are new documents: their revision id is computed here, on
        // a parsing thread, rather than by the writer.
        let body = if base.is_none() && !doc.deleted { body.with_new_doc_rev() } else { body };
        Ok((Op::Edit { id, base, deleted: doc.deleted, body }, generated))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Result;
    use std::time::Duration;

    fn parse_all(text: &str, chunk_lines: usize) -> Vec<Chunk> {
        parse_with(text, chunk_lines, 3)
    }

    fn parse_with(text: &str, chunk_lines: usize, workers: usize) -> Vec<Chunk> {
        let options = Options { chunk_lines, workers, ..Options::default() };
        let input: Box<dyn Read + Send> = Box::new(std::io::Cursor::new(text.as_bytes().to_vec()));
        parse_lines(input, &options, |_| {}).collect::<Result<Vec<_>>>().unwrap()
    }

    /// Each line's number and what it became, for comparing parses.
    fn outcome(chunks: &[Chunk]) -> Vec<(u64, std::result::Result<String, String>)> {
        chunks
            .iter()
            .flat_map(|c| c.lines.iter())
            .map(|(n, op)| (*n, op.as_ref().map(|o| o.id().to_string()).map_err(Clone::clone)))
            .collect()
    }

    /// Whether the caller or the workers parse a chunk (the caller does when a worker is
    /// late, and does everything with no workers), the chunks are the same.
    #[test]
    fn the_caller_parses_the_same_chunks_as_the_workers() {
        let text: String = (1..=500)
            .map(|i| if i % 37 == 0 { "{bad\n".to_string() } else { format!("{{\"_id\":\"d{i}\"}}\n") })
            .collect();
        let expected = outcome(&parse_with(&text, 7, 3));
        assert_eq!(expected.len(), 500);
        assert!(expected[36].1.as_ref().is_err_and(|e| e.starts_with("line 37: ")));
        for workers in [0, 1] {
            let chunks = parse_with(&text, 7, workers);
            assert_eq!(chunks.len(), 72, "{workers} workers");
            assert_eq!(outcome(&chunks), expected, "{workers} workers");
        }
    }

    /// Workers that take chunks and never parse them (as starved ones would) hold up
    /// neither the reader nor the iterator: every chunk still comes back, in order.
    #[test]
    fn stalled_workers_do_not_stall_the_load() {
        let text: String = (1..=300).map(|i| format!("{{\"_id\":\"d{i}\"}}\n")).collect();
        let expected = outcome(&parse_with(&text, 5, 0));
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (_open, gate) = crossbeam_channel::bounded::<()>(0);
            let options = Options { chunk_lines: 5, workers: 2, ..Options::default() };
            let input: Box<dyn Read + Send> = Box::new(std::io::Cursor::new(text.into_bytes()));
            let chunks = pipeline::start(input, &options, |_| {}, Some(gate));
            let _ = done_tx.send(chunks.collect::<Result<Vec<_>>>().map(|c| outcome(&c)));
        });
        let got = done_rx.recv_timeout(Duration::from_secs(60)).expect("the load finished").unwrap();
        assert_eq!(got, expected);
    }

    #[test]
    fn chunks_come_back_in_input_order_with_line_numbers() {
        let text: String = (1..=1000).map(|i| format!("{{\"_id\":\"d{i}\",\"n\":{i}}}\n")).collect();
        let chunks = parse_all(&text, 7);
        assert_eq!(chunks.len(), 143);
        let lines: Vec<(u64, String)> = chunks
            .iter()
            .flat_map(|c| c.lines.iter())
            .map(|(n, op)| (*n, op.as_ref().unwrap().id().to_string()))
            .collect();
        assert_eq!(lines, (1..=1000).map(|i| (i, format!("d{i}"))).collect::<Vec<_>>());
        assert_eq!(chunks.last().unwrap().last_line, 1000);
    }

    #[test]
    fn bad_and_blank_lines_keep_their_numbers() {
        let text = "{\"_id\":\"a\"}\n\n   \nnot json\n{\"_rev\":\"1-ab\"}\n{\"_id\":\"b\"}\n{\"x\":1}";
        let chunks = parse_all(text, 2);
        let generated: Vec<u64> = chunks.iter().flat_map(|c| c.generated.iter().copied()).collect();
        let lines: Vec<(u64, std::result::Result<String, String>)> = chunks
            .into_iter()
            .flat_map(|c| c.lines)
            .map(|(n, op)| (n, op.map(|o| o.id().to_string())))
            .collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0], (1, Ok("a".to_string())));
        assert!(lines[1].0 == 4 && lines[1].1.as_ref().unwrap_err().starts_with("line 4: invalid JSON"));
        // An update must name its document; a new one without `_id` gets a random id.
        assert_eq!(lines[2], (5, Err("line 5: document has no _id".to_string())));
        assert_eq!(lines[3], (6, Ok("b".to_string())));
        let (n, id) = (&lines[4].0, lines[4].1.as_ref().unwrap());
        assert_eq!(*n, 7);
        assert!(
            id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
            "{id}"
        );
        assert_eq!(generated, vec![7]);
    }

    #[test]
    fn replicated_history_without_an_id_is_refused() {
        let options = Options { replicated: true, workers: 0, ..Options::default() };
        let input: Box<dyn Read + Send> =
            Box::new(std::io::Cursor::new(b"{\"_rev\":\"1-ab\"}\n{\"x\":1}\n".to_vec()));
        let chunks = parse_lines(input, &options, |_| {}).collect::<Result<Vec<_>>>().unwrap();
        assert!(chunks[0].generated.is_empty());
        let errors: Vec<String> =
            chunks[0].lines.iter().map(|(_, r)| r.as_ref().unwrap_err().clone()).collect();
        assert!(errors.iter().all(|e| e.contains("no _id")), "{errors:?}");
    }

    #[test]
    fn an_empty_input_has_no_chunks() {
        assert!(parse_all("", 10).is_empty());
    }

    #[test]
    fn a_read_error_is_reported() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk on fire"))
            }
        }
        let mut lines = parse_lines(Box::new(Failing), &Options::default(), |_| {});
        let err = lines.next().unwrap().unwrap_err();
        assert!(err.to_string().contains("disk on fire"), "{err}");
        assert!(lines.next().is_none());
    }

    /// Reads `self.0`, then fails.
    struct FailingAfter(std::io::Cursor<Vec<u8>>);

    impl Read for FailingAfter {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match self.0.read(buf)? {
                0 => Err(std::io::Error::other("cable pulled")),
                n => Ok(n),
            }
        }
    }

    /// Chunks read before a read error all come first, in order, however the workers race,
    /// and with no workers at all.
    #[test]
    fn a_read_error_comes_after_the_chunks_read_before_it() {
        let text: String = (1..=20).map(|i| format!("{{\"_id\":\"d{i}\"}}\n")).collect();
        for workers in [4, 1, 0] {
            let options = Options { chunk_lines: 3, workers, ..Options::default() };
            let input = FailingAfter(std::io::Cursor::new(text.clone().into_bytes()));
            let results: Vec<Result<Chunk>> = parse_lines(Box::new(input), &options, |_| {}).collect();
            let (last, chunks) = results.split_last().unwrap();
            assert!(
                last.as_ref().is_err_and(|e| e.to_string().contains("cable pulled")),
                "{workers} workers"
            );
            let lines: Vec<u64> =
                chunks.iter().flat_map(|c| c.as_ref().unwrap().lines.iter().map(|(n, _)| *n)).collect();
            assert_eq!(
                lines,
                (1..=18).collect::<Vec<_>>(),
                "six whole chunks, then the error; {workers} workers"
            );
        }
    }
}
