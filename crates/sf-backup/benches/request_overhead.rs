//! Per-request overhead of the facade: `client.backup_partition(id).storage(..).await` against a hand-written
//! reqwest request that puts the same bytes on the wire, both sent to the same minimal loopback server.
//!
//! The server lives in this file on purpose: it only finds the end of each request and answers `202` with an
//! empty body on a kept-alive connection, so the time measured is the clients' own. The testkit would validate
//! and journal every request, and that would dominate the figures.
//!
//! Four lines per group, each adding one layer, so the cost of each is named: `raw_reqwest` (hand-written),
//! `generated_client` (sf-backup-api alone), `generated_client_with_deadline` (plus the facade's timer) and
//! `facade` (plus validation, the storage conversion, the tracing span and the boxed future).
//!
//! Run: `cargo bench -p sf-backup --bench request_overhead`. Before measuring, one request of each client is captured
//! and compared, so all of them are known to send the same request (method, target, headers, body).

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use futures_util::future::join_all;
use serde::Serialize;
use sf_backup::{BackupStorage, Client, PartitionId};
use sf_backup_api::types;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

/// The seed page's partition and Azure blob store example (spec/examples/backup-partition-azure-blob-store.json).
const PARTITION: &str = "1daae3f5-7fd6-42e9-b1ba-8c05f873994d";
const CONNECTION_STRING: &str =
    "DefaultEndpointsProtocol=https;AccountName=storagesample;AccountKey=<PutYourAccountKeyHere>";
const CONTAINER: &str = "BackupContainer";
/// The facade's user agent, given to the raw client too so that both send the same headers.
const USER_AGENT: &str = concat!("sf-backup/", env!("CARGO_PKG_VERSION"));
/// Requests in flight per iteration of the concurrent benches.
const CONCURRENCY: usize = 64;

/// The answer to every request: what the service sends for an accepted backup.
const ACCEPTED: &[u8] = b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n";

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

/// Accepts connections until the runtime stops; each connection answers requests in order (keep-alive).
async fn serve(listener: TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(connection(stream, None));
    }
}

/// Reads requests off one connection and answers each with [`ACCEPTED`]. With `capture`, the first request's raw
/// bytes are sent there instead of serving more (used once, to compare the two clients).
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
        stream.write_all(ACCEPTED).await?;
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

/// Both clients send bodies with a length (never chunked), so this is all the framing the server needs.
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

/// The facade's request, as an application writes it. The storage is built per request because the request
/// builder takes it by value; that is part of what a caller pays.
async fn facade_request(client: &Client, id: PartitionId) {
    client
        .backup_partition(id)
        .storage(BackupStorage::azure_blob_store(
            CONNECTION_STRING,
            CONTAINER,
        ))
        .await
        .expect("the loopback server accepts every request");
}

/// The same request by hand: the target formatted per request (a real caller backs up more than one partition),
/// the body from a hand-written struct.
async fn raw_request(client: &reqwest::Client, base: &str, id: PartitionId) {
    let body = RawBody {
        backup_storage: RawStorage::AzureBlobStore {
            connection_string: CONNECTION_STRING,
            container_name: CONTAINER,
        },
    };
    let response = client
        .post(format!("{base}/Partitions/{id}/$/Backup?api-version=6.4"))
        .json(&body)
        .send()
        .await
        .expect("the loopback server answers");
    assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
}

/// The same request through the generated client alone (sf-backup-api), without the facade's validation,
/// deadline, span and error mapping: it tells the generated code's share of the overhead from the facade's.
async fn generated_request(api: &sf_backup_api::Client, id: &uuid::Uuid) {
    let mut body = types::BackupPartitionDescription::default();
    body.backup_storage = Some(types::BackupStorageDescription::AzureBlobStore {
        connection_string: CONNECTION_STRING.into(),
        container_name: CONTAINER.to_owned(),
        friendly_name: None,
    });
    api.backup_partition(id, None, types::ApiVersion::X64, None, &body)
        .await
        .expect("the loopback server accepts every request");
}

/// The generated client inside the same deadline the facade puts around every call (`tokio::time::timeout` with
/// the default 60 s server timeout plus the 10 s margin): tells the timer's share from the rest of the facade.
async fn generated_request_with_deadline(api: &sf_backup_api::Client, id: &uuid::Uuid) {
    tokio::time::timeout(Duration::from_secs(70), generated_request(api, id))
        .await
        .expect("the loopback server answers at once");
}

