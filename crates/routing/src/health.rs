//! Whether each streaming domain is reachable, for `/health/ready`.
//!
//! A background probe per bootstrap server connects as the gateway does (TLS and its SASL login
//! as configured), asks ApiVersions, all under the connect and request timeouts, and records
//! the outcome; the gateway's own exchanges on the request path (ApiVersions for SASL routes,
//! discovery) record theirs too. Reading the state is a lock of a few nanoseconds, never I/O.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::topology::{StreamingDomain, Topology};
use crate::upstream::UpstreamCluster;

/// How often a domain is probed unless configured otherwise.
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(5);

/// The last known reachability of one upstream listener.
#[derive(Debug)]
pub struct Reachability {
    state: Mutex<State>,
}

#[derive(Debug, Clone)]
enum State {
    /// Nothing has been tried yet.
    Unknown {
        since: Instant,
    },
    Reachable,
    /// Failing since `since` (the first failure of this streak); `error` is the latest.
    Unreachable {
        since: Instant,
        error: String,
    },
}

impl Default for Reachability {
    fn default() -> Self {
        Self {
            state: Mutex::new(State::Unknown {
                since: Instant::now(),
            }),
        }
    }
}

impl Reachability {
    /// Records an attempt's outcome; true when it changes whether the upstream is reachable.
    pub(crate) fn record(&self, outcome: Result<(), String>) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let was = matches!(*state, State::Reachable);
        let unknown = matches!(*state, State::Unknown { .. });
        *state = match (outcome, &*state) {
            (Ok(()), _) => State::Reachable,
            (Err(error), State::Unreachable { since, .. }) => State::Unreachable {
                since: *since,
                error,
            },
            (Err(error), _) => State::Unreachable {
                since: Instant::now(),
                error,
            },
        };
        unknown || was != matches!(*state, State::Reachable)
    }

    /// Ok when the last attempt succeeded; otherwise what failed and for how long.
    pub fn get(&self) -> Result<(), String> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match state {
            State::Reachable => Ok(()),
            State::Unknown { since } => Err(format!(
                "waiting for the first probe (for {})",
                seconds(since.elapsed())
            )),
            State::Unreachable { since, error } => Err(format!(
                "unreachable for {}: {error}",
                seconds(since.elapsed())
            )),
        }
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

impl StreamingDomain {
    /// Ok when every listener of the domain answered its last probe; otherwise one line per
    /// listener that did not.
    pub fn reachability(&self) -> Result<(), String> {
        let failing: Vec<String> = self
            .bootstrap_servers
            .values()
            .filter_map(|b| {
                b.upstream
                    .reachability()
                    .err()
                    .map(|e| format!("{} ({}): {e}", b.id, b.upstream.bootstrap))
            })
            .collect();
        if failing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "streaming domain '{}': {}",
                self.name,
                failing.join("; ")
            ))
        }
    }
}

/// Starts one probe task per bootstrap server of the topology, every `every`. A task ends by
/// itself once its upstream is dropped (a reloaded topology replaced it), so calling this for
/// each new topology is enough.
pub fn spawn_probes(topology: &Topology, every: Duration) {
    for domain in topology.domains.values() {
        for server in domain.bootstrap_servers.values() {
            tokio::spawn(probe_loop(Arc::downgrade(&server.upstream), every));
        }
    }
}

async fn probe_loop(upstream: Weak<UpstreamCluster>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(up) = upstream.upgrade() else {
            return;
        };
        // The probe bounds itself (connect and request timeouts); the upstream is held only
        // while it runs.
        if let Err(e) = up.probe().await {
            tracing::debug!(domain = %up.domain, listener = %up.listener_id, error = %e, "reachability probe failed");
        }
    }
}
