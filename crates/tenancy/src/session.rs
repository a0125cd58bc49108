//! The tenancy stage as a connection uses it: one request in, one response out.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::StrBytes;

use gatehouse_protocol::codec::{edit_api_versions, CodecResult};
use gatehouse_protocol::message::{RequestMessage, ResponseMessage};
use gatehouse_protocol::name_spans::{
    fetch_response_names, produce_names, produce_response_names, ProduceNames,
};

use crate::acl::ClientAcls;
use crate::mapper::{RequestMapper, ResponseContext, ResponseMapper};
use crate::names::{Domain, Entity, Tenant};
use crate::producer_ids::ProducerIds;
use crate::respell;
use crate::table::{self, tenant_may_send};

use crate::topic_ids::TopicIds;

/// A client connection bound to a tenant.
#[derive(Debug, Clone)]
pub struct TenantSession {
    tenant: Arc<Tenant>,
    /// The further domain this session's requests go to; `None`: the tenant's home domain.
    further: Option<Arc<str>>,
    ids: Arc<TopicIds>,
    producers: Arc<ProducerIds>,
    /// The client's ACLs, when its virtual cluster enforces them and it is no super user.
    acls: Option<Arc<ClientAcls>>,
}

/// A request as the tenancy stage leaves it.
pub enum MappedRequest {
    /// The shared message, edited in place (encoded once, by whoever sends it).
    Message(RequestMessage),
    /// A Produce respelled around its record batches: the frame in pieces.
    Pieces(Vec<Bytes>),
    /// Not forwarded: the gateway's answer (the client's ACLs refuse all of it).
    Answered(Bytes),
}

impl MappedRequest {
    /// The frame to send, in pieces.
    pub fn into_pieces(self) -> CodecResult<Vec<Bytes>> {
        match self {
            MappedRequest::Message(m) => Ok(vec![m.into_frame()?]),
            MappedRequest::Pieces(p) => Ok(p),
            MappedRequest::Answered(_) => Err(answered()),
        }
    }

    /// The frame to send, whole (its pieces joined: for requests the gateway sends itself,
    /// where no splice follows).
    pub fn into_frame(self) -> CodecResult<Bytes> {
        match self {
            MappedRequest::Message(m) => m.into_frame(),
            MappedRequest::Pieces(p) => Ok(joined(p)),
            MappedRequest::Answered(_) => Err(answered()),
        }
    }
}

/// A request the gateway answered has no frame to send (callers that cannot answer it
/// check for [`MappedRequest::Answered`] first).
fn answered() -> anyhow::Error {
    anyhow::anyhow!("the request was answered by the gateway, not forwarded")
}

/// What the response to a mapped request needs.
#[derive(Debug)]
pub enum ResponsePlan {
    /// Nothing to un-map: pass it on as the routing stage does.
    Untouched,
    /// Decode the whole response and hand it to [`TenantSession::response`].
    Map(Box<ResponseContext>),
}

impl TenantSession {
    /// A session of `tenant` on a streaming domain whose topic ids and issued producer ids
    /// (shared by every session on the domain) are `ids` and `producers`.
    pub fn new(tenant: Arc<Tenant>, ids: Arc<TopicIds>, producers: Arc<ProducerIds>) -> Self {
        Self {
            tenant,
            further: None,
            ids,
            producers,
            acls: None,
        }
    }

    /// The same session for a client that authenticated as `principal` (its user name;
    /// [`crate::acl::ANONYMOUS`] without authentication), connected from `host`: the
    /// tenant's ACLs, if it enforces them, decide what it may do.
    pub fn for_client(mut self, principal: &str, host: std::net::IpAddr) -> Self {
        self.acls = (self.tenant.acls.as_ref())
            .and_then(|a| ClientAcls::new(a, principal, host))
            .map(Arc::new);
        self
    }

