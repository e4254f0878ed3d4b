//! `sf-backup progress`: one progress read, or with `--wait` a follow of the partition's current backup.

use std::process::ExitCode;
use std::time::Duration;

use crate::cli::ProgressArgs;
use crate::connection::Connection;
use crate::failure::{Exit, Failure};
use crate::{output, waiting};

/// Reads (or follows) the partition's backup progress and prints it.
pub fn run(connection: &Connection, args: &ProgressArgs, json: bool) -> Result<ExitCode, Failure> {
    let runtime = crate::connection::runtime()?;
    if args.wait {
        let subject = waiting::Subject::new(connection, args.partition_id);
        let wait = connection
            .client
            .follow_backup(args.partition_id, waiting::options(&args.waiting));
        return runtime
            .block_on(waiting::wait(wait, &subject, json))
            .print(json);
    }
    let mut request = connection.client.backup_progress(args.partition_id);
    if let Some(seconds) = args.server_timeout {
        request = request.server_timeout(Duration::from_secs(seconds));
    }
    let progress = runtime.block_on(request.send())?;
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
