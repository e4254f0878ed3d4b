use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;
use tracing::Instrument;
use uuid::Uuid;

use crate::{
    BackupFailure, BackupPartitionRequest, BackupProgress, BackupState, Client, Epoch, Error,
    PartitionId, RetryPolicy,
};

/// The default pause before the second progress read; later pauses grow by half each time.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// The default longest pause between two progress reads.
pub const DEFAULT_MAX_POLL_INTERVAL: Duration = Duration::from_secs(10);
/// The default time [`wait`](BackupPartitionRequest::wait) watches progress after an ambiguous failure of the
/// backup request before it gives up with [`WaitError::Ambiguous`].
pub const DEFAULT_AMBIGUOUS_GRACE: Duration = Duration::from_secs(15);

/// Each pause between polls is this much longer than the one before, up to the maximum.
const POLL_GROWTH: f64 = 1.5;
/// The service's `BackupTimeout` when the request sets none.
const SERVICE_DEFAULT_BACKUP_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// The backup timeout only starts once the service picks the request up, and progress needs a moment to say
/// `Timeout`, so the default wait outlasts it by this much.
const DEFAULT_WAIT_MARGIN: Duration = Duration::from_secs(5 * 60);

type ProgressCallback = Box<dyn FnMut(&BackupProgress) + Send>;

/// How [`BackupPartitionRequest::wait`] polls for the outcome.
///
/// ```
/// use std::time::Duration;
/// use sf_backup::{RetryPolicy, WaitOptions};
///
/// let options = WaitOptions::new()
///     .poll_interval(Duration::from_millis(500))
///     .max_poll_interval(Duration::from_secs(5))
///     .wait_timeout(Duration::from_secs(30 * 60))
///     .retry(RetryPolicy::default().max_retries(8))
///     .on_progress(|progress| eprintln!("backup: {}", progress.state));
/// # let _ = options;
/// ```
#[must_use]
pub struct WaitOptions {
    poll_interval: Duration,
    max_poll_interval: Duration,
    wait_timeout: Option<Duration>,
    ambiguous_grace: Duration,
    retry: RetryPolicy,
    on_progress: Option<ProgressCallback>,
}

impl Default for WaitOptions {
    fn default() -> Self {
        Self {
            poll_interval: DEFAULT_POLL_INTERVAL,
            max_poll_interval: DEFAULT_MAX_POLL_INTERVAL,
            wait_timeout: None,
            ambiguous_grace: DEFAULT_AMBIGUOUS_GRACE,
            retry: RetryPolicy::default(),
            on_progress: None,
        }
    }
}

impl fmt::Debug for WaitOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitOptions")
            .field("poll_interval", &self.poll_interval)
            .field("max_poll_interval", &self.max_poll_interval)
            .field("wait_timeout", &self.wait_timeout)
            .field("ambiguous_grace", &self.ambiguous_grace)
            .field("retry", &self.retry)
            .field(
                "on_progress",
                &self.on_progress.as_ref().map(|_| "<callback>"),
            )
            .finish()
    }
}

impl WaitOptions {
    /// The defaults: poll after 1 second, then 1.5 times longer each time up to 10 seconds; retry failed reads
    /// with [`RetryPolicy::default`]; give up after the backup timeout plus 5 minutes.
    pub fn new() -> Self {
        Self::default()
    }

    /// The pause after the first progress read ([`DEFAULT_POLL_INTERVAL`] when not set). Each later pause is 1.5
    /// times the one before, up to [`max_poll_interval`](Self::max_poll_interval).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// The longest pause between two progress reads ([`DEFAULT_MAX_POLL_INTERVAL`] when not set).
    pub fn max_poll_interval(mut self, interval: Duration) -> Self {
        self.max_poll_interval = interval;
        self
    }

    /// How long to wait, counted from the call, before giving up with [`WaitError::DeadlineExceeded`] while the
    /// backup still runs. It does not cut the backup request itself short (that request has its own
    /// [timeout](BackupPartitionRequest::timeout)); it bounds the polling after it. When not set: the request's
    /// [backup timeout](BackupPartitionRequest::backup_timeout) (the service's default is 10 minutes) plus 5
    /// minutes, because the service's clock starts only when it picks the request up.
    pub fn wait_timeout(mut self, wait_timeout: Duration) -> Self {
        self.wait_timeout = Some(wait_timeout);
        self
    }

