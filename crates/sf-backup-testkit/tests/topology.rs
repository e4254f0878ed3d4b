//! The topology: GetServiceInfoList and GetPartitionInfoList over the default and configured topologies, ids,
//! paging with raw tokens, api-versions, unknown names, and backups of partitions that cannot be backed up. Every
//! test runs in both dialects.

use std::time::{Duration, Instant};

use rstest::rstest;
use serde_json::{Value, json};
use sf_backup_testkit::{
    ApplicationConfig, Config, Dialect, Fault, Gateway, Operation, Outcome, PartitionConfig,
    ServiceConfig, Topology, default_topology as fake,
};
use uuid::Uuid;

async fn start(dialect: Dialect, config: Config) -> Gateway {
    Gateway::start(Config { dialect, ..config }).await.unwrap()
}

/// One answer: status, content type, `x-servicefabric`, and the body as text.
struct Answer {
    status: u16,
    content_type: String,
    resource_header: Option<String>,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// The member names in the order the text has them (serde_json's map does not keep it).
    fn keys_of_first_item(&self) -> Vec<String> {
        let start = self.text.find("\"Items\":[{").expect("an item") + "\"Items\":[".len();
        let mut depth = 0;
        let mut keys = Vec::new();
        let bytes = self.text.as_bytes();
        let mut index = start;
        while index < bytes.len() {
            match bytes[index] {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                b'"' => {
                    let end = index + 1 + self.text[index + 1..].find('"').unwrap();
                    if depth == 1 && bytes.get(end + 1) == Some(&b':') {
                        keys.push(self.text[index + 1..end].to_owned());
                    }
                    index = end;
                }
                _ => {}
            }
            index += 1;
        }
        keys
    }
}

async fn get(gateway: &Gateway, path_and_query: &str) -> Answer {
    let response = reqwest::Client::new()
        .get(format!("{}{path_and_query}", gateway.url()))
        .send()
        .await
        .unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (content_type, resource_header) = (
        header("content-type").unwrap_or_default(),
        header("x-servicefabric"),
    );
    Answer {
        status: response.status().as_u16(),
        content_type,
        resource_header,
        text: response.text().await.unwrap(),
    }
}

async fn post(gateway: &Gateway, partition: Uuid, query: &str, body: &str) -> Answer {
    let response = reqwest::Client::new()
        .post(format!(
            "{}/Partitions/{partition}/$/Backup?api-version=6.4{query}",
            gateway.url()
        ))
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    Answer {
        status: response.status().as_u16(),
        content_type: String::new(),
        resource_header: None,
        text: response.text().await.unwrap(),
    }
}

/// The api-version each dialect's GetServiceInfoList takes: any from 6.0 (service), exactly 6.0 (documented).
const SERVICES: &str = "/Applications/FakeApp/$/GetServices?api-version=6.0";

/// GetPartitionInfoList at 6.4: the documented version, and one the service takes (naming the epoch
/// `PrimaryEpoch`).
fn partitions_url(service_id: &str) -> String {
    format!("/Services/{service_id}/$/GetPartitions?api-version=6.4")
}

