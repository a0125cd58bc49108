//! The tag walkers: `parse_tagged_section` and `tagged_section_of_size` (tagged.rs), and
//! `FetchTailFinder` / `fetch_tags_offset` / `produce_has_top_level_tags` (scan.rs).
//!
//! Input: `[mode][choices...]`.
//! * 0: a raw tagged section: parsed, and if it parses, rebuilt to several sizes.
//! * 1: tagged fields chosen by the input, rebuilt to a chosen size and parsed back.
//! * 2: a Fetch response (kafka-protocol, v12..=18), perhaps damaged, fed to the finder in
//!   chunks the input chooses, sometimes passing bytes over unseen as a splicing caller does:
//!   the finder must answer as `fetch_tags_offset` does on the whole frame.
//! * 3: a Produce response, perhaps damaged: `produce_has_top_level_tags` must match what was
//!   encoded and agree with `produce_response_names` about what is well-formed.
//! * 4: a raw frame for both scans (next byte the version).

use bytes::Bytes;
use gatehouse_protocol::name_spans::{fetch_response_names, produce_response_names};
use gatehouse_protocol::scan::{fetch_tags_offset, produce_has_top_level_tags, FetchTailFinder};
use gatehouse_protocol::tagged::{
    parse_tagged_section, tagged_section_of_size, TaggedField, PADDING_TAGS,
};

use crate::input::{mutate, Input};
use crate::messages::{canonical_response, fetch_response, produce_response};
use gatehouse_protocol::codec::encode_response;
use gatehouse_protocol::kafka_protocol::messages::{ApiKey, FetchResponse, ProduceResponse};

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    match input.u8() % 5 {
        0 => {
            let section = Bytes::copy_from_slice(input.rest());
            if let Ok(fields) = parse_tagged_section(&section) {
                let used: usize = fields.iter().map(|(_, v)| v.len()).sum();
                assert!(used + 1 + 2 * fields.len() <= section.len());
                // Rebuilding needs ascending tags below the padding ones, as the callers keep.
                let mut fields: Vec<_> = fields
                    .into_iter()
                    .filter(|(t, _)| *t < PADDING_TAGS[0])
                    .collect();
                fields.sort_by_key(|(t, _)| *t);
                fields.dedup_by_key(|(t, _)| *t);
                for extra in [0, 1, 2, 3, 130, 300] {
                    check_rebuild(&fields, minimal_len(&fields) + extra);
                }
            }
        }
        1 => {
            let mut tag = 0u32;
            let fields: Vec<TaggedField> = (0..input.below(6))
                .map(|_| {
                    tag += input.below(40) as u32;
                    let value = vec![input.u8(); input.below(300)];
                    let field = (tag, Bytes::from(value));
                    tag += 1;
                    field
                })
                .filter(|(t, _)| *t < PADDING_TAGS[0])
                .collect();
            let size = match input.below(4) {
                0 => input.below(70_000),
                _ => minimal_len(&fields) + input.below(300),
            };
            check_rebuild(&fields, size);
        }
        2 => {
            let Some(r) = fetch_response(&mut input, 12) else {
                return;
            };
            // Undamaged, the tags start where the bare message's empty section does.
            let expected = r.bare.len() - 1;
            assert_eq!(fetch_tags_offset(&r.frame, r.version), Ok(expected));
            let section = Bytes::copy_from_slice(&r.frame[expected..]);
            let fields = parse_tagged_section(&section).expect("the top-level section parses");
            assert_eq!(!fields.is_empty(), r.top_level_tags);
            let mut frame = r.frame.clone();
            mutate(&mut input, &mut frame, 3);
            check_finder(&mut input, &frame, r.version);
            if let Some((header, mut m)) =
                canonical_response::<FetchResponse>(&frame, ApiKey::Fetch, r.version)
            {
                // Where a conforming peer's frame keeps its top-level tags: where the same
                // message without them ends its one-byte empty section.
                let tagged = !m.node_endpoints.is_empty() || !m.unknown_tagged_fields.is_empty();
                m.node_endpoints.clear();
                m.unknown_tagged_fields.clear();
                let bare = encode_response(&header, &m, ApiKey::Fetch, r.version).unwrap();
                let at = fetch_tags_offset(&frame, r.version).expect("a round-tripped frame");
                assert_eq!(at, bare.len() - 1);
                let section = Bytes::copy_from_slice(&frame[at..]);
                let fields = parse_tagged_section(&section).expect("its tags parse");
                assert_eq!(!fields.is_empty(), tagged);
            }
        }
        3 => {
            let Some(r) = produce_response(&mut input) else {
                return;
            };
            let expected = r.top_level_tags && r.version >= 9;
            assert_eq!(
                produce_has_top_level_tags(&r.frame, r.version),
                Ok(expected)
            );
            let mut frame = r.frame.clone();
            mutate(&mut input, &mut frame, 3);
            check_produce(&frame, r.version);
            if let Some((_, m)) =
                canonical_response::<ProduceResponse>(&frame, ApiKey::Produce, r.version)
            {
                let tagged = !m.node_endpoints.is_empty() || !m.unknown_tagged_fields.is_empty();
                assert_eq!(
                    produce_has_top_level_tags(&frame, r.version),
                    Ok(tagged && r.version >= 9)
                );
            }
        }
        _ => {
            let version = (input.u8() % 20) as i16;
            let chunking = input.bytes(8).to_vec();
            let frame = input.rest();
            check_produce(frame, version);
            check_finder(&mut Input::new(&chunking), frame, version);
        }
    }
}

