//! What the proxy's integration tests share: building frames, reading them, and a gateway
//! with one passthrough route in front of a given upstream address.

#![allow(dead_code)] // each test file uses its own subset

use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::StrBytes;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use gatehouse_protocol::codec::{encode_request, encode_response};
use gatehouse_proxy::{ConnectionLimits, Gateway};
use gatehouse_routing::upstream::UpstreamCluster;
use gatehouse_routing::{
    BootstrapServer, BrokerMap, HostPort, NodeIdRange, NodeMap, Route, StreamingDomain, Topology,
};

pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.into())
}

pub async fn read_frame(stream: &mut TcpStream) -> Bytes {
    let len = stream.read_i32().await.unwrap();
    let mut buf = BytesMut::zeroed(4 + len as usize);
    buf[..4].copy_from_slice(&len.to_be_bytes());
    stream.read_exact(&mut buf[4..]).await.unwrap();
    buf.freeze()
}

/// The correlation id of a request frame (length prefix included).
pub fn request_correlation_id(frame: &[u8]) -> i32 {
    i32::from_be_bytes(frame[8..12].try_into().unwrap())
}

/// A frame with the correlation id at `at` replaced: the gateway numbers the requests on its
/// upstream connections itself, so a fake upstream answers with the id it was sent, and
/// compares requests with the client's own id put back.
pub fn with_correlation_id(frame: &[u8], at: usize, id: i32) -> Bytes {
    let mut b = BytesMut::from(frame);
    b[at..at + 4].copy_from_slice(&id.to_be_bytes());
    b.freeze()
}

pub fn request<T: kafka_protocol::protocol::Encodable>(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &T,
) -> Bytes {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(s("test")));
    encode_request(&header, body).unwrap()
}

pub fn response<T: kafka_protocol::protocol::Encodable>(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &T,
) -> Bytes {
    encode_response(
        &ResponseHeader::default().with_correlation_id(correlation_id),
        body,
        key,
        version,
    )
    .unwrap()
}

/// A gateway (this process) with one passthrough route to `upstream`; its bootstrap port.
pub async fn start_gateway(upstream: SocketAddr) -> u16 {
    let port = loop {
        let p = free_port();
        if StdListener::bind(("127.0.0.1", p + 1)).is_ok() {
            break p;
        }
    };
    let cluster = UpstreamCluster::new(
        "d".into(),
        "main".into(),
        HostPort {
            host: "127.0.0.1".into(),
            port: upstream.port(),
        },
        None,
        Duration::from_secs(2),
    );
    let ranges = vec![NodeIdRange {
        name: "n".into(),
        start: 7,
        end: 7,
    }];
    let domain = StreamingDomain {
        name: "d".into(),
        cluster_name: "d".into(),
        bootstrap_servers: [(
            "main".to_string(),
            BootstrapServer {
                id: "main".into(),
                upstream: Arc::new(cluster),
            },
        )]
        .into(),
        node_ids: ranges.clone(),
    };
    let route = Route {
        name: "r".into(),
        endpoint: HostPort {
            host: "gw.test".into(),
            port,
        },
        bind: SocketAddr::from(([127, 0, 0, 1], port)),
        domain: "d".into(),
        bootstrap_server_id: "main".into(),
        brokers: BrokerMap::new(port, ranges.clone()),
        nodes: NodeMap::single("d", "main", ranges),
        virtual_cluster: None,
    };
    let topology = Topology {
        domains: [("d".to_string(), Arc::new(domain))].into(),
        routes: [("r".to_string(), Arc::new(route))].into(),
    };
    let gateway = Gateway::new(
        topology,
        ConnectionLimits {
            max_frame_bytes: 1 << 20,
            // These tests send a large Produce as a connection's first request.
            max_unauthenticated_frame_bytes: 1 << 20,
            max_in_flight_requests: 8,
            splice_forwarding: true,
            ..Default::default()
        },
    );
    std::mem::forget(gateway.bind().await.unwrap());
    port
}
