//! Backing up many partitions from one client at bounded concurrency.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::stream::FuturesUnordered;
use tokio::time::Instant;

use crate::wait::Events;
use crate::{
    BackupState, BackupStorage, BackupWait, Client, CompletedBackup, PartitionId, Requested,
    WaitError, WaitOptions,
};

/// How many partitions [`Client::backup_partitions`] backs up at once unless told otherwise. The service sets
/// no limit on concurrent on-demand backups across partitions; each one makes a replica write a full or
/// incremental backup to storage and queues work in the Backup Restore Service, so the client's limit is the
/// only thing that protects the cluster. Four keeps a cluster's disks and network busy without crowding its
/// own periodic backups; raise it for large clusters with headroom.
pub const DEFAULT_FLEET_CONCURRENCY: usize = 4;

/// Backups of many partitions being prepared by [`Client::backup_partitions`]: the same storage and timeouts for
/// every partition, each partition waited for by the same rules as a single
/// [`wait`](crate::BackupPartitionRequest::wait) (one backup request, its own wait deadline).
///
/// Read it as a [`Stream`](futures_core::Stream) of [`PartitionOutcome`]s, in the order the partitions end.
/// Dropping it stops starting new backups and stops waiting for the running ones; a backup already requested goes
/// on at the service ([`FleetBackup::in_flight`] tells which).
///
/// ```no_run
/// # async fn demo(client: sf_backup::Client, ids: Vec<sf_backup::PartitionId>) {
/// use std::future::poll_fn;
/// use std::pin::Pin;
/// use futures_core::Stream;
///
/// let mut fleet = client.backup_partitions(ids).concurrency(8);
/// while let Some(outcome) = poll_fn(|cx| Pin::new(&mut fleet).poll_next(cx)).await {
///     match &outcome.result {
///         Ok(backup) => println!("{}: {}", outcome.partition_id, backup.backup_id),
///         Err(error) if outcome.busy() => println!("{}: busy ({error})", outcome.partition_id),
///         Err(error) => println!("{}: {error}", outcome.partition_id),
///     }
/// }
/// # }
/// ```
#[must_use = "backups start only when the stream is polled"]
pub struct FleetBackup {
    client: Client,
    queue: VecDeque<PartitionId>,
    running: FuturesUnordered<Running>,
    concurrency: usize,
    storage: Option<BackupStorage>,
    backup_timeout: Option<Duration>,
    server_timeout: Option<Duration>,
    options: WaitOptions,
    follow_busy: bool,
}

/// One partition's backup and wait; polled only when it was woken.
struct Running {
    partition_id: PartitionId,
    started: Instant,
    events: Events,
    future: Pin<Box<dyn Future<Output = PartitionOutcome> + Send>>,
}

impl Future for Running {
    type Output = PartitionOutcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<PartitionOutcome> {
        self.future.as_mut().poll(cx)
    }
}

/// A partition whose backup is running in a [`FleetBackup`], as [`FleetBackup::running`] shows it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct InFlight {
    /// The partition.
    pub partition_id: PartitionId,
    /// Whether its backup request reached the service so far (`None`: not sent yet).
    pub requested: Option<Requested>,
    /// The state its progress last showed (`None`: not read yet).
    pub state: Option<BackupState>,
    /// How long ago it started.
    pub elapsed: Duration,
}

impl fmt::Debug for FleetBackup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetBackup")
            .field("queued", &self.queue.len())
            .field("in_flight", &self.in_flight())
            .field("concurrency", &self.concurrency)
            .field(
                "storage_kind",
                &self.storage.as_ref().map(BackupStorage::kind),
            )
            .finish_non_exhaustive()
    }
}

/// How one partition's backup ended, from a [`FleetBackup`].
#[derive(Debug)]
#[non_exhaustive]
pub struct PartitionOutcome {
    /// The partition.
    pub partition_id: PartitionId,
    /// The backup that was written, or why there is none, exactly as a single wait reports it.
    pub result: Result<CompletedBackup, WaitError>,
    /// How long this partition took, from its backup request (or the read before it) to its outcome.
    pub duration: Duration,
    /// Whether the outcome is that of a backup that was already running and was followed instead of requested
    /// ([`FleetBackup::follow_busy`]).
    pub followed: bool,
}

impl PartitionOutcome {
    /// Whether the partition was busy: another backup (or a restore) was running, so none was requested for it
    /// (HTTP 409). Not a failure of a backup; try again later, or follow it with [`FleetBackup::follow_busy`].
    pub fn busy(&self) -> bool {
        matches!(&self.result, Err(WaitError::Request(error)) if error.is_busy())
    }
}

impl Client {
    /// Backs up every partition in `partitions` (duplicates are backed up once), at most
    /// [`DEFAULT_FLEET_CONCURRENCY`] at a time unless [`FleetBackup::concurrency`] says otherwise. See
    /// [`FleetBackup`].
    pub fn backup_partitions(
        &self,
        partitions: impl IntoIterator<Item = PartitionId>,
    ) -> FleetBackup {
        let mut seen = HashSet::new();
        let queue = partitions
            .into_iter()
            .filter(|id| seen.insert(*id))
            .collect();
        FleetBackup {
            client: self.clone(),
            queue,
            running: FuturesUnordered::new(),
            concurrency: DEFAULT_FLEET_CONCURRENCY,
            storage: None,
            backup_timeout: None,
            server_timeout: None,
            options: WaitOptions::new(),
            follow_busy: false,
        }
    }
}

