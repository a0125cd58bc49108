//! The response sequencer: answers go to the client in the order it sent its requests,
//! whichever upstream link each comes from.
//!
//! The request side queues one [`Slot`] per request, in client order, saying where its answer
//! comes from: one link, several to merge (fan-out: the parts on other links are the gateway's
//! own requests, which the client never sees), the gateway itself, or nowhere (`acks=0`). Kafka answers in
//! order on each connection, so taking the slots in order and reading each answer from its
//! link needs no reorder buffer: a link whose answer is not wanted yet simply is not read
//! (TCP holds it), and the bounded slot queue bounds what a client may have in flight.
//!
//! How much of an answer is held depends on what the stages must do with it (see
//! [`answer`]): passed on as it arrives (spliced socket to socket where both legs are plain
//! TCP), streamed up to a Fetch's final tagged fields, or read whole and rewritten.

mod answer;
mod link;
#[cfg(test)]
mod tests;

use std::future::poll_fn;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use tokio::io::{AsyncWrite, AsyncWriteExt, ReadHalf};
use tokio::sync::mpsc;

use gatehouse_protocol::frame::FrameSplitter;
use gatehouse_routing::upstream::{UpstreamCluster, UpstreamStream};
use gatehouse_routing::Route;
use gatehouse_tenancy::{ResponseContext, TenantSession};

use crate::deadlines::Activity;
use crate::gate::Watch;
use crate::io::write_batch;
use crate::upstreams::LinkId;
use link::LinkReader;

/// What the tenancy stage needs to un-map one answer: the tenant view the request was mapped
/// in (a session's can change when it re-authenticates) and what mapping it left.
pub(crate) struct TenantResponse {
    pub session: TenantSession,
    pub ctx: Box<ResponseContext>,
}

/// Where the next answer the client is owed comes from, in the order it sent its requests.
pub(crate) enum Slot {
    /// A link was opened: its read side, and its socket when plain TCP (for splicing; valid
    /// while the read side lives). Queued before any slot that reads from it.
    Opened {
        link: LinkId,
        rd: ReadHalf<UpstreamStream>,
        fd: Option<RawFd>,
        /// The upstream listener it reaches (whose addresses its answers carry).
        cluster: Arc<UpstreamCluster>,
    },
    /// An answer the gateway gives itself.
    Local(Bytes),
    /// One link's answer.
    One(Expect),
    /// Several links' answers merged into one.
    Merged(Box<Fanout>),
    /// A Produce with `acks=0`: no answer is owed. Some brokers (Tansu) answer anyway; such
    /// an answer is dropped instead of being taken for the next request's.
    Unanswered { link: LinkId, id: i32 },
}

/// One forwarded request whose answer a link owes.
pub(crate) struct Expect {
    pub link: LinkId,
    /// The id the gateway gave the request on its link.
    pub upstream_id: i32,
    /// The id the client gave it, restored on the answer.
    pub client_id: i32,
    pub key: ApiKey,
    pub version: i16,
    /// Set when the tenancy stage must un-map the answer.
    pub tenancy: Option<Box<TenantResponse>>,
    /// Set for a relayed SaslAuthenticate: the authentication gate waits for its verdict.
    pub watch: Option<Watch>,
}

/// A request fanned out to several links, and how their answers become the client's one.
pub(crate) struct Fanout {
    pub client_id: i32,
    pub key: ApiKey,
    pub version: i16,
    /// Each part's link and the id of its request there; answers are read whole, in order.
    pub parts: Vec<(LinkId, i32)>,
    /// The answers' frames (in `parts` order) → the client's frame (any correlation id: the
    /// client's is patched in after).
    pub merge: Box<dyn FnOnce(Vec<Bytes>) -> Result<Bytes, String> + Send>,
}

/// The client's side of the sequencer.
pub(crate) struct ClientEnd<W> {
    pub writer: W,
    /// Its socket when it is plain TCP (valid while `writer` lives).
    pub fd: Option<RawFd>,
    pub peer: SocketAddr,
    pub activity: Arc<Activity>,
}

