//! The MD5 of a blob's chunks, computed on a thread of its own beside the caller, and the
//! chunk buffers that carry the bytes to it.
//!
//! MD5 cannot be split (each block needs the previous state) and costs about twice what the
//! rest of a blob's work does (SHA-1, CRC-32, the copies in and out of the page cache), so a
//! large blob hashes it on a second core while the caller does the rest: a chunk is handed
//! over as an `Arc` and both sides read it at once.
//!
//! Owns: the hashing thread, and the pool of chunk buffers shared with it.
//! Invariants:
//! 1. The MD5 covers the chunks in the order given to `update`, each whole (the channel is
//!    FIFO and one thread hashes).
//! 2. At most `DEPTH` buffers of `CHUNK_LEN` bytes exist at once: `buffer` waits for the
//!    thread to finish with one rather than allocating more, so memory stays bounded however
//!    far the caller runs ahead.
//! 3. A buffer is written only while no one else holds it (`Arc::get_mut`), so the thread
//!    never sees a chunk change under it.
//! 4. A blob of one chunk or less starts no thread (the hash is computed inline); one of
//!    unknown length starts it at its second chunk, carrying the state over.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use md5::Digest as _;

use super::format::CHUNK_LEN;

/// Chunk buffers in existence at once (the caller's current one, the thread's, and room to
/// run ahead by two).
const DEPTH: usize = 4;

/// A chunk's raw bytes, shared with the hashing thread while it reads them.
pub(super) type Chunk = Arc<Vec<u8>>;

/// The MD5 of a stream of chunks; see the module doc.
pub(super) struct Md5 {
    hasher: Hasher,
    /// Whether to move to a thread at the second chunk (length not known at the start).
    lazy: bool,
    chunks: u64,
    /// Every buffer made so far; one is free when no one else holds it.
    pool: Vec<Chunk>,
}

enum Hasher {
    Inline(md5::Md5),
    Thread { to: Option<Sender<Chunk>>, done: Receiver<()>, thread: Option<JoinHandle<Option<[u8; 16]>>> },
}

impl Md5 {
    /// An MD5 for a blob of `len` bytes (`None`: not known yet), on a thread of its own
    /// when the blob spans more than one chunk and a thread can be started.
    pub(super) fn new(len: Option<u64>) -> Md5 {
        let hasher = match len {
            Some(len) if len > u64::from(CHUNK_LEN) => spawn(md5::Md5::new()),
            _ => Hasher::Inline(md5::Md5::new()),
        };
        Md5 { hasher, lazy: len.is_none(), chunks: 0, pool: Vec::new() }
    }

    /// An empty buffer with room for a chunk, owned by the caller alone (waits while all
    /// `DEPTH` buffers are in use).
    pub(super) fn buffer(&mut self) -> Vec<u8> {
        loop {
            if let Some(i) = self.pool.iter_mut().position(|c| Arc::get_mut(c).is_some()) {
                let chunk = self.pool.swap_remove(i);
                let mut bytes = Arc::try_unwrap(chunk).unwrap_or_else(|shared| (*shared).clone());
                bytes.clear();
                return bytes;
            }
            if self.pool.len() < DEPTH {
                return Vec::with_capacity(CHUNK_LEN as usize);
            }
            match &self.hasher {
                // The thread signals after letting go of each chunk.
                Hasher::Thread { done, .. } if done.recv().is_ok() => {}
                // Inline, or the thread is gone: nothing will free a buffer; make one.
                _ => return Vec::with_capacity(CHUNK_LEN as usize),
            }
        }
    }

    /// Hash `bytes` as the next chunk; returns them shared, for the caller to use while the
    /// thread hashes (drop the returned chunk before asking for the next `buffer`).
    pub(super) fn update(&mut self, bytes: Vec<u8>) -> Chunk {
        let chunk = Arc::new(bytes);
        self.chunks += 1;
        if self.lazy && self.chunks == 2 {
            if let Hasher::Inline(h) = &mut self.hasher {
                self.hasher = spawn(std::mem::take(h));
            }
        }
        match &mut self.hasher {
            Hasher::Inline(h) => h.update(&*chunk),
            Hasher::Thread { to, .. } => {
                // A send fails only if the thread is gone; `finish` then reports no MD5.
                let _ = to.as_ref().map(|to| to.send(chunk.clone()));
            }
        }
        if self.pool.len() < DEPTH {
            self.pool.push(chunk.clone());
        }
        chunk
    }

    /// The MD5 of every chunk given; `None` only if the hashing thread died.
    pub(super) fn finish(mut self) -> Option<[u8; 16]> {
        match &mut self.hasher {
            Hasher::Inline(h) => Some(std::mem::take(h).finalize().into()),
            Hasher::Thread { to, thread, .. } => {
                drop(to.take());
                thread.take()?.join().ok().flatten()
            }
        }
    }
}

impl Drop for Hasher {
    fn drop(&mut self) {
        if let Hasher::Thread { to, thread, .. } = self {
            // Unfinished (an error on the way): stop the thread; it ends when the channel
            // closes, after at most the chunks already sent.
            drop(to.take());
            if let Some(thread) = thread.take() {
                let _ = thread.join();
            }
        }
    }
}

/// A thread that goes on from the MD5 state `h`; `h` inline if no thread can be started.
fn spawn(h: md5::Md5) -> Hasher {
    let (to, chunks) = crossbeam_channel::unbounded::<Chunk>();
    let (freed, done) = crossbeam_channel::unbounded();
    // The state moves into the thread only once the thread exists.
    let (state_to, state) = crossbeam_channel::bounded::<md5::Md5>(1);
    let started = std::thread::Builder::new().name("settee-md5".into()).spawn(move || {
        let mut h = state.recv().ok()?;
        for chunk in chunks {
            h.update(&*chunk);
            drop(chunk);
            let _ = freed.send(());
        }
        Some(<[u8; 16]>::from(h.finalize()))
    });
    match started {
        Ok(thread) => {
            let _ = state_to.send(h);
            Hasher::Thread { to: Some(to), done, thread: Some(thread) }
        }
        Err(_) => Hasher::Inline(h),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md5_of(bytes: &[u8]) -> [u8; 16] {
        md5::Md5::digest(bytes).into()
    }

    #[test]
    fn threaded_and_inline_agree_with_one_pass() {
        let data: Vec<u8> = (0..(3 * CHUNK_LEN as usize + 1234)).map(|i| (i * 31 % 251) as u8).collect();
        for len in [None, Some(data.len() as u64), Some(10)] {
            let mut m = Md5::new(len);
            for piece in data.chunks(CHUNK_LEN as usize) {
                let mut b = m.buffer();
                b.extend_from_slice(piece);
                drop(m.update(b));
            }
            assert_eq!(m.finish(), Some(md5_of(&data)));
        }
    }

    #[test]
    fn buffers_stay_bounded_and_are_reused() {
        let mut m = Md5::new(None);
        let mut seen = std::collections::HashSet::new();
        for i in 0..50u8 {
            let mut b = m.buffer();
            seen.insert(b.as_ptr() as usize);
            b.resize(CHUNK_LEN as usize, i);
            drop(m.update(b));
        }
        assert!(seen.len() <= DEPTH, "{} buffers", seen.len());
        let mut expected = md5::Md5::new();
        for i in 0..50u8 {
            expected.update(vec![i; CHUNK_LEN as usize]);
        }
        assert_eq!(m.finish(), Some(<[u8; 16]>::from(expected.finalize())));
    }
}
