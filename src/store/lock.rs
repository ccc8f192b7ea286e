//! The writer lock: `.settee/LOCK`, held with `flock` by the one handle writing at the moment
//! (for one commit or batch: `writing.rs`).
//!
//! Writers wait their turn in a queue: `.settee/QUEUE` is a second `flock`, held by the one
//! writer next in line while it waits for `LOCK`. A writer that may wait takes `QUEUE`
//! first, then `LOCK`, then lets `QUEUE` go (one told not to wait tries `LOCK` once). So a
//! writer that lets `LOCK` go and wants it again at once (an import, batch after batch)
//! finds `QUEUE` taken by whoever waited, and gets `LOCK` only after that one had its turn:
//! waiting is fair between processes, not a race that the busiest writer always wins.
//!
//! Invariants: the locks are released when the holder exits, however it exits (the kernel
//! drops `flock` locks with the file descriptor), so a crash never leaves a stale lock. At
//! most one process waits for `LOCK` through the queue at a time. `LOCK` holds the holder's
//! pid for the error message; its content, and `QUEUE`'s, is informational only.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

pub const FILE_NAME: &str = "LOCK";
/// The queue of writers waiting for `LOCK` (module documentation).
pub const QUEUE_FILE_NAME: &str = "QUEUE";
/// The lock a checkpoint holds while it builds its tables without `LOCK` (`checkpoint.rs`).
pub const CHECKPOINT_FILE_NAME: &str = "CHECKPOINT";

pub struct Lock {
    _file: File,
}

impl Lock {
    /// Take the lock. Without `wait`, fail at once with `Error::Locked` naming the holder;
    /// with it, queue (module documentation) until the lock is free or `wait` has passed,
    /// then fail the same way.
    pub fn acquire(dir: &Path, wait: Option<Duration>) -> Result<Lock> {
        let path: PathBuf = dir.join(FILE_NAME);
        let mut file = open(&path)?;
        let Some(wait) = wait else {
            // One try: a writer queued ahead holds `QUEUE` only while `LOCK` is busy.
            return match try_flock(&file, &path)? {
                true => Ok(Lock::holding(file)),
                false => Err(locked(&mut file, path)),
            };
        };
        let deadline = Instant::now() + wait;
        // Every waiting writer goes through the queue, the one that just let `LOCK` go
        // included: then only the one next in line waits for `LOCK`, and gets it first.
        let queue_path = dir.join(QUEUE_FILE_NAME);
        let Some(queue) = flock_until(open(&queue_path)?, &queue_path, deadline)? else {
            return Err(locked(&mut file, path));
        };
        let lock_file = open(&path)?;
        let Some(file) = flock_until(lock_file, &path, deadline)? else {
            return Err(locked(&mut file, path));
        };
        drop(queue);
        Ok(Lock::holding(file))
    }

    /// True if another writer waits for `LOCK` in the queue (it holds `QUEUE`): a writer
    /// holding `LOCK` for a long series of commits lets it go between two of them then.
    pub fn others_waiting(dir: &Path) -> Result<bool> {
        Ok(Lock::try_acquire(dir, QUEUE_FILE_NAME)?.is_none())
    }

    /// The lock, taken on `file`: say who holds it. Left as it is when it already names
    /// this process (the usual case for a process committing again and again): cutting and
    /// rewriting it would add its metadata to every commit's journal transaction.
    fn holding(mut file: File) -> Lock {
        let me = format!("pid {}", std::process::id());
        let mut said = [0u8; 32];
        let n = std::os::unix::fs::FileExt::read_at(&file, &mut said, 0).unwrap_or(0);
        if said.get(..n) != Some(me.as_bytes()) {
            let _ = file.set_len(0);
            let _ = file.rewind();
            let _ = file.write_all(me.as_bytes());
        }
        Lock { _file: file }
    }

    /// Take the lock at `dir/name` if it is free (no waiting): `None` if another holds it.
    pub fn try_acquire(dir: &Path, name: &str) -> Result<Option<Lock>> {
        let path = dir.join(name);
        let file = open(&path)?;
        Ok(try_flock(&file, &path)?.then_some(Lock { _file: file }))
    }
}

fn open(path: &Path) -> Result<File> {
    OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).map_err(Error::io(path))
}

/// `flock(LOCK_EX | LOCK_NB)`: true if taken, false if another holds it.
fn try_flock(file: &File, path: &Path) -> Result<bool> {
    // SAFETY: flock on a valid, owned file descriptor has no memory-safety requirements.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        return Ok(false);
    }
    Err(Error::io(path)(err))
}

/// Take `file`'s lock, waiting until `deadline` at most: `None` if it stayed busy. The wait
/// is a blocking `flock` on a helper thread, so the lock is taken as soon as its holder
/// lets it go (no polling pauses); at the deadline the caller stops waiting, and the helper,
/// should it get the lock later, lets it go at once (it drops the file when nobody takes
/// it). A helper whose lock is never let go stays blocked until its holder exits.
fn flock_until(file: File, path: &Path, deadline: Instant) -> Result<Option<File>> {
    if try_flock(&file, path)? {
        return Ok(Some(file));
    }
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Ok(None);
    }
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let waiting = std::thread::Builder::new().name("settee-lock".into()).spawn(move || loop {
        // SAFETY: flock on a valid, owned file descriptor has no memory-safety requirements.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        let err = std::io::Error::last_os_error();
        if rc != 0 && err.kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        // Nobody receiving (the caller gave up): the file is dropped, and the lock with it.
        let _ = tx.send(if rc == 0 { Ok(file) } else { Err(err) });
        return;
    });
    waiting.map_err(Error::io(path))?;
    match rx.recv_timeout(left) {
        Ok(Ok(file)) => Ok(Some(file)),
        Ok(Err(e)) => Err(Error::io(path)(e)),
        Err(_) => Ok(None),
    }
}

/// The error for a lock that stayed busy, naming its holder.
fn locked(file: &mut File, path: PathBuf) -> Error {
    let mut holder = String::new();
    let _ = file.read_to_string(&mut holder);
    let holder = holder.trim();
    let holder = if holder.is_empty() { "unknown process".to_string() } else { holder.to_string() };
    Error::Locked { path, holder }
}
