//! Alias topics and home domains against both backends: persisted and read back, refused with
//! the field named and nothing written, applied after their virtual cluster in one transaction,
//! and seen by another process on the same database within a second.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{both_backends, Db};
use gatehouse_store::{
    AliasAccess, Configured, Resource, ResourceKey, Store, StoreError, UpsertResult,
};
use serde_json::{json, Value};

both_backends!(
    aliases_persist_and_round_trip,
    every_refusal_names_its_field_and_writes_nothing,
    a_batch_with_aliases_is_ordered_and_all_or_nothing,
    an_alias_reaches_another_process_within_a_second,
);

fn vc(name: &str, home: Option<&str>) -> Resource {
    let mut spec = json!({});
    if let Some(h) = home {
        spec["homeDomain"] = json!(h);
    }
    Resource::from_document(&json!({
        "apiVersion": "gateway/v2", "kind": "VirtualCluster",
        "metadata": {"name": name}, "spec": spec,
    }))
    .unwrap()
}

fn alias(vcluster: &str, name: &str, physical: &str, extra: Value) -> Resource {
    let mut spec = extra;
    spec["physicalName"] = json!(physical);
    Resource::from_document(&json!({
        "apiVersion": "gateway/v2", "kind": "AliasTopic",
        "metadata": {"name": name, "vCluster": vcluster}, "spec": spec,
    }))
    .unwrap()
}

/// A store that knows the configured streaming domains d1 and d2.
async fn open(db: &Db) -> Store {
    Store::open_configured(
        &db.url,
        Configured {
            virtual_clusters: BTreeSet::new(),
            streaming_domains: Some(BTreeSet::from(["d1".to_string(), "d2".to_string()])),
        },
    )
    .await
    .unwrap()
}

/// The field an error names: `Invalid`'s own, or the start of a conflict's message.
fn field(e: &StoreError) -> String {
    match e {
        StoreError::Invalid { field, .. } => field.clone(),
        StoreError::Conflict(m) => m.split(':').next().unwrap().to_string(),
        other => panic!("neither invalid nor a conflict: {other:?}"),
    }
}

/// The partner of the issue: home d1, READ aliases on d1 and d2, a WRITE alias on d1.
fn partner() -> Vec<Resource> {
    vec![
        vc("partner-a", Some("d1")),
        alias("partner-a", "orders", "sales.orders", json!({})),
        alias(
            "partner-a",
            "returns",
            "returns",
            json!({"physicalCluster": "d2"}),
        ),
        alias(
            "partner-a",
            "feedback",
            "partner-feedback",
            json!({"access": "WRITE"}),
        ),
    ]
}

async fn aliases_persist_and_round_trip(db: Db) {
    let store = open(&db).await;
    let out = store.apply(partner(), false).await.unwrap();
    assert!(out.iter().all(|u| u.result == UpsertResult::Created));
    let written = store.snapshot();
    assert_eq!(written.alias_topics.len(), 3);
    assert_eq!(
        written.virtual_clusters["partner-a"].home_domain.as_deref(),
        Some("d1")
    );
    let returns = written.alias_topic("partner-a", "returns").unwrap();
    assert_eq!(returns.physical_cluster.as_deref(), Some("d2"));
    assert_eq!(returns.access, AliasAccess::Read);
    drop(store);

    let store = open(&db).await;
    let s = store.snapshot();
    assert_eq!(s.alias_topics, written.alias_topics);
    assert_eq!(s.virtual_clusters, written.virtual_clusters);
    // Reapplying changes nothing; changing the access is an update.
    let again = store.apply(partner(), false).await.unwrap();
    assert!(again.iter().all(|u| u.result == UpsertResult::NotChanged));
    assert_eq!(store.snapshot().revision, s.revision);
    let r = store
        .upsert(
            alias(
                "partner-a",
                "orders",
                "sales.orders",
                json!({"access": "WRITE"}),
            ),
            false,
        )
        .await
        .unwrap();
    assert_eq!(r.result, UpsertResult::Updated);
    // The virtual cluster goes only once its aliases are gone.
    let e = store
        .delete(&ResourceKey::virtual_cluster("partner-a"))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("alias topics 'feedback', 'orders', 'returns'"),
        "{e}"
    );
    for name in ["orders", "returns", "feedback"] {
        let gone = store
            .delete(&ResourceKey::alias_topic("partner-a", name))
            .await
            .unwrap();
        assert_eq!(gone.key().name, name);
    }
    store
        .delete(&ResourceKey::virtual_cluster("partner-a"))
        .await
        .unwrap();
    drop(store);
    assert!(open(&db).await.snapshot().alias_topics.is_empty());
}

