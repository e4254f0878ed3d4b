//! The bodies of the native gateway's two topology queries, GetServiceInfoList and GetPartitionInfoList: the
//! native serializer's `ServiceQueryResult`/`ServiceQueryResultWrapper` and `ServicePartitionQueryResult`
//! (`src/prod/src/ServiceModel/`, member order as written there; the epoch renamed by
//! `httpgateway/ApplicationsHandler.cpp` `OnGetAllPartitionsComplete`), or the spec's `ServiceInfo` and
//! `ServicePartitionInfo`.

use serde::Serialize;

use crate::cluster::{PartitionConfig, ServiceConfig, ServiceKind, scheme_in_topology};
use crate::wire::dialect::Dialect;
use crate::wire::values::{CONFIGURATION_VERSION, DATA_LOSS_VERSION, PartitionInformationView};

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

/// An epoch as both dialects write it: the configuration version first, both numbers as strings.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EpochView {
    configuration_version: String,
    data_loss_version: String,
}

fn epoch() -> EpochView {
    EpochView {
        configuration_version: CONFIGURATION_VERSION.to_string(),
        data_loss_version: DATA_LOSS_VERSION.to_string(),
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

/// The api-version from which the service's gateway names the epoch `PrimaryEpoch`
/// (`Constants::V64ApiVersion`).
const PRIMARY_EPOCH_FROM: f64 = 6.4;

/// One page of GetServiceInfoList in `dialect`: each service with the `Id` the gateway computed for it.
pub(crate) fn services_page(
    dialect: Dialect,
    services: &[(&ServiceConfig, String)],
    next: String,
) -> Vec<u8> {
    let stateful = |svc: &ServiceConfig| {
        svc.kind
            .is_stateful()
            .then_some(svc.kind == ServiceKind::StatefulPersisted)
    };
    let bytes = match dialect {
        Dialect::Service => serde_json::to_vec(&Page {
            continuation_token: next,
            items: services
                .iter()
                .map(|(svc, id)| GatewayServiceInfo {
                    service_kind: svc.kind.wire_kind(),
                    name: svc.name.clone(),
                    type_name: svc.type_name_or_default(),
                    manifest_version: manifest_version(svc),
                    has_persisted_state: stateful(svc),
                    health_state: "Ok",
                    service_status: "Active",
                    is_service_group: false,
                    id: id.clone(),
                })
                .collect(),
        }),
        Dialect::Documented => serde_json::to_vec(&Page {
            continuation_token: next,
            items: services
                .iter()
                .map(|(svc, id)| DocumentedServiceInfo {
                    id: id.clone(),
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
        }),
    };
    bytes.unwrap_or_default()
}

fn manifest_version(svc: &ServiceConfig) -> String {
    svc.manifest_version
        .clone()
        .unwrap_or_else(|| "1.0.0".to_owned())
}

/// One page of GetPartitionInfoList in `dialect`: `partitions` of `service`, asked for with api-version
/// `version`.
pub(crate) fn partitions_page(
    dialect: Dialect,
    version: f64,
    service: &ServiceConfig,
    partitions: &[&PartitionConfig],
    next: String,
) -> Vec<u8> {
    let stateful = service.kind.is_stateful();
    let target = stateful.then(|| service.target_replica_set_size.unwrap_or(3));
    let min = stateful.then(|| service.min_replica_set_size.unwrap_or(2));
    let instances = (!stateful).then(|| service.instance_count.unwrap_or(1));
    let bytes = match dialect {
        Dialect::Service => {
            let renamed = version >= PRIMARY_EPOCH_FROM;
            serde_json::to_vec(&Page {
                continuation_token: next,
                items: partitions
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
        }
        Dialect::Documented => serde_json::to_vec(&Page {
            continuation_token: next,
            items: partitions
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
        }),
    };
    bytes.unwrap_or_default()
}
