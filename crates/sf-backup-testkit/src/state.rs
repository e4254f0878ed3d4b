//! The fake Backup/Restore service: partitions, their backups and what progress reports.
//!
//! A backup's state is a pure function of the time elapsed since it was accepted, so no timer tasks run: the
//! state is computed whenever a request or a test asks, which keeps the gateway deterministic and cheap.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sf_backup_api::types::{
    BackupProgressInfo, BackupState, BackupStorageDescription, Epoch, FabricErrorCodes,
    FabricErrorError, KnownBackupState,
};
use uuid::Uuid;

use crate::config::{Config, Fault, Outcome, PartitionConfig};
use crate::{RecordedRequest, WrittenBackup};

/// Parses a code so that a code the spec lists becomes the known variant, as a client would see it.
pub(crate) fn error_code(code: &str) -> FabricErrorCodes {
    serde_json::from_value(serde_json::Value::String(code.to_owned()))
        .unwrap_or_else(|_| FabricErrorCodes::String(code.to_owned()))
}

pub(crate) fn error(code: &str, message: impl Into<String>) -> FabricErrorError {
    FabricErrorError {
        code: error_code(code),
        message: Some(message.into()),
    }
}

/// Why the service refused to start a backup.
pub(crate) struct Refusal {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

enum Phase {
    Accepted,
    InProgress,
    Success(Duration),
    Failure(Duration, FabricErrorError),
    Timeout(Duration),
}

struct Run {
    backup_id: Uuid,
    accepted_at: Instant,
    accepted_wall: DateTime<Utc>,
    in_progress_after: Duration,
    finish_after: Duration,
    deadline_after: Duration,
    outcome: Outcome,
    location: String,
    storage: Option<BackupStorageDescription>,
    lsn: u64,
    epoch: Epoch,
}

impl Run {
    fn phase(&self, now: Instant) -> Phase {
        let elapsed = now.saturating_duration_since(self.accepted_at);
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
    fn written_after(&self) -> Option<Duration> {
        match self.outcome {
            Outcome::Success | Outcome::TimeoutButWritten => Some(self.finish_after),
            Outcome::Failure { .. } | Outcome::Timeout => None,
        }
    }

    fn wall(&self, after: Duration) -> DateTime<Utc> {
        self.accepted_wall + chrono::Duration::from_std(after).unwrap_or_default()
    }

    fn progress(&self, now: Instant, placeholders: bool) -> BackupProgressInfo {
        let state = |s: KnownBackupState| Some(BackupState::from(s));
        let pending = |s| {
            if placeholders {
                BackupProgressInfo {
                    backup_state: state(s),
                    backup_id: Some(Uuid::nil()),
                    time_stamp_utc: "0001-01-01T00:00:00Z".parse().ok(),
                    lsn_of_last_backup_record: Some("0".to_owned()),
                    ..BackupProgressInfo::default()
                }
            } else {
                BackupProgressInfo {
                    backup_state: state(s),
                    ..BackupProgressInfo::default()
                }
            }
        };
        match self.phase(now) {
            Phase::Accepted => pending(KnownBackupState::Accepted),
            Phase::InProgress => pending(KnownBackupState::BackupInProgress),
            Phase::Success(at) => BackupProgressInfo {
                backup_state: state(KnownBackupState::Success),
                backup_id: Some(self.backup_id),
                backup_location: Some(self.location.clone()),
                epoch_of_last_backup_record: Some(self.epoch.clone()),
                lsn_of_last_backup_record: Some(self.lsn.to_string()),
                time_stamp_utc: Some(self.wall(at)),
                failure_error: None,
            },
            Phase::Failure(at, failure) => BackupProgressInfo {
                backup_state: state(KnownBackupState::Failure),
                time_stamp_utc: Some(self.wall(at)),
                failure_error: Some(failure),
                ..BackupProgressInfo::default()
            },
            Phase::Timeout(at) => BackupProgressInfo {
                backup_state: state(KnownBackupState::Timeout),
                time_stamp_utc: Some(self.wall(at)),
                failure_error: Some(error(
                    "FABRIC_E_TIMEOUT",
                    "The backup did not complete within BackupTimeout.",
                )),
                ..BackupProgressInfo::default()
            },
        }
    }
}

struct Partition {
    backup_policy: bool,
    restore_in_progress: bool,
    outcomes: VecDeque<Outcome>,
    application: String,
    service: String,
    runs: Vec<Run>,
}

impl Partition {
    fn new(config: Option<&PartitionConfig>) -> Self {
        Partition {
            backup_policy: config.is_none_or(|c| c.backup_policy),
            restore_in_progress: config.is_some_and(|c| c.restore_in_progress),
            outcomes: config
                .map(|c| c.outcomes.iter().cloned().collect())
                .unwrap_or_default(),
            application: config
                .and_then(|c| c.application.clone())
                .unwrap_or_else(|| "FakeApp".to_owned()),
            service: config
                .and_then(|c| c.service.clone())
                .unwrap_or_else(|| "FakeService".to_owned()),
            runs: Vec::new(),
        }
    }
}

/// Everything mutable behind the gateway's lock.
pub(crate) struct State {
    declared: bool,
    accepted: Duration,
    in_progress: Duration,
    timeout_unit: Duration,
    placeholders: bool,
    partitions: HashMap<Uuid, Partition>,
    pub faults: VecDeque<Fault>,
    pub journal: Vec<RecordedRequest>,
}

impl State {
    pub fn new(config: &Config) -> Self {
        State {
            declared: !config.partitions.is_empty(),
            accepted: config.accepted(),
            in_progress: config.in_progress(),
            timeout_unit: config.backup_timeout_unit(),
            placeholders: config.pending_placeholders,
            partitions: config
                .partitions
                .iter()
                .map(|p| (p.id, Partition::new(Some(p))))
                .collect(),
            faults: config.faults.iter().cloned().collect(),
            journal: Vec::new(),
        }
    }

