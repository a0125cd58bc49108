//! The stages every request goes through, in order, whether it arrived whole or as the head of
//! a Produce whose records are still in the socket:
//!
//! admission → authentication gate → route state → policy → tenancy → router
//!
//! Admission (the header peek and the version table) happens as the frame is split off (see
//! [`crate::reader`]); this module holds the rest. A stage that must see all of a frame that
//! arrived as a head says so ([`Step::NeedWhole`]) and the reader reads it whole first.
//!
//! What a session's stages need decoded is computed once ([`Interest`]); a request no stage is
//! interested in goes upstream as the bytes it arrived as.

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;

use gatehouse_protocol::message::RequestMessage;

use gatehouse_routing::upstream::UpstreamCluster;
use gatehouse_routing::Route;
use gatehouse_tenancy::table::ACL_KEYS;
use gatehouse_tenancy::{MappedRequest, ResponsePlan, TenantSession};

use crate::binding::{Binding, Unbound};
use crate::gate::{Gate, Request, Verdict, Watch};
use crate::reader::End;
use crate::sequencer::TenantResponse;
use crate::Gateway;

mod acl_requests;
mod interest;
mod router;

use interest::Interest;

/// A request as the stages see it, its header already peeked at and admitted.
pub(crate) struct Incoming {
    pub key: ApiKey,
    pub version: i16,
    pub correlation_id: i32,
    /// False for a Produce with `acks=0`.
    pub expects_response: bool,
    pub body: Body,
}

pub(crate) enum Body {
    /// The whole frame, length prefix included.
    Whole(Bytes),
    /// The beginning of a Produce frame (header, `acks`, and a tenant's topic names, all
    /// here); its rest follows unread.
    Head {
        bytes: Bytes,
        transactional: bool,
        names: Option<gatehouse_protocol::name_spans::ProduceNames>,
    },
}

/// What the stages decided.
pub(crate) enum Step {
    /// Forward these pieces (the frame, or the head of it, mapped) to the session's
    /// destination; the answer's slot carries `tenancy` and `watch`.
    Forward {
        pieces: Vec<Bytes>,
        tenancy: Option<Box<TenantResponse>>,
        watch: Option<Watch>,
        /// To any broker of the route's own domain instead of the connection's broker: a
        /// tenant's group, transaction and cluster-wide requests arriving on a connection to
        /// a further domain (they belong to its home domain).
        to_home_domain: bool,
    },
    /// Send one request to each of several streaming domains of the route and answer with
    /// the answers merged: a passthrough session's Metadata on a route that shows several
    /// domains, or a tenant's whose alias topics live on several. The first part is the
    /// route's own domain, which must answer; a further one that is down is left out.
    FanOut(FanOut),
    /// Answered by the gateway.
    Answer(Bytes),
    /// Nothing goes anywhere (a refused `acks=0` Produce, which gets no answer either way).
    Nothing,
    /// Answered, then the session ends (a failed authentication).
    AnswerThenClose(Bytes, String),
    /// A head some stage must see whole: read the rest into the buffer first.
    NeedWhole,
    End(End),
}

/// A request sent to several domains, and how their answers become one.
pub(crate) struct FanOut {
    pub parts: Vec<FanOutPart>,
    pub merge: Merge,
}

/// How a fan-out's answers are merged.
#[derive(Clone, Copy)]
pub(crate) enum Merge {
    /// Brokers of every domain at their virtual ids, topics of each (`routing::merge`).
    Metadata,
    /// Parts of a request split per domain: a group's offsets, descriptions (`tenancy::split`).
    Split,
    /// Brokers of every domain at their virtual ids (`routing::merge`).
    DescribeCluster,
}

/// One domain's part of a fanned-out request.
pub(crate) struct FanOutPart {
    pub domain: String,
    pub frame: Bytes,
    /// How the tenancy stage un-maps this part's answer before the merge.
    pub tenancy: Option<Box<TenantResponse>>,
    pub toward: Toward,
}

