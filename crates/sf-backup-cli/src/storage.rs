//! Turns the storage options (flags or `--storage-json`) into the facade's `BackupStorage`, which then validates
//! the values themselves. Only the rules the facade cannot know live here: which flags belong to which kind, and
//! that an environment variable is ambient while a flag is a deliberate choice.

use std::io::Read;
use std::path::Path;

use sf_backup::{BackupStorage, ManagedIdentityType};
use sf_backup_api::{SecretString, types};

use crate::cli::{IdentityType, StorageArgs, StorageKind};
use crate::failure::Failure;
use crate::redact::Redactor;

/// Every storage option but `--storage-kind` and `--storage-json`, by clap id.
const FLAGS: [&str; 11] = [
    "connection_string",
    "container_name",
    "path",
    "primary_user_name",
    "primary_password",
    "secondary_user_name",
    "secondary_password",
    "storage_credentials_source_location",
    "blob_service_uri",
    "managed_identity_type",
    "friendly_name",
];

/// The options each kind takes.
fn accepted(kind: StorageKind) -> &'static [&'static str] {
    match kind {
        StorageKind::AzureBlobStore => &["connection_string", "container_name", "friendly_name"],
        StorageKind::FileShare => &[
            "path",
            "primary_user_name",
            "primary_password",
            "secondary_user_name",
            "secondary_password",
            "friendly_name",
        ],
        StorageKind::DsmsAzureBlobStore => &[
            "storage_credentials_source_location",
            "container_name",
            "friendly_name",
        ],
        StorageKind::ManagedIdentityAzureBlobStore => &[
            "blob_service_uri",
            "container_name",
            "managed_identity_type",
            "friendly_name",
        ],
    }
}

fn flag(id: &str) -> String {
    format!("--{}", id.replace('_', "-"))
}

fn env_of(id: &str) -> Option<&'static str> {
    match id {
        "connection_string" => Some("SF_BACKUP_CONNECTION_STRING"),
        "primary_password" => Some("SF_BACKUP_PRIMARY_PASSWORD"),
        "secondary_password" => Some("SF_BACKUP_SECONDARY_PASSWORD"),
        _ => None,
    }
}

/// The storage the options describe; `None` when they describe none (the body is then `{}`).
///
/// `on_command_line(id)` tells whether an option was given as a flag. Secrets may also come from the environment;
/// such a value is used when the chosen kind takes it and ignored otherwise, so an exported variable does not
/// break unrelated commands.
pub fn storage(
    args: &StorageArgs,
    on_command_line: impl Fn(&str) -> bool,
    redact: &mut Redactor,
) -> Result<Option<BackupStorage>, Failure> {
    for secret in [
        &args.connection_string,
        &args.primary_password,
        &args.secondary_password,
    ]
    .into_iter()
    .flatten()
    {
        redact.add(secret.expose_secret());
    }
    let given: Vec<&str> = FLAGS.into_iter().filter(|id| on_command_line(id)).collect();

    if let Some(source) = &args.storage_json {
        if let Some(id) = given.first() {
            return Err(Failure::invalid(format!(
                "{} cannot be combined with --storage-json: the JSON describes the whole storage",
                flag(id)
            )));
        }
        if args.storage_kind.is_some() {
            return Err(Failure::invalid(
                "--storage-kind cannot be combined with --storage-json: the JSON names its StorageKind",
            ));
        }
        return from_json_source(source, redact);
    }

    let Some(kind) = args.storage_kind else {
        if let Some(id) = given.first() {
            return Err(Failure::invalid(format!(
                "{} needs --storage-kind (AzureBlobStore, FileShare, DsmsAzureBlobStore or \
                 ManagedIdentityAzureBlobStore)",
                flag(id)
            )));
        }
        return Ok(None);
    };
    let takes = accepted(kind);
    if let Some(id) = given.iter().find(|id| !takes.contains(id)) {
        let list: Vec<String> = takes.iter().map(|id| flag(id)).collect();
        return Err(Failure::invalid(format!(
            "{} does not apply to --storage-kind {}, which takes {}",
            flag(id),
            kind.as_str(),
            list.join(", ")
        )));
    }
    let need = |id: &str, value: &Option<String>| required(kind, id, value);
    let mut storage = match kind {
        StorageKind::AzureBlobStore => BackupStorage::azure_blob_store(
            required(kind, "connection_string", &args.connection_string)?,
            need("container_name", &args.container_name)?,
        ),
        StorageKind::FileShare => {
            let mut share = BackupStorage::file_share(need("path", &args.path)?);
            if let Some((user, password)) =
                credentials("primary", &args.primary_user_name, &args.primary_password)?
            {
                share = share.primary_credentials(user, password);
            }
            if let Some((user, password)) = credentials(
                "secondary",
                &args.secondary_user_name,
                &args.secondary_password,
            )? {
                share = share.secondary_credentials(user, password);
            }
            share
        }
        StorageKind::DsmsAzureBlobStore => BackupStorage::dsms_azure_blob_store(
            need(
                "storage_credentials_source_location",
                &args.storage_credentials_source_location,
            )?,
            need("container_name", &args.container_name)?,
        ),
        StorageKind::ManagedIdentityAzureBlobStore => {
            let identity = match args.managed_identity_type {
                Some(IdentityType::Cluster) => ManagedIdentityType::Cluster,
                Some(IdentityType::Vmss) => ManagedIdentityType::Vmss,
                None => {
                    return Err(Failure::invalid(
                        "--storage-kind ManagedIdentityAzureBlobStore needs --managed-identity-type \
                         (Cluster or VMSS)",
                    ));
                }
            };
            BackupStorage::managed_identity_azure_blob_store(
                need("blob_service_uri", &args.blob_service_uri)?,
                need("container_name", &args.container_name)?,
                identity,
            )
        }
    };
    if let Some(name) = &args.friendly_name {
        storage = storage.friendly_name(name);
    }
    Ok(Some(storage))
}

