//! The real upstream history (docs/spec-history.md#changes) replayed through `cargo xtask spec-diff`.
//!
//! `xtask/fixtures/spec-history/<version>.yaml` is our fragment as it would have stood at each upstream version,
//! in the upstream (documented) shapes. `8.2.yaml` is the fragment of the version we ship before our lenient
//! deviations (the spec as of commit 3bdf8ff); every other fixture is derived from it by [`derive`], which applies
//! the documented upstream changes as exact text edits. The derived files are committed so a reviewer can read
//! them; `fixtures_match_their_derivation` keeps them honest, and `SPEC_HISTORY_UPDATE=1 cargo test -p xtask`
//! rewrites them.
//!
//! The live spec is not a fixture: it is `8.2.yaml` plus [`DEVIATIONS`], the named, deliberate differences from
//! upstream that let the client read what the Backup Restore Service's code really sends (spec/README.md,
//! "Deliberate differences"). `the_live_spec_is_fixture_8_2_plus_the_deliberate_deviations` holds the two
//! together, so neither the history nor the deviations can drift unnoticed, and `deviations_8_2` snapshots what
//! they do to the Rust API.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture_path(version: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("fixtures/spec-history/{version}.yaml"))
}

fn fixture(version: &str) -> String {
    std::fs::read_to_string(fixture_path(version)).unwrap()
}

/// Replaces `from` with `to`, insisting that `from` occurs exactly once, so a derivation cannot silently miss.
fn once(text: &str, from: &str, to: &str) -> String {
    spec_support::replace_once(text, from, to).unwrap_or_else(|e| panic!("{e}"))
}

/// Removes the lines from the line `start` (included) up to the next line `end` (excluded). Markers match whole
/// lines, so `    Name:` never matches the deeper-indented `        Name:`.
fn cut(text: &str, start: &str, end: &str) -> String {
    let (start, end) = (format!("\n{start}"), format!("\n{end}"));
    assert_eq!(
        text.matches(&start).count(),
        1,
        "expected exactly one line {start:?}"
    );
    let a = text.find(&start).unwrap() + 1;
    let b = a
        + text[a..]
            .find(&end)
            .unwrap_or_else(|| panic!("{end:?} not after {start:?}"))
        + 1;
    format!("{}{}", &text[..a], &text[b..])
}

fn header(version: &str, how: &str) -> String {
    format!(
        "# Our fragment as it would have stood at upstream {version}: {how}.\n\
         # Derived from 8.2.yaml by xtask/tests/spec_history.rs; refresh with SPEC_HISTORY_UPDATE=1 cargo test -p xtask.\n"
    )
}

const DSMS: &str = "        - title: DsmsAzureBlobStore\n";
const MANAGED: &str = "        - title: ManagedIdentityAzureBlobStore\n";
const MANAGED_TYPE: &str = "    ManagedIdentityType:\n";

/// Our fragment at `version`, from the 8.2 fragment, by the changes spec-history.md records.
fn derive(version: &str, v8_2: &str) -> String {
    match version {
        "8.2" => v8_2.to_string(),
        // 8.0 -> 8.2 changed nothing for backup.
        "8.0" => header("8.0", "identical to 8.2 (nothing changed for backup)") + v8_2,
        // 7.2 -> 8.0 added the managed-identity storage kind and the ManagedIdentityType enum.
        "7.2" => {
            let s = cut(v8_2, MANAGED, MANAGED_TYPE);
            let s = cut(&s, MANAGED_TYPE, "    BackupProgressInfo:\n");
            header(
                "7.2",
                "8.2 without the ManagedIdentityAzureBlobStore kind and ManagedIdentityType",
            ) + &s
        }
        // 7.1 -> 7.2 added the DSMS storage kind.
        "7.1" => {
            let s = cut(v8_2, DSMS, MANAGED);
            let s = cut(&s, MANAGED, MANAGED_TYPE);
            let s = cut(&s, MANAGED_TYPE, "    BackupProgressInfo:\n");
            header(
                "7.1",
                "8.2 without the DSMS and managed-identity kinds and ManagedIdentityType",
            ) + &s
        }
        // 8.2 -> 9.0 appended one error code.
        "9.0" => {
            let last = "        - FABRIC_E_IMAGEBUILDER_RESERVED_DIRECTORY_ERROR\n";
            assert!(
                v8_2.ends_with(last),
                "KnownFabricErrorCodes is no longer the last list of the fragment"
            );
            header(
                "9.0",
                "8.2 plus the error code FABRIC_E_CERTIFICATE_NOT_FOUND",
            ) + v8_2
                + "        - FABRIC_E_CERTIFICATE_NOT_FOUND\n"
        }
        // The 6.4 in-place edit undone: api-version 6.2-preview and BackupEpoch. Error codes and storage kinds stay
        // at 8.2 on purpose, so that the step isolates the rename and the api-version change.
        "6.2-preview" => {
            let s = once(v8_2, "  version: \"6.4\"\n", "  version: \"6.2-preview\"\n");
            let s = once(
                &s,
                "its value must be '6.4'.",
                "its value must be '6.2-preview'.",
            );
            let s = once(
                &s,
                "        - \"6.4\"\n      default: \"6.4\"\n",
                "        - \"6.2-preview\"\n      default: \"6.2-preview\"\n",
            );
            let s = once(
                &s,
                "$ref: \"#/components/schemas/Epoch\"",
                "$ref: \"#/components/schemas/BackupEpoch\"",
            );
            let s = once(&s, "\n    Epoch:\n", "\n    BackupEpoch:\n");
            header(
                "6.2-preview",
                "8.2 with the 6.4 edits undone (api-version 6.2-preview, Epoch named BackupEpoch)",
            ) + &s
        }
        other => panic!("no derivation for {other}"),
    }
}

