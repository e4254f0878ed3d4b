//! The gateway's URL templates (`httpgateway/*Handler.cpp`, e.g. `BackupRestoreHandler.cpp`,
//! `ApplicationsHandler.cpp`): which [`Operation`] a path addresses, matched as the real gateway matches them
//! (segment names case-insensitive, `$` also as `%24`).

use crate::wire::operation::Operation;

/// A request's operation and the raw id in its path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Route {
    pub operation: Operation,
    /// The path's id segment as received: a partition, application or service id; `None` for
    /// GetBackupsFromBackupLocation, which has none.
    pub id: Option<String>,
}

impl Route {
    /// The raw partition id, for the operations on one partition.
    pub(crate) fn raw_partition(&self) -> Option<&str> {
        match self.operation {
            Operation::Backup | Operation::GetBackupProgress | Operation::GetBackups => {
                self.id.as_deref()
            }
            _ => None,
        }
    }
}

/// `/{collection}/{id}/$/{name}` templates.
const TEMPLATES: [(&str, &str, Operation); 5] = [
    ("Partitions", "Backup", Operation::Backup),
    (
        "Partitions",
        "GetBackupProgress",
        Operation::GetBackupProgress,
    ),
    ("Partitions", "GetBackups", Operation::GetBackups),
    ("Applications", "GetServices", Operation::GetServices),
    ("Services", "GetPartitions", Operation::GetPartitions),
];

/// The route of `path`, whatever the method; `None` for a path no template matches.
pub(crate) fn route(path: &str) -> Option<Route> {
    let is_dollar = |segment: &str| segment == "$" || segment.eq_ignore_ascii_case("%24");
    let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    match segments.as_slice() {
        [root, dollar, name]
            if root.eq_ignore_ascii_case("BackupRestore")
                && is_dollar(dollar)
                && name.eq_ignore_ascii_case("GetBackups") =>
        {
            Some(Route {
                operation: Operation::GetBackupsFromBackupLocation,
                id: None,
            })
        }
        [root, id, dollar, name] if is_dollar(dollar) => TEMPLATES
            .iter()
            .find(|(collection, operation_name, _)| {
                root.eq_ignore_ascii_case(collection) && name.eq_ignore_ascii_case(operation_name)
            })
            .map(|(_, _, operation)| Route {
                operation: *operation,
                id: Some((*id).to_owned()),
            }),
        _ => None,
    }
}

/// The operation a request with `method` and `path` addresses; `None` when no template matches or the method is
/// not the template's.
pub(crate) fn operation_of(method: &str, path: &str) -> Option<Operation> {
    route(path)
        .map(|route| route.operation)
        .filter(|operation| operation.method() == method)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_case_insensitively_with_an_encoded_dollar() {
        let partition = "1daae3f5-7fd6-42e9-b1ba-8c05f873994d";
        let backup = route(&format!("/partitions/{partition}/%24/BACKUP")).unwrap();
        assert_eq!(backup.operation, Operation::Backup);
        assert_eq!(backup.raw_partition(), Some(partition));
        assert_eq!(
            route("/BackupRestore/$/GetBackups").map(|r| r.operation),
            Some(Operation::GetBackupsFromBackupLocation)
        );
        let services = route("/Applications/FakeApp/$/GetServices").unwrap();
        assert_eq!(services.operation, Operation::GetServices);
        assert_eq!(services.raw_partition(), None);
        assert_eq!(route("/Partitions/x/$/Backup/more"), None);
        assert_eq!(route("/Partitions/x/Backup"), None);
        assert_eq!(operation_of("GET", "/Partitions/x/$/Backup"), None);
        assert_eq!(
            operation_of("POST", "/Partitions/x/$/Backup"),
            Some(Operation::Backup)
        );
    }
}
