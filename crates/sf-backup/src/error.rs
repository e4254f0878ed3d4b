use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use http::StatusCode;
use sf_backup_api::{ByteStream, ErrorResponse, types};

use crate::ParsePartitionIdError;

/// Everything that can go wrong when calling the service.
///
/// Every variant tells whether anything was sent: [`Error::InvalidInput`] and [`Error::Client`] mean nothing was;
/// [`Error::Service`], [`Error::UnexpectedResponse`], [`Error::ListingFailed`] and [`Error::EndlessList`] mean the
/// service (or something in front of it) answered;
/// [`Error::Transport`] and [`Error::NoAnswer`] leave the outcome open, which matters for
/// [`backup_partition`](crate::Client::backup_partition): it is never retried automatically, because a request
/// that reached the service may have started a backup.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An argument is invalid; nothing was sent.
    #[error("invalid {what}: {problem}; {how_to_fix} (nothing was sent)")]
    InvalidInput {
        /// Which argument, for example `server timeout`.
        what: &'static str,
        /// What is wrong with it.
        problem: String,
        /// What to do instead.
        how_to_fix: String,
    },

    /// The HTTP client could not be set up or could not prepare the request; nothing was sent.
    #[error("could not prepare the HTTP client or request: {message}")]
    Client {
        /// What failed.
        message: String,
        /// The underlying error, when there is one.
        #[source]
        source: Option<Box<dyn StdError + Send + Sync>>,
    },

    /// The service answered with a Service Fabric error (a `FabricError` body).
    #[error("the service answered {status}: {code}: {message}")]
    Service {
        /// The HTTP status.
        status: StatusCode,
        /// The Service Fabric error code, for example `FABRIC_E_BACKUP_IN_PROGRESS`.
        code: ErrorCode,
        /// The service's explanation; empty when it sent none.
        message: String,
    },

    /// A response that is neither the documented success nor a Service Fabric error: a status the operation does
    /// not document (such as 200 to the backup request), or an error status whose body is not `FabricError` JSON
    /// (an HTML page or an empty body from a proxy), or a success body that cannot be read.
    #[error("unexpected response {status}: {reason}{}", body_excerpt(body))]
    UnexpectedResponse {
        /// The HTTP status.
        status: StatusCode,
        /// Why the response is unexpected.
        reason: String,
        /// The start of the body as text (at most 64 KiB, invalid UTF-8 replaced).
        body: String,
    },

    /// The connection failed. See `may_have_reached_service`.
    #[error("{}: {}", if *may_have_reached_service { "the connection failed after the request may have reached the service" } else { "could not connect to the service" }, source)]
    Transport {
        /// `false` when the failure happened before the request could be sent (connection refused, DNS, TLS
        /// handshake), so the service certainly did not see it; `true` when it may have
        /// ([`Error::may_have_reached_service`]).
        may_have_reached_service: bool,
        /// The underlying error.
        #[source]
        source: TransportError,
    },

    /// A backup list held an item that is an error, not a backup: the service could not enumerate the storage (a
    /// bad connection string, a missing container, a share it cannot reach) and said so inside a 200 answer.
    #[error("the service could not list the backups in the storage: {code}: {message}")]
    ListingFailed {
        /// The code of the item's `FailureError` (often an HRESULT, kept as its number).
        code: ErrorCode,
        /// The item's message.
        message: String,
    },

    /// A paged list did not end: the service answered a continuation token with one it had already sent (it
    /// would page forever), or the list went on past the most pages a list is read for. The pages before were
    /// answered; listing stopped rather than loop.
    #[error(
        "the service did not end the {operation} list: {}; stopped listing rather than loop",
        match repeated_token {
            Some(token) => format!("page {pages} repeated the continuation token {token:?}"),
            None => format!("it still went on after {pages} pages"),
        }
    )]
    EndlessList {
        /// The REST operation, such as `GetPartitionInfoList`.
        operation: &'static str,
        /// How many pages were read.
        pages: usize,
        /// The token that came again; `None` when the page cap ended the list.
        repeated_token: Option<String>,
    },

    /// No complete answer arrived within the request's answer deadline: its
    /// [server timeout](crate::BackupPartitionRequest::server_timeout) plus the client's
    /// [answer margin](crate::ClientBuilder::answer_margin), or less when a wait's deadline came first. The
    /// request may have reached the service. Raise the server timeout when the service is slow to answer; see
    /// [Timeouts](crate#timeouts).
    #[error(
        "no answer from the service within {after:?} (the request may have reached the service)"
    )]
    NoAnswer {
        /// The answer deadline that passed.
        after: Duration,
    },
}

