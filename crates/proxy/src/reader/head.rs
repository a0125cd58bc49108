//! The head of a large Produce, judged by the pipeline before the rest has arrived, and that
//! rest moved from the client's socket to the link's by splice(2) (or copied through the
//! buffer where splicing turns out not to work).

use std::sync::atomic::Ordering::Relaxed;

use kafka_protocol::messages::ApiKey;
use tokio::io::AsyncRead;

use gatehouse_protocol::frame::LENGTH_PREFIX;
use gatehouse_protocol::name_spans::{produce_head_names, ProduceHead};
use gatehouse_routing::metrics::metrics;

use super::{bad, incoming, End, Meta, Partial, RequestPump, HEAD_WINDOW};
use crate::deadlines::Phase;
use crate::pipeline::{Body, Step};
use crate::produce_head::{produce_head, Head};
use crate::splice::{SpliceError, Splicer, MIN_SPLICE};
use crate::upstreams::LinkId;

impl<R: AsyncRead + Unpin> RequestPump<'_, R> {
    /// Decides about the incomplete frame at the front of the buffer (`need` more bytes to
    /// complete it or its length prefix): a Produce whose rest is large goes on by splice once
    /// its head is here and the pipeline forwards it; anything else is read whole.
    pub(super) async fn partial(&mut self, need: usize) -> Result<Partial, End> {
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
        // A tenant's Produce is mapped in front of its rest: its names must all be here.
        let names = match self.pipeline.interested_in(ApiKey::Produce) && !transactional {
            false => None,
            true => match produce_head_names(&self.buf, peek.api_version) {
                ProduceHead::Names(names) => Some(names),
                ProduceHead::NeedMore => return Ok(head_only),
                ProduceHead::Whole => return Ok(read_all),
            },
        };
        if !self.pipeline.head_may_pass(transactional, names.is_some()) {
            return Ok(read_all);
        }
        let link = self.home_link().await?;
        if !self.splicer_ready(link) {
            return Ok(read_all);
        }
        let meta = Meta {
            key: ApiKey::Produce,
            version: peek.api_version,
            correlation_id: peek.correlation_id,
            expects_response: acks != 0,
        };
        let head = Body::Head {
            bytes: self.buf.split().freeze(),
            transactional,
            names,
        };
        let step = self.pipeline.judge(incoming(meta, head)).await;
        if matches!(step, Step::NeedWhole) {
            // `head_may_pass` said it would not: the head is gone from the buffer.
            let why = "a Produce head was refused after it was taken to be forwarded";
            return Err(bad("internal", why));
        }
        self.dispatch(meta, step).await?;
        self.flush().await?;
        self.splice(link, need).await?;
        Ok(Partial::Spliced)
    }

    /// Whether the link can take spliced bytes, making its splicer on first use. When it
    /// cannot (TLS on the upstream leg, out of descriptors), this session stops trying.
    fn splicer_ready(&mut self, link: LinkId) -> bool {
        let client_fd = self.client_fd;
        let up = self.upstreams.link(link);
        if up.splicer.is_some() {
            return true;
        }
        if let (Some(client), Some(upstream)) = (client_fd, up.fd) {
            // SAFETY: both descriptors belong to sockets this session holds a handle to
            // (`client`, the link's write half), so they are open for this call.
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

    /// Moves the next `n` bytes the client sends to the link inside the kernel; nothing of
    /// them may be buffered here, nor anything be waiting to be written upstream. Where
    /// splicing turns out not to work, copies them instead, and this session stops trying.
    async fn splice(&mut self, link: LinkId, n: usize) -> Result<(), End> {
        debug_assert!(self.buf.is_empty() && !self.upstreams.has_batched());
        let phase = Phase {
            in_frame: true,
            ..self.phase()
        };
        let read_before = self.bytes_read;
        let up = self.upstreams.link(link);
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
            let rest = self.buf.split_to(take).freeze();
            self.upstreams.link(link).continue_request(rest);
            left -= take;
            self.flush().await?;
        }
        self.mid_frame = false;
        Ok(())
    }
}

/// The client went away with part of a request already forwarded: the upstream connection
/// holds half a frame and must not be used again.
fn closed_mid_request(e: impl std::fmt::Display) -> End {
    bad(
        "frame",
        format!("client closed the connection inside a Produce request: {e}"),
    )
}
