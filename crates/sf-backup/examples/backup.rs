//! Starts a backup of a partition and polls its progress until it ends.
//!
//! ```text
//! cargo run -p sf-backup --example backup -- <partition-id> [endpoint]
//! ```
//!
//! Set `STORAGE_CONNECTION_STRING` (and optionally `STORAGE_CONTAINER`) to back up to an Azure blob container;
//! without it the partition's backup policy decides where the backup goes.

use std::time::Duration;

use sf_backup::{BackupStorage, Client, PartitionId};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let id: PartitionId = args
        .next()
        .ok_or("usage: backup <partition-id> [endpoint]")?
        .parse()?;
    let endpoint = args
        .next()
        .unwrap_or_else(|| sf_backup::DEFAULT_ENDPOINT.to_owned());
    let client = Client::new(endpoint)?;

    let mut request = client
        .backup_partition(id)
        .backup_timeout(Duration::from_secs(15 * 60));
    if let Ok(connection_string) = std::env::var("STORAGE_CONNECTION_STRING") {
        let container =
            std::env::var("STORAGE_CONTAINER").unwrap_or_else(|_| "BackupContainer".to_owned());
        request = request.storage(BackupStorage::azure_blob_store(
            connection_string,
            container,
        ));
    }
    match request.await {
        Ok(()) => println!("backup of {id} accepted"),
        Err(error) if error.is_backup_in_progress() => {
            println!("a backup of {id} is already running; following it")
        }
        Err(error) => return Err(error.into()),
    }

    loop {
        let progress = client.backup_progress(id).await?;
        println!("{}", progress.state);
        if progress.state.is_terminal() {
            if let Some(failure) = &progress.failure {
                println!("failure: {failure}");
            }
            if let Some(location) = &progress.backup_location {
                println!("written to {location} (backup id {:?})", progress.backup_id);
            }
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}
