//! Valid frames encoded with kafka-protocol from the fuzzer's choices, so a target reaches
//! past the first length check (mutations of them then probe every later one), together with
//! what the walkers must find in them.

use bytes::Bytes;
use gatehouse_protocol::codec::{encode_request, encode_response};
use gatehouse_protocol::kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, LeaderIdAndEpoch as FetchLeader,
    NodeEndpoint as FetchNode, PartitionData,
};
use gatehouse_protocol::kafka_protocol::messages::produce_request::{
    PartitionProduceData, TopicProduceData,
};
use gatehouse_protocol::kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, LeaderIdAndEpoch as ProduceLeader, NodeEndpoint as ProduceNode,
    PartitionProduceResponse, TopicProduceResponse,
};
use gatehouse_protocol::kafka_protocol::messages::{
    ApiKey, BrokerId, FetchResponse, ProduceRequest, ProduceResponse, RequestHeader,
    ResponseHeader, TopicName, TransactionalId,
};
use gatehouse_protocol::kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::input::Input;

fn s(v: String) -> StrBytes {
    StrBytes::from_string(v)
}

fn records(input: &mut Input) -> Option<Bytes> {
    match input.below(8) {
        0 => None,
        // Mostly short, sometimes long enough for a 2- or 3-byte length varint.
        7 => Some(Bytes::from(vec![0xab; input.below(20_000)])),
        _ => Some(Bytes::from(vec![0xcd; input.below(64)])),
    }
}

/// Unknown tagged fields (tags above any the message defines) so the walkers skip real ones.
fn unknown_tags(input: &mut Input) -> std::collections::BTreeMap<i32, Bytes> {
    (0..input.below(3))
        .map(|i| (20 + i as i32, Bytes::from(vec![7; input.below(200)])))
        .collect()
}

/// A Produce request and the strings in it.
pub struct ProduceRequestFrame {
    pub version: i16,
    pub frame: Vec<u8>,
    pub transactional_id: Option<String>,
    pub topics: Vec<String>,
}

pub fn produce_request(input: &mut Input) -> Option<ProduceRequestFrame> {
    let version = 3 + input.below(11) as i16; // 3..=13
    let flexible = version >= 9;
    let transactional_id = input.bool().then(|| input.ascii(40));
    let topics: Vec<String> = (0..input.below(4)).map(|_| input.ascii(300)).collect();
    let topic = |name: &String, input: &mut Input| {
        let partitions = (0..input.below(4))
            .map(|i| {
                let mut p = PartitionProduceData::default()
                    .with_index(i as i32)
                    .with_records(records(input));
                if flexible {
                    p.unknown_tagged_fields = unknown_tags(input);
                }
                p
            })
            .collect();
        let mut t = TopicProduceData::default().with_partition_data(partitions);
        if version <= 12 {
            t.name = TopicName(s(name.clone()));
        }
        t
    };
    let body = ProduceRequest::default()
        .with_transactional_id(transactional_id.clone().map(|t| TransactionalId(s(t))))
        .with_acks(input.u8() as i16 % 3 - 1)
        .with_timeout_ms(1000)
        .with_topic_data(topics.iter().map(|n| topic(n, input)).collect());
    let client_id = input.bool().then(|| s(input.ascii(20)));
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::Produce as i16)
        .with_request_api_version(version)
        .with_correlation_id(input.u32() as i32)
        .with_client_id(client_id);
    let frame = encode_request(&header, &body).ok()?.to_vec();
    Some(ProduceRequestFrame {
        version,
        frame,
        transactional_id,
        topics,
    })
}

/// A response frame and the topic names in it; `bare` is the same message without top-level
/// tagged fields (it ends in the one-byte empty section), the oracle for where they start.
pub struct ResponseFrame {
    pub version: i16,
    pub frame: Vec<u8>,
    pub bare: Vec<u8>,
    pub topics: Vec<String>,
    pub top_level_tags: bool,
}

pub fn produce_response(input: &mut Input) -> Option<ResponseFrame> {
    let version = 3 + input.below(11) as i16; // 3..=13
    let flexible = version >= 9;
    let topics: Vec<String> = (0..input.below(4)).map(|_| input.ascii(300)).collect();
    let topic = |name: &String, input: &mut Input| {
        let partitions = (0..input.below(4))
            .map(|i| {
                let mut p = PartitionProduceResponse::default()
                    .with_index(i as i32)
                    .with_base_offset(input.u32() as i64);
                if version >= 8 {
                    p.record_errors = (0..input.below(3))
                        .map(|b| {
                            BatchIndexAndErrorMessage::default()
                                .with_batch_index(b as i32)
                                .with_batch_index_error_message(
                                    input.bool().then(|| s(input.ascii(30))),
                                )
                        })
                        .collect();
                    p.error_message = input.bool().then(|| s(input.ascii(30)));
                }
                if version >= 10 && input.bool() {
                    p.current_leader = ProduceLeader::default().with_leader_id(BrokerId(3));
                }
                if flexible {
                    p.unknown_tagged_fields = unknown_tags(input);
                }
                p
            })
            .collect();
        let mut t = TopicProduceResponse::default().with_partition_responses(partitions);
        if version <= 12 {
            t.name = TopicName(s(name.clone()));
        }
        t
    };
    let body = ProduceResponse::default()
        .with_responses(topics.iter().map(|n| topic(n, input)).collect())
        .with_throttle_time_ms(5);
    let mut tagged = body.clone();
    if version >= 10 && input.bool() {
        tagged.node_endpoints = vec![ProduceNode::default()
            .with_node_id(BrokerId(1))
            .with_host(s(input.ascii(30)))
            .with_port(9092)];
    }
    if flexible {
        tagged.unknown_tagged_fields = unknown_tags(input);
    }
    let top_level_tags =
        !tagged.node_endpoints.is_empty() || !tagged.unknown_tagged_fields.is_empty();
    let header = ResponseHeader::default().with_correlation_id(input.u32() as i32);
    let encode = |b: &ProduceResponse| encode_response(&header, b, ApiKey::Produce, version);
    Some(ResponseFrame {
        version,
        frame: encode(&tagged).ok()?.to_vec(),
        bare: encode(&body).ok()?.to_vec(),
        topics,
        top_level_tags,
    })
}