/// The request's bytes with the header lines sorted (their order is not part of what either client promises).
fn normalised(request: &[u8]) -> String {
    let text = String::from_utf8_lossy(request);
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete request");
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default().to_owned();
    let mut headers: Vec<String> = lines.map(str::to_ascii_lowercase).collect();
    headers.sort();
    format!("{request_line}\n{}\n\n{body}", headers.join("\n"))
}

/// Sends one request of each kind to a capturing server and fails the bench when they differ.
fn assert_same_request(runtime: &Runtime, id: PartitionId) {
    let facade = capture(runtime, |base| async move {
        facade_request(&Client::new(&base).unwrap(), id).await;
    });
    let raw = capture(runtime, |base| async move {
        raw_request(&raw_client(), &base, id).await;
    });
    let generated = capture(runtime, |base| async move {
        let api = sf_backup_api::Client::new_with_client(&base, raw_client());
        generated_request(&api, id.as_uuid()).await;
    });
    // Each capture has its own port, so the host header differs; everything else must not.
    let without_host = |request: &[u8]| {
        normalised(request)
            .lines()
            .filter(|line| !line.starts_with("host:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        without_host(&facade),
        without_host(&raw),
        "the facade and the hand-written request must send the same bytes"
    );
    assert_eq!(
        without_host(&generated),
        without_host(&raw),
        "the generated client and the hand-written request must send the same bytes"
    );
}

/// The raw bytes of the one request `send` makes to a fresh server at the base URL it is given.
fn capture<F, Fut>(runtime: &Runtime, send: F) -> Vec<u8>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await?;
            connection(stream, Some(sender)).await
        });
        send(base).await;
        server.await.unwrap().unwrap();
        receiver.await.unwrap()
    })
}

fn raw_client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .build()
        .expect("a plain HTTP client builds")
}

fn request_overhead(c: &mut Criterion) {
    // One thread for client and server alike: the figures are then CPU per request, not scheduling luck on a
    // shared 2-core machine.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let address = runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(serve(listener));
        address
    });
    let base = format!("http://{address}");
    let id: PartitionId = PARTITION.parse().unwrap();
    let facade = Client::new(&base).unwrap();
    let raw = raw_client();
    // The generated client on its own connection pool, as the facade and the raw client each have theirs.
    let api = sf_backup_api::Client::new_with_client(&base, raw_client());
    assert_same_request(&runtime, id);

    let mut group = c.benchmark_group("backup_partition/sequential");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));
    group.bench_function("raw_reqwest", |b| {
        b.to_async(&runtime).iter(|| raw_request(&raw, &base, id));
    });
    group.bench_function("generated_client", |b| {
        b.to_async(&runtime)
            .iter(|| generated_request(&api, id.as_uuid()));
    });
    group.bench_function("generated_client_with_deadline", |b| {
        b.to_async(&runtime)
            .iter(|| generated_request_with_deadline(&api, id.as_uuid()));
    });
    group.bench_function("facade", |b| {
        b.to_async(&runtime).iter(|| facade_request(&facade, id));
    });
    group.finish();

    let mut group = c.benchmark_group("backup_partition/concurrent");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.sample_size(30);
    group.throughput(criterion::Throughput::Elements(CONCURRENCY as u64));
    group.bench_function(BenchmarkId::new("raw_reqwest", CONCURRENCY), |b| {
        b.to_async(&runtime)
            .iter(|| join_all((0..CONCURRENCY).map(|_| raw_request(&raw, &base, id))));
    });
    group.bench_function(BenchmarkId::new("generated_client", CONCURRENCY), |b| {
        b.to_async(&runtime)
            .iter(|| join_all((0..CONCURRENCY).map(|_| generated_request(&api, id.as_uuid()))));
    });
    group.bench_function(
        BenchmarkId::new("generated_client_with_deadline", CONCURRENCY),
        |b| {
            b.to_async(&runtime).iter(|| {
                join_all(
                    (0..CONCURRENCY).map(|_| generated_request_with_deadline(&api, id.as_uuid())),
                )
            });
        },
    );
    group.bench_function(BenchmarkId::new("facade", CONCURRENCY), |b| {
        b.to_async(&runtime)
            .iter(|| join_all((0..CONCURRENCY).map(|_| facade_request(&facade, id))));
    });
    group.finish();
}

criterion_group!(benches, request_overhead);
criterion_main!(benches);
