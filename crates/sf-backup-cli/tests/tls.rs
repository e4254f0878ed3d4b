//! A refused TLS handshake is told in the operator's words: which check failed, the certificate the server
//! presented (SHA-1 thumbprint and subject), and the option that would accept it. Each case then passes that
//! option back and connects, so the advice is checked by use, not by wording. Nothing reaches the gateway while
//! the handshake is refused.

mod support;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, date_time_ymd};
use rstest::rstest;
use sf_backup_testkit::{BackgroundGateway, Config, Dialect, TlsConfig, start_in_background};
use support::{PARTITION, Run, run_with_env as run};

struct Made {
    pem: String,
    key: String,
}

/// A certificate for `names` with the common name `cn`; self-signed unless `issuer` is given.
fn certificate(
    cn: &str,
    names: &[&str],
    issuer: Option<&Issuer<'static, KeyPair>>,
    shape: impl FnOnce(&mut CertificateParams),
) -> Made {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    shape(&mut params);
    let certificate = match issuer {
        Some(issuer) => params.signed_by(&key, issuer).unwrap(),
        None => params.self_signed(&key).unwrap(),
    };
    Made {
        pem: certificate.pem(),
        key: key.serialize_pem(),
    }
}

/// A CA and its certificate (PEM).
fn ca(cn: &str) -> (Issuer<'static, KeyPair>, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let pem = params.self_signed(&key).unwrap().pem();
    (Issuer::new(params, key), pem)
}

/// A gateway serving https with `server`'s certificate (no client certificate asked).
fn https(dialect: Dialect, server: &Made) -> (BackgroundGateway, String) {
    let tls = TlsConfig::from_pem(server.pem.clone(), server.key.clone());
    let gateway = start_in_background(Config {
        dialect,
        tls: Some(tls),
        ..Config::default()
    })
    .unwrap();
    let endpoint = gateway.url().replace("http://", "https://");
    (gateway, endpoint)
}

