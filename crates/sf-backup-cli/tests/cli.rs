//! The built `sf-backup` binary against the testkit gateway: every documented request on the wire, every storage
//! kind, every exit code, JSON output, secrets kept out of every output, secured connections; each against both of
//! the testkit's dialects.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

mod support;

use rstest::rstest;
use serde_json::{Value, json};
use sf_backup_testkit::{
    BackgroundGateway, Config, Dialect, Fault, Operation, Outcome, RecordedRequest, TlsConfig,
    Uuid, start_in_background,
};
use support::{BIN, ENV, PARTITION, Run, run, sf_backup};

/// A gateway whose backups end quickly, for `--wait`, answering in `dialect`.
fn gateway(dialect: Dialect) -> BackgroundGateway {
    gateway_with(
        dialect,
        Config {
            accepted_ms: Some(20),
            in_progress_ms: Some(60),
            ..Config::default()
        },
    )
}

/// A gateway with `config`, answering in `dialect` whatever `config.dialect` says: the one way these tests start
/// one.
fn gateway_with(dialect: Dialect, config: Config) -> BackgroundGateway {
    let gateway = start_in_background(Config { dialect, ..config }).unwrap();
    assert_eq!(gateway.dialect(), dialect);
    gateway
}

/// The backup requests the gateway received.
fn backup_requests(gateway: &BackgroundGateway) -> Vec<RecordedRequest> {
    gateway
        .journal()
        .into_iter()
        .filter(|request| request.operation() == Some(Operation::Backup))
        .collect()
}

/// The one backup request the gateway received.
#[track_caller]
fn the_post(gateway: &BackgroundGateway) -> RecordedRequest {
    let mut posts = backup_requests(gateway);
    assert_eq!(posts.len(), 1, "{posts:#?}");
    posts.remove(0)
}

/// A partition id no other run of this test binary uses.
fn fresh_partition() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "00000000-0000-4000-8000-{:012x}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spec/examples")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The documented backup requests: (file, documented target, body).
fn documented_backups() -> Vec<(String, String, Value)> {
    let index = read_json(&examples_dir().join("index.json"));
    index
        .as_array()
        .unwrap()
        .iter()
        .filter(|example| example["schema"] == "BackupPartitionDescription")
        .map(|example| {
            let file = example["file"].as_str().unwrap().to_owned();
            let request = example["request"].as_str().unwrap();
            let url = request.strip_prefix("POST ").expect("a POST");
            let after_scheme = url.split_once("://").unwrap().1;
            let target = after_scheme[after_scheme.find('/').unwrap()..].to_owned();
            let body = read_json(&examples_dir().join(&file));
            (file, target, body)
        })
        .collect()
}

/// The flags that reproduce each documented body.
fn flags_for(file: &str) -> Vec<&'static str> {
    match file {
        "backup-partition.json" => vec![],
        "backup-partition-azure-blob-store.json" => vec![
            "--storage-kind",
            "AzureBlobStore",
            "--connection-string",
            "DefaultEndpointsProtocol=https;AccountName=storagesample;AccountKey=<PutYourAccountKeyHere>",
            "--container-name",
            "BackupContainer",
        ],
        "backup-partition-managed-identity-azure-blob-store.json" => vec![
            "--storage-kind",
            "ManagedIdentityAzureBlobStore",
            "--blob-service-uri",
            "https://managedidentitytest.blob.core.windows.net/",
            "--container-name",
            "BackupContainer",
            "--managed-identity-type",
            "Cluster",
        ],
        "backup-partition-file-share.json" => vec![
            "--storage-kind",
            "FileShare",
            "--path",
            r"\\myshare\backupshare",
            "--primary-user-name",
            r"mydomain\backupaccount",
            "--primary-password",
            "abcd1234",
        ],
        "backup-partition-dsms-azure-blob-store.json" => vec![
            "--storage-kind",
            "DsmsAzureBlobStore",
            "--storage-credentials-source-location",
            "https://sample-dsms.dsms.core.winows.net/dsms/samplecredentiallocation/storageaccounts/samplestorageac/servicefabricbackup/samplebackup",
            "--container-name",
            "BackupContainer",
        ],
        other => panic!("no flags are written for example {other}"),
    }
}

#[track_caller]
fn assert_documented(request: &RecordedRequest, target: &str, body: &Value, what: &str) {
    assert_eq!(request.target, target, "{what}");
    assert_eq!(
        request.header("content-type"),
        Some("application/json"),
        "{what}"
    );
    assert_eq!(request.body_json().as_ref(), Some(body), "{what}");
}

#[rstest]
fn every_documented_backup_request_is_reproduced_with_flags(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let examples = documented_backups();
    assert_eq!(examples.len(), 5);
    for (file, target, body) in &examples {
        let gateway = gateway(dialect);
        let url = gateway.url();
        let mut args = vec!["--endpoint", url.as_str(), "backup", PARTITION];
        args.extend(flags_for(file));
        sf_backup(&args).expect(0);
        assert_documented(&the_post(&gateway), target, body, file);
    }
}

#[rstest]
fn every_documented_backup_request_is_reproduced_with_storage_json(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    for (file, target, body) in &documented_backups() {
        // The documented file as it is (a whole BackupPartitionDescription), from stdin.
        let gateway = gateway(dialect);
        let url = gateway.url();
        let text = body.to_string();
        run(
            &[
                "--endpoint",
                &url,
                "backup",
                PARTITION,
                "--storage-json",
                "-",
            ],
            &[],
            Some(&text),
        )
        .expect(0);
        assert_documented(&the_post(&gateway), target, body, file);

        // Only the BackupStorageDescription, from a file.
        if let Some(storage) = body.get("BackupStorage") {
            let gateway = gateway_with(dialect, Config::default());
            let url = gateway.url();
            let dir = TempDir::new();
            let path = dir.write("storage.json", &storage.to_string());
            sf_backup(&[
                "backup",
                PARTITION,
                "--endpoint",
                &url,
                "--storage-json",
                path.to_str().unwrap(),
            ])
            .expect(0);
            assert_documented(&the_post(&gateway), target, body, file);
        }
    }
}

/// Flags, environment, and the BackupStorage the body should hold.
type StorageCase<'a> = (Vec<&'a str>, &'a [(&'a str, &'a str)], Value);

#[rstest]
fn every_storage_kind_with_its_optional_fields(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let cases: Vec<StorageCase<'_>> = vec![
        (
            vec![
                "--storage-kind",
                "AzureBlobStore",
                "--container-name",
                "c",
                "--friendly-name",
                "nightly",
            ],
            &[("SF_BACKUP_CONNECTION_STRING", "AccountKey=from-env")],
            json!({"StorageKind": "AzureBlobStore", "ConnectionString": "AccountKey=from-env", "ContainerName": "c", "FriendlyName": "nightly"}),
        ),
        (
            vec![
                "--storage-kind",
                "FileShare",
                "--path",
                r"\\s\b",
                "--primary-user-name",
                "p",
                "--secondary-user-name",
                "s",
                "--secondary-password",
                "second-pw",
            ],
            &[("SF_BACKUP_PRIMARY_PASSWORD", "first-pw")],
            json!({"StorageKind": "FileShare", "Path": r"\\s\b", "PrimaryUserName": "p", "PrimaryPassword": "first-pw",
                   "SecondaryUserName": "s", "SecondaryPassword": "second-pw"}),
        ),
        (
            vec![
                "--storage-kind",
                "DsmsAzureBlobStore",
                "--storage-credentials-source-location",
                "https://dsms/loc",
                "--container-name",
                "c",
            ],
            // An exported connection string does not belong to this kind: it is ignored, not an error.
            &[("SF_BACKUP_CONNECTION_STRING", "AccountKey=unused")],
            json!({"StorageKind": "DsmsAzureBlobStore", "StorageCredentialsSourceLocation": "https://dsms/loc", "ContainerName": "c"}),
        ),
        (
            vec![
                "--storage-kind",
                "ManagedIdentityAzureBlobStore",
                "--blob-service-uri",
                "https://a.blob.core.windows.net/",
                "--container-name",
                "c",
                "--managed-identity-type",
                "VMSS",
                "--friendly-name",
                "mi",
            ],
            &[],
            json!({"StorageKind": "ManagedIdentityAzureBlobStore", "BlobServiceUri": "https://a.blob.core.windows.net/",
                   "ContainerName": "c", "ManagedIdentityType": "VMSS", "FriendlyName": "mi"}),
        ),
    ];
    for (flags, env, storage) in cases {
        let gateway = gateway(dialect);
        let url = gateway.url();
        let mut args = vec!["--endpoint", url.as_str(), "backup", PARTITION];
        args.extend(&flags);
        run(&args, env, None).expect(0);
        assert_eq!(
            the_post(&gateway).body_json(),
            Some(json!({ "BackupStorage": storage })),
            "{flags:?}"
        );
    }
}

