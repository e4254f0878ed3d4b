//! The backup lists against the testkit in both dialects (paging, filters, Latest, the service's quirks), and how a
//! wait that the service answered with `Timeout` uses them to find the backup that was written anyway.

mod support;

use std::future::poll_fn;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_core::Stream;
use rstest::rstest;
use sf_backup::list::{BackupEntity, BackupInfo, BackupStream, BackupType};
use sf_backup::{
    BackupStorage, CandidateReason, Client, PartitionId, StorageCheck, WaitError, WaitOptions,
};
use sf_backup_testkit::{
    Config, Dialect, Fault, Gateway, GatewayHandle, Operation, Outcome, PartitionConfig,
    StoredBackup,
};
use support::raw_http_client;
use uuid::Uuid;

const PARTITION: &str = "1daae3f5-7fd6-42e9-b1ba-8c05f873994d";
const SERVICE: &str = "fabric:/FakeApp/FakeService";

fn partition() -> PartitionId {
    PARTITION.parse().unwrap()
}

fn uuid() -> Uuid {
    PARTITION.parse().unwrap()
}

async fn gateway(dialect: Dialect, list_page_cap: Option<usize>) -> Gateway {
    Gateway::start(Config {
        dialect,
        accepted_ms: Some(20),
        in_progress_ms: Some(100),
        list_page_cap,
        ..Config::default()
    })
    .await
    .unwrap()
}

/// Backups created one minute apart, starting at 2024-01-01T00:00:00Z.
fn minutes(count: u32) -> Vec<DateTime<Utc>> {
    let start: DateTime<Utc> = "2024-01-01T00:00:00Z".parse().unwrap();
    (0..count)
        .map(|i| start + chrono::Duration::minutes(i64::from(i)))
        .collect()
}

fn store(gateway: &GatewayHandle, storage: Option<&BackupStorage>, times: &[DateTime<Utc>]) {
    let storage = storage.map(wire_storage);
    gateway.store_backups(
        uuid(),
        times.iter().map(|created| StoredBackup {
            storage: storage.clone(),
            ..StoredBackup::full(*created)
        }),
    );
}

/// The storage as the testkit records it: the wire description the facade sends.
fn wire_storage(storage: &BackupStorage) -> sf_backup_api::types::BackupStorageDescription {
    match storage.kind() {
        "FileShare" => sf_backup_api::types::BackupStorageDescription::FileShare {
            friendly_name: None,
            path: r"\\server\backups".to_owned(),
            primary_password: None,
            primary_user_name: None,
            secondary_password: None,
            secondary_user_name: None,
        },
        other => panic!("no wire form for {other} in this test"),
    }
}

fn share() -> BackupStorage {
    BackupStorage::file_share(r"\\server\backups")
}

async fn collect(stream: BackupStream) -> Vec<Result<BackupInfo, sf_backup::Error>> {
    let mut stream = stream;
    let mut items = Vec::new();
    while let Some(item) = poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await {
        items.push(item);
    }
    items
}

fn list_requests(gateway: &GatewayHandle) -> Vec<String> {
    gateway
        .journal()
        .into_iter()
        .filter(|r| r.target.contains("GetBackups"))
        .map(|r| r.target)
        .collect()
}

#[rstest]
#[tokio::test]
async fn the_stream_pages_transparently_through_every_backup(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect, Some(7)).await;
    let handle = gateway.handle();
    let times = minutes(50);
    store(&handle, None, &times);
    let client = Client::new(gateway.url()).unwrap();
    let items = collect(client.list_backups(partition()).stream()).await;
    let backups: Vec<BackupInfo> = items.into_iter().map(Result::unwrap).collect();
    assert_eq!(backups.len(), 50);
    let created: Vec<_> = backups
        .iter()
        .map(|b| b.creation_time_utc.unwrap())
        .collect();
    assert_eq!(created, times);
    let requests = list_requests(&handle);
    assert_eq!(requests.len(), 8, "{requests:?}");
    assert!(
        requests[1..]
            .iter()
            .all(|t| t.contains("ContinuationToken="))
    );
    // Typed, with the service's strings read as numbers.
    let first = &backups[0];
    assert_eq!(first.backup_type, Some(BackupType::Full));
    assert!(first.starts_own_chain());
    assert_eq!(first.partition_id, Some(partition()));
    assert_eq!(first.service_name.as_deref(), Some(SERVICE));
    assert!(first.lsn.is_some() && first.epoch.is_some());
}

