//! HTTP/1.1 on top of hyper: routing, validation, fault injection.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Empty, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, LOCATION};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sf_backup_api::types::{
    BackupPartitionDescription, BackupProgressInfo, FabricError, KnownBackupState,
};
use tokio::io::{AsyncRead, AsyncWrite};
use uuid::Uuid;

use crate::RecordedRequest;
use crate::config::{Dialect, Fault, FaultAction, Operation};
use crate::state::{
    ServiceErrorBody, ServiceFabricError, State, build, error, service_pending_body,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type ResponseBody = BoxBody<Bytes, BoxError>;

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

enum Route {
    Backup(String),
    Progress(String),
    PartitionBackups(String),
    LocationBackups,
    /// GetServiceInfoList, with the raw application id.
    Services(String),
    /// GetPartitionInfoList, with the raw service id.
    Partitions(String),
}

impl Route {
    fn operation(&self) -> Operation {
        match self {
            Route::Backup(_) => Operation::Backup,
            Route::Progress(_) => Operation::GetBackupProgress,
            Route::PartitionBackups(_) => Operation::GetBackups,
            Route::LocationBackups => Operation::GetBackupsFromBackupLocation,
            Route::Services(_) => Operation::GetServices,
            Route::Partitions(_) => Operation::GetPartitions,
        }
    }

    fn method(&self) -> Method {
        match self {
            Route::Backup(_) | Route::LocationBackups => Method::POST,
            Route::Progress(_)
            | Route::PartitionBackups(_)
            | Route::Services(_)
            | Route::Partitions(_) => Method::GET,
        }
    }

    fn raw_partition(&self) -> Option<&str> {
        match self {
            Route::Backup(id) | Route::Progress(id) | Route::PartitionBackups(id) => Some(id),
            Route::LocationBackups | Route::Services(_) | Route::Partitions(_) => None,
        }
    }

    /// Answered by the gateway itself, not the Backup Restore Service behind it.
    fn is_gateway_query(&self) -> bool {
        matches!(self, Route::Services(_) | Route::Partitions(_))
    }
}

/// Matches `/Partitions/{id}/$/{Backup|GetBackupProgress}`; clients may percent-encode the `$`, and the real
/// gateway matches segment names case-insensitively.
fn route(path: &str) -> Option<Route> {
    let is_dollar = |segment: &str| segment == "$" || segment.eq_ignore_ascii_case("%24");
    {
        let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
        if let [root, dollar, name] = segments.as_slice()
            && root.eq_ignore_ascii_case("BackupRestore")
            && is_dollar(dollar)
            && name.eq_ignore_ascii_case("GetBackups")
        {
            return Some(Route::LocationBackups);
        }
        if let [root, id, dollar, name] = segments.as_slice()
            && is_dollar(dollar)
        {
            if root.eq_ignore_ascii_case("Applications") && name.eq_ignore_ascii_case("GetServices")
            {
                return Some(Route::Services((*id).to_owned()));
            }
            if root.eq_ignore_ascii_case("Services") && name.eq_ignore_ascii_case("GetPartitions") {
                return Some(Route::Partitions((*id).to_owned()));
            }
        }
    }
    let mut segments = path.strip_prefix('/')?.split('/');
    let (partitions, id, dollar, name) = (
        segments.next()?,
        segments.next()?,
        segments.next()?,
        segments.next()?,
    );
    if segments.next().is_some()
        || !partitions.eq_ignore_ascii_case("Partitions")
        || !(dollar == "$" || dollar.eq_ignore_ascii_case("%24"))
    {
        return None;
    }
    if name.eq_ignore_ascii_case("Backup") {
        Some(Route::Backup(id.to_owned()))
    } else if name.eq_ignore_ascii_case("GetBackupProgress") {
        Some(Route::Progress(id.to_owned()))
    } else if name.eq_ignore_ascii_case("GetBackups") {
        Some(Route::PartitionBackups(id.to_owned()))
    } else {
        None
    }
}

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
    let route = route(parts.uri.path()).filter(|r| r.method() == parts.method);
    let operation = route.as_ref().map(Route::operation);
    let gateway_query = route.as_ref().is_some_and(Route::is_gateway_query);
    let partition = route
        .as_ref()
        .and_then(|r| r.raw_partition()?.parse::<Uuid>().ok());
    let (fault, dialect) = {
        let mut state = shared.lock();
        state.journal.push(recorded);
        let now = std::time::Instant::now();
        // The gateway's own queries do not go through the Backup Restore Service.
        if !gateway_query && state.primary_moving_until.is_some_and(|until| now < until) {
            return Ok(not_primary(state.dialect));
        }
        let fault = state.take_fault(operation, partition);
        if let Some(FaultAction::PrimaryMove { ms }) = fault.as_ref().map(|f| &f.action) {
            state.primary_moving_until = Some(now + Duration::from_millis(*ms));
        }
        (fault, state.dialect)
    };
    let Some(fault) = fault else {
        return Ok(respond(&shared, &recorded_view(&parts, &body)));
    };
    if let FaultAction::Delay { ms } = fault.action {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        return Ok(respond(&shared, &recorded_view(&parts, &body)));
    }
    if fault.process {
        let _ = respond(&shared, &recorded_view(&parts, &body));
    }
    fault_response(dialect, &fault)
}

