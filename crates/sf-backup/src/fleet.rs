//! Backing up many partitions from one client at bounded concurrency.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::stream::FuturesUnordered;
use tokio::time::Instant;

use crate::operation::Events;
use crate::{
    BackupPartitionRequest, BackupProgress, BackupState, Client, CompletedBackup, PartitionId,
    Requested, WaitError, WaitOptions,
};

/// How many partitions [`Client::backup_partitions`] backs up at once unless told otherwise. The service sets
/// no limit on concurrent on-demand backups across partitions; each one makes a replica write a full or
/// incremental backup to storage and queues work in the Backup Restore Service, so the client's limit is the
/// only thing that protects the cluster. Four keeps a cluster's disks and network busy without crowding its
/// own periodic backups; raise it for large clusters with headroom.
pub const DEFAULT_FLEET_CONCURRENCY: usize = 4;

/// How every backup request of a fleet is set up (storage, timeouts), applied to each partition's request.
type Configure = Arc<dyn Fn(BackupPartitionRequest) -> BackupPartitionRequest + Send + Sync>;

/// Backups of many partitions being prepared by [`Client::backup_partitions`]: every request set up the same
/// way ([`FleetBackup::each_request`]), each partition waited for by the same rules as a single
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
/// use std::time::Duration;
/// use futures_core::Stream;
///
/// let mut fleet = client
///     .backup_partitions(ids)
///     .concurrency(8)
///     .each_request(|request| request.backup_timeout(Duration::from_secs(30 * 60)));
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
    /// Partitions whose backup was requested earlier (by a run that was interrupted): followed, never requested.
    follow: HashSet<PartitionId>,
    running: FuturesUnordered<Running>,
    concurrency: usize,
    configure: Option<Configure>,
    options: WaitOptions,
    follow_busy: bool,
}

/// One partition's backup and wait; polled only when it was woken.
struct Running {
    partition_id: PartitionId,
    started: Instant,
    events: Events<BackupProgress>,
    future: Pin<Box<dyn Future<Output = PartitionOutcome> + Send>>,
}

impl Future for Running {
    type Output = PartitionOutcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<PartitionOutcome> {
        self.future.as_mut().poll(cx)
    }
}

/// A partition whose backup is running in a [`FleetBackup`], as [`FleetBackup::in_flight`] shows it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct InFlight {
    /// The partition.
    pub partition_id: PartitionId,
    /// Whether its backup request reached the service so far (`None`: not sent yet, or followed).
    pub requested: Option<Requested>,
    /// The state its progress last showed (`None`: not read yet).
    pub state: Option<BackupState>,
    /// How long ago it started.
    pub elapsed: Duration,
    /// Whether its backup was requested earlier and is followed ([`FleetBackup::follow`]).
    pub followed: bool,
}

impl fmt::Debug for FleetBackup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetBackup")
            .field("queued", &self.queue.len())
            .field("in_flight", &self.in_flight())
            .field("concurrency", &self.concurrency)
            .field("each_request", &self.configure.is_some())
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
    /// Whether the outcome is that of a backup that was followed instead of requested: one requested earlier
    /// ([`FleetBackup::follow`]), or one already running ([`FleetBackup::follow_busy`]).
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
            follow: HashSet::new(),
            running: FuturesUnordered::new(),
            concurrency: DEFAULT_FLEET_CONCURRENCY,
            configure: None,
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

    /// Sets up every partition's backup request with the request's own builder: storage, backup timeout,
    /// server timeout (the [`FleetBackup`] example sets one).
    pub fn each_request(
        mut self,
        configure: impl Fn(BackupPartitionRequest) -> BackupPartitionRequest + Send + Sync + 'static,
    ) -> Self {
        self.configure = Some(Arc::new(configure));
        self
    }

    /// How each partition is waited for. Every partition gets these settings and its own wait timeout, counted
    /// from its own start; a progress callback set here is not used (read the outcomes instead).
    pub fn wait_options(mut self, options: WaitOptions) -> Self {
        self.options = options.without_callback();
        self
    }

    /// When a partition is busy with another backup (409), follow that backup to its end instead of reporting
    /// the partition as busy; its outcome then has [`PartitionOutcome::followed`] set.
    pub fn follow_busy(mut self, follow: bool) -> Self {
        self.follow_busy = follow;
        self
    }

    /// Partitions whose backup was requested earlier (a run that was interrupted after their request may have
    /// reached the service): they are followed to their end ([`Client::follow_backup`]), never requested again.
    /// They join the partitions to back up, if they are not among them already.
    pub fn follow(mut self, partitions: impl IntoIterator<Item = PartitionId>) -> Self {
        for partition_id in partitions {
            if self.follow.insert(partition_id) && !self.queue.contains(&partition_id) {
                self.queue.push_back(partition_id);
            }
        }
        self
    }

    /// The partitions whose backups are running now, each with whether its request reached the service so far,
    /// its last known state and how long it has been running: what a caller that stops early must report, and
    /// what a live display shows. In no particular order.
    pub fn in_flight(&self) -> Vec<InFlight> {
        self.running
            .iter()
            .map(|running| InFlight {
                partition_id: running.partition_id,
                requested: running.events.requested(),
                state: running
                    .events
                    .last_progress()
                    .map(|progress| progress.state),
                elapsed: running.started.elapsed(),
                followed: self.follow.contains(&running.partition_id),
            })
            .collect()
    }

    /// How many partitions are running now.
    pub fn in_flight_count(&self) -> usize {
        self.running.len()
    }

    /// The partitions not started yet.
    pub fn queued(&self) -> impl Iterator<Item = PartitionId> + '_ {
        self.queue.iter().copied()
    }

    fn start(&mut self, partition_id: PartitionId) {
        let followed = self.follow.contains(&partition_id);
        let wait = if followed {
            self.client
                .follow_backup(partition_id, self.options.clone())
        } else {
            let mut request = self.client.backup_partition(partition_id);
            if let Some(configure) = &self.configure {
                request = configure(request);
            }
            request.wait(self.options.clone())
        };
        let events = wait.events();
        let follow =
            (self.follow_busy && !followed).then(|| (self.client.clone(), self.options.clone()));
        let future = async move {
            let started = Instant::now();
            let mut followed = followed;
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