/// The value of an option `kind` needs, or the error that names it (and its environment variable).
fn required<T: Clone>(kind: StorageKind, id: &str, value: &Option<T>) -> Result<T, Failure> {
    value.clone().ok_or_else(|| {
        let also = env_of(id)
            .map(|var| format!(" (or the {var} environment variable)"))
            .unwrap_or_default();
        Failure::invalid(format!(
            "--storage-kind {} needs {}{also}",
            kind.as_str(),
            flag(id)
        ))
    })
}

/// A user name and password pair of a file share. The facade sends credentials only as a pair, so half a pair
/// is an error here rather than a request the service would read differently. The password is a `sf_backup::Secret` from
/// the flags and whatever the generated type holds from `--storage-json`.
fn credentials<P: Clone>(
    which: &str,
    user: &Option<String>,
    password: &Option<P>,
) -> Result<Option<(String, P)>, Failure> {
    match (user, password) {
        (Some(user), Some(password)) => Ok(Some((user.clone(), password.clone()))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(Failure::invalid(format!(
            "--{which}-user-name needs --{which}-password (or SF_BACKUP_{}_PASSWORD)",
            which.to_uppercase()
        ))),
        (None, Some(_)) => Err(Failure::invalid(format!(
            "--{which}-password needs --{which}-user-name"
        ))),
    }
}

fn from_json_source(
    source: &Path,
    redact: &mut Redactor,
) -> Result<Option<BackupStorage>, Failure> {
    let (name, text) = if source.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|error| {
                Failure::invalid(format!("cannot read --storage-json from stdin: {error}"))
            })?;
        ("stdin".to_owned(), text)
    } else {
        let text = std::fs::read_to_string(source).map_err(|error| {
            Failure::invalid(format!(
                "cannot read --storage-json {}: {error}",
                source.display()
            ))
        })?;
        (source.display().to_string(), text)
    };
    from_json(&text, redact)
        .map_err(|problem| Failure::invalid(format!("--storage-json {name}: {problem}")))
}

