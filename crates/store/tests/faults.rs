//! The store when its database fails: a full SQLite file, a COMMIT the database refuses, a
//! PostgreSQL server stopped in the middle of a write. What a write acknowledged must survive a
//! reopen, what failed must not be there, the failure must be reported as `Unavailable`, and
//! the store must work again once the database does.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{Db, PgServer};
use gatehouse_store::{Resource, Store, StoreError};
use serde_json::json;

fn vc(name: &str) -> Resource {
    Resource::from_document(&json!({
        "apiVersion": "gateway/v2", "kind": "VirtualCluster",
        "metadata": {"name": name}, "spec": {},
    }))
    .unwrap()
}

async fn open(url: &str) -> Store {
    Store::open(url, BTreeSet::new()).await.unwrap()
}

/// One write of a numbered sequence: even numbers create a virtual cluster, odd ones revoke a
/// token with a long reason (so the database grows by a page every few writes).
async fn numbered_write(store: &Store, i: usize) -> Result<(), StoreError> {
    if i.is_multiple_of(2) {
        store
            .upsert(vc(&format!("vc-{i}")), false)
            .await
            .map(|_| ())
    } else {
        let reason = format!("revocation {i} {}", "x".repeat(900));
        store
            .revoke_token(&format!("token-{i}"), None, Some(&reason))
            .await
            .map(|_| ())
    }
}

fn has_write(s: &gatehouse_store::Snapshot, i: usize) -> bool {
    if i.is_multiple_of(2) {
        s.virtual_cluster(&format!("vc-{i}")).is_some()
    } else {
        s.is_token_revoked(&format!("token-{i}"))
    }
}

