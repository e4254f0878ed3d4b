use std::future::{Future, IntoFuture};
use std::num::NonZeroU64;
use std::pin::Pin;
use std::time::Duration;

use tokio::time::Instant;

use sf_backup_api::types;
use tracing::Instrument;

use crate::client::SERVER_DEFAULT_TIMEOUT;
use crate::error::Operation;
use crate::{BackupProgress, BackupStorage, Client, Error, PartitionId};

/// The future an awaited request becomes. Boxed so the builders can implement [`IntoFuture`] on stable Rust.
pub type ResponseFuture<T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 'static>>;

/// The largest server timeout the service accepts, in seconds.
const MAX_SERVER_TIMEOUT_SECS: u64 = 4_294_967_295;

impl Client {
    /// Starts a backup of a stateful partition's state (POST `/Partitions/{id}/$/Backup`).
    ///
    /// Without [`storage`](BackupPartitionRequest::storage) the backup goes to the storage of the partition's
    /// backup policy (the service fails with `FABRIC_E_BACKUP_NOT_ENABLED` when it has none). The service only
    /// queues the backup and answers at once; follow it with [`Client::backup_progress`].
    ///
    /// This request is never retried automatically, because a retry could start a second backup.
    ///
    /// ```no_run
    /// # async fn demo(client: sf_backup::Client, id: sf_backup::PartitionId) -> Result<(), sf_backup::Error> {
    /// use std::time::Duration;
    /// use sf_backup::BackupStorage;
    ///
    /// client
    ///     .backup_partition(id)
    ///     .storage(BackupStorage::azure_blob_store("DefaultEndpointsProtocol=https;...", "BackupContainer"))
    ///     .backup_timeout(Duration::from_secs(30 * 60))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn backup_partition(&self, partition_id: PartitionId) -> BackupPartitionRequest {
        BackupPartitionRequest {
            client: self.clone(),
            partition_id,
            storage: None,
            backup_timeout: None,
            timeout: None,
        }
    }

    /// Reads the progress of the partition's most recent backup request
    /// (GET `/Partitions/{id}/$/GetBackupProgress`).
    ///
    /// ```no_run
    /// # async fn demo(client: sf_backup::Client, id: sf_backup::PartitionId) -> Result<(), sf_backup::Error> {
    /// let progress = client.backup_progress(id).await?;
    /// if progress.state.is_terminal() {
    ///     println!("{} at {:?}", progress.state, progress.backup_location);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn backup_progress(&self, partition_id: PartitionId) -> BackupProgressRequest {
        BackupProgressRequest {
            client: self.clone(),
            partition_id,
            timeout: None,
        }
    }
}

/// A backup request being prepared by [`Client::backup_partition`]. Await it, or call
/// [`send`](BackupPartitionRequest::send).
#[derive(Debug)]
#[must_use = "a request does nothing until it is awaited"]
pub struct BackupPartitionRequest {
    // Read by the wait (wait/), which sends the request.
    pub(crate) client: Client,
    pub(crate) partition_id: PartitionId,
    pub(crate) storage: Option<BackupStorage>,
    pub(crate) backup_timeout: Option<Duration>,
    pub(crate) timeout: Option<Duration>,
}

impl BackupPartitionRequest {
    /// Writes the backup to this storage instead of the storage of the partition's backup policy.
    pub fn storage(mut self, storage: BackupStorage) -> Self {
        self.storage = Some(storage);
        self
    }

    /// How long the service lets the backup run before it reports `Timeout` (`BackupTimeout`). Sent in whole
    /// minutes, rounded up, at least one; the service's default is 10 minutes. The service keeps it as a 32-bit
    /// count of minutes, so more than 2147483647 minutes (about 4083 years) fails with [`Error::InvalidInput`]
    /// before anything is sent.
    pub fn backup_timeout(mut self, backup_timeout: Duration) -> Self {
        self.backup_timeout = Some(backup_timeout);
        self
    }

