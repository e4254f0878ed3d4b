//! Every row of what GetBackupProgress answers (the service's states and the placeholders it writes while pending),
//! as the testkit's gateway sends it in each dialect, read through `Client::backup_progress`: before any backup,
//! pending with placeholders, success with its numbers, failure with an unlisted or an integer code, timeout.
//! Each test first checks the wire shape the dialect sends, so it cannot pass against a gateway that sends
//! something else, then what the facade makes of it.

mod support;

use chrono::Timelike;
use rstest::rstest;
use serde_json::{Value, json};
use sf_backup::{BackupState, Epoch, ErrorCode};
use sf_backup_testkit::{Config, Dialect, Fault, Operation, Outcome};
use support::{client, gateway, gateway_with, partition, progress_until};

const NIL: &str = "00000000-0000-0000-0000-000000000000";
const NO_TIME: &str = "0001-01-01T00:00:00Z";

/// The wire answer the gateway gives now, as JSON; it must also decode into the generated client's own response
/// type (`Option<BackupProgressInfo>`, what `get_partition_backup_progress` hands out), so every row is proved
/// through the generated layer as well as through the facade.
fn wire(gateway: &sf_backup_testkit::Gateway) -> Value {
    let wire = gateway
        .progress(*partition().as_uuid())
        .expect("the partition exists");
    let generated: Option<sf_backup_api::types::BackupProgressInfo> =
        serde_json::from_value(wire.clone())
            .unwrap_or_else(|e| panic!("the generated types refuse {wire}: {e}"));
    assert_eq!(generated.is_none(), wire.is_null(), "{wire}");
    wire
}

fn assert_nothing_but_the_state(progress: &sf_backup::BackupProgress) {
    assert_eq!(
        (
            progress.time_stamp_utc,
            progress.backup_id,
            &progress.backup_location,
            progress.epoch,
            progress.lsn,
            &progress.failure,
        ),
        (None, None, &None, None, None, &None),
        "{progress:?}"
    );
}

#[rstest]
#[tokio::test]
async fn before_any_backup_progress_says_none_was_requested(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    // The service answers `null` (section 3.1); the REST page documents nothing, the testkit says `Invalid`.
    assert_eq!(
        wire(&gateway),
        dialect.pick(Value::Null, json!({"BackupState": "Invalid"}))
    );
    let progress = client(&gateway).backup_progress(partition()).await.unwrap();
    assert_eq!(
        progress.state,
        dialect.pick(BackupState::NotRequested, BackupState::Invalid)
    );
    assert!(!progress.state.is_terminal());
    assert_nothing_but_the_state(&progress);
}

#[rstest]
#[tokio::test]
async fn a_pending_backup_reads_without_values(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
    #[values(BackupState::Accepted, BackupState::BackupInProgress)] state: BackupState,
) {
    // Long enough in the phase under test that a loaded machine still reads it.
    let (accepted_ms, in_progress_ms) = match state {
        BackupState::Accepted => (30_000, 30_000),
        _ => (0, 30_000),
    };
    let gateway = gateway_with(
        dialect,
        Config {
            accepted_ms: Some(accepted_ms),
            in_progress_ms: Some(in_progress_ms),
            ..Config::default()
        },
    )
    .await;
    let client = client(&gateway);
    client.backup_partition(partition()).await.unwrap();
    let expected = dialect.pick(
        // Every member written, with the .NET defaults: year-1 time, nil id, LSN 0 as a number, nulls.
        json!({
            "BackupState": state.as_str(),
            "TimeStampUtc": NO_TIME,
            "BackupId": NIL,
            "BackupLocation": null,
            "EpochOfLastBackupRecord": null,
            "LsnOfLastBackupRecord": 0,
            "FailureError": null,
        }),
        json!({"BackupState": state.as_str()}),
    );
    assert_eq!(wire(&gateway), expected);
    let progress = client.backup_progress(partition()).await.unwrap();
    assert_eq!(progress.state, state);
    assert_nothing_but_the_state(&progress);
}

#[tokio::test]
async fn documented_placeholders_while_pending_read_as_none() {
    // The documented dialect's optional placeholders: LSN "0" as text, year-1 time, nil id.
    let gateway = gateway_with(
        Dialect::Documented,
        Config {
            accepted_ms: Some(30_000),
            pending_placeholders: true,
            ..Config::default()
        },
    )
    .await;
    let client = client(&gateway);
    client.backup_partition(partition()).await.unwrap();
    let wire = wire(&gateway);
    assert_eq!(wire["LsnOfLastBackupRecord"], "0");
    assert_eq!(wire["BackupId"], NIL);
    let progress = client.backup_progress(partition()).await.unwrap();
    assert_eq!(progress.state, BackupState::Accepted);
    assert_nothing_but_the_state(&progress);
}

