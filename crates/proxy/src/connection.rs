//! One client connection: the request pump and the response pump.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use gatehouse_auth::mtls::principal_from_certificate;
use gatehouse_routing::Route;
use kafka_protocol::messages::ApiKey;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc::{self, error::TrySendError};

use gatehouse_protocol::codec::api_versions_too_new;
use gatehouse_protocol::frame::{FrameSplitter, Split};
use gatehouse_protocol::header::{produce_acks, RequestHeaderPeek};
use gatehouse_protocol::versions::{admit, Admission};
use gatehouse_routing::metrics::metrics;
use gatehouse_routing::upstream::{Login, UpstreamCluster, UpstreamStream};
use gatehouse_routing::Target;
use gatehouse_tenancy::ResponsePlan;

use crate::gate::{Gate, Request, Verdict};
use crate::identity::resolve_virtual_cluster;
use crate::io::{reserve_for_read, write_batch};
use crate::responses::{Pending, ResponsePump, TenantResponse};
use crate::session::{Binding, Unbound};
use crate::{describe, Gateway};

/// Why a connection ended, for the log.
enum End {
    ClientClosed,
    ResponsePumpGone,
    BadInput(&'static str, String),
    Upstream(String),
    Unbound(String),
    /// The gate answered (a failed authentication) and the connection ends after the answer.
    Answered(String),
}

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

pub async fn serve(
    gateway: Arc<Gateway>,
    socket: TcpStream,
    peer: SocketAddr,
    route_name: Arc<str>,
    target: Target,
) {
    let _active = ActiveGuard::new();
    let local = socket.local_addr().ok();
    let _ = socket.set_nodelay(true);
    let topology = gateway.topology();
    let Some(route) = topology.routes.get(&*route_name).cloned() else {
        tracing::warn!(%peer, route = %route_name, "route no longer exists; closing");
        return;
    };
    let Some(upstream) = topology.upstream_for(&route) else {
        tracing::error!(%peer, route = %route_name, "route has no upstream; closing");
        return;
    };
    let where_ = local.map(|a| describe(a, target)).unwrap_or_default();
    tracing::debug!(%peer, route = %route.name, listener = %where_, "client connected");
    let security = gateway.route_security(&route.name);
    let conn = Conn {
        gateway: &gateway,
        route: &route,
        upstream: &upstream,
        peer,
        where_: &where_,
        target,
    };
    match &security.tls {
        None => {
            let gate = Gate::new(security.clone(), None, peer.ip());
            let fd = socket.as_raw_fd();
            let (rd, wr) = socket.into_split();
            conn.run(rd, wr, Some(fd), gate).await
        }
        Some(tls) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.config.clone());
            let stream = match tokio::time::timeout(TLS_HANDSHAKE, acceptor.accept(socket)).await {
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

/// How long a client may take over its TLS handshake.
const TLS_HANDSHAKE: std::time::Duration = std::time::Duration::from_secs(10);

/// One accepted client connection, before and after its transport is set up.
struct Conn<'a> {
    gateway: &'a Arc<Gateway>,
    route: &'a Arc<Route>,
    upstream: &'a Arc<UpstreamCluster>,
    peer: SocketAddr,
    where_: &'a str,
    target: Target,
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
            Binding::new(gateway, vc.as_deref(), &route.domain).map_err(|Unbound(why)| why)
        }) {
            Ok(b) => b,
            Err(why) => return self.refuse("unknown_virtual_cluster", &why),
        };
        if let Some(p) = gate.principal() {
            tracing::debug!(%peer, route = %route.name, principal = %p.name, "client certificate accepted");
        }

        let (tx, rx) = mpsc::channel(gateway.limits.max_in_flight_requests);
        let splitter = FrameSplitter::new(gateway.limits.max_frame_bytes);
        let responses = tokio::spawn(
            ResponsePump::new(
                rx,
                wr,
                route.clone(),
                self.upstream.clone(),
                splitter,
                peer,
                fd,
            )
            .run(),
        );
        let pipe = Pipe {
            gateway,
            route_vc,
            upstream: self.upstream,
            target: self.target,
            splitter,
        };
        let end = request_pump(rd, tx, &pipe, binding, gate).await;
        match &end {
            End::ClientClosed | End::ResponsePumpGone => {}
            End::BadInput(reason, detail) => {
                metrics().client_protocol_error(reason);
                tracing::warn!(%peer, route = %route.name, listener = %where_, "closing client connection: {detail}");
            }
            End::Upstream(detail) => {
                tracing::warn!(%peer, route = %route.name, listener = %where_, "closing client connection: upstream unavailable: {detail}");
            }
            End::Unbound(detail) | End::Answered(detail) => {
                tracing::info!(%peer, route = %route.name, listener = %where_, "closing client connection: {detail}");
            }
        }
        if matches!(end, End::ClientClosed | End::Answered(_)) {
            // Let answers already queued (requests sent before a half-close, or the error
            // that ends a failed authentication) reach the client.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(30), responses).await;
        } else {
            responses.abort();
        }
    }
}

