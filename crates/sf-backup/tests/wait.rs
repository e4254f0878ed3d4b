//! Waiting for a backup's outcome against the testkit gateway, in both of its dialects (the Backup Restore
//! Service's own shapes and the documented ones): outcomes, attribution of results to the right backup, retries
//! of progress reads within one deadline, ambiguous request failures, the progress stream and following a backup
//! that was requested elsewhere.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_core::Stream;
use rstest::rstest;
use sf_backup::{
    BackupProgress, BackupState, Client, CompletedBackup, ErrorCode, PartitionId, Requested,
    RetryPolicy, Secret, StorageCheck, TokenError, WaitError, WaitEvent, WaitOptions,
};
use sf_backup_testkit::{Config, Dialect, Fault, Gateway, Operation, Outcome};
use uuid::Uuid;

const PARTITION: &str = "1daae3f5-7fd6-42e9-b1ba-8c05f873994d";

fn partition() -> PartitionId {
    PARTITION.parse().unwrap()
}

fn uuid() -> Uuid {
    PARTITION.parse().unwrap()
}

/// Short phases so that the suite runs in a few seconds, yet long enough to be seen by a 10–50 ms poll.
async fn gateway(dialect: Dialect) -> Gateway {
    timed(dialect, 40, 120).await
}

async fn gateway_with(config: Config) -> Gateway {
    Gateway::start(config).await.unwrap()
}

/// A gateway whose backups stay `accepted_ms` in Accepted and `in_progress_ms` in BackupInProgress.
async fn timed(dialect: Dialect, accepted_ms: u64, in_progress_ms: u64) -> Gateway {
    gateway_with(Config {
        dialect,
        accepted_ms: Some(accepted_ms),
        in_progress_ms: Some(in_progress_ms),
        ..Config::default()
    })
    .await
}

/// A client of `gateway` whose failed reads are retried soon.
fn client_of(gateway: &Gateway) -> Client {
    client_with(gateway, RetryPolicy::default())
}

fn client_with(gateway: &Gateway, retry: RetryPolicy) -> Client {
    Client::builder()
        .endpoint(gateway.url())
        .retry(
            retry
                .initial_backoff(Duration::from_millis(10))
                .max_backoff(Duration::from_millis(50)),
        )
        .build()
        .unwrap()
}

/// Backs the test partition up and waits for the outcome.
async fn wait(client: &Client, options: WaitOptions) -> Result<CompletedBackup, WaitError> {
    client.backup_partition(partition()).wait(options).await
}

/// Small intervals; generous deadlines, so that a loaded machine slows the tests down but does not fail them.
fn fast() -> WaitOptions {
    WaitOptions::new()
        .poll_interval(Duration::from_millis(10))
        .max_poll_interval(Duration::from_millis(50))
        .wait_timeout(Duration::from_secs(60))
        .lost_answer_watch(Duration::from_secs(2))
        .late_write_watch(Duration::from_millis(300))
}

/// Records every progress the callback sees.
fn recorder() -> (
    Arc<Mutex<Vec<BackupProgress>>>,
    impl FnMut(&BackupProgress) + Send + 'static,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    (seen, move |progress: &BackupProgress| {
        sink.lock().unwrap().push(progress.clone());
    })
}

#[rstest]
#[tokio::test]
async fn a_successful_backup_is_reported_with_what_was_written(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    let client = client_of(&gateway);
    let (seen, callback) = recorder();
    // Spawning proves the future is Send, as a CLI running it on a multi-threaded runtime needs.
    let backup = tokio::spawn(async move {
        client
            .backup_partition(partition())
            .wait(fast().on_progress(callback))
            .await
    })
    .await
    .unwrap()
    .unwrap();

    let written = gateway.written_backups();
    assert_eq!(written.len(), 1);
    assert_eq!(backup.backup_id, written[0].backup_id);
    assert_eq!(backup.location, written[0].location);
    assert_eq!(backup.finished_at, written[0].time_stamp_utc);
    assert_eq!(backup.lsn, written[0].lsn.parse().ok());
    assert!(backup.epoch.is_some());
    assert_eq!(gateway.count(Operation::Backup), 1);

    let states: Vec<BackupState> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|p| p.state.clone())
        .collect();
    assert_eq!(states.last(), Some(&BackupState::Success), "{states:?}");
    assert!(
        states
            .iter()
            .any(|s| matches!(s, BackupState::Accepted | BackupState::BackupInProgress)),
        "the callback sees the pending states: {states:?}"
    );
}

