use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};
use tokio::time::Instant;
use tracing::Instrument;
use uuid::Uuid;

use crate::{
    BackupEntity, BackupFailure, BackupInfo, BackupPartitionRequest, BackupProgress, BackupState,
    BackupStorage, Client, Epoch, Error, PartitionId, RetryPolicy,
};

/// The default pause before the second progress read; later pauses grow by half each time.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// The default longest pause between two progress reads.
pub const DEFAULT_MAX_POLL_INTERVAL: Duration = Duration::from_secs(10);
/// The shortest pause between two progress reads that [`WaitOptions`] accepts: a shorter one would poll the
/// cluster's gateway without pause.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_millis(10);
/// The default time a wait watches progress after an ambiguous failure of the backup request before it gives up
/// with [`WaitError::Ambiguous`].
pub const DEFAULT_AMBIGUOUS_GRACE: Duration = Duration::from_secs(15);

/// The default allowance for the clocks of this machine and of the node that takes the backup when a wait looks
/// for a backup written after `Timeout`: the window opens this much before the request and closes this much after
/// the look.
pub const DEFAULT_CLOCK_ALLOWANCE: Duration = Duration::from_secs(60);
/// The default time a wait keeps looking in storage after the service reported `Timeout`: the replica's own
/// deadline starts when it receives the request, later than the service's (queueing, the 5 s work-item poll, a
/// 1-minute retry), so a backup can land after progress said `Timeout`.
pub const DEFAULT_WRITTEN_GRACE: Duration = Duration::from_secs(120);

/// Each pause between polls is this much longer than the one before, up to the maximum.
const POLL_GROWTH: f64 = 1.5;
/// The service's `BackupTimeout` when the request sets none.
const SERVICE_DEFAULT_BACKUP_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Progress needs a moment to say `Timeout` once the backup timeout passed, so the default wait outlasts the
/// backup timeout by this much.
const DEFAULT_WAIT_MARGIN: Duration = Duration::from_secs(5 * 60);

type ProgressCallback = Box<dyn FnMut(&BackupProgress) + Send>;

/// How a wait ([`BackupPartitionRequest::wait`], [`Client::follow_backup`]) polls for the outcome.
///
/// ```
/// use std::time::Duration;
/// use sf_backup::{RetryPolicy, WaitOptions};
///
/// let options = WaitOptions::new()
///     .poll_interval(Duration::from_millis(500))
///     .max_poll_interval(Duration::from_secs(5))
///     .wait_timeout(Duration::from_secs(30 * 60))
///     .retry(RetryPolicy::default().max_backoff(Duration::from_secs(10)))
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
    clock_allowance: Duration,
    written_grace: Duration,
    service_name: Option<String>,
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
            clock_allowance: DEFAULT_CLOCK_ALLOWANCE,
            written_grace: DEFAULT_WRITTEN_GRACE,
            service_name: None,
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
            .field("clock_allowance", &self.clock_allowance)
            .field("written_grace", &self.written_grace)
            .field("service_name", &self.service_name)
            .finish()
    }
}

impl WaitOptions {
    /// The defaults: poll after 1 second, then 1.5 times longer each time up to 10 seconds; retry failed reads
    /// with [`RetryPolicy::default`] until the wait's deadline; give up after the backup timeout plus 5 minutes.
    pub fn new() -> Self {
        Self::default()
    }

    /// The pause after the first progress read ([`DEFAULT_POLL_INTERVAL`] when not set). Each later pause is 1.5
    /// times the one before, up to [`max_poll_interval`](Self::max_poll_interval). Below [`MIN_POLL_INTERVAL`]
    /// the wait refuses to start ([`WaitError::Request`] with [`Error::InvalidInput`]).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// The longest pause between two progress reads ([`DEFAULT_MAX_POLL_INTERVAL`] when not set).
    pub fn max_poll_interval(mut self, interval: Duration) -> Self {
        self.max_poll_interval = interval;
        self
    }

    /// How long the whole wait may last, counted from the call: the progress read before the backup request,
    /// the request itself, every poll and every retry fit inside it, whatever the server does. When it passes
    /// the wait ends with [`WaitError::WaitTimedOut`]; a backup that was requested goes on at the service.
    ///
    /// When not set: the request's [backup timeout](BackupPartitionRequest::backup_timeout) (the service's
    /// default is 10 minutes) plus 5 minutes.
    pub fn wait_timeout(mut self, wait_timeout: Duration) -> Self {
        self.wait_timeout = Some(wait_timeout);
        self
    }

    /// After the backup request failed in a way that leaves open whether the service received it, how long to
    /// watch progress for a sign that it did ([`DEFAULT_AMBIGUOUS_GRACE`] when not set; never past the wait's
    /// deadline).
    pub fn ambiguous_grace(mut self, grace: Duration) -> Self {
        self.ambiguous_grace = grace;
        self
    }

    /// How failed progress reads are retried ([`RetryPolicy::default`] when not set).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Called with every progress read that describes this backup: the pending states (`Accepted`,
    /// `BackupInProgress`, or states this crate does not know) and finally its result. It runs on the waiting
    /// task, so keep it quick. To drive a progress display without a `'static` callback, read the
    /// [`BackupWait`] as a [`Stream`](futures_core::Stream) instead.
    pub fn on_progress(mut self, callback: impl FnMut(&BackupProgress) + Send + 'static) -> Self {
        self.on_progress = Some(Box::new(callback));
        self
    }

    /// After the service reported `Timeout`, how much earlier than the backup request (and later than the look)
    /// a backup's creation time may be and still count as this request's ([`DEFAULT_CLOCK_ALLOWANCE`] when not
    /// set): the creation time comes from the clock of the node that took the backup, in whole seconds.
    pub fn clock_allowance(mut self, allowance: Duration) -> Self {
        self.clock_allowance = allowance;
        self
    }

    /// After the service reported `Timeout`, how long to keep looking in storage for a backup written in this
    /// request's window ([`DEFAULT_WRITTEN_GRACE`] when not set; never past the wait's deadline). Zero looks once.
    pub fn written_grace(mut self, grace: Duration) -> Self {
        self.written_grace = grace;
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

    /// The same settings, without the progress callback (which cannot be shared).
    pub(crate) fn settings(&self) -> WaitOptions {
        WaitOptions {
            poll_interval: self.poll_interval,
            max_poll_interval: self.max_poll_interval,
            wait_timeout: self.wait_timeout,
            ambiguous_grace: self.ambiguous_grace,
            retry: self.retry.clone(),
            on_progress: None,
            clock_allowance: self.clock_allowance,
            written_grace: self.written_grace,
            service_name: self.service_name.clone(),
        }
    }

    fn check(&self) -> Result<(), Error> {
        if self.poll_interval < MIN_POLL_INTERVAL {
            return Err(Error::invalid(
                "poll interval",
                format!(
                    "{:?} is shorter than the minimum of {MIN_POLL_INTERVAL:?}",
                    self.poll_interval
                ),
                "poll at most every 10 milliseconds; a few seconds suit a real cluster",
            ));
        }
        Ok(())
    }
}

/// A backup that was written, as a wait reports it.
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
    /// When the backup ended, by the clock of the node that wrote it.
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

/// The window a wait searched for a backup written after the service reported `Timeout`: from the backup
/// request minus the [clock allowance](WaitOptions::clock_allowance) (and the second the service truncates), to
/// the look plus the allowance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct BackupWindow {
    /// The earliest creation time that counts.
    pub from: DateTime<Utc>,
    /// The latest creation time that counts.
    pub to: DateTime<Utc>,
}

