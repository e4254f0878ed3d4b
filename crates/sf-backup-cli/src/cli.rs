//! The command line as clap sees it. Cross-argument rules that depend on where a value came from (command line
//! or environment) live in `storage.rs` and `connection.rs`, because clap counts an environment value as given.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use sf_backup::{PartitionId, Secret};

/// The exit codes, shown after every `--help`: they are part of the interface scripts rely on.
macro_rules! exit_codes {
    () => {
        "Exit codes:
  0    success
  1    another failure (for example, a report file could not be written)
  2    invalid input; nothing was sent
  3    the cluster refused the request with an error; no backup was started
  4    nothing was sent: the cluster could not be reached, did not answer before the backup
       request, or TLS failed; safe to retry
  5    the backup ended in Failure, or the service reported Timeout and no single backup of this
       request was found in storage (with --wait; several candidates are listed)
  6    the wait timeout passed while the requested backup still ran (with --wait); follow it with
       `sf-backup progress <PARTITION_ID> --wait`
  7    a backup may have started but its outcome is unknown (the backup request's answer was lost, or
       progress could not be read after it); do not retry before following it
  8    the service reported Timeout, but a backup written in this request's window was found: no need
       to run again (with --wait; the found backup is printed, and its backup_id is in the JSON)
  9    with several partitions: some did not succeed (the summary counts them); --resume skips the ones
       that did and follows the ones still running
  130  interrupted (Ctrl-C); what was known is printed, with the command that follows the backup (with
       several partitions, --resume <report> follows the ones left running)"
    };
}

const EXIT_CODES: &str = exit_codes!();

/// What every `--help` ends with; the demo line only where the embedded gateway is built in.
macro_rules! secrets_note {
    () => {
        "

Secrets (--connection-string, --primary-password, --secondary-password) are better passed through
SF_BACKUP_CONNECTION_STRING, SF_BACKUP_PRIMARY_PASSWORD and SF_BACKUP_SECONDARY_PASSWORD: command lines are
visible to other users of the machine. They are never printed."
    };
}

#[cfg(feature = "testkit")]
const AFTER_HELP: &str = concat!(
    exit_codes!(),
    secrets_note!(),
    "

Try it without a cluster:
  sf-backup --testkit backup 1daae3f5-7fd6-42e9-b1ba-8c05f873994d --wait"
);

#[cfg(not(feature = "testkit"))]
const AFTER_HELP: &str = concat!(exit_codes!(), secrets_note!());

/// Back up Service Fabric partitions and follow their progress through a cluster's HTTP gateway.
#[derive(Debug, Parser)]
#[command(name = "sf-backup", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// How to reach the cluster.
    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How to reach the cluster and how to print results. Global: accepted before or after the subcommand.
