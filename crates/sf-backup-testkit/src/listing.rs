//! The two backup lists (GetPartitionBackupList, GetBackupsFromBackupLocation), answered from the fake service's
//! record of what is in storage, in either dialect.
//!
//! What the service's code does (../shared/notes/more-operations.md §7): a backup is listed iff its metadata file
//! is in `<App>/<Service>/<PartitionId>` of the storage read; the partition list reads only the policy storage and
//! answers 404 `FABRIC_E_BACKUP_NOT_ENABLED` without a policy; the date filters compare the file name's time (whole
//! seconds), both ends inclusive; Latest keeps the newest per partition; items come grouped by partition, oldest
//! first. The service dialect also reproduces its quirks: `MaxResults` with no match is 400 "Index was out of
//! range", `Latest` with `MaxResults` returns the *oldest* backup, and its continuation tokens hold `+` and a space.

use chrono::{DateTime, Timelike, Utc};
use sf_backup_api::types::{
    BackupEntity, BackupInfo, BackupStorageDescription, BackupType, KnownBackupType,
    PagedBackupInfoList, PartitionInformation,
};
use uuid::Uuid;

use crate::config::Dialect;
use crate::state::{Refusal, build};
use crate::topology::PartitionScheme;

/// One backup in storage, as the listing sees it.
#[derive(Clone, Debug)]
pub(crate) struct Listed {
    pub partition_id: Uuid,
    pub application: String,
    pub service: String,
    pub backup_id: Uuid,
    pub chain_id: Uuid,
    /// The replica's clock when the backup was taken, whole seconds (the file name's time).
    pub created: DateTime<Utc>,
    pub location: String,
    pub lsn: u64,
    pub full: bool,
    /// `None`: the partition's policy storage.
    pub storage: Option<BackupStorageDescription>,
    /// The order in which it was written, for ties.
    pub sequence: u64,
    /// The partition's scheme; `None`: Int64Range over every key.
    pub scheme: Option<PartitionScheme>,
}

/// The query values both lists take.
#[derive(Debug, Default)]
pub(crate) struct ListQuery {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub latest: bool,
    pub max_results: u64,
    pub token: Option<String>,
}

/// The partition list's token prefix: the policy storage's `StorageId` (GetRestorePointsOperation.cs L198).
const POLICY_STORAGE_ID: &str = "6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";
/// The service's token separator (`ContinuationTokenSeparatorChar`).
const SEPARATOR: char = '+';

/// Whole seconds: the metadata file's name has no fraction.
pub(crate) fn whole_seconds(time: DateTime<Utc>) -> DateTime<Utc> {
    time.with_nanosecond(0).unwrap_or(time)
}

fn index_out_of_range() -> Refusal {
    Refusal {
        status: 400,
        code: "E_INVALIDARG",
        message: "Index was out of range. Must be non-negative and less than the size of the collection.\r\n\
                  Parameter name: index"
            .to_owned(),
    }
}

fn invalid_token(token: &str) -> Refusal {
    Refusal {
        status: 400,
        code: "E_INVALIDARG",
        message: format!("Invalid continuation token {token:?}"),
    }
}

impl Listed {
    fn scheme(&self) -> PartitionScheme {
        self.scheme.clone().unwrap_or(PartitionScheme::Int64Range {
            low_key: i64::MIN,
            high_key: i64::MAX,
        })
    }

    /// The service's file-share token for a page that ends here: the metadata file's path with `\` as `+`.
    fn service_key(&self) -> String {
        format!(
            "{app}{SEPARATOR}{svc}{SEPARATOR}{id}{SEPARATOR}{time}.bkmetadata",
            app = self.application,
            svc = self.service,
            id = self.partition_id,
            time = self.created.format("%Y-%m-%d %H.%M.%S"),
        )
    }

    /// The token shape the REST examples show (illustrative there; opaque to clients).
    fn documented_key(&self) -> String {
        format!(
            "fabric:/{}/{}#{}#{}",
            self.application, self.service, self.partition_id, self.backup_id
        )
    }

