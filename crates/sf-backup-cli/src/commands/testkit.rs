//! `sf-backup testkit`: the fake gateway in the foreground until Ctrl-C.

use std::process::ExitCode;

use crate::cli::TestkitArgs;
use crate::failure::{Exit, Failure};

/// Serves until Ctrl-C; the first line printed says where.
pub fn run(args: &TestkitArgs, json: bool) -> Result<ExitCode, Failure> {
    let mut config = match &args.config {
        None => sf_backup_testkit::Config::default(),
        Some(path) => {
            let text = std::fs::read(path).map_err(|error| {
                Failure::invalid(format!("cannot read --config {}: {error}", path.display()))
            })?;
            serde_json::from_slice(&text).map_err(|error| {
                Failure::invalid(format!("--config {}: {error}", path.display()))
            })?
        }
    };
    if let Some(dialect) = args.dialect {
        config.dialect = dialect;
    }
    // The real gateway's port, so the documented URLs work against the fake.
    config.listen = args
        .listen
        .or(config.listen)
        .or(Some(std::net::SocketAddr::from(([127, 0, 0, 1], 19080))));
    crate::connection::runtime()?.block_on(async {
        let gateway = sf_backup_testkit::Gateway::start(config)
            .await
            .map_err(|error| {
                Failure::new(Exit::Other, "testkit", format!("cannot listen: {error}"))
            })?;
        if json {
            println!("{}", serde_json::json!({ "url": gateway.url() }));
        } else {
            println!(
                "sf-backup testkit listening on {} (Ctrl-C stops it)",
                gateway.url()
            );
        }
        // An error here means no signal handler could be installed; stopping right away is the only option.
        let _ = tokio::signal::ctrl_c().await;
        gateway.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}