/// Writes until one succeeds, or panics at the deadline: the store must recover by itself.
async fn write_until_ok(store: &Store, i: usize, deadline: Duration) {
    let started = Instant::now();
    loop {
        match numbered_write(store, i).await {
            Ok(()) => return,
            Err(e) if started.elapsed() < deadline => {
                eprintln!("write {i} still failing: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => {
                panic!("write {i} still fails {deadline:?} after the database recovered: {e}")
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sqlite_database_loses_no_acknowledged_write() {
    let db = Db::sqlite();
    let store = open(&db.url).await;
    // SQLite raises a limit below the current size to the current size: full from here on.
    store.limit_sqlite_pages(1);
    let mut acknowledged = Vec::new();
    let mut failed = Vec::new();
    for i in 0..40 {
        match numbered_write(&store, i).await {
            Ok(()) => acknowledged.push(i),
            Err(e) => failed.push((i, e)),
        }
    }
    let why = store
        .availability()
        .expect_err("unavailable after failed writes");
    assert!(
        why.contains("database or disk is full")
            && why.contains("serving the snapshot of revision"),
        "{why}"
    );
    // Space comes back: writes succeed again, and every one of them sticks.
    store.limit_sqlite_pages(1_000_000);
    for i in 100..110 {
        write_until_ok(&store, i, Duration::from_secs(3)).await;
        acknowledged.push(i);
    }
    store.refresh().await.unwrap();
    assert_eq!(store.availability(), Ok(()));
    let served = store.snapshot();
    drop(store);
    let reopened = open(&db.url).await.snapshot();
    let survived = acknowledged
        .iter()
        .filter(|i| has_write(&reopened, **i))
        .count();
    eprintln!(
        "while full: {} writes answered Ok, {} failed; after space returned: 10 answered Ok; \
         after reopen {survived} of {} acknowledged writes are there",
        acknowledged.len() - 10,
        failed.len(),
        acknowledged.len()
    );
    assert!(!failed.is_empty(), "the database never filled up");
    for (i, e) in &failed {
        assert!(
            matches!(e, StoreError::Unavailable(_)),
            "write {i}: {e:?} (expected Unavailable)"
        );
        assert!(!has_write(&reopened, *i), "write {i} failed but was saved");
        assert!(!has_write(&served, *i), "write {i} failed but was served");
    }
    assert_eq!(
        survived,
        acknowledged.len(),
        "acknowledged writes were lost"
    );
    assert_eq!(served.virtual_clusters, reopened.virtual_clusters);
    assert_eq!(served.revoked_tokens, reopened.revoked_tokens);
}

/// Writes that fail inside the transaction the two ways SQLite fails them on SQLITE_FULL or
/// SQLITE_IOERR: with the whole transaction rolled back by SQLite itself ("automatic
/// rollback"), or with only the statement undone. A trigger the test adds to the real database
/// raises ROLLBACK for tokens named `rollback-*` and ABORT for `abort-*`.
///
/// After an automatic rollback, sqlx still counted the connection as inside its transaction;
/// returned to the pool, it ran its next "transaction" as a SAVEPOINT, and after a statement
/// failure in that one it stayed inside a transaction for good: later writes on it answered Ok,
/// were served, and were never committed, while every other connection waited for its lock
/// ("database is locked").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_the_database_rolls_back_leaves_no_connection_in_a_transaction() {
    let db = Db::sqlite();
    let store = open(&db.url).await;
    {
        sqlx::any::install_default_drivers();
        let side = sqlx::AnyPool::connect(&db.url).await.unwrap();
        sqlx::query(
            "CREATE TRIGGER fault_injection AFTER INSERT ON gatehouse_revoked_tokens \
             WHEN NEW.id LIKE 'rollback-%' BEGIN SELECT RAISE(ROLLBACK, 'injected rollback'); END",
        )
        .execute(&side)
        .await
        .unwrap();
        sqlx::query(
            "CREATE TRIGGER fault_injection_abort AFTER INSERT ON gatehouse_revoked_tokens \
             WHEN NEW.id LIKE 'abort-%' BEGIN SELECT RAISE(ABORT, 'injected abort'); END",
        )
        .execute(&side)
        .await
        .unwrap();
        side.close().await;
    }
    let mut acknowledged = Vec::new();
    let (mut failed, mut locked) = (0, 0);
    let started = Instant::now();
    // Failures and good writes interleaved, so every pooled connection sees several failures.
    for i in 0..36 {
        if i % 3 != 2 {
            let kind = if i % 3 == 0 { "rollback" } else { "abort" };
            match store.revoke_token(&format!("{kind}-{i}"), None, None).await {
                Ok(_) => panic!("the injected fault did not fire"),
                Err(e) => {
                    failed += 1;
                    assert!(
                        matches!(e, StoreError::Unavailable(_)),
                        "{kind}-{i}: {e:?} (expected Unavailable)"
                    );
                }
            }
        } else {
            match numbered_write(&store, i).await {
                Ok(()) => acknowledged.push(i),
                Err(e) => {
                    locked += 1;
                    eprintln!("write {i}: {e}");
                }
            }
        }
    }
    let served = store.snapshot();
    drop(store);
    let reopened = open(&db.url).await.snapshot();
    let survived = acknowledged
        .iter()
        .filter(|i| has_write(&reopened, **i))
        .count();
    eprintln!(
        "{failed} injected failures; of 12 good writes {} answered Ok and {locked} failed \
         (in {:?}); after reopen {survived} of the {} acknowledged are there",
        acknowledged.len(),
        started.elapsed(),
        acknowledged.len()
    );
    assert_eq!(locked, 0, "good writes failed after the injected faults");
    assert_eq!(
        survived,
        acknowledged.len(),
        "acknowledged writes were lost"
    );
    assert_eq!(served.revoked_tokens, reopened.revoked_tokens);
    assert_eq!(served.virtual_clusters, reopened.virtual_clusters);
}

/// A write waiting for the revision row lock (held by another session) when the server stops
/// with `-m immediate` answers Unavailable; nothing acknowledged before is lost; the store
/// works again once the server is back, without a restart of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_server_stopped_mid_write_loses_nothing_acknowledged() {
    use sqlx::Connection;
    let server = PgServer::dedicated("", &[]);
    let url = server.database().await;
    let store = open(&url).await;
    let mut acknowledged = Vec::new();
    for i in 0..6 {
        numbered_write(&store, i).await.unwrap();
        acknowledged.push(i);
    }
    let mut blocker = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("BEGIN; UPDATE gatehouse_revision SET revision = revision WHERE id = 1")
        .execute(&mut blocker)
        .await
        .unwrap();
    let in_flight = tokio::spawn({
        let store = store.clone();
        async move { numbered_write(&store, 6).await }
    });
    let mut watcher = sqlx::PgConnection::connect(&url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
             AND query LIKE 'UPDATE gatehouse_revision%'",
        )
        .fetch_one(&mut watcher)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the write never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = store.snapshot();
    server.stop();
    let e = tokio::time::timeout(Duration::from_secs(15), in_flight)
        .await
        .expect("the write in flight is answered")
        .unwrap()
        .expect_err("the write in flight cannot have succeeded");
    assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
    assert!(store.availability().is_err());
    assert_eq!(
        store.snapshot(),
        before,
        "the data plane keeps its snapshot"
    );
    drop((blocker, watcher));

    server.start();
    write_until_ok(&store, 7, Duration::from_secs(15)).await;
    acknowledged.push(7);
    store.refresh().await.unwrap();
    assert_eq!(store.availability(), Ok(()));
    drop(store);
    let reopened = open(&url).await.snapshot();
    for i in &acknowledged {
        assert!(has_write(&reopened, *i), "acknowledged write {i} was lost");
    }
    assert!(!has_write(&reopened, 6), "the failed write was saved");
}
