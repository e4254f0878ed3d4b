//! Waiting for a backup: the backup as an [`Operation`] of the long-running-operation core, its options, and
//! the entry points [`BackupPartitionRequest::wait`] and [`Client::follow_backup`]. What a backup's `Timeout`
//! means (a look in storage) is in `written.rs`; its outcome and errors in `outcome.rs`.

mod outcome;
mod written;

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;
use uuid::Uuid;

pub use outcome::{CompletedBackup, WaitError};
use written::DEFAULT_CLOCK_SKEW;
pub use written::{
    BackupWindow, Candidate, CandidateReason, ListedStorage, StorageCheck, WrittenLook,
};

use crate::operation::{
    self, BoxFuture, Conclusion, Mode, Operation, OperationWait, Phase, Settings,
};
use crate::{
    BackupPartitionRequest, BackupProgress, BackupState, BackupStorage, Client, Error, PartitionId,
};

/// The shortest pause between two progress reads that [`WaitOptions`] accepts: a shorter one would poll the
/// cluster's gateway without pause.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_millis(10);

const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);
const DEFAULT_MAX_POLL_INTERVAL: Duration = Duration::from_secs(10);
const DEFAULT_LOST_ANSWER_WATCH: Duration = Duration::from_secs(15);
const DEFAULT_LATE_WRITE_WATCH: Duration = Duration::from_secs(120);
/// The service's `BackupTimeout` when the request sets none.
pub(crate) const SERVICE_DEFAULT_BACKUP_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Progress needs a moment to say `Timeout` once the backup timeout passed, so the default wait outlasts the
/// backup timeout by this much.
const DEFAULT_WAIT_MARGIN: Duration = Duration::from_secs(5 * 60);

/// A wait for a backup's outcome, from [`BackupPartitionRequest::wait`] or [`Client::follow_backup`]: await it
/// for the [`CompletedBackup`], or read it as a [`Stream`](futures_core::Stream) of [`WaitEvent`](crate::WaitEvent)s first.
///
/// ```no_run
/// # async fn demo(client: sf_backup::Client, id: sf_backup::PartitionId) -> Result<(), Box<dyn std::error::Error>> {
/// // `StreamExt::next` comes from the futures crate (futures-util); `poll_fn` needs nothing beyond std.
/// use std::future::poll_fn;
/// use std::pin::Pin;
/// use futures_core::Stream;
/// use sf_backup::{WaitEvent, WaitOptions};
///
/// let mut wait = client.backup_partition(id).wait(WaitOptions::new());
/// while let Some(event) = poll_fn(|cx| Pin::new(&mut wait).poll_next(cx)).await {
///     match event {
///         WaitEvent::Progress(progress) => eprintln!("backup: {}", progress.state),
///         WaitEvent::UnknownState(progress) => eprintln!("backup: {} (unknown state)", progress.state),
///         WaitEvent::Retrying { cause, attempt } => eprintln!("retrying: {cause} (attempt {attempt})"),
///         _ => {}
///     }
/// }
/// let backup = wait.outcome().await?;
/// println!("{} written to {}", backup.backup_id, backup.location);
/// # Ok(()) }
/// ```
pub type BackupWait = OperationWait<BackupProgress, CompletedBackup, WaitError>;

/// A progress callback, shared by the clones of the [`WaitOptions`] it is set on.
#[derive(Clone, Default)]
struct OnProgress(Option<SharedCallback>);

type SharedCallback = Arc<Mutex<dyn FnMut(&BackupProgress) + Send>>;

impl fmt::Debug for OnProgress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Some(<callback>)"
        } else {
            "None"
        })
    }
}

