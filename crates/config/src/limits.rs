//! The `gateway` block: limits and timeouts that protect the gateway from slow, idle, hostile
//! or simply too many clients, and how it shuts down.

use std::time::Duration;

use gatehouse_protocol::frame::DEFAULT_MAX_FRAME_BYTES;

use crate::raw::RawGateway;
use crate::ConfigError;

/// Largest frame length a length prefix can announce.
const MAX_FRAME_LIMIT: u64 = i32::MAX as u64;

/// Kafka's `sasl.server.max.receive.size`: what a client may send before it is authenticated.
pub const DEFAULT_MAX_UNAUTHENTICATED_FRAME_BYTES: usize = 512 * 1024;

/// Settings of the gateway process itself.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    pub max_frame_bytes: usize,
    pub upstream_connect_timeout: Duration,
    /// How long the gateway's own exchanges with an upstream (ApiVersions, discovery, its SASL
    /// login) may take.
    pub upstream_request_timeout: Duration,
    /// Requests a client connection may have outstanding before the gateway stops reading it.
    pub max_in_flight_requests: usize,
    /// Whether record bytes may go socket to socket by splice(2) where both legs are plain TCP.
    pub splice_forwarding: bool,
    pub client: ClientLimits,
    pub drain: DrainSettings,
}

/// What one client, or all of them together, may cost the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientLimits {
    /// Largest frame before the client has authenticated (SASL routes) and, on every route,
    /// for a connection's first request.
    pub max_unauthenticated_frame_bytes: usize,
    /// Request bytes all connections together may hold in the gateway's buffers; a connection
    /// that would go over waits (it is not read) until others have forwarded theirs.
    pub max_buffered_bytes: usize,
    /// A connection with no request and no answer for this long is closed
    /// (Kafka's `connections.max.idle.ms`).
    pub connections_max_idle: Duration,
    /// A SASL route's client must have authenticated this long after it connected.
    pub authentication_timeout: Duration,
    /// A frame that has begun must, within each such window, arrive whole or bring at least
    /// [`ClientLimits::frame_progress_min_bytes`] more.
    pub frame_progress_timeout: Duration,
    pub frame_progress_min_bytes: usize,
    /// Client connections open at once, all routes together (Kafka's `max.connections`).
    pub max_connections: usize,
    /// From one client address (Kafka's `max.connections.per.ip`).
    pub max_connections_per_ip: usize,
    /// New connections per second from one client address; 0: no limit.
    pub max_connection_creation_rate_per_ip: u32,
    /// Per route (`routes[].maxConnections`): most connections open at once on its ports.
    pub route_max_connections: std::collections::BTreeMap<String, usize>,
}

/// How the gateway stops on SIGTERM or a drain call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrainSettings {
    /// The longest a drain waits for answers to requests already sent upstream.
    pub timeout: Duration,
    /// The pause between closing one listener's connections and the next's.
    pub step: Duration,
}

/// Descriptors kept back from client connections for the gateway itself (store, admin API,
/// logs, listeners).
const RESERVED_DESCRIPTORS: u64 = 256;

/// The default connection cap: what the descriptor limit allows, with each client connection
/// holding up to two descriptors (its own and its upstream's; more while splicing).
fn default_max_connections(open_files_limit: u64) -> u64 {
    (open_files_limit.saturating_sub(RESERVED_DESCRIPTORS) / 2).max(16)
}

/// The soft limit on open descriptors of this process.
pub fn open_files_limit() -> u64 {
    #[cfg(unix)]
    {
        // SAFETY: getrlimit only writes the struct it is given.
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
            return limit.rlim_cur;
        }
    }
    1024
}

