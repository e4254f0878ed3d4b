//! The binary and the JSON config format documented in README.md.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rstest::rstest;
use sf_backup_testkit::{Config, Dialect, FaultAction, PartitionScheme, ServiceKind};

fn readme_config() -> String {
    let readme = include_str!("../README.md");
    let start = readme.find("```json\n").expect("README has a JSON example") + "```json\n".len();
    let end = start + readme[start..].find("```").unwrap();
    readme[start..end].to_owned()
}

/// The README's JSON example with a topology.
fn readme_topology_config() -> String {
    let readme = include_str!("../README.md");
    readme
        .split("```json\n")
        .skip(1)
        .map(|block| &block[..block.find("```").unwrap()])
        .find(|block| block.contains("\"topology\""))
        .expect("README has a topology example")
        .to_owned()
}

/// How long a child may take to start listening, or to exit, before the test fails.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one request to a child may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The binary, serving; killed when dropped, so a failing test leaves no process behind.
struct Serving {
    child: Child,
    /// The address the child bound (it binds `127.0.0.1:0` and prints it), e.g. `127.0.0.1:41234`.
    addr: String,
}

impl Serving {
    /// Starts the binary with `args` (which should say `--listen 127.0.0.1:0`) and waits, at most
    /// [`PROCESS_TIMEOUT`], for the line that says where it listens.
    fn start(args: &[&std::ffi::OsStr]) -> Serving {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sf-backup-testkit"))
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (line_tx, line_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = line_tx.send(line);
        });
        let line = match line_rx.recv_timeout(PROCESS_TIMEOUT) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the binary did not say where it listens within {PROCESS_TIMEOUT:?}");
            }
        };
        let addr = line.trim().rsplit("http://").next().unwrap().to_owned();
        Serving { child, addr }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary with `args` to its end, failing the test if that takes longer than [`PROCESS_TIMEOUT`].
