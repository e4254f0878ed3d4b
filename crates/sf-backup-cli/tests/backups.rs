//! `sf-backup backups` and what `backup --wait` does when the service reports Timeout, against the testkit in both
//! dialects: the found backup and exit code 8, exit code 5 when nothing (or more than one candidate) is found,
//! and a list of 1,000 backups paged through.

use std::time::Duration;

use chrono::{DateTime, Utc};
mod support;

use rstest::rstest;
use serde_json::Value;
use sf_backup_testkit::{
    BackgroundGateway, Config, Dialect, Operation, Outcome, PartitionConfig, StoredBackup,
    start_in_background,
};
use support::{PARTITION, sf_backup};
use uuid::Uuid;

fn id() -> Uuid {
    PARTITION.parse().unwrap()
}

/// `BackupTimeout` 1 minute = 60 ms, while the replica takes 300 ms: Timeout first, the write after it.
fn late(dialect: Dialect) -> BackgroundGateway {
    start_in_background(Config {
        dialect,
        accepted_ms: Some(20),
        in_progress_ms: Some(300),
        backup_timeout_unit_ms: Some(60),
        ..Config::default()
    })
    .unwrap()
}

fn wait_args<'a>(url: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--endpoint",
        url,
        "--output",
        "json",
        "backup",
        PARTITION,
        "--backup-timeout",
        "1",
        "--wait",
        "--poll-interval",
        "0.02",
    ];
    args.extend_from_slice(extra);
    args
}

#[rstest]
fn a_backup_written_after_timeout_exits_8_with_its_backup_id(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = late(dialect);
    gateway
        .handle()
        .script_outcome(id(), Outcome::TimeoutButWritten);
    let url = gateway.url();
    let result = sf_backup(&wait_args(&url, &["--late-write-watch", "10"]));
    result.expect(8);
    let written = gateway.written_backups();
    assert_eq!(written.len(), 1);
    let out = result.stdout_json();
    assert_eq!(out["outcome"], "TimedOutButWritten");
    assert_eq!(out["backup_id"], written[0].backup_id.to_string());
    assert_eq!(
        out["found_backup"]["backup_id"],
        written[0].backup_id.to_string()
    );
    assert_eq!(out["found_backup"]["backup_location"], written[0].location);
    assert!(
        out["candidates"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("periodic")
    );
    let error: Value = serde_json::from_str(&result.stderr).unwrap();
    assert_eq!(error["exit_code"], 8);
    assert_eq!(error["kind"], "timed_out_but_written");
    assert_eq!(error["backup_id"], written[0].backup_id.to_string());
    assert_eq!(
        gateway.count(Operation::Backup),
        1,
        "one POST, never a second backup"
    );

    // The same in text: the found backup on stdout, the reason on stderr. Creation times have whole seconds, so
    // the next request starts in a later second than the first backup, or that backup would count as after it.
    std::thread::sleep(Duration::from_millis(1100));
    gateway
        .handle()
        .script_outcome(id(), Outcome::TimeoutButWritten);
    let text = sf_backup(&[
        "--endpoint",
        &url,
        "backup",
        PARTITION,
        "--backup-timeout",
        "1",
        "--wait",
        "--poll-interval",
        "0.02",
        "--late-write-watch",
        "10",
    ]);
    text.expect(8);
    let second = &gateway.written_backups()[1];
    assert!(
        text.stdout.contains(&second.backup_id.to_string()),
        "{}",
        text.stdout
    );
    assert!(
        text.stderr.contains("no need to run again"),
        "{}",
        text.stderr
    );
}

#[rstest]
fn a_timeout_with_nothing_written_exits_5(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = late(dialect);
    gateway.handle().script_outcome(id(), Outcome::Timeout);
    let url = gateway.url();
    let result = sf_backup(&wait_args(&url, &["--late-write-watch", "0.3"]));
    result.expect(5);
    let out = result.stdout_json();
    assert_eq!(out["outcome"], "BackupTimedOut");
    assert!(
        out["storage_check"]
            .as_str()
            .unwrap()
            .contains("no backup created in this request's window"),
        "{out}"
    );
    assert_eq!(gateway.count(Operation::Backup), 1);
}

#[rstest]
fn a_periodic_backup_in_the_window_is_listed_as_a_candidate_and_exits_5(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    // Default BackupTimeout unit: Timeout and the late write coincide (1.5 s after the request), so both are
    // there at the first look; the periodic one lands 1 s from now, after the tool's request.
    let gateway = start_in_background(Config {
        dialect,
        accepted_ms: Some(20),
        in_progress_ms: Some(1500),
        ..Config::default()
    })
    .unwrap();
    gateway
        .handle()
        .script_outcome(id(), Outcome::TimeoutButWritten);
    gateway
        .handle()
        .schedule_periodic_backup(id(), Duration::from_secs(1));
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
        "0.02",
    ]);
    result.expect(5);
    let out = result.stdout_json();
    assert_eq!(out["outcome"], "TimedOutPossiblyWritten");
    let candidates = out["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 2);
    for candidate in candidates {
        let reason = candidate["reason"].as_str().unwrap();
        assert!(reason.contains("periodic full backup"), "{reason}");
    }
    let ours = gateway.written_backups()[0].backup_id.to_string();
    assert!(
        candidates
            .iter()
            .any(|c| c["backup"]["backup_id"] == ours.as_str())
    );
}

