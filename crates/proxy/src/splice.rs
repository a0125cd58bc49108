//! Record bytes moved from one socket to another inside the kernel.
//!
//! A Fetch response, or a Produce request, is mostly record batches the gateway passes on
//! without looking at them. Reading them into the gateway and writing them out again costs two
//! copies per byte, the largest share of the gateway's CPU when producing or consuming. Where
//! both legs are plain TCP, splice(2) through a pipe moves those bytes between the sockets
//! without either copy.
//!
//! A splicer works on duplicates of the two sockets' descriptors, registered with the runtime
//! for readiness of their own, in one direction: the response pump has one from the upstream to
//! the client, the request pump one from the client to the upstream. Each pump is the only
//! reader of its source and the only writer of its sink, and hands over to its splicer only
//! with nothing of either buffered, so bytes stay in order.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use rustix::io::Errno;
use rustix::pipe::{fcntl_setpipe_size, pipe_with, splice, PipeFlags, SpliceFlags};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

pub(crate) use crate::io::SpliceError;

/// Below this many opaque bytes, reading and writing them costs less than the splice calls.
pub(crate) const MIN_SPLICE: usize = 64 * 1024;

/// With the `test-hooks` feature: every transfer finds splicing refused, as a sandbox that
/// forbids splice on sockets would, so tests can drive the buffered fallbacks.
#[cfg(feature = "test-hooks")]
pub static REFUSE_FOR_TESTS: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Pipe size asked for; the kernel may give less (it keeps the default, 64 KiB, when a user's
/// pipes already hold more than `/proc/sys/fs/pipe-user-pages-soft`).
const PIPE_SIZE: usize = 1024 * 1024;

pub(crate) struct Splicer {
    from: AsyncFd<OwnedFd>,
    to: AsyncFd<OwnedFd>,
    /// Created on first use, kept for the connection: most connections never need one.
    pipe: Option<Pipe>,
    /// Counts the bytes moved as they move (the metric of this direction).
    counter: &'static AtomicU64,
    /// Bytes taken from the source so far, for whoever watches a transfer's progress.
    taken: Arc<AtomicU64>,
}

struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    capacity: usize,
}

impl Splicer {
    /// Works on duplicates of the `from` and `to` sockets (both non-blocking TCP).
    ///
    /// # Safety
    /// Both descriptors must be open for the duration of the call.
    pub unsafe fn duplicating(
        from: RawFd,
        to: RawFd,
        counter: &'static AtomicU64,
    ) -> io::Result<Self> {
        // SAFETY: open for the duration of the call, as the caller promises.
        let dup = |fd| unsafe { BorrowedFd::borrow_raw(fd) }.try_clone_to_owned();
        Self::new(dup(from)?, dup(to)?, counter)
    }

    /// Takes duplicates of the `from` and `to` sockets (both non-blocking TCP).
    pub fn new(from: OwnedFd, to: OwnedFd, counter: &'static AtomicU64) -> io::Result<Self> {
        Ok(Self {
            from: register(from, Interest::READABLE)?,
            to: register(to, Interest::WRITABLE)?,
            pipe: None,
            counter,
            taken: Arc::default(),
        })
    }

    /// Bytes taken from the source so far (all transfers): a transfer's watcher reads it.
    pub fn taken(&self) -> Arc<AtomicU64> {
        self.taken.clone()
    }

    /// Moves exactly `n` bytes from one socket to the other. Fails if either side closes
    /// first; the connection is unusable then, as with any failed read or write, unless the
    /// failure is [`SpliceError::Unsupported`].
    pub async fn transfer(&mut self, n: usize) -> Result<(), SpliceError> {
        #[cfg(feature = "test-hooks")]
        if REFUSE_FOR_TESTS.load(Relaxed) {
            return Err(unsupported("splice refused", Errno::PERM));
        }
        if self.pipe.is_none() {
            self.pipe = Some(Pipe::new().map_err(|e| unsupported("no pipe", e))?);
        }
        let Self {
            from,
            to,
            pipe,
            counter,
            taken,
        } = self;
        let pipe = pipe.as_ref().expect("created above");
        let flags = SpliceFlags::MOVE | SpliceFlags::NONBLOCK;
        let (mut left, mut in_pipe) = (n, 0usize);
        while left > 0 || in_pipe > 0 {
            let mut moved = false;
            if left > 0 && in_pipe < pipe.capacity {
                let want = left.min(pipe.capacity - in_pipe);
                match splice(from.get_ref(), None, &pipe.write, None, want, flags) {
                    Ok(0) => return Err(SpliceError::Source(io::ErrorKind::UnexpectedEof.into())),
                    Ok(k) => {
                        (left, in_pipe, moved) = (left - k, in_pipe + k, true);
                        taken.fetch_add(k as u64, Relaxed);
                    }
                    Err(Errno::AGAIN) => {}
                    Err(e @ (Errno::INVAL | Errno::NOSYS | Errno::PERM | Errno::OPNOTSUPP))
                        if left == n =>
                    {
                        return Err(unsupported("splice refused", e));
                    }
                    Err(e) => return Err(SpliceError::Source(e.into())),
                }
            }
            if in_pipe > 0 {
                match splice(&pipe.read, None, to.get_ref(), None, in_pipe, flags) {
                    Ok(0) => return Err(SpliceError::Sink(io::ErrorKind::WriteZero.into())),
                    Ok(k) => {
                        (in_pipe, moved) = (in_pipe - k, true);
                        counter.fetch_add(k as u64, Relaxed);
                    }
                    Err(Errno::AGAIN) => {}
                    Err(e) => return Err(SpliceError::Sink(e.into())),
                }
            }
            if !moved {
                let fill = left > 0 && in_pipe < pipe.capacity;
                wait(from, to, fill, in_pipe > 0).await?;
            }
        }
        Ok(())
    }
}

