//! The two dialects a gateway speaks, and the small facts (time precision, path separator) that differ between
//! them outside any one body.

use std::fmt;

use chrono::{DateTime, Timelike, Utc};
use serde::Deserialize;

/// The shapes a gateway answers with.
///
/// The REST page and the spec describe one set of shapes; the Backup Restore Service's code sends another (read
/// from its source, `src/prod/src/managed/FabricBRS`). A client must handle both, so every behaviour test runs
/// against both; see the crate's README for one example answer per state.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    /// What the service's code sends: progress `null` before any on-demand backup; every progress field written,
    /// with placeholders (year-1 time, nil id, `null`s, LSN `0`) where there is no value; the LSN as a JSON number;
    /// time stamps in whole seconds from the partition's node clock; Failure and Timeout without a time stamp;
    /// an undefined error code as an integer; error bodies labelled `text/plain`; any api-version from 6.4 up.
    #[default]
    Service,
    /// What the REST page documents: progress `{"BackupState":"Invalid"}` before any backup; only the fields that
    /// have a value; the LSN and epoch as strings; time stamps with fractions; error bodies as
    /// `application/json`; api-version exactly `6.4`.
    Documented,
}

impl Dialect {
    /// Both dialects, for tests that must pass against each.
    pub const ALL: [Dialect; 2] = [Dialect::Service, Dialect::Documented];

    /// `service` or `documented`, as in the JSON config and the binary's `--dialect` flag.
    pub fn name(self) -> &'static str {
        self.pick("service", "documented")
    }

    /// `service` in the [service's dialect](Dialect::Service), `documented` in the
    /// [documented one](Dialect::Documented): how a test states what it expects of each, e.g.
    /// `dialect.pick("text/plain; charset=utf-8", "application/json; charset=utf-8")`. A dialect added later gets
    /// the documented value until its own is written.
    pub fn pick<T>(self, service: T, documented: T) -> T {
        match self {
            Dialect::Service => service,
            Dialect::Documented => documented,
        }
    }

    /// Whether this is the [service's dialect](Dialect::Service).
    pub(crate) fn is_service(self) -> bool {
        self == Dialect::Service
    }

    /// A time as this dialect writes it: whole seconds from the service, whose `DateTimeJsonConverter` writes
    /// `yyyy-MM-dd'T'HH:mm:ssZ` (`BackupRestoreTypes/JsonConverter/DateTimeJsonConverter.cs`); as it is in the
    /// documented one.
    pub(crate) fn time(self, at: DateTime<Utc>) -> DateTime<Utc> {
        self.pick(at.with_nanosecond(0).unwrap_or(at), at)
    }

    /// The separator of a `BackupLocation`: the service's replicas write Windows paths (`Path.Combine` in
    /// `BackupRestoreManager.GetBackupRelativePath`); the REST page shows none, so the documented dialect keeps `/`.
    pub(crate) fn path_separator(self) -> char {
        self.pick('\\', '/')
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Dialect {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Dialect::ALL
            .into_iter()
            .find(|d| d.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| format!("unknown dialect {name:?}: use `service` or `documented`"))
    }
}
