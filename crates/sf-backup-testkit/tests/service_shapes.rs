//! The service dialect answers in exactly the shapes of `spec/examples/`'s service-code examples, which
//! `cargo xtask conformance` validates against the spec and round-trips through the generated types. Together the
//! two show that what this gateway sends as "the service" is what the spec (with its documented fix-ups) accepts.
//!
//! "Exactly the shape" means the same members at every depth, and the same JSON type for each value (an integer is
//! not a string, a `null` is not an object); ids, times, locations and messages may differ.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use sf_backup_testkit::{Config, Dialect, Gateway, Outcome, PartitionConfig};
use uuid::Uuid;

/// A JSON value's shape: its members and their shapes, or the name of its JSON type.
fn shape(value: &Value) -> Value {
    match value {
        Value::Null => "null".into(),
        Value::Bool(_) => "boolean".into(),
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer".into(),
        Value::Number(_) => "number".into(),
        Value::String(_) => "string".into(),
        Value::Array(items) => Value::Array(items.iter().map(shape).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| (key.clone(), shape(value)))
                .collect(),
        ),
    }
}

fn example(file: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../spec/examples")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let index = std::fs::read_to_string(path.with_file_name("index.json")).unwrap();
    let index: Value = serde_json::from_str(&index).unwrap();
    let entry = index
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["file"] == file)
        .unwrap_or_else(|| panic!("{file} is not in index.json"));
    assert_eq!(
        entry["source"], "service code",
        "{file} is not a service shape"
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn assert_shape(answer: &Value, file: &str) {
    assert_eq!(
        shape(answer),
        shape(&example(file)),
        "the service dialect's answer {answer} does not have the shape of spec/examples/{file}"
    );
}

fn config() -> Config {
    Config {
        dialect: Dialect::Service,
        // Wide enough that a loaded machine still observes every phase.
        accepted_ms: Some(200),
        in_progress_ms: Some(400),
        ..Config::default()
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn post(gateway: &Gateway, partition: Uuid, query: &str) -> reqwest::Response {
    client()
        .post(format!(
            "{}/Partitions/{partition}/$/Backup?api-version=6.4{query}",
            gateway.url()
        ))
        .body("{}")
        .send()
        .await
        .unwrap()
}

/// One progress read: the body as JSON, after checking the status and content type the service sends.
async fn progress(gateway: &Gateway, partition: Uuid) -> Value {
    let response = client()
        .get(format!(
            "{}/Partitions/{partition}/$/GetBackupProgress?api-version=6.4",
            gateway.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    serde_json::from_str(&response.text().await.unwrap()).unwrap()
}

async fn wait_for(gateway: &Gateway, partition: Uuid, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let body = progress(gateway, partition).await;
        if body["BackupState"] == state {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "never reached {state}: last {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn progress_pending_conflict_and_success_have_the_example_shapes() {
    let gateway = Gateway::start(config()).await.unwrap();
    let partition = Uuid::new_v4();

    let before = progress(&gateway, partition).await;
    assert_eq!(before, Value::Null);
    assert_shape(&before, "backup-progress-not-requested.json");

    assert_eq!(post(&gateway, partition, "").await.status(), 202);
    let pending = wait_for(&gateway, partition, "BackupInProgress").await;
    assert_shape(&pending, "backup-progress-pending-service.json");

    let conflict = post(&gateway, partition, "").await;
    assert_eq!(conflict.status(), 409);
    let content_type = conflict.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "text/plain; charset=utf-8");
    let body: Value = serde_json::from_str(&conflict.text().await.unwrap()).unwrap();
    assert_shape(&body, "fabric-error-backup-in-progress-service.json");
    assert_eq!(
        body["Error"]["Code"],
        example("fabric-error-backup-in-progress-service.json")["Error"]["Code"]
    );

    let success = wait_for(&gateway, partition, "Success").await;
    assert_shape(&success, "backup-progress-success-service.json");
    let stamp = success["TimeStampUtc"].as_str().unwrap();
    assert!(
        stamp.len() == "2018-11-21T20:00:01Z".len() && stamp.ends_with('Z'),
        "whole seconds: {stamp}"
    );
    gateway.shutdown().await;
}

#[tokio::test]
async fn failures_with_an_unlisted_or_an_integer_code_have_the_example_shapes() {
    let named = Uuid::new_v4();
    let numbered = Uuid::new_v4();
    let mut config = config();
    for (partition, code) in [
        (named, "FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR"),
        (numbered, "-2147017731"),
    ] {
        let mut declared = PartitionConfig::new(partition);
        declared.outcomes = vec![Outcome::failure(code, "the copier failed")];
        config.partitions.push(declared);
    }
    let gateway = Gateway::start(config).await.unwrap();

    assert_eq!(post(&gateway, named, "").await.status(), 202);
    let failure = wait_for(&gateway, named, "Failure").await;
    assert_shape(&failure, "backup-progress-failure-service.json");
    assert_eq!(
        failure["FailureError"]["Code"],
        "FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR"
    );

    assert_eq!(post(&gateway, numbered, "").await.status(), 202);
    let failure = wait_for(&gateway, numbered, "Failure").await;
    assert_eq!(
        shape(&failure["FailureError"]),
        shape(&example("fabric-error-integer-code-service.json")["Error"]),
        "{failure}"
    );
    assert_eq!(failure["FailureError"]["Code"], -2_147_017_731_i64);
    gateway.shutdown().await;
}

#[tokio::test]
async fn a_timeout_has_the_example_shape_and_message() {
    let gateway = Gateway::start(Config {
        // One BackupTimeout "minute" is 1 ms: BackupTimeout=100 is a 100 ms deadline, well inside the 5 s backup.
        backup_timeout_unit_ms: Some(1),
        in_progress_ms: Some(5_000),
        ..config()
    })
    .await
    .unwrap();
    let partition = Uuid::new_v4();
    assert_eq!(
        post(&gateway, partition, "&BackupTimeout=100")
            .await
            .status(),
        202
    );
    let timeout = wait_for(&gateway, partition, "Timeout").await;
    let expected = example("backup-progress-timeout-service.json");
    assert_shape(&timeout, "backup-progress-timeout-service.json");
    assert_eq!(timeout["FailureError"], expected["FailureError"]);
    gateway.shutdown().await;
}

#[tokio::test]
async fn the_backup_lists_have_the_service_shapes() {
    let gateway = Gateway::start(config()).await.unwrap();
    let partition = Uuid::new_v4();
    gateway.handle().store_backups(
        partition,
        [sf_backup_testkit::StoredBackup::full(
            "2024-03-01T10:15:07Z".parse().unwrap(),
        )],
    );
    let url = format!(
        "{}/Partitions/{partition}/$/GetBackups?api-version=6.4",
        gateway.url()
    );
    let text = client()
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Member order matters too (`Items` before `ContinuationToken`, each BackupInfo in `RestorePoint.cs`'s
    // declaration order); serde_json's map does not keep it, so the keys are compared in the text.
    let page: Value = serde_json::from_str(&text).unwrap();
    assert_shape(&page, "get-partition-backup-list-service.json");
    let expected = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../spec/examples/get-partition-backup-list-service.json"),
    )
    .unwrap();
    let keys = |text: &str| -> Vec<String> {
        text.split('"')
            .collect::<Vec<_>>()
            .windows(2)
            .filter(|pair| pair[1].trim_start().starts_with(':'))
            .map(|pair| pair[0].to_owned())
            .collect()
    };
    assert_eq!(keys(&text), keys(&expected), "member order: {text}");

    let empty = client()
        .get(format!("{url}&StartDateTimeFilter=2030-01-01T00:00:00Z"))
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), 200);
    assert_shape(
        &empty.json().await.unwrap(),
        "get-partition-backup-list-empty-service.json",
    );
}