/// A page that is not a `PagedBackupInfoList` ends the list with an error naming the operation and the type; a
/// continuation token that comes back, even after another one, ends it with `EndlessList` (every token is
/// remembered), after the backups of the pages before.
#[rstest]
#[tokio::test]
async fn a_page_that_cannot_be_read_names_its_list_and_a_repeated_token_ends_it(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect, None).await;
    store(&gateway.handle(), None, &minutes(1));
    let client = Client::new(gateway.url()).unwrap();
    gateway.push_fault(
        Fault::body(200, Some("application/json"), r#"{"Items": "none"}"#)
            .on(Operation::GetBackups),
    );
    let error = client.list_backups(partition()).await.unwrap_err();
    assert!(
        matches!(error, sf_backup::Error::UnexpectedResponse { .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.contains("GetPartitionBackupList answer is not a valid PagedBackupInfoList"),
        "{text}"
    );

    for token in ["a+1", "b+2", "a+1"] {
        gateway.push_fault(
            Fault::body(
                200,
                Some("application/json"),
                serde_json::json!({"Items": [], "ContinuationToken": token}).to_string(),
            )
            .on(Operation::GetBackupsFromBackupLocation),
        );
    }
    let items = collect(
        client
            .list_backups_in(share(), BackupEntity::partition(SERVICE, partition()))
            .stream(),
    )
    .await;
    assert_eq!(items.len(), 1, "{items:?}");
    let error = items.into_iter().next().unwrap().unwrap_err();
    assert!(
        matches!(
            &error,
            sf_backup::Error::EndlessList {
                operation: "GetBackupsFromBackupLocation",
                pages: 3,
                repeated_token: Some(token),
            } if token == "a+1"
        ),
        "{error:?}"
    );
}

/// The service's file-share tokens hold `+` and a space; its gateway decodes a raw `+` as a space, which breaks
/// the token. The generated client form-encodes query values (`+` as `%2B`, a space as `+`), so it arrives intact.
#[rstest]
#[tokio::test]
async fn continuation_tokens_with_plus_and_space_survive_the_query_string(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect, Some(2)).await;
    let handle = gateway.handle();
    store(&handle, None, &minutes(5));
    let client = Client::new(gateway.url()).unwrap();
    let backups = client
        .list_backups(partition())
        .page_size(NonZeroU32::new(2).unwrap())
        .await
        .unwrap();
    assert_eq!(backups.len(), 5);
    let requests = list_requests(&handle);
    assert_eq!(requests.len(), 3, "{requests:?}");
    if dialect == Dialect::Service {
        assert!(requests[1].contains("%2B"), "{}", requests[1]);
        // The same token sent raw, as "should not be URL encoded" says, is refused by the service.
        let token = requests[1]
            .split("ContinuationToken=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
            .replace("%2B", "+");
        let raw = raw_http_client()
            .get(format!(
                "{}/Partitions/{PARTITION}/$/GetBackups?api-version=6.4&ContinuationToken={token}",
                gateway.url()
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(raw.status(), 400);
    }
}

#[rstest]
#[tokio::test]
async fn max_results_with_no_match_is_an_empty_list_not_an_error(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect, None).await;
    store(&gateway.handle(), None, &minutes(3));
    let client = Client::new(gateway.url()).unwrap();
    let future: DateTime<Utc> = "2030-01-01T00:00:00Z".parse().unwrap();
    let backups = client
        .list_backups(partition())
        .since(future)
        .page_size(NonZeroU32::new(10).unwrap())
        .await
        .unwrap();
    assert!(backups.is_empty());
    // The quirk is real in the service's dialect: the same request, sent directly, is a 400.
    let raw = raw_http_client()
    .get(format!(
        "{}/Partitions/{PARTITION}/$/GetBackups?api-version=6.4&MaxResults=10&StartDateTimeFilter=2030-01-01T00:00:00Z",
        gateway.url()
    ))
    .send()
    .await
    .unwrap();
    let expected = if dialect == Dialect::Service {
        400
    } else {
        200
    };
    assert_eq!(raw.status(), expected);
}

#[rstest]
#[tokio::test]
async fn latest_never_sends_max_results_so_it_is_the_latest(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect, None).await;
    let handle = gateway.handle();
    let times = minutes(4);
    store(&handle, None, &times);
    let client = Client::new(gateway.url()).unwrap();
    let latest = client
        .list_backups(partition())
        .latest()
        .page_size(NonZeroU32::new(1).unwrap())
        .await
        .unwrap();
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0].creation_time_utc, Some(times[3]));
    let requests = list_requests(&handle);
    assert!(
        requests.iter().all(|t| !t.contains("MaxResults")),
        "{requests:?}"
    );
    assert!(requests[0].contains("Latest=true"));
    // With MaxResults, the service's code would have answered the oldest one.
    let raw: serde_json::Value = raw_http_client()
        .get(format!(
            "{}/Partitions/{PARTITION}/$/GetBackups?api-version=6.4&Latest=true&MaxResults=1",
            gateway.url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let expected = if dialect == Dialect::Service {
        "2024-01-01T00:00:00Z"
    } else {
        "2024-01-01T00:03:00Z"
    };
    assert_eq!(raw["Items"][0]["CreationTimeUtc"], expected);
}

#[rstest]
#[tokio::test]
async fn since_and_until_are_inclusive_and_exact(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect, None).await;
    let times = minutes(10);
    store(&gateway.handle(), None, &times);
    let client = Client::new(gateway.url()).unwrap();
    let backups = client
        .list_backups(partition())
        .since(times[2])
        .until(times[5])
        .await
        .unwrap();
    let created: Vec<_> = backups
        .iter()
        .map(|b| b.creation_time_utc.unwrap())
        .collect();
    assert_eq!(created, times[2..=5]);
}

#[rstest]
#[tokio::test]
async fn a_partition_without_a_policy_cannot_be_listed(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let mut config = PartitionConfig::new(uuid());
    config.backup_policy = false;
    let gateway = Gateway::start(Config {
        dialect,
        partitions: vec![config],
        ..Config::default()
    })
    .await
    .unwrap();
    let client = Client::new(gateway.url()).unwrap();
    let error = client.list_backups(partition()).await.unwrap_err();
    assert!(error.is_backup_not_enabled(), "{error:?}");
}

#[rstest]
#[tokio::test]
async fn an_explicit_storage_lists_what_went_there_and_only_that(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect, Some(3)).await;
    let handle = gateway.handle();
    let times = minutes(8);
    store(&handle, Some(&share()), &times[..5]);
    store(&handle, None, &times[5..]);
    let client = Client::new(gateway.url()).unwrap();
    let in_share = client
        .list_backups_in(share(), BackupEntity::partition(SERVICE, partition()))
        .await
        .unwrap();
    assert_eq!(in_share.len(), 5);
    let by_app = client
        .list_backups_in(share(), BackupEntity::application("fabric:/FakeApp"))
        .await
        .unwrap();
    assert_eq!(by_app.len(), 5);
    let other_service = client
        .list_backups_in(share(), BackupEntity::service("fabric:/FakeApp/Other"))
        .await
        .unwrap();
    assert!(other_service.is_empty());
    let policy = client.list_backups(partition()).await.unwrap();
    assert_eq!(policy.len(), 3);
    let bad = client
        .list_backups_in(share(), BackupEntity::service("FakeApp/Other"))
        .await
        .unwrap_err();
    assert!(bad.is_invalid_input(), "{bad}");
}