impl BackupWindow {
    fn contains(&self, time: DateTime<Utc>) -> bool {
        self.from <= time && time <= self.to
    }
}

/// A backup in storage that may be a timed-out request's, and why.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct Candidate {
    /// The backup, as the list reported it.
    pub backup: BackupInfo,
    /// Why it counts: its shape and creation time against the window, and what else would look the same.
    pub reason: String,
}

/// What a wait's look into storage found after the service reported `Timeout` without naming a backup.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageCheck {
    /// The storage the request used was listed until the [grace](WaitOptions::written_grace) (or the wait's
    /// deadline) ran out, and no backup of this request's shape was created in its window.
    #[error(
        "no backup created in this request's window ({} to {}) was found in {storage} (looked until {}); \
         the service may still write it later: check again before starting another backup, or raise the backup \
         timeout",
        window.from.to_rfc3339(),
        window.to.to_rfc3339(),
        looked_until.to_rfc3339()
    )]
    NothingFound {
        /// The window searched at the last look.
        window: BackupWindow,
        /// Which storage: the partition's policy storage, or the one the request named.
        storage: &'static str,
        /// When the last look was made.
        looked_until: DateTime<Utc>,
    },
    /// The storage could not be listed, so whether the backup was written is unknown. A 404
    /// `FABRIC_E_BACKUP_NOT_ENABLED` from the policy list lands here: the partition has no backup policy to
    /// list, which says nothing about this backup.
    #[error(
        "whether it was written could not be checked: {reason}; it may still have been written, as the service \
         keeps going after reporting Timeout: check the storage before starting another backup"
    )]
    CannotCheck {
        /// Why.
        reason: String,
        /// The error of the list, when there was one.
        #[source]
        error: Option<Error>,
    },
    /// No look was made.
    #[error(
        "it may still have been written to storage, as the service keeps going after reporting Timeout \
         ({reason}): check the storage before starting another backup, or raise the backup timeout"
    )]
    NotChecked {
        /// Why no look was made.
        reason: String,
    },
}

/// What a wait needs to look for its backup after `Timeout`: where it went, and when it was requested.
struct Lookup {
    partition_id: PartitionId,
    storage: Option<BackupStorage>,
    service_name: Option<String>,
    requested_at: DateTime<Utc>,
    allowance: Duration,
    grace: Duration,
    /// The backup progress named before the request: an earlier one, never this request's.
    earlier_backup: Option<Uuid>,
}

/// Why one look produced no candidates list.
enum LookFailure {
    /// Passes by itself; look again while the grace lasts.
    Again(Error),
    /// Does not pass: report it.
    Cannot(StorageCheck),
}

impl Lookup {
    fn storage_name(&self) -> &'static str {
        match self.storage {
            None => "the partition's policy storage (GetPartitionBackupList)",
            Some(_) => "the storage the request named (GetBackupsFromBackupLocation)",
        }
    }

    fn window(&self) -> BackupWindow {
        let allowance = chrono::Duration::from_std(self.allowance).unwrap_or(chrono::Duration::MAX);
        let second = chrono::Duration::seconds(1);
        BackupWindow {
            from: self
                .requested_at
                .checked_sub_signed(allowance)
                .and_then(|t| t.checked_sub_signed(second))
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
            to: Utc::now()
                .checked_add_signed(allowance)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        }
    }

    fn classify(error: Error, what: &str) -> LookFailure {
        if error.is_backup_not_enabled() {
            return LookFailure::Cannot(StorageCheck::CannotCheck {
                reason: format!(
                    "the partition has no backup policy, so {what} cannot be listed (404 \
                     FABRIC_E_BACKUP_NOT_ENABLED); that is not an error of the backup"
                ),
                error: Some(error),
            });
        }
        if error.is_transient() || error.is_timeout() {
            return LookFailure::Again(error);
        }
        LookFailure::Cannot(StorageCheck::CannotCheck {
            reason: format!("listing {what} failed: {error}"),
            error: Some(error),
        })
    }

    /// The list to search: the policy list, or the named storage's list for this partition's folder.
    async fn list(
        &mut self,
        client: &Client,
        deadline: Instant,
    ) -> Result<crate::ListBackups, LookFailure> {
        let Some(storage) = &self.storage else {
            return Ok(client.list_backups(self.partition_id));
        };
        if self.service_name.is_none() {
            // The folder is named by the service: learn it from the policy list, if the partition has one.
            let learned = client
                .list_backups(self.partition_id)
                .latest()
                .before(deadline)
                .await
                .ok()
                .and_then(|backups| backups.into_iter().find_map(|b| b.service_name));
            match learned {
                Some(name) => self.service_name = Some(name),
                None => {
                    return Err(LookFailure::Cannot(StorageCheck::CannotCheck {
                        reason: "the backup went to a storage given explicitly, and listing it needs the \
                                 partition's service name, which the partition's policy list did not tell: \
                                 pass WaitOptions::service_name (--service-name)"
                            .to_owned(),
                        error: None,
                    }));
                }
            }
        }
        let service = self.service_name.clone().unwrap_or_default();
        Ok(client.list_backups_in(
            storage.clone(),
            BackupEntity::partition(service, self.partition_id),
        ))
    }

    /// One look: the backups of this request's shape created in its window, those created at or after the
    /// request (by this machine's clock, to the second) first.
    async fn look(&mut self, client: &Client, deadline: Instant) -> Result<Look, LookFailure> {
        let window = self.window();
        let what = self.storage_name();
        let list = self.list(client, deadline).await?;
        let backups = list
            .since(window.from)
            .before(deadline)
            .await
            .map_err(|error| Self::classify(error, what))?;
        let requested = self
            .requested_at
            .with_nanosecond(0)
            .unwrap_or(self.requested_at);
        let mut look = Look {
            window,
            after: Vec::new(),
            before: Vec::new(),
        };
        for backup in backups
            .into_iter()
            .filter(|backup| backup.partition_id.is_none_or(|id| id == self.partition_id))
            .filter(|backup| backup.backup_id.is_some() && backup.backup_id != self.earlier_backup)
            .filter(BackupInfo::starts_own_chain)
        {
            let Some(created) = backup
                .creation_time_utc
                .filter(|time| window.contains(*time))
            else {
                continue;
            };
            let shape = format!(
                "a full backup that starts its own chain, as every on-demand backup does, in {what}, created {} \
                 by the node's clock",
                created.to_rfc3339()
            );
            if created >= requested {
                look.after.push(Candidate {
                    reason: format!(
                        "{shape}, at or after this request ({}) and before the look: a periodic full backup in \
                         the same window would look the same",
                        requested.to_rfc3339()
                    ),
                    backup,
                });
            } else {
                look.before.push(Candidate {
                    reason: format!(
                        "{shape}, before this request ({}) by this machine's clock but within the clock \
                         allowance (window from {}): this request's only if the node's clock is behind, more \
                         likely an earlier backup",
                        requested.to_rfc3339(),
                        window.from.to_rfc3339()
                    ),
                    backup,
                });
            }
        }
        Ok(look)
    }
}

