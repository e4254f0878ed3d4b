//! `backup --wait`: the facade's wait with a progress display, and the outcome as text or JSON.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sf_backup::{BackupPartitionRequest, BackupProgress, CompletedBackup, WaitError, WaitOptions};

use crate::failure::{Exit, Failure};

/// How progress is shown while waiting.
#[derive(Clone)]
enum Display {
    /// A spinner with the current state, for a person at a terminal.
    Spinner(ProgressBar),
    /// One line on stderr per state change, for logs.
    Lines,
    /// Nothing: with `--output json`, stderr is reserved for the error object.
    Quiet,
}

/// What the wait ended with.
pub struct Outcome {
    /// The backup, when it was written.
    pub result: Result<CompletedBackup, Failure>,
    /// The JSON object for `--output json`; `None` when the backup request itself failed (the error says it all).
    pub json: Option<serde_json::Value>,
    /// The text for stdout on success.
    pub text: Option<String>,
}

/// Sends the backup request and waits for its outcome.
pub async fn wait(
    request: BackupPartitionRequest,
    partition_id: sf_backup::PartitionId,
    poll_interval: Option<Duration>,
    wait_timeout: Option<Duration>,
    json: bool,
) -> Outcome {
    let display = if json {
        Display::Quiet
    } else if std::io::stderr().is_terminal() {
        let spinner = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        spinner.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        spinner.set_message(format!("Backing up partition {partition_id}: requesting"));
        spinner.enable_steady_tick(Duration::from_millis(100));
        Display::Spinner(spinner)
    } else {
        Display::Lines
    };

    // The callback must be 'static; the last progress is shared so that the outcome can show it as on the wire.
    let last: Arc<Mutex<Option<BackupProgress>>> = Arc::default();
    let mut options = WaitOptions::new();
    if let Some(interval) = poll_interval {
        // An explicit interval is kept fixed: whoever sets it expects reads that far apart, not a growing pause.
        options = options.poll_interval(interval).max_poll_interval(interval);
    }
    if let Some(timeout) = wait_timeout {
        options = options.wait_timeout(timeout);
    }
    let options = {
        let last = Arc::clone(&last);
        let display = display.clone();
        options.on_progress(move |progress| {
            let mut last = last.lock().unwrap_or_else(PoisonError::into_inner);
            let changed = last
                .as_ref()
                .is_none_or(|seen| seen.state != progress.state);
            if changed {
                match &display {
                    Display::Spinner(spinner) => spinner.set_message(format!(
                        "Backing up partition {partition_id}: {}",
                        progress.state
                    )),
                    Display::Lines => {
                        eprintln!("backup of partition {partition_id}: {}", progress.state)
                    }
                    Display::Quiet => {}
                }
            }
            *last = Some(progress.clone());
        })
    };

    let result = request.wait(options).await;
    if let Display::Spinner(spinner) = &display {
        spinner.finish_and_clear();
    }
    let last = last.lock().unwrap_or_else(PoisonError::into_inner).take();
    outcome(partition_id, result, last)
}

fn outcome(
    partition_id: sf_backup::PartitionId,
    result: Result<CompletedBackup, WaitError>,
    last: Option<BackupProgress>,
) -> Outcome {
    let envelope = |outcome: &str,
                    backup: Option<&CompletedBackup>,
                    progress: Option<&BackupProgress>,
                    written: bool| {
        serde_json::json!({
            "partition_id": partition_id.to_string(),
            "outcome": outcome,
            "backup": backup,
            // The last progress read, exactly as the service sent it.
            "progress": progress,
            "may_have_been_written": written,
        })
    };
    match result {
        Ok(backup) => Outcome {
            json: Some(envelope("Success", Some(&backup), last.as_ref(), true)),
            text: Some(success_text(partition_id, &backup)),
            result: Ok(backup),
        },
        Err(error) => {
            let written = error.may_have_been_written();
            let progress = error.last_progress().cloned().or(last);
            let (name, failure) = failure(error);
            Outcome {
                json: name.map(|name| envelope(name, None, progress.as_ref(), written)),
                text: None,
                result: Err(failure),
            }
        }
    }
}

fn success_text(partition_id: sf_backup::PartitionId, backup: &CompletedBackup) -> String {
    let mut text = format!(
        "Backup of partition {partition_id} succeeded.\n{:<16}{}\n{:<16}{}\n{:<16}{}\n",
        "BackupId:",
        backup.backup_id,
        "Location:",
        backup.location,
        "Finished (UTC):",
        backup.finished_at.to_rfc3339(),
    );
    if let Some(epoch) = &backup.epoch {
        text.push_str(&format!(
            "{:<16}data loss version {}, configuration version {}\n",
            "Epoch:", epoch.data_loss_version, epoch.configuration_version
        ));
    }
    if let Some(lsn) = backup.lsn {
        text.push_str(&format!("{:<16}{lsn}\n", "LSN:"));
    }
    text
}

/// The outcome's name for JSON (`None` when the backup request failed before any backup started) and the failure.
fn failure(error: WaitError) -> (Option<&'static str>, Failure) {
    let message = error.to_string();
    match error {
        WaitError::Request(error) => (None, Failure::from(error)),
        WaitError::Failed { failure, .. } => (
            Some("Failure"),
            Failure {
                code: failure.map(|failure| failure.code.as_str().to_owned()),
                ..Failure::new(Exit::BackupFailed, "backup_failed", message)
            },
        ),
        WaitError::TimedOut { .. } => (
            Some("Timeout"),
            Failure::new(Exit::BackupFailed, "backup_timeout", message),
        ),
        WaitError::DeadlineExceeded { .. } => (
            Some("WaitTimeout"),
            Failure::new(Exit::WaitTimedOut, "wait_timeout", message),
        ),
        WaitError::Ambiguous { source, .. } => (
            Some("Ambiguous"),
            Failure {
                message,
                kind: "ambiguous",
                ..Failure::from(source)
            },
        ),
        WaitError::ProgressUnavailable { source, .. } => (
            Some("ProgressUnavailable"),
            Failure {
                message,
                kind: "progress_unavailable",
                ..Failure::from(source)
            },
        ),
        WaitError::IncompleteSuccess { .. } => (
            Some("IncompleteSuccess"),
            Failure::new(Exit::ServiceError, "incomplete_success", message),
        ),
        _ => (Some("Unknown"), Failure::new(Exit::Other, "other", message)),
    }
}
