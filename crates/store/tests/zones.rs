//! Partner zones against both backends: one transaction creates the zone's virtual cluster,
//! service account, aliases and ACLs; a refused zone leaves nothing; re-applying without a
//! topic removes its alias and ACLs; the ordinary API cannot change what a zone manages;
//! tokens are recorded and revoked one by one or all at once; offboarding removes everything
//! and revokes every token; every operation is recorded with its actor, and another process
//! sees the result.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use common::{both_backends, Db};
use gatehouse_store::{
    AclOperation, AclResourceType, Configured, PartnerZone, Resource, ResourceKey,
    ServiceAccountType, Store, StoreError, UpsertResult, VirtualClusterType, ZoneToken,
};
use serde_json::{json, Value};

both_backends!(
    applying_a_zone_creates_everything_in_one_transaction,
    a_refused_zone_leaves_nothing,
    reapplying_without_a_topic_removes_its_alias_and_acls,
    what_a_zone_manages_is_refused_to_the_ordinary_api,
    tokens_are_recorded_and_revoked,
    offboarding_removes_everything_and_revokes_every_token,
);

fn zone(name: &str, spec: Value) -> PartnerZone {
    PartnerZone::from_document(&json!({
        "apiVersion": "gateway/v2", "kind": "PartnerZone",
        "metadata": {"name": name}, "spec": spec,
    }))
    .unwrap()
}

fn acme() -> PartnerZone {
    zone(
        "acme",
        json!({
            "displayName": "Acme Corp", "contact": "ops@acme.example", "route": "partners",
            "homeDomain": "d1",
            "topics": [
                {"name": "orders", "backingTopic": "sales.orders"},
                {"name": "returns", "backingTopic": "returns", "physicalCluster": "d2"},
                {"name": "feedback", "backingTopic": "partner-feedback", "permission": "WRITE"},
            ],
            "trafficLimits": {"produceBytesPerSecond": 1000000},
        }),
    )
}

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

fn field(e: &StoreError) -> String {
    match e {
        StoreError::Invalid { field, .. } => field.clone(),
        StoreError::Conflict(m) => m.split(": ").next().unwrap().to_string(),
        other => panic!("neither invalid nor a conflict: {other:?}"),
    }
}

fn acls_of(store: &Store, vc: &str) -> Vec<String> {
    store.snapshot().virtual_clusters[vc]
        .acls
        .iter()
        .map(|a| {
            format!(
                "{} {}:{} {}",
                a.principal, a.resource_type, a.name, a.operation
            )
        })
        .collect()
}

async fn operations(store: &Store, zone: &str) -> Vec<(String, String)> {
    store
        .zone_operations(Some(zone))
        .await
        .unwrap()
        .into_iter()
        .map(|o| (o.operation, o.actor))
        .collect()
}

async fn applying_a_zone_creates_everything_in_one_transaction(db: Db) {
    let store = open(&db).await;
    let before = store.snapshot().revision;
    let out = store.apply_zone(acme(), "alice", false).await.unwrap();
    assert_eq!(out.result, UpsertResult::Created);
    let s = store.snapshot();
    assert_eq!(s.revision, before + 1, "one transaction");
    let vc = &s.virtual_clusters["acme"];
    assert_eq!(vc.cluster_type, VirtualClusterType::Partner);
    assert!(vc.acl_enabled && vc.super_users.is_empty());
    assert_eq!(vc.home_domain.as_deref(), Some("d1"));
    let sa = s.service_account("acme", "acme").unwrap();
    assert_eq!(sa.account_type, ServiceAccountType::Local);
    assert_eq!(s.alias_topics_in("acme").count(), 3);
    assert_eq!(
        s.alias_topic("acme", "returns")
            .unwrap()
            .physical_cluster
            .as_deref(),
        Some("d2")
    );
    assert!(acls_of(&store, "acme").contains(&"User:acme TOPIC:feedback WRITE".to_string()));
    assert!(vc
        .acls
        .iter()
        .any(|a| a.resource_type == AclResourceType::TransactionalId
            && a.operation == AclOperation::Write));
    // Re-applying the same zone changes nothing and records nothing.
    let again = store.apply_zone(acme(), "alice", false).await.unwrap();
    assert_eq!(again.result, UpsertResult::NotChanged);
    assert_eq!(store.snapshot().revision, s.revision);
    // A dry run saves nothing.
    let other = zone("globex", json!({"route": "partners"}));
    assert_eq!(
        store.apply_zone(other, "bob", true).await.unwrap().result,
        UpsertResult::Created
    );
    assert!(store.snapshot().partner_zone("globex").is_none());
    assert_eq!(
        operations(&store, "acme").await,
        [("CREATED".to_string(), "alice".to_string())]
    );
    // Another process on the same database reads the same zone and resources.
    let other = open(&db).await;
    let t = other.snapshot();
    assert_eq!(t.partner_zones, s.partner_zones);
    assert_eq!(t.virtual_clusters, s.virtual_clusters);
    assert_eq!(t.alias_topics, s.alias_topics);
}

