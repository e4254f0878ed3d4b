//! Layer 2: the documented requests on the wire. For every example of the seed page, the facade (as a user would
//! write it) and the generated client send exactly the documented method, target (literal `$`), content type and
//! body to the testkit gateway; the facade's requests are insta snapshots, reviewed and committed. Every test runs
//! against both of the testkit's dialects, and a request must not depend on the dialect: both runs compare with the
//! same snapshot.

use std::future::Future;

use rstest::rstest;
use serde_json::{Value, json};
use sf_backup::{BackupStorage, Client, ManagedIdentityType, PartitionId};
use sf_backup_api::types;
use sf_backup_testkit::{Dialect, Fault, Operation, RecordedRequest};
use sf_backup_workspace_tests::{Example, by_dialect, examples_of, gateway};

/// What a user writes to reproduce each documented request body with the facade.
fn facade_storage(example: &Example) -> Option<BackupStorage> {
    match example.name() {
        "backup-partition" => None,
        "backup-partition-azure-blob-store" => Some(BackupStorage::azure_blob_store(
            "DefaultEndpointsProtocol=https;AccountName=storagesample;AccountKey=<PutYourAccountKeyHere>",
            "BackupContainer",
        )),
        "backup-partition-managed-identity-azure-blob-store" => {
            Some(BackupStorage::managed_identity_azure_blob_store(
                "https://managedidentitytest.blob.core.windows.net/",
                "BackupContainer",
                ManagedIdentityType::Cluster,
            ))
        }
        "backup-partition-file-share" => Some(
            BackupStorage::file_share(r"\\myshare\backupshare")
                .primary_credentials(r"mydomain\backupaccount", "abcd1234"),
        ),
        "backup-partition-dsms-azure-blob-store" => Some(BackupStorage::dsms_azure_blob_store(
            "https://sample-dsms.dsms.core.winows.net/dsms/samplecredentiallocation/storageaccounts/samplestorageac/servicefabricbackup/samplebackup",
            "BackupContainer",
        )),
        other => panic!("no facade call is written for example {other}"),
    }
}

/// Runs `send` against a fresh gateway and returns the one request it made.
async fn one_request<F, Fut>(dialect: Dialect, send: F) -> RecordedRequest
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let gateway = gateway(dialect).await;
    send(gateway.url()).await;
    let mut journal = gateway.journal();
    gateway.shutdown().await;
    assert_eq!(
        journal.len(),
        1,
        "exactly one request reaches the server: {journal:#?}"
    );
    journal.remove(0)
}

/// The parts of a request the contract fixes, as reviewable text. Host, user agent and length vary by run.
fn describe(request: &RecordedRequest) -> String {
    let body = match request.body_json() {
        Some(json) => serde_json::to_string_pretty(&json).unwrap(),
        None => format!("<{} bytes, not JSON>", request.body.len()),
    };
    format!(
        "{} {}\ncontent-type: {}\naccept: {}\napi-version header: {}\n\n{body}\n",
        request.method,
        request.target,
        request.header("content-type").unwrap_or("<none>"),
        request.header("accept").unwrap_or("<none>"),
        request.header("api-version").unwrap_or("<none>"),
    )
}

fn assert_documented(example: &Example, request: &RecordedRequest) {
    assert_eq!(request.method, example.method(), "{}", example.file);
    assert_eq!(request.target, example.target(), "{}", example.file);
    assert_eq!(
        request.header("content-type"),
        Some("application/json"),
        "{}",
        example.file
    );
    assert_eq!(
        request.body_json(),
        Some(example.body()),
        "{}",
        example.file
    );
    assert_eq!(
        request.header("api-version"),
        None,
        "the api-version travels in the query only"
    );
}

#[rstest]
#[tokio::test]
async fn the_facade_sends_every_documented_backup_request(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let requests = examples_of("BackupPartitionDescription");
    assert_eq!(requests.len(), 5);
    for example in &requests {
        let request = one_request(dialect, |url| async move {
            let client = Client::new(url).unwrap();
            let mut call = client.backup_partition(PartitionId::from(example.partition_id()));
            if let Some(storage) = facade_storage(example) {
                call = call.storage(storage);
            }
            call.await.unwrap();
        })
        .await;
        assert_documented(example, &request);
        insta::assert_snapshot!(format!("facade-{}", example.name()), describe(&request));
    }
}

#[rstest]
#[tokio::test]
async fn the_generated_client_sends_every_documented_backup_request(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    for example in &examples_of("BackupPartitionDescription") {
        let body: types::BackupPartitionDescription =
            serde_json::from_value(example.body()).unwrap();
        let body = &body;
        let request = one_request(dialect, |url| async move {
            let client = sf_backup_api::Client::new_with_client(&url, reqwest::Client::new());
            let accepted = client
                .backup_partition(
                    &example.partition_id(),
                    None,
                    types::ApiVersion::default(),
                    None,
                    body,
                )
                .await
                .unwrap();
            assert_eq!(accepted.status(), 202);
        })
        .await;
        assert_documented(example, &request);
    }
}

