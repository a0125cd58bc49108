//! Telling which answer is at the front of an upstream connection's read buffer, with no I/O.
//!
//! The gateway numbers the requests on each upstream connection itself, and Kafka answers
//! them in order. So the front of the buffer holds the answer the sequencer waits for, or an
//! answer to an `acks=0` Produce that needed none (some brokers send one anyway: Tansu), or
//! something no request of this connection asked for, which ends the connection. The
//! sequencer reads; this module only looks.

use std::collections::VecDeque;

use crate::frame::{FrameError, FrameSplitter};
use crate::header::response_correlation_id;

/// What the front of the buffer holds.
#[derive(Debug)]
pub enum Front {
    /// Not enough to tell: at least this many more bytes.
    NeedMore(usize),
    /// The awaited answer, `len` bytes long (length prefix included; maybe not all here yet).
    Answer { len: usize },
    /// A whole stray answer of `len` bytes, here in full, accounting for `ids` of the
    /// remembered `acks=0` ids (its own and the unanswered ones before it).
    Stray { len: usize, ids: usize },
    /// An answer with a correlation id no request is waiting for.
    Unexpected(Option<i32>),
    /// A length prefix no frame may have.
    Bad(FrameError),
    /// A frame of `len` bytes (length prefix included), too short to hold a correlation id.
    NoHeader(usize),
}

/// Most `acks=0` ids remembered per connection: a producer that sends nothing else would
/// otherwise grow the list forever on a broker that never answers them.
pub const MAX_UNANSWERED: usize = 1024;

/// The ids of `acks=0` requests sent since the last answered one, in order.
#[derive(Debug, Default)]
pub struct Unanswered(VecDeque<i32>);

impl Unanswered {
    pub fn push(&mut self, id: i32) {
        if self.0.len() == MAX_UNANSWERED {
            self.0.pop_front();
        }
        self.0.push_back(id);
    }

    /// An answer came for a later request: every `acks=0` one before it was answered or never
    /// will be.
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// Forgets the ids a stray answer accounted for.
    pub fn forget(&mut self, ids: usize) {
        self.0.drain(..ids.min(self.0.len()));
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Looks at the front of `buf`, where the answer with id `awaited` is due (None: no answer is
/// awaited now, only strays are dropped).
pub fn front(
    buf: &[u8],
    splitter: &FrameSplitter,
    awaited: Option<i32>,
    unanswered: &Unanswered,
) -> Front {
    const HEAD: usize = 8; // length prefix and correlation id
    if buf.len() < HEAD {
        return Front::NeedMore(HEAD - buf.len());
    }
    let len = match splitter.declared_len(buf) {
        Ok(Some(len)) => len,
        Ok(None) => return Front::NeedMore(HEAD - buf.len()),
        Err(e) => return Front::Bad(e),
    };
    if len < HEAD {
        // Its "correlation id" would be the next frame's first bytes (found by fuzzing).
        return Front::NoHeader(len);
    }
    let id = response_correlation_id(&buf[4..]);
    if id.is_some() && id == awaited {
        return Front::Answer { len };
    }
    match id.and_then(|id| unanswered.0.iter().position(|&u| u == id)) {
        Some(_) if len > buf.len() => Front::NeedMore(len - buf.len()),
        Some(at) => Front::Stray { len, ids: at + 1 },
        None => Front::Unexpected(id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(id: i32, body: &[u8]) -> Vec<u8> {
        let mut f = ((4 + body.len()) as i32).to_be_bytes().to_vec();
        f.extend_from_slice(&id.to_be_bytes());
        f.extend_from_slice(body);
        f
    }

    #[test]
    fn tells_answers_strays_and_strangers_apart() {
        let s = FrameSplitter::new(1 << 20);
        let mut u = Unanswered::default();
        u.push(3);
        u.push(4);
        let a = answer(4, b"xy");
        let is = |f: Front, want: &str| assert_eq!(format!("{f:?}"), want);
        is(front(&a[..5], &s, Some(5), &u), "NeedMore(3)");
        is(front(&a[..9], &s, Some(5), &u), "NeedMore(1)");
        is(front(&a, &s, Some(5), &u), "Stray { len: 10, ids: 2 }");
        is(front(&a, &s, None, &u), "Stray { len: 10, ids: 2 }");
        is(front(&a, &s, Some(4), &u), "Answer { len: 10 }");
        is(
            front(&answer(9, b""), &s, Some(5), &u),
            "Unexpected(Some(9))",
        );
        let huge = [0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        assert!(matches!(front(&huge, &s, Some(5), &u), Front::Bad(_)));
        u.forget(2);
        assert!(u.is_empty());
        // Length 3, then another frame: no correlation id is read out of the next one.
        let mut short = 3i32.to_be_bytes().to_vec();
        short.extend_from_slice(&[0, 0, 0]);
        short.extend_from_slice(&answer(5, b""));
        is(front(&short, &s, Some(0), &u), "NoHeader(7)");
    }

    #[test]
    fn remembers_at_most_a_bounded_number_of_ids() {
        let mut u = Unanswered::default();
        (0..MAX_UNANSWERED as i32 + 10).for_each(|i| u.push(i));
        assert_eq!(u.len(), MAX_UNANSWERED);
    }
}
