//! Keeping every broker address a client learns a gateway address.
//!
//! Only responses that can carry a broker address (or, on a multi-domain route, a node id)
//! are looked at ([`route_response_handling`]); all others pass through as raw bytes. Each real address seen is
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
    ApiKey, ApiVersionsResponse, DescribeClusterResponse, FetchResponse, FindCoordinatorResponse,
    MetadataResponse, ProduceResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::ResponseError;

use gatehouse_protocol::codec::{
    decode_compact_array, edit_api_versions, encode_compact_array, CodecResult,
};
use gatehouse_protocol::scan::{fetch_tags_offset, produce_has_top_level_tags};
use gatehouse_protocol::tagged::{parse_tagged_section, tagged_section_of_size};
use gatehouse_protocol::versions::intersect;

use crate::metrics::metrics;
use crate::node_fields::{needs_response_rewrite, Mapper};
use crate::node_responses as ids;
use crate::topology::Route;
use crate::upstream::UpstreamCluster;
use gatehouse_protocol::message::ResponseMessage;

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

/// How `route` handles a response of this key and version: [`response_handling`] when its
/// node map is the identity; `Decode` for every key the node-id table names when it is not
/// (Fetch included: its partitions carry ids before the streamed tail).
pub fn route_response_handling(route: &Route, key: ApiKey, version: i16) -> ResponseHandling {
    if !route.nodes.is_identity() && needs_response_rewrite(key, version) {
        return ResponseHandling::Decode;
    }
    response_handling(key, version)
}

