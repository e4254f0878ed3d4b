//! The fake Backup/Restore service: partitions, their backups and what progress reports.
//!
//! A backup's state is a pure function of the time elapsed since it was accepted, so no timer tasks run: the
//! state is computed whenever a request or a test asks, which keeps the gateway deterministic and cheap.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use chrono::{DateTime, Timelike, Utc};
use sf_backup_api::types::{
    BackupProgressInfo, BackupState, BackupStorageDescription, Epoch, FabricErrorCodes,
    FabricErrorError, Int64Text, KnownBackupState,
};
use uuid::Uuid;

use crate::config::{Config, Dialect, Fault, Outcome, PartitionConfig};
use crate::listing::{ListQuery, Listed};
use crate::topology::{
    self, ApplicationConfig, GatewayQuery, PartitionScheme, Placement, QueryRefusal, ServiceConfig,
    ServiceKind, Topology, TopologyError,
};
use crate::{RecordedRequest, WrittenBackup};

/// Parses a code so that a code the spec lists becomes the known variant, as a client would see it.
pub(crate) fn error_code(code: &str) -> FabricErrorCodes {
    serde_json::from_value(serde_json::Value::String(code.to_owned()))
        .unwrap_or_else(|_| FabricErrorCodes::String(code.to_owned()))
}

pub(crate) fn error(code: &str, message: impl Into<String>) -> FabricErrorError {
    FabricErrorError::new(error_code(code), Some(message.into()))
}

/// A generated type from its builder. The generated types are `#[non_exhaustive]`, so this crate builds them
/// through `builder()`; every one built here has its required members set, so the conversion cannot fail.
pub(crate) fn build<T, B>(builder: B) -> T
where
    T: TryFrom<B>,
    T::Error: std::fmt::Display,
{
    T::try_from(builder)
        .unwrap_or_else(|e| panic!("a generated type built without a required member: {e}"))
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
    /// The partition's node clock, relative to the gateway's, when the backup was requested.
    clock_offset: chrono::Duration,
    /// The gateway-wide order of writes, for listing ties.
    sequence: u64,
    /// The request never reaches a replica that can back up (a stateless or volatile service's partition): it
    /// stays `Accepted` until the `BackupTimeout` deadline, then turns `Timeout`, and nothing is written.
    unreachable: bool,
}

impl Run {
    fn phase(&self, now: Instant) -> Phase {
        let elapsed = now.saturating_duration_since(self.accepted_at);
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
    fn written_after(&self) -> Option<Duration> {
        if self.unreachable {
            return None;
        }
        match self.outcome {
            Outcome::Success | Outcome::TimeoutButWritten => Some(self.finish_after),
            Outcome::Failure { .. } | Outcome::Timeout => None,
        }
    }

    /// The time `after` the request on the partition's node clock; whole seconds in the service's dialect, whose
    /// converter writes `yyyy-MM-dd'T'HH:mm:ssZ`.
    fn stamp(&self, after: Duration, dialect: Dialect) -> DateTime<Utc> {
        let at = self.accepted_wall
            + chrono::Duration::from_std(after).unwrap_or_default()
            + self.clock_offset;
        match dialect {
            Dialect::Service => at.with_nanosecond(0).unwrap_or(at),
            Dialect::Documented => at,
        }
    }

    fn snapshot(&self, now: Instant) -> Snapshot<'_> {
        match self.phase(now) {
            Phase::Accepted => Snapshot::Pending(KnownBackupState::Accepted),
            Phase::InProgress => Snapshot::Pending(KnownBackupState::BackupInProgress),
            Phase::Success(at) => Snapshot::Success { run: self, at },
            Phase::Failure(at, failure) => Snapshot::Failure {
                run: self,
                at,
                failure,
            },
            Phase::Timeout(at) => Snapshot::Timeout { run: self, at },
        }
    }
}

/// What progress says about a partition, before it is put into one dialect's shape.
enum Snapshot<'a> {
    NotRequested,
    Pending(KnownBackupState),
    Success {
        run: &'a Run,
        at: Duration,
    },
    Failure {
        run: &'a Run,
        at: Duration,
        failure: FabricErrorError,
    },
    Timeout {
        run: &'a Run,
        at: Duration,
    },
}

