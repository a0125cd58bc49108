//! Listeners and the per-connection pipeline.
//!
//! Each route listens on its bootstrap port and one port per upstream node. A client
//! connection is served by two loops: the request pump reads frames from the client, peeks at
//! their headers, and forwards them upstream untouched; the response pump reads the upstream's
//! answers, hands the few that carry broker addresses to the routing stage to rewrite, and
//! writes them back in order. A bounded queue between the two carries what each expected
//! response needs, and bounds how many requests a client may have in flight.

mod acl_store;
mod binding;
mod budget;
mod caps;
mod connection;
mod deadlines;
mod drain;
mod gate;
mod identity;
mod io;
mod pipeline;
mod produce_head;
mod reader;
mod sequencer;
#[cfg(target_os = "linux")]
mod splice;
#[cfg(not(target_os = "linux"))]
#[path = "splice_unsupported.rs"]
mod splice;
mod upstreams;

pub use acl_store::{AclChangeFuture, AclStore};
pub use caps::CapLimits;
pub use deadlines::DeadlineLimits;
pub use drain::DrainReport;
pub use identity::{AuthSettings, Identity};

/// Makes every splice find itself refused (as in a sandbox that forbids splice on sockets), so
/// tests can drive the buffered fallbacks. Only with the `test-hooks` feature.
#[cfg(all(feature = "test-hooks", target_os = "linux"))]
pub fn refuse_splicing_for_tests(refuse: bool) {
    splice::REFUSE_FOR_TESTS.store(refuse, std::sync::atomic::Ordering::Relaxed);
}

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use dashmap::DashMap;
use gatehouse_auth::listener::RouteSecurity;
use gatehouse_routing::log_limit::{LogLimit, DEFAULT_INTERVAL};
use gatehouse_routing::metrics::metrics;
use gatehouse_routing::{Target, Topology};
use gatehouse_tenancy::producer_ids::FileJournal;
use gatehouse_tenancy::{Catalog, ProducerIds, TopicIds};
use std::collections::BTreeMap;
use tokio::net::TcpListener;

/// Limits applied to every client connection.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    pub max_frame_bytes: usize,
    /// Largest frame before authentication (SASL routes) and for any connection's first request.
    pub max_unauthenticated_frame_bytes: usize,
    /// Request bytes all connections together may hold in buffers ([`budget`]).
    pub max_buffered_bytes: usize,
    pub max_in_flight_requests: usize,
    /// Whether record bytes may go socket to socket by splice(2) where both legs are plain TCP
    /// (off: always through the gateway's buffers).
    pub splice_forwarding: bool,
    pub deadlines: DeadlineLimits,
    pub caps: CapLimits,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_frame_bytes: gatehouse_protocol::frame::DEFAULT_MAX_FRAME_BYTES,
            max_unauthenticated_frame_bytes: 512 * 1024,
            max_buffered_bytes: 512 << 20,
            max_in_flight_requests: 1000,
            splice_forwarding: true,
            deadlines: DeadlineLimits::default(),
            caps: CapLimits::default(),
        }
    }
}

/// The running data plane: the current topology and virtual-cluster snapshots, and the limits.
pub struct Gateway {
    topology: ArcSwap<Topology>,
    catalog: ArcSwap<Catalog>,
    /// Bumped with every new catalog: open connections re-check their binding at once (an
    /// alias deleted, a virtual cluster removed) instead of at their next request.
    catalog_changes: tokio::sync::watch::Sender<u64>,
    /// Topic id → upstream name, per streaming domain, shared by every tenant on it.
    topic_ids: DashMap<String, Arc<TopicIds>>,
    /// Producer id → the transactional id it was issued to, per streaming domain.
    producer_ids: DashMap<String, Arc<ProducerIds>>,
    limits: ConnectionLimits,
    /// How each route authenticates its clients (PLAINTEXT when a route is missing here).
    security: BTreeMap<String, Arc<RouteSecurity>>,
    auth: AuthSettings,
    identity: ArcSwap<Identity>,
    /// Failed authentications per client address: (count, start of the minute counted).
    auth_failures: DashMap<std::net::IpAddr, (u32, std::time::Instant)>,
    caps: Arc<caps::ConnectionCaps>,
    budget: Arc<budget::MemoryBudget>,
    drain: drain::Drain,
    /// Where tenants' ACL changes through the Kafka API go (none: they are refused).
    acl_store: std::sync::OnceLock<Arc<dyn AclStore>>,
}

