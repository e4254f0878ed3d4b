use std::fmt;

use sf_backup_api::types;

use crate::{Error, Secret};

/// Where a backup is written, when it should not go to the storage of the partition's backup policy.
///
/// One constructor per storage kind of the REST API; the optional parts are added with builder methods.
/// Nothing is checked until the request is sent (or [`BackupStorage::validate`] is called): an empty required
/// field or a malformed URI then fails with [`Error::InvalidInput`] before anything reaches the service.
///
/// Secrets (the connection string and passwords) are held in a [`Secret`]: `Debug` shows the kind, container and
/// path, never a secret, and shows URIs without their user info and query.
///
/// ```
/// use sf_backup::{BackupStorage, ManagedIdentityType};
///
/// let azure = BackupStorage::azure_blob_store("DefaultEndpointsProtocol=https;AccountName=a;AccountKey=k", "BackupContainer");
/// assert!(!format!("{azure:?}").contains("AccountKey"));
///
/// let share = BackupStorage::file_share(r"\\myshare\backupshare")
///     .primary_credentials(r"mydomain\backupaccount", "abcd1234")
///     .friendly_name("nightly");
///
/// let identity = BackupStorage::managed_identity_azure_blob_store(
///     "https://managedidentitytest.blob.core.windows.net/",
///     "BackupContainer",
///     ManagedIdentityType::Cluster,
/// );
/// # let _ = (share, identity);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct BackupStorage {
    kind: Kind,
    friendly_name: Option<String>,
    misplaced_credentials: bool,
}

#[derive(Clone, PartialEq, Eq)]
enum Kind {
    AzureBlobStore {
        connection_string: Secret,
        container_name: String,
    },
    FileShare {
        path: String,
        primary: Option<Credentials>,
        secondary: Option<Credentials>,
    },
    DsmsAzureBlobStore {
        storage_credentials_source_location: String,
        container_name: String,
    },
    ManagedIdentityAzureBlobStore {
        blob_service_uri: String,
        container_name: String,
        identity: ManagedIdentityType,
    },
}

#[derive(Clone, PartialEq, Eq)]
struct Credentials {
    user_name: String,
    password: Secret,
}

/// Which managed identity a [`BackupStorage::managed_identity_azure_blob_store`] uses to reach the blob store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ManagedIdentityType {
    /// The cluster's managed identity (`Cluster` on the wire).
    Cluster,
    /// The virtual machine scale set's managed identity (`VMSS` on the wire).
    Vmss,
}

impl BackupStorage {
    /// An Azure blob container reached with a storage account connection string (`AzureBlobStore`).
    pub fn azure_blob_store(
        connection_string: impl Into<Secret>,
        container_name: impl Into<String>,
    ) -> Self {
        Self::of(Kind::AzureBlobStore {
            connection_string: connection_string.into(),
            container_name: container_name.into(),
        })
    }

    /// A file share that every cluster node can reach, such as `\\server\share` (`FileShare`). Add credentials with
    /// [`BackupStorage::primary_credentials`] and [`BackupStorage::secondary_credentials`].
    pub fn file_share(path: impl Into<String>) -> Self {
        Self::of(Kind::FileShare {
            path: path.into(),
            primary: None,
            secondary: None,
        })
    }

    /// An Azure blob container whose credentials the cluster fetches from a DSMS location (`DsmsAzureBlobStore`).
    pub fn dsms_azure_blob_store(
        storage_credentials_source_location: impl Into<String>,
        container_name: impl Into<String>,
    ) -> Self {
        Self::of(Kind::DsmsAzureBlobStore {
            storage_credentials_source_location: storage_credentials_source_location.into(),
            container_name: container_name.into(),
        })
    }

    /// An Azure blob container reached with a managed identity (`ManagedIdentityAzureBlobStore`).
    /// `blob_service_uri` is the storage account's blob endpoint, such as `https://account.blob.core.windows.net/`.
    pub fn managed_identity_azure_blob_store(
        blob_service_uri: impl Into<String>,
        container_name: impl Into<String>,
        identity: ManagedIdentityType,
    ) -> Self {
        Self::of(Kind::ManagedIdentityAzureBlobStore {
            blob_service_uri: blob_service_uri.into(),
            container_name: container_name.into(),
            identity,
        })
    }