/// What a request meets while the Backup Restore Service has no primary.
fn not_primary(dialect: Dialect) -> Response<ResponseBody> {
    fabric_error(
        dialect,
        503,
        "FABRIC_E_NOT_PRIMARY",
        "The operation failed because this replica is not the primary.".to_owned(),
    )
}

/// The parts of a request the handlers look at.
struct View<'a> {
    method: &'a Method,
    path: &'a str,
    query: &'a str,
    body: &'a [u8],
}

fn recorded_view<'a>(parts: &'a hyper::http::request::Parts, body: &'a Bytes) -> View<'a> {
    View {
        method: &parts.method,
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        body,
    }
}

fn respond(shared: &Shared, req: &View<'_>) -> Response<ResponseBody> {
    match handle_api(shared, req) {
        Ok(response) => response,
        Err(rejection) => rejection.into_response(shared.lock().dialect),
    }
}

/// A refusal as the real gateway would send it: a status and a FabricError.
struct Rejection {
    status: u16,
    code: &'static str,
    message: String,
    allow: Option<Method>,
}

impl From<crate::state::Refusal> for Rejection {
    fn from(refusal: crate::state::Refusal) -> Self {
        Rejection {
            status: refusal.status,
            code: refusal.code,
            message: refusal.message,
            allow: None,
        }
    }
}

impl Rejection {
    fn invalid(message: String) -> Self {
        Rejection {
            status: 400,
            code: "E_INVALIDARG",
            message,
            allow: None,
        }
    }

    fn into_response(self, dialect: Dialect) -> Response<ResponseBody> {
        let mut response = fabric_error(dialect, self.status, self.code, self.message);
        if let Some(allow) = self.allow
            && let Ok(value) = HeaderValue::from_str(allow.as_str())
        {
            response.headers_mut().insert(hyper::header::ALLOW, value);
        }
        response
    }
}

