//! Persistence of tenant resources (virtual clusters, service accounts) and the in-memory
//! snapshot of them the data plane reads.
//!
//! * SQLite is the embedded default (`sqlite://<dataDir>/gatehouse.db?mode=rwc`); PostgreSQL
//!   (`postgres://...`) lets several gateway processes share one set of resources.
//! * Every write is one transaction that starts by bumping the single-row store revision. That
//!   row lock serialises writers across processes (SQLite's write lock does the same), so each
//!   write validates against the state as committed, and a PUT racing a DELETE can never leave
//!   an account whose virtual cluster is gone.
//! * Readers never touch the database: [`Store::snapshot`] and [`Store::subscribe`] hand out an
//!   immutable `Arc<Snapshot>`, replaced at once by a write through this process and within
//!   [`REFRESH_INTERVAL`] by a write through another (see [`Store::spawn_refresher`]).
//! * A database failure never reaches the data plane: it keeps the last snapshot, the failed
//!   operation answers [`StoreError::Unavailable`], and [`Store::availability`] says why until
//!   a refresh succeeds again. A snapshot is only ever published from a transaction that
//!   committed, and a connection whose transaction failed is closed, never reused (see
//!   [`Store::write`]).

mod connect;
mod migrate;
pub mod resource;
pub mod revocation;
mod snapshot;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, Row};
use tokio::sync::watch;

pub use connect::ACQUIRE_TIMEOUT;
pub use migrate::latest_version;
pub use resource::{
    Kind, Resource, ResourceKey, ServiceAccount, ServiceAccountType, VirtualCluster,
    VirtualClusterType, API_VERSION, PASSTHROUGH,
};
pub use revocation::{Revoked, RevokedToken};
pub use snapshot::{AccountKey, Snapshot, UpsertResult};

/// How often the refresher asks the database whether another process wrote.
///
/// Polling one single-row table (an indexed read of a few bytes) four to five times a second
/// costs next to nothing, works the same on SQLite (where there is no LISTEN/NOTIFY) and
/// PostgreSQL, and cannot miss a change across a dropped connection, which LISTEN/NOTIFY can
/// (it would need this poll as a fallback anyway).
pub const REFRESH_INTERVAL: Duration = Duration::from_millis(200);

/// Why a store operation failed. The admin API maps `Invalid` to 400, `Conflict` to 409,
/// `NotFound` to 404 and `Unavailable` to 503.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The resource itself is wrong; `field` is its path inside the document.
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// The resource is fine but the store's state does not allow the change.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("database schema version {found} is newer than this gatehouse understands (up to {known}); upgrade gatehouse or point it at another store")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("store.url: {0}")]
    BadUrl(String),
    #[error("cannot open {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The database failed while the store was running (unreachable, full, read-only, ...).
    /// A write that answers this was not acknowledged; the data plane keeps its snapshot.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("stored resource {key} cannot be read: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// The same error about the `index`th resource of a batch (`resources[1].spec.prefix: ...`).
    pub fn in_batch(self, index: usize, key: Option<&ResourceKey>) -> StoreError {
        let at = format!("resources[{index}]");
        let about = key.map(|k| format!(" ({k})")).unwrap_or_default();
        match self {
            StoreError::Invalid { field, reason } => StoreError::Invalid {
                field: format!("{at}.{field}"),
                reason: format!("{reason}{about}"),
            },
            StoreError::Conflict(m) => StoreError::Conflict(format!("{at}{about}: {m}")),
            StoreError::NotFound(m) => StoreError::NotFound(format!("{at}{about}: {m}")),
            other => other,
        }
    }
}

/// The database behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a URL names, or an error naming `store.url`.
    pub fn of_url(url: &str) -> Result<Backend, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::BadUrl(format!(
                "'{}' is neither sqlite://... nor postgres://...",
                redact(url)
            )))
        }
    }
}

/// The URL with any password replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if let Some((userinfo, host)) = authority.rsplit_once('@') {
            if let Some((user, _)) = userinfo.split_once(':') {
                return format!("{scheme}://{user}:***@{host}{tail}");
            }
        }
    }
    url.to_string()
}

/// The result of one upsert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upserted {
    /// The resource as stored (defaults filled in).
    pub resource: Resource,
    pub result: UpsertResult,
}

enum Change {
    Put(Resource),
    Delete(ResourceKey),
    Revoke(RevokedToken),
    /// Deletes revocations whose token expired before this Unix second.
    PruneRevocations(i64),
}

