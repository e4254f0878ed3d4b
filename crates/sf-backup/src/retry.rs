//! How failed reads are repeated: the client's [`RetryPolicy`], which failures are worth another attempt, and
//! [`with_retries`], the one loop every retried GET goes through.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::{Error, ErrorCode};

/// How a client repeats a read (a GET: progress reads, the reads of a wait, the look for a backup written after
/// `Timeout`) that failed for a reason that passes by itself: exponential backoff with jitter, for as long as the
/// caller's deadline allows. Set it with [`ClientBuilder::retry`](crate::ClientBuilder::retry).
///
/// The `n`-th retry (counting from 0) waits a random time between half and all of
/// `initial_backoff × 2ⁿ`, capped at `max_backoff` and at the time left. Retried: connection failures, no answer
/// in time, HTTP 502, 503 and 504, and the codes of a moving primary or an overloaded service
/// (`FABRIC_E_TIMEOUT`, `FABRIC_E_COMMUNICATION_ERROR`, `FABRIC_E_NOT_PRIMARY`, `FABRIC_E_NOT_READY`,
/// `FABRIC_E_RECONFIGURATION_PENDING`, `FABRIC_E_NO_WRITE_QUORUM`, `FABRIC_E_SERVICE_OFFLINE`). The jitter keeps
/// many waiting clients from hitting a recovering cluster in step. [`RetryPolicy::max_retries`] adds a cap on
/// the count, for callers that would rather fail fast.
///
/// A read outside a wait (a [progress read](crate::Client::backup_progress), every page of a list or of a
/// topology resolution) has no deadline of its own: it is retried at most 3 times, or
/// [`max_retries`](RetryPolicy::max_retries) times when that is set, each attempt within its own answer deadline;
/// never forever. Inside a wait, the wait retries its reads until its deadline and shows each retry on its stream.
///
/// Before a wait has sent anything, it gives up sooner: at once on a failure that cannot heal (a TLS or protocol
/// error, a name that does not resolve, a 4xx other than the transient codes), and after three attempts within
/// seconds when the connection is refused or reset, so that a wrong endpoint is reported in seconds, with its
/// cause.
///
/// Only reads are retried. A request that starts work (a backup) is never sent twice, whatever the policy says.
///
/// ```
/// use std::time::Duration;
/// use sf_backup::{Client, RetryPolicy};
///
/// let patient = RetryPolicy::default()
///     .max_retries(10)
///     .initial_backoff(Duration::from_millis(500))
///     .max_backoff(Duration::from_secs(30));
/// let client = Client::builder().retry(patient).build()?;
/// let never = RetryPolicy::none();
/// # let _ = (client, never);
/// # Ok::<(), sf_backup::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct RetryPolicy {
    max_retries: Option<u32>,
    initial_backoff: Duration,
    max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// Retries until the caller's deadline, starting at 200 ms, at most 5 seconds apart.
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

    /// At most this many retries in a row before the read's error is reported (default: no cap; the caller's
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

    /// The pause before repeating a read that failed `retries` times in a row with `error`, or `None` to give up.
    fn pause(&self, retries: u32, error: &Error, patience: Patience) -> Option<Duration> {
        let max_retries = match patience {
            Patience::Standalone => Some(self.max_retries.unwrap_or(STANDALONE_RETRIES)),
            _ => self.max_retries,
        };
        if max_retries.is_some_and(|max| retries >= max) {
            return None;
        }
        match (heal(error), patience) {
            (Heal::Never, _) => None,
            (Heal::Soon, Patience::NothingSent) if retries + 1 >= NOTHING_SENT_ATTEMPTS => None,
            (Heal::Soon, Patience::NothingSent) => {
                Some(self.backoff(retries).min(NOTHING_SENT_MAX_PAUSE))
            }
            _ => Some(self.backoff(retries)),
        }
    }

    /// The jittered pause before retry number `retry` (0 for the first).
    fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(31));
        let base = self
            .initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff);
        jitter(base)
    }
}

/// How many times a read outside a wait is retried when the policy sets no cap.
pub(crate) const STANDALONE_RETRIES: u32 = 3;

