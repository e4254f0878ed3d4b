//! Layer 1: every example, documented or the service's own shape, deserializes into the generated types and
//! serializes back to an equal value.
//!
//! "Equal" means equal once members whose value is `null` are dropped from both sides, and nothing more. The
//! service's code writes absent values as explicit nulls (`"BackupLocation": null`, `"FailureError": null`:
//! docs/service-behaviour.md#placeholders); the generated types read a null member and a missing one
//! as the same `None` and write neither (`skip_serializing_if`), so those shapes cannot come back byte for byte.
//! A whole `null` body (progress before any backup) is not a member and must come back as `null`; every other
//! value, including the JSON type of the LSN (number or string), must survive unchanged. Members upstream's
//! examples carry without the spec declaring them (`spec_support::UNDECLARED_MEMBERS`: the 9.1 example's
//! `ServiceMetadata`) are ignored by the types and dropped from the original before comparing
//! (`spec_support::round_trips`). A file `index.json` does not list fails the loader.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sf_backup_api::types;
use sf_backup_workspace_tests::{Example, examples, examples_of, workspace_root};

fn round_trip<T: DeserializeOwned + Serialize>(example: &Example) -> T {
    let original = example.body.clone();
    let typed: T = serde_json::from_value(original.clone()).unwrap_or_else(|e| {
        panic!(
            "{} does not decode as {}: {e}",
            example.file, example.schema
        )
    });
    let back = serde_json::to_value(&typed).unwrap();
    assert!(
        spec_support::round_trips(&original, &back),
        "{} changed in a round trip: {original} became {back}",
        example.file
    );
    typed
}

#[test]
fn every_example_round_trips_through_its_generated_type() {
    let all = examples();
    assert_eq!(
        all.len(),
        37,
        "five documented backup requests, a progress and an error example, six documented backup lists and a \
         list request, the two 9.1 service and partition lists and one in the spec's shapes, the two documented \
         restore examples; eighteen service shapes"
    );
    // The round trip itself runs in one place, the dump `cargo xtask conformance` reads too.
    let dump = sf_backup_workspace_tests::generated_types_dump();
    for example in &all {
        let result = &dump["examples"][&example.file];
        let back = result.get("value").unwrap_or_else(|| {
            panic!(
                "{} does not decode as {}: {}",
                example.file, example.schema, result["error"]
            )
        });
        assert!(
            spec_support::round_trips(&example.body, back),
            "{} changed in a round trip through {}: {} became {back}",
            example.file,
            example.schema,
            example.body
        );
    }
}

#[test]
fn the_service_shapes_decode_into_what_they_say() {
    let by_file = |file: &str| {
        examples()
            .into_iter()
            .find(|e| e.file == file)
            .unwrap_or_else(|| panic!("{file} is not in the index"))
    };
    let not_requested = round_trip::<Option<types::BackupProgressInfo>>(&by_file(
        "backup-progress-not-requested.json",
    ));
    assert_eq!(not_requested, None);

    let success =
        round_trip::<types::BackupProgressInfo>(&by_file("backup-progress-success-service.json"));
    assert_eq!(
        success.lsn_of_last_backup_record,
        Some(types::Int64Text::Int64(36))
    );
    assert_eq!(success.failure_error, None);

    let failure =
        round_trip::<types::BackupProgressInfo>(&by_file("backup-progress-failure-service.json"));
    assert_eq!(
        failure.failure_error.map(|e| e.code),
        Some(types::FabricErrorCodes::String(
            "FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR".into()
        ))
    );
    assert_eq!(failure.backup_location, None);
    assert_eq!(failure.epoch_of_last_backup_record, None);

    let integer =
        round_trip::<types::FabricError>(&by_file("fabric-error-integer-code-service.json"));
    assert_eq!(
        integer.error.code,
        types::FabricErrorCodes::Int64(-2_147_017_731)
    );

    // `source` is one of spec_support::SOURCES (the loader refuses any other).
    for example in examples() {
        // A service shape names the note and code behind it; a documented one may name its upstream example file.
        match (example.source.as_str(), example.reference.as_deref()) {
            ("service code", reference) => assert!(
                reference.is_some(),
                "{}: a service shape names its reference",
                example.file
            ),
            (_, Some(reference)) => assert!(
                reference.contains("/examples @"),
                "{}: a documented example's reference names its upstream file: {reference}",
                example.file
            ),
            _ => {}
        }
    }
}

