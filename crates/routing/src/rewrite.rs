//! Keeping every broker address a client learns a gateway address.
//!
//! Only responses that can carry a broker address are looked at ([`response_handling`]); all
//! others pass through as raw bytes. Each real address seen is
//! recorded in the upstream's node directory (so a later connection to that node's virtual
//! port knows where to go) and replaced with the route's host and the node's gateway port.
//!
//! A broker whose id lies outside every `nodeIdRange` has no gateway port. It is dropped from
//! broker lists (clients then see its partitions as leaderless, which they retry), a
//! coordinator on it is answered COORDINATOR_NOT_AVAILABLE, and it is logged once and counted
//! in `gatehouse_unmapped_node_ids_total` so the operator can widen the range.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::fetch_response::NodeEndpoint as FetchNodeEndpoint;
use kafka_protocol::messages::{
    ApiKey, DescribeClusterResponse, FindCoordinatorResponse, MetadataResponse, ProduceResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::ResponseError;

use gatehouse_protocol::codec::{
    decode_compact_array, edit_api_versions, encode_compact_array, CodecResult,
};
use gatehouse_protocol::message::ResponseMessage;
use gatehouse_protocol::scan::{fetch_tags_offset, produce_has_top_level_tags};
use gatehouse_protocol::tagged::{parse_tagged_section, tagged_section_of_size};
use gatehouse_protocol::versions::intersect;

use crate::metrics::metrics;
use crate::topology::Route;
use crate::upstream::UpstreamCluster;

/// How the routing stage handles a response of this key and version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseHandling {
    /// Carries no broker address: pass the bytes on as they arrive.
    Forward,
    /// May carry broker addresses anywhere: wait for the whole frame and [`AddressRewriter::rewrite`] it.
    Decode,
    /// A Fetch response (v16+) whose only possible addresses are the KIP-951 node_endpoints in
    /// its final tagged fields: pass on everything before them as it arrives (see
    /// `gatehouse_protocol::scan::FetchTailFinder`) and [`AddressRewriter::rewrite_fetch_tail`]
    /// the tail, keeping the frame's length.
    FetchTail,
}

pub fn response_handling(key: ApiKey, version: i16) -> ResponseHandling {
    match key {
        ApiKey::Metadata
        | ApiKey::FindCoordinator
        | ApiKey::DescribeCluster
        | ApiKey::ApiVersions => ResponseHandling::Decode,
        // KIP-951: node_endpoints appear in Produce v10+ (small answers: decode when present)
        // and Fetch v16+ (large answers: stream).
        ApiKey::Produce if version >= 10 => ResponseHandling::Decode,
        ApiKey::Fetch if version >= 16 => ResponseHandling::FetchTail,
        _ => ResponseHandling::Forward,
    }
}

/// Rewrites responses for one route and the upstream it forwards to.
pub struct AddressRewriter<'a> {
    route: &'a Route,
    upstream: &'a UpstreamCluster,
    host: StrBytes,
}

impl<'a> AddressRewriter<'a> {
    pub fn new(route: &'a Route, upstream: &'a UpstreamCluster) -> Self {
        let host = StrBytes::from_string(route.endpoint.host.clone());
        Self {
            route,
            upstream,
            host,
        }
    }

    /// Rewrites the addresses in an answer, through the message every stage shares (decoded
    /// at most once; left as it arrived when nothing needed to change).
    pub fn rewrite(&self, message: &mut ResponseMessage) -> CodecResult<()> {
        let version = message.version();
        match message.key() {
            ApiKey::Metadata => self.each::<MetadataResponse>(message, |r, s| {
                r.brokers
                    .retain_mut(|b| s.virtualise(b.node_id.0, &mut b.host, &mut b.port));
                true
            }),
            ApiKey::DescribeCluster => self.each::<DescribeClusterResponse>(message, |r, s| {
                r.brokers
                    .retain_mut(|b| s.virtualise(b.broker_id.0, &mut b.host, &mut b.port));
                true
            }),
            ApiKey::FindCoordinator => self.each::<FindCoordinatorResponse>(message, |r, s| {
                if version < 4 {
                    s.coordinator(
                        &mut r.error_code,
                        &mut r.node_id.0,
                        &mut r.host,
                        &mut r.port,
                    );
                } else {
                    for c in &mut r.coordinators {
                        s.coordinator(
                            &mut c.error_code,
                            &mut c.node_id.0,
                            &mut c.host,
                            &mut c.port,
                        );
                    }
                }
                true
            }),
            // Walk first: only a response that has top-level tagged fields can carry
            // node_endpoints, and only then is it worth decoding.
            ApiKey::Produce => {
                if let Some(frame) = message.raw() {
                    if !produce_has_top_level_tags(frame, version)? {
                        return Ok(());
                    }
                }
                self.each::<ProduceResponse>(message, |r, s| {
                    !r.node_endpoints.is_empty() && {
                        r.node_endpoints
                            .retain_mut(|n| s.virtualise(n.node_id.0, &mut n.host, &mut n.port));
                        true
                    }
                })
            }
            ApiKey::Fetch if version >= 16 => match message.raw() {
                Some(frame) => {
                    let frame = self.rewrite_fetch_frame(frame.clone(), version)?;
                    message.replace_raw(frame);
                    Ok(())
                }
                None => anyhow::bail!("a Fetch response is rewritten before any stage decodes it"),
            },
            ApiKey::ApiVersions => match message.raw() {
                Some(frame) => {
                    let frame = rewrite_api_versions(frame, version)?;
                    message.replace_raw(frame);
                    Ok(())
                }
                None => anyhow::bail!("an ApiVersions response is rewritten before any stage decodes it"),
            },
            _ => Ok(()),
        }
    }

