//! The rules an alias topic follows against the rest of the store: its virtual cluster exists;
//! it stays on the domain it was created on; it does not name the tenant's own topics; a WRITE
//! alias is on the home domain; it is not an alias of another alias; and no two aliases of one
//! virtual cluster point at the same physical topic. A virtual cluster's change (prefix, home
//! domain) is checked against its aliases by the same rules.
//!
//! Every refusal is a conflict whose message starts with the field at fault. Which streaming
//! domains exist is the process configuration's business (see `crate::configured`).

use super::Snapshot;
use crate::resource::{AliasAccess, AliasTopic, VirtualCluster};
use crate::StoreError;

fn conflict(field: &str, reason: String) -> StoreError {
    StoreError::Conflict(format!("{field}: {reason}"))
}

/// A domain as the messages name it.
fn shown(domain: Option<&str>) -> String {
    match domain {
        Some(d) => format!("domain '{d}'"),
        None => "the domain of the route the client connects through (no homeDomain)".into(),
    }
}

/// Its physical name is one of the tenant's own topics (under the prefix): the tenant sees
/// that topic already, and would see it twice.
fn under_own_prefix(vc: &VirtualCluster, a: &AliasTopic) -> Option<String> {
    let rest = a.physical_name.strip_prefix(vc.prefix.as_str())?;
    Some(format!(
        "'{}' is virtual cluster '{}''s own topic '{rest}' (under its prefix '{}'): an alias names a topic outside the tenant's prefix",
        a.physical_name, vc.name, vc.prefix
    ))
}

/// A WRITE alias off the home domain: producer ids and transactions are issued per cluster, so
/// a tenant writes to one domain only.
fn write_off_home(vc: &VirtualCluster, a: &AliasTopic) -> Option<String> {
    if a.access != AliasAccess::Write {
        return None;
    }
    let d = a.physical_cluster.as_deref()?;
    match vc.home_domain.as_deref() {
        Some(home) if home == d => None,
        Some(home) => Some(format!(
            "a WRITE alias must be on virtual cluster '{}''s home domain '{home}', not '{d}' (producer ids and transactions are issued per cluster); use READ, or leave physicalCluster unset",
            vc.name
        )),
        None => Some(format!(
            "virtual cluster '{}' declares no homeDomain, so a WRITE alias must leave physicalCluster unset (its home is the domain of the route the client connects through), not name '{d}'",
            vc.name
        )),
    }
}

/// The rules between `a` and the other aliases of its virtual cluster, as (field, reason).
fn against_others<'a>(
    vc: &VirtualCluster,
    a: &AliasTopic,
    others: impl Iterator<Item = &'a AliasTopic>,
) -> Result<(), (&'static str, String)> {
    let home = vc.home_domain.as_deref();
    for b in others.filter(|b| b.name != a.name) {
        if b.name == a.physical_name {
            return Err(("spec.physicalName", format!(
                "'{}' is an alias topic of virtual cluster '{}' (→ '{}'): an alias names a physical topic, not another alias",
                b.name, vc.name, b.physical_name
            )));
        }
        if b.physical_name == a.name {
            return Err(("metadata.name", format!(
                "alias topic '{}' of virtual cluster '{}' points at a physical topic named '{}': an alias cannot be named like another alias's target (it would read as an alias of an alias)",
                b.name, vc.name, a.name
            )));
        }
        if b.physical_name == a.physical_name && b.domain(home) == a.domain(home) {
            return Err(("spec.physicalName", format!(
                "alias topic '{}' of virtual cluster '{}' already points at '{}' on {}: one physical topic has one name per virtual cluster",
                b.name, vc.name, a.physical_name, shown(a.domain(home))
            )));
        }
    }
    Ok(())
}

