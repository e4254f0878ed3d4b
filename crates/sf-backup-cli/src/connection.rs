//! Builds the facade client from the connection options (starting the embedded gateway for `--testkit`), after
//! refusing options that are certainly a mistake.

use sf_backup::Client;

use crate::cli::ConnectionArgs;
use crate::failure::{Exit, Failure};
use crate::redact::Redactor;

/// The embedded gateway, kept alive for the client's lifetime; a build without the `testkit` feature has none.
#[cfg(feature = "testkit")]
pub type Embedded = sf_backup_testkit::BackgroundGateway;
/// A build without the `testkit` feature never holds an embedded gateway.
#[cfg(not(feature = "testkit"))]
pub type Embedded = std::convert::Infallible;

/// Where `--pfx` takes its password from; never a flag, so that it stays out of process listings.
pub const PFX_PASSWORD_ENV: &str = "SF_PFX_PASSWORD";

/// A client, and the embedded gateway it talks to when `--testkit` asked for one (dropping it stops the gateway).
pub struct Connection {
    /// The facade client.
    pub client: Client,
    /// The embedded gateway, kept alive for the client's lifetime.
    pub testkit: Option<Embedded>,
}

/// Checks the connection options before anything starts, so a rejected option never leaves a request half sent.
///
/// `endpoint_on_command_line` tells whether `--endpoint` was a flag (an `SF_ENDPOINT` in the environment is
/// ambient and yields to `--testkit`).
pub fn check(args: &ConnectionArgs, endpoint_on_command_line: bool) -> Result<(), Failure> {
    #[cfg(feature = "testkit")]
    if args.testkit {
        let security = security_flags(args);
        if endpoint_on_command_line {
            return Err(Failure::invalid(
                "--testkit and --endpoint exclude each other: --testkit starts its own gateway",
            ));
        }
        if !security.is_empty() {
            return Err(Failure::invalid(format!(
                "{} cannot be used with --testkit: the embedded gateway speaks plain http without \
                 authentication",
                security.join(", ")
            )));
        }
        return Ok(());
    }
    let from_environment = std::env::var_os("SF_ENDPOINT").is_some();
    let endpoint = Endpoint::split(
        &args.endpoint,
        !endpoint_on_command_line && !from_environment,
    );
    let named = if endpoint_on_command_line || !from_environment {
        "--endpoint"
    } else {
        "--endpoint (from SF_ENDPOINT)"
    };
    if let Some(endpoint) = &endpoint {
        endpoint.refuse_more_than_a_gateway(named)?;
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
    check_server_validation(args)?;
    // After the rules above, which say more precisely what is wrong among the certificate options themselves.
    match &endpoint {
        Some(endpoint) => refuse_certificates_over_http(args, endpoint, named),
        None => Ok(()),
    }
}

/// The parts of an endpoint URL that the checks below look at. Anything that does not even split like a URL is
/// left to the library, whose message says what an endpoint looks like.
struct Endpoint<'a> {
    scheme: &'a str,
    /// Host and port, without user info (which may hold a password).
    host: &'a str,
    path: &'a str,
    has_query: bool,
    has_fragment: bool,
    /// Not given at all: the tool's default.
    defaulted: bool,
}

