//! Allocation-free walks over a response that answer one question without decoding it.
//!
//! KIP-951 puts broker addresses (`node_endpoints`) in the top-level tagged fields of Produce
//! (v10+) and Fetch (v16+) responses, which come after all topic data. Brokers send them only
//! after leadership changes, so almost every response has none. Walking the structure with a
//! cursor (integer reads and skips, no allocation, records skipped by length) tells the routing
//! stage whether a full decode and re-encode is needed at all.

use bytes::Bytes;

use crate::frame::LENGTH_PREFIX;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed response: {0}")]
pub struct ScanError(&'static str);

/// Bytes the walk reads. Only varints (counts, lengths, tags) are ever read; fixed-size fields
/// and record data are skipped by arithmetic, so a source may be split into chunks.
pub trait ByteSource {
    fn len(&self) -> usize;
    fn byte(&self, at: usize) -> u8;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ByteSource for [u8] {
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }
    fn byte(&self, at: usize) -> u8 {
        self[at]
    }
}

/// A frame received so far: chunks already passed on, then what is still buffered.
pub struct Segments<'a> {
    pub chunks: &'a [Bytes],
    pub rest: &'a [u8],
}

impl ByteSource for Segments<'_> {
    fn len(&self) -> usize {
        self.chunks.iter().map(Bytes::len).sum::<usize>() + self.rest.len()
    }
    fn byte(&self, mut at: usize) -> u8 {
        for c in self.chunks {
            if at < c.len() {
                return c[at];
            }
            at -= c.len();
        }
        self.rest[at]
    }
}

/// Why a walk stopped early.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    /// The bytes ran out: fine while more are coming.
    Incomplete,
    Malformed(&'static str),
}

struct Cursor<'a, S: ByteSource + ?Sized> {
    src: &'a S,
    len: usize,
    at: usize,
}

impl<'a, S: ByteSource + ?Sized> Cursor<'a, S> {
    fn new(src: &'a S) -> Self {
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
            let byte = self.src.byte(self.at);
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
fn produce_tags_at<S: ByteSource + ?Sized>(c: &mut Cursor<S>, version: i16) -> Result<usize, Stop> {
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

/// Same for a flexible Fetch response.
fn fetch_tags_at<S: ByteSource + ?Sized>(c: &mut Cursor<S>, version: i16) -> Result<usize, Stop> {
    c.after_header()?;
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
                c.skip_tags()
            })?;
            c.skip(4)?; // preferred_read_replica
            c.skip_compact_bytes()?; // records
            c.skip_tags()
        })?;
        c.skip_tags()
    })?;
    Ok(c.at)
}

/// Where a partially received Fetch response stands.
#[derive(Debug, PartialEq, Eq)]
pub enum FetchProgress {
    /// Every byte received so far precedes the top-level tagged fields: all may be passed on.
    Before,
    /// The top-level tagged fields start at this offset: bytes before it may be passed on.
    TagsAt(usize),
}