/// How a wait ([`BackupPartitionRequest::wait`], [`Client::follow_backup`]) reads progress; every setting has
/// a default. Failed reads are retried under the client's [`RetryPolicy`](crate::RetryPolicy)
/// ([`ClientBuilder::retry`](crate::ClientBuilder::retry)). See [Timeouts](crate#timeouts) for every time
/// setting of the crate.
///
/// ```
/// use std::time::Duration;
/// use sf_backup::WaitOptions;
///
/// let options = WaitOptions::new()
///     .poll_interval(Duration::from_millis(500))
///     .max_poll_interval(Duration::from_secs(5))
///     .wait_timeout(Duration::from_secs(30 * 60))
///     .on_progress(|progress| eprintln!("backup: {}", progress.state));
/// let again = options.clone();
/// # let _ = (options, again);
/// ```
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct WaitOptions {
    poll_interval: Option<Duration>,
    max_poll_interval: Option<Duration>,
    wait_timeout: Option<Duration>,
    lost_answer_watch: Option<Duration>,
    late_write_watch: Option<Duration>,
    clock_skew: Option<Duration>,
    service_name: Option<String>,
    on_progress: OnProgress,
}

impl WaitOptions {
    /// The defaults: poll after 1 second, then 1.5 times longer each time up to 10 seconds; give up after the
    /// backup timeout plus 5 minutes.
    pub fn new() -> Self {
        Self::default()
    }

    /// The pause after the first progress read (1 second when not set). Each later pause is 1.5 times the one
    /// before, up to [`max_poll_interval`](Self::max_poll_interval). Below [`MIN_POLL_INTERVAL`] the wait
    /// refuses to start ([`WaitError::Request`] with [`Error::InvalidInput`]).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = Some(interval);
        self
    }

    /// The longest pause between two progress reads (10 seconds when not set).
    pub fn max_poll_interval(mut self, interval: Duration) -> Self {
        self.max_poll_interval = Some(interval);
        self
    }

    /// How long the whole wait may last, counted from the call: the progress read before the backup request,
    /// the request itself, every read, retry and look fit inside it, whatever the server does. When it passes
    /// the wait ends with [`WaitError::WaitTimeout`]; a backup that was requested goes on at the service.
    ///
    /// When not set: the request's [backup timeout](BackupPartitionRequest::backup_timeout) (the service's
    /// default is 10 minutes) plus 5 minutes; 15 minutes when following.
    pub fn wait_timeout(mut self, wait_timeout: Duration) -> Self {
        self.wait_timeout = Some(wait_timeout);
        self
    }

    /// After the backup request's answer was lost (it may or may not have reached the service), how long to
    /// watch progress for a sign that it did (15 seconds when not set; never past the wait's deadline). No sign:
    /// [`WaitError::Ambiguous`].
    pub fn lost_answer_watch(mut self, watch: Duration) -> Self {
        self.lost_answer_watch = Some(watch);
        self
    }

    /// After the service reported `Timeout`, how long to keep looking in storage for a backup of this request
    /// written late (120 seconds when not set; never past the wait's deadline; zero looks once): the replica's
    /// own deadline starts later than the service's, so a backup can land after progress said `Timeout`.
    pub fn late_write_watch(mut self, watch: Duration) -> Self {
        self.late_write_watch = Some(watch);
        self
    }

    /// After the service reported `Timeout`, how far the clocks of this machine and of the node that took the
    /// backup may disagree (60 seconds when not set): the window searched opens this much before the backup
    /// request and closes this much after the look. Not a wait: it widens a window.
    pub fn clock_skew(mut self, skew: Duration) -> Self {
        self.clock_skew = Some(skew);
        self
    }

    /// The full name of the partition's service (`fabric:/App/Service`), needed to look for a timed-out backup
    /// in a storage given [explicitly](BackupPartitionRequest::storage): GetBackupsFromBackupLocation lists a
    /// partition's folder by its service name. Without it the wait learns the name from the partition's policy
    /// list when it can, and otherwise reports that it could not check.
    pub fn service_name(mut self, service_name: impl Into<String>) -> Self {
        self.service_name = Some(service_name.into());
        self
    }

    /// Called with every progress read that describes this backup: the pending states (`Accepted`,
    /// `BackupInProgress`, or states this crate does not know) and finally its result. It runs on the waiting
    /// task, so keep it quick; clones of these options share it. To drive a display without a `'static`
    /// callback, read the [`BackupWait`] as a stream instead.
    pub fn on_progress(mut self, callback: impl FnMut(&BackupProgress) + Send + 'static) -> Self {
        self.on_progress = OnProgress(Some(Arc::new(Mutex::new(callback))));
        self
    }

    /// The same options without the progress callback.
    pub(crate) fn without_callback(mut self) -> Self {
        self.on_progress = OnProgress(None);
        self
    }

    fn check(&self) -> Result<(), Error> {
        let interval = self.poll_interval.unwrap_or(DEFAULT_POLL_INTERVAL);
        if interval < MIN_POLL_INTERVAL {
            return Err(Error::invalid(
                "poll interval",
                format!("{interval:?} is shorter than the minimum of {MIN_POLL_INTERVAL:?}"),
                "poll at most every 10 milliseconds; a few seconds suit a real cluster",
            ));
        }
        Ok(())
    }

    fn settings(&self, client: &Client, timeout: Duration) -> Settings<BackupProgress> {
        let callback = self.on_progress.0.clone().map(|shared| {
            Box::new(move |progress: &BackupProgress| {
                (shared.lock().unwrap_or_else(PoisonError::into_inner))(progress);
            }) as operation::Callback<BackupProgress>
        });
        Settings {
            timeout: self.wait_timeout.unwrap_or(timeout),
            poll_interval: self.poll_interval.unwrap_or(DEFAULT_POLL_INTERVAL),
            max_poll_interval: self.max_poll_interval.unwrap_or(DEFAULT_MAX_POLL_INTERVAL),
            lost_answer_watch: self.lost_answer_watch.unwrap_or(DEFAULT_LOST_ANSWER_WATCH),
            retry: client.retry_policy().clone(),
            callback,
        }
    }
}

