use std::time::Duration;

use crate::Error;

/// How [`wait`](crate::BackupPartitionRequest::wait) repeats a progress read that failed for a reason that is
/// usually temporary: bounded exponential backoff with jitter.
///
/// The `n`-th retry (counting from 0) waits a random time between half and all of
/// `initial_backoff × 2ⁿ`, capped at `max_backoff`; after `max_retries` retries in a row the read's error is
/// reported. The jitter keeps many waiting clients from hitting a recovering cluster in step.
///
/// Only reads are retried. The backup request itself is never sent twice, whatever the policy says.
///
/// ```
/// use std::time::Duration;
/// use sf_backup::RetryPolicy;
///
/// let patient = RetryPolicy::default()
///     .max_retries(10)
///     .initial_backoff(Duration::from_millis(500))
///     .max_backoff(Duration::from_secs(30));
/// let never = RetryPolicy::none();
/// # let _ = (patient, never);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct RetryPolicy {
    max_retries: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 5 retries, starting at 200 ms, at most 5 seconds apart.
    fn default() -> Self {
        Self {
            max_retries: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries: the first failure is reported.
    pub fn none() -> Self {
        Self::default().max_retries(0)
    }

    /// How many times in a row a failed read is repeated before its error is reported (default 5).
    pub fn max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// The backoff before the first retry, before jitter (default 200 ms); it doubles with each retry.
    pub fn initial_backoff(mut self, initial_backoff: Duration) -> Self {
        self.initial_backoff = initial_backoff;
        self
    }

    /// The longest backoff between two attempts (default 5 seconds).
    pub fn max_backoff(mut self, max_backoff: Duration) -> Self {
        self.max_backoff = max_backoff;
        self
    }

    /// Whether a read that failed `retries_so_far` times in a row with `error` should be repeated.
    pub(crate) fn should_retry_read(&self, retries_so_far: u32, error: &Error) -> bool {
        retries_so_far < self.max_retries && is_retryable_read(error)
    }

    /// The jittered pause before retry number `retry` (0 for the first).
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(31));
        let base = self
            .initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff);
        jitter(base)
    }
}

/// A read has no side effect, so unlike [`Error::is_transient`] (which must stay safe for the backup request) a
/// dropped connection or a missing answer is worth another attempt too.
fn is_retryable_read(error: &Error) -> bool {
    error.is_transient() || matches!(error, Error::Transport { .. } | Error::Timeout { .. })
}

/// A random duration between half of `base` and `base`: "equal jitter", which spreads clients out while keeping
/// a floor, so a retry never comes back at once.
fn jitter(base: Duration) -> Duration {
    let half = base / 2;
    let spread = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    half + Duration::from_nanos(fastrand::u64(..=spread))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        let policy = RetryPolicy::default()
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_millis(1000));
        for _ in 0..200 {
            for (retry, base_ms) in [
                (0, 100),
                (1, 200),
                (2, 400),
                (3, 800),
                (4, 1000),
                (40, 1000),
            ] {
                let pause = policy.backoff(retry);
                let base = Duration::from_millis(base_ms);
                assert!(
                    pause >= base / 2 && pause <= base,
                    "retry {retry}: {pause:?}"
                );
            }
        }
    }

    #[test]
    fn only_failed_reads_that_may_pass_later_are_retried_and_only_so_often() {
        let policy = RetryPolicy::default().max_retries(2);
        let unavailable = Error::Service {
            status: reqwest::StatusCode::SERVICE_UNAVAILABLE,
            code: crate::ErrorCode::NotReady,
            message: String::new(),
        };
        let timeout = Error::Timeout {
            after: Duration::from_secs(1),
        };
        let conflict = Error::Service {
            status: reqwest::StatusCode::CONFLICT,
            code: crate::ErrorCode::BackupInProgress,
            message: String::new(),
        };
        assert!(policy.should_retry_read(0, &unavailable));
        assert!(policy.should_retry_read(1, &timeout));
        assert!(!policy.should_retry_read(2, &unavailable));
        assert!(!policy.should_retry_read(0, &conflict));
        assert!(!RetryPolicy::none().should_retry_read(0, &unavailable));
    }
}