impl FleetBackup {
    /// At most this many partitions at a time (at least one).
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// Writes every backup to this storage instead of each partition's policy storage.
    pub fn storage(mut self, storage: BackupStorage) -> Self {
        self.storage = Some(storage);
        self
    }

    /// The backup timeout of every request; see [`BackupPartitionRequest::backup_timeout`](crate::BackupPartitionRequest::backup_timeout).
    pub fn backup_timeout(mut self, backup_timeout: Duration) -> Self {
        self.backup_timeout = Some(backup_timeout);
        self
    }

    /// The server timeout of every request; see [`BackupPartitionRequest::server_timeout`](crate::BackupPartitionRequest::server_timeout).
    pub fn server_timeout(mut self, server_timeout: Duration) -> Self {
        self.server_timeout = Some(server_timeout);
        self
    }

    /// How each partition is waited for. Every partition gets these settings and its own wait timeout, counted
    /// from its own start; a progress callback set here is not used (read the outcomes instead).
    pub fn wait_options(mut self, options: WaitOptions) -> Self {
        self.options = options;
        self
    }

    /// When a partition is busy with another backup (409), follow that backup to its end instead of reporting
    /// the partition as busy; its outcome then has [`PartitionOutcome::followed`] set.
    pub fn follow_busy(mut self, follow: bool) -> Self {
        self.follow_busy = follow;
        self
    }

    /// The partitions whose backups are running now, with whether each backup request reached the service so
    /// far (`None`: not sent yet). For a caller that stops early and must say what it left behind.
    pub fn in_flight(&self) -> Vec<(PartitionId, Option<Requested>)> {
        self.running
            .iter()
            .map(|running| (running.partition_id, running.events.lock().requested))
            .collect()
    }

    /// The partitions whose backups are running now, each with its last known state and how long it has been
    /// running: what a live display shows. In no particular order.
    pub fn running(&self) -> Vec<InFlight> {
        self.running
            .iter()
            .map(|running| {
                let shared = running.events.lock();
                InFlight {
                    partition_id: running.partition_id,
                    requested: shared.requested,
                    state: shared.last.as_ref().map(|progress| progress.state.clone()),
                    elapsed: running.started.elapsed(),
                }
            })
            .collect()
    }

    /// How many partitions are running now.
    pub fn running_count(&self) -> usize {
        self.running.len()
    }

    /// The partitions not started yet.
    pub fn queued(&self) -> impl Iterator<Item = PartitionId> + '_ {
        self.queue.iter().copied()
    }

    fn start(&mut self, partition_id: PartitionId) {
        let mut request = self.client.backup_partition(partition_id);
        if let Some(storage) = &self.storage {
            request = request.storage(storage.clone());
        }
        if let Some(backup_timeout) = self.backup_timeout {
            request = request.backup_timeout(backup_timeout);
        }
        if let Some(server_timeout) = self.server_timeout {
            request = request.server_timeout(server_timeout);
        }
        let wait: BackupWait = request.wait(self.options.settings());
        let events = wait.events();
        let follow = self
            .follow_busy
            .then(|| (self.client.clone(), self.options.settings()));
        let future = async move {
            let started = Instant::now();
            let mut followed = false;
            let mut result = wait.await;
            if let (Some((client, options)), Err(WaitError::Request(error))) = (follow, &result)
                && error.is_backup_in_progress()
            {
                tracing::info!(%partition_id, "partition busy with another backup; following it");
                followed = true;
                result = client.follow_backup(partition_id, options).await;
            }
            PartitionOutcome {
                partition_id,
                result,
                duration: started.elapsed(),
                followed,
            }
        };
        self.running.push(Running {
            partition_id,
            started: Instant::now(),
            events,
            future: Box::pin(future),
        });
    }
}

impl futures_core::Stream for FleetBackup {
    type Item = PartitionOutcome;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<PartitionOutcome>> {
        let this = self.get_mut();
        while this.running.len() < this.concurrency
            && let Some(partition_id) = this.queue.pop_front()
        {
            this.start(partition_id);
        }
        // Only the partitions that were woken are polled, so a large concurrency costs nothing per wake-up.
        match Pin::new(&mut this.running).poll_next(cx) {
            Poll::Ready(Some(outcome)) => {
                // A slot is free: start the next partition before the caller sees this outcome, and make sure it
                // is polled (it registers its timers and sockets on its first poll).
                if let Some(partition_id) = this.queue.pop_front() {
                    this.start(partition_id);
                    cx.waker().wake_by_ref();
                }
                Poll::Ready(Some(outcome))
            }
            // Nothing runs and nothing is queued (the loop above started whatever was).
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}
