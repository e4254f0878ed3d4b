//! Values both dialects write (the epoch every fake backup records, error codes as the spec knows them) and the
//! builder bridge to the generated types.

use sf_backup_api::types::{Epoch, FabricErrorCodes, FabricErrorError, Int64Text};

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
