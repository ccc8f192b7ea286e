//! The writer lock: `.settee/LOCK`, held with `flock` by the one handle writing at the moment
//! (for one commit or batch: `writing.rs`).
//!
//! Invariants: the lock is released when the holder exits, however it exits (the kernel drops
//! `flock` locks with the file descriptor), so a crash never leaves a stale lock. The file
//! holds the holder's pid for the error message; its content is informational only.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub const FILE_NAME: &str = "LOCK";

pub struct Lock {
    _file: File,
}

impl Lock {
    /// Take the lock. Without `wait`, fail at once with `Error::Locked` naming the holder;
    /// with it, try again (every 5 to 50 ms) until the lock is free or `wait` has passed,
    /// then fail the same way.
    pub fn acquire(dir: &Path, wait: Option<std::time::Duration>) -> Result<Lock> {
        let path: PathBuf = dir.join(FILE_NAME);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(Error::io(&path))?;
        let started = std::time::Instant::now();
        let mut pause = std::time::Duration::from_millis(5);
        loop {
            // SAFETY: flock on a valid, owned file descriptor has no memory-safety requirements.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                break;
            }
            let err = std::io::Error::last_os_error();
            let busy = err.raw_os_error() == Some(libc::EWOULDBLOCK);
            if busy && wait.is_some_and(|w| started.elapsed() < w) {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(50));
                continue;
            }
            if busy {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let holder =
                    if holder.is_empty() { "unknown process".to_string() } else { holder.to_string() };
                return Err(Error::Locked { path, holder });
            }
            return Err(Error::io(&path)(err));
        }
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = write!(file, "pid {}", std::process::id());
        Ok(Lock { _file: file })
    }
}
