use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

/// The identity of a Service Fabric partition: a UUID such as `1daae3f5-7fd6-42e9-b1ba-8c05f873994d`.
///
/// With serde it is the hyphenated lower-case string, read back with the same leniency as [`FromStr`].
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

impl serde::Serialize for PartitionId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for PartitionId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::PartitionId;

    #[test]
    fn serde_uses_the_hyphenated_string() {
        let id: PartitionId = "1DAAE3F5-7FD6-42E9-B1BA-8C05F873994D".parse().unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"1daae3f5-7fd6-42e9-b1ba-8c05f873994d\"");
        assert_eq!(serde_json::from_str::<PartitionId>(&json).unwrap(), id);
        let error = serde_json::from_str::<PartitionId>("\"partition-1\"").unwrap_err();
        assert!(
            error.to_string().contains("invalid partition id"),
            "{error}"
        );
    }
}
