//! The client's retries, outside a wait: every read (a progress read, a page of a backup list, a page of a
//! topology resolution) is retried on a 503 as the client's `RetryPolicy` says; the backup request never is, in
//! both dialects.

mod support;

use std::time::Duration;

use rstest::rstest;
use sf_backup::topology::FabricName;
use sf_backup::{Client, RetryPolicy};
use sf_backup_testkit::{Dialect, Fault, Gateway, Operation, default_topology as fake};
use support::{gateway, partition};

fn quick(gateway: &Gateway, retry: RetryPolicy) -> Client {
    Client::builder()
        .endpoint(gateway.url())
        .retry(retry.initial_backoff(Duration::from_millis(5)))
        .build()
        .unwrap()
}

/// Two 503s on `operation`, then the gateway answers as usual.
fn two_503s(gateway: &Gateway, operation: Operation) {
    gateway.push_fault(
        Fault::transient("FABRIC_E_NOT_READY")
            .on(operation)
            .times(2),
    );
}

#[rstest]
#[tokio::test]
async fn a_standalone_progress_read_is_retried_on_503(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    two_503s(&gateway, Operation::GetBackupProgress);
    let client = quick(&gateway, RetryPolicy::default());
    client.backup_progress(partition()).await.unwrap();
    assert_eq!(gateway.count(Operation::GetBackupProgress), 3);
}

#[rstest]
#[tokio::test]
async fn a_standalone_read_gives_up_after_three_retries_unless_the_policy_caps_it(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
    #[values(None, Some(1))] max_retries: Option<u32>,
) {
    let gateway = gateway(dialect).await;
    gateway.push_fault(
        Fault::transient("FABRIC_E_NOT_READY")
            .on(Operation::GetBackupProgress)
            .times(10),
    );
    let policy = match max_retries {
        Some(max) => RetryPolicy::default().max_retries(max),
        None => RetryPolicy::default(),
    };
    let error = quick(&gateway, policy)
        .backup_progress(partition())
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(http::StatusCode::SERVICE_UNAVAILABLE));
    let attempts = max_retries.map_or(4, |max| max as usize + 1);
    assert_eq!(gateway.count(Operation::GetBackupProgress), attempts);
}

#[rstest]
#[tokio::test]
async fn a_backup_list_page_is_retried_on_503(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    two_503s(&gateway, Operation::GetBackups);
    let client = quick(&gateway, RetryPolicy::default());
    client.list_backups(partition()).await.unwrap();
    assert_eq!(gateway.count(Operation::GetBackups), 3);
}

#[rstest]
#[tokio::test]
async fn a_topology_page_is_retried_on_503(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    two_503s(&gateway, Operation::GetPartitions);
    let client = quick(&gateway, RetryPolicy::default());
    let service: FabricName = fake::PERSISTED_SERVICE.parse().unwrap();
    let resolution = client.resolve_service(&service).await.unwrap();
    assert!(resolution.partition_ids().next().is_some());
    assert_eq!(gateway.count(Operation::GetPartitions), 3);
}

#[rstest]
#[tokio::test]
async fn the_backup_request_is_never_retried(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    two_503s(&gateway, Operation::Backup);
    let client = quick(&gateway, RetryPolicy::default().max_retries(10));
    let error = client.backup_partition(partition()).await.unwrap_err();
    assert_eq!(error.status(), Some(http::StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(gateway.count(Operation::Backup), 1);
}
