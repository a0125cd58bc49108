//! Allocation-free walks over a response that answer one question without decoding it.
//!
//! KIP-951 puts broker addresses (`node_endpoints`) in the top-level tagged fields of Produce
//! (v10+) and Fetch (v16+) responses, which come after all topic data. Brokers send them only
//! after leadership changes, so almost every response has none. Walking the structure with a
//! cursor (integer reads and skips, no allocation, records skipped by length) tells the routing
//! stage whether a full decode and re-encode is needed at all.

use crate::frame::LENGTH_PREFIX;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed response: {0}")]
pub struct ScanError(&'static str);

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn skip(&mut self, n: usize) -> Result<(), ScanError> {
        if n > self.b.len() - self.at {
            return Err(ScanError("truncated"));
        }
        self.at += n;
        Ok(())
    }

    fn uvarint(&mut self) -> Result<u32, ScanError> {
        let (v, used) = crate::header::read_unsigned_varint(self.b, self.at).ok_or(ScanError("bad varint"))?;
        self.at += used;
        Ok(v)
    }

    /// COMPACT_(NULLABLE_)STRING / BYTES / RECORDS: length + 1 as an unsigned varint.
    fn skip_compact_bytes(&mut self) -> Result<(), ScanError> {
        let n = self.uvarint()?;
        if n > 0 {
            self.skip(n as usize - 1)?;
        }
        Ok(())
    }

    fn compact_array(&mut self, mut each: impl FnMut(&mut Self) -> Result<(), ScanError>) -> Result<(), ScanError> {
        let n = self.uvarint()?;
        for _ in 1..n {
            each(self)?;
        }
        Ok(())
    }

    /// Skips a tagged-field section and returns how many fields it held.
    fn tagged_fields(&mut self) -> Result<u32, ScanError> {
        let count = self.uvarint()?;
        for _ in 0..count {
            self.uvarint()?; // tag
            let size = self.uvarint()?;
            self.skip(size as usize)?;
        }
        Ok(count)
    }

    /// Reads the final tagged-field section and checks nothing follows it.
    fn final_tagged_fields(&mut self) -> Result<bool, ScanError> {
        let count = self.tagged_fields()?;
        if self.at != self.b.len() {
            return Err(ScanError("trailing bytes"));
        }
        Ok(count > 0)
    }
}

fn cursor(frame: &[u8]) -> Result<Cursor<'_>, ScanError> {
    let b = frame.get(LENGTH_PREFIX..).ok_or(ScanError("truncated"))?;
    let mut c = Cursor { b, at: 0 };
    c.skip(4)?; // correlation id
    c.tagged_fields()?; // response header v1
    Ok(c)
}

/// Whether a flexible (v9+) Produce response frame has top-level tagged fields.
pub fn produce_has_top_level_tags(frame: &[u8], version: i16) -> Result<bool, ScanError> {
    if version < 9 {
        return Ok(false);
    }
    let mut c = cursor(frame)?;
    c.compact_array(|c| {
        if version <= 12 {
            c.skip_compact_bytes()?; // name
        } else {
            c.skip(16)?; // topic_id
        }
        c.compact_array(|c| {
            c.skip(4 + 2 + 8 + 8 + 8)?; // index, error_code, base_offset, log_append_time_ms, log_start_offset
            c.compact_array(|c| {
                c.skip(4)?; // batch_index
                c.skip_compact_bytes()?; // batch_index_error_message
                c.tagged_fields().map(drop)
            })?;
            c.skip_compact_bytes()?; // error_message
            c.tagged_fields().map(drop)
        })?;
        c.tagged_fields().map(drop)
    })?;
    c.skip(4)?; // throttle_time_ms
    c.final_tagged_fields()
}

