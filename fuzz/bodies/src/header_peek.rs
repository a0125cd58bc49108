//! The header peek: `RequestHeaderPeek::parse`, `body_offset` for every API key,
//! `produce_fields` / `produce_acks`, `response_correlation_id`, `read_unsigned_varint`.
//!
//! Input: `[mode][bytes...]`. Mode odd: the bytes choose a Produce request that kafka-protocol
//! encodes (then damaged a little); even: the bytes are the frame body as they are. Wherever
//! kafka-protocol decodes the same bytes, the peek must agree with it.

use bytes::Bytes;
use gatehouse_protocol::header::{
    produce_acks, produce_fields, read_unsigned_varint, response_correlation_id, RequestHeaderPeek,
};
use gatehouse_protocol::kafka_protocol::messages::{ApiKey, ProduceRequest, RequestHeader};
use gatehouse_protocol::kafka_protocol::protocol::Decodable;

use crate::input::{mutate, Input};
use crate::messages::produce_request;

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    if input.u8() % 2 == 1 {
        let Some(p) = produce_request(&mut input) else {
            return;
        };
        let body = &p.frame[4..];
        let peek = RequestHeaderPeek::parse(body).expect("an encoded header parses");
        assert_eq!(
            (peek.api_key, peek.api_version),
            (ApiKey::Produce as i16, p.version)
        );
        let at = peek
            .body_offset(ApiKey::Produce, body)
            .expect("encoded header");
        let fields = produce_fields(p.version, body, at).expect("encoded body");
        assert_eq!(fields.transactional, p.transactional_id.is_some());
        let mut damaged = p.frame[4..].to_vec();
        mutate(&mut input, &mut damaged, 4);
        check_body(&damaged);
    } else {
        check_body(input.rest());
    }
}

fn check_body(body: &[u8]) {
    let peek = match RequestHeaderPeek::parse(body) {
        Ok(peek) => peek,
        Err(_) => {
            assert!(body.len() < 8, "an 8-byte header was refused");
            check_varints(body);
            assert_eq!(response_correlation_id(body).is_some(), body.len() >= 4);
            return;
        }
    };
    assert_eq!(peek.api_key, i16::from_be_bytes([body[0], body[1]]));
    assert_eq!(peek.api_version, i16::from_be_bytes([body[2], body[3]]));
    assert_eq!(
        Some(peek.correlation_id),
        response_correlation_id(&body[4..])
    );
    check_varints(body);

    // Two references: a strict walk written here (Kafka's Java rules) must agree exactly, and
    // wherever kafka-protocol decodes the header the peek must find the same end, unless the
    // header holds a varint Java refuses (kafka-protocol stops reading a varint after five
    // bytes even when the fifth says more follow; Java throws, and so does the peek).
    let shared = Bytes::copy_from_slice(body);
    let decoded: Vec<Option<usize>> = (0..=2)
        .map(|header_version| {
            let mut buf = shared.clone();
            RequestHeader::decode(&mut buf, header_version)
                .ok()
                .map(|_| body.len() - buf.len())
        })
        .collect();
    let strict: Vec<Strict> = (0..=2).map(|v| strict_header_len(body, v)).collect();
    for key in ApiKey::iter() {
        let header_version = key.request_header_version(peek.api_version) as usize;
        let offset = peek.body_offset(key, body);
        if let Ok(at) = offset {
            assert!(
                (8..=body.len()).contains(&at),
                "{key:?}: offset {at} outside"
            );
        }
        let strict = &strict[header_version];
        assert_eq!(
            offset.as_ref().ok(),
            strict.len.as_ref(),
            "{key:?} header v{header_version}"
        );
        if let Some(consumed) = decoded[header_version] {
            if !strict.overlong_varint {
                assert_eq!(offset, Ok(consumed), "{key:?} header v{header_version}");
            }
        }
    }

    let key = ApiKey::Produce;
    let Ok(at) = peek.body_offset(key, body) else {
        return;
    };
    for version in [peek.api_version, 3, 8, 9, 12] {
        let fields = produce_fields(version, body, at);
        assert_eq!(
            fields.as_ref().map(|f| f.acks).map_err(|e| e.to_string()),
            produce_acks(version, body, at).map_err(|e| e.to_string())
        );
        let mut buf = shared.slice(at..);
        if (3..=13).contains(&version) {
            let overlong = version >= 9 && overlong_varint(body, at);
            if let (Ok(req), false) = (ProduceRequest::decode(&mut buf, version), overlong) {
                let fields = fields.expect("kafka-protocol decoded this Produce body");
                assert_eq!(fields.acks, req.acks, "v{version}");
                assert_eq!(fields.transactional, req.transactional_id.is_some());
            }
        }
    }
}

