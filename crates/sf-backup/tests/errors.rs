//! How answers and failures map to `sf_backup::Error`, against canned HTTP responses.

mod support;

use std::time::{Duration, Instant};

use sf_backup::{BackupState, Error, ErrorCode, StatusCode};
use support::{Responder, partition};

#[tokio::test]
async fn a_fabric_error_with_a_known_code_becomes_a_service_error() {
    let server = Responder::json(
        "409 Conflict",
        r#"{"Error":{"Code":"FABRIC_E_BACKUP_IN_PROGRESS","Message":"A backup is already in progress."}}"#,
    )
    .await;
    let error = server
        .client()
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

#[tokio::test]
async fn an_unknown_code_is_kept_verbatim() {
    let server = Responder::json(
        "500 Internal Server Error",
        r#"{"Error":{"Code":"FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR","Message":"copier failed"}}"#,
    )
    .await;
    let error = server
        .client()
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

#[tokio::test]
async fn not_found_and_not_enabled_are_told_apart() {
    let missing = Responder::json(
        "404 Not Found",
        r#"{"Error":{"Code":"FABRIC_E_PARTITION_NOT_FOUND"}}"#,
    )
    .await;
    let error = missing
        .client()
        .backup_progress(partition())
        .await
        .unwrap_err();
    assert!(error.is_not_found());
    assert!(!error.is_backup_not_enabled());

    let disabled = Responder::json(
        "404 Not Found",
        r#"{"Error":{"Code":"FABRIC_E_BACKUP_NOT_ENABLED"}}"#,
    )
    .await;
    let error = disabled
        .client()
        .backup_partition(partition())
        .await
        .unwrap_err();
    assert!(error.is_backup_not_enabled());
    assert!(!error.is_not_found());
}

#[tokio::test]
async fn transient_codes_and_service_timeouts_are_classified() {
    for code in [
        "FABRIC_E_NOT_READY",
        "FABRIC_E_NOT_PRIMARY",
        "FABRIC_E_SERVICE_OFFLINE",
        "FABRIC_E_RECONFIGURATION_PENDING",
        "FABRIC_E_NO_WRITE_QUORUM",
    ] {
        let server = Responder::json(
            "503 Service Unavailable",
            &format!(r#"{{"Error":{{"Code":"{code}"}}}}"#),
        )
        .await;
        let error = server
            .client()
            .backup_partition(partition())
            .await
            .unwrap_err();
        assert!(error.is_transient(), "{code}");
        // Never retried: one connection, one request.
        assert_eq!(server.accepted(), 1, "{code}");
    }
    let server = Responder::json(
        "504 Gateway Timeout",
        r#"{"Error":{"Code":"FABRIC_E_TIMEOUT"}}"#,
    )
    .await;
    let error = server
        .client()
        .backup_partition(partition())
        .await
        .unwrap_err();
    assert!(error.is_timeout());
    assert_eq!(error.code(), Some(&ErrorCode::Timeout));
}

#[tokio::test]
async fn an_html_503_keeps_its_status_and_body() {
    let server = Responder::start(Some((
        "503 Service Unavailable",
        "text/html",
        "<html><body>Service Unavailable</body></html>",
    )))
    .await;
    let error = server
        .client()
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
    assert_eq!(server.accepted(), 1);
}

#[tokio::test]
async fn an_empty_500_is_an_unexpected_response() {
    let server = Responder::json("500 Internal Server Error", "").await;
    let error = server
        .client()
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

#[tokio::test]
async fn a_200_to_the_backup_request_is_unexpected() {
    let server = Responder::json("200 OK", "{}").await;
    let error = server
        .client()
        .backup_partition(partition())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::UnexpectedResponse { status, .. } if *status == StatusCode::OK),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_progress_body_that_is_not_json_is_unexpected() {
    let server = Responder::json("200 OK", "<html>").await;
    let error = server
        .client()
        .backup_progress(partition())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::UnexpectedResponse { status, body, .. } if *status == StatusCode::OK && body == "<html>")
    );
}

#[tokio::test]
async fn a_202_is_success_and_the_request_carries_only_what_was_set() {
    let server = Responder::start(Some(("202 Accepted", "text/plain", ""))).await;
    let client = server.client();
    client.backup_partition(partition()).await.unwrap();
    client
        .backup_partition(partition())
        .backup_timeout(Duration::from_secs(90))
        .timeout(Duration::from_millis(29_500))
        .send()
        .await
        .unwrap();
    let requests = server.requests();
    let first_line = |request: &str| request.lines().next().unwrap().to_owned();
    assert_eq!(
        first_line(&requests[0]),
        format!(
            "POST /Partitions/{}/$/Backup?api-version=6.4 HTTP/1.1",
            support::PARTITION
        )
    );
    assert!(requests[0].ends_with("\r\n\r\n{}"), "{}", requests[0]);
    assert!(
        requests[0]
            .to_ascii_lowercase()
            .contains("user-agent: sf-backup/")
    );
    assert_eq!(
        first_line(&requests[1]),
        format!(
            "POST /Partitions/{}/$/Backup?BackupTimeout=2&api-version=6.4&timeout=30 HTTP/1.1",
            support::PARTITION
        )
    );
}

#[tokio::test]
async fn progress_placeholders_read_as_none() {
    let server = Responder::json(
        "200 OK",
        r#"{"BackupState":"BackupInProgress","TimeStampUtc":"0001-01-01T00:00:00Z",
            "BackupId":"00000000-0000-0000-0000-000000000000","LsnOfLastBackupRecord":"0",
            "EpochOfLastBackupRecord":{"DataLossVersion":"0","ConfigurationVersion":"0"},"FailureError":null}"#,
    )
    .await;
    let progress = server.client().backup_progress(partition()).await.unwrap();
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
    let request = &server.requests()[0];
    assert!(request.starts_with(&format!(
        "GET /Partitions/{}/$/GetBackupProgress?api-version=6.4 ",
        support::PARTITION
    )));
}

#[tokio::test]
async fn a_connection_refused_is_a_transport_error_that_never_reached_the_server() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = sf_backup::Client::new(format!("http://{addr}")).unwrap();
    let error = client.backup_partition(partition()).await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::Transport {
                may_have_reached_server: false,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.is_transient());
}

#[tokio::test]
async fn the_client_deadline_is_the_server_timeout_plus_the_margin() {
    let server = Responder::start(None).await;
    let client = sf_backup::Client::builder()
        .endpoint(server.endpoint())
        .timeout_margin(Duration::from_millis(200))
        .build()
        .unwrap();
    let started = Instant::now();
    let error = client
        .backup_progress(partition())
        .timeout(Duration::from_secs(1))
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(error, Error::Timeout { after } if after == Duration::from_millis(1200)),
        "{error:?}"
    );
    assert!(error.is_timeout());
    assert!(
        waited >= Duration::from_millis(1200) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}
