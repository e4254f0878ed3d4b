//! Connection options that are certainly a mistake are refused before anything is sent: an endpoint with more
//! than the gateway's address, certificate options with an http endpoint, and the ambiguous `--timeout`. Each
//! test points the binary at a loopback listener that records every connection, and checks that none came.

mod support;

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use support::{PARTITION, Run, run_with_env as run};

/// A loopback port that accepts connections, counts them and closes them at once. It stays bound for the whole
/// test, so no other process can take the port in between.
struct Listener {
    url: String,
    connections: Arc<AtomicUsize>,
}

impl Listener {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&connections);
        // The thread ends with the test process; a blocked accept holds nothing else.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                counted.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        Self { url, connections }
    }

    fn host(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    #[track_caller]
    fn assert_untouched(&self, what: &str) {
        assert_eq!(
            self.connections.load(Ordering::SeqCst),
            0,
            "{what}: a connection reached the listener"
        );
    }
}

/// Asserts exit code 2 (invalid input) and that stderr holds every one of `expected`.
#[track_caller]
fn refused(run: &Run, expected: &[&str]) {
    assert_eq!(
        run.code, 2,
        "exit code\nstdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    for text in expected {
        assert!(
            run.stderr.contains(text),
            "{text:?} missing from: {}",
            run.stderr
        );
    }
}

#[test]
fn an_endpoint_with_a_path_query_or_fragment_is_refused_naming_the_flag_and_the_fix() {
    let listener = Listener::start();
    let gateway = listener.url.as_str();
    for (suffix, what) in [
        ("/Explorer/index.html", "a path (/Explorer/index.html)"),
        ("/Explorer", "Service Fabric Explorer"),
        ("/proxy/sf", "a path (/proxy/sf)"),
        ("/?api-version=6.4", "a query (?…)"),
        ("#partitions", "a fragment (#…)"),
    ] {
        let endpoint = format!("{gateway}{suffix}");
        for command in [
            vec!["progress", PARTITION],
            vec!["backup", PARTITION],
            vec!["backups", PARTITION],
        ] {
            let result = run(
                &[&["--endpoint", endpoint.as_str()], &command[..]].concat(),
                &[],
            );
            refused(
                &result,
                &["--endpoint", what, &format!("pass {gateway} instead")],
            );
        }
    }
    // The query is never echoed: a pasted URL may carry a signature there.
    let result = run(
        &[
            "--endpoint",
            &format!("{gateway}/?sig=secret-signature-1"),
            "progress",
            PARTITION,
        ],
        &[],
    );
    refused(&result, &["--endpoint"]);
    assert!(
        !result.stderr.contains("secret-signature-1"),
        "{}",
        result.stderr
    );
    // From the environment, the message says where the value came from.
    let endpoint = format!("{gateway}/Explorer/index.html");
    let result = run(&["progress", PARTITION], &[("SF_ENDPOINT", &endpoint)]);
    refused(&result, &["--endpoint (from SF_ENDPOINT)", "a path"]);
    // In JSON too, as an invalid_input error.
    let result = run(
        &[
            "--endpoint",
            &endpoint,
            "--output",
            "json",
            "progress",
            PARTITION,
        ],
        &[],
    );
    let error: serde_json::Value = serde_json::from_str(&result.stderr).unwrap();
    assert_eq!(error["kind"], "invalid_input", "{error}");
    assert_eq!(error["exit_code"], 2, "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("--endpoint"),
        "{error}"
    );
    listener.assert_untouched("an endpoint with a path, query or fragment");
}

#[test]
fn a_trailing_slash_is_still_an_endpoint_and_is_used() {
    let listener = Listener::start();
    let endpoint = format!("{}/", listener.url);
    let result = run(
        &[
            "--endpoint",
            &endpoint,
            "--output",
            "json",
            "progress",
            PARTITION,
        ],
        &[],
    );
    // The listener closes every connection unanswered: the read fails, but it was tried.
    assert_eq!(result.code, 4, "{}", result.stderr);
    assert!(listener.connections.load(Ordering::SeqCst) > 0);
}