fn unsupported(what: &str, e: Errno) -> SpliceError {
    SpliceError::Unsupported(format!("{what}: {e}"))
}

impl Pipe {
    fn new() -> Result<Self, Errno> {
        let (read, write) = pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
        let capacity = fcntl_setpipe_size(&write, PIPE_SIZE).unwrap_or(64 * 1024);
        Ok(Self {
            read,
            write,
            capacity,
        })
    }
}

fn register(fd: OwnedFd, interest: Interest) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: the AsyncFd owns the OwnedFd, which stays open, and always returns the same
    // descriptor, until the AsyncFd is dropped.
    unsafe { AsyncFd::register_with_interest(fd, interest) }.map_err(|e| e.into_parts().1)
}

/// Waits until a side that just said "would block" may be ready. Readiness is cleared only
/// as far as it was seen, so an event that arrives meanwhile is not lost (at worst one more
/// try finds nothing and waits again).
async fn wait(
    from: &AsyncFd<OwnedFd>,
    to: &AsyncFd<OwnedFd>,
    fill: bool,
    drain: bool,
) -> Result<(), SpliceError> {
    tokio::select! {
        ready = from.readable(), if fill => ready.map_err(SpliceError::Source)?.clear_ready(),
        ready = to.writable(), if drain => ready.map_err(SpliceError::Sink)?.clear_ready(),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    static MOVED: AtomicU64 = AtomicU64::new(0);

    fn duplicate(socket: &impl AsFd) -> Option<OwnedFd> {
        socket.as_fd().try_clone_to_owned().ok()
    }

    async fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (b, _) = l.accept().await.unwrap();
        (a, b)
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    /// Upstream writes `n` bytes and a trailer; the splicer moves exactly `n`; the client
    /// reads them in order (slowly, so the pipe fills and the splicer waits on the client),
    /// and the trailer is still there for an ordinary read of the upstream socket.
    #[tokio::test]
    async fn moves_exactly_n_bytes_in_order_and_leaves_the_rest() {
        let (mut broker, upstream) = pair().await;
        let (client_side, mut client) = pair().await;
        let n = 5 * 1024 * 1024 + 3;
        let data = pattern(n);
        let writer = tokio::spawn(async move {
            broker.write_all(&data).await.unwrap();
            broker.write_all(b"trailer").await.unwrap();
            broker
        });
        let reader = tokio::spawn(async move {
            let mut got = vec![0u8; n];
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            client.read_exact(&mut got).await.unwrap();
            got
        });
        let mut s = Splicer::new(
            duplicate(&upstream).unwrap(),
            duplicate(&client_side).unwrap(),
            &MOVED,
        )
        .unwrap();
        s.transfer(n).await.unwrap();
        assert!(reader.await.unwrap() == pattern(n), "bytes differ");
        let mut upstream = upstream;
        let mut trailer = [0u8; 7];
        upstream.read_exact(&mut trailer).await.unwrap();
        assert_eq!(&trailer, b"trailer");
        drop(writer.await.unwrap());
    }

    /// Something splice cannot read (an eventfd stands in for a socket a sandbox will not
    /// splice): "unsupported" before any byte moved, so the caller can fall back.
    #[tokio::test]
    async fn a_refused_splice_is_unsupported_not_a_broken_connection() {
        use rustix::event::{eventfd, EventfdFlags};
        let (client_side, _client) = pair().await;
        let not_a_socket = eventfd(0, EventfdFlags::NONBLOCK | EventfdFlags::CLOEXEC).unwrap();
        rustix::io::write(&not_a_socket, &1u64.to_ne_bytes()).unwrap(); // readable
        let mut s = Splicer::new(not_a_socket, duplicate(&client_side).unwrap(), &MOVED).unwrap();
        let e = s.transfer(100_000).await.unwrap_err();
        assert!(matches!(e, SpliceError::Unsupported(_)), "{e}");
    }

    #[tokio::test]
    async fn an_upstream_that_closes_early_is_an_error() {
        let (mut broker, upstream) = pair().await;
        let (client_side, _client) = pair().await;
        broker.write_all(&pattern(1000)).await.unwrap();
        drop(broker);
        let mut s = Splicer::new(
            duplicate(&upstream).unwrap(),
            duplicate(&client_side).unwrap(),
            &MOVED,
        )
        .unwrap();
        let e = s.transfer(100_000).await.unwrap_err();
        assert!(
            matches!(&e, SpliceError::Source(e) if e.kind() == io::ErrorKind::UnexpectedEof),
            "{e}"
        );
    }
}