/// Parses a BackupStorageDescription (or a whole BackupPartitionDescription) and converts it to the facade type.
fn from_json(text: &str, redact: &mut Redactor) -> Result<Option<BackupStorage>, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|error| describe(&error))?;
    // Remember secrets first, so that no message below can show them.
    for field in ["ConnectionString", "PrimaryPassword", "SecondaryPassword"] {
        for object in [Some(&value), value.get("BackupStorage")]
            .into_iter()
            .flatten()
        {
            if let Some(secret) = object.get(field).and_then(serde_json::Value::as_str) {
                redact.add(secret);
            }
        }
    }
    // Without a StorageKind, the object is a whole BackupPartitionDescription, of which only BackupStorage is
    // sent: any other member would be dropped without a word, so it is refused by name.
    let is_partition_description = value
        .as_object()
        .is_some_and(|object| !object.contains_key("StorageKind"));
    if let Some((member, _)) = value.as_object().and_then(|object| {
        object
            .iter()
            .find(|(key, member)| *key != "BackupStorage" && !member.is_null())
            .filter(|_| is_partition_description)
    }) {
        return Err(format!(
            "{member:?} is not a member sf-backup can send: of a BackupPartitionDescription it sends only \
             BackupStorage; remove it (a BackupStorageDescription given alone names its StorageKind)"
        ));
    }
    let wire = if is_partition_description {
        let description: types::BackupPartitionDescription =
            serde_json::from_value(value.clone()).map_err(|error| describe(&error))?;
        reject_unknown_fields(
            &value,
            &serde_json::to_value(&description).map_err(|e| e.to_string())?,
        )?;
        match description.backup_storage {
            Some(storage) => storage,
            None => return Ok(None),
        }
    } else {
        let storage: types::BackupStorageDescription =
            serde_json::from_value(value.clone()).map_err(|error| describe(&error))?;
        reject_unknown_fields(
            &value,
            &serde_json::to_value(&storage).map_err(|e| e.to_string())?,
        )?;
        storage
    };
    from_wire(wire).map(Some)
}

/// The generated types ignore fields they do not know; a misspelt optional field would then vanish silently.
fn reject_unknown_fields(
    given: &serde_json::Value,
    understood: &serde_json::Value,
) -> Result<(), String> {
    let (Some(given), Some(understood)) = (given.as_object(), understood.as_object()) else {
        return Ok(());
    };
    for (key, value) in given {
        match understood.get(key) {
            None if !value.is_null() => {
                return Err(format!("unknown field {key:?}"));
            }
            Some(inner) => reject_unknown_fields(value, inner)?,
            None => {}
        }
    }
    Ok(())
}

/// serde's messages quote the offending value, which may be a secret; keep the reason and position only.
fn describe(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let reason = match message.split_once(": string \"") {
        Some((before, _)) => format!("{before}: a string"),
        None => message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_owned(),
    };
    if error.line() == 0 {
        format!("not a BackupStorageDescription: {reason}")
    } else {
        format!(
            "not valid JSON for a BackupStorageDescription: {reason} (line {}, column {})",
            error.line(),
            error.column()
        )
    }
}

