use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

/// The identity of a Service Fabric partition: a UUID such as `1daae3f5-7fd6-42e9-b1ba-8c05f873994d`.
///
/// ```
/// use sf_backup::PartitionId;
///
/// let id: PartitionId = "1daae3f5-7fd6-42e9-b1ba-8c05f873994d".parse()?;
/// assert_eq!(id.to_string(), "1daae3f5-7fd6-42e9-b1ba-8c05f873994d");
/// assert!("partition-1".parse::<PartitionId>().is_err());
/// # Ok::<(), sf_backup::ParsePartitionIdError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionId(Uuid);

impl PartitionId {
    /// The partition id as a [`Uuid`].
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl From<Uuid> for PartitionId {
    fn from(value: Uuid) -> Self {
        Self(value)
    }
}

impl From<PartitionId> for Uuid {
    fn from(value: PartitionId) -> Self {
        value.0
    }
}

impl fmt::Display for PartitionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Always the hyphenated lower-case form: it is what the REST reference shows and what the service echoes.
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for PartitionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PartitionId({self})")
    }
}

impl FromStr for PartitionId {
    type Err = ParsePartitionIdError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(value.trim())
            .map(Self)
            .map_err(|_| ParsePartitionIdError {
                value: value.to_owned(),
            })
    }
}

/// A text that is not a partition id. Its message names the text and the expected form.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid partition id {value:?}: expected a UUID such as 1daae3f5-7fd6-42e9-b1ba-8c05f873994d"
)]
pub struct ParsePartitionIdError {
    value: String,
}

impl ParsePartitionIdError {
    /// The text that failed to parse.
    pub fn value(&self) -> &str {
        &self.value
    }
}
