//! `sf-backup`: back up a Service Fabric partition and follow its progress from the command line.
//!
//! Run `sf-backup --help` for the commands, options and exit codes, or try it without a cluster:
//! `cargo run -p sf-backup-cli -- --testkit backup 1daae3f5-7fd6-42e9-b1ba-8c05f873994d --wait`.
#![forbid(unsafe_code)]

mod cli;
mod connection;
mod failure;
mod fleet;
mod listing;
mod output;
mod storage;
mod waiting;

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgMatches, FromArgMatches};
use sf_backup::{PartitionId, WaitOptions};

#[cfg(feature = "testkit")]
use crate::cli::TestkitArgs;
use crate::cli::{BackupArgs, Cli, Command, OutputFormat, ProgressArgs};
use crate::failure::{Exit, Failure, Redactor};

/// The flags whose values are secrets, so that they can be removed from anything printed, clap's errors included.
const SECRET_FLAGS: [&str; 3] = [
    "--connection-string",
    "--primary-password",
    "--secondary-password",
];
const SECRET_ENV: [&str; 4] = [
    "SF_BACKUP_CONNECTION_STRING",
    "SF_BACKUP_PRIMARY_PASSWORD",
    "SF_BACKUP_SECONDARY_PASSWORD",
    "SF_PFX_PASSWORD",
];

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let mut redact = known_secrets(&args);
    let matches = match cli::command().try_get_matches_from(&args) {
        Ok(matches) => matches,
        Err(error) => return usage_error(&error, wants_json(&args), &redact),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => return usage_error(&error, wants_json(&args), &redact),
    };
    let json = cli.connection.output == OutputFormat::Json;
    match run(cli, &matches, &mut redact) {
        Ok(exit) => exit,
        Err(failure) => {
            failure.report(json, &redact);
            failure.exit.into()
        }
    }
}

fn run(cli: Cli, matches: &ArgMatches, redact: &mut Redactor) -> Result<ExitCode, Failure> {
    let json = cli.connection.output == OutputFormat::Json;
    let (name, sub) = matches.subcommand().expect("clap requires a subcommand");
    let on_command_line = |id: &str| {
        [Some(matches), Some(sub)]
            .into_iter()
            .flatten()
            // `value_source` panics on an id the matches do not define; `ids` lists only defined, present ones.
            .any(|m| {
                m.ids().any(|known| known == id)
                    && m.value_source(id) == Some(ValueSource::CommandLine)
            })
    };
    debug_assert!(matches!(
        name,
        "backup" | "backups" | "progress" | "testkit"
    ));
    match cli.command {
        #[cfg(feature = "testkit")]
        Command::Testkit(args) => run_testkit(&args, json),
        Command::Backup(args) => {
            args.ambiguous.refuse(true)?;
            let storage = storage::storage(&args.storage, on_command_line, redact)?;
            if let Some(storage) = &storage {
                storage.validate()?;
            }
            let plan = fleet::plan(&args)?;
            connection::check(&cli.connection, on_command_line("endpoint"))?;
            let connection = connection::connect(&cli.connection, !json, redact)?;
            match plan {
                fleet::Plan::Single(partition_id) => {
                    backup(&connection, &args, partition_id, storage, json)
                }
                fleet::Plan::Fleet(partitions) => {
                    fleet::run(&connection, &args, partitions, storage, json)
                }
            }
        }
        Command::Backups(args) => {
            args.ambiguous.refuse(false)?;
            let storage = storage::storage(&args.storage, on_command_line, redact)?;
            if let Some(storage) = &storage {
                storage.validate()?;
            }
            if storage.is_some() && args.service_name.is_none() {
                return Err(Failure::invalid(
                    "listing a storage given with the storage options needs --service-name (the partition's \
                     service, such as fabric:/App/Service), which names the partition's folder there",
                ));
            }
            connection::check(&cli.connection, on_command_line("endpoint"))?;
            let connection = connection::connect(&cli.connection, !json, redact)?;
            listing::backups(&connection.client, &args, storage, json, redact)
        }
        Command::Progress(args) => {
            args.ambiguous.refuse(false)?;
            connection::check(&cli.connection, on_command_line("endpoint"))?;
            let connection = connection::connect(&cli.connection, !json, redact)?;
            progress(&connection, &args, json)
        }
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| Failure::new(Exit::Other, "runtime", format!("cannot start: {error}")))
}