type SeqResult<T = ()> = Result<T, String>;

pub(crate) struct Sequencer<W> {
    rx: mpsc::Receiver<Slot>,
    client: W,
    client_fd: Option<RawFd>,
    peer: SocketAddr,
    route: Arc<Route>,
    /// The route's host as the address rewriter writes it, made once for the session.
    host: kafka_protocol::protocol::StrBytes,
    links: Vec<Option<LinkReader>>,
    splitter: FrameSplitter,
    /// Ready for the client, written together when the sequencer would otherwise wait.
    out: Vec<Bytes>,
    /// When an answer last went to the client (the connection's idle deadline reads it).
    activity: Arc<Activity>,
}

impl<W: AsyncWrite + Unpin> Sequencer<W> {
    pub fn new(
        rx: mpsc::Receiver<Slot>,
        client: ClientEnd<W>,
        route: Arc<Route>,
        splitter: FrameSplitter,
    ) -> Self {
        Self {
            rx,
            client: client.writer,
            client_fd: client.fd,
            peer: client.peer,
            host: kafka_protocol::protocol::StrBytes::from_string(route.endpoint.host.clone()),
            route,
            links: Vec::new(),
            splitter,
            out: Vec::new(),
            activity: client.activity,
        }
    }

    pub async fn run(mut self) {
        if let Err(e) = self.pump().await {
            tracing::warn!(peer = %self.peer, route = %self.route.name, "closing client connection: {e}");
        }
        let _ = self.client.shutdown().await;
    }

    async fn pump(&mut self) -> SeqResult {
        while let Some(slot) = self.next_slot().await? {
            match slot {
                Slot::Local(answer) => self.out.push(answer),
                Slot::Opened {
                    link,
                    rd,
                    fd,
                    cluster,
                } => {
                    if self.links.len() <= link {
                        self.links.resize_with(link + 1, || None);
                    }
                    self.links[link] = Some(LinkReader::new(rd, fd, cluster));
                }
                Slot::Unanswered { link, id } => self.reader(link)?.unanswered.push(id),
                Slot::One(expect) => self.one(expect).await?,
                Slot::Merged(fanout) => self.merged(*fanout).await?,
            }
            self.activity.handled_one();
        }
        self.flush().await
    }

    fn reader(&mut self, link: LinkId) -> SeqResult<&mut LinkReader> {
        self.links
            .get_mut(link)
            .and_then(Option::as_mut)
            .ok_or_else(|| format!("answer expected on link {link} before it opened"))
    }

    /// The next slot; while there is none, writes what is ready and watches the links (one
    /// that closes ends the session; stray answers are dropped as they come).
    async fn next_slot(&mut self) -> SeqResult<Option<Slot>> {
        match self.rx.try_recv() {
            Ok(s) => return Ok(Some(s)),
            Err(mpsc::error::TryRecvError::Disconnected) => return Ok(None),
            Err(mpsc::error::TryRecvError::Empty) => {}
        }
        self.flush().await?;
        loop {
            let links = &mut self.links;
            let idle = poll_fn(|cx| {
                for reader in links.iter_mut().flatten() {
                    if let Poll::Ready(r) = reader.poll_idle(cx) {
                        return Poll::Ready(r);
                    }
                }
                Poll::Pending
            });
            tokio::select! {
                s = self.rx.recv() => return Ok(s),
                read = idle => {
                    read.map_err(|_| "upstream closed the connection".to_string())?;
                    let splitter = self.splitter;
                    self.links.iter_mut().flatten().for_each(|r| r.drop_buffered_strays(&splitter));
                }
            }
        }
    }

    async fn flush(&mut self) -> SeqResult {
        write_batch(&mut self.client, &mut self.out)
            .await
            .map_err(|e| format!("client write: {e}"))?;
        self.activity.answered();
        Ok(())
    }
}
