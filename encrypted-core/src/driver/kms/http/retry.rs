//! When and how long to wait before trying a KMS request again.

use std::time::Duration;

/// Attempts in all when retrying, as libmongocrypt's KMS retry makes.
const ATTEMPTS: u32 = 3;

/// The longest first wait; each later one may be twice as long.
const BASE_BACKOFF: Duration = Duration::from_millis(200);

/// The longest wait, however many attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(20);

/// Whether to retry failed KMS requests: network errors, timeouts, HTTP 429 and 5xx,
/// up to 3 attempts in all with jittered exponential backoff; never a 4xx.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Retry {
    enabled: bool,
}

impl Default for Retry {
    fn default() -> Self {
        Self { enabled: true }
    }
}

impl Retry {
    /// Retrying or not.
    pub(crate) fn enabled(enabled: bool) -> Self {
        Self { enabled }
    }

    /// Whether retrying.
    pub(crate) fn is_enabled(self) -> bool {
        self.enabled
    }

    /// Attempts in all.
    pub(crate) fn attempts(self) -> u32 {
        if self.enabled { ATTEMPTS } else { 1 }
    }

    /// How long to wait after failed attempt `attempt` (1 for the first): a random
    /// duration up to `BASE_BACKOFF * 2^(attempt - 1)` (at most `MAX_BACKOFF`), so
    /// that many clients failing together do not come back together ("full jitter").
    pub(crate) fn backoff(self, attempt: u32) -> Duration {
        let ceiling = BASE_BACKOFF
            .saturating_mul(1_u32 << attempt.saturating_sub(1).min(16))
            .min(MAX_BACKOFF);
        // Without randomness, wait the whole ceiling: still bounded, only not jittered.
        let fraction =
            getrandom::u32().map_or(1.0, |random| f64::from(random) / f64::from(u32::MAX));
        ceiling.mul_f64(fraction)
    }
}

/// Whether a reply with this HTTP status is worth another attempt: 429 (too many
/// requests) and 5xx (the service failed, maybe for a moment). A 4xx is the request's
/// fault and would fail again.
pub(crate) fn retries_status(status: u16) -> bool {
    status == 429 || (500..600).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_429_and_5xx_but_never_4xx() {
        assert!(retries_status(429));
        assert!(retries_status(500));
        assert!(retries_status(503));
        for status in [200, 400, 401, 403, 404, 409] {
            assert!(!retries_status(status), "{status}");
        }
    }

    #[test]
    fn makes_at_most_three_attempts_or_one_when_off() {
        assert_eq!(Retry::default().attempts(), 3);
        assert_eq!(Retry::enabled(false).attempts(), 1);
    }

    #[test]
    fn backs_off_exponentially_within_bounds() {
        let retry = Retry::default();
        for _ in 0..100 {
            assert!(retry.backoff(1) <= BASE_BACKOFF);
            assert!(retry.backoff(2) <= BASE_BACKOFF * 2);
            assert!(retry.backoff(40) <= MAX_BACKOFF);
        }
        // Jittered: a hundred waits are not all the same.
        let waits: std::collections::BTreeSet<_> = (0..100).map(|_| retry.backoff(2)).collect();
        assert!(waits.len() > 1);
    }
}
