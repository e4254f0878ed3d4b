//! A fake Service Fabric cluster behind its HTTP gateway, for tests, examples and demos: it answers the six
//! operations of the client REST API that sf-backup uses, in one of two [dialects](Dialect): the shapes the
//! Service Fabric code sends (the default) or the ones `spec/servicefabric-backup.openapi.yaml` and the REST
//! pages document.
//!
//! - `POST /Partitions/{partitionId}/$/Backup` answers 202 with an empty body and starts a fake backup;
//! - `GET /Partitions/{partitionId}/$/GetBackupProgress` answers 200 with a `BackupProgressInfo` that goes
//!   `Accepted` → `BackupInProgress` → `Success` (or a scripted `Failure` / `Timeout`);
//! - `GET /Partitions/{partitionId}/$/GetBackups` (GetPartitionBackupList) and `POST /BackupRestore/$/GetBackups`
//!   (GetBackupsFromBackupLocation) list what is in storage;
//! - `GET /Applications/{applicationId}/$/GetServices` (GetServiceInfoList) and
//!   `GET /Services/{serviceId}/$/GetPartitions` (GetPartitionInfoList) list the services and partitions of a
//!   [`Topology`] (by default [`Topology::fake_app`]), whose stateless and volatile partitions cannot be backed up.
//!
//! The modules follow the real components: [`cluster`](Topology) is the cluster as data; the native HTTP gateway
//! routes every request and answers the topology queries itself; the Backup Restore Service behind it runs the
//! backups, keeps what they wrote and lists it; `wire` writes every dialect-specific body once; the journal keeps
//! every request and written backup. Requests are validated as the real components do (api-version, `timeout`,
//! `BackupTimeout`, ids, bodies); an invalid one gets 400 `E_INVALIDARG` with a message naming the field. Every
//! request, faulted or rejected or not, is kept in a [journal](GatewayHandle::journal). [Faults](Fault) script
//! what real clusters and the proxies in front of them do: error statuses with known or unknown codes, HTML or
//! empty bodies, delays, dropped connections (optionally after the backup was accepted), truncated bodies, unknown
//! states, redirects, a moving primary.
//!
//! Before any backup was requested for a partition, progress is 200 `null` in the service's dialect and
//! `{"BackupState":"Invalid"}` in the documented one.
//!
//! ```
//! use sf_backup_testkit::{Config, Fault, Gateway, Operation};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let gateway = Gateway::start(Config::default()).await?;
//! gateway.push_fault(Fault::transient("FABRIC_E_NOT_READY").on(Operation::Backup));
//!
//! let url = format!(
//!     "{}/Partitions/1daae3f5-7fd6-42e9-b1ba-8c05f873994d/$/Backup?api-version=6.4",
//!     gateway.url()
//! );
//! let client = reqwest::Client::new();
//! assert_eq!(client.post(&url).body("{}").send().await?.status(), 503);
//! assert_eq!(client.post(&url).body("{}").send().await?.status(), 202);
//!
//! assert_eq!(gateway.count(Operation::Backup), 2);
//! gateway.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! Non-async callers use [`start_in_background`], which runs the gateway on its own runtime thread. The binary
//! (`cargo run -p sf-backup-testkit -- --listen 127.0.0.1:19080 --config gateway.json`) reads a [`Config`] from
//! JSON; see the crate's README.md for the format.
#![forbid(unsafe_code)]

mod brs;
mod cluster;
mod config;
mod gateway;
mod journal;
mod server;
mod tls;
mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// Times in this API ([`WrittenBackup::time_stamp_utc`], [`GatewayHandle::set_node_clock_offset`]) are `chrono`
/// types; re-exported so that callers need no matching `chrono` version.
pub use chrono::{DateTime, TimeDelta, Utc};
/// The generated wire types that [`WrittenBackup`] holds, re-exported so that callers need no matching
/// `sf-backup-api` version.
pub use sf_backup_api::types::{BackupStorageDescription, Epoch};
/// Partition and backup ids are `uuid` UUIDs; re-exported so that callers need no matching `uuid` version.
/// Methods that take a partition accept anything that converts into one, such as `sf_backup::PartitionId`.
pub use uuid::Uuid;

pub use brs::store::StoredBackup;
pub use cluster::{
    ApplicationConfig, Outcome, PartitionConfig, PartitionScheme, ServiceConfig, ServiceKind,
    Topology, TopologyError, default_topology,
};
pub use config::{Config, Fault, FaultAction, PemSource, TlsConfig};
pub use journal::{RecordedRequest, WrittenBackup};
pub use wire::dialect::Dialect;
pub use wire::operation::Operation;

use server::{Shared, State};

