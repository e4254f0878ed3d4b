//! What the dependent-style code builds and reads, checked against the wire, so the crate cannot pass by only
//! compiling.

use serde_json::json;
use sf_backup_api::types;
use sf_backup_downstream::*;

#[test]
fn the_request_bodies_are_the_documented_ones() {
    let (policy_storage, to_storage, query, built) = every_request_body();
    assert_eq!(serde_json::to_value(&policy_storage).unwrap(), json!({}));
    assert_eq!(
        serde_json::to_value(&to_storage).unwrap(),
        json!({"BackupStorage": {
            "StorageKind": "AzureBlobStore",
            "ConnectionString": "AccountName=a;AccountKey=k",
            "ContainerName": "backups"
        }})
    );
    let query = serde_json::to_value(&query).unwrap();
    assert_eq!(query["Latest"], true);
    assert_eq!(
        query["BackupEntity"],
        json!({"EntityKind": "Application", "ApplicationName": "fabric:/CalcApp"})
    );
    let built = serde_json::to_value(&built).unwrap();
    assert_eq!(built["StartDateTimeFilter"], "2024-03-01T00:00:00Z");
    assert_eq!(built["BackupEntity"]["EntityKind"], "Partition");
    assert!(built.get("Latest").is_none());
    let kinds: Vec<String> = every_storage()
        .iter()
        .map(|s| {
            serde_json::to_value(s).unwrap()["StorageKind"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "AzureBlobStore",
            "FileShare",
            "DsmsAzureBlobStore",
            "ManagedIdentityAzureBlobStore"
        ]
    );
    assert_eq!(constants(), ["vmss", "6.4", "6.0"]);
}

#[test]
fn the_builder_refuses_a_missing_required_member() {
    let missing = types::GetBackupByStorageQueryDescription::builder().latest(true);
    let error = types::GetBackupByStorageQueryDescription::try_from(missing).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("no value supplied for backup_entity"),
        "{error}"
    );
}

#[test]
fn the_restore_body_has_the_documented_members() {
    let body = serde_json::to_value(restore_body()).unwrap();
    assert_eq!(body["BackupId"], "00000000-0000-0000-0000-000000000000");
    assert_eq!(
        body["BackupLocation"],
        r"CalcApp\CalcService\p\2018-01-01 09.00.55.zip"
    );
    assert_eq!(body["BackupStorage"]["StorageKind"], "AzureBlobStore");
    assert_eq!(body.as_object().unwrap().len(), 3);
}

#[test]
fn the_responses_read_with_catch_all_arms() {
    let error = serde_json::to_value(error_body("busy")).unwrap();
    assert_eq!(error["Error"]["Code"], "FABRIC_E_BACKUP_IN_PROGRESS");
    let decoded: types::FabricError = serde_json::from_value(error).unwrap();
    assert_eq!(error_code(&decoded.error.code), "busy");

    let restore_info: types::RestoreProgressInfo = serde_json::from_value(
        json!({"RestoreState": "SecondariesInProgress", "RestoredLsn": 261, "RestoredEpoch": null}),
    )
    .unwrap();
    assert_eq!(
        restore_progress(&restore_info),
        ("secondaries".to_owned(), Some(261))
    );
    let unknown: types::RestoreProgressInfo =
        serde_json::from_value(json!({"RestoreState": "Paused", "RestoredLsn": "7"})).unwrap();
    assert_eq!(restore_progress(&unknown), ("Paused".to_owned(), Some(7)));

    let progress_info: types::BackupProgressInfo =
        serde_json::from_value(json!({"BackupState": "Success", "LsnOfLastBackupRecord": 36}))
            .unwrap();
    assert_eq!(progress(&progress_info), ("done".to_owned(), Some(36)));

    let page: types::PagedBackupInfoList = serde_json::from_value(json!({"Items": [{
        "BackupType": "Full",
        "PartitionInformation": {"ServicePartitionKind": "Singleton", "Id": "1daae3f5-7fd6-42e9-b1ba-8c05f873994d"},
        "EpochOfLastBackupRecord": {"ConfigurationVersion": "8589934592"},
        "FailureError": {"Code": -2146232800}
    }], "ContinuationToken": null}))
    .unwrap();
    assert_eq!(
        backups(&page),
        [
            "None Some(1daae3f5-7fd6-42e9-b1ba-8c05f873994d) full Some(8589934592) Some(\"-2146232800\") None"
        ]
    );

    let services_page: types::PagedServiceInfoList = serde_json::from_value(json!({"Items": [
        {"ServiceKind": "Stateful", "Name": "fabric:/A/S", "HealthState": "Ok", "ServiceStatus": "Active",
         "HasPersistedState": true, "ServiceMetadata": {}},
        {"ServiceKind": "Stateless", "Name": "fabric:/A/W", "HealthState": "Warning"}
    ]}))
    .unwrap();
    assert_eq!(
        services(&services_page),
        [
            "stateful Some(\"fabric:/A/S\") ok active persisted=Some(true)",
            "stateless Some(\"fabric:/A/W\") Warning"
        ]
    );

    let partitions_page: types::PagedServicePartitionInfoList = serde_json::from_value(json!({"Items": [
        {"ServiceKind": "Stateful", "PartitionStatus": "Ready", "LastQuorumLossDurationInSeconds": "17",
         "CurrentConfigurationEpoch": {"ConfigurationVersion": "21474836480"}},
        {"ServiceKind": "Stateless", "InstanceCount": 3}
    ]}))
    .unwrap();
    assert_eq!(
        partitions(&partitions_page),
        [
            "stateful None Some(21474836480) Some(17) ready",
            "stateless None Some(3)"
        ]
    );
}
