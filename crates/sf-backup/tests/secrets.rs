//! Secrets never show in `Debug`, `Display` or error text.

use sf_backup::{BackupStorage, Client, PartitionId, Secret};

const PARTITION: &str = "1daae3f5-7fd6-42e9-b1ba-8c05f873994d";

fn partition() -> PartitionId {
    PARTITION.parse().unwrap()
}

const CONNECTION_STRING: &str =
    "DefaultEndpointsProtocol=https;AccountName=storagesample;AccountKey=S3CRET-KEY==";
const PRIMARY: &str = "primary-P@ssw0rd";
const SECONDARY: &str = "secondary-P@ssw0rd";

fn assert_hidden(text: &str) {
    for secret in [CONNECTION_STRING, "S3CRET-KEY", PRIMARY, SECONDARY] {
        assert!(!text.contains(secret), "secret {secret:?} leaked in {text}");
    }
}

fn storages() -> Vec<BackupStorage> {
    vec![
        BackupStorage::azure_blob_store(CONNECTION_STRING, "BackupContainer")
            .friendly_name("azure"),
        BackupStorage::file_share(r"\\myshare\backupshare")
            .primary_credentials(r"mydomain\backupaccount", PRIMARY)
            .secondary_credentials(r"mydomain\other", SECONDARY),
        // Invalid on purpose: the errors they produce must not reveal the secrets either.
        BackupStorage::azure_blob_store(CONNECTION_STRING, ""),
        BackupStorage::file_share("")
            .primary_credentials("u", PRIMARY)
            .secondary_credentials("", SECONDARY),
        BackupStorage::azure_blob_store(CONNECTION_STRING, "c").primary_credentials("u", PRIMARY),
    ]
}

#[test]
fn debug_shows_the_shape_but_not_the_secrets() {
    let azure = format!("{:?}", storages()[0]);
    assert_hidden(&azure);
    assert!(azure.contains("AzureBlobStore"), "{azure}");
    assert!(azure.contains("ConnectionString: <redacted>"), "{azure}");
    assert!(azure.contains("BackupContainer"), "{azure}");
    let share = format!("{:#?}", storages()[1]);
    assert_hidden(&share);
    assert!(
        share.contains(r"myshare") && share.contains("backupaccount"),
        "{share}"
    );
}

#[test]
fn secrets_redact_themselves() {
    let secret = Secret::new(PRIMARY);
    assert_hidden(&format!("{secret:?} {secret} {secret:#?}"));
    assert_eq!(secret.expose_secret(), PRIMARY);
}

#[tokio::test]
async fn requests_and_errors_do_not_reveal_secrets() {
    let client = Client::new("http://127.0.0.1:9").unwrap();
    for storage in storages() {
        if let Err(error) = storage.validate() {
            assert_hidden(&format!("{error} {error:?}"));
        }
        let request = client
            .backup_partition(partition())
            .storage(storage.clone());
        assert_hidden(&format!("{request:?}"));
        let error = client
            .backup_partition(partition())
            .storage(storage)
            .server_timeout(std::time::Duration::ZERO)
            .await
            .unwrap_err();
        assert_hidden(&format!("{error} {error:?}"));
    }
}

/// Every output path at once: fresh random secrets through every storage kind, a bearer token and a PFX
/// password, over https to the testkit; then `Debug` and `Display` of every value and error the run produced, and
/// everything `tracing` (and the `log` records of rustls and reqwest) emitted at TRACE level.
mod leak {
    use std::io::Write;
    use std::sync::{Mutex, OnceLock};
    use std::time::Duration;

    use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    use sf_backup::{
        BackupStorage, Client, ClientBuilder, ManagedIdentityType, PartitionId, Secret, TokenError,
        WaitOptions,
    };
    use sf_backup_testkit::{Config, Fault, Gateway, Operation, TlsConfig};

    static TRACE: Mutex<Vec<u8>> = Mutex::new(Vec::new());

    struct Capture;

    impl Write for Capture {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            TRACE.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A subscriber for the whole test binary, at the most verbose level, with span fields and span events.
    fn capture_tracing() {
        static INSTALLED: OnceLock<()> = OnceLock::new();
        INSTALLED.get_or_init(|| {
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
                .with_ansi(false)
                .with_writer(|| Capture)
                .try_init()
                .expect("no other subscriber in this test binary");
        });
    }

