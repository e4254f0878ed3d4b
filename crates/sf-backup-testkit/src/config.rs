//! Everything a gateway can be told up front: its listener and TLS, the dialect, the timings of the fake Backup
//! Restore Service, the cluster, and the faults it scripts; read from Rust or from the binary's JSON file.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use uuid::Uuid;

use crate::cluster::{PartitionConfig, Topology};
use crate::wire::dialect::Dialect;
use crate::wire::operation::Operation;

/// How a [`Gateway`](crate::Gateway) behaves. Every field is optional; `Config::default()` is a gateway on
/// `127.0.0.1:<free port>` that answers in the [service's dialect](Dialect::Service), where every UUID is a
/// partition with a backup policy and every backup succeeds after 50 ms in `Accepted` and 200 ms in
/// `BackupInProgress`, and whose cluster is the [default topology](crate::Topology::fake_app).
///
/// The binary reads the same structure from a JSON file (`--config FILE`); field names are the snake_case names
/// below and unknown fields are rejected so that a typo does not silently fall back to a default.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Which shapes the answers take: the Backup Restore Service's own (the default) or the REST page's.
    pub dialect: Dialect,
    /// Address to bind. `None` binds `127.0.0.1:0` (a free port; read it back with `GatewayHandle::addr`).
    pub listen: Option<SocketAddr>,
    /// How long a new backup stays `Accepted` before it turns `BackupInProgress`, in milliseconds (default 50).
    pub accepted_ms: Option<u64>,
    /// How long a backup stays `BackupInProgress` before it ends, in milliseconds (default 200).
    pub in_progress_ms: Option<u64>,
    /// The real length of one `BackupTimeout` minute, in milliseconds (default 60000). Shrink it to make the
    /// `BackupTimeout` deadline bite in a test: with `1`, `BackupTimeout=100` is a 100 ms deadline.
    pub backup_timeout_unit_ms: Option<u64>,
    /// The most backups one page of a backup list holds when the request sets no `MaxResults` (default 2499:
    /// the service asks its blob store for at most 4998 blobs per segment, a `.zip` and a `.bkmetadata` per
    /// backup). Shrink it to make listings page without `MaxResults`.
    pub list_page_cap: Option<usize>,
    /// In the [documented dialect](Dialect::Documented) only: fill placeholders while a backup is pending (a
    /// 0001-01-01 `TimeStampUtc`, an all-zero `BackupId`, `LsnOfLastBackupRecord` "0"). Off by default: then only
    /// `BackupState` is set, as the REST page says. The service dialect always sends every field.
    pub pending_placeholders: bool,
    /// Partitions outside the [topology](Config::topology): backups work on them, no query lists them. Empty (the
    /// default) means every UUID names a partition with a backup policy; once any is declared, UUIDs that are
    /// neither here nor in the topology get 404 `FABRIC_E_PARTITION_NOT_FOUND`.
    pub partitions: Vec<PartitionConfig>,
    /// The applications, services and partitions that GetServiceInfoList and GetPartitionInfoList list, each
    /// partition with its backup behaviour. `None` (the default) is [`Topology::fake_app`]; an id may not be both
    /// here and in `partitions`.
    pub topology: Option<Topology>,
    /// The most items one page of GetServiceInfoList or GetPartitionInfoList holds (default: all of them, as the
    /// real gateway pages only at its message size limit). Shrink it to make those lists page.
    pub query_page_size: Option<usize>,
    /// Faults queued before the first request, as if passed to `GatewayHandle::push_fault` in this order.
    pub faults: Vec<Fault>,
    /// Serve https with this certificate instead of plain http, optionally requiring client certificates.
    pub tls: Option<TlsConfig>,
}