/// The backup as a long-running operation.
struct Backup {
    client: Client,
    partition_id: PartitionId,
    /// The request, until it is sent; `None` when following.
    request: Option<BackupPartitionRequest>,
    backup_timeout: Option<Duration>,
    server_timeout: Option<Duration>,
    /// The look after `Timeout`, with the request's storage and the options' settings; its time set at the end.
    look: WrittenLook,
    /// When the request was sent, by this machine's clock.
    requested_at: Option<DateTime<Utc>>,
    /// The backup progress named before the request: an earlier one, never this request's.
    earlier_backup: Option<Uuid>,
}

impl Operation for Backup {
    type Progress = BackupProgress;
    type Output = CompletedBackup;
    type Error = WaitError;

    fn start(&mut self, before: &BackupProgress, cap: Instant) -> BoxFuture<'_, Result<(), Error>> {
        self.earlier_backup = before.backup_id;
        // Taken just before sending: the service's `RequestDateTime` is taken while it serves the request.
        self.requested_at = Some(Utc::now());
        let request = self.request.take();
        Box::pin(async move {
            match request {
                Some(request) => request.send_before(Some(cap)).await,
                None => Err(Error::invalid(
                    "wait",
                    "a backup request is sent once",
                    "start a new wait",
                )),
            }
        })
    }

    fn read(&self, cap: Instant) -> BoxFuture<'_, Result<BackupProgress, Error>> {
        let mut request = self.client.backup_progress(self.partition_id);
        if let Some(timeout) = self.server_timeout {
            request = request.server_timeout(timeout);
        }
        Box::pin(request.send_before(Some(cap)))
    }

    fn phase(progress: &BackupProgress) -> Phase {
        match progress.state {
            BackupState::NotRequested | BackupState::Invalid => Phase::NotRequested,
            BackupState::Accepted | BackupState::BackupInProgress => Phase::Pending,
            BackupState::Success | BackupState::Failure | BackupState::Timeout => Phase::Ended,
            _ => Phase::Unknown,
        }
    }

    /// Any difference at all, never time order alone: clocks of different nodes disagree, Failure and Timeout
    /// carry no time stamp, and two results in the same second share one.
    fn changed(progress: &BackupProgress, before: &BackupProgress) -> bool {
        progress.state != before.state
            || progress.backup_id != before.backup_id
            || progress.failure != before.failure
            || progress.time_stamp_utc != before.time_stamp_utc
            || progress.backup_location != before.backup_location
    }

    fn conclude(
        &self,
        progress: BackupProgress,
        context: Conclusion<BackupProgress>,
    ) -> BoxFuture<'_, Result<CompletedBackup, WaitError>> {
        Box::pin(async move {
            if progress.state != BackupState::Timeout {
                return outcome::finish(progress);
            }
            tracing::warn!("the service reported Timeout; the backup may still be written");
            let check = self.look(&context).await;
            Err(WaitError::ServiceTimeout {
                progress: Box::new(progress),
                check,
            })
        })
    }
}

