//! How a backup wait ends: the [`CompletedBackup`], or a [`WaitError`] with a stable [`WaitError::kind`].

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::StorageCheck;
use crate::list::BackupInfo;
use crate::operation::{Ended, Requested};
use crate::{BackupFailure, BackupProgress, BackupState, Epoch, Error};

/// A backup that was written, as a wait reports it.
///
/// `Serialize` writes the fields below by name (`finished_at` in RFC 3339, the LSN and the epoch's versions as
/// strings), the crate's one JSON shape for a tool's output, like [`BackupProgress`].
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct CompletedBackup {
    /// The identity of the backup that was written.
    pub backup_id: Uuid,
    /// Where the backup was written, relative to the root of its storage.
    pub location: String,
    /// The epoch of the last record in the backup, when the service reported it.
    pub epoch: Option<Epoch>,
    /// The log sequence number of the last record in the backup, when the service reported it.
    #[serde(serialize_with = "crate::json::optional_int64_as_string")]
    pub lsn: Option<i64>,
    /// When the backup ended, by the clock of the node that wrote it.
    pub finished_at: DateTime<Utc>,
}

/// Why a wait did not return a [`CompletedBackup`]. [`WaitError::kind`] names each case for scripts;
/// [`WaitError::backup_requested`] tells whether a backup from this call may exist or run on, and
/// [`WaitError::may_have_been_written`] whether one may be in storage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WaitError {
    /// Nothing was started by this call: the backup request was refused or could not be sent, an argument is
    /// invalid, or the progress read before the request failed (when following, the first read: nothing was
    /// learnt). A refusal because another backup runs is [`Error::is_backup_in_progress`] (HTTP 409).
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
    /// [backup timeout](crate::BackupPartitionRequest::backup_timeout) (the service's clock, from the request,
    /// queueing included). The service's verdict, unlike [`WaitError::WaitTimeout`].
    ///
    /// The backup may still be written later; `check` is what the wait's look for it found
    /// ([`Client::look_for_written_backup`](crate::Client::look_for_written_backup)).
    #[error(
        "the service reported Timeout: the backup did not end within its backup timeout; {check}"
    )]
    ServiceTimeout {
        /// The progress that reported the timeout.
        progress: Box<BackupProgress>,
        /// What the look in storage found.
        check: StorageCheck,
    },

    /// The wait's own deadline ([`WaitOptions::wait_timeout`](crate::WaitOptions::wait_timeout)) passed first:
    /// this wait's impatience, not the service's verdict. A backup that was
    /// [requested](Self::backup_requested) may still run and succeed: follow it with
    /// [`Client::follow_backup`](crate::Client::follow_backup) rather than requesting another.
    #[error(
        "stopped waiting after {waited:?} (the wait timeout); {}{}",
        requested_text(*requested, last_progress.as_deref()),
        last_error.as_ref().map(|error| format!("; the last error: {error}")).unwrap_or_default()
    )]
    WaitTimeout {
        /// How long the wait lasted.
        waited: Duration,
        /// Whether the backup request reached the service; `None` when following and no progress was read.
        requested: Option<Requested>,
        /// The last progress read, if any.
        last_progress: Option<Box<BackupProgress>>,
        /// The last failed read (or the request's lost answer), if any: why the wait may not have progressed.
        #[source]
        last_error: Option<Arc<Error>>,
    },

    /// The backup request's answer was lost (the connection dropped after sending, no answer in time, a gateway
    /// timeout), and progress showed no sign of it within
    /// [`WaitOptions::lost_answer_watch`](crate::WaitOptions::lost_answer_watch) (or could not be read). The
    /// request was not sent again, since that could start a second backup. Read the partition's progress
    /// ([`Client::follow_backup`](crate::Client::follow_backup)) before requesting another backup.
    #[error(
        "the backup request may or may not have reached the service ({source}), and {}; it was not sent again: \
         read the partition's backup progress before retrying (last progress: {})",
        match read_error {
            Some(error) => format!("progress could not be read to tell ({error})"),
            None => format!("progress showed no sign of it within {watched:?}"),
        },
        progress_text(last_progress.as_deref())
    )]
    Ambiguous {
        /// The failure of the backup request.
        #[source]
        source: Error,
        /// How long progress was to be watched.
        watched: Duration,
        /// The last progress read, if any (perhaps an earlier backup's).
        last_progress: Option<Box<BackupProgress>>,
        /// Why progress could not be read, when it could not.
        read_error: Option<Box<Error>>,
    },

    /// The backup was requested, but its progress could not be read for a reason that does not pass by itself
    /// (failures that may pass are retried until the deadline); it may still run and succeed.
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

    /// [`Client::follow_backup`](crate::Client::follow_backup) found no backup to follow: none was ever
    /// requested for the partition.
    #[error("no backup was ever requested for this partition, so there is none to follow")]
    NothingToFollow,
}

