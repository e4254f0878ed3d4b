//! Property tests, with a bounded number of cases each so that the suite stays fast:
//! - any valid storage description reaches the wire as the spec's `BackupPartitionDescription` with exactly its
//!   values (the facade has no public wire conversion, so the body the testkit journaled is decoded with the
//!   generated types);
//! - arbitrary JSON never panics the response parsers: `sf_backup_api::ErrorResponse::decode`, and the facade's
//!   progress parsing, fed through the testkit;
//! - `Debug` output of any storage value (and of a request holding it) never shows a secret it holds;
//! - whatever a backup's outcome and whichever dialect the testkit speaks (picked by the strategy), the facade
//!   reads the final progress as the gateway's answer says.
//!
//! The tests that talk to the testkit run their cases against each of its dialects in turn.
#![forbid(unsafe_code)]

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use serde_json::{Map, Value, json};
use sf_backup::{
    BackupState, BackupStorage, Client, Error, ManagedIdentityType, PartitionId, Secret,
};
use sf_backup_api::{ErrorResponse, types};
use sf_backup_testkit::{Config, Dialect, Fault, Operation, Outcome};
use sf_backup_workspace_tests::{gateway, gateway_with};

const CASES: u32 = 64;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        // CI must not write regression files into the source tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A storage as the facade is asked to build it, and the body the spec says must reach the wire.
#[derive(Clone, Debug)]
struct Case {
    kind: u8,
    /// The connection string of an Azure blob store.
    connection_string: String,
    a: String,
    b: String,
    host: String,
    identity: bool,
    friendly_name: Option<String>,
    primary: Option<(String, String)>,
    secondary: Option<(String, String)>,
}

impl Case {
    fn storage(&self) -> BackupStorage {
        let storage = match self.kind {
            0 => BackupStorage::azure_blob_store(self.connection_string.as_str(), self.b.as_str()),
            1 => {
                let mut share = BackupStorage::file_share(self.a.as_str());
                if let Some((user, password)) = &self.primary {
                    share = share.primary_credentials(user, password.as_str());
                }
                if let Some((user, password)) = &self.secondary {
                    share = share.secondary_credentials(user, password.as_str());
                }
                share
            }
            2 => BackupStorage::dsms_azure_blob_store(self.a.as_str(), self.b.as_str()),
            _ => BackupStorage::managed_identity_azure_blob_store(
                self.blob_service_uri(),
                self.b.as_str(),
                if self.identity {
                    ManagedIdentityType::Cluster
                } else {
                    ManagedIdentityType::Vmss
                },
            ),
        };
        match &self.friendly_name {
            Some(name) => storage.friendly_name(name),
            None => storage,
        }
    }

    fn blob_service_uri(&self) -> String {
        format!("https://{}.blob.core.windows.net/", self.host)
    }

    /// Built from the spec's property names, independently of the facade.
    fn wire(&self) -> Value {
        let mut body = Map::new();
        let mut put = |k: &str, v: &str| body.insert(k.to_owned(), json!(v));
        match self.kind {
            0 => {
                put("StorageKind", "AzureBlobStore");
                put("ConnectionString", &self.connection_string);
                put("ContainerName", &self.b);
            }
            1 => {
                put("StorageKind", "FileShare");
                put("Path", &self.a);
                if let Some((user, password)) = &self.primary {
                    put("PrimaryUserName", user);
                    put("PrimaryPassword", password);
                }
                if let Some((user, password)) = &self.secondary {
                    put("SecondaryUserName", user);
                    put("SecondaryPassword", password);
                }
            }
            2 => {
                put("StorageKind", "DsmsAzureBlobStore");
                put("StorageCredentialsSourceLocation", &self.a);
                put("ContainerName", &self.b);
            }
            _ => {
                put("StorageKind", "ManagedIdentityAzureBlobStore");
                put("BlobServiceUri", &self.blob_service_uri());
                put("ContainerName", &self.b);
                put(
                    "ManagedIdentityType",
                    if self.identity { "Cluster" } else { "VMSS" },
                );
            }
        }
        if let Some(name) = &self.friendly_name {
            put("FriendlyName", name);
        }
        json!({ "BackupStorage": body })
    }