#[rstest]
fn invalid_input_exits_2_and_sends_nothing(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect);
    const THUMBPRINT: &str = "8A3C2F00112233445566778899AABBCCDDEEFF00";
    let url = gateway.url();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["backup", "not-a-uuid"], "PARTITION_ID"),
        // `--timeout` is the old name of `--server-timeout`; the message names the flag by its current name.
        (
            vec!["backup", PARTITION, "--timeout", "0"],
            "--server-timeout",
        ),
        (
            vec!["progress", PARTITION, "--server-timeout", "-5"],
            "it must be a whole number of seconds from 1 to 4294967295",
        ),
        (
            vec!["backup", PARTITION, "--backup-timeout", "2147483648"],
            "--backup-timeout",
        ),
        (
            vec!["backup", PARTITION, "--wait", "--poll-interval", "1e-12"],
            "it must be at least 0.01 seconds",
        ),
        (
            vec!["backup", PARTITION, "--backup-timeout", "0"],
            "--backup-timeout",
        ),
        (
            vec!["backup", PARTITION, "--container-name", "c"],
            "needs --storage-kind",
        ),
        (
            vec![
                "backup",
                PARTITION,
                "--storage-kind",
                "FileShare",
                "--path",
                "p",
                "--container-name",
                "c",
            ],
            "--container-name does not apply to --storage-kind FileShare",
        ),
        (
            vec![
                "backup",
                PARTITION,
                "--storage-kind",
                "AzureBlobStore",
                "--container-name",
                "c",
            ],
            "needs --connection-string",
        ),
        (
            vec![
                "backup",
                PARTITION,
                "--storage-kind",
                "ManagedIdentityAzureBlobStore",
                "--blob-service-uri",
                "not a uri",
                "--container-name",
                "c",
                "--managed-identity-type",
                "Cluster",
            ],
            "blob service URI",
        ),
        (
            vec![
                "backup",
                PARTITION,
                "--storage-kind",
                "FileShare",
                "--path",
                "p",
                "--primary-user-name",
                "u",
            ],
            "--primary-password",
        ),
        (
            vec![
                "backup",
                PARTITION,
                "--storage-kind",
                "FileShare",
                "--path",
                " ",
            ],
            "file share path",
        ),
        (
            vec!["backup", PARTITION, "--storage-json", "-", "--path", "p"],
            "cannot be combined with --storage-json",
        ),
        (vec!["backup", PARTITION, "--poll-interval", "1"], "--wait"),
        (
            vec!["backup", PARTITION, "--wait", "--wait-timeout", "0"],
            "--wait-timeout",
        ),
        (
            vec!["--cert", "c.pem", "progress", PARTITION],
            "--cert needs --key",
        ),
        (
            vec![
                "--pem", "a.pem", "--cert", "c.pem", "--key", "k.pem", "progress", PARTITION,
            ],
            "exclude each other",
        ),
        (
            vec!["--pem", "/nonexistent/client.pem", "progress", PARTITION],
            "client certificate",
        ),
        (
            vec!["--server-cert-thumbprint", "xyz", "progress", PARTITION],
            "thumbprint",
        ),
        (
            vec![
                "--token-env",
                "SF_BACKUP_CLI_TEST_UNSET",
                "progress",
                PARTITION,
            ],
            "SF_BACKUP_CLI_TEST_UNSET",
        ),
        (vec!["--output", "yaml", "progress", PARTITION], "yaml"),
        // Above the service's int of minutes.
        (
            vec!["backup", PARTITION, "--backup-timeout", "2147483648"],
            "--backup-timeout",
        ),
        // Server validation flags that would void each other.
        (
            vec![
                "--no-verify",
                "--server-cert-thumbprint",
                THUMBPRINT,
                "progress",
                PARTITION,
            ],
            "--no-verify accepts any server certificate, which contradicts --server-cert-thumbprint",
        ),
        (
            vec!["--no-verify", "--ca", "ca.pem", "progress", PARTITION],
            "--no-verify accepts any server certificate, which contradicts --ca",
        ),
        (
            vec![
                "--no-verify",
                "--server-cert-common-name",
                "sf-cluster",
                "--server-cert-issuer-thumbprint",
                THUMBPRINT,
                "progress",
                PARTITION,
            ],
            "contradicts --server-cert-common-name and --server-cert-issuer-thumbprint",
        ),
        (
            vec![
                "--server-cert-issuer-thumbprint",
                THUMBPRINT,
                "progress",
                PARTITION,
            ],
            "--server-cert-issuer-thumbprint needs --server-cert-common-name",
        ),
        (
            vec![
                "--ca",
                "ca.pem",
                "--server-cert-thumbprint",
                THUMBPRINT,
                "progress",
                PARTITION,
            ],
            "--ca would be ignored with --server-cert-thumbprint alone",
        ),
    ];
    for (mut args, expected) in cases {
        args.splice(0..0, ["--endpoint", url.as_str()]);
        let result = sf_backup(&args);
        result.expect(2);
        assert!(
            result.stderr.contains(expected),
            "{args:?}: {}",
            result.stderr
        );
    }
    let result = sf_backup(&["--endpoint", "ftp://nowhere", "progress", PARTITION]);
    result.expect(2);
    assert!(result.stderr.contains("endpoint"), "{}", result.stderr);
    let result = sf_backup(&["--testkit", "--endpoint", &url, "progress", PARTITION]);
    result.expect(2);
    assert!(gateway.journal().is_empty(), "{:#?}", gateway.journal());
}

#[rstest]
fn storage_json_is_checked_before_sending(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect);
    let url = gateway.url();
    for (json, expected) in [
        (
            r#"{"StorageKind":"FileShare","Path":"p","FriendlyNmae":"x"}"#,
            "FriendlyNmae",
        ),
        (r#"{"StorageKind":"Tape"}"#, "Tape"),
        (
            r#"{"StorageKind":"AzureBlobStore","ConnectionString":"","ContainerName":"c"}"#,
            "connection string",
        ),
        (
            r#"{"StorageKind":"ManagedIdentityAzureBlobStore","BlobServiceUri":"https://a/","ContainerName":"c","ManagedIdentityType":"Invalid"}"#,
            "Invalid",
        ),
        ("not json", "JSON"),
        // A member of BackupPartitionDescription that sf-backup cannot send, beside the storage or alone.
        (
            r#"{"BackupStorage":{"StorageKind":"FileShare","Path":"p"},"BackupRetentionDays":7}"#,
            "--storage-json stdin: \"BackupRetentionDays\" is not a member sf-backup can send",
        ),
        (
            r#"{"BackupRetentionDays":7}"#,
            "--storage-json stdin: \"BackupRetentionDays\"",
        ),
    ] {
        let result = run(
            &[
                "--endpoint",
                &url,
                "backup",
                PARTITION,
                "--storage-json",
                "-",
            ],
            &[],
            Some(json),
        );
        result.expect(2);
        assert!(
            result.stderr.contains(expected),
            "{json}: {}",
            result.stderr
        );
    }
    let result = sf_backup(&[
        "--endpoint",
        &url,
        "backup",
        PARTITION,
        "--storage-json",
        "/nonexistent/storage.json",
    ]);
    result.expect(2);
    assert!(gateway.journal().is_empty());
}

#[rstest]
fn a_cluster_error_exits_3_with_status_and_code(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect);
    let url = gateway.url();
    gateway
        .push_fault(Fault::fabric_error(409, "FABRIC_E_BACKUP_IN_PROGRESS").on(Operation::Backup));
    let result = sf_backup(&["--endpoint", &url, "backup", PARTITION]);
    result.expect(3);
    assert!(
        result.stderr.contains("FABRIC_E_BACKUP_IN_PROGRESS"),
        "{}",
        result.stderr
    );
    assert!(result.stdout.is_empty());

    gateway
        .push_fault(Fault::fabric_error(409, "FABRIC_E_BACKUP_IN_PROGRESS").on(Operation::Backup));
    let result = sf_backup(&["--endpoint", &url, "--output", "json", "backup", PARTITION]);
    result.expect(3);
    let error = result.stderr_json();
    assert_eq!(error["kind"], "service");
    assert_eq!(error["status"], 409);
    assert_eq!(error["code"], "FABRIC_E_BACKUP_IN_PROGRESS");
    assert_eq!(error["exit_code"], 3);
    assert!(error["message"].as_str().unwrap().contains("409"));
    assert!(result.stdout.is_empty());

    // A proxy's HTML page is an answer too, without a Service Fabric code.
    // Every attempt: the read and its 3 retries.
    gateway.push_fault(Fault::html(503).on(Operation::GetBackupProgress).times(4));
    let result = sf_backup(&["--endpoint", &url, "progress", PARTITION, "--output=json"]);
    result.expect(3);
    let error = result.stderr_json();
    assert_eq!(
        (error["kind"].as_str(), error["status"].as_u64()),
        (Some("unexpected_response"), Some(503))
    );
    assert_eq!(error["code"], Value::Null);
}

#[test]
fn an_unreachable_cluster_exits_4() {
    // Port 1 (tcpmux, privileged): nothing listens there, and no test binds it, unlike a port freed a moment
    // ago that a parallel test's gateway may take.
    let endpoint = "http://127.0.0.1:1".to_owned();
    sf_backup(&["--endpoint", &endpoint, "backup", PARTITION]).expect(4);
    let result = sf_backup(&[
        "--endpoint",
        &endpoint,
        "--output",
        "json",
        "progress",
        PARTITION,
    ]);
    result.expect(4);
    assert_eq!(result.stderr_json()["kind"], "transport");

    // The same endpoint from the environment.
    run(
        &["progress", PARTITION],
        &[("SF_ENDPOINT", &endpoint)],
        None,
    )
    .expect(4);
}

#[rstest]
fn wait_reports_the_backup_and_its_progress(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect);
    let url = gateway.url();
    let result = sf_backup(&[
        "--endpoint",
        &url,
        "backup",
        PARTITION,
        "--wait",
        "--poll-interval",
        "0.02",
    ]);
    result.expect(0);
    let written = gateway.written_backups();
    assert_eq!(written.len(), 1);
    assert!(
        result.stdout.contains(&written[0].backup_id.to_string()),
        "{}",
        result.stdout
    );
    assert!(
        result.stdout.contains(&written[0].location),
        "{}",
        result.stdout
    );
    // Not a terminal: plain progress lines on stderr.
    assert!(result.stderr.contains("Success"), "{}", result.stderr);

    let result = sf_backup(&[
        "--endpoint",
        &url,
        "--output",
        "json",
        "backup",
        PARTITION,
        "--wait",
        "--poll-interval",
        "0.02",
    ]);
    result.expect(0);
    let outcome = result.stdout_json();
    let written = gateway.written_backups();
    assert_eq!(outcome["outcome"], "Success");
    assert_eq!(outcome["partition_id"], PARTITION);
    assert_eq!(
        outcome["backup"]["backup_id"],
        written[1].backup_id.to_string()
    );
    assert_eq!(outcome["backup"]["location"], written[1].location.as_str());
    assert_eq!(outcome["progress"]["state"], "Success");
    assert_eq!(
        outcome["progress"]["backup_id"],
        written[1].backup_id.to_string()
    );
    assert!(
        result.stderr.is_empty(),
        "JSON mode keeps stderr for errors: {}",
        result.stderr
    );
}

#[rstest]
fn a_failed_or_timed_out_backup_exits_5(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect);
    let url = gateway.url();
    let id: Uuid = PARTITION.parse().unwrap();
    gateway.handle().script_outcome(
        id,
        Outcome::failure("FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR", "upload failed"),
    );
    let result = sf_backup(&[
        "--endpoint",
        &url,
        "--output",
        "json",
        "backup",
        PARTITION,
        "--wait",
        "--poll-interval",
        "0.02",
    ]);
    result.expect(5);
    let outcome = result.stdout_json();
    assert_eq!(outcome["outcome"], "Failure");
    assert_eq!(
        outcome["progress"]["failure"]["code"],
        "FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR"
    );
    let error = result.stderr_json();
    assert_eq!(error["kind"], "backup_failed");
    assert_eq!(error["code"], "FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR");

    gateway.handle().script_outcome(id, Outcome::Timeout);
    let result = sf_backup(&[
        "--endpoint",
        &url,
        "backup",
        PARTITION,
        "--wait",
        "--poll-interval",
        "0.02",
        "--late-write-watch",
        "0.2",
    ]);
    result.expect(5);
    assert!(
        result.stderr.contains("backup timeout"),
        "{}",
        result.stderr
    );
}

