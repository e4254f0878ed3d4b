//! From a service or an application to the partitions that can be backed up: GetPartitionInfoList and
//! GetServiceInfoList, every page, with stateless and volatile services set aside with a reason.

use std::collections::HashSet;
use std::fmt;
use std::future::IntoFuture;
use std::num::NonZeroU64;
use std::str::FromStr;
use std::time::Duration;

use sf_backup_api::types;
use tracing::Instrument;

use crate::error::Operation;
use crate::pages::{Pages, read_page};
use crate::request::{ResponseFuture, server_timeout};
use crate::{Client, Error, PartitionId};

/// The full name of a Service Fabric application or service, with the `fabric:` scheme, such as
/// `fabric:/CalcApp` or `fabric:/CalcApp/CalcService`.
///
/// ```
/// use sf_backup::topology::FabricName;
///
/// let service: FabricName = "fabric:/CalcApp/CalcService".parse()?;
/// assert_eq!(service.as_str(), "fabric:/CalcApp/CalcService");
/// assert!("CalcApp/CalcService".parse::<FabricName>().is_err());
/// # Ok::<(), sf_backup::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FabricName(String);

const SCHEME: &str = "fabric:/";

impl FabricName {
    /// Checks `name`: the `fabric:/` scheme, then segments separated by `/`, none empty, none containing `~`
    /// (the gateway reads `~` as a separator in the ids of its URLs, so such a name cannot be asked for).
    pub fn new(name: impl AsRef<str>) -> Result<Self, Error> {
        const WHAT: &str = "Service Fabric name";
        const HOW: &str =
            "write the full name with its scheme, such as fabric:/CalcApp/CalcService";
        let name = name.as_ref().trim();
        let Some(path) = name.strip_prefix(SCHEME) else {
            return Err(Error::invalid(
                WHAT,
                format!("{name:?} does not start with fabric:/"),
                HOW,
            ));
        };
        let path = path.trim_end_matches('/');
        if path.is_empty() || path.split('/').any(str::is_empty) {
            return Err(Error::invalid(
                WHAT,
                format!("{name:?} has an empty segment"),
                HOW,
            ));
        }
        if path.contains('~') {
            return Err(Error::invalid(
                WHAT,
                format!(
                    "{name:?} contains `~`, which the gateway reads as a separator in application and service ids"
                ),
                "Service Fabric names with `~` cannot be queried through the REST API; name the partitions instead",
            ));
        }
        if path.chars().any(char::is_control) {
            return Err(Error::invalid(
                WHAT,
                format!("{name:?} contains a control character"),
                HOW,
            ));
        }
        Ok(Self(format!("{SCHEME}{path}")))
    }

    /// The name as written, with its scheme.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id the gateway's URLs take (api-version 6.0 and later): the name without `fabric:/`, `/` as `~`.
    pub fn id(&self) -> String {
        self.0[SCHEME.len()..].replace('/', "~")
    }

    /// The names this one is nested in, the nearest first: `fabric:/A/B/C` gives `fabric:/A/B`, `fabric:/A`.
    fn ancestors(&self) -> impl Iterator<Item = FabricName> + '_ {
        let path = &self.0[SCHEME.len()..];
        path.rmatch_indices('/')
            .map(move |(at, _)| FabricName(format!("{SCHEME}{}", &path[..at])))
    }

    /// A name the gateway wrote (`Name`), or else its id (`Id`, with `~` or `/` as separator).
    fn from_wire(name: Option<&str>, id: Option<&str>) -> Option<Self> {
        if let Some(name) = name.and_then(|name| Self::new(name).ok()) {
            return Some(name);
        }
        let id = id?.trim_start_matches('/');
        Self::new(format!("{SCHEME}{}", id.replace('~', "/"))).ok()
    }
}

impl FromStr for FabricName {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self, Error> {
        Self::new(name)
    }
}

impl fmt::Display for FabricName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for FabricName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// A partition that [`Client::resolve_service`] or [`Client::resolve_application`] found to back up.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResolvedPartition {
    /// The partition.
    pub partition_id: PartitionId,
    /// Its service.
    pub service_name: FabricName,
}

