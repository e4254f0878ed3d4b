//! Error bodies: the Backup Restore Service's `{"Error": …}` labelled `text/plain` (`BackupRestoreTypes/
//! FabricErrorError.cs`, a `StringContent`), with an undefined code as its integer and `X-ServiceFabric:
//! ResourceNotFound` on a 404; the documented FabricError as JSON; and the native gateway's, JSON in both.

use sf_backup_api::types::{FabricError, FabricErrorCodes, FabricErrorError};

use crate::wire::answer::{Answer, JSON};
use crate::wire::dialect::Dialect;
use crate::wire::refusal::Refusal;
use crate::wire::values::error;

/// The service's FabricError: `Code` through `StringEnumConverter`, which writes a value that is not a defined
/// `FABRIC_ERROR_CODE` name as its integer.
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ServiceFabricError {
    code: serde_json::Value,
    message: String,
}

impl ServiceFabricError {
    pub(crate) fn new(code: &str, message: impl Into<String>) -> Self {
        let code = match code.parse::<i64>() {
            Ok(number) => serde_json::Value::from(number),
            Err(_) => serde_json::Value::from(code),
        };
        Self {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn from_api(error: &FabricErrorError) -> Self {
        let code = match &error.code {
            FabricErrorCodes::KnownFabricErrorCodes(known) => known.to_string(),
            FabricErrorCodes::String(code) => code.clone(),
            FabricErrorCodes::Int64(number) => number.to_string(),
            // A representation a later spec adds (the generated enum is non-exhaustive).
            other => format!("{other:?}"),
        };
        Self::new(&code, error.message.clone().unwrap_or_default())
    }
}

/// `{"Error": …}`, as the service's `FabricErrorError.ToHttpResponseMessage` serialises it.
#[derive(serde::Serialize)]
struct ServiceErrorBody {
    #[serde(rename = "Error")]
    error: ServiceFabricError,
}

/// An error answer of the Backup Restore Service (and of this gateway's routing and faults) in `dialect`.
pub(crate) fn service_error(dialect: Dialect, status: u16, code: &str, message: String) -> Answer {
    match dialect {
        Dialect::Service => {
            let body = ServiceErrorBody {
                error: ServiceFabricError::new(code, message),
            };
            let answer = Answer {
                status,
                content_type: Some("text/plain; charset=utf-8"),
                headers: Vec::new(),
                body: serde_json::to_vec(&body).unwrap_or_default(),
            };
            if status == 404 {
                answer.with_header("x-servicefabric", "ResourceNotFound")
            } else {
                answer
            }
        }
        Dialect::Documented => documented_error(status, code, message),
    }
}

/// The spec's FabricError as JSON.
fn documented_error(status: u16, code: &str, message: String) -> Answer {
    let body = serde_json::to_vec(&FabricError::new(error(code, message))).unwrap_or_default();
    Answer {
        status,
        content_type: Some(JSON),
        headers: Vec::new(),
        body,
    }
}

impl Refusal {
    /// This refusal as the Backup Restore Service writes it in `dialect`.
    pub(crate) fn answer(self, dialect: Dialect) -> Answer {
        service_error(dialect, self.status, self.code, self.message)
    }

    /// This refusal as the native gateway writes it: a FabricError as JSON, in both dialects.
    pub(crate) fn gateway_answer(self) -> Answer {
        documented_error(self.status, self.code, self.message)
    }
}