#[rstest]
#[tokio::test]
async fn the_wait_is_a_stream_of_this_backups_progress_then_its_outcome(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    let client = client_of(&gateway);
    let mut wait = client.backup_partition(partition()).wait(fast());
    assert_eq!(
        wait.requested(),
        None,
        "nothing happens before it is polled"
    );
    let mut states = Vec::new();
    while let Some(event) = poll_fn(|cx| Pin::new(&mut wait).poll_next(cx)).await {
        match event {
            WaitEvent::Progress(progress) => states.push(progress.state),
            other => panic!("only progress was expected: {other:?}"),
        }
    }
    assert_eq!(wait.requested(), Some(Requested::Yes));
    let backup = wait.outcome().await.unwrap();
    assert_eq!(states.last(), Some(&BackupState::Success), "{states:?}");
    assert!(
        states[..states.len() - 1]
            .iter()
            .all(|s| matches!(s, BackupState::Accepted | BackupState::BackupInProgress)),
        "{states:?}"
    );
    assert_eq!(backup.backup_id, gateway.written_backups()[0].backup_id);
}

#[rstest]
#[tokio::test]
async fn a_failed_backup_carries_the_service_code_and_message(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    gateway.handle().script_outcome(
        uuid(),
        Outcome::failure("FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR", "copier died"),
    );
    let client = client_of(&gateway);
    let error = wait(&client, fast()).await.unwrap_err();
    let WaitError::Failed { failure, progress } = &error else {
        panic!("expected a failure, got {error:?}");
    };
    let failure = failure.as_ref().unwrap();
    assert_eq!(
        failure.code,
        ErrorCode::Other("FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR".to_owned())
    );
    assert_eq!(failure.message, "copier died");
    assert_eq!(progress.state, BackupState::Failure);
    assert!(error.to_string().contains("copier died"), "{error}");
    assert!(!error.may_have_been_written() && !error.outcome_unknown());
    assert_eq!(error.backup_requested(), Requested::Yes);
    assert_eq!(error.kind(), "backup_failed");
    assert!(gateway.written_backups().is_empty());
}

#[rstest]
#[tokio::test]
async fn an_hresult_without_a_name_is_kept_as_its_number(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    gateway
        .handle()
        .script_outcome(uuid(), Outcome::failure("-2147017731", "native failure"));
    let client = client_of(&gateway);
    let error = wait(&client, fast()).await.unwrap_err();
    let WaitError::Failed { failure, .. } = &error else {
        panic!("expected a failure, got {error:?}");
    };
    assert_eq!(
        failure.as_ref().unwrap().code,
        ErrorCode::Other("-2147017731".to_owned())
    );
}

#[rstest]
#[tokio::test]
async fn retrying_after_a_failure_that_repeats_identically_fails_promptly(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    // No pending phase at all: the first read after the 202 is already the second Failure, identical on the
    // wire to the first (in the service's shapes it has no time stamp). A wait that compared it with the read
    // before the request would see no change and wait until its deadline; after a 202 it is ours all the same.
    let gateway = timed(dialect, 0, 0).await;
    for _ in 0..2 {
        gateway
            .handle()
            .script_outcome(uuid(), Outcome::failure("E_FAIL", "disk full"));
    }
    let client = client_of(&gateway);
    let first = wait(&client, fast()).await.unwrap_err();
    assert!(matches!(first, WaitError::Failed { .. }), "{first:?}");
    let before = client.backup_progress(partition()).await.unwrap();

    let mut wait = client
        .backup_partition(partition())
        .wait(fast().wait_timeout(Duration::from_secs(20)));
    let mut seen = Vec::new();
    while let Some(event) = poll_fn(|cx| Pin::new(&mut wait).poll_next(cx)).await {
        if let WaitEvent::Progress(progress) = event {
            seen.push(progress);
        }
    }
    let second = wait.outcome().await.unwrap_err();
    assert!(matches!(second, WaitError::Failed { .. }), "{second:?}");
    // The only read after the request was identical to the one before it: only the 202 made it ours.
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        (&seen[0].state, &seen[0].failure, seen[0].backup_id),
        (&before.state, &before.failure, before.backup_id)
    );
    assert_eq!(gateway.count(Operation::Backup), 2);
}