fn names(page: &Value) -> Vec<String> {
    page["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["Name"].as_str().unwrap().to_owned())
        .collect()
}

fn partition_ids(page: &Value) -> Vec<Uuid> {
    page["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            item["PartitionInformation"]["Id"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect()
}

/// The default topology's persisted partitions in the order the Failover Manager returns them: by the GUIDs'
/// little-endian bytes.
fn persisted_in_gateway_order() -> Vec<Uuid> {
    let mut ids = fake::PERSISTED_PARTITIONS.to_vec();
    ids.sort_by_key(Uuid::to_bytes_le);
    ids
}

#[rstest]
#[tokio::test]
async fn lists_the_services_of_the_default_topology(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = start(dialect, Config::default()).await;
    let answer = get(&gateway, SERVICES).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.content_type, "application/json; charset=utf-8");
    let page = answer.json();
    assert_eq!(
        page,
        json!({
            "ContinuationToken": "",
            "Items": [
                {"Id": "FakeApp~FakeService", "ServiceKind": "Stateful", "Name": fake::PERSISTED_SERVICE,
                 "TypeName": "FakeServiceType", "ManifestVersion": "1.0.0", "HealthState": "Ok",
                 "ServiceStatus": "Active", "IsServiceGroup": false, "HasPersistedState": true},
                {"Id": "FakeApp~FakeStatelessService", "ServiceKind": "Stateless", "Name": fake::STATELESS_SERVICE,
                 "TypeName": "FakeStatelessServiceType", "ManifestVersion": "1.0.0", "HealthState": "Ok",
                 "ServiceStatus": "Active", "IsServiceGroup": false},
                {"Id": "FakeApp~FakeVolatileService", "ServiceKind": "Stateful", "Name": fake::VOLATILE_SERVICE,
                 "TypeName": "FakeVolatileServiceType", "ManifestVersion": "1.0.0", "HealthState": "Ok",
                 "ServiceStatus": "Active", "IsServiceGroup": false, "HasPersistedState": false},
            ]
        })
    );
    // The gateway writes `ServiceQueryResult`'s members, then the wrapper's `Id`; the spec lists `Id` first and
    // the stateful subtype's `HasPersistedState` last.
    let service_order = [
        "ServiceKind",
        "Name",
        "TypeName",
        "ManifestVersion",
        "HasPersistedState",
        "HealthState",
        "ServiceStatus",
        "IsServiceGroup",
        "Id",
    ];
    let documented_order = [
        "Id",
        "ServiceKind",
        "Name",
        "TypeName",
        "ManifestVersion",
        "HealthState",
        "ServiceStatus",
        "IsServiceGroup",
        "HasPersistedState",
    ];
    assert_eq!(
        answer.keys_of_first_item(),
        dialect.pick(service_order, documented_order)
    );
    assert!(
        answer.text.starts_with("{\"ContinuationToken\":"),
        "{}",
        answer.text
    );

    // The partitions of each kind of service.
    let persisted = get(&gateway, &partitions_url("FakeApp~FakeService"))
        .await
        .json();
    assert_eq!(partition_ids(&persisted), persisted_in_gateway_order());
    let ranges: Vec<(String, String)> = persisted["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let info = &item["PartitionInformation"];
            assert_eq!(info["ServicePartitionKind"], "Int64Range");
            (
                info["LowKey"].as_str().unwrap().to_owned(),
                info["HighKey"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let first = fake::PERSISTED_PARTITIONS[0];
    let lowest = persisted_in_gateway_order()
        .iter()
        .position(|id| *id == first)
        .unwrap();
    assert_eq!(
        ranges[lowest],
        (
            "-9223372036854775808".to_owned(),
            "-4611686018427387905".to_owned()
        )
    );
    let volatile = get(&gateway, &partitions_url("FakeApp~FakeVolatileService"))
        .await
        .json();
    let mut named: Vec<(Uuid, String)> = volatile["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let info = &item["PartitionInformation"];
            assert_eq!(info["ServicePartitionKind"], "Named");
            assert_eq!(item["ServiceKind"], "Stateful");
            (
                info["Id"].as_str().unwrap().parse().unwrap(),
                info["Name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    named.sort();
    let mut expected = vec![
        (fake::VOLATILE_PARTITIONS[0], "a".to_owned()),
        (fake::VOLATILE_PARTITIONS[1], "b".to_owned()),
    ];
    expected.sort();
    assert_eq!(named, expected);

    let stateless = get(&gateway, &partitions_url("FakeApp~FakeStatelessService")).await;
    let item = &stateless.json()["Items"][0];
    assert_eq!(
        item["PartitionInformation"],
        json!({"ServicePartitionKind": "Singleton", "Id": fake::STATELESS_PARTITION})
    );
    assert_eq!(item["ServiceKind"], "Stateless");
    assert_eq!(item["InstanceCount"], 1);
    assert!(item.get("TargetReplicaSetSize").is_none(), "{item}");
    assert!(item.get("PrimaryEpoch").is_none(), "{item}");
    let stateless_extras = dialect.pick(
        json!({}),
        json!({"MinInstanceCount": 1, "MinInstancePercentage": 0}),
    );
    for (key, value) in stateless_extras.as_object().unwrap() {
        assert_eq!(&item[key], value, "{item}");
    }
    if dialect == Dialect::Service {
        assert!(
            item.get("MinInstanceCount").is_none(),
            "the 2019 gateway has none: {item}"
        );
    }
}

#[rstest]
#[tokio::test]
async fn service_type_name_filters_exactly_and_raw(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = start(dialect, Config::default()).await;
    let filtered = get(
        &gateway,
        &format!("{SERVICES}&ServiceTypeName=FakeStatelessServiceType"),
    )
    .await;
    assert_eq!(names(&filtered.json()), [fake::STATELESS_SERVICE]);
    // Compared as sent: neither decoded nor case-folded.
    for other in [
        "FakeStateless%53erviceType",
        "fakestatelessservicetype",
        "NoSuchType",
    ] {
        let answer = get(&gateway, &format!("{SERVICES}&ServiceTypeName={other}")).await;
        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.json(),
            json!({"ContinuationToken": "", "Items": []}),
            "{other}"
        );
    }
    // An empty filter is no filter.
    let all = get(&gateway, &format!("{SERVICES}&ServiceTypeName=")).await;
    assert_eq!(names(&all.json()).len(), 3);
}

#[rstest]
#[tokio::test]
async fn pages_follow_raw_tokens_and_the_last_page_says_empty(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = start(
        dialect,
        Config {
            query_page_size: Some(2),
            ..Config::default()
        },
    )
    .await;
    // Services: the token is the last service's name, sent as it came.
    let first = get(&gateway, SERVICES).await.json();
    assert_eq!(
        names(&first),
        [fake::PERSISTED_SERVICE, fake::STATELESS_SERVICE]
    );
    assert_eq!(first["ContinuationToken"], fake::STATELESS_SERVICE);
    let second = get(
        &gateway,
        &format!("{SERVICES}&ContinuationToken={}", fake::STATELESS_SERVICE),
    )
    .await
    .json();
    assert_eq!(names(&second), [fake::VOLATILE_SERVICE]);
    assert_eq!(second["ContinuationToken"], "");
    // The gateway does not decode the token: an encoded one compares below every name and starts over.
    let encoded = get(
        &gateway,
        &format!("{SERVICES}&ContinuationToken=fabric%3A%2FFakeApp%2FFakeStatelessService"),
    )
    .await
    .json();
    assert_eq!(names(&encoded), names(&first));

    // Partitions: the token is the last partition's id; four partitions make pages of 2 and 2.
    let url = partitions_url("FakeApp~FakeService");
    let first = get(&gateway, &url).await.json();
    let token = first["ContinuationToken"].as_str().unwrap().to_owned();
    let first_ids = partition_ids(&first);
    assert_eq!(first_ids.len(), 2);
    assert_eq!(token, first_ids[1].to_string());
    let second = get(&gateway, &format!("{url}&ContinuationToken={token}"))
        .await
        .json();
    assert_eq!(second["ContinuationToken"], "");
    let all: Vec<Uuid> = first_ids
        .into_iter()
        .chain(partition_ids(&second))
        .collect();
    assert_eq!(all, persisted_in_gateway_order());

    // A token that is no partition id is refused; one from another service's range still orders.
    let bad = get(
        &gateway,
        &format!("{url}&ContinuationToken=fabric:/FakeApp/FakeService"),
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert_eq!(bad.json()["Error"]["Code"], "E_INVALIDARG");
    assert!(
        bad.text.contains("fabric:/FakeApp/FakeService"),
        "{}",
        bad.text
    );
}

#[rstest]
#[tokio::test]
async fn max_results_pages_services_from_6_4_in_the_service_dialect(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = start(dialect, Config::default()).await;
    let version = dialect.pick("6.4", "6.0");
    let answer = get(
        &gateway,
        &format!("/Applications/FakeApp/$/GetServices?api-version={version}&MaxResults=1"),
    )
    .await
    .json();
    // `TryGetPagingDescription` reads MaxResults from 6.4; the spec has no MaxResults for this operation.
    assert_eq!(names(&answer).len(), dialect.pick(1, 3));
    if dialect == Dialect::Service {
        assert_eq!(answer["ContinuationToken"], fake::PERSISTED_SERVICE);
        let below = get(&gateway, &format!("{SERVICES}&MaxResults=1"))
            .await
            .json();
        assert_eq!(names(&below).len(), 3, "6.0 does not read MaxResults");
        let bad = get(
            &gateway,
            "/Applications/FakeApp/$/GetServices?api-version=6.4&MaxResults=-1",
        )
        .await;
        assert_eq!(bad.status, 400);
        assert!(bad.text.contains("MaxResults"), "{}", bad.text);
    }
}

#[rstest]
#[tokio::test]
async fn ids_with_tilde_or_an_encoded_slash_name_the_same_service(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let nested = Uuid::new_v4();
    let gateway = start(
        dialect,
        Config::default().with_topology(
            Topology::fake_app().application(ApplicationConfig::new("fabric:/my/app").service(
                ServiceConfig::stateful_persisted("fabric:/my/app/svc").singleton(nested),
            )),
        ),
    )
    .await;
    for id in [
        "FakeApp~FakeService",
        "FakeApp%2FFakeService",
        "FakeApp%2fFakeService",
    ] {
        let answer = get(&gateway, &partitions_url(id)).await;
        assert_eq!(answer.status, 200, "{id}: {}", answer.text);
        assert_eq!(
            partition_ids(&answer.json()),
            persisted_in_gateway_order(),
            "{id}"
        );
    }
    for id in ["my~app", "my%2Fapp"] {
        let answer = get(
            &gateway,
            &format!("/Applications/{id}/$/GetServices?api-version=6.0"),
        )
        .await;
        assert_eq!(answer.status, 200, "{id}: {}", answer.text);
        let item = &answer.json()["Items"][0];
        assert_eq!(item["Name"], "fabric:/my/app/svc");
        // Paste-able into a path again: `/` is `~` from api-version 6.0 on.
        assert_eq!(item["Id"], "my~app~svc");
    }
    let answer = get(&gateway, &partitions_url("my~app~svc")).await;
    assert_eq!(partition_ids(&answer.json()), [nested]);
    // A raw `/` splits the path: no such endpoint.
    assert_eq!(
        get(&gateway, &partitions_url("my/app/svc")).await.status,
        404
    );
}

#[rstest]
#[tokio::test]
async fn the_epochs_name_follows_the_api_version(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = start(dialect, Config::default()).await;
    let epoch =
        json!({"ConfigurationVersion": "8589934592", "DataLossVersion": "131462452931584510"});
    let at = |version: &str| {
        format!("/Services/FakeApp~FakeService/$/GetPartitions?api-version={version}")
    };
    let current = get(&gateway, &at("6.4")).await;
    assert_eq!(current.status, 200);
    let item = current.json()["Items"][0].clone();
    assert_eq!(item["PrimaryEpoch"], epoch);
    assert!(item.get("CurrentConfigurationEpoch").is_none(), "{item}");
    assert_eq!(item["TargetReplicaSetSize"], 3);
    assert_eq!(item["MinReplicaSetSize"], 2);
    match dialect {
        Dialect::Service => {
            // An int64 from the native serializer: a string.
            assert_eq!(item["LastQuorumLossDurationInSeconds"], "0");
            assert!(item.get("LastQuorumLossDuration").is_none(), "{item}");
            assert_eq!(
                current.keys_of_first_item(),
                [
                    "ServiceKind",
                    "PartitionInformation",
                    "TargetReplicaSetSize",
                    "MinReplicaSetSize",
                    "HealthState",
                    "PartitionStatus",
                    "LastQuorumLossDurationInSeconds",
                    "PrimaryEpoch",
                ]
            );
            for version in ["6.0", "6.3", "6.0-preview"] {
                let older = get(&gateway, &at(version)).await;
                assert_eq!(older.status, 200, "{version}: {}", older.text);
                let item = older.json()["Items"][0].clone();
                assert_eq!(item["CurrentConfigurationEpoch"], epoch, "{version}");
                assert!(item.get("PrimaryEpoch").is_none(), "{version}: {item}");
            }
            for version in ["7", "8.2", "6.4-preview"] {
                let newer = get(&gateway, &at(version)).await.json();
                assert_eq!(newer["Items"][0]["PrimaryEpoch"], epoch, "{version}");
            }
            for version in ["5.0", "six", ""] {
                let refused = get(&gateway, &at(version)).await;
                assert_eq!(refused.status, 400, "{version}");
                assert_eq!(
                    refused.json(),
                    json!({"Error": {"Code": "E_INVALIDARG", "Message": "Invalid argument"}})
                );
            }
            let services = get(
                &gateway,
                "/Applications/FakeApp/$/GetServices?api-version=6.4",
            )
            .await;
            assert_eq!(services.status, 200);
        }
        Dialect::Documented => {
            assert_eq!(item["LastQuorumLossDuration"], "PT0S");
            assert_eq!(item["AuxiliaryReplicaCount"], 0);
            assert!(
                item.get("LastQuorumLossDurationInSeconds").is_none(),
                "{item}"
            );
            assert_eq!(
                current.keys_of_first_item(),
                [
                    "ServiceKind",
                    "HealthState",
                    "PartitionStatus",
                    "PartitionInformation",
                    "TargetReplicaSetSize",
                    "MinReplicaSetSize",
                    "AuxiliaryReplicaCount",
                    "LastQuorumLossDuration",
                    "PrimaryEpoch",
                ]
            );
            // Exactly the spec's versions: 6.4 for the partitions, 6.0 for the services.
            let older = get(&gateway, &at("6.0")).await;
            assert_eq!(older.status, 400);
            assert!(
                older.text.contains("api-version must be \\\"6.4\\\""),
                "{}",
                older.text
            );
            let services = get(
                &gateway,
                "/Applications/FakeApp/$/GetServices?api-version=6.4",
            )
            .await;
            assert_eq!(services.status, 400);
            assert!(
                services.text.contains("api-version must be \\\"6.0\\\""),
                "{}",
                services.text
            );
        }
        other => panic!("no expectation is written for the {other} dialect"),
    }
}

#[rstest]
#[tokio::test]
async fn unknown_applications_and_services_are_404_from_the_gateway(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = start(dialect, Config::default()).await;
    let app = get(
        &gateway,
        "/Applications/NoSuchApp/$/GetServices?api-version=6.0",
    )
    .await;
    assert_eq!(app.status, 404);
    assert_eq!(
        app.json()["Error"]["Code"],
        "FABRIC_E_APPLICATION_NOT_FOUND"
    );
    let service = get(&gateway, &partitions_url("FakeApp~NoSuchService")).await;
    assert_eq!(service.status, 404);
    assert_eq!(
        service.json()["Error"]["Code"],
        "FABRIC_E_SERVICE_DOES_NOT_EXIST"
    );
    // An application is no service, a service no application.
    let app_as_service = get(&gateway, &partitions_url("FakeApp")).await;
    assert_eq!(
        app_as_service.json()["Error"]["Code"],
        "FABRIC_E_SERVICE_DOES_NOT_EXIST"
    );
    let service_as_app = get(
        &gateway,
        "/Applications/FakeApp~FakeService/$/GetServices?api-version=6.0",
    )
    .await;
    assert_eq!(
        service_as_app.json()["Error"]["Code"],
        "FABRIC_E_APPLICATION_NOT_FOUND"
    );
    // Names are case-sensitive.
    let folded = get(
        &gateway,
        "/Applications/fakeapp/$/GetServices?api-version=6.0",
    )
    .await;
    assert_eq!(folded.status, 404);
    for answer in [&app, &service] {
        // The gateway's own errors are JSON and unmarked, unlike the Backup Restore Service's.
        assert_eq!(answer.content_type, "application/json; charset=utf-8");
        assert_eq!(answer.resource_header, None);
    }
    assert_eq!(
        app.json()["Error"]["Message"],
        dialect.pick(
            "Application not found",
            "Application fabric:/NoSuchApp not found."
        )
    );
    assert_eq!(
        service.json()["Error"]["Message"],
        dialect.pick(
            "Service does not exist.",
            "Service fabric:/FakeApp/NoSuchService does not exist."
        )
    );
    let bad_escape = get(
        &gateway,
        "/Applications/Fake%zzApp/$/GetServices?api-version=6.0",
    )
    .await;
    assert_eq!(bad_escape.status, 400);
    assert_eq!(
        bad_escape.json()["Error"]["Code"],
        "FABRIC_E_INVALID_NAME_URI"
    );
}

/// Progress read until `state`, or panics after 10 s.
async fn wait_for_state(gateway: &Gateway, partition: Uuid, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let progress = gateway.progress(partition).expect("the partition exists");
        if progress["BackupState"] == state {
            return progress;
        }
        assert!(
            Instant::now() < deadline,
            "never reached {state}: {progress}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

const FILE_SHARE: &str =
    r#"{"BackupStorage": {"StorageKind": "FileShare", "Path": "\\\\share\\backups"}}"#;

#[rstest]
#[tokio::test]
async fn backups_of_stateless_and_volatile_partitions_are_refused(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
    #[values(fake::STATELESS_PARTITION, fake::VOLATILE_PARTITIONS[0])] partition: Uuid,
) {
    let gateway = start(
        dialect,
        Config {
            accepted_ms: Some(10),
            in_progress_ms: Some(10),
            // BackupTimeout=2000 is a 2 s deadline.
            backup_timeout_unit_ms: Some(1),
            ..Config::default()
        },
    )
    .await;
    let without_storage = post(&gateway, partition, "&BackupTimeout=2000", "").await;
    let with_storage = post(&gateway, partition, "&BackupTimeout=2000", FILE_SHARE).await;
    match dialect {
        Dialect::Documented => {
            // "Creates a backup of the stateful persisted partition's state": refused at once, storage or not.
            for answer in [&without_storage, &with_storage] {
                assert_eq!(answer.status, 400, "{}", answer.text);
                assert_eq!(
                    answer.json()["Error"]["Code"],
                    "FABRIC_E_INVALID_FOR_STATELESS_SERVICES"
                );
            }
            assert_eq!(
                gateway.progress(partition),
                Some(json!({"BackupState": "Invalid"}))
            );
        }
        Dialect::Service => {
            // No policy can be enabled for such a service or partition, so without a storage: not enabled.
            assert_eq!(without_storage.status, 404, "{}", without_storage.text);
            assert_eq!(
                without_storage.json()["Error"]["Code"],
                "FABRIC_E_BACKUP_NOT_ENABLED"
            );
            // With one the service accepts it, but no replica ever takes it: Accepted until the deadline, then
            // Timeout, and nothing is written.
            assert_eq!(with_storage.status, 202, "{}", with_storage.text);
            // Past the 10 ms in which a backup a replica took would turn BackupInProgress; within the deadline.
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert_eq!(
                gateway.progress(partition).unwrap()["BackupState"],
                "Accepted"
            );
            let timeout = wait_for_state(&gateway, partition, "Timeout").await;
            assert_eq!(timeout["FailureError"]["Code"], "FABRIC_E_TIMEOUT");
        }
        other => panic!("no expectation is written for the {other} dialect"),
    }
    assert!(gateway.written_backups().is_empty());
    // The backup list checks the service before the policy, in both dialects.
    let list = get(
        &gateway,
        &format!("/Partitions/{partition}/$/GetBackups?api-version=6.4"),
    )
    .await;
    assert_eq!(list.status, 400, "{}", list.text);
    assert_eq!(
        list.json()["Error"]["Code"],
        "FABRIC_E_INVALID_FOR_STATELESS_SERVICES"
    );
    assert_eq!(
        list.json()["Error"]["Message"],
        "Not applicable for stateless or non persisted stateful services."
    );
}

#[rstest]
#[tokio::test]
async fn persisted_partitions_back_up_in_their_place(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = start(
        dialect,
        Config {
            accepted_ms: Some(10),
            in_progress_ms: Some(10),
            ..Config::default()
        },
    )
    .await;
    let partition = fake::PERSISTED_PARTITIONS[1];
    assert_eq!(post(&gateway, partition, "", "").await.status, 202);
    wait_for_state(&gateway, partition, "Success").await;
    let written = gateway.written_backups();
    let sep = dialect.pick('\\', '/');
    assert!(
        written[0]
            .location
            .starts_with(&format!("FakeApp{sep}FakeService{sep}{partition}{sep}")),
        "{}",
        written[0].location
    );
    let list = get(
        &gateway,
        &format!("/Partitions/{partition}/$/GetBackups?api-version=6.4"),
    )
    .await
    .json();
    assert_eq!(
        list["Items"][0]["PartitionInformation"],
        json!({"ServicePartitionKind": "Int64Range", "Id": partition,
               "LowKey": "-4611686018427387904", "HighKey": "-1"})
    );
    // Partitions outside the topology keep working: any UUID, listed over every key.
    let outside = Uuid::new_v4();
    assert_eq!(post(&gateway, outside, "", "").await.status, 202);
    wait_for_state(&gateway, outside, "Success").await;
    let list = get(
        &gateway,
        &format!("/Partitions/{outside}/$/GetBackups?api-version=6.4"),
    )
    .await
    .json();
    assert_eq!(
        list["Items"][0]["PartitionInformation"]["LowKey"],
        "-9223372036854775808"
    );
}

#[rstest]
#[tokio::test]
async fn a_configured_topology_keeps_each_partitions_behaviour(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let [failing, slow, web] = [Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4()];
    let topology = Topology::empty().application(
        ApplicationConfig::new("fabric:/Shop")
            .with_backup_policy(true)
            .service(
                ServiceConfig::stateful_persisted("fabric:/Shop/Orders")
                    .type_name("OrdersType")
                    .manifest_version("2.1.0")
                    .replica_set_size(5, 3)
                    .partition(PartitionConfig {
                        scheme: Some(sf_backup_testkit::PartitionScheme::Int64Range {
                            low_key: 0,
                            high_key: 99,
                        }),
                        ..PartitionConfig::new(failing).with_outcomes([Outcome::failure(
                            "FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR",
                            "copier died",
                        )])
                    })
                    .partition(PartitionConfig {
                        scheme: Some(sf_backup_testkit::PartitionScheme::Int64Range {
                            low_key: 100,
                            high_key: 199,
                        }),
                        ..PartitionConfig::new(slow)
                            .with_backup_policy(false)
                            // Accepted for 2 s where the gateway's other partitions take 10 ms.
                            .with_durations(Duration::from_millis(2000), Duration::from_millis(10))
                    }),
            )
            .service(
                ServiceConfig::stateless("fabric:/Shop/Web")
                    .instance_count(-1)
                    .singleton(web),
            ),
    );
    let gateway = start(
        dialect,
        Config {
            accepted_ms: Some(10),
            in_progress_ms: Some(10),
            ..Config::default()
        }
        .with_topology(topology),
    )
    .await;
    // The default topology is gone.
    assert_eq!(get(&gateway, SERVICES).await.status, 404);
    let services = get(&gateway, "/Applications/Shop/$/GetServices?api-version=6.0")
        .await
        .json();
    assert_eq!(
        names(&services),
        ["fabric:/Shop/Orders", "fabric:/Shop/Web"]
    );
    assert_eq!(services["Items"][0]["TypeName"], "OrdersType");
    assert_eq!(services["Items"][0]["ManifestVersion"], "2.1.0");
    let orders = get(&gateway, &partitions_url("Shop~Orders")).await.json();
    assert_eq!(orders["Items"][0]["TargetReplicaSetSize"], 5);
    assert_eq!(orders["Items"][0]["MinReplicaSetSize"], 3);
    let web_partitions = get(&gateway, &partitions_url("Shop~Web")).await.json();
    assert_eq!(web_partitions["Items"][0]["InstanceCount"], -1);

    // Scripted outcomes, per-partition durations and the application's policy.
    assert_eq!(post(&gateway, failing, "", "").await.status, 202);
    let failure = wait_for_state(&gateway, failing, "Failure").await;
    assert_eq!(
        failure["FailureError"]["Code"],
        "FABRIC_E_BACKUPCOPIER_UNEXPECTED_ERROR"
    );
    assert_eq!(
        post(&gateway, slow, "", "").await.status,
        202,
        "the application's policy covers it"
    );
    // Long past the gateway's 10 ms, well within the partition's own 2 s.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(gateway.progress(slow).unwrap()["BackupState"], "Accepted");
    wait_for_state(&gateway, slow, "Success").await;
    let stateless = post(&gateway, web, "", "").await;
    assert_eq!(
        stateless.status,
        dialect.pick(202, 400),
        "{}",
        stateless.text
    );
    // Faults aim at the gateway's queries too.
    gateway.push_fault(Fault::transient("FABRIC_E_NOT_READY").on(Operation::GetPartitions));
    assert_eq!(
        get(&gateway, &partitions_url("Shop~Orders")).await.status,
        503
    );
    assert_eq!(
        get(&gateway, &partitions_url("Shop~Orders")).await.status,
        200
    );
}

#[rstest]
#[tokio::test]
async fn the_topology_grows_at_run_time_and_refuses_what_cannot_be(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = start(dialect, Config::default()).await;
    let added = Uuid::new_v4();
    gateway
        .add_service(
            fake::APPLICATION,
            ServiceConfig::stateful_persisted("fabric:/FakeApp/Added").singleton(added),
        )
        .unwrap();
    let services = get(&gateway, SERVICES).await.json();
    assert!(names(&services).contains(&"fabric:/FakeApp/Added".to_owned()));
    assert_eq!(
        partition_ids(&get(&gateway, &partitions_url("FakeApp~Added")).await.json()),
        [added]
    );
    assert_eq!(gateway.topology().applications[0].services.len(), 4);

    let other = Uuid::new_v4();
    gateway
        .add_application(
            ApplicationConfig::new("fabric:/Other")
                .service(ServiceConfig::stateless("fabric:/Other/Web").singleton(other)),
        )
        .unwrap();
    assert_eq!(
        get(
            &gateway,
            "/Applications/Other/$/GetServices?api-version=6.0"
        )
        .await
        .status,
        200
    );

    let error = gateway
        .add_application(ApplicationConfig::new(fake::APPLICATION))
        .unwrap_err();
    assert!(error.to_string().contains("exists already"), "{error}");
    let error = gateway
        .add_service(
            fake::APPLICATION,
            ServiceConfig::stateless("fabric:/Elsewhere/Web").singleton(Uuid::new_v4()),
        )
        .unwrap_err();
    assert!(error.to_string().contains(".name"), "{error}");
    let error = gateway
        .add_service(
            fake::APPLICATION,
            ServiceConfig::stateless("fabric:/FakeApp/Twice").singleton(added),
        )
        .unwrap_err();
    assert!(error.to_string().contains("given twice"), "{error}");
    // A partition already used outside the topology cannot join it.
    let used = Uuid::new_v4();
    gateway.script_outcome(used, Outcome::Timeout);
    let error = gateway
        .add_service(
            fake::APPLICATION,
            ServiceConfig::stateless("fabric:/FakeApp/Late").singleton(used),
        )
        .unwrap_err();
    assert!(
        error.to_string().contains("outside the topology"),
        "{error}"
    );
    // Nothing was changed by the refusals.
    assert_eq!(gateway.topology().applications.len(), 2);
    assert_eq!(gateway.topology().applications[0].services.len(), 4);
}

#[rstest]
#[tokio::test]
async fn a_partition_both_declared_and_in_the_topology_is_refused_at_start(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let error = Gateway::start(Config {
        dialect,
        partitions: vec![PartitionConfig::new(fake::STATELESS_PARTITION)],
        ..Config::default()
    })
    .await
    .unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(
        error
            .to_string()
            .contains(&fake::STATELESS_PARTITION.to_string()),
        "{error}"
    );
    // Declared partitions elsewhere leave the topology's partitions in place, and other UUIDs unknown.
    let declared = Uuid::new_v4();
    let gateway = start(
        dialect,
        Config {
            accepted_ms: Some(10),
            in_progress_ms: Some(10),
            partitions: vec![PartitionConfig::new(declared)],
            ..Config::default()
        },
    )
    .await;
    assert_eq!(post(&gateway, declared, "", "").await.status, 202);
    assert_eq!(
        post(&gateway, fake::PERSISTED_PARTITIONS[0], "", "")
            .await
            .status,
        202
    );
    assert_eq!(post(&gateway, Uuid::new_v4(), "", "").await.status, 404);
}

#[rstest]
#[tokio::test]
async fn a_primary_move_of_the_backup_service_leaves_the_gateways_queries_alone(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = start(dialect, Config::default()).await;
    gateway.push_fault(Fault::primary_move(Duration::from_secs(30)).on(Operation::Backup));
    assert_eq!(
        post(&gateway, fake::PERSISTED_PARTITIONS[0], "", "")
            .await
            .status,
        503
    );
    assert_eq!(get(&gateway, SERVICES).await.status, 200);
    assert_eq!(
        get(&gateway, &partitions_url("FakeApp~FakeService"))
            .await
            .status,
        200
    );
    assert_eq!(
        post(&gateway, fake::PERSISTED_PARTITIONS[0], "", "")
            .await
            .status,
        503
    );
}

#[rstest]
#[tokio::test]
async fn another_method_does_not_match_the_gateways_templates(
    #[values(Dialect::Service, Dialect::Documented)] dialect: Dialect,
) {
    let gateway = start(dialect, Config::default()).await;
    let response = reqwest::Client::new()
        .post(format!("{}{SERVICES}", gateway.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), dialect.pick(400, 405));
    assert_eq!(
        response.headers()["content-type"],
        "application/json; charset=utf-8"
    );
}

/// The README's example answers are what the gateway sends.
#[tokio::test]
async fn the_readme_examples_are_what_the_gateway_sends() {
    let readme = include_str!("../README.md");
    let section = &readme[readme.find("## Topology").unwrap()..];
    let blocks: Vec<&str> = section
        .split("```text\n")
        .skip(1)
        .take(2)
        .map(|block| block[..block.find("```").unwrap()].trim_end())
        .collect();
    let service = start(
        Dialect::Service,
        Config {
            query_page_size: Some(1),
            ..Config::default()
        },
    )
    .await;
    let page = get(
        &service,
        "/Services/FakeApp~FakeService/$/GetPartitions?api-version=6.4",
    )
    .await;
    assert_eq!(page.text, blocks[0]);
    let documented = start(Dialect::Documented, Config::default()).await;
    let services = get(
        &documented,
        &format!("{SERVICES}&ServiceTypeName=FakeServiceType"),
    )
    .await;
    assert_eq!(services.text, blocks[1]);
}
