//! One client connection: its transport (TLS, the client certificate's principal), then the
//! session that serves it: the reader ([`crate::reader`]) running each request through the
//! [`crate::pipeline`] onto the session's upstream links, and the [`crate::sequencer`]
//! answering in client order.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use gatehouse_auth::mtls::principal_from_certificate;
use gatehouse_protocol::frame::FrameSplitter;
use gatehouse_routing::log_limit::{LogLimit, DEFAULT_INTERVAL};
use gatehouse_routing::metrics::metrics;
use gatehouse_routing::upstream::UpstreamCluster;
use gatehouse_routing::{Route, Target};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::binding::{Binding, Client, Unbound};
use crate::caps::Admitted;
use crate::deadlines::{Activity, Deadlines};
use crate::drain::{Member, StopSignal};
use crate::gate::Gate;
use crate::identity::resolve_virtual_cluster;
use crate::pipeline::Pipeline;
use crate::reader::{End, Pipe, RequestPump};
use crate::sequencer::{ClientEnd, Sequencer};
use crate::{describe, Gateway};

struct ActiveGuard;
impl ActiveGuard {
    fn new() -> Self {
        metrics().connections_active.fetch_add(1, Relaxed);
        Self
    }
}
impl Drop for ActiveGuard {
    fn drop(&mut self) {
        metrics().connections_active.fetch_sub(1, Relaxed);
    }
}

/// A connection the listener let in: its socket, where it came from and arrived, and its
/// places under the connection caps and in its listener's drain group (held until it ends).
pub(crate) struct Accepted {
    pub socket: TcpStream,
    pub peer: SocketAddr,
    pub route: Arc<str>,
    pub target: Target,
    pub held: (Admitted, Member),
    pub stop: StopSignal,
}

pub(crate) async fn serve(gateway: Arc<Gateway>, accepted: Accepted) {
    let Accepted {
        socket,
        peer,
        route: route_name,
        target,
        held: _held,
        stop,
    } = accepted;
    let _active = ActiveGuard::new();
    let local = socket.local_addr().ok();
    let _ = socket.set_nodelay(true);
    let topology = gateway.topology();
    let Some(route) = topology.routes.get(&*route_name).cloned() else {
        tracing::warn!(%peer, route = %route_name, "route no longer exists; closing");
        return;
    };
    // A virtual broker port names a broker of one of the route's domains (virtual node ids).
    let Some((upstream, upstream_target)) = topology.upstream_for_target(&route, target) else {
        tracing::error!(%peer, route = %route_name, ?target, "route has no upstream for this listener; closing");
        return;
    };
    // Every domain the route shows, its own first: a fan-out asks each of them.
    let additional = route.nodes.additional().iter();
    let domains = (topology.upstream_for(&route).into_iter())
        .chain(additional.filter_map(|d| topology.upstream_of(&d.domain, &d.listener)))
        .collect();
    let where_ = local.map(|a| describe(a, target)).unwrap_or_default();
    tracing::debug!(%peer, route = %route.name, listener = %where_, "client connected");
    let security = gateway.route_security(&route.name);
    let conn = Conn {
        gateway: &gateway,
        route: &route,
        upstream: &upstream,
        domains,
        peer,
        where_: &where_,
        target: upstream_target,
        stop,
    };
    match &security.tls {
        None => {
            let gate = Gate::new(security.clone(), None, peer.ip());
            // Splicing needs the client's socket; without it both pumps use their buffers.
            let fd = gateway.limits.splice_forwarding.then(|| socket.as_raw_fd());
            let (rd, wr) = socket.into_split();
            conn.run(rd, wr, fd, gate).await
        }
        Some(tls) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.config.clone());
            let handshake = gateway
                .limits
                .deadlines
                .authentication_timeout
                .min(TLS_HANDSHAKE);
            let stream = match tokio::time::timeout(handshake, acceptor.accept(socket)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    return conn.refuse("tls_handshake", &format!("TLS handshake failed: {e}"))
                }
                Err(_) => return conn.refuse("tls_handshake", "TLS handshake timed out"),
            };
            let cert = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first());
            let principal = match cert.map(|c| principal_from_certificate(&tls.principal_mapper, c))
            {
                None => None,
                Some(Ok(p)) => Some(p),
                Some(Err(e)) => return conn.refuse("client_certificate", &e.to_string()),
            };
            let gate = Gate::new(security.clone(), principal, peer.ip());
            let (rd, wr) = tokio::io::split(stream);
            conn.run(rd, wr, None, gate).await
        }
    }
}

static UPSTREAM_UNAVAILABLE_LOG: LogLimit = LogLimit::new(DEFAULT_INTERVAL);
static TIMED_OUT_LOG: LogLimit = LogLimit::new(DEFAULT_INTERVAL);