    /// The secrets it holds.
    fn secrets(&self) -> Vec<&str> {
        let mut secrets = Vec::new();
        if self.kind == 0 {
            secrets.push(self.connection_string.as_str());
        }
        if self.kind == 1 {
            secrets.extend(
                self.primary
                    .iter()
                    .chain(&self.secondary)
                    .map(|(_, p)| p.as_str()),
            );
        }
        secrets
    }
}

/// Any text that is not blank, including non-ASCII and JSON-special characters.
const TEXT: &str = "[^\\s\\p{C}][^\\p{C}]{0,30}";

/// `value` for the plain fields, `secret` for the secrets, `host` for the blob service URI's host.
fn case(
    value: &'static str,
    secret: &'static str,
    host: &'static str,
) -> impl Strategy<Value = Case> {
    (
        (0u8..4, secret, value, value, host, any::<bool>()),
        proptest::option::of(value),
        proptest::option::of((value, secret)),
        proptest::option::of((value, secret)),
    )
        .prop_map(
            |(
                (kind, connection_string, a, b, host, identity),
                friendly_name,
                primary,
                secondary,
            )| Case {
                kind,
                connection_string,
                a,
                b,
                host,
                identity,
                friendly_name,
                primary,
                secondary,
            },
        )
}

#[test]
fn any_valid_storage_reaches_the_wire_as_the_spec_says() {
    for dialect in Dialect::ALL {
        any_valid_storage_reaches_the_wire_as_the_spec_says_in(dialect);
    }
}

fn any_valid_storage_reaches_the_wire_as_the_spec_says_in(dialect: Dialect) {
    let rt = runtime();
    let gateway = rt.block_on(gateway(dialect));
    let client = Client::new(gateway.url()).unwrap();
    // The blob service URI's host part comes from `a`, so it must be a valid host label there.
    let strategy = case(TEXT, TEXT, "[a-z0-9]{3,24}");
    TestRunner::new(config())
        .run(&strategy, |case| {
            let id = PartitionId::from(uuid::Uuid::new_v4());
            rt.block_on(
                client
                    .backup_partition(id)
                    .storage(case.storage())
                    .into_future(),
            )
            .map_err(|e| TestCaseError::fail(format!("{dialect} dialect, {case:?}: {e}")))?;
            let request = gateway
                .journal()
                .into_iter()
                .rfind(|r| r.target.contains(&id.to_string()))
                .ok_or_else(|| TestCaseError::fail("no request reached the gateway"))?;
            let body = request
                .body_json()
                .ok_or_else(|| TestCaseError::fail("body is not JSON"))?;
            prop_assert_eq!(&body, &case.wire());
            let typed: types::BackupPartitionDescription = serde_json::from_value(body.clone())
                .map_err(|e| TestCaseError::fail(format!("the generated types reject it: {e}")))?;
            prop_assert_eq!(serde_json::to_value(typed).unwrap(), body);
            Ok(())
        })
        .unwrap();
    rt.block_on(gateway.shutdown());
}

/// Arbitrary JSON, biased towards the shapes the parsers expect so that they get past the first field.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,12}".prop_map(Value::from),
        Just(json!("0001-01-01T00:00:00Z")),
        Just(json!("00000000-0000-0000-0000-000000000000")),
        Just(json!("9223372036854775808")),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(field_name(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("BackupState".to_owned()),
        Just("TimeStampUtc".to_owned()),
        Just("BackupId".to_owned()),
        Just("BackupLocation".to_owned()),
        Just("EpochOfLastBackupRecord".to_owned()),
        Just("DataLossVersion".to_owned()),
        Just("ConfigurationVersion".to_owned()),
        Just("LsnOfLastBackupRecord".to_owned()),
        Just("FailureError".to_owned()),
        Just("Error".to_owned()),
        Just("Code".to_owned()),
        Just("Message".to_owned()),
        "\\PC{0,8}",
    ]
}