fn from_wire(wire: types::BackupStorageDescription) -> Result<BackupStorage, String> {
    use types::BackupStorageDescription as Wire;
    Ok(match wire {
        Wire::AzureBlobStore {
            connection_string,
            container_name,
            friendly_name,
        } => with_name(
            BackupStorage::azure_blob_store(connection_string.into_inner(), container_name),
            friendly_name,
        ),
        Wire::FileShare {
            friendly_name,
            path,
            primary_password,
            primary_user_name,
            secondary_password,
            secondary_user_name,
        } => {
            let mut share = BackupStorage::file_share(path);
            let pair = |which, user, password| {
                credentials(which, &user, &password).map_err(|failure| {
                    failure
                        .message
                        .replace("--primary-user-name", "PrimaryUserName")
                        .replace("--primary-password", "PrimaryPassword")
                        .replace("--secondary-user-name", "SecondaryUserName")
                        .replace("--secondary-password", "SecondaryPassword")
                })
            };
            if let Some((user, password)) = pair(
                "primary",
                primary_user_name,
                primary_password.map(SecretString::into_inner),
            )? {
                share = share.primary_credentials(user, password);
            }
            if let Some((user, password)) = pair(
                "secondary",
                secondary_user_name,
                secondary_password.map(SecretString::into_inner),
            )? {
                share = share.secondary_credentials(user, password);
            }
            with_name(share, friendly_name)
        }
        Wire::DsmsAzureBlobStore {
            container_name,
            friendly_name,
            storage_credentials_source_location,
        } => with_name(
            BackupStorage::dsms_azure_blob_store(
                storage_credentials_source_location,
                container_name,
            ),
            friendly_name,
        ),
        Wire::ManagedIdentityAzureBlobStore {
            blob_service_uri,
            container_name,
            friendly_name,
            managed_identity_type,
        } => {
            let identity = match managed_identity_type {
                types::ManagedIdentityType::Cluster => ManagedIdentityType::Cluster,
                types::ManagedIdentityType::Vmss => ManagedIdentityType::Vmss,
                types::ManagedIdentityType::Invalid => {
                    return Err(
                        "ManagedIdentityType \"Invalid\" names no identity; use Cluster or VMSS"
                            .to_owned(),
                    );
                }
                // A value a later spec adds (the generated enum is non-exhaustive).
                other => {
                    return Err(format!(
                        "ManagedIdentityType {other} is not one this version of sf-backup can use; use Cluster or VMSS"
                    ));
                }
            };
            with_name(
                BackupStorage::managed_identity_azure_blob_store(
                    blob_service_uri,
                    container_name,
                    identity,
                ),
                friendly_name,
            )
        }
        // A storage kind a later spec adds (the generated enum is non-exhaustive).
        other => {
            return Err(format!(
                "{} is a storage kind this version of sf-backup cannot use",
                serde_json::to_value(&other)
                    .ok()
                    .and_then(|wire| wire["StorageKind"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| "this".to_owned())
            ));
        }
    })
}

fn with_name(storage: BackupStorage, friendly_name: Option<String>) -> BackupStorage {
    match friendly_name {
        Some(name) => storage.friendly_name(name),
        None => storage,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Option<BackupStorage>, String> {
        from_json(text, &mut Redactor::default())
    }

    #[test]
    fn both_json_forms_are_accepted() {
        let bare = parse(r#"{"StorageKind":"FileShare","Path":"\\\\s\\b"}"#)
            .unwrap()
            .unwrap();
        let wrapped = parse(r#"{"BackupStorage":{"StorageKind":"FileShare","Path":"\\\\s\\b"}}"#)
            .unwrap()
            .unwrap();
        assert_eq!(bare, wrapped);
        assert_eq!(parse("{}").unwrap(), None);
    }

    #[test]
    fn a_partition_description_member_that_cannot_be_sent_is_refused_by_name() {
        for text in [
            r#"{"BackupStorage":{"StorageKind":"FileShare","Path":"p"},"BackupRetentionDays":5}"#,
            r#"{"BackupRetentionDays":5}"#,
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.contains("\"BackupRetentionDays\""), "{error}");
            assert!(error.contains("only BackupStorage"), "{error}");
        }
        // A null member says nothing, and is no loss.
        assert_eq!(parse(r#"{"BackupRetentionDays":null}"#).unwrap(), None);
    }

    #[test]
    fn misspelt_and_unknown_fields_are_rejected() {
        let error =
            parse(r#"{"StorageKind":"FileShare","Path":"p","FriendlyNmae":"x"}"#).unwrap_err();
        assert!(error.contains("FriendlyNmae"), "{error}");
        let error = parse(r#"{"StorageKind":"Tape"}"#).unwrap_err();
        assert!(error.contains("Tape"), "{error}");
    }

    #[test]
    fn json_errors_do_not_quote_string_values() {
        let error = parse(r#"{"StorageKind":"AzureBlobStore","ConnectionString":"s3cr3t-value","ContainerName":7}"#)
            .unwrap_err();
        assert!(!error.contains("s3cr3t"), "{error}");
        let error = parse(r#"{"StorageKind":"AzureBlobStore","ConnectionString":5,"ContainerName":"s3cr3t-value"}"#)
            .unwrap_err();
        assert!(!error.contains("s3cr3t"), "{error}");
    }

    #[test]
    fn half_credentials_and_the_invalid_identity_are_rejected() {
        let error =
            parse(r#"{"StorageKind":"FileShare","Path":"p","PrimaryUserName":"u"}"#).unwrap_err();
        assert!(error.contains("PrimaryPassword"), "{error}");
        let error = parse(
            r#"{"StorageKind":"ManagedIdentityAzureBlobStore","BlobServiceUri":"https://a/","ContainerName":"c","ManagedIdentityType":"Invalid"}"#,
        )
        .unwrap_err();
        assert!(error.contains("Invalid"), "{error}");
    }
}
