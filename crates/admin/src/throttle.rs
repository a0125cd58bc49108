//! Slows down password guessing, per client address.
//!
//! After [`FREE_FAILURES`] wrong logins from one source (an IPv4 address, or an IPv6 /64,
//! which one host usually holds whole), every further login attempt from that source waits
//! before its credentials are even checked: 100 ms after the first extra failure, doubling up
//! to `max_delay`. The wait applies to right passwords too: a guesser who could tell a right
//! guess by its quick answer would not be slowed at all. Attempts from one source are also
//! taken one at a time, so guessing in parallel is no faster; a source with too many attempts
//! queued is answered 429 at once, without a check. A success forgets the source's failures;
//! so does [`FORGET_AFTER`] without one.
//!
//! Failures are counted in `gatehouse_admin_auth_failures_total` and logged at most once per
//! [`LOG_EVERY`] per source, with the number of failures not logged since.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gatehouse_routing::metrics::metrics;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Wrong logins a source may make before its attempts are slowed.
pub const FREE_FAILURES: u32 = 3;
/// The delay after the first failure beyond the free ones (then doubled per failure).
pub const FIRST_DELAY: Duration = Duration::from_millis(100);
/// The default longest delay.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(5);
/// Failures are forgotten after this long without a new one.
pub const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// At most one log line per source in this time.
pub const LOG_EVERY: Duration = Duration::from_secs(10);
/// Attempts of one slowed source that may wait their turn; more are answered 429.
pub const MAX_QUEUED: usize = 16;
/// Sources remembered before expired ones are pruned.
const PRUNE_AT: usize = 4096;

/// Who is guessing: IPv4 addresses one by one, IPv6 by /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source(IpAddr);

impl Source {
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Source(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source(IpAddr::V4(v4)),
                None => {
                    let s = v6.segments();
                    Source(IpAddr::V6(Ipv6Addr::new(
                        s[0], s[1], s[2], s[3], 0, 0, 0, 0,
                    )))
                }
            },
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(a) => write!(f, "{a}"),
            IpAddr::V6(a) => write!(f, "{a}/64"),
        }
    }
}

struct Entry {
    failures: u32,
    last_failure: Instant,
    /// One attempt at a time once the source is slowed.
    turn: Arc<Semaphore>,
    last_logged: Option<Instant>,
    unlogged: u64,
}

/// The failures of every source; shared by the admin listener.
pub struct LoginThrottle {
    max_delay: Duration,
    sources: Mutex<HashMap<Source, Entry>>,
}

/// What an attempt must do before its credentials are checked.
pub enum Admission {
    /// Check now.
    Go,
    /// Wait this long holding the source's turn, then check.
    Wait(Duration, Arc<Semaphore>),
    /// Too many attempts queued: answer 429 without checking.
    Refuse,
}