/// A Fetch response of a version from `min_version` (at least 4) to 18.
pub fn fetch_response(input: &mut Input, min_version: i16) -> Option<ResponseFrame> {
    let version = min_version + input.below(19 - min_version as usize) as i16;
    let flexible = version >= 12;
    let topics: Vec<String> = (0..input.below(4)).map(|_| input.ascii(300)).collect();
    let topic = |name: &String, input: &mut Input| {
        let partitions = (0..input.below(4))
            .map(|i| {
                let aborted = match input.below(3) {
                    0 => None,
                    n => Some(
                        (0..n - 1)
                            .map(|_| {
                                let mut a = AbortedTransaction::default()
                                    .with_producer_id((input.u32() as i64).into());
                                if flexible {
                                    a.unknown_tagged_fields = unknown_tags(input);
                                }
                                a
                            })
                            .collect(),
                    ),
                };
                let mut p = PartitionData::default()
                    .with_partition_index(i as i32)
                    .with_high_watermark(input.u32() as i64)
                    .with_aborted_transactions(aborted)
                    .with_records(records(input));
                if flexible {
                    if input.bool() {
                        p.current_leader = FetchLeader::default()
                            .with_leader_id(BrokerId(3))
                            .with_leader_epoch(2);
                    }
                    p.unknown_tagged_fields = unknown_tags(input);
                }
                p
            })
            .collect();
        let mut t = FetchableTopicResponse::default().with_partitions(partitions);
        if version <= 12 {
            t.topic = TopicName(s(name.clone()));
        }
        if flexible {
            t.unknown_tagged_fields = unknown_tags(input);
        }
        t
    };
    let mut body =
        FetchResponse::default().with_responses(topics.iter().map(|n| topic(n, input)).collect());
    if version >= 7 {
        body.session_id = input.u32() as i32;
    }
    let mut tagged = body.clone();
    if version >= 16 && input.bool() {
        tagged.node_endpoints = vec![FetchNode::default()
            .with_node_id(BrokerId(3))
            .with_host(s(input.ascii(30)))
            .with_port(9092)];
    }
    if flexible {
        tagged.unknown_tagged_fields = unknown_tags(input);
    }
    let top_level_tags =
        !tagged.node_endpoints.is_empty() || !tagged.unknown_tagged_fields.is_empty();
    let header = ResponseHeader::default().with_correlation_id(input.u32() as i32);
    let encode = |b: &FetchResponse| encode_response(&header, b, ApiKey::Fetch, version);
    Some(ResponseFrame {
        version,
        frame: encode(&tagged).ok()?.to_vec(),
        bare: encode(&body).ok()?.to_vec(),
        topics,
        top_level_tags,
    })
}

/// The message kafka-protocol decodes from a (perhaps damaged) frame, if it decodes every
/// byte after the length prefix and encodes back to exactly those bytes. Such a frame is one a
/// conforming peer could send (canonical varints, lengths, nulls), so every walker must accept
/// it and find what the decoder found.
pub fn canonical_produce_request(frame: &[u8], version: i16) -> Option<ProduceRequest> {
    let body = frame.get(4..)?;
    let mut buf = Bytes::copy_from_slice(body);
    let header =
        RequestHeader::decode(&mut buf, ApiKey::Produce.request_header_version(version)).ok()?;
    if header.request_api_version != version || header.request_api_key != ApiKey::Produce as i16 {
        return None;
    }
    let request = ProduceRequest::decode(&mut buf, version).ok()?;
    let again = encode_request(&header, &request).ok()?;
    (buf.is_empty() && again[4..] == *body).then_some(request)
}

/// [`canonical_produce_request`] for responses.
pub fn canonical_response<T: Decodable + Encodable>(
    frame: &[u8],
    key: ApiKey,
    version: i16,
) -> Option<(ResponseHeader, T)> {
    let body = frame.get(4..)?;
    let mut buf = Bytes::copy_from_slice(body);
    let header = ResponseHeader::decode(&mut buf, key.response_header_version(version)).ok()?;
    let response = T::decode(&mut buf, version).ok()?;
    let again = encode_response(&header, &response, key, version).ok()?;
    (buf.is_empty() && again[4..] == *body).then_some((header, response))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Rng;

    /// The builders must encode whatever the input chooses, or the targets would silently skip
    /// their structured half.
    #[test]
    fn every_choice_encodes_at_every_version() {
        let mut rng = Rng::new(7);
        let mut versions = [[false; 19]; 3];
        for _ in 0..600 {
            let data = rng.bytes(64);
            let p = produce_request(&mut Input::new(&data)).expect("produce request");
            versions[0][p.version as usize] = true;
            let r = produce_response(&mut Input::new(&data)).expect("produce response");
            versions[1][r.version as usize] = true;
            let r = fetch_response(&mut Input::new(&data), 4).expect("fetch response");
            versions[2][r.version as usize] = true;
        }
        assert!(versions[0][3..=13].iter().all(|&v| v));
        assert!(versions[1][3..=13].iter().all(|&v| v));
        assert!(versions[2][4..=18].iter().all(|&v| v));
    }
}
