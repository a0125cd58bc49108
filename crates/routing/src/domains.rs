//! State the gateway learns about each upstream, kept for the life of the process.
//!
//! A [`Topology`](crate::Topology) is swapped whole when configuration changes
//! (`Gateway::swap_topology`). What the gateway learned from the upstreams must survive that:
//! the node directory (broker addresses seen in metadata, so a client's connection to a virtual
//! broker port is forwarded without asking the bootstrap server again) and the upstream's API
//! versions. They live here, one [`DomainState`] per (streaming domain, listener id), and each
//! [`UpstreamCluster`](crate::upstream::UpstreamCluster) of a new topology is handed the state
//! of its (domain, listener).
//!
//! A listener whose bootstrap endpoint changed in the new configuration may now lead to
//! another cluster: it starts afresh rather than reuse addresses learned from the old one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use dashmap::DashMap;
use kafka_protocol::messages::api_versions_response::ApiVersion;

use crate::topology::HostPort;

/// What is known of one listener of one streaming domain.
#[derive(Debug)]
pub struct DomainState {
    /// The bootstrap endpoint the state was learned through.
    bootstrap: HostPort,
    /// node id → real broker address, as the upstream advertises it on this listener.
    pub(crate) directory: DashMap<i32, HostPort>,
    /// The upstream's API versions, narrowed to what the gateway forwards; asked once.
    pub(crate) api_versions: Mutex<Versions>,
    /// Group coordinators found for the gateway's own requests (a tenant's offsets of a
    /// further domain's partitions), by upstream group name; forgotten when one says it is
    /// not the coordinator.
    pub(crate) coordinators: DashMap<String, i32>,
}

/// One ask's outcome as its waiters receive it (an `io::Error` is not `Clone`).
pub(crate) type Asked = Result<Vec<ApiVersion>, (std::io::ErrorKind, String)>;

/// What the gateway knows of an upstream's API versions.
#[derive(Debug)]
pub(crate) enum Versions {
    Unknown,
    /// One caller is asking; the others wait for its answer on this channel.
    Asking(tokio::sync::watch::Receiver<Option<Asked>>),
    Known(Vec<ApiVersion>),
}

impl DomainState {
    /// Nothing learned yet.
    pub fn new(bootstrap: HostPort) -> Self {
        Self {
            bootstrap,
            directory: DashMap::new(),
            api_versions: Mutex::new(Versions::Unknown),
            coordinators: DashMap::new(),
        }
    }

    /// The address learned for an upstream node, if any.
    pub fn address_of(&self, node_id: i32) -> Option<HostPort> {
        self.directory.get(&node_id).map(|a| a.clone())
    }

    /// How many broker addresses are known.
    pub fn known_brokers(&self) -> usize {
        self.directory.len()
    }
}

/// Every domain's state, by (domain name, listener id). Shared by all topologies of a process.
#[derive(Debug, Default)]
pub struct DomainRegistry {
    states: Mutex<HashMap<(String, String), Arc<DomainState>>>,
}

impl DomainRegistry {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The state of a domain's listener reached through `bootstrap`: the one an earlier
    /// topology used, or a new one (also when the listener's bootstrap endpoint changed).
    pub fn state(&self, domain: &str, listener: &str, bootstrap: &HostPort) -> Arc<DomainState> {
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        let key = (domain.to_string(), listener.to_string());
        match states.get(&key) {
            Some(s) if s.bootstrap == *bootstrap => s.clone(),
            _ => {
                let fresh = Arc::new(DomainState::new(bootstrap.clone()));
                states.insert(key, fresh.clone());
                fresh
            }
        }
    }

    /// Forgets domains and listeners a new configuration no longer has (`keep` says which
    /// stay), so the registry does not grow with every rename.
    pub fn retain(&self, mut keep: impl FnMut(&str, &str) -> bool) {
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        states.retain(|(domain, listener), _| keep(domain, listener));
    }

    /// How many (domain, listener) states are held.
    pub fn len(&self) -> usize {
        self.states.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(host: &str, port: u16) -> HostPort {
        HostPort {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn the_same_listener_gets_the_same_state_until_its_endpoint_changes() {
        let r = DomainRegistry::new();
        let a = r.state("d", "l", &hp("kafka", 9092));
        a.directory.insert(1, hp("kafka-1", 9092));
        let again = r.state("d", "l", &hp("kafka", 9092));
        assert!(Arc::ptr_eq(&a, &again));
        assert_eq!(again.address_of(1), Some(hp("kafka-1", 9092)));
        let other_listener = r.state("d", "m", &hp("kafka", 9092));
        assert!(!Arc::ptr_eq(&a, &other_listener));
        let moved = r.state("d", "l", &hp("elsewhere", 9092));
        assert_eq!(moved.address_of(1), None, "another endpoint starts afresh");
        r.retain(|_, listener| listener == "l");
        assert_eq!(r.len(), 1);
    }
}