pub(crate) fn build_gateway(
    g: &RawGateway,
    err: &dyn Fn(&str, String) -> ConfigError,
) -> Result<GatewaySettings, ConfigError> {
    let max_frame_bytes = g.max_frame_bytes.unwrap_or(DEFAULT_MAX_FRAME_BYTES as u64);
    if !(1024..=MAX_FRAME_LIMIT).contains(&max_frame_bytes) {
        return Err(err(
            "gateway.maxFrameBytes",
            format!("must be between 1024 and {MAX_FRAME_LIMIT}"),
        ));
    }
    let positive_ms = |field: &str, value: Option<u64>, default: u64| match value.unwrap_or(default)
    {
        0 => Err(err(field, "must be positive (milliseconds)".into())),
        ms => Ok(Duration::from_millis(ms)),
    };
    let max_in_flight = g.max_in_flight_requests.unwrap_or(1000);
    if !(1..=100_000).contains(&max_in_flight) {
        return Err(err(
            "gateway.maxInFlightRequests",
            "must be between 1 and 100000".into(),
        ));
    }
    let unauthenticated = g
        .max_unauthenticated_frame_bytes
        .unwrap_or(DEFAULT_MAX_UNAUTHENTICATED_FRAME_BYTES as u64);
    if !(1024..=max_frame_bytes).contains(&unauthenticated) {
        return Err(err(
            "gateway.maxUnauthenticatedFrameBytes",
            format!("must be between 1024 and gateway.maxFrameBytes ({max_frame_bytes})"),
        ));
    }
    // Room for a few of the largest frames at once by default.
    let buffered = g
        .max_buffered_bytes
        .unwrap_or((4 * max_frame_bytes).max(512 << 20));
    if buffered < max_frame_bytes {
        return Err(err(
            "gateway.maxBufferedBytes",
            format!(
                "must be at least gateway.maxFrameBytes ({max_frame_bytes}), or a frame that \
                 large could never be read"
            ),
        ));
    }
    let min_bytes = g.frame_progress_min_bytes.unwrap_or(16 * 1024);
    if min_bytes == 0 {
        return Err(err(
            "gateway.frameProgressMinBytes",
            "must be positive".into(),
        ));
    }
    let max_connections = g
        .max_connections
        .unwrap_or_else(|| default_max_connections(open_files_limit()));
    if max_connections == 0 {
        return Err(err("gateway.maxConnections", "must be positive".into()));
    }
    let per_ip = g.max_connections_per_ip.unwrap_or(max_connections);
    if per_ip == 0 {
        return Err(err(
            "gateway.maxConnectionsPerIp",
            "must be positive (omit it for no limit below gateway.maxConnections)".into(),
        ));
    }
    let rate = g.max_connection_creation_rate_per_ip.unwrap_or(0);
    let rate = u32::try_from(rate).map_err(|_| {
        err(
            "gateway.maxConnectionCreationRatePerIp",
            "is too large (new connections per second; 0 or omitted: no limit)".into(),
        )
    })?;
    Ok(GatewaySettings {
        max_frame_bytes: max_frame_bytes as usize,
        upstream_connect_timeout: positive_ms(
            "gateway.upstreamConnectTimeoutMs",
            g.upstream_connect_timeout_ms,
            10_000,
        )?,
        upstream_request_timeout: positive_ms(
            "gateway.upstreamRequestTimeoutMs",
            g.upstream_request_timeout_ms,
            10_000,
        )?,
        max_in_flight_requests: max_in_flight as usize,
        splice_forwarding: g.splice_forwarding.unwrap_or(true),
        client: ClientLimits {
            max_unauthenticated_frame_bytes: unauthenticated as usize,
            max_buffered_bytes: usize::try_from(buffered).unwrap_or(usize::MAX),
            connections_max_idle: positive_ms(
                "gateway.connectionsMaxIdleMs",
                g.connections_max_idle_ms,
                600_000,
            )?,
            authentication_timeout: positive_ms(
                "gateway.authenticationTimeoutMs",
                g.authentication_timeout_ms,
                10_000,
            )?,
            frame_progress_timeout: positive_ms(
                "gateway.frameProgressTimeoutMs",
                g.frame_progress_timeout_ms,
                15_000,
            )?,
            frame_progress_min_bytes: min_bytes as usize,
            max_connections: max_connections as usize,
            max_connections_per_ip: per_ip.min(max_connections) as usize,
            max_connection_creation_rate_per_ip: rate,
            route_max_connections: Default::default(),
        },
        drain: DrainSettings {
            timeout: positive_ms("gateway.drainTimeoutMs", g.drain_timeout_ms, 30_000)?,
            step: Duration::from_millis(g.drain_step_ms.unwrap_or(200)),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(raw: RawGateway) -> Result<GatewaySettings, String> {
        build_gateway(&raw, &|path, reason| ConfigError {
            file: "f".into(),
            path: path.into(),
            reason,
        })
        .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_follow_kafka_where_kafka_has_a_setting() {
        let g = build(RawGateway::default()).unwrap();
        assert_eq!(g.client.max_unauthenticated_frame_bytes, 512 * 1024);
        assert_eq!(g.client.connections_max_idle, Duration::from_secs(600));
        assert_eq!(g.client.authentication_timeout, Duration::from_secs(10));
        assert!(g.client.frame_progress_timeout < Duration::from_secs(60));
        assert!(g.client.max_buffered_bytes >= g.max_frame_bytes);
        assert_eq!(g.client.max_connections_per_ip, g.client.max_connections);
        assert_eq!(g.drain.timeout, Duration::from_secs(30));
    }

    #[test]
    fn the_connection_cap_leaves_descriptors_for_the_gateway() {
        assert_eq!(default_max_connections(4096), (4096 - 256) / 2);
        assert_eq!(default_max_connections(100), 16);
    }

    #[test]
    fn refusals_name_the_field() {
        let e = build(RawGateway {
            max_unauthenticated_frame_bytes: Some(200 << 20),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.contains("gateway.maxUnauthenticatedFrameBytes"), "{e}");
        let e = build(RawGateway {
            max_frame_bytes: Some(10 << 20),
            max_buffered_bytes: Some(1 << 20),
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            e.contains("gateway.maxBufferedBytes: must be at least"),
            "{e}"
        );
        let e = build(RawGateway {
            connections_max_idle_ms: Some(0),
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            e.contains("gateway.connectionsMaxIdleMs: must be positive"),
            "{e}"
        );
        let e = build(RawGateway {
            max_connections_per_ip: Some(0),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.contains("gateway.maxConnectionsPerIp"), "{e}");
    }
}
