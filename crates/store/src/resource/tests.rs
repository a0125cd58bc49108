//! Tests of resource documents: defaults written out, unknown fields named by path, the name
//! and prefix rules of each kind, service account rules, and kind names.

use super::*;

fn vc(spec: Value) -> Result<Resource, StoreError> {
    Resource::from_document(&json!({
        "apiVersion": "gateway/v2", "kind": "VirtualCluster",
        "metadata": {"name": "team-a"}, "spec": spec,
    }))
}

fn field_of(e: StoreError) -> String {
    match e {
        StoreError::Invalid { field, .. } => field,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn defaults_are_written_out_and_round_trip() {
    let r = vc(json!({})).unwrap();
    let doc = r.to_document();
    assert_eq!(doc["spec"]["prefix"], "team-a.");
    assert_eq!(doc["spec"]["separator"], ".");
    assert_eq!(doc["spec"]["aclEnabled"], false);
    assert_eq!(doc["spec"]["type"], "Standard");
    assert_eq!(Resource::from_document(&doc).unwrap(), r);
    let r = vc(json!({"separator": "_"})).unwrap();
    assert_eq!(r.to_document()["spec"]["prefix"], "team-a_");
}

#[test]
fn unknown_fields_are_named_by_path() {
    assert_eq!(
        field_of(vc(json!({"colour": 1})).unwrap_err()),
        "spec.colour"
    );
    let e = Resource::from_document(&json!({
        "apiVersion": "gateway/v2", "kind": "GatewayServiceAccount",
        "metadata": {"name": "a", "labels": {}}, "spec": {"type": "LOCAL"},
    }))
    .unwrap_err();
    assert_eq!(e.to_string().split(':').next().unwrap(), "metadata.labels");
}

#[test]
fn illegal_names_and_prefixes() {
    assert_eq!(
        field_of(vc(json!({"prefix": "a b"})).unwrap_err()),
        "spec.prefix"
    );
    assert_eq!(
        field_of(vc(json!({"prefix": ""})).unwrap_err()),
        "spec.prefix"
    );
    let long = "x".repeat(MAX_PREFIX_LEN + 1);
    assert_eq!(
        field_of(vc(json!({ "prefix": long })).unwrap_err()),
        "spec.prefix"
    );
    assert!(vc(json!({ "prefix": "x".repeat(MAX_PREFIX_LEN) })).is_ok());
    let e = Resource::from_document(&json!({
        "apiVersion": "gateway/v2", "kind": "VirtualCluster", "metadata": {"name": "a/b"},
    }))
    .unwrap_err();
    assert_eq!(field_of(e), "metadata.name");
    let e = Resource::from_document(&json!({
        "apiVersion": "gateway/v2", "kind": "VirtualCluster", "metadata": {"name": "passthrough"},
    }))
    .unwrap_err();
    assert!(e.to_string().contains("built-in"), "{e}");
}

#[test]
fn one_name_rule_per_kind() {
    let vcn = |n: &str| name_problem(Kind::VirtualCluster, n);
    let san = |n: &str| name_problem(Kind::GatewayServiceAccount, n);
    for bad in [".", "..", "", "a b", "x\u{202E}y", "\u{7}", &"v".repeat(65)] {
        let p = vcn(bad).unwrap_or_else(|| panic!("{bad:?} accepted"));
        assert!(p.contains("VirtualCluster name is 1 to 64"), "{p}");
    }
    for bad in [
        ".",
        "..",
        "",
        "alice ",
        " alice",
        "admin\u{202E}nimda",
        "a\u{200B}b",
        "a\nb",
        "a\u{0}",
        &"a".repeat(600),
        &"é".repeat(128),
    ] {
        let p = san(bad).unwrap_or_else(|| panic!("{bad:?} accepted"));
        assert!(
            p.contains("GatewayServiceAccount name is 1 to 255 bytes"),
            "{p}"
        );
    }
    assert!(san("admin\u{202E}nimda").unwrap().contains("U+202E"));
    assert!(san("..").unwrap().contains("path segment"));
    for good in ["a", "...", "team-a.x_y", "CN=alice,OU=x", "Ünïcödé", "a b"] {
        assert_eq!(san(good), None, "{good:?}");
    }
    assert_eq!(san(&"a".repeat(255)), None);
    assert_eq!(vcn("team-a.x_y"), None);
    assert_eq!(vcn("..."), None);
}

#[test]
fn dot_names_refused_in_documents() {
    for name in [".", ".."] {
        let e = Resource::from_document(&json!({
            "apiVersion": "gateway/v2", "kind": "VirtualCluster", "metadata": {"name": name},
        }))
        .unwrap_err();
        assert_eq!(field_of(e), "metadata.name");
        let e = Resource::from_document(&json!({
            "apiVersion": "gateway/v2", "kind": "GatewayServiceAccount",
            "metadata": {"name": name}, "spec": {"type": "LOCAL"},
        }))
        .unwrap_err();
        assert_eq!(field_of(e), "metadata.name");
    }
}

#[test]
fn partner_needs_acls_not_super_users() {
    let e = vc(json!({"type": "Partner"})).unwrap_err();
    assert_eq!(field_of(e), "spec.aclEnabled");
    assert!(vc(json!({"type": "Partner", "aclEnabled": true, "superUsers": ["admin"]})).is_ok());
    // Deny by default: a partner zone's virtual cluster has no super user.
    assert!(vc(json!({"type": "Partner", "aclEnabled": true})).is_ok());
}

#[test]
fn service_account_rules() {
    let sa = |spec: Value| {
        Resource::from_document(&json!({
            "apiVersion": "gateway/v2", "kind": "GatewayServiceAccount",
            "metadata": {"name": "alice"}, "spec": spec,
        }))
    };
    let r = sa(json!({"type": "LOCAL"})).unwrap();
    assert_eq!(r.key(), ResourceKey::service_account(PASSTHROUGH, "alice"));
    assert_eq!(
        field_of(sa(json!({"type": "LOCAL", "externalNames": ["x"]})).unwrap_err()),
        "spec.externalNames"
    );
    assert_eq!(
        field_of(sa(json!({"type": "EXTERNAL"})).unwrap_err()),
        "spec.externalNames"
    );
    assert_eq!(
        field_of(sa(json!({"type": "EXTERNAL", "externalNames": ["x", "x"]})).unwrap_err()),
        "spec.externalNames[1]"
    );
    assert_eq!(
        field_of(sa(json!({"type": "REMOTE"})).unwrap_err()),
        "spec.type"
    );
    let e = Resource::from_document(
        &json!({"apiVersion": "gateway/v1", "kind": "VirtualCluster", "metadata": {"name": "a"}}),
    )
    .unwrap_err();
    assert_eq!(field_of(e), "apiVersion");
    let e =
        Resource::from_document(&json!({"apiVersion": "gateway/v2", "kind": "Nope"})).unwrap_err();
    assert_eq!(field_of(e), "kind");
}

#[test]
fn kinds_parse_by_path_and_name() {
    assert_eq!(Kind::parse("virtual-cluster"), Some(Kind::VirtualCluster));
    assert_eq!(Kind::parse("VirtualCluster"), Some(Kind::VirtualCluster));
    assert_eq!(
        Kind::parse("service-account"),
        Some(Kind::GatewayServiceAccount)
    );
    assert_eq!(
        Kind::parse("gatewayserviceaccount"),
        Some(Kind::GatewayServiceAccount)
    );
    assert_eq!(Kind::parse("topics"), None);
}

fn alias(metadata: Value, spec: Value) -> Result<Resource, StoreError> {
    Resource::from_document(&json!({
        "apiVersion": "gateway/v2", "kind": "AliasTopic", "metadata": metadata, "spec": spec,
    }))
}

#[test]
fn alias_topic_defaults_and_round_trip() {
    let r = alias(
        json!({"name": "orders", "vCluster": "partner-a"}),
        json!({"physicalName": "sales.orders"}),
    )
    .unwrap();
    assert_eq!(r.key(), ResourceKey::alias_topic("partner-a", "orders"));
    let doc = r.to_document();
    assert_eq!(
        doc,
        json!({
            "apiVersion": "gateway/v2", "kind": "AliasTopic",
            "metadata": {"name": "orders", "vCluster": "partner-a"},
            "spec": {"physicalName": "sales.orders", "access": "READ"},
        })
    );
    assert_eq!(Resource::from_document(&doc).unwrap(), r);
    let r = alias(
        json!({"name": "fb", "vCluster": "partner-a"}),
        json!({"physicalName": "fb", "physicalCluster": "d1", "access": "WRITE"}),
    )
    .unwrap();
    let doc = r.to_document();
    assert_eq!(doc["spec"]["physicalCluster"], "d1");
    assert_eq!(doc["spec"]["access"], "WRITE");
    assert_eq!(Resource::from_document(&doc).unwrap(), r);
    assert_eq!(Kind::parse("alias-topic"), Some(Kind::AliasTopic));
    assert_eq!(Kind::parse("AliasTopic"), Some(Kind::AliasTopic));
}

#[test]
fn alias_topic_fields_are_checked_and_named() {
    let meta = json!({"name": "orders", "vCluster": "partner-a"});
    for bad in ["", ".", "..", "a b", "a/b", "ü", &"x".repeat(250)] {
        let e = alias(meta.clone(), json!({ "physicalName": bad })).unwrap_err();
        assert_eq!(field_of(e), "spec.physicalName", "{bad:?}");
        let e = alias(
            json!({"name": bad, "vCluster": "partner-a"}),
            json!({"physicalName": "p"}),
        )
        .unwrap_err();
        assert_eq!(field_of(e), "metadata.name", "{bad:?}");
        assert!(name_problem(Kind::AliasTopic, bad).is_some(), "{bad:?}");
    }
    assert!(alias(meta.clone(), json!({ "physicalName": "x".repeat(249) })).is_ok());
    assert!(alias(meta.clone(), json!({ "physicalName": "..." })).is_ok());
    let e = alias(meta.clone(), json!({"physicalName": "p", "access": "ALL"})).unwrap_err();
    assert_eq!(field_of(e), "spec.access");
    let e = alias(
        meta.clone(),
        json!({"physicalName": "p", "physicalCluster": ""}),
    )
    .unwrap_err();
    assert_eq!(field_of(e), "spec.physicalCluster");
    let e = alias(meta.clone(), json!({"physicalName": "p", "colour": 1})).unwrap_err();
    assert_eq!(field_of(e), "spec.colour");
    let e = alias(meta, json!({})).unwrap_err();
    assert!(e.to_string().contains("physicalName"), "{e}");
    // Passthrough (also the default vCluster) has no aliases.
    for meta in [
        json!({"name": "o"}),
        json!({"name": "o", "vCluster": "passthrough"}),
    ] {
        let e = alias(meta, json!({"physicalName": "p"})).unwrap_err();
        assert_eq!(field_of(e), "metadata.vCluster");
    }
}

#[test]
fn home_domain_is_optional_and_written_only_when_set() {
    let r = vc(json!({})).unwrap();
    assert!(r.to_document()["spec"].get("homeDomain").is_none());
    let r = vc(json!({"homeDomain": "d1"})).unwrap();
    let doc = r.to_document();
    assert_eq!(doc["spec"]["homeDomain"], "d1");
    assert_eq!(Resource::from_document(&doc).unwrap(), r);
    assert_eq!(
        field_of(vc(json!({"homeDomain": ""})).unwrap_err()),
        "spec.homeDomain"
    );
}
