//! Why a run failed, its exit code, and how it is reported (text or one JSON object on stderr).

use std::ffi::OsString;
use std::process::ExitCode;

use serde::Serialize;

use crate::redact::Redactor;

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

fn exit_code<S: serde::Serializer>(exit: &Exit, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u8(*exit as u8)
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// A failed run, ready to be reported. `Serialize` writes the JSON error object of `--output json`.
#[derive(Debug, Serialize)]
pub struct Failure {
    /// The exit code.
    #[serde(rename = "exit_code", serialize_with = "exit_code")]
    pub exit: Exit,
    /// A stable machine-readable category, such as `service` or `invalid_input`.
    pub kind: &'static str,
    /// The HTTP status of the cluster's answer, when there was one.
    pub status: Option<u16>,
    /// The Service Fabric error code, when there was one.
    pub code: Option<String>,
    /// What went wrong, for people.
    pub message: String,
    /// More fields for the JSON object (whether a backup may have started, its last state, the command that
    /// follows it).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
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
            if let Some(hint) = crate::tls_words::https_hint(&message) {
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
            let mut value = serde_json::to_value(self).unwrap_or_default();
            // The message as text, before JSON escapes it, then the whole line.
            value["message"] = redact.apply(&self.message).into();
            redact.apply(&value.to_string())
        } else {
            format!("error: {}", redact.apply(&self.message))
        };
        eprintln!("{line}");
    }
}

/// The one map from how a wait ended ([`WaitError::kind`](sf_backup::WaitError::kind)) to the exit code and
/// the outcome name that the text, the JSON output and the fleet report show (`NotStarted` when nothing was
/// started). The exit code depends on the kind alone, but for a wait timeout after a request whose answer was
/// lost: then whether a backup started at all is unknown (7), not only its end (6).
pub fn wait_outcome(error: &sf_backup::WaitError) -> (Exit, &'static str) {
    let kind = error.kind();
    let (exit, outcome) = match kind {
        "not_started" => (Exit::ServiceError, "NotStarted"),
        "nothing_to_follow" => (Exit::ServiceError, "NothingToFollow"),
        "backup_failed" => (Exit::BackupFailed, "Failure"),
        "backup_timed_out" => (Exit::BackupFailed, "BackupTimedOut"),
        "timed_out_but_written" => (Exit::TimedOutButWritten, "TimedOutButWritten"),
        "timed_out_possibly_written" => (Exit::BackupFailed, "TimedOutPossiblyWritten"),
        "wait_timed_out_before_request" => (Exit::Unreachable, "WaitTimedOut"),
        "wait_timed_out" => (Exit::WaitTimedOut, "WaitTimedOut"),
        "ambiguous" => (Exit::OutcomeUnknown, "Ambiguous"),
        "progress_unavailable" => (Exit::OutcomeUnknown, "ProgressUnavailable"),
        "incomplete_success" => (Exit::ServiceError, "IncompleteSuccess"),
        // A kind a later facade adds: its outcome is not known to this map.
        _ => (Exit::Other, "Unknown"),
    };
    if exit == Exit::WaitTimedOut && error.backup_requested() == sf_backup::Requested::Maybe {
        return (Exit::OutcomeUnknown, outcome);
    }
    (exit, outcome)
}

impl Failure {
    /// A wait that ended without a backup: its kind, exit code and message from [`wait_map`]; a request that
    /// failed keeps the request error's own kind and exit code.
    pub fn from_wait(error: sf_backup::WaitError) -> Self {
        use sf_backup::WaitError;
        let (exit, _) = wait_outcome(&error);
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
            // The service answered every page, but its list never ended.
            Error::EndlessList { .. } => (Exit::ServiceError, "endless_list"),
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
            message = crate::tls_words::tls_advice(&rejection);
            extra.insert("tls".into(), crate::tls_words::tls_json(&rejection));
        } else if let Some(hint) = crate::tls_words::https_hint(&message) {
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

/// A command line clap refused (or `--help`/`--version`, which go to stdout with exit code 0): reported like
/// any other invalid input, in JSON when the raw arguments ask for it.
pub fn usage_error(error: &clap::Error, args: &[OsString], redact: &Redactor) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        // Nothing in help or version text can hold a secret.
        let _ = error.print();
        return ExitCode::SUCCESS;
    }
    let text = error.render().to_string();
    if wants_json(args) {
        Failure::invalid(text.trim().to_owned()).report(true, redact);
    } else {
        eprint!("{}", redact.apply(&text));
    }
    Exit::InvalidInput.into()
}

/// Whether `--output json` was asked for, read from the raw arguments because clap failed to parse them.
fn wants_json(args: &[OsString]) -> bool {
    args.iter()
        .zip(args.iter().skip(1).map(Some).chain([None]))
        .any(|(arg, next)| {
            arg == "--output=json" || (arg == "--output" && next.is_some_and(|next| next == "json"))
        })
}
