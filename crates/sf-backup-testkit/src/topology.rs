//! The cluster's applications, services and partitions, and the two queries of the HTTP gateway that list them
//! (GetServiceInfoList, GetPartitionInfoList), in either dialect.
//!
//! The gateway answers these two itself (no Backup Restore Service behind them), from the Cluster Manager and
//! Failover Manager queries; what its native code writes is in `../shared/notes/more-operations.md` §6.5 beside
//! the checkout, and the crate's README names the sources of the rest.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::{Dialect, PartitionConfig};

/// What kind of service a [`ServiceConfig`] is: only a stateful service with persisted state can be backed up.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Hash)]
pub enum ServiceKind {
    /// Stateful, `HasPersistedState` true: the only kind the Backup Restore Service backs up.
    StatefulPersisted,
    /// Stateful, `HasPersistedState` false (e.g. a volatile actor service).
    StatefulVolatile,
    /// Stateless.
    Stateless,
}

impl ServiceKind {
    /// Whether the Backup Restore Service can back up this kind of service's partitions.
    pub fn can_back_up(self) -> bool {
        self == ServiceKind::StatefulPersisted
    }

    fn is_stateful(self) -> bool {
        self != ServiceKind::Stateless
    }

    fn wire_kind(self) -> &'static str {
        if self.is_stateful() {
            "Stateful"
        } else {
            "Stateless"
        }
    }
}

/// How a partition's keys are chosen, as `PartitionInformation` reports it. In JSON, tagged by `kind`:
/// `{"kind": "Singleton"}`, `{"kind": "Int64Range", "low_key": -9223372036854775808, "high_key": -1}`,
/// `{"kind": "Named", "name": "a"}`.
#[non_exhaustive]
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum PartitionScheme {
    /// The service's only partition.
    Singleton,
    /// The keys `low_key..=high_key`.
    Int64Range {
        /// The lowest key, inclusive.
        low_key: i64,
        /// The highest key, inclusive.
        high_key: i64,
    },
    /// A partition with a name.
    Named {
        /// The partition's name.
        name: String,
    },
}

impl PartitionScheme {
    fn kind(&self) -> &'static str {
        match self {
            PartitionScheme::Singleton => "Singleton",
            PartitionScheme::Int64Range { .. } => "Int64Range",
            PartitionScheme::Named { .. } => "Named",
        }
    }
}

/// The ids and names of the topology a gateway has when its [`Config::topology`](crate::Config::topology) is
/// `None`: [`Topology::fake_app`].
pub mod default_topology {
    use uuid::Uuid;

    /// `fabric:/FakeApp`, the default topology's one application.
    pub const APPLICATION: &str = "fabric:/FakeApp";
    /// `fabric:/FakeApp/FakeService`: stateful, persisted; the four [`PERSISTED_PARTITIONS`].
    pub const PERSISTED_SERVICE: &str = "fabric:/FakeApp/FakeService";
    /// `fabric:/FakeApp/FakeVolatileService`: stateful, not persisted; the two [`VOLATILE_PARTITIONS`].
    pub const VOLATILE_SERVICE: &str = "fabric:/FakeApp/FakeVolatileService";
    /// `fabric:/FakeApp/FakeStatelessService`: stateless; the one [`STATELESS_PARTITION`].
    pub const STATELESS_SERVICE: &str = "fabric:/FakeApp/FakeStatelessService";
    /// The Int64Range partitions of [`PERSISTED_SERVICE`], splitting the whole key range in four, lowest keys
    /// first.
    pub const PERSISTED_PARTITIONS: [Uuid; 4] = [
        Uuid::from_u128(0xacd6287c_0dd2_47ff_9fc3_1325774033bf),
        Uuid::from_u128(0x2ebca2e2_68d0_4348_aad1_32597439cb3a),
        Uuid::from_u128(0xf8fb65c4_a541_43aa_acdf_e7959f5ce23b),
        Uuid::from_u128(0xb9f3d34d_2769_4990_b331_767009a7eefe),
    ];
    /// The Named partitions `a` and `b` of [`VOLATILE_SERVICE`].
    pub const VOLATILE_PARTITIONS: [Uuid; 2] = [
        Uuid::from_u128(0xef0fb791_7bc9_4c81_a577_3e478067d9d9),
        Uuid::from_u128(0x5f213172_0928_45d2_8743_72a78ffb8c9f),
    ];
    /// The Singleton partition of [`STATELESS_SERVICE`].
    pub const STATELESS_PARTITION: Uuid = Uuid::from_u128(0xaa880e48_ad91_4cfd_9c9a_75a4c0da9929);
}

/// The applications of the cluster, their services and partitions: what GetServiceInfoList and
/// GetPartitionInfoList list. Partitions keep every per-partition behaviour of a [`PartitionConfig`] (outcomes,
/// policy, restore, clock offset, durations); their application and service come from the topology.
///
/// In the JSON config: `"topology": {"applications": [...]}` (see the crate's README).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// The applications.
    #[serde(default)]
    pub applications: Vec<ApplicationConfig>,
}

impl Topology {
    /// A topology without applications: both queries then answer 404 for every id.
    pub fn empty() -> Self {
        Topology {
            applications: Vec::new(),
        }
    }

