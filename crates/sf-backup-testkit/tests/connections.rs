//! The gateway counts connections, so a benchmark can show that a client keeps its connections alive.

use std::time::Duration;

use rstest::rstest;
use sf_backup_testkit::{Config, Dialect, Gateway};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const PROGRESS: &str =
    "/Partitions/1daae3f5-7fd6-42e9-b1ba-8c05f873994d/$/GetBackupProgress?api-version=6.4";

/// Sends one GET on `stream` and reads its whole answer (Content-Length framed), keeping the connection open.
async fn get(stream: &mut BufReader<TcpStream>, host: &str) {
    let request = format!("GET {PROGRESS} HTTP/1.1\r\nHost: {host}\r\n\r\n");
    stream
        .get_mut()
        .write_all(request.as_bytes())
        .await
        .unwrap();
    let mut length = 0;
    let mut status = String::new();
    stream.read_line(&mut status).await.unwrap();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    loop {
        let mut line = String::new();
        stream.read_line(&mut line).await.unwrap();
        if line == "\r\n" {
            break;
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.unwrap();
}

async fn settle(gateway: &Gateway, open: u64) {
    for _ in 0..2000 {
        if gateway.connections_open() == open {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!(
        "{} connections open, expected {open}",
        gateway.connections_open()
    );
}

#[rstest]
#[tokio::test]
async fn connections_are_counted_when_accepted_and_while_open(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = Gateway::start(Config {
        dialect,
        ..Config::default()
    })
    .await
    .unwrap();
    let host = gateway.url().trim_start_matches("http://").to_owned();
    assert_eq!(gateway.connections_accepted(), 0);

    let mut first = BufReader::new(TcpStream::connect(&host).await.unwrap());
    for _ in 0..3 {
        get(&mut first, &host).await;
    }
    assert_eq!(
        gateway.connections_accepted(),
        1,
        "three requests on one connection"
    );
    let mut second = BufReader::new(TcpStream::connect(&host).await.unwrap());
    get(&mut second, &host).await;
    assert_eq!(gateway.connections_accepted(), 2);
    settle(&gateway, 2).await;

    drop(first);
    settle(&gateway, 1).await;
    drop(second);
    settle(&gateway, 0).await;
    assert_eq!(gateway.connections_peak(), 2);
    assert_eq!(gateway.connections_accepted(), 2);
}
