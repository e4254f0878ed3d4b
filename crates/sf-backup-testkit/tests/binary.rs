//! The binary and the JSON config format documented in README.md.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

use rstest::rstest;
use sf_backup_testkit::{Config, Dialect, FaultAction};

fn readme_config() -> String {
    let readme = include_str!("../README.md");
    let start = readme.find("```json\n").expect("README has a JSON example") + "```json\n".len();
    let end = start + readme[start..].find("```").unwrap();
    readme[start..end].to_owned()
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
