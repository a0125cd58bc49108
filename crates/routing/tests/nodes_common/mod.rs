//! What the node-id golden tests share: the route with a home domain `home` (node 111) and an
//! additional domain `other` (nodes 111, 200, 201 at virtual ids 1000, 1001, 1002), the
//! identity route, and small builders.

#![allow(dead_code)] // each test file uses its own subset

use std::time::Duration;

use kafka_protocol::messages::BrokerId;
use kafka_protocol::protocol::StrBytes;

use gatehouse_routing::upstream::UpstreamCluster;
use gatehouse_routing::{AdditionalDomain, BrokerMap, HostPort, NodeIdRange, NodeMap, Route};

pub fn range(start: i32, end: i32) -> NodeIdRange {
    NodeIdRange {
        name: format!("r{start}"),
        start,
        end,
    }
}

pub fn route_with(nodes: NodeMap) -> Route {
    Route {
        name: "partners".into(),
        endpoint: HostPort {
            host: "gw.example".into(),
            port: 19092,
        },
        bind: "127.0.0.1:19092".parse().unwrap(),
        domain: nodes.home().into(),
        bootstrap_server_id: "internal".into(),
        brokers: BrokerMap::new(19092, nodes.virtual_ranges()),
        nodes,
        virtual_cluster: None,
    }
}

/// Two domains: both have a node 111.
pub fn two_domains() -> Route {
    route_with(NodeMap::new(
        "home",
        "internal",
        vec![range(111, 111)],
        vec![AdditionalDomain {
            domain: "other".into(),
            listener: "internal".into(),
            upstream_ranges: vec![range(111, 111), range(200, 201)],
            virtual_start: 1000,
        }],
    ))
}

/// One domain holding the ids the cases use: the identity.
pub fn identity() -> Route {
    route_with(NodeMap::single(
        "other",
        "internal",
        vec![range(111, 111), range(200, 201)],
    ))
}

pub fn upstream(domain: &str) -> UpstreamCluster {
    UpstreamCluster::new(
        domain.into(),
        "internal".into(),
        HostPort {
            host: format!("kafka.{domain}"),
            port: 9092,
        },
        None,
        Duration::from_secs(1),
    )
}

pub fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.into())
}

pub fn ids(v: &[i32]) -> Vec<BrokerId> {
    v.iter().map(|&i| BrokerId(i)).collect()
}

pub fn raw(v: &[BrokerId]) -> Vec<i32> {
    v.iter().map(|b| b.0).collect()
}
