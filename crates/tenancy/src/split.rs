//! Requests about topics of several streaming domains, split into one per domain.
//!
//! * A consumer group's offsets: the group lives on its home domain (coordination,
//!   membership). The offsets of partitions of an alias topic on a further domain are
//!   committed on that domain, under the same prefixed group name, so that domain's operators
//!   see the partner's lag with their own tools. An OffsetCommit, OffsetFetch or OffsetDelete
//!   naming such topics is split per domain (each further part to that domain's coordinator).
//! * Descriptions: a DescribeConfigs or DescribeTopicPartitions naming an alias of a further
//!   domain asks that domain (any of its brokers) for it.
//!
//! Each part is mapped in its domain's view of the tenant; the answers, each un-mapped in its
//! own view, are merged back into one ([`merge_parts`]). No I/O: the proxy sends the parts and
//! hands the answers back.

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use gatehouse_protocol::codec::{
    decode_request, decode_response, encode_request, encode_response, CodecResult,
};
use gatehouse_protocol::message::RequestMessage;

use crate::acl::{Operation, ResourceType};
use crate::mapper::ResponseContext;
use crate::session::{ResponsePlan, TenantSession};

/// Group-offset keys: a further domain's part goes to its coordinator for the group.
pub const OFFSET_KEYS: &[ApiKey] = &[
    ApiKey::OffsetCommit,
    ApiKey::OffsetFetch,
    ApiKey::OffsetDelete,
];

/// Every key whose requests [`TenantSession::split_by_domain`] splits.
pub const SPLIT_KEYS: &[ApiKey] = &[
    ApiKey::OffsetCommit,
    ApiKey::OffsetFetch,
    ApiKey::OffsetDelete,
    ApiKey::DescribeConfigs,
    ApiKey::DescribeTopicPartitions,
];

/// One domain's part of a split request.
pub struct DomainPart {
    /// `None`: the home domain (the part goes where the client sent the request); otherwise
    /// the further domain that takes it (its group coordinator, for [`OFFSET_KEYS`]).
    pub domain: Option<String>,
    /// The request for that domain, mapped.
    pub frame: Bytes,
    /// The view its answer is un-mapped in, and what its mapping left.
    pub session: TenantSession,
    pub ctx: Box<ResponseContext>,
    /// The group's name upstream (the same on every domain), to find its coordinator.
    pub group: StrBytes,
}

