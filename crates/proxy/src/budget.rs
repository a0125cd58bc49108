//! The bound on request bytes all client connections together hold in the gateway's buffers
//! (`gateway.maxBufferedBytes`, in the spirit of Kafka's `queued.max.request.bytes`).
//!
//! A connection about to read a large frame into memory first takes that frame's size from
//! the budget, and gives it back once the frame has been written upstream. When the budget is
//! spent, the connection waits and is not read meanwhile: TCP pushes back on its client, and
//! nothing is lost. Frames below [`ACCOUNTED_FROM`] are not counted: a connection's buffer
//! for them is bounded by its read window already, and the per-request cost stays nil. Nor
//! are spliced records, which never enter the gateway's memory.
//!
//! After a burst of large frames the allocator keeps the freed memory for reuse (see
//! `tune_allocator` in the binary); [`MemoryBudget::spawn_reclaimer`] hands it back to the
//! system once the burst is over.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Frames at least this large (length prefix included) are counted.
pub const ACCOUNTED_FROM: usize = 64 * 1024;

/// The budget is kept in units of this many bytes (a semaphore counts in `u32` at a time).
const UNIT: usize = 1024;

/// How often the reclaimer looks whether a burst is over.
const RECLAIM_EVERY: Duration = Duration::from_secs(2);
/// Bytes that must have passed through the budget since the last reclaim to make one worth it.
const RECLAIM_AFTER: usize = 32 << 20;

pub(crate) struct MemoryBudget {
    units: Arc<Semaphore>,
    total_units: usize,
    /// Bytes taken since the reclaimer last ran.
    taken_since_reclaim: AtomicUsize,
}

/// One frame's share of the budget; given back when dropped.
pub(crate) struct Reservation(#[allow(dead_code)] OwnedSemaphorePermit);

impl MemoryBudget {
    pub fn new(max_buffered_bytes: usize) -> Self {
        let total_units = (max_buffered_bytes / UNIT).clamp(1, Semaphore::MAX_PERMITS);
        Self {
            units: Arc::new(Semaphore::new(total_units)),
            total_units,
            taken_since_reclaim: AtomicUsize::new(0),
        }
    }

    /// Whether a frame of `frame_len` bytes must take a reservation before it is read.
    pub fn counts(frame_len: usize) -> bool {
        frame_len >= ACCOUNTED_FROM
    }

    /// Waits until `frame_len` bytes fit, and takes them.
    pub async fn reserve(&self, frame_len: usize) -> Reservation {
        let units = frame_len.div_ceil(UNIT).clamp(1, self.total_units) as u32;
        self.taken_since_reclaim.fetch_add(frame_len, Relaxed);
        let permit = self
            .units
            .clone()
            .acquire_many_owned(units)
            .await
            .expect("the budget's semaphore is never closed");
        Reservation(permit)
    }

    /// Bytes reserved now.
    pub fn in_use(&self) -> usize {
        (self.total_units - self.units.available_permits()) * UNIT
    }

    /// Returns freed heap memory to the system once large frames have come and gone and none
    /// is buffered now. The task ends when the budget is dropped.
    pub fn spawn_reclaimer(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RECLAIM_EVERY).await;
                let Some(budget) = weak.upgrade() else { return };
                if budget.in_use() == 0 && budget.taken_since_reclaim.load(Relaxed) >= RECLAIM_AFTER
                {
                    budget.taken_since_reclaim.store(0, Relaxed);
                    release_free_memory();
                }
            }
        });
    }
}

/// Hands the allocator's free pages back to the system.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory of the allocator's arenas to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_frame_waits_until_the_bytes_before_it_are_given_back() {
        let budget = Arc::new(MemoryBudget::new(10 * UNIT * 1024));
        let first = budget.reserve(6 * UNIT * 1024).await;
        assert_eq!(budget.in_use(), 6 * UNIT * 1024);
        let waiting = {
            let budget = budget.clone();
            tokio::spawn(async move { budget.reserve(6 * UNIT * 1024).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "over the budget: it waits");
        drop(first);
        let second = waiting.await.unwrap();
        assert_eq!(budget.in_use(), 6 * UNIT * 1024);
        drop(second);
        assert_eq!(budget.in_use(), 0);
    }

    #[test]
    fn small_frames_are_not_counted() {
        assert!(!MemoryBudget::counts(ACCOUNTED_FROM - 1));
        assert!(MemoryBudget::counts(ACCOUNTED_FROM));
    }
}