impl<'a> Endpoint<'a> {
    fn split(text: &'a str, defaulted: bool) -> Option<Self> {
        let text = text.trim();
        let (scheme, rest) = text.split_once("://")?;
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, rest) = rest.split_at(authority_end);
        let host = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        let path_end = rest.find(['?', '#']).unwrap_or(rest.len());
        let (path, rest) = rest.split_at(path_end);
        Some(Self {
            scheme,
            host,
            path,
            has_query: rest.starts_with('?'),
            has_fragment: rest.contains('#'),
            defaulted,
        })
    }

    /// The endpoint with only what it may have: scheme, host and port.
    fn gateway(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }

    fn is_http(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("http")
    }

    /// Shown in messages: the query and fragment are never echoed (a pasted URL may carry a signature there).
    fn shown(&self) -> String {
        let mut shown = format!("{}{}", self.gateway(), self.path);
        if self.has_query {
            shown.push_str("?…");
        }
        if self.has_fragment {
            shown.push_str("#…");
        }
        if self.defaulted {
            shown.push_str(" (the default)");
        }
        shown
    }

    /// The endpoint is the gateway's base URL: every request appends its own path and query to it, so anything
    /// after the port would be sent in front of each one (a Service Fabric Explorer address is the usual
    /// mistake).
    fn refuse_more_than_a_gateway(&self, named: &str) -> Result<(), Failure> {
        let extra: Vec<String> = [
            (
                !self.path.trim_end_matches('/').is_empty(),
                format!("a path ({})", self.path),
            ),
            (self.has_query, "a query (?…)".to_owned()),
            (self.has_fragment, "a fragment (#…)".to_owned()),
        ]
        .into_iter()
        .filter_map(|(present, what)| present.then_some(what))
        .collect();
        if extra.is_empty() {
            return Ok(());
        }
        let explorer = if self.path.to_ascii_lowercase().starts_with("/explorer") {
            " (that is Service Fabric Explorer's page; the gateway is the same address without it)"
        } else {
            ""
        };
        Err(Failure::invalid(format!(
            "{named} {} has {}: the endpoint is the cluster's HTTP gateway, and every request adds its own path \
             and query to it{explorer}; pass {} instead",
            self.shown(),
            extra.join(" and "),
            self.gateway()
        )))
    }
}

/// Certificate options only apply to https: with an http endpoint they would be ignored and the connection
/// left unencrypted, which is never what someone who passed them meant.
fn refuse_certificates_over_http(
    args: &ConnectionArgs,
    endpoint: &Endpoint<'_>,
    named: &str,
) -> Result<(), Failure> {
    if !endpoint.is_http() {
        return Ok(());
    }
    let certificates: Vec<&str> = security_flags(args)
        .into_iter()
        .filter(|flag| *flag != "--token-env")
        .collect();
    if certificates.is_empty() {
        return Ok(());
    }
    let (them, apply) = if certificates.len() == 1 {
        ("it", "applies")
    } else {
        ("them", "apply")
    };
    Err(Failure::invalid(format!(
        "{} only {apply} to https (client certificates and server certificate validation are part of TLS), but \
         {named} is {}: nothing would use {them} and the connection would not be encrypted; pass the secured \
         cluster's https endpoint (such as --endpoint https://{}), or remove {} for a cluster without security",
        certificates.join(", "),
        endpoint.shown(),
        endpoint.host,
        certificates.join(", ")
    )))
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
    let (endpoint, testkit) = embedded(args, announce)?;
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

/// The endpoint to use, and the embedded gateway behind it when `--testkit` asked for one.
#[cfg(feature = "testkit")]
fn embedded(args: &ConnectionArgs, announce: bool) -> Result<(String, Option<Embedded>), Failure> {
    if !args.testkit {
        return Ok((args.endpoint.clone(), None));
    }
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
    Ok((gateway.url(), Some(gateway)))
}

/// The endpoint to use: this build has no embedded gateway.
#[cfg(not(feature = "testkit"))]
fn embedded(args: &ConnectionArgs, _announce: bool) -> Result<(String, Option<Embedded>), Failure> {
    Ok((args.endpoint.clone(), None))
}

/// Slow enough that a person sees each state go by, fast enough for a demo; in the service's dialect unless asked
/// otherwise, and with placeholders while a backup is pending in the documented one too.
#[cfg(feature = "testkit")]
fn demo_config(dialect: sf_backup_testkit::Dialect) -> sf_backup_testkit::Config {
    sf_backup_testkit::Config {
        dialect,
        accepted_ms: Some(400),
        in_progress_ms: Some(1200),
        pending_placeholders: true,
        ..sf_backup_testkit::Config::default()
    }
}

/// The runtime every command runs its requests on: one thread, since the tool does one thing at a time.
pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| Failure::new(Exit::Other, "runtime", format!("cannot start: {error}")))
}