/// The epoch every fake backup records (the seed page's example values).
pub(crate) const DATA_LOSS_VERSION: i64 = 131_462_452_931_584_510;
pub(crate) const CONFIGURATION_VERSION: i64 = 8_589_934_592;

pub(crate) fn documented_epoch() -> Epoch {
    build(
        Epoch::builder()
            .data_loss_version(Int64Text::String(DATA_LOSS_VERSION.to_string()))
            .configuration_version(Int64Text::String(CONFIGURATION_VERSION.to_string())),
    )
}

/// The service's `Timeout` message (`StringResources.BackupTimeout` in its resx).
const SERVICE_TIMEOUT_MESSAGE: &str = "The Request for backup has timeout";
/// The on-demand backup docs' `Timeout` message.
const DOCUMENTED_TIMEOUT_MESSAGE: &str = "The request of backup has timed out.";
/// `default(DateTime)` as the service's converter writes it on a UTC node.
const NO_TIME: &str = "0001-01-01T00:00:00Z";

/// The service's progress view (`BackupRestoreTypes/BackupProgress.cs`): every member is written, nulls included,
/// in declaration order; the LSN is a plain `long` (a JSON number) while the epoch's versions go through
/// `LongToStringConverter` (strings).
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

#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct ServiceEpoch {
    data_loss_version: String,
    configuration_version: String,
}

/// The service's FabricError: `Code` through `StringEnumConverter`, which writes a value that is not a defined
/// `FABRIC_ERROR_CODE` name as its integer.
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ServiceFabricError {
    code: serde_json::Value,
    message: String,
}

impl ServiceFabricError {
    pub(crate) fn new(code: &str, message: impl Into<String>) -> Self {
        let code = match code.parse::<i64>() {
            Ok(number) => serde_json::Value::from(number),
            Err(_) => serde_json::Value::from(code),
        };
        Self {
            code,
            message: message.into(),
        }
    }

    fn from_api(error: &FabricErrorError) -> Self {
        let code = match &error.code {
            FabricErrorCodes::KnownFabricErrorCodes(known) => known.to_string(),
            FabricErrorCodes::String(code) => code.clone(),
            FabricErrorCodes::Int64(number) => number.to_string(),
            // A representation a later spec adds (the generated enum is non-exhaustive).
            other => format!("{other:?}"),
        };
        Self::new(&code, error.message.clone().unwrap_or_default())
    }
}

/// `{"Error": …}`, as the service's `FabricErrorError.ToHttpResponseMessage` serialises it.
#[derive(serde::Serialize)]
pub(crate) struct ServiceErrorBody {
    #[serde(rename = "Error")]
    pub error: ServiceFabricError,
}

/// A progress body in the service's shapes for a state with no result (a pending or unknown one): the state, and
/// every other member as its placeholder.
pub(crate) fn service_pending_body(state: &str) -> Vec<u8> {
    serde_json::to_vec(&ServiceProgress::placeholders(state, None)).unwrap_or_default()
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

impl Snapshot<'_> {
    fn render(self, dialect: Dialect, placeholders: bool) -> Vec<u8> {
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
            Snapshot::NotRequested => return None,
            Snapshot::Pending(state) => pending(&state.to_string(), None),
            Snapshot::Success { run, at } => ServiceProgress {
                backup_state: "Success".to_owned(),
                time_stamp_utc: run
                    .stamp(at, Dialect::Service)
                    .format("%Y-%m-%dT%H:%M:%SZ")
                    .to_string(),
                backup_id: run.backup_id,
                backup_location: Some(run.location.clone()),
                epoch_of_last_backup_record: Some(ServiceEpoch {
                    data_loss_version: DATA_LOSS_VERSION.to_string(),
                    configuration_version: CONFIGURATION_VERSION.to_string(),
                }),
                lsn_of_last_backup_record: run.lsn,
                failure_error: None,
            },
            // The stored time of a Failure or Timeout is not copied to the view.
            Snapshot::Failure { failure, .. } => {
                pending("Failure", Some(ServiceFabricError::from_api(&failure)))
            }
            Snapshot::Timeout { .. } => pending(
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
            Snapshot::NotRequested => state(KnownBackupState::Invalid),
            Snapshot::Pending(s) => pending(s),
            Snapshot::Success { run, at } => state(KnownBackupState::Success)
                .backup_id(run.backup_id)
                .backup_location(run.location.clone())
                .epoch_of_last_backup_record(documented_epoch())
                .lsn_of_last_backup_record(Int64Text::String(run.lsn.to_string()))
                .time_stamp_utc(run.stamp(at, Dialect::Documented)),
            Snapshot::Failure { run, at, failure } => state(KnownBackupState::Failure)
                .time_stamp_utc(run.stamp(at, Dialect::Documented))
                .failure_error(failure),
            Snapshot::Timeout { run, at } => state(KnownBackupState::Timeout)
                .time_stamp_utc(run.stamp(at, Dialect::Documented))
                .failure_error(error("FABRIC_E_TIMEOUT", DOCUMENTED_TIMEOUT_MESSAGE)),
        })
    }
}