struct Strict {
    len: Option<usize>,
    overlong_varint: bool,
}

/// Five bytes that all say "more follows": too long for an i32 varint.
fn overlong_varint(b: &[u8], at: usize) -> bool {
    b.get(at..at + 5)
        .is_some_and(|v| v.iter().all(|x| x & 0x80 != 0))
}

/// The request header's length as Kafka's generated Java reader finds it: the fixed fields,
/// a nullable client id (any negative length is null) from header v1, tagged fields from v2.
fn strict_header_len(b: &[u8], header_version: i16) -> Strict {
    let mut overlong_varint = false;
    let mut varint = |at: &mut usize| -> Option<u64> {
        let mut v = 0u64;
        for i in 0..5 {
            let x = *b.get(*at + i)?;
            v |= ((x & 0x7f) as u64) << (7 * i);
            if x & 0x80 == 0 {
                *at += i + 1;
                return Some(v);
            }
        }
        overlong_varint = true;
        None
    };
    let mut walk = || -> Option<usize> {
        let mut at = 8;
        if b.len() < at {
            return None;
        }
        if header_version >= 1 {
            let len = i16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]);
            at += 2 + len.max(0) as usize;
            if at > b.len() {
                return None;
            }
        }
        if header_version >= 2 {
            // Varints are i32s: bits above 32 are dropped, as the peek (and Java) do.
            for _ in 0..varint(&mut at)? as u32 {
                varint(&mut at)?;
                at += varint(&mut at)? as u32 as usize;
                if at > b.len() {
                    return None;
                }
            }
        }
        Some(at)
    };
    let len = walk();
    Strict {
        len,
        overlong_varint,
    }
}

/// At the first and last offsets (and past the end): a varint is 1..=5 bytes inside the
/// buffer, only its last byte lacks the continuation bit, and the value is those bytes' 7-bit
/// groups. (Not every offset: a 20 kB record batch would make this the whole cost.)
fn check_varints(b: &[u8]) {
    let near_end = b.len().saturating_sub(8)..=b.len() + 1;
    for at in (0..b.len().min(64)).chain(near_end) {
        match read_unsigned_varint(b, at) {
            Some((value, used)) => {
                assert!((1..=5).contains(&used) && at + used <= b.len());
                let bytes = &b[at..at + used];
                assert!(bytes[..used - 1].iter().all(|x| x & 0x80 != 0));
                assert_eq!(bytes[used - 1] & 0x80, 0);
                let wide = bytes
                    .iter()
                    .enumerate()
                    .fold(0u64, |v, (i, x)| v | (((x & 0x7f) as u64) << (7 * i)));
                assert_eq!(value, wide as u32);
            }
            None => {
                let tail = b.get(at..).unwrap_or(&[]);
                let ends = tail.iter().take(5).position(|x| x & 0x80 == 0);
                assert!(
                    ends.is_none(),
                    "a varint ending at {at} + {ends:?} was refused"
                );
            }
        }
    }
}

pub fn seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = vec![
        // Found once fuzzing: a header tag with a five-byte varint that says more follows
        // (kafka-protocol reads it, Java and the peek refuse it).
        vec![
            0, 0, 1, 0, 0, 1, 3, 208, 0, 0, 1, 9, 9, 4, 0, 0, 0, 65, 9, 0, 5, 1, 2, 3, 253, 251, 0,
            4, 2, 1, 3, 255, 255, 1, 10, 1, 1, 0, 1, 0, 0, 249, 247, 15, 0, 0, 4, 1, 6, 255, 255,
            255, 255, 255, 255, 255, 0, 10, 1, 1, 0, 0, 63, 255, 0, 1, 0, 118, 215, 255, 251, 17,
            151,
        ],
        // Raw: Metadata v1 with a client id that overruns, Produce v9 header only, junk.
        vec![0, 0, 3, 0, 1, 0, 0, 0, 1, 0x01, 0x2c, b'x'],
        vec![0, 0, 0, 0, 9, 0, 0, 0, 7, 0, 1, b'c', 0, 0, 0xff, 0xff],
        vec![
            0, 0x7f, 0xff, 0x80, 0x00, 1, 2, 3, 4, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f,
        ],
    ];
    // Structured: a few Produce requests (mode 1, then choices).
    for choice in 0u8..12 {
        seeds.push(vec![1, choice, choice % 2, 5, 1, 2, 3, 4, 5, 1, 10, 0, 1]);
    }
    seeds
}