#[rstest]
#[tokio::test]
async fn two_backups_ending_in_the_same_second_are_told_apart(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = timed(dialect, 10, 20).await;
    let client = client_of(&gateway);
    let first = wait(&client, fast()).await.unwrap();
    let second = wait(&client, fast()).await.unwrap();
    let written = gateway.written_backups();
    assert_eq!(written.len(), 2);
    assert_eq!(first.backup_id, written[0].backup_id);
    assert_eq!(second.backup_id, written[1].backup_id);
}

#[rstest]
#[tokio::test]
async fn a_newer_backup_stamped_by_a_node_whose_clock_is_behind_is_ours(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    let client = client_of(&gateway);
    let first = wait(&client, fast()).await.unwrap();
    // The primary moved to a node an hour behind.
    gateway.set_node_clock_offset(uuid(), chrono::Duration::hours(-1));
    let second = wait(&client, fast()).await.unwrap();
    assert!(second.finished_at < first.finished_at);
    assert_eq!(second.backup_id, gateway.written_backups()[1].backup_id);
}

#[rstest]
#[tokio::test]
async fn a_timed_out_backup_is_reported_as_the_services_timeout(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    gateway.handle().script_outcome(uuid(), Outcome::Timeout);
    let client = client_of(&gateway);
    let error = wait(&client, fast()).await.unwrap_err();
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
    assert_eq!(error.last_progress().unwrap().state, BackupState::Timeout);
    assert_eq!(
        error
            .last_progress()
            .unwrap()
            .failure
            .as_ref()
            .unwrap()
            .code,
        ErrorCode::Timeout
    );
    assert!(gateway.written_backups().is_empty());
}