impl Error {
    /// The HTTP status of the answer, when there was one.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Service { status, .. } | Self::UnexpectedResponse { status, .. } => Some(*status),
            Self::Transport { source, .. } => source.0.status(),
            _ => None,
        }
    }

    /// The Service Fabric error code, when the service sent one.
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            Self::Service { code, .. } | Self::ListingFailed { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Why the TLS handshake failed, when it did: which check refused the server, and the certificate it
    /// presented (its SHA-1 thumbprint and subject), so that the right validation option can be named.
    #[cfg(any(feature = "tls", feature = "tls-ring"))]
    pub fn tls_rejection(&self) -> Option<crate::TlsRejection> {
        match self {
            Self::Transport { source, .. } => crate::tls::rejection_in(&source.0),
            _ => None,
        }
    }

    /// Whether the argument check failed before anything was sent.
    pub fn is_invalid_input(&self) -> bool {
        matches!(self, Self::InvalidInput { .. })
    }

    /// Whether another backup of the partition is running (`FABRIC_E_BACKUP_IN_PROGRESS`, HTTP 409): wait for it
    /// (or [follow it](crate::Client::follow_backup)) instead of requesting another. A running restore is
    /// [`Error::is_restore_in_progress`]; [`Error::is_busy`] is either.
    pub fn is_backup_in_progress(&self) -> bool {
        matches!(self.code(), Some(ErrorCode::BackupInProgress))
    }

    /// Whether a restore of the partition is running (`FABRIC_E_RESTORE_IN_PROGRESS`, HTTP 409): no backup can
    /// start until it ends.
    pub fn is_restore_in_progress(&self) -> bool {
        matches!(self.code(), Some(ErrorCode::RestoreInProgress))
    }

    /// Whether the partition is busy with a backup or a restore ([`Error::is_backup_in_progress`] or
    /// [`Error::is_restore_in_progress`]): try again once it is done.
    pub fn is_busy(&self) -> bool {
        self.is_backup_in_progress() || self.is_restore_in_progress()
    }

    /// Whether the service's per-request timeout passed: it answered `FABRIC_E_TIMEOUT` (HTTP 504) because the
    /// request's [server timeout](crate::BackupPartitionRequest::server_timeout) ran out. Raise the server
    /// timeout.
    pub fn is_server_timeout(&self) -> bool {
        match self {
            Self::Service { status, code, .. } => {
                *code == ErrorCode::Timeout || *status == StatusCode::GATEWAY_TIMEOUT
            }
            Self::UnexpectedResponse { status, .. } => *status == StatusCode::GATEWAY_TIMEOUT,
            _ => false,
        }
    }

    /// Whether the partition has neither a backup policy nor storage in the request (`FABRIC_E_BACKUP_NOT_ENABLED`):
    /// give the request a storage, or enable backup for the partition.
    pub fn is_backup_not_enabled(&self) -> bool {
        matches!(self.code(), Some(ErrorCode::BackupNotEnabled))
    }

    /// Whether the partition (`FABRIC_E_PARTITION_NOT_FOUND`) or the Backup Restore service
    /// (`FABRIC_E_SERVICE_DOES_NOT_EXIST`) does not exist, or a proxy answered 404 without a Service Fabric error.
    pub fn is_not_found(&self) -> bool {
        match self {
            Self::Service { code, .. } => matches!(
                code,
                ErrorCode::PartitionNotFound | ErrorCode::ServiceDoesNotExist
            ),
            Self::UnexpectedResponse { status, .. } => *status == StatusCode::NOT_FOUND,
            _ => false,
        }
    }

    /// Whether the request may have reached the service although it failed: the connection failed after the
    /// request may have been written, no answer came in time, the gateway gave up waiting for the service
    /// (`FABRIC_E_TIMEOUT`, 504), or a proxy's error page hides whether it forwarded the request. For
    /// [`backup_partition`](crate::Client::backup_partition) this means a backup may have started: read the
    /// partition's progress ([`Client::follow_backup`](crate::Client::follow_backup)) before sending it again.
    pub fn may_have_reached_service(&self) -> bool {
        match self {
            Self::Transport {
                may_have_reached_service,
                ..
            } => *may_have_reached_service,
            Self::NoAnswer { .. } => true,
            Self::Service { .. } => self.is_server_timeout(),
            // A success with the wrong shape most likely means the backup was accepted.
            Self::UnexpectedResponse { status, .. } => {
                status.is_server_error() || status.is_success()
            }
            _ => false,
        }
    }

    /// Whether any deadline of one request passed: its answer deadline ([`Error::NoAnswer`]), the connect timeout,
    /// or the service's per-request timeout ([`Error::is_server_timeout`]). A wait's own deadline and the backup
    /// timeout are [`WaitError`](crate::WaitError)s, not this.
    pub fn is_timeout(&self) -> bool {
        match self {
            Self::NoAnswer { .. } => true,
            Self::Transport { source, .. } => source.is_timeout(),
            _ => self.is_server_timeout(),
        }
    }

    /// Whether the failure is usually temporary, so that the same call may succeed a little later: the partition
    /// is reconfiguring or has no primary (`FABRIC_E_NOT_READY`, `FABRIC_E_NOT_PRIMARY`, `FABRIC_E_SERVICE_OFFLINE`,
    /// `FABRIC_E_RECONFIGURATION_PENDING`, `FABRIC_E_NO_WRITE_QUORUM`), the gateway or a proxy answered 503, or
    /// the connection could not be opened. Before repeating a backup request, see
    /// [`may_have_reached_service`](Self::may_have_reached_service).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Service { status, code, .. } => {
                *status == StatusCode::SERVICE_UNAVAILABLE || code.is_transient()
            }
            Self::UnexpectedResponse { status, .. } => *status == StatusCode::SERVICE_UNAVAILABLE,
            Self::Transport {
                may_have_reached_service,
                ..
            } => !may_have_reached_service,
            _ => false,
        }
    }

    pub(crate) fn invalid(
        what: &'static str,
        problem: impl Into<String>,
        how_to_fix: impl Into<String>,
    ) -> Self {
        Self::InvalidInput {
            what,
            problem: problem.into(),
            how_to_fix: how_to_fix.into(),
        }
    }

    pub(crate) fn transport(source: reqwest::Error) -> Self {
        // Builder and connect errors happen before the first request byte is written.
        #[cfg(any(feature = "tls", feature = "tls-ring"))]
        let refused = client_certificate_refused(&source);
        // Without TLS no server can refuse a client certificate.
        #[cfg(not(any(feature = "tls", feature = "tls-ring")))]
        let refused = false;
        let may_have_reached_service = !(source.is_connect() || source.is_builder() || refused);
        Self::Transport {
            may_have_reached_service,
            source: TransportError(source),
        }
    }

    /// Turns the generated client's error for `operation` into ours, reading the body of an error response
    /// (bounded).
    pub(crate) async fn from_api(
        error: sf_backup_api::Error<ByteStream>,
        operation: Operation,
    ) -> Self {
        use sf_backup_api::Error as Api;
        match error {
            Api::CommunicationError(source)
            | Api::ResponseBodyError(source)
            | Api::InvalidUpgrade(source) => Self::transport(source),
            Api::ErrorResponse(response) => {
                let response = ErrorResponse::read(response).await;
                match response.fabric_error {
                    Some(types::FabricError { error, .. }) => Self::Service {
                        status: response.status,
                        code: ErrorCode::from_api(&error.code),
                        message: error.message.unwrap_or_default(),
                    },
                    None => {
                        let reason = match (&response.read_error, response.body.is_empty()) {
                            (Some(read_error), _) => format!("the body could not be read completely ({read_error})"),
                            (None, true) => "the error response has an empty body".to_owned(),
                            (None, false) => "the error response is not a Service Fabric error (FabricError JSON)".to_owned(),
                        };
                        Self::UnexpectedResponse {
                            status: response.status,
                            reason,
                            body: String::from_utf8_lossy(&response.body).into_owned(),
                        }
                    }
                }
            }
            Api::UnexpectedResponse(response) => {
                let response = ErrorResponse::read_undocumented(response).await;
                Self::UnexpectedResponse {
                    status: response.status,
                    reason: format!("{} does not document this status", operation.name()),
                    body: String::from_utf8_lossy(&response.body).into_owned(),
                }
            }
            // A success body the generated client could not decode.
            Api::InvalidResponsePayload(body, source) => Self::UnexpectedResponse {
                status: StatusCode::OK,
                reason: {
                    let (operation, answer) = operation.names();
                    format!("the {operation} answer is not a valid {answer} ({source})")
                },
                body: String::from_utf8_lossy(&body[..body.len().min(ErrorResponse::BODY_LIMIT)])
                    .into_owned(),
            },
            Api::InvalidRequest(message) | Api::Custom(message) => Self::Client {
                message,
                source: None,
            },
        }
    }
}