    /// [`AddressRewriter::rewrite`] for a frame no other stage looks at.
    pub fn rewrite_frame(&self, key: ApiKey, version: i16, frame: Bytes) -> CodecResult<Bytes> {
        let mut message = ResponseMessage::new(key, version, frame);
        self.rewrite(&mut message)?;
        message.into_frame()
    }

    /// Rewrites the top-level tagged fields of a Fetch response (v16+) to exactly their
    /// original size, so bytes before them could already be passed on with the original
    /// length prefix. node_endpoints are virtualised in place and the section padded with an
    /// unknown tag that clients skip; if the rewritten endpoints do not fit (a gateway host
    /// longer than the broker's), they are dropped and clients fall back to a metadata refresh.
    pub fn rewrite_fetch_tail(&self, section: Bytes, version: i16) -> CodecResult<Bytes> {
        if section[..] == [0] {
            return Ok(section);
        }
        let mut fields = parse_tagged_section(&section)?;
        let Some(i) = fields.iter().position(|(tag, _)| *tag == 0) else {
            return Ok(section); // unknown tags only: nothing that names a broker
        };
        let mut endpoints: Vec<FetchNodeEndpoint> =
            decode_compact_array(&mut fields[i].1.clone(), version)?;
        endpoints.retain_mut(|n| self.virtualise(n.node_id.0, &mut n.host, &mut n.port));
        let mut encoded = BytesMut::new();
        encode_compact_array(&mut encoded, &endpoints, version)?;
        fields[i].1 = encoded.freeze();
        metrics()
            .responses_rewritten
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(out) = tagged_section_of_size(&fields, section.len()) {
            return Ok(out.into());
        }
        fields.remove(i);
        tracing::debug!("rewritten node_endpoints do not fit the Fetch response; dropped");
        tagged_section_of_size(&fields, section.len())
            .map(Bytes::from)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "cannot rebuild a Fetch tagged section of {} bytes",
                    section.len()
                )
            })
    }

    /// A whole Fetch frame: the same tail rewrite, spliced back (a copy only when it changed).
    fn rewrite_fetch_frame(&self, frame: Bytes, version: i16) -> CodecResult<Bytes> {
        let at = fetch_tags_offset(&frame, version)?;
        let tail = self.rewrite_fetch_tail(frame.slice(at..), version)?;
        if tail[..] == frame[at..] {
            return Ok(frame);
        }
        let mut out = BytesMut::with_capacity(frame.len());
        out.extend_from_slice(&frame[..at]);
        out.extend_from_slice(&tail);
        Ok(out.freeze())
    }

    /// Lets `edit` change the decoded message (it says whether it did): decoded on first
    /// use, encoded again only if some stage changed it.
    fn each<T: Decodable + Encodable + Send + 'static>(
        &self,
        message: &mut ResponseMessage,
        edit: impl FnOnce(&mut T, &Self) -> bool,
    ) -> CodecResult<()> {
        message.edit::<T>(|body| {
            let changed = edit(body, self);
            if changed {
                metrics()
                    .responses_rewritten
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            changed
        })
    }

    /// Replaces a real broker address with its virtual one. False when the node has no
    /// gateway port (the caller drops the entry).
    fn virtualise(&self, node_id: i32, host: &mut StrBytes, port: &mut i32) -> bool {
        self.upstream.learn(node_id, host, *port);
        match self.route.brokers.port_for(node_id) {
            Some(p) => {
                *host = self.host.clone();
                *port = p as i32;
                true
            }
            None => {
                if metrics().unmapped_node_id(&self.upstream.domain, node_id) {
                    tracing::warn!(
                        domain = %self.upstream.domain, route = %self.route.name, node_id,
                        "broker id is outside every nodeIdRange of the domain; it is hidden from \
                         clients until the range includes it"
                    );
                }
                false
            }
        }
    }

    /// Rewrites one coordinator; one on a node without a gateway port becomes
    /// COORDINATOR_NOT_AVAILABLE (retriable) instead of leaking its real address.
    fn coordinator(&self, error: &mut i16, node_id: &mut i32, host: &mut StrBytes, port: &mut i32) {
        if *error != 0 || self.virtualise(*node_id, host, port) {
            return;
        }
        *error = ResponseError::CoordinatorNotAvailable.code();
        *node_id = -1;
        *host = StrBytes::default();
        *port = -1;
    }
}

/// Narrows the upstream's ApiVersions answer to what the gateway forwards.
fn rewrite_api_versions(frame: &Bytes, version: i16) -> CodecResult<Bytes> {
    edit_api_versions(frame, version, intersect)
}
