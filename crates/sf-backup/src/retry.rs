use std::time::Duration;

use crate::{Error, ErrorCode};

/// How a wait ([`wait`](crate::BackupPartitionRequest::wait), [`follow_backup`](crate::Client::follow_backup))
/// repeats a progress read that failed for a reason that passes by itself: exponential backoff with jitter, for
/// as long as the wait's deadline allows.
///
/// The `n`-th retry (counting from 0) waits a random time between half and all of
/// `initial_backoff × 2ⁿ`, capped at `max_backoff` and at the time left. Retried: connection failures, no answer
/// in time, HTTP 502, 503 and 504, and the codes of a moving primary or an overloaded service
/// (`FABRIC_E_TIMEOUT`, `FABRIC_E_COMMUNICATION_ERROR`, `FABRIC_E_NOT_PRIMARY`, `FABRIC_E_NOT_READY`,
/// `FABRIC_E_RECONFIGURATION_PENDING`, `FABRIC_E_NO_WRITE_QUORUM`, `FABRIC_E_SERVICE_OFFLINE`). The jitter keeps
/// many waiting clients from hitting a recovering cluster in step. [`RetryPolicy::max_retries`] adds a cap on
/// the count, for callers that would rather fail fast.
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
    max_retries: Option<u32>,
    initial_backoff: Duration,
    max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// Retries until the wait's deadline, starting at 200 ms, at most 5 seconds apart.
    fn default() -> Self {
        Self {
            max_retries: None,
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

    /// At most this many retries in a row before the read's error is reported (default: no cap; the wait's
    /// deadline bounds the retries).
    pub fn max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = Some(max_retries);
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
        self.max_retries.is_none_or(|max| retries_so_far < max) && is_retryable_read(error)
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
/// dropped connection, a missing answer and a gateway timeout are worth another attempt too. The Backup Restore
/// Service maps a moving primary to 503 and its own timeouts to 504 (`FabricError.ErrorCodeToHttpStatusCode`).
fn is_retryable_read(error: &Error) -> bool {
    use reqwest::StatusCode;
    if error.is_transient() || matches!(error, Error::Transport { .. } | Error::NoAnswer { .. }) {
        return true;
    }
    let gateway_status = error.status().is_some_and(|status| {
        matches!(
            status,
            StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
        )
    });
    let transient_code = error.code().is_some_and(|code| {
        matches!(
            code,
            ErrorCode::Timeout
                | ErrorCode::CommunicationError
                | ErrorCode::NotPrimary
                | ErrorCode::NotReady
                | ErrorCode::ReconfigurationPending
                | ErrorCode::NoWriteQuorum
                | ErrorCode::ServiceOffline
        )
    });
    gateway_status || transient_code
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
        let timeout = Error::NoAnswer {
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
