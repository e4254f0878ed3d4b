//! The native HTTP gateway (`src/prod/src/httpgateway/`): it routes every request, answers the two topology
//! queries itself from the cluster's names and ids, and reverse-proxies the backup operations to the Backup
//! Restore Service unchanged (`BackupRestoreHandler.cpp`).

pub(crate) mod naming;
pub(crate) mod queries;
pub(crate) mod query;
pub(crate) mod routes;
