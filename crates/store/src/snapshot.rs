//! The state of every resource at one store revision, and the rules that need more than one
//! resource (prefix overlaps, references, unique external names; the alias topic rules are in
//! `aliases`).

mod aliases;
mod zones;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::resource::{
    passthrough_is_built_in, AliasTopic, Kind, PartnerZone, Resource, ResourceKey, ServiceAccount,
    VirtualCluster, PASSTHROUGH,
};
use crate::revocation::RevokedToken;
use crate::{StoreError, ZoneToken};

/// Identifies a service account: its virtual cluster and its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountKey {
    pub vcluster: String,
    pub name: String,
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UpsertResult {
    Created,
    Updated,
    NotChanged,
}

/// Every resource at one revision of the store. Cheap to share (`Arc<Snapshot>`); never
/// changes once published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The store revision this snapshot reflects (0 for a store nothing was written to).
    pub revision: i64,
    /// Always holds [`PASSTHROUGH`].
    pub virtual_clusters: BTreeMap<String, VirtualCluster>,
    pub service_accounts: BTreeMap<AccountKey, ServiceAccount>,
    /// Alias topics by (virtual cluster, alias name).
    pub alias_topics: BTreeMap<(String, String), AliasTopic>,
    /// Revoked gateway tokens by id (`jti`). Verification asks [`Snapshot::is_token_revoked`]
    /// (or uses the snapshot as a `gatehouse_auth::tokens::Revocations`).
    pub revoked_tokens: BTreeMap<String, RevokedToken>,
    /// Partner zones by name (each owns the virtual cluster of the same name).
    pub partner_zones: BTreeMap<String, PartnerZone>,
    /// The gateway tokens issued for partner zones, by id (`jti`).
    pub zone_tokens: BTreeMap<String, ZoneToken>,
    /// External name → the one account it maps to.
    external_names: BTreeMap<String, AccountKey>,
}

impl Default for Snapshot {
    fn default() -> Self {
        Self::empty(0)
    }
}

impl Snapshot {
    /// Nothing but passthrough.
    pub fn empty(revision: i64) -> Self {
        Self {
            revision,
            virtual_clusters: BTreeMap::from([(PASSTHROUGH.into(), VirtualCluster::passthrough())]),
            service_accounts: BTreeMap::new(),
            alias_topics: BTreeMap::new(),
            revoked_tokens: BTreeMap::new(),
            partner_zones: BTreeMap::new(),
            zone_tokens: BTreeMap::new(),
            external_names: BTreeMap::new(),
        }
    }

    /// Whether the gateway token with this id (`jti`) was revoked.
    pub fn is_token_revoked(&self, token_id: &str) -> bool {
        self.revoked_tokens.contains_key(token_id)
    }

    /// A snapshot holding `resources`, checked as the store checks writes (prefix overlaps,
    /// references, unique external names), applied in dependency order. For tests of stages
    /// that read snapshots without a database.
    pub fn from_resources(
        revision: i64,
        resources: impl IntoIterator<Item = Resource>,
    ) -> Result<Self, StoreError> {
        let mut resources: Vec<Resource> = resources.into_iter().collect();
        resources.sort_by_key(Resource::kind);
        let mut s = Self::empty(revision);
        for r in resources {
            s.upsert(r)?;
        }
        Ok(s)
    }

    pub fn virtual_cluster(&self, name: &str) -> Option<&VirtualCluster> {
        self.virtual_clusters.get(name)
    }

    pub fn service_account(&self, vcluster: &str, name: &str) -> Option<&ServiceAccount> {
        self.service_accounts.get(&AccountKey {
            vcluster: vcluster.into(),
            name: name.into(),
        })
    }

    /// The EXTERNAL account an external principal (mTLS subject, OIDC subject, ...) maps to.
    pub fn service_account_by_external_name(&self, external: &str) -> Option<&ServiceAccount> {
        self.external_names
            .get(external)
            .and_then(|k| self.service_accounts.get(k))
    }