fn body_excerpt(body: &str) -> String {
    const SHOWN: usize = 200;
    let flat: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.is_empty() {
        return String::new();
    }
    let mut excerpt: String = flat.chars().take(SHOWN).collect();
    if excerpt.len() < flat.len() {
        excerpt.push('…');
    }
    format!(": {excerpt}")
}

/// The generated operations, as errors name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operation {
    BackupPartition,
    GetPartitionBackupProgress,
    GetPartitionBackupList,
    GetBackupsFromBackupLocation,
    GetServiceInfoList,
    GetPartitionInfoList,
}

impl Operation {
    /// The REST reference's name.
    pub(crate) fn name(self) -> &'static str {
        self.names().0
    }

    /// The REST reference's name, and the spec's type of a successful answer's body.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Self::BackupPartition => ("BackupPartition", "empty body"),
            Self::GetPartitionBackupProgress => {
                ("GetPartitionBackupProgress", "BackupProgressInfo")
            }
            Self::GetPartitionBackupList => ("GetPartitionBackupList", "PagedBackupInfoList"),
            Self::GetBackupsFromBackupLocation => {
                ("GetBackupsFromBackupLocation", "PagedBackupInfoList")
            }
            Self::GetServiceInfoList => ("GetServiceInfoList", "PagedServiceInfoList"),
            Self::GetPartitionInfoList => ("GetPartitionInfoList", "PagedServicePartitionInfoList"),
        }
    }
}