    /// A display name for the storage (`FriendlyName`).
    pub fn friendly_name(mut self, friendly_name: impl Into<String>) -> Self {
        self.friendly_name = Some(friendly_name.into());
        self
    }

    /// The account a file share is opened with. Only file shares have credentials: on any other kind,
    /// [`BackupStorage::validate`] fails.
    pub fn primary_credentials(
        self,
        user_name: impl Into<String>,
        password: impl Into<Secret>,
    ) -> Self {
        self.with_credentials(true, user_name.into(), password.into())
    }

    /// The account a file share is opened with when the primary one fails. Only file shares have credentials.
    pub fn secondary_credentials(
        self,
        user_name: impl Into<String>,
        password: impl Into<Secret>,
    ) -> Self {
        self.with_credentials(false, user_name.into(), password.into())
    }

    /// The storage kind as the REST API names it, for example `AzureBlobStore`.
    pub fn kind(&self) -> &'static str {
        match self.kind {
            Kind::AzureBlobStore { .. } => "AzureBlobStore",
            Kind::FileShare { .. } => "FileShare",
            Kind::DsmsAzureBlobStore { .. } => "DsmsAzureBlobStore",
            Kind::ManagedIdentityAzureBlobStore { .. } => "ManagedIdentityAzureBlobStore",
        }
    }

    /// Checks what [`Client::backup_partition`](crate::Client::backup_partition) would check before sending:
    /// required fields are not blank and the blob service URI is an absolute `https` or `http` URL.
    pub fn validate(&self) -> Result<(), Error> {
        if self.misplaced_credentials {
            return Err(Error::invalid(
                "backup storage",
                format!("{} storage takes no user credentials", self.kind()),
                "set credentials only on BackupStorage::file_share",
            ));
        }
        if let Some(name) = &self.friendly_name {
            required("friendly name", name)?;
        }
        match &self.kind {
            Kind::AzureBlobStore {
                connection_string,
                container_name,
            } => {
                if connection_string.expose_secret().trim().is_empty() {
                    return Err(Error::invalid(
                        "connection string",
                        "it is empty",
                        "pass the storage account's connection string, such as \
                         DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...",
                    ));
                }
                required("container name", container_name)
            }
            Kind::FileShare {
                path,
                primary,
                secondary,
            } => {
                check_credentials("primary", primary.as_ref())?;
                check_credentials("secondary", secondary.as_ref())?;
                required("file share path", path)
            }
            Kind::DsmsAzureBlobStore {
                storage_credentials_source_location,
                container_name,
            } => {
                required(
                    "storage credentials source location",
                    storage_credentials_source_location,
                )?;
                required("container name", container_name)
            }
            Kind::ManagedIdentityAzureBlobStore {
                blob_service_uri,
                container_name,
                ..
            } => {
                check_blob_service_uri(blob_service_uri)?;
                required("container name", container_name)
            }
        }
    }

    fn of(kind: Kind) -> Self {
        Self {
            kind,
            friendly_name: None,
            misplaced_credentials: false,
        }
    }

    fn with_credentials(mut self, primary_slot: bool, user_name: String, password: Secret) -> Self {
        let credentials = Credentials {
            user_name,
            password,
        };
        match &mut self.kind {
            Kind::FileShare {
                primary, secondary, ..
            } => *(if primary_slot { primary } else { secondary }) = Some(credentials),
            // Reported by `validate` rather than dropped, so a mistaken builder chain cannot silently lose them.
            _ => self.misplaced_credentials = true,
        }
        self
    }

    /// The wire description of a storage that stays where it is (a listing sends it with every page).
    pub(crate) fn to_api(&self) -> Result<types::BackupStorageDescription, Error> {
        self.validate()?;
        Ok(self.clone().into_checked_api())
    }

    /// The wire description, the strings moved rather than copied: for a request that owns its storage.
    pub(crate) fn into_api(self) -> Result<types::BackupStorageDescription, Error> {
        self.validate()?;
        Ok(self.into_checked_api())
    }

    /// The wire description of a storage that [`BackupStorage::validate`] accepted.
    fn into_checked_api(self) -> types::BackupStorageDescription {
        let friendly_name = self.friendly_name;
        match self.kind {
            Kind::AzureBlobStore {
                connection_string,
                container_name,
            } => types::BackupStorageDescription::AzureBlobStore {
                connection_string: connection_string.into_exposed().into(),
                container_name,
                friendly_name,
            },
            Kind::FileShare {
                path,
                primary,
                secondary,
            } => {
                let (primary_user_name, primary_password) = wire_credentials(primary);
                let (secondary_user_name, secondary_password) = wire_credentials(secondary);
                types::BackupStorageDescription::FileShare {
                    path,
                    primary_user_name,
                    primary_password,
                    secondary_user_name,
                    secondary_password,
                    friendly_name,
                }
            }
            Kind::DsmsAzureBlobStore {
                storage_credentials_source_location,
                container_name,
            } => types::BackupStorageDescription::DsmsAzureBlobStore {
                storage_credentials_source_location,
                container_name,
                friendly_name,
            },
            Kind::ManagedIdentityAzureBlobStore {
                blob_service_uri,
                container_name,
                identity,
            } => types::BackupStorageDescription::ManagedIdentityAzureBlobStore {
                // Sent without surrounding blanks, as it was checked.
                blob_service_uri: if blob_service_uri.trim().len() == blob_service_uri.len() {
                    blob_service_uri
                } else {
                    blob_service_uri.trim().to_owned()
                },
                container_name,
                friendly_name,
                managed_identity_type: match identity {
                    ManagedIdentityType::Cluster => types::ManagedIdentityType::Cluster,
                    ManagedIdentityType::Vmss => types::ManagedIdentityType::Vmss,
                },
            },
        }
    }
}

