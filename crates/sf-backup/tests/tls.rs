//! Secured clusters against the testkit gateway serving https: client certificates, the ways of validating the
//! cluster certificate, and bearer tokens. Certificates are made fresh by each test. Runs with either TLS feature
//! (`cargo test -p sf-backup --no-default-features --features tls-ring --test tls` checks the ring provider); the
//! PKCS#12 tests need `pkcs12`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[cfg(feature = "pkcs12")]
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

    #[cfg(feature = "pkcs12")]
    fn p12_certificate(&self) -> Certificate {
        Certificate::from_der(&self.der).unwrap()
    }

    /// This certificate and its key as a PKCS#12 archive, followed in the chain by `issuers`.
    #[cfg(feature = "pkcs12")]
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
        self.issue_with(params(common_name, names))
    }

    fn issue_with(&self, params: CertificateParams) -> Cert {
        let key = KeyPair::generate().unwrap();
        let certificate = params.signed_by(&key, &self.issuer).unwrap();
        Cert {
            pem: certificate.pem(),
            key: key.serialize_pem(),
            der: certificate.der().to_vec(),
        }
    }

    /// An intermediate CA issued by this one.
    fn sub_ca(&self, common_name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = params(common_name, &[]);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let certificate = params.signed_by(&key, &self.issuer).unwrap();
        Ca {
            cert: Cert {
                pem: certificate.pem(),
                key: key.serialize_pem(),
                der: certificate.der().to_vec(),
            },
            issuer: Issuer::new(params, key),
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
                may_have_reached_service: false,
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

#[cfg(feature = "pkcs12")]
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

#[cfg(feature = "pkcs12")]
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

    // Trusted through the CA bundle, where a self-signed certificate is its own CA.
    let matching = builder(&gateway)
        .ca_certificates_pem(server.pem.clone())
        .server_certificate_common_name("other.example")
        .server_certificate_common_name("cluster.example")
        .build()
        .unwrap();
    progress(&matching).await.unwrap();
    gateway.handle().clear_journal();

    let other = builder(&gateway)
        .ca_certificates_pem(server.pem.clone())
        .server_certificate_common_name("other.example")
        .build()
        .unwrap();
    assert_refused(&other, &gateway, &["common names", "Cluster.Example"]).await;
}

#[tokio::test]
async fn a_self_signed_certificate_with_the_right_common_name_is_refused_unless_trusted() {
    // What anyone can make: the right name, any key.
    let impostor = self_signed("cluster.example", &["cluster.example"]);
    let gateway = https_gateway(impostor.pem.clone(), &impostor.key, None).await;

    let by_name = builder(&gateway)
        .server_certificate_common_name("cluster.example")
        .bearer_token("token-never-sent-to-an-impostor")
        .build()
        .unwrap();
    let text = assert_refused(
        &by_name,
        &gateway,
        &["operating system's trust store", "UnknownIssuer"],
    )
    .await;
    assert!(!text.contains("token-never-sent"), "{text}");

    // A CA bundle that does not hold it does not help either.
    let other_ca = Ca::new("cluster CA");
    let with_other_bundle = builder(&gateway)
        .ca_certificates_pem(other_ca.cert.pem.clone())
        .server_certificate_common_name("cluster.example")
        .build()
        .unwrap();
    assert_refused(
        &with_other_bundle,
        &gateway,
        &["configured CA certificates", "UnknownIssuer"],
    )
    .await;

    // Trusted on purpose: the certificate itself is in the CA bundle.
    let trusted = builder(&gateway)
        .ca_certificates_pem(impostor.pem.clone())
        .server_certificate_common_name("cluster.example")
        .build()
        .unwrap();
    progress(&trusted).await.unwrap();
}

#[tokio::test]
async fn a_common_name_needs_a_chain_to_the_ca_bundle_with_the_intermediates_sent() {
    let root = Ca::new("cluster root CA");
    let sub = root.sub_ca("cluster issuing CA");
    let server = sub.issue("cluster.example", &["cluster.example"]);
    let gateway = https_gateway(format!("{}{}", server.pem, sub.cert.pem), &server.key, None).await;

    let client = builder(&gateway)
        .ca_certificates_pem(root.cert.pem.clone())
        .server_certificate_common_name("cluster.example")
        .build()
        .unwrap();
    progress(&client).await.unwrap();
    gateway.handle().clear_journal();

    // The same name under another root.
    let foreign_root = Ca::new("cluster root CA");
    let impostor = foreign_root
        .sub_ca("cluster issuing CA")
        .issue("cluster.example", &["cluster.example"]);
    let fake = https_gateway(
        format!("{}{}", impostor.pem, sub.cert.pem),
        &impostor.key,
        None,
    )
    .await;
    let client = builder(&fake)
        .ca_certificates_pem(root.cert.pem.clone())
        .server_certificate_common_name("cluster.example")
        .build()
        .unwrap();
    assert_refused(
        &client,
        &fake,
        &["does not chain to the configured CA certificates"],
    )
    .await;
}

#[tokio::test]
async fn a_common_name_also_matches_a_dns_subject_alternative_name() {
    let cluster_ca = Ca::new("cluster CA");
    // The CN says something else; the name is only a DNS SAN. The endpoint's host (127.0.0.1) is in neither.
    let server = cluster_ca.issue(
        "Service Fabric cluster",
        &["mycluster.westeurope.cloudapp.azure.com"],
    );
    let gateway = https_gateway(server.pem.clone(), &server.key, None).await;

    let client = builder(&gateway)
        .ca_certificates_pem(cluster_ca.cert.pem.clone())
        .server_certificate_common_name("MyCluster.WestEurope.cloudapp.azure.com")
        .build()
        .unwrap();
    progress(&client).await.unwrap();
    gateway.handle().clear_journal();

    // Literal comparison: no suffix or wildcard matching.
    let client = builder(&gateway)
        .ca_certificates_pem(cluster_ca.cert.pem.clone())
        .server_certificate_common_name("cloudapp.azure.com")
        .build()
        .unwrap();
    assert_refused(&client, &gateway, &["common names"]).await;
}

#[tokio::test]
async fn an_issuer_thumbprint_pins_the_direct_issuer_only() {
    let root = Ca::new("cluster root CA");
    let sub = root.sub_ca("cluster issuing CA");
    let server = sub.issue("cluster.example", &["cluster.example"]);
    // The server sends the whole chain, root included.
    let gateway = https_gateway(
        format!("{}{}{}", server.pem, sub.cert.pem, root.cert.pem),
        &server.key,
        None,
    )
    .await;

    // Neither CA is in a trust store here: the pinned direct issuer is enough (unlike the .NET client).
    let direct = builder(&gateway)
        .server_certificate_common_name("cluster.example")
        .server_certificate_issuer_thumbprint(sub.cert.sha1())
        .build()
        .unwrap();
    progress(&direct).await.unwrap();
    gateway.handle().clear_journal();

    // Pinning the root would accept any certificate of any sub-CA under it.
    let root_pinned = builder(&gateway)
        .server_certificate_common_name("cluster.example")
        .server_certificate_issuer_thumbprint(root.cert.sha1())
        .build()
        .unwrap();
    assert_refused(&root_pinned, &gateway, &["direct issuer"]).await;

    // Nor does the server certificate's own thumbprint count as its issuer's when it is not self-signed.
    let own = builder(&gateway)
        .server_certificate_common_name("cluster.example")
        .server_certificate_issuer_thumbprint(server.sha1())
        .build()
        .unwrap();
    assert_refused(&own, &gateway, &["direct issuer"]).await;
}

#[tokio::test]
async fn a_self_signed_certificate_is_its_own_direct_issuer() {
    let server = self_signed("cluster.example", &["cluster.example"]);
    let gateway = https_gateway(server.pem.clone(), &server.key, None).await;
    let client = builder(&gateway)
        .server_certificate_common_name("cluster.example")
        .server_certificate_issuer_thumbprint(server.sha256())
        .build()
        .unwrap();
    progress(&client).await.unwrap();
}

#[tokio::test]
async fn a_server_thumbprint_is_compared_with_the_server_certificate_only() {
    let cluster_ca = Ca::new("cluster CA");
    let server = cluster_ca.issue("cluster.example", &["cluster.example"]);
    let gateway = https_gateway(
        format!("{}{}", server.pem, cluster_ca.cert.pem),
        &server.key,
        None,
    )
    .await;
    let ca_pinned = builder(&gateway)
        .server_certificate_thumbprint(cluster_ca.cert.sha1())
        .build()
        .unwrap();
    assert_refused(
        &ca_pinned,
        &gateway,
        &["matches none of the configured server thumbprints"],
    )
    .await;
}

#[tokio::test]
async fn certificates_outside_their_dates_are_refused_in_every_validating_mode() {
    use rcgen::date_time_ymd;
    for (problem, not_before, not_after) in [
        (
            "expired on",
            date_time_ymd(2001, 1, 1),
            date_time_ymd(2002, 1, 1),
        ),
        (
            "is not valid before",
            date_time_ymd(2999, 1, 1),
            date_time_ymd(3000, 1, 1),
        ),
    ] {
        let cluster_ca = Ca::new("cluster CA");
        let mut params = params("cluster.example", &["cluster.example"]);
        params.not_before = not_before;
        params.not_after = not_after;
        let server = cluster_ca.issue_with(params);
        let gateway = https_gateway(server.pem.clone(), &server.key, None).await;

        let by_name = builder(&gateway)
            .ca_certificates_pem(cluster_ca.cert.pem.clone())
            .server_certificate_common_name("cluster.example")
            .build()
            .unwrap();
        let by_issuer = builder(&gateway)
            .server_certificate_common_name("cluster.example")
            .server_certificate_issuer_thumbprint(cluster_ca.cert.sha1())
            .build()
            .unwrap();
        // The .NET client refuses a pinned certificate with a time error too; so do we.
        let by_thumbprint = builder(&gateway)
            .server_certificate_thumbprint(server.sha1())
            .build()
            .unwrap();
        for (client, mode) in [
            (by_name, "common name"),
            (by_issuer, "common name"),
            (by_thumbprint, "thumbprint"),
        ] {
            assert_refused(
                &client,
                &gateway,
                &[problem, &format!("has a configured {mode}")],
            )
            .await;
        }
    }
}

#[tokio::test]
async fn accepting_any_server_certificate_also_accepts_expired_ones() {
    let mut params = params("cluster.example", &[]);
    params.not_after = rcgen::date_time_ymd(2002, 1, 1);
    let key = KeyPair::generate().unwrap();
    let certificate = params.self_signed(&key).unwrap();
    let gateway = https_gateway(certificate.pem(), &key.serialize_pem(), None).await;
    let client = builder(&gateway)
        .danger_accept_invalid_server_certificates()
        .build()
        .unwrap();
    progress(&client).await.unwrap();
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
}

#[test]
fn contradictory_server_validation_settings_fail_at_build_naming_both() {
    let server = self_signed("cluster.example", &["cluster.example"]);
    let build = |builder: ClientBuilder| {
        builder
            .endpoint("https://127.0.0.1:19080")
            .build()
            .unwrap_err()
    };
    let any = || Client::builder().danger_accept_invalid_server_certificates();
    for (builder, named) in [
        (
            any().server_certificate_thumbprint(server.sha1()),
            "server_certificate_thumbprint",
        ),
        (
            any().server_certificate_common_name("cluster.example"),
            "server_certificate_common_name",
        ),
        (
            any().ca_certificates_pem(server.pem.clone()),
            "ca_certificates_pem",
        ),
    ] {
        let error = build(builder);
        let text = error.to_string();
        assert!(error.is_invalid_input(), "{text}");
        assert!(
            text.contains("danger_accept_invalid_server_certificates") && text.contains(named),
            "{text}"
        );
    }

    // A CA bundle beside a pinned certificate would be ignored.
    let error = build(
        Client::builder()
            .ca_certificates_pem(server.pem.clone())
            .server_certificate_thumbprint(server.sha1()),
    );
    let text = error.to_string();
    assert!(
        text.contains("ca_certificates_pem") && text.contains("server_certificate_thumbprint"),
        "{text}"
    );
    // With a common name too, the bundle is what the named certificate must chain to: fine.
    Client::builder()
        .endpoint("https://127.0.0.1:19080")
        .ca_certificates_pem(server.pem.clone())
        .server_certificate_thumbprint(server.sha1())
        .server_certificate_common_name("cluster.example")
        .build()
        .unwrap();

    let error = build(Client::builder().server_certificate_issuer_thumbprint(server.sha1()));
    let text = error.to_string();
    assert!(
        text.contains("server_certificate_issuer_thumbprint")
            && text.contains("server_certificate_common_name"),
        "{text}"
    );
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

    // A proxy URL's password is never shown when the URL is refused.
    let error = build(Client::builder().proxy("ftp://user:proxy-secret@proxy.example.com"));
    let text = format!("{error} {error:?}");
    assert!(error.is_invalid_input() && text.contains("proxy"), "{text}");
    assert!(!text.contains("proxy-secret"), "{text}");
    let builder = Client::builder().proxy("http://user:proxy-secret@proxy.example.com:3128");
    assert!(!format!("{builder:?}").contains("proxy-secret"));
    let error = build(Client::builder().user_agent("bad\nagent"));
    assert!(error.to_string().contains("user agent"), "{error}");

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

/// The reqwest escape hatch changes the HTTP client and keeps this crate's TLS: the gateway is reached under a
/// name only the hook's `resolve` knows, and the thumbprint pin still decides which certificate is accepted.
#[cfg(feature = "unstable-reqwest")]
#[tokio::test]
async fn the_reqwest_hook_keeps_the_tls_settings() {
    let server = self_signed("cluster.example", &["cluster.example"]);
    let gateway = https_gateway(server.pem.clone(), &server.key, None).await;
    let address: std::net::SocketAddr = gateway
        .url()
        .trim_start_matches("https://")
        .parse()
        .unwrap();
    let endpoint = format!("https://cluster.hook.invalid:{}", address.port());
    let through_hook = |pin: String| {
        Client::builder()
            .endpoint(&endpoint)
            .server_certificate_thumbprint(pin)
            .configure_http_client(move |http| http.resolve("cluster.hook.invalid", address))
            .build()
            .unwrap()
    };

    progress(&through_hook(server.sha1())).await.unwrap();
    assert_eq!(gateway.journal().len(), 1);

    let other = self_signed("cluster.example", &["cluster.example"]);
    let error = progress(&through_hook(other.sha1())).await.unwrap_err();
    assert!(
        error.to_string().contains(&server.sha1()),
        "not refused by the pin: {error}"
    );
    assert_eq!(gateway.journal().len(), 1, "a request passed a wrong pin");
}