/// A request as it goes upstream: the client's frame, or a mapped one in pieces.
enum Forward {
    One(Bytes),
    Pieces(Vec<Bytes>),
}

/// What the request pump forwards through.
struct Pipe<'a> {
    gateway: &'a Gateway,
    route_vc: Option<&'a str>,
    upstream: &'a UpstreamCluster,
    target: Target,
    splitter: FrameSplitter,
}

/// Reads client frames and forwards them. Returns when the client closes, sends something
/// the gateway refuses, or the response side ends.
async fn request_pump<R: AsyncRead + Unpin>(
    mut client: R,
    tx: mpsc::Sender<Pending>,
    pipe: &Pipe<'_>,
    mut binding: Binding,
    mut gate: Gate,
) -> End {
    let login = if gate.delegated() {
        Login::Client
    } else {
        Login::Gateway
    };
    let Pipe {
        gateway,
        route_vc,
        upstream,
        target,
        splitter,
    } = *pipe;
    let mut buf = BytesMut::new();
    let mut upstream_wr: Option<WriteHalf<UpstreamStream>> = None;
    let mut batch: Vec<Bytes> = Vec::new();
    loop {
        let need = loop {
            let frame = match splitter.split(&mut buf) {
                Ok(Split::Frame(f)) => f.freeze(),
                Ok(Split::NeedMore(n)) => break n,
                Err(e) => return End::BadInput("frame", e.to_string()),
            };
            let body = &frame[4..];
            let peek = match RequestHeaderPeek::parse(body) {
                Ok(p) => p,
                Err(e) => return End::BadInput("header", e.to_string()),
            };
            let key = match admit(peek.api_key, peek.api_version) {
                Admission::Forward(key) => key,
                Admission::ApiVersionsTooNew => {
                    let answer = Pending::Local(api_versions_too_new(peek.correlation_id));
                    if let Err(end) = enqueue(&tx, answer, &mut upstream_wr, &mut batch).await {
                        return end;
                    }
                    continue;
                }
                Admission::Refuse(reason) => {
                    return End::BadInput("unsupported", reason.to_string())
                }
            };
            // Walk the rest of the header so a truncated one is refused here, not upstream.
            let body_at = match peek.body_offset(key, body) {
                Ok(at) => at,
                Err(e) => {
                    return End::BadInput("header", format!("{key:?} v{}: {e}", peek.api_version))
                }
            };
            let expects_response = match key {
                ApiKey::Produce => match produce_acks(peek.api_version, body, body_at) {
                    Ok(acks) => acks != 0,
                    Err(e) => {
                        return End::BadInput(
                            "header",
                            format!("Produce v{}: {e}", peek.api_version),
                        )
                    }
                },
                _ => true,
            };
            // The tenancy stage: passthrough sessions skip it and forward the raw frame.
            if key == ApiKey::ApiVersions && gate.answers_api_versions() {
                let answer = match local_api_versions(
                    upstream,
                    &mut binding,
                    peek.api_version,
                    peek.correlation_id,
                )
                .await
                {
                    Ok(a) => a,
                    Err(e) => return End::Upstream(e),
                };
                if let Err(end) =
                    enqueue(&tx, Pending::Local(answer), &mut upstream_wr, &mut batch).await
                {
                    return end;
                }
                continue;
            }
            // The authentication gate: only ApiVersions and SASL pass before authentication.
            let request = Request {
                key,
                version: peek.api_version,
                correlation_id: peek.correlation_id,
                frame: &frame,
            };
            let verdict = gate.check(gateway, &mut binding, route_vc, request).await;
            let watch = match verdict {
                Verdict::Pass => None,
                Verdict::ForwardWatched(w) => Some(w),
                Verdict::Answer(answer) => {
                    if let Err(end) =
                        enqueue(&tx, Pending::Local(answer), &mut upstream_wr, &mut batch).await
                    {
                        return end;
                    }
                    continue;
                }
                Verdict::AnswerThenClose(answer, why) => {
                    if let Err(end) =
                        enqueue(&tx, Pending::Local(answer), &mut upstream_wr, &mut batch).await
                    {
                        return end;
                    }
                    let _ = flush(&mut upstream_wr, &mut batch).await;
                    return End::Answered(why);
                }
                Verdict::Close(why) => return End::BadInput("authentication", why),
            };
            let (frames, tenancy) = match binding.current(gateway) {
                Err(Unbound(why)) => return End::Unbound(why),
                Ok(None) => (Forward::One(frame), None),
                Ok(Some(session)) => {
                    if !session.may_send(key) {
                        return End::BadInput(
                            "tenancy",
                            format!(
                                "{key:?} cannot be used inside virtual cluster '{}'",
                                session.tenant().name
                            ),
                        );
                    }
                    match session.request(key, peek.api_version, frame) {
                        Ok((f, ResponsePlan::Untouched)) => (Forward::Pieces(f), None),
                        Ok((f, ResponsePlan::Map(ctx))) => (
                            Forward::Pieces(f),
                            Some(Box::new(TenantResponse {
                                session: session.clone(),
                                ctx,
                            })),
                        ),
                        Err(e) => {
                            return End::BadInput(
                                "decode",
                                format!("{key:?} v{}: {e}", peek.api_version),
                            )
                        }
                    }
                }
            };
            if upstream_wr.is_none() {
                match upstream.connect(target, login).await {
                    Ok(stream) => {
                        let fd = stream.plain_tcp().map(|s| s.as_raw_fd());
                        let (rd, wr) = tokio::io::split(stream);
                        upstream_wr = Some(wr);
                        let connected = Pending::Connected(rd, fd);
                        if let Err(end) =
                            enqueue(&tx, connected, &mut upstream_wr, &mut batch).await
                        {
                            return end;
                        }
                    }
                    Err(e) => return End::Upstream(e.to_string()),
                }
            }
            if expects_response {
                let pending = Pending::Forwarded {
                    correlation_id: peek.correlation_id,
                    key,
                    version: peek.api_version,
                    tenancy,
                    watch,
                };
                if let Err(end) = enqueue(&tx, pending, &mut upstream_wr, &mut batch).await {
                    return end;
                }
            }
            metrics().requests_forwarded.fetch_add(1, Relaxed);
            match frames {
                Forward::One(frame) => batch.push(frame),
                Forward::Pieces(pieces) => batch.extend(pieces),
            }
        };
        if let Err(end) = flush(&mut upstream_wr, &mut batch).await {
            return end;
        }
        reserve_for_read(&mut buf, need);
        tokio::select! {
            read = client.read_buf(&mut buf) => match read {
                Ok(0) => return End::ClientClosed,
                Ok(_) => {}
                Err(_) => return End::ClientClosed,
            },
            _ = tx.closed() => return End::ResponsePumpGone,
        }
    }
}

