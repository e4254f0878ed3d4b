//! A request as the Backup Restore Service reads it (`BackupRestoreEndPoints/Operations/OperationBase.cs` and
//! ASP.NET Web API model binding): query values decoded, names case-insensitive, each at most once; the
//! api-version, `timeout`, `BackupTimeout` and list parameters checked; the bodies parsed with its messages.

use sf_backup_api::types::{BackupPartitionDescription, GetBackupByStorageQueryDescription};

use crate::brs::lists::ListQuery;
use crate::wire::dialect::Dialect;
use crate::wire::refusal::Refusal;

/// The query string's values, decoded.
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub(crate) fn parse(raw: &str) -> Result<Self, Refusal> {
        Ok(Query(
            form_urlencoded::parse(raw.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ))
    }

    /// The one value of `name`; query parameter names are case-insensitive at the real gateway.
    fn get(&self, name: &str) -> Result<Option<&str>, Refusal> {
        let mut values = self.0.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name));
        let first = values.next().map(|(_, v)| v.as_str());
        if values.next().is_some() {
            return Err(Refusal::invalid(format!(
                "{name} must be given at most once"
            )));
        }
        Ok(first)
    }

    /// The documented contract is exactly `6.4`; the service parses a double and takes anything from 6.4 up
    /// (`OperationBase.cs`: `doubleApiVersion >= MinApiVersion`), so `7` and `8.2` pass and `6.2-preview` fails.
    pub(crate) fn api_version(&self, dialect: Dialect) -> Result<(), Refusal> {
        match self.get("api-version")? {
            Some("6.4") => Ok(()),
            Some(other)
                if dialect.is_service() && other.trim().parse::<f64>().is_ok_and(|v| v >= 6.4) =>
            {
                Ok(())
            }
            // The service's own words (`StringResources.InvalidApiVersion`).
            _ if dialect.is_service() => Err(Refusal::invalid("Invalid API Version")),
            Some(other) => Err(Refusal::invalid(format!(
                "api-version must be \"6.4\", got {other:?}"
            ))),
            None => Err(Refusal::invalid(
                "api-version is required and must be \"6.4\"".to_owned(),
            )),
        }
    }

    pub(crate) fn timeout(&self) -> Result<(), Refusal> {
        match self.get("timeout")? {
            None => Ok(()),
            Some(raw) => match raw.parse::<u64>() {
                Ok(1..=4_294_967_295) => Ok(()),
                _ => Err(Refusal::invalid(format!(
                    "timeout must be an integer in 1..=4294967295, got {raw}"
                ))),
            },
        }
    }

    /// The list parameters. The partition list takes its date filters and `Latest` from the query; the location
    /// list from its body, so only the paging values are read here for it.
    pub(crate) fn list(&self, partition_list: bool) -> Result<ListQuery, Refusal> {
        let date = |name: &str| -> Result<Option<chrono::DateTime<chrono::Utc>>, Refusal> {
            match self.get(name)? {
                None => Ok(None),
                Some(raw) => chrono::DateTime::parse_from_rfc3339(raw)
                    .map(|time| Some(time.with_timezone(&chrono::Utc)))
                    .map_err(|e| Refusal::invalid(format!("{name} {raw:?} is not ISO 8601: {e}"))),
            }
        };
        let mut list = ListQuery::default();
        if partition_list {
            list.start = date("StartDateTimeFilter")?;
            list.end = date("EndDateTimeFilter")?;
            list.latest = match self.get("Latest")? {
                None => false,
                Some(raw) if raw.eq_ignore_ascii_case("true") => true,
                Some(raw) if raw.eq_ignore_ascii_case("false") => false,
                Some(raw) => {
                    return Err(Refusal::invalid(format!(
                        "Latest must be true or false, got {raw}"
                    )));
                }
            };
        }
        // The service binds MaxResults as a C# int.
        list.max_results = match self.get("MaxResults")? {
            None => 0,
            Some(raw) => match raw.parse::<u64>() {
                Ok(n @ 0..=2_147_483_647) => n,
                _ => {
                    return Err(Refusal::invalid(format!(
                        "MaxResults must be an integer in 0..=2147483647, got {raw}"
                    )));
                }
            },
        };
        list.token = self.get("ContinuationToken")?.map(str::to_owned);
        Ok(list)
    }

    /// Minutes, default 10, in both dialects. The service binds `[FromUri] int backupTimeout = 10`
    /// (`BackupRestoreEndPoints/Controllers/BackupPartitionController.cs`), so only a value that is not an int32
    /// is refused, and nothing checks its sign: zero or less is a deadline already passed (see `brs::backup`). The
    /// REST page documents an integer with default 10 and no bound, so the documented dialect does the same.
    pub(crate) fn backup_timeout(&self) -> Result<i32, Refusal> {
        match self.get("BackupTimeout")? {
            None => Ok(10),
            Some(raw) => raw.parse::<i32>().map_err(|_| {
                Refusal::invalid(format!(
                    "BackupTimeout must be an integer (minutes) in -2147483648..=2147483647, got {raw}"
                ))
            }),
        }
    }
}

