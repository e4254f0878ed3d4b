//! The backup store as the Backup Restore Service sees it: the backups in storage that no on-demand request of
//! this gateway wrote (periodic policy backups, older ones), and how a backup's folder and file are named
//! (`BackupRestoreManager.GetBackupRelativePath`, `BackupStorage.GetRelativeStorePath`).

use std::time::{Duration, Instant};

use chrono::{DateTime, Timelike, Utc};
use sf_backup_api::types::BackupStorageDescription;
use uuid::Uuid;

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

/// A backup in storage that is not an on-demand run: a periodic policy backup or a seeded one.
pub(crate) struct Stored {
    pub backup_id: Uuid,
    pub chain_id: Uuid,
    pub created: DateTime<Utc>,
    pub storage: Option<BackupStorageDescription>,
    pub visible_at: Instant,
    pub lsn: u64,
    pub full: bool,
    pub sequence: u64,
}

/// A name as a folder of the backup store: the service writes `/` inside a name as `$`
/// (`UtilityHelper.CreateUriFromApplicationAndServiceName`, `BackupRestoreManager.GetBackupRelativePath`).
pub(crate) fn folder(name: &str) -> String {
    name.replace('/', "$")
}

/// Whole seconds: the metadata file's name has no fraction.
pub(crate) fn whole_seconds(time: DateTime<Utc>) -> DateTime<Utc> {
    time.with_nanosecond(0).unwrap_or(time)
}