impl TenantSession {
    /// Splits a request whose topics live on several domains; None when they are all on the
    /// home domain (or the key is not one of [`SPLIT_KEYS`]). `on_route` says which further
    /// domains the route shows; aliases on others stay in the home part (as placeholders its
    /// broker answers for as unknown).
    pub fn split_by_domain(
        &self,
        key: ApiKey,
        version: i16,
        frame: &Bytes,
        on_route: impl Fn(&str) -> bool,
        further_view: impl Fn(&str) -> TenantSession,
    ) -> CodecResult<Option<Vec<DomainPart>>> {
        let tenant = self.tenant();
        if !SPLIT_KEYS.contains(&key) || tenant.aliases.further_domains().is_empty() {
            return Ok(None);
        }
        // The domain of a topic named by the client: None for the home domain.
        let domain_of = |name: &TopicName| -> Option<String> {
            (tenant.alias(&name.0).and_then(|a| a.domain.clone())).filter(|d| on_route(d))
        };
        let split: Vec<(Option<String>, Bytes, StrBytes)> = match key {
            ApiKey::OffsetCommit => {
                let (h, r) = decode_request::<OffsetCommitRequest>(frame)?;
                if self.refuses(Operation::Read, &r.group_id) {
                    return Ok(None); // answered whole, by the gateway
                }
                let group = r.group_id.0.clone();
                let parts = by_domain(&r.topics, |t| domain_of(&t.name));
                let parts = parts.into_iter().map(|(d, topics)| {
                    let mut part = r.clone().with_topics(topics);
                    if d.is_some() {
                        // The group's members live on the home domain; a further domain's
                        // coordinator takes the commit as a simple one (the home part, or
                        // the session's last, checked the generation).
                        part = part
                            .with_generation_id_or_member_epoch(-1)
                            .with_member_id(StrBytes::default())
                            .with_group_instance_id(None);
                    }
                    (d, part)
                });
                encode_parts(&h, parts, &group)?
            }
            ApiKey::OffsetDelete => {
                let (h, r) = decode_request::<OffsetDeleteRequest>(frame)?;
                if self.refuses(Operation::Delete, &r.group_id) {
                    return Ok(None);
                }
                let group = r.group_id.0.clone();
                let parts = by_domain(&r.topics, |t| domain_of(&t.name));
                let parts = parts
                    .into_iter()
                    .map(|(d, topics)| (d, r.clone().with_topics(topics)));
                encode_parts(&h, parts, &group)?
            }
            ApiKey::OffsetFetch => {
                let (h, r) = decode_request::<OffsetFetchRequest>(frame)?;
                let further: Vec<String> = (tenant.aliases.further_domains().iter())
                    .filter(|d| on_route(d))
                    .cloned()
                    .collect();
                let refused = |g: &GroupId| self.refuses(Operation::Describe, g);
                if (version < 8 && refused(&r.group_id))
                    || r.groups.iter().any(|g| refused(&g.group_id))
                {
                    return Ok(None); // (each part would answer for the refused group)
                }
                if version < 8 {
                    let group = r.group_id.0.clone();
                    let parts: Vec<(Option<String>, OffsetFetchRequest)> = match &r.topics {
                        // Every committed offset: each domain answers for its own.
                        None => std::iter::once(None)
                            .chain(further.iter().cloned().map(Some))
                            .map(|d| (d, r.clone()))
                            .collect(),
                        Some(topics) => by_domain(topics, |t| domain_of(&t.name))
                            .into_iter()
                            .map(|(d, ts)| (d, r.clone().with_topics(Some(ts))))
                            .collect(),
                    };
                    encode_parts(&h, parts, &group)?
                } else {
                    let group = r
                        .groups
                        .first()
                        .map(|g| g.group_id.0.clone())
                        .unwrap_or_default();
                    let domains: Vec<Option<String>> = std::iter::once(None)
                        .chain(further.iter().cloned().map(Some))
                        .collect();
                    let mut parts = Vec::new();
                    for d in domains {
                        let mut any = d.is_none();
                        let mut part = r.clone();
                        for g in &mut part.groups {
                            if d.is_some() {
                                g.member_id = None;
                                g.member_epoch = -1;
                            }
                            if let Some(ts) = &mut g.topics {
                                ts.retain(|t| domain_of(&t.name) == d);
                                any |= !ts.is_empty();
                            } else {
                                any = true;
                            }
                        }
                        if any {
                            parts.push((d, part));
                        }
                    }
                    encode_parts(&h, parts, &group)?
                }
            }
            ApiKey::DescribeConfigs => {
                let (h, r) = decode_request::<DescribeConfigsRequest>(frame)?;
                const TOPIC: i8 = 2;
                let parts = by_domain(&r.resources, |res| {
                    let name = TopicName(res.resource_name.clone());
                    (res.resource_type == TOPIC)
                        .then(|| domain_of(&name))
                        .flatten()
                });
                let parts = (parts.into_iter()).map(|(d, rs)| (d, r.clone().with_resources(rs)));
                encode_parts(&h, parts, &StrBytes::default())?
            }
            ApiKey::DescribeTopicPartitions => {
                let (h, r) = decode_request::<DescribeTopicPartitionsRequest>(frame)?;
                if r.cursor.is_some() {
                    // A page after the first: the home domain's listing goes on (the further
                    // domains' aliases came with the first page).
                    return Ok(None);
                }
                let parts = by_domain(&r.topics, |t| domain_of(&t.name));
                let parts = (parts.into_iter()).map(|(d, ts)| (d, r.clone().with_topics(ts)));
                encode_parts(&h, parts, &StrBytes::default())?
            }
            _ => unreachable!("checked above"),
        };
        if split.iter().all(|(d, _, _)| d.is_none()) {
            return Ok(None);
        }
        split
            .into_iter()
            .map(|(domain, frame, group)| {
                let view = match &domain {
                    None => self.clone(),
                    Some(d) => further_view(d),
                };
                let (mapped, plan) =
                    view.request_message(RequestMessage::new(key, version, frame))?;
                let frame = mapped.into_frame()?;
                let ctx = match plan {
                    ResponsePlan::Map(ctx) => ctx,
                    ResponsePlan::Untouched => Box::default(),
                };
                // (Descriptions name no group: nothing to map.)
                let group = match group.is_empty() {
                    true => group,
                    false => view.tenant().map(crate::names::Entity::Group, &group),
                };
                Ok(DomainPart {
                    domain,
                    frame,
                    session: view,
                    ctx,
                    group,
                })
            })
            .collect::<CodecResult<Vec<_>>>()
            .map(Some)
    }
}

