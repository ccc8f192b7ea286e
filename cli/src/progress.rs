//! Progress on stderr: bars on a terminal only (never with `--json`); with `--progress`, a
//! replication also reports each batch without a terminal, as text or, with `--json`, as
//! JSON Lines events (stdout keeps only the final report).

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

/// How a replication shows its progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Show {
    Nothing,
    /// A spinner with the counts and the rate, on a terminal.
    Bar,
    /// `--progress` without a terminal: a line of text per batch on stderr.
    Lines,
    /// `--json --progress`: JSON Lines on stderr, `{"type":"start"|"progress"|"end","data":{..}}`.
    Json,
}

impl Show {
    /// The bar on a terminal (unless `--json`); with `--progress`, lines or JSON events.
    pub fn choose(json: bool, asked: bool) -> Show {
        match (json, asked) {
            (true, true) => Show::Json,
            (true, false) => Show::Nothing,
            (false, _) if std::io::stderr().is_terminal() => Show::Bar,
            (false, true) => Show::Lines,
            (false, false) => Show::Nothing,
        }
    }
}

/// The progress of one replication (`verb`: fetching, pushing or cloning), shown as `Show`
/// says: after each batch its documents read, revisions written and documents per second.
pub struct Replication {
    show: Show,
    bar: ProgressBar,
    verb: &'static str,
    started: std::time::Instant,
}

impl Replication {
    pub fn new(show: Show, verb: &'static str) -> Replication {
        let bar = if show == Show::Bar {
            let bar = ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_message(format!("{verb}: starting"));
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        } else {
            ProgressBar::hidden()
        };
        let progress = Replication { show, bar, verb, started: std::time::Instant::now() };
        if show == Show::Json {
            event("start", serde_json::json!({ "direction": progress.direction() }));
        }
        progress
    }

    /// The replication ended well: the last event (JSON), the bar cleared.
    pub fn end(&mut self, o: &settee::replicate::Outcome) {
        if self.show == Show::Json {
            event("end", self.data(o));
        }
        self.bar.finish_and_clear();
    }

    /// The word the final report uses (`"direction"`): fetched, pushed or cloned.
    fn direction(&self) -> &'static str {
        match self.verb {
            "pushing" => "pushed",
            "cloning" => "cloned",
            _ => "fetched",
        }
    }

    fn rate(&self, docs: u64) -> u64 {
        let secs = self.started.elapsed().as_secs_f64();
        if secs > 0.0 {
            (docs as f64 / secs).round() as u64
        } else {
            0
        }
    }

    fn data(&self, o: &settee::replicate::Outcome) -> serde_json::Value {
        serde_json::json!({
            "direction": self.direction(),
            "docs_read": o.docs_read, "revisions_checked": o.revisions_checked,
            "missing_found": o.missing_found, "revisions_written": o.revisions_written,
            "write_failures": o.write_failures, "blobs_written": o.blobs_written,
            "blob_bytes_written": o.blob_bytes_written, "last_seq": o.last_seq,
            "elapsed_ms": u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "docs_per_sec": self.rate(o.docs_read),
        })
    }

    fn text(&self, o: &settee::replicate::Outcome) -> String {
        format!(
            "{}: {} documents read, {} revisions written, {} documents/s, at {}",
            self.verb,
            o.docs_read,
            o.revisions_written,
            self.rate(o.docs_read),
            o.last_seq
        )
    }
}

/// One JSON event on stderr, written whole (a closed stderr is not the replication's concern).
fn event(kind: &str, data: serde_json::Value) {
    use std::io::Write as _;
    let line = format!("{}\n", serde_json::json!({ "type": kind, "data": data }));
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

impl settee::replicate::Progress for Replication {
    fn batch(&mut self, o: &settee::replicate::Outcome) {
        match self.show {
            Show::Nothing => {}
            Show::Bar => self.bar.set_message(self.text(o)),
            Show::Lines => eprintln!("{}", self.text(o)),
            Show::Json => event("progress", self.data(o)),
        }
    }
}

impl Drop for Replication {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
