//! Running a `settee` command as a child process and measuring it.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Instant;

/// What a finished child did: its stdout, the seconds it took and its own peak RSS (MiB).
pub struct Measured {
    pub stdout: Vec<u8>,
    pub seconds: f64,
    pub peak_rss_mib: f64,
}

/// Run `command` to completion and measure it; panics if it fails.
///
/// The child is reaped with `wait4`, which reports that child's own resource usage; the
/// caller should be small when it spawns, since a child's peak RSS starts from its parent's
/// at the fork.
#[allow(clippy::zombie_processes, reason = "the child is reaped by wait4 below")]
pub fn measure(command: &mut Command) -> Measured {
    let started = Instant::now();
    let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
    let mut stdout = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut stdout).unwrap();
    let pid = child.id() as i32;
    // SAFETY: wait4 writes the status and the zeroed rusage we pass, for our own child.
    let (status, usage) = unsafe {
        let mut status = 0;
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::wait4(pid, &mut status, 0, &mut usage), pid);
        (status, usage)
    };
    let seconds = started.elapsed().as_secs_f64();
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{command:?} failed");
    Measured { stdout, seconds, peak_rss_mib: usage.ru_maxrss as f64 / 1024.0 }
}