#[rstest]
fn a_wait_deadline_exits_6_while_the_backup_runs(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway_with(
        dialect,
        Config {
            in_progress_ms: Some(30_000),
            ..Config::default()
        },
    );
    let url = gateway.url();
    let result = sf_backup(&[
        "--endpoint",
        &url,
        "--output",
        "json",
        "backup",
        PARTITION,
        "--wait",
        "--poll-interval",
        "0.05",
        "--wait-timeout",
        "0.4",
    ]);
    result.expect(6);
    assert_eq!(result.stdout_json()["outcome"], "WaitTimedOut");
    assert_eq!(result.stdout_json()["may_have_been_written"], true);
    assert_eq!(result.stdout_json()["may_have_started"], true);
    assert_eq!(
        result.stdout_json()["follow"],
        format!("sf-backup --endpoint {url} progress {PARTITION} --wait")
    );
    assert_eq!(result.stderr_json()["kind"], "wait_timed_out");
    assert_eq!(result.stderr_json()["may_have_started"], true);
}

/// `progress --output json` prints the crate's one JSON shape: field names, placeholders as `null`, every int64
/// the service sends (the LSN, the epoch's versions) as a string whichever way the dialect wrote it.
#[rstest]
fn progress_is_printed_by_field_name_with_int64s_as_strings(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect);
    let url = gateway.url();
    let before = sf_backup(&[
        "--endpoint",
        &url,
        "progress",
        PARTITION,
        "--output",
        "json",
    ]);
    before.expect(0);
    let id: Uuid = PARTITION.parse().unwrap();
    // The service answers `null` before any backup; the documented dialect `{"BackupState":"Invalid"}`.
    let nothing = |state: &str| {
        json!({
            "state": state, "time_stamp_utc": null, "backup_id": null, "backup_location": null, "epoch": null,
            "lsn": null, "failure": null,
        })
    };
    assert_eq!(
        before.stdout_json(),
        dialect.pick(nothing("NotRequested"), nothing("Invalid"))
    );

    let accepted = sf_backup(&["--endpoint", &url, "--output", "json", "backup", PARTITION]);
    accepted.expect(0);
    assert_eq!(
        accepted.stdout_json(),
        json!({"partition_id": PARTITION, "accepted": true, "storage_kind": null})
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while gateway.written_backups().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let wire = serde_json::to_value(gateway.handle().progress(id).unwrap()).unwrap();
    let result = sf_backup(&[
        "--endpoint",
        &url,
        "progress",
        PARTITION,
        "--output",
        "json",
    ]);
    result.expect(0);
    let printed = result.stdout_json();
    // A number or a numeric string on the wire, always a string in the output.
    let as_text = |value: &Value| match value {
        Value::Number(number) => number.to_string(),
        other => other.as_str().unwrap_or_default().trim().to_owned(),
    };
    let time = |value: &Value| {
        value
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
    };
    assert_eq!(printed["state"], "Success");
    assert_eq!(printed["backup_id"], wire["BackupId"]);
    assert_eq!(printed["backup_location"], wire["BackupLocation"]);
    assert_eq!(
        time(&printed["time_stamp_utc"]),
        time(&wire["TimeStampUtc"])
    );
    assert_eq!(
        printed["lsn"],
        Value::String(as_text(&wire["LsnOfLastBackupRecord"]))
    );
    for (printed_name, wire_name) in [
        ("data_loss_version", "DataLossVersion"),
        ("configuration_version", "ConfigurationVersion"),
    ] {
        assert_eq!(
            printed["epoch"][printed_name],
            Value::String(as_text(&wire["EpochOfLastBackupRecord"][wire_name])),
            "{printed}"
        );
    }
    assert_eq!(printed["failure"], Value::Null);

    let text = sf_backup(&["--endpoint", &url, "progress", PARTITION]);
    text.expect(0);
    let written = &gateway.written_backups()[0];
    assert!(text.stdout.contains("Success"), "{}", text.stdout);
    assert!(
        text.stdout.contains(&written.backup_id.to_string()),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains(&written.location), "{}", text.stdout);
}

#[rstest]
fn secrets_never_appear_in_any_output(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    const CONNECTION: &str = "AccountKey=cli-secret-connection";
    const PRIMARY: &str = "cli-secret-primary";
    const SECONDARY: &str = "cli-secret-secondary";
    let gateway = gateway(dialect);
    let url = gateway.url();
    let azure = [
        "--storage-kind",
        "AzureBlobStore",
        "--connection-string",
        CONNECTION,
        "--container-name",
        "c",
    ];
    let share = [
        "--storage-kind",
        "FileShare",
        "--path",
        "p",
        "--primary-user-name",
        "u",
        "--primary-password",
        PRIMARY,
        "--secondary-user-name",
        "v",
        "--secondary-password",
        SECONDARY,
    ];
    let mut runs = Vec::new();
    for output in ["text", "json"] {
        for storage in [&azure[..], &share[..]] {
            // A partition per run: a wait must not start while the previous run's backup is pending.
            let ids: Vec<String> = (0..7).map(|_| fresh_partition()).collect();
            let base = |i: usize| {
                [
                    "--endpoint",
                    url.as_str(),
                    "--output",
                    output,
                    "backup",
                    ids[i].as_str(),
                ]
            };
            // Success, with and without waiting.
            runs.push(sf_backup(&[&base(0)[..], storage].concat()));
            runs.push(sf_backup(
                &[
                    &base(1)[..],
                    storage,
                    &["--wait", "--poll-interval", "0.02"],
                ]
                .concat(),
            ));
            // The cluster refuses.
            gateway.push_fault(
                Fault::fabric_error(409, "FABRIC_E_BACKUP_IN_PROGRESS").on(Operation::Backup),
            );
            runs.push(sf_backup(&[&base(2)[..], storage].concat()));
            // Invalid input: a flag of another kind, a usage error, an empty required value, a repeated flag.
            runs.push(sf_backup(
                &[&base(3)[..], storage, &["--blob-service-uri", "https://x/"]].concat(),
            ));
            runs.push(sf_backup(
                &[&base(4)[..], storage, &["--no-such-flag", CONNECTION]].concat(),
            ));
            runs.push(sf_backup(
                &[&base(5)[..], storage, &["--friendly-name", " "]].concat(),
            ));
            runs.push(sf_backup(&[&base(6)[..], storage, storage].concat()));
        }
        // From the environment, also for a kind that does not use them.
        let env = [
            ("SF_BACKUP_CONNECTION_STRING", CONNECTION),
            ("SF_BACKUP_PRIMARY_PASSWORD", PRIMARY),
            ("SF_BACKUP_SECONDARY_PASSWORD", SECONDARY),
        ];
        runs.push(run(
            &[
                "--endpoint",
                &url,
                "--output",
                output,
                "backup",
                PARTITION,
                "--storage-kind",
                "AzureBlobStore",
            ],
            &env,
            None,
        ));
        runs.push(run(
            &[
                "--endpoint",
                &url,
                "--output",
                output,
                "backup",
                PARTITION,
                "--storage-kind",
                "AzureBlobStore",
                "--container-name",
                "c",
            ],
            &env,
            None,
        ));
        runs.push(run(
            &["--endpoint", &url, "--output", output, "backup", "--help"],
            &env,
            None,
        ));
        // In JSON on stdin, with an error after it.
        let storage = json!({"StorageKind": "AzureBlobStore", "ConnectionString": CONNECTION, "ContainerName": 7}).to_string();
        runs.push(run(
            &[
                "--endpoint",
                &url,
                "--output",
                output,
                "backup",
                PARTITION,
                "--storage-json",
                "-",
            ],
            &[],
            Some(&storage),
        ));
    }
    for result in &runs {
        let all = result.all();
        for secret in [CONNECTION, PRIMARY, SECONDARY] {
            assert!(
                !all.contains(secret),
                "{secret} leaked (exit {}):\n{all}",
                result.code
            );
        }
    }
    // The secrets did reach the cluster, so the runs above exercised them.
    assert!(
        backup_requests(&gateway)
            .iter()
            .any(|request| String::from_utf8_lossy(&request.body).contains(CONNECTION))
    );
    assert!(runs.iter().any(|result| result.code == 0));
    assert!(runs.iter().any(|result| result.code == 2));
    assert!(runs.iter().any(|result| result.code == 3));
}

#[test]
fn help_documents_the_exit_codes() {
    for args in [
        &["--help"][..],
        &["backup", "--help"],
        &["progress", "--help"],
    ] {
        let result = sf_backup(args);
        result.expect(0);
        for line in [
            "Exit codes:",
            "2    invalid input; nothing was sent",
            "3    the cluster refused the request",
            "4    nothing was sent",
            "5    the backup ended in Failure, or the service reported Timeout",
            "6    the wait timeout passed while the requested backup still ran",
            "7    a backup may have started but its outcome is unknown",
            "8    the service reported Timeout, but a backup written in this request's window was found",
            "130  interrupted (Ctrl-C)",
        ] {
            assert!(
                result.stdout.contains(line),
                "{args:?} lacks {line:?}:\n{}",
                result.stdout
            );
        }
    }
}

#[rstest]
fn testkit_flag_runs_a_whole_backup_without_a_cluster(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let result = sf_backup(&[
        "--testkit",
        "--testkit-dialect",
        dialect.name(),
        "backup",
        PARTITION,
        "--wait",
    ]);
    result.expect(0);
    assert!(result.stdout.contains("BackupId:"), "{}", result.stdout);
    assert!(result.stdout.contains("Location:"), "{}", result.stdout);
    for state in ["Accepted", "BackupInProgress", "Success"] {
        assert!(result.stderr.contains(state), "{state}: {}", result.stderr);
    }
}

#[rstest]
fn testkit_subcommand_serves_until_stopped(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    // Port 0: the child binds a free port itself and says which (no port handed over from a dropped listener).
    let mut child = Command::new(BIN)
        .args([
            "testkit",
            "--listen",
            "127.0.0.1:0",
            "--dialect",
            dialect.name(),
            "--output",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Read in a thread, so that a child that never prints fails the test instead of hanging it.
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
        let _ = sender.send(line);
    });
    let Ok(line) = receiver.recv_timeout(support::PROCESS_TIMEOUT) else {
        child.kill().unwrap();
        panic!("the testkit did not say where it listens");
    };
    let said: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let endpoint = said["url"].as_str().unwrap_or_else(|| panic!("{line}"));
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{line}");
    let result = sf_backup(&["--endpoint", endpoint, "progress", PARTITION]);
    child.kill().unwrap();
    child.wait().unwrap();
    result.expect(0);
    assert_no_backup_requested_yet(dialect, &result);
}

