//! Peeking at request and response headers without decoding bodies.
//!
//! Every request header starts with `api_key: i16, api_version: i16, correlation_id: i32`,
//! whatever its version, so routing a frame needs eight bytes. The rest of the header (client
//! id, tagged fields) is only walked when a stage needs the body offset.

use kafka_protocol::messages::ApiKey;

/// Bytes before the client id in every request header.
const FIXED_REQUEST_HEADER: usize = 8;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HeaderError {
    #[error("request header truncated: {0} bytes")]
    Truncated(usize),
    #[error("client id length {len} exceeds the {left} bytes left in the frame")]
    ClientIdOverrun { len: usize, left: usize },
    #[error("malformed tagged fields in the request header")]
    TaggedFields,
    #[error("request body truncated")]
    BodyTruncated,
}

/// The fixed part of a request header, read from a frame body (after the length prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHeaderPeek {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
}

impl RequestHeaderPeek {
    /// Reads the fixed header fields. A frame too short to hold them is malformed.
    pub fn parse(body: &[u8]) -> Result<Self, HeaderError> {
        if body.len() < FIXED_REQUEST_HEADER {
            return Err(HeaderError::Truncated(body.len()));
        }
        Ok(Self {
            api_key: i16::from_be_bytes([body[0], body[1]]),
            api_version: i16::from_be_bytes([body[2], body[3]]),
            correlation_id: i32::from_be_bytes([body[4], body[5], body[6], body[7]]),
        })
    }

    /// Offset of the request body inside `body`: walks the client id and, for flexible
    /// header versions, the tagged fields, checking every length against the bytes left.
    pub fn body_offset(&self, key: ApiKey, body: &[u8]) -> Result<usize, HeaderError> {
        let header_version = key.request_header_version(self.api_version);
        let mut at = FIXED_REQUEST_HEADER;
        if header_version >= 1 {
            let len = read_i16(body, at).ok_or(HeaderError::Truncated(body.len()))?;
            at += 2;
            if len > 0 {
                let len = len as usize;
                let left = body.len() - at;
                if len > left {
                    return Err(HeaderError::ClientIdOverrun { len, left });
                }
                at += len;
            }
        }
        if header_version >= 2 {
            at = skip_tagged_fields(body, at).ok_or(HeaderError::TaggedFields)?;
        }
        Ok(at)
    }
}

/// `acks` of a Produce request, read without decoding the topic data. Produce with `acks=0`
/// gets no response from the broker, so the gateway must not wait for one. `at` is the body
/// offset from [`RequestHeaderPeek::body_offset`], which the caller has already walked.
pub fn produce_acks(api_version: i16, body: &[u8], at: usize) -> Result<i16, HeaderError> {
    produce_fields(api_version, body, at).map(|f| f.acks)
}

/// What the start of a Produce request body says: whether it belongs to a transaction (its
/// record batches then carry a producer id the gateway checks) and its `acks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProduceFields {
    pub transactional: bool,
    pub acks: i16,
}

/// Reads [`ProduceFields`]; `at` as for [`produce_acks`].
pub fn produce_fields(
    api_version: i16,
    body: &[u8],
    mut at: usize,
) -> Result<ProduceFields, HeaderError> {
    // transactional_id: NULLABLE_STRING, compact from v9 on.
    let transactional = if api_version >= 9 {
        let (n, used) = read_unsigned_varint(body, at).ok_or(HeaderError::BodyTruncated)?;
        at += used;
        if n > 1 {
            at += (n - 1) as usize;
        }
        n > 0
    } else {
        let len = read_i16(body, at).ok_or(HeaderError::BodyTruncated)?;
        at += 2;
        if len > 0 {
            at += len as usize;
        }
        len >= 0
    };
    let acks = read_i16(body, at).ok_or(HeaderError::BodyTruncated)?;
    Ok(ProduceFields {
        transactional,
        acks,
    })
}

/// Correlation id of a response frame body (the first field of every response header).
pub fn response_correlation_id(body: &[u8]) -> Option<i32> {
    body.get(..4)
        .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn read_i16(b: &[u8], at: usize) -> Option<i16> {
    let s = b.get(at..at + 2)?;
    Some(i16::from_be_bytes([s[0], s[1]]))
}

/// Returns (value, bytes used). At most five bytes, as Kafka's unsigned varint for i32.
pub fn read_unsigned_varint(b: &[u8], at: usize) -> Option<(u32, usize)> {
    let mut value = 0u32;
    for i in 0..5 {
        let byte = *b.get(at + i)?;
        value |= ((byte & 0x7f) as u32) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

fn skip_tagged_fields(b: &[u8], mut at: usize) -> Option<usize> {
    let (count, used) = read_unsigned_varint(b, at)?;
    at += used;
    for _ in 0..count {
        let (_tag, used) = read_unsigned_varint(b, at)?;
        at += used;
        let (size, used) = read_unsigned_varint(b, at)?;
        at += used + size as usize;
        if at > b.len() {
            return None;
        }
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::{ProduceRequest, RequestHeader};
    use kafka_protocol::protocol::{Encodable, StrBytes};

    fn encode_produce(version: i16, acks: i16, txn: Option<&str>) -> BytesMut {
        let mut b = BytesMut::new();
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::Produce as i16)
            .with_request_api_version(version)
            .with_correlation_id(42)
            .with_client_id(Some(StrBytes::from_static_str("probe")));
        header
            .encode(&mut b, ApiKey::Produce.request_header_version(version))
            .unwrap();
        let req = ProduceRequest::default()
            .with_acks(acks)
            .with_timeout_ms(1000)
            .with_transactional_id(txn.map(|t| StrBytes::from_string(t.into()).into()));
        req.encode(&mut b, version).unwrap();
        b
    }

    #[test]
    fn peeks_fixed_fields() {
        let b = encode_produce(9, 1, None);
        let p = RequestHeaderPeek::parse(&b).unwrap();
        assert_eq!((p.api_key, p.api_version, p.correlation_id), (0, 9, 42));
    }

    #[test]
    fn reads_produce_acks_for_old_and_flexible_versions() {
        for version in [3, 8, 9, 11] {
            for (acks, txn) in [(0, None), (-1, Some("tx-1")), (1, Some(""))] {
                let b = encode_produce(version, acks, txn);
                let p = RequestHeaderPeek::parse(&b).unwrap();
                let at = p.body_offset(ApiKey::Produce, &b).unwrap();
                assert_eq!(
                    produce_acks(version, &b, at).unwrap(),
                    acks,
                    "v{version} {txn:?}"
                );
            }
        }
    }

    #[test]
    fn truncated_headers_are_errors_not_panics() {
        assert_eq!(
            RequestHeaderPeek::parse(&[0, 3, 0]).unwrap_err(),
            HeaderError::Truncated(3)
        );
        // Metadata v1, client id claims 300 bytes but the frame ends.
        let body = [0, 3, 0, 1, 0, 0, 0, 1, 0x01, 0x2c, b'x'];
        let p = RequestHeaderPeek::parse(&body).unwrap();
        assert!(matches!(
            p.body_offset(ApiKey::Metadata, &body),
            Err(HeaderError::ClientIdOverrun { len: 300, .. })
        ));
        // Produce v9 cut right after the header.
        let b = encode_produce(9, 1, None);
        let p = RequestHeaderPeek::parse(&b).unwrap();
        let cut = p.body_offset(ApiKey::Produce, &b).unwrap();
        assert_eq!(
            produce_acks(p.api_version, &b[..cut], cut).unwrap_err(),
            HeaderError::BodyTruncated
        );
    }
}