#[test]
fn certificate_options_with_an_http_endpoint_are_refused_naming_each_flag() {
    let listener = Listener::start();
    let endpoint = listener.url.as_str();
    let thumbprint = "8A3C2F00112233445566778899AABBCCDDEEFF00";
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["--pem", "client.pem"],
            vec!["--pem only applies to https"],
        ),
        (
            vec!["--cert", "client.crt", "--key", "client.key"],
            vec!["--cert, --key only apply to https"],
        ),
        (vec!["--pfx", "client.pfx"], vec!["--pfx"]),
        (vec!["--ca", "ca.pem"], vec!["--ca only applies"]),
        (
            vec!["--server-cert-thumbprint", thumbprint],
            vec!["--server-cert-thumbprint"],
        ),
        (
            vec!["--server-cert-common-name", "mycluster"],
            vec!["--server-cert-common-name"],
        ),
        (vec!["--no-verify"], vec!["--no-verify"]),
        (
            vec![
                "--pem",
                "client.pem",
                "--server-cert-thumbprint",
                thumbprint,
            ],
            vec!["--pem, --server-cert-thumbprint only apply to https"],
        ),
    ];
    for (flags, expected) in cases {
        for command in [vec!["progress", PARTITION], vec!["backup", PARTITION]] {
            let result = run(
                &[&["--endpoint", endpoint], &flags[..], &command[..]].concat(),
                &[],
            );
            let fix = format!("--endpoint https://{}", listener.host());
            refused(
                &result,
                &[&expected[..], &["--endpoint", endpoint, fix.as_str()]].concat(),
            );
        }
    }
    listener.assert_untouched("certificate options with an http endpoint");
    // Left at its default, the endpoint is http://localhost:19080: the message says it is the default, which is
    // what someone who forgot --endpoint needs to read.
    let result = run(&["--pem", "client.pem", "progress", PARTITION], &[]);
    refused(
        &result,
        &["--pem", "http://localhost:19080 (the default)", "https://"],
    );
}

#[test]
fn the_ambiguous_timeout_is_refused_naming_both_timeouts() {
    let listener = Listener::start();
    let endpoint = listener.url.as_str();
    for command in [
        vec!["backup", PARTITION, "--timeout", "30"],
        vec!["backup", PARTITION, "--timeout=30", "--wait"],
    ] {
        let result = run(&[&["--endpoint", endpoint], &command[..]].concat(), &[]);
        refused(
            &result,
            &[
                "--timeout is ambiguous",
                "--server-timeout SECONDS",
                "--backup-timeout MINUTES",
            ],
        );
    }
    for command in [
        vec!["progress", PARTITION, "--timeout", "30"],
        vec!["backups", PARTITION, "--timeout", "30"],
    ] {
        let result = run(&[&["--endpoint", endpoint], &command[..]].concat(), &[]);
        refused(
            &result,
            &[
                "--timeout is ambiguous",
                "--server-timeout SECONDS",
                "backup --backup-timeout",
            ],
        );
    }
    listener.assert_untouched("--timeout");
    // The help shows the two names, each saying which clock it sets, and not the refused one.
    let help = run(&["backup", "--help"], &[]);
    assert_eq!(help.code, 0, "{}", help.stderr);
    assert!(
        help.stdout.contains("--server-timeout <SECONDS>"),
        "{}",
        help.stdout
    );
    assert!(
        help.stdout.contains("--backup-timeout <MINUTES>"),
        "{}",
        help.stdout
    );
    assert!(!help.stdout.contains("--timeout"), "{}", help.stdout);
}

#[test]
fn the_embedded_gateway_is_in_the_help_exactly_when_the_testkit_feature_is_on() {
    let help = run(&["--help"], &[]);
    assert_eq!(help.code, 0, "{}", help.stderr);
    let shown = [
        help.stdout.contains("--testkit"),
        help.stdout.contains("--testkit-dialect"),
        help.stdout
            .lines()
            .any(|line| line.trim_start().starts_with("testkit ")),
    ];
    assert_eq!(
        shown,
        [cfg!(feature = "testkit"); 3],
        "--testkit, --testkit-dialect, the testkit subcommand:\n{}",
        help.stdout
    );
    if !cfg!(feature = "testkit") {
        let result = run(&["--testkit", "progress", PARTITION], &[]);
        assert_eq!(result.code, 2, "{}", result.stderr);
    }
}
