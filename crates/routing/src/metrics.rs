//! Counters the admin API exposes in the Prometheus text format.
//!
//! Plain atomics: the data plane bumps them without locks; labelled counters live in a
//! concurrent map keyed by their labels and are only touched on rare events.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;

use dashmap::DashMap;

#[derive(Default)]
pub struct Metrics {
    pub connections_accepted: AtomicU64,
    pub connections_active: AtomicU64,
    pub requests_forwarded: AtomicU64,
    pub responses_rewritten: AtomicU64,
    /// (reason) → count of client connections closed for bad input.
    pub client_protocol_errors: DashMap<&'static str, AtomicU64>,
    /// (domain) → failed connection attempts to its brokers.
    pub upstream_connect_failures: DashMap<String, AtomicU64>,
    /// (domain, node id) → times a broker outside every nodeIdRange was seen in a response.
    pub unmapped_node_ids: DashMap<(String, i32), AtomicU64>,
}

/// Extra lines a build may add to the metrics output (the benchmark build's allocation counters).
static EXTRA: OnceLock<fn() -> String> = OnceLock::new();

/// Registers a renderer for extra metrics; only the first registration counts.
pub fn register_extra(render: fn() -> String) {
    let _ = EXTRA.set(render);
}

pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::default)
}

impl Metrics {
    pub fn client_protocol_error(&self, reason: &'static str) {
        self.client_protocol_errors
            .entry(reason)
            .or_default()
            .fetch_add(1, Relaxed);
    }

    pub fn upstream_connect_failure(&self, domain: &str) {
        self.upstream_connect_failures
            .entry(domain.to_string())
            .or_default()
            .fetch_add(1, Relaxed);
    }

    /// Counts an unmapped node id; true the first time this (domain, node) is seen, so the
    /// caller logs it once instead of on every metadata response.
    pub fn unmapped_node_id(&self, domain: &str, node_id: i32) -> bool {
        let entry = self
            .unmapped_node_ids
            .entry((domain.to_string(), node_id))
            .or_default();
        entry.fetch_add(1, Relaxed) == 0
    }

    /// Renders every counter in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut gauge = |name: &str, kind: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        };
        gauge(
            "gatehouse_connections_accepted_total",
            "counter",
            "Client connections accepted.",
            self.connections_accepted.load(Relaxed),
        );
        gauge(
            "gatehouse_connections_active",
            "gauge",
            "Client connections open now.",
            self.connections_active.load(Relaxed),
        );
        gauge(
            "gatehouse_requests_forwarded_total",
            "counter",
            "Requests forwarded upstream.",
            self.requests_forwarded.load(Relaxed),
        );
        gauge(
            "gatehouse_responses_rewritten_total",
            "counter",
            "Responses decoded and re-encoded.",
            self.responses_rewritten.load(Relaxed),
        );
        let _ = writeln!(out, "# HELP gatehouse_client_protocol_errors_total Client connections closed for bad input.\n# TYPE gatehouse_client_protocol_errors_total counter");
        for e in self.client_protocol_errors.iter() {
            let _ = writeln!(
                out,
                "gatehouse_client_protocol_errors_total{{reason=\"{}\"}} {}",
                e.key(),
                e.value().load(Relaxed)
            );
        }
        let _ = writeln!(out, "# HELP gatehouse_upstream_connect_failures_total Failed connections to upstream brokers.\n# TYPE gatehouse_upstream_connect_failures_total counter");
        for e in self.upstream_connect_failures.iter() {
            let _ = writeln!(
                out,
                "gatehouse_upstream_connect_failures_total{{domain=\"{}\"}} {}",
                e.key(),
                e.value().load(Relaxed)
            );
        }
        let _ = writeln!(out, "# HELP gatehouse_unmapped_node_ids_total Brokers seen outside every nodeIdRange of their domain (hidden from clients).\n# TYPE gatehouse_unmapped_node_ids_total counter");
        for e in self.unmapped_node_ids.iter() {
            let (domain, node) = e.key();
            let _ = writeln!(
                out,
                "gatehouse_unmapped_node_ids_total{{domain=\"{domain}\",node_id=\"{node}\"}} {}",
                e.value().load(Relaxed)
            );
        }
        if let Some(extra) = EXTRA.get() {
            out.push_str(&extra());
        }
        out
    }
}