    /// The default topology (see [`default_topology`]): `fabric:/FakeApp` with `FakeService` (stateful,
    /// persisted, four Int64Range partitions), `FakeVolatileService` (stateful, volatile, Named partitions `a` and
    /// `b`) and `FakeStatelessService` (stateless, Singleton).
    pub fn fake_app() -> Self {
        use default_topology as d;
        let [a, b] = d::VOLATILE_PARTITIONS;
        Topology::empty().application(
            ApplicationConfig::new(d::APPLICATION)
                .service(
                    ServiceConfig::stateful_persisted(d::PERSISTED_SERVICE)
                        .uniform_int64_range(d::PERSISTED_PARTITIONS),
                )
                .service(
                    ServiceConfig::stateful_volatile(d::VOLATILE_SERVICE)
                        .named(a, "a")
                        .named(b, "b"),
                )
                .service(
                    ServiceConfig::stateless(d::STATELESS_SERVICE)
                        .singleton(d::STATELESS_PARTITION),
                ),
        )
    }

    /// Adds `application` (behind the ones already there).
    #[must_use]
    pub fn application(mut self, application: ApplicationConfig) -> Self {
        self.applications.push(application);
        self
    }

    /// Every partition with the service and application it belongs to.
    pub(crate) fn partitions(
        &self,
    ) -> impl Iterator<Item = (&ApplicationConfig, &ServiceConfig, &PartitionConfig)> {
        self.applications.iter().flat_map(|app| {
            app.services
                .iter()
                .flat_map(move |svc| svc.partitions.iter().map(move |p| (app, svc, p)))
        })
    }

    /// Checks names, ids and schemes; the error names the field.
    pub(crate) fn validate(&self) -> Result<(), TopologyError> {
        let mut seen_apps: Vec<&str> = Vec::new();
        let mut seen_services: Vec<&str> = Vec::new();
        let mut seen_ids: Vec<Uuid> = Vec::new();
        for (i, app) in self.applications.iter().enumerate() {
            let at = format!("topology.applications[{i}]");
            app.validate(&at)?;
            if seen_apps.contains(&app.name.as_str()) {
                return Err(TopologyError(format!(
                    "{at}.name: application {:?} is given twice",
                    app.name
                )));
            }
            seen_apps.push(&app.name);
            for (j, svc) in app.services.iter().enumerate() {
                let at = format!("{at}.services[{j}]");
                svc.validate(&app.name, &at)?;
                if seen_services.contains(&svc.name.as_str()) {
                    return Err(TopologyError(format!(
                        "{at}.name: service {:?} is given twice",
                        svc.name
                    )));
                }
                seen_services.push(&svc.name);
                for (k, partition) in svc.partitions.iter().enumerate() {
                    if seen_ids.contains(&partition.id) {
                        return Err(TopologyError(format!(
                            "{at}.partitions[{k}].id: partition {} is given twice",
                            partition.id
                        )));
                    }
                    seen_ids.push(partition.id);
                }
            }
        }
        Ok(())
    }

    pub(crate) fn application_named(&self, name: &str) -> Option<&ApplicationConfig> {
        self.applications.iter().find(|app| app.name == name)
    }

    pub(crate) fn service_named(&self, name: &str) -> Option<&ServiceConfig> {
        self.applications
            .iter()
            .flat_map(|app| app.services.iter())
            .find(|svc| svc.name == name)
    }
}

/// A topology that cannot be: two services with one name, a service outside its application, a partition in two
/// places, an empty Int64Range and the like. The message names the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopologyError(pub(crate) String);

impl fmt::Display for TopologyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TopologyError {}

/// One application and its services.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationConfig {
    /// The application's name, e.g. `fabric:/FakeApp`.
    pub name: String,
    /// Whether a backup policy is enabled for the whole application (default false). It covers every partition
    /// of its services, including those of stateless and volatile services, which cannot get a policy of their
    /// own (the service refuses one with 400 `FABRIC_E_INVALID_FOR_STATELESS_SERVICES`); a persisted partition is
    /// also covered by its own `backup_policy`.
    #[serde(default)]
    pub backup_policy: bool,
    /// The application's services.
    #[serde(default)]
    pub services: Vec<ServiceConfig>,
}

impl ApplicationConfig {
    /// An application named `name` (`fabric:/…`) without services and without an application-wide policy.
    pub fn new(name: impl Into<String>) -> Self {
        ApplicationConfig {
            name: name.into(),
            backup_policy: false,
            services: Vec::new(),
        }
    }

    /// Adds `service`, whose name must start with this application's name and `/`.
    #[must_use]
    pub fn service(mut self, service: ServiceConfig) -> Self {
        self.services.push(service);
        self
    }

    /// Enables (or not) a backup policy for the whole application (see [`ApplicationConfig::backup_policy`]).
    #[must_use]
    pub fn with_backup_policy(mut self, enabled: bool) -> Self {
        self.backup_policy = enabled;
        self
    }

    fn validate(&self, at: &str) -> Result<(), TopologyError> {
        let rest = self.name.strip_prefix("fabric:/").unwrap_or_default();
        if rest.is_empty() || rest.ends_with('/') {
            return Err(TopologyError(format!(
                "{at}.name: {:?} is not an application name such as \"fabric:/FakeApp\"",
                self.name
            )));
        }
        Ok(())
    }
}

