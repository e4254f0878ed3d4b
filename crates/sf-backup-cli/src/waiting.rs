//! `backup --wait` and `progress --wait`: the facade's wait with a progress display, Ctrl-C, and the outcome as
//! text or JSON.

use std::future::poll_fn;
use std::io::IsTerminal;
use std::time::Duration;

use futures_core::Stream;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sf_backup::{
    BackupProgress, BackupState, BackupWait, CompletedBackup, Requested, StorageCheck, WaitError,
    WaitEvent,
};

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

/// What the wait is for: its partition, and the command that follows the backup if this run stops early.
pub struct Subject {
    /// The partition backed up.
    pub partition_id: sf_backup::PartitionId,
    /// The exact command that follows the backup to its end, or why there is none (the embedded gateway ends
    /// with this process).
    pub follow: Result<String, &'static str>,
}

impl Subject {
    /// The subject of a wait on `partition_id` through `connection`.
    pub fn new(
        connection: &crate::connection::Connection,
        partition_id: sf_backup::PartitionId,
    ) -> Self {
        Self {
            partition_id,
            follow: if connection.testkit.is_some() {
                Err(
                    "The embedded test gateway stops with this process, so there is nothing left to follow",
                )
            } else {
                Ok(format!(
                    "sf-backup --endpoint {} progress {partition_id} --wait",
                    connection.client.endpoint()
                ))
            },
        }
    }
}

impl Outcome {
    /// Prints the outcome on stdout (the error, if any, is reported by the caller) and gives the exit code.
    pub fn print(self, json: bool) -> Result<std::process::ExitCode, Failure> {
        if json {
            if let Some(object) = &self.json {
                println!("{object}");
            }
        } else if let Some(text) = &self.text {
            print!("{text}");
        }
        self.result.map(|_| std::process::ExitCode::SUCCESS)
    }
}

/// The wait options the polling flags set, for `backup --wait` and `progress --wait` alike.
pub fn options(waiting: &crate::cli::WaitArgs) -> sf_backup::WaitOptions {
    let mut options = sf_backup::WaitOptions::new();
    if let Some(interval) = waiting.poll_interval {
        // An explicit interval is kept fixed: whoever sets it expects reads that far apart, not a growing pause.
        options = options.poll_interval(interval).max_poll_interval(interval);
    }
    if let Some(timeout) = waiting.wait_timeout {
        options = options.wait_timeout(timeout);
    }
    options
}

/// Runs `wait` to its end, showing its progress; Ctrl-C stops it and reports what is known.
pub async fn wait(mut wait: BackupWait, subject: &Subject, json: bool) -> Outcome {
    let partition_id = subject.partition_id;
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

    let mut last: Option<BackupProgress> = None;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let interrupted = loop {
        tokio::select! {
            next = poll_fn(|cx| std::pin::Pin::new(&mut wait).poll_next(cx)) => match next {
                Some(WaitEvent::Progress(progress) | WaitEvent::UnknownState(progress)) => {
                    show(&display, partition_id, last.as_ref(), &progress);
                    last = Some(progress);
                }
                Some(WaitEvent::Retrying { cause, attempt }) => {
                    let line = format!("retrying progress read: {cause} (attempt {attempt})");
                    match &display {
                        Display::Spinner(spinner) => spinner.println(line),
                        Display::Lines => eprintln!("{line}"),
                        Display::Quiet => {}
                    }
                }
                Some(_) => {}
                None => break false,
            },
            // An error means no handler could be installed: then Ctrl-C ends the process the default way.
            Ok(()) = &mut ctrl_c => break true,
        }
    };
    if let Display::Spinner(spinner) = &display {
        spinner.finish_and_clear();
    }
    if interrupted {
        return stopped_early(subject, wait.requested(), wait.last_progress());
    }
    outcome(subject, wait.outcome().await, last)
}

fn show(
    display: &Display,
    partition_id: sf_backup::PartitionId,
    last: Option<&BackupProgress>,
    progress: &BackupProgress,
) {
    if last.is_some_and(|seen| seen.state == progress.state) {
        return;
    }
    let state = state_text(&progress.state);
    match display {
        Display::Spinner(spinner) => {
            spinner.set_message(format!("Backing up partition {partition_id}: {state}"));
        }
        Display::Lines => eprintln!("backup of partition {partition_id}: {state}"),
        Display::Quiet => {}
    }
}

