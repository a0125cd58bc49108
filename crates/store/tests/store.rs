//! The store against both backends: every test here runs once on SQLite and once on a
//! throwaway PostgreSQL server (see `common`).

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime};

use common::{both_backends, Db};
use gatehouse_store::{Resource, ResourceKey, Store, StoreError, UpsertResult, PASSTHROUGH};
use serde_json::json;

both_backends!(
    upsert_reports_created_updated_not_changed_and_persists,
    dry_run_saves_nothing,
    conflicts_and_references_are_refused,
    a_batch_is_all_or_nothing_and_ordered_by_dependency,
    concurrent_puts_and_deletes_leave_a_consistent_store,
    a_write_through_one_process_reaches_another_within_a_second,
    a_schema_newer_than_the_binary_is_refused,
    revocations_reach_every_process_and_expired_ones_are_pruned,
);

fn vc(name: &str, prefix: Option<&str>) -> Resource {
    let mut spec = json!({});
    if let Some(p) = prefix {
        spec["prefix"] = json!(p);
    }
    Resource::from_document(&json!({
        "apiVersion": "gateway/v2", "kind": "VirtualCluster",
        "metadata": {"name": name}, "spec": spec,
    }))
    .unwrap()
}

fn account(vcluster: &str, name: &str, external: &[&str]) -> Resource {
    let spec = if external.is_empty() {
        json!({"type": "LOCAL"})
    } else {
        json!({"type": "EXTERNAL", "externalNames": external})
    };
    Resource::from_document(&json!({
        "apiVersion": "gateway/v2", "kind": "GatewayServiceAccount",
        "metadata": {"name": name, "vCluster": vcluster}, "spec": spec,
    }))
    .unwrap()
}

async fn open(db: &Db) -> Store {
    Store::open(&db.url, BTreeSet::new()).await.unwrap()
}

async fn upsert_reports_created_updated_not_changed_and_persists(db: Db) {
    let store = open(&db).await;
    let first = store.snapshot();
    assert!(first.virtual_clusters.contains_key(PASSTHROUGH));
    let r = store.upsert(vc("team-a", None), false).await.unwrap();
    assert_eq!(r.result, UpsertResult::Created);
    let after_create = store.snapshot();
    assert_eq!(after_create.virtual_clusters["team-a"].prefix, "team-a.");
    assert!(after_create.revision > first.revision);

    let r = store
        .upsert(vc("team-a", Some("team-a.")), false)
        .await
        .unwrap();
    assert_eq!(r.result, UpsertResult::NotChanged);
    assert_eq!(
        store.snapshot().revision,
        after_create.revision,
        "NOT_CHANGED writes nothing"
    );

    let r = store
        .upsert(vc("team-a", Some("ta.")), false)
        .await
        .unwrap();
    assert_eq!(r.result, UpsertResult::Updated);
    store
        .upsert(account("team-a", "alice", &[]), false)
        .await
        .unwrap();
    let written = store.snapshot();
    drop(store);

    let reopened = open(&db).await;
    let s = reopened.snapshot();
    assert_eq!(s.virtual_clusters, written.virtual_clusters);
    assert_eq!(s.service_accounts, written.service_accounts);
    assert_eq!(s.revision, written.revision);
    assert_eq!(s.virtual_clusters["team-a"].prefix, "ta.");

    let deleted = reopened
        .delete(&ResourceKey::service_account("team-a", "alice"))
        .await
        .unwrap();
    assert_eq!(deleted, account("team-a", "alice", &[]));
    reopened
        .delete(&ResourceKey::virtual_cluster("team-a"))
        .await
        .unwrap();
    assert!(reopened.snapshot().virtual_cluster("team-a").is_none());
    let e = reopened
        .delete(&ResourceKey::virtual_cluster("team-a"))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound(_)), "{e}");
}

async fn dry_run_saves_nothing(db: Db) {
    let store = open(&db).await;
    let before = store.snapshot();
    let r = store.upsert(vc("team-a", None), true).await.unwrap();
    assert_eq!(r.result, UpsertResult::Created);
    assert_eq!(store.snapshot(), before);
    drop(store);
    let store = open(&db).await;
    assert!(store.snapshot().virtual_cluster("team-a").is_none());
    assert_eq!(store.snapshot().revision, before.revision);
    // A dry run is validated against the stored state.
    store.upsert(vc("team-a", None), false).await.unwrap();
    let e = store
        .upsert(vc("team-b", Some("team-a.x.")), true)
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e}");
}