impl Snapshot {
    /// Checks a new or changed alias topic against the state.
    pub(super) fn check_alias(&self, a: &AliasTopic) -> Result<(), StoreError> {
        let Some(vc) = self.virtual_clusters.get(&a.vcluster) else {
            return Err(StoreError::Invalid {
                field: "metadata.vCluster".into(),
                reason: format!("no virtual cluster named '{}'", a.vcluster),
            });
        };
        let home = vc.home_domain.as_deref();
        if let Some(old) = self.alias_topic(&a.vcluster, &a.name) {
            if old.domain(home) != a.domain(home) {
                return Err(conflict("spec.physicalCluster", format!(
                    "alias topic '{}' of virtual cluster '{}' is on {}; an alias cannot move to {} (its consumers' offsets are committed on its domain): delete it and create it again",
                    a.name, a.vcluster, shown(old.domain(home)), shown(a.domain(home))
                )));
            }
        }
        if let Some(why) = under_own_prefix(vc, a) {
            return Err(conflict("spec.physicalName", why));
        }
        if let Some(why) = write_off_home(vc, a) {
            return Err(conflict("spec.physicalCluster", why));
        }
        against_others(vc, a, self.alias_topics_in(&a.vcluster))
            .map_err(|(field, why)| conflict(field, why))
    }

