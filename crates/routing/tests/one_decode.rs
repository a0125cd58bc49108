//! The rewriters on the pipeline's message (raw | parsed | modified): decoded at most once
//! whatever stages edit it.

use std::time::Duration;

use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use gatehouse_protocol::codec::{decode_response, encode_response};
use gatehouse_protocol::message::{decodes_on_this_thread, ResponseMessage};
use gatehouse_routing::rewrite::AddressRewriter;
use gatehouse_routing::upstream::UpstreamCluster;
use gatehouse_routing::{BrokerMap, HostPort, NodeIdRange, NodeMap, Route};

fn route() -> Route {
    let ranges = vec![NodeIdRange {
        name: "p".into(),
        start: 0,
        end: 2,
    }];
    Route {
        name: "r".into(),
        endpoint: HostPort {
            host: "gw.example".into(),
            port: 19092,
        },
        bind: "127.0.0.1:19092".parse().unwrap(),
        domain: "d".into(),
        bootstrap_server_id: "internal".into(),
        brokers: BrokerMap::new(19092, ranges.clone()),
        nodes: NodeMap::single("d", "internal", ranges),
        virtual_cluster: None,
    }
}

fn upstream() -> UpstreamCluster {
    UpstreamCluster::new(
        "d".into(),
        "internal".into(),
        HostPort {
            host: "kafka".into(),
            port: 9092,
        },
        None,
        Duration::from_secs(1),
    )
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.into())
}

#[test]
fn metadata_is_decoded_once_for_routing_and_the_next_stage() {
    let body = MetadataResponse::default()
        .with_brokers(vec![metadata_response::MetadataResponseBroker::default()
            .with_node_id(BrokerId(1))
            .with_host(s("kafka-1"))
            .with_port(9092)])
        .with_topics(vec![metadata_response::MetadataResponseTopic::default()
            .with_name(Some(TopicName(s("a.orders"))))]);
    let frame = encode_response(&ResponseHeader::default(), &body, ApiKey::Metadata, 12).unwrap();
    let before = decodes_on_this_thread();
    let mut msg = ResponseMessage::new(ApiKey::Metadata, 12, frame);
    let (route, up) = (route(), upstream());
    AddressRewriter::new(&route, &up)
        .rewrite_message(ApiKey::Metadata, 12, &mut msg)
        .unwrap();
    // The tenancy stage, next: strips its prefix from the same decoded message.
    msg.edit::<MetadataResponse>(|r| {
        r.topics[0].name = Some(TopicName(s("orders")));
        true
    })
    .unwrap();
    assert_eq!(decodes_on_this_thread() - before, 1);
    let out = msg.into_frame().unwrap();
    let (_, got) = decode_response::<MetadataResponse>(&out, ApiKey::Metadata, 12).unwrap();
    assert_eq!(
        (got.brokers[0].host.to_string(), got.brokers[0].port),
        ("gw.example".into(), 19094)
    );
    assert_eq!(got.topics[0].name.as_ref().unwrap().0.to_string(), "orders");
}

#[test]
fn a_fetch_another_stage_decoded_has_its_endpoints_rewritten_in_the_decoded_message() {
    let body =
        FetchResponse::default().with_node_endpoints(vec![fetch_response::NodeEndpoint::default()
            .with_node_id(BrokerId(2))
            .with_host(s("k"))
            .with_port(9092)]);
    let frame = encode_response(&ResponseHeader::default(), &body, ApiKey::Fetch, 17).unwrap();
    let before = decodes_on_this_thread();
    let mut msg = ResponseMessage::new(ApiKey::Fetch, 17, frame);
    msg.edit::<FetchResponse>(|_| false).unwrap(); // read by another stage
    let (route, up) = (route(), upstream());
    AddressRewriter::new(&route, &up)
        .rewrite_message(ApiKey::Fetch, 17, &mut msg)
        .unwrap();
    assert_eq!(decodes_on_this_thread() - before, 1);
    let out = msg.into_frame().unwrap();
    let (_, got) = decode_response::<FetchResponse>(&out, ApiKey::Fetch, 17).unwrap();
    // Decoded whole, the endpoint need not fit the original size: kept, not dropped.
    assert_eq!(
        (
            got.node_endpoints[0].host.to_string(),
            got.node_endpoints[0].port
        ),
        ("gw.example".into(), 19095)
    );
}

#[test]
fn a_response_no_stage_changes_goes_on_as_it_came() {
    let frame = encode_response(
        &ResponseHeader::default(),
        &OffsetCommitResponse::default(),
        ApiKey::OffsetCommit,
        8,
    )
    .unwrap();
    let before = decodes_on_this_thread();
    let mut msg = ResponseMessage::new(ApiKey::OffsetCommit, 8, frame.clone());
    let (route, up) = (route(), upstream());
    AddressRewriter::new(&route, &up)
        .rewrite_message(ApiKey::OffsetCommit, 8, &mut msg)
        .unwrap();
    assert_eq!(decodes_on_this_thread() - before, 0);
    let out = msg.into_frame().unwrap();
    assert_eq!(out.as_ptr(), frame.as_ptr());
}