impl Backup {
    /// The backup of `partition_id`: requested with `request`, or followed when there is none.
    fn new(
        client: Client,
        partition_id: PartitionId,
        request: Option<BackupPartitionRequest>,
        options: WaitOptions,
    ) -> Self {
        let mut look = client
            .look_for_written_backup(partition_id, DateTime::<Utc>::MIN_UTC)
            .late_write_watch(options.late_write_watch.unwrap_or(DEFAULT_LATE_WRITE_WATCH))
            .clock_skew(options.clock_skew.unwrap_or(DEFAULT_CLOCK_SKEW));
        look.storage = request.as_ref().and_then(|r| r.storage.clone());
        look.service_name = options.service_name;
        Self {
            client,
            partition_id,
            backup_timeout: request.as_ref().and_then(|r| r.backup_timeout),
            server_timeout: request.as_ref().and_then(|r| r.timeout),
            request,
            look,
            requested_at: None,
            earlier_backup: None,
        }
    }

    /// After `Timeout`: the look in the storage the request used, from the request's time (or, when following,
    /// an estimate from when the backup was first seen pending).
    async fn look(&self, context: &Conclusion<BackupProgress>) -> StorageCheck {
        let estimate = || {
            let backup_timeout = self
                .backup_timeout
                .unwrap_or(SERVICE_DEFAULT_BACKUP_TIMEOUT);
            let first = context.first_pending?;
            first.checked_sub_signed(chrono::Duration::from_std(backup_timeout).ok()?)
        };
        let Some(requested_at) = self.requested_at.or_else(estimate) else {
            return StorageCheck::NotChecked {
                reason: "this wait saw only the result, so it does not know when the backup was requested"
                    .to_owned(),
            };
        };
        let mut look = self.look.clone();
        look.requested_at = requested_at;
        look.excluding = self.earlier_backup;
        look.run(context).await
    }
}

