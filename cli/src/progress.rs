//! Progress bars on a terminal only (never with `--json`, never when stderr is redirected).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `total` bytes, or a hidden one when progress should not show.
pub fn bytes(total: Option<u64>, json: bool, message: &'static str) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(t) => ProgressBar::new(t).with_style(
            ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{msg} {spinner} {bytes} ({bytes_per_sec})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    bar.set_message(message);
    bar
}

/// A spinner for a replication: documents read and revisions written so far.
pub struct Replication {
    bar: ProgressBar,
    what: &'static str,
}

impl Replication {
    pub fn new(json: bool, what: &'static str) -> Replication {
        let bar = if json || !std::io::stderr().is_terminal() {
            ProgressBar::hidden()
        } else {
            ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            )
        };
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Replication { bar, what }
    }
}

impl settee::replicate::Progress for Replication {
    fn batch(&mut self, o: &settee::replicate::Outcome) {
        self.bar.set_message(format!(
            "{}: {} documents read, {} revisions written, at {}",
            self.what, o.docs_read, o.revisions_written, o.last_seq
        ));
    }
}

impl Drop for Replication {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
