//! From a service or an application to the partitions that can be backed up: GetPartitionInfoList and
//! GetServiceInfoList, every page, with stateless and volatile services set aside with a reason.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use sf_backup_api::types;

use crate::request::with_deadline;
use crate::{Client, Error, PartitionId};

/// The full name of a Service Fabric application or service, with the `fabric:` scheme, such as
/// `fabric:/CalcApp` or `fabric:/CalcApp/CalcService`.
///
/// ```
/// let service: sf_backup::FabricName = "fabric:/CalcApp/CalcService".parse()?;
/// assert_eq!(service.as_str(), "fabric:/CalcApp/CalcService");
/// assert!("CalcApp/CalcService".parse::<sf_backup::FabricName>().is_err());
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

/// The pages of one list read before giving up on a gateway that never ends it.
const MAX_PAGES: usize = 10_000;

impl Client {
    /// The partitions of the stateful service `service` that can be backed up (GetPartitionInfoList, every
    /// page). A stateless service resolves to no partition and a [`SkipReason::Stateless`]; a stateful one
    /// whose application lists it without persisted state to [`SkipReason::NotPersisted`]. When no
    /// application containing the service can be read, its persistence is not known and its partitions are
    /// returned: the service does not refuse a volatile service's backup (it accepts one sent with a storage and
    /// reports Timeout when no replica takes it), so prefer [`Client::resolve_application`] when in doubt. Only
    /// reads: nothing is backed up.
    ///
    /// ```no_run
    /// # async fn demo(client: sf_backup::Client) -> Result<(), sf_backup::Error> {
    /// let service = "fabric:/CalcApp/CalcService".parse()?;
    /// let resolution = client.resolve_service(&service).await?;
    /// let mut fleet = client.backup_partitions(resolution.partition_ids());
    /// # drop(fleet);
    /// # Ok(()) }
    /// ```
    pub async fn resolve_service(&self, service: &FabricName) -> Result<Resolution, Error> {
        self.resolve_service_with(service, None).await
    }

    /// [`Client::resolve_service`] with the service timeout of each list request.
    pub async fn resolve_service_with(
        &self,
        service: &FabricName,
        server_timeout: Option<Duration>,
    ) -> Result<Resolution, Error> {
        let mut persisted = None;
        for application in service.ancestors() {
            match self.services_of(&application, server_timeout).await {
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
            _ => {
                self.add_partitions(service, server_timeout, &mut resolution)
                    .await?
            }
        }
        Ok(resolution)
    }

    /// Every partition of every persisted stateful service of `application` (GetServiceInfoList, then
    /// GetPartitionInfoList per service, every page). Stateless and volatile services are left out with the
    /// reason. Only reads: nothing is backed up.
    pub async fn resolve_application(&self, application: &FabricName) -> Result<Resolution, Error> {
        self.resolve_application_with(application, None).await
    }

    /// [`Client::resolve_application`] with the service timeout of each list request.
    pub async fn resolve_application_with(
        &self,
        application: &FabricName,
        server_timeout: Option<Duration>,
    ) -> Result<Resolution, Error> {
        let mut resolution = Resolution::default();
        for service in self.services_of(application, server_timeout).await? {
            let reason = match service.kind {
                ServiceKind::Stateful {
                    persisted: Some(false),
                } => SkipReason::NotPersisted,
                ServiceKind::Stateless => SkipReason::Stateless,
                ServiceKind::Stateful { .. } => {
                    self.add_partitions(&service.name, server_timeout, &mut resolution)
                        .await?;
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
        &self,
        service: &FabricName,
        server_timeout: Option<Duration>,
        resolution: &mut Resolution,
    ) -> Result<(), Error> {
        let timeout = crate::request::server_timeout(server_timeout)?;
        let id = service.id();
        let mut seen: HashSet<PartitionId> = resolution.partition_ids().collect();
        let (mut stateless, mut without_id, mut unknown) = (0, 0, 0);
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let api = self.api().await?;
            let call = async {
                match api
                    .get_partition_info_list(&id, token.as_deref(), types::ApiVersion::X64, timeout)
                    .await
                {
                    Ok(page) => Ok(page.into_inner()),
                    Err(error) => Err(Error::from_api(error).await),
                }
            };
            let page = with_deadline(self, timeout, None, call).await?;
            for partition in page.items {
                let (stateful, information) = match partition {
                    types::ServicePartitionInfo::Stateful {
                        partition_information,
                        ..
                    } => (Some(true), partition_information),
                    types::ServicePartitionInfo::Stateless {
                        partition_information,
                        ..
                    } => (Some(false), partition_information),
                    _ => (None, None),
                };
                match stateful {
                    Some(true) => {}
                    Some(false) => {
                        stateless += 1;
                        continue;
                    }
                    None => {
                        unknown += 1;
                        continue;
                    }
                }
                let Some(partition_id) = information.as_ref().and_then(partition_id) else {
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
            match next_token(page.continuation_token, &token)? {
                Some(next) => token = Some(next),
                None => {
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
                    return Ok(());
                }
            }
        }
        Err(endless(service))
    }

    /// The services of `application`, every page.
    async fn services_of(
        &self,
        application: &FabricName,
        server_timeout: Option<Duration>,
    ) -> Result<Vec<Service>, Error> {
        let timeout = crate::request::server_timeout(server_timeout)?;
        let id = application.id();
        let mut services = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let api = self.api().await?;
            let call = async {
                match api
                    .get_service_info_list(
                        &id,
                        token.as_deref(),
                        None,
                        types::ApiVersion60::X60,
                        timeout,
                    )
                    .await
                {
                    Ok(page) => Ok(page.into_inner()),
                    Err(error) => Err(Error::from_api(error).await),
                }
            };
            let page = with_deadline(self, timeout, None, call).await?;
            services.extend(page.items.into_iter().filter_map(Service::from_api));
            match next_token(page.continuation_token, &token)? {
                Some(next) => token = Some(next),
                None => return Ok(services),
            }
        }
        Err(endless(application))
    }
}

fn partition_id(information: &types::PartitionInformation) -> Option<PartitionId> {
    let id = match information {
        types::PartitionInformation::Int64Range { id, .. }
        | types::PartitionInformation::Named { id, .. }
        | types::PartitionInformation::Singleton { id, .. } => id,
        _ => return None,
    };
    id.map(PartitionId::from)
}

/// The token of the next page: `None` when the list ends (absent, `null` or `""`). A gateway that hands back
/// the token it was given would page forever; that is an error.
fn next_token(next: Option<String>, previous: &Option<String>) -> Result<Option<String>, Error> {
    match next.filter(|token| !token.is_empty()) {
        None => Ok(None),
        Some(token) if previous.as_ref() == Some(&token) => Err(Error::Client {
            message: format!(
                "the gateway answered the continuation token {token:?} with the same token again"
            ),
            source: None,
        }),
        Some(token) => Ok(Some(token)),
    }
}

fn endless(name: &FabricName) -> Error {
    Error::Client {
        message: format!("the list for {name} did not end after {MAX_PAGES} pages"),
        source: None,
    }
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

    #[test]
    fn a_repeated_token_is_an_error_and_an_empty_one_ends_the_list() {
        assert_eq!(next_token(Some(String::new()), &None).unwrap(), None);
        assert_eq!(next_token(None, &Some("a".into())).unwrap(), None);
        assert_eq!(
            next_token(Some("b".into()), &Some("a".into())).unwrap(),
            Some("b".into())
        );
        assert!(next_token(Some("a".into()), &Some("a".into())).is_err());
    }
}
