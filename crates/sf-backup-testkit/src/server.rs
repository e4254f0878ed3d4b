//! The HTTP server in front of the model: hyper over TCP or TLS, the journal, scripted faults, and dispatch of
//! each request to the component that answers it (the native gateway's queries, or the Backup Restore Service
//! behind its reverse proxy).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Empty, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue, LOCATION};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use uuid::Uuid;

use crate::brs::service::BackupRestoreService;
use crate::cluster::{ApplicationConfig, ServiceConfig, Topology, TopologyError};
use crate::config::{Config, Fault, FaultAction};
use crate::gateway::queries;
use crate::gateway::routes::{Route, route};
use crate::journal::RecordedRequest;
use crate::wire::answer::Answer;
use crate::wire::dialect::Dialect;
use crate::wire::error::service_error;
use crate::wire::operation::Operation;
use crate::wire::progress::scripted_state;
use crate::wire::refusal::Refusal;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type ResponseBody = BoxBody<Bytes, BoxError>;

/// Everything mutable behind the gateway's lock: the cluster's topology, the Backup Restore Service, the
/// scripted faults and the journal.
pub(crate) struct State {
    pub dialect: Dialect,
    pub brs: BackupRestoreService,
    /// What GetServiceInfoList and GetPartitionInfoList list.
    topology: Topology,
    /// The most items one page of those two holds.
    query_page_size: usize,
    /// Until then every request to the Backup Restore Service gets 503 `FABRIC_E_NOT_PRIMARY` (a
    /// [`Fault::primary_move`]).
    primary_moving_until: Option<Instant>,
    faults: VecDeque<Fault>,
    pub journal: Vec<RecordedRequest>,
}

impl State {
    /// Fails when the topology cannot be, or names a partition that `partitions` declares too.
    pub fn new(config: &Config) -> Result<Self, TopologyError> {
        let topology = config.effective_topology();
        topology.validate()?;
        Ok(State {
            dialect: config.dialect,
            brs: BackupRestoreService::new(config, &topology)?,
            topology,
            query_page_size: config.query_page_size(),
            primary_moving_until: None,
            faults: config.faults.iter().cloned().collect(),
            journal: Vec::new(),
        })
    }

    pub fn topology(&self) -> Topology {
        self.topology.clone()
    }

    /// Puts `candidate` in place of the topology once it is valid and the Backup Restore Service knows its new
    /// partitions; a new partition may not exist already outside the topology.
    fn replace_topology(&mut self, candidate: Topology) -> Result<(), TopologyError> {
        candidate.validate()?;
        self.brs.adopt(&candidate)?;
        self.topology = candidate;
        Ok(())
    }

    pub fn add_application(&mut self, application: ApplicationConfig) -> Result<(), TopologyError> {
        if self.topology.application_named(&application.name).is_some() {
            return Err(TopologyError(format!(
                "application {:?} exists already; add services to it with add_service",
                application.name
            )));
        }
        let candidate = self.topology.clone().application(application);
        self.replace_topology(candidate)
    }

    pub fn add_service(
        &mut self,
        application: &str,
        service: ServiceConfig,
    ) -> Result<(), TopologyError> {
        let mut candidate = self.topology.clone();
        let Some(app) = candidate
            .applications
            .iter_mut()
            .find(|app| app.name == application)
        else {
            return Err(TopologyError(format!(
                "application {application:?} is not in the topology; add it with add_application"
            )));
        };
        app.services.push(service);
        self.replace_topology(candidate)
    }

    /// Queues a fault behind the ones already queued.
    pub fn push_fault(&mut self, fault: Fault) {
        self.faults.push_back(fault);
    }

    /// Drops every queued fault.
    pub fn clear_faults(&mut self) {
        self.faults.clear();
    }

    /// Takes the first queued fault that matches, consuming one of its uses.
    fn take_fault(
        &mut self,
        operation: Option<Operation>,
        partition: Option<Uuid>,
    ) -> Option<Fault> {
        let mut found = None;
        for (index, fault) in self.faults.iter_mut().enumerate() {
            if !fault.matches(operation, partition) {
                continue;
            }
            if fault.skip > 0 {
                fault.skip -= 1;
                continue;
            }
            found = Some(index);
            break;
        }
        let index = found?;
        let fault = &mut self.faults[index];
        match fault.times {
            None => Some(fault.clone()),
            Some(n) if n <= 1 => self.faults.remove(index),
            Some(n) => {
                fault.times = Some(n - 1);
                Some(fault.clone())
            }
        }
    }

