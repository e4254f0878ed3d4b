//! One on-demand backup as the Backup Restore Service's work item runs it (`BackupRestoreCommon/WorkItem/
//! BackupPartitionWorkItem.cs`): `Accepted` until a replica takes it, `BackupInProgress`, then the replica's result
//! (`Service/BackupRestoreServiceImpl.cs` `BackupOperationResultAsync`) or `Timeout` at the `BackupTimeout`
//! deadline, which runs from the POST.
//!
//! The work item's first step compares the clock with `RequestDateTime` plus `BackupTimeout` and, once that is
//! past, sets `Timeout` (`FABRIC_E_TIMEOUT`) without asking a replica. The service accepts any int32
//! `BackupTimeout`, so with zero or a negative value (`expired`) progress says `Timeout` from the first read and
//! nothing is ever written.
//!
//! A run's state is a pure function of the time elapsed since it was accepted, so no timer tasks run: the state
//! is computed whenever a request or a test asks, which keeps the gateway deterministic and cheap.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sf_backup_api::types::{BackupStorageDescription, FabricErrorError, KnownBackupState};
use uuid::Uuid;

use crate::cluster::Outcome;
use crate::wire::progress::Progress;
use crate::wire::values::error;

/// Where a run is.
enum Phase {
    Accepted,
    InProgress,
    Success(Duration),
    Failure(Duration, FabricErrorError),
    Timeout(Duration),
}

pub(crate) struct Run {
    pub backup_id: Uuid,
    pub accepted_at: Instant,
    pub accepted_wall: DateTime<Utc>,
    pub in_progress_after: Duration,
    pub finish_after: Duration,
    pub deadline_after: Duration,
    pub outcome: Outcome,
    pub location: String,
    pub storage: Option<BackupStorageDescription>,
    pub lsn: u64,
    /// The partition's node clock, relative to the gateway's, when the backup was requested.
    pub clock_offset: chrono::Duration,
    /// The gateway-wide order of writes, for listing ties.
    pub sequence: u64,
    /// The request never reaches a replica that can back up (a stateless or volatile service's partition): it
    /// stays `Accepted` until the `BackupTimeout` deadline, then turns `Timeout`, and nothing is written.
    pub unreachable: bool,
    /// `BackupTimeout` was zero or less: the deadline had passed before the work item ran, so progress says
    /// `Timeout` at once, no replica is asked and nothing is written.
    pub expired: bool,
}

impl Run {
    fn phase(&self, now: Instant) -> Phase {
        let elapsed = now.saturating_duration_since(self.accepted_at);
        if self.expired {
            return Phase::Timeout(Duration::ZERO);
        }
        if self.unreachable {
            return if elapsed >= self.deadline_after {
                Phase::Timeout(self.deadline_after)
            } else {
                Phase::Accepted
            };
        }
        match &self.outcome {
            Outcome::Success | Outcome::Failure { .. } => {
                if self.deadline_after < self.finish_after && elapsed >= self.deadline_after {
                    return Phase::Timeout(self.deadline_after);
                }
                if elapsed >= self.finish_after {
                    return match &self.outcome {
                        Outcome::Failure { code, message } => Phase::Failure(
                            self.finish_after,
                            error(
                                code,
                                message
                                    .clone()
                                    .unwrap_or_else(|| format!("backup failed: {code}")),
                            ),
                        ),
                        _ => Phase::Success(self.finish_after),
                    };
                }
            }
            Outcome::Timeout | Outcome::TimeoutButWritten => {
                let end = self.finish_after.min(self.deadline_after);
                if elapsed >= end {
                    return Phase::Timeout(end);
                }
            }
        }
        if elapsed >= self.in_progress_after {
            Phase::InProgress
        } else {
            Phase::Accepted
        }
    }

    /// When the backup lands in storage, if ever. A successful backup is written even after its deadline.
    pub(crate) fn written_after(&self) -> Option<Duration> {
        if self.unreachable || self.expired {
            return None;
        }
        match self.outcome {
            Outcome::Success | Outcome::TimeoutButWritten => Some(self.finish_after),
            Outcome::Failure { .. } | Outcome::Timeout => None,
        }
    }

    /// The time `after` the request on the partition's node clock, at full precision.
    pub(crate) fn node_time(&self, after: Duration) -> DateTime<Utc> {
        self.accepted_wall
            + chrono::Duration::from_std(after).unwrap_or_default()
            + self.clock_offset
    }

    /// What progress says about this run `now`.
    pub(crate) fn progress(&self, now: Instant) -> Progress {
        match self.phase(now) {
            Phase::Accepted => Progress::Pending(KnownBackupState::Accepted),
            Phase::InProgress => Progress::Pending(KnownBackupState::BackupInProgress),
            Phase::Success(at) => Progress::Success {
                backup_id: self.backup_id,
                location: self.location.clone(),
                lsn: self.lsn,
                at: self.node_time(at),
            },
            Phase::Failure(at, failure) => Progress::Failure {
                at: self.node_time(at),
                failure,
            },
            Phase::Timeout(at) => Progress::Timeout {
                at: self.node_time(at),
            },
        }
    }

    /// Whether the run is `Accepted` or `BackupInProgress` `now`: a second request meets 409.
    pub(crate) fn is_pending(&self, now: Instant) -> bool {
        matches!(self.phase(now), Phase::Accepted | Phase::InProgress)
    }

    /// Whether progress says `Timeout` `now`.
    pub(crate) fn reported_timeout(&self, now: Instant) -> bool {
        matches!(self.phase(now), Phase::Timeout(_))
    }
}