    /// The partition, created on first use when no partitions were declared.
    fn partition(&mut self, id: Uuid) -> Option<&mut Partition> {
        if !self.declared {
            return Some(
                self.partitions
                    .entry(id)
                    .or_insert_with(|| Partition::new(None)),
            );
        }
        self.partitions.get_mut(&id)
    }

    /// Takes the first queued fault that matches, consuming one of its uses.
    pub fn take_fault(
        &mut self,
        operation: Option<crate::Operation>,
        partition: Option<Uuid>,
    ) -> Option<Fault> {
        let index = self
            .faults
            .iter()
            .position(|f| f.matches(operation, partition))?;
        let fault = &mut self.faults[index];
        match fault.times {
            None => Some(fault.clone()),
            Some(n) if n <= 1 => self.faults.remove(index),
            Some(n) => {
                fault.times = Some(n - 1);
                Some(fault.clone())
            }
        }
    }

    /// Scripting an outcome implies the partition exists, even when others were declared.
    pub fn script_outcome(&mut self, id: Uuid, outcome: Outcome) {
        self.partitions
            .entry(id)
            .or_insert_with(|| Partition::new(None))
            .outcomes
            .push_back(outcome);
    }

    pub fn start_backup(
        &mut self,
        id: Uuid,
        storage: Option<BackupStorageDescription>,
        backup_timeout_minutes: u64,
    ) -> Result<(), Refusal> {
        let now = Instant::now();
        let (accepted, in_progress, unit) = (self.accepted, self.in_progress, self.timeout_unit);
        let Some(partition) = self.partition(id) else {
            return Err(Refusal {
                status: 404,
                code: "FABRIC_E_PARTITION_NOT_FOUND",
                message: format!("Partition {id} not found."),
            });
        };
        if partition.restore_in_progress {
            return Err(Refusal {
                status: 409,
                code: "FABRIC_E_RESTORE_IN_PROGRESS",
                message: format!("A restore is in progress for partition {id}."),
            });
        }
        if partition
            .runs
            .last()
            .is_some_and(|run| matches!(run.phase(now), Phase::Accepted | Phase::InProgress))
        {
            return Err(Refusal {
                status: 409,
                code: "FABRIC_E_BACKUP_IN_PROGRESS",
                message: format!("A backup is already in progress for partition {id}."),
            });
        }
        if storage.is_none() && !partition.backup_policy {
            return Err(Refusal {
                status: 404,
                code: "FABRIC_E_BACKUP_NOT_ENABLED",
                message: format!(
                    "Partition {id} has no backup policy and the request names no BackupStorage."
                ),
            });
        }
        let outcome = partition.outcomes.pop_front().unwrap_or(Outcome::Success);
        let accepted_wall = Utc::now();
        let finish_after = accepted + in_progress;
        let stamp = (accepted_wall + chrono::Duration::from_std(finish_after).unwrap_or_default())
            .format("%Y-%m-%d %H.%M.%S");
        let sequence = partition.runs.len() as u64 + 1;
        partition.runs.push(Run {
            backup_id: Uuid::new_v4(),
            accepted_at: now,
            accepted_wall,
            in_progress_after: accepted,
            finish_after,
            deadline_after: unit
                .saturating_mul(u32::try_from(backup_timeout_minutes).unwrap_or(u32::MAX)),
            outcome,
            location: format!(
                "{}/{}/{id}/{stamp}.zip",
                partition.application, partition.service
            ),
            storage,
            // Grows with every backup, as a replica's log would between two backups.
            lsn: 261 + 100 * sequence,
            epoch: Epoch {
                data_loss_version: Some("131462452931584510".to_owned()),
                configuration_version: Some("8589934592".to_owned()),
            },
        });
        Ok(())
    }

    /// `None` when the partition does not exist.
    pub fn progress(&mut self, id: Uuid) -> Option<BackupProgressInfo> {
        let placeholders = self.placeholders;
        let partition = self.partition(id)?;
        Some(match partition.runs.last() {
            Some(run) => run.progress(Instant::now(), placeholders),
            // No backup was ever requested: the service knows of no backup, which it reports as `Invalid`.
            None => BackupProgressInfo {
                backup_state: Some(KnownBackupState::Invalid.into()),
                ..BackupProgressInfo::default()
            },
        })
    }

    pub fn written_backups(&self) -> Vec<WrittenBackup> {
        let now = Instant::now();
        let mut written: Vec<(Instant, WrittenBackup)> = self
            .partitions
            .iter()
            .flat_map(|(id, partition)| partition.runs.iter().map(move |run| (*id, run)))
            .filter_map(|(id, run)| {
                let after = run.written_after()?;
                let at = run.accepted_at + after;
                (at <= now).then(|| {
                    (
                        at,
                        WrittenBackup {
                            partition_id: id,
                            backup_id: run.backup_id,
                            location: run.location.clone(),
                            storage: run.storage.clone(),
                            lsn: run.lsn.to_string(),
                            epoch: run.epoch.clone(),
                            time_stamp_utc: run.wall(after),
                            reported_timeout: matches!(run.phase(now), Phase::Timeout(_)),
                        },
                    )
                })
            })
            .collect();
        written.sort_by_key(|(at, _)| *at);
        written.into_iter().map(|(_, w)| w).collect()
    }
}
