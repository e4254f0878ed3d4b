//! Why a run failed, its exit code, and how it is reported (text or one JSON object on stderr).

use std::process::ExitCode;

use serde::Serialize;

/// The documented exit codes (see the `--help` text in `cli.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Anything the other codes do not cover.
    Other = 1,
    /// Invalid input; nothing was sent.
    InvalidInput = 2,
    /// The cluster refused the request with an error; no backup was started.
    ServiceError = 3,
    /// Nothing was sent: the cluster could not be reached, did not answer before the backup request, or TLS
    /// failed.
    Unreachable = 4,
    /// The backup ended in Failure, or the service reported Timeout.
    BackupFailed = 5,
    /// The wait timeout passed while the requested backup still ran.
    WaitTimedOut = 6,
    /// A backup may have started but its outcome is unknown.
    OutcomeUnknown = 7,
    /// The service reported Timeout, but a backup written in this request's window was found: no need to run
    /// again.
    TimedOutButWritten = 8,
    /// With several partitions: some did not succeed.
    SomeFailed = 9,
    /// Interrupted by Ctrl-C.
    Interrupted = 130,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// A failed run, ready to be reported.
#[derive(Debug, Serialize)]
pub struct Failure {
    /// More fields for the JSON object (whether a backup may have started, its last state, the command that
    /// follows it).
    #[serde(skip)]
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// The exit code.
    #[serde(skip)]
    pub exit: Exit,
    /// A stable machine-readable category, such as `service` or `invalid_input`.
    pub kind: &'static str,
    /// The HTTP status of the cluster's answer, when there was one.
    pub status: Option<u16>,
    /// The Service Fabric error code, when there was one.
    pub code: Option<String>,
    /// What went wrong, for people.
    pub message: String,
}

impl Failure {
    /// Input the tool rejects before sending anything.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Exit::InvalidInput, "invalid_input", message)
    }

    /// A failure without status or code.
    pub fn new(exit: Exit, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            extra: serde_json::Map::new(),
            exit,
            kind,
            status: None,
            code: None,
            message: message.into(),
        }
    }

    /// A failed backup request: when it may have reached the service, a backup may have started, so the exit
    /// code is 7, never the "safe to retry" 4.
    pub fn from_backup_request(error: sf_backup::Error) -> Self {
        if error.may_have_reached_service() {
            let mut message = error.to_string();
            if let Some(hint) = crate::connection::https_hint(&message) {
                message.push_str(&hint);
            }
            message.push_str(
                "; a backup may have started: do not request another before following it",
            );
            let mut failure = Self {
                exit: Exit::OutcomeUnknown,
                kind: "outcome_unknown",
                message,
                ..Self::from(error)
            };
            failure
                .extra
                .insert("may_have_started".into(), serde_json::Value::Bool(true));
            return failure;
        }
        Self::from(error)
    }

    /// Reports the failure on stderr, with every known secret removed.
    pub fn report(&self, json: bool, redact: &Redactor) {
        let line = if json {
            let mut value = serde_json::json!({
                "kind": self.kind,
                "status": self.status,
                "code": self.code,
                "message": redact.apply(&self.message),
                "exit_code": self.exit as u8,
            });
            if let Some(object) = value.as_object_mut() {
                for (key, extra) in &self.extra {
                    object.insert(key.clone(), extra.clone());
                }
            }
            redact.apply(&value.to_string())
        } else {
            format!("error: {}", redact.apply(&self.message))
        };
        eprintln!("{line}");
    }
}

/// The one map from how a wait ended ([`WaitError::kind`](sf_backup::WaitError::kind)) to the exit code and
/// the outcome name of the JSON output and the fleet report (`NotStarted` when nothing was started).
fn wait_map(error: &sf_backup::WaitError) -> (Exit, &'static str) {
    match error.kind() {
        "not_started" => (Exit::ServiceError, "NotStarted"),
        "nothing_to_follow" => (Exit::ServiceError, "NothingToFollow"),
        "backup_failed" => (Exit::BackupFailed, "Failure"),
        "backup_timed_out" => (Exit::BackupFailed, "BackupTimedOut"),
        "timed_out_but_written" => (Exit::TimedOutButWritten, "TimedOutButWritten"),
        "timed_out_possibly_written" => (Exit::BackupFailed, "TimedOutPossiblyWritten"),
        "wait_timed_out_before_request" => (Exit::Unreachable, "WaitTimedOut"),
        "wait_timed_out" if error.backup_requested() == sf_backup::Requested::Maybe => {
            (Exit::OutcomeUnknown, "WaitTimedOut")
        }
        "wait_timed_out" => (Exit::WaitTimedOut, "WaitTimedOut"),
        "ambiguous" | "progress_unavailable" => (
            Exit::OutcomeUnknown,
            if error.kind() == "ambiguous" {
                "Ambiguous"
            } else {
                "ProgressUnavailable"
            },
        ),
        "incomplete_success" => (Exit::ServiceError, "IncompleteSuccess"),
        _ => (Exit::Other, "Unknown"),
    }
}