/// Whether a flexible (v12+) Fetch response frame has top-level tagged fields.
pub fn fetch_has_top_level_tags(frame: &[u8], version: i16) -> Result<bool, ScanError> {
    if version < 12 {
        return Ok(false);
    }
    let mut c = cursor(frame)?;
    c.skip(4 + 2 + 4)?; // throttle_time_ms, error_code, session_id
    c.compact_array(|c| {
        if version <= 12 {
            c.skip_compact_bytes()?; // topic
        } else {
            c.skip(16)?; // topic_id
        }
        c.compact_array(|c| {
            c.skip(4 + 2 + 8 + 8 + 8)?; // partition_index, error_code, hw, lso, log_start_offset
            c.compact_array(|c| {
                c.skip(8 + 8)?; // producer_id, first_offset
                c.tagged_fields().map(drop)
            })?;
            c.skip(4)?; // preferred_read_replica
            c.skip_compact_bytes()?; // records
            c.tagged_fields().map(drop)
        })?;
        c.tagged_fields().map(drop)
    })?;
    c.final_tagged_fields()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::encode_response;
    use bytes::Bytes;
    use kafka_protocol::messages::fetch_response::{
        AbortedTransaction, FetchableTopicResponse, LeaderIdAndEpoch, NodeEndpoint as FetchNode, PartitionData,
    };
    use kafka_protocol::messages::produce_response::{
        BatchIndexAndErrorMessage, NodeEndpoint as ProduceNode, PartitionProduceResponse, TopicProduceResponse,
    };
    use kafka_protocol::messages::{ApiKey, BrokerId, FetchResponse, ProduceResponse, ResponseHeader, TopicName};
    use kafka_protocol::protocol::StrBytes;

    fn s(v: &str) -> StrBytes {
        StrBytes::from_string(v.into())
    }

    fn fetch(with_endpoints: bool) -> FetchResponse {
        let partition = |i: i32| {
            PartitionData::default()
                .with_partition_index(i)
                .with_high_watermark(100)
                .with_aborted_transactions(Some(vec![AbortedTransaction::default().with_producer_id(7.into())]))
                .with_current_leader(LeaderIdAndEpoch::default().with_leader_id(BrokerId(3)).with_leader_epoch(2))
                .with_records(Some(Bytes::from(vec![0xab; 300 + i as usize])))
        };
        let topic = |t: &str| {
            FetchableTopicResponse::default()
                .with_topic(TopicName(s(t)))
                .with_topic_id(uuid::Uuid::from_u128(42))
                .with_partitions((0..3).map(partition).collect())
        };
        let mut r = FetchResponse::default().with_session_id(9).with_responses(vec![topic("a"), topic("bb")]);
        if with_endpoints {
            r.node_endpoints = vec![FetchNode::default().with_node_id(BrokerId(3)).with_host(s("k3")).with_port(9092)];
        }
        r
    }

    fn produce(with_endpoints: bool) -> ProduceResponse {
        let partition = PartitionProduceResponse::default()
            .with_index(1)
            .with_record_errors(vec![BatchIndexAndErrorMessage::default()
                .with_batch_index(2)
                .with_batch_index_error_message(Some(s("bad record")))])
            .with_error_message(Some(s("some error")));
        let topic = TopicProduceResponse::default()
            .with_name(TopicName(s("orders")))
            .with_partition_responses(vec![partition.clone(), partition]);
        let mut r = ProduceResponse::default().with_responses(vec![topic.clone(), topic]).with_throttle_time_ms(5);
        if with_endpoints {
            r.node_endpoints = vec![ProduceNode::default().with_node_id(BrokerId(1)).with_host(s("k1")).with_port(1)];
        }
        r
    }

    #[test]
    fn fetch_walk_agrees_with_the_encoder_at_every_flexible_version() {
        for version in 12..=18 {
            for with in [false, true] {
                let frame = encode_response(&ResponseHeader::default(), &fetch(with), ApiKey::Fetch, version).unwrap();
                let expected = with && version >= 16; // older versions cannot carry them
                assert_eq!(fetch_has_top_level_tags(&frame, version), Ok(expected), "v{version} {with}");
                assert!(fetch_has_top_level_tags(&frame[..frame.len() - 1], version).is_err(), "truncation noticed");
            }
        }
    }

    #[test]
    fn produce_walk_agrees_with_the_encoder_at_every_flexible_version() {
        for version in 9..=13 {
            for with in [false, true] {
                let frame = encode_response(&ResponseHeader::default(), &produce(with), ApiKey::Produce, version).unwrap();
                let expected = with && version >= 10;
                assert_eq!(produce_has_top_level_tags(&frame, version), Ok(expected), "v{version} {with}");
                assert!(produce_has_top_level_tags(&frame[..frame.len() - 1], version).is_err());
            }
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for junk in [&b""[..], &[0, 0, 0, 1, 0], &[0, 0, 0, 9, 0, 0, 0, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff]] {
            assert!(fetch_has_top_level_tags(junk, 16).is_err());
            assert!(produce_has_top_level_tags(junk, 11).is_err());
        }
    }
}
