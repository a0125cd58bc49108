//! The validated topology: streaming domains (upstream clusters) and routes (client-facing
//! endpoints). Values of these types are only built by the configuration loader after every
//! cross-reference has been checked, so the data plane never meets a dangling name.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::broker_map::{BrokerMap, Target};
use crate::nodes::NodeMap;
use crate::upstream::UpstreamCluster;

/// `host:port`, as written in configuration and advertised to clients.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl HostPort {
    /// Parses `host:port` or `[v6]:port`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (host, port) = s
            .rsplit_once(':')
            .ok_or_else(|| format!("'{s}' is not host:port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("'{s}' has no host"));
        }
        let port: u16 = port
            .parse()
            .map_err(|_| format!("'{s}' has no valid port"))?;
        if port == 0 {
            return Err(format!("'{s}': port 0 is not allowed"));
        }
        Ok(Self {
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// One upstream Kafka cluster.
#[derive(Debug)]
pub struct StreamingDomain {
    pub name: String,
    pub cluster_name: String,
    /// Listener id → the upstream reached through it.
    pub bootstrap_servers: BTreeMap<String, BootstrapServer>,
    /// The node ids this cluster's brokers use, in configured order.
    pub node_ids: Vec<crate::NodeIdRange>,
}

/// One way into an upstream cluster (a listener): its bootstrap endpoint and security.
#[derive(Debug, Clone)]
pub struct BootstrapServer {
    pub id: String,
    /// Connections, TLS settings and the node directory learned through this listener.
    pub upstream: Arc<UpstreamCluster>,
}

/// A client-facing endpoint bound to one streaming domain.
#[derive(Debug)]
pub struct Route {
    pub name: String,
    /// What clients are told: the bootstrap address, and the host of every virtual broker.
    pub endpoint: HostPort,
    /// Where the gateway listens (the endpoint's port, on `bindHost`).
    pub bind: SocketAddr,
    /// The home domain (`streamingDomain.name`), the same as `nodes.home()`.
    pub domain: String,
    pub bootstrap_server_id: String,
    /// A port for every virtual node id (`nodes.virtual_ranges()`).
    pub brokers: BrokerMap,
    /// The node ids the route's clients see: the identity for a single domain, disjoint
    /// virtual ranges for `additionalStreamingDomains`.
    pub nodes: NodeMap,
    /// The virtual cluster every connection on this route is bound to (a partner's own
    /// endpoint); None leaves the choice to the session (passthrough until auth decides).
    pub virtual_cluster: Option<String>,
}

impl Route {
    /// The cluster id the route presents instead of the upstream's, or `None` to pass the
    /// upstream's on. A single-domain route passes its domain's (what clients saw before
    /// virtual node ids; nothing changes for them). A multi-domain route presents one derived
    /// from its name: stable across restarts, and across switchovers of its domains.
    pub fn cluster_id(&self) -> Option<String> {
        (!self.nodes.is_identity()).then(|| derived_cluster_id(&self.name))
    }
}

/// 16 bytes from the route name (two FNV-1a passes, stable across builds and platforms), in
/// the 22-character URL-safe base64 form Kafka cluster ids take.
fn derived_cluster_id(route: &str) -> String {
    let fnv = |seed: u64| {
        route
            .bytes()
            .chain(*b"gatehouse-route")
            .fold(seed, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
    };
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&fnv(0xcbf2_9ce4_8422_2325).to_be_bytes());
    bytes[8..].copy_from_slice(&fnv(0x6c62_272e_07bb_0142).to_be_bytes());
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(22);
    let mut bits = 0u32;
    let mut held = 0;
    for b in bytes {
        bits = (bits << 8) | b as u32;
        held += 8;
        while held >= 6 {
            held -= 6;
            out.push(ALPHABET[((bits >> held) & 63) as usize] as char);
        }
    }
    out.push(ALPHABET[((bits << (6 - held)) & 63) as usize] as char);
    out
}

/// Everything the data plane needs to route, read through a snapshot that is swapped whole.
#[derive(Debug, Default)]
pub struct Topology {
    pub domains: BTreeMap<String, Arc<StreamingDomain>>,
    pub routes: BTreeMap<String, Arc<Route>>,
}

impl Topology {
    /// The upstream a route forwards to. `None` only if the topology was built inconsistently,
    /// which the loader prevents.
    pub fn upstream_for(&self, route: &Route) -> Option<Arc<UpstreamCluster>> {
        self.upstream_of(&route.domain, &route.bootstrap_server_id)
    }

    /// The upstream of a domain's listener.
    pub fn upstream_of(&self, domain: &str, listener: &str) -> Option<Arc<UpstreamCluster>> {
        let domain = self.domains.get(domain)?;
        Some(domain.bootstrap_servers.get(listener)?.upstream.clone())
    }

    /// Where a client connection accepted on a route's port goes: the upstream of the domain
    /// the port's virtual node belongs to, and the target there (`Bootstrap`, or the node's
    /// upstream id). For a single-domain route this is `(upstream_for(route), target)`.
    pub fn upstream_for_target(
        &self,
        route: &Route,
        target: Target,
    ) -> Option<(Arc<UpstreamCluster>, Target)> {
        let at = route.nodes.resolve(target)?;
        Some((self.upstream_of(at.domain, at.listener)?, at.target))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_parsing() {
        assert_eq!(
            HostPort::parse("a:1").unwrap(),
            HostPort {
                host: "a".into(),
                port: 1
            }
        );
        assert_eq!(
            HostPort::parse("[::1]:9092").unwrap().to_string(),
            "[::1]:9092"
        );
        assert!(HostPort::parse("nohost").is_err());
        assert!(HostPort::parse(":9092").is_err());
        assert!(HostPort::parse("a:99999").is_err());
        assert!(HostPort::parse("a:0").is_err());
    }

    #[test]
    fn derived_cluster_ids_look_like_kafkas_and_differ_per_route() {
        let a = derived_cluster_id("partners");
        assert_eq!(a.len(), 22);
        assert_eq!(a, derived_cluster_id("partners"), "stable");
        assert_ne!(a, derived_cluster_id("orders"));
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }
}
