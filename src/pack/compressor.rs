//! Compressing a pack's blocks on a thread of their own, so that the thread filling blocks
//! (parsing, hashing, updating refs) does not wait for zstd.
//!
//! Owns: one worker thread per pack writer, holding the zstd compressor (with or without
//! the pack's dictionary), and the queue of blocks between them. A lone block with nothing
//! else in flight (a small commit's one block) is compressed on the caller's thread
//! instead, with a compressor of its own: handing it over and waiting for it back cost a
//! small commit more than compressing it. Blocks travel in batches of
//! `BATCH_BLOCKS` (a block is a few microseconds of zstd; waking the worker for each one cost
//! about as much), and each block's raw buffer comes back with its frame, to be filled again.
//! Invariants:
//! 1. Jobs are done in the order they were sent and results come back in that order, so a
//!    dictionary change applies exactly to the blocks sent after it.
//! 2. A frame is the same bytes `frame::encode` gives on the caller's thread: where a block
//!    is compressed changes nothing on disk.

use std::collections::VecDeque;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

use super::frame;
use crate::id::ObjectId;

/// A block's objects: id and offset of each entry inside the raw block.
pub type BlockObjects = Vec<(ObjectId, u32)>;

enum Job {
    Block {
        raw: Vec<u8>,
        dictionary: u32,
        objects: BlockObjects,
    },
    /// Compress later blocks with this dictionary (`None`: without one).
    Dictionary(Option<Vec<u8>>),
}

/// A compressed block: its whole frame, the objects it holds, and its raw buffer, emptied,
/// for the next block.
pub struct Compressed {
    pub frame: Vec<u8>,
    pub objects: BlockObjects,
    pub spare: Vec<u8>,
}

/// Blocks gathered before they are sent to the worker in one message.
const BATCH_BLOCKS: usize = 16;

pub struct BlockCompressor {
    jobs: Option<Sender<Vec<Job>>>,
    results: Receiver<Vec<std::io::Result<Compressed>>>,
    /// Jobs not sent yet, in order.
    pending: Vec<Job>,
    /// Blocks back from the worker and not taken yet, oldest first.
    ready: VecDeque<std::io::Result<Compressed>>,
    in_flight: usize,
    worker: Option<JoinHandle<()>>,
    /// The dictionary later blocks are compressed with (`None`: without one), and the
    /// caller-side compressor built with it, once a block needed it.
    dictionary: Option<Vec<u8>>,
    here: Option<zstd::bulk::Compressor<'static>>,
}

impl BlockCompressor {
    pub fn new() -> std::io::Result<BlockCompressor> {
        let mut compressor = frame::compressor(None)?;
        let (jobs, queue) = crossbeam_channel::unbounded::<Vec<Job>>();
        let (done, results) = crossbeam_channel::unbounded();
        let worker = std::thread::Builder::new().name("settee-compress".into()).spawn(move || {
            for batch in queue {
                let mut out_batch = Vec::with_capacity(batch.len());
                let mut stop = false;
                for job in batch {
                    match job {
                        Job::Block { mut raw, dictionary, objects } => {
                            let mut out = Vec::with_capacity(raw.len() / 2 + frame::HEADER_LEN);
                            let result =
                                frame::encode(&mut compressor, &raw, dictionary, &mut out).map(|()| {
                                    raw.clear();
                                    Compressed { frame: out, objects, spare: raw }
                                });
                            out_batch.push(result);
                        }
                        Job::Dictionary(dictionary) => {
                            // A compressor that cannot be built fails the next block instead.
                            match frame::compressor(dictionary.as_deref()) {
                                Ok(c) => compressor = c,
                                Err(e) => {
                                    out_batch.push(Err(e));
                                    stop = true;
                                    break;
                                }
                            }
                        }
                    }
                }
                // A batch of dictionary changes alone has nothing to send back.
                if !out_batch.is_empty() && done.send(out_batch).is_err() || stop {
                    return;
                }
            }
        })?;
        Ok(BlockCompressor {
            jobs: Some(jobs),
            results,
            pending: Vec::with_capacity(BATCH_BLOCKS),
            ready: VecDeque::new(),
            in_flight: 0,
            worker: Some(worker),
            dictionary: None,
            here: None,
        })
    }

    /// Queue a raw block, to be framed naming the dictionary block at `dictionary`.
    pub fn submit(&mut self, raw: Vec<u8>, dictionary: u32, objects: BlockObjects) -> std::io::Result<()> {
        self.pending.push(Job::Block { raw, dictionary, objects });
        self.in_flight += 1;
        if self.pending.len() >= BATCH_BLOCKS {
            self.flush()?;
        }
        Ok(())
    }

    /// Compress the blocks submitted from now on with `dictionary` (`None`: without one).
    pub fn set_dictionary(&mut self, dictionary: Option<Vec<u8>>) -> std::io::Result<()> {
        self.here = None;
        self.dictionary.clone_from(&dictionary);
        self.pending.push(Job::Dictionary(dictionary));
        self.flush()
    }

