//! `sf-backup backups`: every page of a partition's backup list, printed as it arrives.

use std::future::poll_fn;
use std::io::Write as _;
use std::pin::Pin;
use std::process::ExitCode;
use std::time::Duration;

use futures_core::Stream;
use sf_backup::list::{BackupEntity, BackupInfo};
use sf_backup::{BackupStorage, Client};

use crate::cli::BackupsArgs;
use crate::failure::Failure;
use crate::redact::Redactor;

/// The text table's header; one row per backup follows.
pub const HEADER: &str =
    "CREATED (UTC)         BACKUP ID                             TYPE         LSN         LOCATION";

/// One text row.
pub fn row(backup: &BackupInfo) -> String {
    let or_dash = |value: Option<String>| value.unwrap_or_else(|| "-".to_owned());
    format!(
        "{:<21} {:<37} {:<12} {:<11} {}",
        or_dash(
            backup
                .creation_time_utc
                .map(|time| time.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        ),
        or_dash(backup.backup_id.map(|id| id.to_string())),
        or_dash(backup.backup_type.as_ref().map(ToString::to_string)),
        or_dash(backup.lsn.map(|lsn| lsn.to_string())),
        or_dash(backup.backup_location.clone()),
    )
}

/// Refuses, before connecting, a storage given without `--service-name`.
pub fn check(args: &BackupsArgs, storage: Option<&BackupStorage>) -> Result<(), Failure> {
    if storage.is_some() && args.service_name.is_none() {
        return Err(Failure::invalid(
            "listing a storage given with the storage options needs --service-name (the partition's \
             service, such as fabric:/App/Service), which names the partition's folder there",
        ));
    }
    Ok(())
}

/// Lists and prints; the storage, when given, was validated and [`check`]ed.
pub fn run(
    client: &Client,
    args: &BackupsArgs,
    storage: Option<BackupStorage>,
    json: bool,
    redact: &Redactor,
) -> Result<ExitCode, Failure> {
    let mut list = match storage {
        None => client.list_backups(args.partition_id),
        Some(storage) => client.list_backups_in(
            storage,
            BackupEntity::partition(
                args.service_name.clone().unwrap_or_default(),
                args.partition_id,
            ),
        ),
    };
    if let Some(since) = args.since {
        list = list.since(since);
    }
    if let Some(until) = args.until {
        list = list.until(until);
    }
    if args.latest {
        list = list.latest();
    }
    if let Some(size) = args.page_size {
        list = list.page_size(size);
    }
    if let Some(seconds) = args.server_timeout {
        list = list.server_timeout(Duration::from_secs(seconds));
    }
    crate::connection::runtime()?.block_on(async {
        let mut stream = list.stream();
        let mut stdout = std::io::stdout().lock();
        let mut count = 0usize;
        let mut listing_errors = Vec::new();
        if !json {
            let _ = writeln!(stdout, "{HEADER}");
        }
        while let Some(item) = poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await {
            match item {
                Ok(backup) => {
                    count += 1;
                    let line = if json {
                        serde_json::to_string(&backup).unwrap_or_default()
                    } else {
                        row(&backup)
                    };
                    let _ = writeln!(stdout, "{line}");
                }
                // The service could not enumerate (part of) the storage: say so, keep the rest.
                Err(error @ sf_backup::Error::ListingFailed { .. }) => {
                    if !json {
                        eprintln!("warning: {}", redact.apply(&error.to_string()));
                    }
                    listing_errors.push(error);
                }
                Err(error) => return Err(Failure::from(error)),
            }
        }
        let _ = stdout.flush();
        if let Some(error) = listing_errors.into_iter().next() {
            return Err(Failure::from(error));
        }
        if !json {
            eprintln!("{count} backup(s)");
        }
        Ok(ExitCode::SUCCESS)
    })
}