/// Which broker of its domain a part goes to.
pub(crate) enum Toward {
    /// Any (the session's link to the domain's bootstrap server).
    AnyBroker,
    /// The one the client's connection is for (a group's home coordinator).
    ThisConnection,
    /// The coordinator of this upstream group, found by the gateway.
    GroupCoordinator(String),
}

/// One session's stages and their state.
pub(crate) struct Pipeline<'a> {
    pub gateway: &'a Gateway,
    /// The route: its node-id map is the router's.
    route: &'a Route,
    /// The virtual cluster the route is bound to, if any.
    pub route_vc: Option<&'a str>,
    pub gate: Gate,
    pub binding: Binding,
}

impl<'a> Pipeline<'a> {
    pub fn new(gateway: &'a Gateway, route: &'a Route, gate: Gate, binding: Binding) -> Self {
        let route_vc = route.virtual_cluster.as_deref();
        Self {
            gateway,
            route,
            route_vc,
            gate,
            binding,
        }
    }

    /// Which keys the session's stages decode: it follows the binding (authentication may
    /// move a session into or out of a virtual cluster), so it is read off it, not kept.
    fn interest(&self) -> Interest {
        match self.binding.current_session() {
            Ok(Some(_)) => Interest::TENANT,
            _ => Interest::GATE,
        }
    }

    /// Whether the head of a Produce may be judged (and its rest spliced) before the frame is
    /// here whole: the gate has nothing to decide, the session is bound, and inside a virtual
    /// cluster the head holds every name and no producer id needs checking. [`Pipeline::judge`]
    /// answers [`Step::NeedWhole`] for a head that may not.
    pub fn head_may_pass(&mut self, transactional: bool, names_known: bool) -> bool {
        if !self.gate.passes_unread(ApiKey::Produce) {
            return false;
        }
        match self.binding.current(self.gateway) {
            Err(_) => false, // refused when read whole
            Ok(None) => true,
            Ok(Some(session)) => session.may_send(ApiKey::Produce) && !transactional && names_known,
        }
    }

    /// Whether a stage must decode requests of `key` in this session.
    pub fn interested_in(&self, key: ApiKey) -> bool {
        self.interest().contains(key)
    }