/// How long a client may take over its TLS handshake (or less: the authentication timeout).
const TLS_HANDSHAKE: std::time::Duration = std::time::Duration::from_secs(10);

/// One accepted client connection, before and after its transport is set up.
struct Conn<'a> {
    gateway: &'a Arc<Gateway>,
    route: &'a Arc<Route>,
    upstream: &'a Arc<UpstreamCluster>,
    domains: Vec<Arc<UpstreamCluster>>,
    peer: SocketAddr,
    where_: &'a str,
    target: Target,
    stop: StopSignal,
}

impl Conn<'_> {
    fn refuse(&self, reason: &'static str, why: &str) {
        // No Kafka error fits a connection that cannot be served at all; a broker closes it,
        // and the operator sees why here and in the metrics.
        metrics().connection_refused(reason);
        tracing::warn!(peer = %self.peer, route = %self.route.name, listener = %self.where_,
            "refusing client connection: {why}");
    }

    /// Serves the connection; `fd` is the client's socket when it is plain TCP (valid while
    /// `wr` lives).
    async fn run<R, W>(&self, rd: R, wr: W, fd: Option<RawFd>, gate: Gate)
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (gateway, route, peer, where_) = (self.gateway, self.route, self.peer, self.where_);
        // Before SASL (or without it), the connection is in the route's virtual cluster, or
        // the one its certificate's principal maps to.
        let route_vc = route.virtual_cluster.as_deref();
        let initial = match gate.principal() {
            Some(p) if gate.is_open() => resolve_virtual_cluster(gateway, p, route_vc),
            None if gate.is_open() && route_vc.is_none() && gateway.auth.mandatory_virtual_cluster => {
                Err("an anonymous client on a route without a virtual cluster, and this gateway requires one".into())
            }
            _ => Ok(route_vc.map(str::to_string)),
        };
        let binding = match initial.and_then(|vc| {
            let client = Client::new(gate.principal(), peer.ip());
            Binding::new(
                gateway,
                vc.as_deref(),
                &route.domain,
                &self.upstream.domain,
                client,
            )
            .map_err(|Unbound(why)| why)
        }) {
            Ok(b) => b,
            Err(why) => return self.refuse("unknown_virtual_cluster", &why),
        };
        if let Some(p) = gate.principal() {
            tracing::debug!(%peer, route = %route.name, principal = %p.name, "client certificate accepted");
        }

        let (tx, rx) = mpsc::channel(gateway.limits.max_in_flight_requests);
        let splitter = FrameSplitter::new(gateway.limits.max_frame_bytes);
        let activity = Activity::new();
        let client = ClientEnd {
            writer: wr,
            fd,
            peer,
            activity: activity.clone(),
        };
        let responses = tokio::spawn(Sequencer::new(rx, client, route.clone(), splitter).run());
        let pipe = Pipe {
            route,
            upstream: self.upstream,
            domains: self.domains.clone(),
            target: self.target,
            splitter,
            limits: &gateway.limits,
            budget: &gateway.budget,
        };
        let pipeline = Pipeline::new(gateway, route, gate, binding);
        let deadlines = Deadlines::new(gateway.limits.deadlines.clone(), activity);
        let end = RequestPump::new(rd, fd, tx, &pipe, pipeline)
            .run(deadlines, self.stop.clone())
            .await;
        match &end {
            End::ClientClosed | End::ResponsePumpGone => {}
            End::Draining => {
                tracing::debug!(%peer, route = %route.name, listener = %where_, "letting client connection go: the gateway is draining");
            }
            End::TimedOut(expired) => {
                metrics().connection_closed(expired.reason);
                if let Some(suppressed) = TIMED_OUT_LOG.allow_for(expired.reason) {
                    tracing::info!(%peer, route = %route.name, listener = %where_, suppressed,
                        "closing client connection: {}", expired.detail);
                }
            }
            End::BadInput(reason, detail) => {
                metrics().client_protocol_error(reason);
                tracing::warn!(%peer, route = %route.name, listener = %where_, "closing client connection: {detail}");
            }
            End::Upstream(detail) => {
                // Every client of a route reconnects during an outage: one line per interval.
                if let Some(suppressed) = UPSTREAM_UNAVAILABLE_LOG.allow_for(&route.name) {
                    tracing::warn!(%peer, route = %route.name, listener = %where_, suppressed,
                        "closing client connection: upstream unavailable: {detail}");
                }
            }
            End::Unbound(detail) | End::Answered(detail) => {
                tracing::info!(%peer, route = %route.name, listener = %where_, "closing client connection: {detail}");
            }
        }
        if matches!(end, End::ClientClosed | End::Answered(_) | End::Draining) {
            // Let answers already queued (requests sent before a half-close, the error that
            // ends a failed authentication, or every answer owed before a drain closes the
            // connection) reach the client.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(30), responses).await;
        } else {
            responses.abort();
        }
    }
}
