//! The fake cluster as data: its applications, services and partitions (what the Cluster Manager and the Failover
//! Manager know), and each partition's scripted backup behaviour; every other module reads it, it reads none.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use uuid::Uuid;

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

    pub(crate) fn is_stateful(self) -> bool {
        self != ServiceKind::Stateless
    }

    /// `Stateful` or `Stateless`, as `ServiceKind` is written on the wire.
    pub(crate) fn wire_kind(self) -> &'static str {
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
    /// The `ServicePartitionKind` on the wire.
    pub(crate) fn kind(&self) -> &'static str {
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

/// One declared partition: its backup behaviour and, in a [topology](crate::Topology), its partition scheme.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionConfig {
    /// The partition id.
    pub id: Uuid,
    /// Whether the partition has a backup policy (default true). Without one, a backup request whose body names
    /// no `BackupStorage` gets 404 `FABRIC_E_BACKUP_NOT_ENABLED`. No effect on a partition of a stateless or
    /// volatile service in the topology, which only an application-wide policy
    /// ([`ApplicationConfig::backup_policy`](crate::ApplicationConfig::backup_policy)) can cover.
    #[serde(default = "yes")]
    pub backup_policy: bool,
    /// While true, backup requests get 409 `FABRIC_E_RESTORE_IN_PROGRESS`.
    #[serde(default)]
    pub restore_in_progress: bool,
    /// Outcomes of this partition's next backups, in order; once used up, backups succeed.
    #[serde(default)]
    pub outcomes: Vec<Outcome>,
    /// Application name used in `BackupLocation` (default `FakeApp`); not in a topology, which names it.
    #[serde(default)]
    pub application: Option<String>,
    /// Service name used in `BackupLocation` (default `FakeService`); not in a topology, which names it.
    #[serde(default)]
    pub service: Option<String>,
    /// How far the clock of the node holding this partition's primary is from the gateway's, in milliseconds
    /// (negative: behind). Backups stamp their `TimeStampUtc` with it, so a newer backup can carry an earlier
    /// time than the previous one, as after a primary move between nodes whose clocks disagree.
    #[serde(default)]
    pub node_clock_offset_ms: i64,
    /// How its keys are chosen. In a topology the default is Singleton; a partition outside the topology is listed
    /// in backup lists as Int64Range over every key unless this is set.
    #[serde(default)]
    pub scheme: Option<PartitionScheme>,
    /// This partition's `Accepted` phase in milliseconds, instead of the gateway's `accepted_ms`.
    #[serde(default)]
    pub accepted_ms: Option<u64>,
    /// This partition's `BackupInProgress` phase in milliseconds, instead of the gateway's `in_progress_ms`.
    #[serde(default)]
    pub in_progress_ms: Option<u64>,
}

fn yes() -> bool {
    true
}

impl PartitionConfig {
    /// A partition with a backup policy whose backups succeed.
    pub fn new(id: impl Into<Uuid>) -> Self {
        PartitionConfig {
            id: id.into(),
            backup_policy: true,
            restore_in_progress: false,
            outcomes: Vec::new(),
            application: None,
            service: None,
            node_clock_offset_ms: 0,
            scheme: None,
            accepted_ms: None,
            in_progress_ms: None,
        }
    }

    /// Outcomes for this partition's next backups, in order (see [`PartitionConfig::outcomes`]).
    #[must_use]
    pub fn with_outcomes(mut self, outcomes: impl IntoIterator<Item = Outcome>) -> Self {
        self.outcomes.extend(outcomes);
        self
    }

    /// With or without a backup policy of its own (see [`PartitionConfig::backup_policy`]).
    #[must_use]
    pub fn with_backup_policy(mut self, enabled: bool) -> Self {
        self.backup_policy = enabled;
        self
    }

    /// The node clock offset of its primary, in milliseconds (see [`PartitionConfig::node_clock_offset_ms`]).
    #[must_use]
    pub fn with_node_clock_offset_ms(mut self, offset_ms: i64) -> Self {
        self.node_clock_offset_ms = offset_ms;
        self
    }

    /// This partition's own phase lengths (see [`PartitionConfig::accepted_ms`] and
    /// [`PartitionConfig::in_progress_ms`]).
    #[must_use]
    pub fn with_durations(mut self, accepted: Duration, in_progress: Duration) -> Self {
        self.accepted_ms = Some(u64::try_from(accepted.as_millis()).unwrap_or(u64::MAX));
        self.in_progress_ms = Some(u64::try_from(in_progress.as_millis()).unwrap_or(u64::MAX));
        self
    }
}

/// How a backup ends. Progress always goes `Accepted` → `BackupInProgress` → the outcome's final state.
#[non_exhaustive]
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum Outcome {
    /// `Success`, and the backup is written. If the `BackupTimeout` deadline passes first, progress says
    /// `Timeout` but the backup is still written when it finishes, as the real service does.
    Success,
    /// `Failure` with `FailureError` {code, message}; nothing is written.
    Failure {
        /// The error code, known to the spec or not (e.g. `FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR`).
        code: String,
        /// The error message.
        #[serde(default)]
        message: Option<String>,
    },
    /// `Timeout` when the in-progress phase ends (or at the `BackupTimeout` deadline, if earlier); nothing is
    /// written.
    Timeout,
    /// `Timeout` like [`Outcome::Timeout`], yet the backup is written: the seed page's "though the operation
    /// returns back timeout, the backup actually goes through" case. See `GatewayHandle::written_backups`.
    TimeoutButWritten,
}

impl Outcome {
    /// A failure with the given code and message.
    pub fn failure(code: impl Into<String>, message: impl Into<String>) -> Self {
        Outcome::Failure {
            code: code.into(),
            message: Some(message.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
