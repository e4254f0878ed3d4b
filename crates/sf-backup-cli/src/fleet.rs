//! `backup` of several partitions: the facade's `backup_partitions` at bounded concurrency, one line (or JSON
//! object) per partition as it ends, a summary, a report to resume from, and Ctrl-C that says what it left.

use std::collections::HashSet;
use std::future::poll_fn;
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;

use futures_core::Stream;
use sf_backup::{FleetBackup, PartitionId, PartitionOutcome, Requested};

use crate::cli::BackupArgs;
use crate::connection::Connection;
use crate::failure::{Exit, Failure};

/// What `backup` was asked to back up.
pub enum Plan {
    /// One partition: the plain backup (and `--wait`).
    Single(PartitionId),
    /// Several partitions (or a list file, or a report): the fleet, with its partitions read and checked.
    Fleet(Vec<PartitionId>),
}

/// Reads and checks the partitions before anything is started or sent.
pub fn plan(args: &BackupArgs) -> Result<Plan, Failure> {
    let fleet = args.partitions_from.is_some()
        || args.report.is_some()
        || args.resume.is_some()
        || args.partition_ids.len() != 1;
    if !fleet {
        return Ok(Plan::Single(args.partition_ids[0]));
    }
    if !args.wait {
        return Err(Failure::invalid(
            "backing up several partitions needs --wait: only a wait keeps at most --concurrency backups \
             running at once (the service would start them all)",
        ));
    }
    Ok(Plan::Fleet(partitions(args)?))
}

/// The partitions: those on the command line, then those of `--partitions-from`, each once, in order.
fn partitions(args: &BackupArgs) -> Result<Vec<PartitionId>, Failure> {
    let mut all = args.partition_ids.clone();
    if let Some(path) = &args.partitions_from {
        let text = if path == Path::new("-") {
            std::io::read_to_string(std::io::stdin()).map_err(|error| {
                Failure::invalid(format!(
                    "--partitions-from -: cannot read standard input: {error}"
                ))
            })?
        } else {
            std::fs::read_to_string(path).map_err(|error| {
                Failure::invalid(format!("--partitions-from {}: {error}", path.display()))
            })?
        };
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let id = line.parse::<PartitionId>().map_err(|_| {
                Failure::invalid(format!(
                    "--partitions-from {}, line {}: {line:?} is not a partition id; put one UUID a line, such \
                     as 1daae3f5-7fd6-42e9-b1ba-8c05f873994d",
                    path.display(),
                    number + 1
                ))
            })?;
            all.push(id);
        }
    }
    let mut seen = HashSet::new();
    all.retain(|id| seen.insert(*id));
    if all.is_empty() {
        return Err(Failure::invalid(
            "no partition to back up: name partition ids, or a --partitions-from file that lists some",
        ));
    }
    Ok(all)
}

/// The partitions a report records as backed up.
fn succeeded_in(report: &Path) -> Result<HashSet<PartitionId>, Failure> {
    let file = std::fs::File::open(report)
        .map_err(|error| Failure::invalid(format!("--resume {}: {error}", report.display())))?;
    let mut done = HashSet::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line
            .map_err(|error| Failure::invalid(format!("--resume {}: {error}", report.display())))?;
        // Lines that are not a partition's outcome (the summary, a line cut short by a crash) are skipped.
        let Ok(value) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if (value["outcome"] == "Success" || value["outcome"] == "TimedOutButWritten")
            && let Some(id) = value["partition_id"]
                .as_str()
                .and_then(|id| id.parse().ok())
        {
            done.insert(id);
        }
    }
    Ok(done)
}

/// What is counted for the summary.
#[derive(Default)]
struct Tally {
    succeeded: usize,
    failed: usize,
    busy: usize,
    outcome_unknown: usize,
    skipped: usize,
}