#[rstest]
#[tokio::test]
async fn a_timeout_that_went_through_anyway_is_found_in_storage(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    gateway
        .handle()
        .script_outcome(uuid(), Outcome::TimeoutButWritten);
    let client = client_of(&gateway);
    let error = wait(&client, fast()).await.unwrap_err();
    // The corner case the REST page warns about: the backup is in storage all the same, and the wait finds it.
    let written = gateway.written_backups();
    assert_eq!(written.len(), 1);
    assert!(written[0].reported_timeout);
    let WaitError::ServiceTimeout {
        check: StorageCheck::Written { backup, .. },
        ..
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!(error.kind(), "timed_out_but_written");
    assert_eq!(backup.backup_id, Some(written[0].backup_id));
    assert!(error.may_have_been_written());
    assert!(
        error.to_string().contains("no need to run again"),
        "{error}"
    );
}

#[rstest]
#[tokio::test]
async fn a_refused_request_is_a_request_error_while_another_backup_runs(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = timed(dialect, 40, 30_000).await;
    let client = client_of(&gateway);
    client.backup_partition(partition()).await.unwrap();

    let (seen, callback) = recorder();
    let error = wait(&client, fast().on_progress(callback))
        .await
        .unwrap_err();
    let request_error = error.request_error().expect("a request error");
    assert!(request_error.is_backup_in_progress(), "{error}");
    assert_eq!(error.backup_requested(), Requested::No);
    assert!(!error.may_have_been_written());
    assert_eq!(gateway.count(Operation::Backup), 2);
    assert!(seen.lock().unwrap().is_empty(), "nothing of ours to report");
}

#[rstest]
#[tokio::test]
async fn transient_failures_of_progress_reads_are_retried(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    let handle = gateway.handle();
    // The second read after the request, and the two after it, fail with 503.
    handle.push_fault(
        Fault::transient("FABRIC_E_NOT_READY")
            .on(Operation::GetBackupProgress)
            .after(2)
            .times(3),
    );
    let client = client_of(&gateway);
    let (seen, callback) = recorder();
    let backup = wait(&client, fast().on_progress(callback)).await.unwrap();

    assert_eq!(backup.backup_id, gateway.written_backups()[0].backup_id);
    let successful_reads = seen.lock().unwrap().len();
    // The read before the request, every read the callback saw, and the three failed ones.
    assert_eq!(
        handle.count(Operation::GetBackupProgress),
        1 + successful_reads + 3
    );
    assert_eq!(handle.count(Operation::Backup), 1);
}

#[rstest]
#[tokio::test]
async fn one_gateway_timeout_on_a_progress_read_is_retried(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    gateway.push_fault(
        Fault::fabric_error(504, "FABRIC_E_TIMEOUT")
            .on(Operation::GetBackupProgress)
            .after(2),
    );
    let client = client_of(&gateway);
    let backup = wait(&client, fast()).await.unwrap();
    assert_eq!(backup.backup_id, gateway.written_backups()[0].backup_id);
    assert_eq!(gateway.count(Operation::Backup), 1);
}

#[rstest]
#[tokio::test]
async fn a_primary_move_of_several_seconds_is_waited_out(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    // Longer than the five retries of old, which ended a ten-minute wait after about 5 s of 503s.
    let outage = Duration::from_secs(6);
    gateway.push_fault(
        Fault::primary_move(outage)
            .on(Operation::GetBackupProgress)
            .after(1),
    );
    let client = client_of(&gateway);
    let started = Instant::now();
    let backup = wait(&client, fast().wait_timeout(Duration::from_secs(60)))
        .await
        .unwrap();
    assert!(started.elapsed() >= outage);
    assert_eq!(backup.backup_id, gateway.written_backups()[0].backup_id);
    assert_eq!(gateway.count(Operation::Backup), 1);
}

#[rstest]
#[tokio::test]
async fn progress_reads_that_fail_for_good_end_the_wait_with_the_error(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    let handle = gateway.handle();
    handle.push_fault(
        Fault::fabric_error(500, "E_UNEXPECTED")
            .on(Operation::GetBackupProgress)
            .after(2)
            .always(),
    );
    let client = client_of(&gateway);
    let error = wait(&client, fast()).await.unwrap_err();
    let WaitError::ProgressUnavailable {
        source,
        last_progress,
    } = &error
    else {
        panic!("expected ProgressUnavailable, got {error:?}");
    };
    assert_eq!(source.code(), Some(&ErrorCode::Unexpected));
    assert!(last_progress.is_some());
    assert!(error.outcome_unknown() && error.may_have_been_written());
    // The read before the request, the one that succeeded after it, then one failed attempt: 500 is not retried.
    assert_eq!(handle.count(Operation::GetBackupProgress), 3);
}

#[rstest]
#[tokio::test]
async fn a_retry_cap_ends_retries_before_the_deadline(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    let handle = gateway.handle();
    handle.push_fault(
        Fault::transient("FABRIC_E_SERVICE_OFFLINE")
            .on(Operation::GetBackupProgress)
            .after(2)
            .always(),
    );
    let client = client_with(&gateway, RetryPolicy::default().max_retries(2));
    let error = wait(&client, fast()).await.unwrap_err();
    let WaitError::ProgressUnavailable { source, .. } = &error else {
        panic!("expected ProgressUnavailable, got {error:?}");
    };
    assert_eq!(source.code(), Some(&ErrorCode::ServiceOffline));
    // The read before the request, one after it, then one attempt and two retries.
    assert_eq!(handle.count(Operation::GetBackupProgress), 1 + 1 + 3);
}

#[rstest]
#[tokio::test]
async fn a_connection_dropped_after_the_backup_was_accepted_is_not_resent_and_the_outcome_is_found(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    let handle = gateway.handle();
    handle.push_fault(
        Fault::close_connection()
            .on(Operation::Backup)
            .after_processing(),
    );
    let client = client_of(&gateway);
    let backup = wait(&client, fast()).await.unwrap();

    assert_eq!(
        handle.count(Operation::Backup),
        1,
        "the backup request is sent once"
    );
    let written = gateway.written_backups();
    assert_eq!(written.len(), 1);
    assert_eq!(backup.backup_id, written[0].backup_id);
}

#[rstest]
#[tokio::test]
async fn an_unconfirmed_request_after_an_identical_earlier_failure_is_settled_by_any_change(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    let handle = gateway.handle();
    handle.script_outcome(uuid(), Outcome::failure("E_FAIL", "disk full"));
    let client = client_of(&gateway);
    wait(&client, fast()).await.unwrap_err();
    // Our answer is lost, but the request went through and succeeds: the change from the earlier Failure proves
    // it arrived.
    handle.push_fault(
        Fault::close_connection()
            .on(Operation::Backup)
            .after_processing(),
    );
    let backup = wait(&client, fast()).await.unwrap();
    assert_eq!(backup.backup_id, gateway.written_backups()[0].backup_id);
    assert_eq!(handle.count(Operation::Backup), 2);
}

#[rstest]
#[tokio::test]
async fn a_dropped_request_that_started_nothing_is_reported_as_ambiguous_not_resent(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    let handle = gateway.handle();
    handle.push_fault(Fault::close_connection().on(Operation::Backup));
    let client = client_of(&gateway);
    let error = wait(
        &client,
        fast().lost_answer_watch(Duration::from_millis(300)),
    )
    .await
    .unwrap_err();

    let WaitError::Ambiguous { source, .. } = &error else {
        panic!("expected Ambiguous, got {error:?}");
    };
    assert!(
        matches!(
            source,
            sf_backup::Error::Transport {
                may_have_reached_service: true,
                ..
            }
        ),
        "{source:?}"
    );
    assert!(error.to_string().contains("not sent again"), "{error}");
    assert_eq!(error.backup_requested(), Requested::Maybe);
    assert!(error.outcome_unknown());
    assert_eq!(handle.count(Operation::Backup), 1);
    assert!(gateway.written_backups().is_empty());
    assert_eq!(
        error.last_progress().map(|p| p.state.clone()),
        Some(dialect.pick(BackupState::NotRequested, BackupState::Invalid))
    );
}

#[rstest]
#[tokio::test]
async fn the_wait_timeout_ends_the_wait_with_the_last_progress(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = timed(dialect, 40, 60_000).await;
    let client = client_of(&gateway);
    let error = wait(&client, fast().wait_timeout(Duration::from_millis(400)))
        .await
        .unwrap_err();

    let WaitError::WaitTimeout {
        waited,
        requested,
        last_progress,
        ..
    } = &error
    else {
        panic!("expected WaitTimedOut, got {error:?}");
    };
    assert!(*waited >= Duration::from_millis(400), "{waited:?}");
    assert!(*waited < Duration::from_secs(2), "{waited:?}");
    assert_eq!(*requested, Some(Requested::Yes));
    let state = &last_progress.as_ref().expect("progress was read").state;
    assert!(
        matches!(state, BackupState::Accepted | BackupState::BackupInProgress),
        "{state}"
    );
    assert!(error.outcome_unknown());
    assert_eq!(gateway.count(Operation::Backup), 1);
}

/// A listener that accepts connections and never answers: the wait's deadline holds, and nothing was requested.
#[tokio::test]
async fn the_wait_timeout_holds_against_a_listener_that_never_answers() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&held);
    let accept = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            keep.lock().unwrap().push(stream);
        }
    });
    let client = Client::new(&url).unwrap();
    let started = Instant::now();
    let error = client
        .backup_partition(partition())
        .server_timeout(Duration::from_secs(2))
        .wait(fast().wait_timeout(Duration::from_secs(2)))
        .await
        .unwrap_err();
    let waited = started.elapsed();
    accept.abort();
    assert!(
        matches!(
            error,
            WaitError::WaitTimeout {
                requested: Some(Requested::No),
                ..
            }
        ),
        "{error:?}"
    );
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    assert!(
        error.to_string().contains("no backup was requested"),
        "{error}"
    );
    assert!(!error.outcome_unknown() && !error.may_have_been_written());
}

