//! Every invalid input fails before a request is made: the testkit gateway's journal stays empty, in both of its
//! dialects.

mod support;

use std::time::Duration;

use rstest::rstest;
use sf_backup::{BackupStorage, Client, Error, ManagedIdentityType, PartitionId};
use sf_backup_testkit::Dialect;
use support::{PARTITION, gateway, partition};

fn assert_invalid(error: &Error, what: &str) {
    match error {
        Error::InvalidInput { what: actual, .. } => assert_eq!(*actual, what, "{error}"),
        other => panic!("expected invalid {what}, got {other:?}"),
    }
    assert!(error.to_string().contains("nothing was sent"), "{error}");
}

#[test]
fn bad_partition_ids_name_the_value_and_the_expected_form() {
    for bad in [
        "",
        "partition-1",
        "1daae3f5-7fd6-42e9-b1ba",
        "1daae3f5-7fd6-42e9-b1ba-8c05f873994dxx",
    ] {
        let error = bad.parse::<PartitionId>().unwrap_err();
        let text = error.to_string();
        assert!(text.contains(&format!("{bad:?}")), "{text}");
        assert!(text.contains("UUID"), "{text}");
        assert_invalid(&Error::from(error), "partition id");
    }
    let id: PartitionId = "1DAAE3F5-7FD6-42E9-B1BA-8C05F873994D".parse().unwrap();
    assert_eq!(id.to_string(), PARTITION);
    assert_eq!(PartitionId::from(*id.as_uuid()), id);
}

#[test]
fn bad_endpoints_fail_when_the_client_is_built() {
    for bad in [
        "ftp://x",
        "not a url",
        "",
        "localhost:19080",
        "http://",
        "http://host/?q=1",
        "file:///tmp",
        "https://user:pw@host:19080",
    ] {
        let error = Client::new(bad).unwrap_err();
        assert_invalid(&error, "endpoint");
    }
}

#[rstest]
#[tokio::test]
async fn out_of_range_server_timeouts_send_nothing(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    let client = Client::new(gateway.url()).unwrap();
    for bad in [Duration::ZERO, Duration::from_secs(4_294_967_296)] {
        let error = client
            .backup_partition(partition())
            .server_timeout(bad)
            .await
            .unwrap_err();
        assert_invalid(&error, "server timeout");
        let error = client
            .backup_progress(partition())
            .server_timeout(bad)
            .await
            .unwrap_err();
        assert_invalid(&error, "server timeout");
    }
    assert!(gateway.journal().is_empty());
}

#[rstest]
#[tokio::test]
async fn invalid_storage_sends_nothing(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    let client = Client::new(gateway.url()).unwrap();
    let cases = [
        (
            BackupStorage::azure_blob_store("", "BackupContainer"),
            "connection string",
        ),
        (
            BackupStorage::azure_blob_store("AccountKey=k", " "),
            "container name",
        ),
        (BackupStorage::file_share(""), "file share path"),
        (
            BackupStorage::file_share(r"\\share\b").primary_credentials("", "pw"),
            "file share credentials",
        ),
        (
            BackupStorage::file_share(r"\\share\b").secondary_credentials(" ", "pw"),
            "file share credentials",
        ),
        (
            BackupStorage::dsms_azure_blob_store("", "c"),
            "storage credentials source location",
        ),
        (
            BackupStorage::dsms_azure_blob_store("https://dsms/x", ""),
            "container name",
        ),
        (
            BackupStorage::managed_identity_azure_blob_store(
                "blob.core.windows.net",
                "c",
                ManagedIdentityType::Cluster,
            ),
            "blob service URI",
        ),
        (
            BackupStorage::managed_identity_azure_blob_store(
                "ftp://a.blob.core.windows.net/",
                "c",
                ManagedIdentityType::Vmss,
            ),
            "blob service URI",
        ),
        (
            BackupStorage::managed_identity_azure_blob_store(
                "https://a.blob.core.windows.net/?sv=sig",
                "c",
                ManagedIdentityType::Vmss,
            ),
            "blob service URI",
        ),
        (
            BackupStorage::managed_identity_azure_blob_store(
                "https://a.blob.core.windows.net/",
                "",
                ManagedIdentityType::Vmss,
            ),
            "container name",
        ),
        (
            BackupStorage::azure_blob_store("AccountKey=k", "c").primary_credentials("u", "p"),
            "backup storage",
        ),
        (
            BackupStorage::azure_blob_store("AccountKey=k", "c").friendly_name(""),
            "friendly name",
        ),
    ];
    for (storage, what) in cases {
        assert_invalid(&storage.validate().unwrap_err(), what);
        let error = client
            .backup_partition(partition())
            .storage(storage)
            .await
            .unwrap_err();
        assert_invalid(&error, what);
    }
    assert!(gateway.journal().is_empty());
}

#[rstest]
#[tokio::test]
async fn valid_storage_is_sent(#[values(Dialect::Service, Dialect::Documented)] dialect: Dialect) {
    let gateway = gateway(dialect).await;
    let storage = BackupStorage::managed_identity_azure_blob_store(
        "https://managedidentitytest.blob.core.windows.net/",
        "BackupContainer",
        ManagedIdentityType::Cluster,
    );
    storage.validate().unwrap();
    Client::new(gateway.url())
        .unwrap()
        .backup_partition(partition())
        .storage(storage)
        .await
        .unwrap();
    let journal = gateway.journal();
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0].method, "POST");
    let body = journal[0].body_json().expect("a JSON body");
    assert_eq!(
        body,
        serde_json::json!({"BackupStorage": {
            "StorageKind": "ManagedIdentityAzureBlobStore",
            "BlobServiceUri": "https://managedidentitytest.blob.core.windows.net/",
            "ContainerName": "BackupContainer",
            "ManagedIdentityType": "Cluster"
        }})
    );
}