#[rstest]
#[tokio::test]
async fn a_success_reads_with_the_written_backup_s_values(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway_with(
        dialect,
        Config {
            accepted_ms: Some(0),
            in_progress_ms: Some(20),
            ..Config::default()
        },
    )
    .await;
    let client = client(&gateway);
    client.backup_partition(partition()).await.unwrap();
    let progress = progress_until(&client, partition(), BackupState::Success).await;
    let written = gateway.written_backups();
    assert_eq!(written.len(), 1);
    let written = &written[0];

    let wire = wire(&gateway);
    let lsn: i64 = written.lsn.parse().unwrap();
    assert_eq!(
        wire["LsnOfLastBackupRecord"],
        dialect.pick(json!(lsn), json!(written.lsn))
    );
    // The epoch's versions are text in both (the service's LongToStringConverter).
    assert_eq!(
        wire["EpochOfLastBackupRecord"],
        json!({"DataLossVersion": "131462452931584510", "ConfigurationVersion": "8589934592"})
    );
    let time = wire["TimeStampUtc"].as_str().unwrap();
    if dialect == Dialect::Service {
        // `yyyy-MM-dd'T'HH:mm:ssZ`: whole seconds, and a `\` in the replica's path.
        assert_eq!(time.len(), "2026-01-01T00:00:00Z".len(), "{time}");
        assert_eq!(written.time_stamp_utc.nanosecond(), 0);
        assert!(written.location.contains('\\'), "{}", written.location);
        assert_eq!(wire["FailureError"], Value::Null);
    } else {
        assert!(written.location.contains('/'), "{}", written.location);
        assert!(wire.get("FailureError").is_none(), "{wire}");
    }

    assert_eq!(progress.state, BackupState::Success);
    assert_eq!(progress.backup_id, Some(written.backup_id));
    assert_eq!(
        progress.backup_location.as_deref(),
        Some(written.location.as_str())
    );
    assert_eq!(progress.lsn, Some(lsn));
    assert_eq!(
        progress.epoch,
        Some(Epoch::new(131_462_452_931_584_510, 8_589_934_592))
    );
    assert_eq!(progress.time_stamp_utc, Some(written.time_stamp_utc));
    assert_eq!(progress.failure, None);
}

#[rstest]
#[case::an_unlisted_name(
    "FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR",
    json!("FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR")
)]
// An HRESULT that is no FABRIC_ERROR_CODE name: the service's StringEnumConverter writes it as a number.
#[case::an_integer("-2147017731", json!(-2147017731))]
#[tokio::test]
async fn a_failure_reads_with_its_code_kept(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
    #[case] code: &str,
    #[case] service_code: Value,
) {
    let gateway = gateway_with(
        dialect,
        Config {
            accepted_ms: Some(0),
            in_progress_ms: Some(20),
            ..Config::default()
        },
    )
    .await;
    gateway.script_outcome(
        *partition().as_uuid(),
        Outcome::failure(code, "the copier died"),
    );
    let client = client(&gateway);
    client.backup_partition(partition()).await.unwrap();
    let progress = progress_until(&client, partition(), BackupState::Failure).await;

    let wire = wire(&gateway);
    assert_eq!(
        wire["FailureError"],
        json!({"Code": dialect.pick(service_code, json!(code)), "Message": "the copier died"})
    );
    // The service does not copy the stored time of a Failure into its answer.
    assert_eq!(
        wire["TimeStampUtc"].as_str() == Some(NO_TIME),
        dialect == Dialect::Service,
        "{wire}"
    );

    let failure = progress.failure.as_ref().expect("a failure");
    assert_eq!(failure.code, ErrorCode::Other(code.to_owned()));
    assert_eq!(failure.code.as_str(), code);
    assert_eq!(failure.message, "the copier died");
    assert_eq!(failure.to_string(), format!("{code}: the copier died"));
    assert_eq!(
        progress.time_stamp_utc.is_some(),
        dialect == Dialect::Documented,
        "{progress:?}"
    );
    assert_eq!(
        (progress.backup_id, progress.lsn, progress.epoch),
        (None, None, None)
    );
    assert!(gateway.written_backups().is_empty());
}

#[rstest]
#[tokio::test]
async fn a_timeout_reads_as_fabric_e_timeout(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway_with(
        dialect,
        Config {
            accepted_ms: Some(0),
            in_progress_ms: Some(20),
            ..Config::default()
        },
    )
    .await;
    // A `PartitionId` converts into the testkit's `Uuid`.
    gateway.script_outcome(partition(), Outcome::Timeout);
    let client = client(&gateway);
    client.backup_partition(partition()).await.unwrap();
    let progress = progress_until(&client, partition(), BackupState::Timeout).await;

    let message = dialect.pick(
        "The Request for backup has timeout",
        "The request of backup has timed out.",
    );
    assert_eq!(
        wire(&gateway)["FailureError"],
        json!({"Code": "FABRIC_E_TIMEOUT", "Message": message})
    );
    let failure = progress
        .failure
        .as_ref()
        .expect("a timeout carries an error");
    assert_eq!(failure.code, ErrorCode::Timeout);
    assert_eq!(failure.message, message);
    assert_eq!(
        progress.time_stamp_utc.is_some(),
        dialect == Dialect::Documented,
        "{progress:?}"
    );
    assert_eq!((progress.backup_id, progress.lsn), (None, None));
}

#[rstest]
#[tokio::test]
async fn an_empty_200_reads_as_no_backup_requested(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    let empty = || Fault::body(200, Some("application/json"), "").on(Operation::GetBackupProgress);

    gateway.push_fault(empty());
    let progress = client(&gateway).backup_progress(partition()).await.unwrap();
    assert_eq!(progress.state, BackupState::NotRequested);
    assert_nothing_but_the_state(&progress);

    gateway.push_fault(empty());
    let generated =
        sf_backup_api::Client::new_with_client(&gateway.url(), support::raw_http_client());
    let answer = generated
        .get_partition_backup_progress(
            partition().as_uuid(),
            sf_backup_api::types::ApiVersion::default(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.into_inner(), None);
    // Both reads met the fault: the gateway's own answer would not be empty.
    assert_eq!(gateway.journal().len(), 2);
}
