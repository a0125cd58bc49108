//! Draining: how the gateway lets its clients go on SIGTERM or a drain call.
//!
//! Listeners stop accepting first (the caller aborts them). Then the listeners' connections are
//! let go one listener at a time, in order (each route's bootstrap port, then its broker ports),
//! with a short pause between: a connection being let go stops reading new requests, waits for
//! the answers to every request it already forwarded, hands them to its client and closes. A
//! client (librdkafka) thus loses one broker connection at a time, never all at once, and never
//! loses the answer to a request the broker has already carried out: an unanswered Produce is
//! what a producer without idempotence would send again, writing it twice. Requests a client
//! sends after its connection stopped reading were never forwarded; it sends them again
//! elsewhere.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gatehouse_routing::metrics::metrics;
use gatehouse_routing::Target;
use tokio::sync::watch;
use tokio::time::Instant;

/// The connections of one listener.
pub(crate) struct ListenerGroup {
    /// Its place in the order listeners are let go.
    index: usize,
    route: Arc<str>,
    target: Target,
    open: AtomicUsize,
}

/// A connection's membership of its listener's group; leaves it when dropped.
pub(crate) struct Member(Arc<ListenerGroup>);

impl Drop for Member {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Relaxed);
    }
}

/// What a connection watches to know when to stop reading.
#[derive(Clone)]
pub(crate) struct StopSignal {
    index: usize,
    stage: watch::Receiver<usize>,
}

impl StopSignal {
    /// Resolves once this connection's listener is being let go.
    pub async fn stopped(&mut self) {
        let index = self.index;
        let _ = self.stage.wait_for(|stage| *stage > index).await;
    }
}

/// How the drain went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainReport {
    /// Connections open when it began.
    pub connections: usize,
    /// Connections still open when the drain timeout ran out (cut without their answers).
    pub cut: usize,
}

pub(crate) struct Drain {
    /// How many listener groups have been told to stop.
    stage: watch::Sender<usize>,
    groups: Mutex<Vec<Arc<ListenerGroup>>>,
}

impl Drain {
    pub fn new() -> Self {
        Self {
            stage: watch::channel(0).0,
            groups: Mutex::new(Vec::new()),
        }
    }

    /// A new listener's group, let go after the ones registered before it.
    pub fn register(&self, route: Arc<str>, target: Target) -> Arc<ListenerGroup> {
        let mut groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        let group = Arc::new(ListenerGroup {
            index: groups.len(),
            route,
            target,
            open: AtomicUsize::new(0),
        });
        groups.push(group.clone());
        group
    }

    /// Joins a connection to its listener's group.
    pub fn join(&self, group: &Arc<ListenerGroup>) -> (Member, StopSignal) {
        group.open.fetch_add(1, Relaxed);
        let signal = StopSignal {
            index: group.index,
            stage: self.stage.subscribe(),
        };
        (Member(group.clone()), signal)
    }

    /// Lets every listener's connections go in turn, `step` apart, waiting for each listener's
    /// connections to finish (all of it bounded by `timeout`).
    pub async fn run(&self, timeout: Duration, step: Duration) -> DrainReport {
        let deadline = Instant::now() + timeout;
        let groups = self
            .groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let connections = groups.iter().map(|g| g.open.load(Relaxed)).sum();
        tracing::info!(
            connections,
            listeners = groups.len(),
            "draining client connections"
        );
        for (i, group) in groups.iter().enumerate() {
            if group.open.load(Relaxed) == 0 {
                self.stage.send_replace(i + 1);
                continue;
            }
            self.stage.send_replace(i + 1);
            wait_until(deadline, || group.open.load(Relaxed) == 0).await;
            tracing::info!(route = %group.route, listener = ?group.target,
                left = group.open.load(Relaxed), "listener drained");
            if i + 1 < groups.len() && Instant::now() + step < deadline {
                tokio::time::sleep(step).await;
            }
        }
        self.stage.send_replace(usize::MAX);
        wait_until(deadline, || metrics().connections_active.load(Relaxed) == 0).await;
        let cut = groups.iter().map(|g| g.open.load(Relaxed)).sum();
        DrainReport { connections, cut }
    }
}

/// Polls `done` until it holds or `deadline` passes (connection counts have no waker).
async fn wait_until(deadline: Instant, done: impl Fn() -> bool) {
    while !done() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn listeners_are_let_go_in_order_and_only_when_their_turn_comes() {
        let drain = Arc::new(Drain::new());
        let bootstrap = drain.register("r".into(), Target::Bootstrap);
        let node = drain.register("r".into(), Target::Node(1));
        let (first, mut first_stop) = drain.join(&bootstrap);
        let (second, mut second_stop) = drain.join(&node);
        let running = {
            let drain = drain.clone();
            tokio::spawn(async move {
                drain
                    .run(Duration::from_secs(30), Duration::from_millis(200))
                    .await
            })
        };
        first_stop.stopped().await;
        assert!(
            tokio::time::timeout(Duration::from_secs(5), second_stop.stopped())
                .await
                .is_err(),
            "the broker port is served while the bootstrap port's connections finish"
        );
        drop(first);
        second_stop.stopped().await;
        drop(second);
        let report = running.await.unwrap();
        assert_eq!(
            report,
            DrainReport {
                connections: 2,
                cut: 0
            }
        );
    }
}
