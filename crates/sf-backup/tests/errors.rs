//! How answers and failures map to `sf_backup::Error`, against the testkit gateway and its faults, in both of its
//! dialects.

mod support;

use std::time::{Duration, Instant};

use rstest::rstest;
use sf_backup::{BackupState, Client, Error, ErrorCode, PartitionId, RetryPolicy, StatusCode};
use sf_backup_testkit::{Config, Dialect, Fault, FaultAction, Operation, PartitionConfig};
use support::{PARTITION, client, gateway, gateway_with, partition};

#[rstest]
#[tokio::test]
async fn a_fabric_error_with_a_known_code_becomes_a_service_error(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    gateway.push_fault(Fault::new(FaultAction::FabricError {
        status: 409,
        code: "FABRIC_E_BACKUP_IN_PROGRESS".to_owned(),
        message: Some("A backup is already in progress.".to_owned()),
    }));
    let error = client(&gateway)
        .backup_partition(partition())
        .await
        .unwrap_err();
    match &error {
        Error::Service {
            status,
            code,
            message,
        } => {
            assert_eq!(*status, StatusCode::CONFLICT);
            assert_eq!(*code, ErrorCode::BackupInProgress);
            assert_eq!(message, "A backup is already in progress.");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(error.is_backup_in_progress());
    assert!(!error.is_transient());
    assert_eq!(error.status(), Some(StatusCode::CONFLICT));
    assert!(
        error.to_string().contains("FABRIC_E_BACKUP_IN_PROGRESS"),
        "{error}"
    );
}

/// The body of the service's 409, as its `FabricErrorError.ToHttpResponseMessage` writes it into a `StringContent`.
const SERVICE_409: &str =
    r#"{"Error":{"Code":"FABRIC_E_BACKUP_IN_PROGRESS","Message":"Backup already in Progress"}}"#;

#[rstest]
#[tokio::test]
async fn a_409_is_a_service_error_whatever_the_body_s_content_type(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    // The first backup stays pending for the whole test, however slow the machine.
    let config = Config {
        in_progress_ms: Some(60_000),
        ..Config::default()
    };
    let gateway = gateway_with(dialect, config).await;
    let client = client(&gateway);
    client.backup_partition(partition()).await.unwrap();
    // The gateway's own refusal of a second backup while the first one is pending, seen raw first: the service
    // labels its FabricError `text/plain`.
    let raw = support::raw_http_client()
        .post(format!(
            "{}/Partitions/{PARTITION}/$/Backup?api-version=6.4",
            gateway.url()
        ))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 409);
    let content_type = raw.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with(dialect.pick("text/plain", "application/json")),
        "{content_type}"
    );
    let refusals = [client.backup_partition(partition()).await.unwrap_err(), {
        // The service's body verbatim, whatever the dialect.
        gateway.push_fault(
            Fault::body(409, Some("text/plain; charset=utf-8"), SERVICE_409).on(Operation::Backup),
        );
        client.backup_partition(partition()).await.unwrap_err()
    }];
    for error in &refusals {
        match error {
            Error::Service { status, code, .. } => {
                assert_eq!(*status, StatusCode::CONFLICT);
                assert_eq!(*code, ErrorCode::BackupInProgress);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(error.is_backup_in_progress());
    }
    assert!(
        refusals[0].to_string().contains(PARTITION),
        "the gateway's message names the partition: {}",
        refusals[0]
    );
    assert!(
        refusals[1]
            .to_string()
            .contains("Backup already in Progress"),
        "{}",
        refusals[1]
    );
    assert_eq!(gateway.count(Operation::Backup), 4);
}

#[rstest]
#[tokio::test]
async fn an_unknown_code_is_kept_verbatim(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    gateway.push_fault(Fault::fabric_error(
        500,
        "FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR",
    ));
    let error = client(&gateway)
        .backup_partition(partition())
        .await
        .unwrap_err();
    assert_eq!(
        error.code(),
        Some(&ErrorCode::Other(
            "FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR".to_owned()
        ))
    );
    assert_eq!(
        error.code().unwrap().as_str(),
        "FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR"
    );
}

#[rstest]
#[tokio::test]
async fn not_found_and_not_enabled_are_told_apart(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    // The gateway's own refusals: once a partition is declared, any other UUID is 404
    // FABRIC_E_PARTITION_NOT_FOUND; a declared partition without a backup policy is 404
    // FABRIC_E_BACKUP_NOT_ENABLED for a backup that names no storage.
    let gateway = gateway_with(
        dialect,
        Config {
            partitions: vec![PartitionConfig {
                backup_policy: false,
                ..PartitionConfig::new(partition())
            }],
            ..Config::default()
        },
    )
    .await;
    let client = client(&gateway);
    let undeclared: PartitionId = "0c6f9a52-2d3e-4b1f-9a7e-5c8d2b4e6f10".parse().unwrap();
    let error = client.backup_progress(undeclared).await.unwrap_err();
    assert!(error.is_not_found());
    assert!(!error.is_backup_not_enabled());

    let error = client.backup_partition(partition()).await.unwrap_err();
    assert!(error.is_backup_not_enabled());
    assert!(!error.is_not_found());
}

#[rstest]
#[tokio::test]
async fn transient_codes_and_service_timeouts_are_classified(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    let client = client(&gateway);
    let codes = [
        "FABRIC_E_NOT_READY",
        "FABRIC_E_NOT_PRIMARY",
        "FABRIC_E_SERVICE_OFFLINE",
        "FABRIC_E_RECONFIGURATION_PENDING",
        "FABRIC_E_NO_WRITE_QUORUM",
    ];
    for (sent, code) in codes.into_iter().enumerate() {
        gateway.push_fault(Fault::transient(code).on(Operation::Backup));
        let error = client.backup_partition(partition()).await.unwrap_err();
        assert!(error.is_transient(), "{code}");
        // Never retried: one more request per call.
        assert_eq!(gateway.count(Operation::Backup), sent + 1, "{code}");
    }
    gateway.push_fault(Fault::fabric_error(504, "FABRIC_E_TIMEOUT").on(Operation::Backup));
    let error = client.backup_partition(partition()).await.unwrap_err();
    assert!(error.is_timeout());
    assert_eq!(error.code(), Some(&ErrorCode::Timeout));
}

#[rstest]
#[tokio::test]
async fn an_html_503_keeps_its_status_and_body(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    gateway.push_fault(Fault::html(503));
    let error = client(&gateway)
        .backup_partition(partition())
        .await
        .unwrap_err();
    match &error {
        Error::UnexpectedResponse { status, body, .. } => {
            assert_eq!(*status, StatusCode::SERVICE_UNAVAILABLE);
            assert!(body.contains("<html>"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(error.is_transient());
    assert_eq!(gateway.journal().len(), 1);
}

#[rstest]
#[tokio::test]
async fn an_empty_500_is_an_unexpected_response(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    gateway.push_fault(Fault::empty(500));
    let error = client(&gateway)
        .backup_progress(partition())
        .await
        .unwrap_err();
    match &error {
        Error::UnexpectedResponse {
            status,
            body,
            reason,
        } => {
            assert_eq!(*status, StatusCode::INTERNAL_SERVER_ERROR);
            assert!(body.is_empty());
            assert!(reason.contains("empty"), "{reason}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[rstest]
#[tokio::test]
async fn a_200_to_the_backup_request_is_unexpected(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    gateway.push_fault(
        Fault::body(200, Some("application/json; charset=utf-8"), "{}").on(Operation::Backup),
    );
    let error = client(&gateway)
        .backup_partition(partition())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::UnexpectedResponse { status, .. } if *status == StatusCode::OK),
        "{error:?}"
    );
}

#[rstest]
#[tokio::test]
async fn a_progress_body_that_is_not_json_is_unexpected(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    gateway.push_fault(
        Fault::body(200, Some("application/json; charset=utf-8"), "<html>")
            .on(Operation::GetBackupProgress),
    );
    let error = client(&gateway)
        .backup_progress(partition())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::UnexpectedResponse { status, body, .. } if *status == StatusCode::OK && body == "<html>")
    );
}

#[rstest]
#[tokio::test]
async fn a_202_is_success_and_the_request_carries_only_what_was_set(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    let client = client(&gateway);
    client.backup_partition(partition()).await.unwrap();
    // A second partition: the gateway rightly refuses a second backup of a partition whose first one is still
    // running (409 FABRIC_E_BACKUP_IN_PROGRESS).
    const OTHER: &str = "0c6f9a52-2d3e-4b1f-9a7e-5c8d2b4e6f10";
    client
        .backup_partition(OTHER.parse().unwrap())
        .backup_timeout(Duration::from_secs(90))
        .server_timeout(Duration::from_millis(29_500))
        .send()
        .await
        .unwrap();
    let journal = gateway.journal();
    assert_eq!(journal.len(), 2);
    assert_eq!(journal[0].method, "POST");
    assert_eq!(
        journal[0].target,
        format!("/Partitions/{PARTITION}/$/Backup?api-version=6.4")
    );
    assert_eq!(journal[0].body, b"{}", "{:?}", journal[0]);
    let user_agent = journal[0].header("user-agent").unwrap_or_default();
    assert!(user_agent.starts_with("sf-backup/"), "{user_agent}");
    assert_eq!(journal[1].method, "POST");
    assert_eq!(
        journal[1].target,
        format!("/Partitions/{OTHER}/$/Backup?BackupTimeout=2&api-version=6.4&timeout=30")
    );
}

#[rstest]
#[tokio::test]
async fn progress_placeholders_read_as_none(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    // The body verbatim, as the service sends it while a backup runs: the testkit's `pending_placeholders` omit
    // the all-zero epoch and the null FailureError, which the client must read as `None` too.
    let gateway = gateway(dialect).await;
    gateway.push_fault(
        Fault::body(
            200,
            Some("application/json; charset=utf-8"),
            r#"{"BackupState":"BackupInProgress","TimeStampUtc":"0001-01-01T00:00:00Z",
            "BackupId":"00000000-0000-0000-0000-000000000000","LsnOfLastBackupRecord":"0",
            "EpochOfLastBackupRecord":{"DataLossVersion":"0","ConfigurationVersion":"0"},"FailureError":null}"#,
        )
        .on(Operation::GetBackupProgress),
    );
    let progress = client(&gateway).backup_progress(partition()).await.unwrap();
    assert_eq!(progress.state, BackupState::BackupInProgress);
    assert!(!progress.state.is_terminal());
    assert_eq!(
        (
            progress.time_stamp_utc,
            progress.backup_id,
            progress.lsn,
            progress.epoch,
            &progress.failure
        ),
        (None, None, None, None, &None)
    );
    let journal = gateway.journal();
    assert_eq!(journal[0].method, "GET");
    assert_eq!(
        journal[0].target,
        format!("/Partitions/{PARTITION}/$/GetBackupProgress?api-version=6.4")
    );
}

#[tokio::test]
async fn a_connection_refused_is_a_transport_error_that_never_reached_the_server() {
    // No server: a port that was just free and is closed again refuses the connection.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = Client::new(format!("http://{addr}")).unwrap();
    let error = client.backup_partition(partition()).await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::Transport {
                may_have_reached_service: false,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.is_transient());
}

#[rstest]
#[tokio::test]
async fn the_client_deadline_is_the_server_timeout_plus_the_margin(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    // The gateway holds the request far longer than the client's 1.2 s deadline.
    let gateway = gateway(dialect).await;
    gateway.push_fault(Fault::delay(Duration::from_secs(60)));
    // One attempt: a read without an answer is retried otherwise, each retry with its own deadline.
    let client = Client::builder()
        .endpoint(gateway.url())
        .answer_margin(Duration::from_millis(200))
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let started = Instant::now();
    let error = client
        .backup_progress(partition())
        .server_timeout(Duration::from_secs(1))
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(error, Error::NoAnswer { after } if after == Duration::from_millis(1200)),
        "{error:?}"
    );
    assert!(error.is_timeout());
    assert!(
        waited >= Duration::from_millis(1200) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}
