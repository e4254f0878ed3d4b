//! sf-backup-api used from another crate, as a dependent must use it.
//!
//! Every generated type is `#[non_exhaustive]`, which binds only *other* crates: inside sf-backup-api a struct
//! literal or an exhaustive match still compiles. This crate is such another crate. It builds every request type
//! (through a constructor, `Default` and field assignment, or `builder()`, never a struct literal of a generated
//! struct) and reads every response type and enum (matches with a `_` arm, struct patterns with `..`). So a spec
//! or generator change that makes a request type unbuildable, or that drops `#[non_exhaustive]` again, shows up
//! here: the first as a compile error, the second as an `unreachable_patterns` warning that `clippy -D warnings`
//! turns into an error. It sits under `tests/` beside the workspace tests (nothing under `tests/` is published)
//! rather than as an integration test of the api crate, so that `cargo check`/`clippy --workspace` cover it
//! without building any test target, and so that it names only the published API.
#![forbid(unsafe_code)]

use sf_backup_api::types::{self, ApiVersion, ApiVersion60};
use sf_backup_api::{Client, SecretString};

/// One of each storage kind, as variant literals: enum variants stay buildable (only the enums are
/// non-exhaustive), so a property added to a variant is a breaking change that fails here.
pub fn every_storage() -> Vec<types::BackupStorageDescription> {
    vec![
        types::BackupStorageDescription::AzureBlobStore {
            connection_string: SecretString::from("AccountName=a;AccountKey=k"),
            container_name: "backups".to_owned(),
            friendly_name: None,
        },
        types::BackupStorageDescription::FileShare {
            friendly_name: Some("share".to_owned()),
            path: r"\\server\share".to_owned(),
            primary_user_name: Some("user".to_owned()),
            primary_password: Some(SecretString::from("secret")),
            secondary_user_name: None,
            secondary_password: None,
        },
        types::BackupStorageDescription::DsmsAzureBlobStore {
            container_name: "backups".to_owned(),
            friendly_name: None,
            storage_credentials_source_location: "https://dsms.example/creds".to_owned(),
        },
        types::BackupStorageDescription::ManagedIdentityAzureBlobStore {
            blob_service_uri: "https://account.blob.core.windows.net/".to_owned(),
            container_name: "backups".to_owned(),
            friendly_name: None,
            managed_identity_type: types::ManagedIdentityType::Cluster,
        },
    ]
}

/// Every request body: `Default` and field assignment, the builder, and the hand-written constructor.
pub fn every_request_body() -> (
    types::BackupPartitionDescription,
    types::BackupPartitionDescription,
    types::GetBackupByStorageQueryDescription,
    types::GetBackupByStorageQueryDescription,
) {
    let policy_storage = types::BackupPartitionDescription::default();
    let mut to_storage = types::BackupPartitionDescription::default();
    to_storage.backup_storage = every_storage().into_iter().next();

    let entity = types::BackupEntity::Partition {
        partition_id: uuid::Uuid::nil(),
        service_name: "fabric:/CalcApp/CalcService".to_owned(),
    };
    let mut query = types::GetBackupByStorageQueryDescription::new(
        every_storage().remove(1),
        types::BackupEntity::Application {
            application_name: "fabric:/CalcApp".to_owned(),
        },
    );
    query.latest = Some(true);
    let built = types::GetBackupByStorageQueryDescription::builder()
        .storage(every_storage().remove(0))
        .backup_entity(entity)
        .start_date_time_filter(
            "2024-03-01T00:00:00Z"
                .parse::<chrono::DateTime<chrono::Utc>>()
                .ok(),
        );
    let built = types::GetBackupByStorageQueryDescription::try_from(built)
        .expect("both required members are set");
    (policy_storage, to_storage, query, built)
}

/// The restore request body, through its builder (both required members named, the storage optional).
pub fn restore_body() -> types::RestorePartitionDescription {
    let built = types::RestorePartitionDescription::builder()
        .backup_id(uuid::Uuid::nil())
        .backup_location(r"CalcApp\CalcService\p\2018-01-01 09.00.55.zip".to_owned())
        .backup_storage(every_storage().into_iter().next());
    types::RestorePartitionDescription::try_from(built).expect("both required members are set")
}

