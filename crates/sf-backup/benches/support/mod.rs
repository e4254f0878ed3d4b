//! What the request benches share: a minimal loopback server, the three clients (hand-written reqwest, the
//! generated client, the facade) and one request of each bench line for the two operations: the backup POST and
//! the progress read (GET and decode).
//!
//! The server lives here on purpose: it only finds the end of each request and answers it on a kept-alive
//! connection (`202` with an empty body for a POST, `200` with the service's answer for a running backup for a
//! GET), so the time measured is the clients' own. The testkit would validate and journal every request, which
//! would dominate the figures and grow memory in a soak.

// Each bench uses a part of this module.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sf_backup::{BackupStorage, Client, PartitionId};
use sf_backup_api::types;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

/// The seed page's partition and Azure blob store example (spec/examples/backup-partition-azure-blob-store.json).
pub const PARTITION: &str = "1daae3f5-7fd6-42e9-b1ba-8c05f873994d";
pub const CONNECTION_STRING: &str =
    "DefaultEndpointsProtocol=https;AccountName=storagesample;AccountKey=<PutYourAccountKeyHere>";
pub const CONTAINER: &str = "BackupContainer";
/// The facade's user agent, given to the raw client too so that both send the same headers.
pub const USER_AGENT: &str = concat!("sf-backup/", env!("CARGO_PKG_VERSION"));
/// Requests in flight in the concurrent benches.
pub const CONCURRENCY: usize = 64;
/// The deadline the facade puts around a call with the default server timeout (60 s) and answer margin (10 s).
pub const FACADE_DEADLINE: Duration = Duration::from_secs(70);

/// What the service answers to a progress read while a backup runs (the Backup Restore Service's own dialect: a
/// placeholder time stamp, backup id and LSN): what a wait reads most often.
pub const PROGRESS_BODY: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../spec/examples/backup-progress-pending-service.json"
));

/// The answer to every POST: what the service sends for an accepted backup.
const ACCEPTED: &[u8] = b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n";

/// The answer to every GET: [`PROGRESS_BODY`] as the service sends it.
static PROGRESS: LazyLock<Vec<u8>> = LazyLock::new(|| {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: {}\r\n\r\n{}",
        PROGRESS_BODY.len(),
        PROGRESS_BODY
    )
    .into_bytes()
});

/// The loopback server: its base URL, and how many connections it accepted and still has open.
pub struct Server {
    pub base: String,
    counters: Arc<Counters>,
}

#[derive(Default)]
struct Counters {
    accepted: AtomicUsize,
    open: AtomicUsize,
}

impl Server {
    /// Binds a free loopback port and serves it on the current runtime until the runtime stops.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let counters = Arc::new(Counters::default());
        let serving = Arc::clone(&counters);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                serving.accepted.fetch_add(1, Ordering::Relaxed);
                serving.open.fetch_add(1, Ordering::Relaxed);
                let counters = Arc::clone(&serving);
                tokio::spawn(async move {
                    let _ = connection(stream, None).await;
                    counters.open.fetch_sub(1, Ordering::Relaxed);
                });
            }
        });
        Self { base, counters }
    }

    /// Connections accepted since the start.
    pub fn accepted(&self) -> usize {
        self.counters.accepted.load(Ordering::Relaxed)
    }

    /// Connections accepted and not yet closed by the client.
    pub fn open(&self) -> usize {
        self.counters.open.load(Ordering::Relaxed)
    }
}

/// Reads requests off one connection and answers each (keep-alive). With `capture`, the first request's raw bytes
/// are sent there instead of serving more (used once per client, to compare what they send).
async fn connection(
    mut stream: TcpStream,
    capture: Option<tokio::sync::oneshot::Sender<Vec<u8>>>,
) -> std::io::Result<()> {
    // Small answers on a kept-alive connection: without this, Nagle's algorithm could add delays to both sides.
    stream.set_nodelay(true)?;
    let mut buffer = Vec::with_capacity(4096);
    loop {
        let head_end = loop {
            if let Some(end) = find(&buffer, b"\r\n\r\n") {
                break end + 4;
            }
            if stream.read_buf(&mut buffer).await? == 0 {
                return Ok(());
            }
        };
        let request_end = head_end + content_length(&buffer[..head_end]);
        while buffer.len() < request_end {
            if stream.read_buf(&mut buffer).await? == 0 {
                return Ok(());
            }
        }
        let answer = if buffer.starts_with(b"GET ") {
            PROGRESS.as_slice()
        } else {
            ACCEPTED
        };
        stream.write_all(answer).await?;
        if let Some(capture) = capture {
            let _ = capture.send(buffer[..request_end].to_vec());
            return Ok(());
        }
        buffer.drain(..request_end);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Every client sends bodies with a length (never chunked), so this is all the framing the server needs.
fn content_length(head: &[u8]) -> usize {
    String::from_utf8_lossy(head)
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0)
}

/// The body a hand-written client would declare: same field names, same order as the generated type, so the
/// serialised bytes match exactly.
#[derive(Serialize)]
struct RawBody<'a> {
    #[serde(rename = "BackupStorage")]
    backup_storage: RawStorage<'a>,
}

