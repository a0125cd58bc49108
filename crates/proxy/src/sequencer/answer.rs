//! Reading one answer off its link and passing it on.
//!
//! * nothing to change ([`ResponseHandling::Forward`]): the bytes are passed on as they
//!   arrive, so a large answer is never held whole;
//! * a Fetch v16+ ([`ResponseHandling::FetchTail`]): everything before its final tagged
//!   fields is passed on as it arrives; only that short tail is held and rewritten in place;
//!
//!   in both, where client and upstream are plain TCP, long runs of bytes the gateway need
//!   not see (a whole answer, or one partition's records) go socket to socket by splice(2);
//! * the rest ([`ResponseHandling::Decode`], small answers such as Metadata): read whole,
//!   decoded once into a [`ResponseMessage`] every stage edits, encoded once if changed.

use bytes::Bytes;
use kafka_protocol::messages::SaslAuthenticateResponse;

use gatehouse_protocol::answers::{front, Front};
use gatehouse_protocol::message::ResponseMessage;
use gatehouse_protocol::scan::FetchTailFinder;
use gatehouse_routing::metrics::metrics;
use gatehouse_routing::rewrite::{route_response_handling, AddressRewriter, ResponseHandling};
use tokio::io::AsyncWrite;

use super::link::LinkReader;
use super::{Expect, Fanout, SeqResult, Sequencer};
use crate::splice::{SpliceError, Splicer, MIN_SPLICE};
use crate::upstreams::LinkId;

impl<W: AsyncWrite + Unpin> Sequencer<W> {
    /// Runs `f` with the link's reader taken out of the sequencer (so both can be borrowed).
    async fn with_link<T>(
        &mut self,
        link: LinkId,
        f: impl AsyncFnOnce(&mut Self, &mut LinkReader) -> SeqResult<T>,
    ) -> SeqResult<T> {
        let mut reader = self
            .links
            .get_mut(link)
            .and_then(Option::take)
            .ok_or_else(|| format!("answer expected on link {link} before it opened"))?;
        let result = f(self, &mut reader).await;
        self.links[link] = Some(reader);
        result
    }

    /// The answer to one forwarded request, passed on with the client's correlation id.
    pub(super) async fn one(&mut self, expect: Expect) -> SeqResult {
        self.with_link(
            expect.link,
            async |seq: &mut Self, reader: &mut LinkReader| seq.answer(reader, expect).await,
        )
        .await
    }

    async fn answer(&mut self, reader: &mut LinkReader, expect: Expect) -> SeqResult {
        let Expect {
            upstream_id,
            client_id,
            key,
            version,
            tenancy,
            watch,
            ..
        } = expect;
        let total = self.find_answer(reader, upstream_id).await?;
        reader.buf[4..8].copy_from_slice(&client_id.to_be_bytes());
        // An answer the tenancy stage must see is held whole, whatever routing needs.
        let handling = match (&tenancy, &watch) {
            (None, None) => route_response_handling(&self.route, key, version),
            _ => ResponseHandling::Decode,
        };
        match handling {
            ResponseHandling::Forward => self.stream(reader, total).await,
            ResponseHandling::FetchTail => self.stream_fetch(reader, total, version).await,
            ResponseHandling::Decode => {
                self.fill(reader, total).await?;
                let frame = reader.buf.split_to(total).freeze();
                let mut message = ResponseMessage::new(key, version, frame);
                // An answer that cannot be rewritten must not reach the client with the
                // upstream's real addresses (or another tenant's names) in it: the session
                // ends instead.
                let host = self.host.clone();
                AddressRewriter::with_host(&self.route, &reader.cluster, host)
                    .rewrite_message(key, version, &mut message)
                    .map_err(|e| format!("{key:?} v{version} response: {e}"))?;
                if let Some(w) = watch {
                    // Reported before the client sees the answer, so the gate knows the
                    // upstream's verdict by the time the client sends anything else.
                    let r = message
                        .body::<SaslAuthenticateResponse>()
                        .map_err(|e| format!("SaslAuthenticate v{version} response: {e}"))?;
                    w.report(r.error_code, r.session_lifetime_ms);
                }
                match tenancy {
                    Some(t) => {
                        let pieces = t
                            .session
                            .response(&t.ctx, message)
                            .map_err(|e| format!("{key:?} v{version} response (tenancy): {e}"))?;
                        self.out.extend(pieces);
                    }
                    None => {
                        let frame = message
                            .into_frame()
                            .map_err(|e| format!("{key:?} v{version} response: {e}"))?;
                        self.out.push(frame);
                    }
                }
                Ok(())
            }
        }
    }