/// What one look found.
struct Look {
    window: BackupWindow,
    /// Created at or after the request: this request's, or a periodic backup.
    after: Vec<Candidate>,
    /// Created before the request, within the clock allowance: most likely an earlier backup.
    before: Vec<Candidate>,
}

/// Whether, and how surely, the backup request reached the service: what a caller needs before it starts
/// another backup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Requested {
    /// The backup request was not sent (or was refused): this call started no backup.
    No,
    /// The request was sent, but its answer was lost (the connection dropped after sending, no answer in time):
    /// a backup may have started.
    Maybe,
    /// The service accepted the request (HTTP 202), or progress showed that it did.
    Yes,
}

/// Why a wait did not return a [`CompletedBackup`].
///
/// [`WaitError::backup_requested`] tells whether a backup from this call may exist or run on, and
/// [`WaitError::may_have_been_written`] whether one may be in storage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WaitError {
    /// The backup request was refused, could not be sent, or the progress read before it failed: this call
    /// started no backup. A refusal because another backup runs is [`Error::is_backup_in_progress`] (HTTP 409).
    #[error(transparent)]
    Request(#[from] Error),

    /// The backup ended with `Failure`; nothing was written. The failure is the service's own: fix its cause (the
    /// message says which) before requesting another backup.
    #[error("the backup failed: {}", failure_text(failure.as_ref()))]
    Failed {
        /// The service's code and message, when it sent them.
        failure: Option<BackupFailure>,
        /// The progress that reported the failure.
        progress: Box<BackupProgress>,
    },

    /// The service reported `Timeout`: the backup did not end within its
    /// [backup timeout](BackupPartitionRequest::backup_timeout), which runs from the request, queueing included.
    ///
    /// The service does not stop the backup at that point: one that finishes later is still written to storage
    /// while progress keeps saying `Timeout` (the REST reference: "though the operation returns back timeout, the
    /// backup actually goes through"). Look for it in the storage before starting another one, or request the
    /// next one with a larger backup timeout.
    ///
    /// A wait that sent the request looks for such a backup before it reports this: `storage_check` says what it
    /// found (nothing in the window, or why it could not check). When it finds one it reports
    /// [`WaitError::TimedOutButWritten`] instead, and [`WaitError::TimedOutPossiblyWritten`] when it finds several.
    #[error(
        "the service reported Timeout: the backup did not end within its backup timeout; {storage_check}"
    )]
    BackupTimedOut {
        /// The progress that reported the timeout.
        progress: Box<BackupProgress>,
        /// What the look into storage found, or why there was none.
        storage_check: StorageCheck,
    },

    /// The service reported `Timeout`, but exactly one backup that looks like this request's was written in
    /// this request's window to the storage the request used: the service's replica finished after the
    /// service's deadline, and the service dropped its report (../shared/notes/more-operations.md §7.7). There
    /// is no need to back up again.
    ///
    /// The attribution is by time and shape, since progress names no backup after a `Timeout`: the only full
    /// backup that starts its own chain (as every on-demand backup does) created at or after the request (by
    /// this machine's clock, to the second) and before the look. A periodic policy backup landing in the same
    /// window would look the same; `candidates` says why this one was taken, and lists the backups from just
    /// before the request (within [`WaitOptions::clock_allowance`]) that were not.
    #[error(
        "the service reported Timeout, but a backup written in this request's window was found: {} at {} \
         (created {}); no need to run again (matched by time and shape, since the service names no backup after \
         a Timeout)",
        backup.backup_id.map_or_else(|| "?".to_owned(), |id| id.to_string()),
        backup.backup_location.as_deref().unwrap_or("?"),
        backup.creation_time_utc.map_or_else(|| "?".to_owned(), |time| time.to_rfc3339()),
    )]
    TimedOutButWritten {
        /// The backup found.
        backup: Box<BackupInfo>,
        /// Every backup considered, with the reason (here the one found).
        candidates: Vec<Candidate>,
        /// The window searched.
        window: BackupWindow,
        /// The progress that reported the timeout.
        progress: Box<BackupProgress>,
    },

    /// The service reported `Timeout`, and more than one backup that looks like this request's was created in
    /// its window after the request (a periodic policy backup can land there too), or only backups created
    /// shortly before it (within the clock allowance, most likely earlier ones): one of them may be this
    /// request's, and nothing tells which. Check them before backing up again.
    #[error(
        "the service reported Timeout, and {} backups were written in this request's window ({} to {}), any of \
         which may be this request's: {}",
        candidates.len(),
        window.from.to_rfc3339(),
        window.to.to_rfc3339(),
        candidates.iter().map(|c| format!("{} ({})", c.backup.backup_id.map_or_else(|| "?".to_owned(), |id| id.to_string()), c.reason)).collect::<Vec<_>>().join("; ")
    )]
    TimedOutPossiblyWritten {
        /// Every candidate, with the reason it is one.
        candidates: Vec<Candidate>,
        /// The window searched.
        window: BackupWindow,
        /// The progress that reported the timeout.
        progress: Box<BackupProgress>,
    },

    /// The wait's own deadline ([`WaitOptions::wait_timeout`]) passed first. When the backup was
    /// [requested](Self::backup_requested), it may still run and succeed: follow it with
    /// [`Client::follow_backup`] rather than requesting another one.
    #[error(
        "stopped waiting after {waited:?} (the wait timeout); {}",
        match requested {
            Requested::No => "no backup was requested".to_owned(),
            Requested::Maybe => format!("the backup request's answer was lost, so a backup may be running (last progress: {})", progress_text(last_progress.as_deref())),
            Requested::Yes => format!("the backup was requested and may still be running (last progress: {})", progress_text(last_progress.as_deref())),
        }
    )]
    WaitTimedOut {
        /// How long the wait lasted.
        waited: Duration,
        /// Whether the backup request reached the service.
        requested: Requested,
        /// The last progress read that describes this backup, if any.
        last_progress: Option<Box<BackupProgress>>,
    },

    /// The backup request failed in a way that leaves open whether the service received it (the connection
    /// dropped after sending, no answer in time, a gateway timeout), and progress did not change within
    /// [`WaitOptions::ambiguous_grace`]. The request was not sent again, since that could start a second backup.
    /// Read the partition's progress ([`Client::follow_backup`]) before requesting another backup.
    #[error(
        "the backup request may or may not have reached the service ({source}), and progress did not change \
         within {grace:?}; it was not sent again: read the partition's backup progress before retrying \
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

    /// The backup was requested, but its progress could not be read for a reason that does not pass by itself
    /// (transient failures are retried until the deadline); it may still run and succeed.
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

    /// [`Client::follow_backup`] found no backup to follow: none was ever requested for the partition.
    #[error("no backup was ever requested for this partition, so there is none to follow")]
    NothingToFollow,
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
            | Self::BackupTimedOut { progress, .. }
            | Self::TimedOutButWritten { progress, .. }
            | Self::TimedOutPossiblyWritten { progress, .. }
            | Self::IncompleteSuccess { progress, .. } => Some(progress),
            Self::WaitTimedOut { last_progress, .. }
            | Self::Ambiguous { last_progress, .. }
            | Self::ProgressUnavailable { last_progress, .. } => last_progress.as_deref(),
            Self::Request(_) | Self::NothingToFollow => None,
        }
    }

    /// The error of the request, when the backup request (or the read before it) failed.
    pub fn request_error(&self) -> Option<&Error> {
        match self {
            Self::Request(error) => Some(error),
            _ => None,
        }
    }

    /// Whether the backup request reached the service: [`Requested::No`] means this call started no backup
    /// and it is safe to try again; otherwise a backup may run or exist.
    pub fn backup_requested(&self) -> Requested {
        match self {
            Self::Request(_) | Self::NothingToFollow => Requested::No,
            Self::WaitTimedOut { requested, .. } => *requested,
            Self::Ambiguous { .. } => Requested::Maybe,
            Self::Failed { .. }
            | Self::BackupTimedOut { .. }
            | Self::TimedOutButWritten { .. }
            | Self::TimedOutPossiblyWritten { .. }
            | Self::ProgressUnavailable { .. }
            | Self::IncompleteSuccess { .. } => Requested::Yes,
        }
    }

    /// Whether a backup was (or may have been) requested and its outcome is unknown: the wait ended before it did
    /// ([`WaitError::WaitTimedOut`] after the request), or it could not be learnt ([`WaitError::Ambiguous`],
    /// [`WaitError::ProgressUnavailable`]). Follow that backup before requesting another.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            Self::WaitTimedOut { requested, .. } => *requested != Requested::No,
            Self::Ambiguous { .. } | Self::ProgressUnavailable { .. } => true,
            _ => false,
        }
    }

    /// The backup found in storage after a `Timeout` ([`WaitError::TimedOutButWritten`]).
    pub fn found_backup(&self) -> Option<&BackupInfo> {
        match self {
            Self::TimedOutButWritten { backup, .. } => Some(backup),
            _ => None,
        }
    }

    /// Whether a backup from this call may exist in storage despite the error: after
    /// [`WaitError::BackupTimedOut`] (it may still be written later), [`WaitError::TimedOutButWritten`],
    /// [`WaitError::TimedOutPossiblyWritten`], [`WaitError::IncompleteSuccess`], and whenever
    /// [the outcome is unknown](Self::outcome_unknown). Check before requesting another backup.
    pub fn may_have_been_written(&self) -> bool {
        self.outcome_unknown()
            || matches!(
                self,
                Self::BackupTimedOut { .. }
                    | Self::TimedOutButWritten { .. }
                    | Self::TimedOutPossiblyWritten { .. }
                    | Self::IncompleteSuccess { .. }
            )
    }
}

