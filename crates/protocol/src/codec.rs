//! Typed decoding and encoding, used only when a stage asks for a message.
//!
//! Decoding works on frozen `Bytes`, so strings and record batches come out as slices of the
//! frame rather than copies. Array counts and lengths are bounded by the bytes left in the
//! frame (see `vendor/kafka-protocol/PATCHES.md`).

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};
use kafka_protocol::ResponseError;

use crate::frame::{write_frame, LENGTH_PREFIX};
use crate::versions::gateway_api_versions;

pub type CodecResult<T> = anyhow::Result<T>;

/// Decodes a response frame (length prefix included) of the given API key and version.
pub fn decode_response<T: Decodable>(
    frame: &Bytes,
    key: ApiKey,
    version: i16,
) -> CodecResult<(ResponseHeader, T)> {
    let mut buf = frame.slice(LENGTH_PREFIX..);
    let header = ResponseHeader::decode(&mut buf, key.response_header_version(version))?;
    let body = T::decode(&mut buf, version)?;
    crate::message::count_decode();
    Ok((header, body))
}

/// Encodes a response as a whole frame, length prefix included.
pub fn encode_response<T: Encodable>(
    header: &ResponseHeader,
    body: &T,
    key: ApiKey,
    version: i16,
) -> CodecResult<Bytes> {
    let mut out = BytesMut::new();
    write_frame(&mut out, |b| {
        header.encode(b, key.response_header_version(version))?;
        body.encode(b, version)
    })?;
    Ok(out.freeze())
}

/// Decodes a request frame (length prefix included).
pub fn decode_request<T: Decodable>(frame: &Bytes) -> CodecResult<(RequestHeader, T)> {
    let mut buf = frame.slice(LENGTH_PREFIX..);
    let peek = crate::header::RequestHeaderPeek::parse(&buf)?;
    let key = ApiKey::try_from(peek.api_key)
        .map_err(|_| anyhow::anyhow!("unknown API key {}", peek.api_key))?;
    let header = RequestHeader::decode(&mut buf, key.request_header_version(peek.api_version))?;
    let body = T::decode(&mut buf, peek.api_version)?;
    crate::message::count_decode();
    Ok((header, body))
}

/// Encodes a request as a whole frame, length prefix included.
pub fn encode_request<T: Encodable>(header: &RequestHeader, body: &T) -> CodecResult<Bytes> {
    let key = ApiKey::try_from(header.request_api_key)
        .map_err(|_| anyhow::anyhow!("unknown API key {}", header.request_api_key))?;
    let version = header.request_api_version;
    let mut out = BytesMut::new();
    write_frame(&mut out, |b| {
        header.encode(b, key.request_header_version(version))?;
        body.encode(b, version)
    })?;
    Ok(out.freeze())
}

/// Decodes a COMPACT_ARRAY of structs (e.g. a tagged field's value). The count is bounded by
/// the bytes left, as everywhere else.
pub fn decode_compact_array<T: Decodable>(buf: &mut Bytes, version: i16) -> CodecResult<Vec<T>> {
    let (n, used) = crate::header::read_unsigned_varint(buf, 0)
        .ok_or_else(|| anyhow::anyhow!("bad array length"))?;
    bytes::Buf::advance(buf, used);
    let count = (n as usize).saturating_sub(1);
    if count > buf.len() {
        anyhow::bail!("array of {count} exceeds the {} bytes remaining", buf.len());
    }
    (0..count).map(|_| T::decode(buf, version)).collect()
}

/// Encodes a COMPACT_ARRAY of structs.
pub fn encode_compact_array<T: Encodable>(
    out: &mut BytesMut,
    items: &[T],
    version: i16,
) -> CodecResult<()> {
    let mut n = items.len() + 1;
    while n >= 0x80 {
        out.extend_from_slice(&[(n as u8 & 0x7f) | 0x80]);
        n >>= 7;
    }
    out.extend_from_slice(&[n as u8]);
    items.iter().try_for_each(|i| i.encode(out, version))
}

/// Edits the key list of an ApiVersions response frame. A broker that does not support the
/// requested version answers in v0 format, so that is tried when the requested one fails.
pub fn edit_api_versions(
    frame: &Bytes,
    version: i16,
    edit: impl FnOnce(&mut Vec<kafka_protocol::messages::api_versions_response::ApiVersion>),
) -> CodecResult<Bytes> {
    let (header, mut body, version) =
        match decode_response::<ApiVersionsResponse>(frame, ApiKey::ApiVersions, version) {
            Ok((h, b)) => (h, b, version),
            Err(_) => {
                let (h, b) = decode_response::<ApiVersionsResponse>(frame, ApiKey::ApiVersions, 0)?;
                (h, b, 0)
            }
        };
    edit(&mut body.api_keys);
    encode_response(
        &ResponseHeader::default().with_correlation_id(header.correlation_id),
        &body,
        ApiKey::ApiVersions,
        version,
    )
}

/// The answer a broker gives to an ApiVersions request newer than it knows: a v0 response with
/// UNSUPPORTED_VERSION and the versions it does support, so the client can retry.
pub fn api_versions_too_new(correlation_id: i32) -> Bytes {
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let body = ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(gateway_api_versions());
    encode_response(&header, &body, ApiKey::ApiVersions, 0).expect("v0 ApiVersions always encodes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::MetadataRequest;

    #[test]
    fn too_new_answer_is_a_v0_error_listing_our_versions() {
        let frame = api_versions_too_new(7);
        let (h, r): (_, ApiVersionsResponse) =
            decode_response(&frame, ApiKey::ApiVersions, 0).unwrap();
        assert_eq!(h.correlation_id, 7);
        assert_eq!(r.error_code, ResponseError::UnsupportedVersion.code());
        assert!(r
            .api_keys
            .iter()
            .any(|k| k.api_key == ApiKey::ApiVersions as i16 && k.max_version == 4));
    }

    /// The kafka-protocol issue #152 pattern: a tiny frame whose array count claims billions of
    /// elements must be a decode error, not a multi-gigabyte allocation (or an abort).
    #[test]
    fn huge_array_counts_are_refused_without_allocating() {
        for (version, count) in [
            (1i16, vec![0x7f, 0xff, 0xff, 0xff]),
            (12, vec![0xff, 0xff, 0xff, 0xff, 0x07]),
        ] {
            let mut frame = BytesMut::new();
            write_frame::<()>(&mut frame, |b| {
                b.extend_from_slice(&3i16.to_be_bytes()); // Metadata
                b.extend_from_slice(&version.to_be_bytes());
                b.extend_from_slice(&1i32.to_be_bytes());
                b.extend_from_slice(&(-1i16).to_be_bytes()); // null client id
                if version >= 9 {
                    b.extend_from_slice(&[0]); // no header tagged fields
                }
                b.extend_from_slice(&count); // topics array count
                Ok(())
            })
            .unwrap();
            let err = decode_request::<MetadataRequest>(&frame.freeze()).unwrap_err();
            assert!(err.to_string().contains("exceeds"), "v{version}: {err}");
        }
    }

    #[test]
    fn request_round_trip() {
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::Metadata as i16)
            .with_request_api_version(12)
            .with_correlation_id(5);
        let frame = encode_request(&header, &MetadataRequest::default()).unwrap();
        let (h, _): (_, MetadataRequest) = decode_request(&frame).unwrap();
        assert_eq!(h.correlation_id, 5);
    }
}