impl From<ParsePartitionIdError> for Error {
    fn from(error: ParsePartitionIdError) -> Self {
        Error::invalid(
            "partition id",
            format!("{:?} is not a UUID", error.value()),
            "pass a UUID such as 1daae3f5-7fd6-42e9-b1ba-8c05f873994d",
        )
    }
}

/// With TLS 1.3 the server judges the client certificate after the client has finished its handshake and may
/// have written the request; a certificate alert then means the server discarded it unread.
#[cfg(any(feature = "tls", feature = "tls-ring"))]
fn client_certificate_refused(error: &reqwest::Error) -> bool {
    use rustls::AlertDescription as Alert;
    let mut source = error.source();
    while let Some(cause) = source {
        let tls = cause.downcast_ref::<rustls::Error>().or_else(|| {
            cause
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(rustls::Error::AlertReceived(alert)) = tls {
            return matches!(
                alert,
                Alert::CertificateRequired
                    | Alert::BadCertificate
                    | Alert::UnknownCA
                    | Alert::CertificateUnknown
                    | Alert::UnsupportedCertificate
                    | Alert::CertificateExpired
                    | Alert::CertificateRevoked
            );
        }
        source = cause.source();
    }
    false
}

/// Why a connection failed, as the HTTP stack reported it ([`Error::Transport`]). Opaque, so that the HTTP
/// library stays out of this crate's API; its `Display` shows the whole chain of causes (refused, reset, the
/// certificate the server presented), and [`std::error::Error::source`] walks it.
#[derive(Debug)]
pub struct TransportError(reqwest::Error);

impl TransportError {
    /// Whether opening the connection failed (refused, unreachable, DNS, TLS handshake).
    pub fn is_connect(&self) -> bool {
        self.0.is_connect()
    }

    /// Whether a timeout of the HTTP stack passed (the connect timeout).
    pub fn is_timeout(&self) -> bool {
        self.0.is_timeout()
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&error_chain(&self.0))
    }
}

impl StdError for TransportError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source()
    }
}