fn uvarint_len(v: usize) -> usize {
    (1..=5).find(|k| v < 1 << (7 * k)).unwrap_or(5)
}

fn minimal_len(fields: &[TaggedField]) -> usize {
    uvarint_len(fields.len())
        + fields
            .iter()
            .map(|(t, v)| uvarint_len(*t as usize) + uvarint_len(v.len()) + v.len())
            .sum::<usize>()
}

fn check_rebuild(fields: &[TaggedField], size: usize) {
    let minimal = minimal_len(fields);
    match tagged_section_of_size(fields, size) {
        Some(section) => {
            assert_eq!(section.len(), size);
            let parsed = parse_tagged_section(&Bytes::from(section)).expect("rebuilt parses");
            assert_eq!(&parsed[..fields.len()], fields, "fields kept, in order");
            assert!(parsed[fields.len()..]
                .iter()
                .all(|(t, _)| PADDING_TAGS.contains(t)));
        }
        // Padding takes at least two bytes, and one more when the field count's varint grows.
        None => assert!(
            size < minimal || (size > minimal && size < minimal + 5),
            "{} fields: {size} bytes (minimal {minimal}) should fit",
            fields.len()
        ),
    }
}

fn check_finder(input: &mut Input, frame: &[u8], version: i16) {
    let whole = fetch_tags_offset(frame, version).map_err(|e| e.to_string());
    let sizes: Vec<usize> = (0..1 + input.below(4))
        .map(|_| 1 + input.below(700))
        .collect();
    let pass_over = input.bool();
    let mut finder = FetchTailFinder::new(version);
    let mut at = 0;
    let mut chunk = 0;
    let chunked = loop {
        if at >= frame.len() {
            // Bytes passed over unseen may have ended the last field before the tags: an
            // empty feed lets the finder step on (the proxy's pump feeds what it has, even
            // nothing, after passing bytes over). Then out of bytes is what the whole-frame
            // call calls truncated.
            break match finder.feed(&[]) {
                Ok(Some(found)) => Ok(found),
                Ok(None) => fetch_tags_offset(&[], version).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
        }
        let skip = finder.skipping();
        if pass_over && skip > 0 {
            // A splicing caller forwards what the finder would pass over without showing it.
            let n = skip.min(frame.len() - at);
            finder.skipped(n);
            at += n;
            continue;
        }
        let n = sizes[chunk % sizes.len()].min(frame.len() - at);
        chunk += 1;
        match finder.feed(&frame[at..at + n]) {
            Ok(Some(found)) => break Ok(found),
            Ok(None) => at += n,
            Err(e) => break Err(e.to_string()),
        }
    };
    assert_eq!(chunked, whole, "chunks {sizes:?} pass_over {pass_over}");
    if let Ok(found) = whole {
        assert!(found <= frame.len());
    }
    // Where the full walk of v12 accepts the frame, the finder found its last section.
    if version == 12 && fetch_response_names(frame, version).is_ok() {
        let at = whole.clone().expect("the names walk accepted this frame");
        parse_tagged_section(&Bytes::copy_from_slice(&frame[at..]))
            .expect("the finder stopped at the final tagged section");
    }
}

fn check_produce(frame: &[u8], version: i16) {
    let tags = produce_has_top_level_tags(frame, version);
    if (9..=12).contains(&version) {
        // Both walk the whole flexible response and require it to end with its tags.
        let names = produce_response_names(frame, version);
        assert_eq!(
            tags.is_ok(),
            names.is_ok(),
            "v{version}: {tags:?} / {names:?}"
        );
    }
    if version < 9 {
        assert_eq!(tags, Ok(false));
    }
}

pub fn seeds() -> Vec<Vec<u8>> {
    let mut seeds = vec![
        // Found once fuzzing: records passed over unseen up to the end of a damaged frame (the
        // finder answers on the next, empty, feed).
        vec![
            2, 7, 45, 0, 0, 0, 0, 211, 1, 0, 0, 0, 0, 44, 44, 44, 0, 0, 0, 211, 1, 44, 44, 44, 0,
            0, 0, 163, 163, 163, 163, 163, 163, 163, 163, 199, 163, 163, 255, 255, 255, 255, 255,
            255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 44, 44, 44, 0, 0, 0, 211, 1, 44, 44, 44,
            0, 0, 0, 163, 163, 163, 163, 163, 163, 163, 163, 199, 163, 163, 255, 255, 255, 255,
            255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
            255, 255, 255, 163, 163, 163, 163, 163, 163, 163, 163, 163, 163, 163, 163, 163, 163,
            19, 4, 24,
        ],
        vec![0, 0],
        vec![0, 2, 1, 3, 9, 9, 9, 5, 0],
        vec![0, 1, 0x80, 0x01, 0x02, 7, 7],
        vec![1, 3, 5, 1, 20, 9, 3, 100, 7, 2],
        vec![1, 5, 0, 0, 0, 7, 127, 1, 0, 200],
    ];
    for mode in [2u8, 3] {
        for choice in 0u8..16 {
            seeds.push(vec![
                mode, choice, 2, 1, 3, 1, 2, 1, 3, 5, choice, 0, 1, 7, 1, 2,
            ]);
        }
    }
    seeds
}
