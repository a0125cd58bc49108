//! The request side of a client session: reading the client.
//!
//! Frames are read from the client, admitted (header peek, version table), run through the
//! [`crate::pipeline`] stages, and batched on the session's upstream links
//! ([`crate::upstreams`]); every complete frame one read brought in goes upstream in one
//! vectored write per link, from the buffer it was read into. The sequencer
//! ([`crate::sequencer`]) is told, in client order, where each answer will come from.
//!
//! A large Produce does not wait to be read whole. Once its header and `acks` are in (and,
//! inside a virtual cluster, its one topic's name), the pipeline judges its head like any
//! frame; where both legs are plain TCP the bytes read so far are forwarded and the rest (the
//! record batches) goes from the client's socket to the upstream's by splice(2)
//! ([`crate::splice`]). To leave as much as possible in the socket for that, a read that
//! starts a frame takes at most [`HEAD_WINDOW`] bytes.

use std::convert::Infallible;
use std::os::fd::RawFd;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc::{self, error::TrySendError};

use gatehouse_protocol::codec::api_versions_too_new;
use gatehouse_protocol::frame::{FrameError, FrameSplitter, Split, LENGTH_PREFIX};
use gatehouse_protocol::header::{produce_acks, RequestHeaderPeek};
use gatehouse_protocol::versions::{admit, Admission};
use gatehouse_routing::upstream::{Login, UpstreamCluster};
use gatehouse_routing::{Route, Target};

use crate::binding::Unbound;
use crate::budget::{MemoryBudget, Reservation};
use crate::deadlines::{Deadlines, Expired, Phase};
use crate::drain::StopSignal;
use crate::io::reserve_for_read;
use crate::pipeline::{Body, Incoming, Pipeline, Step};
use crate::sequencer::{Expect, Slot};
use crate::upstreams::{Destination, LinkError, LinkId, UpstreamSet};

mod fan_out;
mod head;

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

/// What a session's requests go through: fixed for its life.
pub(crate) struct Pipe<'a> {
    pub route: &'a Arc<Route>,
    /// The upstream listener of the route's streaming domain (the session's home).
    pub upstream: &'a Arc<UpstreamCluster>,
    /// Every domain the route shows, the home one first (one entry on most routes).
    pub domains: Vec<Arc<UpstreamCluster>>,
    pub target: Target,
    pub splitter: FrameSplitter,
    pub limits: &'a crate::ConnectionLimits,
    pub budget: &'a MemoryBudget,
}

