//! A frame with some of its strings replaced, built around the bytes that stay.
//!
//! The walks in [`gatehouse_protocol::name_spans`] find where a message's names are, without
//! decoding it; this puts other names there. Long runs between names (record batches) go on
//! as slices of the original frame, never copied; short runs are copied, with the new names,
//! into small buffers.

use std::ops::{Deref, Range};

use bytes::{BufMut, Bytes, BytesMut};

use gatehouse_protocol::codec::CodecResult;
use gatehouse_protocol::frame::LENGTH_PREFIX;
use gatehouse_protocol::header::read_unsigned_varint;

/// Runs shorter than this between names are copied rather than sliced: a slice costs a
/// reference count and an entry in the write's vector, a copy of a few dozen bytes costs less.
const COPY_LIMIT: usize = 512;

/// The contents of the string at `span` (its length, then its bytes); empty for null.
pub(crate) fn text<'a>(
    frame: &'a [u8],
    span: &Range<usize>,
    compact: bool,
) -> CodecResult<&'a str> {
    let len_bytes = if compact {
        read_unsigned_varint(frame, span.start).map_or(1, |(_, used)| used)
    } else {
        2
    };
    Ok(std::str::from_utf8(
        &frame[span.start + len_bytes..span.end],
    )?)
}

/// The frame with the string at each span (in order, not overlapping) replaced, as pieces to
/// write together, in order. `compact`: the strings have varint lengths (flexible versions).
///
/// The new length prefix is computed from the frame's own, so `frame` may also be only the
/// beginning of a frame whose rest follows unchanged.
pub(crate) fn respell<S: Deref<Target = str>>(
    frame: &Bytes,
    edits: &[(Range<usize>, S)],
    compact: bool,
) -> CodecResult<Vec<Bytes>> {
    let declared = (frame.get(..LENGTH_PREFIX))
        .ok_or_else(|| anyhow::anyhow!("frame without a length prefix"))?;
    let declared = i32::from_be_bytes([declared[0], declared[1], declared[2], declared[3]]);
    let mut total = usize::try_from(declared)?;
    for (span, name) in edits {
        total = total - span.len() + encoded_len(name.len(), compact);
    }
    let mut pieces = Vec::new();
    let mut small = BytesMut::with_capacity(64);
    small.put_i32(i32::try_from(total)?);
    let mut at = LENGTH_PREFIX;
    for (span, name) in edits {
        keep(&mut pieces, &mut small, frame, at..span.start);
        if compact {
            put_uvarint(&mut small, name.len() as u32 + 1);
        } else {
            small.put_i16(i16::try_from(name.len())?);
        }
        small.put_slice(name.as_bytes());
        at = span.end;
    }
    keep(&mut pieces, &mut small, frame, at..frame.len());
    if !small.is_empty() {
        pieces.push(small.freeze());
    }
    Ok(pieces)
}

/// Passes a run of the original frame on: copied if short, sliced if long.
fn keep(pieces: &mut Vec<Bytes>, small: &mut BytesMut, frame: &Bytes, run: Range<usize>) {
    if run.len() < COPY_LIMIT {
        small.put_slice(&frame[run]);
        return;
    }
    if !small.is_empty() {
        pieces.push(small.split().freeze());
    }
    pieces.push(frame.slice(run));
}

fn encoded_len(len: usize, compact: bool) -> usize {
    let prefix = if compact {
        match len + 1 {
            0..0x80 => 1,
            0x80..0x4000 => 2,
            0x4000..0x20_0000 => 3,
            0x20_0000..0x1000_0000 => 4,
            _ => 5,
        }
    } else {
        2
    };
    prefix + len
}

fn put_uvarint(out: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        out.put_u8((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.put_u8(v as u8);
}