fn failure_text(failure: Option<&BackupFailure>) -> String {
    failure.map_or_else(|| "no reason given".to_owned(), ToString::to_string)
}

/// A state, with a word when this version does not know it.
pub(crate) fn state_text(state: &BackupState) -> String {
    match state {
        BackupState::Other(name) => format!("{name}, a state this version does not know"),
        state => state.to_string(),
    }
}

fn progress_text(progress: Option<&BackupProgress>) -> String {
    progress.map_or_else(|| "none".to_owned(), |progress| state_text(&progress.state))
}

fn requested_text(requested: Option<Requested>, last: Option<&BackupProgress>) -> String {
    let last = progress_text(last);
    match requested {
        Some(Requested::No) => "no backup was requested".to_owned(),
        Some(Requested::Maybe) => format!(
            "the backup request's answer was lost, so a backup may be running (last progress: {last})"
        ),
        Some(Requested::Yes) => {
            format!("the backup was requested and may still be running (last progress: {last})")
        }
        None => "no progress could be read, so whether a backup runs is unknown".to_owned(),
    }
}

impl From<Ended<BackupProgress>> for WaitError {
    fn from(ended: Ended<BackupProgress>) -> Self {
        match ended {
            Ended::NotStarted(error) => Self::Request(error),
            Ended::NothingToFollow => Self::NothingToFollow,
            Ended::WaitTimeout {
                waited,
                requested,
                last_progress,
                last_error,
            } => Self::WaitTimeout {
                waited,
                requested,
                last_progress: last_progress.map(Box::new),
                last_error,
            },
            Ended::Ambiguous {
                source,
                watched,
                last_progress,
                read_error,
            } => Self::Ambiguous {
                source,
                watched,
                last_progress: last_progress.map(Box::new),
                read_error: read_error.map(Box::new),
            },
            Ended::ProgressUnavailable {
                source,
                last_progress,
            } => Self::ProgressUnavailable {
                source,
                last_progress: last_progress.map(Box::new),
            },
        }
    }
}