impl BackupPartitionRequest {
    /// Sends the request once, then follows progress until this backup ends: await the returned
    /// [`BackupWait`] for the backup that was written, or read it as a stream of [`WaitEvent`](crate::WaitEvent)s first.
    ///
    /// **Attribution.** Progress shows only the partition's latest backup request, without an operation id. The
    /// service answers 202 only after it has stored the new request's status, and progress is read from the same
    /// primary, so after a 202 every state read describes this request: its first result is this backup's.
    /// Only when the answer to the request was lost (a connection dropped after sending, no answer in time, a
    /// gateway timeout) does the wait compare with what progress said before the request: any change (state,
    /// backup id, failure, time stamp, location) shows that the request arrived; no change within
    /// [`WaitOptions::lost_answer_watch`] ends the wait with [`WaitError::Ambiguous`]. The request is never sent
    /// again.
    ///
    /// **One deadline.** [`WaitOptions::wait_timeout`] bounds everything: the progress read before the request,
    /// the request, every read, retry and look; each answer deadline is cut to the time left. Failed reads are
    /// retried as the client's [`RetryPolicy`](crate::RetryPolicy) says (also how soon a wait gives up before
    /// the request), each retry shown on the stream ([`WaitEvent::Retrying`](crate::WaitEvent::Retrying)).
    ///
    /// # Errors
    ///
    /// [`WaitError::Request`] when nothing was started (the request was refused, such as 409 while another
    /// backup runs, or could not be sent, or the read before it failed, or an argument is invalid);
    /// [`WaitError::Failed`] and [`WaitError::ServiceTimeout`] for the backup's own outcome (after `Timeout` the
    /// wait looks in storage: see [`StorageCheck`]); [`WaitError::WaitTimeout`] when the wait timeout passes
    /// first; [`WaitError::Ambiguous`] and [`WaitError::ProgressUnavailable`] when the outcome could not be
    /// learnt. [`WaitError::kind`] names each for scripts.
    ///
    /// ```no_run
    /// # async fn demo(client: sf_backup::Client, id: sf_backup::PartitionId) -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use sf_backup::{BackupStorage, WaitError, WaitOptions};
    ///
    /// let options = WaitOptions::new().wait_timeout(Duration::from_secs(20 * 60));
    /// match client
    ///     .backup_partition(id)
    ///     .storage(BackupStorage::azure_blob_store("DefaultEndpointsProtocol=https;...", "BackupContainer"))
    ///     .wait(options)
    ///     .await
    /// {
    ///     Ok(backup) => println!("backup {} written to {}", backup.backup_id, backup.location),
    ///     Err(error) if error.found_backup().is_some() => {
    ///         println!("the service said Timeout, but the backup was written: {error}");
    ///     }
    ///     Err(WaitError::Request(error)) if error.is_backup_in_progress() => {
    ///         eprintln!("another backup is running; try again later");
    ///     }
    ///     Err(error) => return Err(error.into()),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn wait(self, options: WaitOptions) -> BackupWait {
        let span = tracing::info_span!(
            "sf_backup_wait",
            partition_id = %self.partition_id,
            storage_kind = self.storage.as_ref().map(BackupStorage::kind),
        );
        let client = self.client.clone();
        let timeout = self
            .backup_timeout
            .unwrap_or(SERVICE_DEFAULT_BACKUP_TIMEOUT)
            .saturating_add(DEFAULT_WAIT_MARGIN);
        let settings = options.settings(&client, timeout);
        let checked = options.check().and_then(|()| self.check());
        let backup = Backup::new(client, self.partition_id, Some(self), options);
        operation::wait(backup, settings, Mode::Start, span, checked)
    }
}

