//! Without splice(2) (not Linux), record bytes always pass through the gateway's buffers.

use std::io;
use std::os::fd::RawFd;

pub(crate) use crate::io::SpliceError;

pub(crate) const MIN_SPLICE: usize = usize::MAX;

pub(crate) enum Splicer {}

impl Splicer {
    /// # Safety
    /// Nothing is done with the descriptors.
    pub unsafe fn duplicating(
        _from: RawFd,
        _to: RawFd,
        _counter: &'static std::sync::atomic::AtomicU64,
    ) -> io::Result<Self> {
        Err(io::ErrorKind::Unsupported.into())
    }

    pub fn taken(&self) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
        match *self {}
    }

    pub async fn transfer(&mut self, _n: usize) -> Result<(), SpliceError> {
        match *self {}
    }
}