impl Gateway {
    /// A gateway whose routes are all PLAINTEXT.
    pub fn new(topology: Topology, limits: ConnectionLimits) -> Arc<Self> {
        Self::with_security(topology, limits, BTreeMap::new(), AuthSettings::default())
    }

    /// A gateway whose routes authenticate clients.
    pub fn with_security(
        topology: Topology,
        limits: ConnectionLimits,
        security: BTreeMap<String, Arc<RouteSecurity>>,
        auth: AuthSettings,
    ) -> Arc<Self> {
        let caps = caps::ConnectionCaps::new(limits.caps.clone(), topology.routes.keys().cloned());
        let budget = Arc::new(budget::MemoryBudget::new(limits.max_buffered_bytes));
        Arc::new(Self {
            caps: Arc::new(caps),
            budget,
            drain: drain::Drain::new(),
            topology: ArcSwap::from_pointee(topology),
            catalog: ArcSwap::from_pointee(Catalog::default()),
            catalog_changes: tokio::sync::watch::Sender::new(0),
            topic_ids: DashMap::new(),
            producer_ids: DashMap::new(),
            limits,
            security,
            auth,
            identity: ArcSwap::from_pointee(Identity::default()),
            auth_failures: DashMap::new(),
            acl_store: std::sync::OnceLock::new(),
        })
    }

    /// Records a failed authentication from `peer`; returns how many it made this minute.
    fn failed_authentication(&self, peer: std::net::IpAddr) -> u32 {
        if self.auth_failures.len() > 100_000 {
            self.auth_failures.clear(); // bounded: a flood of addresses must not grow it forever
        }
        let mut entry = self
            .auth_failures
            .entry(peer)
            .or_insert((0, std::time::Instant::now()));
        if entry.1.elapsed() > Duration::from_secs(60) {
            *entry = (0, std::time::Instant::now());
        }
        entry.0 += 1;
        entry.0
    }

    /// Sets where tenants' ACL changes through the Kafka API are kept (once).
    pub fn keep_acls_in(&self, store: Arc<dyn AclStore>) {
        let _ = self.acl_store.set(store);
    }

    pub(crate) fn acl_store(&self) -> Option<&Arc<dyn AclStore>> {
        self.acl_store.get()
    }

    /// Principal mappings and token revocations now in force.
    pub fn identity(&self) -> Arc<Identity> {
        self.identity.load_full()
    }

    /// Replaces them; the next authentication (or re-authentication) sees the change.
    pub fn set_identity(&self, identity: Identity) {
        self.identity.store(Arc::new(identity));
    }

    fn route_security(&self, route: &str) -> Arc<RouteSecurity> {
        self.security
            .get(route)
            .cloned()
            .unwrap_or_else(|| Arc::new(RouteSecurity::plaintext()))
    }