impl TenantSession {
    /// Whether the client's ACLs refuse `operation` on a group: such a request is answered
    /// whole at home, not split.
    fn refuses(&self, operation: Operation, group: &GroupId) -> bool {
        self.client_acls()
            .is_some_and(|a| !a.allows(operation, ResourceType::Group, &group.0))
    }
}

/// Topics grouped by their domain, the home domain's first (and always there, even empty:
/// the home coordinator checks the member's generation).
fn by_domain<T: Clone>(
    topics: &[T],
    domain_of: impl Fn(&T) -> Option<String>,
) -> Vec<(Option<String>, Vec<T>)> {
    let mut out: Vec<(Option<String>, Vec<T>)> = vec![(None, Vec::new())];
    for t in topics {
        let d = domain_of(t);
        match out.iter_mut().find(|(k, _)| *k == d) {
            Some((_, ts)) => ts.push(t.clone()),
            None => out.push((d, vec![t.clone()])),
        }
    }
    out
}

fn encode_parts<T: Encodable>(
    header: &RequestHeader,
    parts: impl IntoIterator<Item = (Option<String>, T)>,
    group: &StrBytes,
) -> CodecResult<Vec<(Option<String>, Bytes, StrBytes)>> {
    parts
        .into_iter()
        .map(|(d, body)| Ok((d, encode_request(header, &body)?, group.clone())))
        .collect()
}