/// A state as shown to people: one this version does not know says so.
pub fn state_text(state: &BackupState) -> String {
    match state {
        BackupState::Other(name) => format!("{name} (a state this version does not know)"),
        state => state.to_string(),
    }
}

/// What a person or script needs when the outcome is unknown: whether a backup may have started, its last
/// state, and how to follow it.
fn what_is_known(
    subject: &Subject,
    requested: Option<Requested>,
    last: Option<&BackupProgress>,
) -> (bool, String) {
    let may_have_started = matches!(requested, Some(Requested::Yes | Requested::Maybe));
    let mut text = match requested {
        Some(Requested::Yes) => "the backup was requested and accepted".to_owned(),
        Some(Requested::Maybe) => {
            "the backup request was sent but no answer was received, so a backup may have started"
                .to_owned()
        }
        _ => "no backup was requested".to_owned(),
    };
    if let Some(progress) = last {
        text.push_str(&format!(
            "; its last state: {}",
            state_text(&progress.state)
        ));
    }
    if may_have_started {
        match &subject.follow {
            Ok(command) => text.push_str(&format!(
                ". Follow it (with the same connection options) before requesting another: {command}"
            )),
            Err(why) => text.push_str(&format!(". {why}")),
        }
    }
    (may_have_started, text)
}

fn stopped_early(
    subject: &Subject,
    requested: Option<Requested>,
    last: Option<BackupProgress>,
) -> Outcome {
    let (may_have_started, known) = what_is_known(subject, requested, last.as_ref());
    let mut failure = Failure::new(
        Exit::Interrupted,
        "interrupted",
        format!("interrupted: {known}"),
    );
    failure
        .extra
        .insert("may_have_started".into(), may_have_started.into());
    let envelope = Envelope {
        may_have_been_written: may_have_started,
        ..Envelope::new(
            subject,
            "Interrupted",
            None,
            last.as_ref(),
            may_have_started,
        )
    };
    Outcome {
        json: Some(envelope.to_json()),
        text: None,
        result: Err(failure),
    }
}

/// The JSON object of a wait's outcome on stdout: the field names are its keys.
#[derive(serde::Serialize)]
struct Envelope<'a> {
    partition_id: String,
    outcome: &'static str,
    backup: Option<&'a CompletedBackup>,
    /// The last progress read.
    progress: Option<&'a BackupProgress>,
    may_have_started: bool,
    may_have_been_written: bool,
    /// The command that follows a backup that may have started and was not seen to end.
    follow: Option<&'a str>,
    /// How a wait that ended without a backup ended; no keys otherwise.
    #[serde(flatten)]
    ended: Option<Ended<'a>>,
}

/// The keys of a wait that ended without a backup.
#[derive(serde::Serialize)]
struct Ended<'a> {
    /// Present when a backup was found after the service's Timeout.
    #[serde(skip_serializing_if = "Option::is_none")]
    backup_id: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    found_backup: Option<&'a sf_backup::list::BackupInfo>,
    /// Present (with `window`) when the look after the service's Timeout found candidates.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    candidates: &'a [sf_backup::Candidate],
    #[serde(skip_serializing_if = "Option::is_none")]
    window: Option<sf_backup::BackupWindow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    storage_check: Option<String>,
    last_error: Option<String>,
    unknown_state: Option<String>,
}

