//! Golden cases: an upstream response in, the response the client must see out.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::metadata_response::MetadataResponseBroker;
use kafka_protocol::messages::produce_response::NodeEndpoint as ProduceNodeEndpoint;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, DescribeClusterResponse, FetchResponse,
    FindCoordinatorResponse, MetadataResponse, ProduceResponse, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::ResponseError;

use gatehouse_protocol::codec::{decode_response, encode_response};
use gatehouse_routing::rewrite::{response_handling, AddressRewriter, ResponseHandling};
use gatehouse_routing::upstream::UpstreamCluster;
use gatehouse_routing::{BrokerMap, HostPort, NodeIdRange, NodeMap, Route};

fn ranges() -> Vec<NodeIdRange> {
    vec![NodeIdRange {
        name: "p".into(),
        start: 0,
        end: 2,
    }]
}

fn route() -> Route {
    Route {
        name: "r".into(),
        endpoint: HostPort {
            host: "gw.example".into(),
            port: 19092,
        },
        bind: "127.0.0.1:19092".parse().unwrap(),
        domain: "d".into(),
        bootstrap_server_id: "internal".into(),
        brokers: BrokerMap::new(19092, ranges()),
        nodes: NodeMap::single("d", "internal", ranges()),
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

fn through<T: Encodable + Decodable>(key: ApiKey, version: i16, body: &T) -> (Bytes, Bytes, T) {
    let route = route();
    let up = upstream();
    let input = encode_response(
        &ResponseHeader::default().with_correlation_id(9),
        body,
        key,
        version,
    )
    .unwrap();
    assert_ne!(response_handling(key, version), ResponseHandling::Forward);
    let out = AddressRewriter::new(&route, &up)
        .rewrite(key, version, input.clone())
        .unwrap();
    let (h, decoded) = decode_response::<T>(&out, key, version).unwrap();
    assert_eq!(h.correlation_id, 9, "correlation id preserved");
    (input, out, decoded)
}

#[test]
fn metadata_brokers_become_gateway_ports_and_unmapped_ones_are_hidden() {
    for version in [0, 4, 9, 12, 13] {
        let upstream_answer = MetadataResponse::default().with_brokers(vec![
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(0))
                .with_host(s("kafka-0"))
                .with_port(9092),
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(2))
                .with_host(s("kafka-2"))
                .with_port(9094),
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(77))
                .with_host(s("kafka-77"))
                .with_port(9099),
        ]);
        let (_, _, got) = through(ApiKey::Metadata, version, &upstream_answer);
        let brokers: Vec<_> = got
            .brokers
            .iter()
            .map(|b| (b.node_id.0, b.host.to_string(), b.port))
            .collect();
        assert_eq!(
            brokers,
            vec![
                (0, "gw.example".into(), 19093),
                (2, "gw.example".into(), 19095)
            ],
            "v{version}"
        );
    }
}

#[test]
fn find_coordinator_single_and_batched() {
    let single = FindCoordinatorResponse::default()
        .with_node_id(BrokerId(1))
        .with_host(s("kafka-1"))
        .with_port(9093);
    let (_, _, got) = through(ApiKey::FindCoordinator, 3, &single);
    assert_eq!(
        (
            got.node_id.0,
            got.host.to_string(),
            got.port,
            got.error_code
        ),
        (1, "gw.example".into(), 19094, 0)
    );

    let batched = FindCoordinatorResponse::default().with_coordinators(vec![
        Coordinator::default()
            .with_key(s("g1"))
            .with_node_id(BrokerId(0))
            .with_host(s("kafka-0"))
            .with_port(9092),
        Coordinator::default()
            .with_key(s("g2"))
            .with_node_id(BrokerId(50))
            .with_host(s("kafka-50"))
            .with_port(9092),
        Coordinator::default()
            .with_key(s("g3"))
            .with_error_code(ResponseError::CoordinatorLoadInProgress.code())
            .with_node_id(BrokerId(-1))
            .with_port(-1),
    ]);
    let (_, _, got) = through(ApiKey::FindCoordinator, 4, &batched);
    let c: Vec<_> = got
        .coordinators
        .iter()
        .map(|c| {
            (
                c.key.to_string(),
                c.node_id.0,
                c.host.to_string(),
                c.port,
                c.error_code,
            )
        })
        .collect();
    assert_eq!(
        c,
        vec![
            ("g1".into(), 0, "gw.example".into(), 19093, 0),
            (
                "g2".into(),
                -1,
                "".into(),
                -1,
                ResponseError::CoordinatorNotAvailable.code()
            ),
            (
                "g3".into(),
                -1,
                "".into(),
                -1,
                ResponseError::CoordinatorLoadInProgress.code()
            ),
        ]
    );
}

#[test]
fn describe_cluster_brokers() {
    use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
    let r = DescribeClusterResponse::default().with_brokers(vec![DescribeClusterBroker::default()
        .with_broker_id(BrokerId(1))
        .with_host(s("kafka-1"))
        .with_port(9093)]);
    let (_, _, got) = through(ApiKey::DescribeCluster, 1, &r);
    assert_eq!(
        (got.brokers[0].host.to_string(), got.brokers[0].port),
        ("gw.example".into(), 19094)
    );
}

