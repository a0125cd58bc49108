//! The decision cache: same answers, keyed by every part of the question, gone with its
//! `Acls`, bounded; and a measurement of what a decision costs.

use std::sync::Arc;

use super::cache::{Question, MAX_DECISIONS};
use super::tests::{acl, may, HERE};
use super::Operation::*;
use super::ResourceType::*;
use super::{Acls, CACHE_FROM_ENTRIES};

/// ACLs with these entries and enough TOPIC entries for another principal that TOPIC
/// decisions are cached.
fn acls(entries: &[&str]) -> Acls {
    let padding: Vec<String> = (0..CACHE_FROM_ENTRIES)
        .map(|i| format!("ALLOW User:padding READ TOPIC LITERAL pad-{i}"))
        .collect();
    let all = entries
        .iter()
        .copied()
        .chain(padding.iter().map(String::as_str));
    Acls::new(all.map(acl), ["root"])
}

#[test]
fn few_entries_are_scanned_not_cached() {
    let a = super::tests::acls(&["ALLOW User:alice READ TOPIC LITERAL t"]);
    assert!(may(&a, "alice", Read, Topic, "t"));
    assert!(!may(&a, "alice", Write, Topic, "t"));
    assert_eq!(a.cached_decisions(), 0);
    let a = acls(&["ALLOW User:alice READ TOPIC LITERAL t"]);
    assert!(may(&a, "alice", Read, Topic, "t"));
    assert_eq!(a.cached_decisions(), 1);
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
        if i + 1 == MAX_DECISIONS {
            assert_eq!(
                a.cached_decisions(),
                MAX_DECISIONS,
                "filled up to the bound"
            );
        }
    }
    // Emptied when full, then filled again; still right.
    assert_eq!(a.cached_decisions(), MAX_DECISIONS);
    assert!(may(&a, "alice", Read, Topic, "orders"));
    assert!(!may(&a, "alice", Read, Topic, "random-1"));
}

/// Nanoseconds per decision by scanning the entries, by a cache hit, and through
/// `authorize` (which caches from [`CACHE_FROM_ENTRIES`] entries of a resource type on), for
/// a principal whose last entry decides. Run with
/// `cargo test --profile dev-release -p gatehouse-tenancy --lib acl::cache_tests::timing -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn timing() {
    use std::hint::black_box;
    use std::time::Instant;
    let per = |rounds: u32, f: &dyn Fn() -> bool| {
        let t = Instant::now();
        for _ in 0..rounds {
            assert!(f());
        }
        t.elapsed().as_nanos() / u128::from(rounds)
    };
    for n in [1usize, 4, 8, 16, 32, 64, 1000] {
        let entries: Vec<String> = (0..n)
            .map(|i| format!("ALLOW User:alice READ TOPIC PREFIXED t{i}-"))
            .collect();
        let a = super::tests::acls(&entries.iter().map(String::as_str).collect::<Vec<_>>());
        let name = format!("t{}-orders", n - 1);
        let q = Question {
            principal: "alice",
            host: HERE,
            operation: Read,
            resource_type: Topic,
            name: &name,
        };
        a.cache.insert(&q, true);
        let rounds = 1_000_000;
        let scan = per(rounds, &|| a.decide(black_box(&q)));
        let hit = per(rounds, &|| a.cache.get(black_box(&q)) == Some(true));
        let authorize = per(rounds, &|| {
            a.authorize("alice", HERE, Read, Topic, black_box(&name))
        });
        println!("{n:>5} entries: scan {scan} ns, cache hit {hit} ns, authorize {authorize} ns");
    }
}

#[test]
fn threads_asking_at_once_get_the_same_answers() {
    let a = acls(&[
        "ALLOW User:alice READ TOPIC PREFIXED o",
        "DENY User:alice READ TOPIC LITERAL oops",
    ]);
    std::thread::scope(|s| {
        for t in 0..4 {
            let a = &a;
            s.spawn(move || {
                for i in 0..2_000 {
                    assert!(may(a, "alice", Read, Topic, "orders"));
                    assert!(!may(a, "alice", Read, Topic, "oops"));
                    assert!(!may(a, "alice", Read, Topic, &format!("x-{t}-{i}")));
                }
            });
        }
    });
    // 2 shared decisions and 8,000 distinct ones: the bound was never reached.
    assert_eq!(a.cached_decisions(), 8_002);
}
