//! Compatibility both ways across spec versions (see `cargo xtask spec-diff` and spec/README.md):
//! bindings from our 8.2 fragment decode what a 9.0 server sends, and code written against the 7.1-era facade API
//! (two storage kinds, fewer error codes) still compiles against today's, because its enums are `#[non_exhaustive]`.

use rstest::rstest;
use sf_backup::{BackupState, BackupStorage, Client, Error, ErrorCode, PartitionId};
use sf_backup_api::types;
use sf_backup_testkit::{Dialect, Fault, Operation};
use sf_backup_workspace_tests::gateway;

const PARTITION: &str = "1daae3f5-7fd6-42e9-b1ba-8c05f873994d";

/// The error code 9.0 added to FabricErrorCodes, which our 8.2 fragment does not list.
const CODE_ADDED_IN_9_0: &str = "FABRIC_E_CERTIFICATE_NOT_FOUND";

#[test]
fn the_generated_types_keep_a_9_0_error_code_as_text() {
    let error: types::FabricError = serde_json::from_value(serde_json::json!({
        "Error": { "Code": CODE_ADDED_IN_9_0, "Message": "no certificate" }
    }))
    .unwrap();
    assert_eq!(
        error.error.code,
        types::FabricErrorCodes::String(CODE_ADDED_IN_9_0.into())
    );
    // And it goes back on the wire unchanged.
    assert_eq!(
        serde_json::to_value(&error).unwrap()["Error"]["Code"],
        CODE_ADDED_IN_9_0
    );
}

#[rstest]
#[tokio::test]
async fn the_facade_reports_a_9_0_error_code_with_its_status(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    gateway.push_fault(Fault::fabric_error(400, CODE_ADDED_IN_9_0).on(Operation::Backup));
    let error = Client::new(gateway.url())
        .unwrap()
        .backup_partition(PARTITION.parse().unwrap())
        .await
        .unwrap_err();
    gateway.shutdown().await;
    assert_eq!(error.status().map(|s| s.as_u16()), Some(400));
    assert_eq!(
        error.code(),
        Some(&ErrorCode::Other(CODE_ADDED_IN_9_0.into()))
    );
}

#[rstest]
#[tokio::test]
async fn the_facade_keeps_a_backup_state_it_does_not_know(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    gateway.push_fault(Fault::backup_state("Paused").on(Operation::GetBackupProgress));
    let progress = Client::new(gateway.url())
        .unwrap()
        .backup_progress(PARTITION.parse().unwrap())
        .await
        .unwrap();
    gateway.shutdown().await;
    assert_eq!(progress.state, BackupState::Other("Paused".into()));
    assert!(
        !progress.state.is_terminal(),
        "an unknown state is not taken for an end"
    );
}

/// Code as a user wrote it against the 7.1-era API: only the storage kinds and error codes of that time. The
/// facade's enums are `#[non_exhaustive]`, so such code had to carry wildcard arms, and the kinds and codes added
/// since (DSMS in 7.2, managed identity in 8.0, new codes) cannot break it. This compiles, or the test build fails.
mod written_against_7_1 {
    use super::*;

    pub fn storage_for(on_premises: bool) -> BackupStorage {
        if on_premises {
            BackupStorage::file_share(r"\\server\backups")
                .primary_credentials(r"domain\user", "password-1")
        } else {
            BackupStorage::azure_blob_store("AccountKey=key-1", "backups")
        }
    }

    pub fn advice(error: &Error) -> &'static str {
        match error.code() {
            Some(ErrorCode::BackupInProgress) => "wait for the running backup",
            Some(ErrorCode::BackupNotEnabled) => "name a storage or enable a backup policy",
            Some(ErrorCode::PartitionNotFound) => "check the partition id",
            Some(_) | None => "see the message",
        }
    }

    pub fn finished(state: &BackupState) -> &'static str {
        match state {
            BackupState::Success => "written",
            BackupState::Failure | BackupState::Timeout => "not written",
            _ => "still running",
        }
    }
}

#[rstest]
#[tokio::test]
async fn code_written_against_7_1_runs_against_today_s_api(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    let client = Client::new(gateway.url()).unwrap();
    let partition: PartitionId = PARTITION.parse().unwrap();
    client
        .backup_partition(partition)
        .storage(written_against_7_1::storage_for(false))
        .await
        .unwrap();
    let error = client
        .backup_partition(partition)
        .storage(written_against_7_1::storage_for(true))
        .await
        .unwrap_err();
    assert_eq!(
        written_against_7_1::advice(&error),
        "wait for the running backup"
    );
    let state = client.backup_progress(partition).await.unwrap().state;
    assert_eq!(
        written_against_7_1::finished(&state),
        "still running",
        "{state:?}"
    );
    gateway.shutdown().await;
}