/// Shared between a running wait and the [`BackupWait`] that drives it.
#[derive(Default)]
pub(crate) struct Shared {
    /// Whether the caller reads the stream; otherwise nothing is queued, so an awaited wait keeps no history.
    streaming: bool,
    queue: VecDeque<BackupProgress>,
    pub(crate) requested: Option<Requested>,
    pub(crate) last: Option<BackupProgress>,
}

#[derive(Clone, Default)]
pub(crate) struct Events(Arc<Mutex<Shared>>);

impl Events {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn progress(&self, progress: &BackupProgress) {
        let mut shared = self.lock();
        if shared.streaming {
            shared.queue.push_back(progress.clone());
        }
        shared.last = Some(progress.clone());
    }

    fn requested(&self, requested: Requested) {
        self.lock().requested = Some(requested);
    }
}

type WaitFuture = Pin<Box<dyn Future<Output = Result<CompletedBackup, WaitError>> + Send>>;

/// A wait for a backup's outcome, from [`BackupPartitionRequest::wait`] or [`Client::follow_backup`].
///
/// Await it for the outcome, or read it as a [`Stream`](futures_core::Stream) of the progress that describes
/// this backup (its pending states, then its result) and then take [`BackupWait::outcome`]: the azure_core
/// `Poller` idiom, so a progress display needs no `'static` callback. Nothing happens until it is awaited or
/// polled; dropping it stops the wait (a backup already requested goes on at the service).
///
/// ```no_run
/// # async fn demo(client: sf_backup::Client, id: sf_backup::PartitionId) -> Result<(), Box<dyn std::error::Error>> {
/// use std::future::poll_fn;
/// use std::pin::Pin;
/// use futures_core::Stream;
/// use sf_backup::WaitOptions;
///
/// let mut wait = client.backup_partition(id).wait(WaitOptions::new());
/// while let Some(progress) = poll_fn(|cx| Pin::new(&mut wait).poll_next(cx)).await {
///     eprintln!("backup: {}", progress.state);
/// }
/// let backup = wait.outcome().await?;
/// println!("{} written to {}", backup.backup_id, backup.location);
/// # Ok(()) }
/// ```
#[must_use = "a wait does nothing until it is awaited or polled"]
pub struct BackupWait {
    events: Events,
    future: Option<WaitFuture>,
    outcome: Option<Result<CompletedBackup, WaitError>>,
}

impl fmt::Debug for BackupWait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackupWait")
            .field("requested", &self.requested())
            .field("finished", &self.outcome.is_some())
            .finish_non_exhaustive()
    }
}

