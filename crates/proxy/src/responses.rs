//! The response side of a client connection.
//!
//! Responses come back from the upstream in request order, and go to the client in that
//! order, interleaved with answers the gateway gives itself. How much of a response is held
//! before it is passed on depends on what the routing stage must do with it:
//!
//! * nothing ([`ResponseHandling::Forward`]): the bytes are passed on as they arrive, so a large
//!   response is never held whole and its first bytes reach the client while the rest is still
//!   on its way;
//! * a Fetch v16+ ([`ResponseHandling::FetchTail`]): everything before its final tagged fields
//!   is passed on as it arrives, and only that short tail is held and rewritten in place;
//!
//!   In both, where client and upstream are plain TCP, long runs of bytes the gateway need not
//!   see (a whole response, or one partition's records) go from socket to socket by splice(2)
//!   ([`crate::splice`]) instead of through the gateway's buffers;
//! * the rest ([`ResponseHandling::Decode`], small answers such as Metadata): the whole frame is
//!   read, decoded, rewritten and re-encoded.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, SaslAuthenticateResponse};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf};
use tokio::sync::mpsc::{self, error::TryRecvError};

use gatehouse_protocol::codec::decode_response;
use gatehouse_protocol::frame::FrameSplitter;
use gatehouse_protocol::header::response_correlation_id;
use gatehouse_protocol::scan::FetchTailFinder;
use gatehouse_routing::metrics::metrics;
use gatehouse_routing::rewrite::{response_handling, AddressRewriter, ResponseHandling};
use gatehouse_routing::upstream::{UpstreamCluster, UpstreamStream};
use gatehouse_routing::Route;
use gatehouse_tenancy::{ResponseContext, TenantSession};

/// What the tenancy stage needs to un-map one response: the session the request was mapped
/// in (a connection's session can change when it re-authenticates) and what mapping it left.
pub(crate) struct TenantResponse {
    pub session: TenantSession,
    pub ctx: Box<ResponseContext>,
}

use crate::deadlines::Activity;
use crate::gate::Watch;
use crate::io::{reserve_for_read, write_batch};
use crate::splice::{SpliceError, Splicer, MIN_SPLICE};

/// What the response pump must do next, in the order the client sent its requests.
pub(crate) enum Pending {
    /// The upstream connection was opened: its read side, and its socket's descriptor when it
    /// is plain TCP (for splicing; valid while the read side lives).
    Connected(ReadHalf<UpstreamStream>, Option<RawFd>),
    /// A forwarded request whose response the upstream will send.
    Forwarded {
        correlation_id: i32,
        key: ApiKey,
        version: i16,
        /// Set when the tenancy stage must un-map the response.
        tenancy: Option<Box<TenantResponse>>,
        /// Set for a relayed SaslAuthenticate: the authentication gate waits for its verdict.
        watch: Option<Watch>,
    },
    /// An answer the gateway gives itself.
    Local(Bytes),
    /// A forwarded Produce with `acks=0`, which Kafka brokers do not answer. Some brokers
    /// (Tansu) answer it anyway; such an answer is dropped instead of being taken for the
    /// next request's.
    Unanswered(i32),
}

/// Most `acks=0` correlation ids remembered: a producer that sends nothing else would otherwise
/// grow the list forever on a broker that never answers them.
const MAX_UNANSWERED: usize = 1024;

pub(crate) struct ResponsePump<W> {
    rx: mpsc::Receiver<Pending>,
    client: W,
    route: Arc<Route>,
    upstream: Arc<UpstreamCluster>,
    splitter: FrameSplitter,
    peer: SocketAddr,
    upstream_rd: Option<ReadHalf<UpstreamStream>>,
    /// The client's socket when it is plain TCP (valid while `client` lives).
    client_fd: Option<RawFd>,
    /// The upstream's socket when it is plain TCP (valid while `upstream_rd` lives).
    upstream_fd: Option<RawFd>,
    /// Made on the first response worth splicing: most connections never need one, and it
    /// holds descriptors (duplicates of both sockets and a pipe).
    splicer: Option<Splicer>,
    buf: BytesMut,
    /// Ready for the client, written together when the pump would otherwise wait.
    out: Vec<Bytes>,
    /// Correlation ids of `acks=0` Produce requests sent since the last answered request, in
    /// order: an answer to one of them is not the client's.
    unanswered: VecDeque<i32>,
    /// When an answer last went to the client (the connection's idle deadline reads it).
    activity: Arc<Activity>,
}

