//! Golden cases for virtual node ids: every row of the node-id table, both ways, and the
//! identity map untouched. (The Metadata merge: `merge_golden.rs`.)
//!
//! The route: home domain `home` (node 111), additional domain `other` (nodes 111, 200, 201)
//! at virtual ids 1000, 1001, 1002.

mod nodes_common;

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use gatehouse_protocol::codec::{decode_request, decode_response, encode_request, encode_response};
use gatehouse_routing::node_fields::{Carries, Direction, NodeField};
use gatehouse_routing::rewrite::{
    response_handling, route_response_handling, AddressRewriter, ResponseHandling,
};
use gatehouse_routing::Route;
use nodes_common::*;

/// The versions a row is tested at: its first and last that the crate can encode.
fn versions(f: NodeField) -> [i16; 2] {
    let spec = f.spec();
    let crate_range = spec.key.valid_versions();
    [
        spec.versions.0.max(crate_range.min),
        spec.versions.1.min(crate_range.max),
    ]
}

fn same_bytes(a: &Bytes, b: &Bytes) -> bool {
    a.as_ptr() == b.as_ptr() && a.len() == b.len()
}

/// A response row: `build(id)` puts `id` in the field, `read` takes it out (as a list).
fn response_row<T: Encodable + Decodable>(
    f: NodeField,
    build: impl Fn(i32, i16) -> T,
    read: impl Fn(&T) -> Vec<i32>,
) {
    let spec = f.spec();
    assert_eq!(spec.direction, Direction::Response, "{f:?}");
    let key = spec.key;
    let through = |route: &Route, domain: &str, id: i32, version: i16| {
        let input = encode_response(
            &ResponseHeader::default().with_correlation_id(4),
            &build(id, version),
            key,
            version,
        )
        .unwrap();
        let up = upstream(domain);
        let rewriter = AddressRewriter::new(route, &up);
        if !route.nodes.is_identity() {
            assert_eq!(
                route_response_handling(route, key, version),
                ResponseHandling::Decode,
                "{f:?} v{version}: a multi-domain route holds it whole"
            );
        }
        let out = rewriter.rewrite(key, version, input.clone()).unwrap();
        let (h, got) = decode_response::<T>(&out, key, version).unwrap();
        assert_eq!(h.correlation_id, 4);
        (input, out, read(&got))
    };
    let unmapped = match spec.carries {
        Carries::Id | Carries::BrokerResourceName => vec![-1],
        Carries::Ids | Carries::Broker => vec![],
    };
    for version in versions(f) {
        let multi = two_domains();
        let at = format!("{f:?} v{version}");
        assert_eq!(through(&multi, "other", 200, version).2, [1001], "{at}");
        assert_eq!(through(&multi, "other", 111, version).2, [1000], "{at}");
        assert_eq!(through(&multi, "home", 111, version).2, [111], "{at}");
        // Outside the other domain's ranges: no virtual id, so never shown as one.
        assert_eq!(through(&multi, "other", 150, version).2, unmapped, "{at}");
        // The identity leaves ids alone; where no address changes, the very same bytes.
        let (input, out, got) = through(&identity(), "other", 200, version);
        assert_eq!(got, [200], "{at} (identity)");
        if response_handling(key, version) == ResponseHandling::Forward
            || matches!(key, ApiKey::Produce | ApiKey::Fetch) && spec.carries != Carries::Broker
        {
            assert!(same_bytes(&input, &out), "{at}: identity re-encoded");
        }
    }
}