/// reqwest's own message is generic ("error sending request"); the cause (refused, reset, certificate) is deeper.
fn error_chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $wire:literal,)*) => {
        /// A Service Fabric error code. The codes this API is known to return have a variant; every other code,
        /// including ones newer than this crate, is kept verbatim in [`ErrorCode::Other`].
        ///
        /// Build one from text with `ErrorCode::from("FABRIC_E_TIMEOUT")`, which picks the named variant, and
        /// compare with [`ErrorCode::as_str`] when a code may or may not have a variant.
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
            /// Any other code, as the service sent it.
            Other(String),
        }

        impl ErrorCode {
            /// The code as the service writes it, for example `FABRIC_E_BACKUP_IN_PROGRESS`.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)*
                    Self::Other(code) => code,
                }
            }
        }

        impl From<&str> for ErrorCode {
            fn from(code: &str) -> Self {
                match code {
                    $($wire => Self::$variant,)*
                    other => Self::Other(other.to_owned()),
                }
            }
        }
    };
}

error_codes! {
    /// `FABRIC_E_BACKUP_IN_PROGRESS`: a backup of the partition is already running.
    BackupInProgress = "FABRIC_E_BACKUP_IN_PROGRESS",
    /// `FABRIC_E_RESTORE_IN_PROGRESS`: a restore of the partition is running.
    RestoreInProgress = "FABRIC_E_RESTORE_IN_PROGRESS",
    /// `FABRIC_E_BACKUP_NOT_ENABLED`: no backup policy applies and the request named no storage.
    BackupNotEnabled = "FABRIC_E_BACKUP_NOT_ENABLED",
    /// `FABRIC_E_BACKUP_POLICY_NOT_EXISTING`: the backup policy does not exist.
    BackupPolicyNotExisting = "FABRIC_E_BACKUP_POLICY_NOT_EXISTING",
    /// `FABRIC_E_INVALID_FOR_STATELESS_SERVICES`: only stateful partitions can be backed up.
    InvalidForStatelessServices = "FABRIC_E_INVALID_FOR_STATELESS_SERVICES",
    /// `FABRIC_E_PARTITION_NOT_FOUND`: no such partition.
    PartitionNotFound = "FABRIC_E_PARTITION_NOT_FOUND",
    /// `FABRIC_E_SERVICE_DOES_NOT_EXIST`: the service, often the Backup Restore service itself, does not exist.
    ServiceDoesNotExist = "FABRIC_E_SERVICE_DOES_NOT_EXIST",
    /// `FABRIC_E_TIMEOUT`: the service's own timeout passed.
    Timeout = "FABRIC_E_TIMEOUT",
    /// `FABRIC_E_NOT_READY`: transient.
    NotReady = "FABRIC_E_NOT_READY",
    /// `FABRIC_E_NOT_PRIMARY`: transient.
    NotPrimary = "FABRIC_E_NOT_PRIMARY",
    /// `FABRIC_E_SERVICE_OFFLINE`: transient.
    ServiceOffline = "FABRIC_E_SERVICE_OFFLINE",
    /// `FABRIC_E_RECONFIGURATION_PENDING`: transient.
    ReconfigurationPending = "FABRIC_E_RECONFIGURATION_PENDING",
    /// `FABRIC_E_NO_WRITE_QUORUM`: transient.
    NoWriteQuorum = "FABRIC_E_NO_WRITE_QUORUM",
    /// `FABRIC_E_COMMUNICATION_ERROR`: the gateway could not reach the service.
    CommunicationError = "FABRIC_E_COMMUNICATION_ERROR",
    /// `E_INVALIDARG`: the service rejected an argument.
    InvalidArgument = "E_INVALIDARG",
    /// `E_UNEXPECTED`: an unexpected failure inside the service.
    Unexpected = "E_UNEXPECTED",
    /// `E_FAIL`: an unspecified failure inside the service.
    Fail = "E_FAIL",
}

