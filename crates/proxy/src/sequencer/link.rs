//! The read side of one upstream link, as the sequencer holds it: its buffer, the answers it
//! owes nobody (`acks=0` Produce), and its splicer towards the client.

use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf, ReadHalf};

use gatehouse_protocol::frame::FrameSplitter;
use gatehouse_protocol::header::response_correlation_id;
use gatehouse_routing::upstream::{UpstreamCluster, UpstreamStream};

use crate::io::reserve_for_read;
use crate::splice::Splicer;

/// Most `acks=0` correlation ids remembered per link: a producer that sends nothing else
/// would otherwise grow the list forever on a broker that never answers them.
const MAX_UNANSWERED: usize = 1024;

/// Most bytes read ahead from an idle link (answers whose slot is not queued yet).
const MAX_READ_AHEAD: usize = 64 * 1024;

pub(crate) struct LinkReader {
    rd: ReadHalf<UpstreamStream>,
    /// The upstream's socket when it is plain TCP (valid while `rd` lives).
    pub fd: Option<RawFd>,
    pub buf: BytesMut,
    /// Gateway correlation ids of `acks=0` Produce requests sent since the last answered
    /// request on this link, in order: an answer to one of them is nobody's. (The ids are
    /// the gateway's own, so a client reusing its ids cannot make one look like another.)
    unanswered: VecDeque<i32>,
    /// Upstream → client, made on the first answer worth splicing.
    pub splicer: Option<Splicer>,
    /// The upstream listener it reaches (whose addresses its answers carry).
    pub cluster: Arc<UpstreamCluster>,
}

impl LinkReader {
    pub fn new(
        rd: ReadHalf<UpstreamStream>,
        fd: Option<RawFd>,
        cluster: Arc<UpstreamCluster>,
    ) -> Self {
        Self {
            cluster,
            rd,
            fd,
            buf: BytesMut::new(),
            unanswered: VecDeque::new(),
            splicer: None,
        }
    }

    pub fn expect_no_answer(&mut self, id: i32) {
        if self.unanswered.len() == MAX_UNANSWERED {
            self.unanswered.pop_front();
        }
        self.unanswered.push_back(id);
    }

    /// An answer came for a later request: every `acks=0` one before it has been answered
    /// or never will be.
    pub fn answered(&mut self) {
        self.unanswered.clear();
    }

    /// If the frame at the front of the buffer answers an `acks=0` Produce: its whole length,
    /// and how many of the remembered ids it accounts for (its own and the unanswered ones
    /// before it, since answers come in order).
    pub fn stray_answer(&self, splitter: &FrameSplitter) -> Option<(usize, usize)> {
        let total = splitter.declared_len(&self.buf).ok()??;
        let got = response_correlation_id(self.buf.get(4..)?)?;
        let at = self.unanswered.iter().position(|&id| id == got)?;
        Some((total, at + 1))
    }

    /// Drops a stray answer, all of it buffered.
    pub fn drop_stray_answer(&mut self, total: usize, ids: usize) {
        self.unanswered.drain(..ids);
        self.buf.advance(total);
    }

    /// Drops every stray answer wholly buffered at the front.
    pub fn drop_buffered_strays(&mut self, splitter: &FrameSplitter) {
        while let Some((total, ids)) = self.stray_answer(splitter) {
            if total > self.buf.len() {
                break;
            }
            self.drop_stray_answer(total, ids);
        }
    }

    /// Reads once (`wanted` sizes the buffer).
    pub async fn read_some(&mut self, wanted: usize) -> io::Result<()> {
        reserve_for_read(&mut self.buf, wanted);
        match self.rd.read_buf(&mut self.buf).await {
            Ok(0) => Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Reads what has arrived on an idle link (to see it close, and to drop stray answers),
    /// unless it already holds as much read-ahead as it may.
    pub fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.buf.len() >= MAX_READ_AHEAD {
            return Poll::Pending;
        }
        reserve_for_read(&mut self.buf, 0);
        let spare = self.buf.spare_capacity_mut();
        let mut read = ReadBuf::uninit(spare);
        ready!(Pin::new(&mut self.rd).poll_read(cx, &mut read))?;
        let n = read.filled().len();
        if n == 0 {
            return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
        }
        // SAFETY: `poll_read` initialised the first `n` bytes of the spare capacity.
        unsafe { self.buf.set_len(self.buf.len() + n) };
        Poll::Ready(Ok(()))
    }
}
