//! `backup_partition(..).wait(..)` against the testkit gateway: outcomes, attribution of results to the right
//! backup, retries of progress reads, ambiguous request failures and the wait's own deadline.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sf_backup::{
    BackupProgress, BackupState, Client, ErrorCode, PartitionId, RetryPolicy, WaitError,
    WaitOptions,
};
use sf_backup_testkit::{Config, Fault, Gateway, GatewayHandle, Operation, Outcome};
use uuid::Uuid;

const PARTITION: &str = "1daae3f5-7fd6-42e9-b1ba-8c05f873994d";

fn partition() -> PartitionId {
    PARTITION.parse().unwrap()
}

fn uuid() -> Uuid {
    PARTITION.parse().unwrap()
}

/// Short phases so that the suite runs in a few seconds, yet long enough to be seen by a 10–50 ms poll.
async fn gateway() -> Gateway {
    gateway_with(Config {
        accepted_ms: Some(40),
        in_progress_ms: Some(120),
        ..Config::default()
    })
    .await
}

async fn gateway_with(config: Config) -> Gateway {
    Gateway::start(config).await.unwrap()
}

/// Small intervals; generous deadlines, so that a loaded machine slows the tests down but does not fail them.
fn fast() -> WaitOptions {
    WaitOptions::new()
        .poll_interval(Duration::from_millis(10))
        .max_poll_interval(Duration::from_millis(50))
        .wait_timeout(Duration::from_secs(60))
        .ambiguous_grace(Duration::from_secs(2))
        .retry(
            RetryPolicy::default()
                .initial_backoff(Duration::from_millis(10))
                .max_backoff(Duration::from_millis(50)),
        )
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

fn count(gateway: &GatewayHandle, method: &str) -> usize {
    gateway
        .journal()
        .iter()
        .filter(|request| request.method == method)
        .count()
}

#[tokio::test]
async fn a_successful_backup_is_reported_with_what_was_written() {
    let gateway = gateway().await;
    let client = Client::new(gateway.url()).unwrap();
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
    assert_eq!(count(&gateway.handle(), "POST"), 1);

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
    let json = serde_json::to_value(&backup).unwrap();
    assert_eq!(json["backup_id"], backup.backup_id.to_string());
}

#[tokio::test]
async fn a_failed_backup_carries_the_service_code_and_message() {
    let gateway = gateway().await;
    gateway.handle().script_outcome(
        uuid(),
        Outcome::failure("FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR", "copier died"),
    );
    let client = Client::new(gateway.url()).unwrap();
    let error = client
        .backup_partition(partition())
        .wait(fast())
        .await
        .unwrap_err();
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
    assert!(!error.may_have_been_written());
    assert!(gateway.written_backups().is_empty());
}

#[tokio::test]
async fn a_timed_out_backup_is_a_timeout_error() {
    let gateway = gateway().await;
    gateway.handle().script_outcome(uuid(), Outcome::Timeout);
    let client = Client::new(gateway.url()).unwrap();
    let error = client
        .backup_partition(partition())
        .wait(fast())
        .await
        .unwrap_err();
    assert!(matches!(error, WaitError::TimedOut { .. }), "{error:?}");
    assert_eq!(error.last_progress().unwrap().state, BackupState::Timeout);
    assert!(gateway.written_backups().is_empty());
}

#[tokio::test]
async fn a_timeout_that_went_through_anyway_says_it_may_have_been_written() {
    let gateway = gateway().await;
    gateway
        .handle()
        .script_outcome(uuid(), Outcome::TimeoutButWritten);
    let client = Client::new(gateway.url()).unwrap();
    let error = client
        .backup_partition(partition())
        .wait(fast())
        .await
        .unwrap_err();
    assert!(matches!(error, WaitError::TimedOut { .. }), "{error:?}");
    assert!(error.may_have_been_written());
    let message = error.to_string();
    assert!(message.contains("may still have been written"), "{message}");
    assert!(message.contains("larger backup timeout"), "{message}");
    // The corner case the error warns about: the backup is in storage all the same.
    let written = gateway.written_backups();
    assert_eq!(written.len(), 1);
    assert!(written[0].reported_timeout);
}

#[tokio::test]
async fn a_refused_request_is_a_request_error_while_another_backup_runs() {
    let gateway = gateway_with(Config {
        accepted_ms: Some(40),
        in_progress_ms: Some(30_000),
        ..Config::default()
    })
    .await;
    let client = Client::new(gateway.url()).unwrap();
    client.backup_partition(partition()).await.unwrap();

    let (seen, callback) = recorder();
    let error = client
        .backup_partition(partition())
        .wait(fast().on_progress(callback))
        .await
        .unwrap_err();
    let request_error = error.request_error().expect("a request error");
    assert!(request_error.is_backup_in_progress(), "{error}");
    assert!(!error.may_have_been_written());
    assert_eq!(count(&gateway.handle(), "POST"), 2);
    assert!(seen.lock().unwrap().is_empty(), "nothing of ours to report");
}

#[tokio::test]
async fn the_previous_success_still_shown_after_the_request_is_not_taken_for_ours() {
    let gateway = gateway().await;
    let handle = gateway.handle();
    let client = Client::new(gateway.url()).unwrap();
    let first = client
        .backup_partition(partition())
        .wait(fast())
        .await
        .unwrap();

    // A service that has not switched yet: the read before the request and the first two after it still show
    // the first backup's Success.
    let stale = serde_json::to_string(&handle.progress(uuid()).unwrap()).unwrap();
    handle.push_fault(
        Fault::body(200, Some("application/json"), stale)
            .on(Operation::GetBackupProgress)
            .times(3),
    );
    let (seen, callback) = recorder();
    let second = client
        .backup_partition(partition())
        .wait(fast().on_progress(callback))
        .await
        .unwrap();

    let written = gateway.written_backups();
    assert_eq!(written.len(), 2);
    assert_ne!(first.backup_id, second.backup_id);
    assert_eq!(first.backup_id, written[0].backup_id);
    assert_eq!(second.backup_id, written[1].backup_id);
    assert_eq!(second.location, written[1].location);
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter().all(|p| p.backup_id != Some(first.backup_id)),
        "the callback never reports the earlier backup's result"
    );
}