/// Walks a flexible (v12+) Fetch response received up to `src.len()` of its `total` bytes.
pub fn fetch_progress<S: ByteSource + ?Sized>(
    src: &S,
    total: usize,
    version: i16,
) -> Result<FetchProgress, ScanError> {
    let mut c = Cursor::new(src);
    match fetch_tags_at(&mut c, version) {
        Ok(at) => Ok(FetchProgress::TagsAt(at)),
        Err(Stop::Incomplete) if c.len < total => Ok(FetchProgress::Before),
        Err(Stop::Incomplete) => Err(ScanError("truncated")),
        Err(Stop::Malformed(m)) => Err(ScanError(m)),
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

/// Whether a whole flexible (v12+) Fetch response frame has top-level tagged fields.
pub fn fetch_has_top_level_tags(frame: &[u8], version: i16) -> Result<bool, ScanError> {
    if version < 12 {
        return Ok(false);
    }
    let at = complete(fetch_tags_at(&mut Cursor::new(frame), version))?;
    final_section_has_fields(frame, at)
}

/// One tagged field: tag and raw value.
pub type TaggedField = (u32, Bytes);

/// Parses a whole tagged-field section.
pub fn parse_tagged_section(section: &Bytes) -> Result<Vec<TaggedField>, ScanError> {
    let mut c = Cursor::new(&section[..]);
    let count = c.uvarint().map_err(|_| ScanError("bad tag count"))?;
    let mut fields = Vec::new();
    for _ in 0..count {
        let tag = c.uvarint().map_err(|_| ScanError("bad tag"))?;
        let size = c.uvarint().map_err(|_| ScanError("bad tag size"))? as usize;
        let start = c.at;
        c.skip(size).map_err(|_| ScanError("tag value truncated"))?;
        fields.push((tag, section.slice(start..start + size)));
    }
    if c.at != section.len() {
        return Err(ScanError("trailing bytes"));
    }
    Ok(fields)
}

/// Tags no Kafka message defines at the versions the gateway forwards; clients skip unknown
/// tags (KIP-482), so their values can pad a rewritten section to its original size.
pub const PADDING_TAGS: [u32; 2] = [126, 127];

fn uvarint_len(v: usize) -> usize {
    match v {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        0x20_0000..=0xfff_ffff => 4,
        _ => 5,
    }
}

fn put_uvarint(out: &mut Vec<u8>, mut v: usize) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Encodes `fields` (ascending tags, all below the padding tags) as a tagged-field section of
/// exactly `size` bytes, adding one or two padding fields if needed. `None` when they do not fit.
pub fn tagged_section_of_size(fields: &[TaggedField], size: usize) -> Option<Vec<u8>> {
    let body: usize = fields
        .iter()
        .map(|(t, v)| uvarint_len(*t as usize) + uvarint_len(v.len()) + v.len())
        .sum();
    let encode = |pads: &[(u32, usize)]| {
        let mut out = Vec::with_capacity(size);
        put_uvarint(&mut out, fields.len() + pads.len());
        for (tag, value) in fields {
            put_uvarint(&mut out, *tag as usize);
            put_uvarint(&mut out, value.len());
            out.extend_from_slice(value);
        }
        for (tag, n) in pads {
            put_uvarint(&mut out, *tag as usize);
            put_uvarint(&mut out, *n);
            out.resize(out.len() + n, 0);
        }
        out
    };
    if uvarint_len(fields.len()) + body == size {
        return Some(encode(&[]));
    }
    // A padding field takes 1 (tag) + len(varint(n)) + n bytes; some room sizes cannot be
    // written that way (128 + 1 needs n = 127 or 128, neither fits), so an empty first pad
    // (2 bytes) shifts the room by two.
    for empty_pads in 0..=1 {
        let count = fields.len() + 1 + empty_pads;
        let Some(room) = size.checked_sub(uvarint_len(count) + body + 2 * empty_pads + 1) else {
            continue;
        };
        if let Some(n) = (1..=3).find_map(|k| room.checked_sub(k).filter(|n| uvarint_len(*n) == k))
        {
            let pads = if empty_pads == 1 {
                vec![(PADDING_TAGS[0], 0), (PADDING_TAGS[1], n)]
            } else {
                vec![(PADDING_TAGS[1], n)]
            };
            return Some(encode(&pads));
        }
    }
    None
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
    fn fetch_walk_agrees_with_the_encoder_at_every_flexible_version() {
        for version in 12..=18 {
            for with in [false, true] {
                let frame = encode_response(
                    &ResponseHeader::default(),
                    &fetch(with),
                    ApiKey::Fetch,
                    version,
                )
                .unwrap();
                let expected = with && version >= 16; // older versions cannot carry them
                assert_eq!(
                    fetch_has_top_level_tags(&frame, version),
                    Ok(expected),
                    "v{version} {with}"
                );
                assert!(
                    fetch_has_top_level_tags(&frame[..frame.len() - 1], version).is_err(),
                    "truncation noticed"
                );
            }
        }
    }

    #[test]
    fn produce_walk_agrees_with_the_encoder_at_every_flexible_version() {
        for version in 9..=13 {
            for with in [false, true] {
                let frame = encode_response(
                    &ResponseHeader::default(),
                    &produce(with),
                    ApiKey::Produce,
                    version,
                )
                .unwrap();
                let expected = with && version >= 10;
                assert_eq!(
                    produce_has_top_level_tags(&frame, version),
                    Ok(expected),
                    "v{version} {with}"
                );
                assert!(produce_has_top_level_tags(&frame[..frame.len() - 1], version).is_err());
            }
        }
    }

    #[test]
    fn a_fetch_arriving_in_pieces_is_passed_on_up_to_its_tagged_fields() {
        for with in [false, true] {
            let frame =
                encode_response(&ResponseHeader::default(), &fetch(with), ApiKey::Fetch, 16)
                    .unwrap();
            let tags_at = match fetch_progress(&frame[..], frame.len(), 16).unwrap() {
                FetchProgress::TagsAt(at) => at,
                other => panic!("{other:?}"),
            };
            assert_eq!(
                frame[tags_at] != 0,
                with,
                "the section is where the walk says"
            );
            // Every prefix, split into arbitrary chunks, gives the same answer or says "all before".
            for have in 0..frame.len() {
                let chunks: Vec<Bytes> = frame[..have / 2]
                    .chunks(7)
                    .map(Bytes::copy_from_slice)
                    .collect();
                let src = Segments {
                    chunks: &chunks,
                    rest: &frame[have / 2..have],
                };
                match fetch_progress(&src, frame.len(), 16).unwrap() {
                    FetchProgress::Before => assert!(have <= tags_at, "{have} > {tags_at}"),
                    FetchProgress::TagsAt(at) => assert_eq!(at, tags_at),
                }
            }
        }
    }

    #[test]
    fn sections_are_rebuilt_to_the_exact_size() {
        let field = (0u32, Bytes::from(vec![1u8; 20]));
        for size in 0..400 {
            match tagged_section_of_size(std::slice::from_ref(&field), size) {
                Some(section) => {
                    assert_eq!(section.len(), size);
                    let parsed = parse_tagged_section(&Bytes::from(section)).unwrap();
                    assert_eq!(parsed[0], field);
                    assert!(parsed[1..]
                        .iter()
                        .all(|(tag, _)| PADDING_TAGS.contains(tag)));
                }
                None => assert!(size < 1 + 1 + 1 + 20 + 3, "{size} should fit"),
            }
        }
        assert_eq!(tagged_section_of_size(&[], 1), Some(vec![0]));
        assert_eq!(tagged_section_of_size(&[], 3).unwrap().len(), 3);
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
}
