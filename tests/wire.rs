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
use sf_backup_workspace_tests::{Example, ExampleExt, examples_of, gateway};

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
        Some(example.body.clone()),
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
            serde_json::from_value(example.body.clone()).unwrap();
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
    let body = serde_json::to_string(&example.body.clone()).unwrap();
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
    let body = serde_json::to_string(&example.body.clone()).unwrap();
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
            Some(dialect.pick(json!(-2_147_017_731_i64), json!("-2147017731"))),
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

/// The query of a target as decoded pairs, sorted: the documented request lines and the generated client order
/// parameters differently, and the REST examples show the continuation token unencoded.
fn query_pairs(target: &str) -> Vec<(String, String)> {
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    pairs.sort();
    pairs
}

fn documented_query(example: &Example) -> Vec<(String, String)> {
    // The index writes the token's `#` as `%23`, which is all a URL needs; decoding gives the example's value.
    query_pairs(example.target())
}

fn assert_documented_list(example: &Example, request: &RecordedRequest, body: Option<Value>) {
    assert_eq!(request.method, example.method(), "{}", example.file);
    let path = |target: &str| target.split('?').next().unwrap_or_default().to_owned();
    assert_eq!(
        path(&request.target),
        path(example.target()),
        "{}",
        example.file
    );
    assert_eq!(
        query_pairs(&request.target),
        documented_query(example),
        "{}",
        example.file
    );
    assert_eq!(request.body_json(), body, "{}", example.file);
}

#[rstest]
#[tokio::test]
async fn the_facade_sends_the_documented_first_page_of_each_backup_list(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    use std::num::NonZeroU32;
    let by_name = |name: &str| {
        examples_of("PagedBackupInfoList")
            .into_iter()
            .find(|e| e.name() == name)
            .unwrap()
    };
    let partition = |e: &Example| PartitionId::from(e.partition_id());
    let time = |t: &str| t.parse::<chrono::DateTime<chrono::Utc>>().unwrap();

    let one = by_name("get-partition-backup-list-1");
    let request = one_request(dialect, |url: String| async move {
        let client = Client::new(url).unwrap();
        client
            .list_backups(partition(&one))
            .since(time("2018-01-01T00:00:00Z"))
            .until(time("2018-01-01T23:59:59Z"))
            .await
            .unwrap();
    })
    .await;
    assert_documented_list(&by_name("get-partition-backup-list-1"), &request, None);

    let two = by_name("get-partition-backup-list-2");
    let request = one_request(dialect, |url: String| async move {
        let client = Client::new(url).unwrap();
        client.list_backups(partition(&two)).latest().await.unwrap();
    })
    .await;
    assert_documented_list(&by_name("get-partition-backup-list-2"), &request, None);

    let three = by_name("get-partition-backup-list-3");
    let request = one_request(dialect, |url: String| async move {
        let client = Client::new(url).unwrap();
        client
            .list_backups(partition(&three))
            .page_size(NonZeroU32::new(2).unwrap())
            .await
            .unwrap();
    })
    .await;
    assert_documented_list(&by_name("get-partition-backup-list-3"), &request, None);

    let body = examples_of("GetBackupByStorageQueryDescription")[0]
        .body
        .clone();
    let request = one_request(dialect, |url: String| async move {
        let client = Client::new(url).unwrap();
        client
            .list_backups_in(
                BackupStorage::azure_blob_store(
                    "DefaultEndpointsProtocol=https;AccountName=storagesample;AccountKey=<PutYourAccountKeyHere>",
                    "BackupContainer",
                ),
                sf_backup::list::BackupEntity::application("fabric:/CalcApp"),
            )
            .page_size(NonZeroU32::new(2).unwrap())
            .await
            .unwrap();
    })
    .await;
    assert_documented_list(
        &by_name("get-backups-from-backup-location-1"),
        &request,
        Some(body),
    );
}

#[rstest]
#[tokio::test]
async fn the_generated_client_sends_the_documented_continuation_requests(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let by_name = |name: &str| {
        examples_of("PagedBackupInfoList")
            .into_iter()
            .find(|e| e.name() == name)
            .unwrap()
    };
    let token = "fabric:/CalcApp/CalcService#1daae3f5-7fd6-42e9-b1ba-8c05f873994d#7903dc2a-228d-44b0-b7c8-a13a6c9b46bd";
    let four = by_name("get-partition-backup-list-4");
    let partition = four.partition_id();
    let request = one_request(dialect, |url: String| async move {
        let client = sf_backup_api::Client::new_with_client(&url, reqwest::Client::new());
        // The testkit refuses a token it did not issue; only the request matters here.
        let _ = client
            .get_partition_backup_list(
                &partition,
                Some(token),
                None,
                None,
                Some(2),
                None,
                types::ApiVersion::default(),
                None,
            )
            .await;
    })
    .await;
    assert_documented_list(&four, &request, None);

    let body: types::GetBackupByStorageQueryDescription = serde_json::from_value(
        examples_of("GetBackupByStorageQueryDescription")[0]
            .body
            .clone(),
    )
    .unwrap();
    let body = &body;
    let request = one_request(dialect, |url: String| async move {
        let client = sf_backup_api::Client::new_with_client(&url, reqwest::Client::new());
        let _ = client
            .get_backups_from_backup_location(
                Some(token),
                Some(2),
                types::ApiVersion::default(),
                None,
                body,
            )
            .await;
    })
    .await;
    assert_documented_list(
        &by_name("get-backups-from-backup-location-2"),
        &request,
        Some(
            examples_of("GetBackupByStorageQueryDescription")[0]
                .body
                .clone(),
        ),
    );
}
