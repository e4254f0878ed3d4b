//! Backing up many partitions from one client (`Client::backup_partitions`), in both testkit dialects: every
//! partition once, never more at a time than the concurrency, busy partitions told apart from failed ones, and a
//! dropped stream that starts nothing more.
#![forbid(unsafe_code)]

mod support;

use std::future::poll_fn;
use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;
use rstest::rstest;
use sf_backup::{Client, FleetBackup, PartitionId, PartitionOutcome, RetryPolicy, WaitOptions};
use sf_backup_testkit::{Config, Dialect, Gateway, Operation};
use support::gateway_with;
use uuid::Uuid;

fn fast() -> WaitOptions {
    WaitOptions::new()
        .poll_interval(Duration::from_millis(10))
        .max_poll_interval(Duration::from_millis(40))
        .wait_timeout(Duration::from_secs(60))
}

/// A client whose failed reads are retried soon.
fn client(gateway: &Gateway) -> Client {
    Client::builder()
        .endpoint(gateway.url())
        .retry(RetryPolicy::default().initial_backoff(Duration::from_millis(10)))
        .build()
        .unwrap()
}

fn quick() -> Config {
    Config {
        accepted_ms: Some(20),
        in_progress_ms: Some(60),
        ..Config::default()
    }
}

async fn next(fleet: &mut FleetBackup) -> Option<PartitionOutcome> {
    poll_fn(|cx| Pin::new(&mut *fleet).poll_next(cx)).await
}

fn ids(n: usize) -> Vec<PartitionId> {
    (0..n).map(|_| PartitionId::from(Uuid::new_v4())).collect()
}

#[rstest]
#[tokio::test]
async fn every_partition_is_backed_up_once_never_more_at_a_time_than_the_concurrency(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway_with(dialect, quick()).await;
    let partitions = ids(20);
    // A duplicate is backed up once.
    let mut with_duplicate = partitions.clone();
    with_duplicate.push(partitions[0]);
    let mut fleet = client(&gateway)
        .backup_partitions(with_duplicate)
        .concurrency(3)
        .wait_options(fast());
    let mut outcomes = Vec::new();
    loop {
        assert!(fleet.in_flight().len() <= 3, "{:?}", fleet.in_flight());
        let Some(outcome) = next(&mut fleet).await else {
            break;
        };
        outcomes.push(outcome);
        // Every backup request sent so far belongs to an ended partition or to one of at most three running.
        assert!(
            gateway.count(Operation::Backup) <= outcomes.len() + 3,
            "{}",
            gateway.count(Operation::Backup)
        );
    }
    assert_eq!(outcomes.len(), 20);
    assert_eq!(gateway.count(Operation::Backup), 20);
    let written = gateway.written_backups();
    for outcome in &outcomes {
        let backup = outcome.result.as_ref().unwrap();
        let mine = written
            .iter()
            .find(|w| w.partition_id == *outcome.partition_id.as_uuid())
            .unwrap();
        assert_eq!(backup.backup_id, mine.backup_id);
        assert!(!outcome.busy() && !outcome.followed);
    }
}

#[rstest]
#[tokio::test]
async fn a_busy_partition_is_reported_busy_or_followed_not_failed(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
    #[values(false, true)] follow: bool,
) {
    // Long enough that the backup started first still runs when the fleet asks, however slow the machine.
    let config = Config {
        in_progress_ms: Some(1500),
        ..quick()
    };
    let gateway = gateway_with(dialect, config).await;
    let partitions = ids(3);
    let client = client(&gateway);
    // One partition already has a backup running, started elsewhere.
    client.backup_partition(partitions[1]).await.unwrap();
    let mut fleet = client
        .backup_partitions(partitions.clone())
        .follow_busy(follow)
        .wait_options(fast());
    let mut outcomes = Vec::new();
    while let Some(outcome) = next(&mut fleet).await {
        outcomes.push(outcome);
    }
    let busy = outcomes
        .iter()
        .find(|o| o.partition_id == partitions[1])
        .unwrap();
    if follow {
        assert!(busy.followed);
        assert!(busy.result.is_ok(), "{:?}", busy.result);
    } else {
        assert!(busy.busy(), "{:?}", busy.result);
    }
    assert!(
        outcomes
            .iter()
            .filter(|o| o.partition_id != partitions[1])
            .all(|o| o.result.is_ok())
    );
    // Two new backup requests, one refused; never a second one for the busy partition.
    assert_eq!(gateway.count(Operation::Backup), 1 + 3);
}

#[rstest]
#[tokio::test]
async fn dropping_the_stream_starts_nothing_more_and_names_the_backups_left_running(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let partitions = ids(6);
    let gateway = gateway_with(dialect, quick()).await;
    let mut fleet = client(&gateway)
        .backup_partitions(partitions.clone())
        .concurrency(2)
        .wait_options(fast());
    let first = next(&mut fleet).await.unwrap();
    assert!(first.result.is_ok());
    // The replacement was started before the first outcome was handed out; nothing polls it while the fleet
    // is not read, so at most the two first partitions and it have sent a request.
    let left: Vec<PartitionId> = fleet
        .in_flight()
        .into_iter()
        .map(|flight| flight.partition_id)
        .collect();
    assert_eq!(left.len(), 2);
    assert!(
        left.iter().all(|id| partitions[..3].contains(id)),
        "{left:?}"
    );
    drop(fleet);
    // Only the two first partitions were polled. Had the fleet spawned its partitions, the replacement (the
    // third) would send its request while this test waits; none may, and none of the partitions after it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let addressed = |id: &PartitionId| {
        gateway
            .journal()
            .iter()
            .any(|request| request.target.contains(&id.to_string()))
    };
    assert!(
        !partitions[2..].iter().any(addressed),
        "a partition that was never polled sent a request"
    );
    assert!(gateway.count(Operation::Backup) <= 2);
}

#[rstest]
#[tokio::test]
async fn in_flight_shows_each_running_partition_with_its_last_state(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway_with(
        dialect,
        Config {
            accepted_ms: Some(20),
            in_progress_ms: Some(400),
            ..Config::default()
        },
    )
    .await;
    let partitions = ids(4);
    let mut fleet = client(&gateway)
        .backup_partitions(partitions.clone())
        .concurrency(2)
        .wait_options(fast());
    // Drive the fleet until both running partitions have read a state, without letting any finish.
    let mut ended = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let seen = loop {
        let running = fleet.in_flight();
        if running.len() == 2 && running.iter().all(|r| r.state.is_some()) {
            break running;
        }
        assert!(tokio::time::Instant::now() < deadline, "{running:?}");
        if tokio::time::timeout(Duration::from_millis(5), next(&mut fleet))
            .await
            .is_ok()
        {
            ended += 1;
        }
    };
    assert_eq!(ended, 0, "a 400 ms backup ended too early to look at");
    assert_eq!(fleet.in_flight_count(), 2);
    for running in &seen {
        assert!(
            partitions[..2].contains(&running.partition_id),
            "{running:?}"
        );
        assert_eq!(running.requested, Some(sf_backup::Requested::Yes));
        assert!(
            matches!(
                running.state,
                Some(sf_backup::BackupState::Accepted | sf_backup::BackupState::BackupInProgress)
            ),
            "{running:?}"
        );
    }
    let mut outcomes = 0;
    while next(&mut fleet).await.is_some() {
        outcomes += 1;
    }
    assert_eq!(outcomes, 4);
    assert!(fleet.in_flight().is_empty());
}