/// Runs `call`, a read made outside a wait, retried as [`RetryPolicy`] says for such a read: at most
/// [`STANDALONE_RETRIES`] times unless the policy caps it, each attempt bounded by its own answer deadline.
pub(crate) async fn standalone<T, F, Fut>(policy: &RetryPolicy, call: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    // The count bounds the retries; the deadline is only there because the loop needs one.
    let far = Instant::now() + Duration::from_secs(86_400 * 365);
    match with_retries(policy, far, Patience::Standalone, |_, _| {}, call).await {
        Ok(value) => Ok(value),
        Err(GaveUp::Failed(error)) => Err(error),
        Err(GaveUp::Deadline(last)) => Err(last
            .and_then(|error| Arc::try_unwrap(error).ok())
            .unwrap_or(Error::NoAnswer {
                after: far.saturating_duration_since(Instant::now()),
            })),
    }
}

/// How many attempts a refused or reset connection gets before anything was sent, and the longest pause between
/// them: a wrong endpoint is reported within seconds.
const NOTHING_SENT_ATTEMPTS: u32 = 3;
const NOTHING_SENT_MAX_PAUSE: Duration = Duration::from_secs(1);

/// How patient [`with_retries`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Patience {
    /// Nothing was sent yet by the caller (the read before a backup request): a failure that cannot heal ends
    /// at once, a refused or reset connection after a few quick attempts.
    NothingSent,
    /// Work may be running: every failure that may pass is retried under the policy until the deadline.
    UntilDeadline,
    /// A read outside a wait: retried as often as the policy says, [`STANDALONE_RETRIES`] times if it says
    /// nothing.
    Standalone,
}

/// How soon a failed read may succeed if repeated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Heal {
    /// Not by itself: refused by the service, a TLS or protocol error, a name that does not resolve.
    Never,
    /// Perhaps in a moment: the connection was refused, reset or timed out.
    Soon,
    /// Once the cluster recovers: 502/503/504, no answer, the codes of a moving primary.
    Later,
}

/// A read has no side effect, so unlike [`Error::is_transient`] (which must stay safe for the backup request) a
/// dropped connection, a missing answer and a gateway timeout are worth another attempt too. The Backup Restore
/// Service maps a moving primary to 503 and its own timeouts to 504 (`FabricError.ErrorCodeToHttpStatusCode`).
fn heal(error: &Error) -> Heal {
    use http::StatusCode;
    match error {
        Error::Transport {
            source,
            may_have_reached_service,
        } => {
            if refused_or_reset(source) || source.is_timeout() || *may_have_reached_service {
                Heal::Soon
            } else {
                // A connect failure that is neither: DNS, TLS verification, a TLS or HTTP protocol error.
                Heal::Never
            }
        }
        Error::NoAnswer { .. } => Heal::Later,
        _ if error.is_transient() => Heal::Later,
        _ => {
            let gateway_status = error.status().is_some_and(|status| {
                matches!(
                    status,
                    StatusCode::BAD_GATEWAY
                        | StatusCode::SERVICE_UNAVAILABLE
                        | StatusCode::GATEWAY_TIMEOUT
                )
            });
            let transient_code = error.code().is_some_and(|code| {
                code.is_transient()
                    || matches!(code, ErrorCode::Timeout | ErrorCode::CommunicationError)
            });
            if gateway_status || transient_code {
                Heal::Later
            } else {
                Heal::Never
            }
        }
    }
}

/// Whether the connection was refused, reset or aborted: a listener that may be back in a moment.
fn refused_or_reset(error: &crate::TransportError) -> bool {
    use std::io::ErrorKind;
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = cause {
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                ErrorKind::ConnectionRefused
                    | ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::BrokenPipe
            )
        {
            return true;
        }
        cause = error.source();
    }
    false
}

/// Why [`with_retries`] produced no value.
#[derive(Debug)]
pub(crate) enum GaveUp {
    /// The deadline passed; the last failure, if there was one.
    Deadline(Option<Arc<Error>>),
    /// A failure that is not retried (or the last one when the policy's cap was reached).
    Failed(Error),
}