#[test]
fn the_restore_shapes_decode_into_what_they_say() {
    let by_file = |file: &str| {
        examples()
            .into_iter()
            .find(|e| e.file == file)
            .unwrap_or_else(|| panic!("{file} is not in the index"))
    };
    let request =
        round_trip::<types::RestorePartitionDescription>(&by_file("restore-partition.json"));
    assert_eq!(
        request.backup_id.to_string(),
        "3a056ac9-7206-43c3-8424-6f6103003eba"
    );
    assert!(matches!(
        request.backup_storage,
        Some(types::BackupStorageDescription::AzureBlobStore { .. })
    ));

    let not_requested = round_trip::<Option<types::RestoreProgressInfo>>(&by_file(
        "restore-progress-not-requested.json",
    ));
    assert_eq!(not_requested, None);

    // The chosen backup's epoch (GetPartitionBackupList-1's first item), as (ConfigurationVersion, DataLossVersion).
    let epoch = |progress: &types::RestoreProgressInfo| {
        progress
            .restored_epoch
            .as_ref()
            .map(|e| (e.configuration_version.clone(), e.data_loss_version.clone()))
    };
    let backup_epoch = Some((
        Some(types::Int64Text::String("8589934592".into())),
        Some(types::Int64Text::String("131462452931584510".into())),
    ));
    let success =
        round_trip::<types::RestoreProgressInfo>(&by_file("restore-progress-success.json"));
    assert_eq!(
        success.restore_state,
        Some(types::KnownRestoreState::Success.into())
    );
    assert_eq!(
        success.restored_lsn,
        Some(types::Int64Text::String("261".into()))
    );
    assert_eq!(epoch(&success), backup_epoch);
    assert_eq!(success.failure_error, None);

    // From `Accepted` on the service writes the chosen backup's epoch and LSN, the LSN as a JSON number.
    let accepted = round_trip::<types::RestoreProgressInfo>(&by_file(
        "restore-progress-accepted-service.json",
    ));
    assert_eq!(
        accepted.restore_state,
        Some(types::KnownRestoreState::Accepted.into())
    );
    assert_eq!(accepted.restored_lsn, Some(types::Int64Text::Int64(261)));
    assert_eq!(epoch(&accepted), backup_epoch);

    // A failure carries no reason: a null epoch, LSN 0, no FailureError.
    let failure =
        round_trip::<types::RestoreProgressInfo>(&by_file("restore-progress-failure-service.json"));
    assert_eq!(
        failure.restore_state,
        Some(types::KnownRestoreState::Failure.into())
    );
    assert_eq!(failure.restored_epoch, None);
    assert_eq!(failure.restored_lsn, Some(types::Int64Text::Int64(0)));
    assert_eq!(failure.failure_error, None);

    // The wire's name for a missing Fault Analysis Service is no known code: it is kept as text.
    let no_fas = round_trip::<types::FabricError>(&by_file(
        "fabric-error-fault-analysis-service-not-enabled-service.json",
    ));
    assert_eq!(
        no_fas.error.code,
        types::FabricErrorCodes::String("FABRIC_E_FAULT_ANALYSIS_SERVICE_NOT_ENABLED".into())
    );
}

