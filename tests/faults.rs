//! Server misbehaviour, one row per kind: the testkit gateway misbehaves once, and the facade must turn it into the
//! right typed outcome with the HTTP status kept, without panicking, and without ever sending the backup POST
//! twice (a repeated POST could queue a second backup). The table runs against both of the testkit's dialects: a
//! FabricError is `application/json` in the documented one and `text/plain`, with an integer for an undefined code,
//! in the service's.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use rstest::rstest;
use sf_backup::{
    BackupProgress, BackupState, Client, Error, ErrorCode, PartitionId, RetryPolicy, StatusCode,
};
use sf_backup_testkit::{Dialect, Fault, Operation};
use sf_backup_workspace_tests::gateway;

const PARTITION: &str = "1daae3f5-7fd6-42e9-b1ba-8c05f873994d";
/// The slow row's server timeout and client margin: its deadline is their sum, well below the testkit's delay.
const SLOW_SERVER_TIMEOUT: Duration = Duration::from_secs(1);
const MARGIN: Duration = Duration::from_millis(300);
const SLOW_DELAY: Duration = Duration::from_millis(2_500);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Call {
    Backup,
    Progress,
}

#[derive(Debug)]
enum Outcome {
    Accepted,
    Progress(Box<BackupProgress>),
}

/// Whether a call's outcome is the right one.
type Expectation = fn(&Result<Outcome, Error>) -> bool;

