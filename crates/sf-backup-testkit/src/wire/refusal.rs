//! A refusal (status, error code, message), whichever component refuses: the native gateway, the Backup
//! Restore Service or the routing in front of them. How it is written on the wire is in
//! [`error`](crate::wire::error).

/// Why a request was refused: an HTTP status and a FabricError's code and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    /// A refusal with this status, code and message.
    pub(crate) fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 `E_INVALIDARG`, the answer to every request the service cannot read.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Refusal::new(400, "E_INVALIDARG", message)
    }

    /// 404 `FABRIC_E_PARTITION_NOT_FOUND` for `id`.
    pub(crate) fn partition_not_found(id: uuid::Uuid) -> Self {
        Refusal::new(
            404,
            "FABRIC_E_PARTITION_NOT_FOUND",
            format!("Partition {id} not found."),
        )
    }

    /// 503 `FABRIC_E_NOT_PRIMARY`: what a request meets while the Backup Restore Service has no primary.
    pub(crate) fn not_primary() -> Self {
        Refusal::new(
            503,
            "FABRIC_E_NOT_PRIMARY",
            "The operation failed because this replica is not the primary.",
        )
    }
}
