//! The deadlines of one client connection, kept by its request pump:
//!
//! * **authentication**: a SASL route's client must have authenticated within
//!   `gateway.authenticationTimeoutMs` of connecting;
//! * **frame progress**: a frame that has begun must, in every `gateway.frameProgressTimeoutMs`
//!   window, arrive whole or bring at least `gateway.frameProgressMinBytes` more, so a trickle
//!   is closed while a large Produce on a slow link goes on;
//! * **idle**: a connection with no request and no answer for `gateway.connectionsMaxIdleMs`
//!   is closed (Kafka's `connections.max.idle.ms`).
//!
//! One timer serves all three. It is re-armed only when what it waits for changes or when it
//! fires early (activity since it was armed), never on every read.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// The limits a connection's deadlines come from.
#[derive(Debug, Clone)]
pub struct DeadlineLimits {
    pub connections_max_idle: Duration,
    pub authentication_timeout: Duration,
    pub frame_progress_timeout: Duration,
    pub frame_progress_min_bytes: usize,
}

impl Default for DeadlineLimits {
    fn default() -> Self {
        Self {
            connections_max_idle: Duration::from_secs(600),
            authentication_timeout: Duration::from_secs(10),
            frame_progress_timeout: Duration::from_secs(15),
            frame_progress_min_bytes: 16 * 1024,
        }
    }
}

/// When the response side last wrote to the client, shared with the response pump (time since
/// the connection was accepted, in milliseconds: one relaxed store per batch written).
#[derive(Debug)]
pub(crate) struct Activity {
    since: Instant,
    last_answer_ms: AtomicU64,
    /// What the response pump has finished with of what the request pump queued for it.
    handled: AtomicU64,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            since: Instant::now(),
            last_answer_ms: AtomicU64::new(0),
            handled: AtomicU64::new(0),
        })
    }

    /// The response pump is done with one more thing the request pump queued.
    pub fn handled_one(&self) {
        self.handled.fetch_add(1, Relaxed);
    }

    pub fn answered(&self) {
        let ms = self.since.elapsed().as_millis() as u64;
        self.last_answer_ms.store(ms, Relaxed);
    }

    fn last_answer(&self) -> Instant {
        self.since + Duration::from_millis(self.last_answer_ms.load(Relaxed))
    }
}

/// What the connection is in, as far as its deadlines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Phase {
    /// A SASL route's client that has not authenticated yet.
    pub authenticating: bool,
    /// Bytes of an incomplete frame are buffered (or it is being spliced).
    pub in_frame: bool,
    /// Requests are waiting for their answers.
    pub busy: bool,
}

/// Why a deadline closed the connection: the metric's reason and the log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expired {
    pub reason: &'static str,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Armed {
    Idle,
    Frame { window_start_bytes: u64 },
}

pub(crate) struct Deadlines {
    limits: DeadlineLimits,
    connected: Instant,
    activity: Arc<Activity>,
    last_request: Instant,
    timer: Pin<Box<Sleep>>,
    armed: Armed,
}

impl Deadlines {
    pub fn new(limits: DeadlineLimits, activity: Arc<Activity>) -> Self {
        let now = Instant::now();
        let first = now
            + limits
                .connections_max_idle
                .min(limits.authentication_timeout);
        Self {
            limits,
            connected: now,
            activity,
            last_request: now,
            timer: Box::pin(tokio::time::sleep_until(first)),
            armed: Armed::Idle,
        }
    }

    /// Whether anything of the `queued` things the request pump has queued for the response
    /// pump is still waiting there (a request waiting for its answer).
    pub fn outstanding(&self, queued: u64) -> bool {
        self.activity.handled.load(Relaxed) != queued
    }

    /// A request was read whole.
    pub fn request_read(&mut self) {
        self.last_request = Instant::now();
    }

    /// Sets the timer for what the connection is in now; `bytes_read` counts every byte read
    /// from the client so far. Cheap when nothing changed.
    pub fn arm(&mut self, phase: Phase, bytes_read: u64) {
        let wanted = if phase.in_frame {
            match self.armed {
                frame @ Armed::Frame { .. } => frame,
                Armed::Idle => Armed::Frame {
                    window_start_bytes: bytes_read,
                },
            }
        } else {
            Armed::Idle
        };
        if wanted != self.armed {
            self.armed = wanted;
            let at = self.natural_deadline(phase, Instant::now());
            self.timer.as_mut().reset(at);
        }
    }

    /// Resolves when the timer fires; then call [`Deadlines::fired`].
    pub async fn wait(&mut self) {
        self.timer.as_mut().await
    }

