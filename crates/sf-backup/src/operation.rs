//! The long-running-operation core: start an operation once, then read its progress until it ends, under one
//! deadline, and hand the caller a [`OperationWait`] (a `Stream` of [`WaitEvent`]s and an `IntoFuture` outcome).
//!
//! It applies the rules that [`BackupPartitionRequest::wait`](crate::BackupPartitionRequest::wait) documents
//! (attribution from the service's 202, one deadline): the POST is sent once; only a lost answer makes the core
//! compare reads with the read before the request ([`Operation::changed`]); reads go through [`with_retries`].
//!
//! An operation (the backup today, in `wait/`) says how to start it, how to read its progress, what phase a
//! progress is in ([`Phase`]: no request, pending, a state this version does not know, ended), which reads differ
//! from one another, what in a progress identifies this request's work when no 202 was seen
//! ([`Operation::identifies`]), and what an ended progress means ([`Operation::conclude`]: the backup looks in
//! storage after `Timeout`, beside the core, not in it).
//!
//! A restore would be a second implementation with no second loop (GetRestoreProgress as `read`, its unknown
//! states such as `SecondariesInProgress` as [`Phase::Unknown`], the chosen backup's epoch and LSN as `identifies`).

use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::retry::{GaveUp, Patience, with_retries};
use crate::{Error, RetryPolicy};

/// A boxed future that borrows the operation.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What phase a progress read shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// No request known (the service's `null`, or `Invalid`).
    NotRequested,
    /// Accepted or running.
    Pending,
    /// A state this version does not know: treated as pending (new pending states do appear), shown as unknown.
    Unknown,
    /// Ended: success, failure or timeout.
    Ended,
}

/// Context for [`Operation::conclude`].
pub(crate) struct Conclusion<P> {
    /// The wait's deadline.
    pub deadline: Instant,
    /// When this wait first saw the operation pending (by this machine's clock), if it did.
    pub first_pending: Option<DateTime<Utc>>,
    /// The pause between reads, for an operation that keeps looking.
    pub pace: Pace,
    /// The client's retry policy.
    pub retry: RetryPolicy,
    events: Events<P>,
}

impl<P: Clone> Conclusion<P> {
    /// Puts a retry on the wait's stream.
    pub fn retrying(&self, cause: &Arc<Error>, attempt: u32) {
        self.events.push(WaitEvent::Retrying {
            cause: Arc::clone(cause),
            attempt,
        });
    }
}

/// A long-running operation of the service: how to start it, read it and judge what it reads.
pub(crate) trait Operation: Send + Sync + 'static {
    /// One progress read.
    type Progress: Clone + Send + Sync + 'static;
    /// What a successful end yields.
    type Output: Send + 'static;
    /// How a wait for it fails.
    type Error: From<Ended<Self::Progress>> + Send + 'static;

    /// Sends the request that starts the work, once (cut short at `cap`). `before` is what progress said just
    /// before; the operation may note what it needs later (the request's time, the earlier result).
    fn start(&mut self, before: &Self::Progress, cap: Instant) -> BoxFuture<'_, Result<(), Error>>;
    /// Reads progress once (cut short at `cap`).
    fn read(&self, cap: Instant) -> BoxFuture<'_, Result<Self::Progress, Error>>;
    /// The phase `progress` shows.
    fn phase(progress: &Self::Progress) -> Phase;
    /// Whether `progress` differs from `before` in anything that tells work apart (never time order alone).
    fn changed(progress: &Self::Progress, before: &Self::Progress) -> bool;
    /// Whether `progress` names this request's work, for a request whose answer was lost (default: any change
    /// does).
    fn identifies(&self, _progress: &Self::Progress) -> bool {
        true
    }
    /// What an ended progress of this request means.
    fn conclude(
        &self,
        progress: Self::Progress,
        context: Conclusion<Self::Progress>,
    ) -> BoxFuture<'_, Result<Self::Output, Self::Error>>;
}

/// Whether, and how surely, a request reached the service: what a caller needs before it starts another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Requested {
    /// The request was not sent (or was refused): this call started nothing.
    No,
    /// The request was sent, and its answer is not known: being sent, or lost (the connection dropped after
    /// sending, no answer in time). Work may have started.
    Maybe,
    /// The service accepted the request (HTTP 202), or progress showed that it did.
    Yes,
}