impl<'a> Envelope<'a> {
    fn new(
        subject: &'a Subject,
        outcome: &'static str,
        backup: Option<&'a CompletedBackup>,
        progress: Option<&'a BackupProgress>,
        may_have_started: bool,
    ) -> Self {
        Self {
            partition_id: subject.partition_id.to_string(),
            outcome,
            backup,
            progress,
            may_have_started,
            may_have_been_written: backup.is_some(),
            follow: subject
                .follow
                .as_deref()
                .ok()
                .filter(|_| may_have_started && backup.is_none()),
            ended: None,
        }
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

fn outcome(
    subject: &Subject,
    result: Result<CompletedBackup, WaitError>,
    last: Option<BackupProgress>,
) -> Outcome {
    let error = match result {
        Ok(backup) => {
            return Outcome {
                json: Some(
                    Envelope::new(subject, "Success", Some(&backup), last.as_ref(), true).to_json(),
                ),
                text: Some(success_text(subject.partition_id, &backup)),
                result: Ok(backup),
            };
        }
        Err(error) => error,
    };
    let requested = error.backup_requested();
    let may_have_started = requested != Requested::No;
    let progress = error.last_progress().cloned().or(last);
    let found = error.found_backup().cloned();
    let (candidates, window, storage_check) = match &error {
        WaitError::ServiceTimeout { check, .. } => match check {
            StorageCheck::Written {
                candidates, window, ..
            }
            | StorageCheck::Several { candidates, window } => {
                (candidates.clone(), Some(*window), Some(check.to_string()))
            }
            _ => (Vec::new(), None, Some(check.to_string())),
        },
        _ => (Vec::new(), None, None),
    };
    // Nothing was started: the error object on stderr says it all.
    let json = may_have_started.then(|| {
        Envelope {
            may_have_been_written: error.may_have_been_written(),
            ended: Some(Ended {
                backup_id: found
                    .as_ref()
                    .map(|found| found.backup_id.map(|id| id.to_string())),
                found_backup: found.as_ref(),
                window: window.filter(|_| !candidates.is_empty()),
                candidates: &candidates,
                storage_check,
                last_error: error.last_error().map(ToString::to_string),
                unknown_state: progress
                    .as_ref()
                    .and_then(|progress| match &progress.state {
                        BackupState::Other(name) => Some(name.clone()),
                        _ => None,
                    }),
            }),
            ..Envelope::new(
                subject,
                crate::failure::wait_outcome(&error).1,
                None,
                progress.as_ref(),
                may_have_started,
            )
        }
        .to_json()
    });
    let unknown = error.outcome_unknown();
    let mut failure = Failure::from_wait(error);
    if unknown {
        let (_, known) = what_is_known(subject, Some(requested), progress.as_ref());
        failure.message = format!("{}\n{known}", failure.message);
    }
    failure
        .extra
        .insert("may_have_started".into(), may_have_started.into());
    if let Some(id) = found.as_ref().and_then(|found| found.backup_id) {
        failure
            .extra
            .insert("backup_id".into(), id.to_string().into());
    }
    Outcome {
        json,
        text: found
            .as_ref()
            .map(|backup| found_text(subject.partition_id, backup)),
        result: Err(failure),
    }
}

/// The backup found in storage after the service reported Timeout, for stdout.
fn found_text(
    partition_id: sf_backup::PartitionId,
    backup: &sf_backup::list::BackupInfo,
) -> String {
    let or_unknown = |value: Option<String>| value.unwrap_or_else(|| "unknown".to_owned());
    let mut text = format!(
        "The service reported Timeout for the backup of partition {partition_id}, but this backup was written in \
         the request's window:\n{:<16}{}\n{:<16}{}\n{:<16}{}\n",
        "BackupId:",
        or_unknown(backup.backup_id.map(|id| id.to_string())),
        "Location:",
        or_unknown(backup.backup_location.clone()),
        "Created (UTC):",
        or_unknown(backup.creation_time_utc.map(|time| time.to_rfc3339())),
    );
    text.push_str(&epoch_and_lsn(backup.epoch.as_ref(), backup.lsn));
    text
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
    text.push_str(&epoch_and_lsn(backup.epoch.as_ref(), backup.lsn));
    text
}

/// The epoch and LSN lines of a backup, those it has.
fn epoch_and_lsn(epoch: Option<&sf_backup::Epoch>, lsn: Option<i64>) -> String {
    let mut text = String::new();
    if let Some(epoch) = epoch {
        text.push_str(&format!(
            "{:<16}data loss version {}, configuration version {}\n",
            "Epoch:", epoch.data_loss_version, epoch.configuration_version
        ));
    }
    if let Some(lsn) = lsn {
        text.push_str(&format!("{:<16}{lsn}\n", "LSN:"));
    }
    text
}

/// The wait options of `backup --wait`, for one partition or many: the polling flags and what to do after the
/// service reports Timeout.
pub fn backup_options(args: &crate::cli::BackupArgs) -> sf_backup::WaitOptions {
    let mut options = options(&args.waiting);
    if let Some(watch) = args.late_write_watch {
        options = options.late_write_watch(watch);
    }
    if let Some(skew) = args.clock_skew {
        options = options.clock_skew(skew);
    }
    if let Some(name) = &args.service_name {
        options = options.service_name(name.clone());
    }
    options
}