    /// The service's per-request timeout (the `timeout` query parameter): how long the service may take to
    /// answer this request, after which it answers 504 `FABRIC_E_TIMEOUT` ([`Error::is_server_timeout`]). Sent
    /// in whole seconds, rounded up; it must be between 1 and 4294967295 seconds. The service's default is 60
    /// seconds. The client waits this long plus its [answer margin](crate::ClientBuilder::answer_margin) for the
    /// answer, then fails with [`Error::NoAnswer`]. See [Timeouts](crate#timeouts).
    pub fn server_timeout(mut self, server_timeout: Duration) -> Self {
        self.timeout = Some(server_timeout);
        self
    }

    /// Sends the request; the same as awaiting it. `Ok` means the service accepted the backup (HTTP 202).
    pub async fn send(self) -> Result<(), Error> {
        self.send_before(None).await
    }

    /// Sends the request once. The answer deadline (server timeout plus margin) is cut short at `cap`, the end
    /// of a wait; the bearer token is obtained before the deadline starts, so a slow token provider never turns
    /// a request that was not sent into one that may have reached the service.
    ///
    /// Not an `async fn`: the request is checked and its body built (the storage moved into it) when this is
    /// called, and the returned future holds the generated client's future once, inside the deadline. The
    /// layers of `async fn`s taking futures by value that this replaced kept several copies of that future's
    /// space, which made each request's future (boxed by `IntoFuture`) more than twice as large, and moving
    /// it cost more than the rest of the facade (BENCHMARKS.md).
    pub(crate) fn send_before(
        self,
        cap: Option<Instant>,
    ) -> impl Future<Output = Result<(), Error>> + Send + 'static {
        let Self {
            client,
            partition_id,
            storage,
            backup_timeout,
            timeout,
        } = self;
        let span = tracing::debug_span!(
            "sf_backup",
            operation = "backup_partition",
            partition_id = %partition_id,
            storage_kind = storage.as_ref().map(BackupStorage::kind),
        );
        let prepared = prepare(storage, timeout, backup_timeout);
        async move {
            let (body, server_timeout, backup_timeout) = prepared?;
            let api = client.api().await?;
            let uuid = *partition_id.as_uuid();
            let deadline = AnswerDeadline::starting_now(&client, server_timeout, cap);
            // Built where it stays (see `AnswerDeadline::run`).
            let call = std::pin::pin!(async {
                // Exactly one attempt: a retry after a lost answer could queue a second backup.
                match api
                    .backup_partition(
                        &uuid,
                        backup_timeout,
                        types::ApiVersion::X64,
                        server_timeout,
                        &body,
                    )
                    .await
                {
                    Ok(_) => Ok(()),
                    Err(error) => Err(Error::from_api(error, Operation::BackupPartition).await),
                }
            });
            deadline.run(call).await
        }
        .instrument(span)
    }

    /// Checks everything [`send`](Self::send) checks before sending, so that a wait can refuse bad input before
    /// its first progress read.
    pub(crate) fn check(&self) -> Result<(), Error> {
        if let Some(storage) = &self.storage {
            storage.validate()?;
        }
        server_timeout(self.timeout)?;
        self.backup_timeout
            .map(backup_timeout_minutes)
            .transpose()
            .map(drop)
    }
}

impl IntoFuture for BackupPartitionRequest {
    type Output = Result<(), Error>;
    type IntoFuture = ResponseFuture<()>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send_before(None))
    }
}

/// A progress request being prepared by [`Client::backup_progress`]. Await it, or call
/// [`send`](BackupProgressRequest::send).
#[derive(Clone, Debug)]
#[must_use = "a request does nothing until it is awaited"]
pub struct BackupProgressRequest {
    client: Client,
    partition_id: PartitionId,
    timeout: Option<Duration>,
}

impl BackupProgressRequest {
    /// The service's per-request timeout (`timeout`); see [`BackupPartitionRequest::server_timeout`].
    pub fn server_timeout(mut self, server_timeout: Duration) -> Self {
        self.timeout = Some(server_timeout);
        self
    }