/// The endings the core decides, whatever the operation; each operation's error type is built from them.
#[derive(Debug)]
pub(crate) enum Ended<P> {
    /// Nothing was started: the request was refused or not sent, or the read before it (or, when following,
    /// the first read) failed.
    NotStarted(Error),
    /// Following found nothing ever requested.
    NothingToFollow,
    /// The wait's deadline passed.
    WaitTimeout {
        waited: Duration,
        /// `None`: following, and no progress was read.
        requested: Option<Requested>,
        last_progress: Option<P>,
        last_error: Option<Arc<Error>>,
    },
    /// The request's answer was lost, and progress showed no sign of it within the watch.
    Ambiguous {
        source: Error,
        watched: Duration,
        last_progress: Option<P>,
        /// Set when progress could not be read at all.
        read_error: Option<Error>,
    },
    /// Progress could not be read after the request, for a reason that does not pass by itself.
    ProgressUnavailable {
        source: Error,
        last_progress: Option<P>,
    },
}

/// What a wait yields as a [`Stream`](futures_core::Stream), before its outcome; `P` is the operation's progress
/// ([`BackupProgress`](crate::BackupProgress) for a backup).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum WaitEvent<P = crate::BackupProgress> {
    /// A progress read that describes this operation (its pending states, then its result).
    Progress(P),
    /// A progress read in a state this version does not know: the wait treats it as still running.
    UnknownState(P),
    /// A read failed and is retried: its cause and the number of the attempt that failed (1 for the first).
    Retrying {
        /// Why the read failed.
        cause: Arc<Error>,
        /// Which attempt failed.
        attempt: u32,
    },
}

/// The pause between reads: from the poll interval, 1.5 times longer each time, up to the maximum.
#[derive(Clone, Debug)]
pub(crate) struct Pace {
    next: Duration,
    max: Duration,
}

impl Pace {
    pub fn new(first: Duration, max: Duration) -> Self {
        Self {
            next: first,
            max: max.max(first),
        }
    }

    /// Sleeps the next pause, never past `until`.
    pub async fn pause(&mut self, until: Instant) {
        crate::retry::sleep_before(self.next, until).await;
        self.next = self.next.mul_f64(1.5).min(self.max);
    }
}

/// Shared between a running wait and its [`OperationWait`].
struct Shared<P> {
    /// Whether the caller reads the stream; otherwise nothing is queued, so an awaited wait keeps no history.
    streaming: bool,
    queue: VecDeque<WaitEvent<P>>,
    requested: Option<Requested>,
    /// The last progress read: this operation's, or while a lost answer is unsettled, what progress showed.
    last: Option<P>,
}

/// What a running wait tells its handle (and a fleet keeping an eye on it).
pub(crate) struct Events<P>(Arc<Mutex<Shared<P>>>);

impl<P> Clone for Events<P> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<P: Clone> Events<P> {
    fn new() -> Self {
        Self(Arc::new(Mutex::new(Shared {
            streaming: false,
            queue: VecDeque::new(),
            requested: None,
            last: None,
        })))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared<P>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, event: WaitEvent<P>) {
        let mut shared = self.lock();
        if shared.streaming {
            shared.queue.push_back(event);
        }
    }

    fn set_last(&self, progress: &P) {
        self.lock().last = Some(progress.clone());
    }

    fn set_requested(&self, requested: Requested) {
        self.lock().requested = Some(requested);
    }

    /// Whether the request reached the service so far (`None`: not sent, or following).
    pub fn requested(&self) -> Option<Requested> {
        self.lock().requested
    }

    /// The last progress read.
    pub fn last_progress(&self) -> Option<P> {
        self.lock().last.clone()
    }
}

type OutcomeFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

