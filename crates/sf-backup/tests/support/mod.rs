//! The facade tests' one helper: a testkit gateway in a given dialect, the partition the tests back up, a client
//! and journal counts. Every behaviour test takes the dialect as a parameter (`#[values(Dialect::Service,
//! Dialect::Documented)]`), so a client that reads only one of the two shapes fails.
// Each test file is its own crate and uses only some of these.
#![allow(dead_code)]

use sf_backup::{Client, PartitionId};
use sf_backup_testkit::{Config, Dialect, Gateway};

pub const PARTITION: &str = "1daae3f5-7fd6-42e9-b1ba-8c05f873994d";

pub fn partition() -> PartitionId {
    PARTITION.parse().unwrap()
}

/// A gateway with the default settings, answering in `dialect`.
pub async fn gateway(dialect: Dialect) -> Gateway {
    gateway_with(dialect, Config::default()).await
}

/// A gateway with `config`, answering in `dialect` whatever `config.dialect` says.
pub async fn gateway_with(dialect: Dialect, config: Config) -> Gateway {
    let gateway = Gateway::start(Config { dialect, ..config }).await.unwrap();
    assert_eq!(gateway.dialect(), dialect);
    gateway
}

pub fn client(gateway: &Gateway) -> Client {
    Client::new(gateway.url()).unwrap()
}

/// Reads progress through the facade until it reports `state` (3 s at most).
pub async fn progress_until(
    client: &Client,
    partition: PartitionId,
    state: sf_backup::BackupState,
) -> sf_backup::BackupProgress {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let progress = client.backup_progress(partition).await.unwrap();
        if progress.state == state {
            return progress;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never reached {state}: {progress:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// A plain reqwest client for the tests' raw requests. In a build whose only TLS feature is `tls-ring`, reqwest has
/// no crypto provider of its own and `reqwest::Client::new()` panics ("No rustls crypto provider is configured");
/// sf-backup's own clients carry a ring config and never need a process-wide provider, and neither does this one.
#[cfg(all(feature = "tls-ring", not(feature = "tls")))]
pub fn raw_http_client() -> reqwest::Client {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .build()
        .unwrap()
}

/// A plain reqwest client for the tests' raw requests.
#[cfg(not(all(feature = "tls-ring", not(feature = "tls"))))]
pub fn raw_http_client() -> reqwest::Client {
    reqwest::Client::new()
}
