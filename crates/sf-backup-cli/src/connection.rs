//! Builds the facade client from the connection options, starting the embedded gateway for `--testkit`.

use sf_backup::Client;
use sf_backup_testkit::{BackgroundGateway, Config};

use crate::cli::ConnectionArgs;
use crate::failure::{Exit, Failure, Redactor};

/// Where `--pfx` takes its password from; never a flag, so that it stays out of process listings.
pub const PFX_PASSWORD_ENV: &str = "SF_PFX_PASSWORD";

/// A client, and the embedded gateway it talks to when `--testkit` asked for one (dropping it stops the gateway).
pub struct Connection {
    /// The facade client.
    pub client: Client,
    /// The embedded gateway, kept alive for the client's lifetime.
    pub testkit: Option<BackgroundGateway>,
}

/// Checks the connection options before anything starts, so a rejected option never leaves a request half sent.
///
/// `endpoint_on_command_line` tells whether `--endpoint` was a flag (an `SF_ENDPOINT` in the environment is
/// ambient and yields to `--testkit`).
pub fn check(args: &ConnectionArgs, endpoint_on_command_line: bool) -> Result<(), Failure> {
    if args.testkit && endpoint_on_command_line {
        return Err(Failure::invalid(
            "--testkit and --endpoint exclude each other: --testkit starts its own gateway",
        ));
    }
    let security = security_flags(args);
    if args.testkit && !security.is_empty() {
        return Err(Failure::invalid(format!(
            "{} cannot be used with --testkit: the embedded gateway speaks plain http without authentication",
            security.join(", ")
        )));
    }
    let identities: Vec<&str> = [
        (args.pem.is_some(), "--pem"),
        (args.cert.is_some() || args.key.is_some(), "--cert/--key"),
        (args.pfx.is_some(), "--pfx"),
    ]
    .into_iter()
    .filter_map(|(given, name)| given.then_some(name))
    .collect();
    if identities.len() > 1 {
        return Err(Failure::invalid(format!(
            "{} exclude each other: give one client certificate",
            identities.join(" and ")
        )));
    }
    match (&args.cert, &args.key) {
        (Some(_), None) => return Err(Failure::invalid("--cert needs --key (its private key)")),
        (None, Some(_)) => return Err(Failure::invalid("--key needs --cert (its certificate)")),
        _ => {}
    }
    check_server_validation(args)
}

/// Server validation flags that contradict each other, refused before the library sees them so that the message
/// names the flags (the library's names its builder methods). One flag silently voiding another is the danger:
/// `--no-verify` beside a pin would look secure and be anything but.
fn check_server_validation(args: &ConnectionArgs) -> Result<(), Failure> {
    let thumbprints = !args.server_cert_thumbprints.is_empty();
    let common_names = !args.server_cert_common_names.is_empty();
    let issuers = !args.server_cert_issuer_thumbprints.is_empty();
    let voided: Vec<&str> = [
        (thumbprints, "--server-cert-thumbprint"),
        (common_names, "--server-cert-common-name"),
        (issuers, "--server-cert-issuer-thumbprint"),
        (args.ca.is_some(), "--ca"),
    ]
    .into_iter()
    .filter_map(|(given, name)| given.then_some(name))
    .collect();
    if args.no_verify && !voided.is_empty() {
        return Err(Failure::invalid(format!(
            "--no-verify accepts any server certificate, which contradicts {}: remove --no-verify, or {}",
            voided.join(" and "),
            if voided.len() == 1 {
                "that flag"
            } else {
                "those flags"
            }
        )));
    }
    if issuers && !common_names {
        return Err(Failure::invalid(
            "--server-cert-issuer-thumbprint needs --server-cert-common-name: it names the issuer of the \
             certificates accepted by name (pin the server certificate itself with --server-cert-thumbprint)",
        ));
    }
    if args.ca.is_some() && thumbprints && !common_names {
        return Err(Failure::invalid(
            "--ca would be ignored with --server-cert-thumbprint alone: a pinned certificate is accepted \
             whatever its issuer; remove --ca, or add --server-cert-common-name for the certificates it issues",
        ));
    }
    Ok(())
}

