//! Serialisation and deserialisation of every documented body (spec/examples) and of progress and error answers:
//! the generated types (`sf_backup_api::types`) against hand-written serde structs of the same JSON shape.
//!
//! The hand-written structs are what one would write without a generator. They differ from the generated types
//! only where the generator encodes the spec's extensibility: `BackupState` and the error `Code` are untagged
//! enums (a known variant, else the text) in the generated code, and plain strings here. That difference is the
//! main one these figures show, so it is kept rather than hidden.
//!
//! Run: `cargo bench -p sf-backup --bench serde_bodies`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sf_backup_api::types;
use std::hint::black_box;

mod hand_written {
    //! Field order follows the generated types, so both sides write the same bytes.
    use super::*;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    pub struct BackupPartitionDescription {
        #[serde(rename = "BackupStorage", skip_serializing_if = "Option::is_none")]
        pub backup_storage: Option<BackupStorage>,
    }

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    #[serde(tag = "StorageKind")]
    pub enum BackupStorage {
        AzureBlobStore {
            #[serde(rename = "ConnectionString")]
            connection_string: String,
            #[serde(rename = "ContainerName")]
            container_name: String,
            #[serde(rename = "FriendlyName", skip_serializing_if = "Option::is_none")]
            friendly_name: Option<String>,
        },
        FileShare {
            #[serde(rename = "FriendlyName", skip_serializing_if = "Option::is_none")]
            friendly_name: Option<String>,
            #[serde(rename = "Path")]
            path: String,
            #[serde(rename = "PrimaryPassword", skip_serializing_if = "Option::is_none")]
            primary_password: Option<String>,
            #[serde(rename = "PrimaryUserName", skip_serializing_if = "Option::is_none")]
            primary_user_name: Option<String>,
            #[serde(rename = "SecondaryPassword", skip_serializing_if = "Option::is_none")]
            secondary_password: Option<String>,
            #[serde(rename = "SecondaryUserName", skip_serializing_if = "Option::is_none")]
            secondary_user_name: Option<String>,
        },
        DsmsAzureBlobStore {
            #[serde(rename = "ContainerName")]
            container_name: String,
            #[serde(rename = "FriendlyName", skip_serializing_if = "Option::is_none")]
            friendly_name: Option<String>,
            #[serde(rename = "StorageCredentialsSourceLocation")]
            storage_credentials_source_location: String,
        },
        ManagedIdentityAzureBlobStore {
            #[serde(rename = "BlobServiceUri")]
            blob_service_uri: String,
            #[serde(rename = "ContainerName")]
            container_name: String,
            #[serde(rename = "FriendlyName", skip_serializing_if = "Option::is_none")]
            friendly_name: Option<String>,
            #[serde(rename = "ManagedIdentityType")]
            managed_identity_type: ManagedIdentityType,
        },
    }

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    pub enum ManagedIdentityType {
        Invalid,
        #[serde(rename = "VMSS")]
        Vmss,
        Cluster,
    }

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    pub struct BackupProgressInfo {
        #[serde(rename = "BackupId", skip_serializing_if = "Option::is_none")]
        pub backup_id: Option<uuid::Uuid>,
        #[serde(rename = "BackupLocation", skip_serializing_if = "Option::is_none")]
        pub backup_location: Option<String>,
        #[serde(rename = "BackupState", skip_serializing_if = "Option::is_none")]
        pub backup_state: Option<String>,
        #[serde(
            rename = "EpochOfLastBackupRecord",
            skip_serializing_if = "Option::is_none"
        )]
        pub epoch_of_last_backup_record: Option<Epoch>,
        #[serde(rename = "FailureError", skip_serializing_if = "Option::is_none")]
        pub failure_error: Option<FabricErrorError>,
        #[serde(
            rename = "LsnOfLastBackupRecord",
            skip_serializing_if = "Option::is_none"
        )]
        pub lsn_of_last_backup_record: Option<String>,
        #[serde(rename = "TimeStampUtc", skip_serializing_if = "Option::is_none")]
        pub time_stamp_utc: Option<DateTime<Utc>>,
    }

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    pub struct Epoch {
        #[serde(
            rename = "ConfigurationVersion",
            skip_serializing_if = "Option::is_none"
        )]
        pub configuration_version: Option<String>,
        #[serde(rename = "DataLossVersion", skip_serializing_if = "Option::is_none")]
        pub data_loss_version: Option<String>,
    }

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    pub struct FabricError {
        #[serde(rename = "Error")]
        pub error: FabricErrorError,
    }

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    pub struct FabricErrorError {
        #[serde(rename = "Code")]
        pub code: String,
        #[serde(rename = "Message", skip_serializing_if = "Option::is_none")]
        pub message: Option<String>,
    }
}

