//! The sequencer's response handling (`gatehouse_protocol::answers`, as
//! `crates/proxy/src/sequencer` drives it): one upstream connection's answers, cut into chunks
//! the input chooses, taken for a run of requests some of which are `acks=0` Produce whose
//! stray answer the broker may or may not send.
//!
//! Checks: every awaited answer is found, whole and in order, however the bytes are cut; every
//! stray answer is dropped, never taken for a later request's; `NeedMore` always asks for at
//! least one byte; and on arbitrary bytes (mode 1) the loop ends without a panic, only by
//! `Unexpected`, `Bad` or running out of input.

use gatehouse_protocol::answers::{front, Front, Unanswered};
use gatehouse_protocol::frame::FrameSplitter;

use crate::input::Input;

/// One request as the model sends it.
enum Request {
    Answered {
        body: usize,
    },
    /// acks=0; `stray`: the broker answers it anyway.
    Unanswered {
        stray: bool,
        body: usize,
    },
}

fn frame(id: i32, body: usize, fill: u8) -> Vec<u8> {
    let mut f = ((4 + body) as i32).to_be_bytes().to_vec();
    f.extend_from_slice(&id.to_be_bytes());
    f.extend(std::iter::repeat_n(fill, body));
    f
}

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    match input.u8() % 2 {
        0 => model(&mut input),
        _ => arbitrary(&mut input),
    }
}

/// A valid answer stream for a run of requests, fed in chosen chunks.
fn model(input: &mut Input) {
    let first_id = input.u32() as i32; // ids wrap: any start
    let count = 1 + input.below(24);
    let requests: Vec<Request> = (0..count)
        .map(|_| {
            let body = input.below(300);
            match input.below(3) {
                0 => Request::Unanswered {
                    stray: input.bool(),
                    body,
                },
                _ => Request::Answered { body },
            }
        })
        .collect();
    let mut stream = Vec::new();
    let mut expected = Vec::new();
    for (i, r) in requests.iter().enumerate() {
        let id = first_id.wrapping_add(i as i32);
        match *r {
            Request::Answered { body } => {
                let f = frame(id, body, i as u8);
                expected.push(f.clone());
                stream.extend(f);
            }
            Request::Unanswered { stray: true, body } => stream.extend(frame(id, body, 0xee)),
            Request::Unanswered { stray: false, .. } => {}
        }
    }
    let splitter = FrameSplitter::new(1 << 20);
    let mut unanswered = Unanswered::default();
    let mut buf: Vec<u8> = Vec::new();
    let mut fed = 0;
    let mut feed = |buf: &mut Vec<u8>, input: &mut Input| -> bool {
        if fed == stream.len() {
            return false;
        }
        let n = (1 + input.below(64)).min(stream.len() - fed);
        buf.extend_from_slice(&stream[fed..fed + n]);
        fed += n;
        true
    };
    let mut got = Vec::new();
    for (i, r) in requests.iter().enumerate() {
        let id = first_id.wrapping_add(i as i32);
        if let Request::Unanswered { .. } = r {
            unanswered.push(id);
            // While nothing is awaited, whole strays already here may be dropped (idle).
            if input.bool() {
                while let Front::Stray { len, ids } = front(&buf, &splitter, None, &unanswered) {
                    unanswered.forget(ids);
                    buf.drain(..len);
                }
            }
            continue;
        }
        loop {
            match front(&buf, &splitter, Some(id), &unanswered) {
                Front::Answer { len } => {
                    while buf.len() < len {
                        assert!(feed(&mut buf, input), "the stream holds the whole answer");
                    }
                    got.push(buf.drain(..len).collect::<Vec<u8>>());
                    unanswered.clear();
                    break;
                }
                Front::Stray { len, ids } => {
                    assert!(len <= buf.len(), "a stray is dropped only when whole");
                    unanswered.forget(ids);
                    buf.drain(..len);
                }
                Front::NeedMore(n) => {
                    assert!(n > 0, "NeedMore asks for at least a byte");
                    assert!(
                        feed(&mut buf, input),
                        "more was needed than the stream holds"
                    );
                }
                other => panic!("valid stream misread: {other:?}"),
            }
        }
    }
    assert_eq!(got, expected, "answers whole, in order, strays dropped");
}

/// Arbitrary bytes from an upstream, arbitrary ids awaited and remembered.
fn arbitrary(input: &mut Input) {
    let max = 8 + input.below(4096);
    let splitter = FrameSplitter::new(max);
    let mut unanswered = Unanswered::default();
    for _ in 0..input.below(8) {
        unanswered.push(input.u8() as i32);
    }
    let first = input.below(2048);
    let mut buf = input.bytes(first).to_vec();
    for _ in 0..64 {
        let awaited = input.bool().then(|| input.u8() as i32);
        match front(&buf, &splitter, awaited, &unanswered) {
            Front::Answer { len } => {
                assert!((8..=max + 4).contains(&len), "{len} within the frame limit");
                buf.drain(..len.min(buf.len()));
                unanswered.clear();
            }
            Front::Stray { len, ids } => {
                assert!(len <= buf.len() && ids >= 1 && ids <= unanswered.len());
                unanswered.forget(ids);
                buf.drain(..len);
            }
            Front::NeedMore(n) => {
                assert!(n > 0);
                let more = input.bytes(n.min(512));
                if more.is_empty() {
                    return;
                }
                buf.extend_from_slice(more);
            }
            Front::Unexpected(_) | Front::Bad(_) | Front::NoHeader(_) => return,
        }
    }
}

pub fn seeds() -> Vec<Vec<u8>> {
    let mut seeds = vec![vec![0], vec![0, 1, 0, 0, 0, 5], vec![1]];
    // A long run of mixed requests and small chunks.
    let mut s = vec![0, 0xff, 0xff, 0xff, 0x7f, 23];
    for i in 0..200u8 {
        s.push(i.wrapping_mul(37));
    }
    seeds.push(s);
    // Arbitrary bytes that start like a frame.
    let mut a = vec![1, 0x40, 0x02, 3, 1, 2, 3, 0x40, 0x01];
    a.extend_from_slice(&[0, 0, 0, 8, 0, 0, 0, 1, 9, 9, 9, 9]);
    seeds.push(a);
    // Found by fuzzing: a frame too short for a correlation id, read as the next one's.
    seeds.push(vec![
        1, 0, 0, 0, 0, 0, 9, 0, 0, 0, 3, 1, 2, 3, 0, 0, 0, 4, 0, 0, 0, 1, 1, 1,
    ]);
    // The input libFuzzer found it with.
    seeds.push(vec![
        1, 255, 189, 247, 255, 254, 255, 8, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    ]);
    seeds
}