    /// Sends the request, retried on failures that pass as [`RetryPolicy`](crate::RetryPolicy) says for a read
    /// outside a wait; the same as awaiting it.
    pub async fn send(self) -> Result<BackupProgress, Error> {
        let policy = self.client.retry_policy();
        crate::retry::standalone(policy, || self.clone().send_before(None)).await
    }

    /// Sends the request with its answer deadline cut short at `cap`; see
    /// [`BackupPartitionRequest::send_before`], also for why this is not an `async fn`.
    pub(crate) fn send_before(
        self,
        cap: Option<Instant>,
    ) -> impl Future<Output = Result<BackupProgress, Error>> + Send + 'static {
        let Self {
            client,
            partition_id,
            timeout,
        } = self;
        let span = tracing::debug_span!("sf_backup", operation = "backup_progress", partition_id = %partition_id);
        let server_timeout = server_timeout(timeout);
        async move {
            let server_timeout = server_timeout?;
            let api = client.api().await?;
            let uuid = *partition_id.as_uuid();
            let deadline = AnswerDeadline::starting_now(&client, server_timeout, cap);
            let call = std::pin::pin!(async {
                match api
                    .get_partition_backup_progress(&uuid, types::ApiVersion::X64, server_timeout)
                    .await
                {
                    Ok(response) => Ok(BackupProgress::from_api(response.into_inner())),
                    Err(error) => {
                        Err(Error::from_api(error, Operation::GetPartitionBackupProgress).await)
                    }
                }
            });
            deadline.run(call).await
        }
        .instrument(span)
    }
}

impl IntoFuture for BackupProgressRequest {
    type Output = Result<BackupProgress, Error>;
    type IntoFuture = ResponseFuture<BackupProgress>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// The body and the query values of a backup request, or why they cannot be sent. Takes the storage by value:
/// its strings move into the body instead of being copied.
fn prepare(
    storage: Option<BackupStorage>,
    timeout: Option<Duration>,
    backup_timeout: Option<Duration>,
) -> Result<
    (
        types::BackupPartitionDescription,
        Option<NonZeroU64>,
        Option<i64>,
    ),
    Error,
> {
    let mut body = types::BackupPartitionDescription::default();
    body.backup_storage = storage.map(BackupStorage::into_api).transpose()?;
    let server_timeout = server_timeout(timeout)?;
    let backup_timeout = backup_timeout.map(backup_timeout_minutes).transpose()?;
    Ok((body, server_timeout, backup_timeout))
}

/// The answer deadline of one call. The reqwest client has no overall timeout (its timeout would be one value
/// for every call), so each call, including reading an error body, gets an answer deadline of its own server
/// timeout plus the client's answer margin, cut short at `cap` when a wait ends sooner.
pub(crate) struct AnswerDeadline {
    at: Instant,
    /// How long after its start the deadline passes, for [`Error::NoAnswer`].
    after: Duration,
}

/// Where a deadline too far away to be a point in time is put: as far as tokio's own `timeout` puts it.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

impl AnswerDeadline {
    /// The deadline of a call that starts now (one reading of the clock).
    pub(crate) fn starting_now(
        client: &Client,
        server_timeout: Option<NonZeroU64>,
        cap: Option<Instant>,
    ) -> Self {
        let server = server_timeout.map_or(SERVER_DEFAULT_TIMEOUT, |secs| {
            Duration::from_secs(secs.get())
        });
        let after = server.saturating_add(client.inner.answer_margin);
        let now = Instant::now();
        let end = now.checked_add(after).unwrap_or_else(|| now + FAR_FUTURE);
        match cap {
            Some(cap) if cap < end => Self {
                at: cap,
                after: cap.saturating_duration_since(now),
            },
            _ => Self { at: end, after },
        }
    }