/// A wait for a long-running operation's outcome; for a backup, [`BackupWait`](crate::BackupWait).
///
/// Await it for the outcome, or read it as a [`Stream`](futures_core::Stream) of [`WaitEvent`]s (the progress
/// of this operation, states this version does not know, retried reads) and then take
/// [`outcome`](Self::outcome): the azure_core `Poller` idiom, so a display needs no `'static` callback. Nothing
/// happens until it is awaited or polled; dropping it stops the wait (work already requested goes on at the
/// service).
#[must_use = "a wait does nothing until it is awaited or polled"]
pub struct OperationWait<P, T, E> {
    events: Events<P>,
    future: Option<OutcomeFuture<T, E>>,
    outcome: Option<Result<T, E>>,
}

// Nothing is pinned in place: the running future is boxed.
impl<P, T, E> Unpin for OperationWait<P, T, E> {}

impl<P: Clone, T, E> fmt::Debug for OperationWait<P, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperationWait")
            .field("requested", &self.requested())
            .field("finished", &self.outcome.is_some())
            .finish_non_exhaustive()
    }
}

impl<P: Clone, T, E> OperationWait<P, T, E> {
    /// Whether the request has reached the service so far: `None` before it was sent (or when following work
    /// requested elsewhere), [`Requested::Maybe`] while its answer is awaited or when it was lost. For a caller
    /// that stops waiting early (Ctrl-C) and must say what it left.
    pub fn requested(&self) -> Option<Requested> {
        self.events.requested()
    }

    /// The last progress read (while a lost answer is unsettled, what progress showed, perhaps earlier work).
    pub fn last_progress(&self) -> Option<P> {
        self.events.last_progress()
    }

    /// What the running wait shares, for a caller that keeps an eye on it after handing the wait away.
    pub(crate) fn events(&self) -> Events<P> {
        self.events.clone()
    }

    /// The outcome: runs the wait to its end (or returns the end the stream already reached).
    pub async fn outcome(mut self) -> Result<T, E> {
        if let Some(outcome) = self.outcome.take() {
            return outcome;
        }
        match self.future.take() {
            Some(future) => future.await,
            // The outcome was taken already; a second call cannot happen through this by-value API.
            None => unreachable!("a wait's outcome is taken once"),
        }
    }
}

impl<P, T, E> IntoFuture for OperationWait<P, T, E>
where
    P: Clone + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    type Output = Result<T, E>;
    type IntoFuture = OutcomeFuture<T, E>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.outcome())
    }
}

impl<P: Clone, T, E> futures_core::Stream for OperationWait<P, T, E> {
    type Item = WaitEvent<P>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<WaitEvent<P>>> {
        let this = self.get_mut();
        this.events.lock().streaming = true;
        loop {
            if let Some(event) = this.events.lock().queue.pop_front() {
                return Poll::Ready(Some(event));
            }
            let Some(future) = this.future.as_mut() else {
                return Poll::Ready(None);
            };
            match future.as_mut().poll(cx) {
                Poll::Ready(outcome) => {
                    this.future = None;
                    this.outcome = Some(outcome);
                }
                Poll::Pending => {
                    if this.events.lock().queue.is_empty() {
                        return Poll::Pending;
                    }
                }
            }
        }
    }
}

/// A callback for every progress read that describes the operation.
pub(crate) type Callback<P> = Box<dyn FnMut(&P) + Send>;

/// How the core waits: the settings of [`WaitOptions`](crate::WaitOptions), resolved.
pub(crate) struct Settings<P> {
    pub timeout: Duration,
    pub poll_interval: Duration,
    pub max_poll_interval: Duration,
    pub lost_answer_watch: Duration,
    pub retry: RetryPolicy,
    pub callback: Option<Callback<P>>,
}

/// Whether the wait starts the operation or follows one requested elsewhere.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Start,
    Follow,
}