/// A file in a fresh temporary directory.
fn file(name: &str, text: &str) -> String {
    use std::hash::BuildHasher;
    let unique = std::collections::hash_map::RandomState::new().hash_one(name);
    let dir = std::env::temp_dir().join(format!("sf-backup-cli-tls-{unique:016x}"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// A stand-in for the operating system's trust store: one CA that issued nothing here, so that the machine's own
/// CAs cannot change a case (an empty store would be refused as a setup error before connecting).
fn unrelated_store() -> String {
    file("unrelated-store.pem", &ca("unrelated-ca").1)
}

/// `progress` against `endpoint` with `flags`, in JSON, with [`unrelated_store`] as the system's trust store.
fn progress(endpoint: &str, flags: &[&str]) -> Run {
    let empty_store = unrelated_store();
    run(
        &[
            &["--endpoint", endpoint],
            flags,
            &["--output", "json", "progress", PARTITION],
        ]
        .concat(),
        &[("SSL_CERT_FILE", &empty_store), ("SSL_CERT_DIR", "")],
    )
}

/// Asserts a refused handshake (exit 4, kind transport) by `check`, and returns the thumbprint it printed after
/// checking that the text names it and the subject.
#[track_caller]
fn refused(run: &Run, check: &str, subject: &str, advice: &[&str]) -> String {
    run.expect(4);
    let error = run.stderr_json();
    assert_eq!(error["kind"], "transport", "{error:#}");
    assert_eq!(error["tls"]["check"], check, "{error:#}");
    let message = error["message"].as_str().unwrap();
    let thumbprint = error["tls"]["sha1_thumbprint"].as_str().unwrap().to_owned();
    assert_eq!(thumbprint.len(), 40, "{thumbprint}");
    assert!(
        thumbprint
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase()),
        "upper-case hex, as Service Fabric writes it: {thumbprint}"
    );
    assert!(
        message.contains(&format!("SHA-1 thumbprint {thumbprint}")),
        "{message}"
    );
    assert!(message.contains(subject), "{message}");
    for text in advice {
        assert!(message.contains(text), "{text:?} missing from:\n{message}");
    }
    assert!(
        !message.contains("OtherError") && !message.contains("Other("),
        "no library internals: {message}"
    );
    thumbprint
}

#[rstest]
fn a_self_signed_certificate_names_its_thumbprint_and_the_flag_that_accepts_it(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let server = certificate("sf-cluster", &["localhost", "127.0.0.1"], None, |_| {});
    let (gateway, endpoint) = https(dialect, &server);
    let thumbprint = refused(
        &progress(&endpoint, &[]),
        "self_signed",
        "CN=sf-cluster",
        &["self-signed", "--server-cert-thumbprint", "--ca <FILE>"],
    );
    assert!(gateway.journal().is_empty(), "{:#?}", gateway.journal());
    progress(&endpoint, &["--server-cert-thumbprint", &thumbprint]).expect(0);
    // The certificate itself as the CA bundle works too, as the advice says (its names include the host).
    progress(&endpoint, &["--ca", &file("server.pem", &server.pem)]).expect(0);
    assert_eq!(gateway.journal().len(), 2);
}

#[rstest]
fn an_unknown_issuer_a_name_mismatch_and_a_wrong_pin_each_name_their_fix(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let (issuer, ca_pem) = ca("sf-test-ca");
    let ca_file = file("ca.pem", &ca_pem);

    // Issued by a CA nobody configured.
    let server = certificate(
        "sf-cluster",
        &["localhost", "127.0.0.1"],
        Some(&issuer),
        |_| {},
    );
    let (gateway, endpoint) = https(dialect, &server);
    let thumbprint = refused(
        &progress(&endpoint, &[]),
        "unknown_issuer",
        "CN=sf-cluster",
        &["--ca <FILE>", "CN=sf-test-ca", "--server-cert-thumbprint"],
    );
    progress(&endpoint, &["--ca", &ca_file]).expect(0);
    // Pinned to another certificate (during a rollover, say): the printed thumbprint is the one to add.
    let other = "AB".repeat(20);
    let shown = refused(
        &progress(&endpoint, &["--server-cert-thumbprint", &other]),
        "not_pinned",
        "CN=sf-cluster",
        &["--server-cert-thumbprint"],
    );
    assert_eq!(shown, thumbprint);
    progress(
        &endpoint,
        &[
            "--server-cert-thumbprint",
            &other,
            "--server-cert-thumbprint",
            &shown,
        ],
    )
    .expect(0);
    assert_eq!(gateway.journal().len(), 2, "{:#?}", gateway.journal());

    // Trusted, but issued for another name than the endpoint's host.
    let server = certificate(
        "sf-cluster.example",
        &["sf-cluster.example"],
        Some(&issuer),
        |_| {},
    );
    let (gateway, endpoint) = https(dialect, &server);
    refused(
        &progress(&endpoint, &["--ca", &ca_file]),
        "name_mismatch",
        "CN=sf-cluster.example",
        &["--server-cert-common-name sf-cluster.example", "127.0.0.1"],
    );
    assert!(gateway.journal().is_empty());
    progress(
        &endpoint,
        &[
            "--ca",
            &ca_file,
            "--server-cert-common-name",
            "sf-cluster.example",
        ],
    )
    .expect(0);
}

#[test]
fn a_ca_certificate_used_as_the_servers_own_is_accepted_by_its_thumbprint_only() {
    // The shape of the issue's `invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))`.
    let server = certificate("sf-cluster", &["localhost", "127.0.0.1"], None, |params| {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    });
    let (gateway, endpoint) = https(Dialect::Service, &server);
    let thumbprint = refused(
        &progress(&endpoint, &["--ca", &file("ca-as-leaf.pem", &server.pem)]),
        "ca_used_as_end_entity",
        "CN=sf-cluster",
        &["CA certificate", "--server-cert-thumbprint"],
    );
    assert!(gateway.journal().is_empty());
    progress(&endpoint, &["--server-cert-thumbprint", &thumbprint]).expect(0);
}

#[test]
fn an_expired_certificate_is_refused_even_when_pinned_and_says_so() {
    let server = certificate("sf-cluster", &["localhost", "127.0.0.1"], None, |params| {
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2021, 1, 1);
    });
    let (gateway, endpoint) = https(Dialect::Service, &server);
    let ca_file = file("expired.pem", &server.pem);
    let thumbprint = refused(
        &progress(&endpoint, &["--ca", &ca_file]),
        "expired",
        "CN=sf-cluster",
        &["no option accepts", "renew"],
    );
    refused(
        &progress(&endpoint, &["--server-cert-thumbprint", &thumbprint]),
        "expired",
        "CN=sf-cluster",
        &["expired on", "no option accepts"],
    );
    assert!(gateway.journal().is_empty());
}

#[test]
fn an_https_endpoint_on_a_plain_http_port_says_so() {
    let gateway = start_in_background(Config::default()).unwrap();
    let endpoint = gateway.url().replace("http://", "https://");
    let result = progress(&endpoint, &[]);
    result.expect(4);
    let error = result.stderr_json();
    assert_eq!(error["tls"]["check"], "not_tls", "{error:#}");
    assert!(error["tls"]["sha1_thumbprint"].is_null(), "{error:#}");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("http://"), "{message}");
    assert!(gateway.journal().is_empty());
}

#[test]
fn the_text_output_reads_as_lines_an_operator_can_follow() {
    let server = certificate("sf-cluster", &["localhost", "127.0.0.1"], None, |_| {});
    let (_gateway, endpoint) = https(Dialect::Service, &server);
    let empty_store = unrelated_store();
    let result = run(
        &["--endpoint", &endpoint, "progress", PARTITION],
        &[("SSL_CERT_FILE", &empty_store), ("SSL_CERT_DIR", "")],
    );
    result.expect(4);
    let lines: Vec<&str> = result.stderr.lines().collect();
    assert!(
        lines[0].starts_with("error: could not connect to the service: TLS: "),
        "{}",
        result.stderr
    );
    assert!(lines.iter().any(|l| {
        l.trim_start()
            .starts_with("server certificate: SHA-1 thumbprint ")
    }));
    assert!(lines.iter().any(|l| {
        l.trim_start()
            .starts_with("to accept it: --server-cert-thumbprint ")
    }));
}

#[test]
fn an_http_endpoint_on_a_tls_port_suggests_https() {
    let server = certificate("sf-cluster", &["localhost", "127.0.0.1"], None, |_| {});
    let (gateway, endpoint) = https(Dialect::Service, &server);
    let http = endpoint.replace("https://", "http://");
    for command in [vec!["progress", PARTITION], vec!["backup", PARTITION]] {
        let result = run(
            &[&["--endpoint", http.as_str()], &command[..]].concat(),
            &[],
        );
        assert_ne!(result.code, 0, "{}", result.stderr);
        let fix = format!("--endpoint {endpoint}");
        assert!(
            result.stderr.contains("most likely in TLS") && result.stderr.contains(&fix),
            "{command:?}: {}",
            result.stderr
        );
    }
    assert!(gateway.journal().is_empty());
}