type PumpResult<T = ()> = Result<T, String>;

/// The client's side of the response pump.
pub(crate) struct ClientEnd<W> {
    pub writer: W,
    /// Its socket when it is plain TCP (valid while `writer` lives).
    pub fd: Option<RawFd>,
    pub peer: SocketAddr,
    pub activity: Arc<Activity>,
}

impl<W: AsyncWrite + Unpin> ResponsePump<W> {
    pub fn new(
        rx: mpsc::Receiver<Pending>,
        client: ClientEnd<W>,
        route: Arc<Route>,
        upstream: Arc<UpstreamCluster>,
        splitter: FrameSplitter,
    ) -> Self {
        Self {
            rx,
            client: client.writer,
            route,
            upstream,
            splitter,
            peer: client.peer,
            upstream_rd: None,
            client_fd: client.fd,
            upstream_fd: None,
            splicer: None,
            buf: BytesMut::new(),
            out: Vec::new(),
            unanswered: VecDeque::new(),
            activity: client.activity,
        }
    }

    pub async fn run(mut self) {
        if let Err(e) = self.pump().await {
            tracing::warn!(peer = %self.peer, route = %self.route.name, "closing client connection: {e}");
        }
        let _ = self.client.shutdown().await;
    }

    async fn pump(&mut self) -> PumpResult {
        let (route, upstream) = (self.route.clone(), self.upstream.clone());
        let rewriter = AddressRewriter::new(&route, &upstream);
        while let Some(pending) = self.next_pending().await? {
            match pending {
                Pending::Local(answer) => self.out.push(answer),
                Pending::Unanswered(id) => {
                    if self.unanswered.len() == MAX_UNANSWERED {
                        self.unanswered.pop_front();
                    }
                    self.unanswered.push_back(id);
                }
                Pending::Connected(rd, fd) => {
                    self.upstream_rd = Some(rd);
                    (self.upstream_fd, self.splicer) = (fd, None);
                }
                Pending::Forwarded {
                    correlation_id,
                    key,
                    version,
                    tenancy,
                    watch,
                } => {
                    self.response(&rewriter, correlation_id, key, version, tenancy, watch)
                        .await?
                }
            }
            self.activity.handled_one();
        }
        self.flush().await
    }

    /// The next thing to do; while there is none, writes what is ready and watches for an
    /// upstream that goes away.
    async fn next_pending(&mut self) -> PumpResult<Option<Pending>> {
        match self.rx.try_recv() {
            Ok(p) => return Ok(Some(p)),
            Err(TryRecvError::Disconnected) => return Ok(None),
            Err(TryRecvError::Empty) => {}
        }
        self.flush().await?;
        loop {
            let Some(rd) = self.upstream_rd.as_mut() else {
                return Ok(self.rx.recv().await);
            };
            reserve_for_read(&mut self.buf, 0);
            tokio::select! {
                p = self.rx.recv() => return Ok(p),
                read = rd.read_buf(&mut self.buf) => match read {
                    Ok(0) | Err(_) => return Err("upstream closed the connection".into()),
                    Ok(_) => while let Some((total, ids)) = self.stray_answer() {
                        if total > self.buf.len() {
                            break;
                        }
                        self.drop_stray_answer(total, ids);
                    },
                },
            }
        }
    }

    /// If the frame at the front of the buffer answers an `acks=0` Produce: its whole length,
    /// and how many of the remembered ids it accounts for (its own and the unanswered ones
    /// before it, since answers come in order).
    fn stray_answer(&self) -> Option<(usize, usize)> {
        let total = self.splitter.declared_len(&self.buf).ok()??;
        let got = response_correlation_id(self.buf.get(4..)?)?;
        let at = self.unanswered.iter().position(|&id| id == got)?;
        Some((total, at + 1))
    }