    /// After the backup request failed in a way that leaves open whether the service received it, how long to
    /// watch progress for a sign that it did ([`DEFAULT_AMBIGUOUS_GRACE`] when not set).
    pub fn ambiguous_grace(mut self, grace: Duration) -> Self {
        self.ambiguous_grace = grace;
        self
    }

    /// How failed progress reads are retried ([`RetryPolicy::default`] when not set).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Called with every progress read after the backup request that can describe this backup: the pending
    /// states (`Accepted`, `BackupInProgress`, or states this crate does not know) and finally its result. A
    /// result that belongs to an earlier backup is not passed on. Meant for a spinner or a log line; it runs on
    /// the waiting task, so keep it quick.
    pub fn on_progress(mut self, callback: impl FnMut(&BackupProgress) + Send + 'static) -> Self {
        self.on_progress = Some(Box::new(callback));
        self
    }
}

/// A backup that was written, as [`BackupPartitionRequest::wait`] reports it.
///
/// `Serialize` writes snake_case fields (`backup_id`, `location`, `epoch` with `data_loss_version` and
/// `configuration_version`, `lsn`, `finished_at` in RFC 3339), for a tool's JSON output.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct CompletedBackup {
    /// The identity of the backup that was written.
    pub backup_id: Uuid,
    /// Where the backup was written, relative to the root of its storage.
    pub location: String,
    /// The epoch of the last record in the backup, when the service reported it.
    #[serde(serialize_with = "serialize_epoch")]
    pub epoch: Option<Epoch>,
    /// The log sequence number of the last record in the backup, when the service reported it.
    pub lsn: Option<i64>,
    /// When the backup ended, by the service's clock.
    pub finished_at: DateTime<Utc>,
}

fn serialize_epoch<S: serde::Serializer>(
    epoch: &Option<Epoch>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    #[derive(serde::Serialize)]
    struct EpochJson {
        data_loss_version: i64,
        configuration_version: i64,
    }
    serde::Serialize::serialize(
        &epoch.map(|epoch| EpochJson {
            data_loss_version: epoch.data_loss_version,
            configuration_version: epoch.configuration_version,
        }),
        serializer,
    )
}

