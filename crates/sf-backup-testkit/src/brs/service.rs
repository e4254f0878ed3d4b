//! The Backup Restore Service (`src/prod/src/managed/FabricBRS`): the backup operations behind the gateway's
//! reverse proxy. It starts on-demand backups (`BackupPartitionRequestOperation.cs`), reports their progress
//! (`BackupPartitionResponseOperation.cs`), keeps what was written, and lists the backups in storage
//! (`GetRestorePointsOperation.cs`, `GetRestorePointsWithBackupStorageOperation.cs`). Restore
//! (`RestorePartitionRequestOperation.cs`) belongs beside backup here, as `restore.rs`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use sf_backup_api::types::{BackupEntity, BackupStorageDescription};
use uuid::Uuid;

use crate::brs::backup::Run;
use crate::brs::lists::{ListQuery, page, under};
use crate::brs::partition::Partition;
use crate::brs::request::{Query, parse_description, parse_list_description};
use crate::brs::store::{Stored, StoredBackup, whole_seconds};
use crate::cluster::{Outcome, Topology, TopologyError, placement};
use crate::config::Config;
use crate::journal::WrittenBackup;
use crate::wire::answer::Answer;
use crate::wire::dialect::Dialect;
use crate::wire::operation::Operation;
use crate::wire::progress::Progress;
use crate::wire::refusal::Refusal;
use crate::wire::values::documented_epoch;

/// The Backup Restore Service: every partition's backups, progress and storage, behind the gateway.
pub(crate) struct BackupRestoreService {
    dialect: Dialect,
    /// Partitions were declared outside the topology: other UUIDs are not partitions.
    declared: bool,
    accepted: Duration,
    in_progress: Duration,
    timeout_unit: Duration,
    placeholders: bool,
    partitions: HashMap<Uuid, Partition>,
    /// The most backups one list page holds without `MaxResults` (the service's message-size limit).
    list_page_cap: usize,
    /// The gateway-wide order of writes, for listing ties.
    sequence: u64,
}

impl BackupRestoreService {
    /// The service of `config`, knowing the partitions of `topology` (already valid); fails when `config`
    /// declares a partition of the topology too.
    pub(crate) fn new(config: &Config, topology: &Topology) -> Result<Self, TopologyError> {
        let mut partitions: HashMap<Uuid, Partition> = config
            .partitions
            .iter()
            .map(|p| (p.id, Partition::new(Some(p))))
            .collect();
        for (app, svc, p) in topology.partitions() {
            if partitions.contains_key(&p.id) {
                return Err(TopologyError(format!(
                    "partitions: {} is a partition of {} in the topology too; configure it in one place",
                    p.id, svc.name
                )));
            }
            partitions.insert(p.id, Partition::placed(p, placement(app, svc, p)));
        }
        Ok(BackupRestoreService {
            dialect: config.dialect,
            declared: !config.partitions.is_empty(),
            accepted: config.accepted(),
            in_progress: config.in_progress(),
            timeout_unit: config.backup_timeout_unit(),
            placeholders: config.pending_placeholders,
            partitions,
            list_page_cap: config.list_page_cap(),
            sequence: 0,
        })
    }

    /// Learns the partitions of `topology` (already valid) that it does not know yet; fails, changing nothing,
    /// when one of them exists already outside the topology.
    pub(crate) fn adopt(&mut self, topology: &Topology) -> Result<(), TopologyError> {
        for (_, svc, p) in topology.partitions() {
            if self
                .partitions
                .get(&p.id)
                .is_some_and(|known| !known.in_topology)
            {
                return Err(TopologyError(format!(
                    "{}: partition {} exists already outside the topology (declared, scripted or used before); add it \
                     to the topology before using it",
                    svc.name, p.id
                )));
            }
        }
        for (app, svc, p) in topology.partitions() {
            self.partitions
                .entry(p.id)
                .or_insert_with(|| Partition::placed(p, placement(app, svc, p)));
        }
        Ok(())
    }

    /// The answer to `operation` on the raw partition id `raw_partition` (none for the location list), with the
    /// raw `query` and `body`: what the controllers of `BackupRestoreEndPoints/Controllers/` answer, in the
    /// service's dialect or the documented one.
    pub(crate) fn answer(
        &mut self,
        operation: Operation,
        raw_partition: Option<&str>,
        query: &str,
        body: &[u8],
    ) -> Answer {
        let dialect = self.dialect;
        self.handle(operation, raw_partition, query, body)
            .unwrap_or_else(|refusal| refusal.answer(dialect))
    }

