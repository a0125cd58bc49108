//! The tenancy stage as a connection uses it: one request in, one response out.

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, ResponseHeader};

use gatehouse_protocol::codec::{decode_response, encode_response, CodecResult};

use crate::mapper::{RequestMapper, ResponseContext, ResponseMapper};
use crate::names::Tenant;
use crate::table::{self, tenant_may_send};
use crate::topic_ids::TopicIds;

/// A client connection bound to a tenant.
#[derive(Debug, Clone)]
pub struct TenantSession {
    tenant: Arc<Tenant>,
    ids: Arc<TopicIds>,
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
    pub fn new(tenant: Arc<Tenant>, ids: Arc<TopicIds>) -> Self {
        Self { tenant, ids }
    }

    pub fn tenant(&self) -> &Arc<Tenant> {
        &self.tenant
    }

    /// Whether a tenant may send this API key (the key's version was already admitted).
    pub fn may_send(&self, key: ApiKey) -> bool {
        tenant_may_send(key)
    }

    /// Maps a request frame (length prefix included) for the upstream.
    pub fn request(
        &self,
        key: ApiKey,
        version: i16,
        frame: Bytes,
    ) -> CodecResult<(Bytes, ResponsePlan)> {
        if key == ApiKey::ApiVersions {
            return Ok((frame, ResponsePlan::Map(Box::default())));
        }
        if !table::MAPPED_KEYS.contains(&key) {
            return Ok((frame, ResponsePlan::Untouched));
        }
        let mut mapper = RequestMapper {
            tenant: &self.tenant,
            ids: &self.ids,
            ctx: ResponseContext::default(),
        };
        let frame = table::map_request(key, &frame, &mut mapper)?;
        let plan = if table::response_carries_names(key, version) || !mapper.ctx.is_empty() {
            ResponsePlan::Map(Box::new(mapper.ctx))
        } else {
            ResponsePlan::Untouched
        };
        Ok((frame, plan))
    }

    /// Un-maps and filters a response frame for the client.
    pub fn response(
        &self,
        key: ApiKey,
        version: i16,
        ctx: &ResponseContext,
        frame: Bytes,
    ) -> CodecResult<Bytes> {
        if key == ApiKey::ApiVersions {
            return api_versions(frame, version);
        }
        let mapper = ResponseMapper {
            tenant: &self.tenant,
            ids: &self.ids,
            version,
            ctx,
        };
        table::map_response(key, frame, &mapper)
    }
}

/// A tenant is told only of the keys it may send.
fn api_versions(frame: Bytes, version: i16) -> CodecResult<Bytes> {
    // The routing stage already answered in the version it could decode (v0 on error).
    let (header, mut body, version) =
        match decode_response::<ApiVersionsResponse>(&frame, ApiKey::ApiVersions, version) {
            Ok((h, b)) => (h, b, version),
            Err(_) => {
                let (h, b) =
                    decode_response::<ApiVersionsResponse>(&frame, ApiKey::ApiVersions, 0)?;
                (h, b, 0)
            }
        };
    body.api_keys
        .retain(|k| ApiKey::try_from(k.api_key).is_ok_and(tenant_may_send));
    encode_response::<ApiVersionsResponse>(
        &ResponseHeader::default().with_correlation_id(header.correlation_id),
        &body,
        ApiKey::ApiVersions,
        version,
    )
}
