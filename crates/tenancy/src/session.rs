//! The tenancy stage as a connection uses it: one request in, one response out.

use std::ops::Range;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;

use gatehouse_protocol::codec::{edit_api_versions, CodecResult};
use gatehouse_protocol::frame::LENGTH_PREFIX;
use gatehouse_protocol::name_spans::{fetch_response_names, produce_names, produce_response_names};

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

    /// Un-maps and filters a response frame for the client. The result is the frame to send,
    /// in one or more pieces (written together, in order).
    pub fn response(
        &self,
        key: ApiKey,
        version: i16,
        ctx: &ResponseContext,
        frame: Bytes,
    ) -> CodecResult<Vec<Bytes>> {
        if key == ApiKey::ApiVersions {
            return Ok(vec![api_versions(frame, version)?]);
        }
        // Responses whose only names are topic names, all the request's own: un-prefixed
        // around the bytes that stay as they are (a Fetch's records are never copied).
        let spans = match key {
            ApiKey::Produce if version <= 12 && ctx.is_empty() => {
                Some(produce_response_names(&frame, version)?)
            }
            ApiKey::Fetch if version <= 12 && ctx.is_empty() => {
                Some(fetch_response_names(&frame, version)?)
            }
            _ => None,
        };
        if let Some(spans) = spans {
            if let Some(pieces) =
                self.unprefix_topics(&frame, spans, version_is_compact(key, version))?
            {
                return Ok(pieces);
            }
        }
        let mapper = ResponseMapper {
            tenant: &self.tenant,
            ids: &self.ids,
            version,
            ctx,
        };
        Ok(vec![table::map_response(key, frame, &mapper)?])
    }

    /// The frame with each topic name in `spans` un-prefixed: short runs between names are
    /// copied into small buffers, long ones (records) go on as slices of the upstream's frame.
    /// None when a name is not the tenant's: the table's decoding path then drops it.
    fn unprefix_topics(
        &self,
        frame: &Bytes,
        spans: Vec<Range<usize>>,
        compact: bool,
    ) -> CodecResult<Option<Vec<Bytes>>> {
        let len_bytes = |span: &Range<usize>| {
            if compact {
                gatehouse_protocol::header::read_unsigned_varint(frame, span.start)
                    .map_or(1, |(_, used)| used)
            } else {
                2
            }
        };
        let mut names = Vec::with_capacity(spans.len());
        let mut total = frame.len() - LENGTH_PREFIX;
        for span in spans {
            let text = std::str::from_utf8(&frame[span.start + len_bytes(&span)..span.end])?;
            let Some(name) = self.tenant.strip(Entity::Topic, text) else {
                return Ok(None);
            };
            let new_len = if compact {
                uvarint_len(name.len() as u32 + 1)
            } else {
                2
            } + name.len();
            total = total - span.len() + new_len;
            names.push((span, name));
        }
        let mut pieces = Vec::new();
        let mut small = BytesMut::with_capacity(64);
        small.put_i32(i32::try_from(total)?);
        let mut at = LENGTH_PREFIX;
        for (span, name) in names.iter().map(|(s, n)| (Some(s), *n)).chain([(None, "")]) {
            let until = span.map_or(frame.len(), |s| s.start);
            if until - at >= COPY_LIMIT {
                if !small.is_empty() {
                    pieces.push(small.split().freeze());
                }
                pieces.push(frame.slice(at..until));
            } else {
                small.put_slice(&frame[at..until]);
            }
            let Some(span) = span else { break };
            if compact {
                put_uvarint(&mut small, name.len() as u32 + 1);
            } else {
                small.put_i16(i16::try_from(name.len())?);
            }
            small.put_slice(name.as_bytes());
            at = span.end;
        }
        if !small.is_empty() {
            pieces.push(small.freeze());
        }
        Ok(Some(pieces))
    }
}

/// Runs shorter than this between names are copied rather than sliced: a slice costs a
/// reference count and an entry in the write's vector, a copy of a few dozen bytes costs less.
const COPY_LIMIT: usize = 512;

fn version_is_compact(key: ApiKey, version: i16) -> bool {
    match key {
        ApiKey::Produce => version >= 9,
        ApiKey::Fetch => version >= 12,
        _ => unreachable!("only Produce and Fetch responses are un-prefixed by walking"),
    }
}

fn uvarint_len(v: u32) -> usize {
    match v {
        0..0x80 => 1,
        0x80..0x4000 => 2,
        0x4000..0x20_0000 => 3,
        0x20_0000..0x1000_0000 => 4,
        _ => 5,
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
