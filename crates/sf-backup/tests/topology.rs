//! From a service or an application to its partitions (`Client::resolve_service`, `resolve_application`) against
//! the testkit's default topology, in both dialects: persisted stateful partitions resolved across pages,
//! stateless and volatile services left out with the reason, unknown names as the gateway's errors, and the
//! resolved partitions backed up once each.
#![forbid(unsafe_code)]

mod support;

use std::future::poll_fn;
use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;
use rstest::rstest;
use sf_backup::topology::{FabricName, SkipReason};
use sf_backup::{Error, PartitionId, WaitOptions};
use sf_backup_testkit::{Config, Dialect, Fault, Operation, default_topology as fake};
use support::{client, gateway_with};

fn name(text: &str) -> FabricName {
    text.parse().unwrap()
}

fn persisted() -> Vec<PartitionId> {
    fake::PERSISTED_PARTITIONS
        .iter()
        .map(|id| PartitionId::from(*id))
        .collect()
}

fn sorted(mut ids: Vec<PartitionId>) -> Vec<PartitionId> {
    ids.sort_by_key(|id| *id.as_uuid());
    ids
}

/// Page sizes: everything in one page, and one item a page (so every list pages through raw tokens).
#[rstest]
#[tokio::test]
async fn an_application_resolves_to_its_persisted_partitions_and_says_what_it_left_out(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
    #[values(None, Some(1))] page_size: Option<usize>,
) {
    let gateway = gateway_with(
        dialect,
        Config {
            query_page_size: page_size,
            ..Config::default()
        },
    )
    .await;
    let resolution = client(&gateway)
        .resolve_application(&name(fake::APPLICATION))
        .await
        .unwrap();

    assert_eq!(
        sorted(resolution.partition_ids().collect()),
        sorted(persisted())
    );
    assert!(
        resolution
            .partitions
            .iter()
            .all(|p| p.service_name.as_str() == fake::PERSISTED_SERVICE)
    );
    let mut skipped: Vec<(String, SkipReason)> = resolution
        .skipped
        .iter()
        .map(|s| (s.service_name.to_string(), s.reason.clone()))
        .collect();
    skipped.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        skipped,
        [
            (fake::STATELESS_SERVICE.to_owned(), SkipReason::Stateless),
            (fake::VOLATILE_SERVICE.to_owned(), SkipReason::NotPersisted),
        ]
    );
    // Only reads were sent, and with one item a page every list took more than one.
    let journal = gateway.journal();
    assert!(journal.iter().all(|r| r.method == "GET"));
    let pages = journal
        .iter()
        .filter(|r| r.target.contains("/$/GetPartitions"))
        .count();
    assert_eq!(pages, if page_size.is_some() { 4 } else { 1 });
}

#[rstest]
#[tokio::test]
async fn a_service_resolves_alone_and_stateless_or_volatile_services_resolve_to_nothing(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway_with(dialect, Config::default()).await;
    let client = client(&gateway);

    let service = client
        .resolve_service(&name(fake::PERSISTED_SERVICE))
        .await
        .unwrap();
    assert_eq!(
        sorted(service.partition_ids().collect()),
        sorted(persisted())
    );
    assert!(service.skipped.is_empty(), "{:?}", service.skipped);

    for (text, reason) in [
        (fake::STATELESS_SERVICE, SkipReason::Stateless),
        (fake::VOLATILE_SERVICE, SkipReason::NotPersisted),
    ] {
        let resolution = client.resolve_service(&name(text)).await.unwrap();
        assert!(resolution.partitions.is_empty(), "{text}: {resolution:?}");
        assert_eq!(resolution.skipped.len(), 1, "{text}");
        assert_eq!(resolution.skipped[0].reason, reason, "{text}");
        assert_eq!(resolution.skipped[0].service_name.as_str(), text);
    }
}

/// A 404 with the gateway's code, as the facade's error.
fn assert_not_found(error: Error, code: &str) {
    assert_eq!(
        error.status(),
        Some(sf_backup::StatusCode::NOT_FOUND),
        "{error}"
    );
    assert_eq!(error.code().map(|c| c.as_str()), Some(code), "{error}");
}