/// What `progress` prints before any backup, in text: the state the dialect sends, and that none was requested.
#[track_caller]
fn assert_no_backup_requested_yet(dialect: Dialect, result: &Run) {
    assert!(
        result.stdout.contains("no backup requested yet"),
        "{}",
        result.stdout
    );
    // Documented: the gateway says `Invalid`, and so does the CLI; service: `null`, no state at all.
    assert_eq!(
        result.stdout.contains("Invalid (no backup requested yet"),
        dialect == Dialect::Documented,
        "{}",
        result.stdout
    );
}

#[rstest]
fn progress_before_any_backup_says_none_was_requested(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let result = sf_backup(&[
        "--testkit",
        "--testkit-dialect",
        dialect.name(),
        "progress",
        PARTITION,
    ]);
    result.expect(0);
    assert_no_backup_requested_yet(dialect, &result);

    let gateway = gateway(dialect);
    let result = sf_backup(&["--endpoint", &gateway.url(), "progress", PARTITION]);
    result.expect(0);
    assert_no_backup_requested_yet(dialect, &result);
    assert_eq!(gateway.journal().len(), 1);
}

mod secured {
    //! https with a client certificate and the server validated by thumbprint or common name.

    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    use sha2::{Digest, Sha256};

    struct Pem {
        certificate: String,
        key: String,
        thumbprint: String,
        der: Vec<u8>,
    }

    /// What `client.pfx` is exported with.
    const PFX_PASSWORD: &str = "cli-pfx-password";

    /// The certificate and its key as a PKCS #12 archive, as Windows exports client certificates.
    fn pfx(pem: &Pem, password: &str) -> Vec<u8> {
        use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
        let key = KeyPair::from_pem(&pem.key).unwrap().serialize_der();
        let chain = PrivateKeyChain::new(
            pem.thumbprint.as_str(),
            PrivateKey::from_der(&key).unwrap(),
            [Certificate::from_der(&pem.der).unwrap()],
        );
        let mut store = KeyStore::new();
        store.add_entry("sf-admin", KeyStoreEntry::PrivateKeyChain(chain));
        store.writer(password).write().unwrap()
    }

