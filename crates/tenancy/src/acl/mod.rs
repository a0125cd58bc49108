//! Gateway-side ACLs: Kafka's authorization model, evaluated per virtual cluster, with no I/O.
//!
//! A tenant's [`Acls`] are its entries ([`AclEntry`]) and its super users. A decision follows
//! Kafka's authorizer (AclAuthorizer, and StandardAuthorizer under KRaft) with
//! `allow.everyone.if.no.acl.found=false`:
//!
//! 1. a super user is allowed everything;
//! 2. the entries that apply are those of the resource type whose pattern covers the name
//!    (LITERAL: the name itself or `*`; PREFIXED: a start of the name), whose principal is the
//!    client's (`User:<name>`) or `User:*`, and whose host is the client's address or `*`;
//! 3. a DENY for the operation (or for ALL) refuses, whatever the ALLOWs say;
//! 4. otherwise an ALLOW that grants the operation allows: the operation itself, ALL, and for
//!    DESCRIBE also READ, WRITE, DELETE and ALTER, for DESCRIBE_CONFIGS also ALTER_CONFIGS
//!    ([`Operation::allow_grants`]);
//! 5. nothing else is allowed.
//!
//! Names are the tenant's own (an unprefixed topic, group or transactional id; an alias
//! name), never the physical names upstream: the data plane asks before it maps a name.
//!
//! Decisions are cached per (principal, host, operation, resource type, name) in the `Acls`
//! value itself ([`cache`]); ACLs that change are a new `Acls`, with an empty cache. Requests
//! whose principal no entry names, or whose resource type no entry is about, are refused
//! without touching the cache. A resource type with fewer than [`CACHE_FROM_ENTRIES`]
//! entries is not cached either: scanning them costs less than a cache lookup (measured by
//! `cache_tests::timing`: about 10 ns per entry scanned, about 75 ns per cache hit).

mod cache;
#[cfg(test)]
mod cache_tests;
mod client;
pub mod kafka_api;
#[cfg(test)]
mod tests;
mod types;

pub use cache::MAX_DECISIONS;
pub use client::{refusal_error, ClientAcls, ANONYMOUS, MEMO_DECISIONS};

/// Fewest entries of a resource type for which decisions are cached (below it, the scan is
/// cheaper than the lookup).
pub const CACHE_FROM_ENTRIES: usize = 12;
pub use types::{
    AclEntry, AclHost, AclPrincipal, Operation, PatternType, Permission, ResourceType,
    CLUSTER_NAME, WILDCARD,
};

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

use cache::{DecisionCache, Question};

/// One virtual cluster's ACLs and super users, and the decisions taken on them so far.
pub struct Acls {
    entries: Vec<AclEntry>,
    super_users: BTreeSet<String>,
    /// Indices into `entries`, per resource type (in [`ResourceType::ALL_VALUES`] order).
    by_type: [Vec<usize>; 4],
    /// The user names entries name, and whether one names `User:*`: a principal in neither
    /// is refused at once. Sorted, searched by bisection: cheaper than hashing the name for
    /// the handful of principals a virtual cluster has.
    named: Vec<String>,
    any_user: bool,
    /// Whether some entry names a host: if none does, the client's address cannot change a
    /// decision and is left out of the cache key, so every client shares one decision.
    names_hosts: bool,
    /// Per resource type (as `by_type`): whether its decisions are cached.
    cached: [bool; 4],
    cache: DecisionCache,
}

/// The address cache keys hold when no entry names a host.
const ANY_HOST: IpAddr = IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED);

fn slot(t: ResourceType) -> usize {
    match t {
        ResourceType::Topic => 0,
        ResourceType::Group => 1,
        ResourceType::Cluster => 2,
        ResourceType::TransactionalId => 3,
    }
}

impl Acls {
    /// The ACLs of a virtual cluster: its entries and the user names of its super users
    /// (bare names, as `spec.superUsers` holds them, not `User:` principals).
    pub fn new<S: Into<String>>(
        entries: impl IntoIterator<Item = AclEntry>,
        super_users: impl IntoIterator<Item = S>,
    ) -> Acls {
        let entries: Vec<AclEntry> = entries.into_iter().collect();
        let mut by_type: [Vec<usize>; 4] = Default::default();
        let mut named = Vec::new();
        let mut any_user = false;
        for (i, e) in entries.iter().enumerate() {
            by_type[slot(e.resource_type)].push(i);
            match &e.principal {
                AclPrincipal::AnyUser => any_user = true,
                AclPrincipal::User(name) => named.push(name.clone()),
            }
        }
        named.sort_unstable();
        named.dedup();
        let names_hosts = entries.iter().any(|e| e.host != AclHost::Any);
        let cached = by_type.each_ref().map(|v| v.len() >= CACHE_FROM_ENTRIES);
        Acls {
            cached,
            names_hosts,
            entries,
            super_users: super_users.into_iter().map(Into::into).collect(),
            by_type,
            named,
            any_user,
            cache: DecisionCache::default(),
        }
    }

    /// The entries, in the order given.
    pub fn entries(&self) -> &[AclEntry] {
        &self.entries
    }

    pub fn super_users(&self) -> impl Iterator<Item = &str> {
        self.super_users.iter().map(String::as_str)
    }

    /// Whether `principal` (the authenticated user name) is a super user: it bypasses every
    /// ACL, and only it may manage them through the Kafka API.
    pub fn is_super_user(&self, principal: &str) -> bool {
        self.super_users.contains(principal)
    }