#[rstest]
#[tokio::test]
async fn a_slow_token_provider_does_not_eat_into_the_answer_deadline(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    let client = Client::builder()
        .endpoint(gateway.url())
        .answer_margin(Duration::from_millis(200))
        .bearer_token_provider(|| async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            Ok::<_, TokenError>(Secret::new("token"))
        })
        .build()
        .unwrap();
    // Each answer deadline is 1.2 s, shorter than the provider takes: the token must be fetched before it runs.
    client
        .backup_partition(partition())
        .server_timeout(Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(gateway.count(Operation::Backup), 1);
    let authorization = gateway.journal()[0]
        .header("authorization")
        .map(str::to_owned);
    assert_eq!(authorization.as_deref(), Some("Bearer token"));
}

#[rstest]
#[tokio::test]
async fn the_service_placeholders_while_pending_are_not_taken_for_a_result(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway_with(Config {
        dialect,
        accepted_ms: Some(40),
        in_progress_ms: Some(120),
        pending_placeholders: true,
        ..Config::default()
    })
    .await;
    let client = client_of(&gateway);
    let (seen, callback) = recorder();
    let backup = wait(&client, fast().on_progress(callback)).await.unwrap();
    assert_eq!(backup.backup_id, gateway.written_backups()[0].backup_id);
    let seen = seen.lock().unwrap();
    let (last, pending) = seen.split_last().unwrap();
    assert_eq!(last.state, BackupState::Success);
    assert!(
        pending
            .iter()
            .all(|p| !p.state.is_terminal() && p.backup_id.is_none() && p.time_stamp_utc.is_none())
    );
}