    fn make(
        common_name: &str,
        ca: Option<&Issuer<'static, KeyPair>>,
    ) -> (Pem, CertificateParams, KeyPair) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let certificate = match ca {
            Some(issuer) => params.signed_by(&key, issuer).unwrap(),
            None => params.self_signed(&key).unwrap(),
        };
        let thumbprint = Sha256::digest(certificate.der())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let pem = Pem {
            certificate: certificate.pem(),
            key: key.serialize_pem(),
            thumbprint,
            der: certificate.der().to_vec(),
        };
        (pem, params, key)
    }

    pub(super) struct Cluster {
        pub(super) gateway: BackgroundGateway,
        server: Pem,
        client: Pem,
        dir: TempDir,
    }

    /// A gateway serving https with a self-signed certificate named `sf-cluster`, requiring client
    /// certificates from its own CA; `client.pem` (certificate and key), `client.crt` and `client.key` hold one,
    /// and so does `client.pfx` (with [`PFX_PASSWORD`]).
    pub(super) fn cluster(dialect: Dialect) -> Cluster {
        let (server, ..) = make("sf-cluster", None);
        let (ca, mut ca_params, ca_key) = make("sf-client-ca", None);
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_certificate = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let (client, ..) = make("sf-admin", Some(&issuer));
        drop(ca);
        let tls = TlsConfig::from_pem(server.certificate.clone(), server.key.clone())
            .require_client_certificates(ca_certificate.pem());
        let gateway = gateway_with(
            dialect,
            Config {
                tls: Some(tls),
                ..Config::default()
            },
        );
        let dir = TempDir::new();
        dir.write(
            "client.pem",
            &format!("{}{}", client.certificate, client.key),
        );
        dir.write("client.crt", &client.certificate);
        dir.write("client.key", &client.key);
        dir.write("server.crt", &server.certificate);
        std::fs::write(dir.path.join("client.pfx"), pfx(&client, PFX_PASSWORD)).unwrap();
        Cluster {
            gateway,
            server,
            client,
            dir,
        }
    }

    impl Cluster {
        pub(super) fn endpoint(&self) -> String {
            self.gateway.url().replace("http://", "https://")
        }

        pub(super) fn file(&self, name: &str) -> String {
            self.dir.path.join(name).to_str().unwrap().to_owned()
        }
    }

    #[rstest]
    fn client_certificates_and_server_validation(
        #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
    ) {
        let cluster = cluster(dialect);
        let endpoint = cluster.endpoint();
        let pem = cluster.file("client.pem");
        let (crt, key) = (cluster.file("client.crt"), cluster.file("client.key"));
        let thumbprint = cluster.server.thumbprint.as_str();
        let other = "cd".repeat(32);
        let accepted: Vec<Vec<&str>> = vec![
            vec!["--pem", &pem, "--server-cert-thumbprint", thumbprint],
            // Another thumbprint first, as during a certificate rollover.
            vec![
                "--cert",
                &crt,
                "--key",
                &key,
                "--server-cert-thumbprint",
                &other,
                "--server-cert-thumbprint",
                thumbprint,
            ],
            vec!["--pem", &pem, "--no-verify"],
        ];
        for flags in accepted {
            sf_backup(
                &[
                    &["--endpoint", endpoint.as_str()],
                    &flags[..],
                    &["progress", PARTITION],
                ]
                .concat(),
            )
            .expect(0);
        }
        let wrong_thumbprint = "ab".repeat(32);
        let refused: Vec<Vec<&str>> = vec![
            // The server certificate is self-signed: the system's trust store does not know it.
            vec!["--pem", &pem],
            vec!["--pem", &pem, "--server-cert-thumbprint", &wrong_thumbprint],
            // The server wants a client certificate.
            vec!["--server-cert-thumbprint", thumbprint],
        ];
        for flags in refused {
            let result = sf_backup(
                &[
                    &["--endpoint", endpoint.as_str()],
                    &flags[..],
                    &["--output", "json", "progress", PARTITION],
                ]
                .concat(),
            );
            result.expect(4);
            assert_eq!(result.stderr_json()["kind"], "transport", "{flags:?}");
        }
        assert!(
            cluster.gateway.journal().len() == 3,
            "only the accepted connections reach the gateway: {:#?}",
            cluster.gateway.journal()
        );
    }

    /// A certificate the client does not trust, or a client certificate the server wants and is not given:
    /// nothing can heal that, so a wait ends at once with the cause instead of retrying until its timeout.
    #[rstest]
    fn a_wait_that_tls_refuses_ends_at_once_with_the_cause(
        #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
    ) {
        let cluster = cluster(dialect);
        let endpoint = cluster.endpoint();
        let pem = cluster.file("client.pem");
        let thumbprint = cluster.server.thumbprint.clone();
        for flags in [
            vec!["--pem", pem.as_str()],
            vec!["--server-cert-thumbprint", thumbprint.as_str()],
        ] {
            let started = std::time::Instant::now();
            let result = sf_backup(
                &[
                    &["--endpoint", endpoint.as_str()],
                    &flags[..],
                    &["backup", PARTITION, "--wait"],
                ]
                .concat(),
            );
            let took = started.elapsed();
            result.expect(4);
            assert!(took < Duration::from_secs(30), "{flags:?}: {took:?}");
            assert!(
                !result.stderr.contains("retrying"),
                "{flags:?}: {}",
                result.stderr
            );
            assert!(
                result.stderr.contains("error: could not connect"),
                "{flags:?}: {}",
                result.stderr
            );
        }
        assert!(cluster.gateway.journal().is_empty());
    }

    #[test]
    fn a_common_name_needs_a_chain_the_system_or_the_ca_bundle_trusts() {
        let cluster = cluster(Dialect::Service);
        let endpoint = cluster.endpoint();
        let pem = cluster.file("client.pem");
        let server_crt = cluster.file("server.crt");
        let by_name = [
            "--endpoint",
            endpoint.as_str(),
            "--pem",
            &pem,
            "--server-cert-common-name",
            "sf-cluster",
        ];
        let with = |extra: &[&str], env: &[(&str, String)]| {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            run(
                &[
                    &by_name[..],
                    extra,
                    &["--output", "json", "progress", PARTITION],
                ]
                .concat(),
                &env,
                None,
            )
        };
        // Self-signed with the right name: anyone could have made it, so the name alone is refused.
        let unrelated = cluster.file("client.crt");
        // The system's store replaced by one file (an empty SSL_CERT_DIR adds no directory).
        let system_store = |file: &str| {
            [
                ("SSL_CERT_FILE", file.to_owned()),
                ("SSL_CERT_DIR", String::new()),
            ]
        };
        let refused = with(&[], &system_store(&unrelated));
        refused.expect(4);
        assert!(
            refused
                .stderr
                .contains("does not chain to the operating system's trust store"),
            "{}",
            refused.stderr
        );
        let refused = with(&["--ca", &unrelated], &[]);
        refused.expect(4);
        assert!(
            refused
                .stderr
                .contains("does not chain to the configured CA certificates"),
            "{}",
            refused.stderr
        );
        // A trust store with nothing in it is a setup problem, reported before connecting.
        let empty = with(&[], &system_store("/nonexistent/ca.pem"));
        empty.expect(2);
        assert!(empty.stderr.contains("trust store"), "{}", empty.stderr);
        assert!(cluster.gateway.journal().is_empty());
        // Trusted through --ca, or through the system's store (which SSL_CERT_FILE replaces here).
        with(&["--ca", &server_crt], &[]).expect(0);
        with(&[], &system_store(&server_crt)).expect(0);
        assert_eq!(cluster.gateway.journal().len(), 2);
    }

    /// A value no earlier run can have printed.
    fn random(label: &str) -> String {
        use std::hash::BuildHasher;
        let n = std::collections::hash_map::RandomState::new()
            .hash_one((label, std::time::SystemTime::now()));
        format!("{label}-{n:016x}")
    }

    /// Every output path of the binary at once: fresh secrets through every storage kind (flags, environment and
    /// JSON), a bearer token and a PFX password over https, in text and JSON, through success, waiting, refusals,
    /// failed backups, invalid input, usage errors and failed handshakes. Neither stdout nor stderr may show one.
    #[test]
    fn no_secret_reaches_stdout_or_stderr_in_text_or_json() {
        let cluster = cluster(Dialect::Service);
        let endpoint = cluster.endpoint();
        let connection = format!("AccountKey={}", random("cli-account-key"));
        let primary = random("cli-primary");
        let secondary = random("cli-secondary");
        let sas = random("cli-sas");
        let token = random("cli-token");
        let pfx_password = random("cli-pfx");
        let wrong_pfx_password = random("cli-wrong-pfx");
        let pfx_path = cluster.dir.path.join("leak.pfx");
        std::fs::write(&pfx_path, pfx(&cluster.client, &pfx_password)).unwrap();
        let pfx_file = pfx_path.to_str().unwrap().to_owned();
        let pem_file = cluster.file("client.pem");
        let secrets = [
            &connection,
            &primary,
            &secondary,
            &sas,
            &token,
            &pfx_password,
            &wrong_pfx_password,
        ];
        let blob_with_sas = format!("https://leak.blob.core.windows.net/?sv=2022&sig={sas}");
        let storages: Vec<Vec<&str>> = vec![
            vec![
                "--storage-kind",
                "AzureBlobStore",
                "--connection-string",
                &connection,
                "--container-name",
                "c",
            ],
            vec![
                "--storage-kind",
                "FileShare",
                "--path",
                r"\\s\b",
                "--primary-user-name",
                "u",
                "--primary-password",
                &primary,
                "--secondary-user-name",
                "v",
                "--secondary-password",
                &secondary,
            ],
            vec![
                "--storage-kind",
                "DsmsAzureBlobStore",
                "--storage-credentials-source-location",
                "https://dsms.example/location",
                "--container-name",
                "c",
            ],
            vec![
                "--storage-kind",
                "ManagedIdentityAzureBlobStore",
                "--blob-service-uri",
                "https://leak.blob.core.windows.net/",
                "--container-name",
                "c",
                "--managed-identity-type",
                "VMSS",
            ],
            // Refused before sending: a SAS in the URI.
            vec![
                "--storage-kind",
                "ManagedIdentityAzureBlobStore",
                "--blob-service-uri",
                &blob_with_sas,
                "--container-name",
                "c",
                "--managed-identity-type",
                "Cluster",
            ],
        ];
        let env = [
            ("SF_PFX_PASSWORD", pfx_password.as_str()),
            ("SF_BACKUP_CLI_LEAK_TOKEN", token.as_str()),
            // Ambient secrets the chosen kind may not use.
            ("SF_BACKUP_CONNECTION_STRING", connection.as_str()),
            ("SF_BACKUP_PRIMARY_PASSWORD", primary.as_str()),
            ("SF_BACKUP_SECONDARY_PASSWORD", secondary.as_str()),
        ];
        let thumbprint = cluster.server.thumbprint.as_str();
        let wrong_thumbprint = "ab".repeat(32);
        let owned = |parts: &[&[&str]]| -> Vec<String> {
            parts.concat().into_iter().map(str::to_owned).collect()
        };
        let go = |args: &[String], env: &[(&str, &str)], stdin: Option<&str>| {
            run(
                &args.iter().map(String::as_str).collect::<Vec<_>>(),
                env,
                stdin,
            )
        };
        let mut wrong_env = env;
        wrong_env[0].1 = wrong_pfx_password.as_str();
        let wait = ["--wait", "--poll-interval", "0.02"];
        let mut runs = Vec::new();
        for output in ["text", "json"] {
            // Decoding a .pfx takes a debug build about half a second, so most runs present the PEM instead.
            let connect_with = |identity: [&str; 2], thumbprint: &str| {
                owned(&[&[
                    "--endpoint",
                    endpoint.as_str(),
                    identity[0],
                    identity[1],
                    "--token-env",
                    "SF_BACKUP_CLI_LEAK_TOKEN",
                    "--server-cert-thumbprint",
                    thumbprint,
                    "--output",
                    output,
                ]])
            };
            let connect = |thumbprint: &str| connect_with(["--pem", &pem_file], thumbprint);
            let connect_pfx = |thumbprint: &str| connect_with(["--pfx", &pfx_file], thumbprint);
            for storage in &storages {
                let ids: Vec<String> = (0..3).map(|_| fresh_partition()).collect();
                let backup = |i: usize, thumbprint: &str, extra: &[&str]| {
                    let mut args = connect(thumbprint);
                    args.extend(owned(&[&["backup", ids[i].as_str()], storage, extra]));
                    args
                };
                // Accepted, refused by the cluster, failed while waiting (progress shown on the way).
                runs.push(go(&backup(0, thumbprint, &[]), &env, None));
                cluster.gateway.push_fault(
                    Fault::fabric_error(409, "FABRIC_E_BACKUP_IN_PROGRESS").on(Operation::Backup),
                );
                runs.push(go(&backup(1, thumbprint, &[]), &env, None));
                cluster.gateway.script_outcome(
                    ids[2].parse::<Uuid>().unwrap(),
                    Outcome::failure("FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR", "copy failed"),
                );
                runs.push(go(&backup(2, thumbprint, &wait), &env, None));
            }
            // Once per output format, with the first storage: a wait that succeeds, a usage error, a server that
            // is not the pinned one, a wrong PFX password.
            let backup = |thumbprint: &str, extra: &[&str]| {
                let mut args = connect_pfx(thumbprint);
                args.extend(owned(&[
                    &["backup", &fresh_partition()],
                    &storages[0],
                    extra,
                ]));
                args
            };
            runs.push(go(&backup(thumbprint, &wait), &env, None));
            runs.push(go(&backup(thumbprint, &["--no-such-flag"]), &env, None));
            runs.push(go(&backup(&wrong_thumbprint, &[]), &env, None));
            runs.push(go(&backup(thumbprint, &[]), &wrong_env, None));
            // Secrets from the environment for the kind that takes them, and JSON on stdin with a bad field.
            let mut args = connect(thumbprint);
            args.extend(owned(&[&[
                "backup",
                &fresh_partition(),
                "--storage-kind",
                "AzureBlobStore",
                "--container-name",
                "c",
            ]]));
            runs.push(go(&args, &env, None));
            let json = json!({"StorageKind": "FileShare", "Path": "p", "PrimaryUserName": "u",
                "PrimaryPassword": primary, "SecondaryPassword": secondary, "Bogus": 1})
            .to_string();
            let mut args = connect(thumbprint);
            args.extend(owned(&[&[
                "backup",
                &fresh_partition(),
                "--storage-json",
                "-",
            ]]));
            runs.push(go(&args, &env, Some(&json)));
            let mut args = connect(thumbprint);
            args.extend(owned(&[&["progress", PARTITION]]));
            runs.push(go(&args, &env, None));
        }
        for result in &runs {
            let all = result.all();
            for secret in secrets {
                assert!(
                    !all.contains(secret.as_str()),
                    "{secret} leaked (exit {}):\n{all}",
                    result.code
                );
            }
        }
        // Every kind of ending happened, and the secrets did reach the cluster.
        for code in [0, 2, 3, 4, 5] {
            assert!(runs.iter().any(|r| r.code == code), "no run exited {code}");
        }
        let journal = cluster.gateway.journal();
        assert!(
            journal
                .iter()
                .any(|r| r.header("authorization") == Some(&format!("Bearer {token}")))
        );
        for secret in [&connection, &primary, &secondary] {
            assert!(
                journal
                    .iter()
                    .any(|r| String::from_utf8_lossy(&r.body).contains(secret.as_str())),
                "{secret} was never sent"
            );
        }
    }

    #[rstest]
    fn a_pfx_client_certificate_with_its_password_from_the_environment(
        #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
    ) {
        let cluster = cluster(dialect);
        let endpoint = cluster.endpoint();
        let pfx = cluster.file("client.pfx");
        let args = [
            "--endpoint",
            &endpoint,
            "--pfx",
            &pfx,
            "--server-cert-thumbprint",
            &cluster.server.thumbprint,
            "--output",
            "json",
            "progress",
            PARTITION,
        ];
        run(&args, &[("SF_PFX_PASSWORD", PFX_PASSWORD)], None).expect(0);
        assert_eq!(cluster.gateway.journal().len(), 1);

        let wrong = "cli-wrong-pfx-password";
        let result = run(&args, &[("SF_PFX_PASSWORD", wrong)], None);
        result.expect(2);
        assert!(result.stderr.contains("password"), "{}", result.stderr);
        assert!(
            !result.all().contains(wrong) && !result.all().contains(PFX_PASSWORD),
            "{}",
            result.all()
        );
        // Without the variable the file is opened with no password, which is just as wrong here.
        run(&args, &[], None).expect(2);
        assert_eq!(cluster.gateway.journal().len(), 1, "refused before sending");
    }

    #[rstest]
    fn a_bearer_token_is_sent_and_never_shown(
        #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
    ) {
        let gateway = gateway(dialect);
        let url = gateway.url();
        let token = "cli-secret-token-value";
        let env = [("SF_BACKUP_CLI_TEST_TOKEN", token)];
        let result = run(
            &[
                "--endpoint",
                &url,
                "--token-env",
                "SF_BACKUP_CLI_TEST_TOKEN",
                "backup",
                PARTITION,
            ],
            &env,
            None,
        );
        result.expect(0);
        assert_eq!(
            the_post(&gateway).header("authorization"),
            Some(format!("Bearer {token}").as_str())
        );
        gateway.push_fault(
            Fault::fabric_error(401, "FABRIC_E_UNAUTHORIZED").on(Operation::GetBackupProgress),
        );
        let result = run(
            &[
                "--endpoint",
                &url,
                "--token-env",
                "SF_BACKUP_CLI_TEST_TOKEN",
                "--output",
                "json",
                "progress",
                PARTITION,
            ],
            &env,
            None,
        );
        result.expect(3);
        assert!(!result.all().contains(token));
    }
}

/// A directory removed when dropped.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn new() -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "sf-backup-cli-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        Self { path }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Exit codes that tell a script whether running the backup again could start a second one.
mod exit_codes {
    use super::*;

    #[rstest]
    fn a_backup_request_whose_answer_is_lost_exits_7_not_4(
        #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
    ) {
        let gateway = gateway(dialect);
        gateway.push_fault(
            Fault::close_connection()
                .on(Operation::Backup)
                .after_processing(),
        );
        let url = gateway.url();
        let result = sf_backup(&["--endpoint", &url, "--output", "json", "backup", PARTITION]);
        result.expect(7);
        assert_eq!(result.stderr_json()["kind"], "outcome_unknown");
        assert_eq!(result.stderr_json()["may_have_started"], true);
        assert_eq!(gateway.count(Operation::Backup), 1);
    }

    #[rstest]
    fn progress_unreadable_after_the_202_exits_7_with_the_follow_command(
        #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
    ) {
        let gateway = gateway(dialect);
        gateway.push_fault(
            Fault::fabric_error(500, "E_UNEXPECTED")
                .on(Operation::GetBackupProgress)
                .after(1)
                .always(),
        );
        let url = gateway.url();
        let result = sf_backup(&[
            "--endpoint",
            &url,
            "backup",
            PARTITION,
            "--wait",
            "--poll-interval",
            "0.05",
        ]);
        result.expect(7);
        assert!(
            result
                .stderr
                .contains("the backup was requested and accepted"),
            "{}",
            result.stderr
        );
        assert!(
            result.stderr.contains(&format!(
                "sf-backup --endpoint {url} progress {PARTITION} --wait"
            )),
            "{}",
            result.stderr
        );
    }

