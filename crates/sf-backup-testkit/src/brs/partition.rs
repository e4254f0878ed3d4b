//! One partition as the Backup Restore Service knows it: where it is in the cluster, whether a policy covers it,
//! its scripted outcomes, its on-demand backups and what is in its storage.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::brs::backup::Run;
use crate::brs::store::{Stored, folder, whole_seconds};
use crate::cluster::{Outcome, PartitionConfig, PartitionScheme, Placement, ServiceKind};
use crate::wire::dialect::Dialect;
use crate::wire::lists::Listed;

pub(crate) struct Partition {
    pub backup_policy: bool,
    pub restore_in_progress: bool,
    pub outcomes: VecDeque<Outcome>,
    pub application: String,
    pub service: String,
    /// `StatefulPersisted` outside the topology.
    pub kind: ServiceKind,
    pub scheme: Option<PartitionScheme>,
    pub in_topology: bool,
    /// An application-wide policy covers it.
    pub application_policy: bool,
    /// This partition's own phase lengths, if it has them.
    pub accepted: Option<Duration>,
    pub in_progress: Option<Duration>,
    pub clock_offset: chrono::Duration,
    pub runs: Vec<Run>,
    /// Backups in storage that no on-demand request of this gateway wrote: periodic policy backups and seeded ones.
    pub stored: Vec<Stored>,
}

impl Partition {
    pub(crate) fn new(config: Option<&PartitionConfig>) -> Self {
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
    pub(crate) fn placed(config: &PartitionConfig, placement: Placement) -> Self {
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
    pub(crate) fn has_policy(&self) -> bool {
        self.application_policy || (self.kind.can_back_up() && self.backup_policy)
    }

    /// Where a backup of this partition created at `created` is, relative to the storage root.
    pub(crate) fn location(&self, created: DateTime<Utc>, dialect: Dialect, id: Uuid) -> String {
        let sep = dialect.path_separator();
        format!(
            "{app}{sep}{svc}{sep}{id}{sep}{stamp}.zip",
            app = folder(&self.application),
            svc = folder(&self.service),
            stamp = created.format("%Y-%m-%d %H.%M.%S"),
        )
    }

    /// What is in storage for this partition now: the runs that were written (late ones included) and the
    /// stored backups whose time has come.
    pub(crate) fn listed(&self, id: Uuid, now: Instant, dialect: Dialect) -> Vec<Listed> {
        let runs = self.runs.iter().filter_map(|run| {
            let after = run.written_after()?;
            (run.accepted_at + after <= now).then(|| Listed {
                partition_id: id,
                application: self.application.clone(),
                service: self.service.clone(),
                backup_id: run.backup_id,
                // An on-demand backup is always Full and starts its own chain (BackupNowCallback).
                chain_id: run.backup_id,
                created: whole_seconds(run.node_time(after)),
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
