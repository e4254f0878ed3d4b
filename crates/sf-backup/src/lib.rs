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
//! [`Error::Service`] with its [`ErrorCode`]; predicates classify it: [`Error::is_backup_in_progress`] (another
//! backup runs), [`Error::is_restore_in_progress`] (a restore runs), [`Error::is_busy`] (either),
//! [`Error::is_transient`], [`Error::is_server_timeout`]. Reads are retried as the client's [`RetryPolicy`] says;
//! the backup request never is, and [`Error::may_have_reached_service`] tells whether a failed one may have
//! started a backup.
//!
//! # Waiting for the outcome
//!
//! [`BackupPartitionRequest::wait`] sends the backup request once, then reads progress until this backup ends:
//! [`CompletedBackup`], or a [`WaitError`] whose [`kind`](WaitError::kind) names the case for scripts. The
//! [`BackupWait`] it returns is awaited for the outcome, or read first as a stream of [`WaitEvent`]s: this
//! backup's progress, states this version does not know (treated as still running), and every retried read
//! with its cause. How it tells this backup's progress from another's, its one deadline and its retries:
//! [`BackupPartitionRequest::wait`]. [`Client::follow_backup`] follows a backup that was requested elsewhere.
//!
//! When the service reports `Timeout`, the backup may still be written: its replica works on past the service's
//! deadline, and the late result is dropped from progress. The wait then looks in the storage it used
//! ([`Client::look_for_written_backup`], which a caller can use too) for a backup created in this request's
//! window, and reports what it found in [`WaitError::ServiceTimeout`]'s [`StorageCheck`]: written, several
//! [`Candidate`]s with their [`CandidateReason`], nothing, or why it could not check.
//!
//! # Backup lists and topology
//!
//! [`Client::list_backups`] (a partition's policy storage) and [`Client::list_backups_in`] (a storage and a
//! [`list::BackupEntity`] given explicitly) take `since`/`until`/`latest`, page transparently as a
//! [`list::BackupStream`] of typed [`list::BackupInfo`] (placeholders as `None`), or, awaited, return every
//! backup oldest first, working around the service's quirks ([`list::ListBackups`]). [`Client::resolve_service`]
//! and [`Client::resolve_application`] turn names into the partitions to back up ([`topology`]). Every list
//! follows every continuation token, and ends with [`Error::EndlessList`] when the service sends one it sent
//! before.
//!
//! # Timeouts
//!
//! Every time setting of the crate, each with one name everywhere (library, CLI flag, CLI output, docs). Five
//! bound how long something may take, two say how long to keep looking, the rest pace reads or widen a window:
//!
//! | setting | whose clock, what it bounds | default | when it runs out | CLI flag |
//! |---|---|---|---|---|
//! | [`backup_timeout`](BackupPartitionRequest::backup_timeout) | the service's: from the backup request (queueing included) to the backup's end | 10 minutes | progress says `Timeout`: [`WaitError::ServiceTimeout`] (exit 5, or 8 when the backup was found written) | `--backup-timeout` (minutes) |
//! | [`server_timeout`](BackupPartitionRequest::server_timeout) | the service's: how long it may take to answer one request | 60 seconds | the service answers 504 `FABRIC_E_TIMEOUT`: [`Error::is_server_timeout`] | `--server-timeout` (seconds) |
//! | [`answer_margin`](ClientBuilder::answer_margin) | ours: how long beyond the server timeout we wait for one answer | 10 seconds | [`Error::NoAnswer`] (the request may have reached the service) | — |
//! | [`connect_timeout`](ClientBuilder::connect_timeout) | ours: opening one connection | 10 seconds | [`Error::Transport`] (nothing was sent) | — |
//! | [`wait_timeout`](WaitOptions::wait_timeout) | ours: the whole wait, every read, retry, look and the request included | backup timeout + 5 minutes | [`WaitError::WaitTimeout`] with the last error (exit 6, 7 if the answer was lost, 4 if nothing was sent); a requested backup goes on | `--wait-timeout` (seconds) |
//! | [`lost_answer_watch`](WaitOptions::lost_answer_watch) | ours, inside the wait: after the backup request's answer was lost, how long to watch progress for a sign of it | 15 seconds | [`WaitError::Ambiguous`] (exit 7) | — |
//! | [`late_write_watch`](WaitOptions::late_write_watch) | ours, inside the wait: after `Timeout`, how long to keep looking in storage | 120 seconds | [`StorageCheck::NothingFound`] | `--late-write-watch` (seconds) |
//! | [`clock_skew`](WaitOptions::clock_skew) | not a clock: how far this machine's and the node's clocks may disagree when the look matches creation times | 60 seconds | — | `--clock-skew` (seconds) |
//! | [`poll_interval`](WaitOptions::poll_interval), [`max_poll_interval`](WaitOptions::max_poll_interval) | the pause between progress reads, growing 1.5 times | 1 s, 10 s (at least [`MIN_POLL_INTERVAL`]) | — | `--poll-interval` (fixed) |
//! | [`initial_backoff`](RetryPolicy::initial_backoff), [`max_backoff`](RetryPolicy::max_backoff) | the pause before retrying a failed read (a GET, never the backup request), doubling, jittered; outside a wait a read is retried at most 3 times ([`max_retries`](RetryPolicy::max_retries) overrides), inside one until the wait's deadline | 200 ms, 5 s | the read's last error | — |
//!
//! `Timeout` is also a wire name the service uses twice: the backup state [`BackupState::Timeout`] (the backup
//! timeout passed) and the error code [`ErrorCode::Timeout`] (`FABRIC_E_TIMEOUT`, the server timeout passed, or
//! inside a `Timeout` progress the backup timeout).
//!
//! # TLS
//!
//! With the `tls` feature (on by default), `https` endpoints use rustls (aws-lc-rs provider; ring with
//! `tls-ring`) and, by default, the operating system's trust store. Secured clusters usually want a client
//! certificate and validate the cluster's own certificate by thumbprint or common name: see
//! [Secured clusters](ClientBuilder#secured-clusters) for the modes and what each accepts. Azure AD clusters take
//! a bearer token from a [`TokenProvider`].
//!
//! # Logging
//!
//! Each request runs in a `tracing` debug span named `sf_backup` with the operation and partition id. Secrets
//! never appear in spans, `Debug` output or errors.
//!
//! # Features
//!
//! | feature | default | what it adds | what it costs to build (clean debug build, 2 cores; BENCHMARKS.md) |
//! |---|---|---|---|
//! | `tls` | yes | `https` endpoints and every TLS setting of [`ClientBuilder`] (client certificates, CA bundle, server thumbprints, common names, issuer thumbprints, accept-any): rustls with aws-lc-rs, the platform verifier, x509-parser | 33 crates; 55 to 80 s more CPU than no TLS (110 to 135 s against 55 s), aws-lc-sys compiling C in a build script |
//! | `pkcs12` | yes | `ClientBuilder::client_certificate_pkcs12_file` reads .pfx/.p12 files (without it the method refuses such a file with the `openssl` command that converts it to PEM); implies `tls` | 45 more crates; 22 to 24 s more CPU |
//! | `tls-ring` | no | the same TLS support with the ring provider instead of aws-lc-rs (ring's build script compiles far less C than aws-lc-sys's); every client carries its own ring configuration, so no process-wide provider is needed | 33 crates; about 36 to 41 s more CPU than no TLS (17 to 29% less than `tls`) |
//! | `unstable-reqwest` | no | `ClientBuilder::configure_http_client`, which hands over the prepared reqwest builder (TLS kept) for settings this crate has no method for, and a re-export of `reqwest`; outside the semver promise, since a reqwest upgrade changes the signature | nothing: reqwest is built anyway |
//!
//! With `default-features = false` the client speaks plain http only, for development clusters and the testkit:
//! the TLS methods do not exist and [`ClientBuilder::build`] refuses an `https` endpoint or proxy with an
//! [`Error::InvalidInput`] that names the `tls` feature. `tls-ring` with `tls` still uses ring. In a build whose
//! only TLS feature is `tls-ring`, reqwest has no provider of its own: an application's own `reqwest::Client`
//! in the same build then needs a preconfigured rustls config or a process-wide provider
//! (`rustls::crypto::ring::default_provider().install_default()`); sf-backup's clients never do.
#![forbid(unsafe_code)]
// docs.rs (nightly, `--cfg docsrs`) shows which items need a feature; stable builds never see this.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod auth;
mod client;
mod error;
mod fleet;
mod id;
mod json;
pub mod list;
mod operation;
mod pages;
mod progress;
mod request;
mod retry;
mod secret;
mod storage;
#[cfg(any(feature = "tls", feature = "tls-ring"))]
mod tls;
pub mod topology;
mod uri;
mod wait;

