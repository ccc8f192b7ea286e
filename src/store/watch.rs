//! Waking this process's waiters when another process commits: an inotify watch on the
//! store's root directory (where the journal and the manifest live), read by one thread per
//! store directory and process, which bumps the directory's [`Signal`] on every change.
//!
//! A commit appends to `journal-<gen>.log`; a checkpoint or compaction creates the next
//! journal and renames `manifest` into place. Each of these is an event on the root
//! directory (`IN_MODIFY`, `IN_CREATE`, `IN_MOVED_TO`), so a waiter (`Store::wait_for_seq`)
//! refreshes as soon as the bytes are there, instead of at its next poll. Writes of `LOCK`
//! are events too: they cost a waiter a refresh that finds nothing, which is cheap
//! (format-spec/layout.md, "Visibility", rule 3).
//!
//! Invariants:
//! 1. The watch is in place before [`start`] returns: a change made after that wakes the
//!    waiters (a change made before is found by the refresh the waiter does after starting
//!    it).
//! 2. At most one watching thread per [`Signal`]; it holds the signal weakly and ends within
//!    [`CHECK_GONE`] of the last handle of the store in this process being dropped.
//! 3. When inotify is unavailable (no kernel support, out of watches), [`start`] says so and
//!    waiters fall back to polling the files every `notify::POLL`.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::notify::Signal;

/// How often the watching thread checks that its store is still open in this process.
const CHECK_GONE: Duration = Duration::from_millis(500);

/// Watch `root` for changes on behalf of `signal`, unless a thread does already; true if a
/// watch is in place (now or from before).
pub(super) fn start(signal: &Arc<Signal>, root: &Path) -> bool {
    let mut state = signal.watch.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(watching) = *state {
        return watching;
    }
    let watching = match watch(root) {
        Some(fd) => {
            let weak = Arc::downgrade(signal);
            std::thread::Builder::new().name("settee-watch".into()).spawn(move || run(fd, weak)).is_ok()
        }
        None => false,
    };
    *state = Some(watching);
    watching
}

/// An inotify descriptor watching `root`, or `None` if inotify cannot be used.
fn watch(root: &Path) -> Option<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(root.as_os_str().as_bytes()).ok()?;
    // SAFETY: inotify_init1 takes flags only and returns a new descriptor or -1.
    let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
    if raw < 0 {
        return None;
    }
    // SAFETY: `raw` is a descriptor just returned to us and owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mask = libc::IN_MODIFY | libc::IN_CREATE | libc::IN_MOVED_TO;
    // SAFETY: `fd` is a valid inotify descriptor and `path` a NUL-terminated string that
    // outlives the call.
    let wd = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), mask) };
    (wd >= 0).then_some(fd)
}

/// The watching thread: wait for events, drain them, wake the waiters; end when the
/// signal is gone or the descriptor fails.
fn run(fd: OwnedFd, signal: Weak<Signal>) {
    let mut buffer = [0u8; 4096];
    let timeout = i32::try_from(CHECK_GONE.as_millis()).unwrap_or(i32::MAX);
    loop {
        let mut poll = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: `poll` is one valid pollfd for the duration of the call.
        let ready = unsafe { libc::poll(&mut poll, 1, timeout) };
        let Some(signal) = signal.upgrade() else { return };
        if ready < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return signal.stop_watching();
        }
        if ready == 0 {
            continue;
        }
        // Drain every queued event: one wake-up covers them all.
        let mut any = false;
        loop {
            // SAFETY: `buffer` is writable for its whole length, and `fd` is valid.
            let n = unsafe { libc::read(fd.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len()) };
            if n <= 0 {
                break;
            }
            any = true;
        }
        if any {
            signal.notify();
        } else if poll.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
            return signal.stop_watching();
        }
    }
}
