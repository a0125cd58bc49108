//! The read side of one upstream link, as the sequencer holds it: its buffer, the answers it
//! owes nobody (`acks=0` Produce), and its splicer towards the client.

use std::io;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf, ReadHalf};

use gatehouse_protocol::answers::{front, Front, Unanswered};
use gatehouse_protocol::frame::FrameSplitter;
use gatehouse_routing::upstream::{UpstreamCluster, UpstreamStream};

use crate::io::reserve_for_read;
use crate::splice::Splicer;

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
    pub unanswered: Unanswered,
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
            unanswered: Unanswered::default(),
            splicer: None,
        }
    }

    /// Drops every stray answer wholly buffered at the front (while no answer is awaited).
    pub fn drop_buffered_strays(&mut self, splitter: &FrameSplitter) {
        while let Front::Stray { len, ids } = front(&self.buf, splitter, None, &self.unanswered) {
            self.drop_stray(len, ids);
        }
    }

    /// Drops a stray answer, all of it buffered.
    pub fn drop_stray(&mut self, len: usize, ids: usize) {
        self.unanswered.forget(ids);
        self.buf.advance(len);
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