    /// The accounts of one virtual cluster.
    pub fn service_accounts_in<'a>(
        &'a self,
        vcluster: &'a str,
    ) -> impl Iterator<Item = &'a ServiceAccount> + 'a {
        self.service_accounts
            .values()
            .filter(move |a| a.vcluster == vcluster)
    }

    pub fn alias_topic(&self, vcluster: &str, name: &str) -> Option<&AliasTopic> {
        self.alias_topics
            .get(&(vcluster.to_string(), name.to_string()))
    }

    /// The alias topics of one virtual cluster, by name.
    pub fn alias_topics_in<'a>(
        &'a self,
        vcluster: &'a str,
    ) -> impl Iterator<Item = &'a AliasTopic> + 'a {
        self.alias_topics
            .range((vcluster.to_string(), String::new())..)
            .take_while(move |((v, _), _)| v == vcluster)
            .map(|(_, a)| a)
    }

    pub fn get(&self, key: &ResourceKey) -> Option<Resource> {
        match key.kind {
            Kind::VirtualCluster => self
                .virtual_clusters
                .get(&key.name)
                .cloned()
                .map(Resource::VirtualCluster),
            Kind::GatewayServiceAccount => self
                .service_account(&key.vcluster, &key.name)
                .cloned()
                .map(Resource::ServiceAccount),
            Kind::AliasTopic => self
                .alias_topic(&key.vcluster, &key.name)
                .cloned()
                .map(Resource::AliasTopic),
        }
    }

    /// Every resource of a kind, in key order. Passthrough is built in, not a resource: it is
    /// not listed.
    pub fn list(&self, kind: Kind) -> Vec<Resource> {
        match kind {
            Kind::VirtualCluster => self
                .virtual_clusters
                .values()
                .filter(|v| !v.is_passthrough())
                .cloned()
                .map(Resource::VirtualCluster)
                .collect(),
            Kind::GatewayServiceAccount => self
                .service_accounts
                .values()
                .cloned()
                .map(Resource::ServiceAccount)
                .collect(),
            Kind::AliasTopic => self
                .alias_topics
                .values()
                .cloned()
                .map(Resource::AliasTopic)
                .collect(),
        }
    }

    /// Puts a resource as loaded from the database (already validated when it was written).
    pub(crate) fn insert_loaded(&mut self, r: Resource) {
        match r {
            Resource::VirtualCluster(v) => {
                self.virtual_clusters.insert(v.name.clone(), v);
            }
            Resource::ServiceAccount(a) => {
                let key = account_key(&a);
                for n in &a.external_names {
                    self.external_names.insert(n.clone(), key.clone());
                }
                self.service_accounts.insert(key, a);
            }
            Resource::AliasTopic(a) => {
                self.alias_topics
                    .insert((a.vcluster.clone(), a.name.clone()), a);
            }
        }
    }

    /// Checks `r` against this state and applies it.
    pub(crate) fn upsert(&mut self, r: Resource) -> Result<UpsertResult, StoreError> {
        let result = match self.get(&r.key()) {
            None => UpsertResult::Created,
            Some(old) if old == r => return Ok(UpsertResult::NotChanged),
            Some(_) => UpsertResult::Updated,
        };
        match r {
            Resource::VirtualCluster(v) => {
                if v.is_passthrough() {
                    return Err(passthrough_is_built_in("metadata.name"));
                }
                self.check_aliases_under(&v)?;
                if let Some(other) = self.virtual_clusters.values().find(|o| {
                    !o.is_passthrough()
                        && o.name != v.name
                        && (o.prefix.starts_with(&v.prefix) || v.prefix.starts_with(&o.prefix))
                }) {
                    return Err(StoreError::Conflict(format!(
                        "spec.prefix: '{}' overlaps the prefix '{}' of virtual cluster '{}': one tenant would see the other's topics, groups and transactional ids",
                        v.prefix, other.prefix, other.name
                    )));
                }
                self.virtual_clusters.insert(v.name.clone(), v);
            }
            Resource::ServiceAccount(a) => {
                if !self.virtual_clusters.contains_key(&a.vcluster) {
                    return Err(StoreError::Invalid {
                        field: "metadata.vCluster".into(),
                        reason: format!("no virtual cluster named '{}'", a.vcluster),
                    });
                }
                let key = account_key(&a);
                for (i, n) in a.external_names.iter().enumerate() {
                    if let Some(other) = self.external_names.get(n).filter(|o| **o != key) {
                        return Err(StoreError::Conflict(format!(
                            "spec.externalNames[{i}]: '{n}' already maps to service account '{}' in virtual cluster '{}'",
                            other.name, other.vcluster
                        )));
                    }
                }
                if let Some(old) = self.service_accounts.remove(&key) {
                    for n in &old.external_names {
                        self.external_names.remove(n);
                    }
                }
                self.insert_loaded(Resource::ServiceAccount(a));
            }
            Resource::AliasTopic(a) => {
                self.check_alias(&a)?;
                self.insert_loaded(Resource::AliasTopic(a));
            }
        }
        Ok(result)
    }

    /// Checks that `key` may be deleted (it exists, nothing refers to it) and deletes it.
    pub(crate) fn delete(
        &mut self,
        key: &ResourceKey,
        pinned: &BTreeSet<String>,
    ) -> Result<Resource, StoreError> {
        if key.kind == Kind::VirtualCluster && key.name == PASSTHROUGH {
            return Err(passthrough_is_built_in("metadata.name"));
        }
        let Some(existing) = self.get(key) else {
            return Err(StoreError::NotFound(format!("no {key}")));
        };
        match key.kind {
            Kind::VirtualCluster => {
                let accounts: Vec<&str> = self
                    .service_accounts_in(&key.name)
                    .map(|a| a.name.as_str())
                    .collect();
                let aliases: Vec<&str> = self
                    .alias_topics_in(&key.name)
                    .map(|a| a.name.as_str())
                    .collect();
                let mut referrers = Vec::new();
                if !accounts.is_empty() {
                    referrers.push(format!("service accounts {}", quoted(&accounts)));
                }
                if !aliases.is_empty() {
                    referrers.push(format!("alias topics {}", quoted(&aliases)));
                }
                if pinned.contains(&key.name) {
                    referrers.push("a route of the gateway configuration".into());
                }
                if !referrers.is_empty() {
                    return Err(StoreError::Conflict(format!(
                        "virtual cluster '{}' is still referenced by {}: delete or move them first",
                        key.name,
                        referrers.join(" and ")
                    )));
                }
                self.virtual_clusters.remove(&key.name);
            }
            Kind::GatewayServiceAccount => {
                if let Some(old) = self.service_accounts.remove(&AccountKey {
                    vcluster: key.vcluster.clone(),
                    name: key.name.clone(),
                }) {
                    for n in &old.external_names {
                        self.external_names.remove(n);
                    }
                }
            }
            Kind::AliasTopic => {
                self.alias_topics
                    .remove(&(key.vcluster.clone(), key.name.clone()));
            }
        }
        Ok(existing)
    }
}