#[derive(Debug, Args)]
#[command(next_help_heading = "Connection")]
pub struct ConnectionArgs {
    /// The cluster's HTTP gateway: scheme, host and port only, such as https://mycluster:19080 (not the
    /// Service Fabric Explorer page). Certificate options need https.
    #[arg(
        long,
        global = true,
        env = "SF_ENDPOINT",
        value_name = "URL",
        default_value = sf_backup::DEFAULT_ENDPOINT
    )]
    pub endpoint: String,

    /// Start the embedded fake gateway on a free loopback port and use it instead of a cluster.
    #[cfg(feature = "testkit")]
    #[arg(long, global = true)]
    pub testkit: bool,

    /// With --testkit: answer like the Backup Restore Service's code (`service`) or like the REST page
    /// (`documented`).
    #[cfg(feature = "testkit")]
    #[arg(long, global = true, value_name = "DIALECT", default_value = "service", value_parser = parse_dialect)]
    pub testkit_dialect: sf_backup_testkit::Dialect,

    /// Client certificate and private key in one PEM file.
    #[arg(long, global = true, value_name = "FILE")]
    pub pem: Option<PathBuf>,

    /// Client certificate (PEM); use with --key.
    #[arg(long, global = true, value_name = "FILE")]
    pub cert: Option<PathBuf>,

    /// Private key of --cert (PEM).
    #[arg(long, global = true, value_name = "FILE")]
    pub key: Option<PathBuf>,

    /// Client certificate and key in a PKCS #12 (.pfx/.p12) file; its password comes from SF_PFX_PASSWORD
    /// (unset: no password).
    #[arg(long, global = true, value_name = "FILE")]
    pub pfx: Option<PathBuf>,

    /// Trust only the CA certificates in this PEM bundle (instead of the system's) to verify the server: by its
    /// host name, or the chain of a certificate accepted by --server-cert-common-name.
    #[arg(long, global = true, value_name = "FILE")]
    pub ca: Option<PathBuf>,

    /// Accept the server certificate with this thumbprint (SHA-1 or SHA-256, hex), whatever its name or issuer,
    /// if it is within its validity dates; repeatable.
    #[arg(long = "server-cert-thumbprint", global = true, value_name = "HEX")]
    pub server_cert_thumbprints: Vec<String>,

    /// Accept a server certificate with this common name or DNS name, whatever the host name, if it is within its
    /// dates and its chain validates to the system's trust store (or --ca); repeatable.
    #[arg(long = "server-cert-common-name", global = true, value_name = "NAME")]
    pub server_cert_common_names: Vec<String>,

    /// With --server-cert-common-name: instead of a trusted chain, require that the certificate was issued
    /// directly by the certificate with this thumbprint (not a root above it); repeatable.
    #[arg(
        long = "server-cert-issuer-thumbprint",
        global = true,
        value_name = "HEX"
    )]
    pub server_cert_issuer_thumbprints: Vec<String>,

    /// Do not verify the server certificate at all (insecure; for test clusters only).
    #[arg(long, global = true)]
    pub no_verify: bool,

    /// Send the bearer token held in this environment variable (Azure AD clusters).
    #[arg(long, global = true, value_name = "VAR")]
    pub token_env: Option<String>,

    /// How to print results and errors.
    #[arg(long, global = true, help_heading = "Output", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start a backup of a stateful partition (POST /Partitions/{id}/$/Backup), and optionally wait for it.
    #[command(after_help = EXIT_CODES)]
    Backup(Box<BackupArgs>),
    /// Show the progress of the partition's most recent backup (GET /Partitions/{id}/$/GetBackupProgress).
    #[command(after_help = EXIT_CODES)]
    Progress(ProgressArgs),
    /// List a partition's backups: in its backup policy's storage (GET /Partitions/{id}/$/GetBackups), or in
    /// the storage the storage options describe (POST /BackupRestore/$/GetBackups), every page.
    #[command(after_help = EXIT_CODES)]
    Backups(Box<BackupsArgs>),
    /// Run the fake Service Fabric gateway in the foreground until Ctrl-C.
    #[cfg(feature = "testkit")]
    Testkit(TestkitArgs),
}

