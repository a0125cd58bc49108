//! Where a tenant's ACL changes through the Kafka API are kept: the store, reached through
//! this trait so the proxy does not depend on it (the binary wires one in).

use std::future::Future;
use std::pin::Pin;

use gatehouse_tenancy::acl::kafka_api::AclChange;
use gatehouse_tenancy::acl::AclEntry;

/// What [`AclStore::change`] returns: per delete filter, the entries it removed.
pub type AclChangeFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<Vec<AclEntry>>, String>> + Send + 'a>>;

/// Keeps virtual clusters' ACLs.
pub trait AclStore: Send + Sync {
    /// Applies `change` to the ACLs of `virtual_cluster` in one transaction (with
    /// [`AclChange::apply`]); answers once it committed, or why it could not (a message for
    /// the client: what to change, or that the store is unavailable).
    fn change<'a>(&'a self, virtual_cluster: &'a str, change: &'a AclChange)
        -> AclChangeFuture<'a>;
}