    /// Drops a stray answer, all of it buffered.
    fn drop_stray_answer(&mut self, total: usize, ids: usize) {
        self.unanswered.drain(..ids);
        self.buf.advance(total);
    }

    async fn response(
        &mut self,
        rewriter: &AddressRewriter<'_>,
        correlation_id: i32,
        key: ApiKey,
        version: i16,
        tenancy: Option<Box<TenantResponse>>,
        watch: Option<Watch>,
    ) -> PumpResult {
        let total = loop {
            self.fill(8).await?;
            let total = self
                .splitter
                .declared_len(&self.buf)
                .map_err(|e| format!("upstream frame: {e}"))?
                .expect("the length prefix is buffered");
            let got = response_correlation_id(&self.buf[4..]);
            if got == Some(correlation_id) {
                break total;
            }
            if let Some((stray, ids)) = self.stray_answer() {
                self.fill(stray).await?;
                self.drop_stray_answer(stray, ids);
                continue;
            }
            return Err(format!(
                "upstream answered correlation id {got:?}, expected {correlation_id}"
            ));
        };
        // Every acks=0 request before this one has been answered or never will be.
        self.unanswered.clear();
        // A response the tenancy stage must see is held whole, whatever routing needs.
        let handling = match (&tenancy, &watch) {
            (None, None) => response_handling(key, version),
            _ => ResponseHandling::Decode,
        };
        match handling {
            ResponseHandling::Forward => self.stream(total).await,
            ResponseHandling::FetchTail => self.stream_fetch(rewriter, total, version).await,
            ResponseHandling::Decode => {
                self.fill(total).await?;
                let frame = self.buf.split_to(total).freeze();
                // A response that cannot be rewritten must not reach the client with the
                // upstream's real addresses (or another tenant's names) in it: the
                // connection is closed instead.
                let frame = rewriter
                    .rewrite(key, version, frame)
                    .map_err(|e| format!("{key:?} v{version} response: {e}"))?;
                if let Some(w) = watch {
                    // Reported before the client sees the answer, so the gate knows the
                    // upstream's verdict by the time the client sends anything else.
                    let (_, r) = decode_response::<SaslAuthenticateResponse>(&frame, key, version)
                        .map_err(|e| format!("SaslAuthenticate v{version} response: {e}"))?;
                    w.report(r.error_code, r.session_lifetime_ms);
                }
                match tenancy {
                    Some(t) => {
                        let pieces = t
                            .session
                            .response(key, version, &t.ctx, frame)
                            .map_err(|e| format!("{key:?} v{version} response (tenancy): {e}"))?;
                        self.out.extend(pieces);
                    }
                    None => self.out.push(frame),
                }
                Ok(())
            }
        }
    }

    /// Passes `total` bytes on as they arrive.
    async fn stream(&mut self, total: usize) -> PumpResult {
        let mut left = total;
        loop {
            let take = left.min(self.buf.len());
            if take > 0 {
                self.out.push(self.buf.split_to(take).freeze());
                left -= take;
            }
            if left == 0 {
                return Ok(());
            }
            // Everything buffered of this response was taken above.
            if left >= MIN_SPLICE && self.splicer_ready() && self.splice(left).await? {
                return Ok(());
            }
            self.read_some(left).await?;
        }
    }

    /// Whether bytes can be spliced to the client, making the splicer on first use. When
    /// making it fails (out of descriptors, say), this connection keeps the buffered path.
    fn splicer_ready(&mut self) -> bool {
        if self.splicer.is_some() {
            return true;
        }
        let (Some(client), Some(upstream)) = (self.client_fd, self.upstream_fd) else {
            return false;
        };
        // SAFETY: both descriptors belong to sockets this pump owns a handle to (`client`,
        // `upstream_rd`), so they are open for the duration of these calls.
        let made =
            unsafe { Splicer::duplicating(upstream, client, &metrics().response_bytes_spliced) };
        match made {
            Ok(s) => self.splicer = Some(s),
            Err(e) => {
                tracing::debug!(peer = %self.peer, "splice unavailable: {e}");
                self.client_fd = None;
            }
        }
        self.splicer.is_some()
    }