fn handle_api(shared: &Shared, req: &View<'_>) -> Result<Response<ResponseBody>, Rejection> {
    let dialect = shared.lock().dialect;
    if let Some(route) = route(req.path).filter(Route::is_gateway_query) {
        return Ok(gateway_query(shared, &route, req, dialect));
    }
    let Some(route) = route(req.path) else {
        return Err(Rejection {
            status: 404,
            code: "E_INVALIDARG",
            message: format!("No such endpoint: {} {}", req.method, req.path),
            allow: None,
        });
    };
    if *req.method != route.method() {
        return Err(Rejection {
            status: 405,
            code: "E_INVALIDARG",
            message: format!(
                "{} {} is not supported; use {}",
                req.method,
                req.path,
                route.method()
            ),
            allow: Some(route.method()),
        });
    }
    let query = Query::parse(req.query)?;
    if let Route::LocationBackups = route {
        query.api_version(dialect)?;
        query.timeout()?;
        let mut list = query.list(false)?;
        let description = parse_list_description(req.body)?;
        list.start = description.start_date_time_filter;
        list.end = description.end_date_time_filter;
        list.latest = description.latest.unwrap_or(false);
        return shared
            .lock()
            .list_location(&description.storage, &description.backup_entity, &list)
            .map(|body| with_body(200, Some("application/json; charset=utf-8"), body))
            .map_err(Rejection::from);
    }
    let raw = route.raw_partition().unwrap_or_default();
    let id: Uuid = raw
        .parse()
        .map_err(|_| Rejection::invalid(format!("partitionId must be a UUID, got {raw:?}")))?;
    query.api_version(dialect)?;
    query.timeout()?;
    match route {
        Route::LocationBackups | Route::Services(_) | Route::Partitions(_) => {
            unreachable!("answered above")
        }
        Route::PartitionBackups(_) => {
            let list = query.list(true)?;
            shared
                .lock()
                .list_partition(id, &list)
                .map(|body| with_body(200, Some("application/json; charset=utf-8"), body))
                .map_err(Rejection::from)
        }
        Route::Backup(_) => {
            let backup_timeout = query.backup_timeout()?;
            let description = parse_description(req.body)?;
            shared
                .lock()
                .start_backup(id, description.backup_storage, backup_timeout)
                .map_err(|refusal| Rejection {
                    status: refusal.status,
                    code: refusal.code,
                    message: refusal.message,
                    allow: None,
                })?;
            Ok(empty(202))
        }
        Route::Progress(_) => match shared.lock().progress(id) {
            Some(body) => Ok(with_body(
                200,
                Some("application/json; charset=utf-8"),
                body,
            )),
            None => Err(Rejection {
                status: 404,
                code: "FABRIC_E_PARTITION_NOT_FOUND",
                message: format!("Partition {id} not found."),
                allow: None,
            }),
        },
    }
}

/// GetServiceInfoList and GetPartitionInfoList, which the gateway answers itself: its errors are JSON in both
/// dialects, and a request with another method does not match its URL template (400 `E_INVALIDARG` from the
/// service; 405 in the documented dialect, as for the other operations).
fn gateway_query(
    shared: &Shared,
    route: &Route,
    req: &View<'_>,
    dialect: Dialect,
) -> Response<ResponseBody> {
    let refuse = |refusal: crate::topology::QueryRefusal| {
        json(
            refusal.status,
            &FabricError::new(error(refusal.code, refusal.message)),
        )
    };
    if *req.method != route.method() {
        return if dialect == Dialect::Documented {
            Rejection {
                status: 405,
                code: "E_INVALIDARG",
                message: format!(
                    "{} {} is not supported; use {}",
                    req.method,
                    req.path,
                    route.method()
                ),
                allow: Some(route.method()),
            }
            .into_response(dialect)
        } else {
            refuse(crate::topology::QueryRefusal {
                status: 400,
                code: "E_INVALIDARG",
                message: "Invalid argument".to_owned(),
            })
        };
    }
    let query = crate::topology::GatewayQuery::parse(req.query);
    let state = shared.lock();
    let answer = match route {
        Route::Services(id) => state.list_services(id, &query),
        Route::Partitions(id) => state.list_partitions(id, &query),
        _ => unreachable!("only the gateway's queries come here"),
    };
    match answer {
        Ok(body) => with_body(200, Some("application/json; charset=utf-8"), body),
        Err(refusal) => refuse(refusal),
    }
}

struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: &str) -> Result<Self, Rejection> {
        Ok(Query(
            form_urlencoded::parse(raw.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ))
    }

    /// The one value of `name`; query parameter names are case-insensitive at the real gateway.
    fn get(&self, name: &str) -> Result<Option<&str>, Rejection> {
        let mut values = self.0.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name));
        let first = values.next().map(|(_, v)| v.as_str());
        if values.next().is_some() {
            return Err(Rejection::invalid(format!(
                "{name} must be given at most once"
            )));
        }
        Ok(first)
    }

    /// The documented contract is exactly `6.4`; the service parses a double and takes anything from 6.4 up
    /// (`OperationBase.cs`: `doubleApiVersion >= MinApiVersion`), so `7` and `8.2` pass and `6.2-preview` fails.
    fn api_version(&self, dialect: Dialect) -> Result<(), Rejection> {
        match self.get("api-version")? {
            Some("6.4") => Ok(()),
            Some(other)
                if dialect == Dialect::Service
                    && other.trim().parse::<f64>().is_ok_and(|v| v >= 6.4) =>
            {
                Ok(())
            }
            // The service's own words (`StringResources.InvalidApiVersion`).
            _ if dialect == Dialect::Service => {
                Err(Rejection::invalid("Invalid API Version".to_owned()))
            }
            Some(other) => Err(Rejection::invalid(format!(
                "api-version must be \"6.4\", got {other:?}"
            ))),
            None => Err(Rejection::invalid(
                "api-version is required and must be \"6.4\"".to_owned(),
            )),
        }
    }

    fn timeout(&self) -> Result<(), Rejection> {
        match self.get("timeout")? {
            None => Ok(()),
            Some(raw) => match raw.parse::<u64>() {
                Ok(1..=4_294_967_295) => Ok(()),
                _ => Err(Rejection::invalid(format!(
                    "timeout must be an integer in 1..=4294967295, got {raw}"
                ))),
            },
        }
    }

    /// The list parameters. The partition list takes its date filters and `Latest` from the query; the location
    /// list from its body, so only the paging values are read here for it.
    fn list(&self, partition_list: bool) -> Result<crate::listing::ListQuery, Rejection> {
        let date = |name: &str| -> Result<Option<chrono::DateTime<chrono::Utc>>, Rejection> {
            match self.get(name)? {
                None => Ok(None),
                Some(raw) => chrono::DateTime::parse_from_rfc3339(raw)
                    .map(|time| Some(time.with_timezone(&chrono::Utc)))
                    .map_err(|e| {
                        Rejection::invalid(format!("{name} {raw:?} is not ISO 8601: {e}"))
                    }),
            }
        };
        let mut list = crate::listing::ListQuery::default();
        if partition_list {
            list.start = date("StartDateTimeFilter")?;
            list.end = date("EndDateTimeFilter")?;
            list.latest = match self.get("Latest")? {
                None => false,
                Some(raw) if raw.eq_ignore_ascii_case("true") => true,
                Some(raw) if raw.eq_ignore_ascii_case("false") => false,
                Some(raw) => {
                    return Err(Rejection::invalid(format!(
                        "Latest must be true or false, got {raw}"
                    )));
                }
            };
        }
        // The service binds MaxResults as a C# int.
        list.max_results = match self.get("MaxResults")? {
            None => 0,
            Some(raw) => match raw.parse::<u64>() {
                Ok(n @ 0..=2_147_483_647) => n,
                _ => {
                    return Err(Rejection::invalid(format!(
                        "MaxResults must be an integer in 0..=2147483647, got {raw}"
                    )));
                }
            },
        };
        list.token = self.get("ContinuationToken")?.map(str::to_owned);
        Ok(list)
    }

    /// Minutes; the documented default is 10.
    fn backup_timeout(&self) -> Result<u64, Rejection> {
        match self.get("BackupTimeout")? {
            None => Ok(10),
            Some(raw) => match raw.parse::<u64>() {
                Ok(minutes @ 1..=2_147_483_647) => Ok(minutes),
                _ => Err(Rejection::invalid(format!(
                    "BackupTimeout must be a positive integer (minutes), got {raw}"
                ))),
            },
        }
    }
}

const STORAGE_KINDS: [&str; 4] = [
    "AzureBlobStore",
    "FileShare",
    "DsmsAzureBlobStore",
    "ManagedIdentityAzureBlobStore",
];

fn parse_description(body: &[u8]) -> Result<BackupPartitionDescription, Rejection> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(BackupPartitionDescription::default());
    }
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        Rejection::invalid(format!("BackupPartitionDescription is not valid JSON: {e}"))
    })?;
    let Some(object) = value.as_object() else {
        return Err(Rejection::invalid(
            "BackupPartitionDescription must be a JSON object".to_owned(),
        ));
    };
    // Checked by hand first because serde's messages for an internally tagged enum do not name the tag field.
    if let Some(storage) = object.get("BackupStorage").filter(|s| !s.is_null()) {
        let Some(storage) = storage.as_object() else {
            return Err(Rejection::invalid(
                "BackupStorage must be a JSON object".to_owned(),
            ));
        };
        match storage.get("StorageKind") {
            None => {
                return Err(Rejection::invalid(
                    "BackupStorage.StorageKind is required".to_owned(),
                ));
            }
            Some(serde_json::Value::String(kind)) if STORAGE_KINDS.contains(&kind.as_str()) => {}
            Some(other) => {
                return Err(Rejection::invalid(format!(
                    "BackupStorage.StorageKind must be one of {}, got {other}",
                    STORAGE_KINDS.join(", ")
                )));
            }
        }
    }
    serde_json::from_value(value)
        .map_err(|e| Rejection::invalid(format!("BackupStorage is invalid: {e}")))
}