impl BackupWait {
    fn new(
        events: Events,
        future: impl Future<Output = Result<CompletedBackup, WaitError>> + Send + 'static,
    ) -> Self {
        Self {
            events,
            future: Some(Box::pin(future)),
            outcome: None,
        }
    }

    /// Whether the backup request has reached the service so far: `None` before it was sent (or when following a
    /// backup requested elsewhere). For a caller that stops waiting early (Ctrl-C) and must say what it left.
    pub fn requested(&self) -> Option<Requested> {
        self.events.lock().requested
    }

    /// The last progress read that describes this backup.
    pub fn last_progress(&self) -> Option<BackupProgress> {
        self.events.lock().last.clone()
    }

    /// What the running wait shares, for a caller that keeps an eye on it after handing the wait away.
    pub(crate) fn events(&self) -> Events {
        self.events.clone()
    }

    /// The outcome: runs the wait to its end (or returns the end the stream already reached).
    pub async fn outcome(mut self) -> Result<CompletedBackup, WaitError> {
        if let Some(outcome) = self.outcome.take() {
            return outcome;
        }
        match self.future.take() {
            Some(future) => future.await,
            // The outcome was taken already; a second call cannot happen through this by-value API.
            None => unreachable!("a BackupWait's outcome is taken once"),
        }
    }
}

impl IntoFuture for BackupWait {
    type Output = Result<CompletedBackup, WaitError>;
    type IntoFuture = WaitFuture;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.outcome())
    }
}

impl futures_core::Stream for BackupWait {
    type Item = BackupProgress;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<BackupProgress>> {
        let this = self.get_mut();
        this.events.lock().streaming = true;
        loop {
            if let Some(progress) = this.events.lock().queue.pop_front() {
                return Poll::Ready(Some(progress));
            }
            let Some(future) = this.future.as_mut() else {
                return Poll::Ready(None);
            };
            match future.as_mut().poll(cx) {
                Poll::Ready(outcome) => {
                    this.future = None;
                    this.outcome = Some(outcome);
                }
                Poll::Pending => {
                    if this.events.lock().queue.is_empty() {
                        return Poll::Pending;
                    }
                }
            }
        }
    }
}

impl BackupPartitionRequest {
    /// Sends the request once, then follows progress until this backup ends: await the returned
    /// [`BackupWait`] for the backup that was written, or read it as a stream of progress first.
    ///
    /// **Attribution.** Progress shows only the partition's latest backup request, without an operation id. The
    /// service answers 202 only after it has stored the new request's status, and progress is read from the same
    /// primary, so after a 202 every state read describes this request: its first result is this backup's.
    /// Only when the answer to the request was lost (a connection dropped after sending, no answer in time, a
    /// gateway timeout) does the wait compare with what progress said before the request: any change (state,
    /// backup id, failure, time stamp, location) shows that the request arrived; no change within
    /// [`WaitOptions::ambiguous_grace`] ends the wait with [`WaitError::Ambiguous`]. The request is never sent
    /// again.
    ///
    /// **One deadline.** [`WaitOptions::wait_timeout`] bounds everything: the progress read before the request,
    /// the request, every poll and every retry; each answer deadline is cut to the time left. Failed progress
    /// reads that pass by themselves (connection failures, no answer, 502/503/504, and the codes of a moving
    /// primary or an overloaded service) are retried with jittered backoff until the deadline.
    ///
    /// # Errors
    ///
    /// [`WaitError::Request`] when nothing was started (the request was refused, such as 409 while another
    /// backup runs, or could not be sent, or an argument is invalid); [`WaitError::Failed`] and
    /// [`WaitError::BackupTimedOut`] for the backup's own outcome; after the service reported `Timeout`, the wait
    /// looks in the storage the request used (see [`WaitOptions::written_grace`]) and reports
    /// [`WaitError::TimedOutButWritten`] when it finds this request's backup there, or
    /// [`WaitError::TimedOutPossiblyWritten`] when it cannot tell which of several it is; [`WaitError::WaitTimedOut`] when the wait timeout passes first;
    /// [`WaitError::Ambiguous`] and [`WaitError::ProgressUnavailable`] when the outcome could not be learnt.
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
    ///     Err(WaitError::TimedOutButWritten { backup, .. }) => {
    ///         println!("the service said Timeout, but backup {:?} was written", backup.backup_id);
    ///     }
    ///     Err(WaitError::BackupTimedOut { storage_check, .. }) => {
    ///         eprintln!("timed out: {storage_check}");
    ///     }
    ///     Err(WaitError::Request(error)) if error.is_backup_in_progress() => {
    ///         eprintln!("another backup is running; try again later");
    ///     }
    ///     Err(error) => return Err(error.into()),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn wait(self, options: WaitOptions) -> BackupWait {
        let events = Events::default();
        let span = tracing::info_span!(
            "sf_backup_wait",
            partition_id = %self.partition_id(),
            storage_kind = self.storage_kind(),
        );
        let future = run(self, options, events.clone()).instrument(span);
        BackupWait::new(events, future)
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
        let events = Events::default();
        let span = tracing::info_span!("sf_backup_follow", partition_id = %partition_id);
        let future = follow(self.clone(), partition_id, options, events.clone()).instrument(span);
        BackupWait::new(events, future)
    }
}

/// The wait's clock and the reads inside it.
struct Reader {
    client: Client,
    partition_id: PartitionId,
    server_timeout: Option<Duration>,
    retry: RetryPolicy,
    started: Instant,
    deadline: Instant,
}

/// Why a read (with its retries) produced no progress.
enum ReadFailure {
    /// The wait's deadline passed.
    Deadline,
    /// A failure that does not pass by itself, or the last one when the retry policy's cap was reached.
    Failed(Error),
}

impl Reader {
    fn new(
        client: Client,
        partition_id: PartitionId,
        options: &WaitOptions,
        timeout: Duration,
    ) -> Self {
        let started = Instant::now();
        Self {
            client,
            partition_id,
            server_timeout: None,
            retry: options.retry.clone(),
            started,
            // Durations too large for the clock mean "no deadline" in practice: a century.
            deadline: started
                .checked_add(timeout)
                .unwrap_or_else(|| started + Duration::from_secs(100 * 365 * 24 * 3600)),
        }
    }

