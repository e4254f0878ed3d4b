//! `sf-backup-testkit`: runs the fake Service Fabric gateway until Ctrl-C.
//!
//! Its three options are read by hand so that the library, which a test takes as a dev-dependency, does not
//! pull in an argument parser (a package's binary shares its dependencies).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use sf_backup_testkit::{Config, Dialect, Gateway};

const USAGE: &str = "\
A fake Service Fabric HTTP gateway for the backup operations of the client REST API.

Usage: sf-backup-testkit [OPTIONS]

Options:
      --listen <ADDR>      Address to listen on (default 127.0.0.1:19080); overrides `listen` from the config file
      --config <FILE>      JSON configuration file (see the crate's README)
      --dialect <DIALECT>  Answer like the Backup Restore Service's code (`service`) or like the REST page
                           (`documented`); overrides `dialect` from the config file
  -h, --help               Print help
  -V, --version            Print version
";

/// The command line, once read.
#[derive(Debug, Default)]
struct Args {
    listen: Option<SocketAddr>,
    config: Option<PathBuf>,
    dialect: Option<Dialect>,
}

/// What the command line asks for.
enum Command {
    Run(Args),
    Help,
    Version,
}

/// Reads `--name value` and `--name=value` options; the error names the option and says what is wrong.
fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut parsed = Args::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--listen" | "--config" | "--dialect" => {}
            other => {
                return Err(format!(
                    "unexpected argument {other:?}; the options are --listen, --config and --dialect (see --help)"
                ));
            }
        }
        let value = inline
            .or_else(|| args.next())
            .ok_or_else(|| format!("{name} needs a value (see --help)"))?;
        match name.as_str() {
            "--listen" => {
                let addr = value.parse().map_err(|e| {
                    format!("--listen {value:?} is not an address such as 127.0.0.1:19080: {e}")
                })?;
                parsed.listen = Some(addr);
            }
            "--config" => parsed.config = Some(PathBuf::from(value)),
            _ => parsed.dialect = Some(value.parse().map_err(|e| format!("--dialect: {e}"))?),
        }
    }
    Ok(Command::Run(parsed))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(Command::Run(args)) => args,
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("sf-backup-testkit {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let mut config = match &args.config {
        None => Config::default(),
        Some(path) => match std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| serde_json::from_slice::<Config>(&bytes).map_err(|e| e.to_string()))
        {
            Ok(config) => config,
            Err(e) => {
                eprintln!("error: cannot load {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        },
    };
    if let Some(dialect) = args.dialect {
        config.dialect = dialect;
    }
    // The real gateway's port, so demos work against the documented URLs.
    config.listen = args
        .listen
        .or(config.listen)
        .or(Some(SocketAddr::from(([127, 0, 0, 1], 19080))));
    let gateway = match Gateway::start(config).await {
        Ok(gateway) => gateway,
        // A configuration the gateway cannot use (TLS files, the topology) is InvalidInput; the rest is binding.
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
            eprintln!("error: cannot use the configuration: {e}");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("error: cannot listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("sf-backup-testkit listening on {}", gateway.url());
    let _ = tokio::signal::ctrl_c().await;
    gateway.shutdown().await;
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &[&str]) -> Result<Args, String> {
        match parse(line.iter().map(|s| (*s).to_owned()))? {
            Command::Run(args) => Ok(args),
            Command::Help | Command::Version => Err("help or version".to_owned()),
        }
    }

    #[test]
    fn options_take_a_value_after_a_space_or_an_equals_sign() {
        let parsed = args(&[
            "--listen",
            "127.0.0.1:0",
            "--dialect=documented",
            "--config",
            "a.json",
        ])
        .unwrap();
        assert_eq!(parsed.listen, Some(SocketAddr::from(([127, 0, 0, 1], 0))));
        assert_eq!(parsed.dialect, Some(Dialect::Documented));
        assert_eq!(parsed.config, Some(PathBuf::from("a.json")));
        assert!(matches!(parse(["--help".to_owned()]), Ok(Command::Help)));
        assert!(matches!(parse(["-V".to_owned()]), Ok(Command::Version)));
    }

    #[test]
    fn mistakes_name_the_option() {
        assert!(
            args(&["--listen"])
                .unwrap_err()
                .contains("--listen needs a value")
        );
        assert!(
            args(&["--listen", "19080"])
                .unwrap_err()
                .contains("--listen \"19080\"")
        );
        assert!(
            args(&["--dialect", "swagger"])
                .unwrap_err()
                .contains("--dialect: unknown dialect")
        );
        assert!(args(&["--port", "1"]).unwrap_err().contains("\"--port\""));
    }
}
