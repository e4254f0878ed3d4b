//! Secured clusters against the testkit gateway serving https: client certificates, the ways of validating the
//! cluster certificate, and bearer tokens. Certificates are made fresh by each test.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use p12_keystore::{
    Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKey,
    PrivateKeyChain,
};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use sf_backup::{Client, ClientBuilder, Error, PartitionId, Secret, TokenError};
use sf_backup_testkit::{Config, Gateway, TlsConfig};

const PARTITION: &str = "1daae3f5-7fd6-42e9-b1ba-8c05f873994d";

/// A certificate with its key, as PEM.
struct Cert {
    pem: String,
    key: String,
    der: Vec<u8>,
}

impl Cert {
    fn sha1(&self) -> String {
        hex(&digest(
            &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            &self.der,
        ))
    }

    fn sha256(&self) -> String {
        hex(&digest(&aws_lc_rs::digest::SHA256, &self.der))
    }

    fn identity_pem(&self) -> String {
        format!("{}{}", self.pem, self.key)
    }

    fn p12_certificate(&self) -> Certificate {
        Certificate::from_der(&self.der).unwrap()
    }

    /// This certificate and its key as a PKCS#12 archive, followed in the chain by `issuers`.
    fn pfx(&self, issuers: &[&Cert], password: &str, legacy: bool) -> Vec<u8> {
        let key = KeyPair::from_pem(&self.key).unwrap().serialize_der();
        let chain = PrivateKeyChain::new(
            self.sha1(),
            PrivateKey::from_der(&key).unwrap(),
            std::iter::once(self)
                .chain(issuers.iter().copied())
                .map(Cert::p12_certificate),
        );
        let mut store = KeyStore::new();
        store.add_entry("admin", KeyStoreEntry::PrivateKeyChain(chain));
        let writer = store.writer(password);
        // What older Windows versions export by default, still common for cluster certificates.
        let writer = if legacy {
            writer
                .encryption_algorithm(EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc)
                .mac_algorithm(MacAlgorithm::HmacSha1)
        } else {
            writer
        };
        writer.write().unwrap()
    }
}

fn digest(algorithm: &'static aws_lc_rs::digest::Algorithm, data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(algorithm, data).as_ref().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn params(common_name: &str, names: &[&str]) -> CertificateParams {
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params
}

/// A CA that can issue certificates.
struct Ca {
    cert: Cert,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(common_name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = params(common_name, &[]);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let certificate = params.self_signed(&key).unwrap();
        let cert = Cert {
            pem: certificate.pem(),
            key: key.serialize_pem(),
            der: certificate.der().to_vec(),
        };
        Self {
            cert,
            issuer: Issuer::new(params, key),
        }
    }

    fn issue(&self, common_name: &str, names: &[&str]) -> Cert {
        let key = KeyPair::generate().unwrap();
        let certificate = params(common_name, names)
            .signed_by(&key, &self.issuer)
            .unwrap();
        Cert {
            pem: certificate.pem(),
            key: key.serialize_pem(),
            der: certificate.der().to_vec(),
        }
    }
}

/// A self-signed certificate, the usual cluster certificate of a test cluster.
fn self_signed(common_name: &str, names: &[&str]) -> Cert {
    let key = KeyPair::generate().unwrap();
    let certificate = params(common_name, names).self_signed(&key).unwrap();
    Cert {
        pem: certificate.pem(),
        key: key.serialize_pem(),
        der: certificate.der().to_vec(),
    }
}

async fn https_gateway(chain_pem: String, key: &str, client_ca: Option<&Cert>) -> Gateway {
    let mut tls = TlsConfig::from_pem(chain_pem, key);
    if let Some(ca) = client_ca {
        tls = tls.require_client_certificates(ca.pem.clone());
    }
    Gateway::start(Config {
        tls: Some(tls),
        ..Config::default()
    })
    .await
    .unwrap()
}

fn builder(gateway: &Gateway) -> ClientBuilder {
    assert!(gateway.url().starts_with("https://127.0.0.1:"));
    Client::builder().endpoint(gateway.url())
}

async fn progress(client: &Client) -> Result<(), Error> {
    let id: PartitionId = PARTITION.parse().unwrap();
    client.backup_progress(id).await.map(drop)
}