impl Client {
    /// Follows the partition's current backup to its end, without requesting one: after Ctrl-C, a lost
    /// terminal, or a backup started elsewhere. When the latest backup has already ended, its result is the
    /// outcome at once; when none was ever requested, [`WaitError::NothingToFollow`].
    ///
    /// ```no_run
    /// # async fn demo(client: sf_backup::Client, id: sf_backup::PartitionId) -> Result<(), Box<dyn std::error::Error>> {
    /// let backup = client.follow_backup(id, sf_backup::WaitOptions::new()).await?;
    /// println!("{} written to {}", backup.backup_id, backup.location);
    /// # Ok(()) }
    /// ```
    pub fn follow_backup(&self, partition_id: PartitionId, options: WaitOptions) -> BackupWait {
        let span = tracing::info_span!("sf_backup_follow", partition_id = %partition_id);
        let timeout = SERVICE_DEFAULT_BACKUP_TIMEOUT.saturating_add(DEFAULT_WAIT_MARGIN);
        let settings = options.settings(self, timeout);
        let checked = options.check();
        let backup = Backup::new(self.clone(), partition_id, None, options);
        operation::wait(backup, settings, Mode::Follow, span, checked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::settles;

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

    fn failure(code: &str) -> BackupProgress {
        progress(serde_json::json!({
            "BackupState": "Failure",
            "TimeStampUtc": "0001-01-01T00:00:00Z",
            "FailureError": {"Code": code, "Message": "upload failed"}
        }))
    }

    fn backup() -> Backup {
        let client = Client::new("http://localhost:19080").unwrap();
        let id = "1daae3f5-7fd6-42e9-b1ba-8c05f873994d".parse().unwrap();
        Backup::new(client, id, None, WaitOptions::new())
    }

    const OLD: &str = "11111111-1111-4111-8111-111111111111";
    const NEW: &str = "22222222-2222-4222-8222-222222222222";

    #[test]
    fn a_lost_answer_is_settled_by_any_change_never_time_order() {
        let backup = backup();
        let old = success(OLD, "2024-01-01T00:00:10Z");
        let mut before = old.clone();
        assert!(!settles(&backup, &mut before, &old));
        // A newer backup stamped by a node whose clock is behind is still a change.
        assert!(settles(
            &backup,
            &mut before,
            &success(NEW, "2024-01-01T00:00:05Z")
        ));
        // Two results in the same second differ by id.
        let mut before = old.clone();
        assert!(settles(
            &backup,
            &mut before,
            &success(NEW, "2024-01-01T00:00:10Z")
        ));
        // A failure with no time stamp after a failure with another code.
        let mut before = failure("E_FAIL");
        assert!(!settles(&backup, &mut before, &failure("E_FAIL")));
        assert!(settles(
            &backup,
            &mut before,
            &failure("FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR")
        ));
    }

    #[test]
    fn behind_a_pending_backup_its_end_is_not_ours() {
        let backup = backup();
        let mut before = pending("BackupInProgress");
        assert!(!settles(&backup, &mut before, &pending("BackupInProgress")));
        let theirs = success(OLD, "2024-01-01T00:00:00Z");
        assert!(!settles(&backup, &mut before, &theirs));
        assert!(!settles(&backup, &mut before, &theirs));
        assert!(settles(&backup, &mut before, &pending("Accepted")));
        // Behind a state this version does not know, the same.
        let mut before = pending("Cancelling");
        assert!(!settles(&backup, &mut before, &theirs));
        assert!(settles(&backup, &mut before, &pending("Accepted")));
    }

    #[test]
    fn with_no_backup_before_any_state_is_ours() {
        let backup = backup();
        let mut before = BackupProgress::from_api(None);
        assert!(!settles(
            &backup,
            &mut before,
            &BackupProgress::from_api(None)
        ));
        assert!(settles(&backup, &mut before, &pending("Accepted")));
    }

    #[test]
    fn phases_of_each_state() {
        assert_eq!(
            Backup::phase(&BackupProgress::from_api(None)),
            Phase::NotRequested
        );
        assert_eq!(Backup::phase(&pending("Invalid")), Phase::NotRequested);
        assert_eq!(Backup::phase(&pending("Accepted")), Phase::Pending);
        assert_eq!(Backup::phase(&pending("BackupInProgress")), Phase::Pending);
        assert_eq!(Backup::phase(&pending("Cancelled")), Phase::Unknown);
        assert_eq!(Backup::phase(&failure("E_FAIL")), Phase::Ended);
        assert_eq!(Backup::phase(&pending("Timeout")), Phase::Ended);
    }

    #[test]
    fn options_are_cloned_with_their_callback_and_debugged_without_it() {
        let count = Arc::new(Mutex::new(0));
        let seen = Arc::clone(&count);
        let options = WaitOptions::new().on_progress(move |_| *seen.lock().unwrap() += 1);
        let client = Client::new("http://localhost:19080").unwrap();
        for copy in [options.clone(), options.clone()] {
            let mut callback = copy.settings(&client, Duration::ZERO).callback.unwrap();
            callback(&pending("Accepted"));
        }
        assert_eq!(*count.lock().unwrap(), 2);
        assert!(format!("{options:?}").contains("<callback>"));
    }
}
