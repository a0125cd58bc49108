//! Partner zones against the rest of the store: a zone owns the virtual cluster named like it
//! and everything in that virtual cluster (its alias topics and service accounts). Applying a
//! zone replaces exactly those with what the zone implies, checked by the ordinary rules (a
//! refusal names the zone's own field); offboarding removes them. The ordinary resource API
//! may not change them (see [`Snapshot::managed_by_zone`]).

use std::collections::BTreeSet;

use super::Snapshot;
use crate::resource::{Kind, PartnerZone, Resource, ResourceKey};
use crate::{Configured, StoreError, UpsertResult, ZoneToken};

/// What applying a zone changes among the ordinary resources.
#[derive(Debug)]
pub(crate) struct ZonePlan {
    pub(crate) result: UpsertResult,
    /// New or changed resources, virtual cluster first.
    pub(crate) puts: Vec<Resource>,
    /// Resources the zone no longer implies (a topic removed, a renamed service account).
    pub(crate) deletes: Vec<ResourceKey>,
}

/// A field of an implied resource, as the zone document names it.
fn zone_field(resource: &Resource, topic: Option<usize>, field: &str) -> String {
    match (resource, field) {
        (Resource::VirtualCluster(_), "spec.prefix") => "metadata.name".into(),
        (Resource::ServiceAccount(_), "metadata.name") => "spec.serviceAccount".into(),
        (Resource::ServiceAccount(_), f) if f.starts_with("spec.externalNames") => {
            "spec.externalPrincipal".into()
        }
        (Resource::ServiceAccount(_), "metadata.vCluster") => "metadata.name".into(),
        (Resource::AliasTopic(_), f) => {
            let at = format!("spec.topics[{}]", topic.unwrap_or(0));
            match f {
                "metadata.name" => format!("{at}.name"),
                "spec.physicalName" => format!("{at}.backingTopic"),
                "spec.physicalCluster" => format!("{at}.physicalCluster"),
                "spec.access" => format!("{at}.permission"),
                other => format!("{at} ({other})"),
            }
        }
        (_, f) => f.into(),
    }
}

/// The error about an implied resource, naming the zone's field.
fn relabel(e: StoreError, resource: &Resource, topic: Option<usize>) -> StoreError {
    match e {
        StoreError::Invalid { field, reason } => StoreError::Invalid {
            field: zone_field(resource, topic, &field),
            reason,
        },
        StoreError::Conflict(m) => match m.split_once(": ") {
            Some((field, reason)) if !field.contains(' ') => {
                StoreError::Conflict(format!("{}: {reason}", zone_field(resource, topic, field)))
            }
            _ => StoreError::Conflict(m),
        },
        other => other,
    }
}

impl Snapshot {
    pub fn partner_zone(&self, name: &str) -> Option<&PartnerZone> {
        self.partner_zones.get(name)
    }

    /// The tokens recorded for a zone, by id.
    pub fn zone_tokens_of<'a>(&'a self, zone: &'a str) -> impl Iterator<Item = &'a ZoneToken> + 'a {
        self.zone_tokens.values().filter(move |t| t.zone == zone)
    }

    /// The zone that manages `key` (its virtual cluster, or a resource inside it), if any.
    pub fn managed_by_zone(&self, key: &ResourceKey) -> Option<&str> {
        let vcluster = if key.kind == Kind::VirtualCluster {
            &key.name
        } else {
            &key.vcluster
        };
        self.partner_zones.get(vcluster).map(|z| z.name.as_str())
    }

    /// The resources in a zone's virtual cluster (its aliases and accounts), then the virtual
    /// cluster itself.
    fn zone_owned(&self, zone: &str) -> Vec<Resource> {
        let mut out: Vec<Resource> = self
            .alias_topics_in(zone)
            .cloned()
            .map(Resource::AliasTopic)
            .collect();
        out.extend(
            self.service_accounts_in(zone)
                .cloned()
                .map(Resource::ServiceAccount),
        );
        if let Some(vc) = self.virtual_clusters.get(zone) {
            out.push(Resource::VirtualCluster(vc.clone()));
        }
        out
    }

    /// Checks `z` against this state and applies it with every resource it implies.
    pub(crate) fn put_zone(
        &mut self,
        z: &PartnerZone,
        configured: &Configured,
    ) -> Result<ZonePlan, StoreError> {
        let old_zone = self.partner_zones.get(&z.name).cloned();
        if old_zone.is_none() && self.virtual_clusters.contains_key(&z.name) {
            return Err(StoreError::Conflict(format!(
                "metadata.name: a virtual cluster named '{}' already exists and no partner zone manages it (a zone's name becomes its virtual cluster's): choose another name",
                z.name
            )));
        }
        let old = self.zone_owned(&z.name);
        // The aliases and accounts go first (nothing refuses their removal), so the zone's new
        // topics are checked against each other only, and a topic may move to another domain.
        for r in old.iter().filter(|r| r.kind() != Kind::VirtualCluster) {
            self.delete(&r.key(), &BTreeSet::new())?;
        }
        let implied = z.implied_resources();
        let mut topic = 0;
        for r in &implied {
            let index = (r.kind() == Kind::AliasTopic).then(|| {
                topic += 1;
                topic - 1
            });
            configured
                .check(r)
                .and_then(|()| self.upsert(r.clone()).map(|_| ()))
                .map_err(|e| relabel(e, r, index))?;
        }
        self.partner_zones.insert(z.name.clone(), z.clone());
        let puts: Vec<Resource> = implied
            .iter()
            .filter(|r| !old.contains(r))
            .cloned()
            .collect();
        let keys: BTreeSet<ResourceKey> = implied.iter().map(Resource::key).collect();
        let deletes: Vec<ResourceKey> = old
            .iter()
            .map(Resource::key)
            .filter(|k| !keys.contains(k))
            .collect();
        let result = match old_zone {
            None => UpsertResult::Created,
            Some(o) if o == *z && puts.is_empty() && deletes.is_empty() => UpsertResult::NotChanged,
            Some(_) => UpsertResult::Updated,
        };
        Ok(ZonePlan {
            result,
            puts,
            deletes,
        })
    }

    /// Removes a zone and everything it owns; returns the zone and the keys removed.
    pub(crate) fn remove_zone(
        &mut self,
        name: &str,
        pinned: &BTreeSet<String>,
    ) -> Result<(PartnerZone, Vec<ResourceKey>), StoreError> {
        let Some(z) = self.partner_zones.get(name).cloned() else {
            return Err(StoreError::NotFound(format!(
                "no PartnerZone named '{name}'"
            )));
        };
        let keys: Vec<ResourceKey> = self.zone_owned(name).iter().map(Resource::key).collect();
        for key in &keys {
            self.delete(key, pinned).map_err(|e| match e {
                StoreError::Conflict(m) => StoreError::Conflict(format!(
                    "partner zone '{name}' cannot be offboarded: {m} (remove the route's virtualCluster from the gateway configuration first)"
                )),
                other => other,
            })?;
        }
        self.partner_zones.remove(name);
        Ok((z, keys))
    }
}