/// A cheap, cloneable view of a running gateway, usable from any thread or task.
#[derive(Clone)]
pub struct GatewayHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    https: bool,
}

impl std::fmt::Debug for GatewayHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayHandle")
            .field("addr", &self.addr)
            .field("https", &self.https)
            .finish_non_exhaustive()
    }
}

impl GatewayHandle {
    /// The base URL, e.g. `http://127.0.0.1:41234` (`https://…` when serving TLS), without a trailing slash.
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request received so far, in arrival order, including faulted and rejected ones.
    pub fn journal(&self) -> Vec<RecordedRequest> {
        self.shared.lock().journal.clone()
    }

    /// Connections accepted since the gateway started: a client that keeps its connections alive opens no more
    /// than it runs requests at once.
    pub fn connections_accepted(&self) -> u64 {
        self.shared.connections.accepted.load(Ordering::Relaxed)
    }

    /// Connections open now.
    pub fn connections_open(&self) -> u64 {
        self.shared.connections.open.load(Ordering::Relaxed)
    }

    /// The most connections that were open at once since the gateway started.
    pub fn connections_peak(&self) -> u64 {
        self.shared.connections.peak_open.load(Ordering::Relaxed)
    }

    /// Forgets the requests received so far.
    pub fn clear_journal(&self) {
        self.shared.lock().journal.clear();
    }

    /// How many requests so far addressed `operation` (with its method), faulted and refused ones included:
    /// e.g. `gateway.count(Operation::Backup)`, the backup POSTs a client sent.
    pub fn count(&self, operation: Operation) -> usize {
        self.shared
            .lock()
            .journal
            .iter()
            .filter(|request| request.operation() == Some(operation))
            .count()
    }

    /// Queues a fault behind the ones already queued; it applies to the next matching request(s).
    pub fn push_fault(&self, fault: Fault) {
        self.shared.lock().push_fault(fault);
    }

    /// Drops every queued fault, including the ones that apply forever.
    pub fn clear_faults(&self) {
        self.shared.lock().clear_faults();
    }

    /// Appends `outcome` to the outcomes of `partition`'s next backups (consumed in order; then `Success`).
    /// Scripting an outcome makes the partition exist even when other partitions were declared.
    pub fn script_outcome(&self, partition: impl Into<Uuid>, outcome: Outcome) {
        self.shared
            .lock()
            .brs
            .script_outcome(partition.into(), outcome);
    }

    /// The backups written to storage so far, oldest first. A backup whose progress said `Timeout` is here if it
    /// went through anyway.
    pub fn written_backups(&self) -> Vec<WrittenBackup> {
        self.shared.lock().brs.written_backups()
    }

    /// What `GetBackupProgress` would answer for `partition` now, as JSON in the gateway's dialect (`null` in the
    /// service's dialect before any backup); `None` if the partition does not exist.
    pub fn progress(&self, partition: impl Into<Uuid>) -> Option<serde_json::Value> {
        let body = self.shared.lock().brs.progress(partition.into())?;
        serde_json::from_slice(&body).ok()
    }

    /// Puts backups straight into `partition`'s storage (its policy storage, or the one each names), as periodic
    /// policy backups or backups from before the test: both backup lists show them once they have landed
    /// ([`StoredBackup::lands_after`]). Makes the partition exist.
    pub fn store_backups(&self, partition: Uuid, backups: impl IntoIterator<Item = StoredBackup>) {
        self.shared
            .lock()
            .brs
            .store_backups(partition, backups.into_iter().collect());
    }

    /// A periodic policy backup of `partition` that lands in the policy storage `after` from now, created then
    /// (a full backup, its own chain: what an on-demand backup looks like too).
    pub fn schedule_periodic_backup(&self, partition: Uuid, after: std::time::Duration) {
        let created = Utc::now() + chrono::Duration::from_std(after).unwrap_or_default();
        self.store_backups(
            partition,
            [StoredBackup {
                lands_after: after,
                ..StoredBackup::full(created)
            }],
        );
    }

    /// The dialect this gateway answers in.
    pub fn dialect(&self) -> Dialect {
        self.shared.lock().dialect
    }

    /// The applications, services and partitions the gateway lists now.
    pub fn topology(&self) -> Topology {
        self.shared.lock().topology()
    }

    /// Adds an application, with its services and partitions, to the topology. Fails, changing nothing, when
    /// the application exists already, when the result would not be a valid topology, or when one of its
    /// partitions was used before outside the topology.
    pub fn add_application(&self, application: ApplicationConfig) -> Result<(), TopologyError> {
        self.shared.lock().add_application(application)
    }