fn required(what: &'static str, value: &str) -> Result<(), Error> {
    if value.trim().is_empty() {
        return Err(Error::invalid(
            what,
            "it is empty",
            format!("pass a non-empty {what}"),
        ));
    }
    Ok(())
}

fn check_credentials(which: &'static str, credentials: Option<&Credentials>) -> Result<(), Error> {
    match credentials {
        Some(credentials) if credentials.user_name.trim().is_empty() => Err(Error::invalid(
            "file share credentials",
            format!("the {which} user name is empty"),
            "pass a user name such as mydomain\\backupaccount",
        )),
        _ => Ok(()),
    }
}

fn wire_credentials(
    credentials: Option<Credentials>,
) -> (Option<String>, Option<sf_backup_api::SecretString>) {
    match credentials {
        Some(Credentials {
            user_name,
            password,
        }) => (Some(user_name), Some(password.into_exposed().into())),
        None => (None, None),
    }
}

/// Checks a blob service URI; the one sent is the same without surrounding blanks.
fn check_blob_service_uri(uri: &str) -> Result<(), Error> {
    const HOW: &str =
        "pass the storage account's blob endpoint, such as https://account.blob.core.windows.net/";
    // Shown without user info and query: a SAS signature or a password may sit there.
    let shown = crate::uri::shown(uri);
    let parsed = url::Url::parse(uri.trim()).map_err(|error| {
        Error::invalid(
            "blob service URI",
            format!("{shown} is not an absolute URL ({error})"),
            HOW,
        )
    })?;
    if !matches!(parsed.scheme(), "https" | "http") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(Error::invalid(
            "blob service URI",
            format!("{shown} is not an http(s) URL with a host"),
            HOW,
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() || parsed.query().is_some() {
        // A SAS token or user info in the URI would be a secret outside a `Secret`; managed identity needs neither.
        return Err(Error::invalid(
            "blob service URI",
            format!("{shown} carries credentials or a query string"),
            HOW,
        ));
    }
    Ok(())
}

/// A URI in `Debug` output without its user info and query, where a SAS signature or a password would sit (such a
/// URI is refused when sent, but may well be printed first).
struct ShownUri<'a>(&'a str);

impl fmt::Debug for ShownUri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::uri::shown(self.0))
    }
}

