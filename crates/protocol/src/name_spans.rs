//! Where the names are in a Produce request (and in Produce and Fetch responses), found
//! without decoding it.
//!
//! A tenant's Produce request differs from what the upstream must see only in its
//! transactional id and topic names; the record batches, which are nearly all of its bytes,
//! stay as they are. Knowing the byte ranges of those strings lets a stage send the frame on as
//! slices of the original with new names spliced in, so records are never copied.

use std::ops::{Range, RangeInclusive};

use crate::frame::LENGTH_PREFIX;
use crate::header::{read_unsigned_varint, RequestHeaderPeek};

/// Byte ranges (over the whole frame, length prefix included) of each string's length and
/// contents.
#[derive(Debug, PartialEq, Eq)]
pub struct ProduceNames {
    pub transactional_id: Range<usize>,
    pub topics: Vec<Range<usize>>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed message: {0}")]
pub struct NameSpanError(&'static str);

struct Walk<'a> {
    b: &'a [u8],
    at: usize,
    compact: bool,
}

impl<'a> Walk<'a> {
    /// A walk over a response frame, placed after its header. `named`: the versions whose
    /// topics have names; `flexible_from`: the first flexible version.
    fn response(
        frame: &'a [u8],
        version: i16,
        named: RangeInclusive<i16>,
        flexible_from: i16,
    ) -> Result<Self, NameSpanError> {
        if !named.contains(&version) {
            return Err(NameSpanError("version without topic names"));
        }
        let mut w = Walk {
            b: frame,
            at: LENGTH_PREFIX,
            compact: version >= flexible_from,
        };
        w.skip(4)?; // correlation id
        w.tags()?; // the flexible response header's tagged fields
        Ok(w)
    }

    /// What the walk found, if it ended exactly at the end of the frame.
    fn finish<T>(&self, found: T) -> Result<T, NameSpanError> {
        if self.at != self.b.len() {
            return Err(NameSpanError("bytes after the last field"));
        }
        Ok(found)
    }

    fn need(&self, n: usize) -> Result<(), NameSpanError> {
        if n > self.b.len().saturating_sub(self.at) {
            return Err(NameSpanError("truncated"));
        }
        Ok(())
    }

    fn skip(&mut self, n: usize) -> Result<(), NameSpanError> {
        self.need(n)?;
        self.at += n;
        Ok(())
    }

    fn uvarint(&mut self) -> Result<u32, NameSpanError> {
        let (v, used) = read_unsigned_varint(self.b, self.at).ok_or(NameSpanError("bad varint"))?;
        self.at += used;
        Ok(v)
    }

    fn i16(&mut self) -> Result<i16, NameSpanError> {
        self.need(2)?;
        let v = i16::from_be_bytes([self.b[self.at], self.b[self.at + 1]]);
        self.at += 2;
        Ok(v)
    }