    /// Runs one request through the stages after admission.
    pub async fn judge(&mut self, request: Incoming) -> Step {
        let Incoming {
            key,
            version,
            correlation_id,
            expects_response,
            body,
        } = request;

        // The authentication gate: only ApiVersions and SASL pass before authentication.
        let watch = match &body {
            Body::Head { .. } if !self.gate.passes_unread(key) => return Step::NeedWhole,
            Body::Head { .. } => None,
            Body::Whole(frame) => {
                let request = Request {
                    key,
                    version,
                    correlation_id,
                    frame,
                };
                // The gate only authenticates; the session binds the principal it yields.
                let (gateway, route_vc, binding) = (self.gateway, self.route_vc, &mut self.binding);
                let verdict = (self.gate)
                    .check(gateway, request, &mut |p| {
                        binding.accept(gateway, p, route_vc)
                    })
                    .await;
                match verdict {
                    Verdict::Pass => None,
                    Verdict::ForwardWatched(w) => Some(w),
                    Verdict::Answer(answer) => return Step::Answer(answer),
                    Verdict::AnswerThenClose(answer, why) => {
                        return Step::AnswerThenClose(answer, why)
                    }
                    Verdict::Close(why) => return Step::End(End::BadInput("authentication", why)),
                }
            }
        };
        // Route state: where a switchover will hold or refuse requests. Every route is
        // active today, so requests pass.

        // Policy: none are active yet, so no key is added to the session's interest.

        // Tenancy: passthrough sessions (and keys no stage is interested in) skip it.
        let session = match self.binding.current(self.gateway) {
            Err(Unbound(why)) => return Step::End(End::Unbound(why)),
            Ok(None) => None,
            Ok(Some(session)) => Some(session.clone()),
        };
        let Some(session) = session else {
            return self.forward(key, version, vec![body.into_bytes()], None, watch);
        };
        if let (true, Body::Whole(frame)) = (ACL_KEYS.contains(&key), &body) {
            // The virtual cluster's own ACLs, kept by the gateway.
            return (self.acl_request(&session, key, version, correlation_id, frame)).await;
        }
        // On a connection to a further domain's broker only requests about its partitions
        // stay there (in the tenant's view of that domain), and the connection's own SASL
        // exchange (delegated SASL logs its link in); the rest go home.
        let stays = router::PARTITION_LED.contains(&key)
            || matches!(
                key,
                ApiKey::SaslHandshake | ApiKey::SaslAuthenticate | ApiKey::ApiVersions
            );
        let (session, to_home_domain) = match self.binding.further() {
            Some(further) if stays => (further.clone(), false),
            Some(_) => (session, true),
            None => (session, false),
        };
        let step = self.tenant_step(session, key, version, expects_response, body, watch);
        match step {
            Step::Forward {
                pieces,
                tenancy,
                watch,
                ..
            } => Step::Forward {
                pieces,
                tenancy,
                watch,
                to_home_domain,
            },
            // A part for "this connection" means the home domain's broker the client chose;
            // on a connection to a further domain's broker, any of the home domain's.
            Step::FanOut(mut fan_out) if to_home_domain => {
                for part in &mut fan_out.parts {
                    if matches!(part.toward, Toward::ThisConnection) {
                        part.toward = Toward::AnyBroker;
                    }
                }
                Step::FanOut(fan_out)
            }
            other => other,
        }
    }

    /// The tenancy stage and the router, for a request of a session in a virtual cluster.
    fn tenant_step(
        &self,
        session: TenantSession,
        key: ApiKey,
        version: i16,
        expects_response: bool,
        body: Body,
        watch: Option<Watch>,
    ) -> Step {
        if !session.may_send(key) {
            let vc = &session.tenant().name;
            let why = format!("{key:?} cannot be used inside virtual cluster '{vc}'");
            return Step::End(End::BadInput("tenancy", why));
        }
        if !Interest::TENANT.contains(key) {
            // A key the tenant may send whose frames carry no names (NAME_FREE_KEYS).
            if let (ApiKey::DescribeCluster, Body::Whole(frame)) = (key, &body) {
                if let Some(step) = self.tenant_describe_cluster(&session, frame) {
                    return step;
                }
            }
            return self.forward(key, version, vec![body.into_bytes()], None, watch);
        }
        let decode_error = |e: anyhow::Error| {
            Step::End(End::BadInput("decode", format!("{key:?} v{version}: {e}")))
        };
        let mapped = match body {
            // Its record batches carry the producer id the tenancy stage checks.
            Body::Head { transactional, .. } if transactional => return Step::NeedWhole,
            Body::Head { names: None, .. } => return Step::NeedWhole,
            Body::Head {
                bytes,
                names: Some(names),
                ..
            } => match session.produce_head(version, bytes, names) {
                // A READ alias among its topics: decoded whole, to answer that one.
                Ok(None) => return Step::NeedWhole,
                Ok(Some(mapped)) => Ok(mapped),
                Err(e) => Err(e),
            },
            Body::Whole(frame) => {
                // A transactional request with another producer id than its own is
                // answered here (INVALID_PRODUCER_ID_MAPPING), never forwarded.
                match session.refusal(key, version, &frame) {
                    Ok(Some(_)) if !expects_response => return Step::Nothing,
                    Ok(Some(answer)) => return Step::Answer(answer),
                    Ok(None) => {}
                    Err(e) => return decode_error(e),
                }
                if key == ApiKey::Metadata {
                    if let Some(step) = self.tenant_fan_out(&session, version, &frame) {
                        return step;
                    }
                }
                if gatehouse_tenancy::split::SPLIT_KEYS.contains(&key) {
                    if let Some(step) = self.split_fan_out(&session, key, version, &frame) {
                        return step;
                    }
                }
                match session.request_message(RequestMessage::new(key, version, frame)) {
                    // The router edits the same message (virtual node ids), then it is
                    // encoded once.
                    Ok((MappedRequest::Message(mut message), plan)) => {
                        let tenancy = tenant_response(session, plan);
                        let nodes = &self.route.nodes;
                        let mapped = (nodes.map_request(key, version, &mut message))
                            .and_then(|()| message.into_frame());
                        return match mapped {
                            Ok(frame) => self.route_ids_mapped(vec![frame], tenancy, watch),
                            Err(e) => decode_error(e),
                        };
                    }
                    Ok((MappedRequest::Pieces(pieces), plan)) => Ok((pieces, plan)),
                    // The client's ACLs refuse all of it: answered here.
                    Ok((MappedRequest::Answered(_), _)) if !expects_response => {
                        return Step::Nothing
                    }
                    Ok((MappedRequest::Answered(answer), _)) => return Step::Answer(answer),
                    Err(e) => Err(e),
                }
            }
        };
        match mapped {
            Ok((pieces, plan)) => {
                let tenancy = tenant_response(session, plan);
                self.forward(key, version, pieces, tenancy, watch)
            }
            Err(e) => decode_error(e),
        }
    }

