//! Golden cases for the Metadata merge (fan-out): two domains whose brokers are both node 111
//! become distinct virtual brokers, and how a multi-domain route handles Fetch.

mod nodes_common;

use kafka_protocol::messages::*;

use gatehouse_protocol::codec::{decode_request, decode_response, encode_request, encode_response};
use gatehouse_routing::merge::{merge_metadata, merge_metadata_frames, DomainAnswer};
use gatehouse_routing::rewrite::{route_response_handling, AddressRewriter, ResponseHandling};
use gatehouse_routing::Target;

use nodes_common::*;

fn metadata_of(domain: &str, topic: &str, error: i16) -> MetadataResponse {
    MetadataResponse::default()
        .with_cluster_id(Some(s(&format!("{domain}-cluster"))))
        .with_controller_id(BrokerId(111))
        .with_brokers(vec![metadata_response::MetadataResponseBroker::default()
            .with_node_id(BrokerId(111))
            .with_host(s(&format!("kafka.{domain}")))
            .with_port(9092)])
        .with_topics(vec![metadata_response::MetadataResponseTopic::default()
            .with_name(Some(TopicName(s(topic))))
            .with_error_code(error)
            .with_partitions(vec![
                metadata_response::MetadataResponsePartition::default()
                    .with_leader_id(BrokerId(111))
                    .with_replica_nodes(ids(&[111]))
                    .with_isr_nodes(ids(&[111])),
            ])])
}

#[test]
fn two_domains_both_node_111_merge_into_distinct_virtual_brokers() {
    let route = two_domains();
    let (home, other) = (upstream("home"), upstream("other"));
    let mut clash = metadata_of("other", "shared", 0);
    clash
        .topics
        .push(metadata_of("other", "payments", 0).topics.remove(0));
    // Given in the wrong order: the home domain still comes first.
    let merged = merge_metadata(
        &route,
        vec![
            DomainAnswer {
                upstream: &other,
                response: clash,
            },
            DomainAnswer {
                upstream: &home,
                response: metadata_of("home", "shared", 3), // UNKNOWN_TOPIC_OR_PARTITION
            },
        ],
    );
    let brokers: Vec<_> = merged
        .brokers
        .iter()
        .map(|b| (b.node_id.0, b.host.to_string(), b.port))
        .collect();
    assert_eq!(
        brokers,
        vec![
            (111, "gw.example".into(), 19093),
            (1000, "gw.example".into(), 19094)
        ]
    );
    let topics: Vec<_> = merged
        .topics
        .iter()
        .map(|t| {
            let p = &t.partitions[0];
            (
                t.name.as_ref().unwrap().0.to_string(),
                t.error_code,
                p.leader_id.0,
                raw(&p.isr_nodes),
            )
        })
        .collect();
    assert_eq!(
        topics,
        vec![
            // Home's answer was an error, the other domain's is not: the other's is shown.
            ("shared".into(), 0, 1000, vec![1000]),
            ("payments".into(), 0, 1000, vec![1000]),
        ]
    );
    assert_eq!(merged.controller_id.0, 111, "the home domain's controller");
    let cluster_id = merged.cluster_id.as_ref().unwrap().to_string();
    assert_eq!(Some(cluster_id.clone()), route.cluster_id());
    assert!(!cluster_id.contains("cluster"), "no upstream's cluster id");
    // Each domain's real address was learned in its own directory.
    assert_eq!(
        other.state().address_of(111).unwrap().host,
        "kafka.other",
        "learned under the upstream id"
    );
    assert_eq!(home.state().address_of(111).unwrap().host, "kafka.home");

    // The client's next moves map back: the port of 1000 is the other domain's node 111, and
    // a request naming 1000 goes upstream as 111.
    let to = route.nodes.resolve(Target::Node(1000)).unwrap();
    assert_eq!((to.domain, to.target), ("other", Target::Node(111)));
    assert_eq!(route.brokers.port_for(1000), Some(19094));
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::ListOffsets as i16)
        .with_request_api_version(9);
    let frame = encode_request(
        &header,
        &ListOffsetsRequest::default().with_replica_id(BrokerId(1000)),
    )
    .unwrap();
    let out = route
        .nodes
        .rewrite_request(ApiKey::ListOffsets, 9, frame)
        .unwrap();
    let (_, back) = decode_request::<ListOffsetsRequest>(&out).unwrap();
    assert_eq!(back.replica_id.0, 111);
}

#[test]
fn merging_frames_keeps_the_first_header_and_encodes_once() {
    let route = two_domains();
    let (home, other) = (upstream("home"), upstream("other"));
    let frame = |domain: &str, id: i32| {
        encode_response(
            &ResponseHeader::default().with_correlation_id(id),
            &metadata_of(domain, domain, 0),
            ApiKey::Metadata,
            12,
        )
        .unwrap()
    };
    let out = merge_metadata_frames(
        &route,
        12,
        &[(&home, frame("home", 5)), (&other, frame("other", 6))],
    )
    .unwrap();
    let (h, m) = decode_response::<MetadataResponse>(&out, ApiKey::Metadata, 12).unwrap();
    assert_eq!(h.correlation_id, 5);
    assert_eq!(m.brokers.len(), 2);
    assert_eq!(m.topics.len(), 2);
}

#[test]
fn single_domain_metadata_keeps_ids_ports_and_the_upstream_cluster_id() {
    let route = identity();
    let up = upstream("other");
    let input = encode_response(
        &ResponseHeader::default(),
        &metadata_of("other", "t", 0),
        ApiKey::Metadata,
        12,
    )
    .unwrap();
    let out = AddressRewriter::new(&route, &up)
        .rewrite(ApiKey::Metadata, 12, input)
        .unwrap();
    let (_, m) = decode_response::<MetadataResponse>(&out, ApiKey::Metadata, 12).unwrap();
    assert_eq!(m.cluster_id.unwrap().to_string(), "other-cluster");
    assert_eq!((m.brokers[0].node_id.0, m.brokers[0].port), (111, 19093));
    assert_eq!(m.topics[0].partitions[0].leader_id.0, 111);
}

#[test]
fn multi_domain_fetch_is_held_whole_and_single_domain_fetch_streams() {
    let multi = two_domains();
    let single = identity();
    assert_eq!(
        route_response_handling(&multi, ApiKey::Fetch, 16),
        ResponseHandling::Decode
    );
    assert_eq!(
        route_response_handling(&single, ApiKey::Fetch, 16),
        ResponseHandling::FetchTail
    );
    assert_eq!(
        route_response_handling(&multi, ApiKey::OffsetCommit, 8),
        ResponseHandling::Forward
    );
}
