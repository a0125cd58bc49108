//! The decision cache: same answers, keyed by every part of the question, gone with its
//! `Acls`, bounded; and a measurement of what a decision costs.

use std::sync::Arc;

use super::cache::{Question, MAX_DECISIONS};
use super::tests::{acls, may, HERE};
use super::Operation::*;
use super::ResourceType::*;

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
fn clients_share_decisions_unless_an_entry_names_a_host() {
    let there: std::net::IpAddr = "10.9.9.9".parse().unwrap();
    let a = acls(&["ALLOW User:alice READ TOPIC LITERAL t"]);
    assert!(a.authorize("alice", HERE, Read, Topic, "t"));
    assert!(a.authorize("alice", there, Read, Topic, "t"));
    assert_eq!(a.cached_decisions(), 1);
    let a = acls(&[
        "ALLOW User:alice READ TOPIC LITERAL t",
        "DENY User:alice READ TOPIC LITERAL t 10.9.9.9",
    ]);
    assert!(a.authorize("alice", HERE, Read, Topic, "t"));
    assert!(!a.authorize("alice", there, Read, Topic, "t"));
    assert_eq!(a.cached_decisions(), 2);
    // Cached, each host keeps its own answer.
    assert!(a.authorize("alice", HERE, Read, Topic, "t"));
    assert!(!a.authorize("alice", there, Read, Topic, "t"));
}

#[test]
fn replaced_acls_take_their_decisions_afresh() {
    let old = Arc::new(acls(&["ALLOW User:alice READ TOPIC LITERAL t"]));
    assert!(may(&old, "alice", Read, Topic, "t"));
    let watch = Arc::downgrade(&old);
    // The tenant's ACLs as the catalog holds them; a store change replaces the value.
    let mut current = old;
    assert_eq!(current.cached_decisions(), 1);
    current = Arc::new(acls(&[
        "DENY User:alice READ TOPIC LITERAL t",
        "ALLOW User:alice READ TOPIC LITERAL t",
    ]));
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
