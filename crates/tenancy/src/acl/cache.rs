//! Decisions already taken, per (principal, host, operation, resource type, name), for the
//! life of one [`Acls`](super::Acls) value: a new set of ACLs is a new value with an empty
//! cache, so nothing is ever invalidated in place.
//!
//! A [`DashMap`] rather than a `Mutex<HashMap>`: every connection of a tenant asks it on
//! every request that names a resource, from every runtime thread at once, and dashmap's
//! sharded read locks let hits proceed in parallel where one mutex would serialise them.
//! Lookups take the key borrowed (`&str`s), through [`KeyView`], so a hit allocates nothing.
//!
//! Bounded: a client naming random topics adds one entry per name. Once [`MAX_DECISIONS`]
//! have been stored the cache is emptied and starts over; the bound is approximate by at most
//! the number of threads inserting at that moment. Memory stays bounded, decisions stay
//! correct (a miss only recomputes), and a tenant's hot keys come back after one miss each.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::DashMap;

use super::{Operation, ResourceType};

/// Most decisions one [`Acls`](super::Acls) keeps (at roughly 100 bytes each with names of
/// typical length, about a megabyte).
pub const MAX_DECISIONS: usize = 10_000;

/// What a decision is about, owned (stored in the map).
#[derive(Debug)]
struct DecisionKey {
    principal: Box<str>,
    host: IpAddr,
    operation: Operation,
    resource_type: ResourceType,
    name: Box<str>,
}

/// What a decision is about, borrowed (asked with).
pub(super) struct Question<'a> {
    pub principal: &'a str,
    pub host: IpAddr,
    pub operation: Operation,
    pub resource_type: ResourceType,
    pub name: &'a str,
}

/// The parts of a key, owned or borrowed, so the map can be asked with borrowed ones.
trait KeyView {
    fn parts(&self) -> (&str, IpAddr, Operation, ResourceType, &str);
}

impl KeyView for DecisionKey {
    fn parts(&self) -> (&str, IpAddr, Operation, ResourceType, &str) {
        (
            &self.principal,
            self.host,
            self.operation,
            self.resource_type,
            &self.name,
        )
    }
}

impl KeyView for Question<'_> {
    fn parts(&self) -> (&str, IpAddr, Operation, ResourceType, &str) {
        (
            self.principal,
            self.host,
            self.operation,
            self.resource_type,
            self.name,
        )
    }
}

// Owned and borrowed keys hash and compare through the same parts, as `Borrow` requires.
impl Hash for dyn KeyView + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parts().hash(state)
    }
}

impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn KeyView + '_ {}

impl Hash for DecisionKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self as &dyn KeyView).hash(state)
    }
}

impl PartialEq for DecisionKey {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for DecisionKey {}

impl<'a> Borrow<dyn KeyView + 'a> for DecisionKey {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

/// The decisions of one set of ACLs.
#[derive(Default)]
pub(super) struct DecisionCache {
    decisions: DashMap<DecisionKey, bool>,
    /// Decisions stored since the cache was last emptied (dashmap's `len` visits every shard).
    stored: AtomicUsize,
}

impl DecisionCache {
    pub fn get(&self, q: &Question<'_>) -> Option<bool> {
        self.decisions
            .get(q as &dyn KeyView)
            .map(|allowed| *allowed)
    }

    pub fn insert(&self, q: &Question<'_>, allowed: bool) {
        if self.stored.fetch_add(1, Ordering::Relaxed) >= MAX_DECISIONS {
            self.decisions.clear();
            self.stored.store(1, Ordering::Relaxed);
        }
        let key = DecisionKey {
            principal: q.principal.into(),
            host: q.host,
            operation: q.operation,
            resource_type: q.resource_type,
            name: q.name.into(),
        };
        self.decisions.insert(key, allowed);
    }

    /// Decisions held now.
    pub fn len(&self) -> usize {
        self.decisions.len()
    }
}
