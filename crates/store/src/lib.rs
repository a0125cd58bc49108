//! Persistence of tenant resources (virtual clusters, service accounts, alias topics, partner
//! zones and the tokens issued for them) and the in-memory snapshot of them the data plane
//! reads.
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
//!
//! Where the code is: `connect` opens the database and `migrate` brings its schema up to date;
//! `load` reads it into a [`Snapshot`]; `write` holds the write path (every change is one
//! transaction), `refresh` the refresher; `snapshot` and `resource` the rules the resources
//! follow, `configured` the names of the process configuration they must agree with; `zones`
//! the partner zone operations (apply, tokens, offboarding, the operations log), each one
//! transaction of the write path.

mod configured;
mod connect;
mod load;
mod migrate;
mod refresh;
pub mod resource;
pub mod revocation;
mod snapshot;
mod write;
mod zones;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool};
use tokio::sync::watch;

pub use configured::Configured;
pub use connect::ACQUIRE_TIMEOUT;
pub use migrate::latest_version;
pub use refresh::REFRESH_INTERVAL;
pub use resource::{
    Acl, AclOperation, AclPatternType, AclPermissionType, AclResourceType, AliasAccess, AliasTopic,
    AuthenticationMode, Kind, PartnerZone, Resource, ResourceKey, ServiceAccount,
    ServiceAccountType, TrafficLimits, VirtualCluster, VirtualClusterType, ZoneTopic, API_VERSION,
    PASSTHROUGH,
};
pub use revocation::{Revoked, RevokedToken};
pub use snapshot::{AccountKey, Snapshot, UpsertResult};
pub use write::Upserted;
pub use zones::{Offboarded, ZoneApplied, ZoneOperation, ZoneToken, MAX_OPERATIONS_LISTED};

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

/// The resource store. Cheap to clone; every clone shares the pool and the snapshot.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    pool: AnyPool,
    backend: Backend,
    configured: Configured,
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
    /// (routes): they cannot be deleted. Streaming domain names are not checked: see
    /// [`Store::open_configured`].
    pub async fn open(url: &str, pinned: BTreeSet<String>) -> Result<Store, StoreError> {
        Self::open_configured(url, Configured::pinning(pinned)).await
    }

    /// [`Store::open`] checking writes against the gateway configuration's names: pinned
    /// virtual clusters and, when known, the streaming domains resources may name.
    pub async fn open_configured(url: &str, configured: Configured) -> Result<Store, StoreError> {
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
        let first = load::load(&mut *pool.acquire().await?, backend).await?;
        tracing::info!(
            store = %redact(url),
            revision = first.revision,
            virtual_clusters = first.virtual_clusters.len() - 1,
            service_accounts = first.service_accounts.len(),
            alias_topics = first.alias_topics.len(),
            revoked_tokens = first.revoked_tokens.len(),
            "store opened"
        );
        let (snapshot, _) = watch::channel(Arc::new(first));
        Ok(Store {
            inner: Arc::new(Inner {
                pool,
                backend,
                configured,
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

    /// The configuration's names this store checks writes against.
    pub fn configured(&self) -> &Configured {
        &self.inner.configured
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