/// Why a service (or a partition of it) is not backed up.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// A stateless service has no state to back up.
    Stateless,
    /// A stateful service without persisted state (`HasPersistedState: false`) keeps its state in memory only;
    /// the Backup Restore Service refuses to back it up.
    NotPersisted,
    /// The gateway listed a partition without its id, or with a partitioning scheme this crate does not know.
    NoPartitionId,
    /// The gateway named a service kind this crate does not know (neither stateful nor stateless).
    UnknownServiceKind,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stateless => f.write_str("stateless service: nothing to back up"),
            Self::NotPersisted => {
                f.write_str("stateful service without persisted state: it cannot be backed up")
            }
            Self::NoPartitionId => f.write_str("the gateway listed a partition without its id"),
            Self::UnknownServiceKind => f.write_str("a service kind this tool does not know"),
        }
    }
}

/// A service, or some of its partitions, left out of a backup, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Skipped {
    /// The service.
    pub service_name: FabricName,
    /// Why it is left out.
    pub reason: SkipReason,
    /// How many of its partitions are left out (`None` when its partitions were not listed, since the
    /// service's own record already said why).
    pub partitions: Option<usize>,
}

/// What a service or an application resolves to: the partitions to back up, in the gateway's order, and what
/// was left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Resolution {
    /// The partitions to back up, each once.
    pub partitions: Vec<ResolvedPartition>,
    /// Services (or partitions) left out, with the reason.
    pub skipped: Vec<Skipped>,
}

impl Resolution {
    /// The ids of [`Resolution::partitions`], for [`Client::backup_partitions`].
    pub fn partition_ids(&self) -> impl Iterator<Item = PartitionId> + '_ {
        self.partitions.iter().map(|p| p.partition_id)
    }
}

impl Client {
    /// The partitions of the stateful service `service` that can be backed up (GetPartitionInfoList, every
    /// page): await the [`ResolvePartitions`]. A stateless service resolves to no partition and a
    /// [`SkipReason::Stateless`]; a stateful one whose application lists it without persisted state to
    /// [`SkipReason::NotPersisted`]. When no application containing the service can be read, its persistence is
    /// not known and its partitions are returned: the service does not refuse a volatile service's backup (it
    /// accepts one sent with a storage and reports Timeout when no replica takes it), so prefer
    /// [`Client::resolve_application`] when in doubt. Only reads: nothing is backed up.
    ///
    /// ```no_run
    /// # async fn demo(client: sf_backup::Client) -> Result<(), sf_backup::Error> {
    /// use std::time::Duration;
    ///
    /// let service = "fabric:/CalcApp/CalcService".parse()?;
    /// let resolution = client
    ///     .resolve_service(&service)
    ///     .server_timeout(Duration::from_secs(30))
    ///     .await?;
    /// let mut fleet = client.backup_partitions(resolution.partition_ids());
    /// # drop(fleet);
    /// # Ok(()) }
    /// ```
    pub fn resolve_service(&self, service: &FabricName) -> ResolvePartitions {
        ResolvePartitions {
            client: self.clone(),
            target: Target::Service(service.clone()),
            timeout: None,
        }
    }

    /// Every partition of every persisted stateful service of `application` (GetServiceInfoList, then
    /// GetPartitionInfoList per service, every page): await the [`ResolvePartitions`]. Stateless and volatile
    /// services are left out with the reason. Only reads: nothing is backed up.
    pub fn resolve_application(&self, application: &FabricName) -> ResolvePartitions {
        ResolvePartitions {
            client: self.clone(),
            target: Target::Application(application.clone()),
            timeout: None,
        }
    }
}

#[derive(Clone, Debug)]
enum Target {
    Service(FabricName),
    Application(FabricName),
}

/// A resolution being prepared by [`Client::resolve_service`] or [`Client::resolve_application`]; await it for
/// the [`Resolution`].
#[derive(Clone, Debug)]
#[must_use = "a resolution does nothing until it is awaited"]
pub struct ResolvePartitions {
    client: Client,
    target: Target,
    timeout: Option<Duration>,
}