#[rstest]
#[tokio::test]
async fn an_earlier_backup_pending_before_the_request_does_not_hide_our_result(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    // The read before the request sees an earlier backup still running; it ends before ours is accepted.
    gateway.push_fault(Fault::backup_state("BackupInProgress").on(Operation::GetBackupProgress));
    let client = client_of(&gateway);
    let backup = wait(&client, fast().wait_timeout(Duration::from_secs(20)))
        .await
        .unwrap();
    let written = gateway.written_backups();
    assert_eq!(written.len(), 1);
    assert_eq!(backup.backup_id, written[0].backup_id);
    assert_eq!(gateway.count(Operation::Backup), 1);
}

#[rstest]
#[tokio::test]
async fn a_backup_requested_elsewhere_can_be_followed_to_its_end(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    let client = client_of(&gateway);
    let nothing = client.follow_backup(partition(), fast()).await.unwrap_err();
    assert!(matches!(nothing, WaitError::NothingToFollow), "{nothing:?}");

    client.backup_partition(partition()).await.unwrap();
    let (seen, callback) = recorder();
    let backup = client
        .follow_backup(partition(), fast().on_progress(callback))
        .await
        .unwrap();
    assert_eq!(backup.backup_id, gateway.written_backups()[0].backup_id);
    assert_eq!(
        gateway.count(Operation::Backup),
        1,
        "following sends no backup request"
    );
    assert!(!seen.lock().unwrap().is_empty());

    // Once it has ended, following reports its result at once.
    let again = client.follow_backup(partition(), fast()).await.unwrap();
    assert_eq!(again, backup);
}

#[tokio::test]
async fn a_poll_interval_below_the_floor_is_refused_before_anything_is_sent() {
    let gateway = gateway(Dialect::Service).await;
    let client = client_of(&gateway);
    let error = wait(
        &client,
        WaitOptions::new().poll_interval(Duration::from_nanos(1)),
    )
    .await
    .unwrap_err();
    let request_error = error.request_error().expect("refused before sending");
    assert!(request_error.is_invalid_input(), "{error}");
    assert!(error.to_string().contains("poll interval"), "{error}");
    assert!(gateway.journal().is_empty());
}

/// An address where nothing listens: bound, then released.
async fn refused_endpoint() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

#[tokio::test]
async fn a_refused_endpoint_ends_the_wait_in_seconds_with_its_cause_and_each_retry_shown() {
    let client = Client::new(refused_endpoint().await).unwrap();
    let started = Instant::now();
    let mut wait = client
        .backup_partition(partition())
        .wait(WaitOptions::new().wait_timeout(Duration::from_secs(900)));
    let mut attempts = Vec::new();
    while let Some(event) = poll_fn(|cx| Pin::new(&mut wait).poll_next(cx)).await {
        match event {
            WaitEvent::Retrying { cause, attempt } => {
                assert!(cause.to_string().contains("onnect"), "{cause}");
                attempts.push(attempt);
            }
            other => panic!("nothing but retries was expected: {other:?}"),
        }
    }
    assert_eq!(wait.requested(), None, "nothing was sent");
    let error = wait.outcome().await.unwrap_err();
    let took = started.elapsed();
    let WaitError::Request(cause) = &error else {
        panic!("expected the connection's error, got {error:?}");
    };
    assert!(
        matches!(
            cause,
            sf_backup::Error::Transport {
                may_have_reached_service: false,
                ..
            }
        ),
        "{cause:?}"
    );
    assert_eq!(attempts, [1, 2], "three attempts, two of them retries");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(error.kind(), "not_started");
    assert_eq!(error.backup_requested(), Requested::No);
}

