//! One module per subcommand: each takes the connection (and what was checked before connecting) and prints
//! its result.

pub mod backup;
pub mod backups;
pub mod progress;
#[cfg(feature = "testkit")]
pub mod testkit;

use crate::failure::{Exit, Failure};

/// The runtime every command runs its requests on: one thread, since the tool does one thing at a time.
pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| Failure::new(Exit::Other, "runtime", format!("cannot start: {error}")))
}