async fn a_refused_zone_leaves_nothing(db: Db) {
    let store = open(&db).await;
    let vc = Resource::from_document(&json!({
        "apiVersion": "gateway/v2", "kind": "VirtualCluster", "metadata": {"name": "taken"},
    }))
    .unwrap();
    store.upsert(vc, false).await.unwrap();
    let revision = store.snapshot().revision;
    let base = acme().to_document()["spec"].clone();
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut spec = base.clone();
        edit(&mut spec);
        spec
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "acme",
            with(&|s| s["topics"][1]["physicalCluster"] = json!("nowhere")),
            "spec.topics[1].physicalCluster",
        ),
        (
            "acme",
            with(&|s| s["homeDomain"] = json!("nowhere")),
            "spec.homeDomain",
        ),
        // The last topic is fine on its own; it collides with the first one's backing topic.
        (
            "acme",
            with(&|s| {
                s["topics"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"name": "orders2", "backingTopic": "sales.orders"}))
            }),
            "spec.topics[3].backingTopic",
        ),
        ("taken", base.clone(), "metadata.name"),
        // A prefix overlap with an existing virtual cluster ('taken.').
        ("taken.x", base.clone(), "metadata.name"),
    ];
    for (name, spec, expected) in cases {
        let e = store
            .apply_zone(zone(name, spec), "alice", false)
            .await
            .unwrap_err();
        assert_eq!(field(&e), expected, "{e}");
        let s = store.snapshot();
        assert_eq!(s.revision, revision, "nothing written: {e}");
        assert!(s.partner_zones.is_empty());
        assert!(s.virtual_cluster("acme").is_none() && s.alias_topics.is_empty());
    }
    // An external principal another account already maps is refused with the zone's field.
    store
        .apply_zone(
            zone(
                "a",
                json!({"route": "r", "authenticationMode": "MTLS", "externalPrincipal": "CN=x"}),
            ),
            "alice",
            false,
        )
        .await
        .unwrap();
    let e = store
        .apply_zone(
            zone("b", json!({"route": "r", "authenticationMode": "OAUTHBEARER", "externalPrincipal": "CN=x"})),
            "alice",
            false,
        )
        .await
        .unwrap_err();
    assert_eq!(field(&e), "spec.externalPrincipal", "{e}");
    assert!(store.snapshot().virtual_cluster("b").is_none());
    assert!(store.zone_operations(Some("b")).await.unwrap().is_empty());
}

