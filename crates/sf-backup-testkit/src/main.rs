//! `sf-backup-testkit`: runs the fake Service Fabric gateway until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use sf_backup_testkit::{Config, Dialect, Gateway};

/// A fake Service Fabric HTTP gateway for the backup operations (api-version 6.4).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Address to listen on; overrides `listen` from the config file.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// JSON configuration file (see the crate README).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Answer like the Backup Restore Service's code (`service`) or like the REST page (`documented`);
    /// overrides `dialect` from the config file.
    #[arg(long, value_parser = |name: &str| name.parse::<Dialect>())]
    dialect: Option<Dialect>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
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