    /// The timer fired: closes the connection if a deadline has really passed, else re-arms.
    pub fn fired(&mut self, phase: Phase, bytes_read: u64) -> Result<(), Expired> {
        let now = Instant::now();
        if phase.authenticating {
            let due = self.connected + self.limits.authentication_timeout;
            if now >= due {
                return Err(Expired {
                    reason: "authentication_timeout",
                    detail: format!(
                        "the client did not authenticate within {} ms \
                         (gateway.authenticationTimeoutMs)",
                        self.limits.authentication_timeout.as_millis()
                    ),
                });
            }
        }
        match self.armed {
            Armed::Frame { window_start_bytes } if phase.in_frame => {
                let window = self.limits.frame_progress_timeout;
                let brought = bytes_read.saturating_sub(window_start_bytes);
                if brought < self.limits.frame_progress_min_bytes as u64 {
                    return Err(Expired {
                        reason: "frame_progress",
                        detail: format!(
                            "a request frame brought {brought} bytes in {} ms, fewer than \
                             {} (gateway.frameProgressTimeoutMs, gateway.frameProgressMinBytes)",
                            window.as_millis(),
                            self.limits.frame_progress_min_bytes
                        ),
                    });
                }
                self.armed = Armed::Frame {
                    window_start_bytes: bytes_read,
                };
            }
            _ => {
                self.armed = Armed::Idle;
                if phase.busy {
                    // Requests waiting for answers are activity: idle counts from now on.
                    self.last_request = now;
                }
                let quiet_since = self.last_request.max(self.activity.last_answer());
                if !phase.busy && now >= quiet_since + self.limits.connections_max_idle {
                    return Err(Expired {
                        reason: "idle",
                        detail: format!(
                            "no request for {} ms (gateway.connectionsMaxIdleMs)",
                            self.limits.connections_max_idle.as_millis()
                        ),
                    });
                }
            }
        }
        let at = self.natural_deadline(phase, now);
        self.timer.as_mut().reset(at);
        Ok(())
    }

    /// When the timer should fire next for `phase`, counted from `now`.
    fn natural_deadline(&self, phase: Phase, now: Instant) -> Instant {
        let next = match self.armed {
            Armed::Frame { .. } => now + self.limits.frame_progress_timeout,
            Armed::Idle => {
                let quiet_since = self.last_request.max(self.activity.last_answer());
                (quiet_since + self.limits.connections_max_idle).max(now + Duration::from_millis(1))
            }
        };
        if phase.authenticating {
            next.min(self.connected + self.limits.authentication_timeout)
        } else {
            next
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> DeadlineLimits {
        DeadlineLimits {
            connections_max_idle: Duration::from_secs(60),
            authentication_timeout: Duration::from_secs(10),
            frame_progress_timeout: Duration::from_secs(5),
            frame_progress_min_bytes: 1000,
        }
    }

    const QUIET: Phase = Phase {
        authenticating: false,
        in_frame: false,
        busy: false,
    };

    #[tokio::test(start_paused = true)]
    async fn an_unauthenticated_client_is_closed_at_the_authentication_deadline() {
        let mut d = Deadlines::new(limits(), Activity::new());
        let phase = Phase {
            authenticating: true,
            ..QUIET
        };
        d.arm(phase, 0);
        d.wait().await;
        let e = d.fired(phase, 0).unwrap_err();
        assert_eq!(e.reason, "authentication_timeout");
        assert_eq!(Instant::now() - d.connected, Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickle_is_closed_but_a_slow_steady_frame_goes_on() {
        let mut d = Deadlines::new(limits(), Activity::new());
        let phase = Phase {
            in_frame: true,
            ..QUIET
        };
        d.arm(phase, 0);
        d.wait().await;
        // A slow link: 2000 bytes in the first window, 1000 in the next.
        d.fired(phase, 2000).expect("enough progress");
        d.wait().await;
        d.fired(phase, 3000).expect("exactly the minimum is enough");
        d.wait().await;
        let e = d.fired(phase, 3999).unwrap_err();
        assert_eq!(e.reason, "frame_progress");
        assert!(e.detail.contains("999 bytes"), "{}", e.detail);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_counts_from_the_last_request_or_answer() {
        let activity = Activity::new();
        let mut d = Deadlines::new(limits(), activity.clone());
        d.arm(QUIET, 0);
        tokio::time::advance(Duration::from_secs(30)).await;
        activity.answered();
        d.wait().await;
        assert!(
            d.fired(QUIET, 0).is_ok(),
            "an answer 30 s ago: not idle yet"
        );
        let busy = Phase {
            busy: true,
            ..QUIET
        };
        d.wait().await;
        assert!(d.fired(busy, 0).is_ok(), "requests waiting: not idle");
        d.wait().await;
        let e = d.fired(QUIET, 0).unwrap_err();
        assert_eq!(e.reason, "idle");
        assert!(Instant::now() - d.connected >= Duration::from_secs(90));
    }
}