/// Backs up every partition and reports each as it ends.
pub fn run(
    connection: &Connection,
    args: &BackupArgs,
    mut partitions: Vec<PartitionId>,
    storage: Option<sf_backup::BackupStorage>,
    json: bool,
) -> Result<ExitCode, Failure> {
    let mut tally = Tally::default();
    if let Some(report) = &args.resume {
        let done = succeeded_in(report)?;
        let before = partitions.len();
        partitions.retain(|id| !done.contains(id));
        tally.skipped = before - partitions.len();
    }
    let mut report = match &args.report {
        None => None,
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|error| {
                    Failure::invalid(format!("--report {}: {error}", path.display()))
                })?,
        ),
    };
    let total = partitions.len() + tally.skipped;
    let mut fleet = connection
        .client
        .backup_partitions(partitions)
        .concurrency(usize::from(args.concurrency))
        .follow_busy(args.follow_busy)
        .wait_options(crate::backup_wait_options(args));
    if let Some(storage) = storage {
        fleet = fleet.storage(storage);
    }
    if let Some(minutes) = args.backup_timeout {
        fleet = fleet.backup_timeout(std::time::Duration::from_secs(minutes.saturating_mul(60)));
    }
    if let Some(seconds) = args.server_timeout {
        fleet = fleet.server_timeout(std::time::Duration::from_secs(seconds));
    }
    if !json {
        eprintln!(
            "Backing up {} partitions, at most {} at a time{}.",
            total - tally.skipped,
            args.concurrency,
            if tally.skipped > 0 {
                format!(
                    " ({} skipped: already backed up in --resume)",
                    tally.skipped
                )
            } else {
                String::new()
            }
        );
    }
    let interrupted = crate::runtime()?.block_on(async {
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        loop {
            tokio::select! {
                next = poll_fn(|cx| std::pin::Pin::new(&mut fleet).poll_next(cx)) => match next {
                    Some(outcome) => {
                        let line = record(&outcome, &mut tally);
                        if let Some(file) = report.as_mut() {
                            // A report that cannot be written is worth a warning, not the loss of the run.
                            if writeln!(file, "{line}").and_then(|()| file.flush()).is_err() {
                                eprintln!("warning: could not write to --report");
                            }
                        }
                        if json {
                            println!("{line}");
                        } else {
                            println!("{}", text_line(&outcome));
                        }
                    }
                    None => break false,
                },
                Ok(()) = &mut ctrl_c => break true,
            }
        }
    });
    let summary = serde_json::json!({
        "summary": {
            "total": total,
            "succeeded": tally.succeeded,
            "failed": tally.failed,
            "busy": tally.busy,
            "outcome_unknown": tally.outcome_unknown,
            "skipped": tally.skipped,
            "not_finished": total - tally.succeeded - tally.failed - tally.busy - tally.outcome_unknown - tally.skipped,
        }
    });
    if json {
        println!("{summary}");
    } else {
        eprintln!(
            "{} of {total} partitions backed up ({} failed, {} busy, {} with an unknown outcome, {} skipped).",
            tally.succeeded + tally.skipped,
            tally.failed,
            tally.busy,
            tally.outcome_unknown,
            tally.skipped
        );
    }
    if interrupted {
        return Err(stopped(&fleet));
    }
    if tally.succeeded + tally.skipped == total {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(Failure::new(
            Exit::SomeFailed,
            "some_partitions_failed",
            format!(
                "{} of {total} partitions were not backed up; run again with --resume <report> to retry only them",
                total - tally.succeeded - tally.skipped
            ),
        ))
    }
}

