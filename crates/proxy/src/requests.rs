//! The request side of a client connection.
//!
//! Frames are read from the client, judged by the authentication gate, mapped by the tenancy
//! stage inside a virtual cluster, and forwarded in batches: every complete frame one read
//! brought in goes upstream in one vectored write, from the buffer it was read into.
//!
//! A large Produce does not wait to be read whole. Once its header and `acks` are in (and,
//! inside a virtual cluster, its one topic's name, mapped in front of the rest), nothing else
//! in it concerns the gateway, so where both legs are plain TCP the bytes read so far are
//! forwarded and the rest (the record batches) goes from the client's socket to the
//! upstream's by splice(2) ([`crate::splice`]). To leave as much as possible in the socket for
//! that, a read that starts a frame takes at most [`HEAD_WINDOW`] bytes.

use std::convert::Infallible;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering::Relaxed;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use tokio::io::{AsyncRead, AsyncReadExt, WriteHalf};
use tokio::sync::mpsc::{self, error::TrySendError};

use gatehouse_protocol::codec::api_versions_too_new;
use gatehouse_protocol::frame::{FrameError, FrameSplitter, Split, LENGTH_PREFIX};
use gatehouse_protocol::header::{produce_acks, RequestHeaderPeek};
use gatehouse_protocol::name_spans::{produce_head_names, ProduceHead};
use gatehouse_protocol::versions::{admit, Admission};
use gatehouse_routing::metrics::metrics;
use gatehouse_routing::upstream::{Login, UpstreamCluster, UpstreamStream};
use gatehouse_routing::Target;
use gatehouse_tenancy::{ResponsePlan, TenantSession};

use crate::budget::{MemoryBudget, Reservation};
use crate::deadlines::{Deadlines, Expired, Phase};
use crate::drain::StopSignal;
use crate::gate::{Gate, Request, Verdict, Watch};
use crate::io::{reserve_for_read, write_batch};
use crate::produce_head::{produce_head, Head};
use crate::responses::{Pending, TenantResponse};
use crate::session::{Binding, Unbound};
use crate::splice::{SpliceError, Splicer, MIN_SPLICE};
use crate::Gateway;

/// Most bytes a read that starts a frame takes: enough for any Produce header, `acks` and
/// topic name (client ids, transactional ids and topic names are short), little enough that
/// the records of a large one are mostly still in the socket when the gateway decides to
/// splice them.
const HEAD_WINDOW: usize = 16 * 1024;

/// Why a connection ended, for the log.
pub(crate) enum End {
    ClientClosed,
    ResponsePumpGone,
    BadInput(&'static str, String),
    Upstream(String),
    Unbound(String),
    /// The gate answered (a failed authentication) and the connection ends after the answer.
    Answered(String),
    /// The gateway is draining: the connection stopped reading, its answers are owed.
    Draining,
    /// A deadline passed (idle, authentication, frame progress).
    TimedOut(Expired),
}

/// What a connection's requests go through: fixed for its life.
pub(crate) struct Pipe<'a> {
    pub gateway: &'a Gateway,
    pub route_vc: Option<&'a str>,
    pub upstream: &'a UpstreamCluster,
    pub target: Target,
    pub splitter: FrameSplitter,
}

/// A request as it goes upstream: the client's frame (or its beginning), or a mapped one in
/// pieces.
enum Forward {
    One(Bytes),
    Pieces(Vec<Bytes>),
}

/// What the response pump needs to know about a forwarded request.
struct Sent {
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    expects_response: bool,
}

/// The connection to the upstream, opened on the first request to forward.
struct Upstream {
    wr: WriteHalf<UpstreamStream>,
    /// Its socket when it is plain TCP (valid while `wr` lives).
    fd: Option<RawFd>,
    /// Made on the first request worth splicing.
    splicer: Option<Splicer>,
}

/// What to do about the incomplete frame at the front of the read buffer.
enum Partial {
    /// Its rest went upstream by splice: the buffer is empty.
    Spliced,
    /// Read more of it; with `head_only`, no more than [`HEAD_WINDOW`] in all, since it may be
    /// worth splicing once its header is in.
    Read { need: usize, head_only: bool },
}

