//! The rules of the module documentation, one test each (the cache: `cache_tests`).

use std::net::{IpAddr, Ipv4Addr};

use super::*;
use Operation::*;
use ResourceType::*;

pub(super) const HERE: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const THERE: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

/// `"ALLOW User:alice READ TOPIC LITERAL orders"`, optionally followed by a host (default `*`).
pub(super) fn acl(s: &str) -> AclEntry {
    let w: Vec<&str> = s.split(' ').collect();
    AclEntry {
        permission: Permission::parse(w[0]).unwrap(),
        principal: AclPrincipal::parse(w[1]).unwrap(),
        operation: Operation::parse(w[2]).unwrap(),
        resource_type: ResourceType::parse(w[3]).unwrap(),
        pattern: PatternType::parse(w[4]).unwrap(),
        name: w[5].to_string(),
        host: AclHost::parse(w.get(6).copied().unwrap_or("*")).unwrap(),
    }
}

pub(super) fn acls(entries: &[&str]) -> Acls {
    Acls::new(entries.iter().map(|s| acl(s)), ["root"])
}

pub(super) fn may(a: &Acls, who: &str, op: Operation, rt: ResourceType, name: &str) -> bool {
    a.authorize(who, HERE, op, rt, name)
}

#[test]
fn an_allow_grants_its_operation_and_nothing_else() {
    let a = acls(&["ALLOW User:alice READ TOPIC LITERAL orders"]);
    assert!(may(&a, "alice", Read, Topic, "orders"));
    for op in [Write, Create, Delete, Alter, DescribeConfigs, AlterConfigs] {
        assert!(!may(&a, "alice", op, Topic, "orders"), "{op}");
    }
    // Another name, another resource type with the same name.
    assert!(!may(&a, "alice", Read, Topic, "returns"));
    assert!(!may(&a, "alice", Read, Group, "orders"));
}

#[test]
fn read_write_delete_and_alter_imply_describe() {
    for op in [Read, Write, Delete, Alter] {
        let a = acls(&[&format!("ALLOW User:alice {op} TOPIC LITERAL t")]);
        assert!(
            may(&a, "alice", Describe, Topic, "t"),
            "{op} implies DESCRIBE"
        );
    }
    for op in [
        Create,
        AlterConfigs,
        DescribeConfigs,
        ClusterAction,
        IdempotentWrite,
    ] {
        let a = acls(&[&format!("ALLOW User:alice {op} TOPIC LITERAL t")]);
        assert!(!may(&a, "alice", Describe, Topic, "t"), "{op} does not");
    }
    // DESCRIBE implies nothing.
    let a = acls(&["ALLOW User:alice DESCRIBE TOPIC LITERAL t"]);
    assert!(!may(&a, "alice", Read, Topic, "t"));
}

#[test]
fn alter_configs_implies_describe_configs_and_not_the_reverse() {
    let a = acls(&["ALLOW User:alice ALTER_CONFIGS TOPIC LITERAL t"]);
    assert!(may(&a, "alice", DescribeConfigs, Topic, "t"));
    assert!(!may(&a, "alice", Describe, Topic, "t"));
    let a = acls(&["ALLOW User:alice DESCRIBE_CONFIGS TOPIC LITERAL t"]);
    assert!(!may(&a, "alice", AlterConfigs, Topic, "t"));
}

#[test]
fn all_implies_every_operation() {
    let a = acls(&["ALLOW User:alice ALL GROUP LITERAL g"]);
    for &op in Operation::ALL_VALUES {
        assert!(may(&a, "alice", op, Group, "g"), "{op}");
    }
    assert!(!may(&a, "alice", Read, Topic, "g"));
}