#[test]
fn arbitrary_bytes_and_json_never_panic_the_error_body_decoder() {
    let strategy = prop_oneof![
        json_value().prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..64),
    ];
    TestRunner::new(ProptestConfig {
        cases: 256,
        ..config()
    })
    .run(&strategy, |body| {
        let decoded = ErrorResponse::decode(&body);
        // It decodes exactly the bodies that are an object with an `Error` object holding a `Code` that is a string
        // or, as the service writes a code it has no name for, an integer.
        let value: Option<Value> = serde_json::from_slice(&body).ok();
        let shaped = value.as_ref().is_some_and(|v| {
            let message = &v["Error"]["Message"];
            let code = &v["Error"]["Code"];
            (code.is_string() || code.is_i64()) && (message.is_null() || message.is_string())
        });
        // serde's derived struct decoding also takes a struct's fields as an array (`{"Error": ["CODE", "msg"]}`),
        // a body no gateway sends and harmless, so beyond the spec's shape only "the code came from the body" holds.
        let text = String::from_utf8_lossy(&body);
        if shaped {
            prop_assert!(decoded.is_some(), "a FabricError was not decoded: {}", text);
        }
        if let Some(error) = decoded {
            let code = serde_json::to_value(&error).unwrap()["Error"]["Code"].clone();
            prop_assert!(
                text.contains(&serde_json::to_string(&code).unwrap()),
                "decoded code {:?} is not in the body: {}",
                code,
                text
            );
        }
        Ok(())
    })
    .unwrap();
}

#[test]
fn arbitrary_json_progress_answers_never_panic_the_facade() {
    for dialect in Dialect::ALL {
        arbitrary_json_progress_answers_never_panic_the_facade_in(dialect);
    }
}

fn arbitrary_json_progress_answers_never_panic_the_facade_in(dialect: Dialect) {
    let rt = runtime();
    let gateway = rt.block_on(gateway(dialect));
    let client = Client::new(gateway.url()).unwrap();
    let id: PartitionId = "1daae3f5-7fd6-42e9-b1ba-8c05f873994d".parse().unwrap();
    TestRunner::new(config())
        .run(&json_value(), |value| {
            let body = value.to_string();
            gateway.push_fault(
                Fault::body(200, Some("application/json"), body.clone())
                    .on(Operation::GetBackupProgress),
            );
            let outcome = rt.block_on(rt.spawn(client.backup_progress(id).into_future()));
            match outcome {
                Err(panic) => {
                    return Err(TestCaseError::fail(format!(
                        "{dialect} dialect, {body}: panicked: {panic}"
                    )));
                }
                Ok(Ok(progress)) => {
                    // Accepted only when the generated client's type accepts it too (the spec's progress 200 is
                    // nullable: `null` before any backup), and its JSON writes the LSN as a string that reads back.
                    let wire: Option<types::BackupProgressInfo> = serde_json::from_str(&body)
                        .map_err(|e| {
                            TestCaseError::fail(format!("{body}: accepted but not valid: {e}"))
                        })?;
                    prop_assert_eq!(progress.state == BackupState::NotRequested, wire.is_none());
                    let json = serde_json::to_value(&progress).unwrap();
                    prop_assert_eq!(
                        json["lsn"].as_str().map(|lsn| lsn.parse::<i64>().unwrap()),
                        progress.lsn
                    );
                }
                Ok(Err(Error::UnexpectedResponse { status, .. })) => {
                    prop_assert_eq!(status.as_u16(), 200)
                }
                Ok(Err(other)) => {
                    return Err(TestCaseError::fail(format!(
                        "{dialect} dialect, {body}: {other:?}"
                    )));
                }
            }
            Ok(())
        })
        .unwrap();
    rt.block_on(gateway.shutdown());
}

#[test]
fn debug_output_never_shows_a_secret() {
    // Secrets of digits and symbols cannot occur in the letters-only other fields, field names or kind names.
    let secret = "[0-9#%!+]{8,24}";
    let letters = "[a-z]{1,12}";
    let client = Client::new("http://localhost:19080").unwrap();
    let id: PartitionId = "1daae3f5-7fd6-42e9-b1ba-8c05f873994d".parse().unwrap();
    let strategy = case(letters, secret, letters);
    TestRunner::new(ProptestConfig {
        cases: 256,
        ..config()
    })
    .run(&strategy, |case| {
        let storage = case.storage();
        let shown = [
            format!("{storage:?}"),
            format!("{storage:#?}"),
            format!("{:?}", client.backup_partition(id).storage(storage.clone())),
        ];
        for secret in case.secrets() {
            prop_assert!(secret.len() >= 8);
            for text in &shown {
                prop_assert!(!text.contains(secret), "{secret} in {text}");
            }
            prop_assert_eq!(Secret::new(secret).to_string(), "<redacted>");
        }
        Ok(())
    })
    .unwrap();
}