const VERSIONS: [&str; 6] = ["6.2-preview", "7.1", "7.2", "8.0", "8.2", "9.0"];

/// The upstream version the live spec is built on.
const LIVE_BASE: &str = "8.2";

/// One deliberate difference of the live spec from its upstream-shaped fixture: a name (the row of spec/README.md's
/// "Deliberate differences" table it implements) and the exact text edits, each of which must match once.
struct Deviation {
    name: &'static str,
    edits: &'static [(&'static str, &'static str)],
}

/// The live spec's lenient deviations, in the order they are applied to the fixture's text.
const DEVIATIONS: [Deviation; 13] = [
    Deviation {
        name: "progress 200 is nullable: the service answers `null` before any on-demand backup",
        edits: &[(
            "          description: The progress of the partition's most recent backup request.\n          content:\n            application/json:\n              schema:\n                $ref: \"#/components/schemas/BackupProgressInfo\"\n",
            "          description: >-\n            The progress of the partition's most recent backup request. The body is `null` when no on-demand backup\n            was ever requested for the partition.\n          content:\n            application/json:\n              schema:\n                nullable: true\n                allOf:\n                  - $ref: \"#/components/schemas/BackupProgressInfo\"\n",
        )],
    },
    Deviation {
        name: "storage secrets are SecretString (format: password), replaced by sf_backup_api::SecretString",
        edits: &[
            (
                "            ConnectionString:\n              description: The storage account connection string. A secret.\n              type: string\n",
                "            ConnectionString:\n              $ref: \"#/components/schemas/SecretString\"\n",
            ),
            (
                "            PrimaryPassword:\n              description: The password of the primary credential. A secret.\n              type: string\n",
                "            PrimaryPassword:\n              $ref: \"#/components/schemas/SecretString\"\n",
            ),
            (
                "            SecondaryPassword:\n              description: The password of the secondary credential. A secret.\n              type: string\n",
                "            SecondaryPassword:\n              $ref: \"#/components/schemas/SecretString\"\n",
            ),
            (
                "\n    ManagedIdentityType:\n",
                "\n    SecretString:\n      description: >-\n        A secret: a storage connection string or a password. Sent as a plain JSON string; never shown when\n        printed.\n      type: string\n      format: password\n    ManagedIdentityType:\n",
            ),
        ],
    },
    Deviation {
        name: "LSN and epoch versions are Int64Text: a string (upstream) or a JSON number (the service's LSN)",
        edits: &[
            (
                "        The progress of a partition's most recent backup request. While it runs only `BackupState` is set; the service\n        may fill placeholders (a 0001-01-01 time stamp, an all-zero id, LSN \"0\") before the backup has ended.\n",
                "        The progress of a partition's most recent backup request. The REST page says that while it runs only\n        `BackupState` is set; the service's code writes every field, with placeholders (a 0001-01-01 time stamp, an\n        all-zero id, LSN 0, nulls) where it has no value, and Failure and Timeout carry only `FailureError`.\n",
            ),
            (
                "        LsnOfLastBackupRecord:\n          description: The log sequence number of the last record in the backup; an int64 carried as a JSON string.\n          type: string\n",
                "        LsnOfLastBackupRecord:\n          $ref: \"#/components/schemas/Int64Text\"\n",
            ),
            (
                "        ConfigurationVersion:\n          description: Grows whenever the replica set's configuration changes; an int64 carried as a JSON string.\n          type: string\n        DataLossVersion:\n          description: Grows whenever data loss is suspected; an int64 carried as a JSON string.\n          type: string\n",
                "        ConfigurationVersion:\n          $ref: \"#/components/schemas/Int64Text\"\n        DataLossVersion:\n          $ref: \"#/components/schemas/Int64Text\"\n    Int64Text:\n      description: >-\n        An int64. Upstream carries it as a JSON string; the service writes some of these fields as JSON numbers,\n        so either is read.\n      oneOf:\n        - description: The number as a decimal string, as upstream documents it.\n          type: string\n        - description: The number as a JSON number, as the service's code writes it.\n          type: integer\n          format: int64\n",
            ),
        ],
    },
    Deviation {
        name: "FabricErrorCodes also keeps an integer: the service writes an undefined code as its HRESULT",
        edits: &[(
            "        The code of a Service Fabric error. Extensible: a code this document does not list is kept as text.\n      anyOf:\n        - $ref: \"#/components/schemas/KnownFabricErrorCodes\"\n        - description: An error code this document does not list.\n          type: string\n",
            "        The code of a Service Fabric error. Extensible: a code this document does not list is kept as text, and a\n        code the service could not name (an HRESULT) is kept as the integer it sent.\n      anyOf:\n        - $ref: \"#/components/schemas/KnownFabricErrorCodes\"\n        - description: An error code this document does not list.\n          type: string\n        - description: An HRESULT the service had no name for, as a JSON number.\n          type: integer\n          format: int64\n",
        )],
    },
    // An extension beyond upstream's backup subset: the fragment started as BackupPartition and
    // GetPartitionBackupProgress only. These two operations are upstream 8.2's own (transcribed in
    // docs/lists-and-topology.md, in this fragment's shapes), inserted whole from
    // xtask/fixtures/backup-lists/; the two deviations after it are our differences from that transcription.
    Deviation {
        name: "extension: upstream 8.2's GetPartitionBackupList and GetBackupsFromBackupLocation with their models, \
               added beyond the backup subset (xtask/fixtures/backup-lists/)",
        edits: &[
            (
                "    see spec/README.md for provenance and every deliberate difference.\n  version: \"6.4\"\n",
                "    see spec/README.md for provenance and every deliberate difference. Also the two backup lists, Get Partition\n    Backup List and Get Backups From Backup Location: an extension beyond that subset, used to find a backup that\n    was written although progress said Timeout.\n  version: \"6.4\"\n",
            ),
            (
                "components:\n  parameters:\n",
                concat!(
                    include_str!("../fixtures/backup-lists/paths.yaml"),
                    "components:\n  parameters:\n"
                ),
            ),
            (
                "  responses:\n    FabricErrorResponse:\n",
                concat!(
                    include_str!("../fixtures/backup-lists/parameters.yaml"),
                    "  responses:\n    FabricErrorResponse:\n"
                ),
            ),
            (
                "\n    FabricError:\n",
                concat!(
                    "\n",
                    include_str!("../fixtures/backup-lists/schemas.yaml"),
                    "    FabricError:\n"
                ),
            ),
        ],
    },
    Deviation {
        name: "backup lists as the service's code answers: ContinuationToken/MaxResults on the partition list, \
               a null ContinuationToken, Items always written, and the nulls of a BackupInfo (FailureError in \
               every example)",
        edits: &[
            (
                "        - $ref: \"#/components/parameters/EndDateTimeFilter\"\n      responses:\n",
                "        - $ref: \"#/components/parameters/EndDateTimeFilter\"\n        - $ref: \"#/components/parameters/ContinuationToken\"\n        - $ref: \"#/components/parameters/MaxResults\"\n      responses:\n",
            ),
            (
                "            further results, then the continuation token is not included in the response.\n          type: string\n",
                "            further results, then the continuation token is not included in the response. The service writes\n            `null` on the last page and the examples `\"\"`: absent, `null` and `\"\"` all mean \"no more pages\".\n          type: string\n          nullable: true\n",
            ),
            (
                "          description: Name of the Service Fabric application this partition backup belongs to.\n          type: string\n",
                "          description: Name of the Service Fabric application this partition backup belongs to.\n          type: string\n          nullable: true\n",
            ),
            (
                "          description: Name of the Service Fabric service this partition backup belongs to.\n          type: string\n        PartitionInformation:\n          $ref: \"#/components/schemas/PartitionInformation\"\n        BackupLocation:\n          description: Location of the backup, relative to the backup store.\n          type: string\n",
                "          description: Name of the Service Fabric service this partition backup belongs to.\n          type: string\n          nullable: true\n        PartitionInformation:\n          nullable: true\n          allOf:\n            - $ref: \"#/components/schemas/PartitionInformation\"\n        BackupLocation:\n          description: Location of the backup, relative to the backup store.\n          type: string\n          nullable: true\n",
            ),
            (
                "          $ref: \"#/components/schemas/BackupType\"\n        EpochOfLastBackupRecord:\n          $ref: \"#/components/schemas/Epoch\"\n",
                "          $ref: \"#/components/schemas/BackupType\"\n        EpochOfLastBackupRecord:\n          nullable: true\n          allOf:\n            - $ref: \"#/components/schemas/Epoch\"\n",
            ),
            (
                "          description: Manifest Version of the service this partition backup belongs to.\n          type: string\n        FailureError:\n          $ref: \"#/components/schemas/FabricErrorError\"\n",
                "          description: Manifest Version of the service this partition backup belongs to.\n          type: string\n          nullable: true\n        FailureError:\n          nullable: true\n          allOf:\n            - $ref: \"#/components/schemas/FabricErrorError\"\n",
            ),
            (
                "        of results can be obtained by executing the same query with the continuation token provided in this list.\n      type: object\n      properties:\n",
                "        of results can be obtained by executing the same query with the continuation token provided in this list.\n      type: object\n      required:\n        - Items\n      properties:\n",
            ),
        ],
    },
    Deviation {
        name: "the list request as the service's code takes it: BackupEntity names required ([Required]), and \
               Latest without a default, so it is sent only when set",
        edits: &[
            (
                "          description: Identifies the Service Fabric application which is being backed up.\n          type: object\n          required:\n            - EntityKind\n",
                "          description: Identifies the Service Fabric application which is being backed up.\n          type: object\n          required:\n            - EntityKind\n            - ApplicationName\n",
            ),
            (
                "          description: Identifies the Service Fabric stateful service which is being backed up.\n          type: object\n          required:\n            - EntityKind\n",
                "          description: Identifies the Service Fabric stateful service which is being backed up.\n          type: object\n          required:\n            - EntityKind\n            - ServiceName\n",
            ),
            (
                "          description: Identifies the Service Fabric stateful partition which is being backed up.\n          type: object\n          required:\n            - EntityKind\n",
                "          description: Identifies the Service Fabric stateful partition which is being backed up.\n          type: object\n          required:\n            - EntityKind\n            - ServiceName\n            - PartitionId\n",
            ),
            (
                "          type: boolean\n          default: false\n        Storage:\n",
                "          type: boolean\n        Storage:\n",
            ),
        ],
    },
    // A second extension: the native gateway's service and partition lists, upstream 8.2's own (transcribed in
    // docs/lists-and-topology.md#the-native-gateways-topology-queries, in this fragment's shapes), inserted whole from
    // xtask/fixtures/service-partition-lists/; the deviation after it is what the gateway's code really writes
    // (§6.5).
    Deviation {
        name: "extension: upstream 8.2's GetServiceInfoList and GetPartitionInfoList with their models, added beyond the backup subset (xtask/fixtures/service-partition-lists/)",
        edits: &[
            (
                "    was written although progress said Timeout.\n  version: \"6.4\"\n",
                "    was written although progress said Timeout. And the two lists of the native gateway, Get Service Info List and\n    Get Partition Info List: an extension that finds an application's services and a service's partitions.\n  version: \"6.4\"\n",
            ),
            (
                "components:\n  parameters:\n",
                concat!(
                    include_str!("../fixtures/service-partition-lists/paths.yaml"),
                    "components:\n  parameters:\n"
                ),
            ),
            (
                "  responses:\n    FabricErrorResponse:\n",
                concat!(
                    include_str!("../fixtures/service-partition-lists/parameters.yaml"),
                    "  responses:\n    FabricErrorResponse:\n"
                ),
            ),
            (
                "\n    FabricError:\n",
                concat!(
                    "\n",
                    include_str!("../fixtures/service-partition-lists/schemas.yaml"),
                    "    FabricError:\n"
                ),
            ),
        ],
    },
    Deviation {
        name: "service and partition lists as the native gateway answers: the token sent raw, a null \"\"-or-absent ContinuationToken, both epoch names, LastQuorumLossDurationInSeconds (Int64Text), int64 members of an unread serializer as Int64Text, no bounds or defaults on read-only counts, unknown members (ServiceMetadata) ignored",
        edits: &[
            (
                "        - $ref: \"#/components/parameters/ApiVersion60\"\n        - $ref: \"#/components/parameters/ContinuationToken\"\n",
                "        - $ref: \"#/components/parameters/ApiVersion60\"\n        - $ref: \"#/components/parameters/RawContinuationToken\"\n",
            ),
            (
                "        - $ref: \"#/components/parameters/ServiceId\"\n        - $ref: \"#/components/parameters/ContinuationToken\"\n",
                "        - $ref: \"#/components/parameters/ServiceId\"\n        - $ref: \"#/components/parameters/RawContinuationToken\"\n",
            ),
            (
                "        $ref: \"#/components/schemas/ApiVersion60\"\n  responses:\n",
                "        $ref: \"#/components/schemas/ApiVersion60\"\n    RawContinuationToken:\n      name: ContinuationToken\n      in: query\n      required: false\n      description: >-\n        The continuation token parameter is used to obtain next set of results. A continuation token with a\n        non-empty value is included in the response of the API when the results from the system do not fit in a\n        single response. When this value is passed to the next API call, the API returns next set of results. If\n        there are no further results, then the continuation token does not contain a value. The value of this\n        parameter should not be URL encoded. It is sent raw: the native HTTP gateway that answers this operation\n        takes the query value as written, without percent-decoding it, so the token (a service name such as\n        `fabric:/app/svc`, or a partition id) must arrive unencoded; the api crate's request hook writes it so.\n      allowReserved: true\n      schema:\n        type: string\n  responses:\n",
            ),
            (
                "            further results, then the continuation token is not included in the response.\n          type: string\n        Items:\n          description: List of service information.\n",
                "            further results, then the continuation token is not included in the response. Absent, `null` and `\"\"`\n            all mean \"no more pages\".\n          type: string\n          nullable: true\n        Items:\n          description: List of service information.\n",
            ),
            (
                "            further results, then the continuation token is not included in the response.\n          type: string\n        Items:\n          description: List of service partition information.\n",
                "            further results, then the continuation token is not included in the response. Absent, `null` and `\"\"`\n            all mean \"no more pages\".\n          type: string\n          nullable: true\n        Items:\n          description: List of service partition information.\n",
            ),
            (
                "                with \"~\" from version 6.0 on.\n              type: string\n            ServiceKind:\n              description: The kind of service (Stateless or Stateful).\n              type: string\n              enum:\n                - Stateful\n",
                "                with \"~\" from version 6.0 on. The 9.1 example shows `/` instead: build a path's serviceId from\n                `Name`, not from this.\n              type: string\n            ServiceKind:\n              description: The kind of service (Stateless or Stateful).\n              type: string\n              enum:\n                - Stateful\n",
            ),
            (
                "                with \"~\" from version 6.0 on.\n              type: string\n            ServiceKind:\n              description: The kind of service (Stateless or Stateful).\n              type: string\n              enum:\n                - Stateless\n",
                "                with \"~\" from version 6.0 on. The 9.1 example shows `/` instead: build a path's serviceId from\n                `Name`, not from this.\n              type: string\n            ServiceKind:\n              description: The kind of service (Stateless or Stateful).\n              type: string\n              enum:\n                - Stateless\n",
            ),
            (
                "          description: Information about a stateful Service Fabric service.\n          type: object\n",
                "          description: >-\n            Information about a stateful Service Fabric service. Members this document does not declare (the 9.1\n            example's `ServiceMetadata`) are ignored.\n          type: object\n",
            ),
            (
                "          description: Information about a stateless Service Fabric service.\n          type: object\n",
                "          description: >-\n            Information about a stateless Service Fabric service. Members this document does not declare (the 9.1\n            example's `ServiceMetadata`) are ignored.\n          type: object\n",
            ),
            (
                "            AuxiliaryReplicaCount:\n              description: >-\n                The auxiliary replica count as a number. To use Auxiliary replicas the following must be true,\n                AuxiliaryReplicaCount < (TargetReplicaSetSize+1)/2 and TargetReplicaSetSize >=3.\n              type: integer\n              format: int64\n",
                "            AuxiliaryReplicaCount:\n              $ref: \"#/components/schemas/Int64Text\"\n",
            ),
            (
                "              type: string\n              format: duration\n            PrimaryEpoch:\n              $ref: \"#/components/schemas/Epoch\"\n",
                "              type: string\n              format: duration\n            LastQuorumLossDurationInSeconds:\n              $ref: \"#/components/schemas/Int64Text\"\n            PrimaryEpoch:\n              $ref: \"#/components/schemas/Epoch\"\n            CurrentConfigurationEpoch:\n              $ref: \"#/components/schemas/Epoch\"\n",
            ),
            (
                "              type: integer\n              default: 1\n              minimum: 1\n",
                "              type: integer\n",
            ),
            (
                "              type: integer\n              default: 0\n              minimum: 0\n              maximum: 100\n",
                "              type: integer\n",
            ),
        ],
    },
    Deviation {
        name: "progress members the service writes as null are nullable: BackupLocation, EpochOfLastBackupRecord, \
               FailureError",
        edits: &[(
            "        BackupLocation:\n          description: Where the backup was written, relative to the root of its storage.\n          type: string\n        EpochOfLastBackupRecord:\n          $ref: \"#/components/schemas/Epoch\"\n        LsnOfLastBackupRecord:\n          $ref: \"#/components/schemas/Int64Text\"\n        FailureError:\n          $ref: \"#/components/schemas/FabricErrorError\"\n    BackupState:\n",
            "        BackupLocation:\n          description: Where the backup was written, relative to the root of its storage.\n          type: string\n          nullable: true\n        EpochOfLastBackupRecord:\n          nullable: true\n          allOf:\n            - $ref: \"#/components/schemas/Epoch\"\n        LsnOfLastBackupRecord:\n          $ref: \"#/components/schemas/Int64Text\"\n        FailureError:\n          nullable: true\n          allOf:\n            - $ref: \"#/components/schemas/FabricErrorError\"\n    BackupState:\n",
        )],
    },
    Deviation {
        name: "what the service's code enforces beyond upstream: BackupTimeout and MaxResults are C# ints (a \
               larger value is refused), and a storage's FriendlyName may be null",
        edits: &[
            (
                "        to invoke this operation again with a greater timeout value. The default value for the same is 10 minutes.\n      schema:\n        type: integer\n        default: 10\n",
                "        to invoke this operation again with a greater timeout value. The default value for the same is 10 minutes.\n        The service binds it as a 32-bit integer (a value outside that range is refused); it accepts a value below 1,\n        whose deadline has passed when the request arrives, so progress turns `Timeout` at once.\n      schema:\n        type: integer\n        format: int64\n        minimum: -2147483648\n        maximum: 2147483647\n        default: 10\n",
            ),
            (
                "        possible that fit in the return message.\n      schema:\n        type: integer\n        format: int64\n        minimum: 0\n        default: 0\n",
                "        possible that fit in the return message. The service binds it as a 32-bit integer: a larger value is\n        refused.\n      schema:\n        type: integer\n        format: int64\n        minimum: 0\n        maximum: 2147483647\n        default: 0\n",
            ),
            (
                "              description: An optional display name for the storage.\n              type: string\n            ConnectionString:",
                "              description: An optional display name for the storage. The service also accepts `null`.\n              type: string\n              nullable: true\n            ConnectionString:",
            ),
            (
                "              description: An optional display name for the storage.\n              type: string\n            Path:",
                "              description: An optional display name for the storage. The service also accepts `null`.\n              type: string\n              nullable: true\n            Path:",
            ),
            (
                "              description: An optional display name for the storage.\n              type: string\n            StorageCredentialsSourceLocation:",
                "              description: An optional display name for the storage. The service also accepts `null`.\n              type: string\n              nullable: true\n            StorageCredentialsSourceLocation:",
            ),
            (
                "              description: An optional display name for the storage.\n              type: string\n            ManagedIdentityType:",
                "              description: An optional display name for the storage. The service also accepts `null`.\n              type: string\n              nullable: true\n            ManagedIdentityType:",
            ),
        ],
    },
    // A third extension: upstream 8.2's restore operations (transcribed from the 8.2 REST pages and spec text in
    // docs/restore.md#the-contract, in this fragment's shapes), inserted whole from xtask/fixtures/restore/; the
    // deviation after it is what the Backup Restore Service's code really writes and takes (docs/restore.md).
    Deviation {
        name: "extension: upstream 8.2's RestorePartition and GetPartitionRestoreProgress with their models, added \
               beyond the backup subset (xtask/fixtures/restore/)",
        edits: &[
            (
                "    Get Partition Info List: an extension that finds an application's services and a service's partitions.\n  version: \"6.4\"\n",
                "    Get Partition Info List: an extension that finds an application's services and a service's partitions. And\n    Restore Partition and Get Partition Restore Progress: an extension that restores a partition from a backup.\n  version: \"6.4\"\n",
            ),
            (
                "components:\n  parameters:\n",
                concat!(
                    include_str!("../fixtures/restore/paths.yaml"),
                    "components:\n  parameters:\n"
                ),
            ),
            (
                "  responses:\n    FabricErrorResponse:\n",
                concat!(
                    include_str!("../fixtures/restore/parameters.yaml"),
                    "  responses:\n    FabricErrorResponse:\n"
                ),
            ),
            (
                "\n    FabricError:\n",
                concat!(
                    "\n",
                    include_str!("../fixtures/restore/schemas.yaml"),
                    "    FabricError:\n"
                ),
            ),
        ],
    },
    Deviation {
        name: "restore as the service's code answers and takes it: progress 200 nullable, RestoredLsn Int64Text, \
               RestoredEpoch and FailureError nullable, SecondariesInProgress a known state, RestoreTimeout a C# \
               int whose newer default is 30 minutes",
        edits: &[
            (
                "          description: A successful operation returns 200 status code and restore progress details.\n          content:\n            application/json:\n              schema:\n                $ref: \"#/components/schemas/RestoreProgressInfo\"\n",
                "          description: >-\n            A successful operation returns 200 status code and restore progress details. The body is `null` when no\n            restore was ever requested for the partition.\n          content:\n            application/json:\n              schema:\n                nullable: true\n                allOf:\n                  - $ref: \"#/components/schemas/RestoreProgressInfo\"\n",
            ),
            (
                "        the partition is restored. `FailureError`: denotes the failure encountered in performing restore operation.\n      type: object\n",
                "        the partition is restored. `FailureError`: denotes the failure encountered in performing restore operation.\n        The service's code writes every member from `Accepted` on, `RestoredEpoch` and `RestoredLsn` holding the\n        chosen backup's; a `Failure` or `Timeout` has a 0001-01-01 time stamp, a null epoch, LSN 0 and no\n        `FailureError`.\n      type: object\n",
            ),
            (
                "        RestoredEpoch:\n          $ref: \"#/components/schemas/Epoch\"\n        RestoredLsn:\n          description: Restored LSN.\n          type: string\n        FailureError:\n          $ref: \"#/components/schemas/FabricErrorError\"\n    RestoreState:\n",
                "        RestoredEpoch:\n          nullable: true\n          allOf:\n            - $ref: \"#/components/schemas/Epoch\"\n        RestoredLsn:\n          $ref: \"#/components/schemas/Int64Text\"\n        FailureError:\n          nullable: true\n          allOf:\n            - $ref: \"#/components/schemas/FabricErrorError\"\n    RestoreState:\n",
            ),
            (
                "        operation completed with success. Failure: operation completed with failure. Timeout: operation timed out.\n      type: string\n      enum:\n        - Invalid\n        - Accepted\n        - RestoreInProgress\n        - Success\n        - Failure\n        - Timeout\n",
                "        operation completed with success. Failure: operation completed with failure. Timeout: operation timed out.\n        SecondariesInProgress (no spec lists it; runtimes 10.0 CU8, 10.1 CU7 and 11.0 on): the primary replica is\n        restored and the secondaries are being restored, the partition's quorum not recovered yet.\n      type: string\n      enum:\n        - Invalid\n        - Accepted\n        - RestoreInProgress\n        - Success\n        - Failure\n        - Timeout\n        - SecondariesInProgress\n",
            ),
            (
                "        invoke this operation again with a greater timeout value. the default value for the same is 10 minutes.\n      schema:\n        type: integer\n        default: 10\n",
                "        invoke this operation again with a greater timeout value. the default value for the same is 10 minutes.\n        Runtimes 10.0 CU8, 10.1 CU7 and 11.0 on default to 30 minutes, so send it only when asked. The service binds\n        it as a 32-bit integer (a value outside that range is refused); a value below 1 has passed its deadline when\n        the work item runs, so progress turns `Timeout` at once.\n      schema:\n        type: integer\n        format: int64\n        minimum: -2147483648\n        maximum: 2147483647\n        default: 10\n",
            ),
        ],
    },
];