    fn expired(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Reads progress, retrying failures that pass by themselves until the deadline.
    async fn read(&self) -> Result<BackupProgress, ReadFailure> {
        let mut retries = 0u32;
        loop {
            if self.expired() {
                return Err(ReadFailure::Deadline);
            }
            let mut request = self.client.backup_progress(self.partition_id);
            if let Some(timeout) = self.server_timeout {
                request = request.server_timeout(timeout);
            }
            match request.send_before(Some(self.deadline)).await {
                Ok(progress) => return Ok(progress),
                Err(_) if self.expired() => return Err(ReadFailure::Deadline),
                Err(error) if self.retry.should_retry_read(retries, &error) => {
                    let pause = self.retry.backoff(retries);
                    retries = retries.saturating_add(1);
                    tracing::warn!(%error, retry = retries, ?pause, "progress read failed; retrying");
                    self.sleep(pause).await;
                }
                Err(error) => return Err(ReadFailure::Failed(error)),
            }
        }
    }

    /// Sleeps, but never past the deadline.
    async fn sleep(&self, pause: Duration) {
        let until = Instant::now()
            .checked_add(pause)
            .map_or(self.deadline, |until| until.min(self.deadline));
        tokio::time::sleep_until(until).await;
    }

    fn timed_out(&self, requested: Requested, last: Option<BackupProgress>) -> WaitError {
        let waited = self.started.elapsed();
        tracing::warn!(?waited, ?requested, "the wait timeout passed");
        WaitError::WaitTimedOut {
            waited,
            requested,
            last_progress: last.map(Box::new),
        }
    }
}

/// Which progress belongs to this wait's backup.
#[derive(Debug)]
enum Attribution {
    /// The service accepted our request (or progress proved it did): every state read now is ours.
    Ours,
    /// The request's answer was lost: only a change from `baseline` shows that it arrived. While `baseline` was
    /// an earlier backup still pending, its own end is such a change; that end becomes the new baseline.
    Unconfirmed { baseline: Box<BackupProgress> },
}

impl Attribution {
    /// Whether `progress` describes our backup; updates what "not ours" looks like.
    fn observe(&mut self, progress: &BackupProgress) -> bool {
        let Self::Unconfirmed { baseline } = self else {
            return true;
        };
        if !changed(progress, baseline) {
            return false;
        }
        let earlier_was_pending = is_pending(&baseline.state);
        if earlier_was_pending && progress.state.is_terminal() {
            // The earlier backup ended; ours (if it arrived) is queued behind it.
            **baseline = progress.clone();
            return false;
        }
        *self = Self::Ours;
        true
    }
}

fn is_pending(state: &BackupState) -> bool {
    !state.is_terminal() && !matches!(state, BackupState::NotRequested | BackupState::Invalid)
}

/// Any difference at all, never time order alone: clocks of different nodes disagree, Failure and Timeout
/// carry no time stamp, and two results in the same second share one.
fn changed(progress: &BackupProgress, baseline: &BackupProgress) -> bool {
    progress.state != baseline.state
        || progress.backup_id != baseline.backup_id
        || progress.failure != baseline.failure
        || progress.time_stamp_utc != baseline.time_stamp_utc
        || progress.backup_location != baseline.backup_location
}

async fn run(
    request: BackupPartitionRequest,
    mut options: WaitOptions,
    events: Events,
) -> Result<CompletedBackup, WaitError> {
    options.check()?;
    request.check()?;
    let timeout = options.wait_timeout.unwrap_or_else(|| {
        request
            .backup_timeout_setting()
            .unwrap_or(SERVICE_DEFAULT_BACKUP_TIMEOUT)
            .saturating_add(DEFAULT_WAIT_MARGIN)
    });
    let mut reader = Reader::new(
        request.client().clone(),
        request.partition_id(),
        &options,
        timeout,
    );
    reader.server_timeout = request.server_timeout_setting();

    // What progress says before the request: needed only if the request's answer is lost.
    let baseline = match reader.read().await {
        Ok(progress) => progress,
        Err(ReadFailure::Deadline) => return Err(reader.timed_out(Requested::No, None)),
        Err(ReadFailure::Failed(error)) => return Err(WaitError::Request(error)),
    };
    tracing::debug!(state = %baseline.state, "progress before the backup request");

    // Taken just before sending: the service's `RequestDateTime` is taken while it serves the request.
    let lookup = Lookup {
        partition_id: request.partition_id(),
        storage: request.storage_setting().cloned(),
        service_name: options.service_name.clone(),
        requested_at: Utc::now(),
        allowance: options.clock_allowance,
        grace: options.written_grace,
        earlier_backup: baseline.backup_id,
    };
    let (attribution, ambiguous) = match request.send_before(Some(reader.deadline)).await {
        Ok(()) => {
            tracing::info!("backup accepted");
            events.requested(Requested::Yes);
            (Attribution::Ours, None)
        }
        Err(error) if may_have_started(&error) => {
            tracing::warn!(%error, "the backup request may have reached the service; not sending it again");
            events.requested(Requested::Maybe);
            if reader.expired() {
                return Err(reader.timed_out(Requested::Maybe, None));
            }
            (
                Attribution::Unconfirmed {
                    baseline: Box::new(baseline),
                },
                Some(error),
            )
        }
        Err(error) => {
            events.requested(Requested::No);
            return Err(error.into());
        }
    };

    let mut poller = Poller::new(reader, &mut options, attribution, events);
    poller.lookup = Some(lookup);
    if let Some(source) = ambiguous {
        let grace_end = Instant::now()
            .checked_add(options.ambiguous_grace)
            .map_or(poller.reader.deadline, |end| {
                end.min(poller.reader.deadline)
            });
        match poller.until_ours(grace_end).await {
            Settled::Ours(Some(result)) => return poller.conclude(*result).await,
            Settled::Ours(None) => tracing::info!("progress shows the backup was accepted"),
            Settled::Failed(read_error) => {
                tracing::warn!(error = %read_error, "progress could not be read to settle an ambiguous request");
                return Err(poller.ambiguous(source, options.ambiguous_grace));
            }
            Settled::Deadline if poller.reader.expired() => {
                return Err(poller.reader.timed_out(Requested::Maybe, poller.last));
            }
            Settled::Deadline => return Err(poller.ambiguous(source, options.ambiguous_grace)),
        }
        poller.events.requested(Requested::Yes);
    }
    poller.until_result().await
}

async fn follow(
    client: Client,
    partition_id: PartitionId,
    mut options: WaitOptions,
    events: Events,
) -> Result<CompletedBackup, WaitError> {
    options.check()?;
    let timeout = options
        .wait_timeout
        .unwrap_or(SERVICE_DEFAULT_BACKUP_TIMEOUT.saturating_add(DEFAULT_WAIT_MARGIN));
    let reader = Reader::new(client, partition_id, &options, timeout);
    let mut poller = Poller::new(reader, &mut options, Attribution::Ours, events);
    // The first read decides whether there is anything to follow.
    match poller.reader.read().await {
        // `Invalid` is how the documented shapes say "no backup known"; the service itself answers `null`.
        Ok(progress)
            if matches!(
                progress.state,
                BackupState::NotRequested | BackupState::Invalid
            ) =>
        {
            return Err(WaitError::NothingToFollow);
        }
        Ok(progress) => {
            poller.seen(&progress);
            if progress.state.is_terminal() {
                return finish(progress);
            }
        }
        Err(ReadFailure::Deadline) => return Err(poller.reader.timed_out(Requested::Yes, None)),
        Err(ReadFailure::Failed(error)) => return Err(WaitError::Request(error)),
    }
    poller.pause().await;
    poller.until_result().await
}

/// How polling for the first sign of an unconfirmed request ended.
enum Settled {
    /// Progress changed: the request arrived. `Some` when the change was already its result.
    Ours(Option<Box<BackupProgress>>),
    /// The grace (or the wait's deadline) passed.
    Deadline,
    /// Progress could not be read.
    Failed(Error),
}

struct Poller {
    reader: Reader,
    interval: Duration,
    max_interval: Duration,
    on_progress: Option<ProgressCallback>,
    attribution: Attribution,
    events: Events,
    last: Option<BackupProgress>,
    /// Set when this wait requested the backup: where to look for it after `Timeout`.
    lookup: Option<Lookup>,
}

impl Poller {
    fn new(
        reader: Reader,
        options: &mut WaitOptions,
        attribution: Attribution,
        events: Events,
    ) -> Self {
        Self {
            reader,
            interval: options.poll_interval,
            max_interval: options.max_poll_interval.max(options.poll_interval),
            on_progress: options.on_progress.take(),
            attribution,
            events,
            last: None,
            lookup: None,
        }
    }

