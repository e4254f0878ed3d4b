//! Shared helpers of the workspace tests, in one place: the documented examples of `spec/examples/`, loaded once,
//! and the testkit gateway in a given dialect.
#![forbid(unsafe_code)]

/// The README's Rust code blocks, compiled as doctests so the quickstart cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The sf-backup crate's README (its crates.io page), compiled the same way.
#[cfg(doctest)]
#[doc = include_str!("../crates/sf-backup/README.md")]
pub struct FacadeReadmeDoctests;

/// The sf-backup-api crate's README (its crates.io page), compiled the same way.
#[cfg(doctest)]
#[doc = include_str!("../crates/sf-backup-api/README.md")]
pub struct ApiReadmeDoctests;

use serde_json::Value;
pub use spec_support::{Example, workspace_root};

/// What the workspace tests ask of an example beyond [`spec_support`]'s reader.
pub trait ExampleExt {
    /// The partition id in the documented path (`/Partitions/{id}/...`).
    fn partition_id(&self) -> uuid::Uuid;
}

impl ExampleExt for Example {
    fn partition_id(&self) -> uuid::Uuid {
        let segment = self
            .target()
            .split('/')
            .nth(2)
            .expect("/Partitions/{id}/...");
        segment.parse().expect("documented partition id is a UUID")
    }
}

/// Every documented example, in `index.json` order.
pub fn examples() -> Vec<Example> {
    spec_support::load_examples().unwrap_or_else(|e| panic!("{e}"))
}

/// The documented examples of one schema.
pub fn examples_of(schema: &str) -> Vec<Example> {
    examples()
        .into_iter()
        .filter(|e| e.schema == schema)
        .collect()
}

/// Runs `$apply!(TypeName)` for every schema type the generated crate has, in one place, so the conformance dump
/// and its tests cannot drift apart. A spec schema missing here is reported by `cargo xtask conformance`.
macro_rules! for_each_generated_type {
    ($apply:ident) => {
        $apply!(ApiVersion);
        $apply!(ApiVersion60);
        $apply!(BackupEntity);
        $apply!(BackupInfo);
        $apply!(BackupPartitionDescription);
        $apply!(BackupProgressInfo);
        $apply!(BackupState);
        $apply!(BackupStorageDescription);
        $apply!(BackupType);
        $apply!(Epoch);
        $apply!(FabricError);
        $apply!(FabricErrorCodes);
        $apply!(FabricErrorError);
        $apply!(GetBackupByStorageQueryDescription);
        $apply!(HealthState);
        $apply!(KnownBackupState);
        $apply!(KnownBackupType);
        $apply!(KnownFabricErrorCodes);
        $apply!(KnownHealthState);
        $apply!(KnownRestoreState);
        $apply!(KnownServicePartitionStatus);
        $apply!(KnownServiceStatus);
        $apply!(ManagedIdentityType);
        $apply!(PagedBackupInfoList);
        $apply!(PagedServiceInfoList);
        $apply!(PagedServicePartitionInfoList);
        $apply!(PartitionInformation);
        $apply!(RestorePartitionDescription);
        $apply!(RestoreProgressInfo);
        $apply!(RestoreState);
        $apply!(ServiceInfo);
        $apply!(ServicePartitionInfo);
        $apply!(ServicePartitionStatus);
        $apply!(ServiceStatus);
    };
}

/// The body type of the generated client's progress 200, named here so that the dump's `responses` entry cannot
/// claim another type: this only compiles while `get_partition_backup_progress` returns exactly it.
async fn progress_body(
    client: &sf_backup_api::Client,
    partition: &uuid::Uuid,
) -> Option<sf_backup_api::types::BackupProgressInfo> {
    client
        .get_partition_backup_progress(partition, sf_backup_api::types::ApiVersion::X64, None)
        .await
        .ok()?
        .into_inner()
}

/// The body type of the generated client's restore progress 200, named like [`progress_body`]'s: this only
/// compiles while `get_partition_restore_progress` returns exactly `Option<RestoreProgressInfo>`.
async fn restore_progress_body(
    client: &sf_backup_api::Client,
    partition: &uuid::Uuid,
) -> Option<sf_backup_api::types::RestoreProgressInfo> {
    client
        .get_partition_restore_progress(partition, sf_backup_api::types::ApiVersion::X64, None)
        .await
        .ok()?
        .into_inner()
}

/// The body types of the generated client's two backup list 200s, named like [`progress_body`]'s: this only
/// compiles while both return exactly `PagedBackupInfoList`.
async fn backup_list_bodies(
    client: &sf_backup_api::Client,
    partition: &uuid::Uuid,
    query: &sf_backup_api::types::GetBackupByStorageQueryDescription,
) -> Option<[sf_backup_api::types::PagedBackupInfoList; 2]> {
    use sf_backup_api::types::ApiVersion;
    let partition_list = client
        .get_partition_backup_list(
            partition,
            None,
            None,
            None,
            None,
            None,
            ApiVersion::X64,
            None,
        )
        .await
        .ok()?
        .into_inner();
    let location_list = client
        .get_backups_from_backup_location(None, None, ApiVersion::X64, None, query)
        .await
        .ok()?
        .into_inner();
    Some([partition_list, location_list])
}

