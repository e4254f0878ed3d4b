//! End-to-end tests over loopback HTTP. Validation, faults, the journal and the backup lifecycle run in both
//! dialects; the tests of the documented shapes say `Dialect::Documented`, and the service's scripts (primary
//! move, a single 504, node clocks, api-versions) have their own. The service's shapes against the spec's examples
//! are in `service_shapes.rs`.

use std::time::{Duration, Instant};

use rstest::rstest;
use serde_json::{Value, json};
use sf_backup_api::types::{
    BackupProgressInfo, BackupState, FabricError, FabricErrorCodes, KnownBackupState,
    KnownFabricErrorCodes,
};
use sf_backup_testkit::{Config, Dialect, Fault, Gateway, Operation, Outcome, PartitionConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

const PARTITION: &str = "1daae3f5-7fd6-42e9-b1ba-8c05f873994d";

/// A gateway with `config`, answering in `dialect` whatever `config.dialect` says.
async fn start(dialect: Dialect, config: Config) -> Gateway {
    let gateway = Gateway::start(Config { dialect, ..config }).await.unwrap();
    assert_eq!(gateway.dialect(), dialect);
    gateway
}

/// What progress says before any backup: `null` from the service, `{"BackupState":"Invalid"}` documented.
fn nothing_requested(dialect: Dialect) -> Value {
    dialect.pick(Value::Null, json!({"BackupState": "Invalid"}))
}

/// What progress says while a backup is pending in `state`: every member with its placeholder from the service,
/// only the state documented.
fn pending(dialect: Dialect, state: &str) -> Value {
    dialect.pick(
        json!({
            "BackupState": state,
            "TimeStampUtc": "0001-01-01T00:00:00Z",
            "BackupId": "00000000-0000-0000-0000-000000000000",
            "BackupLocation": null,
            "EpochOfLastBackupRecord": null,
            "LsnOfLastBackupRecord": 0,
            "FailureError": null
        }),
        json!({"BackupState": state}),
    )
}

fn fast() -> Config {
    Config {
        // Wide enough that a loaded machine still observes every phase.
        accepted_ms: Some(300),
        in_progress_ms: Some(300),
        ..Config::default()
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn backup_url(gateway: &Gateway, partition: &str) -> String {
    format!(
        "{}/Partitions/{partition}/$/Backup?api-version=6.4",
        gateway.url()
    )
}

fn progress_url(gateway: &Gateway, partition: &str) -> String {
    format!(
        "{}/Partitions/{partition}/$/GetBackupProgress?api-version=6.4",
        gateway.url()
    )
}

async fn post(gateway: &Gateway, partition: &str, body: &str) -> reqwest::Response {
    client()
        .post(backup_url(gateway, partition))
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

/// The progress answer as JSON, and typed as the generated client reads it (`None` for the service's `null`).
async fn progress(gateway: &Gateway, partition: &str) -> (Value, Option<BackupProgressInfo>) {
    let response = client()
        .get(progress_url(gateway, partition))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let value: Value = response.json().await.unwrap();
    let typed = serde_json::from_value(value.clone()).unwrap();
    (value, typed)
}

/// The FabricError of an error answer, labelled as `dialect` labels it: `text/plain` by the service (its
/// `StringContent`), JSON by the documented dialect.
async fn fabric_error(dialect: Dialect, response: reqwest::Response) -> FabricError {
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        content_type,
        dialect.pick(
            "text/plain; charset=utf-8",
            "application/json; charset=utf-8"
        )
    );
    let text = response.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not a FabricError ({e}): {text}"))
}

fn known(code: KnownFabricErrorCodes) -> FabricErrorCodes {
    code.into()
}

fn state(info: &Option<BackupProgressInfo>) -> Option<BackupState> {
    info.as_ref()?.backup_state.clone()
}

async fn wait_for_state(
    gateway: &Gateway,
    partition: &str,
    wanted: KnownBackupState,
) -> (Value, BackupProgressInfo) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (value, info) = progress(gateway, partition).await;
        if let Some(info) = info
            && info.backup_state == Some(wanted.into())
        {
            return (value, info);
        }
        assert!(Instant::now() < deadline, "never reached {wanted}: {value}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Sends raw bytes and reads until the server closes.
async fn raw(gateway: &Gateway, request: &str) -> Vec<u8> {
    let mut stream = tokio::net::TcpStream::connect(gateway.addr())
        .await
        .unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut out))
        .await
        .unwrap();
    out
}

const SEED_BODIES: [&str; 5] = [
    "{}",
    r#"{"BackupStorage":{"StorageKind":"AzureBlobStore","ConnectionString":"DefaultEndpointsProtocol=https;AccountName=storagesample;AccountKey=<PutYourAccountKeyHere>","ContainerName":"BackupContainer"}}"#,
    r#"{"BackupStorage":{"StorageKind":"ManagedIdentityAzureBlobStore","BlobServiceUri":"https://managedidentitytest.blob.core.windows.net/","ContainerName":"BackupContainer","ManagedIdentityType":"Cluster"}}"#,
    r#"{"BackupStorage":{"StorageKind":"FileShare","Path":"\\\\myshare\\backupshare","PrimaryUserName":"mydomain\\backupaccount","PrimaryPassword":"abcd1234"}}"#,
    r#"{"BackupStorage":{"StorageKind":"DsmsAzureBlobStore","StorageCredentialsSourceLocation":"https://sample-dsms.dsms.core.winows.net/dsms/samplecredentiallocation/storageaccounts/samplestorageac/servicefabricbackup/samplebackup","ContainerName":"BackupContainer"}}"#,
];

#[rstest]
#[tokio::test]
async fn accepts_every_documented_example_body(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = start(
        dialect,
        Config {
            accepted_ms: Some(0),
            in_progress_ms: Some(0),
            ..Config::default()
        },
    )
    .await;
    for (i, body) in SEED_BODIES.iter().enumerate() {
        let partition = Uuid::new_v4().to_string();
        let response = post(&gateway, &partition, body).await;
        assert_eq!(response.status(), 202, "example {i}");
        assert!(
            response.bytes().await.unwrap().is_empty(),
            "202 has an empty body"
        );
    }
    // An absent body is valid too.
    assert_eq!(post(&gateway, PARTITION, "").await.status(), 202);
    let journal = gateway.journal();
    assert_eq!(journal.len(), 6);
    for (recorded, body) in journal.iter().zip(SEED_BODIES) {
        assert_eq!(recorded.body, body.as_bytes());
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let written = gateway.written_backups();
    assert_eq!(written.len(), 6);
    assert!(written[0].storage.is_none());
    assert!(matches!(
        written[3].storage,
        Some(sf_backup_api::types::BackupStorageDescription::FileShare { .. })
    ));
}

#[rstest]
#[tokio::test]
async fn rejects_malformed_requests_naming_the_field(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = start(dialect, fast()).await;
    let base = format!("{}/Partitions/{PARTITION}/$/Backup", gateway.url());
    let cases: Vec<(String, &str, &str)> = vec![
        (base.clone(), "{}", "api-version"),
        (format!("{base}?api-version=6.0"), "{}", "api-version"),
        (
            format!("{base}?api-version=6.2-preview"),
            "{}",
            "api-version",
        ),
        (
            format!("{base}?api-version=6.4&timeout=0"),
            "{}",
            "timeout must be an integer in 1..=4294967295, got 0",
        ),
        (
            format!("{base}?api-version=6.4&timeout=4294967296"),
            "{}",
            "timeout",
        ),
        (
            format!("{base}?api-version=6.4&timeout=abc"),
            "{}",
            "timeout",
        ),
        (
            format!("{base}?api-version=6.4&timeout=-1"),
            "{}",
            "timeout",
        ),
        // BackupTimeout is bound as a C# int: one outside int32 is refused (zero or less is accepted, see
        // `a_backup_timeout_of_zero_or_less_is_accepted_and_times_out_at_once`).
        (
            format!("{base}?api-version=6.4&BackupTimeout=2147483648"),
            "{}",
            "BackupTimeout",
        ),
        (
            format!("{base}?api-version=6.4&BackupTimeout=-2147483649"),
            "{}",
            "BackupTimeout",
        ),
        (
            format!("{base}?api-version=6.4&BackupTimeout=1.5"),
            "{}",
            "BackupTimeout",
        ),
        (
            format!("{base}?api-version=6.4&api-version=6.4"),
            "{}",
            "api-version",
        ),
        (
            format!(
                "{}/Partitions/not-a-uuid/$/Backup?api-version=6.4",
                gateway.url()
            ),
            "{}",
            "partitionId",
        ),
        (
            format!("{base}?api-version=6.4"),
            r#"{"BackupStorage":{"StorageKind":"S3","Bucket":"x"}}"#,
            "StorageKind",
        ),
        (
            format!("{base}?api-version=6.4"),
            r#"{"BackupStorage":{"StorageKind":"Invalid"}}"#,
            "StorageKind",
        ),
        (
            format!("{base}?api-version=6.4"),
            r#"{"BackupStorage":{"ContainerName":"x"}}"#,
            "StorageKind",
        ),
        (
            format!("{base}?api-version=6.4"),
            r#"{"BackupStorage":{"StorageKind":"AzureBlobStore","ConnectionString":"x"}}"#,
            "ContainerName",
        ),
        (
            format!("{base}?api-version=6.4"),
            r#"{"BackupStorage":{"StorageKind":"FileShare"}}"#,
            "Path",
        ),
        (
            format!("{base}?api-version=6.4"),
            r#"{"BackupStorage":{"StorageKind":"ManagedIdentityAzureBlobStore","BlobServiceUri":"u","ContainerName":"c","ManagedIdentityType":"Nope"}}"#,
            "Nope",
        ),
        (format!("{base}?api-version=6.4"), "{not json", "JSON"),
        (format!("{base}?api-version=6.4"), "[]", "object"),
        (
            format!("{base}?api-version=6.4"),
            r#"{"BackupStorage":5}"#,
            "BackupStorage",
        ),
    ];
    for (url, body, needle) in &cases {
        // The service says only "Invalid API Version" (its `StringResources.InvalidApiVersion`) for a missing or
        // unacceptable api-version; a repeated one is refused by the query check first, naming the parameter.
        let needle = if *needle == "api-version" && !url.contains("api-version=6.4&api-version") {
            dialect.pick("Invalid API Version", "api-version")
        } else {
            needle
        };
        let response = client().post(url).body(*body).send().await.unwrap();
        assert_eq!(response.status(), 400, "{url} {body}");
        let error = fabric_error(dialect, response).await;
        assert_eq!(error.error.code, known(KnownFabricErrorCodes::EInvalidarg));
        let message = error.error.message.unwrap();
        assert!(
            message.contains(needle),
            "{message:?} should name {needle:?}"
        );
    }
    // GET is validated the same way.
    let response = client()
        .get(format!(
            "{}/Partitions/{PARTITION}/$/GetBackupProgress?api-version=6.4&timeout=0",
            gateway.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // Rejected requests are journaled, and none of them started a backup.
    assert_eq!(gateway.journal().len(), cases.len() + 1);
    assert!(gateway.written_backups().is_empty());
    let (value, _) = progress(&gateway, PARTITION).await;
    assert_eq!(value, nothing_requested(dialect));
}

/// The lifecycle in each dialect's shapes: `Accepted` → `BackupInProgress` → `Success`, one backup at a time, each
/// with a new id and a later LSN.
#[rstest]
#[tokio::test]
async fn a_backup_goes_accepted_in_progress_success_one_at_a_time(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    // Phases long enough that a loaded machine still observes each one.
    let phases = Config {
        accepted_ms: Some(800),
        in_progress_ms: Some(800),
        ..Config::default()
    };
    let gateway = start(dialect, phases).await;
    let (before, _) = progress(&gateway, PARTITION).await;
    assert_eq!(before, nothing_requested(dialect));

    let response = client()
        .post(format!(
            "{}&BackupTimeout=5&timeout=60",
            backup_url(&gateway, PARTITION)
        ))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let (accepted, _) = progress(&gateway, PARTITION).await;
    assert_eq!(
        accepted,
        pending(dialect, "Accepted"),
        "placeholders (service) or only BackupState (documented) while pending"
    );

    // A second backup while one runs is refused.
    let busy = post(&gateway, PARTITION, "{}").await;
    assert_eq!(busy.status(), 409);
    assert_eq!(
        fabric_error(dialect, busy).await.error.code,
        known(KnownFabricErrorCodes::FabricEBackupInProgress)
    );

    let (running, _) =
        wait_for_state(&gateway, PARTITION, KnownBackupState::BackupInProgress).await;
    assert_eq!(running, pending(dialect, "BackupInProgress"));
    let (done, first) = wait_for_state(&gateway, PARTITION, KnownBackupState::Success).await;
    for field in [
        "BackupId",
        "BackupLocation",
        "EpochOfLastBackupRecord",
        "LsnOfLastBackupRecord",
        "TimeStampUtc",
    ] {
        assert!(done.get(field).is_some(), "{field} missing in {done}");
    }
    assert!(done["EpochOfLastBackupRecord"]["DataLossVersion"].is_string());
    assert!(done["EpochOfLastBackupRecord"]["ConfigurationVersion"].is_string());
    let lsn_text = &done["LsnOfLastBackupRecord"];
    assert!(
        dialect.pick(lsn_text.is_u64(), lsn_text.is_string()),
        "the LSN is a number (service) or text (documented): {done}"
    );
    assert!(first.backup_location.as_ref().unwrap().contains(PARTITION));
    assert_eq!(first.backup_id.unwrap().get_version_num(), 4);
    let written = gateway.written_backups();
    assert_eq!(written.len(), 1);
    assert_eq!(Some(written[0].backup_id), first.backup_id);
    assert!(!written[0].reported_timeout);

    // Once it ended, the next one is accepted, with a new id and a later LSN.
    assert_eq!(post(&gateway, PARTITION, "{}").await.status(), 202);
    let (_, second) = wait_for_state(&gateway, PARTITION, KnownBackupState::Success).await;
    assert_ne!(second.backup_id, first.backup_id);
    // Text in the documented dialect, a JSON number in the service's: either reads as the same number.
    let lsn = |i: &BackupProgressInfo| {
        i.lsn_of_last_backup_record
            .as_ref()
            .unwrap()
            .to_string()
            .parse::<u64>()
            .unwrap()
    };
    assert!(lsn(&second) > lsn(&first));
    let written = gateway.written_backups();
    assert_eq!(
        written
            .iter()
            .map(|w| Some(w.backup_id))
            .collect::<Vec<_>>(),
        [first.backup_id, second.backup_id]
    );
    assert_eq!(
        written
            .iter()
            .map(|w| w.lsn.parse::<u64>().unwrap())
            .collect::<Vec<_>>(),
        [lsn(&first), lsn(&second)]
    );
}

#[tokio::test]
async fn documented_placeholders_while_pending_when_configured() {
    let dialect = Dialect::Documented;
    let gateway = start(
        dialect,
        Config {
            pending_placeholders: true,
            // Still Accepted when read, however loaded the machine.
            accepted_ms: Some(60_000),
            ..fast()
        },
    )
    .await;
    assert_eq!(post(&gateway, PARTITION, "").await.status(), 202);
    let (value, _) = progress(&gateway, PARTITION).await;
    assert_eq!(value["BackupState"], "Accepted");
    assert_eq!(value["BackupId"], "00000000-0000-0000-0000-000000000000");
    assert_eq!(value["LsnOfLastBackupRecord"], "0");
    assert!(
        value["TimeStampUtc"]
            .as_str()
            .unwrap()
            .starts_with("0001-01-01T00:00:00")
    );
}

#[rstest]
#[tokio::test]
async fn scripted_failure_and_timeouts(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = start(dialect, fast()).await;
    let partition = Uuid::new_v4();
    let id = partition.to_string();
    gateway.script_outcome(
        partition,
        Outcome::failure("FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR", "copier died"),
    );
    gateway.script_outcome(partition, Outcome::Timeout);
    gateway.script_outcome(partition, Outcome::TimeoutButWritten);

    assert_eq!(post(&gateway, &id, "{}").await.status(), 202);
    let (value, info) = wait_for_state(&gateway, &id, KnownBackupState::Failure).await;
    let failure = info.failure_error.unwrap();
    assert_eq!(
        failure.code,
        FabricErrorCodes::String("FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR".to_owned())
    );
    assert_eq!(failure.message.as_deref(), Some("copier died"));
    // The service writes every member, with a placeholder; the documented dialect only what has a value.
    let nil = json!("00000000-0000-0000-0000-000000000000");
    assert_eq!(value.get("BackupId"), dialect.pick(Some(&nil), None));

    assert_eq!(post(&gateway, &id, "{}").await.status(), 202);
    wait_for_state(&gateway, &id, KnownBackupState::Timeout).await;
    assert!(
        gateway.written_backups().is_empty(),
        "plain Timeout writes nothing"
    );

    assert_eq!(post(&gateway, &id, "{}").await.status(), 202);
    wait_for_state(&gateway, &id, KnownBackupState::Timeout).await;
    let written = gateway.written_backups();
    assert_eq!(written.len(), 1, "timed out, yet the backup went through");
    assert!(written[0].reported_timeout);

    // Outcomes are used up: the next one succeeds.
    assert_eq!(post(&gateway, &id, "{}").await.status(), 202);
    wait_for_state(&gateway, &id, KnownBackupState::Success).await;
}

#[rstest]
#[tokio::test]
async fn backup_timeout_deadline_turns_progress_to_timeout_but_backup_lands(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = start(
        dialect,
        Config {
            accepted_ms: Some(10),
            // The backup lands long after the 40 ms deadline, so "not written yet" holds on a loaded machine.
            in_progress_ms: Some(2000),
            backup_timeout_unit_ms: Some(1),
            ..Config::default()
        },
    )
    .await;
    let url = format!("{}&BackupTimeout=40", backup_url(&gateway, PARTITION));
    assert_eq!(client().post(url).send().await.unwrap().status(), 202);
    wait_for_state(&gateway, PARTITION, KnownBackupState::Timeout).await;
    assert!(
        gateway.written_backups().is_empty(),
        "not written yet at the deadline"
    );
    // The backup finishes behind the reported timeout.
    let deadline = Instant::now() + Duration::from_secs(10);
    while gateway.written_backups().is_empty() {
        assert!(Instant::now() < deadline, "the backup never landed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, info) = progress(&gateway, PARTITION).await;
    assert_eq!(
        state(&info),
        Some(KnownBackupState::Timeout.into()),
        "progress keeps saying Timeout"
    );
    let written = gateway.written_backups();
    assert_eq!(written.len(), 1);
    assert!(written[0].reported_timeout);
}

/// The service binds `BackupTimeout` as any int32 and does not check it: with zero or less the deadline has passed
/// when the work item runs, so the 202 is followed by `Timeout` on the first read, no replica is asked (a scripted
/// outcome waits for the next backup) and nothing is written.
#[rstest]
#[tokio::test]
async fn a_backup_timeout_of_zero_or_less_is_accepted_and_times_out_at_once(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
    #[values("0", "-1", "-2147483648")] backup_timeout: &str,
) {
    let gateway = start(dialect, fast()).await;
    let partition = Uuid::new_v4();
    let id = partition.to_string();
    gateway.script_outcome(
        partition,
        Outcome::failure("FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR", "next"),
    );
    let url = format!(
        "{}&BackupTimeout={backup_timeout}",
        backup_url(&gateway, &id)
    );
    let response = client().post(url).body("{}").send().await.unwrap();
    assert_eq!(response.status(), 202);

    // The first read, not a wait: a backup with a 10-minute deadline reads anything but `Timeout` here.
    let (value, info) = progress(&gateway, &id).await;
    let info = info.unwrap_or_else(|| panic!("no progress: {value}"));
    assert_eq!(
        info.backup_state,
        Some(KnownBackupState::Timeout.into()),
        "{value}"
    );
    let failure = info.failure_error.unwrap();
    assert_eq!(failure.code, known(KnownFabricErrorCodes::FabricETimeout));
    assert_eq!(
        failure.message.as_deref(),
        Some(dialect.pick(
            "The Request for backup has timeout",
            "The request of backup has timed out."
        ))
    );
    // Not pending: the next request is accepted, and the scripted outcome is still there for it.
    assert_eq!(post(&gateway, &id, "{}").await.status(), 202);
    let (_, info) = wait_for_state(&gateway, &id, KnownBackupState::Failure).await;
    assert_eq!(info.failure_error.unwrap().message.as_deref(), Some("next"));
    assert!(gateway.written_backups().is_empty(), "nothing is written");
}

#[rstest]
#[tokio::test]
async fn not_found_and_not_enabled(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let with_policy = Uuid::new_v4();
    let without_policy = Uuid::new_v4();
    let restoring = Uuid::new_v4();
    let gateway = start(
        dialect,
        Config {
            partitions: vec![
                PartitionConfig::new(with_policy),
                PartitionConfig {
                    backup_policy: false,
                    ..PartitionConfig::new(without_policy)
                },
                PartitionConfig {
                    restore_in_progress: true,
                    ..PartitionConfig::new(restoring)
                },
            ],
            ..fast()
        },
    )
    .await;

    let unknown = post(&gateway, &Uuid::new_v4().to_string(), "{}").await;
    assert_eq!(unknown.status(), 404);
    // The service marks its 404s.
    assert_eq!(
        unknown
            .headers()
            .get("x-servicefabric")
            .map(|v| v.to_str().unwrap()),
        dialect.pick(Some("ResourceNotFound"), None)
    );
    assert_eq!(
        fabric_error(dialect, unknown).await.error.code,
        known(KnownFabricErrorCodes::FabricEPartitionNotFound)
    );
    let response = client()
        .get(progress_url(&gateway, &Uuid::new_v4().to_string()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        fabric_error(dialect, response).await.error.code,
        known(KnownFabricErrorCodes::FabricEPartitionNotFound)
    );

    let disabled = post(&gateway, &without_policy.to_string(), "{}").await;
    assert_eq!(disabled.status(), 404);
    assert_eq!(
        fabric_error(dialect, disabled).await.error.code,
        known(KnownFabricErrorCodes::FabricEBackupNotEnabled)
    );
    // Naming a storage makes the policy unnecessary.
    assert_eq!(
        post(&gateway, &without_policy.to_string(), SEED_BODIES[1])
            .await
            .status(),
        202
    );

    let restore = post(&gateway, &restoring.to_string(), "{}").await;
    assert_eq!(restore.status(), 409);
    assert_eq!(
        fabric_error(dialect, restore).await.error.code,
        known(KnownFabricErrorCodes::FabricERestoreInProgress)
    );

    assert_eq!(
        post(&gateway, &with_policy.to_string(), "{}")
            .await
            .status(),
        202
    );

    // Unrouted paths and wrong methods.
    let response = client()
        .get(format!(
            "{}/$/GetClusterManifest?api-version=6.0",
            gateway.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let error = fabric_error(dialect, response).await;
    assert!(
        error
            .error
            .message
            .unwrap()
            .contains("/$/GetClusterManifest")
    );
    let response = client()
        .get(backup_url(&gateway, &with_policy.to_string()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
}

#[rstest]
#[tokio::test]
async fn encoded_dollar_is_accepted_and_target_is_journaled_verbatim(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = start(dialect, fast()).await;
    let target =
        format!("/Partitions/{PARTITION}/%24/Backup?api-version=6.4&BackupTimeout=3&timeout=60");
    let response = client()
        .post(format!("{}{target}", gateway.url()))
        .header("x-test", "yes")
        .body(SEED_BODIES[2])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let journal = gateway.journal();
    assert_eq!(journal.len(), 1);
    let recorded = &journal[0];
    assert_eq!(recorded.method, "POST");
    assert_eq!(recorded.target, target);
    assert_eq!(recorded.header("X-Test"), Some("yes"));
    assert!(recorded.header("host").is_some());
    assert_eq!(
        recorded.body_json().unwrap()["BackupStorage"]["ManagedIdentityType"],
        "Cluster"
    );
}

#[rstest]
#[tokio::test]
async fn error_faults_and_matching(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = start(dialect, fast()).await;
    let other = Uuid::new_v4();
    let codes = [
        "FABRIC_E_NOT_READY",
        "FABRIC_E_NOT_PRIMARY",
        "FABRIC_E_SERVICE_OFFLINE",
        "FABRIC_E_RECONFIGURATION_PENDING",
        "FABRIC_E_NO_WRITE_QUORUM",
    ];
    for code in codes {
        gateway.push_fault(Fault::transient(code).on(Operation::Backup));
    }
    // Progress requests are not matched by backup faults.
    progress(&gateway, PARTITION).await;
    for code in codes {
        let response = post(&gateway, PARTITION, "{}").await;
        assert_eq!(response.status(), 503);
        let error = fabric_error(dialect, response).await;
        assert!(matches!(
            error.error.code,
            FabricErrorCodes::KnownFabricErrorCodes(_)
        ));
        assert_eq!(serde_json::to_value(&error.error.code).unwrap(), code);
    }
    // Unknown codes, repeated N times, aimed at one partition.
    gateway.push_fault(
        Fault::fabric_error(500, "FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR")
            .for_partition(other)
            .times(2),
    );
    assert_eq!(post(&gateway, PARTITION, "{}").await.status(), 202);
    for _ in 0..2 {
        let response = post(&gateway, &other.to_string(), "{}").await;
        assert_eq!(response.status(), 500);
        assert_eq!(
            fabric_error(dialect, response).await.error.code,
            FabricErrorCodes::String("FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR".to_owned())
        );
    }
    assert_eq!(post(&gateway, &other.to_string(), "{}").await.status(), 202);
    // A fault that applies forever.
    let third = Uuid::new_v4().to_string();
    gateway.push_fault(
        Fault::fabric_error(504, "FABRIC_E_TIMEOUT")
            .on(Operation::GetBackupProgress)
            .always(),
    );
    for _ in 0..3 {
        let response = client()
            .get(progress_url(&gateway, &third))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 504);
    }
    // Exactly the POSTs above reached the server: 5 transient + 1 + 3; and the 1 + 3 progress reads.
    assert_eq!(gateway.count(Operation::Backup), 9);
    assert_eq!(gateway.count(Operation::GetBackupProgress), 4);
}

#[rstest]
#[tokio::test]
async fn body_shape_faults(#[values(Dialect::Service, Dialect::Documented)] dialect: Dialect) {
    let gateway = start(dialect, fast()).await;
    gateway.push_fault(Fault::html(502));
    let response = post(&gateway, PARTITION, "{}").await;
    assert_eq!(response.status(), 502);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(response.text().await.unwrap().contains("<html>"));

    gateway.push_fault(Fault::empty(500));
    let response = post(&gateway, PARTITION, "{}").await;
    assert_eq!(response.status(), 500);
    assert!(response.bytes().await.unwrap().is_empty());

    gateway.push_fault(Fault::empty(200).on(Operation::Backup));
    assert_eq!(post(&gateway, PARTITION, "{}").await.status(), 200);

    gateway.push_fault(
        Fault::body(202, Some("application/json"), r#"{"unexpected":true}"#).after_processing(),
    );
    let response = post(&gateway, PARTITION, "{}").await;
    assert_eq!(response.status(), 202);
    assert_eq!(response.text().await.unwrap(), r#"{"unexpected":true}"#);
    // `after_processing` started the backup behind the odd response.
    let (value, _) = progress(&gateway, PARTITION).await;
    assert_ne!(value, nothing_requested(dialect));

    gateway.push_fault(Fault::backup_state("Paused").on(Operation::GetBackupProgress));
    let (value, info) = progress(&gateway, PARTITION).await;
    assert_eq!(value["BackupState"], "Paused");
    assert_eq!(state(&info), Some(BackupState::String("Paused".to_owned())));

    gateway.push_fault(Fault::redirect("http://127.0.0.1:1/elsewhere"));
    let response = post(&gateway, PARTITION, "{}").await;
    assert_eq!(response.status(), 307);
    assert_eq!(
        response.headers()["location"],
        "http://127.0.0.1:1/elsewhere"
    );
}

#[rstest]
#[tokio::test]
async fn delay_fault_delays_then_answers_normally(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = start(dialect, fast()).await;
    gateway.push_fault(Fault::delay(Duration::from_millis(150)));
    let started = Instant::now();
    assert_eq!(post(&gateway, PARTITION, "{}").await.status(), 202);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[rstest]
#[tokio::test]
async fn closed_connection_with_and_without_accepting_the_backup(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = start(dialect, fast()).await;
    gateway.push_fault(Fault::close_connection());
    let error = client()
        .post(backup_url(&gateway, PARTITION))
        .body("{}")
        .send()
        .await
        .unwrap_err();
    assert!(!error.is_status(), "{error}");
    assert_eq!(gateway.journal().len(), 1, "the request reached the server");
    let (value, _) = progress(&gateway, PARTITION).await;
    assert_eq!(value, nothing_requested(dialect), "nothing was accepted");

    // The ambiguous failure: the backup was accepted, the client only sees a dropped connection.
    gateway.push_fault(
        Fault::close_connection()
            .on(Operation::Backup)
            .after_processing(),
    );
    assert!(
        client()
            .post(backup_url(&gateway, PARTITION))
            .body("{}")
            .send()
            .await
            .is_err()
    );
    wait_for_state(&gateway, PARTITION, KnownBackupState::Success).await;
    assert_eq!(gateway.written_backups().len(), 1);

    // Raw view: the server closes without a single byte.
    gateway.push_fault(Fault::close_connection());
    let bytes = raw(
        &gateway,
        &format!("GET /Partitions/{PARTITION}/$/GetBackupProgress?api-version=6.4 HTTP/1.1\r\nHost: x\r\n\r\n"),
    )
    .await;
    assert!(bytes.is_empty());
}

#[rstest]
#[tokio::test]
async fn truncated_body_announces_more_than_it_sends(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = start(dialect, fast()).await;
    gateway.push_fault(Fault::truncated(200, r#"{"BackupState":"Succ"#));
    let bytes = raw(
        &gateway,
        &format!("GET /Partitions/{PARTITION}/$/GetBackupProgress?api-version=6.4 HTTP/1.1\r\nHost: x\r\n\r\n"),
    )
    .await;
    let text = String::from_utf8(bytes).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let declared: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap();
    assert_eq!(body, r#"{"BackupState":"Succ"#);
    assert!(declared > body.len());

    gateway.push_fault(Fault::truncated(200, r#"{"BackupState":"Succ"#));
    let response = client()
        .get(progress_url(&gateway, PARTITION))
        .send()
        .await
        .unwrap();
    assert!(response.bytes().await.is_err());
}

#[rstest]
#[tokio::test]
async fn config_faults_and_json_config(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let config: Config = serde_json::from_value(json!({
        "dialect": dialect.name(),
        "listen": "127.0.0.1:0",
        "accepted_ms": 10,
        "in_progress_ms": 20,
        "backup_timeout_unit_ms": 60000,
        "partitions": [
            {"id": PARTITION, "outcomes": [{"kind": "Failure", "code": "E_UNEXPECTED", "message": "boom"}]},
            {"id": "2b3c4d5e-0000-4000-8000-000000000001", "backup_policy": false}
        ],
        "faults": [
            {"action": {"kind": "FabricError", "status": 503, "code": "FABRIC_E_NOT_READY"}, "operation": "Backup", "times": 1},
            {"action": {"kind": "Html", "status": 502}, "partition": "2b3c4d5e-0000-4000-8000-000000000001", "times": null}
        ]
    }))
    .unwrap();
    let gateway = Gateway::start(config).await.unwrap();
    assert_eq!(
        gateway.dialect(),
        dialect,
        "the dialect comes from the JSON"
    );
    assert_eq!(post(&gateway, PARTITION, "{}").await.status(), 503);
    assert_eq!(post(&gateway, PARTITION, "{}").await.status(), 202);
    let (_, info) = wait_for_state(&gateway, PARTITION, KnownBackupState::Failure).await;
    assert_eq!(info.failure_error.unwrap().message.as_deref(), Some("boom"));
    for _ in 0..2 {
        assert_eq!(
            post(&gateway, "2b3c4d5e-0000-4000-8000-000000000001", "{}")
                .await
                .status(),
            502
        );
    }

    let typo = serde_json::from_value::<Config>(json!({"acepted_ms": 1}));
    assert!(typo.is_err(), "unknown fields are rejected");
    let unknown = serde_json::from_value::<Config>(json!({"dialect": "sfctl"}));
    assert!(unknown.is_err(), "unknown dialects are rejected");
    let default: Config = serde_json::from_value(json!({})).unwrap();
    assert_eq!(
        default.dialect,
        Dialect::Service,
        "the service's by default"
    );
}

#[rstest]
#[tokio::test]
async fn shutdown_releases_the_port_and_drop_stops_serving(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = start(dialect, Config::default()).await;
    let addr = gateway.addr();
    assert!(gateway.url().starts_with("http://127.0.0.1:") && !gateway.url().ends_with('/'));
    gateway.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());

    let gateway = start(dialect, Config::default()).await;
    let addr = gateway.addr();
    drop(gateway);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[rstest]
fn background_gateway_serves_without_a_runtime(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    use std::io::{Read, Write};
    let gateway = sf_backup_testkit::start_in_background(Config {
        dialect,
        ..Config::default()
    })
    .unwrap();
    assert_eq!(gateway.dialect(), dialect);
    assert!(gateway.url().starts_with("http://127.0.0.1:"));
    let mut stream = std::net::TcpStream::connect(gateway.addr()).unwrap();
    write!(
        stream,
        "POST /Partitions/{PARTITION}/$/Backup?api-version=6.4 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 202"), "{response}");
    assert_eq!(gateway.journal().len(), 1);
    let addr = gateway.addr();
    gateway.shutdown();
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[tokio::test]
async fn the_journal_redacts_credentials_in_debug_but_tests_can_read_them() {
    let gateway = Gateway::start(fast()).await.unwrap();
    let bodies = [
        json!({"BackupStorage": {
            "StorageKind": "AzureBlobStore",
            "ConnectionString": "AccountKey=journal-secret-1",
            "ContainerName": "c"
        }})
        .to_string(),
        json!({"BackupStorage": {
            "StorageKind": "FileShare",
            "Path": r"\\s\b",
            "PrimaryUserName": "u",
            "PrimaryPassword": "journal-secret-2",
            "SecondaryUserName": "v",
            "SecondaryPassword": "journal-secret-3"
        }})
        .to_string(),
        // Not JSON: its secret cannot be told apart, so nothing of it is shown.
        r#"{"BackupStorage": {"ConnectionString": "journal-secret-4""#.to_owned(),
    ];
    for (i, body) in bodies.iter().enumerate() {
        let partition = Uuid::new_v4().to_string();
        client()
            .post(backup_url(&gateway, &partition))
            .bearer_auth(format!("journal-token-{i}"))
            .header("cookie", "session=journal-cookie")
            .body(body.clone())
            .send()
            .await
            .unwrap();
    }
    let journal = gateway.journal();
    assert_eq!(journal.len(), 3);
    for shown in [format!("{journal:?}"), format!("{journal:#?}")] {
        for secret in [
            "journal-secret",
            "journal-token",
            "journal-cookie",
            "AccountKey",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        // The rest stays readable for the person debugging a test.
        for visible in [
            "POST",
            "/$/Backup",
            "FileShare",
            "PrimaryUserName",
            "<redacted>",
            "bytes, not JSON",
        ] {
            assert!(shown.contains(visible), "{visible} not in {shown}");
        }
    }
    // Read deliberately, the values are all there.
    assert_eq!(
        journal[0].header("Authorization"),
        Some("Bearer journal-token-0")
    );
    assert_eq!(
        journal[0].body_json().unwrap()["BackupStorage"]["ConnectionString"],
        "AccountKey=journal-secret-1"
    );
    assert_eq!(
        journal[1].body_json().unwrap()["BackupStorage"]["SecondaryPassword"],
        "journal-secret-3"
    );
    assert!(String::from_utf8_lossy(&journal[2].body).contains("journal-secret-4"));
}

#[rstest]
#[tokio::test]
async fn a_primary_move_refuses_every_request_for_its_duration_then_ends(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    const MOVE: Duration = Duration::from_millis(1_500);
    let gateway = start(dialect, fast()).await;
    let other = Uuid::new_v4().to_string();
    gateway.push_fault(Fault::primary_move(MOVE).on(Operation::Backup));
    // A request the fault does not match does not start the move.
    let (value, _) = progress(&gateway, PARTITION).await;
    assert_eq!(value, nothing_requested(dialect));

    let started = Instant::now();
    let first = post(&gateway, PARTITION, "{}").await;
    // The move began when the gateway took that request, so it ends no later than a move's length from here.
    let moved_by = Instant::now();
    let refused = [
        first,
        // From then on every request meets it, whatever its operation or partition.
        client()
            .get(progress_url(&gateway, PARTITION))
            .send()
            .await
            .unwrap(),
        post(&gateway, &other, "{}").await,
        client()
            .get(progress_url(&gateway, &other))
            .send()
            .await
            .unwrap(),
    ];
    assert!(
        started.elapsed() < MOVE,
        "too slow to observe the move: {:?}",
        started.elapsed()
    );
    for response in refused {
        assert_eq!(response.status(), 503);
        assert_eq!(
            fabric_error(dialect, response).await.error.code,
            known(KnownFabricErrorCodes::FabricENotPrimary)
        );
    }

    tokio::time::sleep_until((moved_by + MOVE + Duration::from_millis(50)).into()).await;
    // The refused POSTs started nothing; now the gateway answers normally.
    let (value, _) = progress(&gateway, PARTITION).await;
    assert_eq!(value, nothing_requested(dialect));
    assert_eq!(post(&gateway, PARTITION, "{}").await.status(), 202);
    assert_eq!(gateway.journal().len(), 7, "every request is journaled");
    wait_for_state(&gateway, PARTITION, KnownBackupState::Success).await;
}

#[rstest]
#[tokio::test]
async fn a_single_504_on_the_third_progress_read(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = start(dialect, fast()).await;
    gateway.push_fault(
        Fault::fabric_error(504, "FABRIC_E_TIMEOUT")
            .on(Operation::GetBackupProgress)
            .after(2),
    );
    // Requests the fault does not match do not count.
    assert_eq!(post(&gateway, PARTITION, "{}").await.status(), 202);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = client()
            .get(progress_url(&gateway, PARTITION))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == 504 {
            assert_eq!(
                fabric_error(dialect, response).await.error.code,
                known(KnownFabricErrorCodes::FabricETimeout)
            );
        }
    }
    assert_eq!(statuses, [200, 200, 504, 200]);
}

#[rstest]
#[tokio::test]
async fn a_node_clock_behind_stamps_a_newer_backup_earlier(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = start(dialect, fast()).await;
    let partition: Uuid = PARTITION.parse().unwrap();
    let time = |info: &BackupProgressInfo| info.time_stamp_utc.unwrap();

    assert_eq!(post(&gateway, PARTITION, "{}").await.status(), 202);
    let (_, first) = wait_for_state(&gateway, PARTITION, KnownBackupState::Success).await;
    // The primary moves to a node whose clock is an hour behind.
    gateway.set_node_clock_offset(partition, chrono::Duration::hours(-1));
    assert_eq!(post(&gateway, PARTITION, "{}").await.status(), 202);
    let (second_value, second) =
        wait_for_state(&gateway, PARTITION, KnownBackupState::Success).await;

    assert!(
        time(&second) < time(&first),
        "{} is not before {}",
        time(&second),
        time(&first)
    );
    // An hour less the time between the two, give or take the service's whole seconds.
    let gap = time(&first) - time(&second);
    assert!(
        gap > chrono::Duration::minutes(59)
            && gap <= chrono::Duration::hours(1) + chrono::Duration::seconds(1),
        "{gap}"
    );
    let written = gateway.written_backups();
    assert_eq!(written.len(), 2);
    assert!(written[1].time_stamp_utc < written[0].time_stamp_utc);
    for (backup, info) in written.iter().zip([&first, &second]) {
        assert_eq!(Some(backup.time_stamp_utc), info.time_stamp_utc);
        // The location is named after the same node clock.
        let stamp = backup
            .time_stamp_utc
            .format("%Y-%m-%d %H.%M.%S")
            .to_string();
        assert!(backup.location.contains(&stamp), "{}", backup.location);
    }
    if dialect == Dialect::Service {
        // `yyyy-MM-dd'T'HH:mm:ssZ`: whole seconds.
        let text = second_value["TimeStampUtc"].as_str().unwrap();
        assert_eq!(
            text,
            time(&second).format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "{second_value}"
        );
    }
}

#[rstest]
#[tokio::test]
async fn a_node_clock_offset_from_the_json_config(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let config: Config = serde_json::from_value(json!({
        "dialect": dialect.name(),
        "accepted_ms": 0,
        "in_progress_ms": 20,
        "partitions": [{"id": PARTITION, "node_clock_offset_ms": -86_400_000}]
    }))
    .unwrap();
    let gateway = Gateway::start(config).await.unwrap();
    let before = chrono::Utc::now();
    assert_eq!(post(&gateway, PARTITION, "{}").await.status(), 202);
    let (_, info) = wait_for_state(&gateway, PARTITION, KnownBackupState::Success).await;
    let behind = before - info.time_stamp_utc.unwrap();
    assert!(
        // The service's whole seconds can put it up to a second further back.
        behind > chrono::Duration::hours(23)
            && behind <= chrono::Duration::hours(24) + chrono::Duration::seconds(1),
        "{behind}"
    );
}

/// The service parses a double and takes anything from 6.4 up (`OperationBase.cs`); the REST page says `6.4`.
#[rstest]
#[case::the_documented_one("6.4", true, true)]
#[case::a_later_major("7", true, false)]
#[case::a_later_minor("8.2", true, false)]
#[case::a_preview_before_it("6.2-preview", false, false)]
#[case::an_earlier_one("6.0", false, false)]
#[tokio::test]
async fn api_versions_each_dialect_accepts(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
    #[case] version: &str,
    #[case] by_the_service: bool,
    #[case] documented: bool,
) {
    let gateway = start(dialect, fast()).await;
    let accepted = dialect.pick(by_the_service, documented);
    let partition = Uuid::new_v4();
    let base = format!("{}/Partitions/{partition}/$", gateway.url());
    let post = client()
        .post(format!("{base}/Backup?api-version={version}"))
        .body("{}")
        .send()
        .await
        .unwrap();
    let get = client()
        .get(format!("{base}/GetBackupProgress?api-version={version}"))
        .send()
        .await
        .unwrap();
    let (post_status, get_status) = (post.status().as_u16(), get.status().as_u16());
    if accepted {
        assert_eq!((post_status, get_status), (202, 200));
        let value: Value = get.json().await.unwrap();
        // Accepted, or already in progress on a machine slow enough to pass the Accepted phase in between.
        assert!(
            value["BackupState"] == "Accepted" || value["BackupState"] == "BackupInProgress",
            "{value}"
        );
    } else {
        assert_eq!((post_status, get_status), (400, 400));
        for response in [post, get] {
            let error = fabric_error(dialect, response).await;
            assert_eq!(error.error.code, known(KnownFabricErrorCodes::EInvalidarg));
            let message = error.error.message.unwrap();
            match dialect {
                Dialect::Service => assert_eq!(message, "Invalid API Version"),
                _ => {
                    assert!(message.contains("api-version"), "{message}");
                    assert!(message.contains(version), "{message}");
                }
            }
        }
        assert!(gateway.written_backups().is_empty());
        assert_eq!(
            gateway.progress(partition),
            Some(nothing_requested(dialect))
        );
    }
}

#[rstest]
#[tokio::test]
async fn a_scripted_state_takes_the_dialects_shape(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = start(dialect, fast()).await;
    gateway.push_fault(Fault::backup_state("Paused").on(Operation::GetBackupProgress));
    let (wire, _) = progress(&gateway, PARTITION).await;
    let expected = dialect.pick(
        json!({
            "BackupState": "Paused",
            "TimeStampUtc": "0001-01-01T00:00:00Z",
            "BackupId": "00000000-0000-0000-0000-000000000000",
            "BackupLocation": null,
            "EpochOfLastBackupRecord": null,
            "LsnOfLastBackupRecord": 0,
            "FailureError": null
        }),
        json!({"BackupState": "Paused"}),
    );
    assert_eq!(wire, expected);
}
