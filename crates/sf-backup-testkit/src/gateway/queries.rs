//! GetServiceInfoList and GetPartitionInfoList, which the gateway answers itself from the Cluster Manager's and
//! the Failover Manager's queries (`httpgateway/ApplicationsHandler.cpp` `OnGetAllServicesComplete`,
//! `OnGetAllPartitionsComplete`; the continuation tokens of `ServiceQueryResult::CreateContinuationToken` and
//! `ServicePartitionQueryResult::CreateContinuationToken`).

use uuid::Uuid;

use crate::cluster::{PartitionConfig, ServiceConfig, Topology};
use crate::gateway::naming::{id_to_name, name_to_id};
use crate::gateway::query::{GatewayQuery, Listing, api_version, check_timeout};
use crate::gateway::routes::Route;
use crate::wire::answer::Answer;
use crate::wire::dialect::Dialect;
use crate::wire::operation::Operation;
use crate::wire::queries::{partitions_page, services_page};
use crate::wire::refusal::Refusal;
use crate::wire::words;

/// The answer to one of the two queries, `route`, sent with `method` to `path?query`. Its refusals are JSON in
/// both dialects; another method does not match the gateway's URL template, which the service answers with 400
/// `E_INVALIDARG` (the documented dialect: 405, as for the other operations).
pub(crate) fn answer(
    topology: &Topology,
    page_size: usize,
    dialect: Dialect,
    route: &Route,
    (method, path, query): (&str, &str, &str),
) -> Answer {
    let wanted = route.operation.method();
    if !method.eq_ignore_ascii_case(wanted) {
        return if dialect.is_service() {
            Refusal::invalid(words::INVALID_ARGUMENT).gateway_answer()
        } else {
            Refusal::new(
                405,
                "E_INVALIDARG",
                format!("{method} {path} is not supported; use {wanted}"),
            )
            .gateway_answer()
            .with_header("allow", wanted)
        };
    }
    let query = GatewayQuery::parse(query);
    let id = route.id.as_deref().unwrap_or_default();
    let body = match route.operation {
        Operation::GetServices => services(topology, id, &query, dialect, page_size),
        Operation::GetPartitions => partitions(topology, id, &query, dialect, page_size),
        other => unreachable!("{other:?} is not one of the gateway's queries"),
    };
    match body {
        Ok(body) => Answer::json(200, body),
        Err(refusal) => refusal.gateway_answer(),
    }
}

/// GetServiceInfoList: the services of `application_id`, sorted by name, after the raw `ContinuationToken` (a
/// service name; compared as text, so an encoded one starts over), filtered by the raw `ServiceTypeName`, at most
/// `page_cap` (and, from api-version 6.4 in the service dialect, `MaxResults`) per page.
fn services(
    topology: &Topology,
    application_id: &str,
    query: &GatewayQuery,
    dialect: Dialect,
    page_cap: usize,
) -> Result<Vec<u8>, Refusal> {
    let version = api_version(query, dialect, Listing::Services)?;
    check_timeout(query)?;
    let mut size = page_cap.max(1);
    if dialect.is_service() && version >= 6.4 {
        // `TryGetPagingDescription`: MaxResults from 6.4 on; 0 means no limit.
        if let Some(raw) = query.get("MaxResults") {
            match raw.parse::<i64>() {
                Ok(0) => {}
                Ok(n) if n > 0 => size = size.min(usize::try_from(n).unwrap_or(usize::MAX)),
                _ => {
                    return Err(Refusal::invalid(format!(
                        "The MaxResults value '{raw}' is not valid. It must be a non-negative integer."
                    )));
                }
            }
        }
    }
    let Some(name) = id_to_name(application_id) else {
        return Err(words::invalid_name(dialect, application_id));
    };
    let Some(application) = topology.application_named(&name) else {
        return Err(words::application_not_found(dialect, &name));
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
    // `~` from api-version 6.0 on (`useDelimiter`); the spec always shows it.
    let delimiter = dialect.pick(version >= 6.0, true);
    let rows: Vec<(&ServiceConfig, String)> = page
        .iter()
        .map(|svc| (*svc, name_to_id(&svc.name, delimiter)))
        .collect();
    Ok(services_page(dialect, &rows, next))
}

/// The Failover Manager's partition order: `Guid::operator<`, a `memcmp` of the GUID structure, i.e. of its
/// little-endian bytes (not the order of the text).
fn guid_order(id: &Uuid) -> [u8; 16] {
    id.to_bytes_le()
}

/// GetPartitionInfoList: the partitions of `service_id` in the Failover Manager's order, after the raw
/// `ContinuationToken` (a partition id), at most `page_cap` per page.
fn partitions(
    topology: &Topology,
    service_id: &str,
    query: &GatewayQuery,
    dialect: Dialect,
    page_cap: usize,
) -> Result<Vec<u8>, Refusal> {
    let version = api_version(query, dialect, Listing::Partitions)?;
    check_timeout(query)?;
    let Some(name) = id_to_name(service_id) else {
        return Err(words::invalid_name(dialect, service_id));
    };
    let Some(service) = topology.service_named(&name) else {
        return Err(words::service_does_not_exist(dialect, &name));
    };
    let token = match query.get("ContinuationToken").filter(|t| !t.is_empty()) {
        None => None,
        Some(raw) => Some(
            Uuid::parse_str(raw).map_err(|_| words::invalid_continuation_token(dialect, raw))?,
        ),
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
    Ok(partitions_page(dialect, version, service, page, next))
}
