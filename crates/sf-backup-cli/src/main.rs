//! `sf-backup`: back up a Service Fabric partition and follow its progress from the command line.
//!
//! Run `sf-backup --help` for the commands, options and exit codes, or try it without a cluster:
//! `cargo run -p sf-backup-cli -- --testkit backup 1daae3f5-7fd6-42e9-b1ba-8c05f873994d --wait`.
//!
//! A run is parse → connect → dispatch: everything that can be checked without the cluster is checked first
//! (so a refusal sends nothing), then the client is built once, then one module of `commands` runs.
#![forbid(unsafe_code)]

mod cli;
mod commands;
mod connection;
mod failure;
mod fleet;
mod output;
mod redact;
mod storage;
mod tls_words;
mod waiting;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{ArgMatches, FromArgMatches};

use crate::cli::{BackupArgs, BackupsArgs, Cli, Command, OutputFormat, ProgressArgs};
use crate::failure::Failure;
use crate::redact::Redactor;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let mut redact = redact::known_secrets(&args);
    let parsed = cli::command()
        .try_get_matches_from(&args)
        .and_then(|matches| Ok((Cli::from_arg_matches(&matches)?, matches)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => return failure::usage_error(&error, &args, &redact),
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

/// A command checked before connecting, with what the checks produced.
enum Checked {
    Backup(Box<BackupArgs>, fleet::Plan),
    Backups(Box<BackupsArgs>),
    Progress(ProgressArgs),
}

fn run(cli: Cli, matches: &ArgMatches, redact: &mut Redactor) -> Result<ExitCode, Failure> {
    let json = cli.connection.output == OutputFormat::Json;
    // Whether an option was a flag (clap counts an environment value as given, too).
    let on_command_line = |id: &str| {
        [Some(matches), matches.subcommand().map(|(_, sub)| sub)]
            .into_iter()
            .flatten()
            // `value_source` panics on an id the matches do not define; `ids` lists only defined, present ones.
            .any(|m| {
                m.ids().any(|known| known == id)
                    && m.value_source(id) == Some(ValueSource::CommandLine)
            })
    };

    // Parse: every check that needs no cluster.
    let storage_args = match &cli.command {
        #[cfg(feature = "testkit")]
        Command::Testkit(args) => return commands::testkit::run(args, json),
        Command::Backup(args) => {
            args.ambiguous.refuse(true)?;
            Some(&args.storage)
        }
        Command::Backups(args) => {
            args.ambiguous.refuse(false)?;
            Some(&args.storage)
        }
        Command::Progress(args) => {
            args.ambiguous.refuse(false)?;
            None
        }
    };
    let storage = match storage_args {
        Some(args) => storage::storage(args, on_command_line, redact)?,
        None => None,
    };
    if let Some(storage) = &storage {
        storage.validate()?;
    }
    let checked = match cli.command {
        #[cfg(feature = "testkit")]
        Command::Testkit(_) => unreachable!("run above"),
        Command::Backup(args) => {
            let plan = fleet::plan(&args)?;
            Checked::Backup(args, plan)
        }
        Command::Backups(args) => {
            commands::backups::check(&args, storage.as_ref())?;
            Checked::Backups(args)
        }
        Command::Progress(args) => Checked::Progress(args),
    };

    // Connect.
    connection::check(&cli.connection, on_command_line("endpoint"))?;
    let connection = connection::connect(&cli.connection, !json, redact)?;

    // Dispatch.
    match checked {
        Checked::Backup(args, plan) => {
            commands::backup::run(&connection, &args, plan, storage, json)
        }
        Checked::Backups(args) => {
            commands::backups::run(&connection.client, &args, storage, json, redact)
        }
        Checked::Progress(args) => commands::progress::run(&connection, &args, json),
    }
}