pub(crate) struct RequestPump<'a, R> {
    client: R,
    /// The client's socket when it is plain TCP (valid while `client` lives), until splicing
    /// turns out not to work on this connection.
    client_fd: Option<RawFd>,
    tx: mpsc::Sender<Pending>,
    pipe: &'a Pipe<'a>,
    binding: Binding,
    gate: Gate,
    login: Login,
    buf: BytesMut,
    upstream: Option<Upstream>,
    /// Frames ready for the upstream, written together before the next read.
    batch: Vec<Bytes>,
    deadlines: Option<Deadlines>,
    stop: Option<StopSignal>,
    /// Bytes read from the client so far (spliced ones included), for frame progress.
    bytes_read: u64,
    /// Things queued for the response pump so far (requests whose answers are owed are those
    /// it has not finished with).
    queued: u64,
    /// Whether the client has authenticated (or needs not) and sent a first request: only
    /// then may its frames be larger than `maxUnauthenticatedFrameBytes`.
    trusted: bool,
    /// The share of the gateway's buffer budget the frame being read holds.
    reservation: Option<Reservation>,
    /// Whether the reserved frame is whole (its bytes are written with the next flush).
    reserved_frame_done: bool,
    /// Inside a frame whose rest is being copied after splicing failed: the buffer is empty
    /// between reads, but the frame has begun.
    mid_frame: bool,
}

/// Most of a buffer's allocation kept after a frame larger than this: the rest goes back.
const KEEP_BUFFER: usize = 64 * 1024;

impl<'a, R: AsyncRead + Unpin> RequestPump<'a, R> {
    pub fn new(
        client: R,
        client_fd: Option<RawFd>,
        tx: mpsc::Sender<Pending>,
        pipe: &'a Pipe<'a>,
        binding: Binding,
        gate: Gate,
    ) -> Self {
        let login = if gate.delegated() {
            Login::Client
        } else {
            Login::Gateway
        };
        Self {
            client,
            client_fd,
            tx,
            pipe,
            binding,
            gate,
            login,
            buf: BytesMut::new(),
            upstream: None,
            batch: Vec::new(),
            deadlines: None,
            stop: None,
            bytes_read: 0,
            queued: 0,
            trusted: false,
            reservation: None,
            reserved_frame_done: false,
            mid_frame: false,
        }
    }

    /// Reads client frames and forwards them. Returns when the client closes, sends something
    /// the gateway refuses, a deadline passes, the gateway drains, or the response side ends.
    pub async fn run(mut self, deadlines: Deadlines, stop: StopSignal) -> End {
        (self.deadlines, self.stop) = (Some(deadlines), Some(stop));
        match self.pump().await {
            Err(end) => end,
            Ok(never) => match never {},
        }
    }

    async fn pump(&mut self) -> Result<Infallible, End> {
        loop {
            let (need, head_only) = loop {
                let split = self.splitter().split(&mut self.buf);
                match split.map_err(|e| self.frame_refused(e))? {
                    Split::Frame(frame) => {
                        self.reserved_frame_done = self.reservation.is_some();
                        if let Some(d) = &mut self.deadlines {
                            d.request_read();
                        }
                        self.request(frame.freeze()).await?;
                        self.trusted = self.gate.has_authenticated();
                    }
                    Split::NeedMore(need) => match self.partial(need).await? {
                        Partial::Spliced => {}
                        Partial::Read { need, head_only } => break (need, head_only),
                    },
                }
            };
            self.flush().await?;
            if self.reserved_frame_done {
                self.release_large_frame();
            }
            if !head_only && self.reservation.is_none() {
                self.reserve(need).await?;
            }
            self.read(need, head_only).await?;
        }
    }

    /// Frames are limited to `maxUnauthenticatedFrameBytes` until the client is trusted.
    fn splitter(&self) -> FrameSplitter {
        let limits = &self.pipe.gateway.limits;
        match self.trusted {
            true => self.pipe.splitter,
            false => FrameSplitter::new(limits.max_unauthenticated_frame_bytes),
        }
    }

    fn frame_refused(&self, e: FrameError) -> End {
        let detail = match e {
            FrameError::TooLarge { len, max } if !self.trusted => format!(
                "a frame of {len} bytes before the client authenticated (or as its first \
                 request) is over gateway.maxUnauthenticatedFrameBytes ({max})"
            ),
            FrameError::TooLarge { len, max } => {
                format!("a frame of {len} bytes is over gateway.maxFrameBytes ({max})")
            }
            e => e.to_string(),
        };
        End::BadInput("frame", detail)
    }

