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
pub struct ScanError(pub(crate) &'static str);

/// Why a walk stopped early.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    /// The bytes ran out: fine while more are coming.
    Incomplete,
    Malformed(&'static str),
}

struct Cursor<'a> {
    src: &'a [u8],
    len: usize,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn new(src: &'a [u8]) -> Self {
        Self {
            len: src.len(),
            src,
            at: 0,
        }
    }

    fn skip(&mut self, n: usize) -> Result<(), Stop> {
        if n > self.len - self.at {
            return Err(Stop::Incomplete);
        }
        self.at += n;
        Ok(())
    }

    fn uvarint(&mut self) -> Result<u32, Stop> {
        let mut value = 0u32;
        for i in 0..5 {
            if self.at >= self.len {
                return Err(Stop::Incomplete);
            }
            let byte = self.src[self.at];
            self.at += 1;
            value |= ((byte & 0x7f) as u32) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Stop::Malformed("bad varint"))
    }

    /// COMPACT_(NULLABLE_)STRING / BYTES / RECORDS: length + 1 as an unsigned varint.
    fn skip_compact_bytes(&mut self) -> Result<(), Stop> {
        let n = self.uvarint()?;
        if n > 0 {
            self.skip(n as usize - 1)?;
        }
        Ok(())
    }

    fn compact_array(
        &mut self,
        mut each: impl FnMut(&mut Self) -> Result<(), Stop>,
    ) -> Result<(), Stop> {
        let n = self.uvarint()?;
        for _ in 1..n {
            each(self)?;
        }
        Ok(())
    }

    /// Skips a tagged-field section and returns how many fields it held.
    fn tagged_fields(&mut self) -> Result<u32, Stop> {
        let count = self.uvarint()?;
        for _ in 0..count {
            self.uvarint()?; // tag
            let size = self.uvarint()?;
            self.skip(size as usize)?;
        }
        Ok(count)
    }

    fn skip_tags(&mut self) -> Result<(), Stop> {
        self.tagged_fields().map(drop)
    }

    /// Past the length prefix and response header v1.
    fn after_header(&mut self) -> Result<(), Stop> {
        self.skip(LENGTH_PREFIX + 4)?; // length, correlation id
        self.skip_tags()
    }
}

/// Offset (in the frame, length prefix included) of the top-level tagged-field section of a
/// flexible Produce response: everything before it is topic data.
fn produce_tags_at(c: &mut Cursor, version: i16) -> Result<usize, Stop> {
    c.after_header()?;
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
                c.skip_tags()
            })?;
            c.skip_compact_bytes()?; // error_message
            c.skip_tags()
        })?;
        c.skip_tags()
    })?;
    c.skip(4)?; // throttle_time_ms
    Ok(c.at)
}

/// Finds the top-level tagged fields of a flexible (v12+) Fetch response while its bytes pass
/// through, keeping only a few counters: no byte already passed on is needed again.
#[derive(Debug)]
pub struct FetchTailFinder {
    version: i16,
    /// Offset in the frame of the next byte fed.
    pos: usize,
    /// Bytes to pass over before the next field.
    skip: usize,
    varint: u32,
    shift: u32,
    phase: Phase,
    topics_left: u32,
    partitions_left: u32,
    aborted_left: u32,
    tags_left: u32,
    after_tags: Phase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    HeaderTags,
    Topics,
    NextTopic,
    TopicName,
    Partitions,
    NextPartition,
    Aborted,
    NextAborted,
    Records,
    TagCount,
    Tag,
    TagSize,
    NextTag,
    Found(usize),
}

impl FetchTailFinder {
    pub fn new(version: i16) -> Self {
        Self {
            version,
            pos: 0,
            skip: LENGTH_PREFIX + 4, // length, correlation id
            varint: 0,
            shift: 0,
            phase: Phase::TagCount,
            topics_left: 0,
            partitions_left: 0,
            aborted_left: 0,
            tags_left: 0,
            after_tags: Phase::HeaderTags,
        }
    }