async fn conflicts_and_references_are_refused(db: Db) {
    let store = Store::open(&db.url, BTreeSet::from(["pinned".to_string()]))
        .await
        .unwrap();
    store.upsert(vc("a", Some("a.")), false).await.unwrap();
    let e = store
        .upsert(vc("ab", Some("a.b.")), false)
        .await
        .unwrap_err();
    match &e {
        StoreError::Conflict(m) => {
            assert!(m.starts_with("spec.prefix: ") && m.contains("'a'"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    store
        .upsert(account("a", "alice", &["CN=alice"]), false)
        .await
        .unwrap();
    let e = store
        .upsert(account(PASSTHROUGH, "bob", &["CN=alice"]), false)
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e}");
    let e = store
        .upsert(account("missing", "carol", &[]), false)
        .await
        .unwrap_err();
    assert!(e.to_string().starts_with("metadata.vCluster: "), "{e}");

    let e = store
        .delete(&ResourceKey::virtual_cluster("a"))
        .await
        .unwrap_err();
    match &e {
        StoreError::Conflict(m) => assert!(m.contains("'alice'"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(store.snapshot().virtual_cluster("a").is_some());
    let e = store
        .delete(&ResourceKey::virtual_cluster(PASSTHROUGH))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Invalid { .. }), "{e}");

    store.upsert(vc("pinned", None), false).await.unwrap();
    let e = store
        .delete(&ResourceKey::virtual_cluster("pinned"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("route"), "{e}");
}

async fn a_batch_is_all_or_nothing_and_ordered_by_dependency(db: Db) {
    let store = open(&db).await;
    // The account comes first but needs the vcluster: applied in dependency order.
    let out = store
        .apply(vec![account("x", "alice", &[]), vc("x", None)], false)
        .await
        .unwrap();
    let order: Vec<_> = out
        .iter()
        .map(|u| (u.resource.key().name, u.result))
        .collect();
    assert_eq!(
        order,
        [
            ("x".to_string(), UpsertResult::Created),
            ("alice".to_string(), UpsertResult::Created)
        ]
    );
    let revision = store.snapshot().revision;
    let e = store
        .apply(vec![vc("y", None), account("nowhere", "bob", &[])], false)
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("resources[1].metadata.vCluster: "),
        "{e}"
    );
    assert!(store.snapshot().virtual_cluster("y").is_none());
    assert_eq!(store.snapshot().revision, revision);
    drop(store);
    assert!(open(&db).await.snapshot().virtual_cluster("y").is_none());
}

/// Tasks hammer one vcluster and an account in it with puts and deletes; whatever interleaving
/// happens, no account may outlive its vcluster, and the snapshot must match the database.
async fn concurrent_puts_and_deletes_leave_a_consistent_store(db: Db) {
    let store = open(&db).await;
    let other = open(&db).await; // a second "process" on the same database
    let mut tasks = Vec::new();
    for t in 0..6 {
        let s = if t % 2 == 0 {
            store.clone()
        } else {
            other.clone()
        };
        tasks.push(tokio::spawn(async move {
            let mut unexpected = Vec::new();
            let mut succeeded = [0usize; 4];
            for i in 0..60 {
                let r = match (t + i) % 4 {
                    0 => s.upsert(vc("race", None), false).await.map(|_| ()),
                    1 => s
                        .upsert(account("race", "acct", &["CN=race"]), false)
                        .await
                        .map(|_| ()),
                    2 => s
                        .delete(&ResourceKey::service_account("race", "acct"))
                        .await
                        .map(|_| ()),
                    _ => s
                        .delete(&ResourceKey::virtual_cluster("race"))
                        .await
                        .map(|_| ()),
                };
                match r {
                    Ok(()) => succeeded[(t + i) % 4] += 1,
                    Err(
                        StoreError::Conflict(_)
                        | StoreError::NotFound(_)
                        | StoreError::Invalid { .. },
                    ) => {}
                    Err(e) => unexpected.push(e.to_string()),
                }
            }
            (unexpected, succeeded)
        }));
    }
    let mut succeeded = [0usize; 4];
    for t in tasks {
        let (unexpected, ok) = t.await.unwrap();
        assert!(unexpected.is_empty(), "unexpected errors: {unexpected:?}");
        for (total, n) in succeeded.iter_mut().zip(ok) {
            *total += n;
        }
    }
    // The race was real: every operation succeeded at least once.
    assert!(succeeded.iter().all(|n| *n > 0), "{succeeded:?}");
    let fresh = open(&db).await.snapshot();
    for a in fresh.service_accounts.values() {
        assert!(
            fresh.virtual_clusters.contains_key(&a.vcluster),
            "account {} outlived its vcluster {}",
            a.name,
            a.vcluster
        );
    }
    store.refresh().await.unwrap();
    other.refresh().await.unwrap();
    for s in [store.snapshot(), other.snapshot()] {
        assert_eq!(s.revision, fresh.revision);
        assert_eq!(s.virtual_clusters, fresh.virtual_clusters);
        assert_eq!(s.service_accounts, fresh.service_accounts);
    }
}

async fn a_write_through_one_process_reaches_another_within_a_second(db: Db) {
    let a = open(&db).await;
    let b = open(&db).await;
    let _refresher = b.spawn_refresher();
    let mut changes = b.subscribe();
    let started = Instant::now();
    a.upsert(vc("shared", None), false).await.unwrap();
    tokio::time::timeout(Duration::from_secs(1), async {
        while b.snapshot().virtual_cluster("shared").is_none() {
            changes.changed().await.unwrap();
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "not visible in the other process after {:?}",
            started.elapsed()
        )
    });
    assert_eq!(b.snapshot().revision, a.snapshot().revision);

    a.delete(&ResourceKey::virtual_cluster("shared"))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(1), async {
        while b.snapshot().virtual_cluster("shared").is_some() {
            changes.changed().await.unwrap();
        }
    })
    .await
    .expect("the delete reaches the other process within a second");
}

async fn a_schema_newer_than_the_binary_is_refused(db: Db) {
    let store = open(&db).await;
    drop(store);
    {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES ($1, 'from the future', TRUE, $2, 0)",
        )
        .bind(999_i64)
        .bind(vec![0u8; 4])
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }
    let e = match Store::open(&db.url, BTreeSet::new()).await {
        Ok(_) => panic!("a newer schema was accepted"),
        Err(e) => e,
    };
    let known = gatehouse_store::latest_version(gatehouse_store::Backend::Sqlite);
    assert_eq!(
        e.to_string(),
        format!("database schema version 999 is newer than this gatehouse understands (up to {known}); upgrade gatehouse or point it at another store")
    );
}

#[tokio::test]
async fn sqlite_file_and_directory_are_created_on_first_open() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nested/data/gatehouse.db");
    let url = format!("sqlite://{}?mode=rwc", file.display());
    Store::open(&url, BTreeSet::new()).await.unwrap();
    assert!(file.exists());
}

/// Like the default store URL: a SQLite URL without `mode=` creates a missing file (sqlx's own
/// default, `mode=rw`, answered "unable to open database file").
#[tokio::test]
async fn a_sqlite_url_without_mode_creates_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for (name, query) in [("plain.db", ""), ("with-query.db", "?cache=private")] {
        let file = dir.path().join(name);
        let url = format!("sqlite://{}{query}", file.display());
        let store = Store::open(&url, BTreeSet::new()).await.unwrap();
        store.upsert(vc("created", None), false).await.unwrap();
        drop(store);
        assert!(file.exists(), "{url}");
        let reopened = Store::open(&url, BTreeSet::new()).await.unwrap();
        assert!(reopened.snapshot().virtual_cluster("created").is_some());
    }
}