/// `sf-backup backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The partition to back up (a UUID); several back them all up, at most --concurrency at a time (needs
    /// --wait).
    #[arg(
        value_name = "PARTITION_ID",
        required_unless_present_any = ["partitions_from", "services", "applications"]
    )]
    pub partition_ids: Vec<PartitionId>,

    /// Also back up every partition of this stateful service, such as fabric:/App/Service (repeatable; needs
    /// --wait). A stateless or volatile service is skipped with the reason: the service would accept such a
    /// backup and only report Timeout at the end of --backup-timeout.
    #[arg(long = "service", value_name = "NAME")]
    pub services: Vec<sf_backup::topology::FabricName>,

    /// Also back up every partition of every persisted stateful service of this application, such as
    /// fabric:/App (repeatable; needs --wait). Stateless and volatile services are skipped with the reason.
    #[arg(long = "application", value_name = "NAME")]
    pub applications: Vec<sf_backup::topology::FabricName>,

    /// Also back up the partitions listed in this file, one UUID a line (`-` for standard input; blank lines
    /// and lines starting with # are skipped).
    #[arg(long, value_name = "FILE")]
    pub partitions_from: Option<PathBuf>,

    /// With several partitions: at most this many backups at a time. The service sets no limit of its own, so
    /// this is what protects the cluster; 4 keeps its disks and network busy without crowding its periodic
    /// backups.
    #[arg(long, value_name = "N", default_value_t = sf_backup::DEFAULT_FLEET_CONCURRENCY as u16, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub concurrency: u16,

    /// With several partitions: append JSON lines to this file: a partition's outcome as it ends, and before
    /// that an "outcome": "Requested" line as soon as its backup request may have reached the service.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// With several partitions: continue the run this report (from --report) records: skip the partitions
    /// backed up (Success, TimedOutButWritten), follow those requested whose end is unknown (Requested,
    /// WaitTimedOut, Ambiguous, ProgressUnavailable) to their end without requesting them again, and back up
    /// the rest.
    #[arg(long, value_name = "FILE")]
    pub resume: Option<PathBuf>,

    /// With several partitions: when one is busy with another backup, follow that backup instead of
    /// reporting the partition as busy.
    #[arg(long)]
    pub follow_busy: bool,

    /// The backup timeout (BackupTimeout on the wire), in minutes: the service's clock, from this request to the
    /// backup's end, after which progress says Timeout (exit code 5 with --wait; the backup may still be
    /// written). Service default: 10; at most 2147483647, the service's limit. Not --server-timeout.
    #[arg(long, value_name = "MINUTES", allow_negative_numbers = true, value_parser = parse_backup_timeout)]
    pub backup_timeout: Option<u64>,

    /// The server timeout (`timeout` on the wire), in seconds: how long the service may take to answer each
    /// request before it answers 504 FABRIC_E_TIMEOUT (service default: 60). The tool waits this long plus 10
    /// seconds for each answer. It does not limit the backup itself: that is --backup-timeout.
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true, value_parser = parse_server_timeout)]
    pub server_timeout: Option<u64>,

    /// `--timeout`, refused by name.
    #[command(flatten)]
    pub ambiguous: AmbiguousTimeout,

    /// Wait until the backup ends, showing its progress, and print its BackupId and location.
    #[arg(long)]
    pub wait: bool,

    /// How to wait (with --wait).
    #[command(flatten)]
    pub waiting: WaitArgs,

    /// When the service reports Timeout: keep looking this long for the backup in the storage the request used
    /// (the service may still write it; default 120, never past --wait-timeout).
    #[arg(long, value_name = "SECONDS", requires = "wait", allow_negative_numbers = true, value_parser = parse_seconds_or_zero)]
    pub late_write_watch: Option<Duration>,

    /// When the service reports Timeout: how far the clocks may disagree when a backup's creation time is
    /// matched against this request's time (default 60).
    #[arg(long, value_name = "SECONDS", requires = "wait", allow_negative_numbers = true, value_parser = parse_seconds_or_zero)]
    pub clock_skew: Option<Duration>,

    /// The partition's service (fabric:/App/Service): with a storage option and --wait, where to look for the
    /// backup after a Timeout (learnt from the policy list when not given).
    #[arg(long, value_name = "NAME", requires = "wait")]
    pub service_name: Option<String>,

    /// Where to write the backup; without any of these the partition's backup policy decides. Last, because
    /// its help heading applies to every option after it.
    #[command(flatten)]
    pub storage: StorageArgs,
}

/// `sf-backup backups`.
#[derive(Debug, Args)]
pub struct BackupsArgs {
    /// The partition (a UUID).
    #[arg(value_name = "PARTITION_ID")]
    pub partition_id: PartitionId,

    /// Only backups created at or after this time (RFC 3339, such as 2024-01-01T00:00:00Z).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,

    /// Only backups created at or before this time (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub until: Option<chrono::DateTime<chrono::Utc>>,

    /// Only the most recent backup (within --since/--until).
    #[arg(long)]
    pub latest: bool,

    /// At most this many backups per page (MaxResults); paging is followed either way. Ignored with --latest,
    /// with which the service would return the oldest backup.
    #[arg(long, value_name = "N")]
    pub page_size: Option<std::num::NonZeroU32>,

