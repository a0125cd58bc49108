//! Tagged-field sections (KIP-482): parsing one, and rebuilding one to an exact size so a
//! rewritten tail keeps the frame length a client was already sent.

use bytes::Bytes;

use crate::header::read_unsigned_varint;
use crate::scan::ScanError;

/// One tagged field: tag and raw value.
pub type TaggedField = (u32, Bytes);

/// Parses a whole tagged-field section.
pub fn parse_tagged_section(section: &Bytes) -> Result<Vec<TaggedField>, ScanError> {
    let mut at = 0;
    let varint = |what: &'static str, at: &mut usize| {
        let (v, used) = read_unsigned_varint(section, *at).ok_or(ScanError(what))?;
        *at += used;
        Ok::<_, ScanError>(v)
    };
    let count = varint("bad tag count", &mut at)?;
    let mut fields = Vec::new();
    for _ in 0..count {
        let tag = varint("bad tag", &mut at)?;
        let size = varint("bad tag size", &mut at)? as usize;
        if size > section.len() - at {
            return Err(ScanError("tag value truncated"));
        }
        fields.push((tag, section.slice(at..at + size)));
        at += size;
    }
    if at != section.len() {
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
}