struct Partition {
    backup_policy: bool,
    restore_in_progress: bool,
    outcomes: VecDeque<Outcome>,
    application: String,
    service: String,
    /// `StatefulPersisted` outside the topology.
    kind: ServiceKind,
    scheme: Option<PartitionScheme>,
    in_topology: bool,
    /// An application-wide policy covers it.
    application_policy: bool,
    /// This partition's own phase lengths, if it has them.
    accepted: Option<Duration>,
    in_progress: Option<Duration>,
    clock_offset: chrono::Duration,
    runs: Vec<Run>,
    /// Backups in storage that no on-demand request of this gateway wrote: periodic policy backups and seeded ones.
    stored: Vec<Stored>,
}

/// A backup in storage that is not an on-demand run: a periodic policy backup or a seeded one.
struct Stored {
    backup_id: Uuid,
    chain_id: Uuid,
    created: DateTime<Utc>,
    storage: Option<BackupStorageDescription>,
    visible_at: Instant,
    lsn: u64,
    full: bool,
    sequence: u64,
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
            kind: ServiceKind::StatefulPersisted,
            scheme: config.and_then(|c| c.scheme.clone()),
            in_topology: false,
            application_policy: false,
            accepted: config
                .and_then(|c| c.accepted_ms)
                .map(Duration::from_millis),
            in_progress: config
                .and_then(|c| c.in_progress_ms)
                .map(Duration::from_millis),
            clock_offset: chrono::Duration::milliseconds(
                config.map_or(0, |c| c.node_clock_offset_ms),
            ),
            runs: Vec::new(),
            stored: Vec::new(),
        }
    }

    /// A partition of the topology, with its behaviour from `config` and its place from the topology.
    fn placed(config: &PartitionConfig, placement: Placement) -> Self {
        Partition {
            application: placement.application,
            service: placement.service,
            kind: placement.kind,
            scheme: Some(placement.scheme),
            in_topology: true,
            application_policy: placement.application_policy,
            ..Partition::new(Some(config))
        }
    }

    /// Whether a policy covers it: its own (persisted services only) or its application's.
    fn has_policy(&self) -> bool {
        self.application_policy || (self.kind.can_back_up() && self.backup_policy)
    }

    fn location(&self, created: DateTime<Utc>, dialect: Dialect, id: Uuid) -> String {
        let sep = match dialect {
            Dialect::Service => '\\',
            Dialect::Documented => '/',
        };
        format!(
            "{app}{sep}{svc}{sep}{id}{sep}{stamp}.zip",
            app = folder(&self.application),
            svc = folder(&self.service),
            stamp = created.format("%Y-%m-%d %H.%M.%S"),
        )
    }

    /// What is in storage for this partition now: the runs that were written (late ones included) and the
    /// stored backups whose time has come.
    fn listed(&self, id: Uuid, now: Instant, dialect: Dialect) -> Vec<Listed> {
        let runs = self.runs.iter().filter_map(|run| {
            let after = run.written_after()?;
            (run.accepted_at + after <= now).then(|| Listed {
                partition_id: id,
                application: self.application.clone(),
                service: self.service.clone(),
                backup_id: run.backup_id,
                // An on-demand backup is always Full and starts its own chain (BackupNowCallback).
                chain_id: run.backup_id,
                created: crate::listing::whole_seconds(run.stamp(after, dialect)),
                location: run.location.clone(),
                lsn: run.lsn,
                full: true,
                storage: run.storage.clone(),
                sequence: run.sequence,
                scheme: self.scheme.clone(),
            })
        });
        let stored = self
            .stored
            .iter()
            .filter(|stored| stored.visible_at <= now)
            .map(|stored| Listed {
                partition_id: id,
                application: self.application.clone(),
                service: self.service.clone(),
                backup_id: stored.backup_id,
                chain_id: stored.chain_id,
                created: stored.created,
                location: self.location(stored.created, dialect, id),
                lsn: stored.lsn,
                full: stored.full,
                storage: stored.storage.clone(),
                sequence: stored.sequence,
                scheme: self.scheme.clone(),
            });
        runs.chain(stored).collect()
    }
}

