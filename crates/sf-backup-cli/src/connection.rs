//! Builds the facade client from the connection options, starting the embedded gateway for `--testkit`.

use sf_backup::Client;
use sf_backup_testkit::{BackgroundGateway, Config};

use crate::cli::ConnectionArgs;
use crate::failure::{Exit, Failure};

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
    let unsupported: Vec<&str> = [
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
        (args.no_verify, "--no-verify"),
        (args.token_env.is_some(), "--token-env"),
    ]
    .into_iter()
    .filter_map(|(given, name)| given.then_some(name))
    .collect();
    if !unsupported.is_empty() {
        return Err(Failure::not_supported(format!(
            "{} not supported yet: this build of the sf-backup library has no TLS client certificate, server \
             certificate or token options, and connecting without them would not be what you asked for",
            if unsupported.len() == 1 {
                format!("{} is", unsupported[0])
            } else {
                format!("{} are", unsupported.join(", "))
            }
        )));
    }
    Ok(())
}

/// Connects: starts the embedded gateway when asked, then builds the client.
pub fn connect(args: &ConnectionArgs, announce: bool) -> Result<Connection, Failure> {
    let (endpoint, testkit) = if args.testkit {
        let gateway = sf_backup_testkit::start_in_background(demo_config()).map_err(|error| {
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
    let client = Client::builder().endpoint(endpoint).build()?;
    Ok(Connection { client, testkit })
}

/// Slow enough that a person sees each state go by, fast enough for a demo; with the placeholders a real cluster
/// sends while a backup is pending.
fn demo_config() -> Config {
    Config {
        accepted_ms: Some(400),
        in_progress_ms: Some(1200),
        pending_placeholders: true,
        ..Config::default()
    }
}