    /// Moves the next `n` bytes of the upstream connection to the client inside the kernel,
    /// after whatever is waiting to be written; nothing of them may be buffered here. False
    /// when splicing turned out not to work here before any byte moved: the caller reads
    /// them as usual, and this connection stops trying.
    async fn splice(&mut self, n: usize) -> PumpResult<bool> {
        debug_assert!(self.buf.is_empty());
        self.flush().await?;
        let splicer = self.splicer.as_mut().expect("checked by the caller");
        match splicer.transfer(n).await {
            Ok(()) => Ok(true),
            Err(SpliceError::Unsupported(e)) => {
                tracing::warn!(peer = %self.peer, "forwarding through buffers instead: {e}");
                (self.splicer, self.client_fd) = (None, None);
                Ok(false)
            }
            Err(e @ SpliceError::Source(_)) => Err(format!("upstream {e}")),
            Err(e @ SpliceError::Sink(_)) => Err(format!("client write: {e}")),
        }
    }

    /// Passes a Fetch response on up to its final tagged fields as it arrives, then rewrites
    /// that tail (same size, so the length prefix already sent stays true).
    async fn stream_fetch(
        &mut self,
        rewriter: &AddressRewriter<'_>,
        total: usize,
        version: i16,
    ) -> PumpResult {
        // The finder sees each byte once and keeps only counters, so what was passed on is
        // released as soon as it is written.
        let mut finder = FetchTailFinder::new(version);
        let mut passed = 0;
        loop {
            let have = self.buf.len().min(total - passed);
            let found = finder
                .feed(&self.buf[..have])
                .map_err(|e| format!("Fetch v{version} response: {e}"))?;
            let safe = found.map_or(passed + have, |at| at);
            if safe > passed {
                self.out.push(self.buf.split_to(safe - passed).freeze());
                passed = safe;
            }
            if found.is_none() && passed == total {
                return Err(format!(
                    "Fetch v{version} response: ends inside its own fields"
                ));
            }
            let opaque = finder.skipping().min(total - passed);
            // A partition's records, not yet read: they need not pass through here.
            // (Everything buffered of this response was fed and taken above.)
            if found.is_none()
                && opaque >= MIN_SPLICE
                && self.splicer_ready()
                && self.splice(opaque).await?
            {
                finder.skipped(opaque);
                passed += opaque;
                continue;
            }
            if found.is_some() {
                let tail_len = total - passed;
                self.fill(tail_len).await?;
                let tail = self.buf.split_to(tail_len).freeze();
                let tail = rewriter
                    .rewrite_fetch_tail(tail, version)
                    .map_err(|e| format!("Fetch v{version} response: {e}"))?;
                self.out.push(tail);
                return Ok(());
            }
            self.read_some(total - passed).await?;
        }
    }

    /// Reads until at least `n` bytes are buffered.
    async fn fill(&mut self, n: usize) -> PumpResult {
        while self.buf.len() < n {
            self.read_some(n - self.buf.len()).await?;
        }
        Ok(())
    }

    /// Writes what is ready, then reads once from the upstream (`wanted` sizes the buffer).
    async fn read_some(&mut self, wanted: usize) -> PumpResult {
        // Writing first also drops the last references to the read buffer's earlier chunks,
        // so when it needs more room it reclaims its own allocation instead of a new one.
        self.flush().await?;
        let rd = self
            .upstream_rd
            .as_mut()
            .ok_or("response expected before connecting")?;
        reserve_for_read(&mut self.buf, wanted);
        match rd.read_buf(&mut self.buf).await {
            Ok(0) | Err(_) => Err("upstream closed the connection".into()),
            Ok(_) => Ok(()),
        }
    }

    async fn flush(&mut self) -> PumpResult {
        write_batch(&mut self.client, &mut self.out)
            .await
            .map_err(|e| format!("client write: {e}"))?;
        self.activity.answered();
        Ok(())
    }
}
