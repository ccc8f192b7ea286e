//! Request sizes that adapt to the server: how many change rows one `_changes` request
//! asks for, and how many revisions one `_bulk_docs` request carries.
//!
//! Owns: the rule, as a pure state machine fed with what each request sent and how it
//! went (the transport measures and calls it). Spec: format-spec/replication.md ("Over
//! HTTP", "Batch sizes").
//! Invariants:
//! 1. A size is never 0 and never above what the replication asks for (`--batch-size` for
//!    pages, a batch's revisions for writes), so memory stays bounded as before.
//! 2. After a 413 at `n` items, no request of that kind carries more than `n / 2` for the
//!    rest of the run: growing back would only be refused again, and so a run meets at most
//!    about log2(batch size) 413s, however many batches it has.

use std::time::Duration;

/// An answer this quick to a request of the full current size doubles the size.
pub const QUICK: Duration = Duration::from_secs(1);
/// An answer slower than this (retries of a timed-out attempt included) halves the size.
pub const SLOW: Duration = Duration::from_secs(10);

/// The size of one kind of request.
#[derive(Clone, Debug, Default)]
pub struct Size {
    /// The current size; 0 until the first request, which takes what is asked.
    size: usize,
    /// The most a request may carry since a 413 (half the size refused); `None` while
    /// none was refused.
    ceiling: Option<usize>,
}

impl Size {
    /// How many of the `asked` items the next request carries.
    pub fn limit(&mut self, asked: usize) -> usize {
        if self.size == 0 {
            self.size = asked.max(1);
        }
        self.size.min(asked).min(self.ceiling.unwrap_or(usize::MAX)).max(1)
    }

    /// A request of `sent` items was answered in `took`: quick at the full size grows
    /// (doubles), slow shrinks (halves).
    pub fn answered(&mut self, sent: usize, took: Duration) {
        if took >= SLOW {
            self.size = (sent / 2).max(1);
        } else if took <= QUICK && sent >= self.size {
            self.size = self.size.saturating_mul(2).min(self.ceiling.unwrap_or(usize::MAX)).max(1);
        }
    }

    /// A request of `sent` items was refused as too large: half of it next, and never more
    /// than that again.
    pub fn too_large(&mut self, sent: usize) {
        self.size = (sent / 2).max(1);
        self.ceiling = Some(self.ceiling.map_or(self.size, |c| c.min(self.size)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Duration = Duration::from_millis(50);
    const MIDDLING: Duration = Duration::from_secs(3);

    #[test]
    fn starts_at_the_asked_size_and_never_exceeds_it() {
        let mut s = Size::default();
        assert_eq!(s.limit(1000), 1000);
        s.answered(1000, FAST);
        assert_eq!(s.limit(1000), 1000, "grown, but not above what is asked");
        assert_eq!(s.limit(10), 10);
        assert_eq!(Size::default().limit(0), 1);
    }

    #[test]
    fn slow_answers_halve_and_quick_ones_grow_back() {
        let mut s = Size::default();
        assert_eq!(s.limit(1000), 1000);
        s.answered(1000, SLOW);
        assert_eq!(s.limit(1000), 500);
        s.answered(500, Duration::from_secs(30));
        assert_eq!(s.limit(1000), 250);
        // A middling answer changes nothing; a quick one at the full size doubles.
        s.answered(250, MIDDLING);
        assert_eq!(s.limit(1000), 250);
        s.answered(100, FAST);
        assert_eq!(s.limit(1000), 250, "a smaller request says nothing about the full size");
        s.answered(250, FAST);
        assert_eq!(s.limit(1000), 500);
        s.answered(500, FAST);
        assert_eq!(s.limit(1000), 1000);
        for _ in 0..40 {
            s.answered(1, SLOW);
        }
        assert_eq!(s.limit(1000), 1, "never below one");
    }

    #[test]
    fn a_413_halves_and_caps_the_size_for_good() {
        let mut s = Size::default();
        assert_eq!(s.limit(1000), 1000);
        s.too_large(1000);
        assert_eq!(s.limit(1000), 500);
        s.too_large(500);
        assert_eq!(s.limit(1000), 250);
        for _ in 0..5 {
            let n = s.limit(1000);
            s.answered(n, FAST);
        }
        assert_eq!(s.limit(1000), 250, "never above half the last size refused");
        s.too_large(1);
        assert_eq!(s.limit(1000), 1);
    }
}