    fn random(label: &str) -> String {
        format!(
            "{label}-{:016x}{:016x}",
            fastrand::u64(..),
            fastrand::u64(..)
        )
    }

    struct Secrets {
        connection_string: String,
        account_key: String,
        primary: String,
        secondary: String,
        sas: String,
        uri_password: String,
        endpoint_password: String,
        token: String,
        pfx_password: String,
    }

    impl Secrets {
        fn new() -> Self {
            let account_key = random("account-key");
            Self {
                connection_string: format!(
                    "DefaultEndpointsProtocol=https;AccountName=leak;AccountKey={account_key}"
                ),
                account_key,
                primary: random("primary"),
                secondary: random("secondary"),
                sas: random("sas"),
                uri_password: random("uri-password"),
                endpoint_password: random("endpoint-password"),
                token: random("token"),
                pfx_password: random("pfx-password"),
            }
        }

        fn all(&self) -> [&str; 9] {
            [
                &self.connection_string,
                &self.account_key,
                &self.primary,
                &self.secondary,
                &self.sas,
                &self.uri_password,
                &self.endpoint_password,
                &self.token,
                &self.pfx_password,
            ]
        }

        /// One valid storage of each kind, with every optional field, and invalid ones that carry secrets.
        fn storages(&self) -> (Vec<BackupStorage>, Vec<BackupStorage>) {
            let valid = vec![
                BackupStorage::azure_blob_store(self.connection_string.as_str(), "BackupContainer")
                    .friendly_name("azure"),
                BackupStorage::file_share(r"\\myshare\backupshare")
                    .primary_credentials(r"mydomain\backup", self.primary.as_str())
                    .secondary_credentials(r"mydomain\other", self.secondary.as_str())
                    .friendly_name("share"),
                BackupStorage::dsms_azure_blob_store("https://dsms.example/location", "c")
                    .friendly_name("dsms"),
                BackupStorage::managed_identity_azure_blob_store(
                    "https://leak.blob.core.windows.net/",
                    "c",
                    ManagedIdentityType::Vmss,
                )
                .friendly_name("identity"),
            ];
            let invalid = vec![
                BackupStorage::azure_blob_store(self.connection_string.as_str(), " "),
                BackupStorage::file_share(" ")
                    .primary_credentials("u", self.primary.as_str())
                    .secondary_credentials("", self.secondary.as_str()),
                BackupStorage::dsms_azure_blob_store("https://dsms.example/location", "c")
                    .primary_credentials("u", self.primary.as_str()),
                BackupStorage::managed_identity_azure_blob_store(
                    format!(
                        "https://leak.blob.core.windows.net/?sv=2022&sig={}",
                        self.sas
                    ),
                    "c",
                    ManagedIdentityType::Cluster,
                ),
                BackupStorage::managed_identity_azure_blob_store(
                    format!(
                        "ftp://user:{}@leak.blob.core.windows.net/",
                        self.uri_password
                    ),
                    "c",
                    ManagedIdentityType::Cluster,
                ),
                BackupStorage::managed_identity_azure_blob_store(
                    format!("https://user:{}@[leak/", self.uri_password),
                    "c",
                    ManagedIdentityType::Cluster,
                ),
            ];
            (valid, invalid)
        }
    }

    struct Tls {
        server_pem: String,
        server_key: String,
        server_sha1: String,
        client_ca_pem: String,
        pfx: std::path::PathBuf,
    }

    fn tls(secrets: &Secrets) -> Tls {
        let server_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["cluster.example".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "cluster.example");
        let server = params.self_signed(&server_key).unwrap();
        let server_sha1 =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, server.der())
                .as_ref()
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect();

        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "clients CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let admin_key = KeyPair::generate().unwrap();
        let mut admin_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        admin_params
            .distinguished_name
            .push(DnType::CommonName, "admin");
        let admin = admin_params.signed_by(&admin_key, &issuer).unwrap();

