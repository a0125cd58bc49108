//! Connection caps, checked as a connection is accepted and before anything is read from it:
//! in total (Kafka's `max.connections`), per route, per client address
//! (`max.connections.per.ip`), and new connections per second per address. A connection over a
//! cap is closed at once, counted by reason and logged (at most once per interval and address).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use gatehouse_routing::log_limit::{LogLimit, DEFAULT_INTERVAL};
use gatehouse_routing::metrics::metrics;

/// The limits, as configured (`gateway.maxConnections`, ...).
#[derive(Debug, Clone)]
pub struct CapLimits {
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// New connections per second per address; 0: no limit.
    pub max_connection_creation_rate_per_ip: u32,
    /// Route name → most connections open at once on it.
    pub route_max_connections: BTreeMap<String, usize>,
}

impl Default for CapLimits {
    fn default() -> Self {
        Self {
            max_connections: usize::MAX,
            max_connections_per_ip: usize::MAX,
            max_connection_creation_rate_per_ip: 0,
            route_max_connections: BTreeMap::new(),
        }
    }
}

/// Why a connection was refused: the label of `gatehouse_connections_refused_total` and the
/// setting that would let it in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    MaxConnections,
    RouteMaxConnections,
    MaxConnectionsPerIp,
    ConnectionRate,
}

impl Refusal {
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::MaxConnections => "max_connections",
            Refusal::RouteMaxConnections => "route_max_connections",
            Refusal::MaxConnectionsPerIp => "max_connections_per_ip",
            Refusal::ConnectionRate => "connection_rate",
        }
    }

    fn setting(self) -> &'static str {
        match self {
            Refusal::MaxConnections => "gateway.maxConnections",
            Refusal::RouteMaxConnections => "routes[].maxConnections",
            Refusal::MaxConnectionsPerIp => "gateway.maxConnectionsPerIp",
            Refusal::ConnectionRate => "gateway.maxConnectionCreationRatePerIp",
        }
    }
}

/// Per client address: connections open, and those opened in the current second.
#[derive(Debug, Clone, Copy)]
struct Address {
    open: usize,
    window_start: Instant,
    created_in_window: u32,
}

/// Addresses remembered at most while none of them has a connection open; a flood of
/// addresses past it is forgotten rather than kept.
const MAX_IDLE_ADDRESSES: usize = 100_000;

pub(crate) struct ConnectionCaps {
    limits: CapLimits,
    open: AtomicUsize,
    routes: BTreeMap<String, AtomicUsize>,
    addresses: DashMap<IpAddr, Address>,
}

/// Holds a connection's place under every cap; gives it back when dropped.
pub(crate) struct Admitted {
    caps: Arc<ConnectionCaps>,
    route: Arc<str>,
    ip: IpAddr,
}

static REFUSED_LOG: LogLimit = LogLimit::new(DEFAULT_INTERVAL);

impl ConnectionCaps {
    pub fn new(limits: CapLimits, routes: impl IntoIterator<Item = String>) -> Self {
        Self {
            routes: routes
                .into_iter()
                .map(|r| (r, AtomicUsize::new(0)))
                .collect(),
            limits,
            open: AtomicUsize::new(0),
            addresses: DashMap::new(),
        }
    }

    /// Takes a place for a new connection from `ip` on `route`, or says which cap it is over
    /// (counted and logged here).
    pub fn admit(self: &Arc<Self>, route: &Arc<str>, ip: IpAddr) -> Result<Admitted, Refusal> {
        let refused = match self.try_admit(route, ip, Instant::now()) {
            Ok(()) => {
                return Ok(Admitted {
                    caps: self.clone(),
                    route: route.clone(),
                    ip,
                })
            }
            Err(r) => r,
        };
        metrics().connection_refused(refused.reason());
        if let Some(suppressed) = REFUSED_LOG.allow_for(&format!("{ip}/{}", refused.reason())) {
            tracing::warn!(peer = %ip, route = %route, reason = refused.reason(), suppressed,
                "refusing client connection: over {} (raise it if this client should be served)",
                refused.setting());
        }
        Err(refused)
    }

    fn try_admit(&self, route: &str, ip: IpAddr, now: Instant) -> Result<(), Refusal> {
        if self.open.fetch_add(1, Relaxed) >= self.limits.max_connections {
            self.open.fetch_sub(1, Relaxed);
            return Err(Refusal::MaxConnections);
        }
        if let Err(r) = self.admit_address(ip, now) {
            self.open.fetch_sub(1, Relaxed);
            return Err(r);
        }
        if let (Some(open), Some(&max)) = (
            self.routes.get(route),
            self.limits.route_max_connections.get(route),
        ) {
            if open.fetch_add(1, Relaxed) >= max {
                open.fetch_sub(1, Relaxed);
                self.release_address(ip);
                self.open.fetch_sub(1, Relaxed);
                return Err(Refusal::RouteMaxConnections);
            }
        } else if let Some(open) = self.routes.get(route) {
            open.fetch_add(1, Relaxed);
        }
        Ok(())
    }

