//! Port-based broker identification.
//!
//! A route's endpoint port is its bootstrap. Every node id the streaming domain lists in
//! `nodeIdRanges` gets the next port, in the order the ranges are written:
//!
//! ```text
//! port(node) = endpoint.port + 1 + ordinal(node)
//! ordinal(node) = (sizes of the ranges before the one holding node) + (node - range.start)
//! ```
//!
//! So ranges `[0..=2]` on endpoint 19092 give nodes 0,1,2 ports 19093..19095, and sparse ids
//! listed as single-id ranges (`100`, `200`, `300`) take three ports, not two hundred.
//!
//! The ids are the route's **virtual** node ids ([`crate::nodes::NodeMap::virtual_ranges`]):
//! its home domain's ranges first (so a single-domain route keeps today's ports), then each
//! additional domain's virtual range.

use std::net::SocketAddr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIdRange {
    pub name: String,
    pub start: i32,
    pub end: i32,
}

impl NodeIdRange {
    /// How many ids it holds.
    pub fn len(&self) -> u32 {
        (self.end - self.start) as u32 + 1
    }

    /// Never true for a validated range (start <= end); here for clippy's `len` rule.
    pub fn is_empty(&self) -> bool {
        self.end < self.start
    }

    pub fn contains(&self, id: i32) -> bool {
        (self.start..=self.end).contains(&id)
    }
}

/// Which broker a client connection is for, decided by the port it connected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The route's endpoint: any broker of the cluster (its bootstrap server).
    Bootstrap,
    /// A virtual broker port: this upstream node.
    Node(i32),
}

#[derive(Debug, Clone)]
pub struct BrokerMap {
    bootstrap_port: u16,
    ranges: Vec<NodeIdRange>,
}

impl BrokerMap {
    /// `ranges` must be validated (non-empty, start <= end, no overlaps, ports fit in u16).
    pub fn new(bootstrap_port: u16, ranges: Vec<NodeIdRange>) -> Self {
        Self {
            bootstrap_port,
            ranges,
        }
    }

    /// Number of node ports after the bootstrap port.
    pub fn node_port_count(&self) -> u32 {
        self.ranges.iter().map(NodeIdRange::len).sum()
    }

    /// The gateway port for an upstream node id, or `None` when the id is in no range.
    pub fn port_for(&self, node_id: i32) -> Option<u16> {
        let mut ordinal = 0u32;
        for r in &self.ranges {
            if (r.start..=r.end).contains(&node_id) {
                let port = self.bootstrap_port as u32 + 1 + ordinal + (node_id - r.start) as u32;
                return u16::try_from(port).ok();
            }
            ordinal += r.len();
        }
        None
    }

    /// Every port this route listens on, with what it serves.
    pub fn listeners(&self, bind: SocketAddr) -> impl Iterator<Item = (SocketAddr, Target)> + '_ {
        let bootstrap = std::iter::once((bind, Target::Bootstrap));
        let nodes = self
            .ranges
            .iter()
            .flat_map(|r| r.start..=r.end)
            .map(move |id| {
                let port = self.port_for(id).expect("validated ranges fit");
                (SocketAddr::new(bind.ip(), port), Target::Node(id))
            });
        bootstrap.chain(nodes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(start: i32, end: i32) -> NodeIdRange {
        NodeIdRange {
            name: format!("r{start}"),
            start,
            end,
        }
    }

    #[test]
    fn contiguous_range_follows_the_bootstrap_port() {
        let m = BrokerMap::new(19092, vec![range(0, 5)]);
        assert_eq!(m.port_for(0), Some(19093));
        assert_eq!(m.port_for(5), Some(19098));
        assert_eq!(m.port_for(6), None);
        assert_eq!(m.node_port_count(), 6);
    }

    #[test]
    fn sparse_ids_take_one_port_each() {
        let m = BrokerMap::new(
            9000,
            vec![range(100, 100), range(200, 200), range(300, 300)],
        );
        assert_eq!(
            [100, 200, 300].map(|id| m.port_for(id)),
            [Some(9001), Some(9002), Some(9003)]
        );
        assert_eq!(m.port_for(150), None);
        let bind: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        let l: Vec<_> = m.listeners(bind).map(|(a, t)| (a.port(), t)).collect();
        assert_eq!(
            l,
            vec![
                (9000, Target::Bootstrap),
                (9001, Target::Node(100)),
                (9002, Target::Node(200)),
                (9003, Target::Node(300))
            ]
        );
    }
}