/// https serving: the gateway's certificate and, optionally, the CA that client certificates must chain to.
///
/// In the JSON config every field is a path to a PEM file:
/// `"tls": {"certificate_chain": "server.pem", "private_key": "server.key", "client_ca": "clients-ca.pem"}`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The server certificate chain, leaf first (PEM).
    pub certificate_chain: PemSource,
    /// The server certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub private_key: PemSource,
    /// When set, every client must present a certificate issued by one of these CAs (PEM); connections
    /// without one fail in the TLS handshake and never reach the journal.
    #[serde(default)]
    pub client_ca: Option<PemSource>,
}

impl TlsConfig {
    /// https with this certificate chain (leaf first) and private key, both PEM text.
    pub fn from_pem(
        certificate_chain: impl Into<Vec<u8>>,
        private_key: impl Into<Vec<u8>>,
    ) -> Self {
        Self {
            certificate_chain: PemSource::Pem(certificate_chain.into()),
            private_key: PemSource::Pem(private_key.into()),
            client_ca: None,
        }
    }

    /// Requires client certificates issued by the CA certificates in `ca_pem`.
    #[must_use]
    pub fn require_client_certificates(mut self, ca_pem: impl Into<Vec<u8>>) -> Self {
        self.client_ca = Some(PemSource::Pem(ca_pem.into()));
        self
    }
}

/// PEM data, in memory or in a file. The JSON config holds file paths.
#[derive(Clone, Deserialize)]
#[serde(from = "PathBuf")]
#[non_exhaustive]
pub enum PemSource {
    /// A PEM file, read when the gateway starts.
    File(PathBuf),
    /// PEM text.
    Pem(Vec<u8>),
}

impl From<PathBuf> for PemSource {
    fn from(path: PathBuf) -> Self {
        Self::File(path)
    }
}

impl PemSource {
    pub(crate) fn read(&self) -> std::io::Result<Vec<u8>> {
        match self {
            Self::File(path) => std::fs::read(path).map_err(|error| {
                std::io::Error::new(
                    error.kind(),
                    format!("cannot read {}: {error}", path.display()),
                )
            }),
            Self::Pem(pem) => Ok(pem.clone()),
        }
    }
}

// In-memory PEM may be a private key: show only its size.
impl fmt::Debug for PemSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Pem(pem) => write!(f, "Pem(<{} bytes>)", pem.len()),
        }
    }
}

impl Config {
    /// This config with `topology` instead of the default one.
    #[must_use]
    pub fn with_topology(mut self, topology: Topology) -> Self {
        self.topology = Some(topology);
        self
    }

    /// The topology the gateway starts with: the configured one or [`Topology::fake_app`].
    pub(crate) fn effective_topology(&self) -> Topology {
        self.topology.clone().unwrap_or_else(Topology::fake_app)
    }

    pub(crate) fn query_page_size(&self) -> usize {
        self.query_page_size.unwrap_or(usize::MAX).max(1)
    }

    pub(crate) fn accepted(&self) -> Duration {
        Duration::from_millis(self.accepted_ms.unwrap_or(50))
    }

    pub(crate) fn in_progress(&self) -> Duration {
        Duration::from_millis(self.in_progress_ms.unwrap_or(200))
    }

    pub(crate) fn list_page_cap(&self) -> usize {
        self.list_page_cap.unwrap_or(2499).max(1)
    }

    pub(crate) fn backup_timeout_unit(&self) -> Duration {
        Duration::from_millis(self.backup_timeout_unit_ms.unwrap_or(60_000))
    }
}

/// A scripted misbehaviour: what happens ([`FaultAction`]) to which requests (operation, partition) and how
/// often (`times`). Faults are kept in a FIFO queue; each request takes the first fault that matches it.
///
/// Every request is journaled before faults apply, so a faulted request is still visible in the journal.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// What to do.
    pub action: FaultAction,
    /// Only requests for this operation (`None`: any request, including unrouted ones).
    #[serde(default)]
    pub operation: Option<Operation>,
    /// Only requests for this partition (`None`: any partition).
    #[serde(default)]
    pub partition: Option<Uuid>,
    /// How many matching requests it applies to (default 1); `None` in Rust or `null` in JSON: all of them, for
    /// as long as the gateway runs (a per-partition fault).
    #[serde(default = "once")]
    pub times: Option<u32>,
    /// Handle the request as usual first (validate it, start the backup) and only then misbehave. With
    /// [`FaultAction::CloseConnection`] on a backup POST this is the ambiguous failure: the client sees a dropped
    /// connection, yet the backup was accepted. Ignored for [`FaultAction::Delay`].
    #[serde(default)]
    pub process: bool,
    /// Let this many matching requests through untouched before the fault applies (default 0), e.g. to fail
    /// only the third progress read.
    #[serde(default)]
    pub skip: u32,
}