fn timeout_options() -> WaitOptions {
    WaitOptions::new()
        .poll_interval(Duration::from_millis(10))
        .max_poll_interval(Duration::from_millis(50))
        .wait_timeout(Duration::from_secs(60))
        .late_write_watch(Duration::from_secs(10))
}

/// A gateway whose `BackupTimeout` deadline (1 minute = 60 ms) passes while the replica still works (300 ms):
/// progress says `Timeout` first, and the backup lands in storage afterwards.
async fn late_gateway(dialect: Dialect) -> Gateway {
    Gateway::start(Config {
        dialect,
        accepted_ms: Some(20),
        in_progress_ms: Some(300),
        backup_timeout_unit_ms: Some(60),
        ..Config::default()
    })
    .await
    .unwrap()
}

#[rstest]
#[tokio::test]
async fn a_backup_written_after_timeout_is_timed_out_but_written_with_its_id(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = late_gateway(dialect).await;
    let handle = gateway.handle();
    handle.script_outcome(uuid(), Outcome::TimeoutButWritten);
    let client = Client::new(gateway.url()).unwrap();
    let error = client
        .backup_partition(partition())
        .backup_timeout(Duration::from_secs(60))
        .wait(timeout_options())
        .await
        .unwrap_err();
    let written = handle.written_backups();
    assert_eq!(written.len(), 1);
    assert!(written[0].reported_timeout);
    let WaitError::ServiceTimeout {
        check:
            StorageCheck::Written {
                backup,
                candidates,
                window,
            },
        progress,
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!(backup.backup_id, Some(written[0].backup_id));
    assert_eq!(
        backup.backup_location.as_deref(),
        Some(written[0].location.as_str())
    );
    assert!(window.from < backup.creation_time_utc.unwrap());
    assert_eq!(candidates.len(), 1);
    assert!(matches!(
        candidates[0].reason,
        CandidateReason::AfterRequest { .. }
    ));
    assert!(
        candidates[0].reason.to_string().contains("periodic"),
        "{}",
        candidates[0].reason
    );
    assert_eq!(progress.state, sf_backup::BackupState::Timeout);
    assert_eq!(error.found_backup().unwrap().backup_id, backup.backup_id);
    assert_eq!(
        handle.count(Operation::Backup),
        1,
        "one POST, never a second backup"
    );
}

#[rstest]
#[tokio::test]
async fn a_timeout_with_nothing_written_stays_backup_timed_out(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = late_gateway(dialect).await;
    let handle = gateway.handle();
    handle.script_outcome(uuid(), Outcome::Timeout);
    // An older backup, outside the window, is not taken for this one.
    handle.store_backups(
        uuid(),
        [StoredBackup::full(Utc::now() - chrono::Duration::hours(1))],
    );
    let client = Client::new(gateway.url()).unwrap();
    let started = std::time::Instant::now();
    let error = client
        .backup_partition(partition())
        .backup_timeout(Duration::from_secs(60))
        .wait(timeout_options().late_write_watch(Duration::from_millis(500)))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            WaitError::ServiceTimeout {
                check: StorageCheck::NothingFound { .. },
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("no backup created in this request's window")
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(handle.count(Operation::Backup), 1);
}

#[rstest]
#[tokio::test]
async fn a_periodic_backup_in_the_window_is_shown_as_a_candidate_with_the_reason(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    // The default unit: Timeout and the late write happen together (at 620 ms), so both backups are there at the
    // first look; the periodic one lands at 300 ms, after the request.
    let gateway = Gateway::start(Config {
        dialect,
        accepted_ms: Some(20),
        in_progress_ms: Some(600),
        ..Config::default()
    })
    .await
    .unwrap();
    let handle = gateway.handle();
    handle.script_outcome(uuid(), Outcome::TimeoutButWritten);
    handle.schedule_periodic_backup(uuid(), Duration::from_millis(300));
    let client = Client::new(gateway.url()).unwrap();
    let error = client
        .backup_partition(partition())
        .wait(timeout_options())
        .await
        .unwrap_err();
    let WaitError::ServiceTimeout {
        check: StorageCheck::Several { candidates, .. },
        ..
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!(candidates.len(), 2);
    let ours = handle.written_backups()[0].backup_id;
    assert!(candidates.iter().any(|c| c.backup.backup_id == Some(ours)));
    assert!(
        candidates
            .iter()
            .all(|c| c.reason.to_string().contains("periodic full backup"))
    );
    assert!(error.found_backup().is_none());
    assert!(error.may_have_been_written());
}

#[rstest]
#[tokio::test]
async fn without_a_policy_the_timeout_cannot_be_checked_and_says_so(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let mut config = PartitionConfig::new(uuid());
    config.backup_policy = false;
    config.outcomes = vec![Outcome::Timeout];
    let gateway = Gateway::start(Config {
        dialect,
        accepted_ms: Some(20),
        in_progress_ms: Some(100),
        partitions: vec![config],
        ..Config::default()
    })
    .await
    .unwrap();
    let client = Client::new(gateway.url()).unwrap();
    // With a storage in the request but no service name, the policy list cannot tell the folder either.
    let error = client
        .backup_partition(partition())
        .storage(share())
        .wait(timeout_options())
        .await
        .unwrap_err();
    let WaitError::ServiceTimeout {
        check: StorageCheck::CannotCheck { reason, .. },
        ..
    } = &error
    else {
        panic!("{error:?}");
    };
    assert!(reason.contains("service name"), "{reason}");
}

#[rstest]
#[tokio::test]
async fn a_backup_to_an_explicit_storage_is_looked_for_there(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = late_gateway(dialect).await;
    let handle = gateway.handle();
    handle.script_outcome(uuid(), Outcome::TimeoutButWritten);
    let client = Client::new(gateway.url()).unwrap();
    let error = client
        .backup_partition(partition())
        .storage(share())
        .backup_timeout(Duration::from_secs(60))
        .wait(timeout_options().service_name(SERVICE))
        .await
        .unwrap_err();
    let backup = error.found_backup().unwrap_or_else(|| panic!("{error:?}"));
    assert_eq!(
        backup.backup_id,
        Some(handle.written_backups()[0].backup_id)
    );
    assert!(
        handle
            .journal()
            .iter()
            .any(|r| r.operation() == Some(Operation::GetBackupsFromBackupLocation))
    );
}

#[rstest]
#[tokio::test]
async fn the_look_into_storage_fits_in_the_wait_deadline(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = late_gateway(dialect).await;
    gateway.handle().script_outcome(uuid(), Outcome::Timeout);
    let client = Client::new(gateway.url()).unwrap();
    let started = std::time::Instant::now();
    let error = client
        .backup_partition(partition())
        .backup_timeout(Duration::from_secs(60))
        .wait(
            timeout_options()
                .wait_timeout(Duration::from_millis(1500))
                .late_write_watch(Duration::from_secs(600)),
        )
        .await
        .unwrap_err();
    // Against a watch of 600 s (and looks that get at least 10 s for their retries), an end within 8 s means
    // the 1.5 s deadline held, with room for a loaded machine.
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(8), "{elapsed:?}");
    assert!(
        matches!(
            error,
            WaitError::ServiceTimeout {
                check: StorageCheck::NothingFound { .. },
                ..
            }
        ),
        "{error:?}"
    );
}

#[rstest]
#[tokio::test]
async fn an_earlier_backup_from_just_before_the_request_is_not_taken_for_this_one(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = late_gateway(dialect).await;
    let handle = gateway.handle();
    handle.script_outcome(uuid(), Outcome::Timeout);
    // A full backup from two seconds before the request: inside the clock allowance, not after the request.
    handle.store_backups(
        uuid(),
        [StoredBackup::full(
            Utc::now() - chrono::Duration::seconds(2),
        )],
    );
    let client = Client::new(gateway.url()).unwrap();
    let error = client
        .backup_partition(partition())
        .backup_timeout(Duration::from_secs(60))
        .wait(timeout_options().late_write_watch(Duration::from_millis(400)))
        .await
        .unwrap_err();
    let WaitError::ServiceTimeout {
        check: StorageCheck::Several { candidates, .. },
        ..
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!(candidates.len(), 1);
    assert!(matches!(
        candidates[0].reason,
        CandidateReason::BeforeRequestWithinSkew { .. }
    ));
    assert!(
        candidates[0]
            .reason
            .to_string()
            .contains("more likely an earlier backup"),
        "{}",
        candidates[0].reason
    );
    assert!(error.found_backup().is_none());
}