/// What the sequencer's slot for a request needs, from its header.
#[derive(Clone, Copy)]
struct Meta {
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    expects_response: bool,
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
    tx: mpsc::Sender<Slot>,
    pipe: &'a Pipe<'a>,
    pipeline: Pipeline<'a>,
    buf: BytesMut,
    upstreams: UpstreamSet,
    /// Where the session's requests go (the router's one destination today).
    home: Destination,
    home_link: Option<LinkId>,
    /// Changes with the catalog: the binding is re-checked then, not at the next request.
    catalog: tokio::sync::watch::Receiver<u64>,
    catalog_follows: bool,
    deadlines: Option<Deadlines>,
    stop: Option<StopSignal>,
    /// Bytes read from the client so far (spliced ones included), for frame progress.
    bytes_read: u64,
    /// Slots queued for the sequencer so far (requests whose answers are owed are those it
    /// has not finished with).
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
        tx: mpsc::Sender<Slot>,
        pipe: &'a Pipe<'a>,
        pipeline: Pipeline<'a>,
    ) -> Self {
        let login = match pipeline.gate.delegated() {
            true => Login::Client,
            false => Login::Gateway,
        };
        let home = Destination {
            cluster: pipe.upstream.clone(),
            broker: pipe.target,
        };
        let catalog = pipeline.gateway.catalog_changes();
        Self {
            client,
            client_fd,
            tx,
            pipe,
            pipeline,
            buf: BytesMut::new(),
            upstreams: UpstreamSet::new(login),
            home,
            home_link: None,
            catalog,
            catalog_follows: true,
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
                        self.trusted = self.pipeline.gate.has_authenticated();
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
        let limits = self.pipe.limits;
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
        let budget = self.pipe.budget;
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
            authenticating: !self.pipeline.gate.has_authenticated(),
            in_frame: self.mid_frame || !self.buf.is_empty(),
            busy: self
                .deadlines
                .as_ref()
                .is_some_and(|d| d.outstanding(self.queued)),
        }
    }

    /// One whole request frame: admitted here, then judged by the pipeline.
    async fn request(&mut self, frame: Bytes) -> Result<(), End> {
        let body = &frame[LENGTH_PREFIX..];
        let peek = RequestHeaderPeek::parse(body).map_err(|e| bad("header", e))?;
        let key = match admit(peek.api_key, peek.api_version) {
            Admission::Forward(key) => key,
            Admission::ApiVersionsTooNew => {
                let answer = api_versions_too_new(peek.correlation_id);
                return self.enqueue(Slot::Local(answer)).await;
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
        if key == ApiKey::ApiVersions && self.pipeline.gate.answers_api_versions() {
            let answer = (self.pipeline)
                .local_api_versions(
                    self.pipe.upstream,
                    &self.pipe.domains,
                    version,
                    peek.correlation_id,
                )
                .await?;
            return self.enqueue(Slot::Local(answer)).await;
        }
        let meta = Meta {
            key,
            version,
            correlation_id: peek.correlation_id,
            expects_response,
        };
        let step = self
            .pipeline
            .judge(incoming(meta, Body::Whole(frame)))
            .await;
        self.dispatch(meta, step).await
    }

    /// Carries out what the pipeline decided about a request.
    async fn dispatch(&mut self, meta: Meta, step: Step) -> Result<(), End> {
        match step {
            Step::Forward {
                pieces,
                tenancy,
                watch,
                to_home_domain,
            } => {
                let link = match to_home_domain {
                    false => self.home_link().await?,
                    true => self.home_domain_link().await?,
                };
                let id = self.upstreams.link(link).send(pieces).map_err(upstream)?;
                let slot = match meta.expects_response {
                    true => Slot::One(Expect {
                        link,
                        upstream_id: id,
                        client_id: meta.correlation_id,
                        key: meta.key,
                        version: meta.version,
                        tenancy,
                        watch,
                    }),
                    false => Slot::Unanswered { link, id },
                };
                self.enqueue(slot).await
            }
            Step::FanOut(parts) => self.fan_out(meta, parts).await,
            Step::Answer(answer) => self.enqueue(Slot::Local(answer)).await,
            Step::Nothing => Ok(()),
            Step::AnswerThenClose(answer, why) => {
                self.enqueue(Slot::Local(answer)).await?;
                let _ = self.flush().await;
                Err(End::Answered(why))
            }
            Step::NeedWhole => unreachable!("only a head can need reading whole"),
            Step::End(end) => Err(end),
        }
    }

    /// The link to any broker of the route's own domain.
    async fn home_domain_link(&mut self) -> Result<LinkId, End> {
        let destination = Destination {
            cluster: self.pipe.domains[0].clone(),
            broker: Target::Bootstrap,
        };
        self.link(&destination).await
    }

    /// The link to the session's own destination (kept: nearly every request takes it).
    async fn home_link(&mut self) -> Result<LinkId, End> {
        if let Some(link) = self.home_link {
            return Ok(link);
        }
        let link = self.link(&self.home.clone()).await?;
        self.home_link = Some(link);
        Ok(link)
    }

    /// The session's link to `destination`, opened (and announced to the sequencer) if it
    /// is not open yet.
    async fn link(&mut self, destination: &Destination) -> Result<LinkId, End> {
        let (link, opened) = self
            .upstreams
            .link_for(destination)
            .await
            .map_err(upstream)?;
        if let Some(slot) = opened {
            if self.upstreams.link(link).fd.is_none() {
                self.client_fd = None; // nothing to splice into
            }
            self.enqueue(slot).await?;
        }
        Ok(link)
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
                changed = self.catalog.changed(), if stoppable && self.catalog_follows => {
                    match changed {
                        Ok(()) => {
                            let gateway = self.pipeline.gateway;
                            let current = self.pipeline.binding.current(gateway);
                            current.map_err(|Unbound(why)| End::Unbound(why))?;
                        }
                        // The gateway is going away: nothing more will change.
                        Err(_) => self.catalog_follows = false,
                    }
                    continue;
                }
                _ = deadlines.wait() => {}
            }
            let phase = self.phase();
            let deadlines = self.deadlines.as_mut().expect("set by run");
            deadlines
                .fired(phase, self.bytes_read)
                .map_err(End::TimedOut)?;
        }
    }

    /// Queues a slot for the sequencer. When the queue is full (the client has the maximum
    /// number of requests in flight), forwards what is batched first, since the answers the
    /// queue is waiting for may depend on it, then waits: the client is not read meanwhile.
    async fn enqueue(&mut self, slot: Slot) -> Result<(), End> {
        match self.tx.try_send(slot) {
            Ok(()) => {}
            Err(TrySendError::Closed(_)) => return Err(End::ResponsePumpGone),
            Err(TrySendError::Full(slot)) => {
                self.flush().await?;
                let sent = self.tx.send(slot).await;
                sent.map_err(|_| End::ResponsePumpGone)?;
            }
        }
        self.queued += 1;
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), End> {
        self.upstreams.flush().await.map_err(upstream)
    }
}

fn incoming(meta: Meta, body: Body) -> Incoming {
    Incoming {
        key: meta.key,
        version: meta.version,
        correlation_id: meta.correlation_id,
        expects_response: meta.expects_response,
        body,
    }
}

fn upstream(e: LinkError) -> End {
    End::Upstream(e.0)
}

fn bad(reason: &'static str, detail: impl ToString) -> End {
    End::BadInput(reason, detail.to_string())
}