/// ApiVersions answered by the gateway from what the upstream offers (asked once on the
/// gateway's own connection), narrowed for a tenant when the connection is in one.
async fn local_api_versions(
    upstream: &UpstreamCluster,
    binding: &mut Binding,
    version: i16,
    correlation_id: i32,
) -> Result<Bytes, String> {
    let mut keys = upstream.api_versions().await.map_err(|e| e.to_string())?;
    if let Ok(Some(_)) = binding.current_session() {
        gatehouse_tenancy::table::retain_tenant_keys(&mut keys);
    }
    let header =
        kafka_protocol::messages::ResponseHeader::default().with_correlation_id(correlation_id);
    let body = kafka_protocol::messages::ApiVersionsResponse::default().with_api_keys(keys);
    gatehouse_protocol::codec::encode_response(&header, &body, ApiKey::ApiVersions, version)
        .map_err(|e| e.to_string())
}

/// Queues what the response pump needs. When the queue is full (the client has the maximum
/// number of requests in flight), forwards what is batched first, since the responses the
/// queue is waiting for may depend on it, then waits: the client is not read meanwhile.
async fn enqueue(
    tx: &mpsc::Sender<Pending>,
    pending: Pending,
    upstream_wr: &mut Option<WriteHalf<UpstreamStream>>,
    batch: &mut Vec<Bytes>,
) -> Result<(), End> {
    match tx.try_send(pending) {
        Ok(()) => Ok(()),
        Err(TrySendError::Closed(_)) => Err(End::ResponsePumpGone),
        Err(TrySendError::Full(pending)) => {
            flush(upstream_wr, batch).await?;
            tx.send(pending).await.map_err(|_| End::ResponsePumpGone)
        }
    }
}

async fn flush(
    upstream_wr: &mut Option<WriteHalf<UpstreamStream>>,
    batch: &mut Vec<Bytes>,
) -> Result<(), End> {
    if batch.is_empty() {
        return Ok(());
    }
    let wr = upstream_wr
        .as_mut()
        .expect("frames are batched only once connected");
    write_batch(wr, batch)
        .await
        .map_err(|e| End::Upstream(e.to_string()))
}