    /// A listener that accepts and never answers: the wait timeout holds, and exit 4 says nothing was sent. The
    /// answer deadline is 70 s (`--server-timeout 60` plus the margin) and the wait timeout 2 s: ending within
    /// 30 s can only be the wait timeout's doing, with room for a loaded machine.
    #[test]
    fn a_listener_that_never_answers_exits_4_within_the_wait_timeout() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let holder = std::thread::spawn({
            let stop = stop.clone();
            move || {
                let mut held = Vec::new();
                listener.set_nonblocking(true).unwrap();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Ok((stream, _)) = listener.accept() {
                        held.push(stream);
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        });
        let started = std::time::Instant::now();
        let result = sf_backup(&[
            "--endpoint",
            &url,
            "backup",
            PARTITION,
            "--server-timeout",
            "60",
            "--wait",
            "--wait-timeout",
            "2",
        ]);
        let took = started.elapsed();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        holder.join().unwrap();
        result.expect(4);
        assert!(took < Duration::from_secs(30), "{took:?}");
        assert!(
            result.stderr.contains("no backup was requested"),
            "{}",
            result.stderr
        );
    }

    #[rstest]
    fn ctrl_c_after_the_request_exits_130_and_says_how_to_follow_the_backup(
        #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
        #[values(false, true)] json: bool,
    ) {
        let gateway = gateway_with(
            dialect,
            Config {
                in_progress_ms: Some(60_000),
                ..Config::default()
            },
        );
        let url = gateway.url();
        let mut args = vec!["--endpoint", url.as_str(), "backup", PARTITION, "--wait"];
        if json {
            args.extend(["--output", "json"]);
        }
        let mut command = Command::new(BIN);
        for var in ENV {
            command.env_remove(var);
        }
        let child = command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Interrupt once the backup was requested.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !gateway.journal().iter().any(|r| r.method == "POST") {
            assert!(std::time::Instant::now() < deadline, "no backup request");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
        let killed = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let output = support::finish(child, support::PROCESS_TIMEOUT);
        let (stdout, stderr) = (output.stdout, output.stderr);
        assert_eq!(output.code, 130, "{stdout}\n{stderr}");
        let follow = format!("sf-backup --endpoint {url} progress {PARTITION} --wait");
        if json {
            let outcome: Value = serde_json::from_str(&stdout).unwrap();
            assert_eq!(outcome["outcome"], "Interrupted");
            assert_eq!(outcome["may_have_started"], true);
            assert_eq!(outcome["follow"], follow);
            let error: Value = serde_json::from_str(&stderr).unwrap();
            assert_eq!(error["exit_code"], 130);
        } else {
            assert!(
                stderr.contains("the backup was requested and accepted"),
                "{stderr}"
            );
            assert!(stderr.contains(&follow), "{stderr}");
        }
        assert_eq!(gateway.count(Operation::Backup), 1);
    }

    /// The issue's measurement: a wait against an endpoint where nothing listens ends in seconds, with the
    /// connection's cause, each retry shown (it used to print nothing for the 15 minutes of the wait timeout).
    #[rstest]
    fn a_wait_against_a_refused_endpoint_fails_in_seconds_with_the_cause(
        #[values(false, true)] json: bool,
    ) {
        let mut args = vec!["--endpoint", "http://127.0.0.1:1"];
        if json {
            args.extend(["--output", "json"]);
        }
        args.extend(["backup", PARTITION, "--wait"]);
        let started = std::time::Instant::now();
        let result = sf_backup(&args);
        let took = started.elapsed();
        result.expect(4);
        assert!(took < Duration::from_secs(30), "{took:?}");
        if json {
            let error = result.stderr_json();
            assert_eq!(error["kind"], "transport");
            assert!(
                error["message"].as_str().unwrap().contains("onnect"),
                "{error}"
            );
        } else {
            assert!(
                result
                    .stderr
                    .contains("retrying progress read: could not connect to the service"),
                "{}",
                result.stderr
            );
            assert!(result.stderr.contains("(attempt 2)"), "{}", result.stderr);
            assert!(
                result.stderr.contains("error: could not connect"),
                "{}",
                result.stderr
            );
        }
    }

    #[rstest]
    fn retried_reads_are_shown_and_a_state_this_version_does_not_know_is_named(
        #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
    ) {
        let gateway = gateway_with(
            dialect,
            Config {
                in_progress_ms: Some(60_000),
                ..Config::default()
            },
        );
        gateway.push_fault(
            Fault::transient("FABRIC_E_NOT_READY")
                .on(Operation::GetBackupProgress)
                .after(1)
                .times(1),
        );
        gateway.push_fault(
            Fault::backup_state("Cancelled")
                .on(Operation::GetBackupProgress)
                .after(1)
                .always(),
        );
        let url = gateway.url();
        let args = |partition: &str| {
            [
                "--endpoint",
                url.as_str(),
                "backup",
                partition,
                "--wait",
                "--poll-interval",
                "0.05",
                "--wait-timeout",
                "1.5",
            ]
            .map(str::to_owned)
        };
        let text = sf_backup(&args(PARTITION).each_ref().map(String::as_str));
        text.expect(6);
        assert!(
            text.stderr
                .contains("retrying progress read: the service answered 503"),
            "{}",
            text.stderr
        );
        assert!(
            text.stderr
                .contains("Cancelled (a state this version does not know)"),
            "{}",
            text.stderr
        );
        assert!(
            text.stderr
                .contains("Cancelled, a state this version does not know"),
            "{}",
            text.stderr
        );
        // Another partition: the first one's backup still runs. The fault shows its state for every read.
        let other = fresh_partition();
        let mut json_args = vec!["--output".to_owned(), "json".to_owned()];
        json_args.extend(args(&other));
        let json = sf_backup(&json_args.iter().map(String::as_str).collect::<Vec<_>>());
        json.expect(6);
        assert_eq!(json.stdout_json()["outcome"], "WaitTimedOut");
        assert_eq!(json.stdout_json()["unknown_state"], "Cancelled");
        assert_eq!(json.stderr_json()["kind"], "wait_timed_out");
        assert_eq!(gateway.count(Operation::Backup), 2);
    }

    #[rstest]
    fn progress_wait_follows_a_backup_requested_earlier(
        #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
    ) {
        let gateway = gateway(dialect);
        let url = gateway.url();
        let nothing = sf_backup(&["--endpoint", &url, "progress", PARTITION, "--wait"]);
        nothing.expect(3);
        assert!(
            nothing.stderr.contains("no backup was ever requested"),
            "{}",
            nothing.stderr
        );
        sf_backup(&["--endpoint", &url, "backup", PARTITION]).expect(0);
        let followed = sf_backup(&[
            "--endpoint",
            &url,
            "--output",
            "json",
            "progress",
            PARTITION,
            "--wait",
            "--poll-interval",
            "0.05",
        ]);
        followed.expect(0);
        let written = &gateway.written_backups()[0];
        assert_eq!(
            followed.stdout_json()["backup"]["backup_id"],
            written.backup_id.to_string()
        );
        assert_eq!(
            gateway.count(Operation::Backup),
            1,
            "following sends no backup request"
        );
    }
}

/// Messages from a new user's first tries: they name flags and variables, never library methods.
mod messages {
    use super::*;

    #[test]
    fn testkit_help_lists_only_its_own_options() {
        let help = sf_backup(&["testkit", "--help"]);
        help.expect(0);
        for own in ["--listen", "--config", "--dialect", "--output"] {
            assert!(help.stdout.contains(own), "{own}: {}", help.stdout);
        }
        for foreign in [
            "--pem",
            "--endpoint",
            "--server-cert-thumbprint",
            "--token-env",
        ] {
            assert!(!help.stdout.contains(foreign), "{foreign}: {}", help.stdout);
        }
        // They are still listed where they apply.
        assert!(sf_backup(&["backup", "--help"]).stdout.contains("--pem"));
    }

    #[test]
    fn certificate_files_of_the_wrong_kind_name_the_right_flag() {
        let cluster = secured::cluster(Dialect::Service);
        let (pem, pfx) = (cluster.file("client.pem"), cluster.file("client.pfx"));
        let endpoint = cluster.endpoint();

        let result = sf_backup(&[
            "--endpoint",
            &endpoint,
            "--pem",
            &pfx,
            "progress",
            PARTITION,
        ]);
        result.expect(2);
        assert!(result.stderr.contains("--pfx"), "{}", result.stderr);
        assert!(
            !result.stderr.contains("client_certificate"),
            "{}",
            result.stderr
        );

        let result = sf_backup(&[
            "--endpoint",
            &endpoint,
            "--pfx",
            &pem,
            "progress",
            PARTITION,
        ]);
        result.expect(2);
        assert!(result.stderr.contains("--pem"), "{}", result.stderr);
        assert!(
            !result.stderr.contains("client_certificate"),
            "{}",
            result.stderr
        );

        let result = run(
            &[
                "--endpoint",
                &endpoint,
                "--pfx",
                &pfx,
                "progress",
                PARTITION,
            ],
            &[("SF_PFX_PASSWORD", "wrong-password")],
            None,
        );
        result.expect(2);
        assert!(
            result.stderr.contains("SF_PFX_PASSWORD"),
            "{}",
            result.stderr
        );
        assert!(
            !result.stderr.contains("wrong-password"),
            "{}",
            result.stderr
        );
        assert!(cluster.gateway.journal().is_empty(), "nothing was sent");
    }

    #[rstest]
    fn a_404_without_a_fabric_error_suggests_checking_the_endpoint(
        #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
    ) {
        let gateway = gateway(dialect);
        gateway.push_fault(Fault::html(404).on(Operation::GetBackupProgress));
        let url = gateway.url();
        let result = sf_backup(&["--endpoint", &url, "progress", PARTITION]);
        result.expect(3);
        assert!(
            result.stderr.contains("check --endpoint"),
            "{}",
            result.stderr
        );
    }
}

/// `backup` of several partitions: JSON lines as each ends, a summary, exit 9, a report to resume from.
mod fleet {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n)
            .map(|_| sf_backup::Uuid::new_v4().to_string())
            .collect()
    }

    fn lines(stdout: &str) -> Vec<Value> {
        stdout
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }

    /// The backup requests for one partition (`GatewayHandle::count` counts those of every partition).
    fn posts_for(gateway: &BackgroundGateway, id: &str) -> usize {
        backup_requests(gateway)
            .iter()
            .filter(|r| r.target.contains(id))
            .count()
    }

