//! An ergonomic client for Service Fabric partition backups: start a backup of a stateful partition
//! ([Backup Partition](https://learn.microsoft.com/rest/api/servicefabric/sfclient-api-backuppartition)),
//! follow its progress (Get Partition Backup Progress) and list the backups in storage (Get Partition Backup List,
//! Get Backups From Backup Location), through a cluster's HTTP gateway (port 19080).
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
//! When the service reports `Timeout`, the backup may still be written: its replica works on past the service's
//! deadline, and the late result is dropped from progress. A wait that sent the request then looks in the storage
//! it used ([`Client::list_backups`] for the policy storage, [`Client::list_backups_in`] for a storage given
//! explicitly) for a backup created in this request's window, within the wait's deadline:
//! [`WaitError::TimedOutButWritten`] when exactly one is found, [`WaitError::TimedOutPossiblyWritten`] with every
//! [`Candidate`] and its reason when it cannot tell, and [`WaitError::BackupTimedOut`] with a [`StorageCheck`]
//! otherwise.
//!
//! # Backup lists
//!
//! [`Client::list_backups`] (a partition's policy storage) and [`Client::list_backups_in`] (a storage and a
//! [`BackupEntity`] given explicitly) take `since`/`until`/`latest`, page transparently as a [`BackupStream`]
//! of typed [`BackupInfo`] (placeholders as `None`), or, awaited, return every backup oldest first. They work
//! around the service's quirks: no `MaxResults` with `Latest` (it would return the oldest backup), the 400 that
//! `MaxResults` with no match provokes read as an empty list, and continuation tokens with `+` sent as `%2B`.
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
//! or common name: see [Secured clusters](ClientBuilder#secured-clusters). A thumbprint pins the server's own
//! certificate; a common name (or DNS name) needs a chain to the trust store or the CA bundle, or a pinned direct
//! issuer; every mode but accepting any certificate refuses one outside its validity dates. Azure AD clusters
//! take a bearer token from a [`TokenProvider`].
//!
//! # Logging
//!
//! Each request runs in a `tracing` debug span named `sf_backup` with the operation and partition id. Secrets
//! never appear in spans, `Debug` output or errors.
#![forbid(unsafe_code)]

mod auth;
mod client;
mod error;
mod id;
mod list;
mod progress;
mod request;
mod retry;
mod secret;
mod storage;
mod tls;
mod uri;
mod wait;

pub use auth::{TokenError, TokenFuture, TokenProvider};
pub use client::{Client, ClientBuilder, DEFAULT_ENDPOINT, DEFAULT_TIMEOUT_MARGIN};
pub use error::{Error, ErrorCode};
pub use id::{ParsePartitionIdError, PartitionId};
pub use list::{BackupEntity, BackupInfo, BackupStream, BackupType, ListBackups};
pub use progress::{BackupFailure, BackupProgress, BackupState, Epoch};
pub use request::{BackupPartitionRequest, BackupProgressRequest, ResponseFuture};
pub use reqwest::StatusCode;
pub use retry::RetryPolicy;
pub use secret::Secret;
pub use storage::{BackupStorage, ManagedIdentityType};
pub use wait::{
    BackupWait, BackupWindow, Candidate, CompletedBackup, DEFAULT_AMBIGUOUS_GRACE,
    DEFAULT_CLOCK_ALLOWANCE, DEFAULT_MAX_POLL_INTERVAL, DEFAULT_POLL_INTERVAL,
    DEFAULT_WRITTEN_GRACE, MIN_POLL_INTERVAL, Requested, StorageCheck, WaitError, WaitOptions,
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
