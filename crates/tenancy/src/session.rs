//! The tenancy stage as a connection uses it: one request in, one response out.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;

use gatehouse_protocol::codec::{edit_api_versions, CodecResult};
use gatehouse_protocol::frame::LENGTH_PREFIX;
use gatehouse_protocol::produce_names::{produce_names, produce_response_names};

use crate::mapper::{RequestMapper, ResponseContext, ResponseMapper};
use crate::names::{Entity, Tenant};
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

    /// Maps a request frame (length prefix included) for the upstream. The result is the
    /// frame to send, in one or more pieces (written together, in order).
    pub fn request(
        &self,
        key: ApiKey,
        version: i16,
        frame: Bytes,
    ) -> CodecResult<(Vec<Bytes>, ResponsePlan)> {
        if key == ApiKey::ApiVersions {
            return Ok((vec![frame], ResponsePlan::Map(Box::default())));
        }
        if !table::MAPPED_KEYS.contains(&key) {
            return Ok((vec![frame], ResponsePlan::Untouched));
        }
        if key == ApiKey::Produce && version <= 12 {
            let chunks = self.splice_produce(frame, version)?;
            return Ok((chunks, ResponsePlan::Map(Box::default())));
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
        Ok((vec![frame], plan))
    }

    /// A Produce request with its names mapped, as slices of the original frame around new
    /// name strings: the record batches are not copied. (What the Produce entry of the table
    /// does by decoding, done without decoding; the golden cases check both agree.)
    fn splice_produce(&self, frame: Bytes, version: i16) -> CodecResult<Vec<Bytes>> {
        let names = produce_names(&frame, version)?;
        let compact = version >= 9;
        let edits = std::iter::once((names.transactional_id, Entity::TransactionalId))
            .chain(names.topics.into_iter().map(|r| (r, Entity::Topic)));
        let mut head = BytesMut::new();
        head.put_i32(0); // the length, patched below
        let mut chunks = Vec::new();
        let mut at = LENGTH_PREFIX;
        let mut total = frame.len() - LENGTH_PREFIX;
        for (span, entity) in edits {
            let len_bytes = if compact {
                gatehouse_protocol::header::read_unsigned_varint(&frame, span.start)
                    .map_or(1, |(_, used)| used)
            } else {
                2
            };
            let text = &frame[span.start + len_bytes..span.end];
            if text.is_empty() {
                continue; // null or empty: nothing to map
            }
            let name = std::str::from_utf8(text)?;
            let mapped = self.tenant.map(entity, name);
            let mut piece = BytesMut::with_capacity(mapped.len() + 3);
            if compact {
                put_uvarint(&mut piece, mapped.len() as u32 + 1);
            } else {
                piece.put_i16(i16::try_from(mapped.len())?);
            }
            piece.put_slice(mapped.as_bytes());
            total = total + piece.len() - span.len();
            // The bytes before the first name (the header) join the length prefix.
            if chunks.is_empty() {
                head.put_slice(&frame[at..span.start]);
            } else if span.start > at {
                chunks.push(frame.slice(at..span.start));
            }
            chunks.push(piece.freeze());
            at = span.end;
        }
        if chunks.is_empty() {
            return Ok(vec![frame]);
        }
        chunks.push(frame.slice(at..));
        head[..LENGTH_PREFIX].copy_from_slice(&i32::try_from(total)?.to_be_bytes());
        chunks.insert(0, head.freeze());
        Ok(chunks)
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
        if key == ApiKey::Produce && version <= 12 && ctx.is_empty() {
            if let Some(frame) = self.unsplice_produce_response(&frame, version)? {
                return Ok(frame);
            }
        }
        let mapper = ResponseMapper {
            tenant: &self.tenant,
            ids: &self.ids,
            version,
            ctx,
        };
        table::map_response(key, frame, &mapper)
    }

    /// A Produce response with its topic names un-prefixed, found without decoding it (the
    /// request path's splice, the other way). None when a name is not the tenant's: the
    /// table's decoding path then filters it.
    fn unsplice_produce_response(&self, frame: &Bytes, version: i16) -> CodecResult<Option<Bytes>> {
        let names = produce_response_names(frame, version)?;
        if names.is_empty() {
            return Ok(Some(frame.clone()));
        }
        let compact = version >= 9;
        // A response holds no records, only names and offsets: one small buffer is cheaper
        // than decoding it into per-partition structs and encoding those again.
        let mut out = BytesMut::with_capacity(frame.len());
        out.put_i32(0); // the length, patched below
        let mut at = LENGTH_PREFIX;
        for span in names {
            let len_bytes = if compact {
                gatehouse_protocol::header::read_unsigned_varint(frame, span.start)
                    .map_or(1, |(_, used)| used)
            } else {
                2
            };
            let text = std::str::from_utf8(&frame[span.start + len_bytes..span.end])?;
            let Some(name) = self.tenant.strip(Entity::Topic, text) else {
                return Ok(None);
            };
            out.put_slice(&frame[at..span.start]);
            if compact {
                put_uvarint(&mut out, name.len() as u32 + 1);
            } else {
                out.put_i16(i16::try_from(name.len())?);
            }
            out.put_slice(name.as_bytes());
            at = span.end;
        }
        out.put_slice(&frame[at..]);
        let len = i32::try_from(out.len() - LENGTH_PREFIX)?;
        out[..LENGTH_PREFIX].copy_from_slice(&len.to_be_bytes());
        Ok(Some(out.freeze()))
    }
}

fn put_uvarint(out: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        out.put_u8((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.put_u8(v as u8);
}

/// A tenant is told only of the keys it may send.
fn api_versions(frame: Bytes, version: i16) -> CodecResult<Bytes> {
    edit_api_versions(&frame, version, table::retain_tenant_keys)
}