    #[rstest]
    fn every_partition_once_one_json_line_each_then_a_summary(
        #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
    ) {
        let gateway = gateway(dialect);
        let url = gateway.url();
        let partitions = ids(5);
        // Two on the command line, the rest (and a repeat) from standard input.
        let list = format!(
            "# partitions\n{}\n\n{}\n",
            partitions[2..].join("\n"),
            partitions[0]
        );
        let mut args = vec!["--endpoint", url.as_str(), "--output", "json", "backup"];
        args.extend(partitions[..2].iter().map(String::as_str));
        args.extend([
            "--partitions-from",
            "-",
            "--wait",
            "--concurrency",
            "2",
            "--poll-interval",
            "0.02",
        ]);
        let result = run(&args, &[], Some(&list));
        result.expect(0);
        let lines = lines(&result.stdout);
        assert_eq!(lines.len(), 6, "{}", result.stdout);
        let (summary, outcomes) = lines.split_last().unwrap();
        assert_eq!(summary["summary"]["total"], 5);
        assert_eq!(summary["summary"]["succeeded"], 5);
        let written = gateway.written_backups();
        for id in &partitions {
            assert_eq!(posts_for(&gateway, id), 1, "{id}");
            let line = outcomes.iter().find(|l| l["partition_id"] == *id).unwrap();
            assert_eq!(line["outcome"], "Success");
            let backup = written
                .iter()
                .find(|w| w.partition_id.to_string() == *id)
                .unwrap();
            assert_eq!(line["backup_id"], backup.backup_id.to_string());
            assert!(line["duration_ms"].is_u64());
        }
    }

    #[rstest]
    fn a_failed_partition_exits_9_and_resume_retries_only_it(
        #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
    ) {
        let gateway = gateway(dialect);
        let url = gateway.url();
        let partitions = ids(3);
        gateway.script_outcome(
            partitions[1].parse::<sf_backup::Uuid>().unwrap(),
            Outcome::failure("E_FAIL", "disk full"),
        );
        let dir = TempDir::new();
        let report = dir.path.join("report.jsonl");
        let report = report.to_str().unwrap();
        let mut args = vec!["--endpoint", url.as_str(), "backup"];
        args.extend(partitions.iter().map(String::as_str));
        args.extend(["--wait", "--poll-interval", "0.02", "--report", report]);
        let first = sf_backup(&args);
        first.expect(9);
        assert!(first.stdout.contains("Failure"), "{}", first.stdout);
        assert!(
            first
                .stderr
                .contains("1 of 3 partitions were not backed up"),
            "{}",
            first.stderr
        );
        // Each partition's outcome, after the `Requested` line written when its request was accepted.
        let recorded = lines(&std::fs::read_to_string(report).unwrap());
        let (requested, recorded): (Vec<Value>, Vec<Value>) = recorded
            .into_iter()
            .partition(|line| line["outcome"] == "Requested");
        assert_eq!(recorded.len(), 3);
        assert!(
            requested
                .iter()
                .all(|line| line["requested"] == "yes" || line["requested"] == "maybe"),
            "{requested:?}"
        );
        let failed = recorded
            .iter()
            .find(|l| l["partition_id"] == partitions[1])
            .unwrap();
        assert_eq!(failed["outcome"], "Failure");
        assert_eq!(failed["code"], "E_FAIL");

        let mut again = vec!["--endpoint", url.as_str(), "--output", "json", "backup"];
        again.extend(partitions.iter().map(String::as_str));
        again.extend(["--wait", "--poll-interval", "0.02", "--resume", report]);
        let resumed = sf_backup(&again);
        resumed.expect(0);
        let summary = lines(&resumed.stdout).pop().unwrap();
        assert_eq!(summary["summary"]["skipped"], 2);
        assert_eq!(summary["summary"]["succeeded"], 1);
        assert_eq!(posts_for(&gateway, &partitions[0]), 1);
        assert_eq!(posts_for(&gateway, &partitions[1]), 2);
        assert_eq!(posts_for(&gateway, &partitions[2]), 1);
    }

    /// The testkit's default topology: `fabric:/FakeApp/FakeService` (four persisted partitions), a volatile and
    /// a stateless service.
    fn persisted() -> Vec<String> {
        sf_backup_testkit::default_topology::PERSISTED_PARTITIONS
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[rstest]
    fn a_service_is_backed_up_partition_by_partition_one_json_line_each(
        #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
    ) {
        let gateway = gateway(dialect);
        let url = gateway.url();
        let result = sf_backup(&[
            "--endpoint",
            url.as_str(),
            "--output",
            "json",
            "backup",
            "--service",
            "fabric:/FakeApp/FakeService",
            "--wait",
            "--poll-interval",
            "0.02",
        ]);
        result.expect(0);
        let lines = lines(&result.stdout);
        let (summary, outcomes) = lines.split_last().unwrap();
        assert_eq!(outcomes.len(), 4, "{}", result.stdout);
        assert_eq!(summary["summary"]["succeeded"], 4);
        assert_eq!(summary["summary"]["skipped_services"], 0);
        for id in persisted() {
            assert_eq!(posts_for(&gateway, &id), 1, "{id}");
            let line = outcomes.iter().find(|l| l["partition_id"] == *id).unwrap();
            assert_eq!(line["outcome"], "Success");
        }
        assert_eq!(
            gateway
                .journal()
                .iter()
                .filter(|r| r.method == "POST")
                .count(),
            4
        );
    }

    #[rstest]
    fn an_application_skips_stateless_and_volatile_services_with_the_reason(
        #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
        #[values(true, false)] json: bool,
    ) {
        let gateway = gateway(dialect);
        let url = gateway.url();
        let mut args = vec!["--endpoint", url.as_str()];
        if json {
            args.extend(["--output", "json"]);
        }
        args.extend([
            "backup",
            "--application",
            "fabric:/FakeApp",
            "--wait",
            "--poll-interval",
            "0.02",
        ]);
        let result = sf_backup(&args);
        result.expect(0);
        if json {
            let lines = lines(&result.stdout);
            let skipped: Vec<&Value> = lines.iter().filter(|l| l["outcome"] == "Skipped").collect();
            assert_eq!(skipped.len(), 2, "{}", result.stdout);
            for (service, reason, message) in [
                (
                    "fabric:/FakeApp/FakeStatelessService",
                    "stateless",
                    "stateless",
                ),
                (
                    "fabric:/FakeApp/FakeVolatileService",
                    "not_persisted",
                    "without persisted state",
                ),
            ] {
                let line = skipped
                    .iter()
                    .find(|l| l["service_name"] == service)
                    .unwrap();
                assert_eq!(line["reason"], reason, "{line}");
                assert!(
                    line["message"].as_str().unwrap().contains(message),
                    "{line}"
                );
            }
            let summary = lines.last().unwrap();
            assert_eq!(summary["summary"]["succeeded"], 4);
            assert_eq!(summary["summary"]["skipped_services"], 2);
        } else {
            assert!(
                result
                    .stderr
                    .contains("Skipping fabric:/FakeApp/FakeStatelessService: stateless"),
                "{}",
                result.stderr
            );
            assert!(
                result.stderr.contains("2 services left out"),
                "{}",
                result.stderr
            );
        }
        let topology = sf_backup_testkit::default_topology::VOLATILE_PARTITIONS
            .iter()
            .map(ToString::to_string)
            .chain([sf_backup_testkit::default_topology::STATELESS_PARTITION.to_string()]);
        for id in topology {
            assert_eq!(posts_for(&gateway, &id), 0, "{id} was sent a backup");
        }
        for id in persisted() {
            assert_eq!(posts_for(&gateway, &id), 1, "{id}");
        }
    }

    #[rstest]
    fn an_interrupted_service_backup_resumes_with_only_what_did_not_succeed(
        #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
    ) {
        let gateway = gateway(dialect);
        let url = gateway.url();
        let partitions = persisted();
        gateway.script_outcome(
            partitions[2].parse::<sf_backup::Uuid>().unwrap(),
            Outcome::failure("E_FAIL", "disk full"),
        );
        let dir = TempDir::new();
        let report = dir.path.join("report.jsonl");
        let report = report.to_str().unwrap();
        let args = [
            "--endpoint",
            url.as_str(),
            "--output",
            "json",
            "backup",
            "--service",
            "fabric:/FakeApp/FakeService",
            "--wait",
            "--poll-interval",
            "0.02",
            "--report",
            report,
        ];
        sf_backup(&args).expect(9);
        let mut again = args.to_vec();
        again.extend(["--resume", report]);
        let resumed = sf_backup(&again);
        resumed.expect(0);
        let lines = lines(&resumed.stdout);
        assert_eq!(lines.len(), 2, "{}", resumed.stdout);
        assert_eq!(lines[0]["partition_id"], partitions[2]);
        assert_eq!(lines[1]["summary"]["skipped"], 3);
        for (index, id) in partitions.iter().enumerate() {
            assert_eq!(
                posts_for(&gateway, id),
                if index == 2 { 2 } else { 1 },
                "{id}"
            );
        }
    }

    #[rstest]
    fn unknown_or_malformed_names_fail_before_any_backup(
        #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
    ) {
        let gateway = gateway(dialect);
        let url = gateway.url();
        let unknown = sf_backup(&[
            "--endpoint",
            url.as_str(),
            "backup",
            "--service",
            "fabric:/FakeApp/NoSuchService",
            "--application",
            "fabric:/FakeApp",
            "--wait",
        ]);
        unknown.expect(3);
        assert!(
            unknown
                .stderr
                .contains("--service fabric:/FakeApp/NoSuchService")
                && unknown.stderr.contains("FABRIC_E_SERVICE_DOES_NOT_EXIST"),
            "{}",
            unknown.stderr
        );
        let malformed = sf_backup(&[
            "--endpoint",
            url.as_str(),
            "backup",
            "--application",
            "FakeApp",
            "--wait",
        ]);
        malformed.expect(2);
        assert!(
            malformed.stderr.contains("--application") && malformed.stderr.contains("fabric:/"),
            "{}",
            malformed.stderr
        );
        let without_wait = sf_backup(&[
            "--endpoint",
            url.as_str(),
            "backup",
            "--service",
            "fabric:/FakeApp/FakeService",
        ]);
        without_wait.expect(2);
        assert!(
            without_wait.stderr.contains("--wait"),
            "{}",
            without_wait.stderr
        );
        assert_eq!(
            gateway
                .journal()
                .iter()
                .filter(|r| r.method == "POST")
                .count(),
            0
        );
    }

    #[rstest]
    fn a_busy_partition_is_busy_not_failed_or_followed(
        #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
        #[values(false, true)] follow: bool,
    ) {
        let gateway = gateway_with(
            dialect,
            Config {
                accepted_ms: Some(20),
                in_progress_ms: Some(400),
                ..Config::default()
            },
        );
        let url = gateway.url();
        let partitions = ids(2);
        sf_backup(&["--endpoint", &url, "backup", &partitions[0]]).expect(0);
        let mut args = vec!["--endpoint", url.as_str(), "--output", "json", "backup"];
        args.extend(partitions.iter().map(String::as_str));
        args.extend(["--wait", "--poll-interval", "0.02"]);
        if follow {
            args.push("--follow-busy");
        }
        let result = sf_backup(&args);
        let lines = lines(&result.stdout);
        let busy = lines
            .iter()
            .find(|l| l["partition_id"] == partitions[0])
            .unwrap();
        if follow {
            result.expect(0);
            assert_eq!(busy["outcome"], "Success");
            assert_eq!(busy["followed"], true);
        } else {
            result.expect(9);
            assert_eq!(busy["outcome"], "Busy");
            assert_eq!(busy["code"], "FABRIC_E_BACKUP_IN_PROGRESS");
            assert_eq!(lines.last().unwrap()["summary"]["busy"], 1);
        }
    }

    /// Ctrl-C in the middle of a 20-partition run, then `--resume`: every partition gets exactly one backup
    /// request; those in flight at the interruption are followed, not requested again.
    #[rstest]
    fn an_interrupted_run_resumed_sends_one_backup_request_per_partition(
        #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
    ) {
        let gateway = gateway_with(
            dialect,
            Config {
                accepted_ms: Some(50),
                in_progress_ms: Some(1_500),
                ..Config::default()
            },
        );
        let url = gateway.url();
        let partitions = ids(20);
        let dir = TempDir::new();
        let report = dir.path.join("report.jsonl");
        let report = report.to_str().unwrap();
        let mut args = vec!["--endpoint", url.as_str(), "backup"];
        args.extend(partitions.iter().map(String::as_str));
        args.extend([
            "--wait",
            "--concurrency",
            "4",
            "--poll-interval",
            "0.05",
            "--report",
            report,
        ]);
        let mut command = Command::new(BIN);
        for var in ENV {
            command.env_remove(var);
        }
        let child = command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Interrupt in the second round: four ended, four more requested and running.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while gateway
            .journal()
            .iter()
            .filter(|r| r.method == "POST")
            .count()
            < 6
        {
            assert!(std::time::Instant::now() < deadline, "too few requests");
            std::thread::sleep(Duration::from_millis(10));
        }
        let killed = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let first = support::finish(child, support::PROCESS_TIMEOUT);
        first.expect(130);
        assert!(
            first.stderr.contains(&format!("--resume {report}")),
            "{}",
            first.stderr
        );
        let sent_before = gateway
            .journal()
            .iter()
            .filter(|r| r.method == "POST")
            .count();
        assert!(
            sent_before < 20,
            "the run was not interrupted: {sent_before}"
        );
        let recorded = lines(&std::fs::read_to_string(report).unwrap());
        let requested: Vec<&Value> = recorded
            .iter()
            .filter(|l| l["outcome"] == "Requested")
            .collect();
        assert!(!requested.is_empty(), "{recorded:?}");

        let mut again = vec!["--endpoint", url.as_str(), "--output", "json", "backup"];
        again.extend(partitions.iter().map(String::as_str));
        again.extend([
            "--wait",
            "--concurrency",
            "4",
            "--poll-interval",
            "0.05",
            "--resume",
            report,
            "--report",
            report,
        ]);
        let resumed = sf_backup(&again);
        resumed.expect(0);
        for id in &partitions {
            assert_eq!(posts_for(&gateway, id), 1, "{id}");
        }
        let outcomes = lines(&resumed.stdout);
        let followed = outcomes.iter().filter(|l| l["followed"] == true).count();
        assert!(followed >= 1, "{}", resumed.stdout);
        let summary = outcomes.last().unwrap();
        assert_eq!(
            summary["summary"]["succeeded"].as_u64().unwrap()
                + summary["summary"]["skipped"].as_u64().unwrap(),
            20,
            "{summary}"
        );
        assert_eq!(gateway.written_backups().len(), 20);
    }

    #[test]
    fn several_partitions_without_wait_or_with_a_bad_list_send_nothing() {
        let gateway = gateway(Dialect::Service);
        let url = gateway.url();
        let partitions = ids(2);
        let result = sf_backup(&["--endpoint", &url, "backup", &partitions[0], &partitions[1]]);
        result.expect(2);
        assert!(result.stderr.contains("needs --wait"), "{}", result.stderr);
        let result = run(
            &[
                "--endpoint",
                &url,
                "backup",
                "--partitions-from",
                "-",
                "--wait",
            ],
            &[],
            Some("1daae3f5-7fd6-42e9-b1ba-8c05f873994d\nnot-a-partition\n"),
        );
        result.expect(2);
        assert!(result.stderr.contains("line 2"), "{}", result.stderr);
        assert!(gateway.journal().is_empty());
    }
}

/// The one JSON convention of everything the CLI prints (README, "JSON output"): snake_case keys, and every int64
/// the service sends as text (LSN, epoch versions) as a JSON string, checked mechanically on each command's whole
/// output, errors included.
mod json_convention {
    use super::*;