/// One service and its partitions.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// The service's name, its application's name followed by `/` and more, e.g. `fabric:/FakeApp/FakeService`.
    pub name: String,
    /// Stateful persisted, stateful volatile or stateless.
    pub kind: ServiceKind,
    /// The service type (default: the name's last segment followed by `Type`, e.g. `FakeServiceType`).
    #[serde(default)]
    pub type_name: Option<String>,
    /// The service manifest's version (default `1.0.0`).
    #[serde(default)]
    pub manifest_version: Option<String>,
    /// Stateful only: the target replica set size (default 3).
    #[serde(default)]
    pub target_replica_set_size: Option<u32>,
    /// Stateful only: the minimum replica set size (default 2).
    #[serde(default)]
    pub min_replica_set_size: Option<u32>,
    /// Stateless only: the instance count (default 1; -1 is one per node).
    #[serde(default)]
    pub instance_count: Option<i32>,
    /// The partitions, at least one, all of one scheme (`scheme` defaults to Singleton here). Their
    /// `application` and `service` must not be set: they come from the topology.
    #[serde(default)]
    pub partitions: Vec<PartitionConfig>,
}

impl ServiceConfig {
    fn new(name: impl Into<String>, kind: ServiceKind) -> Self {
        ServiceConfig {
            name: name.into(),
            kind,
            type_name: None,
            manifest_version: None,
            target_replica_set_size: None,
            min_replica_set_size: None,
            instance_count: None,
            partitions: Vec::new(),
        }
    }

    /// A stateful service with persisted state (`HasPersistedState` true), without partitions yet.
    pub fn stateful_persisted(name: impl Into<String>) -> Self {
        Self::new(name, ServiceKind::StatefulPersisted)
    }

    /// A stateful service without persisted state (`HasPersistedState` false), without partitions yet.
    pub fn stateful_volatile(name: impl Into<String>) -> Self {
        Self::new(name, ServiceKind::StatefulVolatile)
    }

    /// A stateless service, without partitions yet.
    pub fn stateless(name: impl Into<String>) -> Self {
        Self::new(name, ServiceKind::Stateless)
    }

    /// Sets the service type's name.
    #[must_use]
    pub fn type_name(mut self, type_name: impl Into<String>) -> Self {
        self.type_name = Some(type_name.into());
        self
    }

    /// Sets the service manifest's version.
    #[must_use]
    pub fn manifest_version(mut self, version: impl Into<String>) -> Self {
        self.manifest_version = Some(version.into());
        self
    }

    /// Stateful only: the target and minimum replica set sizes.
    #[must_use]
    pub fn replica_set_size(mut self, target: u32, min: u32) -> Self {
        self.target_replica_set_size = Some(target);
        self.min_replica_set_size = Some(min);
        self
    }

    /// Stateless only: the instance count (-1: one per node).
    #[must_use]
    pub fn instance_count(mut self, count: i32) -> Self {
        self.instance_count = Some(count);
        self
    }

    /// Adds `partition` as it is (its `scheme` defaults to Singleton), with every behaviour it configures.
    #[must_use]
    pub fn partition(mut self, partition: PartitionConfig) -> Self {
        self.partitions.push(partition);
        self
    }

    /// Adds the service's only partition, `id`.
    #[must_use]
    pub fn singleton(self, id: impl Into<Uuid>) -> Self {
        self.partition(PartitionConfig {
            scheme: Some(PartitionScheme::Singleton),
            ..PartitionConfig::new(id)
        })
    }

    /// Adds partition `id` for the keys `low_key..=high_key`.
    #[must_use]
    pub fn int64_range(self, id: impl Into<Uuid>, low_key: i64, high_key: i64) -> Self {
        self.partition(PartitionConfig {
            scheme: Some(PartitionScheme::Int64Range { low_key, high_key }),
            ..PartitionConfig::new(id)
        })
    }

    /// Adds partition `id` named `name`.
    #[must_use]
    pub fn named(self, id: impl Into<Uuid>, name: impl Into<String>) -> Self {
        self.partition(PartitionConfig {
            scheme: Some(PartitionScheme::Named { name: name.into() }),
            ..PartitionConfig::new(id)
        })
    }