#[test]
fn kip_951_produce_node_endpoints_are_rewritten_and_absent_ones_cost_no_reencode() {
    let r = ProduceResponse::default().with_node_endpoints(vec![ProduceNodeEndpoint::default()
        .with_node_id(BrokerId(2))
        .with_host(s("kafka-2"))
        .with_port(9094)]);
    let (_, _, got) = through(ApiKey::Produce, 10, &r);
    assert_eq!(
        (
            got.node_endpoints[0].host.to_string(),
            got.node_endpoints[0].port
        ),
        ("gw.example".into(), 19095)
    );

    let (input, out, _) = through(ApiKey::Produce, 11, &ProduceResponse::default());
    assert_eq!(
        input.as_ptr(),
        out.as_ptr(),
        "a response without endpoints is forwarded as it came"
    );
    assert_eq!(
        response_handling(ApiKey::Produce, 9),
        ResponseHandling::Forward
    );
    assert_eq!(
        response_handling(ApiKey::Fetch, 15),
        ResponseHandling::Forward
    );
    assert_eq!(
        response_handling(ApiKey::Fetch, 16),
        ResponseHandling::FetchTail
    );
}

fn fetch_with_endpoint(host: &str, unmapped_too: bool) -> FetchResponse {
    use kafka_protocol::messages::fetch_response::{
        FetchableTopicResponse, NodeEndpoint, PartitionData,
    };
    FetchResponse::default()
        .with_responses(vec![FetchableTopicResponse::default().with_partitions(
            vec![PartitionData::default()
                .with_partition_index(0)
                .with_records(Some(Bytes::from_static(b"opaque record batch bytes")))],
        )])
        .with_node_endpoints(
            [(2, 9094), (99, 9095)]
                .into_iter()
                .take(if unmapped_too { 2 } else { 1 })
                .map(|(id, port)| {
                    NodeEndpoint::default()
                        .with_node_id(BrokerId(id))
                        .with_host(s(host))
                        .with_port(port)
                })
                .collect(),
        )
}

#[test]
fn fetch_node_endpoints_are_rewritten_in_place_keeping_the_frame_length() {
    // A broker host longer than the gateway's: the rewritten endpoints fit, padded.
    let long = "broker-2.kafka.internal.example.com";
    let (input, out, got) = through(ApiKey::Fetch, 16, &fetch_with_endpoint(long, true));
    assert_eq!(
        out.len(),
        input.len(),
        "the length prefix already sent stays true"
    );
    let endpoints: Vec<_> = got
        .node_endpoints
        .iter()
        .map(|n| (n.node_id.0, n.host.to_string(), n.port))
        .collect();
    assert_eq!(
        endpoints,
        vec![(2, "gw.example".into(), 19095)],
        "unmapped node 99 dropped"
    );
    assert_eq!(
        got.responses[0].partitions[0].records.as_deref(),
        Some(&b"opaque record batch bytes"[..])
    );
    assert!(
        !out.windows(long.len()).any(|w| w == long.as_bytes()),
        "no real address left"
    );
}

#[test]
fn fetch_node_endpoints_that_cannot_fit_are_dropped_never_leaked() {
    // One endpoint on a host shorter than the gateway's: the rewrite needs more room than there is.
    let (input, out, got) = through(ApiKey::Fetch, 17, &fetch_with_endpoint("k2", false));
    assert_eq!(out.len(), input.len());
    assert!(
        got.node_endpoints.is_empty(),
        "clients fall back to a metadata refresh"
    );
    assert!(!out.windows(2).any(|w| w == b"k2"));

    let (input, out, _) = through(ApiKey::Fetch, 16, &FetchResponse::default());
    assert_eq!(
        input.as_ptr(),
        out.as_ptr(),
        "no endpoints: forwarded as it came"
    );
}

#[test]
fn api_versions_are_narrowed_to_what_the_gateway_forwards() {
    use kafka_protocol::messages::api_versions_response::ApiVersion;
    let v = |k: ApiKey, min, max| {
        ApiVersion::default()
            .with_api_key(k as i16)
            .with_min_version(min)
            .with_max_version(max)
    };
    let r = ApiVersionsResponse::default()
        .with_api_keys(vec![v(ApiKey::Fetch, 0, 30), v(ApiKey::Vote, 0, 1)]);
    let (_, _, got) = through(ApiKey::ApiVersions, 3, &r);
    let keys: Vec<_> = got
        .api_keys
        .iter()
        .map(|k| (k.api_key, k.min_version, k.max_version))
        .collect();
    assert_eq!(keys, vec![(ApiKey::Fetch as i16, 4, 18)]);
}

#[test]
fn learned_addresses_feed_the_node_directory() {
    let route = route();
    let up = upstream();
    let body = MetadataResponse::default().with_brokers(vec![MetadataResponseBroker::default()
        .with_node_id(BrokerId(1))
        .with_host(s("127.0.0.1"))
        .with_port(1)]);
    let frame = encode_response(&ResponseHeader::default(), &body, ApiKey::Metadata, 12).unwrap();
    AddressRewriter::new(&route, &up)
        .rewrite(ApiKey::Metadata, 12, frame)
        .unwrap();
    // Port 1 on loopback refuses: the connect error proves the directory, not discovery, was used.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let err = rt
        .block_on(up.connect(
            gatehouse_routing::Target::Node(1),
            gatehouse_routing::upstream::Login::Gateway,
        ))
        .err()
        .unwrap();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}