    fn key(&self, dialect: Dialect) -> String {
        match dialect {
            Dialect::Service => self.service_key(),
            Dialect::Documented => self.documented_key(),
        }
    }

    fn documented(&self) -> BackupInfo {
        build(
            BackupInfo::builder()
                .application_name(format!("fabric:/{}", self.application))
                .backup_chain_id(self.chain_id)
                .backup_id(self.backup_id)
                .backup_location(self.location.clone())
                .backup_type(BackupType::KnownBackupType(if self.full {
                    KnownBackupType::Full
                } else {
                    KnownBackupType::Incremental
                }))
                .creation_time_utc(self.created)
                .epoch_of_last_backup_record(crate::state::documented_epoch())
                .lsn_of_last_backup_record(self.lsn.to_string())
                .partition_information(match self.scheme() {
                    PartitionScheme::Int64Range { low_key, high_key } => {
                        PartitionInformation::Int64Range {
                            id: Some(self.partition_id),
                            low_key: Some(low_key.to_string()),
                            high_key: Some(high_key.to_string()),
                        }
                    }
                    PartitionScheme::Named { name } => PartitionInformation::Named {
                        id: Some(self.partition_id),
                        name: Some(name),
                    },
                    PartitionScheme::Singleton => PartitionInformation::Singleton {
                        id: Some(self.partition_id),
                    },
                })
                .service_manifest_version("1.0.0".to_owned())
                .service_name(format!("fabric:/{}/{}", self.application, self.service)),
        )
    }

    fn service(&self) -> ServiceBackupInfo {
        ServiceBackupInfo {
            backup_id: self.backup_id,
            backup_chain_id: self.chain_id,
            application_name: Some(format!("fabric:/{}", self.application)),
            service_name: Some(format!("fabric:/{}/{}", self.application, self.service)),
            partition_information: Some(match self.scheme() {
                PartitionScheme::Int64Range { low_key, high_key } => ServicePartitionInformation {
                    service_partition_kind: "Int64Range",
                    id: self.partition_id,
                    name: None,
                    low_key: Some(low_key.to_string()),
                    high_key: Some(high_key.to_string()),
                },
                PartitionScheme::Named { name } => ServicePartitionInformation {
                    service_partition_kind: "Named",
                    id: self.partition_id,
                    name: Some(name),
                    low_key: None,
                    high_key: None,
                },
                PartitionScheme::Singleton => ServicePartitionInformation {
                    service_partition_kind: "Singleton",
                    id: self.partition_id,
                    name: None,
                    low_key: None,
                    high_key: None,
                },
            }),
            backup_location: Some(self.location.clone()),
            backup_type: if self.full { "Full" } else { "Incremental" },
            epoch_of_last_backup_record: Some(ServiceEpoch {
                data_loss_version: crate::state::DATA_LOSS_VERSION.to_string(),
                configuration_version: crate::state::CONFIGURATION_VERSION.to_string(),
            }),
            lsn_of_last_backup_record: self.lsn.to_string(),
            creation_time_utc: self.created.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            failure_error: None,
            service_manifest_version: Some("1.0.0".to_owned()),
        }
    }
}

