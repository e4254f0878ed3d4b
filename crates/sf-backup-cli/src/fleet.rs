//! `backup` of several partitions: the facade's `backup_partitions` at bounded concurrency, one line (or JSON
//! object) per partition as it ends, a summary, a report to resume from, and Ctrl-C that says what it left.
//!
//! The report (`--report`) is JSON lines: a partition's outcome when it ends, and before that a `Requested`
//! line as soon as its backup request may have reached the service (`"requested": "yes"` after the 202,
//! `"maybe"` when its answer is lost or awaited). `--resume` reads the last line of each partition: `Success` and
//! `TimedOutButWritten` are skipped; `Requested`, and the outcomes that leave a requested backup's end unknown
//! (`WaitTimedOut`, `Ambiguous`, `ProgressUnavailable`), are followed to their end, never requested again; every
//! other partition is requested again.

use std::collections::{HashMap, HashSet};
use std::future::poll_fn;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use futures_core::Stream;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use sf_backup::{BackupPartitionRequest, FleetBackup, PartitionId, PartitionOutcome, Requested};

use crate::cli::BackupArgs;
use crate::connection::Connection;
use crate::failure::{Exit, Failure};

/// What `backup` was asked to back up.
pub enum Plan {
    /// One partition: the plain backup (and `--wait`).
    Single(PartitionId),
    /// Several partitions (or a list file, or a report, or services and applications): the fleet, with its
    /// partitions read and checked; services and applications are resolved once connected.
    Fleet(Vec<PartitionId>),
}

/// Reads and checks the partitions before anything is started or sent.
pub fn plan(args: &BackupArgs) -> Result<Plan, Failure> {
    let fleet = args.partitions_from.is_some()
        || args.report.is_some()
        || args.resume.is_some()
        || !args.services.is_empty()
        || !args.applications.is_empty()
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
    if all.is_empty() && args.services.is_empty() && args.applications.is_empty() {
        return Err(Failure::invalid(
            "no partition to back up: name partition ids, or a --partitions-from file that lists some",
        ));
    }
    Ok(all)
}

/// Adds the partitions of `--service` and `--application` to `partitions` (each once, after those named
/// directly), and reports the services left out: one JSON object each with `--output json`, a line on stderr
/// otherwise. Only reads are sent; a name the cluster does not know fails the run before any backup.
fn resolve(
    runtime: &tokio::runtime::Runtime,
    connection: &Connection,
    args: &BackupArgs,
    partitions: &mut Vec<PartitionId>,
    json: bool,
) -> Result<Vec<sf_backup::topology::Skipped>, Failure> {
    if args.services.is_empty() && args.applications.is_empty() {
        return Ok(Vec::new());
    }
    let with_timeout = |resolve: sf_backup::topology::ResolvePartitions| match args.server_timeout {
        Some(seconds) => resolve.server_timeout(std::time::Duration::from_secs(seconds)),
        None => resolve,
    };
    let client = &connection.client;
    let resolutions = runtime.block_on(async {
        let mut all = Vec::new();
        for service in &args.services {
            let resolution = with_timeout(client.resolve_service(service))
                .await
                .map_err(|error| named(error, "--service", service))?;
            all.push(resolution);
        }
        for application in &args.applications {
            let resolution = with_timeout(client.resolve_application(application))
                .await
                .map_err(|error| named(error, "--application", application))?;
            all.push(resolution);
        }
        Ok::<_, Failure>(all)
    })?;
    let mut seen: HashSet<PartitionId> = partitions.iter().copied().collect();
    let mut skipped = Vec::new();
    for resolution in resolutions {
        for partition in resolution.partitions {
            if seen.insert(partition.partition_id) {
                partitions.push(partition.partition_id);
            }
        }
        skipped.extend(resolution.skipped);
    }
    for service in &skipped {
        if json {
            println!(
                "{}",
                serde_json::json!({
                    "service_name": service.service_name,
                    "outcome": "Skipped",
                    "reason": skip_reason(&service.reason),
                    "message": service.reason.to_string(),
                    "partitions": service.partitions,
                })
            );
        } else {
            eprintln!("Skipping {}: {}.", service.service_name, service.reason);
        }
    }
    Ok(skipped)
}

