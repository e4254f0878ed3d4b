//! One module per subcommand: each takes the connection (and what was checked before connecting) and prints
//! its result.

pub mod backup;
pub mod backups;
pub mod progress;
#[cfg(feature = "testkit")]
pub mod testkit;