/// A restore progress answer summarised: its state (`SecondariesInProgress` by name) and restored LSN.
pub fn restore_progress(info: &types::RestoreProgressInfo) -> (String, Option<i64>) {
    let state = match &info.restore_state {
        Some(types::RestoreState::KnownRestoreState(known)) => match known {
            types::KnownRestoreState::SecondariesInProgress => "secondaries".to_owned(),
            other => other.to_string(),
        },
        Some(types::RestoreState::String(text)) => text.clone(),
        Some(_) | None => String::new(),
    };
    (state, int64(&info.restored_lsn))
}

/// A response body built the way a test double in another crate builds one: a constructor or a builder.
pub fn error_body(message: &str) -> types::FabricError {
    types::FabricError::new(types::FabricErrorError::new(
        types::KnownFabricErrorCodes::FabricEBackupInProgress,
        Some(message.to_owned()),
    ))
}

/// Every operation, called with every argument a dependent passes (compiled, never run: there is no server).
pub async fn every_operation(client: &Client) -> Vec<bool> {
    let (policy_storage, _, query, _) = every_request_body();
    let partition = uuid::Uuid::nil();
    vec![
        client
            .backup_partition(
                &partition,
                None,
                ApiVersion::default(),
                None,
                &policy_storage,
            )
            .await
            .is_ok(),
        client
            .get_partition_backup_progress(&partition, ApiVersion::X64, None)
            .await
            .is_ok(),
        client
            .get_partition_backup_list(
                &partition,
                None,
                None,
                None,
                None,
                None,
                ApiVersion::X64,
                None,
            )
            .await
            .is_ok(),
        client
            .get_backups_from_backup_location(None, None, ApiVersion::X64, None, &query)
            .await
            .is_ok(),
        client
            .get_service_info_list("CalcApp", None, None, ApiVersion60::default(), None)
            .await
            .is_ok(),
        client
            .get_partition_info_list("CalcApp~CalcService", None, ApiVersion::X64, None)
            .await
            .is_ok(),
        client
            .restore_partition(&partition, None, ApiVersion::X64, None, &restore_body())
            .await
            .is_ok(),
        client
            .get_partition_restore_progress(&partition, ApiVersion::X64, None)
            .await
            .is_ok(),
    ]
}

fn int64(value: &Option<types::Int64Text>) -> Option<i64> {
    match value.as_ref()? {
        types::Int64Text::String(text) => text.parse().ok(),
        types::Int64Text::Int64(number) => Some(*number),
        _ => None,
    }
}

fn partition_id(info: &Option<types::PartitionInformation>) -> Option<uuid::Uuid> {
    match info.as_ref()? {
        types::PartitionInformation::Int64Range { id, .. }
        | types::PartitionInformation::Named { id, .. }
        | types::PartitionInformation::Singleton { id, .. } => *id,
        _ => None,
    }
}

/// An error code as text, whatever its representation.
pub fn error_code(code: &types::FabricErrorCodes) -> String {
    match code {
        types::FabricErrorCodes::KnownFabricErrorCodes(known) => match known {
            types::KnownFabricErrorCodes::FabricEBackupInProgress => "busy".to_owned(),
            other => other.to_string(),
        },
        types::FabricErrorCodes::String(text) => text.clone(),
        types::FabricErrorCodes::Int64(number) => number.to_string(),
        _ => "unknown".to_owned(),
    }
}

/// A progress answer summarised: its state and LSN.
pub fn progress(info: &types::BackupProgressInfo) -> (String, Option<i64>) {
    let state = match &info.backup_state {
        Some(types::BackupState::KnownBackupState(known)) => match known {
            types::KnownBackupState::Success => "done".to_owned(),
            other => other.to_string(),
        },
        Some(types::BackupState::String(text)) => text.clone(),
        Some(_) | None => String::new(),
    };
    (state, int64(&info.lsn_of_last_backup_record))
}