async fn reapplying_without_a_topic_removes_its_alias_and_acls(db: Db) {
    let store = open(&db).await;
    store.apply_zone(acme(), "alice", false).await.unwrap();
    store
        .record_zone_token(token(T1, "acme", "acme"), "alice")
        .await
        .unwrap();
    let mut doc = acme().to_document();
    doc["spec"]["topics"].as_array_mut().unwrap().remove(2); // feedback, the WRITE topic
    doc["spec"]["serviceAccount"] = json!("acme-client");
    let out = store
        .apply_zone(PartnerZone::from_document(&doc).unwrap(), "bob", false)
        .await
        .unwrap();
    assert_eq!(out.result, UpsertResult::Updated);
    assert!(out
        .removed
        .contains(&ResourceKey::alias_topic("acme", "feedback")));
    assert!(out
        .removed
        .contains(&ResourceKey::service_account("acme", "acme")));
    let s = store.snapshot();
    assert!(s.alias_topic("acme", "feedback").is_none());
    assert!(s.service_account("acme", "acme").is_none());
    assert!(s.service_account("acme", "acme-client").is_some());
    let acls = acls_of(&store, "acme");
    assert!(acls.iter().all(|a| !a.contains("feedback")), "{acls:?}");
    assert!(
        acls.iter().all(|a| !a.contains("TRANSACTIONAL_ID")),
        "no WRITE topic left: {acls:?}"
    );
    assert!(acls.iter().all(|a| a.starts_with("User:acme-client ")));
    // The old account's token is revoked with the rename.
    assert!(s.is_token_revoked(T1));
    // A topic may move to another domain: its alias is replaced.
    doc["spec"]["topics"][0]["physicalCluster"] = json!("d2");
    store
        .apply_zone(PartnerZone::from_document(&doc).unwrap(), "bob", false)
        .await
        .unwrap();
    assert_eq!(
        store
            .snapshot()
            .alias_topic("acme", "orders")
            .unwrap()
            .physical_cluster
            .as_deref(),
        Some("d2")
    );
    assert_eq!(
        operations(&store, "acme").await,
        [
            ("CREATED".to_string(), "alice".to_string()),
            ("CREDENTIALS_ISSUED".to_string(), "alice".to_string()),
            ("UPDATED".to_string(), "bob".to_string()),
            ("CREDENTIALS_REVOKED".to_string(), "bob".to_string()),
            ("UPDATED".to_string(), "bob".to_string()),
        ]
    );
}

async fn what_a_zone_manages_is_refused_to_the_ordinary_api(db: Db) {
    let store = open(&db).await;
    store.apply_zone(acme(), "alice", false).await.unwrap();
    let revision = store.snapshot().revision;
    for key in [
        ResourceKey::virtual_cluster("acme"),
        ResourceKey::alias_topic("acme", "orders"),
        ResourceKey::service_account("acme", "acme"),
    ] {
        let e = store.delete(&key).await.unwrap_err();
        assert!(
            matches!(e, StoreError::Conflict(_)) && e.to_string().contains("partner offboard acme"),
            "{e}"
        );
    }
    let sa = Resource::from_document(&json!({
        "apiVersion": "gateway/v2", "kind": "GatewayServiceAccount",
        "metadata": {"name": "intruder", "vCluster": "acme"}, "spec": {"type": "LOCAL"},
    }))
    .unwrap();
    let e = store.upsert(sa, false).await.unwrap_err();
    assert!(
        e.to_string().contains("managed by partner zone 'acme'"),
        "{e}"
    );
    assert_eq!(store.snapshot().revision, revision);
}

fn token(id: &str, zone: &str, account: &str) -> ZoneToken {
    let now = SystemTime::now();
    ZoneToken {
        id: id.into(),
        zone: zone.into(),
        account: account.into(),
        issued_at: now,
        expires_at: now + Duration::from_secs(3600),
        revoked_at: None,
    }
}

const T1: &str = "00000000-0000-4000-8000-000000000001";
const T2: &str = "00000000-0000-4000-8000-000000000002";
const T3: &str = "00000000-0000-4000-8000-000000000003";