/// `RestorePoint.cs` as Json.NET writes it: declaration order, nulls written, the LSN, keys and epoch numbers
/// through `LongToStringConverter` (strings), times as `yyyy-MM-dd'T'HH:mm:ssZ`.
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct ServiceBackupInfo {
    backup_id: Uuid,
    backup_chain_id: Uuid,
    application_name: Option<String>,
    service_name: Option<String>,
    partition_information: Option<ServicePartitionInformation>,
    backup_location: Option<String>,
    backup_type: &'static str,
    epoch_of_last_backup_record: Option<ServiceEpoch>,
    lsn_of_last_backup_record: String,
    creation_time_utc: String,
    failure_error: Option<serde_json::Value>,
    service_manifest_version: Option<String>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct ServicePartitionInformation {
    service_partition_kind: &'static str,
    id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    low_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    high_key: Option<String>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct ServiceEpoch {
    data_loss_version: String,
    configuration_version: String,
}

/// `PagedBackupInfoList` as the service writes it: `Items`, then `ContinuationToken` (`null` on the last page).
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct ServicePage {
    items: Vec<ServiceBackupInfo>,
    continuation_token: Option<String>,
}

/// Whether `entry` is under `entity`'s folder.
pub(crate) fn under(entity: &BackupEntity, entry: &Listed) -> bool {
    let app = format!("fabric:/{}", entry.application);
    let svc = format!("fabric:/{}/{}", entry.application, entry.service);
    match entity {
        BackupEntity::Application { application_name } => *application_name == app,
        BackupEntity::Service { service_name } => *service_name == svc,
        BackupEntity::Partition {
            service_name,
            partition_id,
        } => *service_name == svc && *partition_id == entry.partition_id,
        // An entity kind a later spec adds: nothing of this gateway is under it.
        _ => false,
    }
}

/// One page of `entries` (already those of the storage and entity asked for) under `query`. `prefix` is the
/// partition list's storage prefix of the service's tokens.
pub(crate) fn page(
    mut entries: Vec<Listed>,
    query: &ListQuery,
    dialect: Dialect,
    page_cap: usize,
    partition_list: bool,
) -> Result<Vec<u8>, Refusal> {
    let service = dialect == Dialect::Service;
    // Blob listing order: by partition, then by the file name's time.
    entries.sort_by(|a, b| {
        (a.partition_id, a.created, a.sequence).cmp(&(b.partition_id, b.created, b.sequence))
    });
    entries.retain(|entry| {
        query
            .start
            .is_none_or(|start| entry.created >= whole_seconds(start))
            && query.end.is_none_or(|end| entry.created <= end)
    });
    if query.latest {
        let mut kept: Vec<Listed> = Vec::new();
        for entry in entries {
            match kept.last_mut() {
                Some(last) if last.partition_id == entry.partition_id => {
                    // The service, with MaxResults, stops at the first file of each partition: the oldest.
                    if !(service && query.max_results > 0) {
                        *last = entry;
                    }
                }
                _ => kept.push(entry),
            }
        }
        entries = kept;
    }
    if entries.is_empty() && query.max_results > 0 && service {
        return Err(index_out_of_range());
    }
    let start = match query.token.as_deref().filter(|token| !token.is_empty()) {
        None => 0,
        Some(token) => {
            let key = if service && partition_list {
                // `<StorageId>+<App>+<Service>+<PartitionId>+<time>.bkmetadata`: exactly five parts, or the split
                // fails (a `+` decoded as a space by the gateway ends here).
                let parts: Vec<&str> = token.split(SEPARATOR).collect();
                if parts.len() != 5 || parts[0] != POLICY_STORAGE_ID {
                    return Err(invalid_token(token));
                }
                parts[1..].join(&SEPARATOR.to_string())
            } else {
                if service && token.split(SEPARATOR).count() != 4 {
                    return Err(invalid_token(token));
                }
                token.to_owned()
            };
            match entries.iter().rposition(|entry| entry.key(dialect) == key) {
                Some(position) => position + 1,
                None => return Err(invalid_token(token)),
            }
        }
    };
    let size = if query.max_results > 0 {
        usize::try_from(query.max_results).unwrap_or(usize::MAX)
    } else {
        page_cap.max(1)
    };
    let end = start.saturating_add(size).min(entries.len());
    let items = &entries[start.min(end)..end];
    let more = end < entries.len();
    let next = items.last().filter(|_| more).map(|last| {
        let key = last.key(dialect);
        if service && partition_list {
            format!("{POLICY_STORAGE_ID}{SEPARATOR}{key}")
        } else {
            key
        }
    });
    let bytes = if service {
        serde_json::to_vec(&ServicePage {
            items: items.iter().map(Listed::service).collect(),
            continuation_token: next,
        })
    } else {
        serde_json::to_vec(&build::<PagedBackupInfoList, _>(
            PagedBackupInfoList::builder()
                .continuation_token(next.unwrap_or_default())
                .items(items.iter().map(Listed::documented).collect::<Vec<_>>()),
        ))
    };
    Ok(bytes.unwrap_or_default())
}
