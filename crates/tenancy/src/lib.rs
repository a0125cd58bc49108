//! Virtual clusters on the wire.
//!
//! A tenant (a virtual cluster) sees a streaming domain through a prefix: its topics, consumer
//! groups and transactional ids live upstream as `<prefix><name>`, and nothing without the
//! prefix exists for it. This crate is the stage that makes that true for every request a
//! tenant can send:
//!
//! * [`acl`]: gateway-side ACLs (Kafka's model) and their evaluation, cached per decision;
//! * [`names`]: the mapping of one name (map, unmap, is-owned, is-legal), declared once for
//!   the three entity types;
//! * [`topic_ids`]: which tenant owns a topic id, learned from the responses that carry
//!   both id and name, so a tenant never reaches another tenant's topic by id;
//! * [`table`]: for every API key a tenant may send, which fields hold which entity, in the
//!   request and in the response. It is the single place a new API key is added; keys not in
//!   it (and not name-free) are removed from the tenant's ApiVersions and refused;
//! * [`producer_ids`]: which producer ids were issued to which transactional ids, so a
//!   tenant's transactional requests carry only its own (checked by `txn_guard`);
//! * [`session`]: what the connection pipeline calls per request and per response.
//!
//! The `passthrough` virtual cluster has no tenant: its sessions never enter this stage and
//! keep the raw-forwarding fast path.

pub mod acl;
pub mod aliases;
mod mapper;
pub mod names;
pub mod producer_ids;
mod respell;
pub mod session;
pub mod split;
pub mod table;
pub mod topic_ids;
mod txn_guard;

use std::collections::HashMap;
use std::sync::Arc;

pub use acl::Acls;
pub use aliases::{Access, Alias, Aliases};
pub use mapper::ResponseContext;
pub use names::{Domain, Tenant};
pub use producer_ids::ProducerIds;
pub use session::{MappedRequest, ResponsePlan, TenantSession};
pub use topic_ids::TopicIds;

/// The name of the virtual cluster that sees the raw cluster, unprefixed.
pub const PASSTHROUGH: &str = "passthrough";

/// The virtual clusters that exist now: an immutable snapshot, swapped whole on change.
#[derive(Debug, Default, Clone)]
pub struct Catalog {
    tenants: HashMap<String, Arc<Tenant>>,
}

/// What a virtual cluster name resolves to in a [`Catalog`].
#[derive(Debug, Clone)]
pub enum Resolution {
    /// `passthrough`: the raw cluster, no mapping.
    Passthrough,
    Tenant(Arc<Tenant>),
    /// No such virtual cluster (not created yet, or deleted).
    Unknown,
}

impl Catalog {
    /// Builds a catalog from `(name, prefix)` pairs. `passthrough` is implicit and skipped.
    pub fn new<I, N, P>(virtual_clusters: I) -> Self
    where
        I: IntoIterator<Item = (N, P)>,
        N: Into<String>,
        P: Into<String>,
    {
        let tenants = virtual_clusters
            .into_iter()
            .map(|(n, p)| (n.into(), p.into()))
            .filter(|(n, _)| n != PASSTHROUGH)
            .map(|(n, p)| (n.clone(), Arc::new(Tenant::new(n, p))))
            .collect();
        Self { tenants }
    }

    /// Builds a catalog from tenants (with their aliases). `passthrough` is skipped.
    pub fn from_tenants(tenants: impl IntoIterator<Item = Tenant>) -> Self {
        let tenants = tenants
            .into_iter()
            .filter(|t| t.name != PASSTHROUGH)
            .map(|t| (t.name.clone(), Arc::new(t)))
            .collect();
        Self { tenants }
    }

    pub fn resolve(&self, name: &str) -> Resolution {
        if name == PASSTHROUGH {
            return Resolution::Passthrough;
        }
        match self.tenants.get(name) {
            Some(t) => Resolution::Tenant(t.clone()),
            None => Resolution::Unknown,
        }
    }

    pub fn len(&self) -> usize {
        self.tenants.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tenants.is_empty()
    }
}
