//! What the process configuration says that resources must agree with: the virtual clusters
//! its routes bind (they cannot be deleted) and the streaming domains it defines (a home
//! domain or an alias's physicalCluster must name one).

use std::collections::BTreeSet;

use crate::resource::{invalid, Resource};
use crate::StoreError;

/// The configuration's names, as the store checks writes against them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Configured {
    /// Virtual clusters the configuration's routes bind: deleting them is refused.
    pub virtual_clusters: BTreeSet<String>,
    /// The configured streaming domains; `None`: not known here (tools and tests that run a
    /// store without a gateway configuration), and domain names are not checked.
    pub streaming_domains: Option<BTreeSet<String>>,
}

impl Configured {
    /// Pins these virtual clusters; domains are not checked.
    pub fn pinning(virtual_clusters: BTreeSet<String>) -> Self {
        Self {
            virtual_clusters,
            streaming_domains: None,
        }
    }

    /// Refuses a resource naming a streaming domain the configuration does not define.
    pub(crate) fn check(&self, r: &Resource) -> Result<(), StoreError> {
        let (field, domain) = match r {
            Resource::VirtualCluster(v) => ("spec.homeDomain", v.home_domain.as_deref()),
            Resource::AliasTopic(a) => ("spec.physicalCluster", a.physical_cluster.as_deref()),
            Resource::ServiceAccount(_) => return Ok(()),
        };
        match (domain, &self.streaming_domains) {
            (Some(d), Some(known)) if !known.contains(d) => Err(invalid(
                field,
                format!(
                    "no streaming domain named '{d}' in the gateway configuration (streamingDomains: {})",
                    known
                        .iter()
                        .map(|k| format!("'{k}'"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
            _ => Ok(()),
        }
    }
}