#[rstest]
#[tokio::test]
async fn a_refusal_that_cannot_heal_ends_the_wait_at_once(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    gateway.push_fault(
        Fault::fabric_error(404, "FABRIC_E_PARTITION_NOT_FOUND")
            .on(Operation::GetBackupProgress)
            .always(),
    );
    let client = client_of(&gateway);
    let error = wait(&client, fast()).await.unwrap_err();
    let cause = error.request_error().expect("nothing was started");
    assert!(cause.is_not_found(), "{cause}");
    assert_eq!(
        gateway.count(Operation::GetBackupProgress),
        1,
        "not retried"
    );
    assert_eq!(gateway.count(Operation::Backup), 0);
}

#[rstest]
#[tokio::test]
async fn a_state_this_version_does_not_know_is_waited_on_shown_and_named_at_the_deadline(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = timed(dialect, 40, 60_000).await;
    // Every read after the request shows a state the spec does not list.
    gateway.push_fault(
        Fault::backup_state("Cancelled")
            .on(Operation::GetBackupProgress)
            .after(1)
            .always(),
    );
    let client = client_of(&gateway);
    let mut wait = client
        .backup_partition(partition())
        .wait(fast().wait_timeout(Duration::from_millis(800)));
    let mut unknown = 0;
    while let Some(event) = poll_fn(|cx| Pin::new(&mut wait).poll_next(cx)).await {
        match event {
            WaitEvent::UnknownState(progress) => {
                assert_eq!(progress.state, BackupState::Other("Cancelled".to_owned()));
                unknown += 1;
            }
            WaitEvent::Progress(progress) => panic!("{progress:?}"),
            _ => {}
        }
    }
    assert!(unknown >= 2, "kept reading it as still running: {unknown}");
    let error = wait.outcome().await.unwrap_err();
    assert!(matches!(error, WaitError::WaitTimeout { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("Cancelled, a state this version does not know"),
        "{error}"
    );
    assert_eq!(gateway.count(Operation::Backup), 1);
}

#[rstest]
#[tokio::test]
async fn a_wait_that_reaches_its_deadline_while_reads_fail_reports_the_last_error(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = timed(dialect, 40, 60_000).await;
    gateway.push_fault(
        Fault::transient("FABRIC_E_NOT_READY")
            .on(Operation::GetBackupProgress)
            .after(2)
            .always(),
    );
    let client = client_of(&gateway);
    let error = wait(&client, fast().wait_timeout(Duration::from_millis(800)))
        .await
        .unwrap_err();
    let WaitError::WaitTimeout { last_error, .. } = &error else {
        panic!("{error:?}");
    };
    let last_error = last_error.as_ref().expect("the last error travels with it");
    assert_eq!(last_error.code(), Some(&ErrorCode::NotReady));
    assert!(error.to_string().contains("FABRIC_E_NOT_READY"), "{error}");
    assert_eq!(
        error.last_error().and_then(|e| e.code()),
        Some(&ErrorCode::NotReady)
    );
}

/// A follow whose first read never gets an answer claims nothing about a request.
#[tokio::test]
async fn a_follow_that_reads_nothing_before_its_deadline_claims_no_request() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&held);
    let accept = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            keep.lock().unwrap().push(stream);
        }
    });
    let client = Client::new(&url).unwrap();
    let error = client
        .follow_backup(partition(), fast().wait_timeout(Duration::from_millis(500)))
        .await
        .unwrap_err();
    accept.abort();
    assert!(
        matches!(
            error,
            WaitError::WaitTimeout {
                requested: None,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(!error.to_string().contains("was requested"), "{error}");
}

#[test]
fn a_library_error_converts_into_a_wait_error() {
    fn refuse() -> Result<(), WaitError> {
        Err(sf_backup::Error::NoAnswer {
            after: Duration::from_secs(1),
        })?;
        Ok(())
    }
    assert_eq!(refuse().unwrap_err().kind(), "not_started");
}

/// `progress --wait` follows: a followed backup that the service reports as Timeout is looked for in storage
/// too, from when the follow first saw it pending.
#[rstest]
#[tokio::test]
async fn a_followed_timeout_that_went_through_anyway_is_found_in_storage(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    gateway
        .handle()
        .script_outcome(uuid(), Outcome::TimeoutButWritten);
    let client = client_of(&gateway);
    client.backup_partition(partition()).await.unwrap();
    let error = client.follow_backup(partition(), fast()).await.unwrap_err();
    let written = gateway.written_backups();
    assert_eq!(written.len(), 1);
    assert_eq!(
        error.found_backup().and_then(|backup| backup.backup_id),
        Some(written[0].backup_id),
        "{error:?}"
    );
    assert_eq!(error.kind(), "timed_out_but_written");
    assert_eq!(gateway.count(Operation::Backup), 1);
}

/// The look is a client method of its own, for a backup requested elsewhere.
#[rstest]
#[tokio::test]
async fn the_look_for_a_written_backup_is_a_client_method(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    gateway
        .handle()
        .script_outcome(uuid(), Outcome::TimeoutButWritten);
    let client = client_of(&gateway);
    let requested_at = chrono::Utc::now();
    client.backup_partition(partition()).await.unwrap();
    let check = client
        .look_for_written_backup(partition(), requested_at)
        .late_write_watch(Duration::from_secs(20))
        .await;
    let StorageCheck::Written { backup, window, .. } = &check else {
        panic!("{check:?}");
    };
    assert_eq!(
        backup.backup_id,
        Some(gateway.written_backups()[0].backup_id)
    );
    assert!(window.from < requested_at);
}

#[test]
fn what_each_error_says_about_the_request() {
    let timed_out = |requested| WaitError::WaitTimeout {
        waited: Duration::from_secs(1),
        requested,
        last_progress: None,
        last_error: Some(Arc::new(sf_backup::Error::NoAnswer {
            after: Duration::from_secs(1),
        })),
    };
    let before = timed_out(Some(Requested::No));
    assert!(!before.outcome_unknown() && !before.may_have_been_written());
    assert!(before.to_string().contains("no backup was requested"));
    assert!(
        before.to_string().contains("the last error: no answer"),
        "{before}"
    );
    assert_eq!(before.kind(), "wait_timed_out_before_request");
    assert!(timed_out(Some(Requested::Maybe)).outcome_unknown());
    assert!(timed_out(Some(Requested::Yes)).outcome_unknown());
    assert_eq!(timed_out(Some(Requested::Yes)).kind(), "wait_timed_out");
    // Following, no progress read: nothing is claimed about a request.
    let unknown = timed_out(None);
    assert_eq!(unknown.backup_requested(), Requested::Maybe);
    assert!(unknown.to_string().contains("unknown"), "{unknown}");
    let refused: WaitError = sf_backup::Error::NoAnswer {
        after: Duration::from_secs(1),
    }
    .into();
    assert_eq!(refused.backup_requested(), Requested::No);
    assert_eq!(refused.kind(), "not_started");
}

#[test]
fn an_answer_lost_and_progress_unreadable_says_so() {
    let error = WaitError::Ambiguous {
        source: sf_backup::Error::NoAnswer {
            after: Duration::from_secs(1),
        },
        watched: Duration::from_secs(15),
        last_progress: None,
        read_error: Some(Box::new(sf_backup::Error::NoAnswer {
            after: Duration::from_secs(1),
        })),
    };
    let text = error.to_string();
    assert!(text.contains("could not be read"), "{text}");
    assert!(!text.contains("no sign"), "{text}");
}

/// The core watches progress only after a failure that may have reached the service.
#[test]
fn lost_answers_are_told_from_refusals() {
    use sf_backup::StatusCode;
    let status = |status, code: &str| sf_backup::Error::Service {
        status,
        code: ErrorCode::from(code),
        message: String::new(),
    };
    let lost = |error: sf_backup::Error| error.may_have_reached_service();
    assert!(lost(sf_backup::Error::NoAnswer {
        after: Duration::from_secs(1)
    }));
    assert!(lost(status(
        StatusCode::GATEWAY_TIMEOUT,
        "FABRIC_E_TIMEOUT"
    )));
    assert!(!lost(status(
        StatusCode::CONFLICT,
        "FABRIC_E_BACKUP_IN_PROGRESS"
    )));
    assert!(!lost(status(
        StatusCode::SERVICE_UNAVAILABLE,
        "FABRIC_E_NOT_READY"
    )));
    assert!(lost(sf_backup::Error::UnexpectedResponse {
        status: StatusCode::BAD_GATEWAY,
        reason: String::new(),
        body: String::new(),
    }));
}
