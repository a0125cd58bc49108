//! The router: where a request goes once the other stages are done with it.

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, MetadataRequest};

use gatehouse_protocol::message::RequestMessage;

use gatehouse_routing::log_limit::{LogLimit, DEFAULT_INTERVAL};
use gatehouse_tenancy::TenantSession;

use super::{FanOut, FanOutPart, Merge, Pipeline, Step, Toward};
use crate::gate::Watch;
use crate::reader::End;
use crate::sequencer::TenantResponse;

/// Keys a client sends to a partition's leader: on a connection to a further domain's broker
/// they are about that domain's partitions and stay there. Every other key of a tenant belongs
/// to its home domain (groups, transactions, topic administration, Metadata).
pub(super) const PARTITION_LED: &[ApiKey] = &[
    ApiKey::Produce,
    ApiKey::Fetch,
    ApiKey::ListOffsets,
    ApiKey::OffsetForLeaderEpoch,
    ApiKey::DeleteRecords,
];

/// An alias topic on a domain its route does not show is left out, once per interval.
static ALIAS_DOMAIN_NOT_ON_ROUTE: LogLimit = LogLimit::new(DEFAULT_INTERVAL);

impl Pipeline<'_> {
    /// The router: a request goes to the session's one destination, except the Metadata and
    /// DescribeCluster of a passthrough session on a route that shows several domains, which
    /// go to all of them (fan-out; a tenant's go to the domains of its alias topics, see
    /// [`Self::tenant_fan_out`]). Virtual node ids the client put in a request become the
    /// upstream's here; on a route that shows one domain the map is the identity and nothing
    /// is decoded.
    pub(super) fn forward(
        &self,
        key: ApiKey,
        version: i16,
        mut pieces: Vec<Bytes>,
        tenancy: Option<Box<TenantResponse>>,
        watch: Option<Watch>,
    ) -> Step {
        let nodes = &self.route.nodes;
        let merge = match key {
            ApiKey::Metadata => Some(Merge::Metadata),
            ApiKey::DescribeCluster => Some(Merge::DescribeCluster),
            _ => None,
        };
        let fans_out = |_: &Merge| {
            let passthrough = matches!(self.binding.current_session(), Ok(None));
            passthrough && !nodes.is_identity() && pieces.len() == 1
        };
        if let Some(merge) = merge.filter(fans_out) {
            // Every domain's brokers (and topics), at their virtual ids.
            let frame = pieces.pop().expect("one piece");
            let frame = match merge {
                Merge::Metadata => match no_auto_creation(version, frame) {
                    Ok(frame) => frame,
                    Err(e) => {
                        return Step::End(End::BadInput(
                            "decode",
                            format!("Metadata v{version}: {e}"),
                        ))
                    }
                },
                _ => frame,
            };
            let further = nodes.additional().iter().map(|d| d.domain.as_str());
            return self.same_to_each(further, &frame, merge);
        }
        if pieces.len() == 1 && nodes.request_needs_rewrite(key, version) {
            match nodes.rewrite_request(key, version, pieces.pop().expect("one piece")) {
                Ok(frame) => pieces.push(frame),
                Err(e) => {
                    let why = format!("{key:?} v{version}: {e}");
                    return Step::End(End::BadInput("decode", why));
                }
            }
        }
        self.route_ids_mapped(pieces, tenancy, watch)
    }

    /// A request whose node ids the router has mapped already (through the message the
    /// tenancy stage decoded): it goes to the session's destination.
    pub(super) fn route_ids_mapped(
        &self,
        pieces: Vec<Bytes>,
        tenancy: Option<Box<TenantResponse>>,
        watch: Option<Watch>,
    ) -> Step {
        Step::Forward {
            pieces,
            tenancy,
            watch,
            to_home_domain: false,
        }
    }

    /// A tenant's Metadata when some of the alias topics it asks about live on further
    /// domains of the route: the home domain gets the client's request (mapped: those aliases
    /// are placeholders there), each further domain the gateway's own request for its
    /// aliases' physical topics, and the answers, each un-mapped in its domain's view, are
    /// merged. None when every alias asked about is on the home domain.
    pub(super) fn tenant_fan_out(
        &self,
        session: &TenantSession,
        version: i16,
        frame: &Bytes,
    ) -> Option<Step> {
        let nodes = &self.route.nodes;
        let asked = match session.alias_metadata_requests(version, frame) {
            Ok(asked) if asked.is_empty() => return None,
            Ok(asked) => asked,
            Err(e) => {
                let why = format!("Metadata v{version}: {e}");
                return Some(Step::End(End::BadInput("decode", why)));
            }
        };
        let mut further = Vec::with_capacity(asked.len());
        for (domain, frame) in asked {
            if !nodes.additional().iter().any(|d| d.domain == domain) {
                if let Some(suppressed) = ALIAS_DOMAIN_NOT_ON_ROUTE.allow_for(&domain) {
                    tracing::warn!(route = %self.route.name, %domain, suppressed,
                        "alias topics on a streaming domain this route does not show are left out \
                         (add it to routes[].additionalStreamingDomains)");
                }
                continue;
            }
            let view =
                session.on_further_domain(domain.as_str().into(), self.gateway.topic_ids(&domain));
            let tenancy = Box::new(TenantResponse {
                session: view,
                ctx: Box::default(),
            });
            further.push(FanOutPart {
                domain,
                frame,
                tenancy: Some(tenancy),
                toward: Toward::AnyBroker,
            });
        }
        if further.is_empty() {
            return None; // (none of those domains is on this route: the home domain answers)
        }
        let message = RequestMessage::new(ApiKey::Metadata, version, frame.clone());
        let home = (session.request_message(message))
            .and_then(|(mapped, plan)| Ok((mapped.into_frame()?, plan)));
        let (home, plan) = match home {
            Ok(home) => home,
            Err(e) => {
                return Some(Step::End(End::BadInput(
                    "decode",
                    format!("Metadata v{version}: {e}"),
                )))
            }
        };
        let tenancy = super::tenant_response(session.clone(), plan);
        let home = FanOutPart {
            domain: nodes.home().to_string(),
            frame: home,
            tenancy,
            toward: Toward::AnyBroker,
        };
        Some(Step::FanOut(FanOut {
            parts: std::iter::once(home).chain(further).collect(),
            merge: Merge::Metadata,
        }))
    }

    /// A tenant's DescribeCluster on a route where some of its alias topics live on further
    /// domains: the brokers of the home domain and of those domains, merged. None otherwise.
    pub(super) fn tenant_describe_cluster(
        &self,
        session: &TenantSession,
        frame: &Bytes,
    ) -> Option<Step> {
        let nodes = &self.route.nodes;
        let domains: Vec<&str> = (session.tenant().aliases.further_domains().iter())
            .map(String::as_str)
            .filter(|d| nodes.additional().iter().any(|a| a.domain == *d))
            .collect();
        if domains.is_empty() {
            return None;
        }
        Some(self.same_to_each(domains.into_iter(), frame, Merge::DescribeCluster))
    }

    /// The same frame to any broker of the route's own domain and of each of `further`,
    /// the answers merged as `merge` says.
    fn same_to_each<'d>(
        &self,
        further: impl Iterator<Item = &'d str>,
        frame: &Bytes,
        merge: Merge,
    ) -> Step {
        let home = self.route.nodes.home().to_string();
        let domains = std::iter::once(home).chain(further.map(str::to_string));
        let parts = domains.map(|domain| FanOutPart {
            domain,
            frame: frame.clone(),
            tenancy: None,
            toward: Toward::AnyBroker,
        });
        Step::FanOut(FanOut {
            parts: parts.collect(),
            merge,
        })
    }

    /// A request naming topics of further domains (a group's offsets, a description): each
    /// domain's part goes to that domain (a group's offsets to its coordinator for the group),
    /// the home part where the client sent it, and the answers are merged. None when every
    /// topic is on the home domain.
    pub(super) fn split_fan_out(
        &self,
        session: &TenantSession,
        key: ApiKey,
        version: i16,
        frame: &Bytes,
    ) -> Option<Step> {
        let nodes = &self.route.nodes;
        let on_route = |d: &str| nodes.additional().iter().any(|a| a.domain == d);
        let view = |d: &str| session.on_further_domain(d.into(), self.gateway.topic_ids(d));
        let parts = match session.split_by_domain(key, version, frame, on_route, view) {
            Ok(None) => return None,
            Ok(Some(parts)) => parts,
            Err(e) => {
                let why = format!("{key:?} v{version}: {e}");
                return Some(Step::End(End::BadInput("decode", why)));
            }
        };
        let parts = parts.into_iter().map(|p| {
            let offsets = gatehouse_tenancy::split::OFFSET_KEYS.contains(&key);
            let toward = match p.domain {
                None => Toward::ThisConnection,
                Some(_) if offsets => Toward::GroupCoordinator(p.group.to_string()),
                Some(_) => Toward::AnyBroker,
            };
            FanOutPart {
                domain: p.domain.unwrap_or_else(|| nodes.home().to_string()),
                frame: p.frame,
                tenancy: Some(Box::new(TenantResponse {
                    session: p.session,
                    ctx: p.ctx,
                })),
                toward,
            }
        });
        Some(Step::FanOut(FanOut {
            parts: parts.collect(),
            merge: Merge::Split,
        }))
    }
}

/// A Metadata request asked of every domain must not create its topics on each of them (a
/// domain that lacks a topic another has would create it, and then show it as its own): the
/// request goes out with `allow_auto_topic_creation` off (v4+; older versions cannot say).
fn no_auto_creation(version: i16, frame: Bytes) -> anyhow::Result<Bytes> {
    let mut message = RequestMessage::new(ApiKey::Metadata, version, frame);
    message.edit::<MetadataRequest>(|r| std::mem::take(&mut r.allow_auto_topic_creation))?;
    message.into_frame()
}
