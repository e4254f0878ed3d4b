//! The binary and the JSON config format documented in README.md.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

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

    let mut child = Command::new(env!("CARGO_BIN_EXE_sf-backup-testkit"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--dialect",
            dialect.name(),
            "--config",
        ])
        .arg(&path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().rsplit("http://").next().unwrap().to_owned();

    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "POST /Partitions/1daae3f5-7fd6-42e9-b1ba-8c05f873994d/$/Backup?api-version=6.4 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    // The config's first fault answers the first backup with 503 FABRIC_E_NOT_READY.
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    assert!(response.contains("FABRIC_E_NOT_READY"), "{response}");
    let content_type = match dialect {
        Dialect::Service => "content-type: text/plain; charset=utf-8",
        Dialect::Documented => "content-type: application/json; charset=utf-8",
        other => panic!("no expectation is written for the {other} dialect"),
    };
    assert!(response.contains(content_type), "{response}");
}

#[test]
fn binary_rejects_a_bad_config_file() {
    let dir = std::env::temp_dir().join(format!("sf-backup-testkit-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.json");
    std::fs::write(&path, r#"{"acepted_ms": 1}"#).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_sf-backup-testkit"))
        .args(["--listen", "127.0.0.1:0", "--config"])
        .arg(&path)
        .output()
        .unwrap();
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
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
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
    let mut child = Command::new(env!("CARGO_BIN_EXE_sf-backup-testkit"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--dialect",
            dialect.name(),
            "--config",
        ])
        .arg(&path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().rsplit("http://").next().unwrap().to_owned();

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
    child.kill().unwrap();
    child.wait().unwrap();
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
    let refused = match dialect {
        Dialect::Service => "HTTP/1.1 404",
        Dialect::Documented => "HTTP/1.1 400",
        other => panic!("no expectation is written for the {other} dialect"),
    };
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
    let output = Command::new(env!("CARGO_BIN_EXE_sf-backup-testkit"))
        .args(["--listen", "127.0.0.1:0", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("topology.applications[0].services[0].name"),
        "{stderr}"
    );
}