fn thousand(
    dialect: Dialect,
    list_page_cap: Option<usize>,
) -> (BackgroundGateway, Vec<DateTime<Utc>>) {
    let gateway = start_in_background(Config {
        dialect,
        list_page_cap,
        ..Config::default()
    })
    .unwrap();
    let start: DateTime<Utc> = "2024-01-01T00:00:00Z".parse().unwrap();
    let times: Vec<DateTime<Utc>> = (0..1000)
        .map(|i| start + chrono::Duration::minutes(i))
        .collect();
    gateway
        .handle()
        .store_backups(id(), times.iter().map(|t| StoredBackup::full(*t)));
    (gateway, times)
}

fn list_requests(gateway: &BackgroundGateway) -> usize {
    gateway
        .journal()
        .iter()
        .filter(|r| r.target.contains("/$/GetBackups"))
        .count()
}

#[rstest]
fn backups_pages_through_a_thousand_backups(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    // Pages the service fills by message size (no MaxResults), 97 at a time.
    let (gateway, times) = thousand(dialect, Some(97));
    let url = gateway.url();
    let result = sf_backup(&["--endpoint", &url, "--output", "json", "backups", PARTITION]);
    result.expect(0);
    let lines: Vec<Value> = result
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 1000);
    assert_eq!(list_requests(&gateway), 11);
    let created: Vec<String> = lines
        .iter()
        .map(|l| l["creation_time_utc"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = times
        .iter()
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .collect();
    assert_eq!(created, expected);
    assert!(lines.iter().all(|l| l["backup_id"].is_string()));

    // Text: a header and one row per backup; pages of --page-size (MaxResults).
    gateway.handle().clear_journal();
    let text = sf_backup(&[
        "--endpoint",
        &url,
        "backups",
        PARTITION,
        "--page-size",
        "64",
    ]);
    text.expect(0);
    assert_eq!(text.stdout.lines().count(), 1001, "header + 1000 rows");
    assert!(text.stdout.starts_with("CREATED (UTC)"));
    assert!(text.stderr.contains("1000 backup(s)"), "{}", text.stderr);
    assert_eq!(list_requests(&gateway), 16);
}

#[rstest]
fn backups_filters_and_latest(#[values(Dialect::Service, Dialect::Documented)] dialect: Dialect) {
    let (gateway, _) = thousand(dialect, None);
    let url = gateway.url();
    let result = sf_backup(&[
        "--endpoint",
        &url,
        "--output",
        "json",
        "backups",
        PARTITION,
        "--since",
        "2024-01-01T01:00:00Z",
        "--until",
        "2024-01-01T01:09:00Z",
    ]);
    result.expect(0);
    assert_eq!(result.stdout.lines().count(), 10);
    let latest = sf_backup(&[
        "--endpoint",
        &url,
        "--output",
        "json",
        "backups",
        PARTITION,
        "--latest",
        "--page-size",
        "1",
    ]);
    latest.expect(0);
    let only: Value = serde_json::from_str(latest.stdout.trim()).unwrap();
    assert_eq!(only["creation_time_utc"], "2024-01-01T16:39:00Z");
}

#[test]
fn backups_without_a_policy_or_with_a_storage_but_no_service_name_are_refused() {
    let mut config = PartitionConfig::new(id());
    config.backup_policy = false;
    let gateway = start_in_background(Config {
        partitions: vec![config],
        ..Config::default()
    })
    .unwrap();
    let url = gateway.url();
    let result = sf_backup(&["--endpoint", &url, "--output", "json", "backups", PARTITION]);
    result.expect(3);
    let error: Value = serde_json::from_str(&result.stderr).unwrap();
    assert_eq!(error["code"], "FABRIC_E_BACKUP_NOT_ENABLED");
    let storage = sf_backup(&[
        "--endpoint",
        &url,
        "backups",
        PARTITION,
        "--storage-kind",
        "FileShare",
        "--path",
        r"\\server\share",
    ]);
    storage.expect(2);
    assert!(
        storage.stderr.contains("--service-name"),
        "{}",
        storage.stderr
    );
    let listed = sf_backup(&[
        "--endpoint",
        &url,
        "backups",
        PARTITION,
        "--storage-kind",
        "FileShare",
        "--path",
        r"\\server\share",
        "--service-name",
        "fabric:/FakeApp/FakeService",
    ]);
    listed.expect(0);
    assert!(
        gateway
            .journal()
            .iter()
            .any(|r| r.method == "POST" && r.target.starts_with("/BackupRestore/$/GetBackups"))
    );
}

#[test]
fn backups_over_a_storage_never_print_its_secret() {
    let gateway = start_in_background(Config::default()).unwrap();
    let url = gateway.url();
    let secret = "AccountKey=backups-leak-check-7f3a9";
    for (output, service) in [
        ("text", "fabric:/FakeApp/FakeService"),
        ("json", "fabric:/FakeApp/FakeService"),
        ("text", "not-a-name"),
        ("json", "not-a-name"),
    ] {
        let result = sf_backup(&[
            "--endpoint",
            &url,
            "--output",
            output,
            "backups",
            PARTITION,
            "--storage-kind",
            "AzureBlobStore",
            "--connection-string",
            secret,
            "--container-name",
            "c",
            "--service-name",
            service,
        ]);
        assert!(
            !result.stdout.contains("leak-check") && !result.stderr.contains("leak-check"),
            "{output} {service}: {}{}",
            result.stdout,
            result.stderr
        );
    }
}

/// With several partitions, a backup found written after the service reported Timeout counts as backed up:
/// exit 0, and `--resume` would skip it.
#[rstest]
fn several_partitions_count_a_backup_written_after_timeout_as_backed_up(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = late(dialect);
    let partitions: Vec<String> = (0..2)
        .map(|_| sf_backup::Uuid::new_v4().to_string())
        .collect();
    let url = gateway.url();
    let mut args = vec!["--endpoint", url.as_str(), "--output", "json", "backup"];
    args.extend(partitions.iter().map(String::as_str));
    args.extend([
        "--backup-timeout",
        "1",
        "--wait",
        "--poll-interval",
        "0.02",
        "--late-write-watch",
        "10",
    ]);
    let result = sf_backup(&args);
    result.expect(0);
    let lines: Vec<serde_json::Value> = result
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let written = gateway.written_backups();
    for id in &partitions {
        let line = lines.iter().find(|l| l["partition_id"] == *id).unwrap();
        assert_eq!(line["outcome"], "TimedOutButWritten", "{line}");
        let backup = written
            .iter()
            .find(|w| w.partition_id.to_string() == *id)
            .unwrap();
        assert_eq!(line["backup_id"], backup.backup_id.to_string());
    }
    assert_eq!(lines.last().unwrap()["summary"]["succeeded"], 2);
    assert_eq!(gateway.count(Operation::Backup), 2);
}