    /// Adds a service, with its partitions, to the topology's application named `application`. Fails, changing
    /// nothing, like [`GatewayHandle::add_application`].
    pub fn add_service(
        &self,
        application: &str,
        service: ServiceConfig,
    ) -> Result<(), TopologyError> {
        self.shared.lock().add_service(application, service)
    }

    /// Sets the clock of the node holding `partition`'s primary to the gateway's clock plus `offset` (negative:
    /// behind), for backups requested from now on: their `TimeStampUtc` comes from that clock.
    pub fn set_node_clock_offset(&self, partition: impl Into<Uuid>, offset: TimeDelta) {
        self.shared
            .lock()
            .brs
            .set_node_clock_offset(partition.into(), offset);
    }
}

/// A running fake gateway. Dropping it stops the server and closes every connection.
#[derive(Debug)]
pub struct Gateway {
    handle: GatewayHandle,
    task: Option<JoinHandle<()>>,
}

impl Gateway {
    /// Binds `config.listen` (default `127.0.0.1:0`) and starts serving on the current tokio runtime. Fails with
    /// [`std::io::ErrorKind::InvalidInput`] when the [TLS settings](Config::tls) cannot be used or the
    /// [topology](Config::topology) cannot be (the message names the field).
    pub async fn start(config: Config) -> std::io::Result<Gateway> {
        let acceptor = config.tls.as_ref().map(tls::acceptor).transpose()?;
        let listen = config
            .listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let state = State::new(&config).map_err(|error| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, error.to_string())
        })?;
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(state));
        let https = acceptor.is_some();
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared), acceptor));
        Ok(Gateway {
            handle: GatewayHandle {
                shared,
                addr,
                https,
            },
            task: Some(task),
        })
    }

    /// A cloneable handle to inspect and script this gateway from elsewhere.
    pub fn handle(&self) -> GatewayHandle {
        self.handle.clone()
    }

    /// Stops accepting, closes every connection and waits until the listener is released.
    pub async fn shutdown(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            // The only possible error is the cancellation just requested.
            let _ = task.await;
        }
    }
}

/// Inspecting and scripting go through the gateway's [`GatewayHandle`], so both offer the same methods.
impl std::ops::Deref for Gateway {
    type Target = GatewayHandle;

    fn deref(&self) -> &GatewayHandle {
        &self.handle
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        // Aborting drops the accept loop's JoinSet, which aborts every connection task with it.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Tests measure latency; Nagle would add tens of milliseconds to small responses.
                    let _ = stream.set_nodelay(true);
                    let shared = Arc::clone(&shared);
                    let open = shared.connection_opened();
                    match acceptor.clone() {
                        None => {
                            connections.spawn(async move {
                                server::serve_io(shared, stream).await;
                                drop(open);
                            });
                        }
                        Some(acceptor) => {
                            connections.spawn(async move {
                                let _open = open;
                                // A failed handshake (unknown client certificate, client gave up on ours) ends
                                // the connection before any request could be read, so the journal stays as is.
                                if let Ok(stream) = acceptor.accept(stream).await {
                                    server::serve_io(shared, stream).await;
                                }
                            });
                        }
                    }
                }
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// A gateway running on its own thread and tokio runtime, for callers without one. Dropping it stops the
/// gateway and joins the thread.
#[derive(Debug)]
pub struct BackgroundGateway {
    handle: GatewayHandle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Starts a gateway on a dedicated runtime thread and returns once it listens.
pub fn start_in_background(config: Config) -> std::io::Result<BackgroundGateway> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("sf-backup-testkit".to_owned())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            runtime.block_on(async move {
                match Gateway::start(config).await {
                    Ok(gateway) => {
                        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
                        let _ = ready_tx.send(Ok((gateway.handle(), stop_tx)));
                        // Either an explicit stop or the BackgroundGateway being dropped ends the wait.
                        let _ = stop_rx.await;
                        gateway.shutdown().await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
        })?;
    let (handle, stop) = ready_rx
        .recv()
        .map_err(|_| std::io::Error::other("the gateway thread exited before listening"))??;
    Ok(BackgroundGateway {
        handle,
        stop: Some(stop),
        thread: Some(thread),
    })
}

impl BackgroundGateway {
    /// A cloneable handle to inspect and script this gateway.
    pub fn handle(&self) -> GatewayHandle {
        self.handle.clone()
    }

    /// Stops the gateway and joins its thread.
    pub fn shutdown(self) {
        drop(self);
    }
}

/// Inspecting and scripting go through the gateway's [`GatewayHandle`], so both offer the same methods.
impl std::ops::Deref for BackgroundGateway {
    type Target = GatewayHandle;

    fn deref(&self) -> &GatewayHandle {
        &self.handle
    }
}

impl Drop for BackgroundGateway {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
