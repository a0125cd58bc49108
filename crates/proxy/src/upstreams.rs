//! A client session's connections to upstream brokers.
//!
//! A session reaches brokers through links, one per [`Destination`] (a broker of a
//! streaming domain, or any broker of it), opened the first time a request needs one. The
//! gateway numbers the requests on each link itself: a request's correlation id is patched
//! on its way out (four bytes in a 12-byte head copied in front of the rest, so a raw frame
//! or a spliced Produce stays zero-copy) and the client's is restored on the answer by the
//! [`crate::sequencer`]. So the gateway can put requests of its own on a link between a
//! client's, and a client reusing a correlation id cannot be confused with anyone else.
//!
//! The write half of each link lives here (the request side writes); its read half goes to
//! the sequencer in a [`Slot::Opened`] queued before the first request on it.

use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::WriteHalf;

use gatehouse_protocol::frame::LENGTH_PREFIX;
use gatehouse_routing::metrics::metrics;
use gatehouse_routing::upstream::{Login, UpstreamCluster, UpstreamStream};
use gatehouse_routing::Target;

use crate::io::write_batch;
use crate::sequencer::Slot;
use crate::splice::Splicer;

/// Where a request goes: a streaming domain (by its listener) and one of its brokers, or
/// whichever broker its bootstrap server is.
#[derive(Debug, Clone)]
pub(crate) struct Destination {
    pub cluster: Arc<UpstreamCluster>,
    pub broker: Target,
}

impl Destination {
    fn same(&self, other: &Destination) -> bool {
        Arc::ptr_eq(&self.cluster, &other.cluster) && self.broker == other.broker
    }
}

/// A link's index in its session (the sequencer's slots name links by it).
pub(crate) type LinkId = usize;

/// Where a request's correlation id sits: after the length prefix, API key and version.
const CORRELATION_AT: usize = LENGTH_PREFIX + 4;
/// The bytes of a request that are copied to patch its correlation id.
pub(crate) const HEAD_LEN: usize = CORRELATION_AT + 4;
/// Patched heads cut from one allocation.
const HEADS_PER_CHUNK: usize = 256;

pub(crate) struct Link {
    pub destination: Destination,
    wr: WriteHalf<UpstreamStream>,
    /// Its socket when it is plain TCP (valid while `wr` lives).
    pub fd: Option<RawFd>,
    /// Client → this upstream, made on the first request worth splicing.
    pub splicer: Option<Splicer>,
    /// The correlation id the next request on this link gets.
    next_id: i32,
    /// Patched request heads are cut from this buffer: it reclaims its allocation once the
    /// heads written are dropped, so a request costs no allocation of its own.
    heads: BytesMut,
    /// Frames ready for this upstream, written together before the client is read again.
    batch: Vec<Bytes>,
}

/// Why a link could not be used.
#[derive(Debug)]
pub(crate) struct LinkError(pub String);

/// The session's links, by destination.
pub(crate) struct UpstreamSet {
    links: Vec<Link>,
    login: Login,
}

impl UpstreamSet {
    /// `login`: whose identity the links carry (the client's own when its SASL exchange is
    /// relayed to the upstream).
    pub fn new(login: Login) -> Self {
        Self {
            links: Vec::new(),
            login,
        }
    }

    /// The link for `destination`, opened now if there is none. A link just opened comes
    /// with the [`Slot::Opened`] that hands its read side to the sequencer: the caller queues
    /// it before any request's slot on the link.
    pub async fn link_for(
        &mut self,
        destination: &Destination,
    ) -> Result<(LinkId, Option<Slot>), LinkError> {
        if let Some(at) = self
            .links
            .iter()
            .position(|l| l.destination.same(destination))
        {
            return Ok((at, None));
        }
        let stream = destination
            .cluster
            .connect(destination.broker, self.login)
            .await
            .map_err(|e| LinkError(e.to_string()))?;
        let fd = stream.plain_tcp().map(|s| s.as_raw_fd());
        let (rd, wr) = tokio::io::split(stream);
        let link = self.links.len();
        self.links.push(Link {
            destination: destination.clone(),
            wr,
            fd,
            splicer: None,
            next_id: 0,
            heads: BytesMut::new(),
            batch: Vec::new(),
        });
        let cluster = destination.cluster.clone();
        Ok((
            link,
            Some(Slot::Opened {
                link,
                rd,
                fd,
                cluster,
            }),
        ))
    }

    pub fn link(&mut self, link: LinkId) -> &mut Link {
        &mut self.links[link]
    }

    /// Writes every link's batch.
    pub async fn flush(&mut self) -> Result<(), LinkError> {
        for link in &mut self.links {
            link.flush().await?;
        }
        Ok(())
    }

    /// Whether any link has frames waiting to be written.
    pub fn has_batched(&self) -> bool {
        self.links.iter().any(|l| !l.batch.is_empty())
    }
}

impl Link {
    /// Batches a request (its frame, or the beginning of it, in pieces) under a correlation
    /// id of this link's; returns that id. The first piece must hold the request's head.
    pub fn send(&mut self, mut pieces: Vec<Bytes>) -> Result<i32, LinkError> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let first = pieces
            .first_mut()
            .filter(|p| p.len() >= HEAD_LEN)
            .ok_or_else(|| LinkError("a request shorter than its header".into()))?;
        if self.heads.capacity() - self.heads.len() < HEAD_LEN {
            // Room for many heads at once: one allocation serves a run of requests, and is
            // reclaimed (or freed) once the heads cut from it have been written.
            self.heads.reserve(HEAD_LEN * HEADS_PER_CHUNK);
        }
        self.heads.extend_from_slice(&first[..CORRELATION_AT]);
        self.heads.extend_from_slice(&id.to_be_bytes());
        let head = self.heads.split().freeze();
        *first = first.slice(HEAD_LEN..);
        metrics()
            .requests_forwarded
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.batch.reserve(pieces.len() + 1);
        self.batch.push(head);
        self.batch
            .extend(pieces.into_iter().filter(|p| !p.is_empty()));
        Ok(id)
    }

    /// Batches bytes that continue the request sent last (the rest of a frame that arrived
    /// in pieces).
    pub fn continue_request(&mut self, rest: Bytes) {
        self.batch.push(rest);
    }

    pub async fn flush(&mut self) -> Result<(), LinkError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        write_batch(&mut self.wr, &mut self.batch)
            .await
            .map_err(|e| LinkError(e.to_string()))
    }
}
