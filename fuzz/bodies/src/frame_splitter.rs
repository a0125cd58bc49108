//! `FrameSplitter::split` / `declared_len` over a byte stream fed in arbitrary chunks.
//!
//! Input: `[limit byte][chunk-size count][chunk sizes...][stream]`. The stream is split as it
//! arrives, chunk by chunk, and the frames must be exactly those a whole-stream reference
//! parse finds: each its declared length, in order, none lost or repeated, and the first bad
//! length refused with the same error whatever the chunking.

use bytes::BytesMut;
use gatehouse_protocol::frame::{FrameError, FrameSplitter, Split, LENGTH_PREFIX};

use crate::input::Input;

/// What the whole stream holds: its complete frames, then how it ends.
fn reference(stream: &[u8], max: usize) -> (Vec<&[u8]>, Option<FrameError>) {
    let mut frames = Vec::new();
    let mut rest = stream;
    while rest.len() >= LENGTH_PREFIX {
        let len = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let error = match len {
            n if n < 0 => Some(FrameError::Negative(n)),
            0 => Some(FrameError::Empty),
            n if n as usize > max => Some(FrameError::TooLarge {
                len: n as usize,
                max,
            }),
            _ => None,
        };
        if error.is_some() {
            return (frames, error);
        }
        let total = LENGTH_PREFIX + len as usize;
        if rest.len() < total {
            break;
        }
        frames.push(&rest[..total]);
        rest = &rest[total..];
    }
    (frames, None)
}

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    // Small limits make "too large" reachable; 0 stands for the default limit.
    let max = match input.u8() {
        0 => gatehouse_protocol::frame::DEFAULT_MAX_FRAME_BYTES,
        n => n as usize * 3,
    };
    let sizes: Vec<usize> = (0..input.below(8))
        .map(|_| 1 + input.u8() as usize)
        .collect();
    let stream = input.rest();
    let splitter = FrameSplitter::new(max);
    let (expected, expected_error) = reference(stream, max);

    let mut buf = BytesMut::new();
    let mut frames: Vec<BytesMut> = Vec::new();
    let mut error = None;
    let mut fed = 0;
    let mut chunk = 0;
    'feed: while fed < stream.len() {
        let n = sizes
            .get(chunk % sizes.len().max(1))
            .copied()
            .unwrap_or(stream.len());
        let n = n.min(stream.len() - fed);
        buf.extend_from_slice(&stream[fed..fed + n]);
        fed += n;
        chunk += 1;
        loop {
            let declared = splitter.declared_len(&buf);
            match splitter.split(&mut buf) {
                Ok(Split::Frame(f)) => {
                    assert_eq!(
                        declared,
                        Ok(Some(f.len())),
                        "a frame is its declared length"
                    );
                    assert!(f.len() <= LENGTH_PREFIX + max, "oversize frame let through");
                    frames.push(f);
                }
                Ok(Split::NeedMore(more)) => {
                    assert!(more > 0, "NeedMore(0) would spin");
                    match declared {
                        Ok(None) => assert_eq!(more, LENGTH_PREFIX - buf.len()),
                        Ok(Some(total)) => assert_eq!(more, total - buf.len()),
                        Err(e) => panic!("declared_len refused ({e}) but split asked for more"),
                    }
                    break;
                }
                Err(e) => {
                    assert_eq!(
                        declared.as_ref().err(),
                        Some(&e),
                        "split and declared_len agree"
                    );
                    error = Some(e);
                    break 'feed;
                }
            }
        }
    }

    assert_eq!(frames.len(), expected.len(), "frame count");
    for (got, want) in frames.iter().zip(&expected) {
        assert_eq!(&got[..], *want);
    }
    assert_eq!(error, expected_error, "same refusal whatever the chunking");
    if error.is_none() {
        // Nothing lost: what is left in the buffer is the stream after the last frame.
        let consumed: usize = expected.iter().map(|f| f.len()).sum();
        assert_eq!(&buf[..], &stream[consumed..]);
    }
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

pub fn seeds() -> Vec<Vec<u8>> {
    let mut two = frame(b"hello");
    two.extend(frame(&[1; 40]));
    two.extend(&[0, 0, 0]);
    let mut seeds = vec![];
    for (limit, sizes) in [(0u8, &[][..]), (20, &[1][..]), (5, &[3, 7, 1][..])] {
        for stream in [
            two.clone(),
            frame(&[9; 300]),
            vec![0xff, 0xff, 0xff, 0xfe],
            vec![0, 0, 0, 0],
            [frame(b"x"), vec![0x7f, 0xff, 0xff, 0xff]].concat(),
        ] {
            let mut s = vec![limit, sizes.len() as u8];
            s.extend(sizes.iter().map(|n| n - 1));
            s.extend(stream);
            seeds.push(s);
        }
    }
    seeds
}