/// Why [`BackupPartitionRequest::wait`] did not return a [`CompletedBackup`].
///
/// Whether a backup may exist afterwards differs by variant; [`WaitError::may_have_been_written`] sums it up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WaitError {
    /// The backup request was refused, or could not be sent, or the progress read before it failed: no backup
    /// was started by this call. A refusal because another backup or a restore runs is
    /// [`Error::is_backup_in_progress`] (HTTP 409).
    #[error(transparent)]
    Request(#[from] Error),

    /// The backup ended with `Failure`; nothing was written.
    #[error("the backup failed: {}", failure_text(failure.as_ref()))]
    Failed {
        /// The service's code and message, when it sent them.
        failure: Option<BackupFailure>,
        /// The progress that reported the failure.
        progress: Box<BackupProgress>,
    },

    /// The backup did not end within its backup timeout: progress says `Timeout`.
    ///
    /// The service starts the backup timeout when it accepts the request and reports `Timeout` when it passes,
    /// but it does not stop the backup: one that finishes later is still written to storage while progress keeps
    /// saying `Timeout` (the REST reference: "though the operation returns back timeout, the backup actually goes
    /// through"). So a backup may exist although this error says it timed out. Look for it in the storage
    /// before starting another one, or retry with a larger
    /// [`backup_timeout`](BackupPartitionRequest::backup_timeout).
    #[error(
        "the backup did not end within its backup timeout (progress says Timeout); it may still have been \
         written to storage, as the service keeps going after reporting Timeout: check the storage before \
         starting another backup, or retry with a larger backup timeout"
    )]
    TimedOut {
        /// The progress that reported the timeout.
        progress: Box<BackupProgress>,
    },

    /// The wait's own deadline ([`WaitOptions::wait_timeout`]) passed before this backup's result showed. The
    /// backup was requested and may still run and succeed; follow it with
    /// [`Client::backup_progress`], and do not request another one before it ends.
    #[error(
        "stopped waiting after {waited:?}; the backup was requested and may still be running (last progress: {})",
        progress_text(last_progress.as_deref())
    )]
    DeadlineExceeded {
        /// How long the wait lasted.
        waited: Duration,
        /// The last progress read, if any.
        last_progress: Option<Box<BackupProgress>>,
    },

    /// The backup request failed in a way that leaves open whether the service received it (the connection
    /// dropped after sending, no answer in time, a gateway timeout), and progress showed no sign of a new backup
    /// within [`WaitOptions::ambiguous_grace`]. The request was not sent again, since that could start a second
    /// backup. Read the partition's progress with [`Client::backup_progress`] before requesting another backup.
    #[error(
        "the backup request may or may not have reached the service ({source}), and progress showed no new \
         backup within {grace:?}; it was not sent again: read the partition's backup progress before retrying \
         (last progress: {})",
        progress_text(last_progress.as_deref())
    )]
    Ambiguous {
        /// The failure of the backup request.
        #[source]
        source: Error,
        /// How long progress was watched.
        grace: Duration,
        /// The last progress read, if any.
        last_progress: Option<Box<BackupProgress>>,
    },

    /// The backup was requested, but its progress could not be read (after the retries of
    /// [`WaitOptions::retry`]); it may still run and succeed.
    #[error("the backup was requested, but its progress could not be read: {source}")]
    ProgressUnavailable {
        /// The failure of the last progress read.
        #[source]
        source: Error,
        /// The last progress read, if any.
        last_progress: Option<Box<BackupProgress>>,
    },

    /// Progress said `Success` but lacked what identifies the backup.
    #[error("the service reported Success without {missing}")]
    IncompleteSuccess {
        /// What was missing: a backup id, a location or a time stamp.
        missing: &'static str,
        /// The progress as read.
        progress: Box<BackupProgress>,
    },
}

fn failure_text(failure: Option<&BackupFailure>) -> String {
    failure.map_or_else(|| "no reason given".to_owned(), ToString::to_string)
}

fn progress_text(progress: Option<&BackupProgress>) -> String {
    progress.map_or_else(|| "none".to_owned(), |progress| progress.state.to_string())
}

impl WaitError {
    /// The last progress read before the wait ended, when one belongs to the error.
    pub fn last_progress(&self) -> Option<&BackupProgress> {
        match self {
            Self::Failed { progress, .. }
            | Self::TimedOut { progress }
            | Self::IncompleteSuccess { progress, .. } => Some(progress),
            Self::DeadlineExceeded { last_progress, .. }
            | Self::Ambiguous { last_progress, .. }
            | Self::ProgressUnavailable { last_progress, .. } => last_progress.as_deref(),
            Self::Request(_) => None,
        }
    }

    /// The error of the request, when the backup request (or the read before it) failed.
    pub fn request_error(&self) -> Option<&Error> {
        match self {
            Self::Request(error) => Some(error),
            _ => None,
        }
    }

    /// Whether a backup from this call may exist in storage despite the error: after [`WaitError::TimedOut`],
    /// [`WaitError::DeadlineExceeded`], [`WaitError::Ambiguous`], [`WaitError::ProgressUnavailable`] and
    /// [`WaitError::IncompleteSuccess`]. Check before requesting another backup.
    pub fn may_have_been_written(&self) -> bool {
        !matches!(self, Self::Request(_) | Self::Failed { .. })
    }
}

/// The work behind [`BackupPartitionRequest::wait`].
pub(crate) async fn wait(
    request: BackupPartitionRequest,
    options: WaitOptions,
) -> Result<CompletedBackup, WaitError> {
    let span = tracing::info_span!(
        "sf_backup_wait",
        partition_id = %request.partition_id(),
        storage_kind = request.storage_kind(),
    );
    wait_in_span(request, options).instrument(span).await
}