    /// Takes the frame at the front of the buffer out of the gateway's buffer budget before
    /// it is read whole, if it is large; waits while the budget is spent.
    async fn reserve(&mut self, need: usize) -> Result<(), End> {
        if self.buf.len() < LENGTH_PREFIX {
            return Ok(());
        }
        let frame_len = self.buf.len() + need;
        if !MemoryBudget::counts(frame_len) {
            return Ok(());
        }
        let budget = &self.pipe.gateway.budget;
        let stop = self.stop.as_mut().expect("set by run");
        tokio::select! {
            reservation = budget.reserve(frame_len) => {
                self.reservation = Some(reservation);
                // Room for the whole frame at once, now that it is counted: growing the
                // buffer read by read would double it (and copy it) several times over.
                self.buf.reserve(need);
                Ok(())
            }
            _ = self.tx.closed() => Err(End::ResponsePumpGone),
            _ = stop.stopped() => Err(End::Draining),
        }
    }

    /// A large frame was written upstream: its share of the budget goes back, and so does the
    /// buffer's large allocation (what remains in it is copied into a small one).
    fn release_large_frame(&mut self) {
        self.reservation = None;
        self.reserved_frame_done = false;
        if self.buf.len() <= KEEP_BUFFER {
            let rest = std::mem::take(&mut self.buf);
            self.buf = BytesMut::from(&rest[..]);
        }
    }

    /// What the connection's deadlines need to know about it now.
    fn phase(&self) -> Phase {
        Phase {
            authenticating: !self.gate.has_authenticated(),
            in_frame: self.mid_frame || !self.buf.is_empty(),
            busy: self
                .deadlines
                .as_ref()
                .is_some_and(|d| d.outstanding(self.queued)),
        }
    }

    /// One whole request frame.
    async fn request(&mut self, frame: Bytes) -> Result<(), End> {
        let gateway = self.pipe.gateway;
        let body = &frame[LENGTH_PREFIX..];
        let peek = RequestHeaderPeek::parse(body).map_err(|e| bad("header", e))?;
        let key = match admit(peek.api_key, peek.api_version) {
            Admission::Forward(key) => key,
            Admission::ApiVersionsTooNew => {
                let answer = api_versions_too_new(peek.correlation_id);
                return self.enqueue(Pending::Local(answer)).await;
            }
            Admission::Refuse(reason) => return Err(bad("unsupported", reason)),
        };
        let version = peek.api_version;
        // Walk the rest of the header so a truncated one is refused here, not upstream.
        let body_at = peek
            .body_offset(key, body)
            .map_err(|e| bad("header", format!("{key:?} v{version}: {e}")))?;
        let expects_response = match key {
            ApiKey::Produce => {
                let acks = produce_acks(version, body, body_at)
                    .map_err(|e| bad("header", format!("Produce v{version}: {e}")))?;
                acks != 0
            }
            _ => true,
        };
        if key == ApiKey::ApiVersions && self.gate.answers_api_versions() {
            let answer = self
                .local_api_versions(version, peek.correlation_id)
                .await?;
            return self.enqueue(Pending::Local(answer)).await;
        }
        // The authentication gate: only ApiVersions and SASL pass before authentication.
        let request = Request {
            key,
            version,
            correlation_id: peek.correlation_id,
            frame: &frame,
        };
        let (binding, route_vc) = (&mut self.binding, self.pipe.route_vc);
        let verdict = (self.gate)
            .check(gateway, request, &mut |p| {
                binding.accept(gateway, p, route_vc)
            })
            .await;
        let watch = match verdict {
            Verdict::Pass => None,
            Verdict::ForwardWatched(w) => Some(w),
            Verdict::Answer(answer) => return self.enqueue(Pending::Local(answer)).await,
            Verdict::AnswerThenClose(answer, why) => {
                self.enqueue(Pending::Local(answer)).await?;
                let _ = self.flush().await;
                return Err(End::Answered(why));
            }
            Verdict::Close(why) => return Err(End::BadInput("authentication", why)),
        };
        // The tenancy stage: passthrough sessions skip it and forward the raw frame.
        let (frames, tenancy) = match self.binding.current(gateway) {
            Err(Unbound(why)) => return Err(End::Unbound(why)),
            Ok(None) => (Forward::One(frame), None),
            Ok(Some(session)) => {
                if !session.may_send(key) {
                    let vc = &session.tenant().name;
                    let why = format!("{key:?} cannot be used inside virtual cluster '{vc}'");
                    return Err(End::BadInput("tenancy", why));
                }
                // A transactional request with another producer id than its own is answered
                // here (INVALID_PRODUCER_ID_MAPPING), never forwarded.
                match session.refusal(key, version, &frame) {
                    // A refused Produce with acks=0 gets no answer, as it would get none.
                    Ok(Some(_)) if !expects_response => return Ok(()),
                    Ok(Some(answer)) => return self.enqueue(Pending::Local(answer)).await,
                    Ok(None) => {}
                    Err(e) => return Err(bad("decode", format!("{key:?} v{version}: {e}"))),
                }
                match session.request(key, version, frame) {
                    Ok((f, plan)) => (Forward::Pieces(f), tenant_response(session, plan)),
                    Err(e) => return Err(bad("decode", format!("{key:?} v{version}: {e}"))),
                }
            }
        };
        let sent = Sent {
            key,
            version,
            correlation_id: peek.correlation_id,
            expects_response,
        };
        self.forward(sent, frames, tenancy, watch).await
    }