/// A request row: the client's virtual id goes upstream as the domain's own.
fn request_row<T: Encodable + Decodable>(
    f: NodeField,
    build: impl Fn(i32, i16) -> T,
    read: impl Fn(&T) -> Vec<i32>,
) {
    let spec = f.spec();
    assert_eq!(spec.direction, Direction::Request, "{f:?}");
    let through = |route: &Route, id: i32, version: i16| {
        let header = RequestHeader::default()
            .with_request_api_key(spec.key as i16)
            .with_request_api_version(version)
            .with_correlation_id(8);
        let input = encode_request(&header, &build(id, version)).unwrap();
        assert_eq!(
            route.nodes.request_needs_rewrite(spec.key, version),
            !route.nodes.is_identity()
        );
        let out = route
            .nodes
            .rewrite_request(spec.key, version, input.clone())
            .unwrap();
        let (h, got) = decode_request::<T>(&out).unwrap();
        assert_eq!(h.correlation_id, 8);
        (input, out, read(&got))
    };
    for version in versions(f) {
        let at = format!("{f:?} v{version}");
        let multi = two_domains();
        assert_eq!(through(&multi, 1001, version).2, [200], "{at}");
        assert_eq!(through(&multi, 1000, version).2, [111], "{at}");
        let (input, out, got) = through(&multi, 111, version);
        assert_eq!(got, [111], "{at}: the home domain's id is its own");
        assert!(
            same_bytes(&input, &out),
            "{at}: nothing changed, not re-encoded"
        );
        let (input, out, got) = through(&identity(), 1001, version);
        assert_eq!(got, [1001], "{at} (identity)");
        assert!(same_bytes(&input, &out), "{at}: identity decoded");
    }
}

fn broker_resource(id: i32) -> (i8, StrBytes) {
    (4, s(&id.to_string()))
}

fn name_as_id(name: &StrBytes) -> Vec<i32> {
    vec![name.parse().unwrap()]
}