/// A stable name for why a service is left out, for the JSON (its `Display` is the sentence). The facade's
/// `SkipReason` has no such name of its own yet.
fn skip_reason(reason: &sf_backup::topology::SkipReason) -> &'static str {
    use sf_backup::topology::SkipReason;
    match reason {
        SkipReason::Stateless => "stateless",
        SkipReason::NotPersisted => "not_persisted",
        SkipReason::NoPartitionId => "no_partition_id",
        SkipReason::UnknownServiceKind => "unknown_service_kind",
        // A reason a later facade adds.
        _ => "other",
    }
}

/// A resolution error, with the flag and name it was for in front of its message.
fn named(error: sf_backup::Error, flag: &str, name: &sf_backup::topology::FabricName) -> Failure {
    let mut failure = Failure::from(error);
    failure.message = format!("{flag} {name}: {}", failure.message);
    failure
}

/// What a report says to do with each partition it names.
#[derive(Default)]
struct Resume {
    /// Backed up: skipped.
    done: HashSet<PartitionId>,
    /// Requested, and its end unknown: followed, never requested again.
    follow: HashSet<PartitionId>,
}

/// Reads a report: the last line of each partition decides.
fn resume_from(report: &Path) -> Result<Resume, Failure> {
    let file = std::fs::File::open(report)
        .map_err(|error| Failure::invalid(format!("--resume {}: {error}", report.display())))?;
    let mut resume = Resume::default();
    for line in std::io::BufReader::new(file).lines() {
        let line = line
            .map_err(|error| Failure::invalid(format!("--resume {}: {error}", report.display())))?;
        // Lines that are not a partition's (the summary, a line cut short by a crash) are skipped.
        let Ok(value) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let Some(id) = value["partition_id"]
            .as_str()
            .and_then(|id| id.parse::<PartitionId>().ok())
        else {
            continue;
        };
        resume.done.remove(&id);
        resume.follow.remove(&id);
        let may_have_started = value["may_have_started"] == true;
        match value["outcome"].as_str() {
            Some("Success" | "TimedOutButWritten") => {
                resume.done.insert(id);
            }
            Some("Requested") => {
                resume.follow.insert(id);
            }
            Some("WaitTimedOut" | "Ambiguous" | "ProgressUnavailable") if may_have_started => {
                resume.follow.insert(id);
            }
            _ => {}
        }
    }
    Ok(resume)
}

/// How each partition's backup request is set up from the command line: storage, backup and server timeouts.
pub fn each_request(
    args: &BackupArgs,
    storage: Option<sf_backup::BackupStorage>,
) -> impl Fn(BackupPartitionRequest) -> BackupPartitionRequest + Send + Sync + 'static {
    let backup_timeout = args
        .backup_timeout
        .map(|minutes| std::time::Duration::from_secs(minutes.saturating_mul(60)));
    let server_timeout = args.server_timeout.map(std::time::Duration::from_secs);
    move |mut request| {
        if let Some(storage) = &storage {
            request = request.storage(storage.clone());
        }
        if let Some(timeout) = backup_timeout {
            request = request.backup_timeout(timeout);
        }
        if let Some(timeout) = server_timeout {
            request = request.server_timeout(timeout);
        }
        request
    }
}