/// A file an older gatehouse left in WAL mode is switched to a rollback journal (no `-shm`
/// file, which every connection would memory-map) and keeps its resources.
#[tokio::test]
async fn a_wal_database_of_an_older_gatehouse_switches_to_a_rollback_journal() {
    let db = Db::sqlite();
    Store::open(&db.url, BTreeSet::new())
        .await
        .unwrap()
        .upsert(vc("kept", None), false)
        .await
        .unwrap();
    sqlx::any::install_default_drivers();
    let journal_mode = |url: String, set: Option<&'static str>| async move {
        use sqlx::Connection;
        let mut c = sqlx::AnyConnection::connect(&url).await.unwrap();
        let sql = set.unwrap_or("PRAGMA journal_mode");
        let mode: String = sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap();
        c.close().await.unwrap();
        mode
    };
    assert_eq!(
        journal_mode(db.url.clone(), Some("PRAGMA journal_mode = WAL")).await,
        "wal"
    );
    let store = Store::open(&db.url, BTreeSet::new()).await.unwrap();
    assert!(store.snapshot().virtual_cluster("kept").is_some());
    assert_eq!(journal_mode(db.url.clone(), None).await, "delete");
    let dir = db.url.trim_start_matches("sqlite://");
    let dir = std::path::Path::new(dir.split('?').next().unwrap())
        .parent()
        .unwrap();
    let shm: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with("-shm") || n.ends_with("-wal"))
        .collect();
    assert!(shm.is_empty(), "{shm:?}");
}

