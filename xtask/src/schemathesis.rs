//! `cargo xtask schemathesis`: Schemathesis (property-based API testing from the OpenAPI document) drives a server
//! with requests generated from the committed spec and checks every answer against it.
//!
//! `--url URL` checks any server or gateway; without it the testkit binary is started once per dialect on a free
//! loopback port (and stopped after), with `xtask/schemathesis/testkit.toml`, which lets half of the generated
//! application and service ids name the testkit's default topology. The run is bounded and repeatable: a fixed
//! seed, [`MAX_EXAMPLES`] cases per operation, one worker, no example database, and a wall-clock limit.
//!
//! Checks: no 5xx, no status the spec does not declare, every body valid under its schema, no undeclared header
//! and, except against the testkit's service dialect, the declared `Content-Type`. The one named deviation: the
//! service labels its FabricError bodies `text/plain; charset=utf-8` (`FabricErrorError.cs`, `StringContent`), and
//! the api crate decodes error bodies whatever their label (spec/README.md), so `content_type_conformance` is left
//! out for that dialect; its bodies are still validated as JSON against the spec.
//!
//! Temporarily excluded from every run: [`EXCLUDED_OPERATIONS`], the two restore operations, until the testkit
//! models restore (issue 27): the spec declares them, but the testkit has neither route, so their cases would
//! only meet its 404 for an unknown endpoint and pass without checking anything of restore.
//!
//! The tools come from the pinned `xtask/schemathesis/requirements.txt`, installed into the virtualenv
//! [`VENV`] by `.ci/spec-tools` (which `.ci/run` calls).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::codegen::{SPEC_PATH, workspace_root};

/// The virtualenv with the pinned tools, relative to the workspace root.
pub const VENV: &str = "target/spec-tools";
/// Generated cases per operation.
const MAX_EXAMPLES: &str = "50";
/// The seed of every run.
const SEED: &str = "1";
/// The longest one Schemathesis run may take.
const RUN_LIMIT: Duration = Duration::from_secs(240);
/// The longest the testkit may take to print its address.
const START_LIMIT: Duration = Duration::from_secs(30);
/// The checks of every run; [`SERVICE_DIALECT_EXCLUDED`] is left out against the testkit's service dialect.
const CHECKS: &str = "not_a_server_error,status_code_conformance,response_schema_conformance,\
                      response_headers_conformance,content_type_conformance";
/// The named deviation of the service dialect: `text/plain` FabricError bodies.
const SERVICE_DIALECT_EXCLUDED: &str = "content_type_conformance";
/// Operations left out of every run, by operationId: the testkit does not model restore yet (issue 27). Temporary:
/// remove them when it does (spec/README.md, "Checking a server against the spec").
const EXCLUDED_OPERATIONS: [&str; 2] = ["RestorePartition", "GetPartitionRestoreProgress"];
const DIALECTS: [&str; 2] = ["service", "documented"];

const USAGE: &str = "cargo xtask schemathesis [--url URL] [--dialect service|documented]";

/// Runs the task with the arguments after its name.
pub fn run(args: &[&str]) -> Result<(), String> {
    let (mut url, mut dialects) = (None, DIALECTS.to_vec());
    let mut rest = args.iter();
    while let Some(&arg) = rest.next() {
        match (arg, rest.next().copied()) {
            ("--url", Some(value)) => url = Some(value),
            ("--dialect", Some(value)) if DIALECTS.contains(&value) => dialects = vec![value],
            _ => return Err(format!("unexpected argument {arg:?}; usage: {USAGE}")),
        }
    }
    let root = workspace_root();
    let tool = root.join(VENV).join("bin/schemathesis");
    if !tool.exists() {
        return Err(format!(
            "{} is missing: run `.ci/spec-tools` (a Python 3 virtualenv with the pinned Schemathesis)",
            tool.display()
        ));
    }
    if let Some(url) = url {
        return schemathesis(&root, &tool, url, None, CHECKS);
    }
    build_testkit(&root)?;
    for dialect in dialects {
        println!("== schemathesis against the testkit, {dialect} dialect");
        let mut testkit = Testkit::start(&root, dialect)?;
        let checks = if dialect == "service" {
            CHECKS.replace(&format!(",{SERVICE_DIALECT_EXCLUDED}"), "")
        } else {
            CHECKS.to_owned()
        };
        let config = root.join("xtask/schemathesis/testkit.toml");
        let outcome = schemathesis(&root, &tool, &testkit.url, Some(&config), &checks);
        testkit.stop();
        outcome.map_err(|e| format!("{dialect} dialect: {e}"))?;
    }
    Ok(())
}

/// One bounded Schemathesis run of the committed spec against `url`.
fn schemathesis(
    root: &Path,
    tool: &Path,
    url: &str,
    config: Option<&Path>,
    checks: &str,
) -> Result<(), String> {
    let mut command = Command::new(tool);
    // Schemathesis keeps a crash cache (`.schemathesis/`) in its working directory: the virtualenv's, not the tree.
    command.current_dir(root.join(VENV)).arg("--no-color");
    if let Some(config) = config {
        command.arg("--config-file").arg(config);
    }
    command.args([
        "run",
        &root.join(SPEC_PATH).to_string_lossy(),
        "--url",
        url,
        "--checks",
        checks,
        "--max-examples",
        MAX_EXAMPLES,
        "--seed",
        SEED,
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--request-timeout",
        "10",
    ]);
    for operation in EXCLUDED_OPERATIONS {
        command.args(["--exclude-operation-id", operation]);
    }
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", tool.display()))?;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "schemathesis ran longer than {RUN_LIMIT:?} and was stopped"
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    println!("schemathesis took {:.1} s", started.elapsed().as_secs_f64());
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "schemathesis found problems ({status}); see its report above"
        ))
    }
}

fn build_testkit(root: &Path) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "--quiet",
            "--locked",
            "--package",
            "sf-backup-testkit",
            "--bin",
            "sf-backup-testkit",
        ])
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("building the testkit failed ({status})"))
}

/// The testkit binary, listening on a free loopback port; killed when stopped or dropped.
struct Testkit {
    child: Child,
    url: String,
}

impl Testkit {
    fn start(root: &Path, dialect: &str) -> Result<Testkit, String> {
        let target =
            std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
        let binary = target.join("debug/sf-backup-testkit");
        let mut child = Command::new(&binary)
            .args(["--listen", "127.0.0.1:0", "--dialect", dialect])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let stdout = child.stdout.take().expect("piped");
        // The address line is read on a thread, so a testkit that never prints it cannot hang the task.
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("sf-backup-testkit listening on ") {
                    let _ = sender.send(url.trim().to_owned());
                }
            }
        });
        let mut testkit = Testkit {
            child,
            url: String::new(),
        };
        match receiver.recv_timeout(START_LIMIT) {
            Ok(url) => {
                testkit.url = url;
                Ok(testkit)
            }
            Err(_) => {
                testkit.stop();
                Err(format!(
                    "the testkit printed no address within {START_LIMIT:?}"
                ))
            }
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Testkit {
    fn drop(&mut self) {
        self.stop();
    }
}