#[test]
fn deny_beats_allow() {
    let a = acls(&[
        "ALLOW User:alice ALL TOPIC PREFIXED sales.",
        "DENY User:alice WRITE TOPIC LITERAL sales.orders",
    ]);
    assert!(!may(&a, "alice", Write, Topic, "sales.orders"));
    assert!(may(&a, "alice", Read, Topic, "sales.orders"));
    assert!(may(&a, "alice", Write, Topic, "sales.returns"));
    // A DENY refuses its own operation only: DENY READ leaves DESCRIBE to the ALLOWs, as in
    // Kafka; DENY ALL refuses everything, `User:*` and PREFIXED included.
    let a = acls(&[
        "ALLOW User:alice READ TOPIC LITERAL t",
        "DENY User:alice READ TOPIC LITERAL t",
    ]);
    assert!(!may(&a, "alice", Read, Topic, "t"));
    assert!(may(&a, "alice", Describe, Topic, "t"));
    let a = acls(&[
        "ALLOW User:alice READ TOPIC LITERAL t",
        "DENY User:* ALL TOPIC PREFIXED t",
    ]);
    assert!(!may(&a, "alice", Describe, Topic, "t"));
    assert!(!may(&a, "alice", Read, Topic, "t"));
}

#[test]
fn prefixed_covers_names_that_start_with_it() {
    let a = acls(&["ALLOW User:alice READ TOPIC PREFIXED orders"]);
    assert!(may(&a, "alice", Read, Topic, "orders"));
    assert!(may(&a, "alice", Read, Topic, "orders-eu"));
    assert!(!may(&a, "alice", Read, Topic, "order"));
    assert!(!may(&a, "alice", Read, Topic, "my-orders"));
    // LITERAL is the exact name only.
    let a = acls(&["ALLOW User:alice READ TOPIC LITERAL orders"]);
    assert!(!may(&a, "alice", Read, Topic, "orders-eu"));
}

#[test]
fn literal_star_covers_every_name_of_its_type() {
    let a = acls(&["ALLOW User:alice READ GROUP LITERAL *"]);
    assert!(may(&a, "alice", Read, Group, "anything"));
    assert!(may(&a, "alice", Read, Group, "*"));
    assert!(!may(&a, "alice", Read, Topic, "anything"));
    // PREFIXED `*` is the character: no topic name holds it.
    let a = acls(&["ALLOW User:alice READ TOPIC PREFIXED *"]);
    assert!(!may(&a, "alice", Read, Topic, "orders"));
}

#[test]
fn user_star_is_every_principal_and_others_acls_never_match() {
    let a = acls(&["ALLOW User:* DESCRIBE TOPIC LITERAL public"]);
    assert!(may(&a, "alice", Describe, Topic, "public"));
    assert!(may(&a, "bob", Describe, Topic, "public"));
    let a = acls(&["ALLOW User:alice ALL TOPIC LITERAL *"]);
    assert!(!may(&a, "bob", Read, Topic, "orders"));
    // A name that only looks like another principal matches nothing.
    assert!(!may(&a, "User:alice", Read, Topic, "orders"));
    assert!(!may(&a, "alice ", Read, Topic, "orders"));
    assert!(!may(&a, "*", Read, Topic, "orders"));
}

#[test]
fn host_is_star_or_the_exact_address() {
    let a = acls(&["ALLOW User:alice READ TOPIC LITERAL t 10.0.0.1"]);
    assert!(a.authorize("alice", HERE, Read, Topic, "t"));
    assert!(!a.authorize("alice", THERE, Read, Topic, "t"));
    // An IPv4 client seen through an IPv6 socket is its IPv4 address.
    let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
    assert!(a.authorize("alice", mapped, Read, Topic, "t"));
    let a = acls(&["ALLOW User:alice READ TOPIC LITERAL t ::1"]);
    assert!(a.authorize("alice", "::1".parse().unwrap(), Read, Topic, "t"));
    assert!(!a.authorize("alice", HERE, Read, Topic, "t"));
    assert!(AclHost::parse("gateway.example.com").is_none());
}

