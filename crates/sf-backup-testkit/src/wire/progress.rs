//! GetBackupProgress's body: the service's `BackupProgress` view (`BackupRestoreTypes/BackupProgress.cs`, filled
//! by `BackupRestoreCommon/Model/BackupPartitionStatus.cs` `ToBackupPartitionResponse`) or the spec's
//! `BackupProgressInfo`.

use chrono::{DateTime, Utc};
use sf_backup_api::types::{
    BackupProgressInfo, BackupState, FabricErrorError, Int64Text, KnownBackupState,
};
use uuid::Uuid;

use crate::wire::dialect::Dialect;
use crate::wire::error::ServiceFabricError;
use crate::wire::values::{
    CONFIGURATION_VERSION, DATA_LOSS_VERSION, build, documented_epoch, error,
};

/// The service's `Timeout` message (`StringResources.BackupTimeout` in its resx).
const SERVICE_TIMEOUT_MESSAGE: &str = "The Request for backup has timeout";
/// The on-demand backup docs' `Timeout` message.
const DOCUMENTED_TIMEOUT_MESSAGE: &str = "The request of backup has timed out.";
/// `default(DateTime)` as the service's converter writes it on a UTC node.
const NO_TIME: &str = "0001-01-01T00:00:00Z";

/// What progress says about a partition, before it is put into one dialect's shape. Times are on the node's
/// clock, at full precision.
pub(crate) enum Progress {
    /// No on-demand backup was ever requested.
    NotRequested,
    Pending(KnownBackupState),
    Success {
        backup_id: Uuid,
        location: String,
        lsn: u64,
        at: DateTime<Utc>,
    },
    Failure {
        at: DateTime<Utc>,
        failure: FabricErrorError,
    },
    Timeout {
        at: DateTime<Utc>,
    },
}

/// The service's progress view: every member is written, nulls included, in declaration order; the LSN is a
/// plain `long` (a JSON number) while the epoch's versions go through `LongToStringConverter` (strings).
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct ServiceProgress {
    backup_state: String,
    time_stamp_utc: String,
    backup_id: Uuid,
    backup_location: Option<String>,
    epoch_of_last_backup_record: Option<ServiceEpoch>,
    lsn_of_last_backup_record: u64,
    failure_error: Option<ServiceFabricError>,
}

/// `BackupRestoreTypes/BackupEpoch.cs`: both numbers through `LongToStringConverter`.
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ServiceEpoch {
    data_loss_version: String,
    configuration_version: String,
}

impl ServiceEpoch {
    /// The epoch every fake backup records.
    pub(crate) fn recorded() -> Self {
        ServiceEpoch {
            data_loss_version: DATA_LOSS_VERSION.to_string(),
            configuration_version: CONFIGURATION_VERSION.to_string(),
        }
    }
}

impl ServiceProgress {
    /// `state` with every member the view type fills from `default(…)`: what the service shows while a backup is
    /// pending, and (with the error) for Failure and Timeout.
    fn placeholders(state: &str, failure_error: Option<ServiceFabricError>) -> Self {
        Self {
            backup_state: state.to_owned(),
            time_stamp_utc: NO_TIME.to_owned(),
            backup_id: Uuid::nil(),
            backup_location: None,
            epoch_of_last_backup_record: None,
            lsn_of_last_backup_record: 0,
            failure_error,
        }
    }
}

impl Progress {
    /// The body in `dialect`; `placeholders` fills them while pending in the documented dialect too.
    pub(crate) fn render(self, dialect: Dialect, placeholders: bool) -> Vec<u8> {
        let bytes = match dialect {
            Dialect::Service => serde_json::to_vec(&self.service()),
            Dialect::Documented => serde_json::to_vec(&self.documented(placeholders)),
        };
        // Plain data always serialises.
        bytes.unwrap_or_default()
    }

    fn service(self) -> Option<ServiceProgress> {
        let pending = ServiceProgress::placeholders;
        Some(match self {
            Progress::NotRequested => return None,
            Progress::Pending(state) => pending(&state.to_string(), None),
            Progress::Success {
                backup_id,
                location,
                lsn,
                at,
            } => ServiceProgress {
                backup_state: "Success".to_owned(),
                time_stamp_utc: Dialect::Service
                    .time(at)
                    .format("%Y-%m-%dT%H:%M:%SZ")
                    .to_string(),
                backup_id,
                backup_location: Some(location),
                epoch_of_last_backup_record: Some(ServiceEpoch::recorded()),
                lsn_of_last_backup_record: lsn,
                failure_error: None,
            },
            // The stored time of a Failure or Timeout is not copied to the view.
            Progress::Failure { failure, .. } => {
                pending("Failure", Some(ServiceFabricError::from_api(&failure)))
            }
            Progress::Timeout { .. } => pending(
                "Timeout",
                Some(ServiceFabricError::new(
                    "FABRIC_E_TIMEOUT",
                    SERVICE_TIMEOUT_MESSAGE,
                )),
            ),
        })
    }

    fn documented(self, placeholders: bool) -> BackupProgressInfo {
        let state =
            |s: KnownBackupState| BackupProgressInfo::builder().backup_state(BackupState::from(s));
        let pending = |s| {
            if placeholders {
                state(s)
                    .backup_id(Uuid::nil())
                    .time_stamp_utc(NO_TIME.parse::<DateTime<Utc>>().ok())
                    .lsn_of_last_backup_record(Int64Text::String("0".to_owned()))
            } else {
                state(s)
            }
        };
        build(match self {
            // The REST page documents no answer for a partition never backed up; this gateway has long said
            // `Invalid`, the state of "no backup known".
            Progress::NotRequested => state(KnownBackupState::Invalid),
            Progress::Pending(s) => pending(s),
            Progress::Success {
                backup_id,
                location,
                lsn,
                at,
            } => state(KnownBackupState::Success)
                .backup_id(backup_id)
                .backup_location(location)
                .epoch_of_last_backup_record(documented_epoch())
                .lsn_of_last_backup_record(Int64Text::String(lsn.to_string()))
                .time_stamp_utc(at),
            Progress::Failure { at, failure } => state(KnownBackupState::Failure)
                .time_stamp_utc(at)
                .failure_error(failure),
            Progress::Timeout { at } => state(KnownBackupState::Timeout)
                .time_stamp_utc(at)
                .failure_error(error("FABRIC_E_TIMEOUT", DOCUMENTED_TIMEOUT_MESSAGE)),
        })
    }
}

/// A progress body whose `BackupState` is `state` (typically one the spec does not list), for a scripted fault:
/// in the service's shapes with every other member as its placeholder, in the documented one alone.
pub(crate) fn scripted_state(dialect: Dialect, state: &str) -> Vec<u8> {
    let bytes = match dialect {
        Dialect::Service => serde_json::to_vec(&ServiceProgress::placeholders(state, None)),
        Dialect::Documented => serde_json::to_vec(&build::<BackupProgressInfo, _>(
            BackupProgressInfo::builder().backup_state(match state.parse::<KnownBackupState>() {
                Ok(known) => known.into(),
                Err(_) => BackupState::String(state.to_owned()),
            }),
        )),
    };
    bytes.unwrap_or_default()
}