#[tokio::test]
async fn transient_failures_of_progress_reads_are_retried() {
    let gateway = gateway().await;
    let handle = gateway.handle();
    let client = Client::new(gateway.url()).unwrap();
    let (seen, mut record) = recorder();
    // Once polling runs, three reads in a row fail with 503.
    let faults = handle.clone();
    let callback = move |progress: &BackupProgress| {
        if faults
            .journal()
            .iter()
            .filter(|r| r.method == "GET")
            .count()
            == 2
        {
            faults.push_fault(
                Fault::transient("FABRIC_E_NOT_READY")
                    .on(Operation::GetBackupProgress)
                    .times(3),
            );
        }
        record(progress);
    };
    let backup = client
        .backup_partition(partition())
        .wait(fast().on_progress(callback))
        .await
        .unwrap();

    assert_eq!(backup.backup_id, gateway.written_backups()[0].backup_id);
    let successful_reads = seen.lock().unwrap().len();
    // The read before the request, every read the callback saw, and the three failed ones.
    assert_eq!(count(&handle, "GET"), 1 + successful_reads + 3);
    assert_eq!(count(&handle, "POST"), 1);
}

#[tokio::test]
async fn progress_reads_that_keep_failing_end_the_wait_with_the_last_error() {
    let gateway = gateway().await;
    let handle = gateway.handle();
    let client = Client::new(gateway.url()).unwrap();
    let faults = handle.clone();
    let options = fast()
        .retry(
            RetryPolicy::default()
                .max_retries(2)
                .initial_backoff(Duration::from_millis(5)),
        )
        .on_progress(move |_| {
            faults.push_fault(
                Fault::transient("FABRIC_E_SERVICE_OFFLINE")
                    .on(Operation::GetBackupProgress)
                    .always(),
            );
        });
    let error = client
        .backup_partition(partition())
        .wait(options)
        .await
        .unwrap_err();
    let WaitError::ProgressUnavailable {
        source,
        last_progress,
    } = &error
    else {
        panic!("expected ProgressUnavailable, got {error:?}");
    };
    assert_eq!(source.code(), Some(&ErrorCode::ServiceOffline));
    assert!(last_progress.is_some());
    assert!(error.may_have_been_written());
    // The read before the request, the one the callback saw, then one attempt and two retries.
    assert_eq!(count(&handle, "GET"), 1 + 1 + 3);
}