#[rstest]
#[tokio::test]
async fn the_progress_request_and_its_documented_response(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let example = &examples_of("BackupProgressInfo")[0];
    let gateway = gateway(dialect).await;
    let body = serde_json::to_string(&example.body()).unwrap();
    gateway.push_fault(
        Fault::body(200, Some("application/json"), body).on(Operation::GetBackupProgress),
    );
    let progress = Client::new(gateway.url())
        .unwrap()
        .backup_progress(PartitionId::from(example.partition_id()))
        .await
        .unwrap();
    let journal = gateway.journal();
    gateway.shutdown().await;

    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0].method, example.method());
    assert_eq!(journal[0].target, example.target());
    assert!(journal[0].body.is_empty());
    insta::assert_snapshot!("facade-get-backup-progress", describe(&journal[0]));
    insta::assert_debug_snapshot!("facade-backup-progress-example", progress);
}

#[rstest]
#[tokio::test]
async fn the_documented_fabric_error_becomes_a_typed_service_error(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let example = &examples_of("FabricError")[0];
    let gateway = gateway(dialect).await;
    let body = serde_json::to_string(&example.body()).unwrap();
    gateway.push_fault(
        Fault::body(example.status, Some("application/json"), body).on(Operation::Backup),
    );
    let error = Client::new(gateway.url())
        .unwrap()
        .backup_partition(PartitionId::from(example.partition_id()))
        .await
        .unwrap_err();
    gateway.shutdown().await;

    assert_eq!(error.status().map(|s| s.as_u16()), Some(example.status));
    assert!(error.is_backup_in_progress(), "{error:?}");
    insta::assert_snapshot!(
        "facade-fabric-error-example",
        format!(
            "{error}

{error:#?}"
        )
    );
}

#[rstest]
#[tokio::test]
async fn optional_query_parameters_are_sent_only_when_set(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let id = examples_of("BackupPartitionDescription")[0].partition_id();
    let request = one_request(dialect, |url| async move {
        Client::new(url)
            .unwrap()
            .backup_partition(PartitionId::from(id))
            .backup_timeout(std::time::Duration::from_secs(90))
            .server_timeout(std::time::Duration::from_millis(120_500))
            .await
            .unwrap();
    })
    .await;
    // 90 s rounds up to 2 whole minutes, 120.5 s up to 121 whole seconds.
    assert_eq!(
        request.target,
        format!("/Partitions/{id}/$/Backup?BackupTimeout=2&api-version=6.4&timeout=121")
    );
}

/// The generated client keeps the HTTP status of every error response, whatever its body.
#[rstest]
#[tokio::test]
async fn the_generated_client_keeps_status_and_body_of_every_error(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let cases: Vec<(Fault, u16, Option<Value>)> = vec![
        (
            Fault::fabric_error(500, "FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR"),
            500,
            Some(json!("FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR")),
        ),
        (
            Fault::fabric_error(409, "FABRIC_E_BACKUP_IN_PROGRESS"),
            409,
            Some(json!("FABRIC_E_BACKUP_IN_PROGRESS")),
        ),
        // An HRESULT that is no defined code: the service writes it as a number, and it is kept as one.
        (
            Fault::fabric_error(500, "-2147017731"),
            500,
            Some(by_dialect(
                dialect,
                json!(-2_147_017_731_i64),
                json!("-2147017731"),
            )),
        ),
        (Fault::html(503), 503, None),
        (Fault::empty(500), 500, None),
    ];
    let gateway = gateway(dialect).await;
    let client = sf_backup_api::Client::new_with_client(&gateway.url(), reqwest::Client::new());
    let id = uuid::Uuid::new_v4();
    let body = types::BackupPartitionDescription::default();
    let backup = || client.backup_partition(&id, None, types::ApiVersion::default(), None, &body);
    for (fault, status, code) in cases {
        gateway.push_fault(fault.on(Operation::Backup));
        let error = backup().await.unwrap_err();
        let sf_backup_api::Error::ErrorResponse(response) = error else {
            panic!("expected an error response, got {error:?}");
        };
        let response = sf_backup_api::ErrorResponse::read(response).await;
        assert_eq!(response.status.as_u16(), status);
        let decoded = response
            .fabric_error
            .as_ref()
            .map(|e| serde_json::to_value(&e.error.code).unwrap());
        assert_eq!(decoded, code, "{response:?}");
    }
    // A 200 to the POST is not in the spec: the whole response is kept.
    gateway.push_fault(Fault::body(200, Some("application/json"), "{}").on(Operation::Backup));
    let error = backup().await.unwrap_err();
    assert!(
        matches!(&error, sf_backup_api::Error::UnexpectedResponse(r) if r.status() == 200),
        "{error:?}"
    );
    gateway.shutdown().await;
}