async fn every_refusal_names_its_field_and_writes_nothing(db: Db) {
    let store = open(&db).await;
    store.apply(partner(), false).await.unwrap();
    store.upsert(vc("team-b", None), false).await.unwrap();
    let before = store.snapshot();
    let refusals = [
        // An alias of an alias, either way round.
        (
            alias("partner-a", "x", "orders", json!({})),
            "spec.physicalName",
        ),
        (
            alias("partner-a", "sales.orders", "y", json!({})),
            "metadata.name",
        ),
        // One of the tenant's own topics.
        (
            alias("partner-a", "mine", "partner-a.inbox", json!({})),
            "spec.physicalName",
        ),
        // A second name for one topic of one domain.
        (
            alias(
                "partner-a",
                "again",
                "returns",
                json!({"physicalCluster": "d2"}),
            ),
            "spec.physicalName",
        ),
        // WRITE off the home domain; WRITE naming a domain when none is declared.
        (
            alias(
                "partner-a",
                "w",
                "w",
                json!({"access": "WRITE", "physicalCluster": "d2"}),
            ),
            "spec.physicalCluster",
        ),
        (
            alias(
                "team-b",
                "w",
                "w",
                json!({"access": "WRITE", "physicalCluster": "d1"}),
            ),
            "spec.physicalCluster",
        ),
        // Unknown domains.
        (
            alias("partner-a", "z", "z", json!({"physicalCluster": "d9"})),
            "spec.physicalCluster",
        ),
        (vc("team-c", Some("d9")), "spec.homeDomain"),
        // Moving an alias to another domain.
        (
            alias(
                "partner-a",
                "orders",
                "sales.orders",
                json!({"physicalCluster": "d2"}),
            ),
            "spec.physicalCluster",
        ),
        // Moving aliases by moving the home domain.
        (vc("partner-a", Some("d2")), "spec.homeDomain"),
        // No such virtual cluster.
        (alias("nowhere", "x", "x", json!({})), "metadata.vCluster"),
    ];
    for (r, expected) in refusals {
        for dry_run in [true, false] {
            let e = store.upsert(r.clone(), dry_run).await.unwrap_err();
            assert_eq!(field(&e), expected, "{:?}: {e}", r.key());
        }
    }
    assert_eq!(*store.snapshot(), *before, "nothing was written");
    drop(store);
    let reopened = open(&db).await.snapshot();
    assert_eq!(reopened.alias_topics, before.alias_topics);
    assert_eq!(reopened.revision, before.revision);
}

async fn a_batch_with_aliases_is_ordered_and_all_or_nothing(db: Db) {
    let store = open(&db).await;
    // Aliases first in the batch: still applied after their virtual cluster.
    let mut docs = partner();
    docs.reverse();
    let out = store.apply(docs, false).await.unwrap();
    assert_eq!(
        out[0].resource.key(),
        ResourceKey::virtual_cluster("partner-a")
    );
    assert!(out[1..]
        .iter()
        .all(|u| u.resource.kind() == gatehouse_store::Kind::AliasTopic));
    let revision = store.snapshot().revision;
    // A bad alias in a batch leaves the good documents before it unwritten too.
    let e = store
        .apply(
            vec![
                vc("partner-b", None),
                alias("partner-b", "ok", "ok", json!({})),
                alias("partner-b", "bad", "ok", json!({})),
            ],
            false,
        )
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("resources[2] (AliasTopic/bad (vCluster partner-b)): spec.physicalName: "),
        "{e}"
    );
    let s = store.snapshot();
    assert_eq!(s.revision, revision);
    assert!(s.virtual_cluster("partner-b").is_none());
    assert!(s.alias_topic("partner-b", "ok").is_none());
    drop(store);
    assert!(open(&db)
        .await
        .snapshot()
        .virtual_cluster("partner-b")
        .is_none());
}

async fn an_alias_reaches_another_process_within_a_second(db: Db) {
    let a = open(&db).await;
    let b = open(&db).await;
    let _refresher = b.spawn_refresher();
    let mut changes = b.subscribe();
    a.upsert(vc("partner-a", Some("d1")), false).await.unwrap();
    let started = Instant::now();
    a.upsert(
        alias("partner-a", "orders", "sales.orders", json!({})),
        false,
    )
    .await
    .unwrap();
    tokio::time::timeout(Duration::from_secs(1), async {
        while b.snapshot().alias_topic("partner-a", "orders").is_none() {
            changes.changed().await.unwrap();
        }
    })
    .await
    .unwrap_or_else(|_| panic!("not in the other process after {:?}", started.elapsed()));
    a.delete(&ResourceKey::alias_topic("partner-a", "orders"))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(1), async {
        while b.snapshot().alias_topic("partner-a", "orders").is_some() {
            changes.changed().await.unwrap();
        }
    })
    .await
    .expect("the delete reaches the other process within a second");
}