pub use auth::{TokenError, TokenFuture, TokenProvider};
/// Times in this API are `chrono` UTC times; re-exported so that callers need no matching `chrono` version.
pub use chrono::{DateTime, Utc};
pub use client::{Client, ClientBuilder, DEFAULT_ANSWER_MARGIN, DEFAULT_ENDPOINT};
pub use error::{Error, ErrorCode, TransportError};
pub use fleet::{DEFAULT_FLEET_CONCURRENCY, FleetBackup, InFlight, PartitionOutcome};
/// The HTTP status of an answer, from the `http` crate (the one the Rust HTTP ecosystem shares).
pub use http::StatusCode;
pub use id::{ParsePartitionIdError, PartitionId};
pub use operation::{OperationWait, Requested, WaitEvent};
pub use progress::{BackupFailure, BackupProgress, BackupState, Epoch};
pub use request::{BackupPartitionRequest, BackupProgressRequest, ResponseFuture};
pub use retry::RetryPolicy;
pub use secret::Secret;
pub use storage::{BackupStorage, ManagedIdentityType};
#[cfg(any(feature = "tls", feature = "tls-ring"))]
pub use tls::{ServerCertificate, TlsCheck, TlsRejection};
/// Backup ids are `uuid` UUIDs; re-exported so that callers need no matching `uuid` version.
pub use uuid::Uuid;

/// The reqwest this crate is built with, for [`ClientBuilder::configure_http_client`] (feature
/// `unstable-reqwest`, outside this crate's semver promise).
#[cfg(feature = "unstable-reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "unstable-reqwest")))]
pub use reqwest;
pub use wait::{
    BackupWait, BackupWindow, Candidate, CandidateReason, CompletedBackup, ListedStorage,
    MIN_POLL_INTERVAL, StorageCheck, WaitError, WaitOptions, WrittenLook,
};