    fn admit_address(&self, ip: IpAddr, now: Instant) -> Result<(), Refusal> {
        let per_ip = self.limits.max_connections_per_ip;
        let rate = self.limits.max_connection_creation_rate_per_ip;
        if per_ip >= self.limits.max_connections && rate == 0 {
            return Ok(()); // the total cap is the tighter one: nothing to count per address
        }
        if self.addresses.len() > MAX_IDLE_ADDRESSES {
            self.addresses.retain(|_, a| a.open > 0);
        }
        let mut a = self.addresses.entry(ip).or_insert(Address {
            open: 0,
            window_start: now,
            created_in_window: 0,
        });
        if a.open >= per_ip {
            return Err(Refusal::MaxConnectionsPerIp);
        }
        if rate > 0 {
            if now.duration_since(a.window_start) >= Duration::from_secs(1) {
                (a.window_start, a.created_in_window) = (now, 0);
            }
            if a.created_in_window >= rate {
                return Err(Refusal::ConnectionRate);
            }
            a.created_in_window += 1;
        }
        a.open += 1;
        Ok(())
    }

    fn release_address(&self, ip: IpAddr) {
        if let Some(mut a) = self.addresses.get_mut(&ip) {
            a.open = a.open.saturating_sub(1);
        }
    }

    /// Connections open now on `route`.
    #[cfg(test)]
    fn open_on(&self, route: &str) -> usize {
        self.routes.get(route).map_or(0, |n| n.load(Relaxed))
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let caps = &self.caps;
        if let Some(open) = caps.routes.get(&*self.route) {
            open.fetch_sub(1, Relaxed);
        }
        caps.release_address(self.ip);
        caps.open.fetch_sub(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(limits: CapLimits) -> Arc<ConnectionCaps> {
        Arc::new(ConnectionCaps::new(
            limits,
            ["r1".to_string(), "r2".to_string()],
        ))
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

    #[test]
    fn one_address_cannot_take_every_place() {
        let caps = caps(CapLimits {
            max_connections_per_ip: 2,
            ..Default::default()
        });
        let route: Arc<str> = "r1".into();
        let held: Vec<_> = (0..2).map(|_| caps.admit(&route, A).unwrap()).collect();
        assert_eq!(
            caps.admit(&route, A).err(),
            Some(Refusal::MaxConnectionsPerIp)
        );
        let other = caps
            .admit(&route, B)
            .expect("another address is still served");
        drop(held);
        let again = caps
            .admit(&route, A)
            .expect("places come back when connections close");
        drop((other, again));
        assert_eq!(caps.open.load(Relaxed), 0);
    }

    #[test]
    fn total_and_route_caps_give_places_back_when_refused() {
        let caps = caps(CapLimits {
            max_connections: 3,
            route_max_connections: [("r1".to_string(), 1)].into(),
            ..Default::default()
        });
        let (r1, r2): (Arc<str>, Arc<str>) = ("r1".into(), "r2".into());
        let first = caps.admit(&r1, A).unwrap();
        assert_eq!(caps.admit(&r1, B).err(), Some(Refusal::RouteMaxConnections));
        assert_eq!(caps.open.load(Relaxed), 1, "a refusal takes no place");
        let _two = caps.admit(&r2, A).unwrap();
        let _three = caps.admit(&r2, B).unwrap();
        assert_eq!(caps.admit(&r2, B).err(), Some(Refusal::MaxConnections));
        assert_eq!(caps.open_on("r1"), 1);
        drop(first);
        assert_eq!(caps.open_on("r1"), 0);
    }

    #[test]
    fn new_connections_per_second_per_address() {
        let caps = ConnectionCaps::new(
            CapLimits {
                max_connection_creation_rate_per_ip: 3,
                ..Default::default()
            },
            ["r1".to_string()],
        );
        let start = Instant::now();
        for _ in 0..3 {
            caps.try_admit("r1", A, start).unwrap();
        }
        assert_eq!(caps.try_admit("r1", A, start), Err(Refusal::ConnectionRate));
        assert!(caps.try_admit("r1", B, start).is_ok());
        let next_second = start + Duration::from_secs(1);
        assert!(caps.try_admit("r1", A, next_second).is_ok());
    }
}
