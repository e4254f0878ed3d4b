//! The two backup lists as the Backup Restore Service computes them (`BackupRestoreEndPoints/Operations/
//! GetRestorePointsOperation.cs`, `BackupRestoreCommon/BackupStorage.cs`, the recovery point stores): a backup
//! is listed iff its metadata file is in `<App>/<Service>/<PartitionId>` of the storage read; the date filters
//! compare the file name's time (whole seconds), both ends inclusive; Latest keeps the newest per partition;
//! items come grouped by partition, oldest first. The service dialect also has its quirks: `MaxResults` with no
//! match is 400 "Index was out of range", and `Latest` with `MaxResults` returns the *oldest* backup.

use chrono::{DateTime, Utc};
use sf_backup_api::types::BackupEntity;

use crate::brs::store::whole_seconds;
use crate::wire::dialect::Dialect;
use crate::wire::lists::{Listed, invalid_token, page_body, token_key};
use crate::wire::refusal::Refusal;

/// The query values both lists take.
#[derive(Debug, Default)]
pub(crate) struct ListQuery {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub latest: bool,
    pub max_results: u64,
    pub token: Option<String>,
}

/// What the service's paged branch ends in when nothing matches: `restorePoints[0] = …` on an empty list, an
/// `ArgumentOutOfRangeException` that `BaseController` maps to 400 `E_INVALIDARG`.
fn index_out_of_range() -> Refusal {
    Refusal::invalid(
        "Index was out of range. Must be non-negative and less than the size of the collection.\r\n\
         Parameter name: index",
    )
}

/// Whether `entry` is under `entity`'s folder.
pub(crate) fn under(entity: &BackupEntity, entry: &Listed) -> bool {
    let app = format!("fabric:/{}", entry.application);
    let svc = format!("fabric:/{}/{}", entry.application, entry.service);
    match entity {
        BackupEntity::Application { application_name } => *application_name == app,
        BackupEntity::Service { service_name } => *service_name == svc,
        BackupEntity::Partition {
            service_name,
            partition_id,
        } => *service_name == svc && *partition_id == entry.partition_id,
        // An entity kind a later spec adds: nothing of this gateway is under it.
        _ => false,
    }
}

/// One page of `entries` (already those of the storage and entity asked for) under `query`; `partition_list`
/// says it is GetPartitionBackupList, whose service tokens carry the storage's id.
pub(crate) fn page(
    mut entries: Vec<Listed>,
    query: &ListQuery,
    dialect: Dialect,
    page_cap: usize,
    partition_list: bool,
) -> Result<Vec<u8>, Refusal> {
    let service = dialect.is_service();
    // Blob listing order: by partition, then by the file name's time.
    entries.sort_by(|a, b| {
        (a.partition_id, a.created, a.sequence).cmp(&(b.partition_id, b.created, b.sequence))
    });
    entries.retain(|entry| {
        query
            .start
            .is_none_or(|start| entry.created >= whole_seconds(start))
            && query.end.is_none_or(|end| entry.created <= end)
    });
    if query.latest {
        let mut kept: Vec<Listed> = Vec::new();
        for entry in entries {
            match kept.last_mut() {
                Some(last) if last.partition_id == entry.partition_id => {
                    // The service, with MaxResults, stops at the first file of each partition: the oldest.
                    if !(service && query.max_results > 0) {
                        *last = entry;
                    }
                }
                _ => kept.push(entry),
            }
        }
        entries = kept;
    }
    if entries.is_empty() && query.max_results > 0 && service {
        return Err(index_out_of_range());
    }
    let start = match query.token.as_deref().filter(|token| !token.is_empty()) {
        None => 0,
        Some(token) => {
            let key = token_key(dialect, token, partition_list)?;
            match entries.iter().rposition(|entry| entry.key(dialect) == key) {
                Some(position) => position + 1,
                None => return Err(invalid_token(token)),
            }
        }
    };
    let size = if query.max_results > 0 {
        usize::try_from(query.max_results).unwrap_or(usize::MAX)
    } else {
        page_cap.max(1)
    };
    let end = start.saturating_add(size).min(entries.len());
    let items = &entries[start.min(end)..end];
    let more = end < entries.len();
    Ok(page_body(dialect, items, more, partition_list))
}
