//! `sf-backup backup`: one partition (the request, and with `--wait` its wait), or several through the fleet.

use std::process::ExitCode;

use sf_backup::{BackupStorage, PartitionId};

use crate::cli::BackupArgs;
use crate::connection::Connection;
use crate::failure::Failure;
use crate::fleet::{self, Plan};
use crate::{output, waiting};

/// Backs up what `plan` names.
pub fn run(
    connection: &Connection,
    args: &BackupArgs,
    plan: Plan,
    storage: Option<BackupStorage>,
    json: bool,
) -> Result<ExitCode, Failure> {
    match plan {
        Plan::Single(partition_id) => single(connection, args, partition_id, storage, json),
        Plan::Fleet(partitions) => fleet::run(connection, args, partitions, storage, json),
    }
}

fn single(
    connection: &Connection,
    args: &BackupArgs,
    partition_id: PartitionId,
    storage: Option<BackupStorage>,
    json: bool,
) -> Result<ExitCode, Failure> {
    let storage_kind = storage.as_ref().map(BackupStorage::kind);
    let request =
        fleet::each_request(args, storage)(connection.client.backup_partition(partition_id));
    let runtime = crate::connection::runtime()?;
    if args.wait {
        let subject = waiting::Subject::new(connection, partition_id);
        let outcome = runtime.block_on(waiting::wait(
            request.wait(crate::waiting::backup_options(args)),
            &subject,
            json,
        ));
        return outcome.print(json);
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
