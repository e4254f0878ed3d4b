//! The journal: every request as it reached the gateway, and every backup the fake service wrote to storage;
//! what tests read back to check what a client sent and what the service did.

use chrono::{DateTime, Utc};
use sf_backup_api::types::{BackupStorageDescription, Epoch};
use uuid::Uuid;

use crate::gateway::routes::operation_of;
use crate::wire::operation::Operation;

/// One request as it reached the gateway.
///
/// Its `Debug` output, which ends up in test logs and CI output, shows the `Authorization`, `Proxy-Authorization`
/// and `Cookie` header values and the secret body fields (`ConnectionString`, `PrimaryPassword`,
/// `SecondaryPassword`, at any depth) as `<redacted>`, and a body that is not JSON only by its length. Tests that
/// assert on those values read them deliberately: through the fields, [`RecordedRequest::header`] or
/// [`RecordedRequest::body_json`].
#[derive(Clone)]
pub struct RecordedRequest {
    /// The method, e.g. `POST`.
    pub method: String,
    /// The request target exactly as received, query included (e.g. `/Partitions/…/$/Backup?api-version=6.4`).
    pub target: String,
    /// The headers in arrival order; names are lower-case.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON, if it is JSON.
    pub fn body_json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The operation the request addressed, as the gateway routed it; `None` for a path no operation has, or a
    /// method its operation does not take.
    pub fn operation(&self) -> Option<Operation> {
        let path = self.target.split('?').next().unwrap_or_default();
        operation_of(&self.method, path)
    }
}

/// Headers whose values are credentials.
const SECRET_HEADERS: [&str; 3] = ["authorization", "proxy-authorization", "cookie"];

/// Body fields of a `BackupStorageDescription` whose values are secrets.
const SECRET_FIELDS: [&str; 3] = ["ConnectionString", "PrimaryPassword", "SecondaryPassword"];

const REDACTED: &str = "<redacted>";

impl std::fmt::Debug for RecordedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, value)| {
                let secret = SECRET_HEADERS
                    .iter()
                    .any(|secret| name.eq_ignore_ascii_case(secret));
                (
                    name.as_str(),
                    if secret { REDACTED } else { value.as_str() },
                )
            })
            .collect();
        let body = if self.body.is_empty() {
            String::new()
        } else {
            match self.body_json() {
                Some(mut json) => {
                    redact_secret_fields(&mut json);
                    json.to_string()
                }
                // Not JSON, so its secrets cannot be told apart from the rest: only the size is safe to show.
                None => format!("<{} bytes, not JSON>", self.body.len()),
            }
        };
        f.debug_struct("RecordedRequest")
            .field("method", &self.method)
            .field("target", &self.target)
            .field("headers", &headers)
            .field("body", &body)
            .finish()
    }
}

/// Replaces the value of every secret field, wherever it sits (the service reads names case-insensitively).
fn redact_secret_fields(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(object) => {
            for (key, inner) in object.iter_mut() {
                if SECRET_FIELDS
                    .iter()
                    .any(|secret| key.eq_ignore_ascii_case(secret))
                {
                    *inner = serde_json::Value::String(REDACTED.to_owned());
                } else {
                    redact_secret_fields(inner);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_secret_fields),
        _ => {}
    }
}

/// A backup the fake service wrote to storage.
#[derive(Clone, Debug, PartialEq)]
pub struct WrittenBackup {
    /// The partition backed up.
    pub partition_id: Uuid,
    /// The backup's id, as progress reports it on success.
    pub backup_id: Uuid,
    /// The backup's location, relative to the storage root.
    pub location: String,
    /// The storage the request named; `None` means the partition's backup policy's storage.
    pub storage: Option<BackupStorageDescription>,
    /// The LSN of the last backup record.
    pub lsn: String,
    /// The epoch of the last backup record.
    pub epoch: Epoch,
    /// When the backup was written.
    pub time_stamp_utc: DateTime<Utc>,
    /// Whether progress reported `Timeout` for it although it was written.
    pub reported_timeout: bool,
}