impl ResolvePartitions {
    /// The server timeout of each list request (`timeout`): how long the gateway may take to answer one page;
    /// see [`BackupPartitionRequest::server_timeout`](crate::BackupPartitionRequest::server_timeout).
    pub fn server_timeout(mut self, server_timeout: Duration) -> Self {
        self.timeout = Some(server_timeout);
        self
    }

    async fn resolve(self) -> Result<Resolution, Error> {
        let timeout = server_timeout(self.timeout)?;
        let client = &self.client;
        match &self.target {
            Target::Service(service) => resolve_service(client, service, timeout).await,
            Target::Application(application) => {
                resolve_application(client, application, timeout).await
            }
        }
    }
}

impl IntoFuture for ResolvePartitions {
    type Output = Result<Resolution, Error>;
    type IntoFuture = ResponseFuture<Resolution>;

    fn into_future(self) -> Self::IntoFuture {
        let span = tracing::debug_span!("sf_backup", operation = "resolve_partitions");
        Box::pin(self.resolve().instrument(span))
    }
}

async fn resolve_service(
    client: &Client,
    service: &FabricName,
    timeout: Option<NonZeroU64>,
) -> Result<Resolution, Error> {
    let mut persisted = None;
    for application in service.ancestors() {
        match services_of(client, &application, timeout).await {
            Ok(services) => {
                if let Some(found) = services.into_iter().find(|s| s.name == *service) {
                    persisted = Some(found.kind);
                    break;
                }
            }
            // Not an application: try the next shorter name.
            Err(error) if error.status() == Some(http::StatusCode::NOT_FOUND) => {}
            Err(error) => return Err(error),
        }
    }
    let mut resolution = Resolution::default();
    match persisted {
        Some(ServiceKind::Stateful {
            persisted: Some(false),
        }) => resolution.skipped.push(Skipped {
            service_name: service.clone(),
            reason: SkipReason::NotPersisted,
            partitions: None,
        }),
        Some(ServiceKind::Stateless) => resolution.skipped.push(Skipped {
            service_name: service.clone(),
            reason: SkipReason::Stateless,
            partitions: None,
        }),
        _ => add_partitions(client, service, timeout, &mut resolution).await?,
    }
    Ok(resolution)
}

async fn resolve_application(
    client: &Client,
    application: &FabricName,
    timeout: Option<NonZeroU64>,
) -> Result<Resolution, Error> {
    let mut resolution = Resolution::default();
    for service in services_of(client, application, timeout).await? {
        let reason = match service.kind {
            ServiceKind::Stateful {
                persisted: Some(false),
            } => SkipReason::NotPersisted,
            ServiceKind::Stateless => SkipReason::Stateless,
            ServiceKind::Stateful { .. } => {
                add_partitions(client, &service.name, timeout, &mut resolution).await?;
                continue;
            }
        };
        resolution.skipped.push(Skipped {
            service_name: service.name,
            reason,
            partitions: None,
        });
    }
    Ok(resolution)
}

/// Lists the partitions of `service` into `resolution`.
async fn add_partitions(
    client: &Client,
    service: &FabricName,
    timeout: Option<NonZeroU64>,
    resolution: &mut Resolution,
) -> Result<(), Error> {
    const OPERATION: Operation = Operation::GetPartitionInfoList;
    let id = service.id();
    let mut seen: HashSet<PartitionId> = resolution.partition_ids().collect();
    let (mut stateless, mut without_id, mut unknown) = (0, 0, 0);
    let mut pages = Pages::new(OPERATION);
    while !pages.is_done() {
        let (id, token) = (&id, pages.token());
        let page = read_page(client, OPERATION, timeout, None, |api| async move {
            api.get_partition_info_list(id, token, types::ApiVersion::X64, timeout)
                .await
        })
        .await?;
        for partition in page.items {
            let information = match partition {
                types::ServicePartitionInfo::Stateful {
                    partition_information,
                    ..
                } => partition_information,
                types::ServicePartitionInfo::Stateless { .. } => {
                    stateless += 1;
                    continue;
                }
                _ => {
                    unknown += 1;
                    continue;
                }
            };
            let Some(partition_id) = information
                .as_ref()
                .and_then(types::PartitionInformation::id)
                .map(PartitionId::from)
            else {
                without_id += 1;
                continue;
            };
            if seen.insert(partition_id) {
                resolution.partitions.push(ResolvedPartition {
                    partition_id,
                    service_name: service.clone(),
                });
            }
        }
        pages.advance(page.continuation_token)?;
    }
    for (count, reason) in [
        (stateless, SkipReason::Stateless),
        (without_id, SkipReason::NoPartitionId),
        (unknown, SkipReason::UnknownServiceKind),
    ] {
        if count > 0 {
            resolution.skipped.push(Skipped {
                service_name: service.clone(),
                reason,
                partitions: Some(count),
            });
        }
    }
    Ok(())
}