    /// Whether the user authenticated as `principal`, connected from `host`, may do
    /// `operation` on the resource of `resource_type` named `name` (the tenant's name; for
    /// CLUSTER, [`CLUSTER_NAME`]). Cached: the same question is answered from memory until
    /// these ACLs are replaced.
    pub fn authorize(
        &self,
        principal: &str,
        host: IpAddr,
        operation: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        if self.is_super_user(principal) {
            return true;
        }
        if !self.may_match(principal, resource_type) {
            return false;
        }
        let q = Question {
            principal,
            host: if self.names_hosts {
                host.to_canonical()
            } else {
                ANY_HOST
            },
            operation,
            resource_type,
            name,
        };
        if !self.cached[slot(resource_type)] {
            return self.decide(&q);
        }
        if let Some(allowed) = self.cache.get(&q) {
            return allowed;
        }
        let allowed = self.decide(&q);
        self.cache.insert(&q, allowed);
        allowed
    }

    /// Whether `principal` may DESCRIBE topic `name`: what Metadata, ListOffsets and the
    /// topic listings ask before they show a topic (a topic it may not describe is left out,
    /// as Kafka leaves it out).
    pub fn may_describe_topic(&self, principal: &str, host: IpAddr, name: &str) -> bool {
        self.authorize(
            principal,
            host,
            Operation::Describe,
            ResourceType::Topic,
            name,
        )
    }

    /// Whether `principal` may do `operation` on at least one resource of `resource_type`:
    /// Kafka's `authorizeByResourceType` (KIP-679). Only the operation itself and ALL count
    /// (no implications); a DENY on LITERAL `*` refuses; a LITERAL ALLOW counts unless a DENY
    /// names it or a PREFIXED DENY covers it; a PREFIXED ALLOW counts unless a PREFIXED DENY
    /// is a start of it. Not cached (asked once per producer, by InitProducerId).
    pub fn authorize_any(
        &self,
        principal: &str,
        host: IpAddr,
        operation: Operation,
        resource_type: ResourceType,
    ) -> bool {
        if self.is_super_user(principal) {
            return true;
        }
        let host = host.to_canonical();
        let applying = self.by_type[slot(resource_type)]
            .iter()
            .map(|&i| &self.entries[i])
            .filter(|e| {
                e.principal.matches(principal)
                    && e.host.matches(host)
                    && e.operation.deny_refuses(operation)
            });
        let (mut deny_literal, mut deny_prefix) = (Vec::new(), Vec::new());
        let (mut allow_literal, mut allow_prefix) = (Vec::new(), Vec::new());
        for e in applying {
            let list = match (e.permission, e.pattern) {
                (Permission::Deny, PatternType::Literal) => &mut deny_literal,
                (Permission::Deny, PatternType::Prefixed) => &mut deny_prefix,
                (Permission::Allow, PatternType::Literal) => &mut allow_literal,
                (Permission::Allow, PatternType::Prefixed) => &mut allow_prefix,
            };
            list.push(e.name.as_str());
        }
        if deny_literal.contains(&WILDCARD) {
            return false;
        }
        let prefix_denied = |name: &str| deny_prefix.iter().any(|d| name.starts_with(d));
        allow_prefix.iter().any(|p| !prefix_denied(p))
            || allow_literal
                .iter()
                .any(|l| *l == WILDCARD || (!deny_literal.contains(l) && !prefix_denied(l)))
    }

    /// Whether `principal` may produce idempotently and ask InitProducerId without a
    /// transactional id: IDEMPOTENT_WRITE on the cluster, or (Kafka 2.8 and later, KIP-679)
    /// WRITE on any topic.
    pub fn may_write_idempotently(&self, principal: &str, host: IpAddr) -> bool {
        self.authorize(
            principal,
            host,
            Operation::IdempotentWrite,
            ResourceType::Cluster,
            CLUSTER_NAME,
        ) || self.authorize_any(principal, host, Operation::Write, ResourceType::Topic)
    }

    /// Decisions held in the cache now.
    pub fn cached_decisions(&self) -> usize {
        self.cache.len()
    }

    /// Whether any entry could apply to `principal` on `resource_type` (false: refused
    /// without looking further).
    fn may_match(&self, principal: &str, resource_type: ResourceType) -> bool {
        !self.by_type[slot(resource_type)].is_empty()
            && (self.any_user
                || self
                    .named
                    .binary_search_by(|n| n.as_str().cmp(principal))
                    .is_ok())
    }

    /// The decision, computed from the entries (uncached).
    fn decide(&self, q: &Question<'_>) -> bool {
        let mut allowed = false;
        for &i in &self.by_type[slot(q.resource_type)] {
            let e = &self.entries[i];
            if !(e.principal.matches(q.principal) && e.host.matches(q.host) && e.covers(q.name)) {
                continue;
            }
            match e.permission {
                Permission::Deny if e.operation.deny_refuses(q.operation) => return false,
                Permission::Allow if e.operation.allow_grants(q.operation) => allowed = true,
                _ => {}
            }
        }
        allowed
    }
}

/// Two `Acls` are equal when their entries and super users are (the caches do not count).
impl PartialEq for Acls {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries && self.super_users == other.super_users
    }
}

impl Eq for Acls {}

impl fmt::Debug for Acls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acls")
            .field("entries", &self.entries)
            .field("super_users", &self.super_users)
            .field("cached_decisions", &self.cache.len())
            .finish()
    }
}
