//! The two backup lists' bodies (GetPartitionBackupList, GetBackupsFromBackupLocation): the service's
//! `RestorePoint` view (`BackupRestoreTypes/RestorePoint.cs`) in a `PagedBackupInfoList` with `Items` first, or the
//! spec's `PagedBackupInfoList`; and the continuation tokens each writes and reads.

use chrono::{DateTime, Utc};
use sf_backup_api::types::{
    BackupInfo, BackupStorageDescription, BackupType, KnownBackupType, PagedBackupInfoList,
    PartitionInformation,
};
use uuid::Uuid;

use crate::cluster::PartitionScheme;
use crate::wire::dialect::Dialect;
use crate::wire::progress::ServiceEpoch;
use crate::wire::refusal::Refusal;
use crate::wire::values::{PartitionInformationView, build, documented_epoch};

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

/// The partition list's token prefix: the policy storage's `StorageId` (GetRestorePointsOperation.cs L198).
const POLICY_STORAGE_ID: &str = "6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";
/// The service's token separator (`ContinuationTokenSeparatorChar`).
const SEPARATOR: char = '+';

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

    /// The key a continuation token ending at this backup names, in `dialect`.
    pub(crate) fn key(&self, dialect: Dialect) -> String {
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
                .epoch_of_last_backup_record(documented_epoch())
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
            partition_information: Some(PartitionInformationView::new(
                self.partition_id,
                &self.scheme(),
            )),
            backup_location: Some(self.location.clone()),
            backup_type: if self.full { "Full" } else { "Incremental" },
            epoch_of_last_backup_record: Some(ServiceEpoch::recorded()),
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
    partition_information: Option<PartitionInformationView>,
    backup_location: Option<String>,
    backup_type: &'static str,
    epoch_of_last_backup_record: Option<ServiceEpoch>,
    lsn_of_last_backup_record: String,
    creation_time_utc: String,
    failure_error: Option<serde_json::Value>,
    service_manifest_version: Option<String>,
}

/// `PagedBackupInfoList` as the service writes it: `Items`, then `ContinuationToken` (`null` on the last page).
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct ServicePage {
    items: Vec<ServiceBackupInfo>,
    continuation_token: Option<String>,
}

/// A token that does not continue any listing: 400 `E_INVALIDARG`.
pub(crate) fn invalid_token(token: &str) -> Refusal {
    Refusal::invalid(format!("Invalid continuation token {token:?}"))
}

/// The key of the backup a continuation token ends at, in `dialect`. The service's partition list prefixes the
/// policy storage's id: `<StorageId>+<App>+<Service>+<PartitionId>+<time>.bkmetadata`, exactly five parts, or
/// the split fails (a `+` decoded as a space by the gateway ends here); its location list has the four without
/// the prefix. The documented tokens are opaque.
pub(crate) fn token_key(
    dialect: Dialect,
    token: &str,
    partition_list: bool,
) -> Result<String, Refusal> {
    if !dialect.is_service() {
        return Ok(token.to_owned());
    }
    let parts: Vec<&str> = token.split(SEPARATOR).collect();
    if partition_list {
        if parts.len() != 5 || parts[0] != POLICY_STORAGE_ID {
            return Err(invalid_token(token));
        }
        Ok(parts[1..].join(&SEPARATOR.to_string()))
    } else if parts.len() != 4 {
        Err(invalid_token(token))
    } else {
        Ok(token.to_owned())
    }
}

/// One page's body in `dialect`: `items`, then the token after `last_key` if more follow.
pub(crate) fn page_body(
    dialect: Dialect,
    items: &[Listed],
    more: bool,
    partition_list: bool,
) -> Vec<u8> {
    let next = items.last().filter(|_| more).map(|last| {
        let key = last.key(dialect);
        if dialect.is_service() && partition_list {
            format!("{POLICY_STORAGE_ID}{SEPARATOR}{key}")
        } else {
            key
        }
    });
    let bytes = match dialect {
        Dialect::Service => serde_json::to_vec(&ServicePage {
            items: items.iter().map(Listed::service).collect(),
            continuation_token: next,
        }),
        Dialect::Documented => serde_json::to_vec(&build::<PagedBackupInfoList, _>(
            PagedBackupInfoList::builder()
                .continuation_token(next.unwrap_or_default())
                .items(items.iter().map(Listed::documented).collect::<Vec<_>>()),
        )),
    };
    bytes.unwrap_or_default()
}
