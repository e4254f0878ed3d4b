//! Secrets never show in `Debug`, `Display` or error text.

use sf_backup::{BackupStorage, Client, PartitionId, Secret};

const PARTITION: &str = "1daae3f5-7fd6-42e9-b1ba-8c05f873994d";

fn partition() -> PartitionId {
    PARTITION.parse().unwrap()
}

const CONNECTION_STRING: &str =
    "DefaultEndpointsProtocol=https;AccountName=storagesample;AccountKey=S3CRET-KEY==";
const PRIMARY: &str = "primary-P@ssw0rd";
const SECONDARY: &str = "secondary-P@ssw0rd";

fn assert_hidden(text: &str) {
    for secret in [CONNECTION_STRING, "S3CRET-KEY", PRIMARY, SECONDARY] {
        assert!(!text.contains(secret), "secret {secret:?} leaked in {text}");
    }
}

fn storages() -> Vec<BackupStorage> {
    vec![
        BackupStorage::azure_blob_store(CONNECTION_STRING, "BackupContainer")
            .friendly_name("azure"),
        BackupStorage::file_share(r"\\myshare\backupshare")
            .primary_credentials(r"mydomain\backupaccount", PRIMARY)
            .secondary_credentials(r"mydomain\other", SECONDARY),
        // Invalid on purpose: the errors they produce must not reveal the secrets either.
        BackupStorage::azure_blob_store(CONNECTION_STRING, ""),
        BackupStorage::file_share("")
            .primary_credentials("u", PRIMARY)
            .secondary_credentials("", SECONDARY),
        BackupStorage::azure_blob_store(CONNECTION_STRING, "c").primary_credentials("u", PRIMARY),
    ]
}

#[test]
fn debug_shows_the_shape_but_not_the_secrets() {
    let azure = format!("{:?}", storages()[0]);
    assert_hidden(&azure);
    assert!(azure.contains("AzureBlobStore"), "{azure}");
    assert!(azure.contains("ConnectionString: <redacted>"), "{azure}");
    assert!(azure.contains("BackupContainer"), "{azure}");
    let share = format!("{:#?}", storages()[1]);
    assert_hidden(&share);
    assert!(
        share.contains(r"myshare") && share.contains("backupaccount"),
        "{share}"
    );
}

#[test]
fn secrets_redact_themselves() {
    let secret = Secret::new(PRIMARY);
    assert_hidden(&format!("{secret:?} {secret} {secret:#?}"));
    assert_eq!(secret.expose_secret(), PRIMARY);
}

#[tokio::test]
async fn requests_and_errors_do_not_reveal_secrets() {
    let client = Client::new("http://127.0.0.1:9").unwrap();
    for storage in storages() {
        if let Err(error) = storage.validate() {
            assert_hidden(&format!("{error} {error:?}"));
        }
        let request = client
            .backup_partition(partition())
            .storage(storage.clone());
        assert_hidden(&format!("{request:?}"));
        let error = client
            .backup_partition(partition())
            .storage(storage)
            .timeout(std::time::Duration::ZERO)
            .await
            .unwrap_err();
        assert_hidden(&format!("{error} {error:?}"));
    }
}
