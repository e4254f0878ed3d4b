//! The messages of the native gateway's refusals in each dialect: the service's resource strings
//! (`IDS_ERROR_MESSAGE_*`, `IDS_COMMON_Invalid_Continuation_Token`) or this gateway's own, which name the value.

use crate::wire::dialect::Dialect;
use crate::wire::refusal::Refusal;

/// The gateway's message for an E_INVALIDARG without one of its own (`IDS_ERROR_MESSAGE_E_INVALIDARG`).
pub(crate) const INVALID_ARGUMENT: &str = "Invalid argument";

/// 404 `FABRIC_E_APPLICATION_NOT_FOUND` for the application `name`.
pub(crate) fn application_not_found(dialect: Dialect, name: &str) -> Refusal {
    Refusal::new(
        404,
        "FABRIC_E_APPLICATION_NOT_FOUND",
        dialect.pick(
            "Application not found".to_owned(),
            format!("Application {name} not found."),
        ),
    )
}

/// 404 `FABRIC_E_SERVICE_DOES_NOT_EXIST` for the service `name`.
pub(crate) fn service_does_not_exist(dialect: Dialect, name: &str) -> Refusal {
    Refusal::new(
        404,
        "FABRIC_E_SERVICE_DOES_NOT_EXIST",
        dialect.pick(
            "Service does not exist.".to_owned(),
            format!("Service {name} does not exist."),
        ),
    )
}

/// 400 `FABRIC_E_INVALID_NAME_URI` for a path id that is no name.
pub(crate) fn invalid_name(dialect: Dialect, id: &str) -> Refusal {
    Refusal::new(
        400,
        "FABRIC_E_INVALID_NAME_URI",
        dialect.pick(
            "Invalid name URI.".to_owned(),
            format!("{id:?} is not a valid id"),
        ),
    )
}

/// 400 `E_INVALIDARG` for a continuation token the gateway did not give.
pub(crate) fn invalid_continuation_token(dialect: Dialect, raw: &str) -> Refusal {
    Refusal::invalid(dialect.pick(
        format!(
            "The continuation token '{raw}' is not valid. Please pass in the continuation token returned by a \
             previous query."
        ),
        format!("ContinuationToken {raw:?} is not one this gateway gave (a partition id)"),
    ))
}