/// An outcome the testkit can script, with codes the spec lists, does not list, or that are no name at all.
fn outcome() -> impl Strategy<Value = Outcome> {
    let code = prop_oneof![
        Just("E_UNEXPECTED".to_owned()),
        Just("FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR".to_owned()),
        any::<i32>().prop_map(|hresult| hresult.to_string()),
    ];
    prop_oneof![
        Just(Outcome::Success),
        (code, "[a-zA-Z .]{0,20}").prop_map(|(code, message)| Outcome::failure(code, message)),
        Just(Outcome::Timeout),
        Just(Outcome::TimeoutButWritten),
    ]
}

#[test]
fn any_outcome_in_either_dialect_reads_as_the_gateway_answers() {
    let rt = runtime();
    let fast = || Config {
        accepted_ms: Some(0),
        in_progress_ms: Some(5),
        ..Config::default()
    };
    let gateways: Vec<_> = Dialect::ALL
        .into_iter()
        .map(|dialect| rt.block_on(gateway_with(dialect, fast())))
        .collect();
    let strategy = (0..gateways.len(), outcome());
    TestRunner::new(ProptestConfig {
        cases: 32,
        ..config()
    })
    .run(&strategy, |(which, outcome)| {
        let gateway = &gateways[which];
        let dialect = gateway.dialect();
        let client = Client::new(gateway.url()).unwrap();
        let id = uuid::Uuid::new_v4();
        gateway.script_outcome(id, outcome.clone());
        let partition = PartitionId::from(id);
        rt.block_on(client.backup_partition(partition).into_future())
            .map_err(|e| TestCaseError::fail(format!("{dialect}: {e}")))?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        let progress = loop {
            let progress = rt
                .block_on(client.backup_progress(partition).into_future())
                .map_err(|e| TestCaseError::fail(format!("{dialect}: {e}")))?;
            if progress.state.is_terminal() {
                break progress;
            }
            prop_assert!(
                std::time::Instant::now() < deadline,
                "{dialect}: {progress:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(2));
        };
        let wire = gateway.progress(id).unwrap();
        prop_assert_eq!(
            progress.state.as_str(),
            wire["BackupState"].as_str().unwrap()
        );
        match &outcome {
            Outcome::Success => {
                let written = gateway
                    .written_backups()
                    .into_iter()
                    .find(|w| w.partition_id == id)
                    .ok_or_else(|| TestCaseError::fail("nothing written"))?;
                prop_assert_eq!(progress.backup_id, Some(written.backup_id));
                prop_assert_eq!(progress.lsn, written.lsn.parse().ok());
                prop_assert_eq!(progress.time_stamp_utc, Some(written.time_stamp_utc));
                prop_assert_eq!(progress.backup_location, Some(written.location));
                prop_assert!(progress.failure.is_none());
            }
            Outcome::Failure { code, message } => {
                prop_assert_eq!(progress.state, BackupState::Failure);
                let failure = progress.failure.expect("a failure");
                prop_assert_eq!(failure.code.as_str(), code.as_str());
                prop_assert_eq!(Some(failure.message), message.clone());
                prop_assert_eq!((progress.backup_id, progress.lsn), (None, None));
            }
            _ => {
                prop_assert_eq!(progress.state, BackupState::Timeout);
                let failure = progress.failure.expect("a timeout");
                prop_assert_eq!(failure.code.as_str(), "FABRIC_E_TIMEOUT");
                prop_assert_eq!((progress.backup_id, progress.lsn), (None, None));
            }
        }
        Ok(())
    })
    .unwrap();
    for gateway in gateways {
        rt.block_on(gateway.shutdown());
    }
}