    /// Decides about the incomplete frame at the front of the buffer (`need` more bytes to
    /// complete it or its length prefix): a Produce whose rest is large goes on by splice once
    /// its header (and a tenant's topic name) is here; anything else is read whole.
    async fn partial(&mut self, need: usize) -> Result<Partial, End> {
        let read_all = Partial::Read {
            need,
            head_only: false,
        };
        if self.client_fd.is_none() {
            return Ok(read_all);
        }
        let head_only = Partial::Read {
            need,
            head_only: self.buf.len() < HEAD_WINDOW,
        };
        if self.buf.len() < LENGTH_PREFIX {
            return Ok(head_only);
        }
        if need < MIN_SPLICE {
            return Ok(read_all);
        }
        let (peek, acks, transactional) = match produce_head(&self.buf) {
            Head::Produce {
                peek,
                acks,
                transactional,
            } => (peek, acks, transactional),
            Head::Incomplete => return Ok(head_only),
            Head::Other => return Ok(read_all),
        };
        if !self.gate.passes_unread(ApiKey::Produce) {
            return Ok(read_all);
        }
        // (An unbound session is refused when the frame is read whole.)
        let Ok(session) = self
            .binding
            .current(self.pipe.gateway)
            .map(Option::<&_>::cloned)
        else {
            return Ok(read_all);
        };
        // A tenant's Produce is mapped in front of its rest: it must name one topic, whose
        // name is here already.
        let names = match &session {
            None => None,
            Some(s) if !s.may_send(ApiKey::Produce) => return Ok(read_all),
            // Its record batches carry the producer id the tenancy stage checks.
            Some(_) if transactional => return Ok(read_all),
            Some(_) => match produce_head_names(&self.buf, peek.api_version) {
                ProduceHead::Names(names) => Some(names),
                ProduceHead::NeedMore => return Ok(head_only),
                ProduceHead::Whole => return Ok(read_all),
            },
        };
        self.connect().await?;
        if !self.splicer_ready() {
            return Ok(read_all);
        }
        let sent = Sent {
            key: ApiKey::Produce,
            version: peek.api_version,
            correlation_id: peek.correlation_id,
            expects_response: acks != 0,
        };
        let head = self.buf.split().freeze();
        let (frames, tenancy) = match (session, names) {
            (Some(session), Some(names)) => {
                let version = sent.version;
                let (pieces, plan) = session
                    .produce_head(version, head, names)
                    .map_err(|e| bad("decode", format!("Produce v{version}: {e}")))?;
                (Forward::Pieces(pieces), tenant_response(&session, plan))
            }
            _ => (Forward::One(head), None),
        };
        self.forward(sent, frames, tenancy, None).await?;
        self.flush().await?;
        self.splice(need).await?;
        Ok(Partial::Spliced)
    }

