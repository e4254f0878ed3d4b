//! Bad input is refused before anything is sent. One row per malformed input: each must fail with
//! `Error::InvalidInput` whose message names the field and says how to fix it, and the testkit gateway must not
//! have seen a single request.
//!
//! Extension point: the CLI's rows go in [`cli_rows`] as [`Input::Cli`] (its arguments, without the endpoint), run
//! through the same harness once the `sf-backup` binary exists; the gateway's URL is appended as `--endpoint`.
#![forbid(unsafe_code)]

use std::time::Duration;

use rstest::rstest;
use sf_backup::{BackupStorage, Client, Error, ManagedIdentityType, PartitionId};
use sf_backup_testkit::Dialect;
use sf_backup_workspace_tests::gateway;

const PARTITION: &str = "1daae3f5-7fd6-42e9-b1ba-8c05f873994d";
const CONNECTION: &str = "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=k";
const BLOB: &str = "https://account.blob.core.windows.net/";

/// What a row feeds to the facade.
enum Input {
    /// Parsed as a partition id; a backup is sent to it if it parses.
    PartitionId(&'static str),
    /// Given to `ClientBuilder::endpoint`; a backup is sent if the client builds.
    Endpoint(&'static str),
    /// Sent with a backup request, and given to `BackupStorage::validate`, which must agree.
    Storage(fn() -> BackupStorage),
    /// The server timeout of a backup request.
    BackupServerTimeout(Duration),
    /// The server timeout of a progress request.
    ProgressServerTimeout(Duration),
    /// The `BackupTimeout` of a backup request, sent alone and waited for (a wait must refuse it before its first
    /// progress read).
    BackupTimeout(Duration),
    /// Arguments of the `sf-backup` command line tool (see the module docs).
    #[allow(dead_code)]
    Cli(&'static [&'static str]),
}

struct Row {
    name: &'static str,
    input: Input,
    /// The field the message must name.
    field: &'static str,
    /// Words of the fix the message must give.
    fix: &'static str,
    /// A secret in the input the message must not echo.
    secret: Option<&'static str>,
}

const fn row(name: &'static str, input: Input, field: &'static str, fix: &'static str) -> Row {
    Row {
        name,
        input,
        field,
        fix,
        secret: None,
    }
}

fn facade_rows() -> Vec<Row> {
    use Input::*;
    const UUID_FIX: &str = "pass a UUID such as 1daae3f5-7fd6-42e9-b1ba-8c05f873994d";
    const ENDPOINT_FIX: &str = "pass the gateway's base URL, such as http://localhost:19080";
    const TIMEOUT_FIX: &str = "pass a timeout of at least 1 second and at most 4294967295 seconds";
    const BLOB_FIX: &str = "pass the storage account's blob endpoint";
    const CREDENTIALS_FIX: &str = "set credentials only on BackupStorage::file_share";
    vec![
        // Partition ids.
        row(
            "empty partition id",
            PartitionId(""),
            "partition id",
            UUID_FIX,
        ),
        row(
            "blank partition id",
            PartitionId("   "),
            "partition id",
            UUID_FIX,
        ),
        row(
            "partition name instead of id",
            PartitionId("partition-1"),
            "partition id",
            UUID_FIX,
        ),
        row(
            "truncated partition id",
            PartitionId("1daae3f5-7fd6-42e9-b1ba"),
            "partition id",
            UUID_FIX,
        ),
        row(
            "partition id with a trailing character",
            PartitionId("1daae3f5-7fd6-42e9-b1ba-8c05f873994dx"),
            "partition id",
            UUID_FIX,
        ),
        row(
            "partition id with non-hex digits",
            PartitionId("zzzzzzzz-7fd6-42e9-b1ba-8c05f873994d"),
            "partition id",
            UUID_FIX,
        ),
        row(
            "partition id with underscores",
            PartitionId("1daae3f5_7fd6_42e9_b1ba_8c05f873994d"),
            "partition id",
            UUID_FIX,
        ),
        row(
            "partition id with a doubled group",
            PartitionId("1daae3f5-7fd6-7fd6-42e9-b1ba-8c05f873994d"),
            "partition id",
            UUID_FIX,
        ),
        // Server timeouts.
        row(
            "zero server timeout",
            BackupServerTimeout(Duration::ZERO),
            "server timeout",
            TIMEOUT_FIX,
        ),
        row(
            "server timeout above 4294967295 s",
            BackupServerTimeout(Duration::from_secs(4_294_967_296)),
            "server timeout",
            TIMEOUT_FIX,
        ),
        row(
            "maximal server timeout",
            BackupServerTimeout(Duration::MAX),
            "server timeout",
            TIMEOUT_FIX,
        ),
        row(
            "zero progress server timeout",
            ProgressServerTimeout(Duration::ZERO),
            "server timeout",
            TIMEOUT_FIX,
        ),
        row(
            "progress server timeout above 4294967295 s",
            ProgressServerTimeout(Duration::from_secs(u64::MAX)),
            "server timeout",
            TIMEOUT_FIX,
        ),
        // Backup timeouts: the service keeps minutes in an int.
        row(
            "backup timeout above 2147483647 minutes",
            BackupTimeout(Duration::from_secs((i32::MAX as u64 + 1) * 60)),
            "backup timeout",
            "pass a backup timeout of at most 2147483647 minutes",
        ),
        row(
            "maximal backup timeout",
            BackupTimeout(Duration::MAX),
            "backup timeout",
            "pass a backup timeout of at most 2147483647 minutes",
        ),
        // Endpoints.
        row("empty endpoint", Endpoint(""), "endpoint", ENDPOINT_FIX),
        row(
            "endpoint that is not a URL",
            Endpoint("not a url"),
            "endpoint",
            ENDPOINT_FIX,
        ),
        row(
            "endpoint without a scheme",
            Endpoint("localhost:19080"),
            "endpoint",
            ENDPOINT_FIX,
        ),
        row(
            "ftp endpoint",
            Endpoint("ftp://cluster:19080"),
            "endpoint",
            ENDPOINT_FIX,
        ),
        row(
            "file endpoint",
            Endpoint("file:///tmp/sf"),
            "endpoint",
            ENDPOINT_FIX,
        ),
        row(
            "endpoint without a host",
            Endpoint("http://"),
            "endpoint",
            ENDPOINT_FIX,
        ),
        row(
            "endpoint with a query",
            Endpoint("http://cluster:19080?x=1"),
            "endpoint",
            ENDPOINT_FIX,
        ),
        row(
            "endpoint with a fragment",
            Endpoint("http://cluster:19080/#top"),
            "endpoint",
            ENDPOINT_FIX,
        ),
        row(
            "endpoint with an unclosed IPv6 host",
            Endpoint("http://[::1:19080"),
            "endpoint",
            ENDPOINT_FIX,
        ),
        row(
            "endpoint with a bad port",
            Endpoint("http://cluster:190800"),
            "endpoint",
            ENDPOINT_FIX,
        ),
        Row {
            secret: Some("hunter2-endpoint"),
            ..row(
                "endpoint with user credentials",
                Endpoint("https://admin:hunter2-endpoint@cluster:19080"),
                "endpoint",
                "remove the user info from the URL",
            )
        },
        Row {
            secret: Some("endpoint-sig-1"),
            ..row(
                "endpoint with a signature in its query",
                Endpoint("https://cluster:19080/?sig=endpoint-sig-1"),
                "endpoint",
                ENDPOINT_FIX,
            )
        },
        Row {
            secret: Some("endpoint-pass-2"),
            ..row(
                "unparsable endpoint with user credentials",
                Endpoint("https://admin:endpoint-pass-2@[cluster:19080"),
                "endpoint",
                ENDPOINT_FIX,
            )
        },
        // Azure blob store.
        row(
            "empty connection string",
            Storage(|| BackupStorage::azure_blob_store("", "BackupContainer")),
            "connection string",
            "pass the storage account's connection string",
        ),
        row(
            "blank connection string",
            Storage(|| BackupStorage::azure_blob_store(" \t", "BackupContainer")),
            "connection string",
            "pass the storage account's connection string",
        ),
        row(
            "empty Azure container name",
            Storage(|| BackupStorage::azure_blob_store(CONNECTION, "")),
            "container name",
            "pass a non-empty container name",
        ),
        row(
            "blank Azure container name",
            Storage(|| BackupStorage::azure_blob_store(CONNECTION, "  ")),
            "container name",
            "pass a non-empty container name",
        ),
        // File share.
        row(
            "empty file share path",
            Storage(|| BackupStorage::file_share("")),
            "file share path",
            "pass a non-empty file share path",
        ),
        row(
            "blank file share path",
            Storage(|| BackupStorage::file_share(" ")),
            "file share path",
            "pass a non-empty file share path",
        ),
        Row {
            secret: Some("primary-pass-1"),
            ..row(
                "empty primary user name",
                Storage(|| {
                    BackupStorage::file_share(r"\\s\b").primary_credentials("", "primary-pass-1")
                }),
                "file share credentials",
                "pass a user name",
            )
        },
        Row {
            secret: Some("secondary-pass-1"),
            ..row(
                "empty secondary user name",
                Storage(|| {
                    BackupStorage::file_share(r"\\s\b")
                        .secondary_credentials(" ", "secondary-pass-1")
                }),
                "file share credentials",
                "pass a user name",
            )
        },
        // DSMS.
        row(
            "empty DSMS credentials location",
            Storage(|| BackupStorage::dsms_azure_blob_store("", "BackupContainer")),
            "storage credentials source location",
            "pass a non-empty storage credentials source location",
        ),
        row(
            "empty DSMS container name",
            Storage(|| BackupStorage::dsms_azure_blob_store("https://dsms.example/loc", "")),
            "container name",
            "pass a non-empty container name",
        ),
        // Managed identity.
        row(
            "empty blob service URI",
            Storage(|| {
                BackupStorage::managed_identity_azure_blob_store(
                    "",
                    "c",
                    ManagedIdentityType::Cluster,
                )
            }),
            "blob service URI",
            BLOB_FIX,
        ),
        row(
            "blob service URI that is not a URL",
            Storage(|| {
                BackupStorage::managed_identity_azure_blob_store(
                    "not a url",
                    "c",
                    ManagedIdentityType::Cluster,
                )
            }),
            "blob service URI",
            BLOB_FIX,
        ),
        row(
            "blob service URI without a scheme",
            Storage(|| {
                BackupStorage::managed_identity_azure_blob_store(
                    "account.blob.core.windows.net",
                    "c",
                    ManagedIdentityType::Vmss,
                )
            }),
            "blob service URI",
            BLOB_FIX,
        ),
        row(
            "relative blob service URI",
            Storage(|| {
                BackupStorage::managed_identity_azure_blob_store(
                    "/backups",
                    "c",
                    ManagedIdentityType::Cluster,
                )
            }),
            "blob service URI",
            BLOB_FIX,
        ),
        row(
            "ftp blob service URI",
            Storage(|| {
                BackupStorage::managed_identity_azure_blob_store(
                    "ftp://account.blob.core.windows.net/",
                    "c",
                    ManagedIdentityType::Cluster,
                )
            }),
            "blob service URI",
            BLOB_FIX,
        ),
        row(
            "blob service URI without a host",
            Storage(|| {
                BackupStorage::managed_identity_azure_blob_store(
                    "https://",
                    "c",
                    ManagedIdentityType::Cluster,
                )
            }),
            "blob service URI",
            BLOB_FIX,
        ),
        Row {
            secret: Some("sig=sas-secret-1"),
            ..row(
                "blob service URI with a SAS token",
                Storage(|| {
                    BackupStorage::managed_identity_azure_blob_store(
                        "https://account.blob.core.windows.net/?sv=2022&sig=sas-secret-1",
                        "c",
                        ManagedIdentityType::Cluster,
                    )
                }),
                "blob service URI",
                BLOB_FIX,
            )
        },
        Row {
            secret: Some("uri-pass-1"),
            ..row(
                "blob service URI with user info",
                Storage(|| {
                    BackupStorage::managed_identity_azure_blob_store(
                        "https://user:uri-pass-1@account.blob.core.windows.net/",
                        "c",
                        ManagedIdentityType::Cluster,
                    )
                }),
                "blob service URI",
                BLOB_FIX,
            )
        },
        Row {
            secret: Some("uri-pass-2"),
            ..row(
                "unparsable blob service URI with user info",
                Storage(|| {
                    BackupStorage::managed_identity_azure_blob_store(
                        "https://user:uri-pass-2@[account.blob.core.windows.net/",
                        "c",
                        ManagedIdentityType::Cluster,
                    )
                }),
                "blob service URI",
                BLOB_FIX,
            )
        },
        Row {
            secret: Some("uri-pass-3"),
            ..row(
                "ftp blob service URI with user info",
                Storage(|| {
                    BackupStorage::managed_identity_azure_blob_store(
                        "ftp://user:uri-pass-3@account.blob.core.windows.net/",
                        "c",
                        ManagedIdentityType::Cluster,
                    )
                }),
                "blob service URI",
                BLOB_FIX,
            )
        },
        Row {
            secret: Some("sas-secret-2"),
            ..row(
                "blob service URI without a host and with a SAS token",
                Storage(|| {
                    BackupStorage::managed_identity_azure_blob_store(
                        "https://?sig=sas-secret-2",
                        "c",
                        ManagedIdentityType::Cluster,
                    )
                }),
                "blob service URI",
                BLOB_FIX,
            )
        },
        row(
            "empty managed identity container name",
            Storage(|| {
                BackupStorage::managed_identity_azure_blob_store(
                    BLOB,
                    "",
                    ManagedIdentityType::Cluster,
                )
            }),
            "container name",
            "pass a non-empty container name",
        ),
        // Any kind.
        row(
            "empty friendly name",
            Storage(|| BackupStorage::azure_blob_store(CONNECTION, "c").friendly_name("")),
            "friendly name",
            "pass a non-empty friendly name",
        ),
        row(
            "blank friendly name on a file share",
            Storage(|| BackupStorage::file_share(r"\\s\b").friendly_name("  ")),
            "friendly name",
            "pass a non-empty friendly name",
        ),
        Row {
            secret: Some("misplaced-pass-1"),
            ..row(
                "primary credentials on an Azure blob store",
                Storage(|| {
                    BackupStorage::azure_blob_store(CONNECTION, "c")
                        .primary_credentials("u", "misplaced-pass-1")
                }),
                "backup storage",
                CREDENTIALS_FIX,
            )
        },
        row(
            "secondary credentials on a DSMS store",
            Storage(|| {
                BackupStorage::dsms_azure_blob_store("https://dsms.example/loc", "c")
                    .secondary_credentials("u", "p")
            }),
            "backup storage",
            CREDENTIALS_FIX,
        ),
        row(
            "credentials on a managed identity store",
            Storage(|| {
                BackupStorage::managed_identity_azure_blob_store(
                    BLOB,
                    "c",
                    ManagedIdentityType::Vmss,
                )
                .primary_credentials("u", "p")
            }),
            "backup storage",
            CREDENTIALS_FIX,
        ),
    ]
}

/// The CLI's rows (see the module docs); none yet.
fn cli_rows() -> Vec<Row> {
    Vec::new()
}

async fn attempt(input: &Input, gateway: &str) -> Result<(), Error> {
    let client = Client::new(gateway)?;
    let partition: PartitionId = PARTITION.parse()?;
    match input {
        Input::PartitionId(text) => {
            let id: PartitionId = text.parse()?;
            client.backup_partition(id).await
        }
        Input::Endpoint(endpoint) => {
            let client = Client::builder().endpoint(endpoint).build()?;
            client.backup_partition(partition).await
        }
        Input::Storage(storage) => {
            let validated = storage().validate();
            let sent = client.backup_partition(partition).storage(storage()).await;
            assert_eq!(
                validated.as_ref().map_err(ToString::to_string),
                sent.as_ref().map_err(ToString::to_string),
                "validate() and sending disagree"
            );
            sent
        }
        Input::BackupServerTimeout(timeout) => {
            client
                .backup_partition(partition)
                .server_timeout(*timeout)
                .await
        }
        Input::ProgressServerTimeout(timeout) => client
            .backup_progress(partition)
            .server_timeout(*timeout)
            .await
            .map(drop),
        Input::BackupTimeout(backup_timeout) => {
            let waited = client
                .backup_partition(partition)
                .backup_timeout(*backup_timeout)
                .wait(sf_backup::WaitOptions::new())
                .await;
            match waited {
                Err(sf_backup::WaitError::Request(error)) if error.is_invalid_input() => {}
                other => panic!("waiting did not refuse the backup timeout first: {other:?}"),
            }
            client
                .backup_partition(partition)
                .backup_timeout(*backup_timeout)
                .await
        }
        Input::Cli(args) => panic!("CLI rows need the sf-backup binary: {args:?}"),
    }
}

#[rstest]
#[tokio::test]
async fn every_malformed_input_is_refused_with_a_fix_before_anything_is_sent(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let rows: Vec<Row> = facade_rows().into_iter().chain(cli_rows()).collect();
    assert!(rows.len() >= 40, "only {} rows", rows.len());
    let names: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.name).collect();
    assert_eq!(names.len(), rows.len(), "row names are unique");