#[derive(Clone, Copy)]
struct Row {
    name: &'static str,
    call: Call,
    /// The fault, given the gateway's URL.
    fault: fn(&str) -> Fault,
    /// The status the error must keep (`None`: the error has no status, or the call succeeds).
    status: Option<u16>,
    /// Whether the outcome is the right one, with a description of what was expected.
    expect: (&'static str, Expectation),
}

fn rows() -> Vec<Row> {
    use Call::*;
    vec![
        Row {
            name: "FabricError with a known code (409 backup in progress)",
            call: Backup,
            fault: |_| Fault::fabric_error(409, "FABRIC_E_BACKUP_IN_PROGRESS"),
            status: Some(409),
            expect: (
                "Service with BackupInProgress",
                |r| matches!(r, Err(e @ Error::Service { code: ErrorCode::BackupInProgress, .. }) if e.is_backup_in_progress()),
            ),
        },
        Row {
            name: "FabricError with a code the spec does not list (500)",
            call: Backup,
            fault: |_| Fault::fabric_error(500, "FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR"),
            status: Some(500),
            expect: (
                "Service with the unknown code kept",
                |r| matches!(r, Err(Error::Service { code: ErrorCode::Other(code), .. }) if code == "FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR"),
            ),
        },
        Row {
            name: "FabricError with a transient code (503 not ready)",
            call: Backup,
            fault: |_| Fault::transient("FABRIC_E_NOT_READY"),
            status: Some(503),
            expect: (
                "transient Service error",
                |r| matches!(r, Err(e @ Error::Service { code: ErrorCode::NotReady, .. }) if e.is_transient()),
            ),
        },
        Row {
            name: "FabricError partition not found on the progress read (404)",
            call: Progress,
            fault: |_| {
                Fault::fabric_error(404, "FABRIC_E_PARTITION_NOT_FOUND")
                    .on(Operation::GetBackupProgress)
            },
            status: Some(404),
            expect: (
                "not-found Service error",
                |r| matches!(r, Err(e @ Error::Service { .. }) if e.is_not_found()),
            ),
        },
        Row {
            name: "FabricError server-side timeout (504)",
            call: Backup,
            fault: |_| Fault::fabric_error(504, "FABRIC_E_TIMEOUT"),
            status: Some(504),
            expect: (
                "timeout Service error",
                |r| matches!(r, Err(e @ Error::Service { code: ErrorCode::Timeout, .. }) if e.is_timeout()),
            ),
        },
        Row {
            name: "the Backup Restore Service's primary moves (503 not primary)",
            call: Backup,
            fault: |_| Fault::primary_move(Duration::from_secs(60)),
            status: Some(503),
            expect: (
                "transient Service error",
                |r| matches!(r, Err(e @ Error::Service { code: ErrorCode::NotPrimary, .. }) if e.is_transient()),
            ),
        },
        Row {
            name: "HTML 503 from a proxy",
            call: Backup,
            fault: |_| Fault::html(503),
            status: Some(503),
            expect: (
                "transient UnexpectedResponse keeping the page",
                |r| matches!(r, Err(e @ Error::UnexpectedResponse { body, .. }) if e.is_transient() && body.contains('<')),
            ),
        },
        Row {
            name: "HTML 502 on the progress read",
            call: Progress,
            fault: |_| Fault::html(502).on(Operation::GetBackupProgress),
            status: Some(502),
            expect: ("UnexpectedResponse", |r| {
                matches!(r, Err(Error::UnexpectedResponse { .. }))
            }),
        },
        Row {
            name: "empty 500",
            call: Backup,
            fault: |_| Fault::empty(500),
            status: Some(500),
            expect: (
                "UnexpectedResponse saying the body is empty",
                |r| matches!(r, Err(Error::UnexpectedResponse { reason, body, .. }) if reason.contains("empty body") && body.is_empty()),
            ),
        },
        Row {
            name: "200 to the backup POST",
            call: Backup,
            fault: |_| Fault::body(200, Some("application/json"), "{}"),
            status: Some(200),
            expect: (
                "UnexpectedResponse for an undocumented status",
                |r| matches!(r, Err(Error::UnexpectedResponse { reason, .. }) if reason.contains("does not document")),
            ),
        },
        Row {
            name: "202 with a body",
            call: Backup,
            fault: |_| Fault::body(202, Some("application/json"), r#"{"unexpected": true}"#),
            status: None,
            // The documented success status: the backup was accepted, whatever the body says.
            expect: ("accepted", |r| matches!(r, Ok(Outcome::Accepted))),
        },
        Row {
            name: "malformed JSON in a 200 progress answer",
            call: Progress,
            fault: |_| {
                Fault::body(200, Some("application/json"), "{\"BackupState\": ")
                    .on(Operation::GetBackupProgress)
            },
            status: Some(200),
            expect: (
                "UnexpectedResponse: not a BackupProgressInfo",
                |r| matches!(r, Err(Error::UnexpectedResponse { reason, .. }) if reason.contains("BackupProgressInfo")),
            ),
        },
        Row {
            name: "truncated JSON progress body (connection closed mid-body)",
            call: Progress,
            fault: |_| {
                Fault::truncated(200, "{\"BackupState\": \"Succ").on(Operation::GetBackupProgress)
            },
            status: None,
            expect: ("Transport that may have reached the service", |r| {
                matches!(
                    r,
                    Err(Error::Transport {
                        may_have_reached_service: true,
                        ..
                    })
                )
            }),
        },
        Row {
            name: "truncated FabricError body (connection closed mid-body)",
            call: Backup,
            fault: |_| Fault::truncated(500, "{\"Error\": {\"Code\": \"E_UNEX"),
            status: Some(500),
            expect: (
                "UnexpectedResponse saying the body was cut",
                |r| matches!(r, Err(Error::UnexpectedResponse { reason, .. }) if reason.contains("could not be read completely")),
            ),
        },
        Row {
            name: "unknown BackupState",
            call: Progress,
            fault: |_| Fault::backup_state("Paused").on(Operation::GetBackupProgress),
            status: None,
            expect: (
                "progress with the state kept",
                |r| matches!(r, Ok(Outcome::Progress(p)) if p.state == BackupState::Other("Paused".into())),
            ),
        },
        Row {
            name: "slow answer past the client deadline",
            call: Backup,
            fault: |_| Fault::delay(SLOW_DELAY),
            status: None,
            expect: (
                "Timeout after the server timeout plus the margin",
                |r| matches!(r, Err(e @ Error::NoAnswer { after }) if *after == SLOW_SERVER_TIMEOUT + MARGIN && e.is_timeout()),
            ),
        },
        Row {
            name: "connection closed before the response",
            call: Backup,
            fault: |_| Fault::close_connection(),
            status: None,
            expect: ("Transport that may have reached the service", |r| {
                matches!(
                    r,
                    Err(Error::Transport {
                        may_have_reached_service: true,
                        ..
                    })
                )
            }),
        },
        Row {
            name: "connection closed after the backup was accepted",
            call: Backup,
            fault: |_| Fault::close_connection().after_processing(),
            status: None,
            expect: (
                "Transport that may have reached the service",
                |r| matches!(r, Err(e @ Error::Transport { may_have_reached_service: true, .. }) if !e.is_transient()),
            ),
        },
        Row {
            name: "307 redirect of the backup POST",
            call: Backup,
            fault: |url| {
                Fault::redirect(format!(
                    "{url}/Partitions/{PARTITION}/$/Backup?api-version=6.4"
                ))
            },
            status: Some(307),
            expect: ("UnexpectedResponse: the redirect is not followed", |r| {
                matches!(r, Err(Error::UnexpectedResponse { .. }))
            }),
        },
    ]
}

async fn call(row: &Row, url: &str) -> Result<Outcome, Error> {
    // One fault, one answer: what a retried read does is tested in crates/sf-backup/tests/retries.rs.
    let client = Client::builder()
        .endpoint(url)
        .answer_margin(MARGIN)
        .retry(RetryPolicy::none())
        .build()?;
    let partition: PartitionId = PARTITION.parse()?;
    match row.call {
        Call::Backup => {
            let mut request = client.backup_partition(partition);
            if row.name.starts_with("slow") {
                request = request.server_timeout(SLOW_SERVER_TIMEOUT);
            }
            request.await.map(|()| Outcome::Accepted)
        }
        Call::Progress => client
            .backup_progress(partition)
            .await
            .map(|p| Outcome::Progress(Box::new(p))),
    }
}

async fn run_row(row: Row, dialect: Dialect) -> Option<String> {
    let gateway = gateway(dialect).await;
    gateway.push_fault((row.fault)(&gateway.url()));
    let started = Instant::now();
    // A panic in the facade is a failure of this row, not of the whole table.
    let url = gateway.url();
    let outcome = tokio::spawn(async move { call(&row, &url).await }).await;
    let elapsed = started.elapsed();
    let journal = gateway.journal();
    let posts = journal.iter().filter(|r| r.method == "POST").count();
    let gets = journal.iter().filter(|r| r.method == "GET").count();
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(panic) => return Some(format!("panicked: {panic}")),
    };
    let mut problems = Vec::new();
    let (what, right) = row.expect;
    if !right(&outcome) {
        problems.push(format!("expected {what}, got {outcome:?}"));
    }
    let status = outcome.as_ref().err().and_then(Error::status);
    if status != row.status.map(|s| StatusCode::from_u16(s).unwrap()) {
        problems.push(format!("status {status:?}, expected {:?}", row.status));
    }
    if let Err(error) = &outcome {
        // Display must work and stay readable.
        let message = error.to_string();
        if message.is_empty() || message.len() > 600 {
            problems.push(format!("unhelpful message: {message:?}"));
        }
    }
    let (want_posts, want_gets) = match row.call {
        Call::Backup => (1, 0),
        Call::Progress => (0, 1),
    };
    if (posts, gets) != (want_posts, want_gets) {
        problems.push(format!(
            "{posts} POST(s) and {gets} GET(s) reached the gateway, expected {want_posts} and {want_gets}"
        ));
    }
    if row.name.starts_with("slow") && elapsed >= SLOW_DELAY {
        problems.push(format!("the deadline did not bite: {elapsed:?}"));
    }
    drop(gateway);
    (!problems.is_empty()).then(|| problems.join("; "))
}

async fn run_table(rows: Vec<Row>, dialect: Dialect) {
    assert!(!rows.is_empty());
    // Rows are independent (one gateway each), so they run at once: the slow row sets the pace.
    let tasks: Vec<_> = rows
        .iter()
        .map(|row| tokio::spawn(run_row(*row, dialect)))
        .collect();
    let mut failures = Vec::new();
    for (row, task) in rows.iter().zip(tasks) {
        if let Some(problem) = task.await.unwrap() {
            failures.push(format!("row `{}`: {problem}", row.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed in the {dialect} dialect:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_server_misbehaviour_becomes_the_right_typed_outcome(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let rows = rows();
    assert!(rows.len() >= 12, "only {} rows", rows.len());
    run_table(rows, dialect).await;
}