    /// Whether the upstream connection can take spliced bytes, making its splicer on first
    /// use. When it cannot (TLS on the upstream leg, out of descriptors), this connection
    /// stops trying.
    fn splicer_ready(&mut self) -> bool {
        let up = self.upstream.as_mut().expect("connected by the caller");
        if up.splicer.is_some() {
            return true;
        }
        if let (Some(client), Some(upstream)) = (self.client_fd, up.fd) {
            // SAFETY: both descriptors belong to sockets this pump holds a handle to
            // (`client`, `up.wr`), so they are open for the duration of this call.
            let counter = &metrics().request_bytes_spliced;
            match unsafe { Splicer::duplicating(client, upstream, counter) } {
                Ok(s) => up.splicer = Some(s),
                Err(e) => tracing::debug!("splice unavailable: {e}"),
            }
        }
        if up.splicer.is_none() {
            self.client_fd = None;
        }
        up.splicer.is_some()
    }

    /// Moves the next `n` bytes the client sends to the upstream inside the kernel; nothing of
    /// them may be buffered here, nor anything be waiting to be written upstream. Where
    /// splicing turns out not to work, copies them instead, and this connection stops trying.
    async fn splice(&mut self, n: usize) -> Result<(), End> {
        debug_assert!(self.buf.is_empty() && self.batch.is_empty());
        let phase = Phase {
            in_frame: true,
            ..self.phase()
        };
        let read_before = self.bytes_read;
        let up = self.upstream.as_mut().expect("connected by the caller");
        let splicer = up.splicer.as_mut().expect("made by the caller");
        // The client's bytes count as read as the splicer takes them: a trickle after a
        // Produce head is closed like any other (frame progress).
        let taken = splicer.taken();
        let base = taken.load(Relaxed);
        let deadlines = self.deadlines.as_mut().expect("set by run");
        deadlines.arm(phase, read_before);
        let moved = {
            let transfer = splicer.transfer(n);
            tokio::pin!(transfer);
            loop {
                tokio::select! {
                    moved = &mut transfer => break moved,
                    _ = self.tx.closed() => return Err(End::ResponsePumpGone),
                    _ = deadlines.wait() => {
                        let read = read_before + (taken.load(Relaxed) - base);
                        deadlines.fired(phase, read).map_err(End::TimedOut)?;
                    }
                }
            }
        };
        self.bytes_read = read_before + (taken.load(Relaxed) - base);
        match moved {
            Ok(()) => return Ok(()),
            Err(SpliceError::Unsupported(e)) => {
                tracing::warn!("forwarding requests through buffers instead: {e}");
                up.splicer = None;
                self.client_fd = None;
            }
            Err(SpliceError::Source(e)) => return Err(closed_mid_request(e)),
            Err(e @ SpliceError::Sink(_)) => return Err(End::Upstream(e.to_string())),
        }
        let mut left = n;
        self.mid_frame = true;
        while left > 0 {
            self.read(left, false).await.map_err(|end| match end {
                End::ClientClosed => closed_mid_request("end of stream"),
                end => end,
            })?;
            let take = left.min(self.buf.len());
            self.batch.push(self.buf.split_to(take).freeze());
            left -= take;
            self.flush().await?;
        }
        self.mid_frame = false;
        Ok(())
    }

    /// Queues the response pump's part of a request, then batches its bytes for the upstream.
    async fn forward(
        &mut self,
        sent: Sent,
        frames: Forward,
        tenancy: Option<Box<TenantResponse>>,
        watch: Option<Watch>,
    ) -> Result<(), End> {
        self.connect().await?;
        if sent.expects_response {
            let pending = Pending::Forwarded {
                correlation_id: sent.correlation_id,
                key: sent.key,
                version: sent.version,
                tenancy,
                watch,
            };
            self.enqueue(pending).await?;
        } else {
            self.enqueue(Pending::Unanswered(sent.correlation_id))
                .await?;
        }
        metrics().requests_forwarded.fetch_add(1, Relaxed);
        match frames {
            Forward::One(frame) => self.batch.push(frame),
            Forward::Pieces(pieces) => self.batch.extend(pieces),
        }
        Ok(())
    }

    /// Opens the upstream connection if it is not open yet.
    async fn connect(&mut self) -> Result<(), End> {
        if self.upstream.is_some() {
            return Ok(());
        }
        let pipe = self.pipe;
        let stream = pipe
            .upstream
            .connect(pipe.target, self.login)
            .await
            .map_err(|e| End::Upstream(e.to_string()))?;
        let fd = stream.plain_tcp().map(|s| s.as_raw_fd());
        let (rd, wr) = tokio::io::split(stream);
        self.upstream = Some(Upstream {
            wr,
            fd,
            splicer: None,
        });
        if fd.is_none() {
            self.client_fd = None; // nothing to splice into
        }
        self.enqueue(Pending::Connected(rd, fd)).await
    }

