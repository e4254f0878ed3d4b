//! The generated `sf-backup-api` client and the gateway agree on the wire format, in both dialects.

use std::time::{Duration, Instant};

use rstest::rstest;
use sf_backup_api::types::{ApiVersion, BackupPartitionDescription, BackupState, KnownBackupState};
use sf_backup_api::{Client, ErrorResponse};
use sf_backup_testkit::{Config, Dialect, Fault, Gateway};
use uuid::Uuid;

#[rstest]
#[tokio::test]
async fn generated_client_round_trip(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = Gateway::start(Config {
        dialect,
        accepted_ms: Some(20),
        in_progress_ms: Some(40),
        ..Config::default()
    })
    .await
    .unwrap();
    let client = Client::new_with_client(&gateway.url(), reqwest::Client::new());
    let partition = Uuid::new_v4();
    let body = BackupPartitionDescription::default();

    let accepted = client
        .backup_partition(&partition, Some(5), ApiVersion::default(), None, &body)
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let progress = client
            .get_partition_backup_progress(&partition, ApiVersion::default(), None)
            .await
            .unwrap()
            .into_inner()
            .expect("progress after a 202 is never null");
        if progress.backup_state == Some(BackupState::from(KnownBackupState::Success)) {
            assert!(progress.backup_id.is_some());
            break;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let recorded = &gateway.journal()[0];
    assert_eq!(recorded.body_json(), Some(serde_json::json!({})));
    assert!(recorded.target.contains("api-version=6.4"));

    gateway.push_fault(Fault::transient("FABRIC_E_NOT_PRIMARY"));
    match client
        .backup_partition(&partition, None, ApiVersion::default(), None, &body)
        .await
    {
        Err(sf_backup_api::Error::ErrorResponse(response)) => {
            let error = ErrorResponse::read(response).await;
            assert_eq!(error.status, 503);
            assert!(error.fabric_error.is_some());
        }
        other => panic!("expected an error response, got {other:?}"),
    }
}