macro_rules! example {
    ($file:literal) => {
        (
            $file,
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../spec/examples/",
                $file
            )),
        )
    };
}

/// The documented request bodies (all of spec/examples that are `BackupPartitionDescription`).
const REQUEST_BODIES: [(&str, &str); 5] = [
    example!("backup-partition.json"),
    example!("backup-partition-azure-blob-store.json"),
    example!("backup-partition-dsms-azure-blob-store.json"),
    example!("backup-partition-file-share.json"),
    example!("backup-partition-managed-identity-azure-blob-store.json"),
];

/// Progress answers: the documented success, and the two other shapes the service sends (a running backup, where
/// only the state is set, and a failure carrying its error).
const PROGRESS_BODIES: [(&str, &str); 3] = [
    example!("backup-progress-info.json"),
    ("progress-running", r#"{"BackupState":"BackupInProgress"}"#),
    (
        "progress-failure",
        r#"{"BackupState":"Failure","TimeStampUtc":"2018-01-01T09:00:55Z","FailureError":{"Code":"FABRIC_E_BACKUP_TIMEOUT","Message":"The backup timed out."}}"#,
    ),
];

/// Error answers: the documented one, and a code the spec does not list (the generated type keeps it as text).
const ERROR_BODIES: [(&str, &str); 2] = [
    example!("fabric-error.json"),
    (
        "fabric-error-unlisted-code",
        r#"{"Error":{"Code":"FABRIC_E_SOMETHING_NEW","Message":"A code this client does not know."}}"#,
    ),
];

/// Benchmarks one body both ways with both type families, after checking that both read it and write the same
/// bytes (so the comparison is between equal work).
fn compare<G, H>(c: &mut Criterion, name: &str, json: &str)
where
    G: Serialize + DeserializeOwned,
    H: Serialize + DeserializeOwned,
{
    let generated: G = serde_json::from_str(json).unwrap_or_else(|e| panic!("{name}: {e}"));
    let hand_written: H = serde_json::from_str(json).unwrap_or_else(|e| panic!("{name}: {e}"));
    let bytes = serde_json::to_vec(&generated).unwrap();
    assert_eq!(
        bytes,
        serde_json::to_vec(&hand_written).unwrap(),
        "{name}: the two type families must write the same bytes"
    );

    let mut group = c.benchmark_group(format!("serialize/{name}"));
    group.bench_function("generated", |b| {
        b.iter(|| serde_json::to_vec(black_box(&generated)).unwrap())
    });
    group.bench_function("hand_written", |b| {
        b.iter(|| serde_json::to_vec(black_box(&hand_written)).unwrap())
    });
    group.finish();

    // Deserialise the compact bytes a server sends, not the pretty-printed example file.
    let mut group = c.benchmark_group(format!("deserialize/{name}"));
    group.bench_function("generated", |b| {
        b.iter(|| serde_json::from_slice::<G>(black_box(&bytes)).unwrap())
    });
    group.bench_function("hand_written", |b| {
        b.iter(|| serde_json::from_slice::<H>(black_box(&bytes)).unwrap())
    });
    group.finish();
}

fn bodies(c: &mut Criterion) {
    for (name, json) in REQUEST_BODIES {
        compare::<types::BackupPartitionDescription, hand_written::BackupPartitionDescription>(
            c, name, json,
        );
    }
    for (name, json) in PROGRESS_BODIES {
        compare::<types::BackupProgressInfo, hand_written::BackupProgressInfo>(c, name, json);
    }
    for (name, json) in ERROR_BODIES {
        compare::<types::FabricError, hand_written::FabricError>(c, name, json);
    }
}

/// Short runs: these are nanosecond-scale functions, and 40 of them must fit in about a minute.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(900))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = bodies
}
criterion_main!(benches);