    /// Reads once from the client (`need` sizes the buffer; `head_only` caps the buffer at
    /// [`HEAD_WINDOW`]), or ends when the response side has.
    async fn read(&mut self, need: usize, head_only: bool) -> Result<(), End> {
        reserve_for_read(&mut self.buf, need);
        let cap = match HEAD_WINDOW.checked_sub(self.buf.len()) {
            Some(room) if head_only && room > 0 => room as u64,
            _ => u64::MAX,
        };
        // A drain stops a connection between frames only: one begun is read and forwarded.
        let stoppable = self.buf.is_empty() && !self.mid_frame;
        loop {
            let phase = self.phase();
            let deadlines = self.deadlines.as_mut().expect("set by run");
            deadlines.arm(phase, self.bytes_read);
            let stop = self.stop.as_mut().expect("set by run");
            let mut client = (&mut self.client).take(cap);
            tokio::select! {
                read = client.read_buf(&mut self.buf) => return match read {
                    Ok(0) | Err(_) => Err(End::ClientClosed),
                    Ok(n) => {
                        self.bytes_read += n as u64;
                        Ok(())
                    }
                },
                _ = self.tx.closed() => return Err(End::ResponsePumpGone),
                _ = stop.stopped(), if stoppable => return Err(End::Draining),
                _ = deadlines.wait() => {}
            }
            let phase = self.phase();
            let deadlines = self.deadlines.as_mut().expect("set by run");
            deadlines
                .fired(phase, self.bytes_read)
                .map_err(End::TimedOut)?;
        }
    }

    /// ApiVersions answered by the gateway from what the upstream offers (asked once on the
    /// gateway's own connection), narrowed for a tenant when the connection is in one.
    async fn local_api_versions(
        &mut self,
        version: i16,
        correlation_id: i32,
    ) -> Result<Bytes, End> {
        let upstream = self.pipe.upstream;
        let mut keys = upstream
            .api_versions()
            .await
            .map_err(|e| End::Upstream(e.to_string()))?;
        if let Ok(Some(_)) = self.binding.current_session() {
            gatehouse_tenancy::table::retain_tenant_keys(&mut keys);
        }
        let header =
            kafka_protocol::messages::ResponseHeader::default().with_correlation_id(correlation_id);
        let body = kafka_protocol::messages::ApiVersionsResponse::default().with_api_keys(keys);
        gatehouse_protocol::codec::encode_response(&header, &body, ApiKey::ApiVersions, version)
            .map_err(|e| End::Upstream(e.to_string()))
    }

    /// Queues what the response pump needs. When the queue is full (the client has the
    /// maximum number of requests in flight), forwards what is batched first, since the
    /// responses the queue is waiting for may depend on it, then waits: the client is not
    /// read meanwhile.
    async fn enqueue(&mut self, pending: Pending) -> Result<(), End> {
        match self.tx.try_send(pending) {
            Ok(()) => {}
            Err(TrySendError::Closed(_)) => return Err(End::ResponsePumpGone),
            Err(TrySendError::Full(pending)) => {
                self.flush().await?;
                let sent = self.tx.send(pending).await;
                sent.map_err(|_| End::ResponsePumpGone)?;
            }
        }
        self.queued += 1;
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), End> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let up = self
            .upstream
            .as_mut()
            .expect("frames are batched only once connected");
        write_batch(&mut up.wr, &mut self.batch)
            .await
            .map_err(|e| End::Upstream(e.to_string()))
    }
}

/// What the response pump needs to un-map the response to a tenant's request.
fn tenant_response(session: &TenantSession, plan: ResponsePlan) -> Option<Box<TenantResponse>> {
    match plan {
        ResponsePlan::Untouched => None,
        ResponsePlan::Map(ctx) => Some(Box::new(TenantResponse {
            session: session.clone(),
            ctx,
        })),
    }
}

fn bad(reason: &'static str, detail: impl ToString) -> End {
    End::BadInput(reason, detail.to_string())
}

/// The client went away with part of a request already forwarded: the upstream connection
/// holds half a frame and must not be used again.
fn closed_mid_request(e: impl std::fmt::Display) -> End {
    bad(
        "frame",
        format!("client closed the connection inside a Produce request: {e}"),
    )
}