/// The JSON line of one partition's outcome, and its count in the tally.
fn record(outcome: &PartitionOutcome, tally: &mut Tally) -> serde_json::Value {
    let duration_ms = u64::try_from(outcome.duration.as_millis()).unwrap_or(u64::MAX);
    let mut line = serde_json::json!({
        "partition_id": outcome.partition_id.to_string(),
        "duration_ms": duration_ms,
        "followed": outcome.followed,
    });
    let fields = match &outcome.result {
        Ok(backup) => {
            tally.succeeded += 1;
            serde_json::json!({"outcome": "Success", "backup_id": backup.backup_id.to_string()})
        }
        // The service said Timeout, but this request's backup was found written: no need to back up again, so it
        // counts as backed up (and `--resume` skips it).
        Err(sf_backup::WaitError::TimedOutButWritten { backup, .. }) => {
            tally.succeeded += 1;
            serde_json::json!({
                "outcome": "TimedOutButWritten",
                "backup_id": backup.backup_id.map(|id| id.to_string()),
                "code": "FABRIC_E_TIMEOUT",
            })
        }
        Err(error) => {
            let busy = outcome.busy();
            let code = error
                .request_error()
                .and_then(|e| e.code())
                .or_else(|| {
                    error
                        .last_progress()
                        .and_then(|p| p.failure.as_ref())
                        .map(|f| &f.code)
                })
                .map(|code| code.as_str().to_owned());
            let name = if busy {
                tally.busy += 1;
                "Busy"
            } else if error.outcome_unknown() {
                tally.outcome_unknown += 1;
                outcome_name(error)
            } else {
                tally.failed += 1;
                outcome_name(error)
            };
            serde_json::json!({
                "outcome": name,
                "code": code,
                "message": error.to_string(),
                "may_have_started": error.backup_requested() != Requested::No,
            })
        }
    };
    if let (Some(line), Some(fields)) = (line.as_object_mut(), fields.as_object()) {
        line.extend(fields.clone());
    }
    line
}

/// The outcome names of `backup --wait --output json`, and `NotStarted` for a request refused or not sent.
fn outcome_name(error: &sf_backup::WaitError) -> &'static str {
    use sf_backup::WaitError;
    match error {
        WaitError::Request(_) => "NotStarted",
        WaitError::Failed { .. } => "Failure",
        WaitError::BackupTimedOut { .. } => "BackupTimedOut",
        WaitError::TimedOutButWritten { .. } => "TimedOutButWritten",
        WaitError::TimedOutPossiblyWritten { .. } => "TimedOutPossiblyWritten",
        WaitError::WaitTimedOut { .. } => "WaitTimedOut",
        WaitError::Ambiguous { .. } => "Ambiguous",
        WaitError::ProgressUnavailable { .. } => "ProgressUnavailable",
        WaitError::IncompleteSuccess { .. } => "IncompleteSuccess",
        _ => "Unknown",
    }
}

fn text_line(outcome: &PartitionOutcome) -> String {
    let seconds = outcome.duration.as_secs_f64();
    match &outcome.result {
        Ok(backup) => format!(
            "{}  Success  {}  ({seconds:.1} s{})",
            outcome.partition_id,
            backup.backup_id,
            if outcome.followed { ", followed" } else { "" }
        ),
        Err(_) if outcome.busy() => format!(
            "{}  Busy  another backup or a restore runs; try again later, or use --follow-busy",
            outcome.partition_id
        ),
        Err(error) => format!(
            "{}  {}  {error}  ({seconds:.1} s)",
            outcome.partition_id,
            outcome_name(error)
        ),
    }
}

/// Ctrl-C: nothing more starts; the backups already requested go on at the service.
fn stopped(fleet: &FleetBackup) -> Failure {
    let in_flight = fleet.in_flight();
    let requested: Vec<String> = in_flight
        .iter()
        .filter(|(_, requested)| matches!(requested, Some(Requested::Yes | Requested::Maybe)))
        .map(|(id, _)| id.to_string())
        .collect();
    let queued = fleet.queued().count();
    let mut failure = Failure::new(
        Exit::Interrupted,
        "interrupted",
        format!(
            "interrupted: {} backups were requested and go on at the service ({}); {queued} partitions were not \
             started. Follow each with `sf-backup progress <PARTITION_ID> --wait`",
            requested.len(),
            if requested.is_empty() {
                "none".to_owned()
            } else {
                requested.join(", ")
            }
        ),
    );
    failure
        .extra
        .insert("may_have_started".into(), (!requested.is_empty()).into());
    failure.extra.insert("in_flight".into(), requested.into());
    failure
}