    /// Checks a changed virtual cluster against its aliases: a prefix that would take in an
    /// alias's physical topic, a home domain that would move an alias (physicalCluster unset)
    /// from one declared domain to another, or leave a WRITE alias off the home domain, or make
    /// two aliases point at one topic.
    pub(super) fn check_aliases_under(&self, v: &VirtualCluster) -> Result<(), StoreError> {
        let Some(old) = self.virtual_clusters.get(&v.name) else {
            return Ok(());
        };
        let (before, after) = (old.home_domain.as_deref(), v.home_domain.as_deref());
        for a in self.alias_topics_in(&v.name) {
            let why =
                |reason: String| format!("alias topic '{}' would be refused: {reason}", a.name);
            if let Some(reason) = under_own_prefix(v, a) {
                return Err(conflict("spec.prefix", why(reason)));
            }
            // Declaring the home domain for the first time moves nothing that was declared.
            if before.is_some() && a.domain(before) != a.domain(after) {
                return Err(conflict("spec.homeDomain", format!(
                    "alias topic '{}' (physicalCluster unset) would move from {} to {}: an alias cannot change its domain; delete it first (or set its physicalCluster)",
                    a.name, shown(a.domain(before)), shown(a.domain(after))
                )));
            }
            if let Some(reason) = write_off_home(v, a) {
                return Err(conflict("spec.homeDomain", why(reason)));
            }
            if let Err((_, reason)) = against_others(v, a, self.alias_topics_in(&v.name)) {
                return Err(conflict("spec.homeDomain", why(reason)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{Resource, ResourceKey};
    use crate::UpsertResult;
    use serde_json::{json, Value};
    use std::collections::BTreeSet;

    fn vc(name: &str, home: Option<&str>) -> Resource {
        let mut spec = json!({"prefix": format!("{name}.")});
        if let Some(h) = home {
            spec["homeDomain"] = json!(h);
        }
        Resource::from_document(&json!({
            "apiVersion": "gateway/v2", "kind": "VirtualCluster",
            "metadata": {"name": name}, "spec": spec,
        }))
        .unwrap()
    }

    fn alias(vcluster: &str, name: &str, physical: &str, spec: Value) -> Resource {
        let mut spec = spec;
        spec["physicalName"] = json!(physical);
        Resource::from_document(&json!({
            "apiVersion": "gateway/v2", "kind": "AliasTopic",
            "metadata": {"name": name, "vCluster": vcluster}, "spec": spec,
        }))
        .unwrap()
    }

    /// The field a conflict names (its message starts with it).
    fn conflict_field(e: StoreError) -> String {
        match e {
            StoreError::Conflict(m) => m.split(':').next().unwrap().to_string(),
            other => panic!("expected a conflict, got {other:?}"),
        }
    }

    fn partner(home: Option<&str>) -> Snapshot {
        let mut s = Snapshot::empty(0);
        s.upsert(vc("partner-a", home)).unwrap();
        s.upsert(alias("partner-a", "orders", "sales.orders", json!({})))
            .unwrap();
        s
    }

    #[test]
    fn upsert_results_and_the_vcluster_must_exist() {
        let mut s = partner(Some("d1"));
        let orders = s.alias_topic("partner-a", "orders").unwrap().clone();
        assert_eq!(orders.access, AliasAccess::Read);
        assert_eq!(orders.physical_cluster, None);
        let same = alias(
            "partner-a",
            "orders",
            "sales.orders",
            json!({"access": "READ"}),
        );
        assert_eq!(s.upsert(same).unwrap(), UpsertResult::NotChanged);
        let write = alias(
            "partner-a",
            "orders",
            "sales.orders",
            json!({"access": "WRITE"}),
        );
        assert_eq!(s.upsert(write).unwrap(), UpsertResult::Updated);
        let e = s
            .upsert(alias("nope", "x", "y", json!({})))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("metadata.vCluster: no virtual cluster named 'nope'"),
            "{e}"
        );
    }

    #[test]
    fn an_alias_of_an_alias_is_refused_either_way_round() {
        let mut s = partner(None);
        // Its physical name is another alias's name.
        let e = s
            .upsert(alias("partner-a", "x", "orders", json!({})))
            .unwrap_err();
        assert_eq!(conflict_field(e), "spec.physicalName");
        // Its name is another alias's physical name.
        let e = s
            .upsert(alias("partner-a", "sales.orders", "other", json!({})))
            .unwrap_err();
        assert_eq!(conflict_field(e), "metadata.name");
        // An alias may have its physical topic's own name; other vclusters are not concerned.
        s.upsert(alias(
            "partner-a",
            "returns",
            "returns",
            json!({"physicalCluster": "d2"}),
        ))
        .unwrap();
        s.upsert(vc("partner-b", None)).unwrap();
        s.upsert(alias("partner-b", "x", "orders", json!({})))
            .unwrap();
        assert_eq!(s.alias_topics_in("partner-a").count(), 2);
    }

    #[test]
    fn two_aliases_may_not_point_at_one_topic_of_one_domain() {
        let mut s = partner(Some("d1"));
        let e = s
            .upsert(alias("partner-a", "again", "sales.orders", json!({})))
            .unwrap_err();
        assert_eq!(conflict_field(e), "spec.physicalName");
        // physicalCluster naming the home domain is the home domain.
        let e = s
            .upsert(alias(
                "partner-a",
                "again",
                "sales.orders",
                json!({"physicalCluster": "d1"}),
            ))
            .unwrap_err();
        assert_eq!(conflict_field(e), "spec.physicalName");
        // The same name on another domain is another topic.
        s.upsert(alias(
            "partner-a",
            "again",
            "sales.orders",
            json!({"physicalCluster": "d2"}),
        ))
        .unwrap();
    }

    #[test]
    fn an_alias_of_the_tenants_own_topic_is_refused() {
        let mut s = partner(None);
        let e = s
            .upsert(alias("partner-a", "inbox2", "partner-a.inbox", json!({})))
            .unwrap_err();
        assert_eq!(conflict_field(e), "spec.physicalName");
        // Nor may the prefix change to take in an alias's topic.
        let e = s
            .upsert(
                Resource::from_document(&json!({
                    "apiVersion": "gateway/v2", "kind": "VirtualCluster",
                    "metadata": {"name": "partner-a"}, "spec": {"prefix": "sales."},
                }))
                .unwrap(),
            )
            .unwrap_err();
        assert_eq!(conflict_field(e), "spec.prefix");
    }

    #[test]
    fn write_aliases_live_on_the_home_domain() {
        let mut s = partner(Some("d1"));
        let w = |d: Option<&str>| {
            let mut spec = json!({"access": "WRITE"});
            if let Some(d) = d {
                spec["physicalCluster"] = json!(d);
            }
            alias("partner-a", "feedback", "partner-feedback", spec)
        };
        let e = s.upsert(w(Some("d2"))).unwrap_err();
        assert_eq!(conflict_field(e), "spec.physicalCluster");
        s.upsert(w(Some("d1"))).unwrap();
        // Without a declared home domain, a WRITE alias leaves physicalCluster unset.
        let mut s = partner(None);
        let e = s.upsert(w(Some("d1"))).unwrap_err();
        assert_eq!(conflict_field(e), "spec.physicalCluster");
        s.upsert(w(None)).unwrap();
        // READ aliases may point anywhere.
        s.upsert(alias(
            "partner-a",
            "returns",
            "returns",
            json!({"physicalCluster": "d2"}),
        ))
        .unwrap();
    }

    #[test]
    fn an_alias_cannot_change_its_domain() {
        let mut s = partner(Some("d1"));
        let moved = alias(
            "partner-a",
            "orders",
            "sales.orders",
            json!({"physicalCluster": "d2"}),
        );
        let e = s.upsert(moved.clone()).unwrap_err();
        assert_eq!(conflict_field(e), "spec.physicalCluster");
        // Naming the home domain it already is on is no move.
        let named = alias(
            "partner-a",
            "orders",
            "sales.orders",
            json!({"physicalCluster": "d1"}),
        );
        assert_eq!(s.upsert(named).unwrap(), UpsertResult::Updated);
        // Delete and recreate.
        s.delete(
            &ResourceKey::alias_topic("partner-a", "orders"),
            &BTreeSet::new(),
        )
        .unwrap();
        assert_eq!(s.upsert(moved).unwrap(), UpsertResult::Created);
    }

    #[test]
    fn a_home_domain_change_may_not_move_or_break_aliases() {
        let mut s = partner(Some("d1"));
        // `orders` has no physicalCluster: it would move from d1 to d3.
        let e = s.upsert(vc("partner-a", Some("d3"))).unwrap_err();
        assert_eq!(conflict_field(e), "spec.homeDomain");
        // Declaring a home domain for the first time moves nothing that was declared ...
        let mut s = partner(None);
        s.upsert(alias(
            "partner-a",
            "feedback",
            "fb",
            json!({"access": "WRITE"}),
        ))
        .unwrap();
        s.upsert(alias(
            "partner-a",
            "dup",
            "sales.orders",
            json!({"physicalCluster": "d1"}),
        ))
        .unwrap();
        // ... but may not make two aliases point at one topic.
        let e = s.upsert(vc("partner-a", Some("d1"))).unwrap_err();
        assert_eq!(conflict_field(e), "spec.homeDomain");
        s.delete(
            &ResourceKey::alias_topic("partner-a", "dup"),
            &BTreeSet::new(),
        )
        .unwrap();
        assert_eq!(
            s.upsert(vc("partner-a", Some("d1"))).unwrap(),
            UpsertResult::Updated
        );
        // A WRITE alias pinned to the home domain keeps it there.
        s.upsert(alias(
            "partner-a",
            "feedback",
            "fb",
            json!({"access": "WRITE", "physicalCluster": "d1"}),
        ))
        .unwrap();
        s.upsert(alias(
            "partner-a",
            "orders",
            "sales.orders",
            json!({"physicalCluster": "d1"}),
        ))
        .unwrap();
        let e = s.upsert(vc("partner-a", None)).unwrap_err();
        assert_eq!(conflict_field(e), "spec.homeDomain");
    }

    #[test]
    fn a_vcluster_with_aliases_cannot_be_deleted() {
        let mut s = partner(None);
        let key = ResourceKey::virtual_cluster("partner-a");
        let e = s.delete(&key, &BTreeSet::new()).unwrap_err().to_string();
        assert!(e.contains("alias topics 'orders'"), "{e}");
        s.delete(
            &ResourceKey::alias_topic("partner-a", "orders"),
            &BTreeSet::new(),
        )
        .unwrap();
        s.delete(&key, &BTreeSet::new()).unwrap();
    }

    #[test]
    fn from_resources_applies_aliases_after_their_vcluster() {
        let s = Snapshot::from_resources(
            3,
            [
                alias("partner-a", "orders", "sales.orders", json!({})),
                vc("partner-a", None),
            ],
        )
        .unwrap();
        assert_eq!(s.alias_topics_in("partner-a").count(), 1);
        assert_eq!(s.alias_topics_in("partner").count(), 0);
    }
}