fn backup(
    connection: &connection::Connection,
    args: &BackupArgs,
    partition_id: PartitionId,
    storage: Option<sf_backup::BackupStorage>,
    json: bool,
) -> Result<ExitCode, Failure> {
    let storage_kind = storage.as_ref().map(sf_backup::BackupStorage::kind);
    let request =
        fleet::each_request(args, storage)(connection.client.backup_partition(partition_id));
    let runtime = runtime()?;
    if args.wait {
        let options = backup_wait_options(args);
        let subject = subject(connection, partition_id);
        let outcome = runtime.block_on(waiting::wait(request.wait(options), &subject, json));
        return print_outcome(outcome, json);
    }
    runtime
        .block_on(request.send())
        .map_err(Failure::from_backup_request)?;
    if json {
        println!("{}", output::accepted_json(partition_id, storage_kind));
    } else {
        print!(
            "{}",
            output::accepted_text(partition_id, storage_kind, connection.testkit.is_none())
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn progress(
    connection: &connection::Connection,
    args: &ProgressArgs,
    json: bool,
) -> Result<ExitCode, Failure> {
    let mut request = connection.client.backup_progress(args.partition_id);
    if let Some(seconds) = args.server_timeout {
        request = request.server_timeout(Duration::from_secs(seconds));
    }
    if args.wait {
        let options = wait_options(&args.waiting);
        let subject = subject(connection, args.partition_id);
        let wait = connection.client.follow_backup(args.partition_id, options);
        let outcome = runtime()?.block_on(waiting::wait(wait, &subject, json));
        return print_outcome(outcome, json);
    }
    let progress = runtime()?.block_on(request.send())?;
    if json {
        let wire = serde_json::to_string(&progress).map_err(|error| {
            Failure::new(Exit::Other, "output", format!("cannot write JSON: {error}"))
        })?;
        println!("{wire}");
    } else {
        print!("{}", output::progress_text(&progress));
    }
    Ok(ExitCode::SUCCESS)
}

/// The wait options of `backup --wait`, for one partition or many: the polling flags and what to do after the
/// service reports Timeout.
pub(crate) fn backup_wait_options(args: &BackupArgs) -> WaitOptions {
    let mut options = wait_options(&args.waiting);
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

pub(crate) fn wait_options(waiting: &cli::WaitArgs) -> WaitOptions {
    let mut options = WaitOptions::new();
    if let Some(interval) = waiting.poll_interval {
        // An explicit interval is kept fixed: whoever sets it expects reads that far apart, not a growing pause.
        options = options.poll_interval(interval).max_poll_interval(interval);
    }
    if let Some(timeout) = waiting.wait_timeout {
        options = options.wait_timeout(timeout);
    }
    options
}

fn subject(connection: &connection::Connection, partition_id: PartitionId) -> waiting::Subject {
    waiting::Subject {
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

fn print_outcome(outcome: waiting::Outcome, json: bool) -> Result<ExitCode, Failure> {
    if json {
        if let Some(object) = &outcome.json {
            println!("{object}");
        }
    } else if let Some(text) = &outcome.text {
        print!("{text}");
    }
    outcome.result.map(|_| ExitCode::SUCCESS)
}

#[cfg(feature = "testkit")]
fn run_testkit(args: &TestkitArgs, json: bool) -> Result<ExitCode, Failure> {
    let mut config = match &args.config {
        None => sf_backup_testkit::Config::default(),
        Some(path) => {
            let text = std::fs::read(path).map_err(|error| {
                Failure::invalid(format!("cannot read --config {}: {error}", path.display()))
            })?;
            serde_json::from_slice(&text).map_err(|error| {
                Failure::invalid(format!("--config {}: {error}", path.display()))
            })?
        }
    };
    if let Some(dialect) = args.dialect {
        config.dialect = dialect;
    }
    // The real gateway's port, so the documented URLs work against the fake.
    config.listen = args
        .listen
        .or(config.listen)
        .or(Some(std::net::SocketAddr::from(([127, 0, 0, 1], 19080))));
    runtime()?.block_on(async {
        let gateway = sf_backup_testkit::Gateway::start(config)
            .await
            .map_err(|error| {
                Failure::new(Exit::Other, "testkit", format!("cannot listen: {error}"))
            })?;
        if json {
            println!("{}", serde_json::json!({ "Url": gateway.url() }));
        } else {
            println!(
                "sf-backup testkit listening on {} (Ctrl-C stops it)",
                gateway.url()
            );
        }
        // An error here means no signal handler could be installed; stopping right away is the only option.
        let _ = tokio::signal::ctrl_c().await;
        gateway.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}

/// Secret values from the command line and the environment, gathered before clap runs: clap's own error
/// messages may quote arguments.
fn known_secrets(args: &[OsString]) -> Redactor {
    let mut redact = Redactor::default();
    let mut next_is_secret = false;
    for arg in args.iter().filter_map(|arg| arg.to_str()) {
        if std::mem::take(&mut next_is_secret) {
            redact.add(arg);
            continue;
        }
        for flag in SECRET_FLAGS {
            if arg == flag {
                next_is_secret = true;
            } else if let Some(value) = arg
                .strip_prefix(flag)
                .and_then(|rest| rest.strip_prefix('='))
            {
                redact.add(value);
            }
        }
    }
    for var in SECRET_ENV {
        if let Ok(value) = std::env::var(var) {
            redact.add(&value);
        }
    }
    redact
}

/// Whether `--output json` was asked for, read from the raw arguments because clap failed to parse them.
fn wants_json(args: &[OsString]) -> bool {
    args.iter()
        .zip(args.iter().skip(1).map(Some).chain([None]))
        .any(|(arg, next)| {
            arg == "--output=json" || (arg == "--output" && next.is_some_and(|next| next == "json"))
        })
}

fn usage_error(error: &clap::Error, json: bool, redact: &Redactor) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        // Help and version go to stdout with exit code 0; nothing there can hold a secret.
        let _ = error.print();
        return ExitCode::SUCCESS;
    }
    let text = error.render().to_string();
    if json {
        let failure = Failure::invalid(text.trim().to_owned());
        failure.report(true, redact);
    } else {
        eprint!("{}", redact.apply(&text));
    }
    Exit::InvalidInput.into()
}
