//! A virtual cluster's ACLs between the store (`VirtualCluster.spec.acls`, documents) and the
//! data plane (`gatehouse_tenancy::acl`, evaluated per request): the two crates spell the
//! same Kafka words, so each value converts by its name.

use std::sync::Arc;

use gatehouse_proxy::{AclChangeFuture, AclStore};
use gatehouse_store::{
    Acl, AclOperation, AclPatternType, AclPermissionType, AclResourceType, Store, StoreError,
};
use gatehouse_tenancy::acl::kafka_api::AclChange;
use gatehouse_tenancy::acl::{
    AclEntry, AclHost, AclPrincipal, Acls, Operation, PatternType, Permission, ResourceType,
};

/// A virtual cluster's ACLs and super users as the data plane evaluates them; `None` unless
/// `aclEnabled`. Each change of the store builds a new value (with an empty decision cache).
pub fn tenant_acls(vc: &gatehouse_store::VirtualCluster) -> Option<Arc<Acls>> {
    if !vc.acl_enabled {
        return None;
    }
    let entries: Option<Vec<AclEntry>> = vc.acls.iter().map(entry_of).collect();
    let entries = entries.unwrap_or_else(|| {
        // The store validated these; if the two crates ever disagree, fail closed: dropping
        // one DENY would grant what it refuses, so none of the entries apply.
        tracing::error!(
            virtual_cluster = vc.name,
            "an ACL the store accepted cannot be read by the data plane: only super users are allowed"
        );
        Vec::new()
    });
    Some(Arc::new(Acls::new(entries, vc.super_users.iter().cloned())))
}

/// A stored ACL as the data plane's entry (None: a value the data plane cannot read).
fn entry_of(a: &Acl) -> Option<AclEntry> {
    Some(AclEntry {
        resource_type: ResourceType::parse(a.resource_type.name())?,
        name: a.name.clone(),
        pattern: PatternType::parse(a.pattern_type.name())?,
        principal: AclPrincipal::parse(&a.principal)?,
        host: AclHost::parse(&a.host)?,
        operation: Operation::parse(a.operation.name())?,
        permission: Permission::parse(a.permission_type.name())?,
    })
}

/// The same value of the store's enum, found by its Kafka name.
fn by_name<T: Copy>(all: &[T], name: fn(T) -> &'static str, wanted: &str) -> Option<T> {
    all.iter().copied().find(|v| name(*v) == wanted)
}

/// A data-plane entry (made through the Kafka API) as the store keeps it.
fn stored(e: &AclEntry) -> Option<Acl> {
    Some(Acl {
        resource_type: by_name(
            AclResourceType::ALL_VALUES,
            AclResourceType::name,
            e.resource_type.name(),
        )?,
        name: e.name.clone(),
        pattern_type: by_name(
            AclPatternType::ALL_VALUES,
            AclPatternType::name,
            e.pattern.name(),
        )?,
        principal: e.principal.to_string(),
        host: e.host.to_string(),
        operation: by_name(
            AclOperation::ALL_VALUES,
            AclOperation::name,
            e.operation.name(),
        )?,
        permission_type: by_name(
            AclPermissionType::ALL_VALUES,
            AclPermissionType::name,
            e.permission.name(),
        )?,
    })
}

/// The store, keeping tenants' ACL changes made through the Kafka API.
pub struct StoreAcls(pub Store);

impl AclStore for StoreAcls {
    fn change<'a>(
        &'a self,
        virtual_cluster: &'a str,
        change: &'a AclChange,
    ) -> AclChangeFuture<'a> {
        let change = change.clone();
        Box::pin(async move {
            let edited = self.0.edit_acls(virtual_cluster, move |acls| {
                let mut entries: Vec<AclEntry> = acls.iter().filter_map(entry_of).collect();
                let removed = change.apply(&mut entries);
                let kept: Option<Vec<Acl>> = entries.iter().map(stored).collect();
                match kept {
                    Some(kept) => {
                        *acls = kept;
                        Ok(removed)
                    }
                    None => Err("an ACL cannot be stored (this is a bug)".to_string()),
                }
            });
            match edited.await {
                Ok(outcome) => outcome,
                Err(e @ StoreError::Invalid { .. }) => Err(format!("refused by the store: {e}")),
                Err(e) => Err(e.to_string()),
            }
        })
    }
}
