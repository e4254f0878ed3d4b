//! The six operations of the REST API this gateway answers, by which faults are aimed and requests counted.

use serde::Deserialize;

/// The operation a request addresses, used to aim a [`Fault`](crate::Fault) and to count requests
/// ([`GatewayHandle::count`](crate::GatewayHandle::count)).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `POST /Partitions/{partitionId}/$/Backup`.
    Backup,
    /// `GET /Partitions/{partitionId}/$/GetBackupProgress`.
    GetBackupProgress,
    /// `GET /Partitions/{partitionId}/$/GetBackups` (GetPartitionBackupList).
    GetBackups,
    /// `POST /BackupRestore/$/GetBackups` (GetBackupsFromBackupLocation).
    GetBackupsFromBackupLocation,
    /// `GET /Applications/{applicationId}/$/GetServices` (GetServiceInfoList).
    GetServices,
    /// `GET /Services/{serviceId}/$/GetPartitions` (GetPartitionInfoList).
    GetPartitions,
}

impl Operation {
    /// The method the operation's URL template takes.
    pub(crate) fn method(self) -> &'static str {
        match self {
            Operation::Backup | Operation::GetBackupsFromBackupLocation => "POST",
            Operation::GetBackupProgress
            | Operation::GetBackups
            | Operation::GetServices
            | Operation::GetPartitions => "GET",
        }
    }

    /// Answered by the native HTTP gateway itself, not by the Backup Restore Service behind it.
    pub(crate) fn is_gateway_query(self) -> bool {
        matches!(self, Operation::GetServices | Operation::GetPartitions)
    }
}
