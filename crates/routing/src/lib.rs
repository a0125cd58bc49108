//! Routing: which upstream cluster and broker a client connection talks to, and keeping every
//! broker address a client learns a gateway address.
//!
//! * [`topology`]: streaming domains and routes, validated (built by `gatehouse-config`).
//! * [`nodes`]: virtual node ids, (domain, upstream node id) ↔ the id a route's clients see;
//!   [`node_fields`]: the one table of fields that carry a node id, both directions.
//! * [`broker_map`]: port-based broker identification, virtual node id ↔ gateway port.
//! * [`domains`]: what is learned per upstream (node directory, API versions), kept across
//!   topology swaps.
//! * [`merge`]: one Metadata answer from several domains' answers.
//! * [`upstream`]: connections to upstream brokers (plaintext or TLS), filling the node
//!   directory from metadata, and discovery through the bootstrap server.
//! * [`rewrite`]: the response rewrites (broker addresses in Metadata, FindCoordinator,
//!   DescribeCluster, KIP-951 node endpoints in Produce/Fetch; node ids on multi-domain
//!   routes; ApiVersions intersection). The request direction is [`NodeMap::rewrite_request`].
//! * [`health`]: per-domain reachability from background probes, for `/health/ready`.
//! * [`metrics`]: counters the admin API exposes; [`log_limit`]: warnings that may repeat,
//!   written at most once per interval.

pub mod broker_map;
mod coordinators;
pub mod domains;
pub mod health;
pub mod log_limit;
pub mod merge;
pub mod metrics;
pub mod node_fields;
mod node_requests;
mod node_responses;
pub mod nodes;
pub mod rewrite;
pub mod tls;
pub mod topology;
pub mod upstream;
mod upstream_auth;

pub use broker_map::{BrokerMap, NodeIdRange, Target};
pub use domains::{DomainRegistry, DomainState};
pub use nodes::{AdditionalDomain, NodeMap, UpstreamTarget};
pub use topology::{BootstrapServer, HostPort, Route, StreamingDomain, Topology};