    fn i32(&mut self) -> Result<i32, NameSpanError> {
        self.need(4)?;
        let s = &self.b[self.at..self.at + 4];
        self.at += 4;
        Ok(i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    /// A (nullable) string or bytes field: length then contents; returns its range.
    fn string(&mut self) -> Result<Range<usize>, NameSpanError> {
        let start = self.at;
        let len = if self.compact {
            self.uvarint()? as i64 - 1
        } else {
            self.i16()? as i64
        };
        if len > 0 {
            self.skip(len as usize)?;
        }
        Ok(start..self.at)
    }

    fn bytes(&mut self) -> Result<(), NameSpanError> {
        let len = if self.compact {
            self.uvarint()? as i64 - 1
        } else {
            self.i32()? as i64
        };
        if len > 0 {
            self.skip(len as usize)?;
        }
        Ok(())
    }

    fn array_len(&mut self) -> Result<usize, NameSpanError> {
        let n = if self.compact {
            self.uvarint()? as i64 - 1
        } else {
            self.i32()? as i64
        };
        let n = n.max(0) as usize;
        // Every element takes at least one byte: a count past the bytes left is a lie.
        if n > self.b.len().saturating_sub(self.at) {
            return Err(NameSpanError("array longer than the frame"));
        }
        Ok(n)
    }

    fn tags(&mut self) -> Result<(), NameSpanError> {
        if !self.compact {
            return Ok(());
        }
        for _ in 0..self.uvarint()? {
            self.uvarint()?;
            let size = self.uvarint()? as usize;
            self.skip(size)?;
        }
        Ok(())
    }
}

/// Finds the transactional id and topic names of a Produce request frame (v3–v12; from v13
/// topics are named by id).
pub fn produce_names(frame: &[u8], version: i16) -> Result<ProduceNames, NameSpanError> {
    if !(3..=12).contains(&version) {
        return Err(NameSpanError("version without topic names"));
    }
    let body = frame
        .get(LENGTH_PREFIX..)
        .ok_or(NameSpanError("truncated"))?;
    let peek = RequestHeaderPeek::parse(body).map_err(|_| NameSpanError("bad header"))?;
    let key = kafka_protocol::messages::ApiKey::Produce;
    let body_at = peek
        .body_offset(key, body)
        .map_err(|_| NameSpanError("bad header"))?;
    let mut w = Walk {
        b: frame,
        at: LENGTH_PREFIX + body_at,
        compact: version >= 9,
    };
    let transactional_id = w.string()?;
    w.skip(2 + 4)?; // acks, timeout_ms
    let mut topics = Vec::new();
    for _ in 0..w.array_len()? {
        topics.push(w.string()?);
        for _ in 0..w.array_len()? {
            w.skip(4)?; // partition index
            w.bytes()?; // records
            w.tags()?;
        }
        w.tags()?;
    }
    w.tags()?;
    w.finish(ProduceNames {
        transactional_id,
        topics,
    })
}

/// What the beginning of a Produce request frame says about where its names are.
#[derive(Debug, PartialEq, Eq)]
pub enum ProduceHead {
    /// The request names one topic, and these first bytes hold every name in it: the rest of
    /// the frame (partitions and their records) holds none, and may be passed on unread.
    Names(ProduceNames),
    /// More of the frame is needed to tell.
    NeedMore,
    /// Names may follow records (several topics, or a version that names topics by id): the
    /// request is mapped whole.
    Whole,
}

/// [`produce_names`] for a frame of which only the beginning has arrived (length prefix
/// included). On so little of a frame every malformation looks like "not yet": what is really
/// malformed is refused when it is read whole.
pub fn produce_head_names(head: &[u8], version: i16) -> ProduceHead {
    if !(3..=12).contains(&version) {
        return ProduceHead::Whole;
    }
    let Some(body) = head.get(LENGTH_PREFIX..) else {
        return ProduceHead::NeedMore;
    };
    let key = kafka_protocol::messages::ApiKey::Produce;
    let peek = RequestHeaderPeek::parse(body);
    let Ok(body_at) = peek.and_then(|p| p.body_offset(key, body)) else {
        return ProduceHead::NeedMore;
    };
    let mut w = Walk {
        b: head,
        at: LENGTH_PREFIX + body_at,
        compact: version >= 9,
    };
    let mut walk = || -> Result<Option<ProduceNames>, NameSpanError> {
        let transactional_id = w.string()?;
        w.skip(2 + 4)?; // acks, timeout_ms
        if w.array_len()? != 1 {
            return Ok(None);
        }
        let topic = w.string()?;
        Ok(Some(ProduceNames {
            transactional_id,
            topics: vec![topic],
        }))
    };
    match walk() {
        Ok(Some(names)) => ProduceHead::Names(names),
        Ok(None) => ProduceHead::Whole,
        Err(_) => ProduceHead::NeedMore,
    }
}

/// Finds the topic names of a Produce response frame (v3–v12), as ranges of each string's
/// length and contents. A tenant's response differs from the upstream's only in those names.
pub fn produce_response_names(
    frame: &[u8],
    version: i16,
) -> Result<Vec<Range<usize>>, NameSpanError> {
    let mut w = Walk::response(frame, version, 3..=12, 9)?;
    let mut topics = Vec::new();
    for _ in 0..w.array_len()? {
        topics.push(w.string()?);
        for _ in 0..w.array_len()? {
            // index, error_code, base_offset, log_append_time_ms
            w.skip(4 + 2 + 8 + 8)?;
            if version >= 5 {
                w.skip(8)?; // log_start_offset
            }
            if version >= 8 {
                for _ in 0..w.array_len()? {
                    w.skip(4)?; // batch_index
                    w.string()?; // batch_index_error_message
                    w.tags()?;
                }
                w.string()?; // error_message
            }
            w.tags()?; // current_leader (v10+) lives here
        }
        w.tags()?;
    }
    w.skip(4)?; // throttle_time_ms
    w.tags()?; // node_endpoints (v10+) lives here
    w.finish(topics)
}

/// Finds the topic names of a Fetch response frame (v4–v12; from v13 topics are named by
/// id), as ranges of each string's length and contents. Everything else, the records above
/// all, is what the upstream sent.
pub fn fetch_response_names(
    frame: &[u8],
    version: i16,
) -> Result<Vec<Range<usize>>, NameSpanError> {
    let mut w = Walk::response(frame, version, 4..=12, 12)?;
    w.skip(4)?; // throttle_time_ms
    if version >= 7 {
        w.skip(2 + 4)?; // error_code, session_id
    }
    let mut topics = Vec::new();
    for _ in 0..w.array_len()? {
        topics.push(w.string()?);
        for _ in 0..w.array_len()? {
            // partition_index, error_code, high_watermark, last_stable_offset
            w.skip(4 + 2 + 8 + 8)?;
            if version >= 5 {
                w.skip(8)?; // log_start_offset
            }
            for _ in 0..w.array_len()? {
                w.skip(8 + 8)?; // aborted: producer_id, first_offset
                w.tags()?;
            }
            if version >= 11 {
                w.skip(4)?; // preferred_read_replica
            }
            w.bytes()?; // records
            w.tags()?;
        }
        w.tags()?;
    }
    w.tags()?;
    w.finish(topics)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::encode_request;
    use bytes::Bytes;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{
        ApiKey, ProduceRequest, RequestHeader, TopicName, TransactionalId,
    };
    use kafka_protocol::protocol::StrBytes;

    fn frame(version: i16, txn: Option<&str>) -> Bytes {
        frame_of(version, txn, &["orders", "payments"])
    }

    fn frame_of(version: i16, txn: Option<&str>, topics: &[&str]) -> Bytes {
        let topic = |n: &&str| {
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string((*n).into())))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_records(Some(Bytes::from_static(b"records-0"))),
                    PartitionProduceData::default()
                        .with_index(1)
                        .with_records(Some(Bytes::from_static(b"records-1"))),
                ])
        };
        let body = ProduceRequest::default()
            .with_transactional_id(txn.map(|t| TransactionalId(StrBytes::from_string(t.into()))))
            .with_acks(-1)
            .with_topic_data(topics.iter().map(topic).collect());
        let header = RequestHeader::default()
            .with_request_api_key(ApiKey::Produce as i16)
            .with_request_api_version(version)
            .with_client_id(Some(StrBytes::from_static_str("c")));
        encode_request(&header, &body).unwrap()
    }

    #[test]
    fn a_one_topic_head_has_every_name_once_the_topic_name_is_in() {
        for version in 3..=12 {
            for txn in [None, Some("tx")] {
                let f = frame_of(version, txn, &["orders"]);
                let whole = produce_names(&f, version).unwrap();
                let name_end = whole.topics[0].end;
                for cut in 0..f.len() {
                    let got = produce_head_names(&f[..cut], version);
                    if cut < name_end {
                        assert_eq!(got, ProduceHead::NeedMore, "v{version} cut {cut}");
                    } else {
                        let names = produce_names(&f, version).unwrap();
                        assert_eq!(got, ProduceHead::Names(names), "v{version} cut {cut}");
                    }
                }
            }
        }
    }

    #[test]
    fn several_topics_or_topic_ids_are_mapped_whole() {
        for version in 3..=12 {
            let f = frame(version, None);
            assert_eq!(produce_head_names(&f, version), ProduceHead::Whole);
        }
        let f = frame_of(12, None, &["orders"]);
        assert_eq!(produce_head_names(&f, 13), ProduceHead::Whole);
    }

    #[test]
    fn finds_each_name_at_every_named_version() {
        for version in 3..=12 {
            for txn in [None, Some("tx")] {
                let f = frame(version, txn);
                let n = produce_names(&f, version).unwrap();
                let len_bytes = if version >= 9 { 1 } else { 2 };
                let text = |r: &Range<usize>| &f[r.start + len_bytes..r.end];
                assert_eq!(text(&n.topics[0]), b"orders", "v{version}");
                assert_eq!(text(&n.topics[1]), b"payments", "v{version}");
                match txn {
                    Some(_) => assert_eq!(text(&n.transactional_id), b"tx"),
                    None => assert_eq!(n.transactional_id.len(), len_bytes),
                }
            }
        }
    }

    fn response(version: i16) -> Bytes {
        use crate::codec::encode_response;
        use kafka_protocol::messages::produce_response::{
            BatchIndexAndErrorMessage, LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse,
            TopicProduceResponse,
        };
        use kafka_protocol::messages::{BrokerId, ProduceResponse, ResponseHeader};
        let partition = PartitionProduceResponse::default()
            .with_index(1)
            .with_base_offset(42)
            .with_record_errors(vec![BatchIndexAndErrorMessage::default()
                .with_batch_index(3)
                .with_batch_index_error_message(Some(StrBytes::from_static_str("bad")))])
            .with_error_message(Some(StrBytes::from_static_str("some message")))
            .with_current_leader(LeaderIdAndEpoch::default().with_leader_id(BrokerId(2)));
        let topic = |n: &str| {
            TopicProduceResponse::default()
                .with_name(TopicName(StrBytes::from_string(n.into())))
                .with_partition_responses(vec![partition.clone(), partition.clone()])
        };
        let body = ProduceResponse::default()
            .with_responses(vec![topic("orders"), topic("payments")])
            .with_throttle_time_ms(5)
            .with_node_endpoints(vec![NodeEndpoint::default()
                .with_node_id(BrokerId(2))
                .with_host(StrBytes::from_static_str("broker-2"))
                .with_port(9092)]);
        let header = ResponseHeader::default().with_correlation_id(7);
        encode_response(&header, &body, ApiKey::Produce, version).unwrap()
    }

    type Walk = fn(&[u8], i16) -> Result<Vec<Range<usize>>, NameSpanError>;

    /// The walk finds exactly the two topic names, and refuses every truncation of the frame.
    fn assert_finds_orders_and_payments(walk: Walk, f: &[u8], version: i16, compact: bool) {
        let len_bytes = if compact { 1 } else { 2 };
        let names = walk(f, version).unwrap();
        let texts: Vec<&[u8]> = names
            .iter()
            .map(|r| &f[r.start + len_bytes..r.end])
            .collect();
        assert_eq!(texts, [&b"orders"[..], b"payments"], "v{version}");
        for cut in 0..f.len() {
            assert!(walk(&f[..cut], version).is_err(), "v{version} cut at {cut}");
        }
    }

    #[test]
    fn finds_each_response_name_at_every_named_version() {
        for version in 3..=12 {
            let f = response(version);
            assert_finds_orders_and_payments(produce_response_names, &f, version, version >= 9);
        }
        assert!(produce_response_names(&response(12), 13).is_err());
    }

    #[test]
    fn finds_each_fetch_response_name_at_every_named_version() {
        use crate::codec::encode_response;
        use kafka_protocol::messages::fetch_response::{
            AbortedTransaction, FetchableTopicResponse, PartitionData,
        };
        use kafka_protocol::messages::{FetchResponse, ResponseHeader};
        let partition = |i: i32| {
            PartitionData::default()
                .with_partition_index(i)
                .with_aborted_transactions(Some(vec![AbortedTransaction::default()]))
                .with_records(Some(Bytes::from(vec![0xab; 100 + i as usize])))
        };
        let topic = |n: &str| {
            FetchableTopicResponse::default()
                .with_topic(TopicName(StrBytes::from_string(n.into())))
                .with_partitions(vec![partition(0), partition(1)])
        };
        let header = ResponseHeader::default().with_correlation_id(7);
        for version in 4..=12 {
            let body = FetchResponse::default()
                .with_session_id(if version >= 7 { 3 } else { 0 })
                .with_responses(vec![topic("orders"), topic("payments")]);
            let f = encode_response(&header, &body, ApiKey::Fetch, version).unwrap();
            assert_finds_orders_and_payments(fetch_response_names, &f, version, version >= 12);
        }
        assert!(
            fetch_response_names(&[0; 64], 13).is_err(),
            "v13 names topics by id"
        );
    }

    #[test]
    fn truncation_and_lies_are_errors() {
        let f = frame(9, Some("tx"));
        for cut in 0..f.len() {
            assert!(produce_names(&f[..cut], 9).is_err(), "cut at {cut}");
        }
        assert!(produce_names(&f, 13).is_err());
    }
}
