//! Socket I/O helpers: reading into reusable buffers, writing a batch of frames with as few
//! syscalls as possible and no copying, and what a socket-to-socket splice can fail with.

use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Smallest read from a socket.
const READ_CHUNK: usize = 16 * 1024;
/// Most room reserved ahead of the bytes that have arrived, however large the frame a peer
/// announces: a peer that announces a big frame and sends nothing pins little memory.
const MAX_READ_RESERVE: usize = 1024 * 1024;

/// Makes room for the next read when little is left, sized by how much of the current frame
/// is still `wanted`. Growing only then lets a buffer whose earlier chunks have all been
/// written reclaim its own allocation (no new allocation per read, no bytes copied).
pub fn reserve_for_read(buf: &mut BytesMut, wanted: usize) {
    if buf.capacity() - buf.len() < READ_CHUNK {
        buf.reserve(wanted.clamp(READ_CHUNK, MAX_READ_RESERVE));
    }
}

/// Most buffers handed to one vectored write (Linux's IOV_MAX is 1024).
const MAX_SLICES: usize = 64;

/// Writes every chunk, in order, then empties the batch. Frames are written from the buffers
/// they were read into: record data is never copied.
pub async fn write_batch<W: AsyncWrite + Unpin>(
    w: &mut W,
    batch: &mut Vec<Bytes>,
) -> std::io::Result<()> {
    let mut first = 0;
    while first < batch.len() {
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        let count = (batch.len() - first).min(MAX_SLICES);
        for (slot, chunk) in slices.iter_mut().zip(&batch[first..first + count]) {
            *slot = IoSlice::new(chunk);
        }
        let mut written = w.write_vectored(&slices[..count]).await?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while written > 0 {
            let chunk = &mut batch[first];
            if written >= chunk.len() {
                written -= chunk.len();
                first += 1;
            } else {
                chunk.advance(written);
                written = 0;
            }
        }
    }
    batch.clear();
    Ok(())
}

/// Why moving bytes between two sockets by splice(2) failed ([`crate::splice`]; also what
/// its stand-in on other systems would say).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SpliceError {
    /// Splicing cannot work here (no pipe to be had, or a kernel or sandbox that refuses
    /// splice on sockets), found before any byte moved: the caller can move them as usual.
    #[error("{0}")]
    Unsupported(String),
    /// Reading the source socket failed, or it closed before `n` bytes came.
    #[error("reading: {0}")]
    Source(std::io::Error),
    /// Writing the sink socket failed.
    #[error("writing: {0}")]
    Sink(std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_every_byte_in_order_across_partial_writes() {
        let (mut a, mut b) = tokio::io::duplex(7); // tiny pipe: forces partial writes
        let mut batch: Vec<Bytes> = (0..100u8)
            .map(|i| Bytes::from(vec![i; (i % 5) as usize + 1]))
            .collect();
        let expected: Vec<u8> = batch.iter().flat_map(|c| c.to_vec()).collect();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut b, &mut got)
                .await
                .unwrap();
            got
        });
        write_batch(&mut a, &mut batch).await.unwrap();
        assert!(batch.is_empty());
        drop(a);
        assert_eq!(reader.await.unwrap(), expected);
    }
}
