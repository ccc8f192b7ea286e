//! When and how long to wait before trying a request again.
//!
//! Owns: which failures are worth another attempt (connection errors, timeouts, answers cut
//! short, 5xx, 408 and 429) and the exponential backoff with jitter between attempts.
//! Invariant: only requests whose repetition changes nothing are retried, which every
//! request of the replication protocol is (reads, `_revs_diff`, `_bulk_docs` with
//! `new_edits: false`, `_local` writes of the same body).

use std::time::Duration;

/// The backoff between attempts: `first * 2^attempt`, at most `cap`, each wait drawn at
/// random from its upper half so that many clients do not retry in step.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    pub first: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff { first: Duration::from_millis(100), cap: Duration::from_secs(10) }
    }
}

impl Backoff {
    /// How long to wait before attempt `attempt + 1` (the first retry is attempt 0).
    pub fn delay(&self, attempt: u32) -> Duration {
        let full = self.first.saturating_mul(1u32 << attempt.min(20)).min(self.cap);
        let half = full / 2;
        let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX).max(1);
        half + Duration::from_nanos(random() % nanos)
    }
}

fn random() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos().into())
    })
}

/// Whether an answer with this status is worth another attempt.
pub fn retry_status(status: u16) -> bool {
    status >= 500 || status == 408 || status == 429
}

/// Whether a failure to get an answer is worth another attempt: anything that may pass
/// (the connection, a timeout, a cut answer), not a bad URL or a TLS certificate refused.
pub fn retry_error(e: &ureq::Error) -> bool {
    use ureq::Error as E;
    match e {
        E::Io(_) | E::Timeout(_) | E::ConnectionFailed | E::HostNotFound | E::Protocol(_) => true,
        E::Tls(_) => false,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_capped() {
        let b = Backoff { first: Duration::from_millis(100), cap: Duration::from_secs(2) };
        for attempt in 0..40 {
            let d = b.delay(attempt);
            let full = (Duration::from_millis(100) * (1 << attempt.min(10))).min(Duration::from_secs(2));
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
        assert!(retry_status(500) && retry_status(503) && retry_status(429));
        assert!(!retry_status(404) && !retry_status(401) && !retry_status(409));
    }
}
