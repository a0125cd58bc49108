//! What the beginning of a request frame says about forwarding the rest of it before it has
//! all arrived: only a Produce the gateway admits qualifies, once its header and `acks` are in.

use gatehouse_protocol::frame::LENGTH_PREFIX;
use gatehouse_protocol::header::{produce_fields, ProduceFields, RequestHeaderPeek};
use gatehouse_protocol::versions::{admit, Admission};
use kafka_protocol::messages::ApiKey;

/// What the beginning of a frame (length prefix included) says about splicing its rest.
pub(crate) enum Head {
    /// A Produce the gateway forwards, with its `acks` and whether it is transactional.
    Produce {
        peek: RequestHeaderPeek,
        acks: i16,
        transactional: bool,
    },
    /// Something else: read it whole.
    Other,
    /// Not enough of it here to tell.
    Incomplete,
}

pub(crate) fn produce_head(partial: &[u8]) -> Head {
    let body = &partial[LENGTH_PREFIX..];
    let Ok(peek) = RequestHeaderPeek::parse(body) else {
        return Head::Incomplete;
    };
    if !matches!(
        admit(peek.api_key, peek.api_version),
        Admission::Forward(ApiKey::Produce)
    ) {
        return Head::Other;
    }
    // On a partial frame, every error here means "not all of it yet"; what is really
    // malformed is refused when the frame is read whole.
    let at = peek.body_offset(ApiKey::Produce, body);
    match at.and_then(|at| produce_fields(peek.api_version, body, at)) {
        Ok(ProduceFields {
            transactional,
            acks,
        }) => Head::Produce {
            peek,
            acks,
            transactional,
        },
        Err(_) => Head::Incomplete,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Produce v3 frame up to `acks` (and a little of what follows), as a client starts one.
    fn produce_start(version: i16, transactional_id: Option<&str>, acks: i16) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&0i16.to_be_bytes()); // Produce
        body.extend_from_slice(&version.to_be_bytes());
        body.extend_from_slice(&42i32.to_be_bytes());
        body.extend_from_slice(&5i16.to_be_bytes());
        body.extend_from_slice(b"probe");
        match transactional_id {
            None => body.extend_from_slice(&(-1i16).to_be_bytes()),
            Some(t) => {
                body.extend_from_slice(&(t.len() as i16).to_be_bytes());
                body.extend_from_slice(t.as_bytes());
            }
        }
        body.extend_from_slice(&acks.to_be_bytes());
        body.extend_from_slice(&30_000i32.to_be_bytes());
        // The length prefix announces a large frame: only its start is here.
        let mut frame = 10_000_000i32.to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        frame
    }

    #[test]
    fn a_produce_head_is_known_once_acks_is_in() {
        let frame = produce_start(3, Some("tx-1"), -1);
        match produce_head(&frame) {
            Head::Produce {
                peek,
                acks,
                transactional,
            } => {
                assert_eq!((peek.api_version, peek.correlation_id, acks), (3, 42, -1));
                assert!(transactional, "tx-1 is a transactional id");
            }
            _ => panic!("a whole head is a Produce head"),
        }
        let zero = produce_start(7, None, 0);
        assert!(matches!(
            produce_head(&zero),
            Head::Produce {
                acks: 0,
                transactional: false,
                ..
            }
        ));
        // Every cut before the end of `acks` is "not yet", never an error or a wrong answer.
        let acks_end = frame.len() - 4;
        for cut in LENGTH_PREFIX..acks_end {
            assert!(
                matches!(produce_head(&frame[..cut]), Head::Incomplete),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn other_requests_and_refused_versions_are_not_produce_heads() {
        let mut fetch = produce_start(3, None, -1);
        fetch[4..6].copy_from_slice(&1i16.to_be_bytes()); // Fetch
        assert!(matches!(produce_head(&fetch), Head::Other));
        let mut ancient = produce_start(3, None, -1);
        ancient[6..8].copy_from_slice(&99i16.to_be_bytes()); // a version no broker has
        assert!(matches!(produce_head(&ancient), Head::Other));
    }
}
