//! The rules of the module documentation, one test each, and the cache.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use super::*;
use Operation::*;
use ResourceType::*;

const HERE: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const THERE: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

/// `"ALLOW User:alice READ TOPIC LITERAL orders"`, optionally followed by a host (default `*`).
fn acl(s: &str) -> AclEntry {
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

fn acls(entries: &[&str]) -> Acls {
    Acls::new(entries.iter().map(|s| acl(s)), ["root"])
}

fn may(a: &Acls, who: &str, op: Operation, rt: ResourceType, name: &str) -> bool {
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
fn the_cache_returns_the_same_decisions() {
    let a = acls(&[
        "ALLOW User:alice READ TOPIC PREFIXED o",
        "DENY User:alice READ TOPIC LITERAL oops",
    ]);
    let names = ["orders", "oops", "returns", "o"];
    let first: Vec<bool> = names
        .iter()
        .map(|n| may(&a, "alice", Read, Topic, n))
        .collect();
    assert_eq!(first, [true, false, false, true]);
    assert_eq!(a.cached_decisions(), 4);
    let again: Vec<bool> = names
        .iter()
        .map(|n| may(&a, "alice", Read, Topic, n))
        .collect();
    assert_eq!(again, first);
    assert_eq!(a.cached_decisions(), 4);
    // Each part of the question is part of the key.
    assert!(!a.authorize("alice", HERE, Write, Topic, "orders"));
    assert!(!a.authorize("alice", HERE, Read, Group, "orders"));
    assert_eq!(a.cached_decisions(), 5, "GROUP has no entries: not cached");
}

#[test]
fn replaced_acls_take_their_decisions_afresh() {
    let old = Arc::new(acls(&["ALLOW User:alice READ TOPIC LITERAL t"]));
    assert!(may(&old, "alice", Read, Topic, "t"));
    let watch = Arc::downgrade(&old);
    // The tenant's ACLs as the catalog holds them; a store change replaces the value.
    let mut current = Some(old);
    assert!(current.as_ref().is_some_and(|a| a.cached_decisions() == 1));
    let replacement = acls(&[
        "DENY User:alice READ TOPIC LITERAL t",
        "ALLOW User:alice READ TOPIC LITERAL t",
    ]);
    let current = current.replace(Arc::new(replacement)).and(current).unwrap();
    assert!(
        watch.upgrade().is_none(),
        "the old ACLs and their cache are gone"
    );
    assert_eq!(current.cached_decisions(), 0);
    assert!(!may(&current, "alice", Read, Topic, "t"));
}

#[test]
fn the_cache_is_bounded() {
    let a = acls(&["ALLOW User:alice READ TOPIC PREFIXED o"]);
    for i in 0..(3 * MAX_DECISIONS) {
        let name = format!("random-{i}");
        assert!(!may(&a, "alice", Read, Topic, &name));
        assert!(a.cached_decisions() <= MAX_DECISIONS);
    }
    // Still right after it was emptied.
    assert!(may(&a, "alice", Read, Topic, "orders"));
    assert!(!may(&a, "alice", Read, Topic, "random-1"));
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

/// Nanoseconds per decision, cached and not, for a tenant with 1 and with 1000 entries.
/// `cargo test -p gatehouse-tenancy --release acl::tests::timing -- --ignored --nocapture`
#[test]
#[ignore = "a measurement, not a check"]
fn timing() {
    use std::time::Instant;
    for n in [1usize, 1000] {
        let entries: Vec<String> = (0..n)
            .map(|i| format!("ALLOW User:alice READ TOPIC PREFIXED t{i}-"))
            .collect();
        let a = acls(&entries.iter().map(String::as_str).collect::<Vec<_>>());
        let name = format!("t{}-orders", n - 1);
        let q = Question {
            principal: "alice",
            host: HERE,
            operation: Read,
            resource_type: Topic,
            name: &name,
        };
        let rounds = 1_000_000u32;
        let t = Instant::now();
        for _ in 0..rounds {
            assert!(a.decide(std::hint::black_box(&q)));
        }
        let uncached = t.elapsed().as_nanos() / u128::from(rounds);
        let t = Instant::now();
        for _ in 0..rounds {
            assert!(a.authorize("alice", HERE, Read, Topic, std::hint::black_box(&name)));
        }
        let cached = t.elapsed().as_nanos() / u128::from(rounds);
        println!("{n} entries: {uncached} ns uncached, {cached} ns cached per decision");
    }
}