/// The services of `application`, every page.
async fn services_of(
    client: &Client,
    application: &FabricName,
    timeout: Option<NonZeroU64>,
) -> Result<Vec<Service>, Error> {
    const OPERATION: Operation = Operation::GetServiceInfoList;
    let id = application.id();
    let mut services = Vec::new();
    let mut pages = Pages::new(OPERATION);
    while !pages.is_done() {
        let (id, token) = (&id, pages.token());
        let page = read_page(client, OPERATION, timeout, None, |api| async move {
            api.get_service_info_list(id, token, None, types::ApiVersion60::X60, timeout)
                .await
        })
        .await?;
        services.extend(page.items.into_iter().filter_map(Service::from_api));
        pages.advance(page.continuation_token)?;
    }
    Ok(services)
}

/// A service as resolution needs it.
struct Service {
    name: FabricName,
    kind: ServiceKind,
}

enum ServiceKind {
    Stateful { persisted: Option<bool> },
    Stateless,
}

impl Service {
    fn from_api(service: types::ServiceInfo) -> Option<Self> {
        let (name, id, kind) = match service {
            types::ServiceInfo::Stateful {
                name,
                id,
                has_persisted_state,
                ..
            } => (
                name,
                id,
                ServiceKind::Stateful {
                    persisted: has_persisted_state,
                },
            ),
            types::ServiceInfo::Stateless { name, id, .. } => (name, id, ServiceKind::Stateless),
            // A kind only a later spec (and generated crate) knows: not stateful as this crate understands it,
            // and without a field this crate can name it by, so it is left out.
            _ => return None,
        };
        let name = FabricName::from_wire(name.as_deref(), id.as_deref())?;
        Some(Self { name, kind })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_gateway_ids_and_know_their_applications() {
        let name = FabricName::new("fabric:/myapp/app1/svc1").unwrap();
        assert_eq!(name.id(), "myapp~app1~svc1");
        let ancestors: Vec<String> = name.ancestors().map(|a| a.0).collect();
        assert_eq!(ancestors, ["fabric:/myapp/app1", "fabric:/myapp"]);
        assert_eq!(
            FabricName::new("fabric:/App/").unwrap().as_str(),
            "fabric:/App"
        );
        assert_eq!(
            FabricName::new("fabric:/App").unwrap().ancestors().count(),
            0
        );
    }

    #[test]
    fn bad_names_are_refused_with_the_reason() {
        for (name, reason) in [
            ("CalcApp/CalcService", "does not start with fabric:/"),
            ("fabric:/", "empty segment"),
            ("fabric:/a//b", "empty segment"),
            ("fabric:/a~b", "`~`"),
        ] {
            let error = FabricName::new(name).unwrap_err().to_string();
            assert!(error.contains(reason), "{name}: {error}");
        }
    }

    #[test]
    fn a_wire_id_with_tildes_or_slashes_gives_the_same_name() {
        for id in ["VisualObjects~ActorService", "VisualObjects/ActorService"] {
            assert_eq!(
                FabricName::from_wire(None, Some(id)).unwrap().as_str(),
                "fabric:/VisualObjects/ActorService"
            );
        }
        assert_eq!(
            FabricName::from_wire(Some("fabric:/A/B"), Some("ignored~id"))
                .unwrap()
                .as_str(),
            "fabric:/A/B"
        );
    }
}