    /// The answer to `method path?query` with `body`, from the component that answers it.
    fn answer(
        &mut self,
        route: Option<&Route>,
        (method, path, query): (&str, &str, &str),
        body: &[u8],
    ) -> Answer {
        let dialect = self.dialect;
        let Some(route) = route else {
            return Refusal::new(
                404,
                "E_INVALIDARG",
                format!("No such endpoint: {method} {path}"),
            )
            .answer(dialect);
        };
        let wanted = route.operation.method();
        if route.operation.is_gateway_query() {
            queries::answer(
                &self.topology,
                self.query_page_size,
                dialect,
                route,
                (method, path, query),
            )
        } else if method != wanted {
            Refusal::new(
                405,
                "E_INVALIDARG",
                format!("{method} {path} is not supported; use {wanted}"),
            )
            .answer(dialect)
            .with_header("allow", wanted)
        } else {
            self.brs
                .answer(route.operation, route.raw_partition(), query, body)
        }
    }
}

/// State shared by the accept loop, every connection and every handle.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Connections accepted since the start, and open now and at most: kept apart from the state's lock so
    /// counting costs a connection nothing.
    pub(crate) connections: ConnectionCounts,
}

/// How many connections the gateway accepted, has open, and had open at most.
#[derive(Default)]
pub(crate) struct ConnectionCounts {
    pub(crate) accepted: AtomicU64,
    pub(crate) open: AtomicU64,
    pub(crate) peak_open: AtomicU64,
}

impl Shared {
    /// Counts a new connection; the guard counts it closed when dropped.
    pub(crate) fn connection_opened(self: &Arc<Self>) -> OpenConnection {
        let counts = &self.connections;
        counts.accepted.fetch_add(1, Ordering::Relaxed);
        let open = counts.open.fetch_add(1, Ordering::Relaxed) + 1;
        counts.peak_open.fetch_max(open, Ordering::Relaxed);
        OpenConnection(Arc::clone(self))
    }
}

/// One open connection, counted until dropped.
pub(crate) struct OpenConnection(Arc<Shared>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connections.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Shared {
    pub fn new(state: State) -> Self {
        Shared {
            state: Mutex::new(state),
            connections: ConnectionCounts::default(),
        }
    }

    /// A panicking test thread must not wedge the gateway for the others, so poisoning is ignored.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Serves one connection over any byte stream: a TCP stream, or the TLS stream wrapping it.
pub(crate) async fn serve_io<IO>(shared: Arc<Shared>, io: IO)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| handle(Arc::clone(&shared), req));
    // Errors here are connection-level (a client hanging up, or a fault closing on purpose): nothing to report.
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await;
}

/// Returned by the service to make hyper drop the connection without answering.
#[derive(Debug)]
struct CloseConnection;

impl std::fmt::Display for CloseConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed by an injected fault")
    }
}

impl std::error::Error for CloseConnection {}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, CloseConnection> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        // The client went away mid-body; there is nobody to answer.
        Err(_) => return Err(CloseConnection),
    };
    let recorded = RecordedRequest {
        method: parts.method.to_string(),
        target: parts.uri.to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
    };
    let (method, path, query) = (
        parts.method.as_str(),
        parts.uri.path(),
        parts.uri.query().unwrap_or(""),
    );
    // Routed once: faults aim at the operation its method and template address.
    let route = route(path);
    let addressed = route.as_ref().filter(|r| r.operation.method() == method);
    let operation = addressed.map(|r| r.operation);
    let partition = addressed.and_then(|r| r.raw_partition()?.parse::<Uuid>().ok());
    let (fault, dialect) = {
        let mut state = shared.lock();
        state.journal.push(recorded);
        let now = Instant::now();
        // The gateway's own queries do not go through the Backup Restore Service.
        if !operation.is_some_and(Operation::is_gateway_query)
            && state.primary_moving_until.is_some_and(|until| now < until)
        {
            return Ok(response(Refusal::not_primary().answer(state.dialect)));
        }
        let fault = state.take_fault(operation, partition);
        if let Some(FaultAction::PrimaryMove { ms }) = fault.as_ref().map(|f| &f.action) {
            state.primary_moving_until = Some(now + Duration::from_millis(*ms));
        }
        (fault, state.dialect)
    };
    let respond = || {
        response(
            shared
                .lock()
                .answer(route.as_ref(), (method, path, query), &body),
        )
    };
    let Some(fault) = fault else {
        return Ok(respond());
    };
    if let FaultAction::Delay { ms } = fault.action {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        return Ok(respond());
    }
    if fault.process {
        let _ = respond();
    }
    fault_response(dialect, &fault)
}