        let chain = PrivateKeyChain::new(
            "admin",
            PrivateKey::from_der(&admin_key.serialize_der()).unwrap(),
            [Certificate::from_der(admin.der()).unwrap()],
        );
        let mut store = KeyStore::new();
        store.add_entry("admin", KeyStoreEntry::PrivateKeyChain(chain));
        let pfx = std::env::temp_dir().join(format!(
            "sf-backup-leak-{}-{}.pfx",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::write(&pfx, store.writer(&secrets.pfx_password).write().unwrap()).unwrap();
        Tls {
            server_pem: server.pem(),
            server_key: server_key.serialize_pem(),
            server_sha1,
            client_ca_pem: ca.pem(),
            pfx,
        }
    }

    /// Everything the run printed or could print, one entry per value.
    #[derive(Default)]
    struct Shown(Vec<String>);

    impl Shown {
        fn debug(&mut self, value: &impl std::fmt::Debug) {
            self.0.push(format!("{value:?}"));
            self.0.push(format!("{value:#?}"));
        }

        fn both(&mut self, value: &(impl std::fmt::Debug + std::fmt::Display)) {
            self.debug(value);
            self.0.push(value.to_string());
        }

        fn error(&mut self, error: &(dyn std::error::Error + 'static)) {
            self.0.push(format!("{error} {error:?}"));
            let mut source = error.source();
            while let Some(inner) = source {
                self.0.push(format!("{inner} {inner:?}"));
                source = inner.source();
            }
        }
    }

    fn partition() -> PartitionId {
        uuid_like().parse().unwrap()
    }

    fn uuid_like() -> String {
        format!(
            "{:08x}-0000-4000-8000-{:012x}",
            fastrand::u32(..),
            fastrand::u64(..) & 0xffff_ffff_ffff
        )
    }

    #[tokio::test]
    async fn no_secret_reaches_debug_display_errors_or_tracing() {
        capture_tracing();
        let secrets = Secrets::new();
        let tls = tls(&secrets);
        let gateway = Gateway::start(Config {
            tls: Some(
                TlsConfig::from_pem(tls.server_pem.clone(), tls.server_key.clone())
                    .require_client_certificates(tls.client_ca_pem.clone()),
            ),
            accepted_ms: Some(10),
            in_progress_ms: Some(20),
            ..Config::default()
        })
        .await
        .unwrap();
        let secured = |builder: ClientBuilder| {
            builder
                .endpoint(gateway.url())
                .client_certificate_pkcs12_file(&tls.pfx, secrets.pfx_password.as_str())
                .server_certificate_thumbprint(&tls.server_sha1)
        };
        let mut shown = Shown::default();

        for secret in secrets.all() {
            shown.both(&Secret::new(secret));
        }
        let builder = secured(Client::builder()).bearer_token(secrets.token.as_str());
        shown.debug(&builder);
        let client = builder.build().unwrap();
        shown.debug(&client);
        let token = secrets.token.clone();
        let with_provider = secured(Client::builder())
            .bearer_token_provider(move || {
                let token = token.clone();
                async move { Ok::<_, TokenError>(Secret::new(token)) }
            })
            .build()
            .unwrap();
        shown.debug(&with_provider);

        let (valid, invalid) = secrets.storages();
        let fast = || {
            WaitOptions::new()
                .poll_interval(Duration::from_millis(10))
                .wait_timeout(Duration::from_secs(30))
        };
        for storage in &valid {
            shown.debug(storage);
            storage.validate().unwrap();
            for client in [&client, &with_provider] {
                let request = client
                    .backup_partition(partition())
                    .storage(storage.clone());
                shown.debug(&request);
                request.await.unwrap();
                let backup = client
                    .backup_partition(partition())
                    .storage(storage.clone())
                    .wait(fast())
                    .await
                    .unwrap();
                shown.debug(&backup);
                let progress = client.backup_progress(partition()).await.unwrap();
                shown.debug(&progress);
                shown.both(&progress.state);
            }
            // The service refuses, answers garbage, or fails the backup.
            for fault in [
                Fault::fabric_error(409, "FABRIC_E_BACKUP_IN_PROGRESS"),
                Fault::html(502),
                Fault::close_connection(),
            ] {
                gateway.push_fault(fault.on(Operation::Backup));
                let error = client
                    .backup_partition(partition())
                    .storage(storage.clone())
                    .await
                    .unwrap_err();
                shown.error(&error);
            }
            let id = partition();
            gateway.script_outcome(
                *id.as_uuid(),
                sf_backup_testkit::Outcome::failure(
                    "FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR",
                    "copy failed",
                ),
            );
            let error = client
                .backup_partition(id)
                .storage(storage.clone())
                .wait(fast())
                .await
                .unwrap_err();
            shown.error(&error);
        }
        for storage in &invalid {
            shown.debug(storage);
            shown.error(&storage.validate().unwrap_err());
            let error = client
                .backup_partition(partition())
                .storage(storage.clone())
                .await
                .unwrap_err();
            shown.error(&error);
            let error = client
                .backup_partition(partition())
                .storage(storage.clone())
                .wait(fast())
                .await
                .unwrap_err();
            shown.error(&error);
        }

        // Setup errors: a wrong PFX password, endpoints with credentials, a failing token provider.
        let wrong = secured(Client::builder())
            .client_certificate_pkcs12_file(&tls.pfx, secrets.secondary.as_str())
            .build()
            .unwrap_err();
        shown.error(&wrong);
        for endpoint in [
            format!("https://admin:{}@cluster:19080", secrets.endpoint_password),
            format!("https://cluster:19080/?sig={}", secrets.endpoint_password),
            format!("ftp://admin:{}@cluster:19080", secrets.endpoint_password),
            format!("https://admin:{}@[cluster", secrets.endpoint_password),
        ] {
            let error = Client::builder().endpoint(endpoint).build().unwrap_err();
            shown.error(&error);
        }
        let token = secrets.token.clone();
        let failing = Client::builder()
            .endpoint(gateway.url())
            .bearer_token_provider(move || {
                let token = token.clone();
                async move { Err::<Secret, TokenError>(format!("refused {}", token.len()).into()) }
            })
            .build()
            .unwrap();
        shown.error(&failing.backup_progress(partition()).await.unwrap_err());
        let bad_token = Client::builder()
            .endpoint(gateway.url())
            .bearer_token(format!("{}\n", secrets.token))
            .build()
            .unwrap();
        shown.error(&bad_token.backup_progress(partition()).await.unwrap_err());

        // Transport failures with the token and secrets ready to go: a refused certificate, nobody listening.
        let refused = Client::builder()
            .endpoint(gateway.url())
            .client_certificate_pkcs12_file(&tls.pfx, secrets.pfx_password.as_str())
            .server_certificate_thumbprint("00".repeat(20))
            .bearer_token(secrets.token.as_str())
            .build()
            .unwrap();
        let journal_before = gateway.journal().len();
        let error = refused
            .backup_partition(partition())
            .storage(valid[0].clone())
            .await
            .unwrap_err();
        shown.error(&error);
        assert_eq!(
            gateway.journal().len(),
            journal_before,
            "a refused server got a request"
        );
        let nobody = Client::builder()
            .endpoint("http://127.0.0.1:9")
            .bearer_token(secrets.token.as_str())
            .build()
            .unwrap();
        let error = nobody
            .backup_partition(partition())
            .storage(valid[1].clone())
            .await
            .unwrap_err();
        shown.error(&error);

        // The testkit's journal is printed by tests too.
        let journal = gateway.journal();
        shown.debug(&journal);
        shown.debug(&gateway);

        // The secrets did travel, so the paths above carried them.
        assert!(
            journal
                .iter()
                .any(|r| r.header("authorization") == Some(&format!("Bearer {}", secrets.token)))
        );
        for secret in [
            &secrets.connection_string,
            &secrets.primary,
            &secrets.secondary,
        ] {
            assert!(
                journal
                    .iter()
                    .any(|r| String::from_utf8_lossy(&r.body).contains(secret.as_str())),
                "{secret} was never sent"
            );
        }

        // What the gateway records as written holds each storage as the generated type, and tests print it too;
        // so do the generated request types a body decodes into.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while gateway
            .written_backups()
            .iter()
            .all(|w| w.storage.is_none())
            && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let written = gateway.written_backups();
        assert!(
            written.iter().any(|w| w.storage.is_some()),
            "a backup to a given storage was written"
        );
        shown.debug(&written);
        let mut decoded = 0;
        for request in &journal {
            if let Ok(body) = serde_json::from_slice::<
                sf_backup_api::types::BackupPartitionDescription,
            >(&request.body)
                && body.backup_storage.is_some()
            {
                shown.debug(&body);
                decoded += 1;
            }
        }
        assert!(decoded >= 3, "the generated request types were printed");

        let trace = String::from_utf8(TRACE.lock().unwrap().clone()).unwrap();
        assert!(
            trace.contains("sf_backup") && trace.contains("rustls"),
            "the subscriber saw the requests and the handshakes"
        );
        shown.0.push(trace);
        for text in &shown.0 {
            for secret in secrets.all() {
                assert!(!text.contains(secret), "{secret} leaked in:\n{text}");
            }
        }
        std::fs::remove_file(&tls.pfx).unwrap();
    }
}