/// A backup list page summarised: each backup's id, partition, type and epoch.
pub fn backups(page: &types::PagedBackupInfoList) -> Vec<String> {
    page.items
        .iter()
        .map(|item| {
            let kind = match &item.backup_type {
                Some(types::BackupType::KnownBackupType(known)) => match known {
                    types::KnownBackupType::Full => "full".to_owned(),
                    other => other.to_string(),
                },
                Some(types::BackupType::String(text)) => text.clone(),
                Some(_) | None => String::new(),
            };
            let epoch = item
                .epoch_of_last_backup_record
                .as_ref()
                .and_then(|epoch| int64(&epoch.configuration_version));
            let failure = item
                .failure_error
                .as_ref()
                .map(|error| error_code(&error.code));
            format!(
                "{:?} {:?} {kind} {epoch:?} {failure:?} {:?}",
                item.backup_id,
                partition_id(&item.partition_information),
                page.continuation_token
            )
        })
        .collect()
}

fn health(state: &Option<types::HealthState>) -> String {
    match state {
        Some(types::HealthState::KnownHealthState(known)) => match known {
            types::KnownHealthState::Ok => "ok".to_owned(),
            other => other.to_string(),
        },
        Some(types::HealthState::String(text)) => text.clone(),
        Some(_) | None => String::new(),
    }
}

/// A service list page summarised: kind, name, health and status of each.
pub fn services(page: &types::PagedServiceInfoList) -> Vec<String> {
    page.items
        .iter()
        .map(|service| match service {
            types::ServiceInfo::Stateful {
                name,
                health_state,
                service_status,
                has_persisted_state,
                ..
            } => {
                let status = match service_status {
                    Some(types::ServiceStatus::KnownServiceStatus(known)) => match known {
                        types::KnownServiceStatus::Active => "active".to_owned(),
                        other => other.to_string(),
                    },
                    Some(types::ServiceStatus::String(text)) => text.clone(),
                    Some(_) | None => String::new(),
                };
                format!(
                    "stateful {name:?} {} {status} persisted={has_persisted_state:?}",
                    health(health_state)
                )
            }
            types::ServiceInfo::Stateless {
                name, health_state, ..
            } => format!("stateless {name:?} {}", health(health_state)),
            _ => "other".to_owned(),
        })
        .collect()
}

/// A partition list page summarised: the epoch under either name, the quorum loss seconds, the status.
pub fn partitions(page: &types::PagedServicePartitionInfoList) -> Vec<String> {
    page.items
        .iter()
        .map(|partition| match partition {
            types::ServicePartitionInfo::Stateful {
                partition_information,
                primary_epoch,
                current_configuration_epoch,
                last_quorum_loss_duration_in_seconds,
                partition_status,
                ..
            } => {
                let epoch = primary_epoch
                    .as_ref()
                    .or(current_configuration_epoch.as_ref())
                    .and_then(|epoch| int64(&epoch.configuration_version));
                let status = match partition_status {
                    Some(types::ServicePartitionStatus::KnownServicePartitionStatus(known)) => {
                        match known {
                            types::KnownServicePartitionStatus::Ready => "ready".to_owned(),
                            other => other.to_string(),
                        }
                    }
                    Some(types::ServicePartitionStatus::String(text)) => text.clone(),
                    Some(_) | None => String::new(),
                };
                format!(
                    "stateful {:?} {epoch:?} {:?} {status}",
                    partition_id(partition_information),
                    int64(last_quorum_loss_duration_in_seconds)
                )
            }
            types::ServicePartitionInfo::Stateless {
                partition_information,
                instance_count,
                ..
            } => format!(
                "stateless {:?} {instance_count:?}",
                partition_id(partition_information)
            ),
            _ => "other".to_owned(),
        })
        .collect()
}

/// The api-version and identity values a dependent names.
pub fn constants() -> [String; 3] {
    let identity = match types::ManagedIdentityType::Vmss {
        types::ManagedIdentityType::Cluster => "cluster",
        types::ManagedIdentityType::Vmss => "vmss",
        _ => "other",
    };
    let version = match ApiVersion::default() {
        ApiVersion::X64 => "6.4",
        _ => "other",
    };
    let services_version = match ApiVersion60::default() {
        ApiVersion60::X60 => "6.0",
        _ => "other",
    };
    [
        identity.to_owned(),
        version.to_owned(),
        services_version.to_owned(),
    ]
}