/// An [`Answer`] as a hyper response.
fn response(answer: Answer) -> Response<ResponseBody> {
    let mut response = if answer.body.is_empty() && answer.content_type.is_none() {
        empty(answer.status)
    } else {
        with_body(answer.status, answer.content_type, answer.body)
    };
    for (name, value) in answer.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response
                .headers_mut()
                .insert(HeaderName::from_static(name), value);
        }
    }
    response
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn empty(code: u16) -> Response<ResponseBody> {
    let mut response = Response::new(
        Empty::new()
            .map_err(|never: Infallible| match never {})
            .boxed(),
    );
    *response.status_mut() = status(code);
    response
}

fn with_body(
    code: u16,
    content_type: Option<&str>,
    body: impl Into<Bytes>,
) -> Response<ResponseBody> {
    let mut response = Response::new(
        Full::new(body.into())
            .map_err(|never: Infallible| match never {})
            .boxed(),
    );
    *response.status_mut() = status(code);
    if let Some(value) = content_type.and_then(|ct| HeaderValue::from_str(ct).ok()) {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
}

fn fault_response(
    dialect: Dialect,
    fault: &Fault,
) -> Result<Response<ResponseBody>, CloseConnection> {
    Ok(match &fault.action {
        FaultAction::PrimaryMove { .. } => response(Refusal::not_primary().answer(dialect)),
        FaultAction::FabricError {
            status,
            code,
            message,
        } => response(service_error(
            dialect,
            *status,
            code,
            message
                .clone()
                .unwrap_or_else(|| format!("Injected fault: {code}")),
        )),
        FaultAction::Html { status: code } => with_body(
            *code,
            Some("text/html"),
            format!(
                "<html><head><title>{code} {reason}</title></head><body><center><h1>{code} {reason}</h1></center>\
                 <hr><center>nginx</center></body></html>\n",
                reason = status(*code).canonical_reason().unwrap_or("Error")
            ),
        ),
        FaultAction::Empty { status } => empty(*status),
        FaultAction::Body {
            status,
            content_type,
            body,
        } => with_body(*status, content_type.as_deref(), body.clone()),
        FaultAction::Delay { .. } => {
            unreachable!("delays are handled before the response is built")
        }
        FaultAction::CloseConnection => return Err(CloseConnection),
        FaultAction::TruncatedBody {
            status: code,
            body,
            declared_length,
        } => {
            let declared = declared_length.unwrap_or(body.len() as u64 + 64);
            let mut response = Response::new(
                Truncated {
                    data: Some(Bytes::from(body.clone())),
                    pause: Box::pin(tokio::time::sleep(Duration::from_millis(20))),
                }
                .boxed(),
            );
            *response.status_mut() = status(*code);
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            response
                .headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(declared));
            response
        }
        FaultAction::BackupState { state } => {
            response(Answer::json(200, scripted_state(dialect, state)))
        }
        FaultAction::Redirect {
            status: code,
            location,
        } => {
            let mut response = empty(*code);
            if let Ok(value) = HeaderValue::from_str(location) {
                response.headers_mut().insert(LOCATION, value);
            }
            response
        }
    })
}

/// Sends its bytes, waits long enough for hyper to flush them, then fails so hyper aborts the connection short
/// of the announced `Content-Length`.
struct Truncated {
    data: Option<Bytes>,
    pause: Pin<Box<tokio::time::Sleep>>,
}

impl Body for Truncated {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(data) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        match self.pause.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(CloseConnection)))),
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