impl WaitError {
    /// A stable name for the case, for scripts and tool output (a CLI's JSON and exit codes): one of
    /// `not_started` ([`WaitError::Request`]), `backup_failed`, `backup_timed_out` (the service reported
    /// Timeout and no single backup of this request was found), `timed_out_but_written` (it was found),
    /// `timed_out_possibly_written` (several candidates), `wait_timed_out_before_request` (the wait timeout
    /// passed before the backup request was sent), `wait_timed_out`, `ambiguous`, `progress_unavailable`,
    /// `incomplete_success`, `nothing_to_follow`. New cases may be added; these names do not change.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Request(_) => "not_started",
            Self::Failed { .. } => "backup_failed",
            Self::ServiceTimeout { check, .. } => match check {
                StorageCheck::Written { .. } => "timed_out_but_written",
                StorageCheck::Several { .. } => "timed_out_possibly_written",
                _ => "backup_timed_out",
            },
            Self::WaitTimeout {
                requested: Some(Requested::No),
                ..
            } => "wait_timed_out_before_request",
            Self::WaitTimeout { .. } => "wait_timed_out",
            Self::Ambiguous { .. } => "ambiguous",
            Self::ProgressUnavailable { .. } => "progress_unavailable",
            Self::IncompleteSuccess { .. } => "incomplete_success",
            Self::NothingToFollow => "nothing_to_follow",
        }
    }

    /// The last progress read before the wait ended, when one belongs to the error.
    pub fn last_progress(&self) -> Option<&BackupProgress> {
        match self {
            Self::Failed { progress, .. }
            | Self::ServiceTimeout { progress, .. }
            | Self::IncompleteSuccess { progress, .. } => Some(progress),
            Self::WaitTimeout { last_progress, .. }
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

    /// The error that explains the end, when there is one: the request's, the last failed read's (also when the
    /// wait timeout passed), or the lost answer's.
    pub fn last_error(&self) -> Option<&Error> {
        match self {
            Self::Request(error)
            | Self::Ambiguous { source: error, .. }
            | Self::ProgressUnavailable { source: error, .. } => Some(error),
            Self::WaitTimeout { last_error, .. } => last_error.as_deref(),
            _ => None,
        }
    }

    /// Whether the backup request reached the service: [`Requested::No`] means this call started no backup
    /// and it is safe to try again; otherwise a backup may run or exist.
    pub fn backup_requested(&self) -> Requested {
        match self {
            Self::Request(_) | Self::NothingToFollow => Requested::No,
            Self::WaitTimeout { requested, .. } => requested.unwrap_or(Requested::Maybe),
            Self::Ambiguous { .. } => Requested::Maybe,
            Self::Failed { .. }
            | Self::ServiceTimeout { .. }
            | Self::ProgressUnavailable { .. }
            | Self::IncompleteSuccess { .. } => Requested::Yes,
        }
    }

    /// Whether a backup was (or may have been) requested and its outcome is unknown: the wait ended before it did
    /// ([`WaitError::WaitTimeout`] after the request), or it could not be learnt ([`WaitError::Ambiguous`],
    /// [`WaitError::ProgressUnavailable`]). Follow that backup before requesting another.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            Self::WaitTimeout { requested, .. } => *requested != Some(Requested::No),
            Self::Ambiguous { .. } | Self::ProgressUnavailable { .. } => true,
            _ => false,
        }
    }

    /// The backup found in storage after a `Timeout` ([`StorageCheck::Written`]).
    pub fn found_backup(&self) -> Option<&BackupInfo> {
        match self {
            Self::ServiceTimeout {
                check: StorageCheck::Written { backup, .. },
                ..
            } => Some(backup),
            _ => None,
        }
    }

    /// Whether a backup from this call may exist in storage despite the error: after
    /// [`WaitError::ServiceTimeout`] (it may be written later, or was found), [`WaitError::IncompleteSuccess`],
    /// and whenever [the outcome is unknown](Self::outcome_unknown). Check before requesting another backup.
    pub fn may_have_been_written(&self) -> bool {
        self.outcome_unknown()
            || matches!(
                self,
                Self::ServiceTimeout { .. } | Self::IncompleteSuccess { .. }
            )
    }
}

/// The outcome of this backup's result (`Success` or `Failure`; `Timeout` is looked into by the caller).
pub(crate) fn finish(progress: BackupProgress) -> Result<CompletedBackup, WaitError> {
    if progress.state == BackupState::Failure {
        tracing::info!(failure = %failure_text(progress.failure.as_ref()), "backup failed");
        return Err(WaitError::Failed {
            failure: progress.failure.clone(),
            progress: Box::new(progress),
        });
    }
    let incomplete = |missing| WaitError::IncompleteSuccess {
        missing,
        progress: Box::new(progress.clone()),
    };
    let Some(backup_id) = progress.backup_id else {
        return Err(incomplete("a backup id"));
    };
    let Some(location) = progress.backup_location.clone() else {
        return Err(incomplete("a backup location"));
    };
    let Some(finished_at) = progress.time_stamp_utc else {
        return Err(incomplete("a time stamp"));
    };
    tracing::info!(%backup_id, %location, "backup written");
    Ok(CompletedBackup {
        backup_id,
        location,
        epoch: progress.epoch,
        lsn: progress.lsn,
        finished_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(json: serde_json::Value) -> BackupProgress {
        BackupProgress::from_api(serde_json::from_value(json).unwrap())
    }

    const NEW: &str = "22222222-2222-4222-8222-222222222222";

    #[test]
    fn completed_backups_serialise_in_the_crates_one_json_shape() {
        let backup = finish(progress(serde_json::json!({
            "BackupState": "Success",
            "BackupId": NEW,
            "BackupLocation": "app/svc/x.zip",
            "TimeStampUtc": "2024-01-01T00:00:00Z",
            "EpochOfLastBackupRecord": {"DataLossVersion": "2", "ConfigurationVersion": "3"},
            "LsnOfLastBackupRecord": "9007199254740993"
        })))
        .unwrap();
        assert_eq!(
            serde_json::to_value(&backup).unwrap(),
            serde_json::json!({
                "backup_id": NEW,
                "location": "app/svc/x.zip",
                "epoch": {"data_loss_version": "2", "configuration_version": "3"},
                "lsn": "9007199254740993",
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
        assert_eq!(error.kind(), "incomplete_success");
    }
}