fn once() -> Option<u32> {
    Some(1)
}

impl Fault {
    /// A fault that applies once to the next request, whatever it is.
    pub fn new(action: FaultAction) -> Self {
        Fault {
            action,
            operation: None,
            partition: None,
            times: Some(1),
            process: false,
            skip: 0,
        }
    }

    /// `status` with a FabricError body carrying `code` (known to the spec or not).
    pub fn fabric_error(status: u16, code: impl Into<String>) -> Self {
        Fault::new(FaultAction::FabricError {
            status,
            code: code.into(),
            message: None,
        })
    }

    /// 503 with a FabricError carrying a transient code such as `FABRIC_E_NOT_READY`, `FABRIC_E_NOT_PRIMARY`,
    /// `FABRIC_E_SERVICE_OFFLINE`, `FABRIC_E_RECONFIGURATION_PENDING` or `FABRIC_E_NO_WRITE_QUORUM`.
    pub fn transient(code: impl Into<String>) -> Self {
        Fault::fabric_error(503, code)
    }

    /// `status` with an HTML page, as a proxy or load balancer would send.
    pub fn html(status: u16) -> Self {
        Fault::new(FaultAction::Html { status })
    }

    /// `status` with an empty body.
    pub fn empty(status: u16) -> Self {
        Fault::new(FaultAction::Empty { status })
    }

    /// `status` with an arbitrary body (e.g. 202 with a body, or a 200 to the POST).
    pub fn body(status: u16, content_type: Option<&str>, body: impl Into<String>) -> Self {
        Fault::new(FaultAction::Body {
            status,
            content_type: content_type.map(str::to_owned),
            body: body.into(),
        })
    }

    /// Wait `delay`, then answer normally.
    pub fn delay(delay: Duration) -> Self {
        Fault::new(FaultAction::Delay {
            ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        })
    }

    /// Read the request, then close the connection without a response.
    pub fn close_connection() -> Self {
        Fault::new(FaultAction::CloseConnection)
    }

    /// `status` with a `Content-Length` larger than the bytes of `body` actually sent, then close.
    pub fn truncated(status: u16, body: impl Into<String>) -> Self {
        Fault::new(FaultAction::TruncatedBody {
            status,
            body: body.into(),
            declared_length: None,
        })
    }

    /// 200 with a BackupProgressInfo whose `BackupState` is `state` (typically one the spec does not list).
    pub fn backup_state(state: impl Into<String>) -> Self {
        Fault::new(FaultAction::BackupState {
            state: state.into(),
        })
    }

    /// The Backup Restore Service's primary moves: from the first matching request on, every request (whatever
    /// its operation or partition) gets 503 `FABRIC_E_NOT_PRIMARY` for `duration`; then the gateway answers
    /// normally again.
    pub fn primary_move(duration: Duration) -> Self {
        Fault::new(FaultAction::PrimaryMove {
            ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        })
    }

    /// 307 to `location`.
    pub fn redirect(location: impl Into<String>) -> Self {
        Fault::new(FaultAction::Redirect {
            status: 307,
            location: location.into(),
        })
    }

    /// Only requests for `operation`.
    pub fn on(mut self, operation: Operation) -> Self {
        self.operation = Some(operation);
        self
    }