/// A snapshot answers token verification's revocation question, so the data plane can pass the
/// snapshot it already holds: `key.verify(token, user, now, &*snapshot)`.
impl gatehouse_auth::tokens::Revocations for Snapshot {
    fn is_revoked(&self, token_id: &str) -> bool {
        self.is_token_revoked(token_id)
    }
}

fn account_key(a: &ServiceAccount) -> AccountKey {
    AccountKey {
        vcluster: a.vcluster.clone(),
        name: a.name.clone(),
    }
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vc(name: &str, prefix: &str) -> Resource {
        Resource::from_document(&json!({
            "apiVersion": "gateway/v2", "kind": "VirtualCluster",
            "metadata": {"name": name}, "spec": {"prefix": prefix},
        }))
        .unwrap()
    }

    fn ext(vcluster: &str, name: &str, names: &[&str]) -> Resource {
        Resource::from_document(&json!({
            "apiVersion": "gateway/v2", "kind": "GatewayServiceAccount",
            "metadata": {"name": name, "vCluster": vcluster},
            "spec": {"type": "EXTERNAL", "externalNames": names},
        }))
        .unwrap()
    }

    #[test]
    fn upsert_results() {
        let mut s = Snapshot::empty(0);
        assert_eq!(s.upsert(vc("a", "a.")).unwrap(), UpsertResult::Created);
        assert_eq!(s.upsert(vc("a", "a.")).unwrap(), UpsertResult::NotChanged);
        assert_eq!(s.upsert(vc("a", "aa.")).unwrap(), UpsertResult::Updated);
    }

    #[test]
    fn overlapping_prefixes_conflict_both_ways() {
        let mut s = Snapshot::empty(0);
        s.upsert(vc("a", "a.")).unwrap();
        for (name, prefix) in [("ab", "a.b."), ("x", "a"), ("y", "a.")] {
            match s.upsert(vc(name, prefix)) {
                Err(StoreError::Conflict(m)) => assert!(m.contains("virtual cluster 'a'"), "{m}"),
                other => panic!("{prefix}: {other:?}"),
            }
        }
        assert_eq!(s.upsert(vc("b", "b.")).unwrap(), UpsertResult::Created);
    }

    #[test]
    fn external_names_are_unique_across_the_store() {
        let mut s = Snapshot::empty(0);
        s.upsert(vc("a", "a.")).unwrap();
        s.upsert(ext("a", "one", &["CN=x"])).unwrap();
        assert!(matches!(
            s.upsert(ext(PASSTHROUGH, "two", &["CN=x"])),
            Err(StoreError::Conflict(_))
        ));
        // The same account may keep its own names; renaming frees the old one.
        assert_eq!(
            s.upsert(ext("a", "one", &["CN=y"])).unwrap(),
            UpsertResult::Updated
        );
        assert_eq!(
            s.upsert(ext(PASSTHROUGH, "two", &["CN=x"])).unwrap(),
            UpsertResult::Created
        );
        assert_eq!(
            s.service_account_by_external_name("CN=y").unwrap().name,
            "one"
        );
    }

    #[test]
    fn referenced_vclusters_cannot_be_deleted() {
        let mut s = Snapshot::empty(0);
        s.upsert(vc("a", "a.")).unwrap();
        s.upsert(ext("a", "one", &["CN=x"])).unwrap();
        let key = ResourceKey::virtual_cluster("a");
        let m = s.delete(&key, &BTreeSet::new()).unwrap_err().to_string();
        assert!(m.contains("'one'"), "{m}");
        s.delete(&ResourceKey::service_account("a", "one"), &BTreeSet::new())
            .unwrap();
        let m = s
            .delete(&key, &BTreeSet::from(["a".to_string()]))
            .unwrap_err()
            .to_string();
        assert!(m.contains("route"), "{m}");
        s.delete(&key, &BTreeSet::new()).unwrap();
        assert!(matches!(
            s.delete(&key, &BTreeSet::new()),
            Err(StoreError::NotFound(_))
        ));
        let m = s
            .delete(&ResourceKey::virtual_cluster(PASSTHROUGH), &BTreeSet::new())
            .unwrap_err();
        assert!(m.to_string().contains("built-in"));
    }

    #[test]
    fn from_resources_orders_and_checks() {
        let s = Snapshot::from_resources(7, [ext("a", "one", &["CN=x"]), vc("a", "a.")]).unwrap();
        assert_eq!(s.revision, 7);
        assert_eq!(
            s.service_account_by_external_name("CN=x").unwrap().vcluster,
            "a"
        );
        assert!(Snapshot::from_resources(1, [vc("a", "a."), vc("b", "a.b.")]).is_err());
    }

    #[test]
    fn accounts_need_their_vcluster() {
        let mut s = Snapshot::empty(0);
        let e = s.upsert(ext("nope", "one", &["CN=x"])).unwrap_err();
        assert!(e.to_string().starts_with("metadata.vCluster: "), "{e}");
        assert_eq!(
            s.upsert(ext(PASSTHROUGH, "one", &["CN=x"])).unwrap(),
            UpsertResult::Created
        );
    }
}