async fn wait_in_span(
    request: BackupPartitionRequest,
    options: WaitOptions,
) -> Result<CompletedBackup, WaitError> {
    // Bad input is refused before anything is sent, the progress read below included.
    request.check()?;
    let started = Instant::now();
    let wait_timeout = options.wait_timeout.unwrap_or_else(|| {
        request
            .backup_timeout_setting()
            .unwrap_or(SERVICE_DEFAULT_BACKUP_TIMEOUT)
            .saturating_add(DEFAULT_WAIT_MARGIN)
    });
    let deadline = started
        .checked_add(wait_timeout)
        .unwrap_or_else(|| started + Duration::from_secs(100 * 365 * 24 * 3600));
    let client = request.client().clone();
    let partition_id = request.partition_id();

    // Progress only shows the partition's latest backup, so what it says now is what "not ours" looks like.
    let baseline = read_progress(&client, partition_id, &options.retry).await?;
    tracing::debug!(state = %baseline.state, "progress before the backup request");

    let ambiguous = match request.send().await {
        Ok(()) => {
            tracing::info!("backup accepted");
            None
        }
        Err(error) if may_have_started(&error) => {
            tracing::warn!(%error, "the backup request may have reached the service; not sending it again");
            Some(error)
        }
        Err(error) => return Err(error.into()),
    };

    let mut attribution = Attribution::new(&baseline);
    if ambiguous.is_none() {
        attribution.request_accepted();
    }
    let mut poller = Poller {
        client,
        partition_id,
        interval: options.poll_interval,
        max_interval: options.max_poll_interval.max(options.poll_interval),
        retry: options.retry,
        on_progress: options.on_progress,
        attribution,
        last: None,
    };

    if let Some(source) = ambiguous {
        let grace = options.ambiguous_grace;
        let grace_end = Instant::now()
            .checked_add(grace)
            .map_or(deadline, |end| end.min(deadline));
        match tokio::time::timeout_at(grace_end, poller.run(Until::Accepted)).await {
            Ok(Ok(Some(result))) => return finish(result),
            Ok(Ok(None)) => {
                tracing::info!("progress shows the backup was accepted");
            }
            Ok(Err(read_error)) => {
                tracing::warn!(error = %read_error, "progress could not be read to settle an ambiguous request");
                return Err(poller.ambiguous(source, grace));
            }
            Err(_) => return Err(poller.ambiguous(source, grace)),
        }
    }

    match tokio::time::timeout_at(deadline, poller.run(Until::Result)).await {
        Ok(Ok(Some(result))) => finish(result),
        Ok(Ok(None)) => unreachable!("polling until a result returns one or fails"),
        Ok(Err(source)) => Err(WaitError::ProgressUnavailable {
            source,
            last_progress: poller.last.map(Box::new),
        }),
        Err(_) => {
            let waited = started.elapsed();
            tracing::warn!(?waited, "the wait deadline passed before the backup ended");
            Err(WaitError::DeadlineExceeded {
                waited,
                last_progress: poller.last.map(Box::new),
            })
        }
    }
}

/// Whether a failed backup request may nonetheless have queued a backup, so the outcome must be read from
/// progress rather than assumed.
fn may_have_started(error: &Error) -> bool {
    match error {
        Error::Transport {
            may_have_reached_server,
            ..
        } => *may_have_reached_server,
        Error::Timeout { .. } => true,
        // The gateway gave up waiting for the Backup Restore service, which may still queue the backup.
        Error::Service { .. } => error.is_timeout(),
        // A proxy's error page hides whether it forwarded the request; a success with the wrong shape most
        // likely means the backup was accepted.
        Error::UnexpectedResponse { status, .. } => status.is_server_error() || status.is_success(),
        _ => false,
    }
}

