use std::fmt;

use chrono::{DateTime, Utc};
use sf_backup_api::{Placeholder, types};
use uuid::Uuid;

use crate::ErrorCode;

/// The progress of the most recent backup requested for a partition, from
/// [`Client::backup_progress`](crate::Client::backup_progress).
///
/// The service fills placeholders where it has no value (any 0001-01-01 time stamp, an all-zero backup id,
/// LSN `0`, an all-zero epoch); they read as `None` here. Numbers are read whether the service sends them as JSON
/// numbers (as its code does for the LSN) or as text (as the REST page documents); text that does not parse reads
/// as `None`, never as an error. Before any on-demand backup was requested the service answers `null`: that reads
/// as [`BackupState::NotRequested`] with every other field `None`.
///
/// `Serialize` writes the fields below by name (`state`, `time_stamp_utc`, …; placeholders as `null`, the LSN and
/// the epoch's versions as strings), the crate's one JSON shape for a tool's output.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct BackupProgress {
    /// The state of the backup request.
    pub state: BackupState,
    /// When the backup ended.
    pub time_stamp_utc: Option<DateTime<Utc>>,
    /// The identity of the backup that was written.
    pub backup_id: Option<Uuid>,
    /// Where the backup was written, relative to the root of its storage.
    pub backup_location: Option<String>,
    /// The epoch of the last record in the backup.
    pub epoch: Option<Epoch>,
    /// The log sequence number of the last record in the backup.
    #[serde(serialize_with = "crate::json::optional_int64_as_string")]
    pub lsn: Option<i64>,
    /// Why the backup failed, when it did.
    pub failure: Option<BackupFailure>,
}

/// The configuration generation of a partition's replica set. `Serialize` writes both versions as strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[non_exhaustive]
pub struct Epoch {
    /// Grows whenever data loss is suspected.
    #[serde(serialize_with = "crate::json::int64_as_string")]
    pub data_loss_version: i64,
    /// Grows whenever the replica set's configuration changes.
    #[serde(serialize_with = "crate::json::int64_as_string")]
    pub configuration_version: i64,
}

impl Epoch {
    /// An epoch from its two versions.
    pub fn new(data_loss_version: i64, configuration_version: i64) -> Self {
        Self {
            data_loss_version,
            configuration_version,
        }
    }

    /// The epoch of the wire, unless it is missing, unreadable or the placeholder.
    pub(crate) fn from_api(epoch: &types::Epoch) -> Option<Self> {
        let (data_loss_version, configuration_version) = epoch.versions()?;
        Some(Self::new(data_loss_version, configuration_version))
    }
}

/// The error that ended a backup: a Service Fabric code and message.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct BackupFailure {
    /// The Service Fabric error code.
    pub code: ErrorCode,
    /// The service's explanation; empty when it sent none.
    pub message: String,
}

impl fmt::Display for BackupFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.code)
        } else {
            write!(f, "{}: {}", self.code, self.message)
        }
    }
}

/// The state of a backup request. Open: a state this crate does not know is kept in [`BackupState::Other`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BackupState {
    /// No on-demand backup was ever requested for the partition: the service answered `null` (or an empty body).
    /// Not a state the service names; [`BackupState::as_str`] gives `NotRequested`.
    NotRequested,
    /// The service reported `Invalid`, or no state at all.
    Invalid,
    /// The request was accepted; the backup has not started.
    Accepted,
    /// The backup is running.
    BackupInProgress,
    /// The backup was written.
    Success,
    /// The backup failed; see [`BackupProgress::failure`].
    Failure,
    /// The backup did not end within its backup timeout. In rare cases the backup is still written afterwards.
    Timeout,
    /// A state this crate does not know, as the service sent it.
    Other(String),
}

impl BackupState {
    /// The state as the service writes it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::NotRequested => "NotRequested",
            Self::Invalid => "Invalid",
            Self::Accepted => "Accepted",
            Self::BackupInProgress => "BackupInProgress",
            Self::Success => "Success",
            Self::Failure => "Failure",
            Self::Timeout => "Timeout",
            Self::Other(state) => state,
        }
    }

    /// Whether the backup has ended (`Success`, `Failure` or `Timeout`), so polling can stop.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Success | Self::Failure | Self::Timeout)
    }
}