    fn handle(
        &mut self,
        operation: Operation,
        raw_partition: Option<&str>,
        query: &str,
        body: &[u8],
    ) -> Result<Answer, Refusal> {
        let dialect = self.dialect;
        let query = Query::parse(query)?;
        if operation == Operation::GetBackupsFromBackupLocation {
            query.api_version(dialect)?;
            query.timeout()?;
            let mut list = query.list(false)?;
            let description = parse_list_description(body)?;
            list.start = description.start_date_time_filter;
            list.end = description.end_date_time_filter;
            list.latest = description.latest.unwrap_or(false);
            return self
                .list_location(&description.storage, &description.backup_entity, &list)
                .map(|body| Answer::json(200, body));
        }
        let raw = raw_partition.unwrap_or_default();
        let id: Uuid = raw
            .parse()
            .map_err(|_| Refusal::invalid(format!("partitionId must be a UUID, got {raw:?}")))?;
        query.api_version(dialect)?;
        query.timeout()?;
        match operation {
            Operation::GetBackups => {
                let list = query.list(true)?;
                self.list_partition(id, &list)
                    .map(|body| Answer::json(200, body))
            }
            Operation::Backup => {
                let backup_timeout = query.backup_timeout()?;
                let description = parse_description(body)?;
                self.start_backup(id, description.backup_storage, backup_timeout)?;
                Ok(Answer::empty(202))
            }
            Operation::GetBackupProgress => match self.progress(id) {
                Some(body) => Ok(Answer::json(200, body)),
                None => Err(Refusal::partition_not_found(id)),
            },
            other => unreachable!("{other:?} is not an operation of the Backup Restore Service"),
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

    /// Scripting an outcome implies the partition exists, even when others were declared.
    pub(crate) fn script_outcome(&mut self, id: Uuid, outcome: Outcome) {
        self.partitions
            .entry(id)
            .or_insert_with(|| Partition::new(None))
            .outcomes
            .push_back(outcome);
    }

    /// `BackupPartitionRequestOperation`: checks, then a new run; the 202 follows.
    pub(crate) fn start_backup(
        &mut self,
        id: Uuid,
        storage: Option<BackupStorageDescription>,
        backup_timeout_minutes: i32,
    ) -> Result<(), Refusal> {
        let now = Instant::now();
        let (accepted, in_progress, unit, dialect) = (
            self.accepted,
            self.in_progress,
            self.timeout_unit,
            self.dialect,
        );
        let Some(partition) = self.partition(id) else {
            return Err(Refusal::partition_not_found(id));
        };
        // The REST page backs up "the stateful persisted partition's state" only; the service's code does not
        // look (see `unreachable` below).
        if !partition.kind.can_back_up() && !dialect.is_service() {
            return Err(not_persisted());
        }
        let (accepted, in_progress) = (
            partition.accepted.unwrap_or(accepted),
            partition.in_progress.unwrap_or(in_progress),
        );
        if partition.restore_in_progress {
            return Err(Refusal::new(
                409,
                "FABRIC_E_RESTORE_IN_PROGRESS",
                format!("A restore is in progress for partition {id}."),
            ));
        }
        if partition.runs.last().is_some_and(|run| run.is_pending(now)) {
            return Err(Refusal::new(
                409,
                "FABRIC_E_BACKUP_IN_PROGRESS",
                format!("A backup is already in progress for partition {id}."),
            ));
        }
        if storage.is_none() && !partition.has_policy() {
            return Err(Refusal::new(
                404,
                "FABRIC_E_BACKUP_NOT_ENABLED",
                format!(
                    "Partition {id} has no backup policy and the request names no BackupStorage."
                ),
            ));
        }
        // A stateless or volatile service's partition has no replica that takes the request: the service accepts
        // it, retries sending it and times out. Its scripted outcomes are kept for nothing.
        let unreachable = !partition.kind.can_back_up();
        // `BackupTimeout` ≤ 0: the deadline has passed when the work item first runs, so no replica is asked.
        let expired = backup_timeout_minutes <= 0;
        let outcome = if unreachable || expired {
            Outcome::Timeout
        } else {
            partition.outcomes.pop_front().unwrap_or(Outcome::Success)
        };
        let accepted_wall = Utc::now();
        let finish_after = accepted + in_progress;
        // The replica names the backup after its clock when the upload starts.
        let location = partition.location(
            accepted_wall
                + chrono::Duration::from_std(finish_after).unwrap_or_default()
                + partition.clock_offset,
            dialect,
            id,
        );
        let sequence = partition.runs.len() as u64 + 1;
        self.sequence += 1;
        let write_sequence = self.sequence;
        let Some(partition) = self.partitions.get_mut(&id) else {
            return Ok(());
        };
        partition.runs.push(Run {
            backup_id: Uuid::new_v4(),
            accepted_at: now,
            accepted_wall,
            in_progress_after: accepted,
            finish_after,
            // The service's deadline runs from the POST (`RequestDateTime`), queueing included.
            deadline_after: unit.saturating_mul(u32::try_from(backup_timeout_minutes).unwrap_or(0)),
            expired,
            outcome,
            location,
            storage,
            // Grows with every backup, as a replica's log would between two backups.
            lsn: 261 + 100 * sequence,
            clock_offset: partition.clock_offset,
            sequence: write_sequence,
            unreachable,
        });
        Ok(())
    }

    /// Sets the clock offset of the node holding `id`'s primary, for backups requested from now on.
    pub(crate) fn set_node_clock_offset(&mut self, id: Uuid, offset: chrono::Duration) {
        self.partitions
            .entry(id)
            .or_insert_with(|| Partition::new(None))
            .clock_offset = offset;
    }

    /// The progress body in the gateway's dialect; `None` when the partition does not exist.
    pub(crate) fn progress(&mut self, id: Uuid) -> Option<Vec<u8>> {
        let (placeholders, dialect) = (self.placeholders, self.dialect);
        let partition = self.partition(id)?;
        let now = Instant::now();
        let progress = match partition.runs.last() {
            Some(run) => run.progress(now),
            None => Progress::NotRequested,
        };
        Some(progress.render(dialect, placeholders))
    }

    /// The backups written to storage so far, oldest first.
    pub(crate) fn written_backups(&self) -> Vec<WrittenBackup> {
        let now = Instant::now();
        let dialect = self.dialect;
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
                            epoch: documented_epoch(),
                            time_stamp_utc: dialect.time(run.node_time(after)),
                            reported_timeout: run.reported_timeout(now),
                        },
                    )
                })
            })
            .collect();
        written.sort_by_key(|(at, _)| *at);
        written.into_iter().map(|(_, w)| w).collect()
    }

    /// Puts backups into `id`'s storage; creates the partition when none were declared.
    pub(crate) fn store_backups(&mut self, id: Uuid, backups: Vec<StoredBackup>) {
        let now = Instant::now();
        let mut sequence = self.sequence;
        let partition = self
            .partitions
            .entry(id)
            .or_insert_with(|| Partition::new(None));
        for backup in backups {
            sequence += 1;
            let backup_id = Uuid::new_v4();
            let chain_id = if backup.full {
                backup_id
            } else {
                partition
                    .stored
                    .iter()
                    .rev()
                    .find(|stored| stored.full && stored.storage == backup.storage)
                    .map_or(backup_id, |stored| stored.chain_id)
            };
            partition.stored.push(Stored {
                backup_id,
                chain_id,
                created: whole_seconds(backup.created),
                storage: backup.storage,
                visible_at: now + backup.lands_after,
                lsn: 1_000 + sequence,
                full: backup.full,
                sequence,
            });
        }
        self.sequence = sequence;
    }

    /// GetPartitionBackupList: the policy storage of `id` only.
    pub(crate) fn list_partition(
        &mut self,
        id: Uuid,
        query: &ListQuery,
    ) -> Result<Vec<u8>, Refusal> {
        let (dialect, cap) = (self.dialect, self.list_page_cap);
        let Some(partition) = self.partition(id) else {
            return Err(Refusal::partition_not_found(id));
        };
        if !partition.kind.can_back_up() {
            // `RestorePointOperation.ValidateTheRequestFabricUri` → `FabricClientHelper.ValidateServiceUri`,
            // before the mappings are read.
            return Err(not_persisted());
        }
        if !partition.has_policy() {
            // GetBackupMappings: no mapping for the partition, its service or its application.
            return Err(Refusal::new(
                404,
                "FABRIC_E_BACKUP_NOT_ENABLED",
                format!("Backup is not enabled for partition {id}."),
            ));
        }
        let entries = partition
            .listed(id, Instant::now(), dialect)
            .into_iter()
            .filter(|entry| entry.storage.is_none())
            .collect();
        page(entries, query, dialect, cap, true)
    }

    /// GetBackupsFromBackupLocation: everything under `entity` in `storage`, whichever partition wrote it. The
    /// entity is not checked against the cluster, as in the service.
    pub(crate) fn list_location(
        &mut self,
        storage: &BackupStorageDescription,
        entity: &BackupEntity,
        query: &ListQuery,
    ) -> Result<Vec<u8>, Refusal> {
        let (dialect, cap, now) = (self.dialect, self.list_page_cap, Instant::now());
        let entries = self
            .partitions
            .iter()
            .flat_map(|(id, partition)| partition.listed(*id, now, dialect))
            .filter(|entry| entry.storage.as_ref() == Some(storage))
            .filter(|entry| under(entity, entry))
            .collect();
        page(entries, query, dialect, cap, false)
    }
}

/// 400 `FABRIC_E_INVALID_FOR_STATELESS_SERVICES` with the service's words (`StringResources.InvalidForStatelessServices`),
/// mapped to 400 by its `FabricError.ErrorCodeToHttpStatusCode`.
fn not_persisted() -> Refusal {
    Refusal::new(
        400,
        "FABRIC_E_INVALID_FOR_STATELESS_SERVICES",
        "Not applicable for stateless or non persisted stateful services.",
    )
}
