//! Tests of zone documents: defaults, round trip, refusals named by field path, and the
//! resources and ACLs a zone implies.

use super::*;
use serde_json::json;

fn zone(spec: Value) -> Result<PartnerZone, StoreError> {
    PartnerZone::from_document(&json!({
        "apiVersion": "gateway/v2", "kind": "PartnerZone",
        "metadata": {"name": "acme"}, "spec": spec,
    }))
}

fn field_of(e: StoreError) -> String {
    match e {
        StoreError::Invalid { field, .. } => field,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn topics() -> Value {
    json!([
        {"name": "orders", "backingTopic": "prod.orders"},
        {"name": "returns", "backingTopic": "prod.returns", "permission": "WRITE"},
    ])
}

#[test]
fn defaults_round_trip_and_status_is_ignored() {
    let z = zone(json!({"route": "partners", "topics": topics()})).unwrap();
    assert_eq!(z.authentication_mode, AuthenticationMode::Plain);
    assert_eq!(z.service_account, "acme");
    let mut doc = z.to_document();
    assert_eq!(doc["spec"]["topics"][0]["permission"], "READ");
    doc["status"] = json!({"state": "READY"});
    assert_eq!(PartnerZone::from_document(&doc).unwrap(), z);
}

#[test]
fn refusals_name_the_field() {
    let cases = [
        (json!({"topics": topics()}), "spec.route"),
        (json!({"route": "r", "colour": 1}), "spec.colour"),
        (
            json!({"route": "r", "bootstrapServers": ["lb:9092", "nope"]}),
            "spec.bootstrapServers[1]",
        ),
        (
            json!({"route": "r", "externalPrincipal": "CN=x"}),
            "spec.externalPrincipal",
        ),
        (
            json!({"route": "r", "authenticationMode": "MTLS"}),
            "spec.externalPrincipal",
        ),
        (
            json!({"route": "r", "authenticationMode": "KERBEROS"}),
            "spec.authenticationMode",
        ),
        (
            json!({"route": "r", "topics": [{"name": "a b", "backingTopic": "x"}]}),
            "spec.topics[0].name",
        ),
        (
            json!({"route": "r", "topics": [{"name": "a", "backingTopic": "x"}, {"name": "a", "backingTopic": "y"}]}),
            "spec.topics[1].name",
        ),
        (
            json!({"route": "r", "topics": [{"name": "a", "backingTopic": "x", "permission": "ALL"}]}),
            "spec.topics[0].permission",
        ),
        (
            json!({"route": "r", "homeDomain": "d1", "topics": [
                {"name": "a", "backingTopic": "x", "physicalCluster": "d2"},
                {"name": "b", "backingTopic": "y", "physicalCluster": "d2", "permission": "WRITE"},
            ]}),
            "spec.topics[1].physicalCluster",
        ),
        (
            json!({"route": "r", "trafficLimits": {"commitsPerMinute": 0}}),
            "spec.trafficLimits.commitsPerMinute",
        ),
        (
            json!({"route": "r", "trafficLimits": {"bytes": 1}}),
            "spec.trafficLimits.bytes",
        ),
    ];
    for (spec, field) in cases {
        assert_eq!(field_of(zone(spec.clone()).unwrap_err()), field, "{spec}");
    }
    let e = PartnerZone::from_document(&json!({
        "apiVersion": "gateway/v2", "kind": "PartnerZone",
        "metadata": {"name": "passthrough"}, "spec": {"route": "r"},
    }))
    .unwrap_err();
    assert_eq!(field_of(e), "metadata.name");
    // A WRITE topic on the declared home domain is fine.
    assert!(zone(json!({"route": "r", "homeDomain": "d1", "topics": [
        {"name": "b", "backingTopic": "y", "physicalCluster": "d1", "permission": "WRITE"},
    ]}))
    .is_ok());
}

#[test]
fn implied_resources_and_acls() {
    let z = zone(json!({"route": "r", "homeDomain": "d1", "topics": topics()})).unwrap();
    let r = z.implied();
    let vc = &r.virtual_cluster;
    assert_eq!(
        (vc.prefix.as_str(), vc.acl_enabled, vc.cluster_type),
        ("acme.", true, VirtualClusterType::Partner)
    );
    assert!(vc.super_users.is_empty());
    assert_eq!(vc.home_domain.as_deref(), Some("d1"));
    assert_eq!(r.service_account.account_type, ServiceAccountType::Local);
    assert_eq!(r.aliases[1].access, AliasAccess::Write);
    let acls: Vec<(String, &str, &str)> = vc
        .acls
        .iter()
        .map(|a| {
            assert_eq!(a.principal, "User:acme");
            assert_eq!(a.permission_type, AclPermissionType::Allow);
            (
                format!("{}:{}", a.resource_type, a.name),
                a.operation.name(),
                a.pattern_type.name(),
            )
        })
        .collect();
    assert_eq!(
        acls,
        [
            ("TOPIC:orders".into(), "READ", "LITERAL"),
            ("TOPIC:returns".into(), "READ", "LITERAL"),
            ("TOPIC:returns".into(), "WRITE", "LITERAL"),
            ("GROUP:*".into(), "READ", "LITERAL"),
            ("TRANSACTIONAL_ID:*".into(), "WRITE", "LITERAL"),
            ("TRANSACTIONAL_ID:*".into(), "DESCRIBE", "LITERAL"),
        ]
    );
    // Every implied resource is valid as a document of its own kind.
    for res in z.implied_resources() {
        assert_eq!(Resource::from_document(&res.to_document()).unwrap(), res);
    }
    // Read-only zones get no transactional ids; external principals are what the ACLs name.
    let z = zone(
        json!({"route": "r", "authenticationMode": "MTLS", "externalPrincipal": "CN=acme,O=Acme",
                        "topics": [{"name": "orders", "backingTopic": "prod.orders"}]}),
    )
    .unwrap();
    let r = z.implied();
    assert_eq!(r.service_account.account_type, ServiceAccountType::External);
    assert_eq!(r.service_account.external_names, ["CN=acme,O=Acme"]);
    assert!(r
        .virtual_cluster
        .acls
        .iter()
        .all(|a| a.principal == "User:CN=acme,O=Acme"
            && a.resource_type != AclResourceType::TransactionalId));
}

#[test]
fn a_zone_is_not_an_ordinary_resource() {
    let e = Resource::from_document(&json!({
        "apiVersion": "gateway/v2", "kind": "PartnerZone",
        "metadata": {"name": "acme"}, "spec": {"route": "r"},
    }))
    .unwrap_err();
    assert!(
        e.to_string().starts_with("kind: ") && e.to_string().contains("partner onboard"),
        "{e}"
    );
}