impl std::str::FromStr for ErrorCode {
    type Err = std::convert::Infallible;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        Ok(Self::from(code))
    }
}

/// Writes the code as the service does ([`ErrorCode::as_str`]).
impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ErrorCode {
    /// The codes of a partition that is reconfiguring or has no primary: [`Error::is_transient`].
    pub(crate) fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::NotReady
                | Self::NotPrimary
                | Self::ServiceOffline
                | Self::ReconfigurationPending
                | Self::NoWriteQuorum
        )
    }

    // Not a `From` impl: the generated types stay out of the public API.
    pub(crate) fn from_api(code: &types::FabricErrorCodes) -> Self {
        match code {
            types::FabricErrorCodes::KnownFabricErrorCodes(known) => {
                Self::from(known.to_string().as_str())
            }
            types::FabricErrorCodes::String(other) => Self::from(other.as_str()),
            // An HRESULT the service had no name for: kept as the decimal number it sent.
            types::FabricErrorCodes::Int64(number) => Self::Other(number.to_string()),
            // A representation a later spec adds (the generated enum is non-exhaustive): kept as its debug text.
            other => Self::Other(format!("{other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_text() {
        for code in [
            "FABRIC_E_BACKUP_IN_PROGRESS",
            "E_UNEXPECTED",
            "FABRIC_E_SOMETHING_NEW",
        ] {
            let parsed: ErrorCode = code.parse().unwrap();
            assert_eq!(parsed.as_str(), code);
            assert_eq!(parsed.to_string(), code);
        }
        assert_eq!(
            ErrorCode::from("FABRIC_E_NOT_PRIMARY"),
            ErrorCode::NotPrimary
        );
        let known = types::FabricErrorCodes::KnownFabricErrorCodes(
            types::KnownFabricErrorCodes::FabricEBackupInProgress,
        );
        assert_eq!(ErrorCode::from_api(&known), ErrorCode::BackupInProgress);
    }

    #[test]
    fn long_bodies_are_cut_in_messages() {
        let error = Error::UnexpectedResponse {
            status: StatusCode::BAD_GATEWAY,
            reason: "r".to_owned(),
            body: "x".repeat(10_000),
        };
        assert!(error.to_string().len() < 400);
    }
}