#[tokio::test]
async fn a_connection_dropped_after_the_backup_was_accepted_is_not_resent_and_the_outcome_is_found()
{
    let gateway = gateway().await;
    let handle = gateway.handle();
    handle.push_fault(
        Fault::close_connection()
            .on(Operation::Backup)
            .after_processing(),
    );
    let client = Client::new(gateway.url()).unwrap();
    let backup = client
        .backup_partition(partition())
        .wait(fast())
        .await
        .unwrap();

    assert_eq!(count(&handle, "POST"), 1, "the backup request is sent once");
    let written = gateway.written_backups();
    assert_eq!(written.len(), 1);
    assert_eq!(backup.backup_id, written[0].backup_id);
}

#[tokio::test]
async fn a_dropped_request_that_started_nothing_is_reported_as_ambiguous_not_resent() {
    let gateway = gateway().await;
    let handle = gateway.handle();
    handle.push_fault(Fault::close_connection().on(Operation::Backup));
    let client = Client::new(gateway.url()).unwrap();
    let error = client
        .backup_partition(partition())
        .wait(fast().ambiguous_grace(Duration::from_millis(300)))
        .await
        .unwrap_err();

    let WaitError::Ambiguous { source, .. } = &error else {
        panic!("expected Ambiguous, got {error:?}");
    };
    assert!(
        matches!(
            source,
            sf_backup::Error::Transport {
                may_have_reached_server: true,
                ..
            }
        ),
        "{source:?}"
    );
    assert!(error.to_string().contains("not sent again"), "{error}");
    assert_eq!(count(&handle, "POST"), 1);
    assert!(gateway.written_backups().is_empty());
    assert_eq!(
        error.last_progress().map(|p| p.state.clone()),
        Some(BackupState::Invalid)
    );
}

#[tokio::test]
async fn the_wait_deadline_ends_the_wait_with_the_last_progress() {
    let gateway = gateway_with(Config {
        accepted_ms: Some(40),
        in_progress_ms: Some(60_000),
        ..Config::default()
    })
    .await;
    let client = Client::new(gateway.url()).unwrap();
    let error = client
        .backup_partition(partition())
        .wait(fast().wait_timeout(Duration::from_millis(400)))
        .await
        .unwrap_err();

    let WaitError::DeadlineExceeded {
        waited,
        last_progress,
    } = &error
    else {
        panic!("expected DeadlineExceeded, got {error:?}");
    };
    assert!(*waited >= Duration::from_millis(400), "{waited:?}");
    let state = &last_progress.as_ref().expect("progress was read").state;
    assert!(
        matches!(state, BackupState::Accepted | BackupState::BackupInProgress),
        "{state}"
    );
    assert!(error.may_have_been_written());
    assert_eq!(count(&gateway.handle(), "POST"), 1);
}

#[tokio::test]
async fn the_service_placeholders_while_pending_are_not_taken_for_a_result() {
    let gateway = gateway_with(Config {
        accepted_ms: Some(40),
        in_progress_ms: Some(120),
        pending_placeholders: true,
        ..Config::default()
    })
    .await;
    let client = Client::new(gateway.url()).unwrap();
    let (seen, callback) = recorder();
    let backup = client
        .backup_partition(partition())
        .wait(fast().on_progress(callback))
        .await
        .unwrap();
    assert_eq!(backup.backup_id, gateway.written_backups()[0].backup_id);
    let seen = seen.lock().unwrap();
    let (last, pending) = seen.split_last().unwrap();
    assert_eq!(last.state, BackupState::Success);
    assert!(
        pending
            .iter()
            .all(|p| !p.state.is_terminal() && p.backup_id.is_none())
    );
}

#[tokio::test]
async fn an_earlier_backup_pending_before_the_request_does_not_hide_our_result() {
    let gateway = gateway().await;
    // The read before the request sees an earlier backup still running; it ends before ours is accepted.
    gateway.push_fault(Fault::backup_state("BackupInProgress").on(Operation::GetBackupProgress));
    let client = Client::new(gateway.url()).unwrap();
    let backup = client
        .backup_partition(partition())
        .wait(fast().wait_timeout(Duration::from_secs(20)))
        .await
        .unwrap();
    let written = gateway.written_backups();
    assert_eq!(written.len(), 1);
    assert_eq!(backup.backup_id, written[0].backup_id);
    assert_eq!(count(&gateway.handle(), "POST"), 1);
}
