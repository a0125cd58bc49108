//! Length-prefixed framing: `[i32 length][length bytes]`.

use bytes::BytesMut;

/// Default largest frame accepted in either direction (100 MiB), as Kafka's
/// `socket.request.max.bytes` is in spirit.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 100 * 1024 * 1024;

/// Size of the length prefix.
pub const LENGTH_PREFIX: usize = 4;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame length {0} is negative")]
    Negative(i32),
    #[error("frame length is zero")]
    Empty,
    #[error("frame length {len} exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
}

/// Splits complete frames off the front of a read buffer.
///
/// The declared length is checked before the caller is told how much to read, so a peer that
/// announces a huge frame is refused without a buffer ever being sized for it.
#[derive(Debug, Clone, Copy)]
pub struct FrameSplitter {
    max_frame_bytes: usize,
}

/// What the buffer holds after a call to [`FrameSplitter::split`].
#[derive(Debug)]
pub enum Split {
    /// One whole frame, length prefix included (so it can be forwarded as it came).
    Frame(BytesMut),
    /// Not enough bytes yet; at least this many more are needed.
    NeedMore(usize),
}

impl FrameSplitter {
    pub fn new(max_frame_bytes: usize) -> Self {
        Self { max_frame_bytes }
    }

    pub fn max_frame_bytes(&self) -> usize {
        self.max_frame_bytes
    }

    /// The whole length (prefix included) of the frame starting at `buf`, once its prefix is
    /// there, checked against the limit.
    pub fn declared_len(&self, buf: &[u8]) -> Result<Option<usize>, FrameError> {
        let Some(prefix) = buf.get(..LENGTH_PREFIX) else {
            return Ok(None);
        };
        let len = match i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) {
            n if n < 0 => return Err(FrameError::Negative(n)),
            0 => return Err(FrameError::Empty),
            n => n as usize,
        };
        if len > self.max_frame_bytes {
            return Err(FrameError::TooLarge {
                len,
                max: self.max_frame_bytes,
            });
        }
        Ok(Some(LENGTH_PREFIX + len))
    }

    /// Takes the next complete frame (with its prefix) off `buf`, or says how many more bytes
    /// are needed. Never allocates.
    pub fn split(&self, buf: &mut BytesMut) -> Result<Split, FrameError> {
        let Some(total) = self.declared_len(buf)? else {
            return Ok(Split::NeedMore(LENGTH_PREFIX - buf.len()));
        };
        if buf.len() < total {
            return Ok(Split::NeedMore(total - buf.len()));
        }
        Ok(Split::Frame(buf.split_to(total)))
    }
}

/// Writes a length prefix placeholder, lets `body` fill the frame, then patches the prefix
/// (no second pass to compute sizes).
pub fn write_frame<E>(
    out: &mut BytesMut,
    body: impl FnOnce(&mut BytesMut) -> Result<(), E>,
) -> Result<(), E> {
    let start = out.len();
    out.extend_from_slice(&[0; LENGTH_PREFIX]);
    body(out)?;
    let len = (out.len() - start - LENGTH_PREFIX) as i32;
    out[start..start + LENGTH_PREFIX].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buf(bytes: &[u8]) -> BytesMut {
        BytesMut::from(bytes)
    }

    #[test]
    fn splits_whole_frames_and_keeps_the_rest() {
        let s = FrameSplitter::new(16);
        let mut b = buf(&[0, 0, 0, 2, 7, 8, 0, 0, 0, 3, 1]);
        match s.split(&mut b).unwrap() {
            Split::Frame(f) => assert_eq!(&f[..], &[0, 0, 0, 2, 7, 8]),
            other => panic!("{other:?}"),
        }
        match s.split(&mut b).unwrap() {
            Split::NeedMore(n) => assert_eq!(n, 2),
            other => panic!("{other:?}"),
        }
        assert_eq!(b.len(), 5, "an incomplete frame stays in the buffer");
    }

    #[test]
    fn short_prefix_needs_more() {
        let s = FrameSplitter::new(16);
        assert!(matches!(
            s.split(&mut buf(&[0, 0])).unwrap(),
            Split::NeedMore(2)
        ));
    }

    #[test]
    fn refuses_negative_zero_and_oversized_lengths_before_reading_them() {
        let s = FrameSplitter::new(16);
        assert_eq!(
            s.split(&mut buf(&[0xff, 0xff, 0xff, 0xff])).unwrap_err(),
            FrameError::Negative(-1)
        );
        assert_eq!(
            s.split(&mut buf(&[0, 0, 0, 0])).unwrap_err(),
            FrameError::Empty
        );
        let mut huge = buf(&[0x7f, 0xff, 0xff, 0xff]);
        assert_eq!(
            s.split(&mut huge).unwrap_err(),
            FrameError::TooLarge {
                len: i32::MAX as usize,
                max: 16
            }
        );
        assert!(
            huge.capacity() < 64,
            "nothing was reserved for the declared length"
        );
    }

    #[test]
    fn write_frame_patches_the_length() {
        let mut out = BytesMut::new();
        write_frame::<()>(&mut out, |b| {
            b.extend_from_slice(b"abc");
            Ok(())
        })
        .unwrap();
        assert_eq!(&out[..], &[0, 0, 0, 3, b'a', b'b', b'c']);
    }
}