    /// The server timeout (`timeout` on the wire), in seconds: how long the service may take to answer each
    /// page (service default: 60).
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true, value_parser = parse_server_timeout)]
    pub server_timeout: Option<u64>,

    /// `--timeout`, refused by name.
    #[command(flatten)]
    pub ambiguous: AmbiguousTimeout,

    /// With a storage option: the partition's service (fabric:/App/Service), which names its folder there.
    #[arg(long, value_name = "NAME")]
    pub service_name: Option<String>,

    /// The storage to list; without any of these, the partition's backup policy's storage is listed.
    #[command(flatten)]
    pub storage: StorageArgs,
}

/// `sf-backup progress`.
#[derive(Debug, Args)]
pub struct ProgressArgs {
    /// The partition (a UUID).
    #[arg(value_name = "PARTITION_ID")]
    pub partition_id: PartitionId,

    /// The server timeout (`timeout` on the wire), in seconds: how long the service may take to answer each
    /// request (service default: 60). It does not limit the backup (that is `backup --backup-timeout`) nor the
    /// wait (--wait-timeout).
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true, value_parser = parse_server_timeout)]
    pub server_timeout: Option<u64>,

    /// `--timeout`, refused by name.
    #[command(flatten)]
    pub ambiguous: AmbiguousTimeout,

    /// Follow the partition's current backup until it ends (after Ctrl-C, or a backup started elsewhere),
    /// and print its BackupId and location.
    #[arg(long)]
    pub wait: bool,

    /// How to wait (with --wait).
    #[command(flatten)]
    pub waiting: WaitArgs,
}

/// `--timeout`: accepted by the parser only to be refused with a message that names both timeouts. The REST
/// reference calls the per-request limit `timeout` and the backup's limit `BackupTimeout`, so a reader of it may
/// mean either; guessing would silently set the wrong clock.
#[derive(Debug, Args)]
pub struct AmbiguousTimeout {
    /// Refused: see [`AmbiguousTimeout::refuse`].
    #[arg(
        long = "timeout",
        hide = true,
        value_name = "VALUE",
        allow_hyphen_values = true
    )]
    pub timeout: Option<String>,
}

impl AmbiguousTimeout {
    /// The refusal when `--timeout` was given; `backup` says so, since only it has a backup timeout.
    pub fn refuse(&self, backup: bool) -> Result<(), crate::failure::Failure> {
        if self.timeout.is_none() {
            return Ok(());
        }
        let other = if backup {
            "--backup-timeout MINUTES for the backup itself (the service's clock from the request to the \
             backup's end, after which progress says Timeout; service default 10)"
        } else {
            "`backup --backup-timeout MINUTES` for a backup's own limit, which is set when the backup is \
             requested"
        };
        Err(crate::failure::Failure::invalid(format!(
            "--timeout is ambiguous, so it is not accepted: write --server-timeout SECONDS for how long the \
             service may take to answer each request (504 {} after it; service default 60), or {other}",
            sf_backup::ErrorCode::Timeout.as_str()
        )))
    }
}

/// How `--wait` polls, for `backup` and `progress` alike.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// How often to ask for progress while waiting (fractions allowed; at least 0.01).
    #[arg(long, value_name = "SECONDS", requires = "wait", allow_negative_numbers = true, value_parser = parse_poll_interval)]
    pub poll_interval: Option<Duration>,

    /// The wait timeout: give up waiting after this long, counted from the start, every read and retry
    /// included (fractions allowed); a requested backup goes on (exit code 6; 4 when nothing was sent).
    /// Default: the backup timeout plus 5 minutes.
    #[arg(long, value_name = "SECONDS", requires = "wait", allow_negative_numbers = true, value_parser = parse_seconds)]
    pub wait_timeout: Option<Duration>,
}

/// `sf-backup testkit`.
#[cfg(feature = "testkit")]
#[derive(Debug, Args)]
pub struct TestkitArgs {
    /// Address to listen on; overrides `listen` of the config file [default: 127.0.0.1:19080].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,

    /// The gateway's JSON configuration (see the sf-backup-testkit README).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Answer like the Backup Restore Service's code (`service`) or like the REST page (`documented`);
    /// overrides `dialect` of the config file [default: service].
    #[arg(long, value_name = "DIALECT", value_parser = parse_dialect)]
    pub dialect: Option<sf_backup_testkit::Dialect>,
}