impl fmt::Debug for BackupStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Wire field names, so a logged storage reads like the request body it becomes, minus the secrets.
        let mut out = f.debug_struct(self.kind());
        match &self.kind {
            Kind::AzureBlobStore {
                connection_string,
                container_name,
            } => {
                out.field("ConnectionString", connection_string)
                    .field("ContainerName", container_name);
            }
            Kind::FileShare {
                path,
                primary,
                secondary,
            } => {
                out.field("Path", path);
                if let Some(primary) = primary {
                    out.field("PrimaryUserName", &primary.user_name)
                        .field("PrimaryPassword", &primary.password);
                }
                if let Some(secondary) = secondary {
                    out.field("SecondaryUserName", &secondary.user_name)
                        .field("SecondaryPassword", &secondary.password);
                }
            }
            Kind::DsmsAzureBlobStore {
                storage_credentials_source_location,
                container_name,
            } => {
                out.field(
                    "StorageCredentialsSourceLocation",
                    &ShownUri(storage_credentials_source_location),
                )
                .field("ContainerName", container_name);
            }
            Kind::ManagedIdentityAzureBlobStore {
                blob_service_uri,
                container_name,
                identity,
            } => {
                out.field("BlobServiceUri", &ShownUri(blob_service_uri))
                    .field("ContainerName", container_name)
                    .field("ManagedIdentityType", identity);
            }
        }
        if let Some(friendly_name) = &self.friendly_name {
            out.field("FriendlyName", friendly_name);
        }
        out.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(storage: &BackupStorage) -> serde_json::Value {
        serde_json::to_value(storage.to_api().unwrap()).unwrap()
    }

    /// A request moves its storage into the body (`into_api`), a listing copies it (`to_api`): same bytes.
    #[test]
    fn the_owned_conversion_sends_what_the_borrowed_one_sends() {
        let storages = [
            BackupStorage::azure_blob_store("AccountKey=k", "c").friendly_name("f"),
            BackupStorage::file_share(r"\\s\b")
                .primary_credentials("a", "pa")
                .secondary_credentials("b", "pb"),
            BackupStorage::dsms_azure_blob_store("https://dsms.example/l", "c"),
            // Blanks around the blob service URI are not sent, by either conversion.
            BackupStorage::managed_identity_azure_blob_store(
                "  https://a.blob.core.windows.net/ ",
                "c",
                ManagedIdentityType::Cluster,
            ),
        ];
        for storage in storages {
            let borrowed = wire(&storage);
            let owned = serde_json::to_value(storage.into_api().unwrap()).unwrap();
            assert_eq!(owned, borrowed);
        }
        let value = wire(&BackupStorage::managed_identity_azure_blob_store(
            " https://a.blob.core.windows.net/\t",
            "c",
            ManagedIdentityType::Cluster,
        ));
        assert_eq!(value["BlobServiceUri"], "https://a.blob.core.windows.net/");
    }

    /// The owned conversion refuses what `validate` refuses, with the same error.
    #[test]
    fn the_owned_conversion_checks_first() {
        for storage in [
            BackupStorage::azure_blob_store(" ", "c"),
            BackupStorage::azure_blob_store("k", "c").primary_credentials("u", "p"),
            BackupStorage::file_share("").primary_credentials(" ", "p"),
            BackupStorage::managed_identity_azure_blob_store(
                "ftp://x",
                "c",
                ManagedIdentityType::Vmss,
            ),
        ] {
            let expected = storage.validate().unwrap_err().to_string();
            assert_eq!(storage.into_api().unwrap_err().to_string(), expected);
        }
    }
}