/// Runs `call` until it succeeds, fails for good, or `deadline` passes, pausing between attempts as `policy`
/// says; `observe` sees every failure that is retried, with its attempt number (1 for the first attempt).
///
/// The one retry loop of the crate: every GET that is retried goes through it, never a POST.
pub(crate) async fn with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    deadline: Instant,
    patience: Patience,
    mut observe: impl FnMut(&Arc<Error>, u32),
    mut call: F,
) -> Result<T, GaveUp>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let mut retries = 0u32;
    let mut last = None;
    loop {
        if Instant::now() >= deadline {
            return Err(GaveUp::Deadline(last));
        }
        let error = match call().await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        if Instant::now() >= deadline {
            // A read cut short by this very deadline says less than the failure before it: keep that one.
            let cut = matches!(error, Error::NoAnswer { .. });
            return Err(GaveUp::Deadline(match last {
                Some(earlier) if cut => Some(earlier),
                _ => Some(Arc::new(error)),
            }));
        }
        let Some(pause) = policy.pause(retries, &error, patience) else {
            return Err(GaveUp::Failed(error));
        };
        retries = retries.saturating_add(1);
        let error = Arc::new(error);
        tracing::warn!(%error, attempt = retries, ?pause, "read failed; retrying");
        observe(&error, retries);
        last = Some(error);
        sleep_before(pause, deadline).await;
    }
}

/// Sleeps for `pause`, but never past `deadline`.
pub(crate) async fn sleep_before(pause: Duration, deadline: Instant) {
    let until = Instant::now()
        .checked_add(pause)
        .map_or(deadline, |until| until.min(deadline));
    tokio::time::sleep_until(until).await;
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

    fn service(status: http::StatusCode, code: ErrorCode) -> Error {
        Error::Service {
            status,
            code,
            message: String::new(),
        }
    }

    #[test]
    fn only_failed_reads_that_may_pass_later_are_retried_and_only_so_often() {
        use Patience::UntilDeadline as Until;
        let policy = RetryPolicy::default().max_retries(2);
        let unavailable = service(http::StatusCode::SERVICE_UNAVAILABLE, ErrorCode::NotReady);
        let timeout = Error::NoAnswer {
            after: Duration::from_secs(1),
        };
        let conflict = service(http::StatusCode::CONFLICT, ErrorCode::BackupInProgress);
        assert!(policy.pause(0, &unavailable, Until).is_some());
        assert!(policy.pause(1, &timeout, Until).is_some());
        assert!(policy.pause(2, &unavailable, Until).is_none());
        assert!(policy.pause(0, &conflict, Until).is_none());
        assert!(RetryPolicy::none().pause(0, &unavailable, Until).is_none());
    }

    #[test]
    fn before_anything_was_sent_what_cannot_heal_is_not_retried() {
        use Patience::NothingSent as Nothing;
        let policy = RetryPolicy::default();
        let not_found = service(http::StatusCode::NOT_FOUND, ErrorCode::PartitionNotFound);
        assert!(policy.pause(0, &not_found, Nothing).is_none());
        // The transient codes keep the policy's patience: a moving primary is waited out.
        let unavailable = service(http::StatusCode::SERVICE_UNAVAILABLE, ErrorCode::NotReady);
        assert!(policy.pause(10, &unavailable, Nothing).is_some());
        let no_answer = Error::NoAnswer {
            after: Duration::from_secs(1),
        };
        assert!(policy.pause(10, &no_answer, Nothing).is_some());
    }

    #[tokio::test]
    async fn with_retries_reports_each_retry_and_keeps_the_last_error_at_the_deadline() {
        let policy = RetryPolicy::default()
            .initial_backoff(Duration::from_millis(1))
            .max_backoff(Duration::from_millis(2));
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_millis(50);
        let result: Result<(), GaveUp> = with_retries(
            &policy,
            deadline,
            Patience::UntilDeadline,
            |error, attempt| seen.push((error.to_string(), attempt)),
            || async {
                Err(Error::NoAnswer {
                    after: Duration::from_millis(1),
                })
            },
        )
        .await;
        let Err(GaveUp::Deadline(Some(last))) = result else {
            panic!("{result:?}");
        };
        assert!(matches!(*last, Error::NoAnswer { .. }));
        assert!(seen.len() >= 2, "{seen:?}");
        assert_eq!(seen[0].1, 1);
        assert_eq!(seen[1].1, 2);
    }
}
