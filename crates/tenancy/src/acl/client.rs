//! The ACLs as one client connection meets them: who it authenticated as and where it
//! connects from, fixed for the connection, so each check passes only the operation and the
//! resource.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use kafka_protocol::ResponseError;

use super::{AclEntry, AclPrincipal, Acls, Operation, ResourceType, CLUSTER_NAME};

/// The principal a client without authentication is (Kafka's `User:ANONYMOUS`).
pub const ANONYMOUS: &str = "ANONYMOUS";

/// Most decisions one connection remembers (a client names a handful of topics and one
/// group; past this the memo starts over and the shared cache answers).
pub const MEMO_DECISIONS: usize = 32;

/// One decision a connection took: (operation, resource type, name, allowed).
type Memo = Vec<(Operation, ResourceType, Box<str>, bool)>;

/// A client connection's authorizer: a virtual cluster's ACLs with the connection's
/// principal and address. A session whose ACLs cannot refuse it anything (no `aclEnabled`, a
/// super user) has none, and pays nothing per request. A session holds it behind one `Arc`
/// (cloned with the session on every request).
#[derive(Debug)]
pub struct ClientAcls {
    acls: Arc<Acls>,
    principal: Box<str>,
    host: IpAddr,
    /// The connection's own decisions, asked again on every request: a short scan under a
    /// lock only this connection takes is a tenth of a lookup in the shared cache, whose key
    /// must be hashed whole (measured with callgrind, README "Performance").
    memo: Mutex<Memo>,
}

impl ClientAcls {
    /// The authorizer of `principal` (its user name) connecting from `host` under `acls`;
    /// None for a super user, whom no ACL limits.
    pub fn new(acls: &Arc<Acls>, principal: &str, host: IpAddr) -> Option<ClientAcls> {
        (!acls.is_super_user(principal)).then(|| ClientAcls {
            acls: acls.clone(),
            principal: principal.into(),
            host,
            memo: Mutex::default(),
        })
    }

    pub fn principal(&self) -> &str {
        &self.principal
    }

    pub fn acls(&self) -> &Arc<Acls> {
        &self.acls
    }

    /// Whether the client may do `operation` on the `resource_type` named `name` (the
    /// tenant's name).
    pub fn allows(&self, operation: Operation, resource_type: ResourceType, name: &str) -> bool {
        let mut memo = self
            .memo
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let known = memo
            .iter()
            .find(|(o, t, n, _)| *o == operation && *t == resource_type && **n == *name);
        if let Some((.., allowed)) = known {
            return *allowed;
        }
        let allowed =
            (self.acls).authorize(&self.principal, self.host, operation, resource_type, name);
        if memo.len() == MEMO_DECISIONS {
            memo.clear();
        }
        memo.push((operation, resource_type, name.into(), allowed));
        allowed
    }

    /// Whether the client may do `operation` on the cluster.
    pub fn allows_on_cluster(&self, operation: Operation) -> bool {
        self.allows(operation, ResourceType::Cluster, CLUSTER_NAME)
    }

    /// CREATE on a topic: on the cluster (every topic) or on the topic itself.
    pub fn may_create_topic(&self, name: &str) -> bool {
        self.allows_on_cluster(Operation::Create)
            || self.allows(Operation::Create, ResourceType::Topic, name)
    }

    /// InitProducerId without a transactional id (see [`Acls::may_write_idempotently`]).
    pub fn may_write_idempotently(&self) -> bool {
        self.acls.may_write_idempotently(&self.principal, self.host)
    }

    /// Kafka's `authorized_operations` bit field for a resource (bit `code` set per operation
    /// allowed), as Metadata and the describe requests answer when asked to include it.
    pub fn authorized_operations(&self, resource_type: ResourceType, name: &str) -> i32 {
        use Operation::*;
        let candidates: &[Operation] = match resource_type {
            ResourceType::Topic => &[
                Read,
                Write,
                Create,
                Delete,
                Alter,
                Describe,
                DescribeConfigs,
                AlterConfigs,
            ],
            ResourceType::Group => &[Read, Delete, Describe, DescribeConfigs, AlterConfigs],
            ResourceType::TransactionalId => &[Write, Describe],
            ResourceType::Cluster => &[
                Create,
                Alter,
                Describe,
                ClusterAction,
                DescribeConfigs,
                AlterConfigs,
                IdempotentWrite,
            ],
        };
        (candidates.iter())
            .filter(|op| self.allows(**op, resource_type, name))
            .fold(0, |bits, op| bits | 1 << op.code())
    }

    /// Whether the entries that apply to this client changed between `self`'s ACLs and
    /// `newer` in a way that can take access away: an ALLOW that applied is gone, or a DENY
    /// now applies (or its principal stopped being a super user: it would have no
    /// authorizer before). Granting more is not a loss. A connection whose access may be lost
    /// ends, since a broker's fetch session goes on serving partitions to requests that no
    /// longer name them.
    pub fn may_lose_access(&self, newer: &Acls) -> bool {
        let applies = |e: &&AclEntry| match &e.principal {
            AclPrincipal::AnyUser => e.host.matches(self.host),
            AclPrincipal::User(n) => **n == *self.principal && e.host.matches(self.host),
        };
        let old: Vec<&AclEntry> = self.acls.entries().iter().filter(applies).collect();
        let new: Vec<&AclEntry> = newer.entries().iter().filter(applies).collect();
        let allow_gone = old
            .iter()
            .any(|e| e.permission == super::Permission::Allow && !new.contains(e));
        let deny_added = new
            .iter()
            .any(|e| e.permission == super::Permission::Deny && !old.contains(e));
        allow_gone || deny_added
    }
}

/// The error a refusal on `resource_type` carries (Kafka's, per resource type).
pub fn refusal_error(resource_type: ResourceType) -> ResponseError {
    match resource_type {
        ResourceType::Topic => ResponseError::TopicAuthorizationFailed,
        ResourceType::Group => ResponseError::GroupAuthorizationFailed,
        ResourceType::TransactionalId => ResponseError::TransactionalIdAuthorizationFailed,
        ResourceType::Cluster => ResponseError::ClusterAuthorizationFailed,
    }
}
