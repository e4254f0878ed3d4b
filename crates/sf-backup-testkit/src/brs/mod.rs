//! The Backup Restore Service (`src/prod/src/managed/FabricBRS/src/System/Fabric/BackupRestore/`), which the
//! gateway reverse-proxies every backup operation to: its request checks, its work items, the store of written
//! backups and the two backup lists. Restore goes here too, as a work item beside `backup`.

pub(crate) mod backup;
pub(crate) mod lists;
pub(crate) mod partition;
pub(crate) mod request;
pub(crate) mod service;
pub(crate) mod store;