    /// Walks every object of `value`: each key is snake_case, and an LSN or epoch version is a string (or null).
    #[track_caller]
    fn assert_convention(value: &Value, what: &str) {
        match value {
            Value::Object(object) => {
                for (key, inner) in object {
                    assert!(
                        !key.is_empty()
                            && key
                                .bytes()
                                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                        "{what}: key {key:?} is not snake_case in {value}"
                    );
                    let int64_text = key == "lsn"
                        || key.ends_with("_lsn")
                        || key == "data_loss_version"
                        || key == "configuration_version";
                    if int64_text {
                        assert!(
                            inner.is_string() || inner.is_null(),
                            "{what}: {key} is not a string in {value}"
                        );
                    }
                    assert_convention(inner, what);
                }
            }
            Value::Array(items) => items.iter().for_each(|item| assert_convention(item, what)),
            _ => {}
        }
    }

    /// Every line of `text` is one JSON value that follows the convention; returns how many int64s were strings
    /// (so that the test knows it checked some).
    #[track_caller]
    fn check_lines(text: &str, what: &str) -> usize {
        let mut int64s = 0;
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{what}: not one JSON value a line ({e}): {line}"));
            assert_convention(&value, what);
            int64s += [
                "\"lsn\":\"",
                "\"data_loss_version\":\"",
                "\"configuration_version\":\"",
            ]
            .iter()
            .map(|needle| line.matches(needle).count())
            .sum::<usize>();
        }
        int64s
    }

    #[rstest]
    fn every_command_prints_snake_case_keys_and_int64s_as_strings(
        #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
    ) {
        let gateway = gateway(dialect);
        let url = gateway.url();
        let json = ["--endpoint", url.as_str(), "--output", "json"];
        let with = |args: &[&str]| -> Vec<String> {
            json.iter()
                .chain(args)
                .map(|arg| (*arg).to_owned())
                .collect()
        };
        let run_json = |args: &[&str], code: i32| {
            let args = with(args);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let result = sf_backup(&args);
            result.expect(code);
            result
        };
        let mut int64s = 0;
        let (a, b) = (fresh_partition(), fresh_partition());

        // backup without and with --wait, progress and backups after it.
        let result = run_json(&["backup", &a], 0);
        check_lines(&result.stdout, "backup");
        let wait = ["--wait", "--poll-interval", "0.02"];
        let result = run_json(&[&["backup", &b][..], &wait].concat(), 0);
        int64s += check_lines(&result.stdout, "backup --wait");
        let result = run_json(&["progress", &b], 0);
        int64s += check_lines(&result.stdout, "progress");
        let result = run_json(&["progress", &b, "--wait"], 0);
        int64s += check_lines(&result.stdout, "progress --wait");
        let result = run_json(&["backups", &b], 0);
        int64s += check_lines(&result.stdout, "backups");

        // A fleet run: its lines on stdout and in the report.
        let dir = std::env::temp_dir().join(format!("sf-backup-json-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let report = dir.join("run.jsonl");
        let report_arg = report.display().to_string();
        let (c, d) = (fresh_partition(), fresh_partition());
        let fleet = [
            &["backup", &c, &d][..],
            &["--application", "fabric:/FakeApp", "--report", &report_arg],
            &wait,
        ]
        .concat();
        let result = run_json(&fleet, 0);
        check_lines(&result.stdout, "fleet");
        check_lines(&std::fs::read_to_string(&report).unwrap(), "fleet report");
        let _ = std::fs::remove_dir_all(&dir);

        // A refused request, and a usage error: one JSON object on stderr.
        gateway.push_fault(
            Fault::fabric_error(409, "FABRIC_E_BACKUP_IN_PROGRESS").on(Operation::Backup),
        );
        let result = run_json(&["backup", &a], 3);
        check_lines(&result.stderr, "a refused request");
        let result = run_json(&["backup", &a, "--no-such-flag"], 2);
        check_lines(&result.stderr, "a usage error");
        let result = run_json(&["backup", &a, "--timeout", "30"], 2);
        check_lines(&result.stderr, "a refused option");

        // The service's Timeout, then the backup found written: found_backup and candidates (exit 8).
        let late = gateway_with(
            dialect,
            Config {
                accepted_ms: Some(20),
                in_progress_ms: Some(300),
                backup_timeout_unit_ms: Some(60),
                ..Config::default()
            },
        );
        let e = fresh_partition();
        late.handle()
            .script_outcome(e.parse::<Uuid>().unwrap(), Outcome::TimeoutButWritten);
        let late_url = late.url();
        let args = [
            &[
                "--endpoint",
                late_url.as_str(),
                "--output",
                "json",
                "backup",
                &e,
            ][..],
            &["--backup-timeout", "1", "--late-write-watch", "10"],
            &wait,
        ]
        .concat();
        let result = sf_backup(&args);
        result.expect(8);
        int64s += check_lines(&result.stdout, "a backup found after Timeout");
        check_lines(&result.stderr, "a backup found after Timeout (error)");

        // backup --wait, progress (twice), backups, found_backup: each carries an LSN and two epoch versions.
        assert!(
            int64s >= 5 * 3,
            "too few LSNs and epoch versions were checked: {int64s}"
        );
    }

    /// The check itself fails on what the convention forbids.
    #[test]
    fn the_check_refuses_pascal_case_keys_and_numeric_int64s() {
        for bad in [
            json!({"Url": "http://x"}),
            json!({"backup": {"BackupId": "x"}}),
            json!({"progress": {"lsn": 131462452931584510_i64}}),
            json!([{"epoch": {"data_loss_version": 1, "configuration_version": "2"}}]),
            json!({"first_lsn": 3}),
        ] {
            let caught = std::panic::catch_unwind(|| assert_convention(&bad, "bad"));
            assert!(caught.is_err(), "accepted {bad}");
        }
    }
}