    /// Compress `raw` on this thread, to be framed naming the dictionary block at
    /// `dictionary`: the frame the worker would give. Only while no block is in flight, so
    /// that frames still come back in the order their blocks were given.
    pub fn compress_here(&mut self, raw: &[u8], dictionary: u32, out: &mut Vec<u8>) -> std::io::Result<()> {
        if self.in_flight > 0 {
            return Err(std::io::Error::other("blocks are still being compressed"));
        }
        let compressor = match &mut self.here {
            Some(c) => c,
            empty => empty.insert(frame::compressor(self.dictionary.as_deref())?),
        };
        frame::encode(compressor, raw, dictionary, out)
    }

    /// Send the jobs gathered so far to the worker.
    fn flush(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.pending, Vec::with_capacity(BATCH_BLOCKS));
        self.jobs.as_ref().ok_or_else(stopped)?.send(batch).map_err(|_| stopped())
    }

    /// Blocks submitted and not yet taken back.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// The oldest block not yet taken back, waiting for it if need be.
    pub fn take_oldest(&mut self) -> std::io::Result<Compressed> {
        if self.in_flight == 0 {
            return Err(std::io::Error::other("no block is being compressed"));
        }
        self.in_flight -= 1;
        loop {
            if let Some(oldest) = self.ready.pop_front() {
                return oldest;
            }
            self.flush()?;
            self.ready.extend(self.results.recv().map_err(|_| stopped())?);
        }
    }
}

fn stopped() -> std::io::Error {
    std::io::Error::other("the block compression thread stopped")
}

impl Drop for BlockCompressor {
    fn drop(&mut self) {
        // Closing the queue ends the worker once it has done what was sent.
        self.jobs = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{hash_object, Kind};

    /// Frames come back in order and are the bytes `frame::encode` gives on this thread,
    /// before and after a dictionary change.
    #[test]
    fn frames_match_compressing_in_place() {
        // The dictionary changes within a batch of blocks, and alone at a batch's start.
        for switch in [20, BATCH_BLOCKS as u32] {
            frames_match_with_a_dictionary_from(switch);
        }
    }

    fn frames_match_with_a_dictionary_from(switch: u32) {
        let raw = |i: u32| format!("{{\"n\":{i},\"text\":\"block {i} of some repeated text\"}}").repeat(20);
        let dictionary = raw(7).into_bytes();
        let mut threaded = BlockCompressor::new().unwrap();
        let mut plain = frame::compressor(None).unwrap();
        let mut with_dict = frame::compressor(Some(&dictionary)).unwrap();
        let mut expected = Vec::new();
        for i in 0..40u32 {
            if i == switch {
                threaded.set_dictionary(Some(dictionary.clone())).unwrap();
            }
            let (compressor, dict_at) = if i < switch { (&mut plain, 0) } else { (&mut with_dict, 4096) };
            let mut frame_bytes = Vec::new();
            frame::encode(compressor, raw(i).as_bytes(), dict_at, &mut frame_bytes).unwrap();
            let objects = vec![(hash_object(Kind::Body, &i.to_be_bytes()), i)];
            expected.push((frame_bytes, objects.clone()));
            threaded.submit(raw(i).into_bytes(), dict_at, objects).unwrap();
        }
        assert_eq!(threaded.in_flight(), 40);
        for (frame_bytes, objects) in expected {
            let got = threaded.take_oldest().unwrap();
            assert_eq!(got.frame, frame_bytes);
            assert_eq!(got.objects, objects);
            assert!(got.spare.is_empty() && got.spare.capacity() > 0, "the raw buffer comes back, empty");
        }
        assert_eq!(threaded.in_flight(), 0);
        assert!(threaded.take_oldest().is_err(), "nothing left to take");
    }

    /// A block compressed on the caller's thread is the frame the worker gives, with the
    /// dictionary in use at the time; while blocks are in flight it is refused (its frame
    /// would overtake theirs).
    #[test]
    fn a_block_compressed_here_is_the_workers_frame() {
        let raw = |i: u32| format!("{{\"n\":{i},\"text\":\"block {i} of some text\"}}").repeat(30);
        let dictionary = raw(3).into_bytes();
        let mut compressor = BlockCompressor::new().unwrap();
        for (i, dict_at) in [(0u32, 0u32), (1, 0), (2, 4096), (3, 4096)] {
            if i == 2 {
                compressor.set_dictionary(Some(dictionary.clone())).unwrap();
            }
            let mut here = Vec::new();
            compressor.compress_here(raw(i).as_bytes(), dict_at, &mut here).unwrap();
            compressor.submit(raw(i).into_bytes(), dict_at, Vec::new()).unwrap();
            let mut refused = Vec::new();
            assert!(compressor.compress_here(b"{}", dict_at, &mut refused).is_err());
            assert_eq!(compressor.take_oldest().unwrap().frame, here, "block {i}");
        }
    }
}