/// The outcome name of a wait's end, for the JSON output and the fleet report.
pub fn wait_outcome(error: &sf_backup::WaitError) -> &'static str {
    wait_map(error).1
}

impl Failure {
    /// A wait that ended without a backup: its kind, exit code and message from [`wait_map`]; a request that
    /// failed keeps the request error's own kind and exit code.
    pub fn from_wait(error: sf_backup::WaitError) -> Self {
        use sf_backup::WaitError;
        let (exit, _) = wait_map(&error);
        let kind = error.kind();
        let message = error.to_string();
        let code = match &error {
            WaitError::Failed { failure, .. } => failure
                .as_ref()
                .map(|failure| failure.code.as_str().to_owned()),
            WaitError::ServiceTimeout { progress, .. } => progress
                .failure
                .as_ref()
                .map(|failure| failure.code.as_str().to_owned())
                .or_else(|| Some(sf_backup::ErrorCode::Timeout.as_str().to_owned())),
            _ => None,
        };
        match error {
            WaitError::Request(error) => Self::from(error),
            WaitError::Ambiguous { source, .. } | WaitError::ProgressUnavailable { source, .. } => {
                Self {
                    message,
                    kind,
                    exit,
                    ..Self::from(source)
                }
            }
            _ => Self {
                code,
                ..Self::new(exit, kind, message)
            },
        }
    }
}

impl From<sf_backup::Error> for Failure {
    fn from(error: sf_backup::Error) -> Self {
        use sf_backup::Error;
        let (exit, kind) = match &error {
            Error::InvalidInput { .. } => (Exit::InvalidInput, "invalid_input"),
            // The HTTP client could not be set up (for example from the TLS settings): nothing was sent.
            Error::Client { .. } => (Exit::InvalidInput, "client"),
            Error::Service { .. } => (Exit::ServiceError, "service"),
            Error::ListingFailed { .. } => (Exit::ServiceError, "listing_failed"),
            Error::UnexpectedResponse { .. } => (Exit::ServiceError, "unexpected_response"),
            Error::Transport { .. } => (Exit::Unreachable, "transport"),
            Error::NoAnswer { .. } => (Exit::Unreachable, "no_answer"),
            _ => (Exit::Other, "other"),
        };
        let mut message = error.to_string();
        if matches!(&error, Error::UnexpectedResponse { status, .. } if status.as_u16() == 404) {
            message.push_str(
                "; no Service Fabric error came with the 404: check --endpoint, which should be the cluster's \
                 HTTP gateway, such as http://localhost:19080",
            );
        }
        let mut extra = serde_json::Map::new();
        // A refused TLS handshake is told in the operator's words, with the option that would accept it.
        if let Some(rejection) = error.tls_rejection() {
            message = crate::connection::tls_advice(&rejection);
            extra.insert("tls".into(), crate::connection::tls_json(&rejection));
        } else if let Some(hint) = crate::connection::https_hint(&message) {
            message.push_str(&hint);
        }
        Self {
            extra,
            exit,
            kind,
            status: error.status().map(|status| status.as_u16()),
            code: error.code().map(|code| code.as_str().to_owned()),
            message,
        }
    }
}

/// Removes secret values from text before it is printed. The facade already keeps secrets out of its messages;
/// this is the second line of defence for text the tool does not control (clap's errors echo arguments, serde's
/// errors echo values).
#[derive(Debug, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// Very short values would blank out ordinary words of a message while protecting nothing worth protecting.
    const MIN_LEN: usize = 4;

    /// Remembers a secret value.
    pub fn add(&mut self, secret: &str) {
        if secret.len() >= Self::MIN_LEN && !self.secrets.iter().any(|known| known == secret) {
            self.secrets.push(secret.to_owned());
            // Longest first, so a secret containing another is replaced whole.
            self.secrets
                .sort_by_key(|known| std::cmp::Reverse(known.len()));
        }
    }

    /// `text` with every remembered secret replaced by `<redacted>`.
    pub fn apply(&self, text: &str) -> String {
        self.secrets.iter().fold(text.to_owned(), |text, secret| {
            text.replace(secret.as_str(), "<redacted>")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_replaced_longest_first() {
        let mut redact = Redactor::default();
        redact.add("abcd");
        redact.add("abcd1234");
        redact.add("x");
        assert_eq!(
            redact.apply("pw abcd1234 and abcd and x"),
            "pw <redacted> and <redacted> and x"
        );
    }
}
