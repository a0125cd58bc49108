//! One Metadata answer for a client from the answers of several streaming domains (fan-out).
//!
//! Each domain's answer is rewritten as its own would be ([`AddressRewriter`]): brokers at
//! their virtual ids and gateway ports, every partition's leader and replicas virtual. Then:
//! * brokers: all of them (their virtual ids are disjoint by configuration);
//! * topics: concatenated, the home domain's first. A topic name found in two domains is
//!   shown once: the first answer that has it without an error wins (the home domain's when
//!   both are fine), because a client can produce to and fetch from one partition leader per
//!   name. Reading a second domain's topic under its own name is what alias topics (issue 14)
//!   are for;
//! * cluster id: the route's ([`Route::cluster_id`]); controller: the home domain's, mapped;
//!   cluster authorized operations: the home domain's; throttle time: the longest.

use bytes::Bytes;
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::{ApiKey, BrokerId, DescribeClusterResponse, MetadataResponse};

use gatehouse_protocol::codec::{decode_response, encode_response, CodecResult};

use crate::rewrite::AddressRewriter;
use crate::topology::Route;
use crate::upstream::UpstreamCluster;

/// One domain's Metadata answer, as its upstream gave it.
pub struct DomainAnswer<'a> {
    pub upstream: &'a UpstreamCluster,
    pub response: MetadataResponse,
}

/// The Metadata response the route's client sees.
pub fn merge_metadata(route: &Route, answers: Vec<DomainAnswer<'_>>) -> MetadataResponse {
    let home = route.nodes.home();
    let mut answers = answers;
    // The home domain first (stable for the rest), so its topics win a name clash.
    answers.sort_by_key(|a| a.upstream.domain != home);
    let mut merged = MetadataResponse::default().with_controller_id(BrokerId(-1));
    let mut first = true;
    for DomainAnswer {
        upstream,
        mut response,
    } in answers
    {
        AddressRewriter::new(route, upstream).metadata(&mut response);
        if upstream.domain == home {
            merged.controller_id = response.controller_id;
            merged.cluster_authorized_operations = response.cluster_authorized_operations;
        }
        if first {
            merged.cluster_id = response.cluster_id.clone();
            first = false;
        }
        merged.throttle_time_ms = merged.throttle_time_ms.max(response.throttle_time_ms);
        merged.brokers.append(&mut response.brokers);
        for topic in response.topics {
            add_topic(&mut merged.topics, topic);
        }
    }
    if let Some(id) = route.cluster_id() {
        merged.cluster_id = Some(id.into());
    }
    merged
}

/// Whole frames in, one frame out: each answer decoded (bounded), merged, encoded with the
/// first answer's header (the caller restores the client's correlation id).
pub fn merge_metadata_frames(
    route: &Route,
    version: i16,
    answers: &[(&UpstreamCluster, Bytes)],
) -> CodecResult<Bytes> {
    let mut header = None;
    let mut decoded = Vec::with_capacity(answers.len());
    for (upstream, frame) in answers {
        let (h, response) = decode_response::<MetadataResponse>(frame, ApiKey::Metadata, version)?;
        header.get_or_insert(h);
        decoded.push(DomainAnswer { upstream, response });
    }
    let header = header.ok_or_else(|| anyhow::anyhow!("no Metadata answer to merge"))?;
    let merged = merge_metadata(route, decoded);
    encode_response(&header, &merged, ApiKey::Metadata, version)
}

fn add_topic(topics: &mut Vec<MetadataResponseTopic>, topic: MetadataResponseTopic) {
    let same = |t: &MetadataResponseTopic| match (&t.name, &topic.name) {
        (Some(a), Some(b)) => a == b,
        (None, None) => t.topic_id == topic.topic_id,
        _ => false,
    };
    match topics.iter_mut().find(|t| same(t)) {
        None => topics.push(topic),
        Some(held) if held.error_code != 0 && topic.error_code == 0 => *held = topic,
        Some(_) => {}
    }
}

/// One DescribeCluster answer from several domains' (as [`merge_metadata_frames`]): every
/// domain's brokers at their virtual ids and gateway ports; the controller, the error and the
/// authorized operations the home domain's; the cluster id the route's.
pub fn merge_describe_cluster_frames(
    route: &Route,
    version: i16,
    answers: &[(&UpstreamCluster, Bytes)],
) -> CodecResult<Bytes> {
    let home = route.nodes.home();
    let key = ApiKey::DescribeCluster;
    let (mut header, mut home_answer) = (None, None);
    let (mut brokers, mut throttle) = (Vec::new(), 0);
    for (upstream, frame) in answers {
        let (h, mut response) = decode_response::<DescribeClusterResponse>(frame, key, version)?;
        header.get_or_insert(h);
        AddressRewriter::new(route, upstream).describe_cluster(&mut response);
        throttle = throttle.max(response.throttle_time_ms);
        brokers.append(&mut response.brokers);
        if upstream.domain == home {
            home_answer = Some(response);
        }
    }
    let (Some(header), Some(mut merged)) = (header, home_answer) else {
        return Err(anyhow::anyhow!(
            "no DescribeCluster answer from the route's own domain"
        ));
    };
    brokers.sort_by_key(|b| b.broker_id.0);
    merged.brokers = brokers;
    merged.throttle_time_ms = throttle;
    if let Some(id) = route.cluster_id() {
        merged.cluster_id = id.into();
    }
    encode_response(&header, &merged, key, version)
}