    /// The virtual clusters that exist now.
    /// Changes whenever the catalog does.
    pub(crate) fn catalog_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.catalog_changes.subscribe()
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.load_full()
    }

    /// Replaces the virtual clusters. Connections check their binding on their next request.
    pub fn set_catalog(&self, catalog: Catalog) {
        self.catalog.store(Arc::new(catalog));
        self.catalog_changes.send_modify(|n| *n += 1);
    }

    fn topic_ids(&self, domain: &str) -> Arc<TopicIds> {
        if let Some(ids) = self.topic_ids.get(domain) {
            return ids.clone();
        }
        self.topic_ids
            .entry(domain.to_string())
            .or_default()
            .clone()
    }

    fn producer_ids(&self, domain: &str) -> Arc<ProducerIds> {
        if let Some(ids) = self.producer_ids.get(domain) {
            return ids.clone();
        }
        self.producer_ids
            .entry(domain.to_string())
            .or_default()
            .clone()
    }

    /// Keeps the producer ids issued to tenants' transactional ids across restarts, one
    /// journal per streaming domain in `dir` (read now, before any connection is served;
    /// appended to off the request path).
    pub fn keep_producer_ids_in(&self, dir: &std::path::Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        for domain in self.topology().domains.keys() {
            let path = dir.join(format!("producer-ids-{domain}.log"));
            let (known, journal) = FileJournal::open(&path)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            let ids = ProducerIds::with_journal(known, Box::new(journal));
            self.producer_ids.insert(domain.clone(), Arc::new(ids));
        }
        Ok(())
    }

    /// The topology new connections use. Readers never block: a swap replaces the pointer.
    pub fn topology(&self) -> Arc<Topology> {
        self.topology.load_full()
    }

    /// Replaces the topology for connections accepted from now on.
    pub fn swap_topology(&self, topology: Topology) {
        self.topology.store(Arc::new(topology));
    }

    /// Binds every listener of every route (all or nothing: a port in use stops start-up with
    /// its route named), then serves them until the process ends.
    pub async fn bind(self: &Arc<Self>) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
        let topology = self.topology();
        let mut listeners = Vec::new();
        for route in topology.routes.values() {
            for (addr, target) in route.brokers.listeners(route.bind) {
                let listener = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("route '{}': cannot listen on {addr}", route.name))?;
                listeners.push((listener, route.name.clone(), target));
            }
            tracing::info!(
                route = %route.name, bootstrap = %route.endpoint, bind = %route.bind,
                node_ports = route.brokers.node_port_count(), domain = %route.domain,
                "route listening"
            );
        }
        self.budget.spawn_reclaimer();
        Ok(listeners
            .into_iter()
            .map(|(listener, route, target)| {
                let route: Arc<str> = route.into();
                let group = self.drain.register(route.clone(), target);
                tokio::spawn(accept_loop(self.clone(), listener, route, target, group))
            })
            .collect())
    }

    /// Lets every client connection go, listener by listener (see [`drain`]). Call it once the
    /// listeners have stopped accepting (abort the tasks [`Gateway::bind`] returned).
    pub async fn drain(&self, timeout: Duration, step: Duration) -> DrainReport {
        self.drain.run(timeout, step).await
    }
}

static ACCEPT_FAILED_LOG: LogLimit = LogLimit::new(DEFAULT_INTERVAL);

async fn accept_loop(
    gateway: Arc<Gateway>,
    listener: TcpListener,
    route: Arc<str>,
    target: Target,
    group: Arc<drain::ListenerGroup>,
) {
    loop {
        match listener.accept().await {
            Ok((socket, peer)) => {
                metrics()
                    .connections_accepted
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // Over a cap: closed before anything is read or spawned.
                let Ok(admitted) = gateway.caps.admit(&route, peer.ip()) else {
                    continue;
                };
                let (member, stop) = gateway.drain.join(&group);
                let accepted = connection::Accepted {
                    socket,
                    peer,
                    route: route.clone(),
                    target,
                    held: (admitted, member),
                    stop,
                };
                tokio::spawn(connection::serve(gateway.clone(), accepted));
            }
            Err(e) => {
                // Out of file descriptors and the like: back off rather than spin.
                if let Some(suppressed) = ACCEPT_FAILED_LOG.allow_for(&route) {
                    tracing::warn!(route = %route, error = %e, suppressed, "accept failed");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Where a listener is; used in logs.
pub fn describe(addr: SocketAddr, target: Target) -> String {
    match target {
        Target::Bootstrap => format!("{addr} (bootstrap)"),
        Target::Node(id) => format!("{addr} (node {id})"),
    }
}