#[test]
fn super_users_bypass_everything_even_a_deny() {
    let a = acls(&["DENY User:* ALL TOPIC LITERAL *"]);
    assert!(a.is_super_user("root"));
    for &rt in ResourceType::ALL_VALUES {
        assert!(may(&a, "root", Alter, rt, "x"), "{rt}");
    }
    assert!(a.authorize_any("root", HERE, Write, Topic));
    assert!(!may(&a, "alice", Read, Topic, "x"));
    assert!(!a.is_super_user("User:root"));
}

#[test]
fn no_acl_means_denied() {
    let a = Acls::new(Vec::new(), Vec::<String>::new());
    for &rt in ResourceType::ALL_VALUES {
        for &op in Operation::ALL_VALUES {
            assert!(!may(&a, "alice", op, rt, "x"));
        }
    }
    assert!(!a.may_write_idempotently("alice", HERE));
    // Nothing the ACLs do not touch is cached.
    let a = acls(&["ALLOW User:alice READ TOPIC LITERAL t"]);
    assert!(!may(&a, "bob", Read, Topic, "t"));
    assert!(!may(&a, "alice", Read, Group, "t"));
    assert_eq!(a.cached_decisions(), 0);
}

#[test]
fn metadata_asks_for_describe() {
    let a = acls(&["ALLOW User:alice WRITE TOPIC LITERAL out"]);
    assert!(a.may_describe_topic("alice", HERE, "out"));
    assert!(!a.may_describe_topic("alice", HERE, "in"));
}

#[test]
fn idempotent_write_by_cluster_acl_or_write_on_any_topic() {
    let cluster = acls(&["ALLOW User:alice IDEMPOTENT_WRITE CLUSTER LITERAL kafka-cluster"]);
    assert!(cluster.may_write_idempotently("alice", HERE));
    let write = acls(&["ALLOW User:alice WRITE TOPIC PREFIXED out"]);
    assert!(write.may_write_idempotently("alice", HERE));
    // READ is not WRITE; a DENY covering the only WRITE takes it away.
    assert!(!acls(&["ALLOW User:alice READ TOPIC LITERAL *"]).may_write_idempotently("alice", HERE));
    let denied = acls(&[
        "ALLOW User:alice WRITE TOPIC LITERAL out-eu",
        "DENY User:alice WRITE TOPIC PREFIXED out",
    ]);
    assert!(!denied.may_write_idempotently("alice", HERE));
    let star_deny = acls(&[
        "ALLOW User:alice WRITE TOPIC PREFIXED a",
        "DENY User:* ALL TOPIC LITERAL *",
    ]);
    assert!(!star_deny.authorize_any("alice", HERE, Write, Topic));
    // A LITERAL DENY on another name leaves the PREFIXED ALLOW standing.
    let partial = acls(&[
        "ALLOW User:alice WRITE TOPIC PREFIXED a",
        "DENY User:alice WRITE TOPIC LITERAL ab",
    ]);
    assert!(partial.authorize_any("alice", HERE, Write, Topic));
    assert!(!partial.authorize_any("alice", THERE, Read, Topic));
}

#[test]
fn names_and_codes_are_kafkas() {
    assert_eq!(Operation::parse("IDEMPOTENT_WRITE"), Some(IdempotentWrite));
    assert_eq!(Operation::parse("read"), None);
    let codes: Vec<i8> = Operation::ALL_VALUES.iter().map(|o| o.code()).collect();
    assert_eq!(codes, (2..=12).collect::<Vec<i8>>());
    assert_eq!(ResourceType::from_code(5), Some(TransactionalId));
    assert_eq!(ResourceType::from_code(6), None, "DELEGATION_TOKEN");
    assert_eq!(
        PatternType::from_code(1),
        None,
        "ANY is a filter, not a pattern"
    );
    assert_eq!(Permission::Allow.code(), 3);
    assert_eq!(AclPrincipal::parse("User:*"), Some(AclPrincipal::AnyUser));
    assert_eq!(AclPrincipal::parse("Group:x"), None);
    assert_eq!(AclPrincipal::parse("User:"), None);
    assert_eq!(AclPrincipal::User("a:b".into()).to_string(), "User:a:b");
}