fn finish(progress: BackupProgress) -> Result<CompletedBackup, WaitError> {
    match progress.state {
        BackupState::Success => {
            let missing = if progress.backup_id.is_none() {
                Some("a backup id")
            } else if progress.backup_location.is_none() {
                Some("a backup location")
            } else if progress.time_stamp_utc.is_none() {
                Some("a time stamp")
            } else {
                None
            };
            match (
                missing,
                progress.backup_id,
                &progress.backup_location,
                progress.time_stamp_utc,
            ) {
                (None, Some(backup_id), Some(location), Some(finished_at)) => {
                    tracing::info!(%backup_id, %location, "backup written");
                    Ok(CompletedBackup {
                        backup_id,
                        location: location.clone(),
                        epoch: progress.epoch,
                        lsn: progress.lsn,
                        finished_at,
                    })
                }
                (missing, ..) => Err(WaitError::IncompleteSuccess {
                    missing: missing.unwrap_or("a backup id"),
                    progress: Box::new(progress),
                }),
            }
        }
        BackupState::Failure => {
            tracing::info!(failure = %failure_text(progress.failure.as_ref()), "backup failed");
            Err(WaitError::Failed {
                failure: progress.failure.clone(),
                progress: Box::new(progress),
            })
        }
        _ => {
            tracing::warn!("backup timed out; it may still be written");
            Err(WaitError::TimedOut {
                progress: Box::new(progress),
            })
        }
    }
}