    /// Waits for the answer with the gateway's correlation id `id` at the front of the
    /// link's buffer, dropping stray answers to `acks=0` requests before it; its length.
    async fn find_answer(&mut self, reader: &mut LinkReader, id: i32) -> SeqResult<usize> {
        loop {
            match front(&reader.buf, &self.splitter, Some(id), &reader.unanswered) {
                Front::Answer { len } => {
                    reader.unanswered.clear();
                    return Ok(len);
                }
                Front::Stray { len, ids } => reader.drop_stray(len, ids),
                Front::NeedMore(n) => {
                    let n = reader.buf.len() + n;
                    self.fill(reader, n).await?
                }
                Front::Unexpected(got) => {
                    return Err(format!(
                        "upstream answered correlation id {got:?}, expected {id}"
                    ))
                }
                Front::Bad(e) => return Err(format!("upstream frame: {e}")),
                Front::NoHeader(len) => {
                    return Err(format!(
                        "upstream sent a frame of {len} bytes, shorter than a header"
                    ))
                }
            }
        }
    }

    /// One part of a fan-out, whole.
    async fn whole(&mut self, link: LinkId, id: i32) -> SeqResult<Bytes> {
        self.with_link(link, async |seq: &mut Self, reader: &mut LinkReader| {
            let total = seq.find_answer(reader, id).await?;
            seq.fill(reader, total).await?;
            Ok(reader.buf.split_to(total).freeze())
        })
        .await
    }

    /// Several links' answers, read whole in turn, merged into the client's one.
    pub(super) async fn merged(&mut self, fanout: Fanout) -> SeqResult {
        let Fanout {
            client_id,
            key,
            version,
            parts,
            merge,
        } = fanout;
        let mut frames = Vec::with_capacity(parts.len());
        for (link, id) in parts {
            frames.push(self.whole(link, id).await?);
        }
        let merged = merge(frames).map_err(|e| format!("{key:?} v{version} merge: {e}"))?;
        if merged.len() < 8 {
            return Err(format!(
                "{key:?} v{version} merge: a frame without a header"
            ));
        }
        let mut frame = bytes::BytesMut::from(&merged[..]);
        frame[4..8].copy_from_slice(&client_id.to_be_bytes());
        self.out.push(frame.freeze());
        Ok(())
    }

    /// Passes `total` bytes on as they arrive.
    async fn stream(&mut self, reader: &mut LinkReader, total: usize) -> SeqResult {
        let mut left = total;
        loop {
            let take = left.min(reader.buf.len());
            if take > 0 {
                self.out.push(reader.buf.split_to(take).freeze());
                left -= take;
            }
            if left == 0 {
                return Ok(());
            }
            // Everything buffered of this answer was taken above.
            if left >= MIN_SPLICE && self.splicer_ready(reader) && self.splice(reader, left).await?
            {
                return Ok(());
            }
            self.read_some(reader, left).await?;
        }
    }

    /// Whether bytes can be spliced from this link to the client, making its splicer on
    /// first use. When making it fails (out of descriptors, say), the session keeps the
    /// buffered path.
    fn splicer_ready(&mut self, reader: &mut LinkReader) -> bool {
        if reader.splicer.is_some() {
            return true;
        }
        let (Some(client), Some(upstream)) = (self.client_fd, reader.fd) else {
            return false;
        };
        // SAFETY: both descriptors belong to sockets the sequencer owns a handle to (the
        // client's writer, the link's read half), so they are open for these calls.
        let made =
            unsafe { Splicer::duplicating(upstream, client, &metrics().response_bytes_spliced) };
        match made {
            Ok(s) => reader.splicer = Some(s),
            Err(e) => {
                tracing::debug!(peer = %self.peer, "splice unavailable: {e}");
                self.client_fd = None;
            }
        }
        reader.splicer.is_some()
    }

