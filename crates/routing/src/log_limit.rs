//! Warnings that can repeat many times a second (a client reconnecting during an outage, a
//! listener at the descriptor limit, a flood of refused connections) are written at most once
//! per interval and key, with the number of lines left out since the last one.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use dashmap::DashMap;

/// How often one kind of warning may be written for one key (a route, a client address).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// Keys remembered at most; past it, the oldest knowledge is dropped (a flood of client
/// addresses must not grow the map forever). A dropped key's next line is simply written.
const MAX_KEYS: usize = 4096;

/// One kind of repeated warning.
pub struct LogLimit {
    interval: Duration,
    keys: std::sync::OnceLock<DashMap<String, Slot>>,
    /// Used when there is no key: cheaper than a map entry.
    global: Mutex<Option<Slot>>,
}

#[derive(Clone, Copy)]
struct Slot {
    written_at: Instant,
    suppressed: u64,
}

impl LogLimit {
    pub const fn new(interval: Duration) -> Self {
        Self {
            interval,
            keys: std::sync::OnceLock::new(),
            global: Mutex::new(None),
        }
    }

    /// Whether a line may be written now; if so, how many were left out since the last one.
    pub fn allow(&self) -> Option<u64> {
        let mut slot = self.global.lock().unwrap_or_else(|p| p.into_inner());
        Self::decide(&mut slot, self.interval, Instant::now())
    }

    /// The same, counted separately for `key`.
    pub fn allow_for(&self, key: &str) -> Option<u64> {
        let keys = self.keys.get_or_init(DashMap::new);
        let now = Instant::now();
        if let Some(mut entry) = keys.get_mut(key) {
            let mut slot = Some(*entry);
            let out = Self::decide(&mut slot, self.interval, now);
            *entry = slot.expect("decide keeps the slot");
            return out;
        }
        if keys.len() >= MAX_KEYS {
            keys.clear();
        }
        keys.insert(
            key.to_string(),
            Slot {
                written_at: now,
                suppressed: 0,
            },
        );
        Some(0)
    }

    fn decide(slot: &mut Option<Slot>, interval: Duration, now: Instant) -> Option<u64> {
        match slot {
            Some(s) if now.duration_since(s.written_at) < interval => {
                s.suppressed += 1;
                None
            }
            Some(s) => {
                let suppressed = s.suppressed;
                *s = Slot {
                    written_at: now,
                    suppressed: 0,
                };
                Some(suppressed)
            }
            None => {
                *slot = Some(Slot {
                    written_at: now,
                    suppressed: 0,
                });
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_then_the_count_of_those_left_out() {
        let interval = Duration::from_secs(10);
        let (start, mut slot) = (Instant::now(), None);
        assert_eq!(LogLimit::decide(&mut slot, interval, start), Some(0));
        for i in 1..20 {
            let at = start + Duration::from_millis(i * 100);
            assert_eq!(LogLimit::decide(&mut slot, interval, at), None);
        }
        let later = start + interval;
        assert_eq!(LogLimit::decide(&mut slot, interval, later), Some(19));
        assert_eq!(LogLimit::decide(&mut slot, interval, later), None);
        let limit = LogLimit::new(interval);
        assert_eq!(limit.allow(), Some(0));
        assert_eq!(limit.allow(), None);
    }

    #[test]
    fn keys_are_limited_separately() {
        let limit = LogLimit::new(Duration::from_secs(60));
        assert_eq!(limit.allow_for("route-a"), Some(0));
        assert_eq!(limit.allow_for("route-a"), None);
        assert_eq!(limit.allow_for("route-b"), Some(0));
        assert_eq!(limit.allow_for("route-a"), None);
    }
}