/// Reads progress, retrying failures that may pass by themselves.
async fn read_progress(
    client: &Client,
    partition_id: PartitionId,
    retry: &RetryPolicy,
) -> Result<BackupProgress, Error> {
    let mut retries = 0;
    loop {
        match client.backup_progress(partition_id).await {
            Ok(progress) => return Ok(progress),
            Err(error) if retry.should_retry_read(retries, &error) => {
                let pause = retry.backoff(retries);
                retries += 1;
                tracing::warn!(%error, retry = retries, ?pause, "progress read failed; retrying");
                tokio::time::sleep(pause).await;
            }
            Err(error) => return Err(error),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Until {
    /// Stop at the first sign that the service accepted our request.
    Accepted,
    /// Stop at this backup's result.
    Result,
}

struct Poller {
    client: Client,
    partition_id: PartitionId,
    interval: Duration,
    max_interval: Duration,
    retry: RetryPolicy,
    on_progress: Option<ProgressCallback>,
    attribution: Attribution,
    last: Option<BackupProgress>,
}

impl Poller {
    /// Polls until `until`; returns this backup's terminal progress, or `None` when stopping at acceptance.
    async fn run(&mut self, until: Until) -> Result<Option<BackupProgress>, Error> {
        loop {
            let progress = read_progress(&self.client, self.partition_id, &self.retry).await?;
            let changed = self
                .last
                .as_ref()
                .is_none_or(|last| last.state != progress.state);
            let verdict = self.attribution.observe(&progress);
            if changed {
                tracing::info!(state = %progress.state, "backup progress changed");
            } else {
                tracing::debug!(state = %progress.state, "backup progress");
            }
            let describes_ours = verdict == Verdict::Ours || !progress.state.is_terminal();
            if describes_ours && let Some(callback) = self.on_progress.as_mut() {
                callback(&progress);
            }
            self.last = Some(progress);
            if verdict == Verdict::Ours {
                return Ok(self.last.clone());
            }
            if until == Until::Accepted && self.attribution.accepted() {
                return Ok(None);
            }
            tokio::time::sleep(self.interval).await;
            self.interval = self.interval.mul_f64(POLL_GROWTH).min(self.max_interval);
        }
    }

    fn ambiguous(&mut self, source: Error, grace: Duration) -> WaitError {
        WaitError::Ambiguous {
            source,
            grace,
            last_progress: self.last.take().map(Box::new),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// Terminal progress of the backup this wait requested.
    Ours,
    /// Pending, or a result of an earlier backup.
    NotYet,
}

/// Tells this backup's result from an earlier backup's. Progress has no operation id and shows only the latest
/// backup request, and right after the request it may still show the previous result, so a result counts as
/// ours only when it is newer than what was seen before the request or follows a pending state that cannot be
/// the earlier backup's.
#[derive(Debug)]
struct Attribution {
    /// The newest result known or suspected to be an earlier backup's.
    previous: Option<BackupProgress>,
    /// Set when the baseline showed a backup still pending: the service accepted ours only because that one
    /// ended in between, so until its result shows, pending states and the first result may still be its own.
    previous_may_be_pending: bool,
    /// A pending state was seen that can only be ours, so the next new result is ours.
    armed: bool,
}

impl Attribution {
    fn new(baseline: &BackupProgress) -> Self {
        let terminal = baseline.state.is_terminal();
        Self {
            previous: terminal.then(|| baseline.clone()),
            // `Invalid` means no backup was ever requested; an unknown state may be a pending one.
            previous_may_be_pending: !terminal && baseline.state != BackupState::Invalid,
            armed: false,
        }
    }

    /// Records a 202 for our request. The service refuses a backup while another one runs (409), so a 202 proves
    /// that a backup pending at the baseline had ended before ours was queued, and progress, which shows the
    /// latest request only, now reports ours. Without this, a fast backup of ours could be set aside as the
    /// earlier backup's result and the wait would run into its deadline.
    fn request_accepted(&mut self) {
        self.previous_may_be_pending = false;
    }

    /// Whether what was seen shows that the service accepted a backup after the baseline.
    fn accepted(&self) -> bool {
        self.armed
    }

    fn observe(&mut self, progress: &BackupProgress) -> Verdict {
        if !progress.state.is_terminal() {
            if matches!(
                progress.state,
                BackupState::Accepted | BackupState::BackupInProgress
            ) && !self.previous_may_be_pending
            {
                self.armed = true;
            }
            return Verdict::NotYet;
        }
        let ours = match &self.previous {
            Some(previous) => is_newer(progress, previous),
            None => !self.previous_may_be_pending,
        };
        if ours {
            self.armed = true;
            return Verdict::Ours;
        }
        if self.previous.is_none() {
            // The earlier backup's end; from now on a pending state or another result is ours.
            self.previous = Some(progress.clone());
            self.previous_may_be_pending = false;
        }
        Verdict::NotYet
    }
}

/// Whether terminal `progress` is a later result than `previous`. A pending state in between is not enough on
/// its own: a lagging read could show the previous result again afterwards.
fn is_newer(progress: &BackupProgress, previous: &BackupProgress) -> bool {
    if let (Some(now), Some(before)) = (progress.time_stamp_utc, previous.time_stamp_utc)
        && now != before
    {
        return now > before;
    }
    progress.state != previous.state
        || progress.backup_id != previous.backup_id
        || progress.backup_location != previous.backup_location
        || progress.time_stamp_utc != previous.time_stamp_utc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(json: serde_json::Value) -> BackupProgress {
        BackupProgress::from_api(serde_json::from_value(json).unwrap())
    }

    fn pending(state: &str) -> BackupProgress {
        progress(serde_json::json!({ "BackupState": state }))
    }

    fn success(id: &str, time: &str) -> BackupProgress {
        progress(serde_json::json!({
            "BackupState": "Success",
            "BackupId": id,
            "BackupLocation": format!("app/svc/{id}.zip"),
            "TimeStampUtc": time,
        }))
    }

    const OLD: &str = "11111111-1111-4111-8111-111111111111";
    const NEW: &str = "22222222-2222-4222-8222-222222222222";

    #[test]
    fn the_previous_result_shown_after_the_request_is_not_ours() {
        let old = success(OLD, "2024-01-01T00:00:00Z");
        let mut attribution = Attribution::new(&old);
        assert_eq!(attribution.observe(&old), Verdict::NotYet);
        assert!(!attribution.accepted());
        assert_eq!(attribution.observe(&pending("Accepted")), Verdict::NotYet);
        assert!(attribution.accepted());
        // A lagging read repeating the old result still does not count.
        assert_eq!(attribution.observe(&old), Verdict::NotYet);
        assert_eq!(
            attribution.observe(&success(NEW, "2024-01-01T00:05:00Z")),
            Verdict::Ours
        );
    }

    #[test]
    fn a_newer_result_counts_without_a_pending_state_seen_and_an_older_one_never() {
        let old = success(OLD, "2024-01-01T00:00:00Z");
        let mut attribution = Attribution::new(&old);
        assert_eq!(
            attribution.observe(&success(NEW, "2023-12-31T00:00:00Z")),
            Verdict::NotYet
        );
        let failure = progress(serde_json::json!({
            "BackupState": "Failure",
            "TimeStampUtc": "2024-01-01T00:01:00Z",
            "FailureError": {"Code": "E_FAIL"}
        }));
        assert_eq!(attribution.observe(&failure), Verdict::Ours);
    }

    #[test]
    fn with_no_backup_before_any_result_is_ours() {
        let mut attribution = Attribution::new(&pending("Invalid"));
        assert_eq!(attribution.observe(&pending("Invalid")), Verdict::NotYet);
        assert!(!attribution.accepted());
        assert_eq!(
            attribution.observe(&success(NEW, "2024-01-01T00:00:00Z")),
            Verdict::Ours
        );
    }

    #[test]
    fn when_a_backup_was_pending_and_our_request_is_unconfirmed_its_result_is_not_ours_yet() {
        let mut attribution = Attribution::new(&pending("BackupInProgress"));
        // Still the earlier backup, as far as anyone can tell.
        assert_eq!(
            attribution.observe(&pending("BackupInProgress")),
            Verdict::NotYet
        );
        assert!(!attribution.accepted());
        assert_eq!(
            attribution.observe(&success(OLD, "2024-01-01T00:00:00Z")),
            Verdict::NotYet
        );
        assert_eq!(attribution.observe(&pending("Accepted")), Verdict::NotYet);
        assert!(attribution.accepted());
        assert_eq!(
            attribution.observe(&success(NEW, "2024-01-01T00:02:00Z")),
            Verdict::Ours
        );
    }

    #[test]
    fn after_a_202_the_first_result_is_ours_even_when_a_backup_was_pending_before() {
        let mut attribution = Attribution::new(&pending("BackupInProgress"));
        attribution.request_accepted();
        assert_eq!(
            attribution.observe(&success(NEW, "2024-01-01T00:02:00Z")),
            Verdict::Ours
        );
    }

    #[test]
    fn completed_backups_serialise_for_tools() {
        let backup = finish(progress(serde_json::json!({
            "BackupState": "Success",
            "BackupId": NEW,
            "BackupLocation": "app/svc/x.zip",
            "TimeStampUtc": "2024-01-01T00:00:00Z",
            "EpochOfLastBackupRecord": {"DataLossVersion": "2", "ConfigurationVersion": "3"},
            "LsnOfLastBackupRecord": "36"
        })))
        .unwrap();
        assert_eq!(
            serde_json::to_value(&backup).unwrap(),
            serde_json::json!({
                "backup_id": NEW,
                "location": "app/svc/x.zip",
                "epoch": {"data_loss_version": 2, "configuration_version": 3},
                "lsn": 36,
                "finished_at": "2024-01-01T00:00:00Z"
            })
        );
    }

    #[test]
    fn a_success_without_an_id_is_reported_not_invented() {
        let error = finish(progress(serde_json::json!({
            "BackupState": "Success",
            "BackupLocation": "app/svc/x.zip",
            "TimeStampUtc": "2024-01-01T00:00:00Z"
        })))
        .unwrap_err();
        assert!(matches!(
            error,
            WaitError::IncompleteSuccess {
                missing: "a backup id",
                ..
            }
        ));
        assert!(error.may_have_been_written());
    }

    #[test]
    fn ambiguous_request_failures_are_told_from_refusals() {
        let status = |status, code: &str| Error::Service {
            status,
            code: crate::ErrorCode::from(code),
            message: String::new(),
        };
        use reqwest::StatusCode;
        assert!(may_have_started(&Error::Timeout {
            after: Duration::from_secs(1)
        }));
        assert!(may_have_started(&status(
            StatusCode::GATEWAY_TIMEOUT,
            "FABRIC_E_TIMEOUT"
        )));
        assert!(!may_have_started(&status(
            StatusCode::CONFLICT,
            "FABRIC_E_BACKUP_IN_PROGRESS"
        )));
        assert!(!may_have_started(&status(
            StatusCode::SERVICE_UNAVAILABLE,
            "FABRIC_E_NOT_READY"
        )));
        assert!(may_have_started(&Error::UnexpectedResponse {
            status: StatusCode::BAD_GATEWAY,
            reason: String::new(),
            body: String::new(),
        }));
    }
}
