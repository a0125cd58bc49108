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
    /// Request bytes moved from client to upstream by splice(2), never copied into the gateway.
    pub request_bytes_spliced: AtomicU64,
    /// Response bytes moved from upstream to client by splice(2).
    pub response_bytes_spliced: AtomicU64,
    /// (reason) → count of client connections closed for bad input.
    pub client_protocol_errors: DashMap<&'static str, AtomicU64>,
    /// (reason) → client connections refused before any request was served.
    pub connections_refused: DashMap<&'static str, AtomicU64>,
    /// (reason) → client connections the gateway closed on a deadline (idle, authentication,
    /// frame progress).
    pub connections_closed: DashMap<&'static str, AtomicU64>,
    /// (domain) → failed connection attempts to its brokers.
    pub upstream_connect_failures: DashMap<String, AtomicU64>,
    /// (domain, node id) → times a broker outside every nodeIdRange was seen in a response.
    pub unmapped_node_ids: DashMap<(String, i32), AtomicU64>,
    /// Wrong usernames or passwords given to the admin API.
    pub admin_auth_failures: AtomicU64,
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

    pub fn connection_refused(&self, reason: &'static str) {
        self.connections_refused
            .entry(reason)
            .or_default()
            .fetch_add(1, Relaxed);
    }

    pub fn connection_closed(&self, reason: &'static str) {
        self.connections_closed
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
        let mut plain = |name: &str, kind: &str, help: &str, v: &AtomicU64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
                v.load(Relaxed)
            );
        };
        plain(
            "gatehouse_connections_accepted_total",
            "counter",
            "Client connections accepted.",
            &self.connections_accepted,
        );
        plain(
            "gatehouse_connections_active",
            "gauge",
            "Client connections open now.",
            &self.connections_active,
        );
        plain(
            "gatehouse_requests_forwarded_total",
            "counter",
            "Requests forwarded upstream.",
            &self.requests_forwarded,
        );
        plain(
            "gatehouse_responses_rewritten_total",
            "counter",
            "Responses whose broker addresses were rewritten.",
            &self.responses_rewritten,
        );
        plain(
            "gatehouse_admin_auth_failures_total",
            "counter",
            "Wrong usernames or passwords given to the admin API.",
            &self.admin_auth_failures,
        );
        labelled(
            &mut out,
            "gatehouse_bytes_spliced_total",
            "Bytes moved between client and upstream sockets inside the kernel (splice), not copied.",
            [
                ("request", &self.request_bytes_spliced),
                ("response", &self.response_bytes_spliced),
            ]
            .into_iter()
            .map(|(d, v)| (format!("direction=\"{d}\""), v.load(Relaxed))),
        );
        labelled(
            &mut out,
            "gatehouse_client_protocol_errors_total",
            "Client connections closed for bad input.",
            self.client_protocol_errors
                .iter()
                .map(|e| (format!("reason=\"{}\"", e.key()), e.value().load(Relaxed))),
        );
        labelled(
            &mut out,
            "gatehouse_connections_refused_total",
            "Client connections refused (for example: the route's virtual cluster does not exist).",
            self.connections_refused
                .iter()
                .map(|e| (format!("reason=\"{}\"", e.key()), e.value().load(Relaxed))),
        );
        labelled(
            &mut out,
            "gatehouse_connections_closed_total",
            "Client connections closed by the gateway on a deadline (idle, authentication_timeout, frame_progress).",
            self.connections_closed
                .iter()
                .map(|e| (format!("reason=\"{}\"", e.key()), e.value().load(Relaxed))),
        );
        labelled(
            &mut out,
            "gatehouse_upstream_connect_failures_total",
            "Failed connections to upstream brokers.",
            self.upstream_connect_failures
                .iter()
                .map(|e| (format!("domain=\"{}\"", e.key()), e.value().load(Relaxed))),
        );
        labelled(
            &mut out,
            "gatehouse_unmapped_node_ids_total",
            "Brokers seen outside every nodeIdRange of their domain (hidden from clients).",
            self.unmapped_node_ids.iter().map(|e| {
                let (domain, node) = e.key();
                (
                    format!("domain=\"{domain}\",node_id=\"{node}\""),
                    e.value().load(Relaxed),
                )
            }),
        );
        if let Some(extra) = EXTRA.get() {
            out.push_str(&extra());
        }
        out
    }
}

/// One counter family with a sample per label set.
fn labelled(
    out: &mut String,
    name: &str,
    help: &str,
    samples: impl Iterator<Item = (String, u64)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for (labels, v) in samples {
        let _ = writeln!(out, "{name}{{{labels}}} {v}");
    }
}