    /// Adds one Int64Range partition per id, splitting the whole key range evenly, lowest keys first (the
    /// `UniformInt64Range` scheme).
    #[must_use]
    pub fn uniform_int64_range<I>(mut self, ids: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<Uuid>,
    {
        let ids: Vec<Uuid> = ids.into_iter().map(Into::into).collect();
        let count = ids.len() as i128;
        let step = (1_i128 << 64) / count.max(1);
        for (index, id) in ids.into_iter().enumerate() {
            let index = index as i128;
            let low = i128::from(i64::MIN) + index * step;
            let high = if index == count - 1 {
                i128::from(i64::MAX)
            } else {
                low + step - 1
            };
            // Both lie in i64's range by construction.
            self = self.int64_range(
                id,
                i64::try_from(low).unwrap_or(i64::MIN),
                i64::try_from(high).unwrap_or(i64::MAX),
            );
        }
        self
    }

    pub(crate) fn type_name_or_default(&self) -> String {
        self.type_name.clone().unwrap_or_else(|| {
            let last = self.name.rsplit('/').next().unwrap_or_default();
            format!("{last}Type")
        })
    }

    fn validate(&self, application: &str, at: &str) -> Result<(), TopologyError> {
        let error = |message: String| Err(TopologyError(message));
        let rest = self
            .name
            .strip_prefix(application)
            .and_then(|rest| rest.strip_prefix('/'))
            .unwrap_or_default();
        if rest.is_empty() || rest.ends_with('/') {
            return error(format!(
                "{at}.name: {:?} is not a service of application {application:?} (expected \"{application}/<name>\")",
                self.name
            ));
        }
        if self.kind.is_stateful() && self.instance_count.is_some() {
            return error(format!(
                "{at}.instance_count: {:?} is stateful; instance_count is for stateless services",
                self.name
            ));
        }
        if !self.kind.is_stateful()
            && (self.target_replica_set_size.is_some() || self.min_replica_set_size.is_some())
        {
            return error(format!(
                "{at}.target_replica_set_size: {:?} is stateless; replica set sizes are for stateful services",
                self.name
            ));
        }
        if self.min_replica_set_size.unwrap_or(2) > self.target_replica_set_size.unwrap_or(3) {
            return error(format!(
                "{at}.min_replica_set_size: larger than target_replica_set_size in {:?}",
                self.name
            ));
        }
        if self.partitions.is_empty() {
            return error(format!(
                "{at}.partitions: service {:?} has no partition; give at least one",
                self.name
            ));
        }
        let schemes: Vec<PartitionScheme> =
            self.partitions.iter().map(scheme_in_topology).collect();
        for (k, partition) in self.partitions.iter().enumerate() {
            let at = format!("{at}.partitions[{k}]");
            if partition.application.is_some() || partition.service.is_some() {
                return error(format!(
                    "{at}: a partition in the topology takes its application and service from it; remove \
                     \"application\" and \"service\""
                ));
            }
            if schemes[k].kind() != schemes[0].kind() {
                return error(format!(
                    "{at}.scheme: a service's partitions share one scheme; this one is {}, the first {}",
                    schemes[k].kind(),
                    schemes[0].kind()
                ));
            }
            match &schemes[k] {
                PartitionScheme::Singleton if self.partitions.len() > 1 => {
                    return error(format!(
                        "{at}.scheme: a Singleton service has exactly one partition, {:?} has {}",
                        self.name,
                        self.partitions.len()
                    ));
                }
                PartitionScheme::Int64Range { low_key, high_key } if low_key > high_key => {
                    return error(format!(
                        "{at}.scheme: low_key {low_key} is above high_key {high_key}"
                    ));
                }
                PartitionScheme::Int64Range { low_key, high_key } => {
                    let overlaps = schemes[..k].iter().any(|other| {
                        matches!(other, PartitionScheme::Int64Range { low_key: l, high_key: h }
                            if l <= high_key && low_key <= h)
                    });
                    if overlaps {
                        return error(format!(
                            "{at}.scheme: keys {low_key}..={high_key} overlap another partition's"
                        ));
                    }
                }
                PartitionScheme::Named { name } if schemes[..k].contains(&schemes[k]) => {
                    return error(format!("{at}.scheme: the name {name:?} is given twice"));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// A topology partition's scheme: Singleton unless given.
pub(crate) fn scheme_in_topology(partition: &PartitionConfig) -> PartitionScheme {
    partition
        .scheme
        .clone()
        .unwrap_or(PartitionScheme::Singleton)
}

/// What a partition is in the cluster, as the backup side needs it.
#[derive(Clone, Debug)]
pub(crate) struct Placement {
    /// The application's name without `fabric:/`, e.g. `FakeApp`.
    pub application: String,
    /// The service's name relative to its application, e.g. `FakeService`.
    pub service: String,
    pub kind: ServiceKind,
    pub scheme: PartitionScheme,
    /// An application-wide policy covers the partition.
    pub application_policy: bool,
}

pub(crate) fn placement(
    app: &ApplicationConfig,
    svc: &ServiceConfig,
    p: &PartitionConfig,
) -> Placement {
    let application = app.name.trim_start_matches("fabric:/").to_owned();
    let service = svc
        .name
        .strip_prefix(app.name.as_str())
        .unwrap_or(&svc.name)
        .trim_start_matches('/')
        .to_owned();
    Placement {
        application,
        service,
        kind: svc.kind,
        scheme: scheme_in_topology(p),
        application_policy: app.backup_policy,
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Ids as the gateway reads and writes them.

/// A path id as the gateway turns it into a name (`NamingUri::IdToFabricName`): percent-decoded, then every `~`
/// made a `/`, then prefixed with `fabric:/`. `None` for a malformed escape or an empty id.
pub(crate) fn id_to_name(id: &str) -> Option<String> {
    let bytes = id.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = bytes.get(index + 1..index + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    let decoded = String::from_utf8(decoded).ok()?;
    if decoded.is_empty() {
        return None;
    }
    Some(format!("fabric:/{}", decoded.replace('~', "/")))
}

/// A name as the gateway writes it as an `Id` (`NamingUri::FabricNameToId`): without `fabric:/`, `/` as `~` when
/// the api-version is 6.0 or later, and the characters its `EscapeString` escapes percent-encoded.
fn name_to_id(name: &str, delimiter: bool) -> String {
    let rest = name.trim_start_matches("fabric:/");
    let rest = if delimiter {
        rest.replace('/', "~")
    } else {
        rest.to_owned()
    };
    let mut out = String::with_capacity(rest.len());
    for c in rest.chars() {
        if "[]&^`{}|\"<>\\ ".contains(c) {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------------------------
// The two queries.

/// The query values, as the gateway reads them: split on `&` and `=`, names case-sensitive, nothing decoded, the
/// first of a repeated name kept (`GatewayUri::ParseQueryString`).
pub(crate) struct GatewayQuery(Vec<(String, String)>);

impl GatewayQuery {
    pub(crate) fn parse(raw: &str) -> Self {
        let mut items: Vec<(String, String)> = Vec::new();
        for element in raw.split('&') {
            let pair: Vec<&str> = element.split('=').collect();
            if let [name, value] = pair.as_slice()
                && !items.iter().any(|(n, _)| n == name)
            {
                items.push(((*name).to_owned(), (*value).to_owned()));
            }
        }
        GatewayQuery(items)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A refusal of one of the two queries.
#[derive(Debug)]
pub(crate) struct QueryRefusal {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

fn invalid(message: impl Into<String>) -> QueryRefusal {
    QueryRefusal {
        status: 400,
        code: "E_INVALIDARG",
        message: message.into(),
    }
}

/// The gateway's message for an E_INVALIDARG without one of its own (`IDS_ERROR_MESSAGE_E_INVALIDARG`).
const INVALID_ARGUMENT: &str = "Invalid argument";

/// Which query, for its documented api-version.
#[derive(Clone, Copy)]
pub(crate) enum Listing {
    Services,
    Partitions,
}

impl Listing {
    fn documented_version(self) -> &'static str {
        match self {
            Listing::Services => "6.0",
            Listing::Partitions => "6.4",
        }
    }
}

/// The api-version as a number. The gateway takes a number (a `-preview` suffix dropped) between its handler's
/// minimum and the runtime's version; this one takes 6.0 and later (see the README for what is not modelled
/// below). The documented dialect takes exactly the spec's version.
pub(crate) fn api_version(
    query: &GatewayQuery,
    dialect: Dialect,
    listing: Listing,
) -> Result<f64, QueryRefusal> {
    let raw = query.get("api-version");
    match dialect {
        Dialect::Documented => {
            let wanted = listing.documented_version();
            match raw {
                Some(version) if version == wanted => Ok(version.parse().unwrap_or(0.0)),
                Some(other) => Err(invalid(format!(
                    "api-version must be \"{wanted}\", got {other:?}"
                ))),
                None => Err(invalid(format!(
                    "api-version is required and must be \"{wanted}\""
                ))),
            }
        }
        _ => {
            let number = raw
                .map(|v| v.strip_suffix("-preview").unwrap_or(v))
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 6.0);
            number.ok_or_else(|| invalid(INVALID_ARGUMENT))
        }
    }
}

/// `timeout`, as for the other operations: seconds in 1..=4294967295.
pub(crate) fn check_timeout(query: &GatewayQuery) -> Result<(), QueryRefusal> {
    match query.get("timeout") {
        None => Ok(()),
        Some(raw) => match raw.parse::<u64>() {
            Ok(1..=4_294_967_295) => Ok(()),
            _ => Err(invalid(format!(
                "timeout must be an integer in 1..=4294967295, got {raw}"
            ))),
        },
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Page<T> {
    continuation_token: String,
    items: Vec<T>,
}

/// `ServiceQueryResult` then `ServiceQueryResultWrapper`'s `Id`, in the native serializer's order.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GatewayServiceInfo {
    service_kind: &'static str,
    name: String,
    type_name: String,
    manifest_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    has_persisted_state: Option<bool>,
    health_state: &'static str,
    service_status: &'static str,
    is_service_group: bool,
    id: String,
}

/// The spec's `ServiceInfo` (base properties, then `StatefulServiceInfo`'s).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DocumentedServiceInfo {
    id: String,
    service_kind: &'static str,
    name: String,
    type_name: String,
    manifest_version: String,
    health_state: &'static str,
    service_status: &'static str,
    is_service_group: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    has_persisted_state: Option<bool>,
}

/// GetServiceInfoList: the services of `application_id`, sorted by name, after the raw `ContinuationToken` (a
/// service name; compared as text, so an encoded one starts over), filtered by the raw `ServiceTypeName`, at most
/// `page_cap` (and, from api-version 6.4 in the service dialect, `MaxResults`) per page.
pub(crate) fn services(
    topology: &Topology,
    application_id: &str,
    query: &GatewayQuery,
    dialect: Dialect,
    page_cap: usize,
) -> Result<Vec<u8>, QueryRefusal> {
    let version = api_version(query, dialect, Listing::Services)?;
    check_timeout(query)?;
    let service_dialect = dialect != Dialect::Documented;
    let mut size = page_cap.max(1);
    if service_dialect && version >= 6.4 {
        // `TryGetPagingDescription`: MaxResults from 6.4 on; 0 means no limit.
        if let Some(raw) = query.get("MaxResults") {
            match raw.parse::<i64>() {
                Ok(0) => {}
                Ok(n) if n > 0 => size = size.min(usize::try_from(n).unwrap_or(usize::MAX)),
                _ => {
                    return Err(invalid(format!(
                        "The MaxResults value '{raw}' is not valid. It must be a non-negative integer."
                    )));
                }
            }
        }
    }
    let Some(name) = id_to_name(application_id) else {
        return Err(invalid_name(dialect, application_id));
    };
    let Some(application) = topology.application_named(&name) else {
        return Err(QueryRefusal {
            status: 404,
            code: "FABRIC_E_APPLICATION_NOT_FOUND",
            message: match dialect {
                Dialect::Documented => format!("Application {name} not found."),
                // `IDS_ERROR_MESSAGE_FABRIC_E_APPLICATION_NOT_FOUND`.
                _ => "Application not found".to_owned(),
            },
        });
    };
    let token = query.get("ContinuationToken").filter(|t| !t.is_empty());
    let type_filter = query.get("ServiceTypeName").filter(|t| !t.is_empty());
    let mut services: Vec<&ServiceConfig> = application.services.iter().collect();
    services.sort_by(|a, b| a.name.cmp(&b.name));
    let matching: Vec<&ServiceConfig> = services
        .into_iter()
        .filter(|svc| token.is_none_or(|token| svc.name.as_str() > token))
        .filter(|svc| type_filter.is_none_or(|filter| svc.type_name_or_default() == filter))
        .collect();
    let page = &matching[..size.min(matching.len())];
    let next = if page.len() < matching.len() {
        page.last().map(|svc| svc.name.clone()).unwrap_or_default()
    } else {
        String::new()
    };
    let delimiter = version >= 6.0;
    let stateful = |svc: &ServiceConfig| {
        svc.kind
            .is_stateful()
            .then_some(svc.kind == ServiceKind::StatefulPersisted)
    };
    let bytes = if service_dialect {
        serde_json::to_vec(&Page {
            continuation_token: next,
            items: page
                .iter()
                .map(|svc| GatewayServiceInfo {
                    service_kind: svc.kind.wire_kind(),
                    name: svc.name.clone(),
                    type_name: svc.type_name_or_default(),
                    manifest_version: manifest_version(svc),
                    has_persisted_state: stateful(svc),
                    health_state: "Ok",
                    service_status: "Active",
                    is_service_group: false,
                    id: name_to_id(&svc.name, delimiter),
                })
                .collect(),
        })
    } else {
        serde_json::to_vec(&Page {
            continuation_token: next,
            items: page
                .iter()
                .map(|svc| DocumentedServiceInfo {
                    id: name_to_id(&svc.name, true),
                    service_kind: svc.kind.wire_kind(),
                    name: svc.name.clone(),
                    type_name: svc.type_name_or_default(),
                    manifest_version: manifest_version(svc),
                    health_state: "Ok",
                    service_status: "Active",
                    is_service_group: false,
                    has_persisted_state: stateful(svc),
                })
                .collect(),
        })
    };
    Ok(bytes.unwrap_or_default())
}

fn manifest_version(svc: &ServiceConfig) -> String {
    svc.manifest_version
        .clone()
        .unwrap_or_else(|| "1.0.0".to_owned())
}

fn invalid_name(dialect: Dialect, id: &str) -> QueryRefusal {
    QueryRefusal {
        status: 400,
        code: "FABRIC_E_INVALID_NAME_URI",
        message: match dialect {
            Dialect::Documented => format!("{id:?} is not a valid id"),
            // `IDS_ERROR_MESSAGE_FABRIC_E_INVALID_NAME_URI`.
            _ => "Invalid name URI.".to_owned(),
        },
    }
}

/// `ServicePartitionInformation` (both dialects: kind, id, then the name or the keys as strings).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PartitionInformationView {
    service_partition_kind: &'static str,
    id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    low_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    high_key: Option<String>,
}

impl PartitionInformationView {
    fn new(id: Uuid, scheme: &PartitionScheme) -> Self {
        let (name, low_key, high_key) = match scheme {
            PartitionScheme::Singleton => (None, None, None),
            PartitionScheme::Named { name } => (Some(name.clone()), None, None),
            PartitionScheme::Int64Range { low_key, high_key } => {
                (None, Some(low_key.to_string()), Some(high_key.to_string()))
            }
        };
        PartitionInformationView {
            service_partition_kind: scheme.kind(),
            id,
            name,
            low_key,
            high_key,
        }
    }
}

/// An epoch as both dialects write it: the configuration version first, both numbers as strings.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EpochView {
    configuration_version: String,
    data_loss_version: String,
}

fn epoch() -> EpochView {
    EpochView {
        configuration_version: crate::state::CONFIGURATION_VERSION.to_string(),
        data_loss_version: crate::state::DATA_LOSS_VERSION.to_string(),
    }
}

/// `ServicePartitionQueryResult` in the native serializer's order; the epoch is `PrimaryEpoch` from api-version
/// 6.4 on, `CurrentConfigurationEpoch` before.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GatewayPartitionInfo {
    service_kind: &'static str,
    partition_information: PartitionInformationView,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance_count: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_replica_set_size: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_replica_set_size: Option<u32>,
    health_state: &'static str,
    partition_status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_quorum_loss_duration_in_seconds: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    primary_epoch: Option<EpochView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    current_configuration_epoch: Option<EpochView>,
}

/// The spec's `ServicePartitionInfo` (base properties, then the stateful or stateless subtype's).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DocumentedPartitionInfo {
    service_kind: &'static str,
    health_state: &'static str,
    partition_status: &'static str,
    partition_information: PartitionInformationView,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_replica_set_size: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_replica_set_size: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auxiliary_replica_count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_quorum_loss_duration: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    primary_epoch: Option<EpochView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance_count: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_instance_count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_instance_percentage: Option<u32>,
}

/// The Failover Manager's partition order: `Guid::operator<`, a `memcmp` of the GUID structure, i.e. of its
/// little-endian bytes (not the order of the text).
fn guid_order(id: &Uuid) -> [u8; 16] {
    id.to_bytes_le()
}

/// GetPartitionInfoList: the partitions of `service_id` in the Failover Manager's order, after the raw
/// `ContinuationToken` (a partition id), at most `page_cap` per page.
pub(crate) fn partitions(
    topology: &Topology,
    service_id: &str,
    query: &GatewayQuery,
    dialect: Dialect,
    page_cap: usize,
) -> Result<Vec<u8>, QueryRefusal> {
    let version = api_version(query, dialect, Listing::Partitions)?;
    check_timeout(query)?;
    let service_dialect = dialect != Dialect::Documented;
    let Some(name) = id_to_name(service_id) else {
        return Err(invalid_name(dialect, service_id));
    };
    let Some(service) = topology.service_named(&name) else {
        return Err(QueryRefusal {
            status: 404,
            code: "FABRIC_E_SERVICE_DOES_NOT_EXIST",
            message: match dialect {
                Dialect::Documented => format!("Service {name} does not exist."),
                // `IDS_ERROR_MESSAGE_FABRIC_E_SERVICE_DOES_NOT_EXIST`.
                _ => "Service does not exist.".to_owned(),
            },
        });
    };
    let token = match query.get("ContinuationToken").filter(|t| !t.is_empty()) {
        None => None,
        Some(raw) => Some(Uuid::parse_str(raw).map_err(|_| {
            invalid(match dialect {
                Dialect::Documented => format!(
                    "ContinuationToken {raw:?} is not one this gateway gave (a partition id)"
                ),
                // `IDS_COMMON_Invalid_Continuation_Token`.
                _ => format!(
                    "The continuation token '{raw}' is not valid. Please pass in the continuation token \
                     returned by a previous query."
                ),
            })
        })?),
    };
    let mut partitions: Vec<&PartitionConfig> = service.partitions.iter().collect();
    partitions.sort_by_key(|p| guid_order(&p.id));
    let matching: Vec<&PartitionConfig> = partitions
        .into_iter()
        .filter(|p| token.is_none_or(|token| guid_order(&p.id) > guid_order(&token)))
        .collect();
    let page = &matching[..page_cap.max(1).min(matching.len())];
    let next = if page.len() < matching.len() {
        page.last()
            .map(|p| p.id.hyphenated().to_string())
            .unwrap_or_default()
    } else {
        String::new()
    };
    let stateful = service.kind.is_stateful();
    let target = stateful.then(|| service.target_replica_set_size.unwrap_or(3));
    let min = stateful.then(|| service.min_replica_set_size.unwrap_or(2));
    let instances = (!stateful).then(|| service.instance_count.unwrap_or(1));
    let bytes = if service_dialect {
        let renamed = version >= 6.4;
        serde_json::to_vec(&Page {
            continuation_token: next,
            items: page
                .iter()
                .map(|p| GatewayPartitionInfo {
                    service_kind: service.kind.wire_kind(),
                    partition_information: PartitionInformationView::new(
                        p.id,
                        &scheme_in_topology(p),
                    ),
                    instance_count: instances,
                    target_replica_set_size: target,
                    min_replica_set_size: min,
                    health_state: "Ok",
                    partition_status: "Ready",
                    last_quorum_loss_duration_in_seconds: stateful.then(|| "0".to_owned()),
                    primary_epoch: (stateful && renamed).then(epoch),
                    current_configuration_epoch: (stateful && !renamed).then(epoch),
                })
                .collect(),
        })
    } else {
        serde_json::to_vec(&Page {
            continuation_token: next,
            items: page
                .iter()
                .map(|p| DocumentedPartitionInfo {
                    service_kind: service.kind.wire_kind(),
                    health_state: "Ok",
                    partition_status: "Ready",
                    partition_information: PartitionInformationView::new(
                        p.id,
                        &scheme_in_topology(p),
                    ),
                    target_replica_set_size: target,
                    min_replica_set_size: min,
                    auxiliary_replica_count: stateful.then_some(0),
                    last_quorum_loss_duration: stateful.then_some("PT0S"),
                    primary_epoch: stateful.then(epoch),
                    instance_count: instances,
                    min_instance_count: (!stateful).then_some(1),
                    min_instance_percentage: (!stateful).then_some(0),
                })
                .collect(),
        })
    };
    Ok(bytes.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_decode_like_the_gateway_and_names_encode_back() {
        assert_eq!(id_to_name("FakeApp").as_deref(), Some("fabric:/FakeApp"));
        assert_eq!(
            id_to_name("myapp~app1~svc1").as_deref(),
            Some("fabric:/myapp/app1/svc1")
        );
        assert_eq!(
            id_to_name("myapp%2Fapp1%2fsvc1").as_deref(),
            Some("fabric:/myapp/app1/svc1")
        );
        // Unescaped first, then `~` replaced: an escaped `~` is a delimiter too.
        assert_eq!(id_to_name("a%7Eb").as_deref(), Some("fabric:/a/b"));
        assert_eq!(id_to_name("a%2"), None);
        assert_eq!(id_to_name("a%zz"), None);
        assert_eq!(id_to_name(""), None);

        assert_eq!(
            name_to_id("fabric:/myapp/app1/svc1", true),
            "myapp~app1~svc1"
        );
        assert_eq!(
            name_to_id("fabric:/myapp/app1/svc1", false),
            "myapp/app1/svc1"
        );
        assert_eq!(name_to_id("fabric:/my app/s{1}", true), "my%20app~s%7B1%7D");
    }

    #[test]
    fn the_query_is_split_raw_and_the_first_value_wins() {
        let query = GatewayQuery::parse(
            "api-version=6.0&ContinuationToken=a%2Fb&Api-Version=9&api-version=7&x",
        );
        assert_eq!(query.get("api-version"), Some("6.0"));
        assert_eq!(query.get("ContinuationToken"), Some("a%2Fb"));
        assert_eq!(query.get("continuationtoken"), None);
        assert_eq!(query.get("x"), None);
    }

    #[test]
    fn a_uniform_range_covers_every_key_once() {
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
        let service = ServiceConfig::stateful_persisted("fabric:/A/S").uniform_int64_range(ids);
        let ranges: Vec<(i64, i64)> = service
            .partitions
            .iter()
            .map(|p| match p.scheme {
                Some(PartitionScheme::Int64Range { low_key, high_key }) => (low_key, high_key),
                _ => panic!("not a range"),
            })
            .collect();
        assert_eq!(ranges[0].0, i64::MIN);
        assert_eq!(ranges[2].1, i64::MAX);
        assert_eq!(ranges[0].1 + 1, ranges[1].0);
        assert_eq!(ranges[1].1 + 1, ranges[2].0);
        assert!(
            Topology::empty()
                .application(ApplicationConfig::new("fabric:/A").service(service))
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn the_default_topology_is_valid_and_bad_ones_name_the_field() {
        Topology::fake_app().validate().unwrap();
        let id = Uuid::new_v4();
        let bad = |topology: Topology| topology.validate().unwrap_err().to_string();
        let app = |svc: ServiceConfig| {
            Topology::empty().application(ApplicationConfig::new("fabric:/A").service(svc))
        };

        assert!(
            bad(Topology::empty().application(ApplicationConfig::new("A")))
                .starts_with("topology.applications[0].name")
        );
        assert!(
            bad(app(ServiceConfig::stateless("fabric:/B/S").singleton(id)))
                .contains("services[0].name")
        );
        assert!(
            bad(app(ServiceConfig::stateless("fabric:/A/S"))).contains("services[0].partitions: ")
        );
        assert!(
            bad(app(ServiceConfig::stateless("fabric:/A/S")
                .singleton(id)
                .singleton(Uuid::new_v4())))
            .contains("Singleton")
        );
        assert!(
            bad(app(
                ServiceConfig::stateful_persisted("fabric:/A/S").int64_range(id, 5, 1)
            ))
            .contains("low_key 5")
        );
        assert!(
            bad(app(ServiceConfig::stateful_persisted("fabric:/A/S")
                .int64_range(id, 0, 10)
                .int64_range(Uuid::new_v4(), 10, 20)))
            .contains("overlap")
        );
        assert!(
            bad(app(ServiceConfig::stateful_persisted("fabric:/A/S")
                .int64_range(id, 0, 10)
                .named(Uuid::new_v4(), "x")))
            .contains("one scheme")
        );
        assert!(
            bad(app(ServiceConfig::stateful_volatile("fabric:/A/S")
                .named(id, "x")
                .named(Uuid::new_v4(), "x")))
            .contains("twice")
        );
        assert!(
            bad(app(ServiceConfig::stateless("fabric:/A/S")
                .singleton(id)
                .replica_set_size(3, 2)))
            .contains("target_replica_set_size")
        );
        assert!(
            bad(app(ServiceConfig::stateful_persisted("fabric:/A/S")
                .singleton(id)
                .instance_count(2)))
            .contains("instance_count")
        );
        let twice = Topology::empty().application(
            ApplicationConfig::new("fabric:/A")
                .service(ServiceConfig::stateless("fabric:/A/S").singleton(id))
                .service(ServiceConfig::stateless("fabric:/A/T").singleton(id)),
        );
        assert!(bad(twice).contains("services[1].partitions[0].id"));
        let placed = PartitionConfig {
            application: Some("X".to_owned()),
            ..PartitionConfig::new(id)
        };
        assert!(
            bad(app(
                ServiceConfig::stateless("fabric:/A/S").partition(placed)
            ))
            .contains("remove \"application\"")
        );
    }
}