    /// The outcome of our backup's result; after `Timeout`, looks for the backup in storage first.
    async fn conclude(&mut self, progress: BackupProgress) -> Result<CompletedBackup, WaitError> {
        match finish(progress) {
            Err(WaitError::BackupTimedOut {
                progress,
                storage_check,
            }) => match self.lookup.take() {
                Some(lookup) => Err(self.resolve_timeout(lookup, progress).await),
                None => Err(WaitError::BackupTimedOut {
                    progress,
                    storage_check,
                }),
            },
            other => other,
        }
    }

    /// Looks in the storage the request used for a backup of this request's shape created in its window, until
    /// one is found or the grace (never past the wait's deadline) runs out.
    async fn resolve_timeout(
        &mut self,
        mut lookup: Lookup,
        progress: Box<BackupProgress>,
    ) -> WaitError {
        let deadline = self.reader.deadline;
        if self.reader.expired() {
            return WaitError::BackupTimedOut {
                progress,
                storage_check: StorageCheck::NotChecked {
                    reason: "the wait's deadline had passed".to_owned(),
                },
            };
        }
        let grace_end = Instant::now()
            .checked_add(lookup.grace)
            .map_or(deadline, |end| end.min(deadline));
        let mut interval = self.interval;
        let mut last_error: Option<Error> = None;
        let mut looked = false;
        let mut earlier: Option<(BackupWindow, Vec<Candidate>)> = None;
        loop {
            match lookup.look(&self.reader.client, deadline).await {
                Ok(look) if look.after.len() == 1 => {
                    let backup = Box::new(look.after[0].backup.clone());
                    tracing::info!(backup_id = ?backup.backup_id, "Timeout, but a backup of this request was written");
                    let candidates = look.after.into_iter().chain(look.before).collect();
                    return WaitError::TimedOutButWritten {
                        backup,
                        candidates,
                        window: look.window,
                        progress,
                    };
                }
                Ok(look) if !look.after.is_empty() => {
                    tracing::warn!(
                        count = look.after.len(),
                        "Timeout, and several backups in the window"
                    );
                    return WaitError::TimedOutPossiblyWritten {
                        candidates: look.after.into_iter().chain(look.before).collect(),
                        window: look.window,
                        progress,
                    };
                }
                Ok(look) => {
                    // Only backups from before the request, if any: keep looking; they stand if nothing newer comes.
                    earlier = Some((look.window, look.before));
                    looked = true;
                    last_error = None;
                }
                // The deadline cut the look short: what the earlier looks found stands.
                Err(LookFailure::Again(_)) if self.reader.expired() => {}
                Err(LookFailure::Cannot(storage_check)) => {
                    return WaitError::BackupTimedOut {
                        progress,
                        storage_check,
                    };
                }
                Err(LookFailure::Again(error)) => {
                    tracing::warn!(%error, "listing backups failed; looking again");
                    last_error = Some(error);
                }
            }
            if Instant::now() >= grace_end {
                if let Some((window, candidates)) = earlier.take().filter(|(_, c)| !c.is_empty()) {
                    return WaitError::TimedOutPossiblyWritten {
                        candidates,
                        window,
                        progress,
                    };
                }
                let storage_check = match last_error {
                    Some(error) => StorageCheck::CannotCheck {
                        reason: format!("listing {} kept failing: {error}", lookup.storage_name()),
                        error: Some(error),
                    },
                    None if !looked => StorageCheck::NotChecked {
                        reason: "the wait's deadline passed before the storage could be listed"
                            .to_owned(),
                    },
                    None => StorageCheck::NothingFound {
                        window: lookup.window(),
                        storage: lookup.storage_name(),
                        looked_until: Utc::now(),
                    },
                };
                return WaitError::BackupTimedOut {
                    progress,
                    storage_check,
                };
            }
            let pause_end = Instant::now()
                .checked_add(interval)
                .map_or(grace_end, |end| end.min(grace_end));
            tokio::time::sleep_until(pause_end).await;
            interval = interval.mul_f64(POLL_GROWTH).min(self.max_interval);
        }
    }

    /// Reports a read that describes our backup.
    fn seen(&mut self, progress: &BackupProgress) {
        if self
            .last
            .as_ref()
            .is_none_or(|last| last.state != progress.state)
        {
            tracing::info!(state = %progress.state, "backup progress changed");
        }
        self.events.progress(progress);
        if let Some(callback) = self.on_progress.as_mut() {
            callback(progress);
        }
        self.last = Some(progress.clone());
    }

    async fn pause(&mut self) {
        self.reader.sleep(self.interval).await;
        self.interval = self.interval.mul_f64(POLL_GROWTH).min(self.max_interval);
    }