/// The body of GetBackupsFromBackupLocation, with the service's messages for a missing or unknown `EntityKind`
/// (`BackupEntityConverter.ReadJson`, case-sensitive).
fn parse_list_description(
    body: &[u8],
) -> Result<sf_backup_api::types::GetBackupByStorageQueryDescription, Rejection> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        Rejection::invalid(format!(
            "GetBackupByStorageQueryDescription is not valid JSON: {e}"
        ))
    })?;
    let entity = value.get("BackupEntity").filter(|e| !e.is_null());
    match entity.and_then(|e| e.get("EntityKind")) {
        None if entity.is_some() => {
            return Err(Rejection::invalid("EntityKind is Required".to_owned()));
        }
        Some(serde_json::Value::String(kind))
            if !["Application", "Service", "Partition"].contains(&kind.as_str()) =>
        {
            return Err(Rejection::invalid(format!(
                "Invalid Backup Entitiy Type {kind}"
            )));
        }
        _ => {}
    }
    serde_json::from_value(value).map_err(|e| {
        Rejection::invalid(format!(
            "GetBackupByStorageQueryDescription is invalid: {e}"
        ))
    })
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

fn json<T: serde::Serialize>(code: u16, value: &T) -> Response<ResponseBody> {
    // The generated types always serialize; a failure would be a bug in them, answered as a 500.
    match serde_json::to_vec(value) {
        Ok(bytes) => with_body(code, Some("application/json; charset=utf-8"), bytes),
        Err(e) => with_body(
            500,
            Some("text/plain"),
            format!("serialization failed: {e}"),
        ),
    }
}

/// An error answer. The service serialises `{"Error": …}` into a `StringContent`, which labels it
/// `text/plain; charset=utf-8`, writes an undefined code as its integer, and adds `X-ServiceFabric:
/// ResourceNotFound` to a 404; the documented dialect sends FabricError as `application/json`.
fn fabric_error(
    dialect: Dialect,
    code: u16,
    error_code: &str,
    message: String,
) -> Response<ResponseBody> {
    match dialect {
        Dialect::Documented => json(code, &FabricError::new(error(error_code, message))),
        Dialect::Service => {
            let body = ServiceErrorBody {
                error: ServiceFabricError::new(error_code, message),
            };
            let mut response = with_body(
                code,
                Some("text/plain; charset=utf-8"),
                serde_json::to_vec(&body).unwrap_or_default(),
            );
            if code == 404 {
                response.headers_mut().insert(
                    "x-servicefabric",
                    HeaderValue::from_static("ResourceNotFound"),
                );
            }
            response
        }
    }
}

fn fault_response(
    dialect: Dialect,
    fault: &Fault,
) -> Result<Response<ResponseBody>, CloseConnection> {
    Ok(match &fault.action {
        FaultAction::PrimaryMove { .. } => not_primary(dialect),
        FaultAction::FabricError {
            status,
            code,
            message,
        } => fabric_error(
            dialect,
            *status,
            code,
            message
                .clone()
                .unwrap_or_else(|| format!("Injected fault: {code}")),
        ),
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
        // In the service's shapes a state comes with every other member, as placeholders.
        FaultAction::BackupState { state } if dialect == Dialect::Service => with_body(
            200,
            Some("application/json; charset=utf-8"),
            service_pending_body(state),
        ),
        FaultAction::BackupState { state } => json(
            200,
            &build::<BackupProgressInfo, _>(BackupProgressInfo::builder().backup_state(
                match state.parse::<KnownBackupState>() {
                    Ok(known) => known.into(),
                    Err(_) => sf_backup_api::types::BackupState::String(state.clone()),
                },
            )),
        ),
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