const STORAGE_KINDS: [&str; 4] = [
    "AzureBlobStore",
    "FileShare",
    "DsmsAzureBlobStore",
    "ManagedIdentityAzureBlobStore",
];

pub(crate) fn parse_description(body: &[u8]) -> Result<BackupPartitionDescription, Refusal> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(BackupPartitionDescription::default());
    }
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        Refusal::invalid(format!("BackupPartitionDescription is not valid JSON: {e}"))
    })?;
    let Some(object) = value.as_object() else {
        return Err(Refusal::invalid(
            "BackupPartitionDescription must be a JSON object".to_owned(),
        ));
    };
    // Checked by hand first because serde's messages for an internally tagged enum do not name the tag field.
    if let Some(storage) = object.get("BackupStorage").filter(|s| !s.is_null()) {
        let Some(storage) = storage.as_object() else {
            return Err(Refusal::invalid(
                "BackupStorage must be a JSON object".to_owned(),
            ));
        };
        match storage.get("StorageKind") {
            None => {
                return Err(Refusal::invalid(
                    "BackupStorage.StorageKind is required".to_owned(),
                ));
            }
            Some(serde_json::Value::String(kind)) if STORAGE_KINDS.contains(&kind.as_str()) => {}
            Some(other) => {
                return Err(Refusal::invalid(format!(
                    "BackupStorage.StorageKind must be one of {}, got {other}",
                    STORAGE_KINDS.join(", ")
                )));
            }
        }
    }
    serde_json::from_value(value)
        .map_err(|e| Refusal::invalid(format!("BackupStorage is invalid: {e}")))
}

/// The body of GetBackupsFromBackupLocation, with the service's messages for a missing or unknown `EntityKind`
/// (`BackupEntityConverter.ReadJson`, case-sensitive).
pub(crate) fn parse_list_description(
    body: &[u8],
) -> Result<GetBackupByStorageQueryDescription, Refusal> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        Refusal::invalid(format!(
            "GetBackupByStorageQueryDescription is not valid JSON: {e}"
        ))
    })?;
    let entity = value.get("BackupEntity").filter(|e| !e.is_null());
    match entity.and_then(|e| e.get("EntityKind")) {
        None if entity.is_some() => {
            return Err(Refusal::invalid("EntityKind is Required".to_owned()));
        }
        Some(serde_json::Value::String(kind))
            if !["Application", "Service", "Partition"].contains(&kind.as_str()) =>
        {
            return Err(Refusal::invalid(format!(
                "Invalid Backup Entitiy Type {kind}"
            )));
        }
        _ => {}
    }
    serde_json::from_value(value).map_err(|e| {
        Refusal::invalid(format!(
            "GetBackupByStorageQueryDescription is invalid: {e}"
        ))
    })
}