fn run_to_end(args: &[&std::ffi::OsStr]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sf-backup-testkit"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + PROCESS_TIMEOUT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the binary did not exit within {PROCESS_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// A connection to `addr` whose reads and writes give up after [`REQUEST_TIMEOUT`].
fn connect(addr: &str) -> std::net::TcpStream {
    let stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(REQUEST_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(REQUEST_TIMEOUT)).unwrap();
    stream
}

fn os(arg: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(arg)
}

#[test]
fn readme_config_parses() {
    let config: Config = serde_json::from_str(&readme_config()).unwrap();
    assert_eq!(config.dialect, Dialect::Service);
    assert_eq!(config.partitions.len(), 2);
    assert_eq!(config.partitions[1].node_clock_offset_ms, -3_600_000);
    assert_eq!(config.faults.len(), 5);
    assert_eq!(config.faults[2].times, None);
    assert_eq!(config.faults[3].skip, 2);
    assert_eq!(
        config.faults[4].action,
        FaultAction::PrimaryMove { ms: 5000 }
    );
}

/// `--dialect` overrides the config's `"dialect": "service"`.
#[rstest]
fn binary_serves_with_a_config_file(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let dir = std::env::temp_dir().join(format!(
        "sf-backup-testkit-{}-{dialect}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gateway.json");
    std::fs::write(&path, readme_config()).unwrap();

    let serving = Serving::start(&[
        os("--listen"),
        os("127.0.0.1:0"),
        os("--dialect"),
        os(dialect.name()),
        os("--config"),
        path.as_os_str(),
    ]);

    let mut stream = connect(&serving.addr);
    write!(
        stream,
        "POST /Partitions/1daae3f5-7fd6-42e9-b1ba-8c05f873994d/$/Backup?api-version=6.4 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    drop(serving);
    let _ = std::fs::remove_dir_all(&dir);
    // The config's first fault answers the first backup with 503 FABRIC_E_NOT_READY.
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    assert!(response.contains("FABRIC_E_NOT_READY"), "{response}");
    let content_type = dialect.pick(
        "content-type: text/plain; charset=utf-8",
        "content-type: application/json; charset=utf-8",
    );
    assert!(response.contains(content_type), "{response}");
}

#[test]
fn binary_rejects_a_bad_config_file() {
    let dir = std::env::temp_dir().join(format!("sf-backup-testkit-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.json");
    std::fs::write(&path, r#"{"acepted_ms": 1}"#).unwrap();
    let output = run_to_end(&[
        os("--listen"),
        os("127.0.0.1:0"),
        os("--config"),
        path.as_os_str(),
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("acepted_ms"));
}

#[test]
fn readme_topology_config_parses() {
    let config: Config = serde_json::from_str(&readme_topology_config()).unwrap();
    assert_eq!(config.query_page_size, Some(2));
    let topology = config.topology.unwrap();
    let services = &topology.applications[0].services;
    let kinds: Vec<ServiceKind> = services.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            ServiceKind::StatefulPersisted,
            ServiceKind::StatefulVolatile,
            ServiceKind::Stateless
        ]
    );
    assert_eq!(
        services[0].partitions[0].scheme,
        Some(PartitionScheme::Int64Range {
            low_key: i64::MIN,
            high_key: -1
        })
    );
    assert_eq!(services[0].partitions[0].outcomes.len(), 1);
    assert_eq!(services[0].partitions[1].in_progress_ms, Some(2000));
    assert_eq!(services[2].instance_count, Some(-1));
    assert_eq!(services[2].partitions[0].scheme, None);
}

/// A status line and body of one request over a fresh connection.
fn request(addr: &str, method: &str, target: &str) -> (String, String) {
    let mut stream = connect(addr);
    write!(
        stream,
        "{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

#[rstest]
fn binary_serves_a_topology_from_a_config_file(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let dir = std::env::temp_dir().join(format!(
        "sf-backup-testkit-topology-{}-{dialect}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gateway.json");
    std::fs::write(&path, readme_topology_config()).unwrap();
    let serving = Serving::start(&[
        os("--listen"),
        os("127.0.0.1:0"),
        os("--dialect"),
        os(dialect.name()),
        os("--config"),
        path.as_os_str(),
    ]);
    let addr = serving.addr.clone();

    let services = "/Applications/Shop/$/GetServices?api-version=6.0";
    let (status, first) = request(&addr, "GET", services);
    let (_, second) = request(
        &addr,
        "GET",
        &format!("{services}&ContinuationToken=fabric:/Shop/Orders"),
    );
    let (_, partitions) = request(
        &addr,
        "GET",
        "/Services/Shop%2FOrders/$/GetPartitions?api-version=6.4",
    );
    let (web, _) = request(
        &addr,
        "POST",
        "/Partitions/2bc539a2-20c0-4518-92c4-d3051332a587/$/Backup?api-version=6.4",
    );
    drop(serving);
    let _ = std::fs::remove_dir_all(&dir);

    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let first: serde_json::Value = serde_json::from_str(&first).unwrap();
    let second: serde_json::Value = serde_json::from_str(&second).unwrap();
    // `query_page_size` 2: Cache and Orders, then Web.
    assert_eq!(first["Items"][0]["Name"], "fabric:/Shop/Cache");
    assert_eq!(first["Items"][1]["Name"], "fabric:/Shop/Orders");
    assert_eq!(first["ContinuationToken"], "fabric:/Shop/Orders");
    assert_eq!(second["Items"][0]["Name"], "fabric:/Shop/Web");
    assert_eq!(second["ContinuationToken"], "");
    assert!(
        partitions.contains("01f5086d-a65e-4ae1-b176-3530b0dd9878"),
        "{partitions}"
    );
    assert!(
        partitions.contains("86111b0a-f86f-4ca6-8cec-e21c6fa70150"),
        "{partitions}"
    );
    // The stateless partition, no storage in the body: not enabled (service) or not applicable (documented).
    let refused = dialect.pick("HTTP/1.1 404", "HTTP/1.1 400");
    assert!(web.starts_with(refused), "{web}");
}

#[test]
fn binary_refuses_a_topology_that_cannot_be() {
    let dir = std::env::temp_dir().join(format!(
        "sf-backup-testkit-bad-topology-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.json");
    std::fs::write(
        &path,
        r#"{"topology": {"applications": [{"name": "fabric:/A", "services": [
            {"name": "fabric:/B/S", "kind": "Stateless", "partitions": [{"id": "2bc539a2-20c0-4518-92c4-d3051332a587"}]}]}]}}"#,
    )
    .unwrap();
    let output = run_to_end(&[
        os("--listen"),
        os("127.0.0.1:0"),
        os("--config"),
        path.as_os_str(),
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("topology.applications[0].services[0].name"),
        "{stderr}"
    );
}

#[test]
fn binary_explains_its_options_and_names_a_wrong_one() {
    let help = run_to_end(&[os("--help")]);
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    for option in ["--listen", "--config", "--dialect"] {
        assert!(help.contains(option), "{help}");
    }
    let wrong = run_to_end(&[os("--dialect"), os("swagger")]);
    assert_eq!(wrong.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        stderr.contains("--dialect: unknown dialect \"swagger\""),
        "{stderr}"
    );
}
