//! The name walkers of `name_spans.rs`: `produce_names`, `produce_head_names`,
//! `produce_response_names`, `fetch_response_names`.
//!
//! Input: `[mode][choices...]`. Mode 0: a raw frame (next byte the version) for every walker;
//! 1..=3: a Produce request, Produce response or Fetch response encoded by kafka-protocol from
//! the choices, then perhaps damaged. Undamaged, the walkers must find exactly the names that
//! were encoded; damaged, whatever they return must be well-formed string spans, in order,
//! inside the frame; and the head of a request must agree with the whole of it.

use std::ops::Range;

use gatehouse_protocol::header::read_unsigned_varint;
use gatehouse_protocol::name_spans::{
    fetch_response_names, produce_head_names, produce_names, produce_response_names, ProduceHead,
    ProduceNames,
};

use crate::input::{mutate, Input};
use crate::messages::{
    canonical_produce_request, canonical_response, fetch_response, produce_request,
    produce_response,
};
use gatehouse_protocol::kafka_protocol::messages::{ApiKey, FetchResponse, ProduceResponse};

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    match input.u8() % 4 {
        0 => {
            let version = (input.u8() % 20) as i16;
            let frame = input.rest();
            check_request(frame, version, &[frame.len() / 2, frame.len()]);
            check_response(produce_response_names, frame, version, version >= 9);
            check_response(fetch_response_names, frame, version, version >= 12);
        }
        1 => {
            let Some(p) = produce_request(&mut input) else {
                return;
            };
            let names = produce_names(&p.frame, p.version);
            if p.version <= 12 {
                let names = names.expect("an encoded Produce request walks");
                let texts = texts(&p.frame, &names.topics, p.version >= 9);
                assert_eq!(texts, p.topics, "v{}", p.version);
                let txn = text(&p.frame, &names.transactional_id, p.version >= 9);
                assert_eq!(txn, p.transactional_id.unwrap_or_default());
            } else {
                assert!(names.is_err(), "v13 names topics by id");
            }
            let cuts: Vec<usize> = (0..4).map(|_| input.below(p.frame.len() + 1)).collect();
            let mut frame = p.frame.clone();
            mutate(&mut input, &mut frame, 3);
            check_request(&frame, p.version, &cuts);
            if let Some(request) = canonical_produce_request(&frame, p.version) {
                if p.version <= 12 {
                    let names = produce_names(&frame, p.version)
                        .expect("a frame kafka-protocol round-trips walks");
                    let compact = p.version >= 9;
                    let decoded: Vec<String> = request
                        .topic_data
                        .iter()
                        .map(|t| t.name.0.to_string())
                        .collect();
                    assert_eq!(texts(&frame, &names.topics, compact), decoded);
                    let txn = request.transactional_id.map(|t| t.0.to_string());
                    assert_eq!(
                        text(&frame, &names.transactional_id, compact),
                        txn.unwrap_or_default()
                    );
                }
            }
        }
        mode => {
            let (r, walk, compact) = if mode == 2 {
                let Some(r) = produce_response(&mut input) else {
                    return;
                };
                let compact = r.version >= 9;
                (r, produce_response_names as Walk, compact)
            } else {
                let Some(r) = fetch_response(&mut input, 4) else {
                    return;
                };
                let compact = r.version >= 12;
                (r, fetch_response_names as Walk, compact)
            };
            let named = r.version <= 12;
            match walk(&r.frame, r.version) {
                Ok(spans) => {
                    assert!(named, "v{} has topic ids, not names", r.version);
                    assert_eq!(texts(&r.frame, &spans, compact), r.topics);
                }
                Err(e) => assert!(!named, "v{}: {e}", r.version),
            }
            let mut frame = r.frame.clone();
            mutate(&mut input, &mut frame, 3);
            check_response(walk, &frame, r.version, compact);
            let decoded: Option<Vec<String>> = if mode == 2 {
                canonical_response::<ProduceResponse>(&frame, ApiKey::Produce, r.version)
                    .map(|(_, m)| m.responses.iter().map(|t| t.name.0.to_string()).collect())
            } else {
                canonical_response::<FetchResponse>(&frame, ApiKey::Fetch, r.version)
                    .map(|(_, m)| m.responses.iter().map(|t| t.topic.0.to_string()).collect())
            };
            if let (Some(decoded), true) = (decoded, named) {
                let spans =
                    walk(&frame, r.version).expect("a frame kafka-protocol round-trips walks");
                assert_eq!(texts(&frame, &spans, compact), decoded);
            }
        }
    }
}

type Walk =
    fn(&[u8], i16) -> Result<Vec<Range<usize>>, gatehouse_protocol::name_spans::NameSpanError>;

fn text(frame: &[u8], span: &Range<usize>, compact: bool) -> String {
    let len_bytes = if compact {
        read_unsigned_varint(frame, span.start).unwrap().1
    } else {
        2
    };
    String::from_utf8_lossy(&frame[span.start + len_bytes..span.end]).into_owned()
}