    /// Feeds the next bytes of the frame, in order. Returns the offset of the top-level tagged
    /// fields once they are reached (bytes fed after that point are not examined).
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<Option<usize>, ScanError> {
        loop {
            if let Phase::Found(at) = self.phase {
                return Ok(Some(at));
            }
            if self.skip > 0 {
                let n = self.skip.min(bytes.len());
                self.skip -= n;
                self.pos += n;
                bytes = &bytes[n..];
                if self.skip > 0 {
                    return Ok(None);
                }
            }
            let reads_varint = !matches!(
                self.phase,
                Phase::NextTopic | Phase::NextPartition | Phase::NextAborted | Phase::NextTag
            );
            let value = if reads_varint {
                let Some((&byte, rest)) = bytes.split_first() else {
                    return Ok(None);
                };
                bytes = rest;
                self.pos += 1;
                self.varint |= ((byte & 0x7f) as u32) << self.shift;
                if byte & 0x80 != 0 {
                    self.shift += 7;
                    if self.shift >= 35 {
                        return Err(ScanError("bad varint"));
                    }
                    continue;
                }
                let v = self.varint;
                (self.varint, self.shift) = (0, 0);
                v
            } else {
                0
            };
            self.step(value);
        }
    }

    /// How many of the next bytes the finder will pass over without looking at them (the
    /// rest of a partition's records, say): a caller may forward them unseen.
    pub fn skipping(&self) -> usize {
        self.skip
    }

    /// Tells the finder that `n` bytes it would have passed over went by without it.
    pub fn skipped(&mut self, n: usize) {
        assert!(
            n <= self.skip,
            "skipped more than the finder was passing over"
        );
        self.skip -= n;
        self.pos += n;
    }

    /// Moves on after a varint (or, for the `Next*` phases, without one).
    fn step(&mut self, v: u32) {
        let count = |n: u32| n.saturating_sub(1); // compact arrays store length + 1; 0 is null
        self.phase = match self.phase {
            Phase::HeaderTags => {
                // The tag count of the response header was read by the tag phases; now the body.
                unreachable!()
            }
            Phase::TagCount => {
                self.tags_left = v;
                Phase::NextTag
            }
            Phase::NextTag => {
                if self.tags_left == 0 {
                    return self.after_tags();
                }
                self.tags_left -= 1;
                Phase::Tag
            }
            Phase::Tag => Phase::TagSize,
            Phase::TagSize => {
                self.skip = v as usize;
                Phase::NextTag
            }
            Phase::Topics => {
                self.topics_left = count(v);
                Phase::NextTopic
            }
            Phase::NextTopic => {
                if self.topics_left == 0 {
                    Phase::Found(self.pos)
                } else {
                    self.topics_left -= 1;
                    if self.version <= 12 {
                        Phase::TopicName
                    } else {
                        self.skip = 16; // topic_id
                        Phase::Partitions
                    }
                }
            }
            Phase::TopicName => {
                self.skip = count(v) as usize;
                Phase::Partitions
            }
            Phase::Partitions => {
                self.partitions_left = count(v);
                Phase::NextPartition
            }
            Phase::NextPartition => {
                if self.partitions_left == 0 {
                    return self.tags_then(Phase::NextTopic);
                }
                self.partitions_left -= 1;
                self.skip = 4 + 2 + 8 + 8 + 8; // partition_index, error_code, hw, lso, log_start_offset
                Phase::Aborted
            }
            Phase::Aborted => {
                self.aborted_left = count(v);
                Phase::NextAborted
            }
            Phase::NextAborted => {
                if self.aborted_left == 0 {
                    self.skip = 4; // preferred_read_replica
                    Phase::Records
                } else {
                    self.aborted_left -= 1;
                    self.skip = 8 + 8; // producer_id, first_offset
                    return self.tags_then(Phase::NextAborted);
                }
            }
            Phase::Records => {
                self.skip = count(v) as usize;
                return self.tags_then(Phase::NextPartition);
            }
            Phase::Found(at) => Phase::Found(at),
        };
    }

    fn tags_then(&mut self, next: Phase) {
        self.after_tags = next;
        self.phase = Phase::TagCount;
    }