    /// ApiVersions answered by the gateway from what the upstream offers (asked once on the
    /// gateway's own connection), narrowed for a tenant when the session is in one. On a route
    /// that shows several domains it is what all of them offer: a request may be fanned out to
    /// each, or sent to another domain than the connection's (a tenant's, to its home). A
    /// further domain that cannot be asked now is left out.
    pub async fn local_api_versions(
        &self,
        upstream: &UpstreamCluster,
        domains: &[Arc<UpstreamCluster>],
        version: i16,
        correlation_id: i32,
    ) -> Result<Bytes, End> {
        let mut keys = upstream
            .api_versions()
            .await
            .map_err(|e| End::Upstream(e.to_string()))?;
        if !self.route.nodes.is_identity() {
            // (A domain its health probe says is down is not waited for.)
            let others = domains.iter().filter(|d| d.domain != upstream.domain);
            for other in others.filter(|d| d.reachability().is_ok()) {
                if let Ok(theirs) = other.api_versions().await {
                    gatehouse_protocol::versions::narrow_to(&mut keys, &theirs);
                }
            }
        }
        match self.binding.current_session() {
            Ok(Some(_)) => gatehouse_tenancy::table::retain_tenant_keys(&mut keys),
            // Not authenticated yet: it may land in a virtual cluster, whose ACL keys the
            // gateway answers.
            _ if !self.gate.has_authenticated() => {
                gatehouse_tenancy::table::offer_acl_keys(&mut keys)
            }
            _ => {}
        }
        let header =
            kafka_protocol::messages::ResponseHeader::default().with_correlation_id(correlation_id);
        let body = kafka_protocol::messages::ApiVersionsResponse::default().with_api_keys(keys);
        gatehouse_protocol::codec::encode_response(&header, &body, ApiKey::ApiVersions, version)
            .map_err(|e| End::Upstream(e.to_string()))
    }
}

impl Body {
    fn into_bytes(self) -> Bytes {
        match self {
            Body::Whole(b) | Body::Head { bytes: b, .. } => b,
        }
    }
}

/// What the sequencer needs to un-map the answer to a tenant's request.
fn tenant_response(session: TenantSession, plan: ResponsePlan) -> Option<Box<TenantResponse>> {
    match plan {
        ResponsePlan::Untouched => None,
        ResponsePlan::Map(ctx) => Some(Box::new(TenantResponse { session, ctx })),
    }
}