/// The request failed in the TLS handshake: nothing reached the gateway.
async fn assert_refused(client: &Client, gateway: &Gateway, expected: &[&str]) -> String {
    let error = progress(client).await.unwrap_err();
    let text = error.to_string();
    // Refused in the handshake, so certainly not processed: safe to fix the settings and try again.
    assert!(
        matches!(
            error,
            Error::Transport {
                may_have_reached_server: false,
                ..
            }
        ),
        "{error:?}"
    );
    for part in expected {
        assert!(text.contains(part), "{part:?} not in {text}");
    }
    assert_eq!(gateway.journal().len(), 0, "a request reached the gateway");
    text
}

#[tokio::test]
async fn the_right_client_certificate_is_accepted() {
    let clients = Ca::new("clients CA");
    let server = self_signed("cluster.example", &["cluster.example"]);
    let gateway = https_gateway(server.pem.clone(), &server.key, Some(&clients.cert)).await;
    let admin = clients.issue("admin", &[]);

    let client = builder(&gateway)
        .server_certificate_thumbprint(server.sha1())
        .client_certificate_pem_parts(admin.pem.clone(), admin.key.clone())
        .build()
        .unwrap();
    progress(&client).await.unwrap();

    let combined = builder(&gateway)
        .server_certificate_thumbprint(server.sha1())
        .client_certificate_pem(admin.identity_pem())
        .build()
        .unwrap();
    progress(&combined).await.unwrap();
    assert_eq!(gateway.journal().len(), 2);
}