/// The client's one answer from the parts' answers (in part order, home first, each already
/// un-mapped): topics (or config results) concatenated, the first error a part reports for
/// the whole group, the longest throttle. The correlation id is the first part's (the caller
/// sets the client's).
pub fn merge_parts(key: ApiKey, version: i16, frames: &[Bytes]) -> CodecResult<Bytes> {
    fn each<T: Decodable>(
        key: ApiKey,
        version: i16,
        frames: &[Bytes],
    ) -> CodecResult<(ResponseHeader, Vec<T>)> {
        let mut header = None;
        let mut bodies = Vec::with_capacity(frames.len());
        for f in frames {
            let (h, b) = decode_response::<T>(f, key, version)?;
            header.get_or_insert(h);
            bodies.push(b);
        }
        Ok((header.unwrap_or_default(), bodies))
    }
    match key {
        ApiKey::OffsetCommit => {
            let (h, parts) = each::<OffsetCommitResponse>(key, version, frames)?;
            let mut merged = OffsetCommitResponse::default();
            for p in parts {
                merged.throttle_time_ms = merged.throttle_time_ms.max(p.throttle_time_ms);
                merged.topics.extend(p.topics);
            }
            encode_response(&h, &merged, key, version)
        }
        ApiKey::OffsetDelete => {
            let (h, parts) = each::<OffsetDeleteResponse>(key, version, frames)?;
            let mut merged = OffsetDeleteResponse::default();
            merged.error_code = first_error(parts.iter().map(|p| p.error_code));
            for p in parts {
                merged.throttle_time_ms = merged.throttle_time_ms.max(p.throttle_time_ms);
                merged.topics.extend(p.topics);
            }
            encode_response(&h, &merged, key, version)
        }
        ApiKey::OffsetFetch => {
            let (h, mut parts) = each::<OffsetFetchResponse>(key, version, frames)?;
            let mut merged = parts.remove(0);
            merged.error_code = first_error(
                std::iter::once(merged.error_code).chain(parts.iter().map(|p| p.error_code)),
            );
            for p in parts {
                merged.throttle_time_ms = merged.throttle_time_ms.max(p.throttle_time_ms);
                merged.topics.extend(p.topics);
                for g in p.groups {
                    match merged.groups.iter_mut().find(|m| m.group_id == g.group_id) {
                        Some(m) => {
                            if m.error_code == 0 {
                                m.error_code = g.error_code;
                            }
                            m.topics.extend(g.topics);
                        }
                        None => merged.groups.push(g),
                    }
                }
            }
            encode_response(&h, &merged, key, version)
        }
        ApiKey::DescribeConfigs => {
            let (h, parts) = each::<DescribeConfigsResponse>(key, version, frames)?;
            let mut merged = DescribeConfigsResponse::default();
            for p in parts {
                merged.throttle_time_ms = merged.throttle_time_ms.max(p.throttle_time_ms);
                merged.results.extend(p.results);
            }
            encode_response(&h, &merged, key, version)
        }
        ApiKey::DescribeTopicPartitions => {
            let (h, mut parts) = each::<DescribeTopicPartitionsResponse>(key, version, frames)?;
            let mut merged = parts.remove(0);
            for p in parts {
                merged.throttle_time_ms = merged.throttle_time_ms.max(p.throttle_time_ms);
                merged.topics.extend(p.topics);
            }
            // Brokers list topics by name; so does the merged answer.
            merged.topics.sort_by(|a, b| a.name.cmp(&b.name));
            encode_response(&h, &merged, key, version)
        }
        _ => Err(anyhow::anyhow!("{key:?} is not a key split per domain")),
    }
}

/// Whether a group-offsets answer says its broker is not (or no longer) the group's
/// coordinator: NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE or COORDINATOR_LOAD_IN_PROGRESS, for
/// the group or for any partition. (An answer that does not decode says nothing.)
pub fn coordinator_moved(key: ApiKey, version: i16, frame: &Bytes) -> bool {
    const MOVED: [i16; 3] = [14, 15, 16];
    let moved = |c: &i16| MOVED.contains(c);
    match key {
        ApiKey::OffsetCommit => decode_response::<OffsetCommitResponse>(frame, key, version)
            .is_ok_and(|(_, r)| {
                (r.topics.iter().flat_map(|t| &t.partitions)).any(|p| moved(&p.error_code))
            }),
        ApiKey::OffsetFetch => decode_response::<OffsetFetchResponse>(frame, key, version)
            .is_ok_and(|(_, r)| {
                moved(&r.error_code)
                    || r.groups.iter().any(|g| moved(&g.error_code))
                    || (r.topics.iter().flat_map(|t| &t.partitions)).any(|p| moved(&p.error_code))
            }),
        ApiKey::OffsetDelete => decode_response::<OffsetDeleteResponse>(frame, key, version)
            .is_ok_and(|(_, r)| moved(&r.error_code)),
        _ => false,
    }
}

fn first_error(codes: impl IntoIterator<Item = i16>) -> i16 {
    codes.into_iter().find(|&c| c != 0).unwrap_or(0)
}
