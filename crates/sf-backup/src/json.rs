//! The one JSON shape of this crate's output types, for a tool's output: the Rust field names (snake_case), and
//! every int64 the service writes as text (LSNs, epoch versions) written as a JSON string, so that JavaScript
//! and jq keep all 64 bits (they read numbers as doubles, exact only up to 2^53).
//!
//! Use: `#[serde(serialize_with = "crate::json::int64_as_string")]` on an `i64` field,
//! `#[serde(serialize_with = "crate::json::optional_int64_as_string")]` on an `Option<i64>` field (`null` when
//! absent); an [`Epoch`](crate::Epoch) serialises its versions this way by itself.

use serde::Serializer;

/// An `i64` as its decimal text.
pub(crate) fn int64_as_string<S: Serializer>(
    value: &i64,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// An `Option<i64>` as its decimal text, or `null`.
pub(crate) fn optional_int64_as_string<S: Serializer>(
    value: &Option<i64>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => serializer.collect_str(value),
        None => serializer.serialize_none(),
    }
}
