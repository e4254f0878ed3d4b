//! An ergonomic client for Service Fabric partition backups: start a backup of a stateful partition
//! ([Backup Partition](https://learn.microsoft.com/rest/api/servicefabric/sfclient-api-backuppartition)) and
//! follow its progress (Get Partition Backup Progress), through a cluster's HTTP gateway (port 19080).
//!
//! # Quickstart
//!
//! ```no_run
//! use sf_backup::{BackupStorage, Client, PartitionId};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::new("http://localhost:19080")?;
//! let id: PartitionId = "1daae3f5-7fd6-42e9-b1ba-8c05f873994d".parse()?;
//! let connection_string = std::env::var("STORAGE_CONNECTION_STRING")?;
//!
//! client
//!     .backup_partition(id)
//!     .storage(BackupStorage::azure_blob_store(connection_string, "BackupContainer"))
//!     .await?;
//!
//! let progress = client.backup_progress(id).await?;
//! println!("backup state: {}", progress.state);
//! # Ok(())
//! # }
//! ```
//!
//! # Errors
//!
//! Arguments are checked before anything is sent ([`Error::InvalidInput`]). A Service Fabric error answer becomes
//! [`Error::Service`] with its [`ErrorCode`]; helpers such as [`Error::is_backup_in_progress`] and
//! [`Error::is_transient`] classify it. A single request is never retried automatically.
//!
//! # Waiting for the outcome
//!
//! [`BackupPartitionRequest::wait`] sends the backup request once, then follows progress until this backup
//! ends: [`CompletedBackup`], or a [`WaitError`] (the backup failed or timed out, the request was refused, the
//! wait's deadline passed). It tells this backup's result from an earlier one's, retries failed progress reads
//! ([`RetryPolicy`]) but never the backup request, and reports each state to [`WaitOptions::on_progress`].
//!
//! # Timeouts
//!
//! A request's `timeout` is the server timeout the service applies (60 seconds when unset). The client waits that
//! long plus a [margin](ClientBuilder::timeout_margin) for the answer, then fails with [`Error::Timeout`].
//!
//! # TLS
//!
//! `https` endpoints use rustls (aws-lc-rs provider) and, by default, the operating system's trust store.
//! Secured clusters usually want a client certificate and validate the cluster's own certificate by thumbprint
//! or common name: see [Secured clusters](ClientBuilder#secured-clusters). Azure AD clusters take a bearer
//! token from a [`TokenProvider`].
//!
//! # Logging
//!
//! Each request runs in a `tracing` debug span named `sf_backup` with the operation and partition id. Secrets
//! never appear in spans, `Debug` output or errors.
//!
//! # Features
//!
//! - `pkcs12` (default): [`ClientBuilder::client_certificate_pkcs12_file`] reads .pfx/.p12 files. Without it
//!   the method is still there, and [`ClientBuilder::build`] refuses such a file with the `openssl` command that
//!   converts it to PEM.
#![forbid(unsafe_code)]
// docs.rs (nightly, `--cfg docsrs`) shows which items need a feature; stable builds never see this.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod auth;
mod client;
mod error;
mod id;
mod progress;
mod request;
mod retry;
mod secret;
mod storage;
mod tls;
mod wait;

pub use auth::{TokenError, TokenFuture, TokenProvider};
pub use client::{Client, ClientBuilder, DEFAULT_ENDPOINT, DEFAULT_TIMEOUT_MARGIN};
pub use error::{Error, ErrorCode};
pub use id::{ParsePartitionIdError, PartitionId};
pub use progress::{BackupFailure, BackupProgress, BackupState, Epoch};
pub use request::{BackupPartitionRequest, BackupProgressRequest, ResponseFuture};
pub use reqwest::StatusCode;
pub use retry::RetryPolicy;
pub use secret::Secret;
pub use storage::{BackupStorage, ManagedIdentityType};
pub use wait::{
    CompletedBackup, DEFAULT_AMBIGUOUS_GRACE, DEFAULT_MAX_POLL_INTERVAL, DEFAULT_POLL_INTERVAL,
    WaitError, WaitOptions,
};

impl From<ParsePartitionIdError> for Error {
    fn from(error: ParsePartitionIdError) -> Self {
        Error::invalid(
            "partition id",
            format!("{:?} is not a UUID", error.value()),
            "pass a UUID such as 1daae3f5-7fd6-42e9-b1ba-8c05f873994d",
        )
    }
}