#[derive(Serialize)]
#[serde(tag = "StorageKind")]
enum RawStorage<'a> {
    AzureBlobStore {
        #[serde(rename = "ConnectionString")]
        connection_string: &'a str,
        #[serde(rename = "ContainerName")]
        container_name: &'a str,
    },
}

/// The progress answer as a hand-written client for this service would read it: the same fields, with the
/// state as text and the LSN as the number the service sends (the generated type also accepts it as text, as the
/// REST page documents, and keeps known states as an enum).
#[derive(Deserialize)]
#[allow(non_snake_case)]
pub struct RawProgress {
    pub BackupState: Option<String>,
    pub TimeStampUtc: Option<DateTime<Utc>>,
    pub BackupId: Option<uuid::Uuid>,
    pub BackupLocation: Option<String>,
    pub EpochOfLastBackupRecord: Option<RawEpoch>,
    pub LsnOfLastBackupRecord: Option<i64>,
    pub FailureError: Option<RawFailure>,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
pub struct RawEpoch {
    pub DataLossVersion: Option<String>,
    pub ConfigurationVersion: Option<String>,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
pub struct RawFailure {
    pub Code: String,
    pub Message: Option<String>,
}

/// A client per bench line, each with its own connection pool, all talking to the same server: a line never
/// finds connections (and the server's tasks behind them) warmed by the line before it.
pub struct Clients {
    pub base: String,
    pub id: PartitionId,
    pub raw: reqwest::Client,
    pub api: sf_backup_api::Client,
    /// The generated client of the line with the deadline.
    pub api_in_deadline: sf_backup_api::Client,
    pub facade: Client,
    /// The facade of the line that calls `send()`.
    pub facade_send: Client,
}

impl Clients {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            id: PARTITION.parse().unwrap(),
            raw: raw_client(),
            api: sf_backup_api::Client::new_with_client(base, raw_client()),
            api_in_deadline: sf_backup_api::Client::new_with_client(base, raw_client()),
            facade: Client::new(base).unwrap(),
            facade_send: Client::new(base).unwrap(),
        }
    }
}

fn raw_client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .build()
        .expect("a plain HTTP client builds")
}

/// The backup request by hand: the target formatted per request (a real caller backs up more than one
/// partition), the body from a hand-written struct of `&str`.
pub async fn raw_post(clients: &Clients) {
    let body = RawBody {
        backup_storage: RawStorage::AzureBlobStore {
            connection_string: CONNECTION_STRING,
            container_name: CONTAINER,
        },
    };
    let response = clients
        .raw
        .post(format!(
            "{}/Partitions/{}/$/Backup?api-version=6.4",
            clients.base, clients.id
        ))
        .json(&body)
        .send()
        .await
        .expect("the loopback server answers");
    assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
}

/// The same request through the generated client alone (sf-backup-api), without the facade's validation,
/// deadline, span and error mapping: it tells the generated code's share of the overhead from the facade's.
pub async fn generated_post(clients: &Clients) {
    generated_post_with(&clients.api, clients.id).await;
}

async fn generated_post_with(api: &sf_backup_api::Client, id: PartitionId) {
    let mut body = types::BackupPartitionDescription::default();
    body.backup_storage = Some(types::BackupStorageDescription::AzureBlobStore {
        connection_string: CONNECTION_STRING.into(),
        container_name: CONTAINER.to_owned(),
        friendly_name: None,
    });
    api.backup_partition(id.as_uuid(), None, types::ApiVersion::X64, None, &body)
        .await
        .expect("the loopback server accepts every request");
}

/// The generated client inside the same kind of deadline the facade puts around every call: tells the timer's
/// share from the rest of the facade.
pub async fn generated_post_with_deadline(clients: &Clients) {
    tokio::time::timeout(
        FACADE_DEADLINE,
        generated_post_with(&clients.api_in_deadline, clients.id),
    )
    .await
    .expect("the loopback server answers at once");
}

/// The facade's request, as an application writes it. The storage is built per request because the request
/// builder takes it by value; that is part of what a caller pays.
pub async fn facade_post(clients: &Clients) {
    clients
        .facade
        .backup_partition(clients.id)
        .storage(BackupStorage::azure_blob_store(
            CONNECTION_STRING,
            CONTAINER,
        ))
        .await
        .expect("the loopback server accepts every request");
}

/// The same request sent with `send()` instead of awaiting the builder: the same future, not boxed (the builder's
/// `IntoFuture` has to box it, since its type cannot be named on stable Rust).
pub async fn facade_send_post(clients: &Clients) {
    clients
        .facade_send
        .backup_partition(clients.id)
        .storage(BackupStorage::azure_blob_store(
            CONNECTION_STRING,
            CONTAINER,
        ))
        .send()
        .await
        .expect("the loopback server accepts every request");
}

