//! `spec.acls`: defaults written out, the document round-trips, and every refusal names the
//! entry and field.

use super::*;

fn vc_with(acls: Value) -> Result<Resource, StoreError> {
    Resource::from_document(&json!({
        "apiVersion": "gateway/v2", "kind": "VirtualCluster",
        "metadata": {"name": "partner-a"},
        "spec": {"aclEnabled": true, "superUsers": ["boss"], "acls": acls},
    }))
}

fn entry(resource_type: &str, name: &str, operation: &str) -> Value {
    json!({
        "resourcePattern": {"resourceType": resource_type, "name": name},
        "principal": "User:alice", "operation": operation, "permissionType": "ALLOW",
    })
}

/// The message of the refusal of `acls`, which must name `field`.
fn refusal(acls: Value, field: &str) -> String {
    match vc_with(acls).unwrap_err() {
        StoreError::Invalid { field: f, reason } => {
            assert_eq!(f, field, "{reason}");
            reason
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn defaults_are_written_out_and_the_document_round_trips() {
    let r = vc_with(json!([
        entry("TOPIC", "orders", "READ"),
        {"resourcePattern": {"resourceType": "GROUP", "name": "app-", "patternType": "PREFIXED"},
         "principal": "User:*", "host": "::ffff:10.0.0.7", "operation": "ALL",
         "permissionType": "DENY"},
    ]))
    .unwrap();
    let doc = r.to_document();
    assert_eq!(
        doc["spec"]["acls"],
        json!([
            {"resourcePattern": {"resourceType": "TOPIC", "name": "orders", "patternType": "LITERAL"},
             "principal": "User:alice", "host": "*", "operation": "READ", "permissionType": "ALLOW"},
            {"resourcePattern": {"resourceType": "GROUP", "name": "app-", "patternType": "PREFIXED"},
             "principal": "User:*", "host": "10.0.0.7", "operation": "ALL", "permissionType": "DENY"},
        ])
    );
    assert_eq!(Resource::from_document(&doc).unwrap(), r);
    let Resource::VirtualCluster(v) = r else {
        panic!("not a virtual cluster")
    };
    assert_eq!(v.acls[1].operation, AclOperation::All);
    assert_eq!(v.acls[1].pattern_type, AclPatternType::Prefixed);
}

#[test]
fn no_acls_no_field() {
    let doc = vc_with(json!([])).unwrap().to_document();
    assert!(doc["spec"].get("acls").is_none(), "{doc}");
}

#[test]
fn every_value_kafka_names_is_accepted() {
    for &op in AclOperation::ALL_VALUES {
        vc_with(json!([entry("TOPIC", "t", op.name())])).unwrap();
    }
    for (t, name) in [
        ("GROUP", "g"),
        ("TRANSACTIONAL_ID", "tx"),
        ("CLUSTER", "kafka-cluster"),
    ] {
        vc_with(json!([entry(t, name, "DESCRIBE")])).unwrap();
    }
    vc_with(json!([entry("CLUSTER", "*", "IDEMPOTENT_WRITE")])).unwrap();
}

#[test]
fn unknown_words_are_named_with_the_choices() {
    let mut e = entry("TOPIC", "t", "READ");
    let reason = refusal(
        json!([
            e.clone(),
            entry("TOPIC", "u", "READ"),
            entry("TOPIC", "t", "REED")
        ]),
        "spec.acls[2].operation",
    );
    assert!(
        reason.starts_with("unknown operation 'REED'; one of READ, WRITE, "),
        "{reason}"
    );
    e["resourcePattern"]["resourceType"] = json!("TOPICS");
    let reason = refusal(json!([e]), "spec.acls[0].resourcePattern.resourceType");
    assert!(
        reason.contains("TOPIC, GROUP, TRANSACTIONAL_ID, CLUSTER"),
        "{reason}"
    );
    let mut e = entry("TOPIC", "t", "READ");
    e["resourcePattern"]["patternType"] = json!("MATCH");
    refusal(json!([e]), "spec.acls[0].resourcePattern.patternType");
    let mut e = entry("TOPIC", "t", "READ");
    e["permissionType"] = json!("allow");
    let reason = refusal(json!([e]), "spec.acls[0].permissionType");
    assert!(reason.contains("one of ALLOW, DENY"), "{reason}");
    let mut e = entry("TOPIC", "t", "READ");
    e["colour"] = json!("red");
    refusal(json!([e]), "spec.acls[0].colour");
    let mut e = entry("TOPIC", "t", "READ");
    e.as_object_mut().unwrap().remove("permissionType");
    let reason = refusal(json!([e]), "spec.acls[0]");
    assert!(reason.contains("permissionType"), "{reason}");
}

#[test]
fn principals_are_user_names() {
    for bad in [
        "alice",
        "Group:ops",
        "User:",
        "user:alice",
        "User:a\u{202E}b",
    ] {
        let mut e = entry("TOPIC", "t", "READ");
        e["principal"] = json!(bad);
        refusal(json!([e]), "spec.acls[0].principal");
    }
}

#[test]
fn names_must_be_possible() {
    let reason = refusal(
        json!([entry("TOPIC", "", "READ")]),
        "spec.acls[0].resourcePattern.name",
    );
    assert!(reason.contains("empty"), "{reason}");
    let mut e = entry("TOPIC", "*", "READ");
    e["resourcePattern"]["patternType"] = json!("PREFIXED");
    let reason = refusal(json!([e]), "spec.acls[0].resourcePattern.name");
    assert!(reason.contains("LITERAL '*'"), "{reason}");
    refusal(
        json!([entry("TOPIC", "a/b", "READ")]),
        "spec.acls[0].resourcePattern.name",
    );
    refusal(
        json!([entry("CLUSTER", "my-cluster", "ALTER")]),
        "spec.acls[0].resourcePattern.name",
    );
    refusal(
        json!([entry("GROUP", &"g".repeat(MAX_ACL_NAME_LEN + 1), "READ")]),
        "spec.acls[0].resourcePattern.name",
    );
    // A PREFIXED topic name may be any start of one.
    let mut e = entry("TOPIC", ".", "READ");
    e["resourcePattern"]["patternType"] = json!("PREFIXED");
    vc_with(json!([e])).unwrap();
}

#[test]
fn hosts_are_addresses_and_entries_are_listed_once() {
    let mut e = entry("TOPIC", "t", "READ");
    e["host"] = json!("gateway.example.com");
    refusal(json!([e]), "spec.acls[0].host");
    let e = entry("TOPIC", "t", "READ");
    let mut same = e.clone();
    same["host"] = json!("*");
    let reason = refusal(
        json!([e, entry("TOPIC", "u", "READ"), same]),
        "spec.acls[2]",
    );
    assert!(reason.contains("spec.acls[0]"), "{reason}");
}