    /// Moves the next `n` bytes of the link to the client inside the kernel, after whatever
    /// is waiting to be written; nothing of them may be buffered here. False when splicing
    /// turned out not to work here before any byte moved: the caller reads them as usual,
    /// and the session stops trying.
    async fn splice(&mut self, reader: &mut LinkReader, n: usize) -> SeqResult<bool> {
        debug_assert!(reader.buf.is_empty());
        self.flush().await?;
        let splicer = reader.splicer.as_mut().expect("checked by the caller");
        match splicer.transfer(n).await {
            Ok(()) => Ok(true),
            Err(SpliceError::Unsupported(e)) => {
                tracing::warn!(peer = %self.peer, "forwarding through buffers instead: {e}");
                (reader.splicer, self.client_fd) = (None, None);
                Ok(false)
            }
            Err(e @ SpliceError::Source(_)) => Err(format!("upstream {e}")),
            Err(e @ SpliceError::Sink(_)) => Err(format!("client write: {e}")),
        }
    }

    /// Passes a Fetch answer on up to its final tagged fields as it arrives, then rewrites
    /// that tail (same size, so the length prefix already sent stays true).
    async fn stream_fetch(
        &mut self,
        reader: &mut LinkReader,
        total: usize,
        version: i16,
    ) -> SeqResult {
        // The finder sees each byte once and keeps only counters, so what was passed on is
        // released as soon as it is written.
        let mut finder = FetchTailFinder::new(version);
        let mut passed = 0;
        loop {
            let have = reader.buf.len().min(total - passed);
            let found = finder
                .feed(&reader.buf[..have])
                .map_err(|e| format!("Fetch v{version} response: {e}"))?;
            let safe = found.map_or(passed + have, |at| at);
            if safe > passed {
                self.out.push(reader.buf.split_to(safe - passed).freeze());
                passed = safe;
            }
            if found.is_none() && passed == total {
                return Err(format!(
                    "Fetch v{version} response: ends inside its own fields"
                ));
            }
            let opaque = finder.skipping().min(total - passed);
            // A partition's records, not yet read: they need not pass through here.
            // (Everything buffered of this answer was fed and taken above.)
            if found.is_none()
                && opaque >= MIN_SPLICE
                && self.splicer_ready(reader)
                && self.splice(reader, opaque).await?
            {
                finder.skipped(opaque);
                passed += opaque;
                continue;
            }
            if found.is_some() {
                let tail_len = total - passed;
                self.fill(reader, tail_len).await?;
                let tail = reader.buf.split_to(tail_len).freeze();
                let host = self.host.clone();
                let tail = AddressRewriter::with_host(&self.route, &reader.cluster, host)
                    .rewrite_fetch_tail(tail, version)
                    .map_err(|e| format!("Fetch v{version} response: {e}"))?;
                self.out.push(tail);
                return Ok(());
            }
            self.read_some(reader, total - passed).await?;
        }
    }

    /// Reads until at least `n` bytes are buffered.
    async fn fill(&mut self, reader: &mut LinkReader, n: usize) -> SeqResult {
        while reader.buf.len() < n {
            let wanted = n - reader.buf.len();
            self.read_some(reader, wanted).await?;
        }
        Ok(())
    }

    /// Writes what is ready, then reads once from the link (`wanted` sizes the buffer).
    async fn read_some(&mut self, reader: &mut LinkReader, wanted: usize) -> SeqResult {
        // Writing first also drops the last references to the read buffer's earlier chunks,
        // so when it needs more room it reclaims its own allocation instead of a new one.
        self.flush().await?;
        reader
            .read_some(wanted)
            .await
            .map_err(|_| "upstream closed the connection".to_string())
    }
}