/// One case per row; the match is exhaustive, so a new row needs a case to compile.
fn case(f: NodeField) {
    use NodeField::*;
    match f {
        MetadataBrokers => response_row(
            f,
            |id, _| {
                MetadataResponse::default().with_brokers(vec![
                    metadata_response::MetadataResponseBroker::default()
                        .with_node_id(BrokerId(id))
                        .with_host(s("kafka-x"))
                        .with_port(9092),
                ])
            },
            |r| r.brokers.iter().map(|b| b.node_id.0).collect(),
        ),
        MetadataController => response_row(
            f,
            |id, _| MetadataResponse::default().with_controller_id(BrokerId(id)),
            |r| vec![r.controller_id.0],
        ),
        MetadataLeader | MetadataReplicas | MetadataIsr | MetadataOfflineReplicas => response_row(
            f,
            |id, _| {
                let p = metadata_response::MetadataResponsePartition::default();
                let p = match f {
                    MetadataLeader => p.with_leader_id(BrokerId(id)),
                    MetadataReplicas => p.with_replica_nodes(ids(&[id])),
                    MetadataIsr => p.with_isr_nodes(ids(&[id])),
                    _ => p.with_offline_replicas(ids(&[id])),
                };
                MetadataResponse::default().with_topics(vec![
                    metadata_response::MetadataResponseTopic::default()
                        .with_name(Some(TopicName(s("t"))))
                        .with_partitions(vec![p]),
                ])
            },
            |r| {
                let p = &r.topics[0].partitions[0];
                match f {
                    MetadataLeader => vec![p.leader_id.0],
                    MetadataReplicas => raw(&p.replica_nodes),
                    MetadataIsr => raw(&p.isr_nodes),
                    _ => raw(&p.offline_replicas),
                }
            },
        ),
        FindCoordinatorNode => response_row(
            f,
            |id, _| {
                FindCoordinatorResponse::default()
                    .with_node_id(BrokerId(id))
                    .with_host(s("kafka-x"))
                    .with_port(9092)
            },
            // A coordinator without a virtual id is answered "not available" (-1).
            |r| {
                (r.node_id.0 != -1)
                    .then_some(r.node_id.0)
                    .into_iter()
                    .collect()
            },
        ),
        FindCoordinatorCoordinators => response_row(
            f,
            |id, _| {
                FindCoordinatorResponse::default().with_coordinators(vec![
                    find_coordinator_response::Coordinator::default()
                        .with_key(s("g"))
                        .with_node_id(BrokerId(id))
                        .with_host(s("kafka-x"))
                        .with_port(9092),
                ])
            },
            |r| {
                r.coordinators
                    .iter()
                    .filter(|c| c.node_id.0 != -1)
                    .map(|c| c.node_id.0)
                    .collect()
            },
        ),
        DescribeClusterBrokers => response_row(
            f,
            |id, _| {
                DescribeClusterResponse::default().with_brokers(vec![
                    describe_cluster_response::DescribeClusterBroker::default()
                        .with_broker_id(BrokerId(id))
                        .with_host(s("kafka-x"))
                        .with_port(9092),
                ])
            },
            |r| r.brokers.iter().map(|b| b.broker_id.0).collect(),
        ),
        DescribeClusterController => response_row(
            f,
            |id, _| DescribeClusterResponse::default().with_controller_id(BrokerId(id)),
            |r| vec![r.controller_id.0],
        ),
        ProduceCurrentLeader => response_row(
            f,
            |id, _| {
                ProduceResponse::default().with_responses(vec![
                    produce_response::TopicProduceResponse::default()
                        .with_name(TopicName(s("t")))
                        .with_partition_responses(vec![
                            produce_response::PartitionProduceResponse::default()
                                .with_current_leader(
                                    produce_response::LeaderIdAndEpoch::default()
                                        .with_leader_id(BrokerId(id)),
                                ),
                        ]),
                ])
            },
            |r| {
                vec![
                    r.responses[0].partition_responses[0]
                        .current_leader
                        .leader_id
                        .0,
                ]
            },
        ),
        ProduceNodeEndpoints => response_row(
            f,
            |id, _| {
                ProduceResponse::default().with_node_endpoints(vec![
                    produce_response::NodeEndpoint::default()
                        .with_node_id(BrokerId(id))
                        .with_host(s("kafka-x"))
                        .with_port(9092),
                ])
            },
            |r| r.node_endpoints.iter().map(|n| n.node_id.0).collect(),
        ),
        FetchPreferredReadReplica | FetchCurrentLeader => response_row(
            f,
            |id, _| {
                let p = fetch_response::PartitionData::default();
                let p = if f == FetchPreferredReadReplica {
                    p.with_preferred_read_replica(BrokerId(id))
                } else {
                    p.with_current_leader(
                        fetch_response::LeaderIdAndEpoch::default().with_leader_id(BrokerId(id)),
                    )
                };
                FetchResponse::default().with_responses(vec![
                    fetch_response::FetchableTopicResponse::default().with_partitions(vec![p]),
                ])
            },
            |r| {
                let p = &r.responses[0].partitions[0];
                if f == FetchPreferredReadReplica {
                    vec![p.preferred_read_replica.0]
                } else {
                    vec![p.current_leader.leader_id.0]
                }
            },
        ),
        FetchNodeEndpoints => response_row(
            f,
            |id, _| {
                // A host longer than the gateway's: the streamed tail keeps its size, so
                // endpoints that do not fit are dropped (see `rewrite_fetch_tail`).
                FetchResponse::default().with_node_endpoints(vec![
                    fetch_response::NodeEndpoint::default()
                        .with_node_id(BrokerId(id))
                        .with_host(s("kafka-broker-x.internal"))
                        .with_port(9092),
                ])
            },
            |r| r.node_endpoints.iter().map(|n| n.node_id.0).collect(),
        ),
        DescribeTopicPartitionsLeader
        | DescribeTopicPartitionsReplicas
        | DescribeTopicPartitionsIsr
        | DescribeTopicPartitionsEligibleLeaders
        | DescribeTopicPartitionsLastKnownElr
        | DescribeTopicPartitionsOfflineReplicas => response_row(
            f,
            |id, _| {
                let p = describe_topic_partitions_response::DescribeTopicPartitionsResponsePartition::default();
                let p = match f {
                    DescribeTopicPartitionsLeader => p.with_leader_id(BrokerId(id)),
                    DescribeTopicPartitionsReplicas => p.with_replica_nodes(ids(&[id])),
                    DescribeTopicPartitionsIsr => p.with_isr_nodes(ids(&[id])),
                    DescribeTopicPartitionsEligibleLeaders => {
                        p.with_eligible_leader_replicas(Some(ids(&[id])))
                    }
                    DescribeTopicPartitionsLastKnownElr => p.with_last_known_elr(Some(ids(&[id]))),
                    _ => p.with_offline_replicas(ids(&[id])),
                };
                DescribeTopicPartitionsResponse::default().with_topics(vec![
                    describe_topic_partitions_response::DescribeTopicPartitionsResponseTopic::default()
                        .with_name(Some(TopicName(s("t"))))
                        .with_partitions(vec![p]),
                ])
            },
            |r| {
                let p = &r.topics[0].partitions[0];
                match f {
                    DescribeTopicPartitionsLeader => vec![p.leader_id.0],
                    DescribeTopicPartitionsReplicas => raw(&p.replica_nodes),
                    DescribeTopicPartitionsIsr => raw(&p.isr_nodes),
                    DescribeTopicPartitionsEligibleLeaders => {
                        raw(p.eligible_leader_replicas.as_ref().unwrap())
                    }
                    DescribeTopicPartitionsLastKnownElr => raw(p.last_known_elr.as_ref().unwrap()),
                    _ => raw(&p.offline_replicas),
                }
            },
        ),
        ListPartitionReassignmentsReplicas
        | ListPartitionReassignmentsAdding
        | ListPartitionReassignmentsRemoving => response_row(
            f,
            |id, _| {
                let p =
                    list_partition_reassignments_response::OngoingPartitionReassignment::default();
                let p = match f {
                    ListPartitionReassignmentsReplicas => p.with_replicas(ids(&[id])),
                    ListPartitionReassignmentsAdding => p.with_adding_replicas(ids(&[id])),
                    _ => p.with_removing_replicas(ids(&[id])),
                };
                ListPartitionReassignmentsResponse::default().with_topics(vec![
                    list_partition_reassignments_response::OngoingTopicReassignment::default()
                        .with_name(TopicName(s("t")))
                        .with_partitions(vec![p]),
                ])
            },
            |r| {
                let p = &r.topics[0].partitions[0];
                match f {
                    ListPartitionReassignmentsReplicas => raw(&p.replicas),
                    ListPartitionReassignmentsAdding => raw(&p.adding_replicas),
                    _ => raw(&p.removing_replicas),
                }
            },
        ),
        DescribeConfigsResultName => response_row(
            f,
            |id, _| {
                let (t, name) = broker_resource(id);
                DescribeConfigsResponse::default().with_results(vec![
                    describe_configs_response::DescribeConfigsResult::default()
                        .with_resource_type(t)
                        .with_resource_name(name),
                ])
            },
            |r| name_as_id(&r.results[0].resource_name),
        ),
        AlterConfigsResponseName => response_row(
            f,
            |id, _| {
                let (t, name) = broker_resource(id);
                AlterConfigsResponse::default().with_responses(vec![
                    alter_configs_response::AlterConfigsResourceResponse::default()
                        .with_resource_type(t)
                        .with_resource_name(name),
                ])
            },
            |r| name_as_id(&r.responses[0].resource_name),
        ),
        IncrementalAlterConfigsResponseName => response_row(
            f,
            |id, _| {
                let (t, name) = broker_resource(id);
                IncrementalAlterConfigsResponse::default().with_responses(vec![
                    incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                        .with_resource_type(t)
                        .with_resource_name(name),
                ])
            },
            |r| name_as_id(&r.responses[0].resource_name),
        ),
        ListConfigResourcesName => response_row(
            f,
            |id, _| {
                let (t, name) = broker_resource(id);
                ListConfigResourcesResponse::default().with_config_resources(vec![
                    list_config_resources_response::ConfigResource::default()
                        .with_resource_type(t)
                        .with_resource_name(name),
                ])
            },
            |r| name_as_id(&r.config_resources[0].resource_name),
        ),
        FetchReplicaId => request_row(
            f,
            |id, _| FetchRequest::default().with_replica_id(BrokerId(id)),
            |r| vec![r.replica_id.0],
        ),
        FetchReplicaStateId => request_row(
            f,
            |id, _| {
                FetchRequest::default().with_replica_state(
                    fetch_request::ReplicaState::default().with_replica_id(BrokerId(id)),
                )
            },
            |r| vec![r.replica_state.replica_id.0],
        ),
        ListOffsetsReplicaId => request_row(
            f,
            |id, _| ListOffsetsRequest::default().with_replica_id(BrokerId(id)),
            |r| vec![r.replica_id.0],
        ),
        OffsetForLeaderEpochReplicaId => request_row(
            f,
            |id, _| OffsetForLeaderEpochRequest::default().with_replica_id(BrokerId(id)),
            |r| vec![r.replica_id.0],
        ),
        CreateTopicsAssignments => request_row(
            f,
            |id, _| {
                CreateTopicsRequest::default().with_topics(vec![
                    create_topics_request::CreatableTopic::default()
                        .with_name(TopicName(s("t")))
                        .with_num_partitions(-1)
                        .with_replication_factor(-1)
                        .with_assignments(vec![
                            create_topics_request::CreatableReplicaAssignment::default()
                                .with_broker_ids(ids(&[id])),
                        ]),
                ])
            },
            |r| raw(&r.topics[0].assignments[0].broker_ids),
        ),
        CreatePartitionsAssignments => request_row(
            f,
            |id, _| {
                CreatePartitionsRequest::default().with_topics(vec![
                    create_partitions_request::CreatePartitionsTopic::default()
                        .with_name(TopicName(s("t")))
                        .with_count(2)
                        .with_assignments(Some(vec![
                            create_partitions_request::CreatePartitionsAssignment::default()
                                .with_broker_ids(ids(&[id])),
                        ])),
                ])
            },
            |r| raw(&r.topics[0].assignments.as_ref().unwrap()[0].broker_ids),
        ),
        AlterPartitionReassignmentsReplicas => request_row(
            f,
            |id, _| {
                AlterPartitionReassignmentsRequest::default().with_topics(vec![
                    alter_partition_reassignments_request::ReassignableTopic::default()
                        .with_name(TopicName(s("t")))
                        .with_partitions(vec![
                            alter_partition_reassignments_request::ReassignablePartition::default()
                                .with_replicas(Some(ids(&[id]))),
                        ]),
                ])
            },
            |r| raw(r.topics[0].partitions[0].replicas.as_ref().unwrap()),
        ),
        DescribeConfigsResourceName => request_row(
            f,
            |id, _| {
                let (t, name) = broker_resource(id);
                DescribeConfigsRequest::default().with_resources(vec![
                    describe_configs_request::DescribeConfigsResource::default()
                        .with_resource_type(t)
                        .with_resource_name(name),
                ])
            },
            |r| name_as_id(&r.resources[0].resource_name),
        ),
        AlterConfigsResourceName => request_row(
            f,
            |id, _| {
                let (t, name) = broker_resource(id);
                AlterConfigsRequest::default().with_resources(vec![
                    alter_configs_request::AlterConfigsResource::default()
                        .with_resource_type(t)
                        .with_resource_name(name),
                ])
            },
            |r| name_as_id(&r.resources[0].resource_name),
        ),
        IncrementalAlterConfigsResourceName => request_row(
            f,
            |id, _| {
                let (t, name) = broker_resource(id);
                IncrementalAlterConfigsRequest::default().with_resources(vec![
                    incremental_alter_configs_request::AlterConfigsResource::default()
                        .with_resource_type(t)
                        .with_resource_name(name),
                ])
            },
            |r| name_as_id(&r.resources[0].resource_name),
        ),
    }
}

#[test]
fn every_row_of_the_table_maps_both_ways() {
    for &f in NodeField::ALL {
        case(f);
    }
}

#[test]
fn a_topic_resource_named_like_a_number_is_not_a_broker() {
    let route = two_domains();
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::DescribeConfigs as i16)
        .with_request_api_version(4);
    let body = DescribeConfigsRequest::default().with_resources(vec![
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(2) // TOPIC
            .with_resource_name(s("1001")),
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(4) // BROKER, cluster-wide default
            .with_resource_name(s("")),
    ]);
    let input = encode_request(&header, &body).unwrap();
    let out = route
        .nodes
        .rewrite_request(ApiKey::DescribeConfigs, 4, input.clone())
        .unwrap();
    assert!(same_bytes(&input, &out));
}