#[cfg(feature = "testkit")]
fn parse_dialect(name: &str) -> Result<sf_backup_testkit::Dialect, String> {
    name.parse()
}

/// The backup storage options, named after the wire fields of BackupStorageDescription. The secrets are held as
/// [`Secret`]s, so the derived `Debug` of this and of [`Cli`] shows them as `<redacted>`.
#[derive(Debug, Args)]
#[command(next_help_heading = "Storage")]
pub struct StorageArgs {
    /// The kind of storage; decides which of the options below apply.
    #[arg(long, value_enum, value_name = "KIND")]
    pub storage_kind: Option<StorageKind>,

    /// AzureBlobStore: the storage account connection string (a secret).
    #[arg(
        long,
        env = "SF_BACKUP_CONNECTION_STRING",
        hide_env_values = true,
        value_name = "STRING"
    )]
    pub connection_string: Option<Secret>,

    /// AzureBlobStore, DsmsAzureBlobStore, ManagedIdentityAzureBlobStore: the blob container.
    #[arg(long, value_name = "NAME")]
    pub container_name: Option<String>,

    /// FileShare: the UNC path of the share, such as \\server\share.
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,

    /// FileShare: the user name of the primary credentials.
    #[arg(long, value_name = "USER")]
    pub primary_user_name: Option<String>,

    /// FileShare: the password of the primary credentials (a secret).
    #[arg(
        long,
        env = "SF_BACKUP_PRIMARY_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD"
    )]
    pub primary_password: Option<Secret>,

    /// FileShare: the user name of the secondary credentials.
    #[arg(long, value_name = "USER")]
    pub secondary_user_name: Option<String>,

    /// FileShare: the password of the secondary credentials (a secret).
    #[arg(
        long,
        env = "SF_BACKUP_SECONDARY_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD"
    )]
    pub secondary_password: Option<Secret>,

    /// DsmsAzureBlobStore: the DSMS location the cluster fetches the storage credentials from.
    #[arg(long, value_name = "URL")]
    pub storage_credentials_source_location: Option<String>,

    /// ManagedIdentityAzureBlobStore: the storage account's blob endpoint.
    #[arg(long, value_name = "URI")]
    pub blob_service_uri: Option<String>,

    /// ManagedIdentityAzureBlobStore: which managed identity reaches the blob store.
    #[arg(long, value_enum, value_name = "TYPE")]
    pub managed_identity_type: Option<IdentityType>,

    /// Any kind: a display name for the storage.
    #[arg(long, value_name = "NAME")]
    pub friendly_name: Option<String>,

    /// A BackupStorageDescription as JSON, exactly as on the wire, from a file or stdin (-). A whole
    /// BackupPartitionDescription ({"BackupStorage": {...}} or {}) is accepted too. Excludes the options above.
    #[arg(long, value_name = "FILE|-")]
    pub storage_json: Option<PathBuf>,
}

/// `StorageKind` on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "verbatim")]
pub enum StorageKind {
    /// A blob container reached with a connection string.
    AzureBlobStore,
    /// A file share every node can reach.
    FileShare,
    /// A blob container whose credentials come from DSMS.
    DsmsAzureBlobStore,
    /// A blob container reached with a managed identity.
    ManagedIdentityAzureBlobStore,
}

impl StorageKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AzureBlobStore => "AzureBlobStore",
            Self::FileShare => "FileShare",
            Self::DsmsAzureBlobStore => "DsmsAzureBlobStore",
            Self::ManagedIdentityAzureBlobStore => "ManagedIdentityAzureBlobStore",
        }
    }
}

/// `ManagedIdentityType` on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum IdentityType {
    /// The cluster's managed identity.
    #[value(name = "Cluster")]
    Cluster,
    /// The scale set's managed identity.
    #[value(name = "VMSS")]
    Vmss,
}

/// `--output`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Readable text.
    Text,
    /// One JSON object on stdout; errors as one JSON object on stderr.
    Json,
}