async fn tokens_are_recorded_and_revoked(db: Db) {
    let store = open(&db).await;
    store.apply_zone(acme(), "alice", false).await.unwrap();
    for id in [T1, T2, T3] {
        store
            .record_zone_token(token(id, "acme", "acme"), "alice")
            .await
            .unwrap();
    }
    // Tokens of another account, of a zone that does not exist, or twice: refused.
    assert!(store
        .record_zone_token(token("x1", "acme", "someone"), "alice")
        .await
        .is_err());
    assert!(matches!(
        store
            .record_zone_token(token("x2", "nope", "acme"), "alice")
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(store
        .record_zone_token(token(T1, "acme", "acme"), "alice")
        .await
        .is_err());
    // One by id.
    assert_eq!(
        store
            .revoke_zone_tokens("acme", Some(T1), "bob")
            .await
            .unwrap(),
        [T1]
    );
    assert!(store.snapshot().is_token_revoked(T1));
    assert!(!store.snapshot().is_token_revoked(T2));
    assert!(matches!(
        store.revoke_zone_tokens("acme", Some("nope"), "bob").await,
        Err(StoreError::NotFound(_))
    ));
    // T2 revoked through the ordinary token API: the zone's revoke-all still covers T3 only.
    store.revoke_token(T2, None, Some("by hand")).await.unwrap();
    let mut all = store.revoke_zone_tokens("acme", None, "bob").await.unwrap();
    all.sort();
    assert_eq!(all, [T3]);
    let s = store.snapshot();
    assert!([T1, T2, T3].iter().all(|id| s.is_token_revoked(id)));
    assert!(s.zone_tokens_of("acme").all(|t| t.revoked_at.is_some()));
    // The revocations carry the tokens' expiry, so they are pruned like any other.
    assert!(s.revoked_tokens[T3].expires_at.is_some());
    assert_eq!(
        store.revoke_zone_tokens("acme", None, "bob").await.unwrap(),
        Vec::<String>::new()
    );
    let ops = store.zone_operations(Some("acme")).await.unwrap();
    let names: Vec<&str> = ops.iter().map(|o| o.operation.as_str()).collect();
    assert_eq!(
        names,
        [
            "CREATED",
            "CREDENTIALS_ISSUED",
            "CREDENTIALS_ISSUED",
            "CREDENTIALS_ISSUED",
            "CREDENTIALS_REVOKED",
            "CREDENTIALS_REVOKED"
        ]
    );
    assert_eq!(ops[1].detail["tokenId"], T1);
    assert_eq!(ops[5].detail["tokenIds"], json!([T3]));
    assert_eq!(ops[5].actor, "bob");
    // Records survive a restart.
    let again = open(&db).await;
    assert_eq!(again.snapshot().zone_tokens, s.zone_tokens);
    // The record of a token expired for longer than the revocation grace goes with the next
    // token recorded.
    let long_ago = SystemTime::now() - Duration::from_secs(7200);
    let old = ZoneToken {
        issued_at: long_ago,
        expires_at: long_ago + Duration::from_secs(60),
        ..token("00000000-0000-4000-8000-000000000009", "acme", "acme")
    };
    store.record_zone_token(old, "alice").await.unwrap();
    assert_eq!(store.snapshot().zone_tokens.len(), 4);
    store
        .record_zone_token(
            token("00000000-0000-4000-8000-00000000000a", "acme", "acme"),
            "alice",
        )
        .await
        .unwrap();
    let s = store.snapshot();
    assert_eq!(s.zone_tokens.len(), 4);
    assert!(!s
        .zone_tokens
        .contains_key("00000000-0000-4000-8000-000000000009"));
    assert_eq!(open(&db).await.snapshot().zone_tokens, s.zone_tokens);
}

async fn offboarding_removes_everything_and_revokes_every_token(db: Db) {
    let store = open(&db).await;
    let other_process = open(&db).await;
    let _refresher = other_process.spawn_refresher();
    store.apply_zone(acme(), "alice", false).await.unwrap();
    store
        .record_zone_token(token(T1, "acme", "acme"), "alice")
        .await
        .unwrap();
    store
        .record_zone_token(token(T2, "acme", "acme"), "alice")
        .await
        .unwrap();
    store
        .revoke_zone_tokens("acme", Some(T1), "alice")
        .await
        .unwrap();
    let out = store.offboard_zone("acme", "carol").await.unwrap();
    assert_eq!(out.revoked, [T2]);
    assert_eq!(out.removed.len(), 5, "{:?}", out.removed);
    let s = store.snapshot();
    assert!(s.partner_zones.is_empty() && s.zone_tokens.is_empty());
    assert!(s.virtual_cluster("acme").is_none());
    assert!(s.alias_topics.is_empty() && s.service_accounts.is_empty());
    assert!(s.is_token_revoked(T1) && s.is_token_revoked(T2));
    let ops = operations(&store, "acme").await;
    assert_eq!(ops.last().unwrap(), &("OFFBOARDED".into(), "carol".into()));
    assert!(matches!(
        store.offboard_zone("acme", "carol").await,
        Err(StoreError::NotFound(_))
    ));
    // The other process sees it within a second.
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    loop {
        let seen = other_process.snapshot();
        if seen.is_token_revoked(T2) {
            assert!(seen.virtual_cluster("acme").is_none() && seen.partner_zones.is_empty());
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not seen in 1 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The name is free again: a zone of that name can be onboarded anew.
    store.apply_zone(acme(), "alice", false).await.unwrap();
}