/// The resource store. Cheap to clone; every clone shares the pool and the snapshot.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    pool: AnyPool,
    backend: Backend,
    pinned: BTreeSet<String>,
    snapshot: watch::Sender<Arc<Snapshot>>,
    /// Why the store is unavailable, since the last failed operation; `None` once a refresh
    /// succeeded. Never held across an `.await`.
    failure: Mutex<Option<String>>,
    /// Set by a failed write: the next refresh, and the next write before it does anything,
    /// reload everything from the database instead of trusting the revision.
    stale: AtomicBool,
    /// See [`Store::limit_sqlite_pages`]; 0: never set.
    max_pages: Arc<AtomicU32>,
}

impl Store {
    /// Opens (creating a SQLite file and its directory if needed) the database at `url`,
    /// refuses a schema newer than this binary, applies missing migrations and loads the first
    /// snapshot. `pinned` names the virtual clusters the process configuration refers to
    /// (routes): they cannot be deleted.
    pub async fn open(url: &str, pinned: BTreeSet<String>) -> Result<Store, StoreError> {
        let backend = Backend::of_url(url)?;
        if backend == Backend::Sqlite {
            if let Some(dir) = sqlite_file(url).as_deref().and_then(Path::parent) {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        StoreError::BadUrl(format!("cannot create {}: {e}", dir.display()))
                    })?;
                }
            }
        }
        sqlx::any::install_default_drivers();
        let max_pages = Arc::new(AtomicU32::new(0));
        let pool = connect::pool(url, backend, max_pages.clone()).await?;
        migrate::run(&pool, backend).await?;
        let first = load(&mut *pool.acquire().await?, backend).await?;
        tracing::info!(
            store = %redact(url),
            revision = first.revision,
            virtual_clusters = first.virtual_clusters.len() - 1,
            service_accounts = first.service_accounts.len(),
            revoked_tokens = first.revoked_tokens.len(),
            "store opened"
        );
        let (snapshot, _) = watch::channel(Arc::new(first));
        Ok(Store {
            inner: Arc::new(Inner {
                pool,
                backend,
                pinned,
                snapshot,
                failure: Mutex::new(None),
                stale: AtomicBool::new(false),
                max_pages,
            }),
        })
    }

    /// Test hook: from now on every SQLite connection the pool hands out gets
    /// `PRAGMA max_page_count = pages` (SQLite raises a smaller value to the file's current
    /// size), so a test can fill the database without a small filesystem, and free space again.
    #[doc(hidden)]
    pub fn limit_sqlite_pages(&self, pages: u32) {
        self.inner.max_pages.store(pages, Ordering::Relaxed);
    }

    /// Whether the store works: `Err` with the reason after a write or a refresh failed, `Ok`
    /// again once a refresh succeeds. Either way the data plane serves the current snapshot.
    pub fn availability(&self) -> Result<(), String> {
        match &*self.inner.failure.lock().expect("store failure lock") {
            None => Ok(()),
            Some(reason) => Err(format!(
                "{reason}; serving the snapshot of revision {}",
                self.snapshot().revision
            )),
        }
    }

    /// Records a failure of `doing` (logged once per outage) and turns it into `Unavailable`.
    fn failed(&self, doing: &str, e: StoreError) -> StoreError {
        let reason = match e {
            StoreError::Database(e) => connect::explain(&e),
            StoreError::Unavailable(reason) => reason,
            other => other.to_string(),
        };
        let first = self
            .inner
            .failure
            .lock()
            .expect("store failure lock")
            .replace(format!("cannot {doing}: {reason}"))
            .is_none();
        let revision = self.snapshot().revision;
        if first {
            tracing::warn!(error = %reason, revision, "store unavailable: cannot {doing}; the data plane keeps serving its snapshot");
        }
        StoreError::Unavailable(format!(
            "cannot {doing}: {reason}; the gateway keeps serving revision {revision}"
        ))
    }

    fn recovered(&self) {
        if self
            .inner
            .failure
            .lock()
            .expect("store failure lock")
            .take()
            .is_some()
        {
            tracing::info!(revision = self.snapshot().revision, "store available again");
        }
    }

    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.inner.snapshot.borrow().clone()
    }

    /// A receiver that sees every new snapshot (`changed().await`, then `borrow()`).
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.inner.snapshot.subscribe()
    }

    /// Polls the store revision every [`REFRESH_INTERVAL`] and reloads the snapshot when
    /// another process moved it. The task ends when every clone of the store is dropped.
    pub fn spawn_refresher(&self) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(REFRESH_INTERVAL).await;
                let Some(inner) = weak.upgrade() else { return };
                // Failures are logged and reported by `availability`.
                let _ = Store { inner }.refresh().await;
            }
        })
    }

    /// Reloads the snapshot if the database revision differs from it (or, after a failed
    /// write, in any case). Returns whether a new snapshot was published. Success makes the
    /// store available again.
    pub async fn refresh(&self) -> Result<bool, StoreError> {
        match self.try_refresh().await {
            Ok(published) => {
                self.recovered();
                Ok(published)
            }
            Err(e) => Err(self.failed("refresh from the store", e)),
        }
    }

    async fn try_refresh(&self) -> Result<bool, StoreError> {
        let inner = &self.inner;
        let stale = inner.stale.load(Ordering::Acquire);
        let mut conn = self.acquire().await?;
        let loaded = async {
            let revision: i64 =
                sqlx::query_scalar("SELECT revision FROM gatehouse_revision WHERE id = 1")
                    .fetch_one(&mut *conn)
                    .await?;
            if !stale && revision == inner.snapshot.borrow().revision {
                return Ok(None);
            }
            load(&mut conn, inner.backend).await.map(Some)
        }
        .await;
        match loaded {
            Ok(None) => Ok(false),
            Ok(Some(s)) => {
                inner.stale.store(false, Ordering::Release);
                Ok(self.publish(s, stale))
            }
            Err(e) => {
                conn.close_on_drop();
                Err(e)
            }
        }
    }

    /// A pooled connection, or `Unavailable` when the pool cannot give one in time.
    async fn acquire(&self) -> Result<PoolConnection<Any>, StoreError> {
        self.inner
            .pool
            .acquire()
            .await
            .map_err(|e| StoreError::Unavailable(connect::explain(&e)))
    }

    /// Publishes `s` if it is newer than the current snapshot, or, when `reloaded` after a
    /// failure, whenever it differs.
    fn publish(&self, s: Snapshot, reloaded: bool) -> bool {
        self.inner.snapshot.send_if_modified(|current| {
            if s.revision > current.revision || (reloaded && **current != s) {
                *current = Arc::new(s);
                true
            } else {
                false
            }
        })
    }

    /// Creates or replaces one resource. With `dry_run`, validates against the current state
    /// and reports what would happen without saving.
    pub async fn upsert(&self, resource: Resource, dry_run: bool) -> Result<Upserted, StoreError> {
        let mut out = self.apply(vec![resource], dry_run).await?;
        Ok(out.pop().expect("one result per resource"))
    }

    /// Applies resources in one transaction: all of them or none. They are applied in
    /// dependency order (every VirtualCluster before any GatewayServiceAccount, otherwise in
    /// the order given), each against the state the previous ones left; results come back in
    /// that order. Errors name the resource by its index in `resources`.
    pub async fn apply(
        &self,
        resources: Vec<Resource>,
        dry_run: bool,
    ) -> Result<Vec<Upserted>, StoreError> {
        let batch = resources.len() > 1;
        let mut ordered: Vec<(usize, Resource)> = resources.into_iter().enumerate().collect();
        ordered.sort_by_key(|(i, r)| (r.kind(), *i));
        self.write(dry_run, move |state, _| {
            let mut results = Vec::with_capacity(ordered.len());
            let mut changes = Vec::new();
            for (i, r) in ordered {
                let result = state.upsert(r.clone()).map_err(|e| {
                    if batch {
                        e.in_batch(i, Some(&r.key()))
                    } else {
                        e
                    }
                })?;
                if result != UpsertResult::NotChanged {
                    changes.push(Change::Put(r.clone()));
                }
                results.push(Upserted {
                    resource: r,
                    result,
                });
            }
            Ok((results, changes))
        })
        .await
    }

    /// Deletes one resource if nothing refers to it. Returns what was deleted.
    pub async fn delete(&self, key: &ResourceKey) -> Result<Resource, StoreError> {
        let key = key.clone();
        self.write(false, move |state, pinned| {
            let old = state.delete(&key, pinned)?;
            Ok((old, vec![Change::Delete(key)]))
        })
        .await
    }

    /// Revokes the gateway token with id `token_id` (its `jti`) for every gateway on this
    /// store: this process at once, the others at their next poll. Idempotent: revoking a
    /// revoked token changes nothing and answers the first revocation. `expires_at` is the
    /// token's own expiry if known; revocations of tokens expired for longer than
    /// [`revocation::PRUNE_GRACE`] are pruned in the same transaction.
    pub async fn revoke_token(
        &self,
        token_id: &str,
        expires_at: Option<SystemTime>,
        reason: Option<&str>,
    ) -> Result<Revoked, StoreError> {
        revocation::validate(token_id, reason)?;
        let now = SystemTime::now();
        let revocation = RevokedToken {
            id: token_id.to_string(),
            // Whole seconds, as stored, so the answer equals what a reload reads.
            revoked_at: revocation::from_unix_secs(revocation::unix_secs(now)),
            expires_at: expires_at.map(|t| revocation::from_unix_secs(revocation::unix_secs(t))),
            reason: reason.map(str::to_string),
        };
        let prune_before = revocation::unix_secs(
            now.checked_sub(revocation::PRUNE_GRACE)
                .unwrap_or(std::time::UNIX_EPOCH),
        );
        self.write(false, move |state, _| {
            let mut changes = Vec::new();
            let expired: Vec<String> = state
                .revoked_tokens
                .values()
                .filter(|r| {
                    r.expires_at
                        .is_some_and(|e| revocation::unix_secs(e) < prune_before)
                })
                .map(|r| r.id.clone())
                .collect();
            if !expired.is_empty() {
                for id in &expired {
                    state.revoked_tokens.remove(id);
                }
                changes.push(Change::PruneRevocations(prune_before));
            }
            let out = match state.revoked_tokens.get(&revocation.id) {
                Some(existing) => Revoked {
                    revocation: existing.clone(),
                    newly_revoked: false,
                },
                None => {
                    state
                        .revoked_tokens
                        .insert(revocation.id.clone(), revocation.clone());
                    changes.push(Change::Revoke(revocation.clone()));
                    Revoked {
                        revocation,
                        newly_revoked: true,
                    }
                }
            };
            Ok((out, changes))
        })
        .await
    }

    /// One write transaction: lock and bump the revision, load the committed state, let `f`
    /// validate and change it, write the rows it changed, commit, publish the new snapshot.
    /// Nothing is saved (and the revision does not move) on error, on dry run, or when `f`
    /// changed nothing.
    ///
    /// When the database fails (any statement, the COMMIT or the ROLLBACK), the answer is
    /// `Unavailable` and the connection is closed rather than returned to the pool: SQLite may
    /// have rolled the transaction back on its own (on a full disk, an I/O error) while sqlx
    /// still counts it open, and a connection reused in that state ran later writes as
    /// savepoints of a transaction that never committed — acknowledged, served, then lost.
    /// The snapshot published is the state this transaction read and wrote, and only once the
    /// COMMIT succeeded; after a failure the store reloads from the database before it
    /// publishes anything.
    async fn write<T>(
        &self,
        dry_run: bool,
        f: impl FnOnce(&mut Snapshot, &BTreeSet<String>) -> Result<(T, Vec<Change>), StoreError>,
    ) -> Result<T, StoreError> {
        if self.inner.stale.load(Ordering::Acquire) {
            self.refresh().await?;
        }
        let mut conn = self
            .acquire()
            .await
            .map_err(|e| self.failed("save the change", e))?;
        match self.write_on(&mut conn, dry_run, f).await {
            Ok((out, Some(state))) => {
                self.publish(state, false);
                Ok(out)
            }
            Ok((out, None)) => Ok(out),
            Err(
                e
                @ (StoreError::Invalid { .. } | StoreError::Conflict(_) | StoreError::NotFound(_)),
            ) => Err(e),
            Err(e) => {
                conn.close_on_drop();
                self.inner.stale.store(true, Ordering::Release);
                Err(self.failed("save the change", e))
            }
        }
    }

    /// The transaction of [`Store::write`] on `conn`; returns the state to publish if it
    /// committed a change. Refusals by `f` come back after an explicit, successful rollback.
    async fn write_on<T>(
        &self,
        conn: &mut PoolConnection<Any>,
        dry_run: bool,
        f: impl FnOnce(&mut Snapshot, &BTreeSet<String>) -> Result<(T, Vec<Change>), StoreError>,
    ) -> Result<(T, Option<Snapshot>), StoreError> {
        use sqlx::Connection;
        let inner = &self.inner;
        let mut tx = conn.begin().await?;
        // First statement: takes the row lock (PostgreSQL) or the write lock (SQLite) that
        // serialises every writer of this database, whichever process it is in.
        let revision: i64 = sqlx::query_scalar(
            "UPDATE gatehouse_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision",
        )
        .fetch_one(&mut *tx)
        .await?;
        let mut state = load_rows(&mut tx, revision - 1).await?;
        let (out, changes) = match f(&mut state, &inner.pinned) {
            Ok(done) => done,
            Err(refused) => {
                tx.rollback().await?;
                return Err(refused);
            }
        };
        if dry_run || changes.is_empty() {
            tx.rollback().await?;
            return Ok((out, None));
        }
        for change in changes {
            match change {
                Change::Put(r) => {
                    let key = r.key();
                    sqlx::query(
                        "INSERT INTO gatehouse_resources (kind, vcluster, name, body, revision) \
                         VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (kind, vcluster, name) \
                         DO UPDATE SET body = excluded.body, revision = excluded.revision",
                    )
                    .bind(key.kind.name())
                    .bind(key.vcluster)
                    .bind(key.name)
                    .bind(r.to_document().to_string())
                    .bind(revision)
                    .execute(&mut *tx)
                    .await?;
                }
                Change::Delete(key) => {
                    sqlx::query(
                        "DELETE FROM gatehouse_resources WHERE kind = $1 AND vcluster = $2 AND name = $3",
                    )
                    .bind(key.kind.name())
                    .bind(key.vcluster)
                    .bind(key.name)
                    .execute(&mut *tx)
                    .await?;
                }
                Change::Revoke(r) => {
                    sqlx::query(
                        "INSERT INTO gatehouse_revoked_tokens (id, revoked_at, expires_at, reason) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(r.id)
                    .bind(revocation::unix_secs(r.revoked_at))
                    .bind(r.expires_at.map(revocation::unix_secs))
                    .bind(r.reason)
                    .execute(&mut *tx)
                    .await?;
                }
                Change::PruneRevocations(before) => {
                    sqlx::query(
                        "DELETE FROM gatehouse_revoked_tokens \
                         WHERE expires_at IS NOT NULL AND expires_at < $1",
                    )
                    .bind(before)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        state.revision = revision;
        Ok((out, Some(state)))
    }
}

/// The path of a SQLite URL's file, if it names one.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or("");
    if path.is_empty() || path.starts_with(":memory:") {
        return None;
    }
    Some(path.into())
}

/// A consistent snapshot: revision and rows read in one transaction (REPEATABLE READ on
/// PostgreSQL; a SQLite read transaction always is one).
async fn load(conn: &mut sqlx::AnyConnection, backend: Backend) -> Result<Snapshot, StoreError> {
    use sqlx::Connection;
    let mut tx = conn.begin().await?;
    if backend == Backend::Postgres {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .execute(&mut *tx)
            .await?;
    }
    let revision: i64 = sqlx::query_scalar("SELECT revision FROM gatehouse_revision WHERE id = 1")
        .fetch_one(&mut *tx)
        .await?;
    let s = load_rows(&mut tx, revision).await?;
    tx.commit().await?;
    Ok(s)
}

async fn load_rows(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    revision: i64,
) -> Result<Snapshot, StoreError> {
    let rows = sqlx::query("SELECT kind, vcluster, name, body FROM gatehouse_resources")
        .fetch_all(&mut **tx)
        .await?;
    let mut s = Snapshot::empty(revision);
    for row in rows {
        let kind: String = row.try_get(0)?;
        let vcluster: String = row.try_get(1)?;
        let name: String = row.try_get(2)?;
        let body: String = row.try_get(3)?;
        let key = format!("{kind}/{vcluster}/{name}");
        let doc: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| StoreError::Corrupt {
                key: key.clone(),
                reason: e.to_string(),
            })?;
        let r = Resource::from_document(&doc).map_err(|e| StoreError::Corrupt {
            key,
            reason: e.to_string(),
        })?;
        s.insert_loaded(r);
    }
    let rows =
        sqlx::query("SELECT id, revoked_at, expires_at, reason FROM gatehouse_revoked_tokens")
            .fetch_all(&mut **tx)
            .await?;
    for row in rows {
        let id: String = row.try_get(0)?;
        let revoked_at: i64 = row.try_get(1)?;
        let expires_at: Option<i64> = row.try_get(2)?;
        let reason: Option<String> = row.try_get(3)?;
        s.revoked_tokens.insert(
            id.clone(),
            RevokedToken {
                id,
                revoked_at: revocation::from_unix_secs(revoked_at),
                expires_at: expires_at.map(revocation::from_unix_secs),
                reason,
            },
        );
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(Backend::of_url("sqlite://x.db").unwrap(), Backend::Sqlite);
        assert_eq!(
            Backend::of_url("postgres://h/db").unwrap(),
            Backend::Postgres
        );
        let e = Backend::of_url("mysql://u:secret@h/db")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("store.url: 'mysql://u:***@h/db'"), "{e}");
        assert_eq!(
            sqlite_file("sqlite://data/g.db?mode=rwc"),
            Some("data/g.db".into())
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
