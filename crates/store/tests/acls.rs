//! `VirtualCluster.spec.acls` against both backends: what PUT stored is what GET returns,
//! after a restart too; reapplying changes nothing; changing one entry is an update. (A
//! refused entry never reaches the store: `Resource::from_document` refuses it, see
//! resource/acl_tests.rs.)

mod common;

use common::{both_backends, Db};
use gatehouse_store::{AclOperation, Resource, ResourceKey, Store, UpsertResult};
use serde_json::{json, Value};

both_backends!(acls_persist_and_round_trip);

fn partner(acls: Value) -> Value {
    json!({
        "apiVersion": "gateway/v2", "kind": "VirtualCluster",
        "metadata": {"name": "partner-a"},
        "spec": {"type": "Partner", "aclEnabled": true, "superUsers": ["boss"], "acls": acls},
    })
}

fn acls() -> Value {
    json!([
        {"resourcePattern": {"resourceType": "TOPIC", "name": "orders"},
         "principal": "User:alice", "operation": "READ", "permissionType": "ALLOW"},
        {"resourcePattern": {"resourceType": "TOPIC", "name": "orders-", "patternType": "PREFIXED"},
         "principal": "User:*", "host": "10.1.2.3", "operation": "DESCRIBE", "permissionType": "ALLOW"},
        {"resourcePattern": {"resourceType": "GROUP", "name": "alice-app"},
         "principal": "User:alice", "operation": "READ", "permissionType": "ALLOW"},
        {"resourcePattern": {"resourceType": "TOPIC", "name": "orders-internal"},
         "principal": "User:alice", "host": "*", "operation": "ALL", "permissionType": "DENY"},
    ])
}

fn resource(doc: &Value) -> Resource {
    Resource::from_document(doc).unwrap()
}

async fn acls_persist_and_round_trip(db: Db) {
    let key = ResourceKey::virtual_cluster("partner-a");
    let put = partner(acls());
    let store = Store::open(&db.url, Default::default()).await.unwrap();
    let up = store.upsert(resource(&put), false).await.unwrap();
    assert_eq!(up.result, UpsertResult::Created);
    let stored = up.resource.to_document();
    // GET returns the entries as PUT gave them, with the defaults written out.
    let got = store.snapshot().get(&key).unwrap().to_document();
    assert_eq!(got, stored);
    assert_eq!(got["spec"]["acls"].as_array().unwrap().len(), 4);
    assert_eq!(got["spec"]["acls"][0]["host"], "*");
    assert_eq!(
        got["spec"]["acls"][0]["resourcePattern"]["patternType"],
        "LITERAL"
    );
    let mut normalised = put.clone();
    normalised["spec"]["acls"][0]["host"] = json!("*");
    normalised["spec"]["acls"][0]["resourcePattern"]["patternType"] = json!("LITERAL");
    normalised["spec"]["acls"][2]["host"] = json!("*");
    normalised["spec"]["acls"][2]["resourcePattern"]["patternType"] = json!("LITERAL");
    normalised["spec"]["acls"][3]["resourcePattern"]["patternType"] = json!("LITERAL");
    assert_eq!(got["spec"]["acls"], normalised["spec"]["acls"]);
    drop(store);

    // After a restart, from the database.
    let store = Store::open(&db.url, Default::default()).await.unwrap();
    let s = store.snapshot();
    assert_eq!(s.get(&key).unwrap().to_document(), stored);
    assert_eq!(
        s.virtual_clusters["partner-a"].acls[3].operation,
        AclOperation::All
    );
    // The stored document is valid input that changes nothing.
    let again = store.upsert(resource(&stored), false).await.unwrap();
    assert_eq!(again.result, UpsertResult::NotChanged);
    let mut changed = acls();
    changed[0]["operation"] = json!("WRITE");
    let r = store
        .upsert(resource(&partner(changed)), false)
        .await
        .unwrap();
    assert_eq!(r.result, UpsertResult::Updated);
    assert_eq!(
        store.snapshot().virtual_clusters["partner-a"].acls[0].operation,
        AclOperation::Write
    );
    // Emptied: the field goes.
    store
        .upsert(resource(&partner(json!([]))), false)
        .await
        .unwrap();
    let doc = store.snapshot().get(&key).unwrap().to_document();
    assert!(doc["spec"].get("acls").is_none(), "{doc}");
}
