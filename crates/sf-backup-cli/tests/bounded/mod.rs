//! Runs the built binary with a process timeout, the variables it reads cleared, and no stdin: a regression that
//! makes it hang fails the test instead of the suite.
// Each test file is its own crate and uses only some of these.
#![allow(dead_code)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_sf-backup");
pub const PARTITION: &str = "1daae3f5-7fd6-42e9-b1ba-8c05f873994d";
/// Far above what any run here needs (the refusals come before any network use; a TLS handshake on loopback
/// takes milliseconds), so only a hang comes near it, however busy the machine.
pub const PROCESS_TIMEOUT: Duration = Duration::from_secs(120);

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The JSON error object `--output json` writes on stderr.
    pub fn stderr_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stderr)
            .unwrap_or_else(|e| panic!("stderr is not one JSON value ({e}): {}", self.stderr))
    }

    #[track_caller]
    pub fn expect(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Runs the binary with `args` and `env` (after clearing the variables it reads), killed after
/// [`PROCESS_TIMEOUT`].
pub fn run(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(BIN);
    for var in [
        "SF_ENDPOINT",
        "SF_BACKUP_CONNECTION_STRING",
        "SF_BACKUP_PRIMARY_PASSWORD",
        "SF_BACKUP_SECONDARY_PASSWORD",
        "SF_PFX_PASSWORD",
    ] {
        command.env_remove(var);
    }
    // Output is read after exit: every run here prints far less than a pipe holds.
    let mut child = command
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > PROCESS_TIMEOUT {
            child.kill().unwrap();
            let _ = child.wait();
            panic!("{args:?} ran longer than {PROCESS_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}