    /// Polls until progress shows that the unconfirmed request arrived, or `until` passes.
    async fn until_ours(&mut self, until: Instant) -> Settled {
        loop {
            if Instant::now() >= until {
                return Settled::Deadline;
            }
            match tokio::time::timeout_at(until, self.reader.read()).await {
                Err(_) | Ok(Err(ReadFailure::Deadline)) => return Settled::Deadline,
                Ok(Err(ReadFailure::Failed(error))) => return Settled::Failed(error),
                Ok(Ok(progress)) => {
                    if self.attribution.observe(&progress) {
                        self.seen(&progress);
                        let terminal = progress.state.is_terminal();
                        return Settled::Ours(terminal.then(|| Box::new(progress)));
                    }
                    // Not ours, but what the caller should see if the request stays unconfirmed.
                    self.last = Some(progress);
                }
            }
            let pause_end = Instant::now()
                .checked_add(self.interval)
                .map_or(until, |end| end.min(until));
            tokio::time::sleep_until(pause_end).await;
            self.interval = self.interval.mul_f64(POLL_GROWTH).min(self.max_interval);
        }
    }

    /// Polls until our backup's result.
    async fn until_result(mut self) -> Result<CompletedBackup, WaitError> {
        loop {
            match self.reader.read().await {
                Ok(progress) => {
                    if self.attribution.observe(&progress) {
                        self.seen(&progress);
                        if progress.state.is_terminal() {
                            return self.conclude(progress).await;
                        }
                    }
                }
                Err(ReadFailure::Deadline) => {
                    return Err(self.reader.timed_out(Requested::Yes, self.last));
                }
                Err(ReadFailure::Failed(source)) => {
                    return Err(WaitError::ProgressUnavailable {
                        source,
                        last_progress: self.last.map(Box::new),
                    });
                }
            }
            self.pause().await;
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

/// Whether a failed backup request may nonetheless have queued a backup, so the outcome must be read from
/// progress rather than assumed.
fn may_have_started(error: &Error) -> bool {
    error.may_have_reached_service()
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
            tracing::warn!("the service reported Timeout; the backup may still be written");
            Err(WaitError::BackupTimedOut {
                progress: Box::new(progress),
                storage_check: StorageCheck::NotChecked {
                    reason: "this wait did not request the backup, so it does not know the request's time \
                             to look for it in storage"
                        .to_owned(),
                },
            })
        }
    }
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

    fn failure(code: &str) -> BackupProgress {
        progress(serde_json::json!({
            "BackupState": "Failure",
            "TimeStampUtc": "0001-01-01T00:00:00Z",
            "FailureError": {"Code": code, "Message": "upload failed"}
        }))
    }

    const OLD: &str = "11111111-1111-4111-8111-111111111111";
    const NEW: &str = "22222222-2222-4222-8222-222222222222";

    #[test]
    fn after_a_202_every_read_is_ours_even_an_identical_failure() {
        let mut attribution = Attribution::Ours;
        assert!(attribution.observe(&failure("E_FAIL")));
        assert!(attribution.observe(&failure("E_FAIL")));
    }

    #[test]
    fn unconfirmed_any_change_counts_never_time_order() {
        let old = success(OLD, "2024-01-01T00:00:10Z");
        let mut attribution = Attribution::Unconfirmed {
            baseline: Box::new(old.clone()),
        };
        assert!(!attribution.observe(&old));
        // A newer backup stamped by a node whose clock is behind is still a change.
        assert!(attribution.observe(&success(NEW, "2024-01-01T00:00:05Z")));
        assert!(matches!(attribution, Attribution::Ours));

        // Two results in the same second differ by id.
        let mut attribution = Attribution::Unconfirmed {
            baseline: Box::new(old.clone()),
        };
        assert!(attribution.observe(&success(NEW, "2024-01-01T00:00:10Z")));

        // A failure with no time stamp after a failure with another code.
        let mut attribution = Attribution::Unconfirmed {
            baseline: Box::new(failure("E_FAIL")),
        };
        assert!(!attribution.observe(&failure("E_FAIL")));
        assert!(attribution.observe(&failure("FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR")));
    }

    #[test]
    fn unconfirmed_behind_a_pending_backup_its_end_is_not_ours() {
        let mut attribution = Attribution::Unconfirmed {
            baseline: Box::new(pending("BackupInProgress")),
        };
        assert!(!attribution.observe(&pending("BackupInProgress")));
        let theirs = success(OLD, "2024-01-01T00:00:00Z");
        assert!(!attribution.observe(&theirs));
        assert!(!attribution.observe(&theirs));
        assert!(attribution.observe(&pending("Accepted")));
        assert!(attribution.observe(&success(NEW, "2024-01-01T00:02:00Z")));
    }

    #[test]
    fn unconfirmed_with_no_backup_before_any_state_is_ours() {
        let mut attribution = Attribution::Unconfirmed {
            baseline: Box::new(BackupProgress::from_api(None)),
        };
        assert!(!attribution.observe(&BackupProgress::from_api(None)));
        assert!(attribution.observe(&pending("Accepted")));
    }

    #[test]
    fn completed_backups_serialise_for_tools() {
        let backup = finish(progress(serde_json::json!({
            "BackupState": "Success",
            "BackupId": NEW,
            "BackupLocation": "app/svc/x.zip",
            "TimeStampUtc": "2024-01-01T00:00:00Z",
            "EpochOfLastBackupRecord": {"DataLossVersion": "2", "ConfigurationVersion": "3"},
            "LsnOfLastBackupRecord": 36
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
        assert_eq!(error.backup_requested(), Requested::Yes);
    }

    #[test]
    fn what_each_error_says_about_the_request() {
        let timed_out = |requested| WaitError::WaitTimedOut {
            waited: Duration::from_secs(1),
            requested,
            last_progress: None,
        };
        assert!(!timed_out(Requested::No).outcome_unknown());
        assert!(!timed_out(Requested::No).may_have_been_written());
        assert!(
            timed_out(Requested::No)
                .to_string()
                .contains("no backup was requested")
        );
        assert!(timed_out(Requested::Maybe).outcome_unknown());
        assert!(timed_out(Requested::Yes).outcome_unknown());
        let failed = finish(failure("E_FAIL")).unwrap_err();
        assert_eq!(failed.backup_requested(), Requested::Yes);
        assert!(!failed.outcome_unknown() && !failed.may_have_been_written());
        let refused = WaitError::Request(Error::invalid("x", "y", "z"));
        assert_eq!(refused.backup_requested(), Requested::No);
    }

    #[test]
    fn poll_intervals_below_the_floor_are_refused() {
        let error = WaitOptions::new()
            .poll_interval(Duration::from_nanos(1))
            .check()
            .unwrap_err();
        assert!(error.to_string().contains("poll interval"), "{error}");
        assert!(
            WaitOptions::new()
                .poll_interval(MIN_POLL_INTERVAL)
                .check()
                .is_ok()
        );
    }

    #[test]
    fn ambiguous_request_failures_are_told_from_refusals() {
        let status = |status, code: &str| Error::Service {
            status,
            code: crate::ErrorCode::from(code),
            message: String::new(),
        };
        use reqwest::StatusCode;
        assert!(may_have_started(&Error::NoAnswer {
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