fn texts(frame: &[u8], spans: &[Range<usize>], compact: bool) -> Vec<String> {
    spans.iter().map(|s| text(frame, s, compact)).collect()
}

/// A span is one whole string field: its length (varint or i16) then exactly that many bytes,
/// inside the frame body.
fn assert_string_span(frame: &[u8], span: &Range<usize>, compact: bool) {
    assert!(
        4 <= span.start && span.start < span.end && span.end <= frame.len(),
        "{span:?}"
    );
    let (len, used) = if compact {
        let (n, used) = read_unsigned_varint(frame, span.start).expect("span starts with a varint");
        (n as i64 - 1, used)
    } else {
        let b = &frame[span.start..span.start + 2];
        (i16::from_be_bytes([b[0], b[1]]) as i64, 2)
    };
    assert_eq!(
        span.len(),
        used + len.max(0) as usize,
        "{span:?} is its string"
    );
}

/// Spans in frame order, none overlapping.
fn assert_ordered(spans: &[&Range<usize>]) {
    for pair in spans.windows(2) {
        assert!(
            pair[0].end <= pair[1].start,
            "{:?} then {:?}",
            pair[0],
            pair[1]
        );
    }
}

fn assert_request_names(frame: &[u8], names: &ProduceNames, compact: bool) {
    assert_string_span(frame, &names.transactional_id, compact);
    for t in &names.topics {
        assert_string_span(frame, t, compact);
    }
    let all: Vec<_> = std::iter::once(&names.transactional_id)
        .chain(&names.topics)
        .collect();
    assert_ordered(&all);
}

fn check_request(frame: &[u8], version: i16, cuts: &[usize]) {
    let compact = version >= 9;
    let whole = produce_names(frame, version);
    if let Ok(names) = &whole {
        assert!((3..=12).contains(&version));
        assert_request_names(frame, names, compact);
        // A walk ends exactly at the end of the frame, so no proper prefix walks.
        for &cut in cuts.iter().filter(|&&c| c < frame.len()) {
            assert!(produce_names(&frame[..cut], version).is_err(), "cut {cut}");
        }
    }
    // Cuts chosen before a mutation may lie past the end of the damaged frame.
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(frame.len())).collect();
    cuts.push(frame.len());
    cuts.sort_unstable();
    let mut seen_names: Option<ProduceHead> = None;
    for cut in cuts {
        let head = produce_head_names(&frame[..cut], version);
        if let ProduceHead::Names(names) = &head {
            assert_eq!(names.topics.len(), 1);
            assert_request_names(frame, names, compact);
            assert!(names.topics[0].end <= cut, "a name past the head");
        }
        // More bytes never change an answer that was already given.
        if let Some(earlier) = &seen_names {
            assert_eq!(&head, earlier, "cut {cut}");
        }
        if !matches!(head, ProduceHead::NeedMore) {
            seen_names = Some(head.clone_shallow());
        }
        let Ok(whole) = &whole else { continue };
        match &head {
            ProduceHead::Names(names) => assert_eq!(names, whole, "head and whole frame agree"),
            ProduceHead::Whole => assert_ne!(whole.topics.len(), 1, "one topic mapped whole"),
            ProduceHead::NeedMore => {
                if whole.topics.len() == 1 {
                    assert!(
                        cut < whole.topics[0].end,
                        "cut {cut}: the name was all there"
                    );
                }
                assert!(cut < frame.len(), "the whole frame is enough");
            }
        }
    }
}

trait CloneShallow {
    fn clone_shallow(&self) -> Self;
}

impl CloneShallow for ProduceHead {
    fn clone_shallow(&self) -> Self {
        match self {
            ProduceHead::Names(n) => ProduceHead::Names(ProduceNames {
                transactional_id: n.transactional_id.clone(),
                topics: n.topics.clone(),
            }),
            ProduceHead::NeedMore => ProduceHead::NeedMore,
            ProduceHead::Whole => ProduceHead::Whole,
        }
    }
}

fn check_response(walk: Walk, frame: &[u8], version: i16, compact: bool) {
    let Ok(spans) = walk(frame, version) else {
        return;
    };
    for s in &spans {
        assert_string_span(frame, s, compact);
    }
    assert_ordered(&spans.iter().collect::<Vec<_>>());
    let cut = frame.len().saturating_sub(1);
    assert!(walk(&frame[..cut], version).is_err(), "a prefix walked");
}

pub fn seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for mode in 1u8..=3 {
        for choice in 0u8..16 {
            // mode, version, then a few choices (counts, lengths, flags).
            seeds.push(vec![
                mode, choice, 1, 2, 1, 5, 2, 3, choice, 1, 7, 3, 1, 2, 0,
            ]);
        }
    }
    seeds.push(vec![0, 9, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0]);
    seeds
}