    fn after_tags(&mut self) {
        self.phase = match self.after_tags {
            // After the response header's tags: throttle_time_ms, error_code, session_id.
            Phase::HeaderTags => {
                self.skip = 4 + 2 + 4;
                Phase::Topics
            }
            next => next,
        };
    }
}

/// Checks that `frame[at..]` is exactly one tagged-field section and says whether it has fields.
fn final_section_has_fields(frame: &[u8], at: usize) -> Result<bool, ScanError> {
    let mut c = Cursor::new(frame);
    c.at = at;
    let count = c
        .tagged_fields()
        .map_err(|_| ScanError("truncated tagged fields"))?;
    if c.at != frame.len() {
        return Err(ScanError("trailing bytes"));
    }
    Ok(count > 0)
}

fn complete(result: Result<usize, Stop>) -> Result<usize, ScanError> {
    result.map_err(|s| match s {
        Stop::Incomplete => ScanError("truncated"),
        Stop::Malformed(m) => ScanError(m),
    })
}

/// Whether a whole flexible (v9+) Produce response frame has top-level tagged fields.
pub fn produce_has_top_level_tags(frame: &[u8], version: i16) -> Result<bool, ScanError> {
    if version < 9 {
        return Ok(false);
    }
    let at = complete(produce_tags_at(&mut Cursor::new(frame), version))?;
    final_section_has_fields(frame, at)
}