/// Starts (or follows) `operation` and waits for its end, reporting through the returned handle.
pub(crate) fn wait<O: Operation>(
    operation: O,
    settings: Settings<O::Progress>,
    mode: Mode,
    span: tracing::Span,
    checked: Result<(), Error>,
) -> OperationWait<O::Progress, O::Output, O::Error> {
    use tracing::Instrument;
    let events = Events::new();
    let started = Instant::now();
    // Durations too large for the clock mean "no deadline" in practice: a century.
    let deadline = started
        .checked_add(settings.timeout)
        .unwrap_or_else(|| started + Duration::from_secs(100 * 365 * 24 * 3600));
    let core = Core {
        operation,
        events: events.clone(),
        pace: Pace::new(settings.poll_interval, settings.max_poll_interval),
        lost_answer_watch: settings.lost_answer_watch,
        callback: settings.callback.map(Mutex::new),
        retry: settings.retry,
        started,
        deadline,
        first_pending: None,
    };
    let run = async move {
        checked.map_err(|error| O::Error::from(Ended::NotStarted(error)))?;
        core.run(mode).await
    };
    OperationWait {
        events,
        future: Some(Box::pin(run.instrument(span))),
        outcome: None,
    }
}

struct Core<O: Operation> {
    operation: O,
    events: Events<O::Progress>,
    pace: Pace,
    lost_answer_watch: Duration,
    /// In a mutex only so that the core is `Sync` (its reads borrow it across awaits).
    callback: Option<Mutex<Callback<O::Progress>>>,
    retry: RetryPolicy,
    started: Instant,
    deadline: Instant,
    first_pending: Option<DateTime<Utc>>,
}

impl<O: Operation> Core<O> {
    async fn run(mut self, mode: Mode) -> Result<O::Output, O::Error> {
        let first = match mode {
            Mode::Start => self.start().await?,
            Mode::Follow => self.follow().await?,
        };
        if let Some(ended) = first {
            return self.conclude(ended).await;
        }
        let requested = self.events.requested().or(Some(Requested::Yes));
        // Right after a 202 the first read comes at once (it shows `Accepted`); after any other read, a pause.
        let mut pause = mode == Mode::Follow || self.events.last_progress().is_some();
        loop {
            if std::mem::replace(&mut pause, true) {
                self.pace.pause(self.deadline).await;
            }
            match self.read(self.deadline, Patience::UntilDeadline).await {
                Ok(progress) => {
                    self.seen(&progress);
                    if O::phase(&progress) == Phase::Ended {
                        return self.conclude(progress).await;
                    }
                }
                Err(GaveUp::Deadline(last_error)) => {
                    return Err(self.wait_timeout(requested, last_error).into());
                }
                Err(GaveUp::Failed(source)) => {
                    let last_progress = self.events.last_progress();
                    return Err(Ended::ProgressUnavailable {
                        source,
                        last_progress,
                    }
                    .into());
                }
            }
        }
    }

    /// The read before the request, the request, and (when its answer was lost) the watch for a sign of it:
    /// `Some` when that already read this request's end.
    async fn start(&mut self) -> Result<Option<O::Progress>, O::Error> {
        let before = match self.read(self.deadline, Patience::NothingSent).await {
            Ok(progress) => progress,
            Err(GaveUp::Deadline(last_error)) => {
                return Err(self.wait_timeout(Some(Requested::No), last_error).into());
            }
            Err(GaveUp::Failed(error)) => return Err(Ended::NotStarted(error).into()),
        };
        // From here on the request may reach the service: a caller that stops now must say so.
        self.events.set_requested(Requested::Maybe);
        let lost = match self.operation.start(&before, self.deadline).await {
            Ok(()) => {
                tracing::info!("request accepted");
                self.events.set_requested(Requested::Yes);
                return Ok(None);
            }
            Err(error) if error.may_have_reached_service() => error,
            Err(error) => {
                self.events.set_requested(Requested::No);
                return Err(Ended::NotStarted(error).into());
            }
        };
        tracing::warn!(error = %lost, "the request may have reached the service; not sending it again");
        let watch_end = Instant::now()
            .checked_add(self.lost_answer_watch)
            .map_or(self.deadline, |end| end.min(self.deadline));
        let mut before = before;
        let mut read_error: Option<Arc<Error>> = None;
        loop {
            if Instant::now() >= watch_end {
                break;
            }
            match self.read(watch_end, Patience::UntilDeadline).await {
                Ok(progress) if settles(&self.operation, &mut before, &progress) => {
                    self.events.set_requested(Requested::Yes);
                    self.seen(&progress);
                    let ended = O::phase(&progress) == Phase::Ended;
                    return Ok(ended.then_some(progress));
                }
                // Not ours, but what the caller should see if the request stays unsettled.
                Ok(progress) => self.events.set_last(&progress),
                Err(GaveUp::Deadline(error)) => {
                    read_error = error;
                    break;
                }
                Err(GaveUp::Failed(error)) => {
                    return Err(self.ambiguous(lost, Some(error)).into());
                }
            }
            self.pace.pause(watch_end).await;
        }
        if Instant::now() >= self.deadline {
            let last_error = read_error.unwrap_or_else(|| Arc::new(lost));
            return Err(self
                .wait_timeout(Some(Requested::Maybe), Some(last_error))
                .into());
        }
        Err(self.ambiguous(lost, None).into())
    }