/// The command line definition: [`Cli`]'s, with the connection options hidden from `testkit --help`. They are
/// global (so they may stand before or after the subcommand), but none of them applies to running the gateway;
/// `--output` does.
#[cfg(feature = "testkit")]
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    let mut command = Cli::command();
    // Propagates the global options into the subcommands, so that the testkit's copies can be hidden.
    command.build();
    command.mut_subcommand("testkit", |testkit| {
        testkit.mut_args(|arg| {
            let connection = arg.is_global_set() && arg.get_id() != "output";
            arg.hide(connection)
        })
    })
}

/// The command line definition: [`Cli`]'s (this build has no embedded gateway, so no `testkit` subcommand).
#[cfg(not(feature = "testkit"))]
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    Cli::command()
}

fn parse_server_timeout(text: &str) -> Result<u64, String> {
    match text.trim().parse::<i128>() {
        Ok(seconds @ 1..=4_294_967_295) => Ok(seconds as u64),
        Ok(_) => Err("it must be a whole number of seconds from 1 to 4294967295".to_owned()),
        Err(_) => Err(format!(
            "{text:?} is not a whole number of seconds (from 1 to 4294967295)"
        )),
    }
}

/// The service stores the backup timeout in minutes as a 32-bit integer.
fn parse_backup_timeout(text: &str) -> Result<u64, String> {
    match text.trim().parse::<i128>() {
        Ok(minutes @ 1..=2_147_483_647) => Ok(minutes as u64),
        Ok(_) => Err("it must be a whole number of minutes from 1 to 2147483647".to_owned()),
        Err(_) => Err(format!(
            "{text:?} is not a whole number of minutes (from 1 to 2147483647)"
        )),
    }
}

fn parse_poll_interval(text: &str) -> Result<Duration, String> {
    let interval = parse_seconds(text)?;
    if interval < sf_backup::MIN_POLL_INTERVAL {
        return Err(format!(
            "it must be at least {} seconds, or the cluster is polled without pause",
            sf_backup::MIN_POLL_INTERVAL.as_secs_f64()
        ));
    }
    Ok(interval)
}

fn parse_time(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|time| time.with_timezone(&chrono::Utc))
        .map_err(|_| format!("{text:?} is not an RFC 3339 time such as 2024-01-01T00:00:00Z"))
}

fn parse_seconds_or_zero(text: &str) -> Result<Duration, String> {
    if text.trim().parse::<f64>() == Ok(0.0) {
        return Ok(Duration::ZERO);
    }
    parse_seconds(text)
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if seconds.is_nan() || seconds <= 0.0 {
        return Err("it must be more than 0 seconds".to_owned());
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("{text:?} seconds is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn debug_output_of_the_parsed_command_line_shows_no_secret() {
        let cli = Cli::try_parse_from([
            "sf-backup",
            "--endpoint",
            "https://cluster:19080",
            "--token-env",
            "SF_TOKEN",
            "backup",
            "1daae3f5-7fd6-42e9-b1ba-8c05f873994d",
            "--storage-kind",
            "FileShare",
            "--connection-string",
            "AccountKey=debug-secret-1",
            "--primary-password",
            "debug-secret-2",
            "--secondary-password=debug-secret-3",
            "--primary-user-name",
            "backup-user",
        ])
        .unwrap();
        for shown in [format!("{cli:?}"), format!("{cli:#?}")] {
            assert!(!shown.contains("debug-secret"), "{shown}");
            assert!(
                shown.contains("backup-user") && shown.contains("<redacted>"),
                "{shown}"
            );
        }
        let Command::Backup(args) = cli.command else {
            panic!("parsed as another command");
        };
        let password = args.storage.secondary_password.as_ref().unwrap();
        assert_eq!(password.expose_secret(), "debug-secret-3");
    }

    #[test]
    fn seconds_accept_fractions_and_reject_nonsense() {
        assert_eq!(parse_seconds("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_seconds("3"), Ok(Duration::from_secs(3)));
        for bad in ["0", "-1", "NaN", "inf", "soon", ""] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }
}
