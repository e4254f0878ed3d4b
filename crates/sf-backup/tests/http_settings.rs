//! HTTP settings a caller sets on the client without naming the HTTP library: a proxy and the user agent.
#![forbid(unsafe_code)]

use rstest::rstest;
use sf_backup::{Client, PartitionId};
use sf_backup_testkit::{Config, Dialect, Gateway};

const PARTITION: &str = "1daae3f5-7fd6-42e9-b1ba-8c05f873994d";

#[rstest]
#[tokio::test]
async fn requests_go_through_the_proxy_with_the_given_user_agent(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    // The gateway stands in for the proxy: an HTTP proxy gets the absolute URL as the request target.
    let proxy = Gateway::start(Config {
        dialect,
        ..Config::default()
    })
    .await
    .unwrap();
    let client = Client::builder()
        .endpoint("http://cluster.invalid:19080")
        .proxy(proxy.url())
        .user_agent("backup-tool/1.0 sf-backup")
        .build()
        .unwrap();
    let partition: PartitionId = PARTITION.parse().unwrap();
    client.backup_partition(partition).await.unwrap();

    let journal = proxy.journal();
    assert_eq!(journal.len(), 1);
    assert!(
        journal[0]
            .target
            .starts_with("http://cluster.invalid:19080/Partitions/"),
        "{}",
        journal[0].target
    );
    assert_eq!(
        journal[0].header("user-agent"),
        Some("backup-tool/1.0 sf-backup")
    );
}

#[tokio::test]
async fn no_proxy_ignores_the_environment_and_the_default_user_agent_names_the_crate() {
    let gateway = Gateway::start(Config::default()).await.unwrap();
    let client = Client::builder()
        .endpoint(gateway.url())
        .no_proxy()
        .build()
        .unwrap();
    client
        .backup_progress(PARTITION.parse().unwrap())
        .await
        .unwrap();
    let agent = gateway.journal()[0].header("user-agent").map(str::to_owned);
    assert_eq!(
        agent.as_deref(),
        Some(concat!("sf-backup/", env!("CARGO_PKG_VERSION")))
    );
}