/// What is counted for the summary.
#[derive(Default)]
struct Tally {
    succeeded: usize,
    failed: usize,
    busy: usize,
    outcome_unknown: usize,
    skipped: usize,
    skipped_services: usize,
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
    let runtime = crate::connection::runtime()?;
    let skipped_services = resolve(&runtime, connection, args, &mut partitions, json)?;
    tally.skipped_services = skipped_services.len();
    if partitions.is_empty() {
        return Err(Failure::new(
            Exit::InvalidInput,
            "nothing_to_back_up",
            "no partition to back up: the services and applications named have no persisted stateful partition"
                .to_owned(),
        ));
    }
    let mut follow = Vec::new();
    if let Some(report) = &args.resume {
        let resume = resume_from(report)?;
        let before = partitions.len();
        partitions.retain(|id| !resume.done.contains(id));
        tally.skipped = before - partitions.len();
        follow.extend(partitions.iter().filter(|id| resume.follow.contains(id)));
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
    let following = follow.len();
    let mut fleet = connection
        .client
        .backup_partitions(partitions)
        .follow(follow)
        .concurrency(usize::from(args.concurrency))
        .follow_busy(args.follow_busy)
        .wait_options(crate::waiting::backup_options(args))
        .each_request(each_request(args, storage));
    if !json {
        let mut notes = Vec::new();
        if tally.skipped > 0 {
            notes.push(format!(
                "{} skipped: already backed up in --resume",
                tally.skipped
            ));
        }
        if following > 0 {
            notes.push(format!(
                "{following} followed: requested by the interrupted run, never requested again"
            ));
        }
        eprintln!(
            "Backing up {} partitions, at most {} at a time{}.",
            total - tally.skipped,
            args.concurrency,
            if notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", notes.join("; "))
            }
        );
    }
    // Partitions whose `Requested` line is in the report.
    let mut recorded: HashSet<PartitionId> = HashSet::new();
    let mut live =
        (!json && std::io::stderr().is_terminal()).then(|| Live::new(total, tally.skipped));
    let interrupted = runtime.block_on(async {
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        let mut ticker = tokio::time::interval(LIVE_REFRESH);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            let event = tokio::select! {
                next = poll_fn(|cx| std::pin::Pin::new(&mut fleet).poll_next(cx)) => match next {
                    Some(outcome) => Event::Ended(outcome),
                    None => break false,
                },
                _ = ticker.tick(), if live.is_some() || report.is_some() => Event::Tick,
                Ok(()) = &mut ctrl_c => {
                    record_requested(&fleet, &mut recorded, report.as_mut());
                    break true;
                }
            };
            record_requested(&fleet, &mut recorded, report.as_mut());
            match event {
                Event::Tick => {
                    if let Some(live) = live.as_mut() {
                        live.refresh(&fleet);
                    }
                }
                Event::Ended(outcome) => {
                    let line = record(&outcome, &mut tally);
                    if let Some(file) = report.as_mut() {
                        write_line(file, &line);
                    }
                    if json {
                        println!("{line}");
                    } else if let Some(live) = live.as_mut() {
                        live.ended(&outcome, &fleet);
                    } else {
                        println!("{}", text_line(&outcome));
                    }
                }
            }
        }
    });
    if let Some(live) = live {
        live.finish();
    }
    let summary = serde_json::json!({
        "summary": {
            "total": total,
            "succeeded": tally.succeeded,
            "failed": tally.failed,
            "busy": tally.busy,
            "outcome_unknown": tally.outcome_unknown,
            "skipped": tally.skipped,
            "skipped_services": tally.skipped_services,
            "not_finished": total - tally.succeeded - tally.failed - tally.busy - tally.outcome_unknown - tally.skipped,
        }
    });
    if json {
        println!("{summary}");
    } else {
        eprintln!(
            "{} of {total} partitions backed up ({} failed, {} busy, {} with an unknown outcome, {} skipped){}.",
            tally.succeeded + tally.skipped,
            tally.failed,
            tally.busy,
            tally.outcome_unknown,
            tally.skipped,
            match tally.skipped_services {
                0 => String::new(),
                1 => "; 1 service left out".to_owned(),
                n => format!("; {n} services left out"),
            }
        );
    }
    if interrupted {
        return Err(stopped(&fleet, args.report.as_deref()));
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

/// Appends a line to the report; a report that cannot be written is worth a warning, not the loss of the run.
fn write_line(file: &mut std::fs::File, line: &serde_json::Value) {
    if writeln!(file, "{line}")
        .and_then(|()| file.flush())
        .is_err()
    {
        eprintln!("warning: could not write to --report");
    }
}

/// Records in the report every partition whose backup request may have reached the service since the last
/// look, so that `--resume` follows it instead of requesting it again.
fn record_requested(
    fleet: &FleetBackup,
    recorded: &mut HashSet<PartitionId>,
    report: Option<&mut std::fs::File>,
) {
    let Some(file) = report else {
        return;
    };
    for flight in fleet.in_flight() {
        let requested = match flight.requested {
            Some(Requested::Yes) => "yes",
            Some(Requested::Maybe) => "maybe",
            _ => continue,
        };
        if flight.followed || !recorded.insert(flight.partition_id) {
            continue;
        }
        write_line(
            file,
            &serde_json::json!({
                "partition_id": flight.partition_id.to_string(),
                "outcome": "Requested",
                "requested": requested,
                "may_have_started": true,
            }),
        );
    }
}

/// How often the live lines are redrawn.
const LIVE_REFRESH: std::time::Duration = std::time::Duration::from_millis(200);

/// What woke the loop of [`run`].
enum Event {
    Ended(PartitionOutcome),
    Tick,
}

/// On a terminal: one live line per partition in flight (its state and time so far) above an overall bar;
/// each outcome is printed above them as it ends. Elsewhere the plain lines of [`text_line`] are printed.
struct Live {
    multi: MultiProgress,
    overall: ProgressBar,
    lines: HashMap<PartitionId, ProgressBar>,
}

impl Live {
    fn new(total: usize, skipped: usize) -> Self {
        Self::with_target(total, skipped, ProgressDrawTarget::stderr())
    }

    fn with_target(total: usize, skipped: usize, target: ProgressDrawTarget) -> Self {
        let multi = MultiProgress::with_draw_target(target);
        let overall = multi.add(ProgressBar::new(total as u64));
        overall.set_style(
            ProgressStyle::with_template("[{bar:30}] {pos}/{len} partitions ({elapsed}) {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        overall.set_position(skipped as u64);
        Self {
            multi,
            overall,
            lines: HashMap::new(),
        }
    }

    /// Redraws the line of every running partition, adding lines for new ones and removing ended ones.
    fn refresh(&mut self, fleet: &FleetBackup) {
        let running = fleet.in_flight();
        self.lines.retain(|id, line| {
            let still = running.iter().any(|r| r.partition_id == *id);
            if !still {
                line.finish_and_clear();
                self.multi.remove(line);
            }
            still
        });
        for partition in running {
            let line = self.lines.entry(partition.partition_id).or_insert_with(|| {
                let line = self
                    .multi
                    .insert_before(&self.overall, ProgressBar::new_spinner());
                line.set_style(
                    ProgressStyle::with_template("  {spinner} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                line
            });
            let state = match (&partition.state, partition.requested) {
                (Some(state), _) => crate::waiting::state_text(state),
                (None, Some(Requested::Yes)) => "accepted".to_owned(),
                (None, Some(Requested::Maybe)) => "requested (no answer yet)".to_owned(),
                (None, _) if partition.followed => "following".to_owned(),
                (None, _) => "requesting".to_owned(),
            };
            line.set_message(format!(
                "{}  {state}  {:.0} s",
                partition.partition_id,
                partition.elapsed.as_secs_f64()
            ));
            line.tick();
        }
        self.overall
            .set_message(format!("{} in flight", self.lines.len()));
    }

    /// Prints the partition's outcome above the live lines and advances the overall bar.
    fn ended(&mut self, outcome: &PartitionOutcome, fleet: &FleetBackup) {
        let text = text_line(outcome);
        self.multi.suspend(|| println!("{text}"));
        self.overall.inc(1);
        self.refresh(fleet);
    }

    fn finish(self) {
        for line in self.lines.values() {
            line.finish_and_clear();
        }
        self.overall.finish_and_clear();
        let _ = self.multi.clear();
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
            } else {
                // The service said Timeout, but this request's backup was found written: no need to back up
                // again, so it counts as backed up (and `--resume` skips it).
                if error.found_backup().is_some() {
                    tally.succeeded += 1;
                } else if error.outcome_unknown() {
                    tally.outcome_unknown += 1;
                } else {
                    tally.failed += 1;
                }
                crate::failure::wait_outcome(error).1
            };
            let mut fields = serde_json::json!({
                "outcome": name,
                "kind": error.kind(),
                "code": code,
                "message": error.to_string(),
                "may_have_started": error.backup_requested() != Requested::No,
            });
            if let Some(found) = error.found_backup() {
                fields["backup_id"] = serde_json::json!(found.backup_id.map(|id| id.to_string()));
            }
            fields
        }
    };
    if let (Some(line), Some(fields)) = (line.as_object_mut(), fields.as_object()) {
        line.extend(fields.clone());
    }
    line
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
            crate::failure::wait_outcome(error).1
        ),
    }
}

/// Ctrl-C: nothing more starts; the backups already requested go on at the service, and `--resume` follows them.
fn stopped(fleet: &FleetBackup, report: Option<&Path>) -> Failure {
    let requested: Vec<String> = fleet
        .in_flight()
        .iter()
        .filter(|flight| {
            matches!(flight.requested, Some(Requested::Yes | Requested::Maybe)) || flight.followed
        })
        .map(|flight| flight.partition_id.to_string())
        .collect();
    let queued = fleet.queued().count();
    let follow = match report {
        Some(report) if !requested.is_empty() => format!(
            " They are recorded in {}: run again with --resume {} to follow them to their end (never to request \
             them again) and back up the rest",
            report.display(),
            report.display()
        ),
        Some(report) => format!(
            " Run again with --resume {} to back up the rest",
            report.display()
        ),
        None => " Follow each with `sf-backup progress <PARTITION_ID> --wait`".to_owned(),
    };
    let mut failure = Failure::new(
        Exit::Interrupted,
        "interrupted",
        format!(
            "interrupted: {} backups were requested and go on at the service ({}); {queued} partitions were not \
             started.{follow}",
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use sf_backup_testkit::{Config, Dialect, Gateway};

    use super::*;

    /// A terminal that keeps what is drawn on it.
    #[derive(Debug, Default, Clone)]
    struct Screen(Arc<Mutex<String>>);

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            160
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            let mut screen = self.0.lock().unwrap();
            screen.push_str(s);
            screen.push('\n');
            Ok(())
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().push_str(s);
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The live display draws one line per running partition with its state, and counts ended ones.
    #[tokio::test]
    async fn live_lines_show_each_partition_in_flight_and_the_overall_count() {
        for dialect in [Dialect::Service, Dialect::Documented] {
            let gateway = Gateway::start(Config {
                dialect,
                accepted_ms: Some(20),
                in_progress_ms: Some(300),
                ..Config::default()
            })
            .await
            .unwrap();
            let client = sf_backup::Client::new(gateway.url()).unwrap();
            let partitions: Vec<PartitionId> = (0..3)
                .map(|_| PartitionId::from(sf_backup::Uuid::new_v4()))
                .collect();
            let options = sf_backup::WaitOptions::new()
                .poll_interval(Duration::from_millis(10))
                .max_poll_interval(Duration::from_millis(20));
            let mut fleet = client
                .backup_partitions(partitions.clone())
                .concurrency(3)
                .wait_options(options);
            let screen = Screen::default();
            let mut live = Live::with_target(
                3,
                0,
                ProgressDrawTarget::term_like_with_hz(Box::new(screen.clone()), 100),
            );
            let mut ended = 0;
            while ended < 3 {
                match tokio::time::timeout(
                    Duration::from_millis(20),
                    poll_fn(|cx| std::pin::Pin::new(&mut fleet).poll_next(cx)),
                )
                .await
                {
                    Ok(Some(outcome)) => {
                        assert!(outcome.result.is_ok(), "{:?}", outcome.result);
                        live.ended(&outcome, &fleet);
                        ended += 1;
                    }
                    Ok(None) => break,
                    Err(_) => live.refresh(&fleet),
                }
            }
            assert_eq!(ended, 3);
            assert_eq!(live.overall.position(), 3);
            assert!(live.lines.is_empty(), "lines left for ended partitions");
            let drawn = screen.0.lock().unwrap().clone();
            for partition in &partitions {
                assert!(
                    drawn.contains(&format!("{partition}  BackupInProgress")),
                    "{partition} never shown in progress:\n{drawn}"
                );
            }
            assert!(drawn.contains("0/3 partitions"), "{drawn}");
            assert!(drawn.contains("3 in flight"), "{drawn}");
            live.finish();
        }
    }
}
