//! Shared helpers of the workspace tests: the documented examples of `spec/examples/`, loaded once, in one place.
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

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;

/// The workspace root (this package lives in `tests/`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// One documented example, as listed in `spec/examples/index.json`.
#[derive(Clone, Debug, Deserialize)]
pub struct Example {
    /// The JSON file under `spec/examples/`.
    pub file: String,
    /// The spec schema the body is an instance of.
    pub schema: String,
    /// The example's heading.
    pub title: String,
    /// The documented request line, e.g. `POST http://localhost:19080/Partitions/.../$/Backup?api-version=6.4`.
    pub request: String,
    /// The documented response status.
    pub status: u16,
}

impl Example {
    /// The body as a JSON value.
    pub fn body(&self) -> Value {
        let path = workspace_root().join("spec/examples").join(&self.file);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The documented method, e.g. `POST`.
    pub fn method(&self) -> &str {
        self.request
            .split_once(' ')
            .expect("request is `METHOD URL`")
            .0
    }

    /// The documented request target (path and query), e.g. `/Partitions/.../$/Backup?api-version=6.4`.
    pub fn target(&self) -> &str {
        let url = self
            .request
            .split_once(' ')
            .expect("request is `METHOD URL`")
            .1;
        let after_scheme = url.split_once("://").expect("absolute URL").1;
        &after_scheme[after_scheme.find('/').expect("URL has a path")..]
    }

    /// The partition id in the documented path.
    pub fn partition_id(&self) -> uuid::Uuid {
        let segment = self
            .target()
            .split('/')
            .nth(2)
            .expect("/Partitions/{id}/...");
        segment.parse().expect("documented partition id is a UUID")
    }

    /// A snapshot-friendly name derived from the file name.
    pub fn name(&self) -> &str {
        self.file.trim_end_matches(".json")
    }
}

/// Every documented example, in `index.json` order.
pub fn examples() -> Vec<Example> {
    let path = workspace_root().join("spec/examples/index.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
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
        $apply!(BackupPartitionDescription);
        $apply!(BackupProgressInfo);
        $apply!(BackupState);
        $apply!(BackupStorageDescription);
        $apply!(Epoch);
        $apply!(FabricError);
        $apply!(FabricErrorCodes);
        $apply!(FabricErrorError);
        $apply!(KnownBackupState);
        $apply!(KnownFabricErrorCodes);
        $apply!(ManagedIdentityType);
    };
}

/// What `cargo xtask conformance` needs from the generated types, as JSON: `schemas` maps each type name to the
/// JSON Schema schemars derives (OpenAPI 3.0 settings, so references read `#/components/schemas/X`), and
/// `examples` maps each example file to `{"value": <the body deserialised into its type and serialised back>}` or
/// `{"error": <why it did not deserialise>}`. `examples` holds (file, schema name, body).
pub fn generated_types_dump_of(examples: &[(String, String, Value)]) -> Value {
    use sf_backup_api::types;

    let mut generator = schemars::r#gen::SchemaSettings::openapi3().into_generator();
    macro_rules! register {
        ($name:ident) => {
            generator.subschema_for::<types::$name>();
        };
    }
    for_each_generated_type!(register);
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
    for (file, schema, body) in examples {
        let mut result =
            serde_json::json!({ "error": format!("no generated type is named {schema}") });
        macro_rules! try_type {
            ($name:ident) => {
                if schema == stringify!($name) {
                    result = round_trip::<types::$name>(body);
                }
            };
        }
        for_each_generated_type!(try_type);
        results.insert(file.clone(), result);
    }
    serde_json::json!({ "schemas": schemas, "examples": results })
}

/// [`generated_types_dump_of`] the committed examples.
pub fn generated_types_dump() -> Value {
    let examples: Vec<(String, String, Value)> = examples()
        .into_iter()
        .map(|e| {
            let body = e.body();
            (e.file, e.schema, body)
        })
        .collect();
    generated_types_dump_of(&examples)
}
