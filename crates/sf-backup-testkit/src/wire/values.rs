//! Values both dialects write (the epoch every fake backup records, error codes as the spec knows them) and the
//! builder bridge to the generated types.

use sf_backup_api::types::{Epoch, FabricErrorCodes, FabricErrorError, Int64Text};
use uuid::Uuid;

use crate::cluster::PartitionScheme;

/// The epoch every fake backup records (the seed page's example values).
pub(crate) const DATA_LOSS_VERSION: i64 = 131_462_452_931_584_510;
/// See [`DATA_LOSS_VERSION`].
pub(crate) const CONFIGURATION_VERSION: i64 = 8_589_934_592;

/// [`DATA_LOSS_VERSION`] and [`CONFIGURATION_VERSION`] as the generated type.
pub(crate) fn documented_epoch() -> Epoch {
    build(
        Epoch::builder()
            .data_loss_version(Int64Text::String(DATA_LOSS_VERSION.to_string()))
            .configuration_version(Int64Text::String(CONFIGURATION_VERSION.to_string())),
    )
}

/// Parses a code so that a code the spec lists becomes the known variant, as a client would see it.
pub(crate) fn error_code(code: &str) -> FabricErrorCodes {
    serde_json::from_value(serde_json::Value::String(code.to_owned()))
        .unwrap_or_else(|_| FabricErrorCodes::String(code.to_owned()))
}

/// A FabricError's `Error` member with `code` and `message`.
pub(crate) fn error(code: &str, message: impl Into<String>) -> FabricErrorError {
    FabricErrorError::new(error_code(code), Some(message.into()))
}

/// A generated type from its builder. The generated types are `#[non_exhaustive]`, so this crate builds them
/// through `builder()`; every one built here has its required members set, so the conversion cannot fail.
pub(crate) fn build<T, B>(builder: B) -> T
where
    T: TryFrom<B>,
    T::Error: std::fmt::Display,
{
    T::try_from(builder)
        .unwrap_or_else(|e| panic!("a generated type built without a required member: {e}"))
}

/// `ServicePartitionInformation` (both dialects: kind, id, then the name or the keys as strings).
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PartitionInformationView {
    service_partition_kind: &'static str,
    id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    low_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    high_key: Option<String>,
}

impl PartitionInformationView {
    pub(crate) fn new(id: Uuid, scheme: &PartitionScheme) -> Self {
        let (name, low_key, high_key) = match scheme {
            PartitionScheme::Singleton => (None, None, None),
            PartitionScheme::Named { name } => (Some(name.clone()), None, None),
            PartitionScheme::Int64Range { low_key, high_key } => {
                (None, Some(low_key.to_string()), Some(high_key.to_string()))
            }
        };
        PartitionInformationView {
            service_partition_kind: scheme.kind(),
            id,
            name,
            low_key,
            high_key,
        }
    }
}