    /// The first read of a follow: `Some` when the work has ended already.
    async fn follow(&mut self) -> Result<Option<O::Progress>, O::Error> {
        match self.read(self.deadline, Patience::UntilDeadline).await {
            Ok(progress) if O::phase(&progress) == Phase::NotRequested => {
                Err(Ended::NothingToFollow.into())
            }
            Ok(progress) => {
                self.seen(&progress);
                let ended = O::phase(&progress) == Phase::Ended;
                Ok(ended.then_some(progress))
            }
            // Nothing was read, so nothing is known about a request.
            Err(GaveUp::Deadline(last_error)) => Err(self.wait_timeout(None, last_error).into()),
            Err(GaveUp::Failed(error)) => Err(Ended::NotStarted(error).into()),
        }
    }

    async fn read(&self, until: Instant, patience: Patience) -> Result<O::Progress, GaveUp> {
        let events = &self.events;
        with_retries(
            &self.retry,
            until,
            patience,
            |cause, attempt| {
                events.push(WaitEvent::Retrying {
                    cause: Arc::clone(cause),
                    attempt,
                })
            },
            || self.operation.read(until),
        )
        .await
    }

    /// Reports a read that describes this operation.
    fn seen(&mut self, progress: &O::Progress) {
        let phase = O::phase(progress);
        if matches!(phase, Phase::Pending | Phase::Unknown) && self.first_pending.is_none() {
            self.first_pending = Some(Utc::now());
        }
        self.events.set_last(progress);
        self.events.push(match phase {
            Phase::Unknown => WaitEvent::UnknownState(progress.clone()),
            _ => WaitEvent::Progress(progress.clone()),
        });
        if let Some(callback) = self.callback.as_mut() {
            (callback.get_mut().unwrap_or_else(PoisonError::into_inner))(progress);
        }
    }

    async fn conclude(self, progress: O::Progress) -> Result<O::Output, O::Error> {
        let context = Conclusion {
            deadline: self.deadline,
            first_pending: self.first_pending,
            pace: self.pace.clone(),
            retry: self.retry.clone(),
            events: self.events.clone(),
        };
        self.operation.conclude(progress, context).await
    }

    fn wait_timeout(
        &self,
        requested: Option<Requested>,
        last_error: Option<Arc<Error>>,
    ) -> Ended<O::Progress> {
        let waited = self.started.elapsed();
        tracing::warn!(?waited, ?requested, "the wait timeout passed");
        Ended::WaitTimeout {
            waited,
            requested,
            last_progress: self.events.last_progress(),
            last_error,
        }
    }

    fn ambiguous(&self, source: Error, read_error: Option<Error>) -> Ended<O::Progress> {
        Ended::Ambiguous {
            source,
            watched: self.lost_answer_watch,
            last_progress: self.events.last_progress(),
            read_error,
        }
    }
}

/// Whether `progress` shows that a request whose answer was lost arrived: any change from `before` that names
/// this request's work. While `before` was earlier work still pending, its own end is such a change; that end
/// becomes the new `before`.
pub(crate) fn settles<O: Operation>(
    operation: &O,
    before: &mut O::Progress,
    progress: &O::Progress,
) -> bool {
    if !O::changed(progress, before) {
        return false;
    }
    if matches!(O::phase(before), Phase::Pending | Phase::Unknown)
        && O::phase(progress) == Phase::Ended
    {
        // The earlier work ended; ours (if it arrived) is queued behind it.
        *before = progress.clone();
        return false;
    }
    operation.identifies(progress)
}