#[test]
fn restore_states_are_open_and_know_the_newer_runtimes_state() {
    let state = |value: &str| {
        serde_json::from_value::<types::RestoreProgressInfo>(
            serde_json::json!({"RestoreState": value}),
        )
        .unwrap()
        .restore_state
    };
    assert_eq!(
        state("SecondariesInProgress"),
        Some(types::KnownRestoreState::SecondariesInProgress.into())
    );
    assert_eq!(
        state("Paused"),
        Some(types::RestoreState::String("Paused".into()))
    );
}

#[test]
fn the_request_examples_cover_every_storage_kind_and_the_empty_body() {
    let kinds: Vec<String> = examples_of("BackupPartitionDescription")
        .iter()
        .map(|example| {
            let typed = round_trip::<types::BackupPartitionDescription>(example);
            match typed.backup_storage {
                None => "policy storage".into(),
                Some(storage) => serde_json::to_value(storage).unwrap()["StorageKind"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            }
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "policy storage",
            "AzureBlobStore",
            "ManagedIdentityAzureBlobStore",
            "FileShare",
            "DsmsAzureBlobStore"
        ]
    );
}

#[test]
fn the_storage_kind_is_a_tag_and_required_fields_are_enforced() {
    let missing_container =
        serde_json::json!({"StorageKind": "AzureBlobStore", "ConnectionString": "x"});
    let err =
        serde_json::from_value::<types::BackupStorageDescription>(missing_container).unwrap_err();
    assert!(err.to_string().contains("ContainerName"), "{err}");

    let unknown_kind = serde_json::json!({"StorageKind": "Tape", "ContainerName": "x"});
    let err = serde_json::from_value::<types::BackupStorageDescription>(unknown_kind).unwrap_err();
    assert!(err.to_string().contains("Tape"), "{err}");
}

#[test]
fn unknown_error_codes_and_backup_states_are_kept_as_text() {
    let error: types::FabricError = serde_json::from_value(serde_json::json!({
        "Error": {"Code": "FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR", "Message": "copier failed"}
    }))
    .unwrap();
    assert_eq!(
        error.error.code,
        types::FabricErrorCodes::String("FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR".into())
    );

    let known: types::FabricError = serde_json::from_value(
        serde_json::json!({"Error": {"Code": "FABRIC_E_BACKUP_IN_PROGRESS"}}),
    )
    .unwrap();
    assert_eq!(
        known.error.code,
        types::KnownFabricErrorCodes::FabricEBackupInProgress.into()
    );

    let progress: types::BackupProgressInfo =
        serde_json::from_value(serde_json::json!({"BackupState": "Paused", "FailureError": null}))
            .unwrap();
    assert_eq!(
        progress.backup_state,
        Some(types::BackupState::String("Paused".into()))
    );
    assert_eq!(progress.failure_error, None);
}

#[test]
fn the_known_error_codes_are_the_84_upstream_codes_in_order() {
    let spec: Value = serde_json::to_value(
        serde_yaml_ng::from_str::<Value>(
            &std::fs::read_to_string(
                workspace_root().join("spec/servicefabric-backup.openapi.yaml"),
            )
            .unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let codes = spec["components"]["schemas"]["KnownFabricErrorCodes"]["enum"]
        .as_array()
        .unwrap();
    assert_eq!(codes.len(), 84);
    for code in codes {
        let parsed: types::FabricErrorCodes = serde_json::from_value(code.clone()).unwrap();
        assert!(
            matches!(parsed, types::FabricErrorCodes::KnownFabricErrorCodes(_)),
            "{code} is not a known code"
        );
    }
}

#[test]
fn the_backup_list_shapes_decode_into_what_they_say() {
    let by_file = |file: &str| {
        examples()
            .into_iter()
            .find(|e| e.file == file)
            .unwrap_or_else(|| panic!("{file} is not in the index"))
    };
    // The documented last page says `""`, the service's `null`: both decode, neither is a next page.
    let documented =
        round_trip::<types::PagedBackupInfoList>(&by_file("get-partition-backup-list-4.json"));
    assert_eq!(documented.continuation_token.as_deref(), Some(""));
    let service = round_trip::<types::PagedBackupInfoList>(&by_file(
        "get-partition-backup-list-service.json",
    ));
    assert_eq!(service.continuation_token, None);
    let backup = &service.items[0];
    assert_eq!(backup.backup_id, backup.backup_chain_id);
    assert_eq!(backup.lsn_of_last_backup_record.as_deref(), Some("1024"));
    assert!(matches!(
        backup.partition_information,
        Some(types::PartitionInformation::Int64Range { .. })
    ));

    let empty = round_trip::<types::PagedBackupInfoList>(&by_file(
        "get-partition-backup-list-empty-service.json",
    ));
    assert!(empty.items.is_empty() && empty.continuation_token.is_none());

    let failure = round_trip::<types::PagedBackupInfoList>(&by_file(
        "get-backups-from-backup-location-failure-service.json",
    ));
    let item = &failure.items[0];
    assert_eq!(
        item.failure_error.as_ref().map(|e| &e.code),
        Some(&types::FabricErrorCodes::Int64(-2_146_232_800))
    );
    assert_eq!(item.application_name, None);
    assert_eq!(item.partition_information, None);

    let request = round_trip::<types::GetBackupByStorageQueryDescription>(&by_file(
        "get-backups-from-backup-location-request.json",
    ));
    assert!(matches!(
        request.backup_entity,
        types::BackupEntity::Application { .. }
    ));
}

/// The stateful members of a partition list item, or a panic naming the file.
struct Stateful {
    primary_epoch: Option<types::Epoch>,
    current_configuration_epoch: Option<types::Epoch>,
    seconds: Option<types::Int64Text>,
    duration: Option<String>,
    partition: Option<types::PartitionInformation>,
}

fn stateful(item: &types::ServicePartitionInfo) -> Stateful {
    match item {
        types::ServicePartitionInfo::Stateful {
            primary_epoch,
            current_configuration_epoch,
            last_quorum_loss_duration_in_seconds,
            last_quorum_loss_duration,
            partition_information,
            ..
        } => Stateful {
            primary_epoch: primary_epoch.clone(),
            current_configuration_epoch: current_configuration_epoch.clone(),
            seconds: last_quorum_loss_duration_in_seconds.clone(),
            duration: last_quorum_loss_duration.clone(),
            partition: partition_information.clone(),
        },
        other => panic!("not a stateful partition: {other:?}"),
    }
}

#[test]
fn the_service_and_partition_list_shapes_decode_into_what_they_say() {
    let by_file = |file: &str| {
        examples()
            .into_iter()
            .find(|e| e.file == file)
            .unwrap_or_else(|| panic!("{file} is not in the index"))
    };
    let text = |s: &str| Some(types::Int64Text::String(s.into()));

    // The 9.1 example: CurrentConfigurationEpoch although it says api-version 6.4, the seconds as strings.
    let upstream = round_trip::<types::PagedServicePartitionInfoList>(&by_file(
        "get-partition-info-list.json",
    ));
    assert_eq!(upstream.items.len(), 5);
    let first = stateful(&upstream.items[0]);
    assert_eq!(first.primary_epoch, None);
    assert_eq!(
        first
            .current_configuration_epoch
            .and_then(|e| e.configuration_version),
        text("21474836480")
    );
    assert_eq!(first.seconds, text("17"));
    assert!(matches!(
        first.partition,
        Some(types::PartitionInformation::Int64Range { low_key: Some(ref low), .. }) if low == "1844674407370955162"
    ));

    // The gateway at 6.4 names the epoch PrimaryEpoch, below 6.4 CurrentConfigurationEpoch.
    let at_6_4 = round_trip::<types::PagedServicePartitionInfoList>(&by_file(
        "get-partition-info-list-service.json",
    ));
    let partition = stateful(&at_6_4.items[1]);
    assert_eq!(partition.current_configuration_epoch, None);
    assert_eq!(
        partition.primary_epoch.and_then(|e| e.data_loss_version),
        text("131462452931584510")
    );
    assert_eq!(partition.seconds, text("17"));
    let at_6_0 = round_trip::<types::PagedServicePartitionInfoList>(&by_file(
        "get-partition-info-list-service-6-0.json",
    ));
    let named = stateful(&at_6_0.items[0]);
    assert_eq!(named.primary_epoch, None);
    assert!(named.current_configuration_epoch.is_some());
    assert!(matches!(
        named.partition,
        Some(types::PartitionInformation::Named { name: Some(ref name), .. }) if name == "east"
    ));

    // The spec's own shape: an ISO 8601 duration, and no seconds member.
    let documented = round_trip::<types::PagedServicePartitionInfoList>(&by_file(
        "get-partition-info-list-documented.json",
    ));
    let spec_shape = stateful(&documented.items[0]);
    assert_eq!(spec_shape.duration.as_deref(), Some("PT17S"));
    assert_eq!(spec_shape.seconds, None);
    assert!(matches!(
        &documented.items[1],
        types::ServicePartitionInfo::Stateless {
            instance_count: Some(1),
            min_instance_count: Some(1),
            ..
        }
    ));

    let stateless = round_trip::<types::PagedServicePartitionInfoList>(&by_file(
        "get-partition-info-list-stateless-service.json",
    ));
    assert!(matches!(
        &stateless.items[0],
        types::ServicePartitionInfo::Stateless {
            instance_count: Some(1),
            partition_information: Some(types::PartitionInformation::Singleton { .. }),
            ..
        }
    ));

    // The seconds as a JSON number decode too (Int64Text), and an unknown status is kept as text.
    let number: types::ServicePartitionInfo = serde_json::from_value(serde_json::json!({
        "ServiceKind": "Stateful",
        "LastQuorumLossDurationInSeconds": 17,
        "PartitionStatus": "Frozen",
        "HealthState": "Ok",
    }))
    .unwrap();
    assert!(matches!(
        number,
        types::ServicePartitionInfo::Stateful {
            last_quorum_loss_duration_in_seconds: Some(types::Int64Text::Int64(17)),
            partition_status: Some(types::ServicePartitionStatus::String(ref status)),
            health_state: Some(types::HealthState::KnownHealthState(types::KnownHealthState::Ok)),
            ..
        } if status == "Frozen"
    ));

    // Services: the 9.1 example's unlisted ServiceMetadata is ignored, its Id has `/`; the gateway's has `~`.
    let services =
        round_trip::<types::PagedServiceInfoList>(&by_file("get-service-info-list.json"));
    assert!(matches!(
        &services.items[0],
        types::ServiceInfo::Stateful { has_persisted_state: Some(true), id: Some(id), .. }
            if id == "VisualObjects/VisualObjects.ActorService"
    ));
    assert!(matches!(
        &services.items[1],
        types::ServiceInfo::Stateless { .. }
    ));
    let gateway =
        round_trip::<types::PagedServiceInfoList>(&by_file("get-service-info-list-service.json"));
    assert_eq!(
        gateway.continuation_token.as_deref(),
        Some("fabric:/CalcApp/CalcWeb")
    );
    assert!(matches!(
        &gateway.items[0],
        types::ServiceInfo::Stateful {
            id: Some(id),
            service_status: Some(types::ServiceStatus::KnownServiceStatus(types::KnownServiceStatus::Active)),
            ..
        } if id == "CalcApp~CalcService"
    ));
    assert!(matches!(
        &gateway.items[1],
        types::ServiceInfo::Stateless {
            health_state: Some(types::HealthState::KnownHealthState(
                types::KnownHealthState::Warning
            )),
            ..
        }
    ));
}