    /// The client's ACLs (None: nothing is checked: no `aclEnabled`, or a super user).
    pub fn client_acls(&self) -> Option<&ClientAcls> {
        self.acls.as_deref()
    }

    /// The same tenant's view of a further domain of its route (one of its aliases' domains),
    /// whose topic ids are `ids`: only the aliases there exist.
    pub fn on_further_domain(&self, domain: Arc<str>, ids: Arc<TopicIds>) -> Self {
        Self {
            tenant: self.tenant.clone(),
            further: Some(domain),
            ids,
            producers: self.producers.clone(),
            acls: self.acls.clone(),
        }
    }

    /// The domain this session's requests go to.
    pub fn domain(&self) -> Domain<'_> {
        match &self.further {
            None => Domain::Home,
            Some(d) => Domain::Further(d),
        }
    }

    /// The gateway's own answer to a request that must not go upstream: a transactional
    /// request whose producer id was not issued to its transactional id (answered with
    /// INVALID_PRODUCER_ID_MAPPING). None for every other request; call before [`Self::request`].
    pub fn refusal(&self, key: ApiKey, version: i16, frame: &Bytes) -> CodecResult<Option<Bytes>> {
        crate::txn_guard::refusal(&self.tenant, &self.producers, key, version, frame)
    }

    pub fn tenant(&self) -> &Arc<Tenant> {
        &self.tenant
    }

    /// Whether a tenant may send this API key (the key's version was already admitted).
    pub fn may_send(&self, key: ApiKey) -> bool {
        tenant_may_send(key)
    }

    /// Maps a request frame (length prefix included) for the upstream. The result is the
    /// frame to send, in one or more pieces (written together, in order).
    pub fn request(
        &self,
        key: ApiKey,
        version: i16,
        frame: Bytes,
    ) -> CodecResult<(Vec<Bytes>, ResponsePlan)> {
        let (mapped, plan) = self.request_message(RequestMessage::new(key, version, frame))?;
        Ok((mapped.into_pieces()?, plan))
    }

    /// Maps a request held as the message every stage shares: decoded (once) and edited in
    /// place when its names must change, so a later stage edits the same decoded body and it
    /// is encoded once. A Produce is respelled around its record batches instead (pieces).
    pub fn request_message(
        &self,
        mut message: RequestMessage,
    ) -> CodecResult<(MappedRequest, ResponsePlan)> {
        let (key, version) = (message.key(), message.version());
        if key == ApiKey::ApiVersions {
            return Ok((
                MappedRequest::Message(message),
                ResponsePlan::Map(Box::default()),
            ));
        }
        if !table::MAPPED_KEYS.contains(&key) {
            return Ok((MappedRequest::Message(message), ResponsePlan::Untouched));
        }
        if key == ApiKey::Produce && version <= 12 {
            if let Some(frame) = message.raw().cloned() {
                let names = produce_names(&frame, version)?;
                // (None: a topic is refused, which takes the decoding path below.)
                if let Some((pieces, plan)) = self.produce_head(version, frame, names)? {
                    return Ok((MappedRequest::Pieces(pieces), plan));
                }
            }
        }
        let mut mapper = RequestMapper {
            tenant: &self.tenant,
            version,
            domain: self.domain(),
            ids: &self.ids,
            acls: self.acls.as_deref(),
            ctx: ResponseContext::default(),
        };
        table::map_request(&mut message, &mut mapper)?;
        if let Some(code) = mapper.ctx.answer {
            let answer = table::answer(
                key,
                version,
                message.correlation_id(),
                code,
                &self.mapper(&mapper.ctx),
            )?;
            return Ok((MappedRequest::Answered(answer), ResponsePlan::Untouched));
        }
        let plan = if table::response_carries_names(key, version) || !mapper.ctx.is_empty() {
            ResponsePlan::Map(Box::new(mapper.ctx))
        } else {
            ResponsePlan::Untouched
        };
        Ok((MappedRequest::Message(message), plan))
    }

    /// The further streaming domains of the tenant's aliases, each with the Metadata request
    /// the gateway sends there: the physical names of the aliases the client asked about (all
    /// of the domain's when it asked for every topic; none, for its brokers only, when it
    /// asked for none of them), never creating a topic.
    /// Their answers are un-mapped by [`Self::on_further_domain`] views and merged with the
    /// home domain's.
    pub fn alias_metadata_requests(
        &self,
        version: i16,
        frame: &Bytes,
    ) -> CodecResult<Vec<(String, Bytes)>> {
        use kafka_protocol::messages::{metadata_request::MetadataRequestTopic, MetadataRequest};
        use std::collections::BTreeMap;
        let aliases = &self.tenant.aliases;
        if aliases.further_domains().is_empty() {
            return Ok(Vec::new());
        }
        let (header, request) =
            gatehouse_protocol::codec::decode_request::<MetadataRequest>(frame)?;
        let wanted: Vec<&crate::Alias> = match &request.topics {
            // Null: every topic (v1+; v0's empty list means the same).
            None => aliases.further().collect(),
            Some(ts) if ts.is_empty() && version == 0 => aliases.further().collect(),
            Some(ts) => ts
                .iter()
                .filter_map(|t| t.name.as_ref().and_then(|n| self.tenant.alias(&n.0)))
                .filter(|a| a.domain.is_some())
                .collect(),
        };
        // Every domain of the tenant's aliases is asked, for its brokers at least: a client
        // sees one cluster, whose broker list must not depend on the topics it asked about
        // (librdkafka's DescribeCluster is a Metadata request for no topic).
        let mut by_domain: BTreeMap<&str, Vec<MetadataRequestTopic>> =
            (aliases.further_domains().iter())
                .map(|d| (d.as_str(), Vec::new()))
                .collect();
        for a in wanted {
            let name =
                kafka_protocol::messages::TopicName(StrBytes::from_string(a.physical.clone()));
            (by_domain
                .entry(a.domain.as_deref().expect("further"))
                .or_default())
            .push(MetadataRequestTopic::default().with_name(Some(name)));
        }
        by_domain
            .into_iter()
            .map(|(domain, topics)| {
                let body = request
                    .clone()
                    .with_topics(Some(topics))
                    .with_allow_auto_topic_creation(false);
                let frame = gatehouse_protocol::codec::encode_request(&header, &body)?;
                Ok((domain.to_string(), frame))
            })
            .collect()
    }

    /// A Produce request (v3–12) with its names mapped, as slices of the original frame around
    /// new name strings: the record batches are not copied. (What the Produce entry of the
    /// table does by decoding, done without decoding; the golden cases check both agree.)
    ///
    /// `frame` may be only the beginning of the request, when [`produce_head_names`] found
    /// every name in it: the pieces then map that beginning, and the rest of the frame follows
    /// them unchanged (the new length prefix already counts it).
    ///
    /// None when a topic is a READ alias, or one the client's ACLs do not let it WRITE: such
    /// a Produce is decoded whole, so that its other topics go upstream and that one is
    /// answered TOPIC_AUTHORIZATION_FAILED.
    ///
    /// [`produce_head_names`]: gatehouse_protocol::name_spans::produce_head_names
    pub fn produce_head(
        &self,
        version: i16,
        frame: Bytes,
        names: ProduceNames,
    ) -> CodecResult<Option<(Vec<Bytes>, ResponsePlan)>> {
        let compact = version >= 9;
        let spans = std::iter::once((names.transactional_id, Entity::TransactionalId))
            .chain(names.topics.into_iter().map(|r| (r, Entity::Topic)));
        let mut edits = Vec::new();
        for (span, entity) in spans {
            let name = respell::text(&frame, &span, compact)?;
            if !name.is_empty() {
                // (null or empty: nothing to map)
                let read_only = |a: &crate::Alias| a.access == crate::Access::Read;
                if entity == Entity::Topic && self.tenant.alias(name).is_some_and(read_only) {
                    return Ok(None);
                }
                let refused = |a: &ClientAcls| {
                    !a.allows(
                        crate::acl::Operation::Write,
                        crate::acl::ResourceType::Topic,
                        name,
                    )
                };
                if entity == Entity::Topic && self.acls.as_deref().is_some_and(refused) {
                    return Ok(None);
                }
                let mapped = self.tenant.map_on(self.domain(), entity, name);
                edits.push((span, mapped));
            }
        }
        let pieces = match edits.is_empty() {
            true => vec![frame],
            false => respell::respell(&frame, &edits, compact)?,
        };
        Ok(Some((pieces, ResponsePlan::Map(Box::default()))))
    }

    /// Un-maps and filters a response for the client. The result is the frame to send, in
    /// one or more pieces (written together, in order). A message an earlier stage decoded
    /// is edited as it is (not decoded again); a raw one whose only names are its request's
    /// topics is respelled around the bytes that stay.
    pub fn response(
        &self,
        ctx: &ResponseContext,
        mut message: ResponseMessage,
    ) -> CodecResult<Vec<Bytes>> {
        let (key, version) = (message.key(), message.version());
        if key == ApiKey::ApiVersions {
            return Ok(vec![api_versions(message.into_frame()?, version)?]);
        }
        // Responses whose only names are topic names, all the request's own: un-prefixed
        // around the bytes that stay as they are (a Fetch's records are never copied).
        // (Each walk with whether its version's strings are compact, i.e. flexible.)
        if let Some(frame) = message.raw().filter(|_| ctx.is_empty()) {
            let spans = match key {
                ApiKey::Produce if version <= 12 => {
                    Some((produce_response_names(frame, version)?, version >= 9))
                }
                ApiKey::Fetch if version <= 12 => {
                    Some((fetch_response_names(frame, version)?, version >= 12))
                }
                _ => None,
            };
            if let Some((spans, compact)) = spans {
                if let Some(pieces) = self.unprefix_topics(frame, spans, compact)? {
                    return Ok(pieces);
                }
            }
        }
        table::map_response(&mut message, &self.mapper(ctx))?;
        Ok(vec![message.into_frame()?])
    }

    /// The response side of this session, for a request's context.
    fn mapper<'a>(&'a self, ctx: &'a ResponseContext) -> ResponseMapper<'a> {
        ResponseMapper {
            tenant: &self.tenant,
            domain: self.domain(),
            ids: &self.ids,
            producers: &self.producers,
            ctx,
            acls: self.acls.as_deref(),
        }
    }

    /// The frame with each topic name in `spans` un-prefixed around the bytes that stay (a
    /// Fetch's records are not copied). None when a name is not the tenant's: the table's
    /// decoding path then drops it.
    fn unprefix_topics(
        &self,
        frame: &Bytes,
        spans: Vec<Range<usize>>,
        compact: bool,
    ) -> CodecResult<Option<Vec<Bytes>>> {
        let mut edits = Vec::with_capacity(spans.len());
        for span in spans {
            let name = respell::text(frame, &span, compact)?;
            let Some(name) = self.tenant.strip_on(self.domain(), Entity::Topic, name) else {
                return Ok(None);
            };
            edits.push((span, name));
        }
        respell::respell(frame, &edits, compact).map(Some)
    }
}

/// A tenant is told only of the keys it may send.
fn api_versions(frame: Bytes, version: i16) -> CodecResult<Bytes> {
    edit_api_versions(&frame, version, table::retain_tenant_keys)
}

/// Pieces of one frame as one `Bytes`: the piece itself when there is one (no copy).
pub fn joined(mut pieces: Vec<Bytes>) -> Bytes {
    match pieces.len() {
        1 => pieces.pop().expect("one piece"),
        _ => pieces.concat().into(),
    }
}