/// The progress read by hand: GET, then the body decoded into [`RawProgress`].
pub async fn raw_progress(clients: &Clients) {
    let response = clients
        .raw
        .get(format!(
            "{}/Partitions/{}/$/GetBackupProgress?api-version=6.4",
            clients.base, clients.id
        ))
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .expect("the loopback server answers");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let progress: Option<RawProgress> = response.json().await.expect("a progress body");
    std::hint::black_box(progress);
}

/// The progress read through the generated client alone: its decoded `BackupProgressInfo`.
pub async fn generated_progress(clients: &Clients) {
    generated_progress_with(&clients.api, clients.id).await;
}

async fn generated_progress_with(api: &sf_backup_api::Client, id: PartitionId) {
    let progress = api
        .get_partition_backup_progress(id.as_uuid(), types::ApiVersion::X64, None)
        .await
        .expect("the loopback server answers every read")
        .into_inner();
    std::hint::black_box(progress);
}

/// The generated progress read inside the facade's kind of deadline.
pub async fn generated_progress_with_deadline(clients: &Clients) {
    tokio::time::timeout(
        FACADE_DEADLINE,
        generated_progress_with(&clients.api_in_deadline, clients.id),
    )
    .await
    .expect("the loopback server answers at once");
}

/// The facade's progress read: a `BackupProgress` with the placeholders read as `None`.
pub async fn facade_progress(clients: &Clients) {
    let progress = clients
        .facade
        .backup_progress(clients.id)
        .await
        .expect("the loopback server answers every read");
    std::hint::black_box(progress);
}

/// The facade's progress read with `send()`: not boxed.
pub async fn facade_send_progress(clients: &Clients) {
    let progress = clients
        .facade_send
        .backup_progress(clients.id)
        .send()
        .await
        .expect("the loopback server answers every read");
    std::hint::black_box(progress);
}

/// Sends one request of each client to a capturing server and panics when they differ (header order and the
/// `host` header aside, since each capture has its own port), for both operations.
pub fn assert_same_requests(runtime: &Runtime) {
    type SendOne = fn(Clients) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;
    let operations: [(&str, [(&str, SendOne); 3]); 2] = [
        (
            "backup POST",
            [
                ("facade", |c| Box::pin(async move { facade_post(&c).await })),
                ("raw", |c| Box::pin(async move { raw_post(&c).await })),
                ("generated", |c| {
                    Box::pin(async move { generated_post(&c).await })
                }),
            ],
        ),
        (
            "progress GET",
            [
                ("facade", |c| {
                    Box::pin(async move { facade_progress(&c).await })
                }),
                ("raw", |c| Box::pin(async move { raw_progress(&c).await })),
                ("generated", |c| {
                    Box::pin(async move { generated_progress(&c).await })
                }),
            ],
        ),
    ];
    for (operation, clients) in operations {
        let [(_, reference), others @ ..] =
            clients.map(|(name, send)| (name, capture(runtime, send)));
        for (name, request) in others {
            assert_eq!(
                without_host(&request),
                without_host(&reference),
                "the {name} client and the facade must send the same {operation}"
            );
        }
    }
}

/// The request's bytes with the header lines sorted and lower-cased, without `host`.
fn without_host(request: &[u8]) -> String {
    let text = String::from_utf8_lossy(request);
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete request");
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default().to_owned();
    let mut headers: Vec<String> = lines
        .map(str::to_ascii_lowercase)
        .filter(|line| !line.starts_with("host:"))
        .collect();
    headers.sort();
    format!("{request_line}\n{}\n\n{body}", headers.join("\n"))
}

/// The raw bytes of the one request `send` makes with clients of a fresh server.
fn capture(
    runtime: &Runtime,
    send: fn(Clients) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>,
) -> Vec<u8> {
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await?;
            connection(stream, Some(sender)).await
        });
        send(Clients::new(&base)).await;
        server.await.unwrap().unwrap();
        receiver.await.unwrap()
    })
}

/// The load average (1, 5 and 15 minutes) as the kernel reports it; `None` off Linux.
pub fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(
        text.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// The CPU time the calling thread has used (user and system), where the system can tell (Linux): unlike the
/// wall clock, it does not count the time the thread waits while other processes run.
#[cfg(target_os = "linux")]
pub fn thread_cpu_time() -> Option<Duration> {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Some(Duration::new(
        u64::try_from(now.tv_sec).ok()?,
        u32::try_from(now.tv_nsec).ok()?,
    ))
}

/// The CPU time the calling thread has used: unknown here.
#[cfg(not(target_os = "linux"))]
pub fn thread_cpu_time() -> Option<Duration> {
    None
}
