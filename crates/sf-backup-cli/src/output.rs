//! What a successful command prints on stdout.

use std::fmt::Write as _;

use sf_backup::{BackupProgress, BackupState, PartitionId};

/// Progress as readable lines; only the fields the service filled in.
pub fn progress_text(progress: &BackupProgress) -> String {
    let mut text = String::new();
    if progress.state == BackupState::NotRequested {
        return "State:          no backup requested yet (the service has no on-demand backup of this partition \
                on record)\n"
            .to_owned();
    }
    let mut line = |label: &str, value: &dyn std::fmt::Display| {
        // Writing to a String cannot fail.
        let _ = writeln!(text, "{label:<16}{value}");
    };
    let nothing_else = progress.backup_id.is_none()
        && progress.time_stamp_utc.is_none()
        && progress.backup_location.is_none()
        && progress.failure.is_none();
    if progress.state == BackupState::Invalid && nothing_else {
        line(
            "State:",
            &"Invalid (no backup requested yet, or none the service knows of)",
        );
        return text;
    }
    line("State:", &progress.state);
    if let Some(id) = &progress.backup_id {
        line("Backup id:", id);
    }
    if let Some(location) = &progress.backup_location {
        line("Location:", location);
    }
    if let Some(time) = &progress.time_stamp_utc {
        line("Time (UTC):", &time.to_rfc3339());
    }
    if let Some(epoch) = &progress.epoch {
        line(
            "Epoch:",
            &format!(
                "data loss version {}, configuration version {}",
                epoch.data_loss_version, epoch.configuration_version
            ),
        );
    }
    if let Some(lsn) = &progress.lsn {
        line("LSN:", lsn);
    }
    if let Some(failure) = &progress.failure {
        line("Failure:", failure);
    }
    text
}

/// The JSON object of an accepted backup request.
pub fn accepted_json(partition_id: PartitionId, storage_kind: Option<&str>) -> serde_json::Value {
    serde_json::json!({
        "partition_id": partition_id.to_string(),
        "accepted": true,
        // null: the storage of the partition's backup policy.
        "storage_kind": storage_kind,
    })
}

/// The text of an accepted backup request. `hint` suggests the progress command, which is pointless when the
/// embedded gateway ends with this process.
pub fn accepted_text(partition_id: PartitionId, storage_kind: Option<&str>, hint: bool) -> String {
    let storage = match storage_kind {
        Some(kind) => format!("to the given {kind} storage"),
        None => "to the storage of the partition's backup policy".to_owned(),
    };
    let mut text = format!("Backup of partition {partition_id} accepted ({storage}).\n");
    if hint {
        text.push_str(&format!(
            "Follow it with: sf-backup progress {partition_id}\n"
        ));
    }
    text
}