/// An upstream-shaped fragment with [`DEVIATIONS`] applied.
fn deviate(upstream: &str) -> String {
    DEVIATIONS
        .iter()
        .fold(upstream.to_string(), |text, deviation| {
            deviation.edits.iter().fold(text, |text, (from, to)| {
                spec_support::replace_once(&text, from, to)
                    .unwrap_or_else(|e| panic!("deviation {:?}: {e}", deviation.name))
            })
        })
}

fn live_spec() -> String {
    spec_support::spec_text().unwrap()
}

#[test]
fn the_live_spec_is_fixture_8_2_plus_the_deliberate_deviations() {
    let expected = deviate(&fixture(LIVE_BASE));
    assert!(
        expected == live_spec(),
        "spec/servicefabric-backup.openapi.yaml is no longer xtask/fixtures/spec-history/{LIVE_BASE}.yaml plus the \
         DEVIATIONS of xtask/tests/spec_history.rs.\n\
         A new deliberate deviation: add it to DEVIATIONS (and a row to spec/README.md's table), then \
         INSTA_UPDATE=always cargo test -p xtask and review deviations_8_2.snap.\n\
         A correction of the upstream transcription: make it in {LIVE_BASE}.yaml too, then \
         SPEC_HISTORY_UPDATE=1 INSTA_UPDATE=always cargo test -p xtask, and review the fixture and .snap diffs.\n\
         A new upstream version: add that version's fixture and point LIVE_BASE at it (spec/README.md, \
         \"Updating to a new upstream version\")."
    );
    // Each deviation changes something, so none is a left-over no-op.
    for deviation in &DEVIATIONS {
        for (from, to) in deviation.edits {
            assert_ne!(from, to, "deviation {:?} has an empty edit", deviation.name);
        }
    }
}