/// The security options given, by flag name.
fn security_flags(args: &ConnectionArgs) -> Vec<&'static str> {
    [
        (args.pem.is_some(), "--pem"),
        (args.cert.is_some(), "--cert"),
        (args.key.is_some(), "--key"),
        (args.pfx.is_some(), "--pfx"),
        (args.ca.is_some(), "--ca"),
        (
            !args.server_cert_thumbprints.is_empty(),
            "--server-cert-thumbprint",
        ),
        (
            !args.server_cert_common_names.is_empty(),
            "--server-cert-common-name",
        ),
        (
            !args.server_cert_issuer_thumbprints.is_empty(),
            "--server-cert-issuer-thumbprint",
        ),
        (args.no_verify, "--no-verify"),
        (args.token_env.is_some(), "--token-env"),
    ]
    .into_iter()
    .filter_map(|(given, name)| given.then_some(name))
    .collect()
}

/// Connects: starts the embedded gateway when asked, then builds the client. The bearer token and the PKCS #12
/// password are added to `redact`.
pub fn connect(
    args: &ConnectionArgs,
    announce: bool,
    redact: &mut Redactor,
) -> Result<Connection, Failure> {
    let (endpoint, testkit) = if args.testkit {
        let gateway = sf_backup_testkit::start_in_background(demo_config(args.testkit_dialect))
            .map_err(|error| {
                Failure::new(
                    Exit::Other,
                    "testkit",
                    format!("cannot start the embedded test gateway: {error}"),
                )
            })?;
        if announce {
            eprintln!(
                "Using the embedded test gateway at {} (a fake cluster: nothing is really backed up).",
                gateway.url()
            );
        }
        (gateway.url(), Some(gateway))
    } else {
        (args.endpoint.clone(), None)
    };
    let mut builder = Client::builder().endpoint(endpoint);
    if let Some(pem) = &args.pem {
        builder = builder.client_certificate_pem_file(pem);
    }
    if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        builder = builder.client_certificate_pem_files(cert, key);
    }
    if let Some(pfx) = &args.pfx {
        // A PKCS #12 file may have an empty password, so an unset variable is not an error by itself.
        let password = std::env::var(PFX_PASSWORD_ENV).unwrap_or_default();
        redact.add(&password);
        builder = builder.client_certificate_pkcs12_file(pfx, password);
    }
    if let Some(ca) = &args.ca {
        builder = builder.ca_certificates_pem_file(ca);
    }
    for thumbprint in &args.server_cert_thumbprints {
        builder = builder.server_certificate_thumbprint(thumbprint);
    }
    for name in &args.server_cert_common_names {
        builder = builder.server_certificate_common_name(name);
    }
    for thumbprint in &args.server_cert_issuer_thumbprints {
        builder = builder.server_certificate_issuer_thumbprint(thumbprint);
    }
    if args.no_verify {
        builder = builder.danger_accept_invalid_server_certificates();
    }
    if let Some(var) = &args.token_env {
        let token = match std::env::var(var) {
            Ok(token) if !token.trim().is_empty() => token,
            Ok(_) => {
                return Err(Failure::invalid(format!(
                    "--token-env {var}: the environment variable is empty"
                )));
            }
            Err(_) => {
                return Err(Failure::invalid(format!(
                    "--token-env {var}: the environment variable is not set (or not UTF-8)"
                )));
            }
        };
        redact.add(&token);
        builder = builder.bearer_token(token);
    }
    let client = builder.build().map_err(in_flag_terms)?;
    Ok(Connection { client, testkit })
}

/// The library's messages name its builder methods; a person at the command line knows the flags.
fn in_flag_terms(error: sf_backup::Error) -> Failure {
    const TERMS: [(&str, &str); 4] = [
        (
            "with `client_certificate_pkcs12_file` and its password",
            "with --pfx and its password in SF_PFX_PASSWORD",
        ),
        ("with `client_certificate_pem_file`", "with --pem"),
        (
            "pass the password the certificate was exported with",
            "set SF_PFX_PASSWORD to the password the certificate was exported with",
        ),
        ("`danger_accept_invalid_server_certificates`", "--no-verify"),
    ];
    let mut failure = Failure::from(error);
    for (library, flag) in TERMS {
        failure.message = failure.message.replace(library, flag);
    }
    failure
}

/// Slow enough that a person sees each state go by, fast enough for a demo; in the service's dialect unless asked
/// otherwise, and with placeholders while a backup is pending in the documented one too.
fn demo_config(dialect: sf_backup_testkit::Dialect) -> Config {
    Config {
        dialect,
        accepted_ms: Some(400),
        in_progress_ms: Some(1200),
        pending_placeholders: true,
        ..Config::default()
    }
}