    let gateway = gateway(dialect).await;
    let mut problems = Vec::new();
    for row in &rows {
        let outcome = attempt(&row.input, &gateway.url()).await;
        let journal = gateway.journal();
        let problem = match outcome {
            _ if !journal.is_empty() => Some(format!(
                "{} request(s) reached the gateway: {:?}",
                journal.len(),
                journal
                    .iter()
                    .map(|r| format!("{} {}", r.method, r.target))
                    .collect::<Vec<_>>()
            )),
            Ok(()) => Some("was accepted".to_owned()),
            Err(error) => {
                let message = error.to_string();
                let debug = format!("{error:?}");
                if !error.is_invalid_input() {
                    Some(format!("is not InvalidInput: {message}"))
                } else if !message.contains(row.field) {
                    Some(format!("does not name `{}`: {message}", row.field))
                } else if !message.contains(row.fix) {
                    Some(format!("does not say `{}`: {message}", row.fix))
                } else if !message.ends_with("(nothing was sent)") {
                    Some(format!("does not say nothing was sent: {message}"))
                } else if row
                    .secret
                    .is_some_and(|s| message.contains(s) || debug.contains(s))
                {
                    Some(format!("echoes the secret: {message}"))
                } else {
                    None
                }
            }
        };
        if let Some(problem) = problem {
            problems.push(format!("row `{}`: {problem}", row.name));
        }
    }
    gateway.shutdown().await;
    assert!(
        problems.is_empty(),
        "{} of {} rows failed:\n{}",
        problems.len(),
        rows.len(),
        problems.join("\n")
    );
}

/// The harness itself must be able to fail: a valid input reaches the gateway and is accepted.
#[rstest]
#[tokio::test]
async fn a_valid_input_reaches_the_gateway(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = gateway(dialect).await;
    let valid = Input::Storage(|| BackupStorage::azure_blob_store(CONNECTION, "BackupContainer"));
    attempt(&valid, &gateway.url()).await.unwrap();
    assert_eq!(gateway.journal().len(), 1);
    gateway.shutdown().await;
}