#[tokio::test]
async fn client_certificate_files_are_read_at_build() {
    let clients = Ca::new("clients CA");
    let server = self_signed("cluster.example", &["cluster.example"]);
    let gateway = https_gateway(server.pem.clone(), &server.key, Some(&clients.cert)).await;
    let admin = clients.issue("admin", &[]);
    let dir = temp_dir("pem-files");
    let (combined, cert, key) = (
        dir.join("admin.pem"),
        dir.join("admin.crt"),
        dir.join("admin.key"),
    );
    std::fs::write(&combined, admin.identity_pem()).unwrap();
    std::fs::write(&cert, &admin.pem).unwrap();
    std::fs::write(&key, &admin.key).unwrap();

    for builder in [
        builder(&gateway).client_certificate_pem_file(&combined),
        builder(&gateway).client_certificate_pem_files(&cert, &key),
    ] {
        let client = builder
            .server_certificate_thumbprint(server.sha256())
            .build()
            .unwrap();
        progress(&client).await.unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A directory of this test's own, for certificate files that the builder reads.
fn temp_dir(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sf-backup-tls-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn a_pkcs12_client_certificate_is_accepted() {
    let clients = Ca::new("clients CA");
    let server = self_signed("cluster.example", &["cluster.example"]);
    let gateway = https_gateway(server.pem.clone(), &server.key, Some(&clients.cert)).await;
    let admin = clients.issue("admin", &[]);
    let dir = temp_dir("pfx-accepted");
    let (modern, legacy, unprotected) = (
        dir.join("admin.pfx"),
        dir.join("admin-legacy.p12"),
        dir.join("admin-no-password.pfx"),
    );
    std::fs::write(&modern, admin.pfx(&[&clients.cert], "pfx-pass", false)).unwrap();
    std::fs::write(&legacy, admin.pfx(&[], "pfx-pass", true)).unwrap();
    std::fs::write(&unprotected, admin.pfx(&[], "", false)).unwrap();

    for (path, password) in [
        (&modern, "pfx-pass"),
        (&legacy, "pfx-pass"),
        (&unprotected, ""),
    ] {
        let client = builder(&gateway)
            .server_certificate_thumbprint(server.sha1())
            .client_certificate_pkcs12_file(path, password)
            .build()
            .unwrap();
        progress(&client).await.unwrap();
    }
    assert_eq!(gateway.journal().len(), 3);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_pkcs12_file_with_a_wrong_password_or_no_key_fails_at_build() {
    let clients = Ca::new("clients CA");
    let server = self_signed("cluster.example", &["cluster.example"]);
    let gateway = https_gateway(server.pem.clone(), &server.key, Some(&clients.cert)).await;
    let admin = clients.issue("admin", &[]);
    let dir = temp_dir("pfx-refused");
    let (pfx, no_key) = (dir.join("admin.pfx"), dir.join("certificate-only.pfx"));
    std::fs::write(&pfx, admin.pfx(&[], "right-pfx-pass", false)).unwrap();
    let mut certificate_only = KeyStore::new();
    certificate_only.add_entry("admin", KeyStoreEntry::Certificate(admin.p12_certificate()));
    std::fs::write(
        &no_key,
        certificate_only.writer("right-pfx-pass").write().unwrap(),
    )
    .unwrap();

    let build = |path: &std::path::Path, password: &str| {
        builder(&gateway)
            .server_certificate_thumbprint(server.sha1())
            .client_certificate_pkcs12_file(path, password)
            .build()
            .unwrap_err()
    };
    let error = build(&pfx, "wrong-pfx-pass");
    let text = format!("{error} {error:?}");
    assert!(error.is_invalid_input(), "{text}");
    assert!(
        text.contains("password") && text.contains("admin.pfx"),
        "{text}"
    );
    assert!(
        !text.contains("wrong-pfx-pass") && !text.contains("right-pfx-pass"),
        "{text}"
    );

    let error = build(&no_key, "right-pfx-pass");
    let text = format!("{error} {error:?}");
    assert!(error.is_invalid_input(), "{text}");
    assert!(
        text.contains("certificate-only.pfx holds no private key"),
        "{text}"
    );
    assert!(text.contains("export"), "{text}");
    assert!(!text.contains("right-pfx-pass"), "{text}");

    assert_eq!(gateway.journal().len(), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_missing_or_foreign_client_certificate_is_refused() {
    let clients = Ca::new("clients CA");
    let server = self_signed("cluster.example", &["cluster.example"]);
    let gateway = https_gateway(server.pem.clone(), &server.key, Some(&clients.cert)).await;

    let without = builder(&gateway)
        .server_certificate_thumbprint(server.sha1())
        .build()
        .unwrap();
    assert_refused(
        &without,
        &gateway,
        &["could not connect", "CertificateRequired"],
    )
    .await;

    let stranger = Ca::new("another CA").issue("admin", &[]);
    let foreign = builder(&gateway)
        .server_certificate_thumbprint(server.sha1())
        .client_certificate_pem(stranger.identity_pem())
        .build()
        .unwrap();
    assert_refused(&foreign, &gateway, &["could not connect", "UnknownCA"]).await;
}

#[tokio::test]
async fn a_ca_bundle_validates_by_host_name_and_refuses_unknown_issuers() {
    let cluster_ca = Ca::new("cluster CA");
    let server = cluster_ca.issue("gateway", &["127.0.0.1"]);
    let gateway = https_gateway(
        format!("{}{}", server.pem, cluster_ca.cert.pem),
        &server.key,
        None,
    )
    .await;

    let trusted = builder(&gateway)
        .ca_certificates_pem(cluster_ca.cert.pem.clone())
        .build()
        .unwrap();
    progress(&trusted).await.unwrap();
    gateway.handle().clear_journal();

    let other = Ca::new("other CA");
    let untrusted = builder(&gateway)
        .ca_certificates_pem(other.cert.pem.clone())
        .build()
        .unwrap();
    assert_refused(&untrusted, &gateway, &["UnknownIssuer"]).await;

    // Neither is the test CA in the operating system's trust store.
    let default = builder(&gateway).build().unwrap();
    assert_refused(&default, &gateway, &[]).await;
}

#[tokio::test]
async fn thumbprint_pinning_accepts_the_pinned_self_signed_certificate_whatever_its_name() {
    let server = self_signed("cluster.example", &["cluster.example"]);
    let gateway = https_gateway(server.pem.clone(), &server.key, None).await;

    // As Windows shows it, lower-cased, with spaces, and with colons.
    let sha1 = server.sha1();
    let spaced: Vec<String> = sha1
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    for thumbprint in [
        format!("\u{200e}{}", sha1.to_lowercase()),
        spaced.join(" "),
        spaced.join(":"),
        server.sha256(),
    ] {
        let client = builder(&gateway)
            .server_certificate_thumbprint("0000000000000000000000000000000000000000")
            .server_certificate_thumbprint(&thumbprint)
            .build()
            .unwrap();
        progress(&client).await.unwrap();
    }
    assert_eq!(gateway.journal().len(), 4);
}

#[tokio::test]
async fn thumbprint_pinning_refuses_another_certificate_before_any_request() {
    let server = self_signed("cluster.example", &["cluster.example"]);
    let gateway = https_gateway(server.pem.clone(), &server.key, None).await;
    let other = self_signed("cluster.example", &["cluster.example"]);

    let client = builder(&gateway)
        .server_certificate_thumbprint(other.sha1())
        .bearer_token("secret-token-never-sent")
        .build()
        .unwrap();
    let text = assert_refused(
        &client,
        &gateway,
        &["could not connect", &server.sha1(), "thumbprints"],
    )
    .await;
    assert!(!text.contains("secret-token-never-sent"));
}

#[tokio::test]
async fn common_names_are_matched_whatever_the_host_name() {
    let server = self_signed("Cluster.Example", &["cluster.example"]);
    let gateway = https_gateway(server.pem.clone(), &server.key, None).await;

    let matching = builder(&gateway)
        .server_certificate_common_name("other.example")
        .server_certificate_common_name("cluster.example")
        .build()
        .unwrap();
    progress(&matching).await.unwrap();
    gateway.handle().clear_journal();

    let other = builder(&gateway)
        .server_certificate_common_name("other.example")
        .build()
        .unwrap();
    assert_refused(&other, &gateway, &["common names", "Cluster.Example"]).await;
}

#[tokio::test]
async fn issuer_thumbprints_require_a_real_signature_of_the_pinned_issuer() {
    let cluster_ca = Ca::new("cluster CA");
    let server = cluster_ca.issue("cluster.example", &["cluster.example"]);
    let gateway = https_gateway(
        format!("{}{}", server.pem, cluster_ca.cert.pem),
        &server.key,
        None,
    )
    .await;

    let pinned = builder(&gateway)
        .server_certificate_common_name("cluster.example")
        .server_certificate_issuer_thumbprint(cluster_ca.cert.sha1())
        .build()
        .unwrap();
    progress(&pinned).await.unwrap();
    gateway.handle().clear_journal();

    let other_ca = Ca::new("cluster CA");
    let wrong_issuer = builder(&gateway)
        .server_certificate_common_name("cluster.example")
        .server_certificate_issuer_thumbprint(other_ca.cert.sha1())
        .build()
        .unwrap();
    assert_refused(&wrong_issuer, &gateway, &["issuer thumbprints"]).await;

    // An impostor sends the real CA's certificate along with a self-made certificate of the right name.
    let impostor = self_signed("cluster.example", &["cluster.example"]);
    let fake = https_gateway(
        format!("{}{}", impostor.pem, cluster_ca.cert.pem),
        &impostor.key,
        None,
    )
    .await;
    let client = builder(&fake)
        .server_certificate_common_name("cluster.example")
        .server_certificate_issuer_thumbprint(cluster_ca.cert.sha1())
        .build()
        .unwrap();
    assert_refused(&client, &fake, &["issuer thumbprints"]).await;

    // The issuer may also come from the CA bundle when the server sends only its own certificate.
    let leaf_only = https_gateway(server.pem.clone(), &server.key, None).await;
    let from_bundle = builder(&leaf_only)
        .ca_certificates_pem(cluster_ca.cert.pem.clone())
        .server_certificate_common_name("cluster.example")
        .server_certificate_issuer_thumbprint(cluster_ca.cert.sha256())
        .build()
        .unwrap();
    progress(&from_bundle).await.unwrap();
}

#[tokio::test]
async fn accepting_any_server_certificate_is_explicit() {
    let server = self_signed("cluster.example", &["cluster.example"]);
    let gateway = https_gateway(server.pem.clone(), &server.key, None).await;
    let client = builder(&gateway)
        .danger_accept_invalid_server_certificates()
        .build()
        .unwrap();
    progress(&client).await.unwrap();

    let error = builder(&gateway)
        .danger_accept_invalid_server_certificates()
        .server_certificate_thumbprint(server.sha1())
        .build()
        .unwrap_err();
    assert!(error.is_invalid_input(), "{error}");
}

#[tokio::test]
async fn a_static_bearer_token_is_sent_and_never_shown() {
    let server = self_signed("cluster.example", &["cluster.example"]);
    let gateway = https_gateway(server.pem.clone(), &server.key, None).await;
    let builder = builder(&gateway)
        .server_certificate_thumbprint(server.sha1())
        .bearer_token("static-token-1");
    assert!(!format!("{builder:?}").contains("static-token-1"));
    let client = builder.build().unwrap();
    assert!(!format!("{client:?}").contains("static-token-1"));

    progress(&client).await.unwrap();
    progress(&client).await.unwrap();
    let journal = gateway.journal();
    assert_eq!(journal.len(), 2);
    for request in journal {
        assert_eq!(
            request.header("authorization"),
            Some("Bearer static-token-1")
        );
    }
}

#[tokio::test]
async fn the_token_provider_is_asked_before_every_request() {
    let gateway = Gateway::start(Config::default()).await.unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let client = Client::builder()
        .endpoint(gateway.url())
        .bearer_token_provider(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst) / 2 + 1;
            async move { Ok::<_, TokenError>(Secret::new(format!("token-{n}"))) }
        })
        .build()
        .unwrap();
    assert!(!format!("{client:?}").contains("token-"));
    for _ in 0..4 {
        progress(&client).await.unwrap();
    }
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    let sent: Vec<_> = gateway
        .journal()
        .iter()
        .map(|r| r.header("authorization").unwrap().to_owned())
        .collect();
    assert_eq!(
        sent,
        [
            "Bearer token-1",
            "Bearer token-1",
            "Bearer token-2",
            "Bearer token-2"
        ]
    );
}

#[tokio::test]
async fn a_failing_or_bad_token_stops_the_request_before_sending() {
    let gateway = Gateway::start(Config::default()).await.unwrap();
    let failing = Client::builder()
        .endpoint(gateway.url())
        .bearer_token_provider(|| async {
            Err::<Secret, TokenError>("identity platform unreachable".into())
        })
        .build()
        .unwrap();
    let error = progress(&failing).await.unwrap_err();
    assert!(matches!(error, Error::Client { .. }), "{error:?}");
    assert!(error.to_string().contains("token provider"), "{error}");

    let bad = Client::builder()
        .endpoint(gateway.url())
        .bearer_token("line\nbreak-secret")
        .build()
        .unwrap();
    let error = progress(&bad).await.unwrap_err();
    assert!(error.is_invalid_input(), "{error}");
    assert!(!format!("{error} {error:?}").contains("break-secret"));
    assert!(gateway.journal().is_empty());
}

#[test]
fn bad_certificate_settings_fail_at_build_without_quoting_secrets() {
    let admin = self_signed("admin", &[]);
    let build = |builder: ClientBuilder| {
        builder
            .endpoint("https://127.0.0.1:19080")
            .build()
            .unwrap_err()
    };

    let error = build(Client::builder().client_certificate_pem_file("/nonexistent/admin.pem"));
    assert!(
        error.is_invalid_input() && error.to_string().contains("/nonexistent/admin.pem"),
        "{error}"
    );

    let error = build(Client::builder().client_certificate_pem(admin.pem.clone()));
    assert!(error.to_string().contains("no private key"), "{error}");

    let error =
        build(Client::builder().client_certificate_pem_parts(admin.pem.clone(), "not a key"));
    assert!(error.is_invalid_input(), "{error}");

    let error = build(Client::builder().client_certificate_pem(admin.key.clone()));
    assert!(error.to_string().contains("no certificate"), "{error}");
    assert!(!format!("{error} {error:?}").contains(&admin.key[40..80]));

    let error = build(
        Client::builder()
            .client_certificate_pkcs12_file("/nonexistent/cluster.pfx", "pfx-password"),
    );
    let text = format!("{error} {error:?}");
    assert!(
        error.is_invalid_input() && text.contains("/nonexistent/cluster.pfx"),
        "{text}"
    );
    assert!(!text.contains("pfx-password"), "{text}");

    let error = build(Client::builder().server_certificate_thumbprint("12:34"));
    assert!(error.to_string().contains("thumbprint"), "{error}");

    let error = build(Client::builder().server_certificate_issuer_thumbprint(admin.sha1()));
    assert!(error.to_string().contains("common name"), "{error}");

    let error = build(
        Client::builder()
            .http_client(reqwest::Client::new())
            .server_certificate_thumbprint(admin.sha1()),
    );
    assert!(error.is_invalid_input(), "{error}");

    let builder = Client::builder()
        .client_certificate_pem(admin.identity_pem())
        .client_certificate_pkcs12_file("x.pfx", "pfx-password");
    let shown = format!("{builder:?}");
    assert!(
        !shown.contains("pfx-password") && !shown.contains("PRIVATE KEY"),
        "{shown}"
    );
    let builder = Client::builder().client_certificate_pem(admin.identity_pem());
    assert!(!format!("{builder:?}").contains("PRIVATE KEY"));
}