impl From<&str> for BackupState {
    fn from(state: &str) -> Self {
        match state {
            "Invalid" => Self::Invalid,
            "Accepted" => Self::Accepted,
            "BackupInProgress" => Self::BackupInProgress,
            "Success" => Self::Success,
            "Failure" => Self::Failure,
            "Timeout" => Self::Timeout,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for BackupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for BackupState {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl BackupProgress {
    pub(crate) fn from_api(wire: Option<types::BackupProgressInfo>) -> Self {
        let Some(info) = wire else {
            return Self {
                state: BackupState::NotRequested,
                time_stamp_utc: None,
                backup_id: None,
                backup_location: None,
                epoch: None,
                lsn: None,
                failure: None,
            };
        };
        let state = match &info.backup_state {
            // A known state by its text, so that one the spec lists later than this code is kept by name.
            Some(types::BackupState::KnownBackupState(known)) => {
                BackupState::from(known.to_string().as_str())
            }
            Some(types::BackupState::String(other)) => BackupState::from(other.as_str()),
            // No state, or a representation a later spec adds (the generated enum is non-exhaustive).
            Some(_) | None => BackupState::Invalid,
        };
        Self {
            state,
            time_stamp_utc: info.time_stamp_utc.and_then(Placeholder::real),
            backup_id: info.backup_id.and_then(Placeholder::real),
            epoch: info
                .epoch_of_last_backup_record
                .as_ref()
                .and_then(Epoch::from_api),
            lsn: info.lsn(),
            failure: info.failure_error.map(|error| BackupFailure {
                code: ErrorCode::from_api(&error.code),
                message: error.message.unwrap_or_default(),
            }),
            backup_location: info.backup_location.and_then(Placeholder::real),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(json: serde_json::Value) -> BackupProgress {
        BackupProgress::from_api(serde_json::from_value(json).unwrap())
    }

    #[test]
    fn a_finished_backup_is_read_in_full() {
        let wire = serde_json::json!({
            "BackupState": "Success",
            "TimeStampUtc": "2018-01-01T09:00:55Z",
            "BackupId": "b9577400-1131-4f88-b309-2bb1e943322c",
            "BackupLocation": "CalcApp\\CalcService\\1daae3f5\\2018-01-01 09.00.55.zip",
            "EpochOfLastBackupRecord": {"DataLossVersion": "131462452931584510", "ConfigurationVersion": "8589934592"},
            "LsnOfLastBackupRecord": "36"
        });
        let read = progress(wire.clone());
        assert_eq!(read.state, BackupState::Success);
        assert!(read.state.is_terminal());
        assert_eq!(
            read.time_stamp_utc.unwrap().to_rfc3339(),
            "2018-01-01T09:00:55+00:00"
        );
        assert_eq!(
            read.backup_id.unwrap().to_string(),
            "b9577400-1131-4f88-b309-2bb1e943322c"
        );
        assert_eq!(
            read.epoch,
            Some(Epoch::new(131_462_452_931_584_510, 8_589_934_592))
        );
        assert_eq!(read.lsn, Some(36));
        assert_eq!(read.failure, None);
        // The crate's JSON shape: field names, int64s as strings.
        assert_eq!(
            serde_json::to_value(&read).unwrap(),
            serde_json::json!({
                "state": "Success",
                "time_stamp_utc": "2018-01-01T09:00:55Z",
                "backup_id": "b9577400-1131-4f88-b309-2bb1e943322c",
                "backup_location": "CalcApp\\CalcService\\1daae3f5\\2018-01-01 09.00.55.zip",
                "epoch": {"data_loss_version": "131462452931584510", "configuration_version": "8589934592"},
                "lsn": "36",
                "failure": null
            })
        );
        assert_eq!(
            serde_json::to_value(progress(serde_json::Value::Null)).unwrap()["state"],
            "NotRequested"
        );
    }

    #[test]
    fn unknown_states_are_kept_and_bad_numbers_read_as_none() {
        let read = progress(serde_json::json!({
            "BackupState": "Cancelled",
            "EpochOfLastBackupRecord": {"DataLossVersion": "x", "ConfigurationVersion": "1"},
            "LsnOfLastBackupRecord": "12abc",
            "BackupLocation": ""
        }));
        assert_eq!(read.state, BackupState::Other("Cancelled".to_owned()));
        assert_eq!(read.state.as_str(), "Cancelled");
        assert_eq!(
            (read.epoch, read.lsn, read.backup_location),
            (None, None, None)
        );
        assert_eq!(progress(serde_json::json!({})).state, BackupState::Invalid);
    }
}
