//! The validated topology: streaming domains (upstream clusters) and routes (client-facing
//! endpoints). Values of these types are only built by the configuration loader after every
//! cross-reference has been checked, so the data plane never meets a dangling name.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::broker_map::BrokerMap;
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
    pub domain: String,
    pub bootstrap_server_id: String,
    pub brokers: BrokerMap,
    /// The virtual cluster every connection on this route is bound to (a partner's own
    /// endpoint); None leaves the choice to the session (passthrough until auth decides).
    pub virtual_cluster: Option<String>,
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
        let domain = self.domains.get(&route.domain)?;
        Some(
            domain
                .bootstrap_servers
                .get(&route.bootstrap_server_id)?
                .upstream
                .clone(),
        )
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
}