/// Everything mutable behind the gateway's lock.
pub(crate) struct State {
    pub dialect: Dialect,
    /// Until then every request gets 503 `FABRIC_E_NOT_PRIMARY` (a [`crate::Fault::primary_move`]).
    pub primary_moving_until: Option<Instant>,
    declared: bool,
    accepted: Duration,
    in_progress: Duration,
    timeout_unit: Duration,
    placeholders: bool,
    partitions: HashMap<Uuid, Partition>,
    /// The most backups one list page holds without `MaxResults` (the service's message-size limit).
    list_page_cap: usize,
    /// What GetServiceInfoList and GetPartitionInfoList list.
    topology: Topology,
    /// The most items one page of those two holds.
    query_page_size: usize,
    sequence: u64,
    pub faults: VecDeque<Fault>,
    pub journal: Vec<RecordedRequest>,
}

impl State {
    /// Fails when the topology cannot be, or names a partition that `partitions` declares too.
    pub fn new(config: &Config) -> Result<Self, TopologyError> {
        let topology = config.effective_topology();
        topology.validate()?;
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
            partitions.insert(p.id, Partition::placed(p, topology::placement(app, svc, p)));
        }
        Ok(State {
            dialect: config.dialect,
            primary_moving_until: None,
            declared: !config.partitions.is_empty(),
            accepted: config.accepted(),
            in_progress: config.in_progress(),
            timeout_unit: config.backup_timeout_unit(),
            placeholders: config.pending_placeholders,
            partitions,
            list_page_cap: config.list_page_cap(),
            topology,
            query_page_size: config.query_page_size(),
            sequence: 0,
            faults: config.faults.iter().cloned().collect(),
            journal: Vec::new(),
        })
    }

    pub fn topology(&self) -> Topology {
        self.topology.clone()
    }

    /// Puts `candidate` in place of the topology once it is valid and adds its new partitions; a new partition
    /// may not exist already outside the topology.
    fn replace_topology(&mut self, candidate: Topology) -> Result<(), TopologyError> {
        candidate.validate()?;
        for (_, svc, p) in candidate.partitions() {
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
        for (app, svc, p) in candidate.partitions() {
            self.partitions
                .entry(p.id)
                .or_insert_with(|| Partition::placed(p, topology::placement(app, svc, p)));
        }
        self.topology = candidate;
        Ok(())
    }

    pub fn add_application(&mut self, application: ApplicationConfig) -> Result<(), TopologyError> {
        if self.topology.application_named(&application.name).is_some() {
            return Err(TopologyError(format!(
                "application {:?} exists already; add services to it with add_service",
                application.name
            )));
        }
        let candidate = self.topology.clone().application(application);
        self.replace_topology(candidate)
    }

    pub fn add_service(
        &mut self,
        application: &str,
        service: ServiceConfig,
    ) -> Result<(), TopologyError> {
        let mut candidate = self.topology.clone();
        let Some(app) = candidate
            .applications
            .iter_mut()
            .find(|app| app.name == application)
        else {
            return Err(TopologyError(format!(
                "application {application:?} is not in the topology; add it with add_application"
            )));
        };
        app.services.push(service);
        self.replace_topology(candidate)
    }

    /// GetServiceInfoList.
    pub fn list_services(
        &self,
        application_id: &str,
        query: &GatewayQuery,
    ) -> Result<Vec<u8>, QueryRefusal> {
        topology::services(
            &self.topology,
            application_id,
            query,
            self.dialect,
            self.query_page_size,
        )
    }

    /// GetPartitionInfoList.
    pub fn list_partitions(
        &self,
        service_id: &str,
        query: &GatewayQuery,
    ) -> Result<Vec<u8>, QueryRefusal> {
        topology::partitions(
            &self.topology,
            service_id,
            query,
            self.dialect,
            self.query_page_size,
        )
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
        let mut found = None;
        for (index, fault) in self.faults.iter_mut().enumerate() {
            if !fault.matches(operation, partition) {
                continue;
            }
            if fault.skip > 0 {
                fault.skip -= 1;
                continue;
            }
            found = Some(index);
            break;
        }
        let index = found?;
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
        let (accepted, in_progress, unit, dialect) = (
            self.accepted,
            self.in_progress,
            self.timeout_unit,
            self.dialect,
        );
        let Some(partition) = self.partition(id) else {
            return Err(Refusal {
                status: 404,
                code: "FABRIC_E_PARTITION_NOT_FOUND",
                message: format!("Partition {id} not found."),
            });
        };
        // The REST page backs up "the stateful persisted partition's state" only; the service's code does not
        // look (see `unreachable` below).
        if !partition.kind.can_back_up() && dialect == Dialect::Documented {
            return Err(not_persisted());
        }
        let (accepted, in_progress) = (
            partition.accepted.unwrap_or(accepted),
            partition.in_progress.unwrap_or(in_progress),
        );
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
        if storage.is_none() && !partition.has_policy() {
            return Err(Refusal {
                status: 404,
                code: "FABRIC_E_BACKUP_NOT_ENABLED",
                message: format!(
                    "Partition {id} has no backup policy and the request names no BackupStorage."
                ),
            });
        }
        // A stateless or volatile service's partition has no replica that takes the request: the service accepts
        // it, retries sending it and times out. Its scripted outcomes are kept for nothing.
        let unreachable = !partition.kind.can_back_up();
        let outcome = if unreachable {
            Outcome::Timeout
        } else {
            partition.outcomes.pop_front().unwrap_or(Outcome::Success)
        };
        let accepted_wall = Utc::now();
        let finish_after = accepted + in_progress;
        let stamp = (accepted_wall
            + chrono::Duration::from_std(finish_after).unwrap_or_default()
            + partition.clock_offset)
            .format("%Y-%m-%d %H.%M.%S");
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
            deadline_after: unit
                .saturating_mul(u32::try_from(backup_timeout_minutes).unwrap_or(u32::MAX)),
            outcome,
            // The service's replica writes Windows paths; the REST page shows none, so the documented dialect keeps
            // forward slashes.
            location: format!(
                "{app}{sep}{svc}{sep}{id}{sep}{stamp}.zip",
                app = folder(&partition.application),
                svc = folder(&partition.service),
                sep = match dialect {
                    Dialect::Service => '\\',
                    Dialect::Documented => '/',
                },
            ),
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
    pub fn set_node_clock_offset(&mut self, id: Uuid, offset: chrono::Duration) {
        self.partitions
            .entry(id)
            .or_insert_with(|| Partition::new(None))
            .clock_offset = offset;
    }

    /// The progress body in the gateway's dialect; `None` when the partition does not exist.
    pub fn progress(&mut self, id: Uuid) -> Option<Vec<u8>> {
        let (placeholders, dialect) = (self.placeholders, self.dialect);
        let partition = self.partition(id)?;
        let now = Instant::now();
        let snapshot = match partition.runs.last() {
            Some(run) => run.snapshot(now),
            None => Snapshot::NotRequested,
        };
        Some(snapshot.render(dialect, placeholders))
    }

    pub fn written_backups(&self) -> Vec<WrittenBackup> {
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
                            time_stamp_utc: run.stamp(after, dialect),
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

/// 400 `FABRIC_E_INVALID_FOR_STATELESS_SERVICES` with the service's words (`StringResources.InvalidForStatelessServices`),
/// mapped to 400 by its `FabricError.ErrorCodeToHttpStatusCode`.
fn not_persisted() -> Refusal {
    Refusal {
        status: 400,
        code: "FABRIC_E_INVALID_FOR_STATELESS_SERVICES",
        message: "Not applicable for stateless or non persisted stateful services.".to_owned(),
    }
}

/// A name as a folder of the backup store: the service writes `/` inside a name as `$`
/// (`UtilityHelper.CreateUriFromApplicationAndServiceName`, `BackupRestoreManager.GetBackupRelativePath`).
fn folder(name: &str) -> String {
    name.replace('/', "$")
}

/// A backup to put into a partition's storage directly, as a periodic policy backup or an older backup would be.
#[derive(Clone, Debug)]
pub struct StoredBackup {
    /// Its creation time on the node's clock; listed with whole seconds, as the service names the file.
    pub created: DateTime<Utc>,
    /// The storage it is in; `None` is the partition's backup policy storage.
    pub storage: Option<BackupStorageDescription>,
    /// A full backup (its own chain), or an incremental one in the chain of the last full backup before it.
    pub full: bool,
    /// How long from now until it lands in storage (a periodic backup taken during a wait); zero: already there.
    pub lands_after: Duration,
}

impl StoredBackup {
    /// A full backup in the policy storage, created at `created`, already in storage.
    pub fn full(created: DateTime<Utc>) -> Self {
        Self {
            created,
            storage: None,
            full: true,
            lands_after: Duration::ZERO,
        }
    }
}

impl State {
    /// Puts backups into `id`'s storage; creates the partition when none were declared.
    pub fn store_backups(&mut self, id: Uuid, backups: Vec<StoredBackup>) {
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
                created: crate::listing::whole_seconds(backup.created),
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
    pub fn list_partition(&mut self, id: Uuid, query: &ListQuery) -> Result<Vec<u8>, Refusal> {
        let (dialect, cap) = (self.dialect, self.list_page_cap);
        let Some(partition) = self.partition(id) else {
            return Err(Refusal {
                status: 404,
                code: "FABRIC_E_PARTITION_NOT_FOUND",
                message: format!("Partition {id} not found."),
            });
        };
        if !partition.kind.can_back_up() {
            // `RestorePointOperation.ValidateTheRequestFabricUri` → `FabricClientHelper.ValidateServiceUri`,
            // before the mappings are read.
            return Err(not_persisted());
        }
        if !partition.has_policy() {
            // GetBackupMappings: no mapping for the partition, its service or its application.
            return Err(Refusal {
                status: 404,
                code: "FABRIC_E_BACKUP_NOT_ENABLED",
                message: format!("Backup is not enabled for partition {id}."),
            });
        }
        let entries = partition
            .listed(id, Instant::now(), dialect)
            .into_iter()
            .filter(|entry| entry.storage.is_none())
            .collect();
        crate::listing::page(entries, query, dialect, cap, true)
    }

    /// GetBackupsFromBackupLocation: everything under `entity` in `storage`, whichever partition wrote it. The
    /// entity is not checked against the cluster, as in the service.
    pub fn list_location(
        &mut self,
        storage: &BackupStorageDescription,
        entity: &sf_backup_api::types::BackupEntity,
        query: &ListQuery,
    ) -> Result<Vec<u8>, Refusal> {
        let (dialect, cap, now) = (self.dialect, self.list_page_cap, Instant::now());
        let entries = self
            .partitions
            .iter()
            .flat_map(|(id, partition)| partition.listed(*id, now, dialect))
            .filter(|entry| entry.storage.as_ref() == Some(storage))
            .filter(|entry| crate::listing::under(entity, entry))
            .collect();
        crate::listing::page(entries, query, dialect, cap, false)
    }
}