/// The body types of the generated client's service and partition list 200s, named like [`progress_body`]'s:
/// this only compiles while they return exactly `PagedServiceInfoList` and `PagedServicePartitionInfoList`.
async fn native_list_bodies(
    client: &sf_backup_api::Client,
) -> Option<(
    sf_backup_api::types::PagedServiceInfoList,
    sf_backup_api::types::PagedServicePartitionInfoList,
)> {
    use sf_backup_api::types::{ApiVersion, ApiVersion60};
    let services = client
        .get_service_info_list("CalcApp", None, None, ApiVersion60::X60, None)
        .await
        .ok()?
        .into_inner();
    let partitions = client
        .get_partition_info_list("CalcApp~CalcService", None, ApiVersion::X64, None)
        .await
        .ok()?
        .into_inner();
    Some((services, partitions))
}

/// What `cargo xtask conformance` needs from the generated types, as JSON: `schemas` maps each type name to the
/// JSON Schema schemars derives (OpenAPI 3.0 settings, so references read `#/components/schemas/X`);
/// `responses` maps `"<operationId> <status>"` of each JSON success response to the schema of the Rust type the
/// generated client returns for it; `examples` maps each example file to `{"value": <the body deserialised into
/// its type and serialised back>}` or `{"error": <why it did not deserialise>}`: the one place where examples go
/// through the generated types. A nullable example goes through `Option<type>`.
pub fn generated_types_dump_of(examples: &[Example]) -> Value {
    use sf_backup_api::types;

    let mut generator = schemars::r#gen::SchemaSettings::openapi3().into_generator();
    macro_rules! register {
        ($name:ident) => {
            generator.subschema_for::<types::$name>();
        };
    }
    for_each_generated_type!(register);
    let _ = progress_body;
    let _ = restore_progress_body;
    let _ = backup_list_bodies;
    let _ = native_list_bodies;
    let responses = serde_json::json!({
        "GetPartitionBackupProgress 200":
            generator.subschema_for::<Option<types::BackupProgressInfo>>(),
        "GetPartitionRestoreProgress 200":
            generator.subschema_for::<Option<types::RestoreProgressInfo>>(),
        "GetPartitionBackupList 200": generator.subschema_for::<types::PagedBackupInfoList>(),
        "GetBackupsFromBackupLocation 200":
            generator.subschema_for::<types::PagedBackupInfoList>(),
        "GetServiceInfoList 200": generator.subschema_for::<types::PagedServiceInfoList>(),
        "GetPartitionInfoList 200":
            generator.subschema_for::<types::PagedServicePartitionInfoList>(),
    });
    let schemas = serde_json::to_value(generator.definitions()).expect("schemas are JSON");

    fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(body: &Value) -> Value {
        match serde_json::from_value::<T>(body.clone()) {
            Ok(typed) => {
                serde_json::json!({ "value": serde_json::to_value(typed).expect("serialises") })
            }
            Err(error) => serde_json::json!({ "error": error.to_string() }),
        }
    }
    let mut results = serde_json::Map::new();
    for Example {
        file,
        schema,
        nullable,
        body,
        ..
    } in examples
    {
        let mut result =
            serde_json::json!({ "error": format!("no generated type is named {schema}") });
        macro_rules! try_type {
            ($name:ident) => {
                if schema == stringify!($name) {
                    result = if *nullable {
                        round_trip::<Option<types::$name>>(body)
                    } else {
                        round_trip::<types::$name>(body)
                    };
                }
            };
        }
        for_each_generated_type!(try_type);
        results.insert(file.clone(), result);
    }
    serde_json::json!({ "schemas": schemas, "responses": responses, "examples": results })
}

/// [`generated_types_dump_of`] the committed examples.
pub fn generated_types_dump() -> Value {
    generated_types_dump_of(&examples())
}

/// A testkit gateway with `config`, answering in `dialect` whatever `config.dialect` says: the workspace tests'
/// one way to start one. Every behaviour test runs against both dialects (`#[values(Dialect::Service,
/// Dialect::Documented)]`, or a loop over [`Dialect::ALL`](sf_backup_testkit::Dialect::ALL) in property tests), so
/// a client that reads only one of the two shapes fails.
pub async fn gateway_with(
    dialect: sf_backup_testkit::Dialect,
    config: sf_backup_testkit::Config,
) -> sf_backup_testkit::Gateway {
    let gateway =
        sf_backup_testkit::Gateway::start(sf_backup_testkit::Config { dialect, ..config })
            .await
            .expect("the testkit gateway starts");
    assert_eq!(gateway.dialect(), dialect);
    gateway
}

/// [`gateway_with`] the default settings.
pub async fn gateway(dialect: sf_backup_testkit::Dialect) -> sf_backup_testkit::Gateway {
    gateway_with(dialect, sf_backup_testkit::Config::default()).await
}