    /// Runs `call` until it ends or the deadline passes ([`Error::NoAnswer`]), and logs the outcome.
    ///
    /// Takes the call pinned where it is rather than by value: a future holding the generated client's request
    /// is some 2 KB, and each move of it is a copy of all of it (an `async fn` taking it by value would even
    /// keep room for it twice). The timer then wraps a pointer.
    pub(crate) async fn run<T, F>(self, call: Pin<&mut F>) -> Result<T, Error>
    where
        F: Future<Output = Result<T, Error>>,
    {
        let result = match tokio::time::timeout_at(self.at, call).await {
            Ok(result) => result,
            Err(_) => Err(Error::NoAnswer { after: self.after }),
        };
        match &result {
            Ok(_) => tracing::debug!("succeeded"),
            Err(error) => tracing::debug!(%error, "failed"),
        }
        result
    }
}

/// Runs `call` inside its [`AnswerDeadline`], which starts when this is first polled.
pub(crate) async fn with_deadline<T>(
    client: &Client,
    server_timeout: Option<NonZeroU64>,
    cap: Option<Instant>,
    call: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let call = std::pin::pin!(call);
    AnswerDeadline::starting_now(client, server_timeout, cap)
        .run(call)
        .await
}

pub(crate) fn server_timeout(timeout: Option<Duration>) -> Result<Option<NonZeroU64>, Error> {
    let Some(timeout) = timeout else {
        return Ok(None);
    };
    let secs = whole_seconds_rounded_up(timeout);
    match NonZeroU64::new(secs) {
        Some(secs) if secs.get() <= MAX_SERVER_TIMEOUT_SECS => Ok(Some(secs)),
        _ => Err(Error::invalid(
            "server timeout",
            format!("{timeout:?} is outside 1 to {MAX_SERVER_TIMEOUT_SECS} seconds"),
            "pass a timeout of at least 1 second and at most 4294967295 seconds, or leave it unset for the \
             service's default of 60 seconds",
        )),
    }
}

/// The most minutes the service accepts: it parses `BackupTimeout` into a .NET `int`.
const MAX_BACKUP_TIMEOUT_MINUTES: u64 = i32::MAX as u64;

fn backup_timeout_minutes(backup_timeout: Duration) -> Result<i64, Error> {
    let minutes = whole_seconds_rounded_up(backup_timeout).div_ceil(60).max(1);
    if minutes > MAX_BACKUP_TIMEOUT_MINUTES {
        return Err(Error::invalid(
            "backup timeout",
            format!(
                "{backup_timeout:?} is {minutes} minutes, more than the {MAX_BACKUP_TIMEOUT_MINUTES} the service \
                 accepts"
            ),
            "pass a backup timeout of at most 2147483647 minutes, or leave it unset for the service's default \
             of 10 minutes",
        ));
    }
    // At most i32::MAX, so it fits.
    Ok(i64::try_from(minutes).unwrap_or(i64::MAX))
}

fn whole_seconds_rounded_up(duration: Duration) -> u64 {
    duration
        .as_secs()
        .saturating_add(u64::from(duration.subsec_nanos() > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition() -> PartitionId {
        "1daae3f5-7fd6-42e9-b1ba-8c05f873994d".parse().unwrap()
    }

    /// Why it matters: [`BackupPartitionRequest::send_before`]. Its own part is about 850 bytes (parts and body,
    /// timer, span).
    #[test]
    fn a_request_future_holds_the_generated_call_once() {
        let client = Client::new("http://localhost:19080").unwrap();
        let id = partition();
        let body = types::BackupPartitionDescription::default();
        let api = &client.inner.api;
        let generated = std::mem::size_of_val(&api.backup_partition(
            id.as_uuid(),
            None,
            types::ApiVersion::X64,
            None,
            &body,
        ));
        let request = std::mem::size_of_val(&*client.backup_partition(id).into_future());
        assert!(
            request < generated + 1024,
            "a {request}-byte request future around a {generated}-byte generated call"
        );
        let generated = std::mem::size_of_val(&api.get_partition_backup_progress(
            id.as_uuid(),
            types::ApiVersion::X64,
            None,
        ));
        let request = std::mem::size_of_val(&*client.backup_progress(id).into_future());
        assert!(
            request < generated + 1024,
            "a {request}-byte progress future around a {generated}-byte generated call"
        );
    }

    #[test]
    fn the_answer_deadline_is_the_server_timeout_plus_the_margin_or_the_cap() {
        let client = Client::builder()
            .answer_margin(Duration::from_secs(5))
            .build()
            .unwrap();
        let before = Instant::now();
        let deadline = AnswerDeadline::starting_now(&client, None, None);
        assert_eq!(deadline.after, Duration::from_secs(65));
        assert!(deadline.at >= before + Duration::from_secs(65));
        assert!(deadline.at <= Instant::now() + Duration::from_secs(65));
        let deadline = AnswerDeadline::starting_now(&client, NonZeroU64::new(1), None);
        assert_eq!(deadline.after, Duration::from_secs(6));
        // A wait that ends sooner cuts it short; one that ends later does not.
        let cap = Instant::now() + Duration::from_secs(2);
        let deadline = AnswerDeadline::starting_now(&client, None, Some(cap));
        assert_eq!(deadline.at, cap);
        assert!(deadline.after <= Duration::from_secs(2));
        let late = Instant::now() + Duration::from_secs(600);
        let deadline = AnswerDeadline::starting_now(&client, None, Some(late));
        assert_eq!(deadline.after, Duration::from_secs(65));
        // A cap in the past leaves no time at all.
        let deadline = AnswerDeadline::starting_now(&client, None, Some(before));
        assert_eq!(deadline.after, Duration::ZERO);
        // A margin too large for a point in time neither panics nor ends early.
        let client = Client::builder()
            .answer_margin(Duration::MAX)
            .build()
            .unwrap();
        let deadline = AnswerDeadline::starting_now(&client, None, None);
        assert_eq!(deadline.after, Duration::MAX);
        assert!(deadline.at >= before + FAR_FUTURE);
    }

    #[test]
    fn server_timeouts_are_whole_seconds_rounded_up_within_range() {
        assert_eq!(server_timeout(None).unwrap(), None);
        let secs = |d| server_timeout(Some(d)).unwrap().unwrap().get();
        assert_eq!(secs(Duration::from_nanos(1)), 1);
        assert_eq!(secs(Duration::from_millis(1500)), 2);
        assert_eq!(secs(Duration::from_secs(60)), 60);
        assert_eq!(
            secs(Duration::from_secs(MAX_SERVER_TIMEOUT_SECS)),
            MAX_SERVER_TIMEOUT_SECS
        );
        for bad in [
            Duration::ZERO,
            Duration::from_secs(MAX_SERVER_TIMEOUT_SECS + 1),
            Duration::MAX,
        ] {
            let error = server_timeout(Some(bad)).unwrap_err();
            assert!(error.is_invalid_input());
            assert!(error.to_string().contains("server timeout"), "{error}");
        }
    }

    #[test]
    fn backup_timeouts_are_whole_minutes_rounded_up_at_least_one() {
        let minutes = |d| backup_timeout_minutes(d).unwrap();
        assert_eq!(minutes(Duration::ZERO), 1);
        assert_eq!(minutes(Duration::from_secs(1)), 1);
        assert_eq!(minutes(Duration::from_secs(60)), 1);
        assert_eq!(minutes(Duration::from_millis(60_001)), 2);
        assert_eq!(minutes(Duration::from_secs(600)), 10);
        let most = Duration::from_secs(MAX_BACKUP_TIMEOUT_MINUTES * 60);
        assert_eq!(minutes(most), i64::from(i32::MAX));
    }

    #[test]
    fn backup_timeouts_beyond_the_services_int_are_refused() {
        let most = Duration::from_secs(MAX_BACKUP_TIMEOUT_MINUTES * 60);
        for bad in [most + Duration::from_nanos(1), Duration::MAX] {
            let error = backup_timeout_minutes(bad).unwrap_err();
            assert!(error.is_invalid_input());
            assert!(error.to_string().contains("backup timeout"), "{error}");
        }
    }
}