/// Offset of the top-level tagged fields of a whole flexible (v12+) Fetch response frame.
pub fn fetch_tags_offset(frame: &[u8], version: i16) -> Result<usize, ScanError> {
    FetchTailFinder::new(version)
        .feed(frame)?
        .ok_or(ScanError("truncated"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::encode_response;
    use bytes::Bytes;
    use kafka_protocol::messages::fetch_response::{
        AbortedTransaction, FetchableTopicResponse, LeaderIdAndEpoch, NodeEndpoint as FetchNode,
        PartitionData,
    };
    use kafka_protocol::messages::produce_response::{
        BatchIndexAndErrorMessage, NodeEndpoint as ProduceNode, PartitionProduceResponse,
        TopicProduceResponse,
    };
    use kafka_protocol::messages::{
        ApiKey, BrokerId, FetchResponse, ProduceResponse, ResponseHeader, TopicName,
    };
    use kafka_protocol::protocol::StrBytes;

    fn s(v: &str) -> StrBytes {
        StrBytes::from_string(v.into())
    }

    fn fetch_has_top_level_tags(frame: &[u8], version: i16) -> Result<bool, ScanError> {
        final_section_has_fields(frame, fetch_tags_offset(frame, version)?)
    }

    fn fetch(with_endpoints: bool) -> FetchResponse {
        let partition = |i: i32| {
            PartitionData::default()
                .with_partition_index(i)
                .with_high_watermark(100)
                .with_aborted_transactions(Some(vec![
                    AbortedTransaction::default().with_producer_id(7.into())
                ]))
                .with_current_leader(
                    LeaderIdAndEpoch::default()
                        .with_leader_id(BrokerId(3))
                        .with_leader_epoch(2),
                )
                .with_records(Some(Bytes::from(vec![0xab; 300 + i as usize])))
        };
        let topic = |t: &str| {
            FetchableTopicResponse::default()
                .with_topic(TopicName(s(t)))
                .with_topic_id(uuid::Uuid::from_u128(42))
                .with_partitions((0..3).map(partition).collect())
        };
        let mut r = FetchResponse::default()
            .with_session_id(9)
            .with_responses(vec![topic("a"), topic("bb")]);
        if with_endpoints {
            r.node_endpoints = vec![FetchNode::default()
                .with_node_id(BrokerId(3))
                .with_host(s("k3"))
                .with_port(9092)];
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
        let mut r = ProduceResponse::default()
            .with_responses(vec![topic.clone(), topic])
            .with_throttle_time_ms(5);
        if with_endpoints {
            r.node_endpoints = vec![ProduceNode::default()
                .with_node_id(BrokerId(1))
                .with_host(s("k1"))
                .with_port(1)];
        }
        r
    }

    #[test]
    fn walks_agree_with_the_encoder_at_every_flexible_version() {
        type Walk = fn(&[u8], i16) -> Result<bool, ScanError>;
        let cases: [(ApiKey, std::ops::RangeInclusive<i16>, i16, Walk); 2] = [
            (ApiKey::Fetch, 12..=18, 16, fetch_has_top_level_tags),
            (ApiKey::Produce, 9..=13, 10, produce_has_top_level_tags),
        ];
        for (key, versions, first_with_endpoints, walk) in cases {
            for version in versions {
                for with in [false, true] {
                    let header = ResponseHeader::default();
                    let frame = match key {
                        ApiKey::Fetch => encode_response(&header, &fetch(with), key, version),
                        _ => encode_response(&header, &produce(with), key, version),
                    }
                    .unwrap();
                    // Versions before KIP-951 cannot carry the endpoints at all.
                    let expected = with && version >= first_with_endpoints;
                    assert_eq!(
                        walk(&frame, version),
                        Ok(expected),
                        "{key:?} v{version} {with}"
                    );
                    assert!(
                        walk(&frame[..frame.len() - 1], version).is_err(),
                        "truncation noticed"
                    );
                }
            }
        }
    }

    #[test]
    fn the_incremental_finder_finds_the_tagged_fields_for_any_split() {
        for version in 12..=18 {
            for with in [false, true] {
                let frame = encode_response(
                    &ResponseHeader::default(),
                    &fetch(with),
                    ApiKey::Fetch,
                    version,
                )
                .unwrap();
                // Oracle: without endpoints the same message ends in the one-byte empty section.
                let bare = encode_response(
                    &ResponseHeader::default(),
                    &fetch(false),
                    ApiKey::Fetch,
                    version,
                )
                .unwrap();
                let expected = bare.len() - 1;
                assert!(
                    frame[4..expected] == bare[4..expected],
                    "same message up to the tags"
                );
                for piece in [1, 2, 3, 5, 16, 61, 300, frame.len()] {
                    let mut finder = FetchTailFinder::new(version);
                    let mut found = None;
                    let mut fed = 0;
                    for chunk in frame.chunks(piece) {
                        if let Some(at) = finder.feed(chunk).unwrap() {
                            found = Some(at);
                            break;
                        }
                        fed += chunk.len();
                        assert!(
                            fed <= expected,
                            "v{version} piece {piece}: walked past the tags"
                        );
                    }
                    assert_eq!(
                        found,
                        Some(expected),
                        "v{version} with={with} piece {piece}"
                    );
                }
            }
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for junk in [
            &b""[..],
            &[0, 0, 0, 1, 0],
            &[0, 0, 0, 9, 0, 0, 0, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff],
        ] {
            assert!(fetch_has_top_level_tags(junk, 16).is_err());
            assert!(produce_has_top_level_tags(junk, 11).is_err());
        }
    }

    /// What a caller passes on unseen (records spliced from socket to socket) never reaches
    /// the finder; told how much went by, it finds the same tail.
    #[test]
    fn bytes_passed_over_unseen_leave_the_finder_where_it_would_be() {
        for version in 12..=18 {
            let frame = encode_response(
                &ResponseHeader::default(),
                &fetch(true),
                ApiKey::Fetch,
                version,
            )
            .unwrap();
            let mut plain = FetchTailFinder::new(version);
            let expected = plain.feed(&frame).unwrap();
            let mut finder = FetchTailFinder::new(version);
            let (mut at, mut unseen) = (0, 0);
            let found = loop {
                // Feed a byte at a time until the finder is passing over something long.
                if let Some(found) = finder.feed(&frame[at..at + 1]).unwrap() {
                    break Some(found);
                }
                at += 1;
                let skip = finder.skipping();
                if skip >= 300 {
                    finder.skipped(skip);
                    (at, unseen) = (at + skip, unseen + 1);
                }
            };
            assert_eq!(found, expected, "v{version}");
            assert_eq!(
                unseen, 6,
                "v{version}: each partition's records passed over"
            );
        }
    }
}