impl LoginThrottle {
    pub fn new(max_delay: Duration) -> Self {
        Self {
            max_delay,
            sources: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Source, Entry>> {
        self.sources.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The wait after `failures` failures.
    pub fn delay_after(&self, failures: u32) -> Duration {
        if failures < FREE_FAILURES {
            return Duration::ZERO;
        }
        let doublings = (failures - FREE_FAILURES).min(20);
        FIRST_DELAY
            .saturating_mul(1 << doublings)
            .min(self.max_delay)
    }

    pub fn admit(&self, source: Source) -> Admission {
        let sources = self.lock();
        let Some(e) = sources.get(&source) else {
            return Admission::Go;
        };
        if e.last_failure.elapsed() >= FORGET_AFTER {
            return Admission::Go;
        }
        let delay = self.delay_after(e.failures);
        if delay.is_zero() {
            return Admission::Go;
        }
        // Permits taken plus waiters are not visible on a Semaphore; one permit exists, so
        // `strong_count - 1` (the map's own reference) counts attempts holding or awaiting it.
        if Arc::strong_count(&e.turn) - 1 > MAX_QUEUED {
            return Admission::Refuse;
        }
        Admission::Wait(delay, e.turn.clone())
    }

    /// Waits as [`Self::admit`] says; `None`: refuse. The permit must be held until the
    /// attempt's outcome is recorded.
    pub async fn wait_turn(&self, source: Source) -> Option<Option<OwnedSemaphorePermit>> {
        match self.admit(source) {
            Admission::Go => Some(None),
            Admission::Refuse => None,
            Admission::Wait(_, turn) => {
                let permit = turn.acquire_owned().await.ok()?;
                // The failures may have grown (or been forgotten) while this attempt queued.
                tokio::time::sleep(self.current_delay(source)).await;
                Some(Some(permit))
            }
        }
    }

    fn current_delay(&self, source: Source) -> Duration {
        self.lock()
            .get(&source)
            .map_or(Duration::ZERO, |e| self.delay_after(e.failures))
    }

    pub fn succeeded(&self, source: Source) {
        let mut sources = self.lock();
        if sources.get(&source).is_some_and(|e| e.failures > 0) {
            sources.remove(&source);
        }
    }

    /// Records a wrong login; logs it unless this source was logged recently.
    pub fn failed(&self, source: Source, username: &str) {
        metrics().admin_auth_failures.fetch_add(1, Relaxed);
        let now = Instant::now();
        let mut sources = self.lock();
        if sources.len() >= PRUNE_AT {
            sources.retain(|_, e| e.last_failure.elapsed() < FORGET_AFTER);
        }
        let e = sources.entry(source).or_insert_with(|| Entry {
            failures: 0,
            last_failure: now,
            turn: Arc::new(Semaphore::new(1)),
            last_logged: None,
            unlogged: 0,
        });
        if now.duration_since(e.last_failure) >= FORGET_AFTER {
            e.failures = 0;
        }
        e.failures = e.failures.saturating_add(1);
        e.last_failure = now;
        if e.last_logged
            .is_none_or(|t| now.duration_since(t) >= LOG_EVERY)
        {
            tracing::warn!(
                client = %source,
                user = ?username,
                failures = e.failures,
                not_logged = e.unlogged,
                next_delay_ms = self.delay_after(e.failures).as_millis() as u64,
                "admin API: wrong username or password"
            );
            e.last_logged = Some(now);
            e.unlogged = 0;
        } else {
            e.unlogged += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_maximum() {
        let t = LoginThrottle::new(Duration::from_millis(500));
        let ms: Vec<u128> = (0..8).map(|n| t.delay_after(n).as_millis()).collect();
        assert_eq!(ms, [0, 0, 0, 100, 200, 400, 500, 500]);
        assert_eq!(t.delay_after(u32::MAX), Duration::from_millis(500));
    }

    #[test]
    fn sources_are_apart_and_success_forgets() {
        let t = LoginThrottle::new(DEFAULT_MAX_DELAY);
        let a = Source::of("10.0.0.1".parse().unwrap());
        let b = Source::of("10.0.0.2".parse().unwrap());
        for _ in 0..FREE_FAILURES {
            assert!(matches!(t.admit(a), Admission::Go));
            t.failed(a, "x");
        }
        assert!(matches!(t.admit(a), Admission::Wait(d, _) if d == FIRST_DELAY));
        assert!(matches!(t.admit(b), Admission::Go));
        t.succeeded(a);
        assert!(matches!(t.admit(a), Admission::Go));
    }

    #[test]
    fn ipv6_by_prefix() {
        let one = Source::of("2001:db8:1:2::5".parse().unwrap());
        let two = Source::of("2001:db8:1:2:ffff::1".parse().unwrap());
        let other = Source::of("2001:db8:1:3::5".parse().unwrap());
        assert_eq!(one, two);
        assert_ne!(one, other);
        assert_eq!(one.to_string(), "2001:db8:1:2::/64");
        let mapped = Source::of("::ffff:10.0.0.1".parse().unwrap());
        assert_eq!(mapped, Source::of("10.0.0.1".parse().unwrap()));
    }
}
