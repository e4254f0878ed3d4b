//! The CLI tests' one helper for running the built binary: its exit code and output, with the variables it reads
//! cleared so that the developer's environment cannot change a test's outcome, and a process timeout so that a
//! regression that makes it hang fails the test instead of the suite.
// Each test file is its own crate and uses only some of these.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_sf-backup");
/// The partition most tests address.
pub const PARTITION: &str = "1daae3f5-7fd6-42e9-b1ba-8c05f873994d";
/// Variables the binary reads; cleared so that the developer's environment cannot change a test's outcome.
pub const ENV: [&str; 5] = [
    "SF_ENDPOINT",
    "SF_BACKUP_CONNECTION_STRING",
    "SF_BACKUP_PRIMARY_PASSWORD",
    "SF_BACKUP_SECONDARY_PASSWORD",
    "SF_PFX_PASSWORD",
];

/// How long a run of the binary may take before the test fails (and the process is killed): a hung wait fails
/// the suite instead of hanging it. Generous, so that a loaded machine slows tests down without failing them.
pub const PROCESS_TIMEOUT: Duration = Duration::from_secs(120);

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    pub fn stdout_json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON value ({e}): {}", self.stdout))
    }

    pub fn stderr_json(&self) -> Value {
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

/// Runs the binary with `args`, `env` (after clearing [`ENV`]) and `stdin`, killed after [`PROCESS_TIMEOUT`].
pub fn run(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let mut command = Command::new(BIN);
    for var in ENV {
        command.env_remove(var);
    }
    command
        .args(args)
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("the binary starts");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    finish(child, PROCESS_TIMEOUT)
}

/// Waits for `child` at most `timeout` (then kills it and fails), reading its output as it comes.
pub fn finish(mut child: Child, timeout: Duration) -> Run {
    let read = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = read(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = read(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the binary did not end within {timeout:?}\nstdout: {}\nstderr: {}",
                stdout.join().unwrap(),
                stderr.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run {
        code: status.code().expect("exited, not killed"),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// [`run`] with no environment and no stdin.
pub fn sf_backup(args: &[&str]) -> Run {
    run(args, &[], None)
}

/// [`run`] with `env` and no stdin.
pub fn run_with_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    run(args, env, None)
}