    /// Only requests for `partition`.
    pub fn for_partition(mut self, partition: impl Into<Uuid>) -> Self {
        self.partition = Some(partition.into());
        self
    }

    /// The next `n` matching requests.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    /// Every matching request, until the gateway stops.
    pub fn always(mut self) -> Self {
        self.times = None;
        self
    }

    /// Let the first `n` matching requests through untouched (see [`Fault::skip`]).
    pub fn after(mut self, n: u32) -> Self {
        self.skip = n;
        self
    }

    /// Handle the request as usual before misbehaving (see [`Fault::process`]).
    pub fn after_processing(mut self) -> Self {
        self.process = true;
        self
    }

    pub(crate) fn matches(&self, operation: Option<Operation>, partition: Option<Uuid>) -> bool {
        self.operation.is_none_or(|op| Some(op) == operation)
            && self.partition.is_none_or(|p| Some(p) == partition)
    }
}

/// What a [`Fault`] does to a request. In JSON, tagged by `kind`, e.g.
/// `{"kind": "FabricError", "status": 503, "code": "FABRIC_E_NOT_READY"}`.
#[non_exhaustive]
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum FaultAction {
    /// `status` with a FabricError JSON body.
    FabricError {
        /// HTTP status.
        status: u16,
        /// The error code; any string, known to the spec or not.
        code: String,
        /// The message (a default naming the fault when absent).
        #[serde(default)]
        message: Option<String>,
    },
    /// `status` with a small HTML error page.
    Html {
        /// HTTP status.
        status: u16,
    },
    /// `status` with an empty body.
    Empty {
        /// HTTP status.
        status: u16,
    },
    /// `status` with an arbitrary body.
    Body {
        /// HTTP status.
        status: u16,
        /// `Content-Type` header, if any.
        #[serde(default)]
        content_type: Option<String>,
        /// The body.
        body: String,
    },
    /// Sleep, then answer normally.
    Delay {
        /// Milliseconds to wait before handling the request.
        ms: u64,
    },
    /// Close the connection after reading the request, without any response.
    CloseConnection,
    /// Announce `declared_length` bytes (default: the body's length + 64), send only `body`, then close.
    TruncatedBody {
        /// HTTP status.
        status: u16,
        /// The bytes actually sent.
        body: String,
        /// The announced `Content-Length`.
        #[serde(default)]
        declared_length: Option<u64>,
    },
    /// 200 with a BackupProgressInfo carrying this `BackupState`.
    BackupState {
        /// The state text, e.g. `"Paused"`.
        state: String,
    },
    /// 503 `FABRIC_E_NOT_PRIMARY` to every request for `ms` milliseconds from the first matching one.
    PrimaryMove {
        /// How long the service has no primary, in milliseconds.
        ms: u64,
    },
    /// A redirect.
    Redirect {
        /// HTTP status (301, 302, 307, 308).
        status: u16,
        /// The `Location` header.
        location: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_paths_come_from_json_and_in_memory_keys_are_not_shown() {
        let config: Config = serde_json::from_str(
            r#"{"tls": {"certificate_chain": "server.pem", "private_key": "server.key", "client_ca": "ca.pem"}}"#,
        )
        .unwrap();
        let tls = config.tls.unwrap();
        assert!(
            matches!(&tls.certificate_chain, PemSource::File(path) if path.ends_with("server.pem"))
        );
        assert!(matches!(&tls.client_ca, Some(PemSource::File(path)) if path.ends_with("ca.pem")));
        let without_ca: TlsConfig =
            serde_json::from_str(r#"{"certificate_chain": "a", "private_key": "b"}"#).unwrap();
        assert!(without_ca.client_ca.is_none());
        assert!(
            serde_json::from_str::<TlsConfig>(r#"{"certificate_chain": "a", "key": "b"}"#).is_err()
        );

        let in_memory = TlsConfig::from_pem("CERT", "-----BEGIN PRIVATE KEY-----secret");
        assert!(!format!("{in_memory:?}").contains("secret"));
    }
}