/// Rewrites responses for one route and one upstream (domain) it forwards to.
///
/// On a route whose [`NodeMap`](crate::nodes::NodeMap) is the identity only addresses change,
/// as they always did. On a multi-domain route every node id of the table
/// ([`crate::node_fields`]) becomes the route's virtual id for this upstream's domain, and
/// Metadata and DescribeCluster carry the route's cluster id ([`Route::cluster_id`]).
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

    /// A rewriter whose host string the caller made once (a session keeps one for all its
    /// answers instead of allocating it per answer).
    pub fn with_host(route: &'a Route, upstream: &'a UpstreamCluster, host: StrBytes) -> Self {
        Self {
            route,
            upstream,
            host,
        }
    }

    fn maps_ids(&self) -> bool {
        !self.route.nodes.is_identity()
    }

    /// Upstream → virtual for this upstream's domain.
    fn translate(&self, upstream_id: i32) -> Option<i32> {
        self.route
            .nodes
            .to_virtual(&self.upstream.domain, upstream_id)
    }

    /// The frame to send the client: the original when nothing needed to change.
    pub fn rewrite(&self, key: ApiKey, version: i16, frame: Bytes) -> CodecResult<Bytes> {
        let mut message = ResponseMessage::new(key, version, frame);
        self.rewrite_message(key, version, &mut message)?;
        message.into_frame()
    }

    /// [`Self::rewrite`] on a message the pipeline holds: decoded at most once whatever other
    /// stages read of it (tenancy), encoded again only if some stage changed it. The byte-level
    /// rewrites (Fetch tail, ApiVersions, the Produce tag walk) are used while it is raw.
    pub fn rewrite_message(
        &self,
        key: ApiKey,
        version: i16,
        msg: &mut ResponseMessage,
    ) -> CodecResult<()> {
        let mapped = self.maps_ids();
        match key {
            ApiKey::Metadata => self.each::<MetadataResponse>(msg, |r, s| {
                s.metadata(r);
                true
            }),
            ApiKey::DescribeCluster => self.each::<DescribeClusterResponse>(msg, |r, s| {
                s.describe_cluster(r);
                true
            }),
            ApiKey::FindCoordinator => self.each::<FindCoordinatorResponse>(msg, |r, s| {
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
            // node_endpoints, and only then is it worth decoding (unless ids are mapped).
            ApiKey::Produce if !mapped && !has_top_level_tags(msg, version)? => Ok(()),
            ApiKey::Produce => self.each::<ProduceResponse>(msg, |r, s| {
                let translate = |id| s.translate(id);
                let mut m = Mapper::new(&translate);
                if s.maps_ids() {
                    ids::produce(r, &mut m);
                }
                let endpoints = !r.node_endpoints.is_empty();
                r.node_endpoints
                    .retain_mut(|n| s.virtualise(&mut n.node_id.0, &mut n.host, &mut n.port));
                m.changed || endpoints
            }),
            ApiKey::Fetch if mapped && needs_response_rewrite(key, version) => self
                .each::<FetchResponse>(msg, |r, s| {
                    let translate = |id| s.translate(id);
                    let mut m = Mapper::new(&translate);
                    ids::fetch(r, &mut m);
                    let endpoints = !r.node_endpoints.is_empty();
                    r.node_endpoints
                        .retain_mut(|n| s.virtualise(&mut n.node_id.0, &mut n.host, &mut n.port));
                    m.changed || endpoints
                }),
            ApiKey::Fetch if version >= 16 => match msg.raw() {
                Some(frame) => {
                    let frame = frame.clone();
                    let out = self.rewrite_fetch_frame(frame.clone(), version)?;
                    if out.as_ptr() != frame.as_ptr() {
                        msg.replace_raw(out);
                    }
                    Ok(())
                }
                // Already decoded by another stage: its endpoints, in the decoded message.
                None => self.each::<FetchResponse>(msg, |r, s| {
                    let endpoints = !r.node_endpoints.is_empty();
                    r.node_endpoints
                        .retain_mut(|n| s.virtualise(&mut n.node_id.0, &mut n.host, &mut n.port));
                    endpoints
                }),
            },
            ApiKey::ApiVersions => match msg.raw() {
                Some(frame) => {
                    let out = rewrite_api_versions(frame.clone(), version)?;
                    msg.replace_raw(out);
                    Ok(())
                }
                None => msg.edit::<ApiVersionsResponse>(|r| {
                    intersect(&mut r.api_keys);
                    true
                }),
            },
            _ if !mapped || !needs_response_rewrite(key, version) => Ok(()),
            ApiKey::DescribeTopicPartitions => self.ids_only(msg, ids::describe_topic_partitions),
            ApiKey::ListPartitionReassignments => {
                self.ids_only(msg, ids::list_partition_reassignments)
            }
            ApiKey::DescribeConfigs => self.ids_only(msg, ids::describe_configs),
            ApiKey::AlterConfigs => self.ids_only(msg, ids::alter_configs),
            ApiKey::IncrementalAlterConfigs => self.ids_only(msg, ids::incremental_alter_configs),
            ApiKey::ListConfigResources => self.ids_only(msg, ids::list_config_resources),
            // A row added to the table without its mapping: refuse rather than pass ids on.
            other => Err(anyhow::anyhow!(
                "{other:?} has a response row in the node-id table but no mapping"
            )),
        }
    }

    /// A Metadata response as the route's clients see it: brokers at gateway addresses (and,
    /// with a non-identity map, every id virtual and the route's cluster id).
    pub(crate) fn metadata(&self, r: &mut MetadataResponse) {
        r.brokers
            .retain_mut(|b| self.virtualise(&mut b.node_id.0, &mut b.host, &mut b.port));
        if self.maps_ids() {
            ids::metadata(r, &mut Mapper::new(&|id| self.translate(id)));
            if let Some(id) = self.route.cluster_id() {
                r.cluster_id = Some(StrBytes::from_string(id));
            }
        }
    }

    /// A DescribeCluster response as the route's clients see it (as [`Self::metadata`]).
    pub(crate) fn describe_cluster(&self, r: &mut DescribeClusterResponse) {
        r.brokers
            .retain_mut(|b| self.virtualise(&mut b.broker_id.0, &mut b.host, &mut b.port));
        if self.maps_ids() {
            Mapper::new(&|id| self.translate(id)).id(&mut r.controller_id);
            if let Some(id) = self.route.cluster_id() {
                r.cluster_id = StrBytes::from_string(id);
            }
        }
    }

    /// A key whose only node ids are ids (no addresses).
    fn ids_only<T: Decodable + Encodable + Send + 'static>(
        &self,
        msg: &mut ResponseMessage,
        map: fn(&mut T, &mut Mapper<'_>),
    ) -> CodecResult<()> {
        self.each::<T>(msg, |r, s| {
            let translate = |id| s.translate(id);
            let mut m = Mapper::new(&translate);
            map(r, &mut m);
            m.changed
        })
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
        endpoints.retain_mut(|n| self.virtualise(&mut n.node_id.0, &mut n.host, &mut n.port));
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

    /// Lets `edit` change the body (it says whether it did); counts the rewrites.
    fn each<T: Decodable + Encodable + Send + 'static>(
        &self,
        msg: &mut ResponseMessage,
        edit: impl FnOnce(&mut T, &Self) -> bool,
    ) -> CodecResult<()> {
        msg.edit::<T>(|body| {
            let changed = edit(body, self);
            if changed {
                metrics()
                    .responses_rewritten
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            changed
        })
    }

    /// Replaces a real broker (its id and address) with its virtual one. False when the node
    /// has no virtual id or no gateway port (the caller drops the entry).
    fn virtualise(&self, node_id: &mut i32, host: &mut StrBytes, port: &mut i32) -> bool {
        self.upstream.learn(*node_id, host, *port);
        let domain = &self.upstream.domain;
        let mapped = self.route.nodes.to_virtual(domain, *node_id);
        match mapped.and_then(|v| Some((v, self.route.brokers.port_for(v)?))) {
            Some((v, p)) => {
                *node_id = v;
                *host = self.host.clone();
                *port = p as i32;
                true
            }
            None => {
                if metrics().unmapped_node_id(domain, *node_id) {
                    tracing::warn!(
                        %domain, route = %self.route.name, node_id = *node_id,
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
        if *error != 0 || self.virtualise(node_id, host, port) {
            return;
        }
        *error = ResponseError::CoordinatorNotAvailable.code();
        *node_id = -1;
        *host = StrBytes::default();
        *port = -1;
    }
}

/// Whether a raw Produce response has top-level tagged fields (a decoded one is asked anyway).
fn has_top_level_tags(msg: &ResponseMessage, version: i16) -> CodecResult<bool> {
    match msg.raw() {
        Some(frame) => Ok(produce_has_top_level_tags(frame, version)?),
        None => Ok(true),
    }
}

/// Narrows the upstream's ApiVersions answer to what the gateway forwards.
fn rewrite_api_versions(frame: Bytes, version: i16) -> CodecResult<Bytes> {
    edit_api_versions(&frame, version, intersect)
}