#[tokio::test]
async fn an_unsupported_url_names_store_url() {
    let e = match Store::open("mysql://h/db", BTreeSet::new()).await {
        Ok(_) => panic!("accepted"),
        Err(e) => e,
    };
    assert!(e.to_string().starts_with("store.url: "), "{e}");
}

async fn revocations_reach_every_process_and_expired_ones_are_pruned(db: Db) {
    use gatehouse_auth::tokens::{Revocations, TokenKey};
    let a = open(&db).await;
    let b = open(&db).await;
    let _refresher = b.spawn_refresher();
    let mut changes = b.subscribe();
    let key = TokenKey::from_bytes(&[9u8; 32]).unwrap();
    let issued = key
        .issue("svc", Some("team-a"), Duration::from_secs(3600))
        .unwrap();
    let now = SystemTime::now();
    assert!(!a.snapshot().is_token_revoked(&issued.id));
    key.verify(&issued.token, "svc", now, &*b.snapshot())
        .expect("valid before the revocation");

    let before = a.snapshot().revision;
    let r = a
        .revoke_token(
            &issued.id,
            Some(issued.expires_at),
            Some("leaked in a ticket"),
        )
        .await
        .unwrap();
    assert!(r.newly_revoked);
    assert_eq!(r.revocation.id, issued.id);
    assert_eq!(r.revocation.reason.as_deref(), Some("leaked in a ticket"));
    assert!(
        a.snapshot().revision > before,
        "a revocation moves the revision"
    );
    assert!(a.snapshot().is_revoked(&issued.id));

    // The other process refuses the token within a second.
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(1), async {
        while !b.snapshot().is_token_revoked(&issued.id) {
            changes.changed().await.unwrap();
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "not revoked in the other process after {:?}",
            started.elapsed()
        )
    });
    assert_eq!(
        key.verify(&issued.token, "svc", now, &*b.snapshot()),
        Err(gatehouse_auth::AuthError::TokenRevoked)
    );
    assert_eq!(b.snapshot().revoked_tokens[&issued.id], r.revocation);

    // Idempotent: the first revocation stands and nothing is written.
    let revision = a.snapshot().revision;
    let again = a.revoke_token(&issued.id, None, None).await.unwrap();
    assert!(!again.newly_revoked);
    assert_eq!(again.revocation, r.revocation);
    assert_eq!(a.snapshot().revision, revision);

    // Persisted across a restart.
    drop(a);
    let a = open(&db).await;
    assert_eq!(a.snapshot().revoked_tokens[&issued.id], r.revocation);

    // A revocation whose token expired long ago is pruned by the next revocation; one without
    // a known expiry stays.
    let long_ago = SystemTime::now() - Duration::from_secs(86_400);
    a.revoke_token("old-token", Some(long_ago), None)
        .await
        .unwrap();
    assert!(
        a.snapshot().is_token_revoked("old-token"),
        "pruned only by a later write"
    );
    a.revoke_token("no-expiry", None, None).await.unwrap();
    a.revoke_token("another", None, None).await.unwrap();
    let s = a.snapshot();
    assert!(!s.is_token_revoked("old-token"));
    assert!(s.is_token_revoked("no-expiry") && s.is_token_revoked(&issued.id));
    drop(a);
    let a = open(&db).await;
    let mut expected = vec!["another".to_string(), "no-expiry".into(), issued.id.clone()];
    expected.sort();
    let stored: Vec<String> = a.snapshot().revoked_tokens.keys().cloned().collect();
    assert_eq!(stored, expected);

    // Bad ids and reasons are refused before anything is written.
    for (id, reason, field) in [
        ("", None, "id"),
        ("has space", None, "id"),
        ("ok", Some("a\nb"), "reason"),
    ] {
        match a.revoke_token(id, None, reason).await {
            Err(StoreError::Invalid { field: f, .. }) => assert_eq!(f, field, "{id:?}"),
            other => panic!("{id:?}: {other:?}"),
        }
    }
}