/// The server timeout is a builder setting, as on the lists: every page asks with it, and a bad one is refused
/// before anything is sent.
#[rstest]
#[tokio::test]
async fn every_page_of_a_resolution_carries_its_server_timeout(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway_with(
        dialect,
        Config {
            query_page_size: Some(1),
            ..Config::default()
        },
    )
    .await;
    let client = client(&gateway);
    let resolution = client
        .resolve_application(&name(fake::APPLICATION))
        .server_timeout(Duration::from_millis(6_500))
        .await
        .unwrap();
    assert!(!resolution.partitions.is_empty());
    let journal = gateway.journal();
    assert!(journal.len() > 2, "{journal:?}");
    assert!(
        journal.iter().all(|request| request
            .target
            .split(['?', '&'])
            .any(|pair| pair == "timeout=7")),
        "{journal:?}"
    );

    gateway.clear_journal();
    let error = client
        .resolve_service(&name(fake::PERSISTED_SERVICE))
        .server_timeout(Duration::ZERO)
        .await
        .unwrap_err();
    assert!(error.is_invalid_input(), "{error}");
    assert!(gateway.journal().is_empty());
}

/// A page that is not the list's type names the operation and the type it should have been; a gateway that
/// answers with a continuation token it sent before ends the list with `EndlessList` instead of a loop.
#[rstest]
#[tokio::test]
async fn a_page_that_cannot_be_read_names_its_list_and_a_repeated_token_ends_it(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway_with(dialect, Config::default()).await;
    let client = client(&gateway);
    gateway.push_fault(
        Fault::body(200, Some("application/json"), r#"{"Items": 5}"#).on(Operation::GetPartitions),
    );
    let error = client
        .resolve_service(&name(fake::PERSISTED_SERVICE))
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::UnexpectedResponse { .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.contains("GetPartitionInfoList answer is not a valid PagedServicePartitionInfoList"),
        "{text}"
    );

    gateway.push_fault(
        Fault::body(
            200,
            Some("application/json"),
            r#"{"Items": [], "ContinuationToken": "fabric:/FakeApp/again"}"#,
        )
        .on(Operation::GetServices)
        .always(),
    );
    let error = client
        .resolve_application(&name(fake::APPLICATION))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            Error::EndlessList { operation: "GetServiceInfoList", pages: 2, repeated_token: Some(token) }
                if token == "fabric:/FakeApp/again"
        ),
        "{error:?}"
    );
    assert_eq!(error.status(), None);
    assert!(!error.may_have_reached_service() && !error.is_transient());
}

#[rstest]
#[tokio::test]
async fn unknown_names_are_the_gateways_errors(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway_with(dialect, Config::default()).await;
    let client = client(&gateway);
    let application = client.resolve_application(&name("fabric:/NoSuchApp")).await;
    assert_not_found(application.unwrap_err(), "FABRIC_E_APPLICATION_NOT_FOUND");
    let service = client
        .resolve_service(&name("fabric:/FakeApp/NoSuchService"))
        .await;
    assert_not_found(service.unwrap_err(), "FABRIC_E_SERVICE_DOES_NOT_EXIST");
}

#[rstest]
#[tokio::test]
async fn the_resolved_partitions_are_backed_up_once_each(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway_with(
        dialect,
        Config {
            accepted_ms: Some(10),
            in_progress_ms: Some(30),
            ..Config::default()
        },
    )
    .await;
    let client = client(&gateway);
    let resolution = client
        .resolve_application(&name(fake::APPLICATION))
        .await
        .unwrap();
    let mut fleet = client
        .backup_partitions(resolution.partition_ids())
        .concurrency(2)
        .wait_options(
            WaitOptions::new()
                .poll_interval(Duration::from_millis(10))
                .max_poll_interval(Duration::from_millis(20)),
        );
    let mut backed_up = Vec::new();
    while let Some(outcome) = poll_fn(|cx| Pin::new(&mut fleet).poll_next(cx)).await {
        assert!(outcome.result.is_ok(), "{:?}", outcome.result);
        backed_up.push(outcome.partition_id);
    }
    assert_eq!(sorted(backed_up), sorted(persisted()));
    let posts: Vec<String> = gateway
        .journal()
        .into_iter()
        .filter(|r| r.operation() == Some(Operation::Backup))
        .map(|r| r.target)
        .collect();
    assert_eq!(posts.len(), 4, "{posts:?}");
}