/// What the deviations do to the generated Rust API: the same report CHANGELOG's entry was written from.
#[test]
fn deviations_8_2() {
    let out = xtask(&[
        "spec-diff",
        &format!("xtask/fixtures/spec-history/{LIVE_BASE}.yaml"),
        "spec/servicefabric-backup.openapi.yaml",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    insta::assert_snapshot!(text);
}

#[test]
fn fixtures_match_their_derivation() {
    let base = fixture("8.2");
    let update = std::env::var_os("SPEC_HISTORY_UPDATE").is_some();
    for version in VERSIONS {
        let expected = derive(version, &base);
        let path = fixture_path(version);
        if update {
            std::fs::write(&path, &expected).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == expected,
            "{} differs from its derivation; run SPEC_HISTORY_UPDATE=1 cargo test -p xtask and review",
            path.display()
        );
    }
}

fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(spec_support::workspace_root())
        .output()
        .unwrap()
}

/// The text report between two fixtures, with `--deny-breaking` checked against whether it lists a breaking change.
fn report(old: &str, new: &str) -> String {
    let (a, b) = (
        format!("xtask/fixtures/spec-history/{old}.yaml"),
        format!("xtask/fixtures/spec-history/{new}.yaml"),
    );
    let out = xtask(&["spec-diff", &a, &b]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let denied = xtask(&["spec-diff", &a, &b, "--deny-breaking"]);
    assert_eq!(
        denied.status.success(),
        !text.contains("\nbreaking ("),
        "--deny-breaking disagrees with the report:\n{text}"
    );
    text
}

#[test]
fn history_7_1_to_7_2() {
    insta::assert_snapshot!(report("7.1", "7.2"));
}

#[test]
fn history_7_2_to_8_0() {
    insta::assert_snapshot!(report("7.2", "8.0"));
}

#[test]
fn history_8_0_to_8_2() {
    let text = report("8.0", "8.2");
    assert!(text.contains("no changes"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn history_8_2_to_9_0() {
    insta::assert_snapshot!(report("8.2", "9.0"));
}

#[test]
fn history_6_2_preview_to_8_2() {
    insta::assert_snapshot!(report("6.2-preview", "8.2"));
}

#[test]
fn json_format_is_valid_and_deterministic() {
    let args = [
        "spec-diff",
        "xtask/fixtures/spec-history/7.1.yaml",
        "xtask/fixtures/spec-history/8.0.yaml",
        "--format",
        "json",
    ];
    let (a, b) = (xtask(&args), xtask(&args));
    assert!(a.status.success());
    assert_eq!(a.stdout, b.stdout);
    let v: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    let whats: Vec<&str> = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["what"].as_str().unwrap())
        .collect();
    assert!(
        whats.contains(&"variant DsmsAzureBlobStore added"),
        "{whats:?}"
    );
    assert!(
        whats.contains(&"variant ManagedIdentityAzureBlobStore added"),
        "{whats:?}"
    );
    let counted: u64 = ["breaking", "additive", "docs-only"]
        .iter()
        .map(|k| v["summary"][k].as_u64().unwrap())
        .sum();
    assert_eq!(counted as usize, whats.len());
    assert_eq!(
        v["summary"]["additive"], 3,
        "two storage kinds (additive: the enum is #[non_exhaustive]) and the new type ManagedIdentityType"
    );
    assert_eq!(v["summary"]["breaking"], 0);
}

#[test]
fn git_side_reads_the_committed_spec() {
    let out = xtask(&[
        "spec-diff",
        "git:HEAD",
        "xtask/fixtures/spec-history/9.0.yaml",
        "--format",
        "json",
    ]);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        // A checkout without git history (a source tarball) cannot answer; that is reported, not hidden.
        assert!(err.contains("git"), "{err}");
        return;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["old"], "git:HEAD");
}

#[test]
fn bad_arguments_are_refused() {
    assert!(!xtask(&["spec-diff", "only-one.yaml"]).status.success());
    assert!(
        !xtask(&["spec-diff", "a", "b", "--format", "xml"])
            .status
            .success()
    );
    let missing = xtask(&[
        "spec-diff",
        "no/such.yaml",
        "xtask/fixtures/spec-history/8.2.yaml",
    ]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read no/such.yaml"));
}
